//! `apikey list`: the keys, as a table or JSON.

use apikey_core::KeyFilter;
use clap::ArgGroup;

use super::{print_stdout, KeyStore};
use crate::failure::Failure;
use crate::output;
use crate::target::Target;

/// List keys, newest first: prefix, name, created, expires, expired, revoked,
/// then the model's own columns (`--table`).
#[derive(Debug, clap::Args)]
#[command(group(ArgGroup::new("state").args(["revoked", "active", "expired"])))]
pub struct Args {
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
    /// Only keys not used for DURATION (90d, 12w, 36h): last used before
    /// now - DURATION, or never used and created before it. For tables
    /// with a last_used_at column.
    #[arg(long, value_name = "DURATION", value_parser = parse_unused_for)]
    unused_for: Option<chrono::Duration>,
    /// Print a JSON array (prefix, name, created, expiry_date,
    /// has_expired, revoked, scopes, last_used_at, then the own columns;
    /// RFC 3339 times, null for none) instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pub target: Target,
}

/// Prints the keys matching the filters on stdout.
pub fn run(keys: &dyn KeyStore, args: Args) -> Result<(), Failure> {
    let Args {
        search,
        revoked,
        active,
        expired,
        unused_for,
        json,
        target: _,
    } = args;
    let mut filter = KeyFilter {
        search,
        ..KeyFilter::default()
    };
    if let Some(unused_for) = unused_for {
        if !keys.tracks_last_use() {
            return Err(Failure::Usage(format!(
                "--unused-for: table `{}` does not record last use (no last_used_at column)",
                keys.table_name()
            )));
        }
        let since = chrono::Utc::now()
            .checked_sub_signed(unused_for)
            .ok_or_else(|| Failure::Usage("--unused-for is too long".into()))?;
        filter.unused_since = Some(since.naive_utc());
    }
    if revoked {
        filter.revoked = Some(true);
    } else if active {
        filter.revoked = Some(false);
        filter.expired = Some(false);
    } else if expired {
        filter.expired = Some(true);
    }
    let unfiltered = filter.search.is_none()
        && filter.revoked.is_none()
        && filter.expired.is_none()
        && filter.unused_since.is_none();
    let rows = keys.list(&filter)?;
    let text = if json {
        let items: Vec<serde_json::Value> = rows.iter().map(output::Row::to_json).collect();
        let mut s = serde_json::to_string_pretty(&items)
            .map_err(|e| Failure::Io(format!("cannot write json: {e}")))?;
        s.push('\n');
        s
    } else {
        output::table(&rows, &keys.own_columns(), keys.tracks_last_use())
    };
    print_stdout(&text)?;
    if rows.is_empty() && unfiltered {
        if let Some(note) = super::other_key_tables(keys) {
            super::eprintln_quiet(&format!(
                "note: table `{}` has no keys; {note}",
                keys.table_name()
            ));
        }
    }
    Ok(())
}

/// A duration such as `90d` (see `when::parse_duration`).
fn parse_unused_for(s: &str) -> Result<chrono::Duration, String> {
    crate::when::parse_duration(s.trim())
        .ok_or_else(|| "expected a duration such as 30d, 12w, 36h".into())
}
