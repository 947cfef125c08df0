//! The quickstart: an actix-web service with one public and one guarded route.
//!
//! ```text
//! cargo run -p apikey-examples --bin quickstart
//! ```
//!
//! - `DATABASE_URL`: the key store (default `apikeys.db` in the current
//!   folder; `postgres://...` works too). Migrations run at start.
//! - `BIND`: the address to serve on (default `127.0.0.1:8080`).
//! - The verification cache is on (verified keys answered from memory, and
//!   forgotten within milliseconds of any write to the key store by anyone:
//!   see `BaseApiKeyManager::with_cache`). `APIKEY_CACHE=off` turns it off;
//!   `APIKEY_CACHE_TTL_MS` tunes how long an entry is answered at most
//!   (default 60000 on SQLite, 1000 on PostgreSQL).
//! - Keys: plain (Django's format) and branded ones of any brand
//!   (`apikey create --name NAME --brand acme` prints `acme_...`), whose
//!   checksum is checked before any query. `APIKEY_BRAND=acme` makes the
//!   demo key a branded one.
//! - `APIKEY_ADMIN_USER` and `APIKEY_ADMIN_PASSWORD`: when both are set, the
//!   web admin is served at `/admin` behind HTTP Basic authentication with
//!   these credentials (create, list, edit and revoke keys in a browser). A
//!   password under 12 characters stops the start with an error.
//!
//! - Rate limits and quotas: `GET /protected` and `GET /billing` enforce
//!   each key's own rate limit and usage quota (`apikey create --name N
//!   --rate 10/s --uses 1000`, or `--refill 1000/day`): a burst of N at
//!   once, then 429 with
//!   `Retry-After` and `RateLimit-*` fields; 403 once no use is left.
//!   `APIKEY_RATE_LIMIT=100/min` sets a limit for keys without one (none by
//!   default). `APIKEY_REDIS_URL=redis://127.0.0.1:6379/` holds the budgets
//!   in Redis, so several quickstarts behind one load balancer share one
//!   limit per key (without it, each process counts alone);
//!   `APIKEY_REDIS_UNAVAILABLE=refuse` answers 503 while Redis is
//!   unreachable (default `allow`: requests pass unlimited, logged).
//!   `APIKEY_LIMITS=off` turns rate limits and quotas off (the benchmarks'
//!   baseline).
//!
//! When the key table is empty, a demo key is created and printed once, with
//! curl lines to try it. `GET /` is public; `GET /protected` answers the
//! key's name and prefix, or 401 without a usable key. `GET /billing`
//! needs a key with the scope `billing:read` (`apikey create --name N
//! --scope billing:read`; `billing:*` grants it too): 403 naming the scope
//! for a valid key without it, 401 without a usable key. Ctrl-C stops it.
//!
//! The key is read, first found wins, from `X-Api-Key: <key>`, then
//! `Authorization: Api-Key <key>`, then `Authorization: Bearer <key>`
//! (keywords case-insensitive), to show the key parsers side by side.

use actix_web::http::header::HeaderName;
use actix_web::middleware::Condition;
use actix_web::{get, web, App, HttpResponse, HttpServer, Responder};
use apikey_actix::admin::{Admin, BasicAuth};
use apikey_actix::{
    ApiKeyConfig, AuthorizationParser, FirstOf, HasApiKey, HasScope, HeaderParser, KeyLimits,
    RedisStore, RequirePermission, WhenUnavailable,
};
use apikey_core::{
    AbstractApiKey, ApiKey, BaseApiKeyManager, BrandedKeyGenerator, Database, KeyFilter,
    KeyGenerator, NewKey, RateLimit,
};

/// The public endpoint's answer (typed: serialized straight from borrowed
/// fields, as a service would, without building a JSON tree first).
#[derive(serde::Serialize)]
struct Public {
    message: &'static str,
    protected: &'static str,
}

#[get("/")]
async fn index() -> impl Responder {
    HttpResponse::Ok().json(Public {
        message: "public endpoint: no key needed",
        protected: "/protected",
    })
}

/// The guarded endpoint's answer: the key's name and prefix, borrowed from
/// the verified key.
#[derive(serde::Serialize)]
struct Authorized<'a> {
    message: &'static str,
    name: &'a str,
    prefix: &'a str,
}

/// Guarded by `HasApiKey`, limited by `KeyLimits`.
async fn protected(key: HasApiKey<ApiKey>) -> impl Responder {
    HttpResponse::Ok().json(Authorized {
        message: "authorized",
        name: key.name(),
        prefix: key.prefix(),
    })
}

/// Guarded by `RequirePermission::new(HasScope::new("billing:read"))`.
async fn billing(key: HasApiKey<ApiKey>) -> impl Responder {
    HttpResponse::Ok().json(serde_json::json!({
        "message": "billing: the key has the scope billing:read",
        "prefix": key.prefix(),
        "scopes": key.scopes().iter().collect::<Vec<_>>(),
    }))
}

