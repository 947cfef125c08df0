//! What `list` prints: an aligned table for people, JSON for machines.

use apikey_core::AbstractApiKey;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

/// One key as `list --json` prints it.
#[derive(Debug, Serialize)]
pub struct KeyJson {
    prefix: String,
    name: String,
    created: String,
    expiry_date: Option<String>,
    has_expired: bool,
    revoked: bool,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

impl KeyJson {
    /// The row's public fields (never its hash).
    pub fn from_model<M: AbstractApiKey>(key: &M) -> Self {
        KeyJson {
            prefix: key.prefix().to_owned(),
            name: key.name().to_owned(),
            created: rfc3339(key.created()),
            expiry_date: key.expiry_date().map(rfc3339),
            has_expired: key.has_expired(),
            revoked: key.revoked(),
        }
    }
}

/// `s` fit for a terminal line: control characters (newlines, escapes)
/// become `?`, and at most `max` characters are kept (then `…`).
pub fn sanitize(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .take(max)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

/// The aligned table: a header, then one line per key.
pub fn table<M: AbstractApiKey>(keys: &[M]) -> String {
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_owned();
    let time = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let header = ["PREFIX", "NAME", "CREATED", "EXPIRES", "EXPIRED", "REVOKED"].map(String::from);
    let rows: Vec<[String; 6]> = keys
        .iter()
        .map(|k| {
            [
                sanitize(k.prefix(), 64),
                sanitize(k.name(), 50),
                time(k.created()),
                k.expiry_date().map_or_else(|| "-".to_owned(), time),
                yes_no(k.has_expired()),
                yes_no(k.revoked()),
            ]
        })
        .collect();
    let mut widths = [0usize; 6];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                let pad = w - cell.chars().count() + 2;
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::sanitize;

    #[test]
    fn sanitizes_control_characters_and_length() {
        assert_eq!(sanitize("a\nb\x1b[31mc", 50), "a?b?[31mc");
        assert_eq!(sanitize("abcdef", 3), "abc…");
        assert_eq!(sanitize("abc", 3), "abc");
    }
}
