//! Migrations for custom key tables: the counterpart of Django's
//! `makemigrations` for a model deriving
//! [`ApiKeyModel`](derive@crate::ApiKeyModel).
//!
//! [`KeyTable`] writes the up and down SQL of a key table for each backend:
//! the base columns, the unique prefix, the index on `created`, the trigger
//! that makes revocation irreversible, and the model's own columns and
//! indexes, which the caller gives as SQL column definitions.
//!
//! ```
//! use apikey_core::scaffold::KeyTable;
//! use apikey_core::BackendKind;
//!
//! # fn main() -> apikey_core::Result<()> {
//! let table = KeyTable::new("organization_api_keys")
//!     .column("organization_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE")
//!     .index("organization_id");
//! let sqlite = table.migration(BackendKind::Sqlite)?;
//! let postgres = table.migration(BackendKind::Postgres)?;
//! assert!(sqlite.up.contains("organization_id BIGINT NOT NULL"));
//! assert!(postgres.up.contains("BIGSERIAL PRIMARY KEY"));
//! assert!(postgres.up.contains("EXECUTE FUNCTION apikey_notify_change()"));
//! assert!(postgres.down.starts_with("DROP TRIGGER IF EXISTS organization_api_keys_notify_change"));
//! # Ok(())
//! # }
//! ```
//!
//! Write `up` and `down` to `migrations/<backend>/<version>_create_<table>/`
//! (`up.sql`, `down.sql`; [`KeyTable::write_migrations`] does it, and so does
//! the `apikey scaffold` command of apikey-cli, from a shell) and embed
//! the folders of the backends you use with diesel's `embed_migrations!`,
//! then run them with [`Database::migrate_with`](crate::Database::migrate_with)
//! (`[Migrations::both(SQLITE, POSTGRES)]`, or `Migrations::sqlite(..)`
//! alone; see [`Migrations`](crate::Migrations)). The `id` column
//! is a 64-bit integer (`BIGSERIAL` on PostgreSQL, `INTEGER PRIMARY KEY` on
//! SQLite): declare it `id -> BigInt` in the `table!` and `id: i64` in the
//! struct, as in the example of [`ApiKeyModel`](derive@crate::ApiKeyModel).
//!
//! Foreign keys: SQLite enforces them only with `PRAGMA foreign_keys = ON`,
//! which [`Database`](crate::Database) sets on every connection it opens, so
//! `ON DELETE CASCADE` behaves the same on both backends through it.
//!
//! The PostgreSQL script creates the trigger function `apikey_refuse_unrevoke`
//! with `CREATE OR REPLACE` (the built-in migration defines the same one), so
//! it runs with or without the built-in table; its down script leaves the
//! function in place for the other key tables.

use std::io;
use std::path::{Path, PathBuf};

use crate::db::BackendKind;
use crate::error::{Error, Result};

/// PostgreSQL's identifier limit, in bytes (`NAMEDATALEN - 1`): longer
/// names are silently truncated, so two long names can become one.
pub const MAX_IDENTIFIER_LENGTH: usize = 63;

/// The column of a key model that stores its scopes
/// ([`KeyTable::scopes`]); the built-in table has it.
pub const SCOPES_COLUMN: &str = "scopes TEXT NOT NULL DEFAULT ''";

/// The column of a key model that stores its own rate limit
/// ([`KeyTable::rate_limit`]); the built-in table has it.
pub const RATE_LIMIT_COLUMN: &str = "rate_limit TEXT NULL";

/// The column of a key model that stores its usage quota
/// ([`KeyTable::remaining_uses`]); the built-in table has it.
pub const REMAINING_USES_COLUMN: &str = "remaining_uses BIGINT NULL";

/// The columns of a key model that store its quota refill
/// ([`KeyTable::uses_refill`]); the built-in table has them.
pub const USES_REFILL_COLUMNS: [&str; 2] =
    ["uses_refill TEXT NULL", "uses_refill_period BIGINT NULL"];

