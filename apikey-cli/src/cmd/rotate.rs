//! `apikey rotate`: a new key replacing an old one, with a grace period.

use std::time::Duration;

use super::create::print_key;
use super::{eprintln_quiet, KeyStore};
use crate::failure::Failure;
use crate::output::sanitize;
use crate::target::Target;
use crate::when;

/// Replace a key: print a new one, alone, on stdout (shown only this once).
///
/// The new key has the old one's name, expiry date and own columns, and
/// records the old prefix (built-in table). The old key stops working at
/// once (revoked), or after `--grace` so clients can move over (its expiry
/// date becomes now + grace, unless it already expires earlier). A revoked
/// or expired key cannot be rotated (exit 2); no key with this prefix is
/// exit 1. If the new key cannot be printed it is revoked (exit 4); the old
/// key keeps its grace.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The prefix of the key to replace (the part before the dot).
    prefix: String,
    /// How long the old key keeps working: a duration (45s, 90m, 24h, 7d,
    /// 1d12h), or 0 to revoke it at once (the default).
    #[arg(long, value_name = "DURATION", default_value = "0", value_parser = parse_grace)]
    grace: Duration,
    #[command(flatten)]
    pub target: Target,
}

/// `0` or a duration such as `24h`.
fn parse_grace(s: &str) -> Result<Duration, String> {
    if s.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    when::parse_duration(s.trim())
        .and_then(|d| d.to_std().ok())
        .ok_or_else(|| "expected 0 or a duration such as 30m, 24h, 7d".into())
}

/// Rotates the key and prints the new one on stdout.
pub fn run(
    keys: &dyn KeyStore,
    Args {
        prefix,
        grace,
        target: _,
    }: Args,
) -> Result<(), Failure> {
    if prefix.contains('.') {
        // Probably a whole key: never echo it.
        return Err(Failure::Usage(
            "expected a key prefix (the part before the dot), not a key".into(),
        ));
    }
    let (row, key) = keys.rotate(&prefix, grace)?;
    print_key(keys, &row, &key)?;
    let old = sanitize(&prefix, 64);
    let fate = match keys.find(&prefix) {
        Ok(Some(old_row)) if old_row.revoked => format!("{old} is revoked"),
        Ok(Some(old_row)) => match old_row.expiry_date {
            Some(t) => format!("{old} keeps working until {}", t.to_rfc3339()),
            None => format!("{old} keeps working"),
        },
        _ => format!("{old} was replaced"),
    };
    eprintln_quiet(&format!(
        "rotated {} {old} -> {} ({}); {fate}; store the new key now, it is not shown again",
        keys.verbose_name(),
        row.prefix,
        sanitize(&row.name, 50),
    ));
    Ok(())
}
