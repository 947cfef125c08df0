//! Sharing Django's key table with the real djangorestframework-api-key 3.1.0,
//! in both directions, on SQLite (the same file) and on PostgreSQL (the same
//! database): `sqlite::name` and `postgres::name`.
//!
//! Django runs from a venv that `scripts/django-venv.sh` creates once and
//! caches under `target/django-venv`; `scripts/django_interop.py` drives it.
//! Django's own `migrate` creates the table, so the schema is exactly
//! Django's. When the venv cannot be built these tests fail: they never skip.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use apikey_core::{
    hashers, AbstractApiKey, BackendKind, BaseApiKeyManager, Database, DjangoApiKey, Error,
    KeyFilter, NewKey,
};
use apikey_tests::{backend_tests, TestDb};
use chrono::{DateTime, Duration, NaiveDate, SubsecRound, Utc};
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_path_buf()
}

/// The venv's python (built on first use, once per test binary).
fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let started = std::time::Instant::now();
        let out = Command::new(repo().join("scripts/django-venv.sh"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/django-venv.sh");
        assert!(
            out.status.success(),
            "scripts/django-venv.sh failed ({}): the Django interop tests need \
             python3 with venv and pip, and network access (or a pip cache) once",
            out.status
        );
        let stdout = String::from_utf8(out.stdout).expect("utf-8 path");
        let path = PathBuf::from(stdout.lines().last().expect("python path").trim());
        assert!(path.exists(), "no python at {}", path.display());
        eprintln!(
            "django venv ready in {:.1} s: {}",
            started.elapsed().as_secs_f64(),
            path.display()
        );
        path
    })
}