/// The longest table name accepted: PostgreSQL's identifier limit. The
/// names derived from it (indexes, triggers) are shortened to fit, see
/// [`derived_name`].
pub const MAX_TABLE_NAME_LENGTH: usize = MAX_IDENTIFIER_LENGTH;

/// The name of an index or trigger of `table`: `<table>_<suffix>` when that
/// fits in [`MAX_IDENTIFIER_LENGTH`] bytes; otherwise `<table>` is cut short
/// and followed by 8 hex digits of the SHA-256 of the full name, so the
/// result fits and two long names that share their first 63 bytes still
/// differ:
///
/// ```text
/// <table>_<suffix>                                 when it fits
/// <table, cut>_<8 hex of sha256(table_suffix)>_<suffix>   otherwise
/// ```
///
/// `table` and `suffix` are ASCII identifiers (checked by [`KeyTable`]).
pub fn derived_name(table: &str, suffix: &str) -> String {
    use sha2::{Digest, Sha256};
    let full = format!("{table}_{suffix}");
    if full.len() <= MAX_IDENTIFIER_LENGTH {
        return full;
    }
    let hash = hex::encode(&Sha256::digest(full.as_bytes())[..4]);
    // `_<8 hex>_<suffix>`; a suffix too long to leave room for any of the
    // table is cut as well (the hash keeps the name unique).
    let tail = format!("_{hash}_{suffix}");
    let tail = &tail[..tail.len().min(MAX_IDENTIFIER_LENGTH - 1)];
    let keep = MAX_IDENTIFIER_LENGTH - tail.len();
    format!("{}{tail}", &table[..keep.min(table.len())])
}

/// The column of a key model that records rotations
/// ([`KeyTable::rotated_from`]); the built-in table has it.
pub const ROTATED_FROM_COLUMN: &str = "rotated_from VARCHAR(64) NULL";

/// The `last_used_at` column on SQLite ([`KeyTable::last_used_at`]).
pub const LAST_USED_AT_COLUMN_SQLITE: &str = "last_used_at DATETIME NULL";

/// The `last_used_at` column on PostgreSQL ([`KeyTable::last_used_at`]).
pub const LAST_USED_AT_COLUMN_POSTGRES: &str = "last_used_at TIMESTAMP WITH TIME ZONE NULL";

/// The up and down SQL of one migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// Creates the table (`up.sql`).
    pub up: String,
    /// Drops it again (`down.sql`).
    pub down: String,
}

/// A custom key table to create: its name, and the model's own columns.
#[derive(Debug, Clone)]
pub struct KeyTable {
    table: String,
    columns: Vec<(Option<BackendKind>, String)>,
    indexes: Vec<String>,
}

impl KeyTable {
    /// A key table called `table`, with only the base columns so far.
    pub fn new(table: impl Into<String>) -> Self {
        KeyTable {
            table: table.into(),
            columns: Vec::new(),
            indexes: Vec::new(),
        }
    }

    /// Adds one of the model's own columns on both backends, as an SQL column
    /// definition: `"organization_id BIGINT NOT NULL REFERENCES organizations
    /// (id) ON DELETE CASCADE"`. It is copied as given (it is the
    /// developer's SQL, not user input).
    pub fn column(mut self, definition: impl Into<String>) -> Self {
        self.columns.push((None, definition.into()));
        self
    }

    /// Adds a column on one backend only (when the two need different SQL;
    /// add the other backend's form with a second call).
    pub fn column_for(mut self, backend: BackendKind, definition: impl Into<String>) -> Self {
        self.columns.push((Some(backend), definition.into()));
        self
    }

    /// Adds the `rotated_from` column ([`ROTATED_FROM_COLUMN`]), in which
    /// [`BaseApiKeyManager::rotate`](crate::BaseApiKeyManager::rotate)
    /// records the prefix of the key a new key replaced: for a model with a
    /// field `rotated_from: Option<String>`. (`apikey scaffold --column
    /// "rotated_from VARCHAR(64) NULL"` from a shell.)
    pub fn rotated_from(self) -> Self {
        self.column(ROTATED_FROM_COLUMN)
    }

