//! `apikey revoke`: revoke a key by its prefix.

use super::{eprintln_quiet, KeyStore};
use crate::failure::Failure;
use crate::output::sanitize;
use crate::target::Target;

/// Revoke the key with this prefix (cannot be undone).
///
/// Exit 0 when the key is revoked (also when it already was), 1 when no
/// key has this prefix, 3 when the database cannot be used.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The key's prefix (the part before the dot).
    prefix: String,
    #[command(flatten)]
    pub target: Target,
}

/// Revokes the key; revoking a revoked key is success.
pub fn run(keys: &dyn KeyStore, Args { prefix, target: _ }: Args) -> Result<(), Failure> {
    if prefix.contains('.') {
        // Probably a whole key: never echo it.
        return Err(Failure::Usage(
            "expected a key prefix (the part before the dot), not a key".into(),
        ));
    }
    let shown = sanitize(&prefix, 64);
    let what = keys.verbose_name();
    let not_found = || {
        let note = super::other_key_tables(keys)
            .map(|n| format!("; {n}"))
            .unwrap_or_default();
        Failure::NotFound(format!(
            "no {what} with prefix `{shown}` in table `{}`{note}",
            keys.table_name()
        ))
    };
    let Some(before) = keys.find(&prefix)? else {
        return Err(not_found());
    };
    if before.revoked {
        eprintln_quiet(&format!("{what} {shown} was already revoked"));
        return Ok(());
    }
    if keys.revoke(&prefix)? {
        eprintln_quiet(&format!("revoked {what} {shown}"));
        Ok(())
    } else {
        // Deleted in the meantime.
        Err(not_found())
    }
}
