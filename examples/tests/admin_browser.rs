//! The web admin in a real browser: headless Chromium driven over WebDriver
//! (chromedriver), against the real quickstart binary. A key's whole life:
//! log in, create it through the form, read it from the page, use it on
//! `/protected` (200), revoke it through the UI with its confirmation step,
//! use it again (401). Screenshots go to `target/screenshots/`.
//!
//! Needs `chromium` and `chromedriver` (Debian's `chromium` and
//! `chromium-driver`, installed by `scripts/install-deps.sh`). Without them
//! the test fails, saying so: it never passes without having run
//! (`cargo test -- --skip chromium` leaves it out on purpose).
//!
//! The WebDriver client is the few W3C WebDriver commands the test needs,
//! spoken as JSON over HTTP/1.1 on a plain TCP socket (no extra crates).

use apikey_tests::server::{spawn_server, Spawned};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

const USER: &str = "admin";

fn find_program(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Ok(p) = std::env::var(env) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// One HTTP/1.1 exchange on its own connection: status and body (both
/// chromedriver and actix answer with a Content-Length).
fn http(addr: &str, method: &str, path: &str, headers: &[String], body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(90)))
        .expect("timeout");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).expect("send");
    // Read the head, then exactly Content-Length bytes (chromedriver keeps
    // the connection open whatever `Connection: close` says).
    let mut reader = BufReader::new(s);
    let mut head = String::new();
    let mut length: Option<usize> = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).expect("read head") == 0 {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok();
            }
            assert!(
                !(name.trim().eq_ignore_ascii_case("transfer-encoding")
                    && value.to_ascii_lowercase().contains("chunked")),
                "unexpected chunked answer"
            );
        }
        let end = line == "\r\n";
        head.push_str(&line);
        if end {
            break;
        }
    }
    let mut buf = Vec::new();
    match length {
        Some(n) => {
            buf.resize(n, 0);
            reader.read_exact(&mut buf).expect("read body");
        }
        None => {
            reader.read_to_end(&mut buf).expect("read body");
        }
    }
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = String::from_utf8_lossy(&buf).into_owned();
    (status, body)
}