    /// Adds the `scopes` column ([`SCOPES_COLUMN`]): for a model with a
    /// field `scopes: String` ([`crate::scopes`]).
    pub fn scopes(self) -> Self {
        self.column(SCOPES_COLUMN)
    }

    /// Adds the `last_used_at` column (a nullable timestamp, with time zone
    /// on PostgreSQL) in which the manager records when each key was last
    /// used ([`BaseApiKeyManager::with_last_used`](crate::BaseApiKeyManager::with_last_used)):
    /// for a model with a field `last_used_at: Option<NaiveDateTime>`.
    pub fn last_used_at(self) -> Self {
        self.column_for(BackendKind::Sqlite, LAST_USED_AT_COLUMN_SQLITE)
            .column_for(BackendKind::Postgres, LAST_USED_AT_COLUMN_POSTGRES)
    }

    /// Adds the `rate_limit` column ([`RATE_LIMIT_COLUMN`]): for a model
    /// with a field `rate_limit: Option<String>` ([`crate::limits`]).
    pub fn rate_limit(self) -> Self {
        self.column(RATE_LIMIT_COLUMN)
    }

    /// Adds the `remaining_uses` column ([`REMAINING_USES_COLUMN`]): for a
    /// model with a field `remaining_uses: Option<i64>` ([`crate::limits`]).
    pub fn remaining_uses(self) -> Self {
        self.column(REMAINING_USES_COLUMN)
    }

    /// Adds the `uses_refill` and `uses_refill_period` columns
    /// ([`USES_REFILL_COLUMNS`]): for a model with the fields
    /// `uses_refill: Option<String>` and `uses_refill_period: Option<i64>`
    /// ([`crate::limits::Refill`]).
    pub fn uses_refill(self) -> Self {
        self.column(USES_REFILL_COLUMNS[0])
            .column(USES_REFILL_COLUMNS[1])
    }

