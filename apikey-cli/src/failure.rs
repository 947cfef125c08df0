//! Why a command failed, and the exit code each kind of failure gets.

use std::fmt;

use apikey_core::Error;

use crate::output::sanitize;

/// Why a command failed. Each kind has its own exit code (0 is success):
///
/// ```text
/// 1  NotUsable   verify: the key is unknown, wrong, revoked or expired
/// 1  NotFound    revoke: no key has this prefix
/// 2  Usage       the command line is wrong: clap's errors, a malformed
///                database URL, a refused value (name, --expires, prefix,
///                scaffold's table, column, version, an existing folder)
/// 3  Database    the database cannot be opened or reached (server down,
///                wrong host, credentials or database name, a SQLite file
///                that does not exist), is not migrated (no key table), or
///                failed a query or a migration
/// 4  Io          stdin, stdout or a file cannot be read or written
/// ```
///
/// No message ever holds a key (the plain key is printed once, by `create`,
/// on stdout), and database URLs appear with their password redacted.
#[derive(Debug)]
pub enum Failure {
    /// `verify`: the key is unknown, wrong, revoked or expired (one answer
    /// for all four, as the library gives).
    NotUsable(String),
    /// `revoke`: no key has this prefix.
    NotFound(String),
    /// The command line asks for something that cannot be done as asked.
    Usage(String),
    /// The database cannot be opened, reached or queried; the message names
    /// it (its URL with the password redacted, or its path).
    Database(String),
    /// Reading stdin, or writing stdout or a file, failed.
    Io(String),
}

impl Failure {
    /// The process exit code of this kind of failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::NotUsable(_) | Failure::NotFound(_) => 1,
            Failure::Usage(_) => 2,
            Failure::Database(_) => 3,
            Failure::Io(_) => 4,
        }
    }

    /// An apikey-core error met while working on the key table `table` of the
    /// database `database` (its redacted URL); `hint` says how to create
    /// the table when it is missing.
    pub fn from_core(e: Error, database: &str, table: &str, hint: &str) -> Self {
        match e {
            Error::InvalidKey => {
                Failure::NotUsable("invalid api key (unknown, wrong, revoked or expired)".into())
            }
            Error::NotFound(prefix) => Failure::NotFound(format!(
                "no api key with prefix `{}`",
                sanitize(&prefix, 64)
            )),
            e @ (Error::Validation { .. } | Error::InvalidDatabaseUrl(_)) => {
                Failure::Usage(e.to_string())
            }
            Error::Database(inner) if is_missing_table(&inner.to_string()) => Failure::Database(
                format!("database {database}: the key table `{table}` does not exist: {hint}"),
            ),
            e => Failure::Database(format!("database {database}: {e}")),
        }
    }
}

/// SQLite's and PostgreSQL's words for a table that is not there.
pub(crate) fn is_missing_table(message: &str) -> bool {
    message.contains("no such table")
        || (message.contains("relation") && message.contains("does not exist"))
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::NotUsable(m) => write!(f, "not usable: {m}"),
            Failure::NotFound(m) => write!(f, "not found: {m}"),
            Failure::Usage(m) | Failure::Database(m) | Failure::Io(m) => f.write_str(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DB: &str = "postgres://me:****@db/keys";

    fn from_core(e: Error) -> Failure {
        Failure::from_core(e, DB, "api_keys", "run `apikey migrate` first")
    }

    #[test]
    fn each_core_error_has_its_kind() {
        assert!(matches!(
            from_core(Error::InvalidKey),
            Failure::NotUsable(_)
        ));
        assert!(matches!(
            from_core(Error::NotFound("abc".into())),
            Failure::NotFound(_)
        ));
        assert!(matches!(
            from_core(Error::InvalidDatabaseUrl("x".into())),
            Failure::Usage(_)
        ));
        assert!(matches!(
            from_core(Error::Migration("x".into())),
            Failure::Database(_)
        ));
        let f = from_core(Error::Unavailable("no database connection: refused".into()));
        assert!(matches!(f, Failure::Database(_)));
        assert_eq!(
            f.to_string(),
            "database postgres://me:****@db/keys: key store unavailable: no database connection: refused"
        );
    }

    #[test]
    fn exit_codes() {
        let codes = [
            Failure::NotUsable(String::new()),
            Failure::NotFound(String::new()),
            Failure::Usage(String::new()),
            Failure::Database(String::new()),
            Failure::Io(String::new()),
        ]
        .map(|f| f.exit_code());
        assert_eq!(codes, [1, 1, 2, 3, 4]);
    }

    #[test]
    fn messages_say_the_kind_and_sanitize_the_prefix() {
        assert_eq!(
            from_core(Error::InvalidKey).to_string(),
            "not usable: invalid api key (unknown, wrong, revoked or expired)"
        );
        assert_eq!(
            from_core(Error::NotFound("a\nb".into())).to_string(),
            "not found: no api key with prefix `a?b`"
        );
    }
}
