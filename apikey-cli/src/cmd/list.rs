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
    /// Print a JSON array (prefix, name, created, expiry_date,
    /// has_expired, revoked, scopes, then the own columns; RFC 3339 times) instead
    /// of a table.
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
        json,
        target: _,
    } = args;
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
    let unfiltered =
        filter.search.is_none() && filter.revoked.is_none() && filter.expired.is_none();
    let rows = keys.list(&filter)?;
    let text = if json {
        let items: Vec<serde_json::Value> = rows.iter().map(output::Row::to_json).collect();
        let mut s = serde_json::to_string_pretty(&items)
            .map_err(|e| Failure::Io(format!("cannot write json: {e}")))?;
        s.push('\n');
        s
    } else {
        output::table(&rows, &keys.own_columns())
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
