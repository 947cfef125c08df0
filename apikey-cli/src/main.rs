//! `apikey`: manage the API keys of an apikey-rs (or Django) service from a
//! shell or a script.
//!
//! ```text
//! apikey [--database-url URL] [--model builtin|django | --table TABLE] <command>
//!   migrate                                   apply pending migrations (built-in table)
//!   create --name NAME [--expires WHEN] [--set COLUMN=VALUE]... [--brand BRAND]
//!                                             print the new key (stdout, alone)
//!   list [--search TEXT] [--revoked|--active|--expired] [--json]
//!   revoke PREFIX                             exit 0 when revoked
//!   rotate PREFIX [--grace WHEN]              print the replacing key (stdout, alone)
//!   verify KEY|-                              exit 0 when usable, 1 when not
//!   scaffold --table NAME [--column SQL]... [--index COLUMN]... [--dir DIR] [--version V]
//!                                             write the migrations of a custom key table
//! ```
//!
//! Exit codes: 0 success; 1 a key that is not usable (`verify`) or an
//! unknown prefix (`revoke`); 2 a usage error; 3 a database that cannot be
//! opened, is not migrated or fails; 4 stdin, stdout or a file that cannot
//! be read or written (see [`failure::Failure`]). Only `create` prints key
//! material, on stdout; every message goes to stderr.
//!
//! This file parses the arguments, opens the database, and hands over to
//! the command's module in [`cmd`].
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

mod cmd;
mod failure;
mod model;
mod output;
mod table;
mod target;
mod when;

use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use apikey_core::{ApiKey, BackendKind, Database, DatabaseConfig, DatabaseUrl, DjangoApiKey};
use clap::{Parser, Subcommand};

use crate::cmd::{KeyStore, Keys};
use crate::failure::Failure;
use crate::model::Model;
use crate::output::sanitize;
use crate::table::KeyTable;
use crate::target::Target;

/// The database used when neither --database-url nor DATABASE_URL is given.
const DEFAULT_DATABASE: &str = "apikeys.db";

#[derive(Debug, Parser)]
#[command(
    name = "apikey",
    version,
    about = "Manage API keys: migrate, create, list, revoke, rotate, verify",
    after_help = "Database: --database-url, else $DATABASE_URL, else apikeys.db in the current \
                  folder.\nURLs: sqlite://RELATIVE/PATH, sqlite:///ABSOLUTE/PATH, a bare PATH, \
                  postgres://user:password@host/db.\n\
                  Exit codes:\n  \
                  0  ok\n  \
                  1  the key is not usable (verify), no key has this prefix (revoke, rotate)\n  \
                  2  usage error: bad arguments, a malformed database URL, a refused value\n  \
                  3  database error: the database cannot be opened or reached (no such\n     \
                  file, server down, wrong credentials), has no key table (not migrated),\n     \
                  or a query or migration failed\n  \
                  4  stdin, stdout or a file cannot be read or written"
)]
struct Cli {
    #[command(flatten)]
    target: Target,

    #[command(subcommand)]
    command: Command,
}

/// The commands; each one's help is its `Args`' doc comment.
#[derive(Debug, Subcommand)]
enum Command {
    Migrate(cmd::migrate::Args),
    Create(cmd::create::Args),
    List(cmd::list::Args),
    Revoke(cmd::revoke::Args),
    Rotate(cmd::rotate::Args),
    Verify(cmd::verify::Args),
    Scaffold(cmd::scaffold::Args),
}

impl Command {
    /// The database and key table options given after the command.
    fn target(&mut self) -> Option<Target> {
        let t = match self {
            Command::Migrate(a) => &mut a.target,
            Command::Create(a) => &mut a.target,
            Command::List(a) => &mut a.target,
            Command::Revoke(a) => &mut a.target,
            Command::Rotate(a) => &mut a.target,
            Command::Verify(a) => &mut a.target,
            Command::Scaffold(_) => return None,
        };
        Some(std::mem::take(t))
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // clap prints help/version (exit 0) or the usage error (exit 2).
        Err(e) => e.exit(),
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            let _ = writeln!(io::stderr(), "apikey: {failure}");
            ExitCode::from(failure.exit_code())
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    let Cli {
        target: before,
        mut command,
    } = cli;
    let Some(after) = command.target() else {
        if !before.is_empty() {
            return Err(Failure::Usage(
                "`scaffold` writes files and uses no database: --database-url, --model and \
                 --table do not apply to it"
                    .into(),
            ));
        }
        // Writes files only: no database is read, created or migrated.
        return match command {
            Command::Scaffold(args) => cmd::scaffold::run(args),
            _ => Ok(()),
        };
    };
    let Target {
        database_url,
        model,
        table,
    } = after.merge(before)?;
    let model = model.unwrap_or(Model::Builtin);
    let may_create = match command {
        Command::Migrate(_) => {
            // Before the database is opened, which creates a SQLite file.
            cmd::migrate::check_target(model, table.as_deref())?;
            true
        }
        _ => false,
    };
    let db = open(database_url, may_create)?;
    match (table, model) {
        (Some(table), _) => dispatch(&KeyTable::open(db, &table)?, command),
        (None, Model::Builtin) => dispatch(
            &Keys::<ApiKey>::new(db, model.missing_table_hint()),
            command,
        ),
        (None, Model::Django) => dispatch(
            &Keys::<DjangoApiKey>::new(db, model.missing_table_hint()),
            command,
        ),
    }
}

fn dispatch(keys: &dyn KeyStore, command: Command) -> Result<(), Failure> {
    match command {
        Command::Migrate(args) => cmd::migrate::run(keys, args),
        Command::Create(args) => cmd::create::run(keys, args),
        Command::List(args) => cmd::list::run(keys, args),
        Command::Revoke(args) => cmd::revoke::run(keys, args),
        Command::Rotate(args) => cmd::rotate::run(keys, args),
        Command::Verify(args) => cmd::verify::run(keys, args),
        Command::Scaffold(args) => cmd::scaffold::run(args),
    }
}

/// Opens the database of --database-url, else DATABASE_URL, else
/// apikeys.db, and checks that it answers. Unless `may_create`, a SQLite
/// file that does not exist is an error, not a new empty database.
fn open(database_url: Option<String>, may_create: bool) -> Result<Database, Failure> {
    let url = match database_url {
        Some(url) => url,
        None => match std::env::var_os("DATABASE_URL") {
            Some(v) if !v.is_empty() => v
                .into_string()
                .map_err(|_| Failure::Usage("DATABASE_URL is not valid UTF-8".into()))?,
            _ => DEFAULT_DATABASE.to_owned(),
        },
    };
    let parsed = DatabaseUrl::parse(&url).map_err(|e| Failure::Usage(e.to_string()))?;
    let shown = sanitize(&parsed.redacted(), 200);
    if parsed.kind() == BackendKind::Sqlite && !parsed.is_memory() && !may_create {
        // Do not let SQLite create an empty database for a mistyped path.
        if !Path::new(&parsed.redacted()).exists() {
            return Err(Failure::Database(format!(
                "database file not found: {shown} (run `apikey migrate` first)"
            )));
        }
    }
    let config = DatabaseConfig::default()
        .max_size(1)
        .connection_timeout(Duration::from_secs(3));
    let db =
        Database::connect_lazy_with(&url, config).map_err(|e| Failure::Usage(e.to_string()))?;
    // One connection now, so that an unreachable database fails here, named.
    db.run(|_| Ok(()))
        .map_err(|e| Failure::Database(format!("database {shown}: {e}")))?;
    Ok(db)
}