/// Runs `scripts/django_interop.py --db URL args...`, with `stdin` as input,
/// and parses the JSON it prints.
fn django(db: &TestDb, args: &[&str], stdin: &str) -> Value {
    let mut child = Command::new(python())
        .arg(repo().join("scripts/django_interop.py"))
        .arg("--db")
        .arg(&db.url)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn django");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("django output");
    assert!(
        out.status.success(),
        "django {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("django prints json")
}

/// Django's migrate on the test database, then a manager on the same table.
fn setup(db: &TestDb) -> BaseApiKeyManager<DjangoApiKey> {
    django(db, &["migrate"], "");
    BaseApiKeyManager::new(Database::connect(&db.url).expect("connect"))
}

fn is_valid_in_django(db: &TestDb, key: &str) -> bool {
    django(db, &["is_valid"], key)["is_valid"]
        .as_bool()
        .expect("bool")
}

fn django_row(db: &TestDb, prefix: &str) -> Value {
    let dump = django(db, &["dump"], "");
    dump["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["prefix"] == prefix)
        .cloned()
        .unwrap_or_else(|| panic!("django does not see {prefix}"))
}

fn parse_time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str().map(|s| {
        DateTime::parse_from_rfc3339(s)
            .expect("django iso time")
            .with_timezone(&Utc)
    })
}

/// The SQLite text Django writes for a time: str() of a naive datetime.
fn is_django_sqlite_text(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| r.into_iter().all(|i| b[i].is_ascii_digit());
    let base = b.len() >= 19
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b' '
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    base && (b.len() == 19 || (b.len() == 26 && b[19] == b'.' && digits(20..26)))
}

fn django_keys_verify_in_rust(db: &TestDb) {
    let keys = setup(db);
    let created = django(db, &["create", "--name", "from django"], "");
    let key = created["key"].as_str().expect("key");
    let prefix = created["prefix"].as_str().expect("prefix");

    let row = keys.get_from_key(key).expect("django key verifies in rust");
    assert_eq!(row.prefix(), prefix);
    assert_eq!(row.name(), "from django");
    assert_eq!(row.id(), created["id"].as_str().expect("id"));
    assert!(row.hashed_key().starts_with("sha512$$"));
    assert_eq!(Some(row.created()), parse_time(&created["created"]));
    assert!(!row.revoked());
    assert_eq!(row.expiry_date(), None);

    // A wrong secret, an unknown prefix, the stored hash: invalid.
    // (Never the key itself: one key in 62 already ends in `x`.)
    let last = if key.ends_with('x') { 'y' } else { 'x' };
    let wrong = format!("{}{last}", &key[..key.len() - 1]);
    assert!(!keys.is_valid(&wrong).expect("is_valid"));
    assert!(!keys.is_valid(row.hashed_key()).expect("is_valid"));
    assert!(!keys.is_valid("nope.nope").expect("is_valid"));

    // Expiry written by Django: in the future it works, in the past it does not.
    let future = (Utc::now() + Duration::days(1)).to_rfc3339();
    let later = django(db, &["create", "--name", "later", "--expiry", &future], "");
    let later_key = later["key"].as_str().expect("key");
    let later_row = keys.get_from_key(later_key).expect("not yet expired");
    assert_eq!(later_row.expiry_date(), parse_time(&later["expiry_date"]));
    let past = "2001-02-03T04:05:06.5+00:00";
    let gone = django(db, &["create", "--name", "gone", "--expiry", past], "");
    let gone_key = gone["key"].as_str().expect("key");
    assert!(!keys.is_valid(gone_key).expect("is_valid"));
    let gone_row = keys
        .find_by_prefix(gone["prefix"].as_str().expect("prefix"))
        .expect("find")
        .expect("row");
    assert!(gone_row.has_expired());
    assert_eq!(
        gone_row.expiry_date(),
        Some(DateTime::parse_from_rfc3339(past).expect("t").to_utc())
    );

    // Filters compare against the times Django wrote.
    let expired = keys
        .list(&KeyFilter {
            expired: Some(true),
            ..KeyFilter::default()
        })
        .expect("list");
    let names: Vec<_> = expired.iter().map(|k| k.name()).collect();
    assert_eq!(names, ["gone"]);
    assert_eq!(keys.count(&KeyFilter::default()).expect("count"), 3);

    // Revoked by Django: invalid in Rust.
    // (Django's own table has no notification trigger: the verification
    // cache sees it within its revalidation sweep, by default 0.5 s on
    // PostgreSQL; at once on SQLite's feed.)
    django(db, &["revoke", prefix], "");
    let start = std::time::Instant::now();
    while keys.is_valid(key).expect("is_valid") {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(5),
            "a revocation by Django was never seen"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(!keys.is_valid(key).expect("is_valid"));
    assert!(keys
        .find_by_prefix(prefix)
        .expect("find")
        .expect("row")
        .revoked());
}

fn legacy_hashes_upgraded_by_rust_still_verify_in_django(db: &TestDb) {
    let keys = setup(db);
    for hasher in ["pbkdf2_sha256", "pbkdf2_sha1"] {
        let created = django(db, &["create", "--name", hasher, "--hasher", hasher], "");
        let key = created["key"].as_str().expect("key");
        let prefix = created["prefix"].as_str().expect("prefix");
        let id = created["id"].as_str().expect("id");
        assert!(created["hashed_key"]
            .as_str()
            .expect("hash")
            .starts_with(&format!("{hasher}$")));

        // Rust verifies it and rewrites only hashed_key.
        let row = keys.get_from_key(key).expect("legacy key verifies in rust");
        assert_eq!(row.hashed_key(), hashers::hash(key));
        assert_eq!(row.id(), id, "the id is kept, as Django keeps it");

        // Django sees the new hash, and still accepts the key.
        let seen = django_row(db, prefix);
        assert_eq!(seen["hashed_key"], row.hashed_key());
        assert_eq!(seen["id"], id);
        assert!(
            is_valid_in_django(db, key),
            "{hasher}: django after upgrade"
        );
        assert!(keys.is_valid(key).expect("is_valid"));
    }
}

fn rust_keys_verify_in_django(db: &TestDb) {
    let keys = setup(db);
    // Expiry times with 6, 3 (diesel would write ".5") and no fraction digits.
    let tomorrow = (Utc::now() + Duration::days(1)).trunc_subsecs(6);
    let half = NaiveDate::from_ymd_opt(2099, 1, 2)
        .and_then(|d| d.and_hms_milli_opt(3, 4, 5, 500))
        .expect("time")
        .and_utc();
    let whole = NaiveDate::from_ymd_opt(2099, 1, 2)
        .and_then(|d| d.and_hms_opt(3, 4, 5))
        .expect("time")
        .and_utc();
    for (name, expiry) in [
        ("rust never", None),
        ("rust tomorrow", Some(tomorrow)),
        ("rust half", Some(half)),
        ("rust whole", Some(whole)),
    ] {
        let (row, key) = keys
            .create_key(NewKey::new(name).expiry(expiry))
            .expect("create");
        let key = key.expose_secret();
        assert_eq!(row.id(), &format!("{}.{}", row.prefix(), row.hashed_key()));
        assert!(is_valid_in_django(db, key), "{name}: django accepts");

        let got = django(db, &["get_from_key"], key);
        assert_eq!(got["found"], true);
        assert_eq!(got["name"], name);
        assert_eq!(got["id"], row.id().as_str());
        assert_eq!(parse_time(&got["created"]), Some(row.created()));
        assert_eq!(parse_time(&got["expiry_date"]), expiry);

        let seen = django_row(db, row.prefix());
        if db.kind == BackendKind::Sqlite {
            for col in ["created", "expiry_date"] {
                if let Some(text) = seen["raw"][col].as_str() {
                    assert!(is_django_sqlite_text(text), "{col}: {text:?}");
                }
            }
        }
    }
    // The exact text, next to what Django itself writes for the same times.
    let by_django = django(
        db,
        &[
            "create",
            "--name",
            "dj half",
            "--expiry",
            &half.to_rfc3339(),
        ],
        "",
    );
    let by_django_whole = django(
        db,
        &[
            "create",
            "--name",
            "dj whole",
            "--expiry",
            &whole.to_rfc3339(),
        ],
        "",
    );
    let dump = django(db, &["dump"], "");
    let raw_expiry = |name: &str| {
        dump["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .find(|r| r["name"] == name)
            .map(|r| r["raw"]["expiry_date"].clone())
            .expect("row")
    };
    assert_eq!(raw_expiry("rust half"), raw_expiry("dj half"));
    assert_eq!(raw_expiry("rust whole"), raw_expiry("dj whole"));
    if db.kind == BackendKind::Sqlite {
        assert_eq!(raw_expiry("rust half"), "2099-01-02 03:04:05.500000");
        assert_eq!(raw_expiry("rust whole"), "2099-01-02 03:04:05");
    }
    // Rust sees Django's rows at the same instants.
    for (created, expected) in [(&by_django, half), (&by_django_whole, whole)] {
        let prefix = created["prefix"].as_str().expect("prefix");
        let row = keys.find_by_prefix(prefix).expect("find").expect("row");
        assert_eq!(row.expiry_date(), Some(expected));
    }
}

fn revoked_and_expired_by_rust_are_refused_by_django(db: &TestDb) {
    let keys = setup(db);
    let (row, key) = keys.create_key(NewKey::new("to revoke")).expect("create");
    let key = key.expose_secret().to_owned();
    assert!(is_valid_in_django(db, &key));
    keys.revoke(row.prefix()).expect("revoke");
    assert!(!is_valid_in_django(db, &key));
    assert_eq!(django(db, &["get_from_key"], &key)["found"], false);
    assert_eq!(django_row(db, row.prefix())["revoked"], true);

    let past = Utc::now() - Duration::minutes(1);
    let (old, old_key) = keys
        .create_key(NewKey::new("expired").expires(past))
        .expect("create");
    assert!(!is_valid_in_django(db, old_key.expose_secret()));
    assert_eq!(django_row(db, old.prefix())["has_expired"], true);

    // Changed by Rust (name, expiry): Django reads the row without error.
    let (live, live_key) = keys.create_key(NewKey::new("live")).expect("create");
    let soon = Utc::now() + Duration::hours(1);
    keys.update(live.prefix(), "renamed", Some(soon))
        .expect("update");
    let seen = django_row(db, live.prefix());
    assert_eq!(seen["name"], "renamed");
    assert_eq!(
        parse_time(&seen["expiry_date"]),
        Some(soon.trunc_subsecs(6))
    );
    assert!(is_valid_in_django(db, live_key.expose_secret()));

    // Revocation cannot be undone through the manager (Django's table has no
    // trigger; the API has no un-revoke).
    assert!(matches!(
        keys.update(row.prefix(), "again", None),
        Err(Error::Validation { .. })
    ));
}

/// `TestDb::create_django_table` (what the tests without Django use) is the
/// table Django's own `migrate` makes: the same catalogue (columns in order
/// with types, lengths, nullability and defaults; indexes; constraints).
fn hand_written_django_table_is_migrates(db: &TestDb) {
    django(db, &["migrate"], "");
    let by_hand = TestDb::of(db.kind);
    by_hand.create_django_table();
    let migrated = django(db, &["describe"], "");
    assert!(
        migrated["columns"].as_array().is_some_and(|c| c.len() == 7),
        "{migrated}"
    );
    assert_eq!(django(&by_hand, &["describe"], ""), migrated);
}

/// Named `django_interop::{sqlite,postgres}::...`, so that a run can leave
/// them out by name (`.cargo/mutants.toml` does).
mod django_interop {
    use super::*;

    backend_tests!(
        hand_written_django_table_is_migrates,
        django_keys_verify_in_rust,
        legacy_hashes_upgraded_by_rust_still_verify_in_django,
        rust_keys_verify_in_django,
        revoked_and_expired_by_rust_are_refused_by_django,
    );
}
