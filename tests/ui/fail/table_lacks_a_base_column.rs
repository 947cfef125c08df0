// The user's `table!` lacks a base column (`expiry_date`): the errors point
// at the user's code (the field, and `table = ...` for the queries the derive
// writes), never inside apikey-core.
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
        organization_id -> BigInt,
    }
}

#[derive(Debug, Clone, Queryable, Selectable, ApiKeyModel)]
#[diesel(table_name = org_keys)]
#[apikey(table = org_keys)]
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

fn main() {}
