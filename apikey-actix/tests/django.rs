//! `HasApiKey<DjangoApiKey>` through actix's test service, on SQLite and
//! PostgreSQL: a route guarded by the key table of a Django service
//! (`rest_framework_api_key_apikey`, created here with Django's own DDL, as
//! apikey-cli's tests do; apikey-rs never migrates it).

use actix_web::http::StatusCode;
use actix_web::test as atest;
use actix_web::{web, App, HttpResponse};
use apikey_actix::HasApiKey;
use apikey_core::{AbstractApiKey, ApiKey, BaseApiKeyManager, Database, DjangoApiKey, NewKey};
use apikey_tests::{backend_tests, TestDb};
use chrono::{Duration, Utc};

async fn protected(key: HasApiKey<DjangoApiKey>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "name": key.name(), "prefix": key.prefix() }))
}

/// Django's table, as `python manage.py migrate` makes it (Django 4.2,
/// djangorestframework-api-key 3.1.0 migrations).
fn django_table(db: &TestDb) {
    db.create_django_table();
}

fn django_keys_guard_routes(db: &TestDb) {
    django_table(db);
    // Django owns the table: no migrate() here.
    let keys: BaseApiKeyManager<DjangoApiKey> =
        BaseApiKeyManager::new(Database::connect(&db.url).expect("connect"));
    let make = |name: &str| keys.create_key(NewKey::new(name)).expect("create");
    let (valid_row, valid) = make("valid");
    let (revoked_row, revoked) = make("revoked");
    keys.revoke(revoked_row.prefix()).expect("revoke");
    let (_, expired) = keys
        .create_key(NewKey::new("expired").expires(Utc::now() - Duration::hours(1)))
        .expect("create");
    assert_eq!(
        valid_row.id,
        format!("{}.{}", valid_row.prefix, valid_row.hashed_key),
        "id as Django makes it"
    );

    apikey_tests::block_on(async {
        let app = atest::init_service(
            App::new()
                .app_data(web::Data::new(keys.clone()))
                .route("/protected", web::get().to(protected)),
        )
        .await;
        let call = |key: Option<String>| {
            let mut req = atest::TestRequest::get().uri("/protected");
            if let Some(key) = key {
                req = req.insert_header(("Authorization", format!("Api-Key {key}")));
            }
            atest::call_service(&app, req.to_request())
        };

        let resp = call(Some(valid.expose_secret().to_owned())).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let body: serde_json::Value = atest::read_body_json(resp).await;
        assert_eq!(body["name"], "valid");
        assert_eq!(body["prefix"], valid_row.prefix.as_str());

        for refused in [
            Some(revoked.expose_secret().to_owned()),
            Some(expired.expose_secret().to_owned()),
            Some(format!("{}.{}", valid_row.prefix, "x".repeat(32))),
            Some("garbage".to_owned()),
            None,
        ] {
            let resp = call(refused).await;
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
            assert_eq!(
                resp.headers()
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok()),
                Some("Api-Key")
            );
        }

        // Revoked later (as Django's admin would), refused at once.
        keys.revoke(valid_row.prefix()).expect("revoke");
        let resp = call(Some(valid.expose_secret().to_owned())).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    });
}

/// A built-in `ApiKey` key is not a Django key, even on the same database.
fn builtin_key_is_not_a_django_key(db: &TestDb) {
    django_table(db);
    let database = db.database(); // the built-in table too
    let builtin: BaseApiKeyManager<ApiKey> = BaseApiKeyManager::new(database.clone());
    let (_, key) = builtin.create_key(NewKey::new("built-in")).expect("create");
    let django: BaseApiKeyManager<DjangoApiKey> = BaseApiKeyManager::new(database);
    apikey_tests::block_on(async {
        let app = atest::init_service(
            App::new()
                .app_data(web::Data::new(django))
                .route("/protected", web::get().to(protected)),
        )
        .await;
        let req = atest::TestRequest::get()
            .uri("/protected")
            .insert_header(("Authorization", format!("Api-Key {}", key.expose_secret())))
            .to_request();
        assert_eq!(
            atest::call_service(&app, req).await.status(),
            StatusCode::UNAUTHORIZED
        );
    });
}

backend_tests!(django_keys_guard_routes, builtin_key_is_not_a_django_key);
