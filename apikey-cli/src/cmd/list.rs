//! `apikey list`: the keys, as a table or JSON.

use apikey_core::{AbstractApiKey, KeyFilter};
use clap::ArgGroup;

use super::{print_stdout, Keys};
use crate::failure::Failure;
use crate::output::{self, KeyJson};

/// List keys, newest first: prefix, name, created, expires, expired, revoked.
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
    /// has_expired, revoked; RFC 3339 times) instead of a table.
    #[arg(long)]
    json: bool,
}

/// Prints the keys matching the filters on stdout.
pub fn run<M: AbstractApiKey>(keys: &Keys<M>, args: Args) -> Result<(), Failure> {
    let Args {
        search,
        revoked,
        active,
        expired,
        json,
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
    let rows = keys.manager().list(&filter).map_err(|e| keys.failure(e))?;
    let text = if json {
        let items: Vec<KeyJson> = rows.iter().map(KeyJson::from_model).collect();
        let mut s = serde_json::to_string_pretty(&items)
            .map_err(|e| Failure::Io(format!("cannot write json: {e}")))?;
        s.push('\n');
        s
    } else {
        output::table(&rows)
    };
    print_stdout(&text)
}
