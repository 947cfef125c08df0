//! The web admin (`apikey_actix::admin`, feature `admin`) through actix's
//! test service, on SQLite and PostgreSQL (`sqlite::name`, `postgres::name`):
//! permission, CSRF, escaping, validation, pagination, filters, the key
//! shown once, revocation, read-only revoked keys, a derived model with a
//! column of its own, and the list over 100,000 keys.

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::{self, HeaderMap};
use actix_web::test as atest;
use actix_web::{web, App};
use apikey_actix::admin::{Admin, BasicAuth};
use apikey_actix::FnPermission as Deny;
use apikey_actix::{ApiKeyConfig, HasApiKey};
use apikey_core::scaffold::KeyTable;
use apikey_core::{
    AbstractApiKey, ApiKey, BackendKind, BaseApiKeyManager, DjangoApiKey, KeyFilter, NewKey,
};
use apikey_tests::{backend_tests, block_on as run, TestDb};

/// `admin:s3cret-passphrase` in Basic form.
const AUTH: &str = "Basic YWRtaW46czNjcmV0LXBhc3NwaHJhc2U=";

fn admin_of<M: AbstractApiKey>(keys: &BaseApiKeyManager<M>) -> Admin<M>
where
    M::Extra: apikey_core::FormFields,
{
    Admin::new(keys.clone())
        .permission(BasicAuth::new("admin", "s3cret-passphrase").expect("strong enough"))
}

/// One response, read whole.
#[derive(Debug)]
struct Resp {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Resp {
    fn header(&self, name: header::HeaderName) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }

    /// The CSRF token of the page's forms.
    fn csrf(&self) -> String {
        let marker = "name=\"csrf_token\" value=\"";
        let start = self.body.find(marker).expect("a form with a CSRF token") + marker.len();
        let len = self.body[start..].find('"').expect("end of token");
        self.body[start..start + len].to_owned()
    }

    /// The number of key rows in a list page.
    fn rows(&self) -> usize {
        self.body.matches("<td data-label=\"Prefix\">").count()
    }
}

/// A browser's view of the admin: Basic credentials and the CSRF cookie.
struct Browser<S> {
    svc: S,
    auth: Option<&'static str>,
    cookie: Option<String>,
}

