//! # apikey-core
//!
//! API keys for programs calling Rust services: generate keys, store only a
//! hash, check them, revoke them, let them expire. The database format is the
//! one of `djangorestframework-api-key` 3.x, so keys issued by a Django
//! service keep working.
//!
//! ```
//! use apikey_core::{ApiKey, AbstractApiKey, Database, BaseApiKeyManager, NewKey};
//!
//! # fn main() -> apikey_core::Result<()> {
//! let db = Database::connect(":memory:")?;
//! db.migrate()?;
//! let keys: BaseApiKeyManager<ApiKey> = BaseApiKeyManager::new(db);
//!
//! let (row, key) = keys.create_key(NewKey::new("billing service"))?;
//! // `key` is shown to its owner once; only `row.hashed_key` is stored.
//! assert_eq!(keys.get_from_key(key.expose_secret())?.prefix(), row.prefix());
//!
//! keys.revoke(row.prefix())?;
//! assert!(!keys.is_valid(key.expose_secret())?);
//! # Ok(())
//! # }
//! ```
//!
//! # Fast and fresh
//!
//! Every manager answers keys it verified from memory (the verification
//! cache, on by default) and stops answering them as soon as anyone writes
//! to the key store: on a SQLite file within milliseconds of any commit by
//! any process (`PRAGMA data_version`); on PostgreSQL within milliseconds for
//! key tables with the notification trigger (`LISTEN apikey_changes`; the
//! built-in migrations and [`scaffold`] install it) and within the
//! revalidation sweep (half the cache's `max_age`, default one second) for
//! what no trigger sees (Django's table, the tables a narrowing joins); no
//! cache on in-memory SQLite. After a change, the keys it left alone are
//! re-read in bulk off the request path and answered from memory again; keys
//! never issued are refused from the set of the table's prefixes. A lost
//! change feed turns the cache off until it is back, and so does a feed
//! that has not finished a look for changes within its deadline (50 ms):
//! what the feed reports is never honoured from the cache for longer than
//! that after its commit (a lookup may wait for a late feed for up to the
//! deadline again before it queries the database:
//! [`BaseApiKeyManager::feed_wait`]). Details and knobs:
//! [`BaseApiKeyManager::with_cache`].
//!
//! # Features
//!
//! The backends, as in diesel: `sqlite` (libsqlite3 compiled in: nothing
//! to install) and `postgres` (the system's libpq; with it the cache's
//! LISTEN/NOTIFY change feed), both on by default; `postgres-bundled`
//! compiles libpq from source (nothing to install, no TLS). An application
//! on SQLite only sets `default-features = false, features = ["sqlite"]`
//! here and on apikey-actix, and links no libpq. A URL of a backend the
//! build lacks is [`Error::InvalidDatabaseUrl`].
//!
//! [`diesel`] and [`chrono`] are re-exported: the versions a key model's
//! `table!` and timestamps must match (diesel's `table!` still needs a
//! `diesel = "2.3"` line in the application's own dependencies).
//!
//! See [`hashers`] for the stored hash format, [`db`] for database URLs and
//! [`Migrations`] (an application's own, and the built-in table's only when
//! asked), and [`ApiKeyModel`](derive@ApiKeyModel) for custom key models
//! (with [`scaffold`] for their migrations).
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

// The derive's output names `::apikey_core`, also for the built-in models.
extern crate self as apikey_core;

pub mod branded;
mod builtin;
mod cache;
pub mod db;
mod django;
mod error;
mod form_helpers;
pub mod hashers;
pub mod key;
pub mod last_used;
pub mod legacy;
pub mod limits;
mod manager;
mod model;
pub mod scaffold;
pub mod scopes;
pub mod sql_types;
mod storage;

/// The chrono this crate is built with: the timestamps of key models are
/// `apikey_core::chrono::NaiveDateTime`.
pub use chrono;
/// The diesel this crate is built with (2.3): name it as
/// `apikey_core::diesel` to write `table!`s and queries with the same
/// version, without a `diesel` line of your own.
pub use diesel;

pub use branded::BrandedKeyGenerator;
pub use builtin::{schema, ApiKey};
pub use cache::{VerifiedKey, DEFAULT_FEED_DEADLINE, PREFIX_SET_LIMIT};
pub use db::{BackendKind, Database, DatabaseConfig, DatabaseUrl, DbConnection, Migrations};
pub use django::{django_schema, DjangoApiKey};
pub use error::{Error, Result};
pub use hashers::Verification;
pub use key::{
    GenerateKey, GeneratedKey, KeyGenerator, PlainKey, MIN_SECRET_BITS, MIN_SECRET_LENGTH,
};
pub use legacy::LegacyLimits;
pub use limits::{QuotaUse, RateLimit};
pub use manager::{
    AllUsable, BaseApiKeyManager, NewKey, UsableKeys, DEFAULT_CACHE_CAPACITY,
    DEFAULT_MAX_AGE_POSTGRES, DEFAULT_MAX_AGE_SQLITE, MAX_CREATE_ATTEMPTS, MAX_KEY_LENGTH,
};
pub use model::{
    debug_redacted, max_expiry_date, now, validate_expiry_date, validate_name, AbstractApiKey,
    FormField, FormFields, KeyFilter, MAX_NAME_LENGTH,
};
pub use scopes::Scopes;

