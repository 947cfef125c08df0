use apikey_core::ApiKeyModel;
use chrono::NaiveDateTime;
use diesel::prelude::*;

diesel::table! {
    org_keys (id) {
        id -> BigInt,
        prefix -> Text,
        hashed_key -> Text,
        created -> Timestamp,
        name -> Text,
        revoked -> Bool,
        expiry_date -> Nullable<Timestamp>,
        organization_id -> BigInt,
    }
}

#[derive(Debug, Clone, Queryable, Selectable, ApiKeyModel)]
#[diesel(table_name = org_keys)]
#[apikey(tabel = org_keys, verbose_name = 1)]
pub struct OrgKey {
    id: i64,
    prefix: String,
    created: NaiveDateTime,
    name: String,
    revoked: String,
    expiry_date: Option<NaiveDateTime>,
    organization_id: i64,
}

fn main() {}
