//! `apikey create`: a new key, printed once.

use std::io::{self, Write};

use apikey_core::{AbstractApiKey, BrandedKeyGenerator, DjangoApiKey, PlainKey, RateLimit, Scopes};
use chrono::Utc;

use apikey_core::limits::Refill;

use super::{eprintln_quiet, KeyLimits, KeyStore};
use crate::failure::Failure;
use crate::output::{sanitize, Row};
use crate::target::Target;
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
    /// A value of one of the model's own columns (`--table`), as the
    /// database reads it: `--set project_id=5`. Repeat for each column;
    /// the required ones (NOT NULL without a default) must be given.
    #[arg(long = "set", value_name = "COLUMN=VALUE", value_parser = parse_set)]
    set: Vec<(String, String)>,
    /// Issue a branded, checksummed key: `--brand acme` prints
    /// `acme_<prefix>.<secret><checksum>` (see apikey_core::branded; its
    /// stored prefix is `acme_<prefix>`). The brand: 1 to 16 characters of
    /// a-z and 0-9, starting with a letter. Not for Django's table, whose
    /// prefixes are 8 characters.
    #[arg(long, value_name = "BRAND", value_parser = parse_brand)]
    brand: Option<BrandedKeyGenerator>,
    /// A scope of the key (`billing:read`, or `billing:*` for every scope
    /// under `billing:`; see apikey_core::scopes). Repeat for each scope.
    #[arg(long = "scope", value_name = "SCOPE", value_parser = parse_scope)]
    scopes: Vec<String>,
    /// The key's own rate limit, N/period: 10/s, 600/min, 10000/h, 50000/d
    /// (N requests in any window of the period, a burst of N included; see
    /// apikey_core::limits). Without it the application's default applies.
    #[arg(long = "rate", value_name = "N/PERIOD", value_parser = parse_rate)]
    rate: Option<RateLimit>,
    /// A usage quota: the key works for this many requests, then is
    /// refused (0 to 10^18).
    #[arg(long = "uses", value_name = "N", value_parser = parse_uses)]
    uses: Option<i64>,
    /// Refill the quota every UTC day or month: `--refill 1000/day` (or
    /// N/month) sets the remaining uses to N at the first use of each
    /// period; the key starts with N unless `--uses` says otherwise.
    #[arg(long = "refill", value_name = "N/PERIOD", value_parser = parse_refill)]
    refill: Option<Refill>,
    #[command(flatten)]
    pub target: Target,
}

/// A scope a key may be given.
fn parse_scope(s: &str) -> Result<String, String> {
    apikey_core::scopes::validate_scope(s)
        .map(|()| s.to_owned())
        .map_err(|e| e.to_string())
}

/// A rate limit.
fn parse_rate(s: &str) -> Result<RateLimit, String> {
    RateLimit::parse(s).map_err(|e| e.to_string())
}

/// A quota refill.
fn parse_refill(s: &str) -> Result<Refill, String> {
    Refill::parse(s).map_err(|e| e.to_string())
}

/// A number of uses.
fn parse_uses(s: &str) -> Result<i64, String> {
    apikey_core::limits::parse_uses(s).map_err(|e| e.to_string())
}

/// A brand for [`BrandedKeyGenerator`].
fn parse_brand(s: &str) -> Result<BrandedKeyGenerator, String> {
    BrandedKeyGenerator::new(s).map_err(|e| e.to_string())
}

/// `COLUMN=VALUE`.
fn parse_set(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((column, value)) if !column.trim().is_empty() => {
            Ok((column.trim().to_owned(), value.to_owned()))
        }
        _ => Err("expected COLUMN=VALUE, for example project_id=5".into()),
    }
}

/// Creates the key and prints it on stdout: the only place the CLI ever
/// prints key material. A key that cannot be printed is revoked at once.
pub fn run(
    keys: &dyn KeyStore,
    Args {
        name,
        expires,
        set,
        brand,
        scopes,
        rate,
        uses,
        refill,
        target: _,
    }: Args,
) -> Result<(), Failure> {
    if set.iter().any(|(c, _)| c == "scopes") {
        return Err(Failure::Usage(
            "--set scopes: give scopes with --scope (each checked against the grammar)".into(),
        ));
    }
    if set.iter().any(|(c, _)| {
        matches!(
            c.as_str(),
            "rate_limit" | "remaining_uses" | "uses_refill" | "uses_refill_period"
        )
    }) {
        return Err(Failure::Usage(
            "--set rate_limit / remaining_uses / uses_refill: give them with --rate, --uses \
             and --refill (checked)"
                .into(),
        ));
    }
    let limits = KeyLimits {
        rate_limit: rate,
        uses,
        refill,
    };
    let scopes = Scopes::parse(&scopes).map_err(|e| Failure::Usage(e.to_string()))?;
    if brand.is_some() && keys.table_name() == DjangoApiKey::TABLE_NAME {
        return Err(Failure::Usage(
            "--brand: Django's table holds 8-character prefixes; a branded key's prefix \
             (`acme_Gm7lu2UK`) is longer. Branded keys go in the built-in table or your own"
                .into(),
        ));
    }
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
    let (row, key) = keys.create(&name, expiry, &set, brand.as_ref(), &scopes, &limits)?;
    print_key(keys, &row, &key)?;
    let until = row
        .expiry_date
        .map(|t| format!(", expires {}", t.to_rfc3339()))
        .unwrap_or_default();
    eprintln_quiet(&format!(
        "created {} {} ({}){until}; store the key now, it is not shown again",
        keys.verbose_name(),
        row.prefix,
        sanitize(&row.name, 50),
    ));
    Ok(())
}

/// Prints a new key, alone, on stdout: the only place the CLI ever prints
/// key material (`create`, `rotate`). A key that cannot be printed is
/// revoked at once: nobody could ever use it.
pub fn print_key(keys: &dyn KeyStore, row: &Row, key: &PlainKey) -> Result<(), Failure> {
    let printed = {
        let mut out = io::stdout().lock();
        writeln!(out, "{}", key.expose_secret()).and_then(|()| out.flush())
    };
    if let Err(e) = printed {
        let revoked = keys.revoke(&row.prefix).unwrap_or(false);
        return Err(Failure::Io(format!(
            "cannot write the key to stdout ({e}); key {} {}",
            row.prefix,
            if revoked {
                "revoked"
            } else {
                "could NOT be revoked"
            }
        )));
    }
    Ok(())
}
