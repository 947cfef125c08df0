//! `apikey`: manage the API keys of an apikey-rs (or Django) service from a
//! shell or a script.
//!
//! ```text
//! apikey [--database-url URL] [--model builtin|django] <command>
//!   migrate                                   apply pending migrations
//!   create --name NAME [--expires WHEN]       print the new key (stdout, alone)
//!   list [--search TEXT] [--revoked|--active|--expired] [--json]
//!   revoke PREFIX                             exit 0 when revoked
//!   verify KEY|-                              exit 0 when usable, 1 when not
//!   scaffold --table NAME [--column SQL]... [--index COLUMN]... [--dir DIR] [--version V]
//!                                             write the migrations of a custom key table
//! ```
//!
//! Exit codes: 0 success; 1 a key that is not usable (`verify`) or an
//! unknown prefix (`revoke`); 2 usage and database errors. Only `create`
//! prints key material, on stdout; every message goes to stderr.
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

mod output;
mod when;

use std::io::{self, Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use apikey_core::scaffold::KeyTable;
use apikey_core::{
    AbstractApiKey, ApiKey, BackendKind, BaseApiKeyManager, Database, DatabaseConfig, DatabaseUrl,
    DjangoApiKey, Error, KeyFilter, NewKey,
};
use chrono::Utc;
use clap::{ArgGroup, Parser, Subcommand, ValueEnum};

use crate::output::{sanitize, KeyJson};

/// The database used when neither --database-url nor DATABASE_URL is given.
const DEFAULT_DATABASE: &str = "apikeys.db";
/// The longest key `verify` reads from stdin.
const MAX_STDIN_KEY: u64 = 4096;

#[derive(Debug, Parser)]
#[command(
    name = "apikey",
    version,
    about = "Manage API keys: migrate, create, list, revoke, verify",
    after_help = "Database: --database-url, else $DATABASE_URL, else apikeys.db in the current \
                  folder.\nURLs: sqlite://PATH, a bare PATH, postgres://user:password@host/db.\n\
                  Exit codes: 0 ok; 1 key not usable (verify) or unknown prefix (revoke); \
                  2 usage or database error."
)]
struct Cli {
    /// Database URL: sqlite://PATH, a file path, or postgres://... [default:
    /// $DATABASE_URL, else apikeys.db]
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,