impl<S, B> Browser<S>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    fn new(svc: S) -> Self {
        Browser {
            svc,
            auth: Some(AUTH),
            cookie: None,
        }
    }

    async fn send(&mut self, mut req: atest::TestRequest) -> Resp {
        if let Some(auth) = self.auth {
            req = req.insert_header((header::AUTHORIZATION, auth));
        }
        if let Some(cookie) = &self.cookie {
            req = req.insert_header((header::COOKIE, format!("apikey_admin_csrf={cookie}")));
        }
        let res = atest::call_service(&self.svc, req.to_request()).await;
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        for c in headers.get_all(header::SET_COOKIE) {
            let c = c.to_str().expect("ascii cookie");
            if let Some(v) = c.strip_prefix("apikey_admin_csrf=") {
                self.cookie = Some(v.split(';').next().unwrap_or_default().to_owned());
            }
        }
        let body = atest::read_body(res).await;
        Resp {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    async fn get(&mut self, path: &str) -> Resp {
        self.send(atest::TestRequest::get().uri(path)).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Resp {
        self.send(atest::TestRequest::post().uri(path).set_form(form))
            .await
    }

    /// GETs `page` for its token, then POSTs `form` with it to `path`.
    async fn submit(&mut self, page: &str, path: &str, form: &[(&str, &str)]) -> Resp {
        let token = self.get(page).await.csrf();
        let mut all = form.to_vec();
        all.push(("csrf_token", &token));
        self.post(path, &all).await
    }
}

/// Inserts keys by raw SQL: (prefix, name, created, revoked, expiry).
fn insert_raw(db: &TestDb, table: &str, rows: &[(&str, &str, &str, bool, Option<&str>)]) {
    for (prefix, name, created, revoked, expiry) in rows {
        let expiry = expiry.map_or("NULL".to_owned(), |e| format!("'{e}'"));
        let (created, revoked) = match db.kind {
            BackendKind::Postgres => (format!("'{created}+00'"), revoked.to_string()),
            _ => (
                format!("'{created}.000000'"),
                i32::from(*revoked).to_string(),
            ),
        };
        db.raw_sql(&format!(
            "INSERT INTO {table} (prefix, hashed_key, created, name, revoked, expiry_date) \
             VALUES ('{prefix}', 'sha512$$0', {created}, '{name}', {revoked}, {expiry})"
        ))
        .expect("insert key");
    }
}

fn find(keys: &BaseApiKeyManager<ApiKey>, prefix: &str) -> ApiKey {
    keys.find_by_prefix(prefix)
        .expect("db")
        .expect("key exists")
}

// ---------------------------------------------------------------------------

fn permission_refused(db: &TestDb) {
    let keys = BaseApiKeyManager::<ApiKey>::new(db.database());
    let (row, _) = keys.create_key(NewKey::new("kept")).expect("create");
    let prefix = row.prefix().to_owned();
    run(async {
        let app = atest::init_service(App::new().service(admin_of(&keys).scope("/admin"))).await;
        let mut anon = Browser::new(app);
        anon.auth = None;
        let revoke = format!("/admin/keys/{prefix}/revoke");
        let detail = format!("/admin/keys/{prefix}");
        for path in [
            "/admin",
            "/admin/",
            "/admin/new",
            "/admin/static/admin.css",
            &detail,
            &revoke,
            "/admin/nope",
        ] {
            let res = anon.get(path).await;
            assert_eq!(res.status, 401, "GET {path}");
            assert!(
                res.header(header::WWW_AUTHENTICATE)
                    .starts_with("Basic realm=\"apikey admin\""),
                "{res:?}"
            );
            assert!(!res.body.contains("kept"), "GET {path} leaked the list");
            assert!(res.set_cookies().is_empty(), "no cookie before login");
        }
        for (path, form) in [
            ("/admin/new", vec![("name", "sneaky")]),
            (revoke.as_str(), vec![]),
            (detail.as_str(), vec![("name", "renamed")]),
        ] {
            assert_eq!(anon.post(path, &form).await.status, 401, "POST {path}");
        }
        // Wrong password, wrong scheme, garbage.
        for auth in [
            "Basic YWRtaW46d3Jvbmc=",
            "Api-Key abc.def",
            "Basic !!!",
            "Basic",
        ] {
            anon.auth = Some(auth);
            assert_eq!(anon.get("/admin/").await.status, 401, "{auth}");
            assert_eq!(anon.post(&revoke, &[]).await.status, 401, "{auth}");
        }
    });
    assert_eq!(keys.count(&KeyFilter::default()).expect("count"), 1);
    assert!(!find(&keys, &prefix).revoked, "nothing changed");
    assert_eq!(find(&keys, &prefix).name, "kept");

    // No permission at all: everything 403 (fails closed); a refusing one: 403.
    run(async {
        let app = atest::init_service(
            App::new()
                .service(Admin::new(keys.clone()).scope("/open"))
                .service(
                    Admin::new(keys.clone())
                        .permission(Deny(|_: &actix_web::HttpRequest| false))
                        .scope("/deny"),
                ),
        )
        .await;
        let mut b = Browser::new(app);
        for path in ["/open/", "/open/static/admin.css", "/deny/", "/deny/new"] {
            let res = b.get(path).await;
            assert_eq!(res.status, 403, "{path}");
            assert!(!res.body.contains("kept"));
        }
        assert_eq!(b.post("/deny/new", &[("name", "x")]).await.status, 403);
    });
    assert_eq!(keys.count(&KeyFilter::default()).expect("count"), 1);
}

/// Refusals are `AuthError`s rendered by the admin's `ApiKeyConfig`: its
/// own HTML page, with the security headers; `Admin::config` gives a
/// key-reading permission the application's way of reading keys.
fn refusals_through_the_config(db: &TestDb) {
    let keys = BaseApiKeyManager::<ApiKey>::new(db.database());
    let (_, key) = keys.create_key(NewKey::new("admin key")).expect("create");
    let key = key.expose_secret().to_owned();
    let guarded = || Admin::new(keys.clone()).permission(HasApiKey::<ApiKey>::permission());
    run(async {
        let app = atest::init_service(
            App::new()
                .app_data(web::Data::new(keys.clone()))
                .service(
                    guarded()
                        .config(ApiKeyConfig::default().header("X-Api-Key").realm("keys"))
                        .scope("/admin"),
                )
                .service(guarded().scope("/plain"))
                .service(
                    guarded()
                        .config(ApiKeyConfig::default().drf_compatible(true))
                        .scope("/drf"),
                ),
        )
        .await;
        let mut b = Browser::new(app);
        b.auth = None;
        let res = b.get("/admin/new").await;
        assert_eq!(res.status, 401, "{res:?}");
        assert_eq!(
            res.header(header::WWW_AUTHENTICATE),
            "Api-Key realm=\"keys\""
        );
        assert!(res.header(header::CONTENT_TYPE).starts_with("text/html"));
        assert!(res
            .body
            .contains("Authentication credentials were not provided."));
        assert!(
            !res.body.contains("href=\"/admin"),
            "no links: {}",
            res.body
        );
        assert_eq!(res.header(header::CACHE_CONTROL), "no-store");
        assert!(res
            .header(header::CONTENT_SECURITY_POLICY)
            .starts_with("default-src 'none'"));
        assert_eq!(res.header(header::X_FRAME_OPTIONS), "DENY");
        assert_eq!(res.header(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
        assert_eq!(res.header(header::REFERRER_POLICY), "same-origin");

        let with = |path: &str, name: &str, value: String| {
            atest::TestRequest::get()
                .uri(path)
                .insert_header((name, value))
        };
        let res = b.send(with("/admin/", "X-Api-Key", key.clone())).await;
        assert_eq!(res.status, 200, "the configured header");
        assert!(res.body.contains("admin key"));
        let res = b.send(with("/plain/", "X-Api-Key", key.clone())).await;
        assert_eq!(res.status, 401, "the default config reads Authorization");
        assert_eq!(res.header(header::WWW_AUTHENTICATE), "Api-Key");
        let res = b
            .send(with("/plain/", "Authorization", format!("Api-Key {key}")))
            .await;
        assert_eq!(res.status, 200);
        let res = b.get("/drf/").await;
        assert_eq!(res.status, 403, "DRF-compatible");
        assert!(res.header(header::CONTENT_TYPE).starts_with("text/html"));
    });
}

fn csrf_refused(db: &TestDb) {
    let keys = BaseApiKeyManager::<ApiKey>::new(db.database());
    let (row, _) = keys.create_key(NewKey::new("target")).expect("create");
    let prefix = row.prefix().to_owned();
    let detail = format!("/admin/keys/{prefix}");
    let revoke = format!("{detail}/revoke");
    run(async {
        let app = atest::init_service(App::new().service(admin_of(&keys).scope("/admin"))).await;
        let mut b = Browser::new(app);
        let page = b.get("/admin/new").await;
        assert_eq!(page.status, 200);
        let cookie = page
            .set_cookies()
            .into_iter()
            .find(|c| c.starts_with("apikey_admin_csrf="))
            .expect("csrf cookie");
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        assert!(cookie.contains("Path=/admin"), "{cookie}");
        let token = page.csrf();
        let forged = {
            let mut t = token.clone().into_bytes();
            t[0] = if t[0] == b'a' { b'b' } else { b'a' };
            String::from_utf8(t).expect("utf8")
        };

        for (path, mut form) in [
            ("/admin/new", vec![("name", "csrf victim")]),
            (detail.as_str(), vec![("name", "renamed"), ("expiry", "")]),
            (revoke.as_str(), vec![]),
        ] {
            // Missing token.
            let res = b.post(path, &form).await;
            assert_eq!(res.status, 403, "no token: {path}");
            assert!(res.body.contains("CSRF"), "{}", res.body);
            // Wrong token.
            form.push(("csrf_token", &forged));
            assert_eq!(b.post(path, &form).await.status, 403, "forged: {path}");
            // The right token without the cookie (a cross-site form).
            form.pop();
            form.push(("csrf_token", &token));
            let cookie = b.cookie.take();
            assert_eq!(b.post(path, &form).await.status, 403, "no cookie: {path}");
            // A cookie and field that agree but were not minted here.
            b.cookie = Some("0".repeat(32) + "." + &"0".repeat(64));
            form.pop();
            let fake = "0".repeat(32) + "." + &"0".repeat(64);
            form.push(("csrf_token", &fake));
            assert_eq!(b.post(path, &form).await.status, 403, "unsigned: {path}");
            b.cookie = cookie;
        }
        // With the right token and cookie it works.
        let res = b
            .submit("/admin/new", "/admin/new", &[("name", "legit")])
            .await;
        assert_eq!(res.status, 201, "{}", res.body);
    });
    let all = keys.list(&KeyFilter::default()).expect("list");
    let names: Vec<_> = all.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names.contains(&"legit") && names.contains(&"target"),
        "{names:?}"
    );
    let target = find(&keys, &prefix);
    assert_eq!(target.name, "target");
    assert!(!target.revoked);
}

/// A token is bound to its session: a genuine token from another session
/// (another cookie) is refused; a page keeps a genuine cookie's token and
/// replaces one it did not mint; X-Forwarded-Proto does not make the
/// cookie `Secure`.
fn csrf_tokens_are_per_session(db: &TestDb) {
    let keys = BaseApiKeyManager::<ApiKey>::new(db.database());
    run(async {
        let app = atest::init_service(App::new().service(admin_of(&keys).scope("/admin"))).await;
        let mut b = Browser::new(app);
        let first = b.get("/admin/new").await;
        let a = first.csrf();
        assert_eq!(
            b.cookie.as_deref(),
            Some(a.as_str()),
            "the form repeats the cookie"
        );
        // Another session: no cookie, so a new one.
        b.cookie = None;
        let second = b.get("/admin/new").await;
        let other = second.csrf();
        assert_eq!(b.cookie.as_deref(), Some(other.as_str()));
        assert_ne!(a, other, "each session gets its own token");

        // Both genuine, but not the same session's: refused both ways.
        for (cookie, field) in [(&a, &other), (&other, &a)] {
            b.cookie = Some(cookie.clone());
            let res = b
                .post("/admin/new", &[("name", "crossed"), ("csrf_token", field)])
                .await;
            assert_eq!(res.status, 403, "{}", res.body);
        }

        // A page keeps a genuine cookie (no new Set-Cookie), and its token.
        b.cookie = Some(a.clone());
        let again = b.get("/admin/new").await;
        assert!(again.set_cookies().is_empty(), "{:?}", again.set_cookies());
        assert_eq!(again.csrf(), a);
        // A cookie it did not mint is replaced.
        let fake = "0".repeat(32) + "." + &"0".repeat(64);
        b.cookie = Some(fake.clone());
        let replaced = b.get("/admin/new").await;
        assert_eq!(replaced.set_cookies().len(), 1);
        let new = replaced.csrf();
        assert_ne!(new, fake);
        assert_eq!(b.cookie.as_deref(), Some(new.as_str()));
        let res = b
            .post(
                "/admin/new",
                &[("name", "same session"), ("csrf_token", &new)],
            )
            .await;
        assert_eq!(res.status, 201, "{}", res.body);

        // `Secure` comes from the configuration (or the server's own TLS),
        // never from a client's X-Forwarded-Proto (see tests/hardening.rs).
        for (proto, secure) in [("https", false), ("http", false)] {
            b.cookie = None;
            let res = b
                .send(
                    atest::TestRequest::get()
                        .uri("/admin/new")
                        .insert_header(("x-forwarded-proto", proto)),
                )
                .await;
            let set = res.set_cookies();
            assert_eq!(set.len(), 1, "{set:?}");
            assert_eq!(
                set[0]
                    .split(';')
                    .any(|a| a.trim().eq_ignore_ascii_case("secure")),
                secure,
                "{proto}: {set:?}"
            );
        }
    });
    let names: Vec<String> = keys
        .list(&KeyFilter::default())
        .expect("list")
        .into_iter()
        .map(|k| k.name)
        .collect();
    assert_eq!(names, ["same session"]);
}

/// Prints a CSRF token minted by this process (for
/// `csrf_token_from_another_process_is_refused`, which runs it as a child:
/// ignored on its own).
#[test]
#[ignore = "a helper: csrf_token_from_another_process_is_refused runs it in a child process"]
fn mint_csrf_token_for_another_process() {
    let db = TestDb::sqlite();
    let keys = BaseApiKeyManager::<ApiKey>::new(db.database());
    run(async {
        let app = atest::init_service(App::new().service(admin_of(&keys).scope("/admin"))).await;
        let token = Browser::new(app).get("/admin/new").await.csrf();
        println!("CSRF-TOKEN={token}");
    });
}

/// A token minted by another process (the same admin before a restart, or
/// another server) is refused and replaced: each process signs with its own
/// secret.
#[test]
fn csrf_token_from_another_process_is_refused() {
    let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--ignored",
            "--exact",
            "mint_csrf_token_for_another_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .output()
        .expect("run the helper");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let theirs = stdout
        .lines()
        .find_map(|l| l.split_once("CSRF-TOKEN=").map(|(_, t)| t.trim()))
        .unwrap_or_else(|| panic!("no token printed: {stdout}"))
        .to_owned();
    assert!(
        theirs.len() > 64 && theirs.bytes().all(|b| b.is_ascii_hexdigit() || b == b'.'),
        "{theirs}"
    );

    let db = TestDb::sqlite();
    let keys = BaseApiKeyManager::<ApiKey>::new(db.database());
    run(async {
        let app = atest::init_service(App::new().service(admin_of(&keys).scope("/admin"))).await;
        let mut b = Browser::new(app);
        let ours = b.get("/admin/new").await.csrf();
        assert_ne!(ours, theirs);
        b.cookie = Some(theirs.clone());
        let res = b
            .post("/admin/new", &[("name", "stale"), ("csrf_token", &theirs)])
            .await;
        assert_eq!(res.status, 403, "{}", res.body);
        // The next page replaces it with one of ours, which works.
        b.cookie = Some(theirs.clone());
        let page = b.get("/admin/new").await;
        assert_eq!(page.set_cookies().len(), 1);
        assert_ne!(page.csrf(), theirs);
        let res = b
            .submit("/admin/new", "/admin/new", &[("name", "fresh")])
            .await;
        assert_eq!(res.status, 201, "{}", res.body);
    });
    let names: Vec<String> = keys
        .list(&KeyFilter::default())
        .expect("list")
        .into_iter()
        .map(|k| k.name)
        .collect();
    assert_eq!(names, ["fresh"]);
}

/// Basic auth as browsers send it: the password may hold `:` (the user
/// ends at the first one); both halves must match; repeated headers, other
/// schemes and broken encodings are refused; the realm cannot break out of
/// its quotes; `from_env` wants both variables.
#[test]
fn basic_auth_edge_cases() {
    use base64::Engine as _;
    let basic = |creds: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(creds)
        )
    };
    run(async {
        let guard = BasicAuth::new("admin", "pass:word:12345")
            .expect("strong enough")
            .throttle(no_backoff())
            .realm("keys \"r\\s\"");
        let app = atest::init_service(
            App::new().service(
                web::scope("/s")
                    .wrap(apikey_actix::RequirePermission::new(guard))
                    .route("", web::get().to(actix_web::HttpResponse::Ok)),
            ),
        )
        .await;
        let cases: Vec<(Vec<String>, u16)> = vec![
            (vec![basic("admin:pass:word:12345")], 200),
            (
                vec![basic("admin:pass:word:12345").replacen("Basic", "bAsIc", 1)],
                200,
            ),
            (vec![basic("admin:pass")], 401),
            (vec![basic("admin:pass:word:1234")], 401),
            (vec![basic("admin:pass:word:12345:")], 401),
            (vec![basic("admin:")], 401),
            (vec![basic("admin")], 401),
            (vec![basic("admi:pass:word:12345")], 401),
            (vec![basic("other:pass:word:12345")], 401),
            (
                vec![
                    basic("admin:pass:word:12345"),
                    basic("admin:pass:word:12345"),
                ],
                401,
            ),
            (
                vec![basic("admin:pass:word:12345").replacen("Basic", "Bearer", 1)],
                401,
            ),
            (vec!["Basic !!!".to_owned()], 401),
            (vec!["Basic".to_owned()], 401),
            (vec![], 401),
        ];
        for (i, (headers, want)) in cases.iter().enumerate() {
            let mut req = atest::TestRequest::get().uri("/s");
            for h in headers {
                req = req.append_header((header::AUTHORIZATION, h.as_str()));
            }
            let res = atest::call_service(&app, req.to_request()).await;
            assert_eq!(res.status().as_u16(), *want, "case {i}: {headers:?}");
            if *want == 401 {
                assert_eq!(
                    res.headers()
                        .get(header::WWW_AUTHENTICATE)
                        .and_then(|v| v.to_str().ok()),
                    Some("Basic realm=\"keys rs\", charset=\"UTF-8\""),
                    "case {i}"
                );
            }
        }
    });
    // The encoded credentials may be 4096 characters long, not one more
    // (4 characters per 3 bytes: "admin:" and 3066 bytes make 4096).
    run(async {
        let long = "p".repeat(3066);
        let longer = "p".repeat(3069);
        let app = atest::init_service(
            App::new()
                .service(
                    web::scope("/long")
                        .wrap(apikey_actix::RequirePermission::new(
                            BasicAuth::new("admin", &long).expect("long"),
                        ))
                        .route("", web::get().to(actix_web::HttpResponse::Ok)),
                )
                .service(
                    web::scope("/longer")
                        .wrap(apikey_actix::RequirePermission::new(
                            BasicAuth::new("admin", &longer)
                                .expect("longer")
                                .throttle(no_backoff()),
                        ))
                        .route("", web::get().to(actix_web::HttpResponse::Ok)),
                ),
        )
        .await;
        for (path, creds, want) in [
            ("/long", format!("admin:{long}"), 200),
            ("/longer", format!("admin:{longer}"), 401),
        ] {
            let header_value = basic(&creds);
            assert_eq!(
                header_value.len() - "Basic ".len(),
                if want == 200 { 4096 } else { 4100 }
            );
            let req = atest::TestRequest::get()
                .uri(path)
                .insert_header((header::AUTHORIZATION, header_value))
                .to_request();
            assert_eq!(
                atest::call_service(&app, req).await.status().as_u16(),
                want,
                "{path}"
            );
        }
    });

    // Its Debug output shows the realm, never the credentials.
    let shown = format!(
        "{:?}",
        BasicAuth::new("someuser", "somepassword")
            .expect("12 characters")
            .realm("r1")
    );
    assert!(
        shown.starts_with("BasicAuth") && shown.contains("\"r1\""),
        "{shown}"
    );
    assert!(
        !shown.contains("someuser") && !shown.contains("somepassword"),
        "{shown}"
    );

    let (user, password) = ("APIKEY_T16_BASIC_USER", "APIKEY_T16_BASIC_PASSWORD");
    std::env::remove_var(user);
    std::env::remove_var(password);
    let unset = |what: &str| {
        let got = BasicAuth::from_env(user, password).expect("not weak");
        assert!(got.is_none(), "{what}");
    };
    unset("neither set");
    std::env::set_var(user, "admin");
    unset("no password");
    std::env::set_var(password, "");
    unset("an empty password");
    std::env::set_var(password, "pw");
    assert!(BasicAuth::from_env(user, password).is_err(), "too short");
    std::env::set_var(password, "pw-long-enough");
    let from_env = BasicAuth::from_env(user, password)
        .expect("strong enough")
        .expect("both set");
    run(async {
        let app = atest::init_service(
            App::new().service(
                web::scope("/s")
                    .wrap(apikey_actix::RequirePermission::new(from_env))
                    .route("", web::get().to(actix_web::HttpResponse::Ok)),
            ),
        )
        .await;
        for (creds, want) in [("admin:pw-long-enough", 200), ("admin:pw-long-enoug", 401)] {
            let req = atest::TestRequest::get()
                .uri("/s")
                .insert_header((header::AUTHORIZATION, basic(creds)))
                .to_request();
            assert_eq!(atest::call_service(&app, req).await.status().as_u16(), want);
        }
    });
}

fn no_backoff() -> apikey_actix::admin::Throttle {
    apikey_actix::admin::Throttle::default()
        .free_failures_per_address(10_000)
        .free_failures_global(10_000)
}

fn user_text_is_escaped(db: &TestDb) {
    let keys = BaseApiKeyManager::<ApiKey>::new(db.database());
    let evil = "<script>alert(1)</script>";
    let (row, _) = keys.create_key(NewKey::new(evil)).expect("create");
    run(async {
        let app = atest::init_service(App::new().service(admin_of(&keys).scope("/admin"))).await;
        let mut b = Browser::new(app);
        let escaped = "&lt;script&gt;alert(1)&lt;/script&gt;";
        for path in [
            "/admin/".to_owned(),
            format!("/admin/keys/{}", row.prefix()),
            format!("/admin/keys/{}/revoke", row.prefix()),
        ] {
            let res = b.get(&path).await;
            assert_eq!(res.status, 200, "{path}");
            assert!(!res.body.contains("<script"), "{path}: {}", res.body);
            assert!(res.body.contains(escaped), "{path}: {}", res.body);
            assert!(res
                .header(header::CONTENT_SECURITY_POLICY)
                .contains("default-src 'none'"));
        }
        // Through the create form too, and in reflected search text.
        let res = b
            .submit(
                "/admin/new",
                "/admin/new",
                &[("name", "\"><img src=x onerror=alert(2)>")],
            )
            .await;
        assert_eq!(res.status, 201);
        assert!(!res.body.contains("<img"), "{}", res.body);
        assert!(res.body.contains("&quot;&gt;&lt;img"), "{}", res.body);
        let res = b.get("/admin/?q=%3Cb%3Ebold%3C%2Fb%3E").await;
        assert!(!res.body.contains("<b>bold"), "{}", res.body);
        assert!(res.body.contains("&lt;b&gt;bold"));
    });
}

/// The value of the `<input name="{name}" ... value="...">` in a page, as a
/// browser reads it (entities decoded); `None` when the attribute is broken.
fn input_value(body: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body.find(&marker)? + marker.len();
    let raw = &body[start..start + body[start..].find('"')?];
    let mut out = raw.to_owned();
    for (entity, ch) in [
        ("&quot;", "\""),
        ("&#34;", "\""),
        ("&#39;", "'"),
        ("&#x27;", "'"),
        ("&lt;", "<"),
        ("&gt;", ">"),
        ("&#60;", "<"),
        ("&#62;", ">"),
    ] {
        out = out.replace(entity, ch);
    }
    Some(out.replace("&amp;", "&").replace("&#38;", "&"))
}

/// Quotes and markup in a key's name survive the edit form's `value="..."`
/// as text; so do reflected query parameters in the list's filter inputs.
fn quotes_in_form_values_are_escaped(db: &TestDb) {
    let keys = BaseApiKeyManager::<ApiKey>::new(db.database());
    let tricky = "Tom's \"key\" <b>&amp;";
    let (row, _) = keys.create_key(NewKey::new(tricky)).expect("create");
    run(async {
        let app = atest::init_service(App::new().service(admin_of(&keys).scope("/admin"))).await;
        let mut b = Browser::new(app);
        let detail = b.get(&format!("/admin/keys/{}", row.prefix())).await;
        assert_eq!(detail.status, 200);
        assert!(!detail.body.contains("\"key\""), "{}", detail.body);
        assert_eq!(input_value(&detail.body, "name").as_deref(), Some(tricky));

        let attack = "\" autofocus onfocus=\"alert(1)";
        for (param, reflected) in [
            ("q", attack),
            ("created_from", "\"><script>x</script>"),
            ("created_to", "'><i>"),
        ] {
            let encoded: String = reflected.bytes().map(|c| format!("%{c:02X}")).collect();
            let res = b.get(&format!("/admin/?{param}={encoded}")).await;
            assert_eq!(res.status, 200, "{param}");
            assert!(!res.body.contains(reflected), "{param}: {}", res.body);
            assert!(!res.body.contains("<script>x"), "{param}");
            assert!(!res.body.contains("onfocus=\"alert"), "{param}");
            // The search is shown back as typed; a date that is not one is
            // dropped from its input (and named in the error, escaped).
            let shown = if param == "q" { reflected } else { "" };
            assert_eq!(
                input_value(&res.body, param).as_deref(),
                Some(shown),
                "{param}"
            );
        }
    });
}

/// Every admin answer carries the security headers: pages, forms, the
/// stylesheet, a missing page, a refused form.
fn security_headers_on_every_answer(db: &TestDb) {
    let keys = BaseApiKeyManager::<ApiKey>::new(db.database());
    let (row, _) = keys.create_key(NewKey::new("headers")).expect("create");
    run(async {
        let app = atest::init_service(App::new().service(admin_of(&keys).scope("/admin"))).await;
        let mut b = Browser::new(app);
        let detail = format!("/admin/keys/{}", row.prefix());
        let mut answers = Vec::new();
        for path in [
            "/admin/",
            "/admin/new",
            detail.as_str(),
            &format!("{detail}/revoke"),
            "/admin/static/admin.css",
            "/admin/keys/nothere",
            "/admin/?created_from=garbage",
        ] {
            answers.push((path.to_owned(), b.get(path).await));
        }
        answers.push((
            "POST without a token".to_owned(),
            b.post("/admin/new", &[("name", "x")]).await,
        ));
        let statuses: Vec<u16> = answers.iter().map(|(_, r)| r.status).collect();
        assert_eq!(statuses, [200, 200, 200, 200, 200, 404, 200, 403]);
        for (what, res) in answers {
            assert_eq!(res.header(header::CACHE_CONTROL), "no-store", "{what}");
            assert!(
                res.header(header::CONTENT_SECURITY_POLICY)
                    .starts_with("default-src 'none'"),
                "{what}"
            );
            assert_eq!(res.header(header::X_FRAME_OPTIONS), "DENY", "{what}");
            assert_eq!(
                res.header(header::X_CONTENT_TYPE_OPTIONS),
                "nosniff",
                "{what}"
            );
            assert_eq!(res.header(header::REFERRER_POLICY), "same-origin", "{what}");
        }
    });
}

fn bad_input_is_shown_back_and_changes_nothing(db: &TestDb) {
    let keys = BaseApiKeyManager::<ApiKey>::new(db.database());
    let (row, _) = keys.create_key(NewKey::new("original")).expect("create");
    let detail = format!("/admin/keys/{}", row.prefix());
    run(async {
        let app = atest::init_service(App::new().service(admin_of(&keys).scope("/admin"))).await;
        let mut b = Browser::new(app);
        let res = b
            .submit("/admin/new", "/admin/new", &[("name", "  ")])
            .await;
        assert_eq!(res.status, 400);
        assert!(res.body.contains("a name is required"), "{}", res.body);
        assert!(res.body.contains("nothing was changed"), "{}", res.body);

        let long = "n".repeat(51);
        let res = b
            .submit(
                "/admin/new",
                "/admin/new",
                &[("name", &long), ("expiry", "tomorrow")],
            )
            .await;
        assert_eq!(res.status, 400);
        assert!(res.body.contains("at most 50 characters"), "{}", res.body);
        assert!(
            res.body.contains("“tomorrow” is not a date and time"),
            "{}",
            res.body
        );
        assert!(
            res.body.contains(&format!("value=\"{long}\"")),
            "input kept"
        );
        assert!(res.body.contains("value=\"tomorrow\""), "input kept");

        // Names that read differently from what they are; expiry past 9999.
        for (name, expiry) in [
            ("evil\u{202E}txt", ""),
            ("zero\u{200B}", ""),
            ("far", "10000-01-01"),
        ] {
            let form = [("name", name), ("expiry", expiry)];
            let res = b.submit("/admin/new", "/admin/new", &form).await;
            assert_eq!(res.status, 400, "{name:?} {expiry:?}");
            assert!(
                res.body.contains("invisible") || res.body.contains("is not a date"),
                "{}",
                res.body
            );
        }
        let res = b
            .submit(&detail, &detail, &[("name", "x\u{2067}y"), ("expiry", "")])
            .await;
        assert_eq!(res.status, 400);
        assert_eq!(keys.count(&Default::default()).expect("count"), 1);

        let res = b
            .submit(&detail, &detail, &[("name", ""), ("expiry", "")])
            .await;
        assert_eq!(res.status, 400);
        assert!(res.body.contains("a name is required"));
        let res = b
            .submit(
                &detail,
                &detail,
                &[("name", "new name"), ("expiry", "2030-13-01")],
            )
            .await;
        assert_eq!(res.status, 400);
        assert!(res.body.contains("is not a date and time"), "{}", res.body);

        // Too large a form: refused before anything is read.
        let token = b.get("/admin/new").await.csrf();
        let big = "x".repeat(20 * 1024);
        let res = b
            .post(
                "/admin/new",
                &[("name", "big"), ("csrf_token", &token), ("pad", &big)],
            )
            .await;
        assert_eq!(res.status, 413, "{}", res.body);
        // Not a form at all.
        let res = b
            .send(
                atest::TestRequest::post()
                    .uri("/admin/new")
                    .insert_header((header::CONTENT_TYPE, "application/json"))
                    .set_payload("{\"name\":\"json\"}"),
            )
            .await;
        assert_eq!(res.status, 415);

        // Bad filters: a message, the rest of the list still shown.
        let res = b
            .get("/admin/?created_from=yesterday&revoked=maybe&page=zero")
            .await;
        assert_eq!(res.status, 200);
        assert!(
            res.body.contains("“yesterday” is not a date"),
            "{}",
            res.body
        );
        assert!(res.body.contains("revoked: choose All, Yes or No"));
        assert!(res.body.contains("“zero” is not a page number"));
        assert_eq!(res.rows(), 1);
        // Unknown key: 404.
        assert_eq!(b.get("/admin/keys/NOSUCHKY").await.status, 404);
        assert_eq!(b.get("/admin/keys/NOSUCHKY/revoke").await.status, 404);
    });
    assert_eq!(keys.count(&KeyFilter::default()).expect("count"), 1);
    let kept = find(&keys, row.prefix());
    assert_eq!(kept.name, "original");
    assert_eq!(kept.expiry_date, None);
}

fn pagination_newest_first(db: &TestDb) {
    let database = db.database();
    let keys = BaseApiKeyManager::<ApiKey>::new(database);
    let rows: Vec<(String, String, String)> = (0..120)
        .map(|i| {
            (
                format!("pg{i:06}"),
                format!("key number {i}"),
                format!("2026-01-01 00:{:02}:{:02}", i / 60, i % 60),
            )
        })
        .collect();
    let refs: Vec<_> = rows
        .iter()
        .map(|(p, n, c)| (p.as_str(), n.as_str(), c.as_str(), false, None))
        .collect();
    insert_raw(db, "api_keys", &refs);
    run(async {
        let app = atest::init_service(App::new().service(admin_of(&keys).scope("/admin"))).await;
        let mut b = Browser::new(app);
        let first = b.get("/admin/").await;
        assert_eq!(first.rows(), 50);
        assert!(
            first.body.contains("1–50 of 120 API keys"),
            "{}",
            first.body
        );
        assert!(first.body.contains("Page 1 of 3"));
        // Newest first: key 119 leads, key 70 ends the page.
        let at = |s: &str| first.body.find(s).unwrap_or(usize::MAX);
        assert!(at(">pg000119<") < at(">pg000118<"));
        assert!(first.body.contains(">pg000070<") && !first.body.contains(">pg000069<"));
        assert!(
            first.body.contains("href=\"/admin/?page=2\""),
            "{}",
            first.body
        );

        let last = b.get("/admin/?page=3").await;
        assert_eq!(last.rows(), 20);
        assert!(last.body.contains("101–120 of 120"));
        assert!(last.body.contains(">pg000000<"));
        // Past the end: the last page.
        let past = b.get("/admin/?page=99").await;
        assert!(past.body.contains("Page 3 of 3"));
        let searched = b.get("/admin/?q=number+1&revoked=no").await;
        assert!(
            searched.body.contains("1–31 of 31 API keys"),
            "{}",
            searched.body
        );
        // Page size is a setting.
        let small =
            atest::init_service(App::new().service(admin_of(&keys).page_size(7).scope("/small")))
                .await;
        let mut s = Browser::new(small);
        let res = s.get("/small/?page=2").await;
        assert_eq!(res.rows(), 7);
        assert!(res.body.contains("8–14 of 120"));
        // Filters stay in the page links.
        let res = s.get("/small/?q=number+1&revoked=no&page=2").await;
        assert!(res.body.contains("8–14 of 31"), "{}", res.body);
        assert!(
            res.body
                .contains("href=\"/small/?q=number+1&amp;revoked=no&amp;page=3\" rel=\"next\""),
            "{}",
            res.body
        );
    });
}

/// The names of the keys a list page shows, sorted.
async fn names<S, B>(b: &mut Browser<S>, path: &str) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let res = b.get(path).await;
    assert_eq!(res.status, 200, "{path}");
    let mut found: Vec<&str> = ["alpha", "beta", "gamma", "delta"]
        .into_iter()
        .filter(|n| res.body.contains(&format!("class=\"name\">{n}")))
        .collect();
    found.sort_unstable();
    found.join(",")
}