    /// Adds an index on one of the model's own columns, named
    /// `<table>_<column>_idx` (see [`derived_name`]; PostgreSQL does not index foreign keys by itself).
    pub fn index(mut self, column: impl Into<String>) -> Self {
        self.indexes.push(column.into());
        self
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The migration for `backend`. The table name and index columns must be
    /// plain lowercase SQL identifiers (`[a-z_][a-z0-9_]*`, table at most
    /// [`MAX_TABLE_NAME_LENGTH`] characters); column definitions must not be
    /// empty.
    pub fn migration(&self, backend: BackendKind) -> Result<Migration> {
        check_identifier("table", &self.table, MAX_TABLE_NAME_LENGTH)?;
        for column in &self.indexes {
            check_identifier("index", column, MAX_IDENTIFIER_LENGTH)?;
        }
        if self.columns.iter().any(|(_, c)| c.trim().is_empty()) {
            return Err(Error::Validation {
                field: "column",
                reason: "a column definition cannot be empty".into(),
            });
        }
        let t = &self.table;
        let name = |suffix: &str| derived_name(t, suffix);
        let revocation = name("revocation_irreversible");
        let mut columns = vec![
            match backend {
                BackendKind::Postgres => "id BIGSERIAL PRIMARY KEY".to_owned(),
                _ => "id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL".to_owned(),
            },
            "prefix VARCHAR(64) NOT NULL UNIQUE".to_owned(),
            "hashed_key VARCHAR(150) NOT NULL".to_owned(),
        ];
        match backend {
            BackendKind::Postgres => columns.extend([
                "created TIMESTAMP WITH TIME ZONE NOT NULL".to_owned(),
                "name VARCHAR(50) NOT NULL CHECK (length(btrim(name)) > 0)".to_owned(),
                "revoked BOOLEAN NOT NULL DEFAULT FALSE".to_owned(),
                "expiry_date TIMESTAMP WITH TIME ZONE NULL".to_owned(),
            ]),
            _ => columns.extend([
                "created DATETIME NOT NULL".to_owned(),
                "name VARCHAR(50) NOT NULL CHECK (length(trim(name)) > 0 AND length(name) <= 50)"
                    .to_owned(),
                "revoked BOOLEAN NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))".to_owned(),
                "expiry_date DATETIME NULL".to_owned(),
            ]),
        }
        columns.extend(
            self.columns
                .iter()
                .filter(|(b, _)| b.is_none_or(|b| b == backend))
                .map(|(_, c)| c.trim().to_owned()),
        );

        let mut up = format!(
            "-- The key table `{t}` ({backend}), made by apikey_core::scaffold.\n\
             CREATE TABLE {t} (\n    {}\n);\n\n\
             CREATE INDEX {} ON {t} (created);\n",
            columns.join(",\n    "),
            name("created_idx"),
        );
        for column in &self.indexes {
            up.push_str(&format!(
                "CREATE INDEX {} ON {t} ({column});\n",
                name(&format!("{column}_idx"))
            ));
        }
        up.push('\n');
        let down = match backend {
            BackendKind::Postgres => {
                up.push_str(PG_REFUSE_UNREVOKE);
                up.push_str(&format!(
                    "\nCREATE TRIGGER {revocation}\n\
                     BEFORE UPDATE OF revoked ON {t}\n\
                     FOR EACH ROW EXECUTE FUNCTION apikey_refuse_unrevoke();\n"
                ));
                up.push('\n');
                up.push_str(&pg_notify_trigger(t));
                format!(
                    "DROP TRIGGER IF EXISTS {} ON {t};\n\
                     DROP TRIGGER IF EXISTS {revocation} ON {t};\n\
                     DROP TABLE IF EXISTS {t};\n\
                     -- apikey_refuse_unrevoke(), apikey_notify_change() and apikey_change_counter stay: other key tables may use them.\n",
                    name("notify_change"),
                )
            }
            _ => {
                up.push_str(&format!(
                    "-- Revocation cannot be undone, not even by a raw bulk UPDATE.\n\
                     CREATE TRIGGER {revocation}\n\
                     BEFORE UPDATE OF revoked ON {t}\n\
                     FOR EACH ROW WHEN OLD.revoked AND NOT NEW.revoked\n\
                     BEGIN\n    SELECT RAISE(ABORT, 'revocation cannot be undone');\nEND;\n"
                ));
                format!(
                    "DROP TRIGGER IF EXISTS {revocation};\n\
                     DROP TABLE IF EXISTS {t};\n"
                )
            }
        };
        Ok(Migration { up, down })
    }
}

impl KeyTable {
    /// Writes the migration of both backends as diesel migration folders:
    /// `<root>/sqlite/<version>_create_<table>/{up,down}.sql` and the same
    /// under `<root>/postgres/`; returns the two folders. `version` is
    /// diesel's migration version, digits and dashes (for example
    /// `2026-12-01-120000`). Nothing is written when the SQL cannot be made;
    /// an existing folder is an error (`AlreadyExists`), never overwritten.
    pub fn write_migrations(&self, root: &Path, version: &str) -> io::Result<Vec<PathBuf>> {
        if version.is_empty() || !version.chars().all(|c| c.is_ascii_digit() || c == '-') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "invalid migration version `{}`: digits and dashes, e.g. 2026-12-01-120000",
                    version.chars().take(40).collect::<String>()
                ),
            ));
        }
        let invalid = |e: Error| io::Error::new(io::ErrorKind::InvalidInput, e.to_string());
        let folder = format!("{version}_create_{}", self.table);
        let plan = [
            (BackendKind::Sqlite, root.join("sqlite").join(&folder)),
            (BackendKind::Postgres, root.join("postgres").join(&folder)),
        ];
        let mut migrations = Vec::new();
        for (backend, dir) in &plan {
            if dir.exists() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} already exists", dir.display()),
                ));
            }
            migrations.push(self.migration(*backend).map_err(invalid)?);
        }
        let mut written = Vec::new();
        for ((_, dir), migration) in plan.into_iter().zip(migrations) {
            std::fs::create_dir_all(&dir)?;
            std::fs::write(dir.join("up.sql"), migration.up)?;
            std::fs::write(dir.join("down.sql"), migration.down)?;
            written.push(dir);
        }
        Ok(written)
    }
}