    /// Key table: `builtin` (apikey-rs's api_keys) or `django` (the
    /// djangorestframework-api-key table, owned by Django)
    #[arg(long, global = true, value_enum, default_value_t = Model::Builtin)]
    model: Model,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Model {
    /// apikey-core's built-in table `api_keys`.
    Builtin,
    /// Django's table `rest_framework_api_key_apikey`.
    Django,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply the pending migrations (creates the database file if needed).
    ///
    /// Prints the applied migration versions on stdout, one a line.
    Migrate,
    /// Create a key and print it, alone, on stdout (shown only this once).
    Create {
        /// The key's name (required, at most 50 characters).
        #[arg(long)]
        name: String,
        /// When the key stops working: an RFC 3339 time
        /// (2030-01-31T12:00:00Z) or a duration from now (30d, 12h, 90m, 2w).
        #[arg(long, value_name = "WHEN")]
        expires: Option<String>,
    },
    /// List keys, newest first: prefix, name, created, expires, expired, revoked.
    #[command(group(ArgGroup::new("state").args(["revoked", "active", "expired"])))]
    List {
        /// Only keys whose name or prefix contains TEXT (case-insensitive).
        #[arg(long, value_name = "TEXT")]
        search: Option<String>,
        /// Only revoked keys.
        #[arg(long)]
        revoked: bool,
        /// Only usable keys (not revoked, not expired).
        #[arg(long)]
        active: bool,
        /// Only expired keys.
        #[arg(long)]
        expired: bool,
        /// Print a JSON array (prefix, name, created, expiry_date,
        /// has_expired, revoked; RFC 3339 times) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke the key with this prefix (cannot be undone).
    ///
    /// Exit 0 when the key is revoked (also when it already was), 1 when no
    /// key has this prefix.
    Revoke {
        /// The key's prefix (the part before the dot).
        prefix: String,
    },
    /// Check a key: exit 0 when it is usable, 1 when it is not.
    ///
    /// Give `-` to read the key from stdin, so that it does not show in the
    /// process list or the shell history: `apikey verify - < key.txt`.
    /// A legacy (pbkdf2) hash that verifies is rewritten in the sha512 format.
    Verify {
        /// The full key, or `-` to read it from stdin.
        key: String,
    },
    /// Write the migrations of a custom key table (needs no database).
    ///
    /// For a model deriving AbstractApiKey: writes
    /// DIR/sqlite/VERSION_create_TABLE/{up,down}.sql and the same under
    /// DIR/postgres/, with the base columns, the unique prefix, the index on
    /// `created`, the trigger that makes revocation irreversible, and the
    /// model's own columns. Prints the two folders on stdout. An existing
    /// folder is an error (exit 2), never overwritten.
    ///
    /// Example: apikey scaffold --table organization_api_keys
    /// --column "organization_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE"
    /// --index organization_id
    Scaffold {
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
        /// Index one of the model's own columns (`<table>_<column>_idx`;
        /// PostgreSQL does not index foreign keys by itself). Repeatable.
        #[arg(long, value_name = "COLUMN")]
        index: Vec<String>,
        /// The migrations folder holding `sqlite/` and `postgres/`.
        #[arg(long, value_name = "DIR", default_value = "migrations")]
        dir: std::path::PathBuf,
        /// The migration version, digits and dashes [default: now, UTC,
        /// as YYYY-MM-DD-HHMMSS, as diesel names migrations].
        #[arg(long, value_name = "VERSION")]
        version: Option<String>,
    },
}

/// A failure: the message for stderr, and the exit code.
#[derive(Debug)]
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: 2,
            message: message.into(),
        }
    }
    fn not_found(message: impl Into<String>) -> Self {
        Failure {
            code: 1,
            message: message.into(),
        }
    }
}

type CliResult = Result<(), Failure>;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // clap prints help/version (exit 0) or the usage error (exit 2).
        Err(e) => e.exit(),
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if !f.message.is_empty() {
                let _ = writeln!(io::stderr(), "apikey: {}", f.message);
            }
            ExitCode::from(f.code)
        }
    }
}

fn database_url(cli: &Cli) -> Result<String, Failure> {
    if let Some(url) = &cli.database_url {
        return Ok(url.clone());
    }
    match std::env::var_os("DATABASE_URL") {
        Some(v) if !v.is_empty() => v
            .into_string()
            .map_err(|_| Failure::usage("DATABASE_URL is not valid UTF-8")),
        _ => Ok(DEFAULT_DATABASE.to_owned()),
    }
}

fn run(cli: Cli) -> CliResult {
    if let Command::Scaffold { .. } = cli.command {
        // Writes files only: no database is read, created or migrated.
        return scaffold(cli.command);
    }
    let url = database_url(&cli)?;
    let parsed = DatabaseUrl::parse(&url).map_err(|e| Failure::usage(e.to_string()))?;
    let migrating = matches!(cli.command, Command::Migrate);
    if migrating && cli.model == Model::Django {
        return Err(Failure::usage(
            "the django model's table belongs to Django: create and migrate it with \
             `python manage.py migrate` in the Django project",
        ));
    }
    if parsed.kind() == BackendKind::Sqlite && !parsed.is_memory() && !migrating {
        // Do not let SQLite create an empty database for a mistyped path.
        let path = parsed.redacted();
        if !Path::new(&path).exists() {
            return Err(Failure::usage(format!(
                "database file not found: {} (run `apikey migrate` first)",
                sanitize(&path, 200)
            )));
        }
    }
    let config = DatabaseConfig::default()
        .max_size(1)
        .connection_timeout(Duration::from_secs(3));
    let db = Database::connect_with(&url, config).map_err(|e| db_failure(e, cli.model))?;
    match cli.model {
        Model::Builtin => dispatch::<ApiKey>(db, cli.command, cli.model),
        Model::Django => dispatch::<DjangoApiKey>(db, cli.command, cli.model),
    }
}

