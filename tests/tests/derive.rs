//! `#[derive(ApiKeyModel)]` on an application's own key model, with a foreign
//! key to the application's `organizations`, on SQLite and PostgreSQL. The
//! tables come from `apikey_core::scaffold` (the counterpart of
//! `makemigrations`). Ported from the reference's custom-model tests, plus more.

use apikey_core::scaffold::{self, KeyTable};
use apikey_core::{
    AbstractApiKey, ApiKey, BackendKind, BaseApiKeyManager, Database, Error, KeyFilter,
    KeyGenerator, NewKey, UsableKeys,
};
use apikey_tests::{backend_tests, TestDb};
use chrono::NaiveDateTime;
use diesel::prelude::*;

mod schema {
    diesel::table! {
        organizations (id) {
            id -> BigInt,
            name -> Text,
            active -> Bool,
        }
    }

    diesel::table! {
        organization_api_keys (id) {
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

    diesel::joinable!(organization_api_keys -> organizations (organization_id));
    diesel::allow_tables_to_appear_in_same_query!(organizations, organization_api_keys);
}

use schema::{organization_api_keys, organizations};

/// A key that belongs to an organization.
#[derive(Debug, Clone, Queryable, Selectable, apikey_core::ApiKeyModel)]
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

/// The application's own columns, one definition for both backends.
fn key_table() -> KeyTable {
    KeyTable::new("organization_api_keys")
        .column("organization_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE")
        .index("organization_id")
}

/// The built-in migrations, then the application's tables.
fn app_database(db: &TestDb) -> Database {
    let database = db.database();
    db.create_organizations_table();
    let migration = key_table().migration(db.kind).expect("scaffold");
    db.raw_sql(&migration.up).expect("scaffolded up.sql");
    database
}

fn add_organization(db: &Database, id: i64, name: &str) {
    db.run(|conn| {
        diesel::insert_into(organizations::table)
            .values((
                organizations::id.eq(id),
                organizations::name.eq(name),
                organizations::active.eq(true),
            ))
            .execute(conn)
    })
    .expect("insert organization");
}

fn set_active(db: &Database, id: i64, active: bool) {
    db.run(|conn| {
        diesel::update(organizations::table.find(id))
            .set(organizations::active.eq(active))
            .execute(conn)
    })
    .expect("update organization");
}

fn for_org(name: &str, organization_id: i64) -> NewKey<OrganizationApiKeyFields> {
    NewKey::with_extra(name, OrganizationApiKeyFields { organization_id })
}

/// Only keys of active organizations are usable (the reference's example of a
/// custom manager).
struct ActiveOrganizations;

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

fn org_keys(db: &Database) -> BaseApiKeyManager<OrganizationApiKey> {
    BaseApiKeyManager::new(db.clone()).with_usable_keys(ActiveOrganizations)
}

fn create_key_with_extra_fields(db: &TestDb) {
    let database = app_database(db);
    add_organization(&database, 1, "Acme");
    let keys = org_keys(&database);
    let (row, key) = keys.create_key(for_org("acme ci", 1)).expect("create");
    assert_eq!(row.organization_id, 1);
    assert_eq!(row.name(), "acme ci");
    assert_eq!(row.to_string(), "acme ci", "Display is the name");
    assert!(!row.revoked());
    assert_eq!(row.prefix(), key.prefix());
    assert!(row.hashed_key().starts_with("sha512$$"));

    let found = keys.get_from_key(key.expose_secret()).expect("found");
    assert_eq!(found.id(), row.id());
    assert_eq!(found.organization_id, 1);

    // The shared SQL works on the custom table: list, count, update, revoke.
    assert_eq!(keys.count(&KeyFilter::default()).expect("count"), 1);
    let listed = keys.list(&KeyFilter::default()).expect("list");
    assert_eq!(listed.len(), 1);
    let renamed = keys.update(row.prefix(), "renamed", None).expect("update");
    assert_eq!(renamed.name(), "renamed");
    assert_eq!(renamed.organization_id, 1, "extra columns untouched");
    keys.revoke(row.prefix()).expect("revoke");
    assert!(!keys.is_valid(key.expose_secret()).expect("is_valid"));
}

fn key_of_a_missing_organization_is_refused(db: &TestDb) {
    let database = app_database(db);
    let keys = org_keys(&database);
    let err = keys
        .create_key(for_org("orphan", 99))
        .expect_err("no such org");
    assert!(matches!(err, Error::Database(_)), "{err:?}");
    assert_eq!(keys.count(&KeyFilter::default()).expect("count"), 0);
}

fn keys_of_inactive_organizations_are_refused(db: &TestDb) {
    let database = app_database(db);
    add_organization(&database, 1, "Acme");
    add_organization(&database, 2, "Globex");
    let keys = org_keys(&database);
    let (_, acme) = keys.create_key(for_org("acme", 1)).expect("create");
    let (_, globex) = keys.create_key(for_org("globex", 2)).expect("create");
    assert!(keys.is_valid(acme.expose_secret()).expect("is_valid"));

    // Deactivated by another connection: refused once the verification
    // cache hears of it (its change feed on SQLite; on PostgreSQL the
    // organizations table has no trigger, so within the revalidation
    // sweep), and from then on.
    set_active(&database, 1, false);
    let start = std::time::Instant::now();
    while keys.is_valid(acme.expose_secret()).expect("is_valid") {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(5),
            "deactivation never seen"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(matches!(
        keys.get_from_key(acme.expose_secret()),
        Err(Error::InvalidKey)
    ));
    assert!(!keys.is_valid(acme.expose_secret()).expect("is_valid"));
    assert!(keys
        .is_valid(globex.expose_secret())
        .expect("other org unaffected"));
    // The plain manager (no narrowing) still finds it: the narrowing is the
    // only difference.
    let plain: BaseApiKeyManager<OrganizationApiKey> = BaseApiKeyManager::new(database.clone());
    assert!(plain.is_valid(acme.expose_secret()).expect("is_valid"));

    // Reactivated by another connection: accepted once the verification
    // cache hears of it (its change feed on SQLite; on PostgreSQL the
    // organizations table has no trigger, so within the revalidation sweep).
    set_active(&database, 1, true);
    let start = std::time::Instant::now();
    while !keys.is_valid(acme.expose_secret()).expect("is_valid") {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(5),
            "reactivation never seen"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Once one worker is refused a key (here after the sweep noticed its
/// organization deactivated: on PostgreSQL that table has no trigger), no
/// other worker accepts it from what it had cached: the thread that looked
/// the key up before (and keeps its own copy of the entry) is refused too.
fn a_refusal_seen_by_one_thread_holds_for_all(db: &TestDb) {
    let database = app_database(db);
    add_organization(&database, 1, "Acme");
    // A 4 s max_age: the sweep runs every 2 s, and this thread's copy made
    // at once is still young when the sweep drops the entry.
    let keys = org_keys(&database).with_cache(std::time::Duration::from_secs(4), 100);
    let (_, acme) = keys.create_key(for_org("acme", 1)).expect("create");
    let acme = acme.expose_secret().to_owned();
    assert!(keys.settle_cache(std::time::Duration::from_secs(5)));
    let wait_for_pass_after = |passes: u64| {
        let start = std::time::Instant::now();
        while keys.cache_revalidations() <= passes {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(10),
                "no revalidation pass"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    };
    // Right after a sweep (which files the entry again, young), this
    // thread reads it and keeps its copy.
    assert!(keys.is_valid(&acme).expect("is_valid"));
    wait_for_pass_after(keys.cache_revalidations());
    for _ in 0..3 {
        assert!(keys.is_valid(&acme).expect("is_valid"));
    }
    assert!(keys.get_cached(&acme).is_some(), "cached");
    let passes = keys.cache_revalidations();

    // Deactivated before the next sweep starts (every 2 s); once that sweep
    // is done, it has dropped the entry, and the other thread, which has no
    // copy of its own, is refused.
    set_active(&database, 1, false);
    wait_for_pass_after(passes);
    let other = {
        let keys = keys.clone();
        let acme = acme.clone();
        std::thread::spawn(move || assert!(!keys.is_valid(&acme).expect("is_valid")))
    };
    other.join().expect("the other thread saw the refusal");
    assert!(
        keys.get_cached(&acme).is_none(),
        "nothing cached answers it"
    );
    assert!(!keys.is_valid(&acme).expect("is_valid"));
}

/// Deleting an organization deletes its keys (`ON DELETE CASCADE`): they stop
/// working and are gone from listings.
fn deleting_an_organization_deletes_its_keys(db: &TestDb) {
    let database = app_database(db);
    add_organization(&database, 1, "Acme");
    add_organization(&database, 2, "Globex");
    let keys = org_keys(&database);
    let (acme_row, acme) = keys.create_key(for_org("acme", 1)).expect("create");
    let (_, globex) = keys.create_key(for_org("globex", 2)).expect("create");

    let deleted = database
        .run(|conn| diesel::delete(organizations::table.find(1_i64)).execute(conn))
        .expect("delete organization");
    assert_eq!(deleted, 1);

    assert!(!keys.is_valid(acme.expose_secret()).expect("is_valid"));
    assert!(keys
        .find_by_prefix(acme_row.prefix())
        .expect("find")
        .is_none());
    assert!(keys.is_valid(globex.expose_secret()).expect("is_valid"));
    assert_eq!(keys.count(&KeyFilter::default()).expect("count"), 1);
}

fn custom_generator_lengths(db: &TestDb) {
    let database = app_database(db);
    add_organization(&database, 1, "Acme");
    let keys = org_keys(&database).with_generator(KeyGenerator::new(12, 40).expect("generator"));
    let (row, key) = keys.create_key(for_org("long", 1)).expect("create");
    assert!(apikey_tests::is_key_shaped(key.expose_secret(), 12, 40));
    assert_eq!(row.prefix(), key.prefix());
    assert!(keys.is_valid(key.expose_secret()).expect("is_valid"));
}

fn builtin_key_is_not_an_organization_key(db: &TestDb) {
    let database = app_database(db);
    add_organization(&database, 1, "Acme");
    let builtin: BaseApiKeyManager<ApiKey> = BaseApiKeyManager::new(database.clone());
    let (_, plain_key) = builtin.create_key(NewKey::new("built-in")).expect("create");
    let keys = org_keys(&database);
    let (_, org_key) = keys.create_key(for_org("acme", 1)).expect("create");

    assert!(!keys.is_valid(plain_key.expose_secret()).expect("is_valid"));
    assert!(!builtin.is_valid(org_key.expose_secret()).expect("is_valid"));
    assert!(builtin
        .is_valid(plain_key.expose_secret())
        .expect("is_valid"));
}

fn expiry_works_on_custom_models(db: &TestDb) {
    let database = app_database(db);
    add_organization(&database, 1, "Acme");
    let keys = org_keys(&database);
    let past = chrono::Utc::now() - chrono::Duration::hours(1);
    let (row, key) = keys
        .create_key(for_org("expired", 1).expires(past))
        .expect("create");
    assert!(row.has_expired());
    assert!(!keys.is_valid(key.expose_secret()).expect("is_valid"));
}

/// The scaffolded trigger makes revocation irreversible on the custom table.
fn revocation_is_irreversible_on_the_custom_table(db: &TestDb) {
    let database = app_database(db);
    add_organization(&database, 1, "Acme");
    let keys = org_keys(&database);
    let (row, _) = keys.create_key(for_org("acme", 1)).expect("create");
    keys.revoke(row.prefix()).expect("revoke");
    let target = row.prefix().to_owned();
    let err = database
        .run(|conn| {
            diesel::update(
                organization_api_keys::table.filter(organization_api_keys::prefix.eq(&target)),
            )
            .set(organization_api_keys::revoked.eq(false))
            .execute(conn)
        })
        .expect_err("trigger refuses");
    assert!(matches!(err, Error::RevocationIrreversible), "{err:?}");
    let raw = db.raw_sql("UPDATE organization_api_keys SET revoked = false");
    assert!(raw.is_err(), "raw bulk un-revoke refused");
    assert!(keys
        .find_by_prefix(row.prefix())
        .expect("find")
        .expect("row")
        .revoked());
}

/// The scaffolded SQL runs on a database without the built-in table, its
/// down script undoes it, and up runs again after down; the prefix is unique.
fn scaffold_up_down_up(db: &TestDb) {
    db.create_organizations_table();
    let migration = key_table().migration(db.kind).expect("scaffold");
    db.raw_sql(&migration.up).expect("up, standalone");
    db.raw_sql(&migration.down).expect("down");
    db.raw_sql(&migration.up).expect("up again");
    let insert = "INSERT INTO organizations (id, name) VALUES (1, 'Acme'); \
                  INSERT INTO organization_api_keys (prefix, hashed_key, created, name, organization_id) \
                  VALUES ('abc', 'x', '2026-01-01 00:00:00', 'k', 1);";
    db.raw_sql(insert).expect("insert");
    let dup =
        "INSERT INTO organization_api_keys (prefix, hashed_key, created, name, organization_id) \
               VALUES ('abc', 'y', '2026-01-01 00:00:00', 'k2', 1);";
    assert!(db.raw_sql(dup).is_err(), "prefix is unique");
    let blank =
        "INSERT INTO organization_api_keys (prefix, hashed_key, created, name, organization_id) \
                 VALUES ('def', 'y', '2026-01-01 00:00:00', ' ', 1);";
    assert!(db.raw_sql(blank).is_err(), "name is required");

    // The built-in migration still runs afterwards (same trigger function).
    let keys = BaseApiKeyManager::<ApiKey>::new(db.database());
    let (row, key) = keys.create_key(NewKey::new("built-in")).expect("create");
    let found = keys.get_from_key(key.expose_secret()).expect("verifies");
    assert_eq!(found.prefix(), row.prefix());
}

/// The folders `KeyTable::write_migrations` writes are diesel migrations:
/// they run, revert and run again through diesel's own harness, and the
/// derived model works on the result.
fn scaffolded_folders_run_as_diesel_migrations(db: &TestDb) {
    use diesel_migrations::{FileBasedMigrations, MigrationHarness};

    let root = tempfile::tempdir().expect("tempdir");
    let dirs = key_table()
        .write_migrations(root.path(), "2026-12-01-120000")
        .expect("written");
    assert_eq!(dirs.len(), 2);
    let folder = match db.kind {
        BackendKind::Postgres => "postgres",
        _ => "sqlite",
    };
    let migrations = || FileBasedMigrations::from_path(root.path().join(folder)).expect("folder");

    db.create_organizations_table();
    match db.kind {
        BackendKind::Postgres => {
            let mut c = diesel::PgConnection::establish(&db.url).expect("connect");
            assert_eq!(c.run_pending_migrations(migrations()).expect("up").len(), 1);
            c.revert_last_migration(migrations()).expect("down");
            assert_eq!(c.run_pending_migrations(migrations()).expect("up").len(), 1);
        }
        _ => {
            let path = db.url.trim_start_matches("sqlite://");
            let mut c = diesel::SqliteConnection::establish(path).expect("connect");
            assert_eq!(c.run_pending_migrations(migrations()).expect("up").len(), 1);
            c.revert_last_migration(migrations()).expect("down");
            assert_eq!(c.run_pending_migrations(migrations()).expect("up").len(), 1);
        }
    }

    let database = db.database();
    add_organization(&database, 1, "Acme");
    let keys = org_keys(&database);
    let (_, key) = keys.create_key(for_org("acme", 1)).expect("create");
    assert!(keys.is_valid(key.expose_secret()).expect("is_valid"));
}

backend_tests!(
    scaffolded_folders_run_as_diesel_migrations,
    create_key_with_extra_fields,
    key_of_a_missing_organization_is_refused,
    keys_of_inactive_organizations_are_refused,
    a_refusal_seen_by_one_thread_holds_for_all,
    deleting_an_organization_deletes_its_keys,
    custom_generator_lengths,
    builtin_key_is_not_an_organization_key,
    expiry_works_on_custom_models,
    revocation_is_irreversible_on_the_custom_table,
    scaffold_up_down_up,
);

#[test]
fn display_names_are_consts() {
    assert_eq!(OrganizationApiKey::VERBOSE_NAME, "Organization API key");
    assert_eq!(
        OrganizationApiKey::VERBOSE_NAME_PLURAL,
        "Organization API keys"
    );
    assert_eq!(OrganizationApiKey::TABLE_NAME, "organization_api_keys");
    const _: &str = <OrganizationApiKey as AbstractApiKey>::VERBOSE_NAME;
}

#[test]
fn migration_sql_is_key_table_shorthand() {
    let columns =
        ["organization_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE"];
    for kind in [BackendKind::Sqlite, BackendKind::Postgres] {
        let short = scaffold::migration_sql(kind, "organization_api_keys", &columns).expect("sql");
        let long = KeyTable::new("organization_api_keys")
            .column(columns[0])
            .migration(kind)
            .expect("sql");
        assert_eq!(short, long);
    }
}

mod defaults {
    use chrono::NaiveDateTime;
    use diesel::prelude::*;

    diesel::table! {
        team_keys (id) {
            id -> Integer,
            prefix -> Text,
            hashed_key -> Text,
            created -> Timestamp,
            name -> Text,
            revoked -> Bool,
            expiry_date -> Nullable<Timestamp>,
        }
    }

    /// No columns of its own, an `i32` id, default display names.
    #[derive(Debug, Clone, Queryable, Selectable, apikey_core::ApiKeyModel)]
    #[diesel(table_name = team_keys)]
    #[apikey(table = team_keys)]
    pub struct TeamAPIKey {
        pub id: i32,
        pub prefix: String,
        pub hashed_key: String,
        pub created: NaiveDateTime,
        pub name: String,
        pub revoked: bool,
        pub expiry_date: Option<NaiveDateTime>,
    }

    #[test]
    fn defaults_follow_django() {
        use apikey_core::AbstractApiKey;
        assert_eq!(TeamAPIKey::VERBOSE_NAME, "team api key");
        assert_eq!(TeamAPIKey::VERBOSE_NAME_PLURAL, "team api keys");
        assert_eq!(TeamAPIKey::TABLE_NAME, "team_keys");
        // No own columns: `Extra` is `()`, so `NewKey::new` fits.
        let _: apikey_core::NewKey<<TeamAPIKey as AbstractApiKey>::Extra> =
            apikey_core::NewKey::new("x");
    }
}

/// What the web admin reads from a derived model: its own columns as text,
/// and its fields struct parsed from form text.
mod form_and_columns {
    use apikey_core::{AbstractApiKey, FormField, FormFields};
    use chrono::NaiveDateTime;
    use diesel::prelude::*;

    diesel::table! {
        rich_keys (id) {
            id -> BigInt,
            prefix -> Text,
            hashed_key -> Text,
            created -> Timestamp,
            name -> Text,
            revoked -> Bool,
            expiry_date -> Nullable<Timestamp>,
            organization_id -> BigInt,
            plan -> Nullable<Text>,
            label -> Text,
            blob -> Binary,
        }
    }

    #[derive(Debug, Clone, Queryable, Selectable, apikey_core::ApiKeyModel)]
    #[diesel(table_name = rich_keys)]
    #[apikey(table = rich_keys)]
    pub struct RichKey {
        id: i64,
        prefix: String,
        hashed_key: String,
        created: NaiveDateTime,
        name: String,
        revoked: bool,
        expiry_date: Option<NaiveDateTime>,
        pub organization_id: i64,
        pub plan: Option<String>,
        pub label: String,
        pub blob: Vec<u8>,
    }

    fn row(plan: Option<&str>) -> RichKey {
        RichKey {
            id: 1,
            prefix: "abcdefgh".into(),
            hashed_key: "sha512$$00".into(),
            created: NaiveDateTime::default(),
            name: "n".into(),
            revoked: false,
            expiry_date: None,
            organization_id: 42,
            plan: plan.map(Into::into),
            label: "a <b>".into(),
            blob: vec![1, 2],
        }
    }

    #[test]
    fn extra_columns_use_display_then_debug() {
        assert_eq!(
            row(Some("gold")).extra_columns(),
            vec![
                ("organization_id", "42".to_owned()),
                ("plan", "gold".to_owned()),
                ("label", "a <b>".to_owned()),
                ("blob", "[1, 2]".to_owned()),
            ]
        );
        assert_eq!(row(None).extra_columns()[1], ("plan", String::new()));
        let builtin = apikey_core::ApiKey {
            id: 1,
            prefix: "p".into(),
            hashed_key: "h".into(),
            created: NaiveDateTime::default(),
            name: "n".into(),
            revoked: false,
            expiry_date: None,
            rotated_from: None,
            scopes: String::new(),
            last_used_at: None,
            rate_limit: None,
            remaining_uses: None,
            uses_refill: None,
            uses_refill_period: None,
        };
        assert!(builtin.extra_columns().is_empty(), "default: none");
    }

    #[test]
    fn fields_struct_parses_form_text() {
        assert_eq!(
            RichKeyFields::FIELDS,
            &[
                FormField {
                    name: "organization_id",
                    required: true
                },
                FormField {
                    name: "plan",
                    required: false
                },
                FormField {
                    name: "label",
                    required: true
                },
                FormField {
                    name: "blob",
                    required: true
                },
            ]
        );
        let form = |values: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                values
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        // `blob` has no FromStr: never settable from a form.
        let errors = RichKeyFields::from_form(&form(&[
            ("organization_id", " 7 "),
            ("plan", ""),
            ("label", "x"),
        ]))
        .expect_err("blob cannot be parsed");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].0, "blob");

        let errors = RichKeyFields::from_form(&form(&[("organization_id", "seven")]))
            .expect_err("bad number, missing label");
        let fields: Vec<_> = errors.iter().map(|e| e.0).collect();
        assert_eq!(fields, ["organization_id", "label", "blob"]);
        assert!(errors[0].1.contains("invalid digit"), "{errors:?}");
        assert_eq!(errors[1].1, "this field is required");
        assert!(<() as FormFields>::from_form(&|_| None).is_ok());
    }
}
