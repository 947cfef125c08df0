// No table attribute at all: the table is diesel's default for the struct's
// name (`ProjectApiKey` -> `project_api_keys`), for both derives.
use apikey_core::{AbstractApiKey, ApiKeyModel, BaseApiKeyManager, Database, NewKey};
use chrono::NaiveDateTime;
use diesel::prelude::*;

diesel::table! {
    project_api_keys (id) {
        id -> BigInt,
        prefix -> Text,
        hashed_key -> Text,
        created -> Timestamp,
        name -> Text,
        revoked -> Bool,
        expiry_date -> Nullable<Timestamp>,
        project_id -> BigInt,
    }
}

#[derive(Debug, Clone, Queryable, Selectable, ApiKeyModel)]
pub struct ProjectApiKey {
    id: i64,
    prefix: String,
    hashed_key: String,
    created: NaiveDateTime,
    name: String,
    revoked: bool,
    expiry_date: Option<NaiveDateTime>,
    pub project_id: i64,
}

fn main() {
    assert_eq!(ProjectApiKey::TABLE_NAME, "project_api_keys");
    let db = Database::connect(":memory:").expect("database");
    let up = apikey_core::scaffold::KeyTable::new("project_api_keys")
        .column("project_id BIGINT NOT NULL")
        .migration(db.backend())
        .expect("table")
        .up;
    db.run(|conn| diesel::connection::SimpleConnection::batch_execute(conn, &up))
        .expect("migration");
    let keys = BaseApiKeyManager::<ProjectApiKey>::new(db);
    let (row, key) = keys
        .create_key(NewKey::with_extra("ci", ProjectApiKeyFields { project_id: 5 }))
        .expect("create");
    assert_eq!(row.project_id, 5);
    assert_eq!(keys.get_from_key(key.expose_secret()).expect("usable").project_id, 5);
}
