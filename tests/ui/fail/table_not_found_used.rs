// No table name, and a struct name whose default (`project_keys`) is not a
// table: one error, not one per use of the type.

use apikey_actix::HasApiKey;
use apikey_core::{AbstractApiKey, ApiKeyModel, BaseApiKeyManager, Database, NewKey, UsableKeys};
use chrono::NaiveDateTime;
use diesel::prelude::*;

diesel::table! {
    projects (id) {
        id -> BigInt,
        archived -> Bool,
    }
}

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

diesel::allow_tables_to_appear_in_same_query!(projects, project_api_keys);

#[derive(Debug, Clone, Queryable, Selectable, ApiKeyModel)]
pub struct ProjectKey {
    id: i64,
    prefix: String,
    hashed_key: String,
    created: NaiveDateTime,
    name: String,
    revoked: bool,
    expiry_date: Option<NaiveDateTime>,
    pub project_id: i64,
}

struct ActiveProjects;

impl UsableKeys<ProjectKey> for ActiveProjects {
    fn get_usable_keys(&self, now: NaiveDateTime) -> <ProjectKey as AbstractApiKey>::Query {
        ProjectKey::usable_keys(now).filter(
            project_api_keys::project_id
                .eq_any(projects::table.filter(projects::archived.eq(false)).select(projects::id)),
        )
    }
}

async fn handler(key: HasApiKey<ProjectKey>) -> String {
    format!("{} {} {}", key.name(), key.prefix(), key.project_id)
}

fn main() {
    let db = Database::connect(":memory:").unwrap();
    let keys = BaseApiKeyManager::<ProjectKey>::new(db).with_usable_keys(ActiveProjects);
    let (row, key) = keys
        .create_key(NewKey::with_extra("ci", ProjectKeyFields { project_id: 1 }))
        .unwrap();
    println!("{} {}", row, key.expose_secret());
    let _ = actix_web::web::get().to(handler);
}
