//! Scopes on SQLite and PostgreSQL: stored with the key, changed by
//! `set_scopes` (seen at once through the cache), kept by a rotation,
//! refused for Django's table; `HasScope` in actix: 401 without a usable
//! key, 403 naming the scope without it, composed with `|`, `&`, `!`.

use std::time::Duration;

use actix_web::test as atest;
use actix_web::{web, App, HttpResponse};
use apikey_actix::{HasScope, RequirePermission};
use apikey_core::scaffold::KeyTable;
use apikey_core::{AbstractApiKey, ApiKey, BaseApiKeyManager, DjangoApiKey, Error, NewKey, Scopes};
use apikey_tests::{backend_tests, TestDb};
use chrono::NaiveDateTime;

mod schema {
    diesel::table! {
        scoped_keys (id) {
            id -> BigInt,
            prefix -> Text,
            hashed_key -> Text,
            created -> Timestamp,
            name -> Text,
            revoked -> Bool,
            expiry_date -> Nullable<Timestamp>,
            team_id -> BigInt,
            scopes -> Text,
        }
    }
}

/// A derived model that opts in to scopes.
#[derive(Debug, Clone, diesel::Queryable, diesel::Selectable, apikey_core::ApiKeyModel)]
#[diesel(table_name = schema::scoped_keys)]
pub struct ScopedKey {
    id: i64,
    prefix: String,
    hashed_key: String,
    created: NaiveDateTime,
    name: String,
    revoked: bool,
    expiry_date: Option<NaiveDateTime>,
    /// Own field.
    pub team_id: i64,
    /// Filled by the manager.
    pub scopes: String,
}

fn scopes(list: &[&str]) -> Scopes {
    Scopes::parse(list).expect("valid scopes")
}

fn names(s: &Scopes) -> Vec<&str> {
    s.iter().collect()
}

fn stored_changed_and_rotated(db: &TestDb) {
    let keys: BaseApiKeyManager<ApiKey> = BaseApiKeyManager::new(db.database());
    let (row, key) = keys
        .create_key(NewKey::new("billing").scopes(scopes(&["billing:read", "reports:*"])))
        .expect("create");
    assert_eq!(names(&row.scopes()), ["billing:read", "reports:*"]);
    assert_eq!(row.scopes, "billing:read reports:*");
    // Through the cache (twice: the second is a hit), then changed.
    for _ in 0..2 {
        let found = keys.get_from_key(key.expose_secret()).expect("usable");
        assert!(found.scopes().grants("reports:export"));
    }
    keys.set_scopes(row.prefix(), &scopes(&["billing:write"]))
        .expect("set");
    let found = keys.get_from_key(key.expose_secret()).expect("usable");
    assert_eq!(names(&found.scopes()), ["billing:write"], "seen at once");
    assert!(!found.scopes().grants("billing:read"));

    let (new, _) = keys.rotate(row.prefix(), Duration::ZERO).expect("rotate");
    assert_eq!(names(&new.scopes()), ["billing:write"], "kept by rotation");
    let err = keys
        .set_scopes(row.prefix(), &Scopes::none())
        .expect_err("revoked");
    assert!(matches!(err, Error::Validation { .. }), "{err}");

    // No scopes by default.
    let (plain, _) = keys.create_key(NewKey::new("plain")).expect("create");
    assert!(plain.scopes().is_empty());
}

fn django_keys_have_none(db: &TestDb) {
    db.create_django_table();
    let keys: BaseApiKeyManager<DjangoApiKey> = BaseApiKeyManager::new(db.database());
    let err = keys
        .create_key(NewKey::new("x").scopes(scopes(&["billing:read"])))
        .expect_err("no column");
    assert!(err.to_string().contains("no scopes column"), "{err}");
    let (row, _) = keys.create_key(NewKey::new("x")).expect("create");
    assert!(row.scopes().is_empty());
    assert!(keys.set_scopes(row.prefix(), &Scopes::none()).is_err());
}

fn derived_models_opt_in(db: &TestDb) {
    let database = db.database();
    let table = KeyTable::new("scoped_keys")
        .column("team_id BIGINT NOT NULL")
        .scopes();
    db.raw_sql(&table.migration(db.kind).expect("scaffold").up)
        .expect("up.sql");
    let keys: BaseApiKeyManager<ScopedKey> = BaseApiKeyManager::new(database);
    let (row, key) = keys
        .create_key(
            NewKey::with_extra("ci", ScopedKeyFields { team_id: 3 })
                .scopes(scopes(&["deploy:run"])),
        )
        .expect("create");
    assert!(row.scopes().grants("deploy:run"));
    let found = keys.get_from_key(key.expose_secret()).expect("usable");
    assert_eq!((found.team_id, found.scopes.as_str()), (3, "deploy:run"));
}

