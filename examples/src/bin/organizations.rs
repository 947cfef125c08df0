//! The organizations example: API keys that belong to the application's own
//! organizations, a custom key model made with `#[derive(ApiKeyModel)]`.
//!
//! ```text
//! cargo run -p apikey-examples --bin organizations
//! cargo run -p apikey-examples --bin organizations -- new-key Acme ["key name"]
//! ```
//!
//! - `DATABASE_URL`: the database (default `organizations.db` in the current
//!   folder; `postgres://...` works too). The example's own migrations
//!   (`examples/migrations/`) run at start; the built-in `api_keys` table,
//!   which it does not use, is not created.
//! - `BIND`: the address to serve on (default `127.0.0.1:8081`).
//!
//! On the first start (no organizations yet) it creates two organizations,
//! "Acme" (active) and "Dormant" (inactive), with a key each, and prints the
//! keys once with curl lines to try them. `new-key ORGANIZATION [NAME]` creates
//! another key for an organization (by name) and prints it alone on stdout.
//!
//! Routes:
//!
//! ```text
//! GET /                        public: what there is to try
//! GET /organization            the key's organization: {id, name, active, key: {prefix, name}}
//! GET /organization/projects   that organization's projects (no other organization's)
//! ```
//!
//! The guarded routes take `HasApiKey<OrganizationApiKey>`: a key of this
//! model whose organization is active, else 401. The manager's
//! [`UsableKeys`] narrowing, [`ActiveOrganizations`], is what refuses the keys
//! of a deactivated organization; a key of apikey-core's built-in table is not
//! an organization key and is refused too. Deleting an organization deletes
//! its keys (`ON DELETE CASCADE`). Ctrl-C stops the server.

use actix_web::{get, web, App, HttpResponse, HttpServer, Responder};
use apikey_actix::{register, run_async, ApiKeyConfig, HasApiKey};
use apikey_core::{AbstractApiKey, BaseApiKeyManager, Database, Migrations, NewKey, UsableKeys};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_migrations::{embed_migrations, EmbeddedMigrations};

/// The diesel schema of the example's tables.
mod schema {
    diesel::table! {
        /// The application's organizations.
        organizations (id) {
            /// Primary key.
            id -> BigInt,
            /// Unique name.
            name -> Text,
            /// Only active organizations' keys are usable.
            active -> Bool,
        }
    }

    diesel::table! {
        /// Some data of each organization, served to its keys.
        projects (id) {
            /// Primary key.
            id -> BigInt,
            /// The organization the project belongs to.
            organization_id -> BigInt,
            /// Project name.
            name -> Text,
        }
    }

    diesel::table! {
        /// The key table, made by `apikey scaffold` (see examples/migrations/README.md).
        organization_api_keys (id) {
            /// Primary key.
            id -> BigInt,
            /// Unique prefix.
            prefix -> Text,
            /// Hash of the whole key.
            hashed_key -> Text,
            /// Creation time, UTC.
            created -> Timestamp,
            /// Key name.
            name -> Text,
            /// Revoked (irreversible).
            revoked -> Bool,
            /// Expiry time, UTC.
            expiry_date -> Nullable<Timestamp>,
            /// The organization the key belongs to.
            organization_id -> BigInt,
        }
    }

    diesel::joinable!(organization_api_keys -> organizations (organization_id));
    diesel::joinable!(projects -> organizations (organization_id));
    diesel::allow_tables_to_appear_in_same_query!(organizations, projects, organization_api_keys);
}

use schema::{organization_api_keys, organizations, projects};

/// The example's SQLite migrations (`examples/migrations/sqlite`).
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
/// The example's PostgreSQL migrations (`examples/migrations/postgres`).
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// An API key that belongs to an organization.
#[derive(Clone, Queryable, Selectable, apikey_core::ApiKeyModel)]
#[diesel(table_name = organization_api_keys)]
#[apikey(
    table = organization_api_keys,
    verbose_name = "Organization API key",
    verbose_name_plural = "Organization API keys"
)]
pub struct OrganizationApiKey {
    id: i64,
    prefix: String,
    hashed_key: String,
    created: NaiveDateTime,
    name: String,
    revoked: bool,
    expiry_date: Option<NaiveDateTime>,
    /// The organization the key belongs to.
    pub organization_id: i64,
}

/// Every field but the hash (a derived `Debug` would print `hashed_key`).
impl std::fmt::Debug for OrganizationApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        apikey_core::debug_redacted(self, f)
    }
}