fn filters(db: &TestDb) {
    let keys = BaseApiKeyManager::<ApiKey>::new(db.database());
    insert_raw(
        db,
        "api_keys",
        &[
            ("alpha001", "alpha", "2026-03-01 10:00:00", true, None),
            (
                "beta0002",
                "beta",
                "2026-03-02 10:00:00",
                false,
                Some("2026-03-03 00:00:00"),
            ),
            ("gamma003", "gamma", "2020-06-01 10:00:00", false, None),
            (
                "delta004",
                "delta 100%_off",
                "2026-03-04 10:00:00",
                false,
                Some("2999-01-01 00:00:00"),
            ),
        ],
    );
    run(async {
        let app = atest::init_service(App::new().service(admin_of(&keys).scope("/admin"))).await;
        let mut b = Browser::new(app);
        assert_eq!(names(&mut b, "/admin/").await, "alpha,beta,delta,gamma");
        assert_eq!(names(&mut b, "/admin/?revoked=yes").await, "alpha");
        assert_eq!(
            names(&mut b, "/admin/?revoked=no").await,
            "beta,delta,gamma"
        );
        assert_eq!(names(&mut b, "/admin/?expired=yes").await, "beta");
        assert_eq!(
            names(&mut b, "/admin/?expired=no").await,
            "alpha,delta,gamma"
        );
        assert_eq!(names(&mut b, "/admin/?q=ALP").await, "alpha");
        assert_eq!(
            names(&mut b, "/admin/?q=gamma00").await,
            "gamma",
            "by prefix"
        );
        assert_eq!(
            names(&mut b, "/admin/?q=100%25_").await,
            "delta",
            "% and _ are literal"
        );
        assert_eq!(names(&mut b, "/admin/?q=%25").await, "delta");
        assert_eq!(
            names(&mut b, "/admin/?created_to=2020-06-01").await,
            "gamma",
            "inclusive end"
        );
        assert_eq!(
            names(&mut b, "/admin/?created_from=2026-03-02").await,
            "beta,delta"
        );
        assert_eq!(
            names(
                &mut b,
                "/admin/?created_from=2026-01-01&created_to=2026-03-02&revoked=no"
            )
            .await,
            "beta"
        );
        let none = b.get("/admin/?q=zzz").await;
        assert!(
            none.body.contains("No API keys match these filters."),
            "{}",
            none.body
        );
        // The form shows the filters in force.
        let res = b.get("/admin/?revoked=yes&q=al").await;
        assert!(
            res.body.contains("<option value=\"yes\" selected>"),
            "{}",
            res.body
        );
        assert!(res.body.contains("value=\"al\""));

        // Last use: a column, and the "Used" filter (not used for N days:
        // last used before, or never used and created before).
        let yesterday = (chrono::Utc::now() - chrono::Duration::days(1))
            .format("%Y-%m-%d %H:%M:%S")
            .to_string();
        db.raw_sql(&format!(
            "UPDATE api_keys SET last_used_at = '2026-03-02 12:00:00' WHERE prefix = 'beta0002';
             UPDATE api_keys SET last_used_at = '{yesterday}' WHERE prefix = 'gamma003'"
        ))
        .expect("last used");
        let res = b.get("/admin/").await;
        assert!(
            res.body.contains("<th>Last used (UTC)</th>"),
            "{}",
            res.body
        );
        assert!(res.body.contains("2026-03-02 12:00"), "{}", res.body);
        assert!(res.body.contains("<span class=\"muted\">never</span></td>"));
        assert_eq!(
            names(&mut b, "/admin/?unused=90").await,
            "alpha,beta,delta",
            "gamma was used yesterday"
        );
        assert_eq!(
            names(&mut b, "/admin/?unused=90&revoked=no").await,
            "beta,delta"
        );
        assert_eq!(names(&mut b, "/admin/?unused=7").await, "alpha,beta,delta");
        let res = b.get("/admin/?unused=90").await;
        assert!(
            res.body.contains("<option value=\"90\" selected>"),
            "{}",
            res.body
        );
        for bad in ["abc", "0", "-5", "99999999999999999999"] {
            let res = b.get(&format!("/admin/?unused={bad}")).await;
            assert_eq!(res.status, 200);
            assert!(
                res.body.contains("used: choose one of the listed periods"),
                "{bad}"
            );
            assert_eq!(
                names(&mut b, &format!("/admin/?unused={bad}")).await,
                "alpha,beta,delta,gamma",
                "a bad filter filters nothing"
            );
        }
        let detail = b.get("/admin/keys/gamma003").await;
        assert!(
            detail.body.contains("<dt>Last used (UTC)</dt>"),
            "{}",
            detail.body
        );
        let detail = b.get("/admin/keys/alpha001").await;
        assert!(
            detail
                .body
                .contains("<dt>Last used (UTC)</dt><dd>never</dd>"),
            "{}",
            detail.body
        );
    });
}