/// The HTTP answers of `path` for each key (None: no key).
async fn statuses(
    keys: &BaseApiKeyManager<ApiKey>,
    path: &str,
    requests: &[Option<&str>],
) -> Vec<(u16, String)> {
    let app = atest::init_service(
        App::new()
            .app_data(web::Data::new(keys.clone()))
            .service(
                web::resource("/read")
                    .wrap(RequirePermission::new(HasScope::new("billing:read")))
                    .to(HttpResponse::Ok),
            )
            .service(
                web::resource("/either")
                    .wrap(RequirePermission::new(
                        HasScope::new("billing:read") | HasScope::new("billing:admin"),
                    ))
                    .to(HttpResponse::Ok),
            )
            .service(
                web::resource("/both")
                    .wrap(RequirePermission::new(
                        HasScope::new("billing:read") & HasScope::new("reports:read"),
                    ))
                    .to(HttpResponse::Ok),
            )
            .service(
                web::resource("/not-frozen")
                    .wrap(RequirePermission::new(
                        HasScope::new("billing:read") & !HasScope::new("billing:frozen"),
                    ))
                    .to(HttpResponse::Ok),
            ),
    )
    .await;
    let mut out = Vec::new();
    for key in requests {
        let mut req = atest::TestRequest::get().uri(path);
        if let Some(key) = key {
            req = req.insert_header(("Authorization", format!("Api-Key {key}")));
        }
        let res = atest::call_service(&app, req.to_request()).await;
        let status = res.status().as_u16();
        let body = String::from_utf8_lossy(&atest::read_body(res).await).into_owned();
        out.push((status, body));
    }
    out
}

fn has_scope_over_http(db: &TestDb) {
    let keys: BaseApiKeyManager<ApiKey> = BaseApiKeyManager::new(db.database());
    let make = |list: &[&str]| {
        let (_, key) = keys
            .create_key(NewKey::new("k").scopes(scopes(list)))
            .expect("create");
        key.expose_secret().to_owned()
    };
    let reader = make(&["billing:read"]);
    let wildcard = make(&["billing:*"]);
    let admin = make(&["billing:admin"]);
    let both = make(&["billing:read", "reports:read"]);
    let frozen = make(&["billing:read", "billing:frozen"]);
    let none = make(&[]);
    let other = make(&["billingx:read"]);
    // The last character changed (to another one: a key may end in `X`).
    let last = if reader.ends_with('X') { 'Y' } else { 'X' };
    let bad = format!("{}{last}", &reader[..reader.len() - 1]);
    actix_rt::System::new().block_on(async {
        let r = statuses(
            &keys,
            "/read",
            &[
                Some(&reader),
                Some(&wildcard),
                Some(&none),
                Some(&other),
                None,
                Some(&bad),
            ],
        )
        .await;
        let codes: Vec<u16> = r.iter().map(|(s, _)| *s).collect();
        assert_eq!(codes, [200, 200, 403, 403, 401, 401], "{r:?}");
        assert!(
            r[2].1.contains("`billing:read`"),
            "the detail names it: {}",
            r[2].1
        );

        let r = statuses(
            &keys,
            "/either",
            &[Some(&reader), Some(&admin), Some(&none), None],
        )
        .await;
        let codes: Vec<u16> = r.iter().map(|(s, _)| *s).collect();
        assert_eq!(codes, [200, 200, 403, 401], "{r:?}");

        let r = statuses(&keys, "/both", &[Some(&both), Some(&reader), Some(&none)]).await;
        let codes: Vec<u16> = r.iter().map(|(s, _)| *s).collect();
        assert_eq!(codes, [200, 403, 403], "{r:?}");
        assert!(r[1].1.contains("`reports:read`"), "{}", r[1].1);

        let r = statuses(&keys, "/not-frozen", &[Some(&reader), Some(&frozen), None]).await;
        let codes: Vec<u16> = r.iter().map(|(s, _)| *s).collect();
        assert_eq!(codes, [200, 403, 401], "{r:?}");
    });
}

#[test]
#[should_panic(expected = "HasScope")]
fn a_wildcard_cannot_be_required() {
    let _ = HasScope::new("billing:*");
}

backend_tests!(
    stored_changed_and_rotated,
    django_keys_have_none,
    derived_models_opt_in,
    has_scope_over_http,
);
