//! [`DjangoApiKey`]: the key table of a Django service using
//! djangorestframework-api-key, shared with a Rust service.
//!
//! The table is Django's `rest_framework_api_key_apikey`, created and migrated
//! by Django (`python manage.py migrate`); apikey-rs never migrates it:
//!
//! ```text
//! id           varchar(150)  primary key, "{prefix}.{hashed_key}" as inserted
//! prefix       varchar(8)    unique
//! hashed_key   varchar(150)
//! created      datetime      (timestamptz on PostgreSQL; text on SQLite)
//! name         varchar(50)
//! revoked      bool
//! expiry_date  datetime      nullable
//! ```
//!
//! Keys created by either side verify on the other: Django's `sha512$$…`
//! hashes and its legacy `pbkdf2_sha256$…`/`pbkdf2_sha1$…` ones. When a
//! legacy hash verifies, only `hashed_key` is rewritten (the `id` is kept,
//! as djangorestframework-api-key 3.x does), so Django still verifies the key.
//!
//! ```no_run
//! use apikey_core::{Database, DjangoApiKey, BaseApiKeyManager};
//!
//! # fn main() -> apikey_core::Result<()> {
//! // The database of the Django service (no `migrate()`: Django owns the table).
//! let keys: BaseApiKeyManager<DjangoApiKey> = BaseApiKeyManager::new(Database::connect("postgres://app@db/app")?);
//! let ok = keys.is_valid("Hg5vTnT1.Tg4JjbiO8A0QEGGb3kTg0Qx5ZQMNUEHn")?;
//! # Ok(())
//! # }
//! ```

use apikey_derive::ApiKeyModel;
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// The diesel schema of Django's key table.
pub mod django_schema {
    diesel::table! {
        /// Django's key table (owned and migrated by Django).
        rest_framework_api_key_apikey (id) {
            /// Primary key, `{prefix}.{hashed_key}` at creation.
            id -> Text,
            /// Unique key prefix, the lookup index.
            prefix -> Text,
            /// Hash of the full key.
            hashed_key -> Text,
            /// Creation time, UTC.
            created -> Timestamp,
            /// Name, at most 50 characters.
            name -> Text,
            /// Revoked (irreversible).
            revoked -> Bool,
            /// Expiry time, UTC.
            expiry_date -> Nullable<Timestamp>,
        }
    }
}

use django_schema::rest_framework_api_key_apikey;

/// A key in Django's table `rest_framework_api_key_apikey` (the reference's
/// `APIKey` model itself). Its text `id` is `{prefix}.{hashed_key}` at
/// creation, as the reference's manager assigns it.
#[derive(Clone, Queryable, Selectable, ApiKeyModel)]
#[diesel(table_name = rest_framework_api_key_apikey)]
#[apikey(
    table = rest_framework_api_key_apikey,
    verbose_name = "API key",
    verbose_name_plural = "API keys"
)]
pub struct DjangoApiKey {
    /// Primary key, `{prefix}.{hashed_key}` as first stored.
    pub id: String,
    /// Unique prefix (safe to show).
    pub prefix: String,
    /// Hash of the full key.
    pub hashed_key: String,
    /// Creation time, UTC.
    pub created: NaiveDateTime,
    /// Name.
    pub name: String,
    /// Whether the key is revoked.
    pub revoked: bool,
    /// Expiry time, UTC.
    pub expiry_date: Option<NaiveDateTime>,
}

/// Every field but `hashed_key`, shown as `"********"`.
impl std::fmt::Debug for DjangoApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        crate::model::debug_redacted(self, f)
    }
}