/// The created page: the whole key, once, never in a cookie or a URL.
fn create_shows_the_key_once(db: &TestDb) {
    let keys = BaseApiKeyManager::<ApiKey>::new(db.database());
    run(async {
        let app = atest::init_service(App::new().service(admin_of(&keys).scope("/admin"))).await;
        let mut b = Browser::new(app);
        let res = b
            .submit(
                "/admin/new",
                "/admin/new",
                &[("name", "billing"), ("expiry", "2031-05-06T07:08")],
            )
            .await;
        assert_eq!(res.status, 201, "{}", res.body);
        assert_eq!(res.header(header::CACHE_CONTROL), "no-store");
        assert!(res.header(header::LOCATION).is_empty(), "no redirect");
        assert!(res.body.contains("It will not be shown again"));
        // The key is in the page, as a readonly input's value.
        let marker = "id=\"key\" class=\"mono\" type=\"text\" value=\"";
        let start = res.body.find(marker).expect("key shown") + marker.len();
        let key = &res.body[start..start + 41];
        assert_eq!(key.as_bytes()[8], b'.', "{key}");
        assert!(keys.is_valid(key).expect("is_valid"), "the shown key works");
        let secret = &key[9..];
        for cookie in res.set_cookies() {
            assert!(!cookie.contains(secret), "key in a cookie: {cookie}");
        }
        assert!(b.cookie.as_deref().is_some_and(|c| !c.contains(secret)));
        let row = find(&keys, &key[..8]);
        assert_eq!(row.name, "billing");
        assert_eq!(
            row.expiry_date.map(|t| t.to_string()).as_deref(),
            Some("2031-05-06 07:08:00")
        );
        // Never again: not on the list, the detail or the revoke page.
        for path in [
            "/admin/".to_owned(),
            format!("/admin/keys/{}", &key[..8]),
            format!("/admin/keys/{}/revoke", &key[..8]),
        ] {
            let page = b.get(&path).await;
            assert_eq!(page.status, 200);
            assert!(page.body.contains(&key[..8]));
            assert!(!page.body.contains(secret), "{path} shows the secret");
            assert_eq!(page.header(header::CACHE_CONTROL), "no-store");
        }
    });
}