/// The custom manager's narrowing: only keys of active organizations are
/// usable (on top of "not revoked, not expired"). A key whose organization
/// is inactive, or gone, is refused like an unknown key.
#[derive(Debug, Clone, Copy)]
pub struct ActiveOrganizations;

impl UsableKeys<OrganizationApiKey> for ActiveOrganizations {
    fn get_usable_keys(&self, now: NaiveDateTime) -> <OrganizationApiKey as AbstractApiKey>::Query {
        OrganizationApiKey::usable_keys(now).filter(
            organization_api_keys::organization_id.eq_any(
                organizations::table
                    .filter(organizations::active)
                    .select(organizations::id),
            ),
        )
    }
}

/// An organization.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = organizations)]
struct Organization {
    id: i64,
    name: String,
    active: bool,
}

/// A project of an organization.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = projects)]
struct Project {
    id: i64,
    name: String,
}

#[get("/")]
async fn index() -> impl Responder {
    HttpResponse::Ok().json(serde_json::json!({
        "message": "public endpoint: no key needed",
        "guarded": ["/organization", "/organization/projects"],
        "header": "Authorization: Api-Key <an organization's key>",
    }))
}

/// The key's own organization.
#[get("/organization")]
async fn organization(
    key: HasApiKey<OrganizationApiKey>,
    keys: web::Data<BaseApiKeyManager<OrganizationApiKey>>,
) -> actix_web::Result<HttpResponse> {
    let org_id = key.organization_id;
    // The application's own query, next to the key: on the blocking pool,
    // and an unreachable database is a 503 as for the guard.
    let org = run_async(keys.database(), move |conn| {
        organizations::table
            .find(org_id)
            .select(Organization::as_select())
            .first(conn)
            .optional()
    })
    .await?;
    // The organization went away between the key check and the query.
    let Some(org) = org else {
        return Ok(HttpResponse::NotFound()
            .json(serde_json::json!({ "detail": "organization not found" })));
    };
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "id": org.id,
        "name": org.name,
        "active": org.active,
        "key": { "prefix": key.prefix(), "name": key.name() },
    })))
}

/// The projects of the key's organization, and of no other.
#[get("/organization/projects")]
async fn organization_projects(
    key: HasApiKey<OrganizationApiKey>,
    keys: web::Data<BaseApiKeyManager<OrganizationApiKey>>,
) -> actix_web::Result<HttpResponse> {
    let org_id = key.organization_id;
    let rows = run_async(keys.database(), move |conn| {
        projects::table
            .filter(projects::organization_id.eq(org_id))
            .order(projects::id)
            .select(Project::as_select())
            .load(conn)
    })
    .await?;
    let list: Vec<_> = rows
        .iter()
        .map(|p| serde_json::json!({ "id": p.id, "name": p.name }))
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "organization_id": org_id,
        "projects": list,
    })))
}

fn fail(what: &str, err: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(format!("{what}: {err}"))
}

/// The demo data of the first start: (name, active, projects).
const SEED: [(&str, bool, &[&str]); 2] = [
    ("Acme", true, &["rocket skates", "giant magnet"]),
    ("Dormant", false, &["hibernation plan"]),
];

/// Creates the demo organizations and their projects, in one transaction,
/// when there are no organizations yet; returns their ids (empty: there
/// were organizations already).
fn seed_organizations(db: &Database) -> apikey_core::Result<Vec<(&'static str, bool, i64)>> {
    db.run(|conn| {
        conn.transaction(|conn| {
            let existing: i64 = organizations::table.count().get_result(conn)?;
            if existing > 0 {
                return Ok(Vec::new());
            }
            let mut seeded = Vec::new();
            for (name, active, project_names) in SEED {
                diesel::insert_into(organizations::table)
                    .values((
                        organizations::name.eq(name),
                        organizations::active.eq(active),
                    ))
                    .execute(conn)?;
                let id: i64 = organizations::table
                    .filter(organizations::name.eq(name))
                    .select(organizations::id)
                    .first(conn)?;
                for project in project_names {
                    diesel::insert_into(projects::table)
                        .values((
                            projects::organization_id.eq(id),
                            projects::name.eq(*project),
                        ))
                        .execute(conn)?;
                }
                seeded.push((name, active, id));
            }
            Ok(seeded)
        })
    })
}

/// What `create_key` takes for this model: a name and the model's own fields.
fn organization_key(name: String, organization_id: i64) -> NewKey<OrganizationApiKeyFields> {
    NewKey::with_extra(name, OrganizationApiKeyFields { organization_id })
}

