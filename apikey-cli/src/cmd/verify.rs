//! `apikey verify`: is this key usable?

use std::io::{self, Read};

use super::{eprintln_quiet, KeyStore};
use crate::failure::Failure;
use crate::output::sanitize;
use crate::target::Target;

/// The longest key `verify` reads from stdin.
const MAX_STDIN_KEY: u64 = 4096;

/// Check a key: exit 0 when it is usable, 1 when it is not.
///
/// Not usable means unknown, wrong, revoked or expired (one answer for all
/// four). A database that cannot be used is exit 3, never 1: a script can
/// tell a bad key from an outage.
///
/// Give `-` to read the key from stdin, so that it does not show in the
/// process list or the shell history: `apikey verify - < key.txt`.
/// A legacy (pbkdf2) hash that verifies is rewritten in the sha512 format.
/// Usable by its own row: an application's narrowing (keys of archived
/// projects, say) is its code, not known to the command.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The full key, or `-` to read it from stdin.
    key: String,
    #[command(flatten)]
    pub target: Target,
}

/// Succeeds when the key is usable; [`Failure::NotUsable`] when it is
/// unknown, wrong, revoked or expired. Never prints the key.
pub fn run(keys: &dyn KeyStore, Args { key, target: _ }: Args) -> Result<(), Failure> {
    let key = if key == "-" {
        read_key_from_stdin()?
    } else {
        key
    };
    let row = keys.verify(key.trim())?;
    eprintln_quiet(&format!(
        "usable: {} {} ({})",
        keys.verbose_name(),
        row.prefix,
        sanitize(&row.name, 50)
    ));
    Ok(())
}

/// Reads the key from stdin: at most a few KiB, surrounding whitespace trimmed.
fn read_key_from_stdin() -> Result<String, Failure> {
    let mut bytes = Vec::new();
    io::stdin()
        .take(MAX_STDIN_KEY + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::Io(format!("cannot read the key from stdin: {e}")))?;
    if bytes.len() as u64 > MAX_STDIN_KEY {
        return Err(Failure::NotUsable("invalid api key (too long)".into()));
    }
    String::from_utf8(bytes)
        .map(|s| s.trim().to_owned())
        .map_err(|_| Failure::NotUsable("invalid api key (not UTF-8)".into()))
}
