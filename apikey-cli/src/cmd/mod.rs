//! One module per command. The key commands (`migrate`, `create`, `list`,
//! `revoke`, `verify`) work on a [`Keys`]; `scaffold` needs no database.

pub mod create;
pub mod list;
pub mod migrate;
pub mod revoke;
pub mod scaffold;
pub mod verify;

use std::io::{self, Write};

use apikey_core::{AbstractApiKey, BaseApiKeyManager, Database, Error};

use crate::failure::Failure;
use crate::model::Model;

/// The key table a command works on: its manager, and which `--model` it is.
#[derive(Debug)]
pub struct Keys<M: AbstractApiKey> {
    manager: BaseApiKeyManager<M>,
    model: Model,
}

impl<M: AbstractApiKey> Keys<M> {
    /// The key table of `model` in `db`.
    pub fn new(db: Database, model: Model) -> Self {
        Keys {
            // One command, one or two queries: no verification cache (and
            // no change-feed thread) in a process that exits right away.
            manager: BaseApiKeyManager::new(db).without_cache(),
            model,
        }
    }

    /// The manager: every read and write goes through it.
    pub fn manager(&self) -> &BaseApiKeyManager<M> {
        &self.manager
    }

    /// An apikey-core error as the CLI reports it: the database named, a hint
    /// when the key table is missing.
    pub fn failure(&self, e: Error) -> Failure {
        Failure::from_core(
            e,
            &self.manager.database().redacted_url(),
            M::TABLE_NAME,
            self.model.missing_table_hint(),
        )
    }
}

/// Writes to stdout; a closed pipe (`apikey list | head -1`) is not an error.
pub fn print_stdout(text: &str) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::Io(format!("cannot write to stdout: {e}"))),
    }
}

/// A message on stderr; failing to write it is not worth failing for.
pub fn eprintln_quiet(message: &str) {
    let _ = writeln!(io::stderr(), "{message}");
}