fn edit_then_revoke_then_read_only(db: &TestDb) {
    let keys = BaseApiKeyManager::<ApiKey>::new(db.database());
    let (row, key) = keys.create_key(NewKey::new("to edit")).expect("create");
    let prefix = row.prefix().to_owned();
    let detail = format!("/admin/keys/{prefix}");
    let revoke = format!("{detail}/revoke");
    run(async {
        let app = atest::init_service(App::new().service(admin_of(&keys).scope("/admin"))).await;
        let mut b = Browser::new(app);
        let res = b
            .submit(
                &detail,
                &detail,
                &[("name", "edited"), ("expiry", "2032-01-02 03:04:05")],
            )
            .await;
        assert_eq!(res.status, 303, "{}", res.body);
        assert_eq!(res.header(header::LOCATION), format!("{detail}?done=saved"));
        let page = b.get(&format!("{detail}?done=saved")).await;
        assert!(page.body.contains("Saved."));
        assert!(
            page.body.contains("value=\"2032-01-02T03:04:05\""),
            "{}",
            page.body
        );
        assert_eq!(find(&keys, &prefix).name, "edited");
        // Clearing the expiry.
        let res = b
            .submit(&detail, &detail, &[("name", "edited"), ("expiry", "")])
            .await;
        assert_eq!(res.status, 303);
        assert_eq!(find(&keys, &prefix).expiry_date, None);

        // Revoke: a confirmation page first; GET changes nothing.
        let confirm = b.get(&revoke).await;
        assert_eq!(confirm.status, 200);
        assert!(confirm.body.contains("This cannot be undone."));
        assert!(!find(&keys, &prefix).revoked);
        let res = b.submit(&revoke, &revoke, &[]).await;
        assert_eq!(res.status, 303);
        assert_eq!(
            res.header(header::LOCATION),
            format!("{detail}?done=revoked")
        );
        assert!(find(&keys, &prefix).revoked);
        assert!(!keys.is_valid(key.expose_secret()).expect("is_valid"));

        // Read-only now: no edit form, no revoke link, and a POST is refused.
        let page = b.get(&detail).await;
        assert!(page.body.contains("read-only"), "{}", page.body);
        assert!(!page.body.contains("name=\"name\""), "no edit form");
        assert!(!page.body.contains("method=\"post\""), "no form at all");
        let token = b.get("/admin/new").await.csrf();
        let res = b
            .post(
                &detail,
                &[
                    ("name", "after revoke"),
                    ("expiry", ""),
                    ("csrf_token", &token),
                ],
            )
            .await;
        assert_eq!(res.status, 409, "{}", res.body);
        assert!(res.body.contains("revoked: it is read-only"));
        // The confirmation page of a revoked key sends back to the key.
        assert_eq!(b.get(&revoke).await.status, 303);
    });
    let row = find(&keys, &prefix);
    assert_eq!(row.name, "edited");
    assert!(row.revoked);
}