/// The migration of a key table `table` with the model's own `extra_columns`
/// (SQL column definitions) on `backend`; shorthand for [`KeyTable`].
pub fn migration_sql(
    backend: BackendKind,
    table: &str,
    extra_columns: &[&str],
) -> Result<Migration> {
    extra_columns
        .iter()
        .fold(KeyTable::new(table), |t, c| t.column(*c))
        .migration(backend)
}

const PG_REFUSE_UNREVOKE: &str = "\
-- Shared by every key table: refuses an UPDATE that un-revokes a row.
CREATE OR REPLACE FUNCTION apikey_refuse_unrevoke() RETURNS trigger AS $$
BEGIN
    IF OLD.revoked AND NOT NEW.revoked THEN
        RAISE EXCEPTION 'revocation cannot be undone' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
";

/// The PostgreSQL function and trigger that tell every running server's
/// verification cache that key table `table` changed (`NOTIFY
/// apikey_changes`, once per statement that inserts, updates, deletes or
/// truncates rows, with the payload `<table> <operation>`). What the built-in
/// table's second migration and `apikey scaffold` install; add it to a key
/// table you manage yourself to get invalidation within milliseconds
/// instead of the cache's `max_age`.
pub fn pg_notify_trigger(table: &str) -> String {
    format!(
        "{PG_NOTIFY_CHANGE}\n\
         CREATE TRIGGER {}\n\
         AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}\n\
         FOR EACH STATEMENT EXECUTE FUNCTION apikey_notify_change();\n",
        derived_name(table, "notify_change")
    )
}

const PG_NOTIFY_CHANGE: &str = "\
-- Shared by every key table: tells the verification caches of every server
-- that a key table changed, twice over: a counter they poll every few
-- milliseconds (committed with the change, so it cannot arrive late), and a
-- notification on `apikey_changes` (payload `<table> <operation>`).
-- Bookkeeping writes that no cached key depends on (last use) run with
-- SET LOCAL apikey.quiet_write = 'on' and tell nobody.
CREATE TABLE IF NOT EXISTS apikey_change_counter (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    changes BIGINT NOT NULL DEFAULT 0,
    inserts BIGINT NOT NULL DEFAULT 0
);
INSERT INTO apikey_change_counter (id) VALUES (1) ON CONFLICT (id) DO NOTHING;

CREATE OR REPLACE FUNCTION apikey_notify_change() RETURNS trigger AS $$
BEGIN
    IF current_setting('apikey.quiet_write', true) = 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        UPDATE apikey_change_counter SET inserts = inserts + 1 WHERE id = 1;
    ELSE
        UPDATE apikey_change_counter SET changes = changes + 1 WHERE id = 1;
    END IF;
    PERFORM pg_notify('apikey_changes', TG_TABLE_NAME || ' ' || TG_OP);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
";