fn dispatch<M: AbstractApiKey<Extra = ()>>(
    db: Database,
    command: Command,
    model: Model,
) -> CliResult {
    let fail = |e: Error| db_failure(e, model);
    match command {
        Command::Migrate => {
            let applied = db.migrate().map_err(fail)?;
            let mut text = String::new();
            for v in &applied {
                text.push_str(v);
                text.push('\n');
            }
            print_stdout(&text)?;
            eprintln_quiet(&match applied.len() {
                0 => "no pending migrations".to_owned(),
                n => format!("applied {n} migration(s)"),
            });
            Ok(())
        }
        Command::Create { name, expires } => {
            let now = Utc::now();
            let expiry = match expires {
                Some(w) => {
                    let t = when::parse_when(&w, now).map_err(Failure::usage)?;
                    if t <= now {
                        return Err(Failure::usage("--expires is in the past"));
                    }
                    Some(t)
                }
                None => None,
            };
            let keys: BaseApiKeyManager<M> = BaseApiKeyManager::new(db);
            let (row, key) = keys
                .create_key(NewKey::new(name).expiry(expiry))
                .map_err(fail)?;
            let printed = {
                let mut out = io::stdout().lock();
                writeln!(out, "{}", key.expose_secret()).and_then(|()| out.flush())
            };
            if let Err(e) = printed {
                // Nobody can ever see this key: do not leave it usable.
                let revoked = keys.revoke(row.prefix()).is_ok();
                return Err(Failure::usage(format!(
                    "cannot write the key to stdout ({e}); key {} {}",
                    row.prefix(),
                    if revoked {
                        "revoked"
                    } else {
                        "could NOT be revoked"
                    }
                )));
            }
            let until = row
                .expiry_date()
                .map(|t| format!(", expires {}", t.to_rfc3339()))
                .unwrap_or_default();
            eprintln_quiet(&format!(
                "created {} {} ({}){until}; store the key now, it is not shown again",
                M::VERBOSE_NAME,
                row.prefix(),
                sanitize(row.name(), 50),
            ));
            Ok(())
        }
        Command::List {
            search,
            revoked,
            active,
            expired,
            json,
        } => {
            let mut filter = KeyFilter {
                search,
                ..KeyFilter::default()
            };
            if revoked {
                filter.revoked = Some(true);
            } else if active {
                filter.revoked = Some(false);
                filter.expired = Some(false);
            } else if expired {
                filter.expired = Some(true);
            }
            let keys: BaseApiKeyManager<M> = BaseApiKeyManager::new(db);
            let rows = keys.list(&filter).map_err(fail)?;
            let text = if json {
                let items: Vec<KeyJson> = rows.iter().map(KeyJson::from_model).collect();
                let mut s = serde_json::to_string_pretty(&items)
                    .map_err(|e| Failure::usage(format!("cannot write json: {e}")))?;
                s.push('\n');
                s
            } else {
                output::table(&rows)
            };
            print_stdout(&text)
        }
        Command::Revoke { prefix } => {
            if prefix.contains('.') {
                // Probably a whole key: never echo it.
                return Err(Failure::usage(
                    "expected a key prefix (the part before the dot), not a key",
                ));
            }
            let keys: BaseApiKeyManager<M> = BaseApiKeyManager::new(db);
            let shown = sanitize(&prefix, 64);
            let before = keys.find_by_prefix(&prefix).map_err(fail)?;
            let Some(before) = before else {
                return Err(Failure::not_found(format!(
                    "no {} with prefix `{shown}`",
                    M::VERBOSE_NAME
                )));
            };
            if before.revoked() {
                eprintln_quiet(&format!("{} {shown} was already revoked", M::VERBOSE_NAME));
                return Ok(());
            }
            match keys.revoke(&prefix) {
                Ok(_) => {
                    eprintln_quiet(&format!("revoked {} {shown}", M::VERBOSE_NAME));
                    Ok(())
                }
                Err(Error::NotFound(_)) => Err(Failure::not_found(format!(
                    "no {} with prefix `{shown}`",
                    M::VERBOSE_NAME
                ))),
                Err(e) => Err(fail(e)),
            }
        }
        Command::Verify { key } => {
            let key = if key == "-" {
                read_key_from_stdin()?
            } else {
                key
            };
            let keys: BaseApiKeyManager<M> = BaseApiKeyManager::new(db);
            match keys.get_from_key(key.trim()) {
                Ok(row) => {
                    eprintln_quiet(&format!(
                        "usable: {} {} ({})",
                        M::VERBOSE_NAME,
                        row.prefix(),
                        sanitize(row.name(), 50)
                    ));
                    Ok(())
                }
                Err(Error::InvalidKey) => Err(Failure::not_found(
                    "invalid api key (unknown, wrong, revoked or expired)",
                )),
                Err(e) => Err(fail(e)),
            }
        }
        scaffold_command @ Command::Scaffold { .. } => scaffold(scaffold_command),
    }
}

