//! `apikey scaffold`: the migration folders of a custom key table.

use std::io;
use std::path::PathBuf;

use apikey_core::scaffold::KeyTable;
use apikey_core::BackendKind;
use chrono::Utc;

use super::{eprintln_quiet, print_stdout};
use crate::failure::Failure;
use crate::output::sanitize;

/// Write the migrations of a custom key table (needs no database).
///
/// For a model deriving ApiKeyModel: writes
/// DIR/sqlite/VERSION_create_TABLE/{up,down}.sql and the same under
/// DIR/postgres/, with the base columns, the unique prefix, the index on
/// `created`, the trigger that makes revocation irreversible, and the
/// model's own columns. Prints the two folders on stdout. An existing
/// folder is an error (exit 2), never overwritten.
///
/// Example: apikey scaffold --table organization_api_keys
/// --column "organization_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE"
/// --index organization_id --with scopes --with last-used-at
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The key table: a lowercase SQL identifier (`[a-z_][a-z0-9_]*`).
    #[arg(long)]
    table: String,
    /// One of the model's own columns, as an SQL column definition, on
    /// both backends (repeat for more, in order).
    #[arg(long, value_name = "SQL")]
    column: Vec<String>,
    /// A column on SQLite only, after the --column ones (pair it with
    /// --postgres-column when the two backends need different SQL).
    #[arg(long, value_name = "SQL")]
    sqlite_column: Vec<String>,
    /// A column on PostgreSQL only, after the --column ones.
    #[arg(long, value_name = "SQL")]
    postgres_column: Vec<String>,
    /// Index one of the model's own columns (`<table>_<column>_idx`, cut
    /// short with a hash when longer than PostgreSQL's 63 bytes; PostgreSQL
    /// does not index foreign keys by itself). Repeatable.
    #[arg(long, value_name = "COLUMN")]
    index: Vec<String>,
    /// A column the library fills, for a model with the matching field
    /// (repeatable): `scopes` (field `scopes: String`), `rotated-from`
    /// (`rotated_from: Option<String>`), `last-used-at`
    /// (`last_used_at: Option<NaiveDateTime>`), `rate-limit`
    /// (`rate_limit: Option<String>`), `remaining-uses`
    /// (`remaining_uses: Option<i64>`), `uses-refill` (`uses_refill:
    /// Option<String>` and `uses_refill_period: Option<i64>`, with
    /// `remaining-uses`). Added after the own columns.
    #[arg(long = "with", value_name = "FEATURE", value_enum)]
    with: Vec<OptIn>,
    /// The migrations folder holding `sqlite/` and `postgres/`.
    #[arg(long, value_name = "DIR", default_value = "migrations")]
    dir: PathBuf,
    /// The migration version, digits and dashes [default: now, UTC,
    /// as YYYY-MM-DD-HHMMSS, as diesel names migrations].
    #[arg(long, value_name = "VERSION")]
    version: Option<String>,
}

/// The columns `--with` adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OptIn {
    /// `scopes TEXT NOT NULL DEFAULT ''`.
    Scopes,
    /// `rotated_from VARCHAR(64) NULL`.
    RotatedFrom,
    /// `last_used_at`, a nullable timestamp (with time zone on PostgreSQL).
    LastUsedAt,
    /// `rate_limit TEXT NULL`.
    RateLimit,
    /// `remaining_uses BIGINT NULL`.
    RemainingUses,
    /// `uses_refill TEXT NULL` and `uses_refill_period BIGINT NULL`.
    UsesRefill,
}

/// Writes the two folders and prints them on stdout. Bad input and an
/// existing folder are [`Failure::Usage`] and write nothing; a file that
/// cannot be written is [`Failure::Io`].
pub fn run(args: Args) -> Result<(), Failure> {
    let Args {
        table,
        column,
        sqlite_column,
        postgres_column,
        index,
        with,
        dir,
        version,
    } = args;
    let mut key_table = column
        .into_iter()
        .fold(KeyTable::new(table), |t, c| t.column(c));
    for c in sqlite_column {
        key_table = key_table.column_for(BackendKind::Sqlite, c);
    }
    for c in postgres_column {
        key_table = key_table.column_for(BackendKind::Postgres, c);
    }
    let mut seen = Vec::new();
    for opt in with {
        if seen.contains(&opt) {
            continue;
        }
        seen.push(opt);
        key_table = match opt {
            OptIn::Scopes => key_table.scopes(),
            OptIn::RotatedFrom => key_table.rotated_from(),
            OptIn::LastUsedAt => key_table.last_used_at(),
            OptIn::RateLimit => key_table.rate_limit(),
            OptIn::RemainingUses => key_table.remaining_uses(),
            OptIn::UsesRefill => key_table.uses_refill(),
        };
    }
    let key_table = index.into_iter().fold(key_table, |t, i| t.index(i));
    let version = version.unwrap_or_else(|| Utc::now().format("%Y-%m-%d-%H%M%S").to_string());
    let written = key_table.write_migrations(&dir, &version).map_err(|e| {
        let message = sanitize(&e.to_string(), 400);
        match e.kind() {
            io::ErrorKind::InvalidInput | io::ErrorKind::AlreadyExists => Failure::Usage(message),
            _ => Failure::Io(format!(
                "cannot write the migrations under {}: {message}",
                sanitize(&dir.display().to_string(), 200)
            )),
        }
    })?;
    let mut text = String::new();
    for folder in &written {
        text.push_str(&folder.display().to_string());
        text.push('\n');
    }
    print_stdout(&text)?;
    eprintln_quiet(&format!(
        "wrote the migrations of `{}` (up.sql, down.sql) for sqlite and postgres; \
         embed the folders of your backends with diesel_migrations::embed_migrations! and run \
         them with Database::migrate_with([Migrations::both(SQLITE, POSTGRES)]) (or \
         Migrations::sqlite(..) alone)",
        key_table.table()
    ));
    Ok(())
}
