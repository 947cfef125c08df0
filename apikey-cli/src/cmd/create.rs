//! `apikey create`: a new key, printed once.

use std::io::{self, Write};

use apikey_core::{AbstractApiKey, NewKey};
use chrono::Utc;

use super::{eprintln_quiet, Keys};
use crate::failure::Failure;
use crate::output::sanitize;
use crate::when;

/// Create a key and print it, alone, on stdout (shown only this once).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The key's name (required, at most 50 characters).
    #[arg(long)]
    name: String,
    /// When the key stops working: an RFC 3339 time
    /// (2030-01-31T12:00:00Z) or a duration from now (30d, 12h, 90m, 2w).
    #[arg(long, value_name = "WHEN")]
    expires: Option<String>,
}

/// Creates the key and prints it on stdout: the only place the CLI ever
/// prints key material. A key that cannot be printed is revoked at once.
pub fn run<M: AbstractApiKey<Extra = ()>>(
    keys: &Keys<M>,
    Args { name, expires }: Args,
) -> Result<(), Failure> {
    let now = Utc::now();
    let expiry = match expires {
        Some(w) => {
            let t = when::parse_when(&w, now).map_err(Failure::Usage)?;
            if t <= now {
                return Err(Failure::Usage("--expires is in the past".into()));
            }
            Some(t)
        }
        None => None,
    };
    let manager = keys.manager();
    let (row, key) = manager
        .create_key(NewKey::new(name).expiry(expiry))
        .map_err(|e| keys.failure(e))?;
    let printed = {
        let mut out = io::stdout().lock();
        writeln!(out, "{}", key.expose_secret()).and_then(|()| out.flush())
    };
    if let Err(e) = printed {
        // Nobody can ever see this key: do not leave it usable.
        let revoked = manager.revoke(row.prefix()).is_ok();
        return Err(Failure::Io(format!(
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
