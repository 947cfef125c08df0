//! The [`AbstractApiKey`] trait: what every key model is and what an
//! application reads of it.

use std::fmt;

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::error::{Error, Result};
use crate::hashers;
use crate::storage::KeyStorage;

/// The longest name a key may have, in characters.
pub const MAX_NAME_LENGTH: usize = 50;

/// The current time as stored: UTC, truncated to microseconds (the precision
/// of PostgreSQL and of Django's SQLite text timestamps).
pub fn now() -> NaiveDateTime {
    truncate_micros(Utc::now().naive_utc())
}

/// Truncates a timestamp to whole microseconds.
pub fn truncate_micros(t: NaiveDateTime) -> NaiveDateTime {
    use chrono::Timelike;
    let nanos = t.nanosecond();
    t.with_nanosecond(nanos - nanos % 1_000).unwrap_or(t)
}

/// Checks a key name: required (not blank), at most 50 characters, and
/// shown as it is: no control characters, no Unicode format characters
/// (general category `Cf`: bidirectional overrides such as U+202E,
/// zero-width spaces and joiners such as U+200B, soft hyphens, ...) and no
/// line or paragraph separators, which would make a name read differently
/// from what it is in a terminal or a page.
pub fn validate_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::validation("name", "a name is required"));
    }
    let len = name.chars().count();
    if len > MAX_NAME_LENGTH {
        return Err(Error::validation(
            "name",
            format!("at most {MAX_NAME_LENGTH} characters allowed, got {len}"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::validation(
            "name",
            "control characters are not allowed",
        ));
    }
    if let Some(c) = name.chars().find(|&c| is_invisible_format(c)) {
        return Err(Error::validation(
            "name",
            format!(
                "invisible formatting characters are not allowed (U+{:04X})",
                u32::from(c)
            ),
        ));
    }
    Ok(())
}

/// Unicode format characters (`Cf`) and line/paragraph separators.
fn is_invisible_format(c: char) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    matches!(
        c.general_category(),
        GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    )
}

/// The latest expiry date accepted: the last microsecond of year 9999.
/// Later dates cannot be written as Django writes them (Python's
/// `datetime` stops at year 9999; SQLite text would read `+10000-...` and
/// compare wrong as text).
pub fn max_expiry_date() -> DateTime<Utc> {
    chrono::NaiveDate::from_ymd_opt(9999, 12, 31)
        .and_then(|d| d.and_hms_micro_opt(23, 59, 59, 999_999))
        .map_or(DateTime::<Utc>::MAX_UTC, |t| t.and_utc())
}

/// Checks an expiry date: in years 1 to 9999 (what Django and both
/// databases can store and compare), else a validation error.
pub fn validate_expiry_date(expiry_date: Option<DateTime<Utc>>) -> Result<()> {
    use chrono::Datelike;
    match expiry_date {
        Some(t) if t > max_expiry_date() || t.year() < 1 => Err(Error::validation(
            "expiry_date",
            "must be between year 1 and the end of year 9999",
        )),
        _ => Ok(()),
    }
}

/// Which keys to list, for the CLI and the admin.
#[derive(Debug, Clone, Default)]
pub struct KeyFilter {
    /// Case-insensitive substring of the name or the prefix.
    pub search: Option<String>,
    /// Only revoked (`Some(true)`) or only not revoked (`Some(false)`) keys.
    pub revoked: Option<bool>,
    /// Only expired (`Some(true)`) or only not expired (`Some(false)`) keys.
    pub expired: Option<bool>,
    /// Only keys created at or after this time.
    pub created_after: Option<NaiveDateTime>,
    /// Only keys created before this time.
    pub created_before: Option<NaiveDateTime>,
    /// The time "expired" is judged against (default: now).
    pub now: Option<NaiveDateTime>,
    /// At most this many rows (default: all).
    pub limit: Option<i64>,
    /// Skip this many rows.
    pub offset: Option<i64>,
    /// Only keys not used since this time: last used before it, or never
    /// used and created before it (`apikey list --unused-for 90d`). Only for
    /// models with a `last_used_at` column
    /// ([`AbstractApiKey::TRACKS_LAST_USE`]); others match nothing.
    pub unused_since: Option<NaiveDateTime>,
}