fn fail(what: &str, err: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(format!("{what}: {err}"))
}

/// The rate limits and quotas, from `APIKEY_RATE_LIMIT`, `APIKEY_REDIS_URL`
/// and `APIKEY_REDIS_UNAVAILABLE`.
fn key_limits() -> std::io::Result<KeyLimits<ApiKey>> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let default_rate = match env("APIKEY_RATE_LIMIT") {
        Some(text) => Some(RateLimit::parse(&text).map_err(|e| fail("APIKEY_RATE_LIMIT", e))?),
        None => None,
    };
    let limits = match env("APIKEY_REDIS_URL") {
        Some(url) => {
            let store = RedisStore::new(&url).map_err(|e| fail("APIKEY_REDIS_URL", e))?;
            eprintln!("rate limits: in Redis ({store:?}), shared by every server using it");
            let when = match env("APIKEY_REDIS_UNAVAILABLE").as_deref() {
                None | Some("allow") => WhenUnavailable::Allow,
                Some("refuse") => WhenUnavailable::Refuse,
                Some(_) => {
                    return Err(fail("APIKEY_REDIS_UNAVAILABLE", "expected allow or refuse"));
                }
            };
            KeyLimits::redis(store).when_unavailable(when)
        }
        None => {
            eprintln!(
                "rate limits: in this process (set APIKEY_REDIS_URL to share them across servers)"
            );
            KeyLimits::in_process()
        }
    };
    match default_rate {
        Some(rate) => eprintln!("rate limit of keys without one: {rate}"),
        None => eprintln!("rate limit of keys without one: none (APIKEY_RATE_LIMIT)"),
    }
    Ok(limits.default_rate(default_rate))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "apikeys.db".into());
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:8080".into());

    let db = Database::connect(&url).map_err(|e| fail("database", e))?;
    db.migrate().map_err(|e| fail("migrations", e))?;
    // Plain keys and branded keys of any brand are served.
    let mut keys = BaseApiKeyManager::<ApiKey>::new(db)
        .with_generator(KeyGenerator::default().accept_branded());
    eprintln!("key store: {}", keys.database().redacted_url());
    if std::env::var("APIKEY_CACHE").is_ok_and(|v| v == "off") {
        keys = keys.without_cache();
        eprintln!("key cache: off (APIKEY_CACHE=off): every request queries the key store");
    } else if let Some(ms) = std::env::var("APIKEY_CACHE_TTL_MS")
        .ok()
        .filter(|v| !v.is_empty())
    {
        let ms: u64 = ms
            .parse()
            .map_err(|_| fail("APIKEY_CACHE_TTL_MS", "expected milliseconds, e.g. 1000"))?;
        keys = keys.with_cache(
            std::time::Duration::from_millis(ms),
            apikey_core::DEFAULT_CACHE_CAPACITY,
        );
        eprintln!("key cache: entries answered for at most {ms} ms");
    }

    // When each key was last used: recorded once per key per interval
    // (default 60 s), off the request path; APIKEY_LAST_USED_MS=0 turns it off.
    if let Some(ms) = std::env::var("APIKEY_LAST_USED_MS")
        .ok()
        .filter(|v| !v.is_empty())
    {
        let ms: u64 = ms.parse().map_err(|_| {
            fail(
                "APIKEY_LAST_USED_MS",
                "expected milliseconds (0: off), e.g. 60000",
            )
        })?;
        keys = keys.with_last_used(std::time::Duration::from_millis(ms));
    }
    match keys.last_used_interval() {
        Some(every) => eprintln!(
            "last use: recorded at most once per {} ms per key (apikey list shows it)",
            every.as_millis()
        ),
        None => eprintln!("last use: not recorded (APIKEY_LAST_USED_MS=0)"),
    }

    // The demo key is branded when APIKEY_BRAND says how (same cache).
    let demo_keys = match std::env::var("APIKEY_BRAND") {
        Ok(brand) if !brand.is_empty() => keys.clone().with_generator(
            BrandedKeyGenerator::new(&brand)
                .map_err(|e| fail("APIKEY_BRAND", e))?
                .accept_plain(KeyGenerator::default())
                .accept_any_brand(),
        ),
        _ => keys.clone(),
    };

    // A weak password stops the start, with the reason.
    let admin_auth = BasicAuth::from_env("APIKEY_ADMIN_USER", "APIKEY_ADMIN_PASSWORD")
        .map_err(|e| fail("APIKEY_ADMIN_PASSWORD", e))?;
    let config = ApiKeyConfig::default().parser(
        FirstOf::default()
            .or(HeaderParser::new(HeaderName::from_static("x-api-key")))
            .or(AuthorizationParser::new("Api-Key"))
            .or(AuthorizationParser::new("Bearer")),
    );
    // Created once: every worker shares the budgets.
    let limits = key_limits()?;
    let limits_on = !std::env::var("APIKEY_LIMITS").is_ok_and(|v| v == "off");
    if !limits_on {
        eprintln!("rate limits and quotas: off (APIKEY_LIMITS=off)");
    }
    let server = HttpServer::new({
        let data = web::Data::new(keys.clone());
        let config = config.clone();
        let keys = keys.clone();
        let admin_auth = admin_auth.clone();
        let limits = limits.clone();
        move || {
            let app = App::new()
                .app_data(data.clone())
                .app_data(config.clone())
                .service(index)
                // Limited unless APIKEY_LIMITS=off (without actix's
                // `Condition`, whose wrapper every request would cross).
                .configure(|cfg| {
                    let resource = web::resource("/protected").route(web::get().to(protected));
                    if limits_on {
                        cfg.service(resource.wrap(limits.clone()));
                    } else {
                        cfg.service(resource);
                    }
                })
                .service(
                    // The last wrap runs first: a key without the scope is
                    // refused before it uses any of its budget.
                    web::resource("/billing")
                        .wrap(Condition::new(limits_on, limits.clone()))
                        .wrap(RequirePermission::new(HasScope::new("billing:read")))
                        .route(web::get().to(billing)),
                );
            match &admin_auth {
                Some(auth) => app.service(
                    Admin::new(keys.clone())
                        .permission(auth.clone().realm("apikey quickstart admin"))
                        .scope("/admin"),
                ),
                None => app,
            }
        }
    })
    .bind(&bind)
    .map_err(|e| fail(&format!("cannot listen on {bind}"), e))?;
    let base = server
        .addrs()
        .first()
        .map(|a| format!("http://{a}"))
        .unwrap_or_else(|| format!("http://{bind}"));

    if keys
        .count(&KeyFilter::default())
        .map_err(|e| fail("database", e))?
        == 0
    {
        let (row, key) = demo_keys
            .create_key(NewKey::new("quickstart demo key"))
            .map_err(|e| fail("creating the demo key", e))?;
        println!("Created a demo API key (shown once, it is not stored):");
        println!();
        println!("    {}", key.expose_secret());
        println!();
        println!("Try it:");
        println!("    curl -i {base}/");
        println!(
            "    curl -i -H 'Authorization: Api-Key {}' {base}/protected",
            key.expose_secret()
        );
        println!(
            "    curl -i -H 'X-Api-Key: {}' {base}/protected         # also accepted",
            key.expose_secret()
        );
        println!(
            "    curl -i -H 'Authorization: Bearer {}' {base}/protected  # also accepted",
            key.expose_secret()
        );
        println!("    curl -i {base}/protected    # no key: 401");
        println!();
        println!("Rate limits and quotas (429 over the limit, 403 once no use is left):");
        println!("    cargo run -p apikey-cli -- create --name limited --rate 10/s --uses 1000");
        println!();
        println!("GET /billing needs the scope billing:read (this demo key has none: 403):");
        println!("    cargo run -p apikey-cli -- create --name billing --scope billing:read");
        println!("    curl -i -H 'Authorization: Api-Key <that key>' {base}/billing");
        println!();
        println!(
            "(prefix {}; the key table was empty, so this demo key was made.)",
            row.prefix()
        );
    } else {
        println!("The key table already has keys; no demo key was created.");
        println!("Create one with: cargo run -p apikey-cli -- create --name NAME");
        println!("(or a branded one: cargo run -p apikey-cli -- create --name NAME --brand acme)");
        println!("GET /billing needs the scope billing:read:");
        println!("    cargo run -p apikey-cli -- create --name billing --scope billing:read");
        println!("    curl -i -H 'Authorization: Api-Key <that key>' {base}/billing");
        println!("Rate limits and quotas (429 over the limit, 403 once no use is left):");
        println!("    cargo run -p apikey-cli -- create --name limited --rate 10/s --uses 1000");
        println!("Then: curl -i -H 'Authorization: Api-Key <key>' {base}/protected");
    }
    if admin_auth.is_some() {
        eprintln!("web admin: {base}/admin/ (user and password from APIKEY_ADMIN_USER and APIKEY_ADMIN_PASSWORD)");
    } else {
        eprintln!("web admin: off (set APIKEY_ADMIN_USER and APIKEY_ADMIN_PASSWORD to serve it at /admin/)");
    }
    eprintln!("serving on {base} (Ctrl-C stops)");
    let served = server.run().await;
    // The last uses not yet written (at most about a second's worth).
    if let Err(e) = keys.flush_last_used() {
        eprintln!("last use: could not write the last uses ({e})");
    }
    served
}
