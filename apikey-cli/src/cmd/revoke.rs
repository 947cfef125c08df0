//! `apikey revoke`: revoke a key by its prefix.

use apikey_core::{AbstractApiKey, Error};

use super::{eprintln_quiet, Keys};
use crate::failure::Failure;
use crate::output::sanitize;

/// Revoke the key with this prefix (cannot be undone).
///
/// Exit 0 when the key is revoked (also when it already was), 1 when no
/// key has this prefix, 3 when the database cannot be used.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The key's prefix (the part before the dot).
    prefix: String,
}

/// Revokes the key; revoking a revoked key is success.
pub fn run<M: AbstractApiKey>(keys: &Keys<M>, Args { prefix }: Args) -> Result<(), Failure> {
    if prefix.contains('.') {
        // Probably a whole key: never echo it.
        return Err(Failure::Usage(
            "expected a key prefix (the part before the dot), not a key".into(),
        ));
    }
    let manager = keys.manager();
    let shown = sanitize(&prefix, 64);
    let not_found = || Failure::NotFound(format!("no {} with prefix `{shown}`", M::VERBOSE_NAME));
    let before = manager
        .find_by_prefix(&prefix)
        .map_err(|e| keys.failure(e))?
        .ok_or_else(not_found)?;
    if before.revoked() {
        eprintln_quiet(&format!("{} {shown} was already revoked", M::VERBOSE_NAME));
        return Ok(());
    }
    match manager.revoke(&prefix) {
        Ok(_) => {
            eprintln_quiet(&format!("revoked {} {shown}", M::VERBOSE_NAME));
            Ok(())
        }
        // Deleted in the meantime.
        Err(Error::NotFound(_)) => Err(not_found()),
        Err(e) => Err(keys.failure(e)),
    }
}
