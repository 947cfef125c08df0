//! The guard's ceiling: one actix server with three routes that answer the
//! same kind of JSON, for `scripts/bench-ceiling.sh` to load one after the
//! other:
//!
//! - `GET /`: unguarded (the quickstart's `GET /`);
//! - `GET /header-only`: an extractor that only checks that an
//!   `Authorization: Api-Key ...` header is there (no lookup): what actix
//!   itself costs for one more header and one extractor;
//! - `GET /guarded`: `HasApiKey<ApiKey>` with the default manager (the
//!   verification cache on), and nothing else (no rate limits).
//!
//! Environment: `DATABASE_URL` (a SQLite file), `BIND`, `KEY_FILE` (where
//! the key it creates is written, mode 0600, for the load script; it is
//! never printed).

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::{web, App, FromRequest, HttpRequest, HttpResponse, HttpServer, Responder};
use apikey_actix::{ApiKeyConfig, HasApiKey};
use apikey_core::{AbstractApiKey, ApiKey, BaseApiKeyManager, Database, NewKey};

#[derive(serde::Serialize)]
struct Public {
    message: &'static str,
    protected: &'static str,
}

#[derive(serde::Serialize)]
struct Authorized<'a> {
    message: &'static str,
    name: &'a str,
    prefix: &'a str,
}

async fn index() -> impl Responder {
    HttpResponse::Ok().json(Public {
        message: "public endpoint: no key needed",
        protected: "/guarded",
    })
}

/// Accepts any request whose `Authorization` header starts with `Api-Key `.
struct HeaderOnly;

impl FromRequest for HeaderOnly {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let present = req
            .headers()
            .get("authorization")
            .is_some_and(|v| v.as_bytes().starts_with(b"Api-Key "));
        ready(if present {
            Ok(HeaderOnly)
        } else {
            Err(actix_web::error::ErrorUnauthorized("no key"))
        })
    }
}

async fn header_only(_: HeaderOnly) -> impl Responder {
    HttpResponse::Ok().json(Authorized {
        message: "authorized",
        name: "bench",
        prefix: "abcdefgh",
    })
}

async fn guarded(key: HasApiKey<ApiKey>) -> impl Responder {
    HttpResponse::Ok().json(Authorized {
        message: "authorized",
        name: key.name(),
        prefix: key.prefix(),
    })
}

fn var(name: &str) -> std::io::Result<String> {
    std::env::var(name).map_err(|_| std::io::Error::other(format!("{name} is not set")))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let url = var("DATABASE_URL")?;
    let bind = var("BIND")?;
    let key_file = var("KEY_FILE")?;
    let db = Database::connect(&url).map_err(std::io::Error::other)?;
    db.migrate().map_err(std::io::Error::other)?;
    let keys = BaseApiKeyManager::<ApiKey>::new(db);
    let (_, key) = keys
        .create_key(NewKey::new("bench"))
        .map_err(std::io::Error::other)?;
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&key_file)?;
        file.write_all(key.expose_secret().as_bytes())?;
    }
    drop(key);
    HttpServer::new(move || {
        App::new()
            .configure(apikey_actix::register(
                keys.clone(),
                ApiKeyConfig::default(),
            ))
            .route("/", web::get().to(index))
            .route("/header-only", web::get().to(header_only))
            .route("/guarded", web::get().to(guarded))
    })
    .bind(bind)?
    .run()
    .await
}
