//! The built-in key model, [`ApiKey`], on its own table `api_keys`.

use std::fmt;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::model::{AbstractApiKey, NewKeyRow};
use crate::sql_types::DjangoTimestamp;

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
        }
    }
}

use schema::api_keys;

/// The built-in API key model (the counterpart of the reference's `APIKey`).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_keys)]
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
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl AbstractApiKey for ApiKey {
    type Id = i64;
    type Extra = ();
    type Query = crate::__api_key_query_type!(api_keys::table, ApiKey);

    const VERBOSE_NAME: &'static str = "API key";
    const VERBOSE_NAME_PLURAL: &'static str = "API keys";
    const TABLE_NAME: &'static str = "api_keys";

    fn insert(conn: &mut DbConnection, row: &NewKeyRow<'_>, _extra: &()) -> QueryResult<Self> {
        diesel::insert_into(api_keys::table)
            .values((
                api_keys::prefix.eq(row.prefix),
                api_keys::hashed_key.eq(row.hashed_key),
                api_keys::created.eq(DjangoTimestamp(row.created)),
                api_keys::name.eq(row.name),
                api_keys::revoked.eq(false),
                api_keys::expiry_date.eq(DjangoTimestamp::opt(row.expiry_date)),
            ))
            .execute(conn)?;
        <Self as AbstractApiKey>::find_by_prefix(conn, row.prefix)?
            .ok_or(diesel::result::Error::NotFound)
    }

    crate::__api_key_model_common!(api_keys, ApiKey);
}
