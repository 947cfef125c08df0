//! The one error type of apikey-core.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// Everything that can go wrong in apikey-core.
///
/// No variant ever carries key material: a key that fails any check is
/// [`Error::InvalidKey`], whatever the reason (unknown prefix, wrong secret,
/// revoked, expired), so neither a caller nor a log can tell the reasons apart.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The key is unknown, wrong, revoked or expired (deliberately one error).
    #[error("invalid api key")]
    InvalidKey,
    /// A field failed validation (for example an empty or too long name).
    #[error("invalid {field}: {reason}")]
    Validation {
        /// The field that was refused.
        field: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// The key store cannot be reached: the database is down, refuses
    /// connections, dropped the connection, or the pool timed out.
    /// An HTTP layer answers 503 for this, never 401.
    #[error("key store unavailable: {0}")]
    Unavailable(String),
    /// Too many checks of one kind at once (legacy PBKDF2 hashes beyond
    /// [`crate::LegacyLimits`]): nothing was granted; try again shortly.
    /// An HTTP layer answers 503 with `Retry-After`, as for
    /// [`Error::Unavailable`].
    #[error("busy: {0}")]
    Busy(String),
    /// The database URL is malformed or names an unsupported backend.
    #[error("invalid database url: {0}")]
    InvalidDatabaseUrl(String),
    /// No key with this prefix exists.
    #[error("no api key with prefix `{0}`")]
    NotFound(String),
    /// The operation would un-revoke a key, which is never allowed.
    #[error("revocation cannot be undone")]
    RevocationIrreversible,
    /// Every attempt to create a key hit an existing prefix.
    #[error("could not find a free key prefix after {0} attempts")]
    PrefixCollision(u32),
    /// Running the migrations failed.
    #[error("migration failed: {0}")]
    Migration(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(#[source] DieselError),
}

/// Result alias for apikey-core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// True when the request cannot be answered now: the key store could
    /// not be reached, or is busy ([`Error::Busy`]). Answer 503, retry later.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Error::Unavailable(_) | Error::Busy(_))
    }

    pub(crate) fn validation(field: &'static str, reason: impl Into<String>) -> Self {
        Error::Validation {
            field,
            reason: reason.into(),
        }
    }
}

/// True when a diesel error means the connection itself is gone.
pub(crate) fn is_connection_error(err: &DieselError) -> bool {
    match err {
        DieselError::DatabaseError(kind, info) => match kind {
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand => true,
            DatabaseErrorKind::Unknown => {
                // SQLSTATE class 08 (connection exception) and 57P0x (server
                // shutting down) arrive as `Unknown` when libpq still thinks
                // the socket is fine.
                let msg = info.message();
                msg.contains("terminating connection")
                    || msg.contains("server closed the connection")
                    || msg.contains("no connection to the server")
                    || msg.contains("the database system is shutting down")
            }
            _ => false,
        },
        DieselError::BrokenTransactionManager => true,
        _ => false,
    }
}

/// True when a diesel error means the database could not answer in time:
/// a lock or statement timeout or another cancellation (PostgreSQL
/// 55P03, 57014), a deadlock or serialization failure (40P01, 40001), too
/// many connections (53300), or a locked SQLite database (`SQLITE_BUSY`,
/// `SQLITE_LOCKED`). Retrying later can succeed: answer 503, not 500.
pub(crate) fn is_transient_error(err: &DieselError) -> bool {
    let DieselError::DatabaseError(kind, info) = err else {
        return false;
    };
    if matches!(kind, DatabaseErrorKind::SerializationFailure) {
        return true;
    }
    let msg = info.message();
    [
        "canceling statement due to",
        "could not obtain lock",
        "deadlock detected",
        "could not serialize access",
        "too many clients already",
        "remaining connection slots are reserved",
        "database is locked",
        "database table is locked",
        "database schema is locked",
    ]
    .iter()
    .any(|m| msg.contains(m))
}

impl From<DieselError> for Error {
    fn from(err: DieselError) -> Self {
        if is_connection_error(&err) || is_transient_error(&err) {
            return Error::Unavailable(err.to_string());
        }
        if let DieselError::DatabaseError(_, info) = &err {
            if info.message().contains("revocation cannot be undone") {
                return Error::RevocationIrreversible;
            }
        }
        Error::Database(err)
    }
}
