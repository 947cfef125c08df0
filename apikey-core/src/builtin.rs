//! The built-in key model, [`ApiKey`], on its own table `api_keys`.

use apikey_derive::ApiKeyModel;
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// The diesel schema of the built-in table.
pub mod schema {
    diesel::table! {
        /// The built-in key table (migrations in `migrations/<backend>/`).
        api_keys (id) {
            /// Primary key.
            id -> BigInt,
            /// Unique key prefix, the lookup index.
            prefix -> Text,
            /// Hash of the full key.
            hashed_key -> Text,
            /// Creation time, UTC.
            created -> Timestamp,
            /// Name, 1 to 50 characters.
            name -> Text,
            /// Revoked (irreversible).
            revoked -> Bool,
            /// Expiry time, UTC.
            expiry_date -> Nullable<Timestamp>,
            /// The prefix of the key this one replaced (a rotation).
            rotated_from -> Nullable<Text>,
            /// Scopes, space-separated (`apikey_core::scopes`).
            scopes -> Text,
            /// When the key was last used, UTC (written off the request path).
            last_used_at -> Nullable<Timestamp>,
            /// The key's own rate limit (`apikey_core::limits`), or NULL.
            rate_limit -> Nullable<Text>,
            /// Uses left (a usage quota), or NULL for unlimited.
            remaining_uses -> Nullable<BigInt>,
            /// The quota's refill (`1000/day`), or NULL.
            uses_refill -> Nullable<Text>,
            /// The period the quota was last refilled for, or NULL.
            uses_refill_period -> Nullable<BigInt>,
        }
    }
}

use schema::api_keys;

/// The built-in API key model (the counterpart of the reference's `APIKey`).
#[derive(Clone, Queryable, Selectable, ApiKeyModel)]
#[diesel(table_name = api_keys)]
#[apikey(table = api_keys, verbose_name = "API key", verbose_name_plural = "API keys")]
pub struct ApiKey {
    /// Primary key.
    pub id: i64,
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
    /// The prefix of the key this one replaced, when it was made by
    /// [`crate::BaseApiKeyManager::rotate`].
    pub rotated_from: Option<String>,
    /// The key's scopes, space-separated as stored (read them with
    /// [`crate::AbstractApiKey::scopes`]).
    pub scopes: String,
    /// When the key was last used, UTC, to within the tracking interval
    /// ([`crate::BaseApiKeyManager::with_last_used`]); `None`: never (since
    /// tracking began). A model handed out by the verification cache may
    /// be a few seconds behind the table.
    pub last_used_at: Option<NaiveDateTime>,
    /// The key's own rate limit as stored, e.g. `10/s` (read it with
    /// [`crate::AbstractApiKey::rate_limit`]).
    pub rate_limit: Option<String>,
    /// Uses left, `None` for unlimited (as loaded; see
    /// [`crate::AbstractApiKey::remaining_uses`]).
    pub remaining_uses: Option<i64>,
    /// The quota's refill as stored, e.g. `1000/day` (read it with
    /// [`crate::AbstractApiKey::uses_refill`]).
    pub uses_refill: Option<String>,
    /// The period (days or months since 1970-01) the quota was last
    /// refilled for.
    pub uses_refill_period: Option<i64>,
}

/// Every field but `hashed_key`, shown as `"********"`.
impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        crate::model::debug_redacted(self, f)
    }
}