/// `apikey scaffold`: the migration folders of a custom key table.
fn scaffold(command: Command) -> CliResult {
    let Command::Scaffold {
        table,
        column,
        sqlite_column,
        postgres_column,
        index,
        dir,
        version,
    } = command
    else {
        return Err(Failure::usage("internal: not a scaffold command"));
    };
    let mut key_table = column
        .into_iter()
        .fold(KeyTable::new(table), |t, c| t.column(c));
    for c in sqlite_column {
        key_table = key_table.column_for(BackendKind::Sqlite, c);
    }
    for c in postgres_column {
        key_table = key_table.column_for(BackendKind::Postgres, c);
    }
    let key_table = index.into_iter().fold(key_table, |t, i| t.index(i));
    let version = version.unwrap_or_else(|| Utc::now().format("%Y-%m-%d-%H%M%S").to_string());
    let written = key_table
        .write_migrations(&dir, &version)
        .map_err(|e| Failure::usage(sanitize(&e.to_string(), 400)))?;
    let mut text = String::new();
    for folder in &written {
        text.push_str(&folder.display().to_string());
        text.push('\n');
    }
    print_stdout(&text)?;
    eprintln_quiet(&format!(
        "wrote the migrations of `{}` (up.sql, down.sql) for sqlite and postgres; \
         embed both folders with diesel_migrations::embed_migrations! and run them with \
         Database::migrate_with",
        key_table.table()
    ));
    Ok(())
}

/// Reads the key from stdin: at most a few KiB, surrounding whitespace trimmed.
fn read_key_from_stdin() -> Result<String, Failure> {
    let mut bytes = Vec::new();
    io::stdin()
        .take(MAX_STDIN_KEY + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::usage(format!("cannot read the key from stdin: {e}")))?;
    if bytes.len() as u64 > MAX_STDIN_KEY {
        return Err(Failure::not_found("invalid api key (too long)"));
    }
    String::from_utf8(bytes)
        .map(|s| s.trim().to_owned())
        .map_err(|_| Failure::not_found("invalid api key (not UTF-8)"))
}

/// A database error as the CLI reports it (exit 2), with a hint when the key
/// table is missing.
fn db_failure(e: Error, model: Model) -> Failure {
    if let Error::Database(inner) = &e {
        let msg = inner.to_string();
        if msg.contains("no such table")
            || (msg.contains("relation") && msg.contains("does not exist"))
        {
            let hint = match model {
                Model::Builtin => "run `apikey migrate` first",
                Model::Django => "run `python manage.py migrate` in the Django project first",
            };
            return Failure::usage(format!("the key table does not exist: {hint}"));
        }
    }
    Failure::usage(e.to_string())
}

/// Writes to stdout; a closed pipe (`apikey list | head -1`) is not an error.
fn print_stdout(text: &str) -> CliResult {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::usage(format!("cannot write to stdout: {e}"))),
    }
}

/// A message on stderr; failing to write it is not worth failing for.
fn eprintln_quiet(message: &str) {
    let _ = writeln!(io::stderr(), "{message}");
}
