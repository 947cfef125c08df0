//! The [`AbstractApiKey`] trait: what every key model is and can do.

use std::fmt;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::QueryResult;

use crate::db::DbConnection;
use crate::error::{Error, Result};
use crate::hashers;

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

/// Checks a key name: required (not blank) and at most 50 characters.
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
    Ok(())
}

/// The stored columns of a key about to be inserted (the base columns; the
/// model's own columns come from [`AbstractApiKey::Extra`]).
#[derive(Debug, Clone)]
pub struct NewKeyRow<'a> {
    /// The unique prefix.
    pub prefix: &'a str,
    /// The hash of the full key.
    pub hashed_key: &'a str,
    /// Creation time (UTC).
    pub created: NaiveDateTime,
    /// The key's name.
    pub name: &'a str,
    /// Expiry time (UTC), if any.
    pub expiry_date: Option<NaiveDateTime>,
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
/// `expiry_date` (nullable), and may add its own. The built-in
/// [`crate::ApiKey`] implements it by hand; an application's model gets it from
/// `#[derive(ApiKeyModel)]`. The database functions are the only SQL the
/// manager needs; call them through [`crate::BaseApiKeyManager`], which adds the rules
/// (what is usable, validation, hash upgrades, retries).
pub trait AbstractApiKey:
    Clone + fmt::Debug + fmt::Display + Send + Sync + Sized + 'static
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

    /// True when `key` matches this row's hash (any supported format).
    /// It does not look at revocation or expiry; the manager's
    /// [`crate::BaseApiKeyManager::get_from_key`] does.
    fn is_valid(&self, key: &str) -> bool {
        hashers::verify(key, self.hashed_key()).is_valid()
    }

    /// The base definition of usable: not revoked, and no expiry date or one
    /// after `now`.
    fn usable_keys(now: NaiveDateTime) -> Self::Query;

    /// The first row of `query` with this prefix.
    fn first_by_prefix(
        conn: &mut DbConnection,
        query: Self::Query,
        prefix: &str,
    ) -> QueryResult<Option<Self>>;

    /// The usable row with this prefix at `now`, by the model's own
    /// definition ([`AbstractApiKey::usable_keys`]) with a prepared statement
    /// the connection caches: the fast path of [`crate::AllUsable`].
    fn find_usable_by_prefix(
        conn: &mut DbConnection,
        now: NaiveDateTime,
        prefix: &str,
    ) -> QueryResult<Option<Self>>;

    /// The row with this prefix, whatever its state.
    fn find_by_prefix(conn: &mut DbConnection, prefix: &str) -> QueryResult<Option<Self>>;

    /// Inserts a row and returns it.
    fn insert(
        conn: &mut DbConnection,
        row: &NewKeyRow<'_>,
        extra: &Self::Extra,
    ) -> QueryResult<Self>;

    /// Replaces the hash of the row with this prefix, only if it still is
    /// `old_hash`; returns the number of rows changed.
    fn replace_hashed_key(
        conn: &mut DbConnection,
        prefix: &str,
        old_hash: &str,
        new_hash: &str,
    ) -> QueryResult<usize>;

    /// Marks the row with this prefix revoked; returns the number of rows changed.
    fn revoke_by_prefix(conn: &mut DbConnection, prefix: &str) -> QueryResult<usize>;

    /// Sets name and expiry of the row with this prefix if it is not revoked;
    /// returns the number of rows changed.
    fn update_details(
        conn: &mut DbConnection,
        prefix: &str,
        name: &str,
        expiry_date: Option<NaiveDateTime>,
    ) -> QueryResult<usize>;

    /// The model's own columns as `(field name, text)`, in declaration order,
    /// for display (the web admin's list and detail pages; the counterpart of
    /// Django's `list_display`). Empty for the built-in models;
    /// `#[derive(ApiKeyModel)]` generates it, showing each value with
    /// `Display` when the type has it (`Option<T>`: the value or nothing),
    /// else with `Debug`.
    fn extra_columns(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    /// The rows matching `filter`, newest first.
    fn list(conn: &mut DbConnection, filter: &KeyFilter) -> QueryResult<Vec<Self>>;

    /// How many rows match `filter` (ignoring limit and offset).
    fn count(conn: &mut DbConnection, filter: &KeyFilter) -> QueryResult<i64>;
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