/// A chromedriver process and one browser session on it.
struct Browser {
    driver: Child,
    addr: String,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start(chromium: &Path, chromedriver: &Path) -> Browser {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", chromedriver.display()));
        // Owned from here on: a panic below still stops chromedriver.
        let mut browser = Browser {
            driver,
            addr: format!("127.0.0.1:{port}"),
            session: String::new(),
            _profile: tempfile::tempdir().expect("profile dir"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if TcpStream::connect(&browser.addr).is_ok()
                && http(&browser.addr, "GET", "/status", &[], "")
                    .1
                    .contains("\"ready\":true")
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            &format!("--user-data-dir={}", browser._profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }}});
        let v = browser.command("POST", "/session", caps);
        browser.session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_owned();
        browser
    }

    /// A WebDriver command; returns its `value`.
    fn command(&self, method: &str, path: &str, body: Value) -> Value {
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        if std::env::var_os("APIKEY_WEBDRIVER_TRACE").is_some() {
            eprintln!("webdriver: {method} {path}");
        }
        let (status, text) = http(&self.addr, method, path, &[], &body);
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path}: {status} {e}: {text}"));
        assert_eq!(status, 200, "{method} {path}: {v}");
        v["value"].clone()
    }

    fn session_command(&self, method: &str, path: &str, body: Value) -> Value {
        self.command(method, &format!("/session/{}{path}", self.session), body)
    }

    fn goto(&self, url: &str) {
        self.session_command("POST", "/url", json!({ "url": url }));
    }

    fn url(&self) -> String {
        self.session_command("GET", "/url", Value::Null)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn source(&self) -> String {
        self.session_command("GET", "/source", Value::Null)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits (up to 20 s) until the page's source contains `text`; returns it.
    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let source = self.source();
            if source.contains(text) {
                return source;
            }
            assert!(
                Instant::now() < deadline,
                "page never showed {text:?}: {source}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn title(&self) -> String {
        self.session_command("GET", "/title", Value::Null)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn find(&self, css: &str) -> String {
        let v = self.session_command(
            "POST",
            "/element",
            json!({"using": "css selector", "value": css}),
        );
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_owned()
    }

    fn click(&self, css: &str) {
        let el = self.find(css);
        self.session_command("POST", &format!("/element/{el}/click"), json!({}));
    }

    fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css);
        self.session_command("POST", &format!("/element/{el}/clear"), json!({}));
        self.session_command(
            "POST",
            &format!("/element/{el}/value"),
            json!({ "text": text }),
        );
    }

    fn property(&self, css: &str, name: &str) -> String {
        let el = self.find(css);
        self.session_command(
            "GET",
            &format!("/element/{el}/property/{name}"),
            Value::Null,
        )
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    fn text(&self, css: &str) -> String {
        let el = self.find(css);
        self.session_command("GET", &format!("/element/{el}/text"), Value::Null)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn window(&self, width: u32, height: u32) {
        self.session_command(
            "POST",
            "/window/rect",
            json!({"width": width, "height": height}),
        );
    }

    fn screenshot(&self, path: &Path) {
        let b64 = self.session_command("GET", "/screenshot", Value::Null);
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap_or_default())
            .expect("base64 screenshot");
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::write(path, png).expect("write screenshot");
        eprintln!("screenshot: {}", path.display());
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = TcpStream::connect(&self.addr).map(|_| {
                http(
                    &self.addr,
                    "DELETE",
                    &format!("/session/{}", self.session),
                    &[],
                    "",
                )
            });
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

struct Quickstart {
    _srv: Spawned,
    addr: String,
}

fn start_quickstart(dir: &Path, password: &str) -> Quickstart {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_quickstart"));
    cmd.env("DATABASE_URL", dir.join("keys.db").display().to_string())
        .env("APIKEY_ADMIN_USER", USER)
        .env("APIKEY_ADMIN_PASSWORD", password)
        .current_dir(dir);
    let srv = spawn_server(cmd);
    let admin_line = srv
        .stderr
        .iter()
        .find(|l| l.starts_with("web admin:"))
        .cloned()
        .unwrap_or_default();
    assert!(
        admin_line.contains("/admin/"),
        "admin not announced: {admin_line}"
    );
    Quickstart {
        addr: srv.addr.clone(),
        _srv: srv,
    }
}

fn protected(addr: &str, key: &str) -> u16 {
    http(
        addr,
        "GET",
        "/protected",
        &[format!("Authorization: Api-Key {key}")],
        "",
    )
    .0
}

#[test]
fn key_life_through_the_admin_in_chromium() {
    let chromium = find_program(
        "CHROMIUM",
        &["chromium", "chromium-browser", "google-chrome"],
    );
    let chromedriver = find_program("CHROMEDRIVER", &["chromedriver"]);
    let (Some(chromium), Some(chromedriver)) = (chromium, chromedriver) else {
        panic!(
            "this test needs chromium and chromedriver: run scripts/install-deps.sh \
             (apt-get install chromium chromium-driver), or leave it out with \
             `cargo test -- --skip chromium`"
        );
    };
    let started = Instant::now();
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("screenshots");
    std::fs::create_dir_all(&shots).expect("screenshots dir");

    let dir = tempfile::tempdir().expect("tmp");
    let password = format!("passphrase-{}", std::process::id());
    let app = start_quickstart(dir.path(), &password);
    let base = format!("http://{}", app.addr);

    // Without credentials nothing of the admin answers.
    let (status, body) = http(&app.addr, "GET", "/admin/", &[], "");
    assert_eq!(status, 401);
    assert!(!body.contains("quickstart demo key"));

    let b = Browser::start(&chromium, &chromedriver);
    b.window(1280, 900);
    // Log in: Basic credentials in the URL; Chromium keeps them for the realm.
    b.goto(&format!("http://{USER}:{password}@{}/admin/", app.addr));
    b.wait_for("quickstart demo key");
    assert!(b.title().starts_with("API keys"), "{}", b.source());

    // Create a key through the form.
    b.click("a.button[href$='/new']");
    b.wait_for("Create key</button>");
    assert!(b.url().ends_with("/admin/new"), "{}", b.url());
    b.type_into("input[name=name]", "browser <b>test</b> key");
    b.click("form.form button[type=submit]");
    b.wait_for("It will not be shown again");
    let key = b.property("#key", "value");
    assert!(apikey_tests::server::is_key(&key), "{key}");
    assert!(b.url().ends_with("/admin/new"), "no redirect: {}", b.url());
    b.screenshot(&shots.join("admin-created.png"));

    // The key works.
    assert_eq!(protected(&app.addr, &key), 200);

    // The list shows it (escaped, as text), without its secret.
    b.goto(&format!("{base}/admin/"));
    let list = b.wait_for("newest first");
    assert!(list.contains(&key[..8]));
    assert!(!list.contains(&key[9..]), "secret on the list");
    assert!(b
        .text("table.keys tbody tr:first-child td.name")
        .contains("browser <b>test</b> key"));
    b.screenshot(&shots.join("admin-list.png"));
    b.window(390, 844);
    b.screenshot(&shots.join("admin-list-phone.png"));
    b.window(1280, 900);

    // Revoke it through the UI: detail page, confirmation, POST.
    b.click(&format!("a[href$='/admin/keys/{}']", &key[..8]));
    b.wait_for("Revoke this key");
    b.click("a.button.danger");
    b.wait_for("This cannot be undone.");
    assert_eq!(
        protected(&app.addr, &key),
        200,
        "confirmation page changes nothing"
    );
    b.click("button.danger[type=submit]");
    let after = b.wait_for("The key was revoked.");
    assert!(after.contains("read-only"));
    b.screenshot(&shots.join("admin-revoked.png"));

    // Refused from now on.
    assert_eq!(protected(&app.addr, &key), 401);
    drop(b);
    eprintln!(
        "browser test took {:.1?} (screenshots in {})",
        started.elapsed(),
        shots.display()
    );
}