fn edit_limits(db: &TestDb) {
    let keys = BaseApiKeyManager::<ApiKey>::new(db.database());
    let (row, _) = keys
        .create_key(
            NewKey::new("limited")
                .rate_limit(Some("10/s".parse().expect("valid")))
                .uses(Some(7)),
        )
        .expect("create");
    let prefix = row.prefix().to_owned();
    let detail = format!("/admin/keys/{prefix}");
    run(async {
        let app = atest::init_service(App::new().service(admin_of(&keys).scope("/admin"))).await;
        let mut b = Browser::new(app);
        let page = b.get(&detail).await;
        assert!(page.body.contains("Rate limit"), "{}", page.body);
        assert_eq!(
            input_value(&page.body, "rate_limit").as_deref(),
            Some("10/s")
        );
        assert_eq!(
            input_value(&page.body, "remaining_uses").as_deref(),
            Some("7")
        );
        // Bad values: 400, shown back, nothing changed.
        for (rate, uses) in [("10/fortnight", "7"), ("10/s", "-1"), ("10/s", "1e99")] {
            let res = b
                .submit(
                    &detail,
                    &detail,
                    &[
                        ("name", "limited"),
                        ("expiry", ""),
                        ("rate_limit", rate),
                        ("remaining_uses", uses),
                    ],
                )
                .await;
            assert_eq!(res.status, 400, "{rate} {uses}: {}", res.body);
            let kept = find(&keys, &prefix);
            assert_eq!(
                (kept.rate_limit.as_deref(), kept.remaining_uses),
                (Some("10/s"), Some(7))
            );
        }
        let res = b
            .submit(
                &detail,
                &detail,
                &[
                    ("name", "limited"),
                    ("expiry", ""),
                    ("rate_limit", "600/minute"),
                    ("remaining_uses", "100"),
                ],
            )
            .await;
        assert_eq!(res.status, 303, "{}", res.body);
        let saved = find(&keys, &prefix);
        assert_eq!(
            (saved.rate_limit.as_deref(), saved.remaining_uses),
            (Some("600/min"), Some(100))
        );
        let page = b.get(&detail).await;
        assert!(page.body.contains("600/min"), "{}", page.body);
        // Empty: the default limit, unlimited uses.
        let res = b
            .submit(
                &detail,
                &detail,
                &[
                    ("name", "limited"),
                    ("expiry", ""),
                    ("rate_limit", ""),
                    ("remaining_uses", ""),
                ],
            )
            .await;
        assert_eq!(res.status, 303, "{}", res.body);
        let saved = find(&keys, &prefix);
        assert_eq!((saved.rate_limit, saved.remaining_uses), (None, None));
        // A refill: set, shown, refused when malformed.
        let res = b
            .submit(
                &detail,
                &detail,
                &[
                    ("name", "limited"),
                    ("expiry", ""),
                    ("remaining_uses", "5"),
                    ("uses_refill", "1000/week"),
                ],
            )
            .await;
        assert_eq!(res.status, 400, "{}", res.body);
        let res = b
            .submit(
                &detail,
                &detail,
                &[
                    ("name", "limited"),
                    ("expiry", ""),
                    ("remaining_uses", "5"),
                    ("uses_refill", "1000/day"),
                ],
            )
            .await;
        assert_eq!(res.status, 303, "{}", res.body);
        let saved = find(&keys, &prefix);
        assert_eq!(
            (saved.remaining_uses, saved.uses_refill.as_deref()),
            (Some(5), Some("1000/day"))
        );
        assert!(b.get(&detail).await.body.contains("1000/day"));
        let page = b.get(&detail).await;
        assert!(page.body.contains("unlimited"), "{}", page.body);
    });
}

/// The key shown once on a created or rotated page.
fn shown_key(res: &Resp) -> String {
    let marker = "id=\"key\" class=\"mono\" type=\"text\" value=\"";
    let start = res.body.find(marker).expect("key shown") + marker.len();
    let len = res.body[start..].find('"').expect("end of the key");
    res.body[start..start + len].to_owned()
}

