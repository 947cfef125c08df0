//! What `list` prints: an aligned table for people, JSON for machines.

use apikey_core::AbstractApiKey;
use chrono::{DateTime, SecondsFormat, Utc};

/// One key as the CLI shows it: the base columns (never the hash) and the
/// model's own columns, in table order.
#[derive(Debug, Clone)]
pub struct Row {
    /// The prefix.
    pub prefix: String,
    /// The name.
    pub name: String,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// Expiry time, if any.
    pub expiry_date: Option<DateTime<Utc>>,
    /// Whether the key was revoked.
    pub revoked: bool,
    /// The key's scopes, sorted (none for a table without scopes).
    pub scopes: Vec<String>,
    /// When the key was last used (`None`: never, or a table without the
    /// column).
    pub last_used_at: Option<DateTime<Utc>>,
    /// The key's own rate limit (`10/s`), if any.
    pub rate_limit: Option<String>,
    /// The key's remaining uses, if it has a quota.
    pub remaining_uses: Option<i64>,
    /// The quota's refill (`1000/day`), if any.
    pub uses_refill: Option<String>,
    /// The model's own columns: (name, value).
    pub extra: Vec<(String, serde_json::Value)>,
}

impl Row {
    /// The row of a model the CLI is built with (its own columns as text).
    pub fn from_model<M: AbstractApiKey>(key: &M) -> Self {
        Row {
            prefix: key.prefix().to_owned(),
            name: key.name().to_owned(),
            created: key.created(),
            expiry_date: key.expiry_date(),
            revoked: key.revoked(),
            scopes: key.scopes().iter().map(str::to_owned).collect(),
            last_used_at: key.last_used_at().map(|t| t.and_utc()),
            rate_limit: key.rate_limit().map(|l| l.to_string()),
            remaining_uses: key.remaining_uses(),
            uses_refill: key.uses_refill().map(|r| r.to_string()),
            extra: key
                .extra_columns()
                .into_iter()
                .map(|(n, v)| (n.to_owned(), serde_json::Value::String(v)))
                .collect(),
        }
    }

    /// True when the key has an expiry date and it is not in the future.
    pub fn has_expired(&self) -> bool {
        self.expiry_date.is_some_and(|t| t <= Utc::now())
    }

    /// The row as `list --json` prints it: prefix, name, created,
    /// expiry_date, has_expired, revoked (RFC 3339 times), scopes (an
    /// array), last_used_at (a time or null), rate_limit (`"10/s"` or
    /// null), remaining_uses (a number or null: unlimited), uses_refill
    /// (`"1000/day"` or null), then the own columns under their names.
    pub fn to_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        map.insert("prefix".into(), self.prefix.clone().into());
        map.insert("name".into(), self.name.clone().into());
        map.insert("created".into(), rfc3339(self.created).into());
        map.insert(
            "expiry_date".into(),
            self.expiry_date
                .map(rfc3339)
                .map_or(serde_json::Value::Null, Into::into),
        );
        map.insert("has_expired".into(), self.has_expired().into());
        map.insert("revoked".into(), self.revoked.into());
        map.insert("scopes".into(), self.scopes.clone().into());
        map.insert(
            "last_used_at".into(),
            self.last_used_at
                .map(rfc3339)
                .map_or(serde_json::Value::Null, Into::into),
        );
        map.insert(
            "rate_limit".into(),
            self.rate_limit
                .clone()
                .map_or(serde_json::Value::Null, Into::into),
        );
        map.insert(
            "remaining_uses".into(),
            self.remaining_uses
                .map_or(serde_json::Value::Null, Into::into),
        );
        map.insert(
            "uses_refill".into(),
            self.uses_refill
                .clone()
                .map_or(serde_json::Value::Null, Into::into),
        );
        for (name, value) in &self.extra {
            map.entry(name.clone()).or_insert_with(|| value.clone());
        }
        serde_json::Value::Object(map)
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A value of an own column as a table cell.
fn cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "-".to_owned(),
        serde_json::Value::String(s) => sanitize(s, 50),
        other => sanitize(&other.to_string(), 50),
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

/// The aligned table: a header, then one line per key; `LAST USED` when the
/// table records it (`last_used`), `RATE` and `USES` when a listed key has
/// a rate limit or a quota, then the model's own columns, headed by their
/// names.
pub fn table(keys: &[Row], own: &[String], last_used: bool) -> String {
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_owned();
    let time = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut header: Vec<String> = ["PREFIX", "NAME", "CREATED", "EXPIRES", "EXPIRED", "REVOKED"]
        .map(String::from)
        .to_vec();
    if last_used {
        header.push("LAST USED".to_owned());
    }
    // The limits, when a listed key has one, in cells of their own (not
    // again as own columns).
    let limits = keys
        .iter()
        .any(|k| k.rate_limit.is_some() || k.remaining_uses.is_some());
    if limits {
        header.extend(["RATE".to_owned(), "USES".to_owned()]);
    }
    let own: Vec<&String> = own
        .iter()
        .filter(|n| {
            !matches!(
                n.as_str(),
                "rate_limit" | "remaining_uses" | "uses_refill" | "uses_refill_period"
            )
        })
        .collect();
    header.extend(own.iter().map(|n| sanitize(&n.to_uppercase(), 30)));
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|k| {
            let mut cells = vec![
                sanitize(&k.prefix, 64),
                sanitize(&k.name, 50),
                time(k.created),
                k.expiry_date.map_or_else(|| "-".to_owned(), time),
                yes_no(k.has_expired()),
                yes_no(k.revoked),
            ];
            if last_used {
                cells.push(k.last_used_at.map_or_else(|| "never".to_owned(), time));
            }
            if limits {
                cells.push(
                    k.rate_limit
                        .as_deref()
                        .map_or_else(|| "-".to_owned(), |l| sanitize(l, 30)),
                );
                cells.push(match (k.remaining_uses, &k.uses_refill) {
                    (Some(n), Some(r)) => format!("{n} (refill {})", sanitize(r, 30)),
                    (Some(n), None) => n.to_string(),
                    (None, _) => "-".to_owned(),
                });
            }
            cells.extend(own.iter().map(|n| {
                k.extra
                    .iter()
                    .find(|(name, _)| name == *n)
                    .map_or_else(|| "-".to_owned(), |(_, v)| cell(v))
            }));
            cells
        })
        .collect();
    let mut widths = vec![0usize; header.len()];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
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
