//! Scopes: what a key may do, as strings such as `billing:read`.
//!
//! ```text
//! scope    = segment ":" segment *( ":" segment )     billing:read, billing:invoices:write
//! granted  = scope / segment *( ":" segment ) ":*"     billing:*  (every scope under billing:)
//! segment  = 1*( a-z / 0-9 / "_" / "-" )               lowercase
//! ```
//!
//! At most [`MAX_SCOPE_LENGTH`] characters each. A key's scopes grant a
//! required scope when one of them is that scope, or a wildcard
//! `resource:*` whose `resource:` starts it (`billing:*` grants
//! `billing:read` and `billing:invoices:read`, not `billing` nor
//! `billingx:read`). There is no bare `*`: a key that may do everything is
//! given each resource's wildcard. A required scope (what a route asks
//! for) has no wildcard.
//!
//! Stored in one text column, `scopes`, space-separated (the OAuth 2.0
//! `scope` form), sorted and without duplicates; an empty string is no
//! scope. Keys of a model without the column (Django's table) have none.

use std::collections::BTreeSet;
use std::fmt;

use crate::error::{Error, Result};

/// The longest scope, in characters.
pub const MAX_SCOPE_LENGTH: usize = 100;

/// Checks a scope a key may be given: `resource:action` (more segments
/// allowed), or a wildcard `resource:*`.
pub fn validate_scope(scope: &str) -> Result<()> {
    check(scope, true)
}

/// Checks a scope a route requires: like [`validate_scope`], without
/// wildcard.
pub fn validate_required_scope(scope: &str) -> Result<()> {
    check(scope, false)
}

fn check(scope: &str, wildcard: bool) -> Result<()> {
    let refused = |why: &str| {
        Err(Error::validation(
            "scope",
            format!("`{}`: {why}", scope.chars().take(40).collect::<String>()),
        ))
    };
    if scope.is_empty() || scope.len() > MAX_SCOPE_LENGTH {
        return refused(&format!("1 to {MAX_SCOPE_LENGTH} characters"));
    }
    let segments: Vec<&str> = scope.split(':').collect();
    if segments.len() < 2 {
        return refused("expected resource:action, for example billing:read");
    }
    for (i, segment) in segments.iter().enumerate() {
        if *segment == "*" {
            if !wildcard {
                return refused("a required scope has no wildcard");
            }
            if i + 1 != segments.len() {
                return refused("`*` only as the last part: billing:*");
            }
            continue;
        }
        let ok = !segment.is_empty()
            && segment
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !ok {
            return refused("parts of a-z, 0-9, _ and -, separated by `:`");
        }
    }
    Ok(())
}

/// A key's set of scopes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(BTreeSet<String>);

impl Scopes {
    /// No scope.
    pub fn none() -> Self {
        Scopes::default()
    }

    /// Scopes from strings, each checked with [`validate_scope`].
    pub fn parse<I, S>(scopes: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut set = BTreeSet::new();
        for scope in scopes {
            let scope = scope.as_ref();
            validate_scope(scope)?;
            set.insert(scope.to_owned());
        }
        Ok(Scopes(set))
    }

    /// The scopes stored in a `scopes` column (space-separated). Lenient: a
    /// token that is not a valid scope (written by raw SQL) grants nothing
    /// and is dropped.
    pub fn from_column(text: &str) -> Self {
        Scopes(
            text.split_whitespace()
                .filter(|s| validate_scope(s).is_ok())
                .map(str::to_owned)
                .collect(),
        )
    }

    /// The column text: sorted, space-separated, empty for none.
    pub fn to_column(&self) -> String {
        self.0
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// True when these scopes grant `required`: one of them is `required`,
    /// or a wildcard `resource:*` with `required` under `resource:`.
    pub fn grants(&self, required: &str) -> bool {
        if validate_required_scope(required).is_err() {
            return false;
        }
        self.0
            .iter()
            .any(|granted| match granted.strip_suffix('*') {
                Some(under) => required.starts_with(under),
                None => granted == required,
            })
    }

    /// The scopes, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// How many scopes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_column())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar() {
        for ok in [
            "billing:read",
            "a:b",
            "billing:invoices:write",
            "x-y_1:z",
            "billing:*",
            "a:b:*",
        ] {
            assert!(validate_scope(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "*",
            "billing",
            ":read",
            "billing:",
            "billing::read",
            "Billing:read",
            "billing:*:read",
            "*:read",
            "billing:re ad",
            "billing:réad",
            "billing:read\n",
            "billing:**",
        ] {
            assert!(validate_scope(bad).is_err(), "{bad:?}");
        }
        assert!(validate_scope(&format!("a:{}", "b".repeat(MAX_SCOPE_LENGTH))).is_err());
        assert!(validate_required_scope("billing:*").is_err());
    }

    #[test]
    fn wildcards_grant_only_under_their_resource() {
        let s = Scopes::parse(["billing:*", "reports:read"]).expect("valid");
        assert!(s.grants("billing:read"));
        assert!(s.grants("billing:invoices:read"));
        assert!(s.grants("reports:read"));
        assert!(!s.grants("reports:write"));
        assert!(!s.grants("billingx:read"));
        assert!(!s.grants("billing"));
        assert!(!s.grants("billing:*"), "a wildcard is never required");
        assert!(!Scopes::none().grants("billing:read"));
    }

    #[test]
    fn column_round_trip() {
        let s = Scopes::parse(["b:x", "a:y", "b:x"]).expect("valid");
        assert_eq!(s.to_column(), "a:y b:x");
        assert_eq!(Scopes::from_column(&s.to_column()), s);
        assert_eq!(Scopes::from_column("  a:y  * junk b:x "), s);
        assert!(Scopes::from_column("").is_empty());
    }
}