/// Derives [`AbstractApiKey`](trait@AbstractApiKey) for an application's own key
/// model: a struct with the base fields plus its own, for a diesel `table!`
/// the application declares (the counterpart of subclassing the reference's
/// `AbstractAPIKey`).
///
/// ```
/// use apikey_core::scaffold::KeyTable;
/// use apikey_core::{AbstractApiKey, ApiKeyModel, BaseApiKeyManager, Database, NewKey, UsableKeys};
/// use chrono::NaiveDateTime;
/// use diesel::prelude::*;
///
/// diesel::table! {
///     organizations (id) {
///         id -> BigInt,
///         name -> Text,
///         active -> Bool,
///     }
/// }
///
/// diesel::table! {
///     organization_api_keys (id) {
///         id -> BigInt,
///         prefix -> Text,
///         hashed_key -> Text,
///         created -> Timestamp,
///         name -> Text,
///         revoked -> Bool,
///         expiry_date -> Nullable<Timestamp>,
///         organization_id -> BigInt,
///     }
/// }
/// diesel::allow_tables_to_appear_in_same_query!(organizations, organization_api_keys);
///
/// /// A key that belongs to an organization.
/// #[derive(Clone, Queryable, Selectable, ApiKeyModel)]
/// #[diesel(table_name = organization_api_keys)]
/// #[apikey(
///     table = organization_api_keys,
///     verbose_name = "Organization API key",
///     verbose_name_plural = "Organization API keys"
/// )]
/// pub struct OrganizationApiKey {
///     pub id: i64,
///     pub prefix: String,
///     pub hashed_key: String,
///     pub created: NaiveDateTime,
///     pub name: String,
///     pub revoked: bool,
///     pub expiry_date: Option<NaiveDateTime>,
///     /// The model's own column: generated `OrganizationApiKeyFields` holds it.
///     pub organization_id: i64,
/// }
///
/// // Debug without the hash (a derived Debug would print `hashed_key`).
/// impl std::fmt::Debug for OrganizationApiKey {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         apikey_core::debug_redacted(self, f)
///     }
/// }
///
/// /// A custom manager's narrowing: only keys of active organizations.
/// struct ActiveOrganizations;
///
/// impl UsableKeys<OrganizationApiKey> for ActiveOrganizations {
///     fn get_usable_keys(&self, now: NaiveDateTime) -> <OrganizationApiKey as AbstractApiKey>::Query {
///         OrganizationApiKey::usable_keys(now).filter(
///             organization_api_keys::organization_id.eq_any(
///                 organizations::table.filter(organizations::active).select(organizations::id),
///             ),
///         )
///     }
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let db = Database::connect(":memory:")?;
/// db.migrate()?;
/// // The application's migrations; in an application, `up` is written to
/// // migrations/<backend>/<version>_create_organization_api_keys/up.sql.
/// let key_table = KeyTable::new("organization_api_keys")
///     .column("organization_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE")
///     .index("organization_id");
/// db.run(|conn| {
///     diesel::connection::SimpleConnection::batch_execute(
///         conn,
///         "CREATE TABLE organizations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, \
///          active BOOLEAN NOT NULL DEFAULT 1);
///          INSERT INTO organizations (id, name) VALUES (1, 'Acme');",
///     )?;
///     diesel::connection::SimpleConnection::batch_execute(
///         conn,
///         &key_table.migration(db.backend()).expect("valid table").up,
///     )
/// })?;
///
/// let keys = BaseApiKeyManager::<OrganizationApiKey>::new(db.clone()).with_usable_keys(ActiveOrganizations);
/// let (row, key) = keys.create_key(NewKey::with_extra(
///     "acme ci",
///     OrganizationApiKeyFields { organization_id: 1 },
/// ))?;
/// assert_eq!(row.organization_id, 1);
/// assert_eq!(row.to_string(), "acme ci");
/// assert_eq!(OrganizationApiKey::VERBOSE_NAME_PLURAL, "Organization API keys");
/// assert!(keys.is_valid(key.expose_secret())?);
///
/// // A deactivated organization's keys are refused.
/// db.run(|conn| {
///     diesel::update(organizations::table.find(1_i64))
///         .set(organizations::active.eq(false))
///         .execute(conn)
/// })?;
/// assert!(!keys.is_valid(key.expose_secret())?);
/// # Ok(())
/// # }
/// ```
///
/// # What the struct needs
///
/// - The base fields, with these types (the derive checks them):
///   `id: i64` (or `i32`, `String`), `prefix: String`, `hashed_key: String`,
///   `created: NaiveDateTime`, `name: String`, `revoked: bool`,
///   `expiry_date: Option<NaiveDateTime>`. Any other field is one of the
///   model's own columns (rename one with `#[diesel(column_name = ...)]`).
/// - `#[derive(Clone, Queryable, Selectable)]`: the derive builds on
///   diesel's derives instead of repeating them (without `Queryable` and
///   `Selectable` the compiler reports diesel's trait errors).
/// - `Debug`: implement it with [`debug_redacted`] (every field but the
///   hash, as the built-in models print); a derived `Debug` compiles too,
///   but prints `hashed_key` wherever the model is logged.
/// - The table: as diesel's derives find it, `#[diesel(table_name = ...)]`,
///   else the struct's name in snake case plus `s` (`ProjectApiKey` ->
///   `project_api_keys`, diesel's own default). `#[apikey(table = ...)]`
///   is only needed to name the `table!` by a path diesel's attribute does
///   not use; it must name the same table.
/// - No generic parameters.
/// - Optionally `rotated_from: Option<String>` (a nullable `VARCHAR(64)`
///   column): [`BaseApiKeyManager::rotate`] records there the prefix of the
///   key a new key replaced. It is not one of the model's own fields.
/// - Optionally `scopes: String` (a `TEXT NOT NULL DEFAULT ''` column): the
///   key's scopes ([`scopes`]), read with [`AbstractApiKey::scopes`]. Not
///   one of the model's own fields.
/// - Optionally `last_used_at: Option<NaiveDateTime>` (a nullable
///   timestamp column, [`scaffold::KeyTable::last_used_at`]): the manager
///   records there when each key was last used
///   ([`BaseApiKeyManager::with_last_used`]). Not one of the model's own
///   fields.
///
/// In the `table!`: `scopes -> Text`, `rotated_from -> Nullable<Text>`,
/// `last_used_at -> Nullable<Timestamp>`; `apikey scaffold --with scopes
/// --with rotated-from --with last-used-at` writes the columns.
/// - Optionally `rate_limit: Option<String>` (a nullable `TEXT` column):
///   the key's own rate limit ([`limits`]), read with
///   [`AbstractApiKey::rate_limit`].
/// - Optionally `remaining_uses: Option<i64>` (a nullable `BIGINT`
///   column): the key's usage quota ([`limits`]), read with
///   [`AbstractApiKey::remaining_uses`]; and with it, optionally both
///   `uses_refill: Option<String>` (nullable `TEXT`) and
///   `uses_refill_period: Option<i64>` (nullable `BIGINT`): the quota's
///   daily or monthly refill ([`limits::Refill`]).
///
/// # Attributes
///
/// ```text
/// #[apikey(
///     table = organization_api_keys,                  // default: `#[diesel(table_name)]`, else diesel's default
///     verbose_name = "Organization API key",          // default: "organization api key"
///     verbose_name_plural = "Organization API keys",  // default: verbose_name + "s"
/// )]
/// ```
///
/// The defaults follow Django's (`OrganizationApiKey` -> "organization api
/// key"). A mistake (a misspelt attribute, a base field missing or of the
/// wrong type, an enum) is a compile error at the offending token that
/// shows the correct form; all of them are reported at once, and only them:
/// the derive still implements the trait (with bodies that never run), so
/// the places that use the type add no "trait not implemented" errors.
///
/// # What it generates
///
/// - `impl AbstractApiKey`: `Id` = the type of `id`, `Extra` = the fields
///   struct below, the display-name consts, `TABLE_NAME` (the table's name), `insert` writing the base and own columns, and the shared
///   queries of every model.
/// - `impl Display`, showing the name.
/// - `extra_columns()`, the own fields as text for display (`Display` when
///   the type has it, else `Debug`), and `impl FormFields for <Name>Fields`,
///   parsing each own field from form text with `FromStr`: what the web
///   admin of apikey-actix shows and asks for.
/// - `pub struct <Name>Fields` (same visibility as the model; `Debug`,
///   `Clone`) with the model's own fields, copied with their docs and
///   visibility (make them `pub` to build it elsewhere): what
///   `NewKey::with_extra` takes. A model without own fields gets `Extra = ()`
///   and no fields struct, so `NewKey::new` fits.
///
/// # The table
///
/// [`scaffold::KeyTable`] writes its migration for both backends. A foreign
/// key declared `ON DELETE CASCADE` deletes the keys of a deleted row (they
/// stop working at once); SQLite enforces foreign keys because
/// [`Database`] turns them on for every connection.
#[doc(inline)]
pub use apikey_derive::ApiKeyModel;

/// Items the macros expand to. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::db::{Backend, DbConnection};
    pub use crate::storage::{KeyStorage, NewKeyRow};
    pub use chrono::NaiveDateTime;
    pub use diesel;
    pub use diesel::QueryResult;

    pub use crate::form_helpers::{
        ParseAs, ParseOptional, ParseRequired, ParseUnsupported, Show, ShowDebug, ShowDisplay,
        ShowOptional,
    };

    diesel::define_sql_function! {
        /// SQL `lower(text)`, on both backends.
        fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
    }
}