/// `organizations new-key ORGANIZATION [NAME]`: a new key for an existing
/// organization, printed alone on stdout.
fn new_key(
    keys: &BaseApiKeyManager<OrganizationApiKey>,
    org: &str,
    name: &str,
) -> std::io::Result<()> {
    let wanted = org.to_owned();
    let id: Option<i64> = keys
        .database()
        .run(move |conn| {
            organizations::table
                .filter(organizations::name.eq(wanted))
                .select(organizations::id)
                .first(conn)
                .optional()
        })
        .map_err(|e| fail("database", e))?;
    let shown: String = org.chars().take(100).filter(|c| !c.is_control()).collect();
    let Some(organization_id) = id else {
        return Err(fail("no such organization", shown));
    };
    let (row, key) = keys
        .create_key(organization_key(name.to_owned(), organization_id))
        .map_err(|e| fail("creating the key", e))?;
    println!("{}", key.expose_secret());
    eprintln!(
        "created key {} for organization {shown} (id {organization_id}); it is not shown again",
        row.prefix()
    );
    Ok(())
}

const USAGE: &str = "usage: organizations                   serve (env: DATABASE_URL, BIND)
       organizations new-key ORG [NAME] print a new key for the organization named ORG";

fn main() -> std::process::ExitCode {
    match actix_web::rt::System::new().block_on(run()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("organizations: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command: Option<(&str, &str)> = match args.iter().map(String::as_str).collect::<Vec<_>>()[..]
    {
        [] => None,
        ["new-key", org] => Some((org, "command-line key")),
        ["new-key", org, name] => Some((org, name)),
        ["-h" | "--help"] => {
            println!("{USAGE}");
            return Ok(());
        }
        _ => return Err(fail("bad arguments", USAGE)),
    };
    let url = std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "organizations.db".into());
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:8081".into());

    let db = Database::connect(&url).map_err(|e| fail("database", e))?;
    // The example's own tables only: it has no use for the built-in
    // `api_keys` table, so it does not create it.
    db.migrate_with([Migrations::both(SQLITE_MIGRATIONS, POSTGRES_MIGRATIONS)])
        .map_err(|e| fail("migrations", e))?;
    let keys = BaseApiKeyManager::<OrganizationApiKey>::new(db.clone())
        .with_usable_keys(ActiveOrganizations);
    if let Some((org, name)) = command {
        return new_key(&keys, org, name);
    }
    eprintln!("database: {}", db.redacted_url());

    let server = HttpServer::new({
        let keys = keys.clone();
        move || {
            App::new()
                // The manager and the guards' configuration, together.
                .configure(register(keys.clone(), ApiKeyConfig::default()))
                .service(index)
                .service(organization)
                .service(organization_projects)
        }
    })
    .bind(&bind)
    .map_err(|e| fail(&format!("cannot listen on {bind}"), e))?;
    let base = server
        .addrs()
        .first()
        .map(|a| format!("http://{a}"))
        .unwrap_or_else(|| format!("http://{bind}"));

    let seeded = seed_organizations(&db).map_err(|e| fail("seeding organizations", e))?;
    if seeded.is_empty() {
        println!("The database already has organizations; no demo keys were created.");
        println!(
            "Create a key with: cargo run -p apikey-examples --bin organizations -- new-key Acme"
        );
        println!("Then: curl -i -H 'Authorization: Api-Key <key>' {base}/organization");
    } else {
        println!("Created two organizations with an API key each (shown once, not stored):");
        println!();
        let mut made = Vec::new();
        for (name, active, id) in seeded {
            let (_, key) = keys
                .create_key(organization_key(format!("{name} demo key"), id))
                .map_err(|e| fail("creating a demo key", e))?;
            let state = if active { "active" } else { "inactive" };
            println!(
                "    {:<20} {}",
                format!("{name} ({state}):"),
                key.expose_secret()
            );
            made.push((name, active, key));
        }
        println!();
        println!("Try them:");
        println!("    curl -i {base}/");
        for (name, active, key) in &made {
            let secret = key.expose_secret();
            if *active {
                println!("    curl -i -H 'Authorization: Api-Key {secret}' {base}/organization");
                println!(
                    "    curl -i -H 'Authorization: Api-Key {secret}' {base}/organization/projects"
                );
            } else {
                println!(
                    "    curl -i -H 'Authorization: Api-Key {secret}' {base}/organization    \
                     # {name} is inactive: 401"
                );
            }
        }
        println!("    curl -i {base}/organization    # no key: 401");
    }
    eprintln!("serving on {base} (Ctrl-C stops)");
    server.run().await?;
    eprintln!("stopped");
    Ok(())
}