fn rotate_shows_the_new_key_once(db: &TestDb) {
    let keys = BaseApiKeyManager::<ApiKey>::new(db.database());
    let (row, old_key) = keys.create_key(NewKey::new("rotating")).expect("create");
    let old = row.prefix().to_owned();
    let detail = format!("/admin/keys/{old}");
    let rotate = format!("{detail}/rotate");
    run(async {
        let app = atest::init_service(App::new().service(admin_of(&keys).scope("/admin"))).await;
        let mut b = Browser::new(app);
        let page = b.get(&detail).await;
        assert!(
            page.body.contains(&format!("href=\"{rotate}\"")),
            "{}",
            page.body
        );
        assert!(page.body.contains("<dt>Scopes</dt>"), "{}", page.body);
        // The confirmation page changes nothing.
        let confirm = b.get(&rotate).await;
        assert_eq!(confirm.status, 200);
        assert!(confirm.body.contains("name=\"grace\""), "{}", confirm.body);
        assert_eq!(keys.count(&KeyFilter::default()).expect("count"), 1);
        // No CSRF token: refused, nothing made.
        assert_eq!(b.post(&rotate, &[("grace", "0")]).await.status, 403);
        // A grace that is not offered: refused, nothing made.
        for bad in ["abc", "-1", "99999999999", ""] {
            let res = b.submit(&rotate, &rotate, &[("grace", bad)]).await;
            assert_eq!(res.status, 400, "{bad:?}: {}", res.body);
            assert!(res.body.contains("nothing was changed"), "{}", res.body);
        }
        assert_eq!(keys.count(&KeyFilter::default()).expect("count"), 1);

        // 24 hours of grace: the new key is shown once, both work.
        let res = b.submit(&rotate, &rotate, &[("grace", "86400")]).await;
        assert_eq!(res.status, 201, "{}", res.body);
        assert_eq!(res.header(header::CACHE_CONTROL), "no-store");
        assert!(res.body.contains("It will not be shown again"));
        assert!(res.body.contains("works until"), "{}", res.body);
        let new_key = shown_key(&res);
        let new = new_key.split_once('.').expect("dot").0.to_owned();
        assert!(keys.is_valid(&new_key).expect("is_valid"));
        assert!(keys.is_valid(old_key.expose_secret()).expect("is_valid"));
        let old_row = find(&keys, &old);
        let left = old_row.expiry_date.expect("an end") - apikey_core::now();
        assert!(
            left > chrono::Duration::hours(23) && left <= chrono::Duration::hours(24),
            "{left}"
        );
        let new_row = find(&keys, &new);
        assert_eq!(new_row.name, "rotating");
        assert_eq!(new_row.rotated_from.as_deref(), Some(old.as_str()));
        // Never again: the new key's page names the old one, not the secret.
        let page = b.get(&format!("/admin/keys/{new}")).await;
        assert!(page.body.contains(&old), "{}", page.body);
        assert!(!page.body.contains(&new_key[9..]), "secret shown again");

        // No grace: the new key is revoked at once by its own rotation.
        let again = format!("/admin/keys/{new}/rotate");
        let res = b.submit(&again, &again, &[("grace", "0")]).await;
        assert_eq!(res.status, 201, "{}", res.body);
        assert!(res.body.contains("it no longer works"), "{}", res.body);
        assert!(!keys.is_valid(&new_key).expect("is_valid"));
        assert!(keys.is_valid(&shown_key(&res)).expect("is_valid"));

        // A revoked key: the confirmation sends back, a POST is refused.
        assert_eq!(b.get(&again).await.status, 303);
        let token = b.get("/admin/new").await.csrf();
        let res = b
            .post(&again, &[("grace", "0"), ("csrf_token", &token)])
            .await;
        assert_eq!(res.status, 409, "{}", res.body);
        assert!(
            res.body.contains("revoked key cannot be rotated"),
            "{}",
            res.body
        );
    });
    assert_eq!(keys.count(&KeyFilter::default()).expect("count"), 3);
}

/// The values of attribute `name` in `body`, unescaped.
fn attrs(body: &str, name: &str) -> Vec<String> {
    let marker = format!(" {name}=\"");
    body.match_indices(&marker)
        .filter_map(|(at, _)| {
            let rest = &body[at + marker.len()..];
            rest.find('"').map(|end| rest[..end].replace("&amp;", "&"))
        })
        .collect()
}

/// The one value of attribute `name` in `body` that passes `pick`.
fn attr(body: &str, name: &str, pick: impl Fn(&str) -> bool) -> String {
    let found: Vec<String> = attrs(body, name).into_iter().filter(|v| pick(v)).collect();
    assert_eq!(found.len(), 1, "{name}: {found:?} in {body}");
    found.into_iter().next().unwrap_or_default()
}

/// Follows the admin's own links from its list page at `base` (the mount
/// path, "" for "/"): every link and form points under `base` and works;
/// the list leads to the key's detail page, that to the revoke form, and
/// the form revokes.
async fn follow_links<S, B>(b: &mut Browser<S>, base: &str, keys: &BaseApiKeyManager<ApiKey>)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let name = format!("key under {base}/");
    let (row, _) = keys.create_key(NewKey::new(&name)).expect("create");
    let prefix = row.prefix().to_owned();
    let under = |link: &str| link.starts_with(&format!("{base}/"));

    let list = b.get(&format!("{base}/")).await;
    assert_eq!(list.status, 200, "{base}/: {}", list.body);
    let path = if base.is_empty() { "/" } else { base };
    assert!(
        list.set_cookies()
            .iter()
            .any(|c| c.contains(&format!("Path={path};")) || c.ends_with(&format!("Path={path}"))),
        "{:?}",
        list.set_cookies()
    );
    let links = attrs(&list.body, "href");
    assert!(links.len() >= 5, "{links:?}");
    for link in links.iter().chain(&attrs(&list.body, "action")) {
        assert!(under(link), "{link} is not under {base}/");
        let res = b.get(link).await;
        assert_eq!(res.status, 200, "GET {link} from the list under {base}/");
    }

    // List -> detail -> revoke form -> revoked.
    let detail = attr(&list.body, "href", |h| {
        h.ends_with(&format!("/keys/{prefix}"))
    });
    let page = b.get(&detail).await;
    assert_eq!(page.status, 200, "{detail}");
    assert!(page.body.contains(&name), "{}", page.body);
    assert_eq!(
        attr(&page.body, "action", |_| true),
        detail,
        "the edit form"
    );
    for link in attrs(&page.body, "href") {
        assert!(under(&link), "{link} is not under {base}/");
    }
    let revoke = attr(&page.body, "href", |h| h.ends_with("/revoke"));
    let confirm = b.get(&revoke).await;
    assert_eq!(confirm.status, 200, "{revoke}");
    assert!(confirm.body.contains("This cannot be undone."));
    let action = attr(&confirm.body, "action", |_| true);
    assert!(under(&action), "{action}");
    let token = confirm.csrf();
    let res = b.post(&action, &[("csrf_token", &token)]).await;
    assert_eq!(res.status, 303, "POST {action}: {}", res.body);
    let location = res.header(header::LOCATION);
    assert_eq!(location, format!("{detail}?done=revoked"));
    let done = b.get(&location).await;
    assert!(done.body.contains("The key was revoked."), "{}", done.body);
    assert!(find(keys, &prefix).revoked);

    // Create -> the new key's detail page.
    let new = format!("{base}/new");
    assert!(attrs(&list.body, "href").contains(&new), "{}", list.body);
    let form = b.get(&new).await;
    let action = attr(&form.body, "action", |_| true);
    assert_eq!(action, new);
    let token = form.csrf();
    let res = b
        .post(&action, &[("name", "created here"), ("csrf_token", &token)])
        .await;
    assert_eq!(res.status, 201, "POST {action}: {}", res.body);
    let created = attr(&res.body, "href", |h| h.contains("/keys/"));
    assert!(under(&created), "{created}");
    let page = b.get(&created).await;
    assert_eq!(page.status, 200, "{created}");
    assert!(page.body.contains("created here"));
}

/// Links come from where the admin is mounted: at "/admin", at "/", at
/// "/deep/nested/admin", and at "/admin" inside a scope of the
/// application's own with a dynamic segment.
fn links_follow_the_mount_path(db: &TestDb) {
    let keys = BaseApiKeyManager::<ApiKey>::new(db.database());
    run(async {
        for mount in ["/admin", "/", "/deep/nested/admin"] {
            let app = atest::init_service(App::new().service(admin_of(&keys).scope(mount))).await;
            let base = mount.trim_end_matches('/');
            follow_links(&mut Browser::new(app), base, &keys).await;
        }
        let app = atest::init_service(
            App::new().service(web::scope("/orgs/{org}").service(admin_of(&keys).scope("/admin"))),
        )
        .await;
        follow_links(&mut Browser::new(app), "/orgs/acme/admin", &keys).await;
    });
}