impl KeyFilter {
    /// The search text as a `LIKE` pattern with `\` escaping `%`, `_` and `\`.
    pub fn like_pattern(&self) -> Option<String> {
        self.search.as_ref().filter(|s| !s.is_empty()).map(|s| {
            let mut p = String::with_capacity(s.len() + 2);
            p.push('%');
            for c in s.chars() {
                if matches!(c, '%' | '_' | '\\') {
                    p.push('\\');
                }
                p.push(c);
            }
            p.push('%');
            p
        })
    }
}

/// A key model: the counterpart of the reference's `AbstractAPIKey`.
///
/// Every model has the base columns `id`, `prefix` (unique), `hashed_key`,
/// `created` (indexed), `name` (1 to 50 characters), `revoked` and
/// `expiry_date` (nullable), and may add its own. Implement it with
/// `#[derive(ApiKeyModel)]` (the built-in [`crate::ApiKey`] and
/// [`crate::DjangoApiKey`] are derived too); read keys through it, and
/// create, find, check and revoke them through [`crate::BaseApiKeyManager`].
/// The SQL the derive generates sits behind a hidden supertrait that only
/// the manager calls, so no caller can skip its rules.
pub trait AbstractApiKey:
    KeyStorage + Clone + fmt::Debug + fmt::Display + Send + Sync + Sized + 'static
{
    /// The primary key type.
    type Id: Clone + fmt::Debug + fmt::Display + Send + Sync + 'static;
    /// Values of the model's own columns, given at creation (`()` when none).
    type Extra: Send + 'static;
    /// A boxed diesel select of whole rows of this model: what
    /// [`AbstractApiKey::usable_keys`] returns and a custom
    /// [`crate::UsableKeys`] narrows with `.filter(...)`.
    type Query: Send + 'static;

    /// Singular display name, e.g. "API key" (Django's `verbose_name`).
    const VERBOSE_NAME: &'static str;
    /// Plural display name, e.g. "API keys" (Django's `verbose_name_plural`).
    const VERBOSE_NAME_PLURAL: &'static str;
    /// The SQL table.
    const TABLE_NAME: &'static str;

    /// The primary key.
    fn id(&self) -> &Self::Id;
    /// The unique prefix (safe to show and log).
    fn prefix(&self) -> &str;
    /// The stored hash.
    fn hashed_key(&self) -> &str;
    /// The name.
    fn name(&self) -> &str;
    /// Creation time, UTC, as stored.
    fn created_naive(&self) -> NaiveDateTime;
    /// Whether the key was revoked.
    fn revoked(&self) -> bool;
    /// Expiry time, UTC, as stored.
    fn expiry_date_naive(&self) -> Option<NaiveDateTime>;

    /// Creation time.
    fn created(&self) -> DateTime<Utc> {
        self.created_naive().and_utc()
    }

    /// Expiry time, if any.
    fn expiry_date(&self) -> Option<DateTime<Utc>> {
        self.expiry_date_naive().map(|t| t.and_utc())
    }

    /// True when the key has an expiry date and it is not in the future.
    fn has_expired(&self) -> bool {
        self.has_expired_at(now())
    }

    /// [`AbstractApiKey::has_expired`] at a given time.
    fn has_expired_at(&self, now: NaiveDateTime) -> bool {
        matches!(self.expiry_date_naive(), Some(expiry) if expiry <= now)
    }

    /// True when `key` matches this row's stored hash (any supported
    /// format). It checks the secret only, not revocation, expiry or a
    /// narrowing: [`crate::BaseApiKeyManager::is_valid`] says whether a key
    /// is usable.
    fn matches_key(&self, key: &str) -> bool {
        hashers::verify(key, self.hashed_key()).is_valid()
    }

    /// True when the model stores scopes (a `scopes` column): the built-in
    /// [`crate::ApiKey`] does; a derived model does when it has a field
    /// `scopes: String` (a `TEXT NOT NULL DEFAULT ''` column,
    /// [`crate::scaffold::KeyTable::scopes`]). Django's table does not.
    const HAS_SCOPES: bool = false;

    /// The key's scopes ([`crate::scopes`]); none for a model without the
    /// column.
    fn scopes(&self) -> crate::Scopes {
        crate::Scopes::none()
    }

    /// True when the model stores a rate limit per key (a nullable
    /// `rate_limit` text column): the built-in [`crate::ApiKey`] does; a
    /// derived model does when it has a field `rate_limit: Option<String>`
    /// ([`crate::scaffold::KeyTable::rate_limit`]). Django's table does not.
    const HAS_RATE_LIMIT: bool = false;

    /// The key's own rate limit ([`crate::limits`]); `None` when it has
    /// none (the application's default applies) or the model has no column.
    fn rate_limit(&self) -> Option<crate::RateLimit> {
        None
    }

    /// True when the model stores a usage quota (a nullable
    /// `remaining_uses` `BIGINT` column): the built-in [`crate::ApiKey`]
    /// does; a derived model does when it has a field
    /// `remaining_uses: Option<i64>`
    /// ([`crate::scaffold::KeyTable::remaining_uses`]).
    const HAS_QUOTA: bool = false;

    /// The key's remaining uses as loaded (`None`: unlimited). A cached
    /// row may be behind the database: the count that decides is the one
    /// [`crate::BaseApiKeyManager::use_quota`] decrements.
    fn remaining_uses(&self) -> Option<i64> {
        None
    }

    /// True when the model stores a quota refill (nullable `uses_refill`
    /// text and `uses_refill_period` `BIGINT` columns, besides
    /// `remaining_uses`): the built-in [`crate::ApiKey`] does; a derived
    /// model does when it has the fields `uses_refill: Option<String>` and
    /// `uses_refill_period: Option<i64>`
    /// ([`crate::scaffold::KeyTable::uses_refill`]).
    const HAS_REFILL: bool = false;

    /// The key's quota refill ([`crate::limits::Refill`]), if any.
    fn uses_refill(&self) -> Option<crate::limits::Refill> {
        None
    }

    /// The period the quota was last refilled for, as loaded (days or
    /// months since 1970-01; `None`: never).
    fn uses_refill_period(&self) -> Option<i64> {
        None
    }

    /// The prefix of the key this one replaced, when it was made by
    /// [`crate::BaseApiKeyManager::rotate`] and the model records it: the
    /// built-in [`crate::ApiKey`] does; a derived model does when it has a
    /// field `rotated_from: Option<String>` (a nullable `VARCHAR(64)`
    /// column, [`crate::scaffold::KeyTable::rotated_from`]). `None`
    /// otherwise.
    fn rotated_from(&self) -> Option<&str> {
        None
    }

    /// True when the model records when each key was last used (a
    /// `last_used_at` column): the built-in [`crate::ApiKey`] does; a
    /// derived model does when it has a field
    /// `last_used_at: Option<NaiveDateTime>` (a nullable timestamp column,
    /// [`crate::scaffold::KeyTable::last_used_at`]). Django's table does not.
    const TRACKS_LAST_USE: bool = false;

    /// When the key was last used, UTC: the exact time of the first use in
    /// the manager's latest tracking interval
    /// ([`crate::BaseApiKeyManager::with_last_used`]), so up to one interval
    /// before the latest use; `None` when never, or for a model without the
    /// column.
    fn last_used_at(&self) -> Option<NaiveDateTime> {
        None
    }

    /// The base definition of usable, as a query: not revoked, and no
    /// expiry date or one after `now`. A [`crate::UsableKeys`] narrows it.
    fn usable_keys(now: NaiveDateTime) -> Self::Query;

    /// The model's own columns as `(field name, text)`, in declaration order,
    /// for display (the web admin's list and detail pages; the counterpart of
    /// Django's `list_display`). Empty for the built-in models;
    /// `#[derive(ApiKeyModel)]` generates it, showing each value with
    /// `Display` when the type has it (`Option<T>`: the value or nothing),
    /// else with `Debug`.
    fn extra_columns(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

/// Formats a key model for `Debug` without its stored hash: the name of the
/// model, `id`, `prefix`, `hashed_key` as `"********"`, `created`, `name`,
/// `revoked`, `expiry_date` and the model's own columns
/// ([`AbstractApiKey::extra_columns`]).
///
/// The built-in models' `Debug` and `HasApiKey`'s use it. A model of your
/// own that derives `Debug` prints its hash; to redact it, implement
/// `Debug` with this instead of deriving it:
///
/// ```ignore
/// impl std::fmt::Debug for OrganizationApiKey {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         apikey_core::debug_redacted(self, f)
///     }
/// }
/// ```
pub fn debug_redacted<M: AbstractApiKey>(model: &M, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let name = std::any::type_name::<M>();
    let name = name.rsplit("::").next().unwrap_or(name);
    let mut s = f.debug_struct(name);
    s.field("id", model.id())
        .field("prefix", &model.prefix())
        .field("hashed_key", &"********")
        .field("created", &model.created_naive())
        .field("name", &model.name())
        .field("revoked", &model.revoked())
        .field("expiry_date", &model.expiry_date_naive());
    for (field, value) in model.extra_columns() {
        s.field(field, &value);
    }
    s.finish()
}

/// One of a model's own fields, as a form asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormField {
    /// The field's name (the Rust field of the model).
    pub name: &'static str,
    /// False for an `Option<T>` field, which may be left empty.
    pub required: bool,
}

/// The model's own fields ([`AbstractApiKey::Extra`]) built from form text:
/// what the web admin's create form needs. Implemented for `()` (models
/// without fields of their own) and generated by `#[derive(ApiKeyModel)]`
/// for `<Name>Fields`, parsing each field with `FromStr` (an `Option<T>`
/// field is `None` when left empty; a field whose type has no `FromStr`
/// cannot be set from a form and reports so).
pub trait FormFields: Sized {
    /// The fields, in declaration order.
    const FIELDS: &'static [FormField];

    /// Builds the value from the submitted text of each field (`get(name)`;
    /// `None` when absent). On failure, every refused field with its reason.
    fn from_form(
        get: &dyn Fn(&str) -> Option<String>,
    ) -> std::result::Result<Self, Vec<(&'static str, String)>>;
}

impl FormFields for () {
    const FIELDS: &'static [FormField] = &[];

    fn from_form(
        _get: &dyn Fn(&str) -> Option<String>,
    ) -> std::result::Result<Self, Vec<(&'static str, String)>> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_invisible_formatting_are_refused() {
        for bad in [
            "admin\u{202E}txt.exe", // right-to-left override
            "ops\u{200B}key",       // zero-width space
            "\u{2066}isolate",      // left-to-right isolate
            "a\u{200D}b",           // zero-width joiner
            "\u{FEFF}bom",          // zero-width no-break space
            "soft\u{00AD}hyphen",   // soft hyphen
            "line\u{2028}break",    // line separator
            "tag\u{E0041}",         // tag character
        ] {
            let err = validate_name(bad).expect_err(bad).to_string();
            assert!(err.contains("invisible"), "{err}");
        }
        for good in [
            "billing",
            "Zürich ops",
            "日本語のキー",
            "émoji 🔑",
            "a-b_c.d",
        ] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn expiry_dates_past_year_9999_are_refused() {
        let last = max_expiry_date();
        assert_eq!(last.to_rfc3339(), "9999-12-31T23:59:59.999999+00:00");
        assert!(validate_expiry_date(None).is_ok());
        assert!(validate_expiry_date(Some(last)).is_ok());
        let later = last + chrono::Duration::microseconds(1);
        let err = validate_expiry_date(Some(later)).expect_err("year 10000");
        assert!(err.to_string().contains("9999"), "{err}");
        let far = Utc::now() + chrono::Duration::days(3_000_000);
        assert!(validate_expiry_date(Some(far)).is_err());
    }
}
