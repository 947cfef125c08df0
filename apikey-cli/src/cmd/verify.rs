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
/// The key is read from the environment variable APIKEY_KEY when set, else
/// from stdin (`apikey verify < key.txt`), so that it shows neither in the
/// process list nor in the shell history. A key given as an argument still
/// works, with a warning on stderr. A legacy (pbkdf2) hash that verifies is
/// rewritten in the sha512 format. Usable by its own row: an application's
/// narrowing (keys of archived projects, say) is its code, not known to the
/// command.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The full key (discouraged: visible to other users in the process
    /// list), or `-` for stdin [default: $APIKEY_KEY, else stdin].
    key: Option<String>,
    #[command(flatten)]
    pub target: Target,
}

/// The environment variable `verify` reads the key from.
pub const KEY_VAR: &str = "APIKEY_KEY";

/// Succeeds when the key is usable; [`Failure::NotUsable`] when it is
/// unknown, wrong, revoked or expired. Never prints the key.
pub fn run(keys: &dyn KeyStore, Args { key, target: _ }: Args) -> Result<(), Failure> {
    let on_command_line = key.as_deref().is_some_and(|k| k != "-");
    let result = verify(keys, key);
    if on_command_line {
        // After the answer, so that the answer stays the first line.
        eprintln!(
            "apikey: warning: a key given as an argument is visible in the process \
             list and the shell history; pipe it on stdin or set {KEY_VAR} instead"
        );
    }
    result
}

fn verify(keys: &dyn KeyStore, key: Option<String>) -> Result<(), Failure> {
    let key = match key {
        Some(key) if key != "-" => key,
        Some(_) => read_key_from_stdin()?,
        None => match std::env::var(KEY_VAR) {
            Ok(key) if !key.trim().is_empty() => key,
            _ => {
                let key = read_key_from_stdin()?;
                if key.is_empty() {
                    return Err(Failure::Usage(format!(
                        "no key to verify: pipe it on stdin or set {KEY_VAR}"
                    )));
                }
                key
            }
        },
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