// ---------------------------------------------------------------------------
// A derived model with a column of its own.

mod org {
    use chrono::NaiveDateTime;
    use diesel::prelude::*;

    diesel::table! {
        team_api_keys (id) {
            id -> BigInt,
            prefix -> Text,
            hashed_key -> Text,
            created -> Timestamp,
            name -> Text,
            revoked -> Bool,
            expiry_date -> Nullable<Timestamp>,
            team_id -> BigInt,
            note -> Nullable<Text>,
        }
    }

    /// A key of a team.
    #[derive(Debug, Clone, Queryable, Selectable, apikey_core::ApiKeyModel)]
    #[diesel(table_name = team_api_keys)]
    #[apikey(table = team_api_keys, verbose_name = "Team API key")]
    pub struct TeamApiKey {
        pub id: i64,
        pub prefix: String,
        pub hashed_key: String,
        pub created: NaiveDateTime,
        pub name: String,
        pub revoked: bool,
        pub expiry_date: Option<NaiveDateTime>,
        /// The team (a foreign key).
        pub team_id: i64,
        /// A free note.
        pub note: Option<String>,
    }
}

fn derived_model_with_own_columns(db: &TestDb) {
    let database = db.database();
    let teams = match db.kind {
        BackendKind::Postgres => "CREATE TABLE teams (id BIGINT PRIMARY KEY, name TEXT NOT NULL);",
        _ => "CREATE TABLE teams (id INTEGER PRIMARY KEY, name TEXT NOT NULL);",
    };
    db.raw_sql(teams).expect("teams");
    db.raw_sql("INSERT INTO teams (id, name) VALUES (7, 'Ops');")
        .expect("team");
    let table = KeyTable::new("team_api_keys")
        .column("team_id BIGINT NOT NULL REFERENCES teams (id) ON DELETE CASCADE")
        .column("note TEXT NULL")
        .index("team_id");
    db.raw_sql(&table.migration(db.kind).expect("scaffold").up)
        .expect("table");
    let keys = BaseApiKeyManager::<org::TeamApiKey>::new(database);
    run(async {
        let app = atest::init_service(
            App::new().service(
                admin_of(&keys)
                    .list_display(["team_id"])
                    .scope("/teams/admin"),
            ),
        )
        .await;
        let mut b = Browser::new(app);
        let form = b.get("/teams/admin/new").await;
        assert!(form.body.contains("Create Team API key"), "{}", form.body);
        assert!(form.body.contains("name=\"field_team_id\""));
        assert!(form.body.contains("name=\"field_note\""));

        let res = b
            .submit(
                "/teams/admin/new",
                "/teams/admin/new",
                &[("name", "ops ci"), ("field_team_id", "seven")],
            )
            .await;
        assert_eq!(res.status, 400);
        assert!(
            res.body.contains("invalid team id: invalid digit"),
            "{}",
            res.body
        );
        assert!(res.body.contains("value=\"seven\""), "input kept");
        let res = b
            .submit(
                "/teams/admin/new",
                "/teams/admin/new",
                &[("name", "ops ci"), ("field_team_id", "99")],
            )
            .await;
        assert_eq!(res.status, 400, "no team 99");
        assert!(
            res.body.contains("the database refused the key"),
            "{}",
            res.body
        );
        assert_eq!(keys.count(&KeyFilter::default()).expect("count"), 0);

        let res = b
            .submit(
                "/teams/admin/new",
                "/teams/admin/new",
                &[
                    ("name", "ops ci"),
                    ("field_team_id", " 7 "),
                    ("field_note", "<i>on call</i>"),
                ],
            )
            .await;
        assert_eq!(res.status, 201, "{}", res.body);
        let row = keys.list(&KeyFilter::default()).expect("list").remove(0);
        assert_eq!(row.team_id, 7);
        assert_eq!(row.note.as_deref(), Some("<i>on call</i>"));

        let list = b.get("/teams/admin/").await;
        assert!(list.body.contains("<th>Team id</th>"), "{}", list.body);
        assert!(
            list.body.contains("<td data-label=\"Team id\">7</td>"),
            "{}",
            list.body
        );
        assert!(
            !list.body.contains("<th>Note</th>"),
            "only list_display columns"
        );
        let detail = b.get(&format!("/teams/admin/keys/{}", row.prefix)).await;
        assert!(
            detail
                .body
                .contains("<dt>Note</dt><dd>&lt;i&gt;on call&lt;/i&gt;</dd>"),
            "{}",
            detail.body
        );
        // Links stay under the nested mount path.
        assert!(
            detail.body.contains("action=\"/teams/admin/keys/"),
            "{}",
            detail.body
        );
    });
}

/// The Django table's model mounts the same way.
fn django_model_admin(db: &TestDb) {
    db.create_django_table();
    let keys = BaseApiKeyManager::<DjangoApiKey>::new(
        apikey_core::Database::connect(&db.url).expect("db"),
    );
    run(async {
        let app =
            atest::init_service(App::new().service(admin_of(&keys).scope("/django-keys"))).await;
        let mut b = Browser::new(app);
        let res = b
            .submit(
                "/django-keys/new",
                "/django-keys/new",
                &[("name", "shared")],
            )
            .await;
        assert_eq!(res.status, 201, "{}", res.body);
        let list = b.get("/django-keys/").await;
        assert_eq!(list.rows(), 1);
        assert!(list.body.contains("shared"));
    });
}

/// 100,000 keys inserted in bulk: the list pages through them (the total,
/// newest first, the oldest on the last page, a filtered count). How long
/// it takes is a benchmark's job, not this test's.
fn list_over_100k_keys(db: &TestDb) {
    let keys = BaseApiKeyManager::<ApiKey>::new(db.database());
    let sql = match db.kind {
        BackendKind::Postgres => {
            "INSERT INTO api_keys (prefix, hashed_key, created, name, revoked, expiry_date)
             SELECT 'b' || lpad(x::text, 7, '0'), 'sha512$$0',
                    timestamptz '2025-01-01 00:00:00+00' + x * interval '1 minute',
                    'bulk key ' || x, x % 10 = 0,
                    CASE WHEN x % 7 = 0 THEN timestamptz '2025-06-01 00:00:00+00' END
             FROM generate_series(1, 100000) AS x;
             ANALYZE api_keys;"
        }
        _ => {
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 100000)
             INSERT INTO api_keys (prefix, hashed_key, created, name, revoked, expiry_date)
             SELECT 'b' || substr('0000000' || x, -7, 7), 'sha512$$0',
                    strftime('%Y-%m-%d %H:%M:%S', '2025-01-01', '+' || x || ' minutes') || '.000000',
                    'bulk key ' || x, x % 10 = 0,
                    CASE WHEN x % 7 = 0 THEN '2025-06-01 00:00:00.000000' END
             FROM n;
             ANALYZE;"
        }
    };
    db.raw_sql(sql).expect("bulk insert");
    run(async {
        let app = atest::init_service(App::new().service(admin_of(&keys).scope("/admin"))).await;
        let mut b = Browser::new(app);
        for (path, rows) in [
            ("/admin/", 50),
            ("/admin/?page=1000", 50),
            ("/admin/?page=2000", 50),
            ("/admin/?revoked=no&expired=no", 50),
            // "bulk key 4242" and "bulk key 42420" to "42429".
            ("/admin/?q=key+4242", 11),
            ("/admin/?created_from=2025-02-01&created_to=2025-02-01", 50),
        ] {
            let res = b.get(path).await;
            assert_eq!(res.status, 200, "{path}");
            assert_eq!(res.rows(), rows, "{path}");
            if path == "/admin/" {
                assert!(res.body.contains("1–50 of 100000 API keys"), "{}", res.body);
                assert!(res.body.contains(">b0100000<"), "newest first");
            }
            if path == "/admin/?page=2000" {
                assert!(res.body.contains(">b0000001<"), "oldest last");
            }
            if path.contains("created_from") {
                assert!(res.body.contains("of 1440 API keys"), "{}", res.body);
            }
        }
    });
}

backend_tests!(
    rotate_shows_the_new_key_once,
    permission_refused,
    refusals_through_the_config,
    csrf_refused,
    csrf_tokens_are_per_session,
    user_text_is_escaped,
    quotes_in_form_values_are_escaped,
    security_headers_on_every_answer,
    bad_input_is_shown_back_and_changes_nothing,
    pagination_newest_first,
    filters,
    create_shows_the_key_once,
    edit_then_revoke_then_read_only,
    edit_limits,
    links_follow_the_mount_path,
    derived_model_with_own_columns,
    django_model_admin,
    list_over_100k_keys,
);