fn check_identifier(field: &'static str, name: &str, max: usize) -> Result<()> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= max;
    if ok {
        Ok(())
    } else {
        Err(Error::Validation {
            field,
            reason: format!(
                "`{}` is not a lowercase SQL identifier of at most {max} characters \
                 ([a-z_][a-z0-9_]*)",
                name.chars().take(80).collect::<String>()
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for bad in [
            "",
            "Org",
            "1keys",
            "org-keys",
            "keys; DROP TABLE x",
            &"k".repeat(64),
        ] {
            assert!(
                migration_sql(BackendKind::Sqlite, bad, &[]).is_err(),
                "{bad}"
            );
        }
        assert!(KeyTable::new("keys")
            .index("a b")
            .migration(BackendKind::Postgres)
            .is_err());
        assert!(KeyTable::new("keys")
            .column(" ")
            .migration(BackendKind::Postgres)
            .is_err());
    }

    /// Every `CREATE INDEX` / `CREATE TRIGGER` / `DROP TRIGGER` name.
    fn object_names(sql: &str) -> Vec<String> {
        let words: Vec<&str> = sql.split_whitespace().collect();
        words
            .windows(3)
            .filter_map(|w| match w {
                ["CREATE", "INDEX" | "TRIGGER", name] => Some(name.to_string()),
                ["EXISTS", name, _] if !name.contains('(') => {
                    Some(name.trim_end_matches(';').to_string())
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn long_names_fit_postgres_and_do_not_collide() {
        let long = |last: char| format!("{}{last}", "k".repeat(62));
        let (a, b) = (long('a'), long('b'));
        let mut seen = Vec::new();
        for table in [&a, &b] {
            let m = KeyTable::new(table.as_str())
                .column("organization_id BIGINT")
                .index("organization_id")
                .migration(BackendKind::Postgres)
                .expect("a 63-character table name is accepted");
            let names: Vec<String> = object_names(&format!("{}{}", m.up, m.down))
                .into_iter()
                .filter(|n| n != table.as_str() && n != "apikey_change_counter")
                .collect();
            assert_eq!(names.len(), 6, "{names:?}");
            for name in &names {
                assert!(name.len() <= MAX_IDENTIFIER_LENGTH, "{name}");
                assert!(name.starts_with("kkkk"), "{name}");
            }
            // The created index, the column's index and the two triggers.
            seen.extend(names.into_iter().take(4));
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), seen.len(), "{seen:?}");
        // Short names are unchanged.
        assert_eq!(derived_name("keys", "created_idx"), "keys_created_idx");
        let long_index = derived_name(&a, &"c".repeat(63));
        assert_eq!(long_index.len(), MAX_IDENTIFIER_LENGTH);
        assert_ne!(long_index, derived_name(&b, &"c".repeat(63)));
    }

    #[test]
    fn writes_diesel_migration_folders() {
        let root = tempfile::tempdir().expect("tempdir");
        let table = KeyTable::new("org_keys").column("org_id BIGINT NOT NULL");
        let dirs = table
            .write_migrations(root.path(), "2026-12-01-120000")
            .expect("written");
        assert_eq!(
            dirs,
            [
                root.path().join("sqlite/2026-12-01-120000_create_org_keys"),
                root.path()
                    .join("postgres/2026-12-01-120000_create_org_keys"),
            ]
        );
        let pg = table.migration(BackendKind::Postgres).expect("pg");
        let up = std::fs::read_to_string(dirs[1].join("up.sql")).expect("up");
        let down = std::fs::read_to_string(dirs[1].join("down.sql")).expect("down");
        assert_eq!((up, down), (pg.up, pg.down));
        // Never overwritten; bad versions and names write nothing.
        let again = table.write_migrations(root.path(), "2026-12-01-120000");
        assert_eq!(
            again.expect_err("exists").kind(),
            io::ErrorKind::AlreadyExists
        );
        for (t, v) in [(&table, "2026_x"), (&KeyTable::new("Bad"), "2027")] {
            let err = t.write_migrations(root.path(), v).expect_err("refused");
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        }
        assert!(!root.path().join("sqlite/2027_create_Bad").exists());
    }

    #[test]
    fn backend_specific_columns() {
        let t = KeyTable::new("keys")
            .column_for(BackendKind::Sqlite, "a INTEGER")
            .column_for(BackendKind::Postgres, "a SERIAL");
        let sqlite = t.migration(BackendKind::Sqlite).expect("sqlite");
        let pg = t.migration(BackendKind::Postgres).expect("pg");
        assert!(sqlite.up.contains("a INTEGER") && !sqlite.up.contains("a SERIAL"));
        assert!(pg.up.contains("a SERIAL") && !pg.up.contains("a INTEGER"));
        assert!(pg
            .up
            .contains("CREATE OR REPLACE FUNCTION apikey_refuse_unrevoke"));
    }
}
