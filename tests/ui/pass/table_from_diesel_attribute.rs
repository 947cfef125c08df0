// The table from `#[diesel(table_name)]` alone: no `#[apikey(table)]` needed.
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
#[apikey(verbose_name = "Organization API key")]
pub struct OrgKey {
    id: i64,
    prefix: String,
    hashed_key: String,
    created: NaiveDateTime,
    name: String,
    revoked: bool,
    expiry_date: Option<NaiveDateTime>,
    organization_id: i64,
}

fn main() {
    use apikey_core::AbstractApiKey;
    assert_eq!(OrgKey::TABLE_NAME, "org_keys");
}
