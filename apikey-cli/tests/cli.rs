//! The built `apikey` binary, on SQLite (temporary files) and PostgreSQL
//! (a fresh database on the server `scripts/test.sh` starts): every command,
//! exit codes, `--json` parsed, bad URLs, a missing file, hostile input.
//!
//! Exit codes: 0 ok; 1 not usable (verify) or not found (revoke); 2 usage;
//! 3 database (cannot be opened or reached, not migrated, failed); 4 I/O.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Stdio};

use apikey_core::{ApiKey, BackendKind, BaseApiKeyManager, Database, NewKey};
use apikey_tests::{backend_tests, TestDb};
use chrono::{DateTime, Duration, Utc};
use diesel::{Connection, RunQueryDsl};
use serde_json::Value;

#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `apikey` in `cwd` with no DATABASE_URL, feeding `stdin`.
fn apikey_in(cwd: &Path, env: &[(&str, &OsStr)], args: &[&OsStr], stdin: &[u8]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_apikey"));
    cmd.current_dir(cwd)
        .env_remove("DATABASE_URL")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn apikey");
    let mut input = child.stdin.take().expect("stdin");
    // The binary may exit before reading everything: ignore a closed pipe.
    let _ = input.write_all(stdin);
    drop(input);
    let out = child.wait_with_output().expect("apikey output");
    let run = Run {
        code: out.status.code().expect("exit code, not a signal"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_ne!(run.code, 101, "apikey panicked: {run:?}");
    run
}

/// Runs `apikey --database-url URL args...` in a temporary folder.
fn apikey(db: &TestDb, args: &[&str]) -> Run {
    apikey_stdin(db, args, b"")
}

fn apikey_stdin(db: &TestDb, args: &[&str], stdin: &[u8]) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut all: Vec<&OsStr> = vec![OsStr::new("--database-url"), OsStr::new(&db.url)];
    all.extend(args.iter().map(OsStr::new));
    apikey_in(dir.path(), &[], &all, stdin)
}

/// Stderr without the warning `verify KEY` prints about a key on the
/// command line.
fn answer(run: &Run) -> String {
    run.stderr
        .lines()
        .filter(|l| !l.starts_with("apikey: warning:"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn ok(run: Run) -> Run {
    assert_eq!(run.code, 0, "{run:?}");
    run
}

fn list_json(db: &TestDb, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["list", "--json"];
    args.extend(extra);
    let run = ok(apikey(db, &args));
    serde_json::from_str::<Value>(&run.stdout)
        .expect("list --json prints json")
        .as_array()
        .expect("an array")
        .clone()
}

fn create(db: &TestDb, args: &[&str]) -> String {
    let mut all = vec!["create"];
    all.extend(args);
    let run = ok(apikey(db, &all));
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "the key alone on stdout: {run:?}");
    let key = lines[0].to_owned();
    assert!(apikey_tests::is_key_shaped(&key, 8, 32), "{key}");
    let (prefix, secret) = key.split_once('.').expect("prefix.secret");
    assert!(!run.stderr.contains(secret), "no key material on stderr");
    assert!(run.stderr.contains(prefix));
    key
}

fn secret(key: &str) -> &str {
    key.split_once('.').map_or(key, |(_, s)| s)
}

fn every_command(db: &TestDb) {
    // Before migrate: SQLite refuses to create the file, PostgreSQL has no
    // table; either way a database error (3), not a usage error.
    let run = apikey(db, &["list"]);
    assert_eq!(run.code, 3, "{run:?}");
    match db.kind {
        BackendKind::Postgres => assert!(run.stderr.contains("apikey migrate"), "{run:?}"),
        _ => {
            assert!(run.stderr.contains("database file not found"), "{run:?}");
            let path = db.url.trim_start_matches("sqlite://");
            assert!(!Path::new(path).exists(), "no empty database created");
        }
    }
    assert_eq!(apikey(db, &["create", "--name", "x"]).code, 3);

    let run = ok(apikey(db, &["migrate"]));
    assert!(!run.stdout.trim().is_empty(), "applied versions: {run:?}");
    let run = ok(apikey(db, &["migrate"]));
    assert_eq!(run.stdout, "", "nothing pending");
    assert!(list_json(db, &[]).is_empty());

    let before = Utc::now();
    let key = create(db, &["--name", "billing", "--expires", "30d"]);
    let after = Utc::now();
    let prefix = key.split_once('.').expect("dot").0.to_owned();
    let other = create(
        db,
        &[
            "--name",
            "Reports",
            "--expires",
            "2099-01-31T12:00:00+02:00",
        ],
    );

    let keys = list_json(db, &[]);
    assert_eq!(keys.len(), 2);
    let billing = keys
        .iter()
        .find(|k| k["prefix"] == prefix.as_str())
        .expect("listed");
    assert_eq!(billing["name"], "billing");
    assert_eq!(billing["revoked"], false);
    assert_eq!(billing["has_expired"], false);
    let created =
        DateTime::parse_from_rfc3339(billing["created"].as_str().expect("str")).expect("rfc 3339");
    let micro = Duration::microseconds(1);
    let created = created.to_utc();
    assert!(before - micro <= created && created <= after, "{created}");
    let expiry = DateTime::parse_from_rfc3339(billing["expiry_date"].as_str().expect("str"))
        .expect("rfc 3339");
    // 30 days from when the command ran (stored to the microsecond).
    let expiry = expiry.to_utc();
    assert!(
        before + Duration::days(30) - micro <= expiry && expiry <= after + Duration::days(30),
        "{before} .. {after} + 30 days, got {expiry}"
    );
    let reports = keys
        .iter()
        .find(|k| k["name"] == "Reports")
        .expect("listed");
    assert_eq!(reports["expiry_date"], "2099-01-31T10:00:00Z");
    let fields: Vec<&String> = billing.as_object().expect("object").keys().collect();
    assert_eq!(
        fields,
        [
            "created",
            "expiry_date",
            "has_expired",
            "last_used_at",
            "name",
            "prefix",
            "rate_limit",
            "remaining_uses",
            "revoked",
            "scopes",
            "uses_refill"
        ]
    );

    // The table: a header, aligned columns.
    let run = ok(apikey(db, &["list"]));
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{run:?}");
    assert!(lines[0].starts_with("PREFIX"));
    let col = lines[0].find("NAME").expect("NAME column");
    assert!(lines[1..].iter().all(|l| l[col..].starts_with(['b', 'R'])));

    // Search (case-insensitive, name or prefix).
    let found = list_json(db, &["--search", "REPORT"]);
    assert_eq!(found.len(), 1);
    assert_eq!(list_json(db, &["--search", &prefix]).len(), 1);
    assert!(list_json(db, &["--search", "%"]).is_empty());

    // verify: argument, stdin; usable 0, not usable 1.
    ok(apikey(db, &["verify", &key]));
    ok(apikey_stdin(
        db,
        &["verify", "-"],
        format!("{key}\n").as_bytes(),
    ));
    let wrong = format!("{prefix}.{}", "A".repeat(32));
    assert_eq!(apikey(db, &["verify", &wrong]).code, 1);
    assert_eq!(apikey(db, &["verify", "garbage"]).code, 1);
    assert_eq!(apikey(db, &["verify", ""]).code, 1);

    // revoke: 0, again 0, unknown 1; then verify says 1.
    ok(apikey(db, &["revoke", &prefix]));
    let again = ok(apikey(db, &["revoke", &prefix]));
    assert!(again.stderr.contains("already revoked"));
    let unknown = apikey(db, &["revoke", "zzzzzzzz"]);
    assert_eq!(unknown.code, 1, "{unknown:?}");
    let run = apikey(db, &["verify", &key]);
    assert_eq!(run.code, 1);
    assert!(!run.stderr.contains(secret(&key)), "{run:?}");
    ok(apikey(db, &["verify", &other]));

    // Filters.
    let names = |v: Vec<Value>| -> Vec<String> {
        v.iter()
            .map(|k| k["name"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let manager: BaseApiKeyManager<ApiKey> =
        BaseApiKeyManager::new(Database::connect(&db.url).expect("connect"));
    manager
        .create_key(NewKey::new("old").expires(Utc::now() - Duration::hours(1)))
        .expect("expired key");
    assert_eq!(names(list_json(db, &["--revoked"])), ["billing"]);
    assert_eq!(names(list_json(db, &["--active"])), ["Reports"]);
    assert_eq!(names(list_json(db, &["--expired"])), ["old"]);
    let run = apikey(db, &["list", "--active", "--expired"]);
    assert_eq!(run.code, 2, "exclusive filters");
}

fn create_with_closed_stdout_revokes_the_key(db: &TestDb) {
    ok(apikey(db, &["migrate"]));
    let mut child = Command::new(env!("CARGO_BIN_EXE_apikey"))
        .args(["--database-url", &db.url, "create", "--name", "lost"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("output");
    // An I/O error (4): neither usage nor database.
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let keys = list_json(db, &[]);
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["revoked"], true, "an unseen key is not left usable");
}

fn no_key_material_leaves_except_create(db: &TestDb) {
    ok(apikey(db, &["migrate"]));
    let key = create(db, &["--name", "quiet"]);
    let prefix = key.split_once('.').expect("dot").0.to_owned();
    let secret = secret(&key);
    let runs = [
        apikey(db, &["list"]),
        apikey(db, &["list", "--json"]),
        apikey(db, &["verify", &key]),
        apikey(db, &["verify", &format!("{key}x")]),
        apikey_stdin(db, &["verify", "-"], key.as_bytes()),
        apikey(db, &["revoke", &key]),
        apikey(db, &["revoke", &prefix]),
        apikey(db, &["verify", &key]),
    ];
    for run in runs {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "{run:?}"
        );
    }
}

fn django_table(db: &TestDb) {
    // Django's DDL for the table (Django 4.2, djangorestframework-api-key
    // 3.1.0 migrations); the interop tests create it with Django itself.
    db.create_django_table();
    let run = apikey(db, &["--model", "django", "migrate"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("manage.py migrate"));
    // The builtin table is not there: a database error, with the way out.
    let run = apikey(db, &["list"]);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("apikey migrate"), "{run:?}");

    let key = create(
        db,
        &["--model", "django", "--name", "shared", "--expires", "12h"],
    );
    let prefix = key.split_once('.').expect("dot").0.to_owned();
    let keys = list_json(db, &["--model", "django"]);
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["prefix"], prefix.as_str());
    ok(apikey(db, &["--model", "django", "verify", &key]));
    ok(apikey(db, &["--model", "django", "revoke", &prefix]));
    assert_eq!(apikey(db, &["--model", "django", "verify", &key]).code, 1);
    assert_eq!(list_json(db, &["--model", "django", "--revoked"]).len(), 1);
}

/// No database of its own: bad URLs, missing files, DATABASE_URL, the default.
#[test]
fn bad_urls_and_missing_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run_url = |url: &str, args: &[&str]| {
        let mut all: Vec<&OsStr> = vec![OsStr::new("--database-url"), OsStr::new(url)];
        all.extend(args.iter().map(OsStr::new));
        apikey_in(dir.path(), &[], &all, b"")
    };
    // A URL that does not parse is a usage error (2); one that parses but
    // names a database that cannot be opened is a database error (3).
    for (url, code) in [
        ("", 2),
        ("mysql://root@localhost/keys", 2),
        ("sqlite://", 2),
        ("http://example.com", 2),
        ("postgres://nobody@127.0.0.1:1/none", 3),
        ("postgres://%%%/", 3),
        ("sqlite:///nonexistent-dir/deeper/keys.db", 3),
    ] {
        for args in [&["list"][..], &["migrate"][..]] {
            let run = run_url(url, args);
            assert_eq!(run.code, code, "{url} {args:?}: {run:?}");
            assert!(answer(&run).starts_with("apikey: "), "{run:?}");
            if code == 3 {
                assert!(answer(&run).starts_with("apikey: database "), "{run:?}");
            }
        }
    }
    let missing = dir.path().join("missing.db");
    let missing = missing.to_str().expect("utf-8");
    for cmd in [
        &["list"][..],
        &["create", "--name", "x"],
        &["verify", "a.b"],
        &["revoke", "abc"],
    ] {
        let run = run_url(missing, cmd);
        assert_eq!(run.code, 3, "{run:?}");
        assert!(run.stderr.contains("database file not found"), "{run:?}");
        assert!(run.stderr.contains(missing), "names the file: {run:?}");
    }
    assert!(!Path::new(missing).exists());

    // DATABASE_URL, then apikeys.db in the current folder.
    let env_db = dir.path().join("env.db");
    let env_url = OsString::from(format!("sqlite://{}", env_db.display()));
    let run = apikey_in(
        dir.path(),
        &[("DATABASE_URL", &env_url)],
        &[OsStr::new("migrate")],
        b"",
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(env_db.exists());
    let run = apikey_in(dir.path(), &[], &[OsStr::new("migrate")], b"");
    assert_eq!(run.code, 0, "{run:?}");
    assert!(dir.path().join("apikeys.db").exists());
    let bad = OsStr::from_bytes(b"\xff\xfe");
    let run = apikey_in(
        dir.path(),
        &[("DATABASE_URL", bad)],
        &[OsStr::new("list")],
        b"",
    );
    assert_eq!(run.code, 2, "{run:?}");
}

/// Each kind of failure has its exit code and says what it is: a database
/// that cannot be used is 3 (never "not usable" or "not found", never a
/// usage error), a wrong key 1 "not usable", an unknown prefix 1 "not found".
fn failures_say_what_they_are(db: &TestDb) {
    // The database exists but has no builtin key table: 3 for every key
    // command, naming the table and the way out, even for a well-formed key.
    db.create_django_table();
    let well_formed = format!("abcdefgh.{}", "A".repeat(32));
    for args in [
        &["list"][..],
        &["create", "--name", "x"],
        &["verify", &well_formed],
        &["revoke", "abcdefgh"],
    ] {
        let run = apikey(db, args);
        assert_eq!(run.code, 3, "{args:?}: {run:?}");
        assert!(answer(&run).starts_with("apikey: database "), "{run:?}");
        assert!(
            run.stderr
                .contains("the key table `api_keys` does not exist: run `apikey migrate` first"),
            "{run:?}"
        );
        assert!(!run.stderr.contains("not usable"), "{run:?}");
        assert!(!run.stderr.contains("not found"), "{run:?}");
        assert!(!run.stderr.contains(secret(&well_formed)), "{run:?}");
    }

    ok(apikey(db, &["migrate"]));
    let key = create(db, &["--name", "kinds"]);
    let prefix = key.split_once('.').expect("dot").0.to_owned();

    // A wrong secret: 1, not usable (not "not found", not a database error).
    let wrong = format!("{prefix}.{}", "A".repeat(32));
    let run = apikey(db, &["verify", &wrong]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(answer(&run).starts_with("apikey: not usable: "), "{run:?}");
    assert!(!run.stderr.contains("not found"), "{run:?}");
    assert!(!run.stderr.contains(secret(&wrong)), "{run:?}");
    // An unknown prefix, for verify: the same answer as a wrong secret.
    let run = apikey(db, &["verify", &well_formed]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(answer(&run).starts_with("apikey: not usable: "), "{run:?}");

    // An unknown prefix, for revoke: 1, not found (not "not usable").
    let run = apikey(db, &["revoke", "zzzzzzzz"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .starts_with("apikey: not found: no API key with prefix `zzzzzzzz`"),
        "{run:?}"
    );
    assert!(!run.stderr.contains("not usable"), "{run:?}");

    // A refused value: 2, a usage error.
    let run = apikey(db, &["create", "--name", " "]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("invalid name"), "{run:?}");
    let run = apikey(db, &["revoke", &key]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(!run.stderr.contains(secret(&key)), "{run:?}");
    ok(apikey(db, &["verify", &key]));
}

/// A PostgreSQL server that does not answer: every command but scaffold
/// exits 3 with a message naming the database, password redacted, no key.
#[test]
fn an_unreachable_database_is_a_database_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = "postgres://nobody:s3cret@127.0.0.1:1/keys?password=hunter2";
    let key = format!("abcdefgh.{}", "S".repeat(32));
    for args in [
        &["migrate"][..],
        &["create", "--name", "x"],
        &["list"],
        &["verify", &key],
        &["revoke", "abcdefgh"],
    ] {
        let mut all: Vec<&OsStr> = vec![OsStr::new("--database-url"), OsStr::new(url)];
        all.extend(args.iter().map(OsStr::new));
        let run = apikey_in(dir.path(), &[], &all, b"");
        assert_eq!(run.code, 3, "{args:?}: {run:?}");
        assert!(
            run.stderr
                .starts_with("apikey: database postgres://nobody:****@127.0.0.1:1/keys?****: "),
            "{args:?}: {run:?}"
        );
        assert!(run.stderr.contains("unavailable"), "{run:?}");
        for hidden in ["s3cret", "hunter2", secret(&key)] {
            assert!(!run.stderr.contains(hidden), "{args:?}: {run:?}");
        }
        assert_eq!(run.stdout, "", "{args:?}");
    }
    // The same URL in DATABASE_URL.
    let run = apikey_in(
        dir.path(),
        &[("DATABASE_URL", OsStr::new(url))],
        &[OsStr::new("list")],
        b"",
    );
    assert_eq!(run.code, 3, "{run:?}");
    assert!(!run.stderr.contains("s3cret"), "{run:?}");
}

fn hostile_input(db: &TestDb) {
    ok(apikey(db, &["migrate"]));
    let dir = tempfile::tempdir().expect("temp dir");
    let with_url = |args: &[&OsStr], stdin: &[u8]| {
        let mut all: Vec<&OsStr> = vec![OsStr::new("--database-url"), OsStr::new(&db.url)];
        all.extend(args);
        apikey_in(dir.path(), &[], &all, stdin)
    };
    let s = |x: &'static str| OsStr::new(x);
    // Under Linux's 128 KiB limit for one argument.
    let huge = "k".repeat(100_000);
    let huge_stdin = "k".repeat(1_000_000);
    let fifty_one = "n".repeat(51);
    let non_utf8 = OsStr::from_bytes(b"caf\xe9");

    let cases: Vec<(Vec<&OsStr>, &[u8], i32)> = vec![
        (vec![], b"", 2),
        (vec![s("frobnicate")], b"", 2),
        (vec![s("create")], b"", 2),
        (vec![s("create"), s("--name"), s("")], b"", 2),
        (vec![s("create"), s("--name"), s("   ")], b"", 2),
        (
            vec![s("create"), s("--name"), OsStr::new(&fifty_one)],
            b"",
            2,
        ),
        (vec![s("create"), s("--name"), s("line\nbreak")], b"", 2),
        (vec![s("create"), s("--name"), OsStr::new(&huge)], b"", 2),
        (vec![s("create"), s("--name"), non_utf8], b"", 2),
        (
            vec![s("create"), s("--name"), s("x"), s("--expires"), s("soon")],
            b"",
            2,
        ),
        (
            vec![
                s("create"),
                s("--name"),
                s("x"),
                s("--expires"),
                s("99999999999999999999d"),
            ],
            b"",
            2,
        ),
        (
            vec![s("create"), s("--name"), s("x"), s("--expires"), s("1e9w")],
            b"",
            2,
        ),
        (
            vec![s("create"), s("--name"), s("x"), s("--expires"), s("0d")],
            b"",
            2,
        ),
        (
            vec![
                s("create"),
                s("--name"),
                s("x"),
                s("--expires"),
                s("1999-01-01T00:00:00Z"),
            ],
            b"",
            2,
        ),
        (
            vec![s("create"), s("--name"), s("x"), s("--expires"), non_utf8],
            b"",
            2,
        ),
        (vec![s("verify")], b"", 2),
        (vec![s("verify"), non_utf8], b"", 2),
        (vec![s("verify"), OsStr::new(&huge)], b"", 1),
        (vec![s("verify"), s("a.b.c")], b"", 1),
        (vec![s("verify"), s(".")], b"", 1),
        (vec![s("verify"), s("%_.%_")], b"", 1),
        (vec![s("verify"), s("-")], b"", 1),
        (vec![s("verify"), s("-")], b"\xff\xfe\x00", 1),
        (vec![s("verify"), s("-")], huge_stdin.as_bytes(), 1),
        (vec![s("revoke")], b"", 2),
        (vec![s("revoke"), non_utf8], b"", 2),
        (vec![s("revoke"), OsStr::new(&huge)], b"", 1),
        (vec![s("revoke"), s("")], b"", 1),
        (vec![s("revoke"), s("%")], b"", 1),
        (vec![s("revoke"), s("abc.def")], b"", 2),
        (vec![s("list"), s("--search"), OsStr::new(&huge)], b"", 0),
        (vec![s("list"), s("--search"), non_utf8], b"", 2),
        (vec![s("--model"), s("mongo"), s("list")], b"", 2),
    ];
    for (args, stdin, code) in cases {
        let run = with_url(&args, stdin);
        let shown: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().chars().take(30).collect())
            .collect();
        assert_eq!(run.code, code, "{shown:?}: {run:?}");
        if code != 0 {
            assert!(run.stdout.is_empty(), "{shown:?}: {run:?}");
            assert!(run.stderr.len() < 4000, "{shown:?}: short messages");
        }
    }
    // Nothing was created by any of it.
    assert_eq!(list_json(db, &[]).len(), 0);
}

#[test]
fn help_on_every_command() {
    let dir = tempfile::tempdir().expect("temp dir");
    for args in [
        &["--help"][..],
        &["migrate", "--help"],
        &["create", "--help"],
        &["list", "--help"],
        &["revoke", "--help"],
        &["verify", "--help"],
        &["scaffold", "--help"],
        &["help", "verify"],
        &["--version"],
    ] {
        let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        let run = apikey_in(dir.path(), &[], &args, b"");
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
        assert!(!run.stdout.is_empty(), "{args:?}");
    }
    let run = apikey_in(
        dir.path(),
        &[],
        &[OsStr::new("verify"), OsStr::new("--help")],
        b"",
    );
    assert!(run.stdout.contains("stdin"), "documents `-`: {run:?}");
    // scaffold uses no database: its help lists no database option, and
    // giving one is a usage error rather than ignored.
    let run = apikey_in(
        dir.path(),
        &[],
        &[OsStr::new("scaffold"), OsStr::new("--help")],
        b"",
    );
    for option in ["--database-url", "--model"] {
        assert!(!run.stdout.contains(option), "{option}: {run:?}");
    }
    let list = apikey_in(
        dir.path(),
        &[],
        &[OsStr::new("list"), OsStr::new("--help")],
        b"",
    );
    for option in ["--database-url", "--model", "--table"] {
        assert!(list.stdout.contains(option), "{option}: {list:?}");
    }
    let args: Vec<&OsStr> = ["--database-url", "x.db", "scaffold", "--table", "t"]
        .iter()
        .map(OsStr::new)
        .collect();
    let run = apikey_in(dir.path(), &[], &args, b"");
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("uses no database"), "{run:?}");
    assert!(
        !dir.path().join("apikeys.db").exists(),
        "help touches no database"
    );
}

const ORG_COLUMN: &str =
    "organization_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE";

/// Runs `apikey scaffold` for `organization_api_keys` in `cwd`.
fn scaffold_org_keys(cwd: &Path, extra: &[&str]) -> Run {
    let mut args = vec![
        "scaffold",
        "--table",
        "organization_api_keys",
        "--column",
        ORG_COLUMN,
        "--index",
        "organization_id",
    ];
    args.extend(extra);
    let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    apikey_in(cwd, &[], &args, b"")
}

/// `--with` adds the columns the library fills, as `KeyTable` writes them
/// on each backend; an unknown one is a usage error that writes nothing.
#[test]
fn scaffold_with_opt_in_columns() {
    let dir = tempfile::tempdir().expect("temp dir");
    let args = [
        "--version",
        "2026-01-01-000000",
        "--with",
        "scopes",
        "--with",
        "rotated-from",
        "--with",
        "last-used-at",
    ];
    ok(scaffold_org_keys(dir.path(), &args));
    for (backend, kind) in [
        ("sqlite", BackendKind::Sqlite),
        ("postgres", BackendKind::Postgres),
    ] {
        let up = std::fs::read_to_string(dir.path().join(format!(
            "migrations/{backend}/2026-01-01-000000_create_organization_api_keys/up.sql"
        )))
        .expect("up.sql");
        let want = apikey_core::scaffold::KeyTable::new("organization_api_keys")
            .column(ORG_COLUMN)
            .scopes()
            .rotated_from()
            .last_used_at()
            .index("organization_id")
            .migration(kind)
            .expect("scaffold");
        assert_eq!(up, want.up, "{backend}");
        assert!(up.contains("scopes TEXT NOT NULL DEFAULT ''"), "{up}");
        assert!(up.contains("rotated_from VARCHAR(64) NULL"), "{up}");
    }
    let other = tempfile::tempdir().expect("temp dir");
    let run = scaffold_org_keys(other.path(), &["--with", "quotas"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("last-used-at"),
        "lists the choices: {run:?}"
    );
    assert!(!other.path().join("migrations").exists(), "nothing written");
}

/// `apikey scaffold` writes the two migration folders, the same SQL as
/// `KeyTable`, without touching any database (not even a DATABASE_URL that
/// points nowhere); bad input writes nothing.
#[test]
fn scaffold_writes_migration_folders() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = ok(scaffold_org_keys(
        dir.path(),
        &["--dir", "mig", "--version", "2026-12-01-120000"],
    ));
    let folder = "2026-12-01-120000_create_organization_api_keys";
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            format!("mig/sqlite/{folder}"),
            format!("mig/postgres/{folder}")
        ],
        "{run:?}"
    );
    let table = apikey_core::scaffold::KeyTable::new("organization_api_keys")
        .column(ORG_COLUMN)
        .index("organization_id");
    for (backend, kind) in [
        ("sqlite", BackendKind::Sqlite),
        ("postgres", BackendKind::Postgres),
    ] {
        let path = dir.path().join("mig").join(backend).join(folder);
        let expected = table.migration(kind).expect("sql");
        let read = |f: &str| std::fs::read_to_string(path.join(f)).expect("written");
        assert_eq!(read("up.sql"), expected.up);
        assert_eq!(read("down.sql"), expected.down);
    }
    assert!(
        !dir.path().join("apikeys.db").exists(),
        "no database touched"
    );

    // The default version is now, as diesel names migrations; the default
    // folder is `migrations`. DATABASE_URL is not even parsed.
    let before = Utc::now().format("%Y-%m-%d").to_string();
    let args: Vec<&OsStr> = ["scaffold", "--table", "team_keys"]
        .iter()
        .map(OsStr::new)
        .collect();
    let run = ok(apikey_in(
        dir.path(),
        &[(
            "DATABASE_URL",
            OsStr::new("postgres://nobody@127.0.0.1:1/none"),
        )],
        &args,
        b"",
    ));
    let first = run.stdout.lines().next().expect("a folder");
    let name = first
        .strip_prefix("migrations/sqlite/")
        .expect("default dir");
    let (version, rest) = name.split_at(17);
    assert_eq!(rest, "_create_team_keys");
    assert!(version.starts_with(&before[..4]), "{version}");
    assert!(
        version
            .chars()
            .enumerate()
            .all(|(i, c)| if [4, 7, 10].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_digit()
            }),
        "{version}"
    );

    // Backend-specific columns.
    let args: Vec<&OsStr> = [
        "scaffold",
        "--table",
        "split_keys",
        "--sqlite-column",
        "score INTEGER NOT NULL DEFAULT 0",
        "--postgres-column",
        "score SMALLINT NOT NULL DEFAULT 0",
        "--dir",
        "split",
        "--version",
        "1",
    ]
    .iter()
    .map(OsStr::new)
    .collect();
    ok(apikey_in(dir.path(), &[], &args, b""));
    let up = |b: &str| {
        std::fs::read_to_string(
            dir.path()
                .join(format!("split/{b}/1_create_split_keys/up.sql")),
        )
        .expect("up")
    };
    assert!(up("sqlite").contains("score INTEGER") && !up("sqlite").contains("SMALLINT"));
    assert!(up("postgres").contains("score SMALLINT") && !up("postgres").contains("score INTEGER"));

    // An existing folder is never overwritten.
    let sqlite_up = dir.path().join("mig/sqlite").join(folder).join("up.sql");
    std::fs::write(&sqlite_up, "-- edited by hand\n").expect("edit");
    let run = scaffold_org_keys(
        dir.path(),
        &["--dir", "mig", "--version", "2026-12-01-120000"],
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("already exists"), "{run:?}");
    assert_eq!(run.stdout, "");
    assert_eq!(
        std::fs::read_to_string(&sqlite_up).expect("kept"),
        "-- edited by hand\n"
    );

    // A folder that cannot be written (here: --dir is a file): an I/O
    // error, 4, not a usage error.
    std::fs::write(dir.path().join("plain-file"), "").expect("file");
    let run = scaffold_org_keys(dir.path(), &["--dir", "plain-file", "--version", "1"]);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(
        run.stderr
            .starts_with("apikey: cannot write the migrations under plain-file: "),
        "{run:?}"
    );
    assert_eq!(run.stdout, "");

    // Bad input: exit 2, a clear message, nothing written.
    for (args, message) in [
        (&["--table", "Org Keys"][..], "lowercase SQL identifier"),
        (
            &["--table", "k", "--version", "2026_12"],
            "invalid migration version",
        ),
        (
            &["--table", "k", "--index", "a;b"],
            "lowercase SQL identifier",
        ),
        (&["--table", "k", "--column", " "], "cannot be empty"),
        (&["--column", "x INTEGER"], "--table"),
    ] {
        let bad = tempfile::tempdir().expect("temp dir");
        let mut all = vec!["scaffold"];
        all.extend(args);
        let all: Vec<&OsStr> = all.iter().map(OsStr::new).collect();
        let run = apikey_in(bad.path(), &[], &all, b"");
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stderr.contains(message), "{args:?}: {run:?}");
        assert_eq!(
            std::fs::read_dir(bad.path()).expect("dir").count(),
            0,
            "{args:?} wrote something"
        );
    }
}

/// The SQL `apikey scaffold` writes runs on a real database: the table
/// takes keys, its prefix is unique, revocation is irreversible, the foreign
/// key cascades, and down.sql undoes it all.
fn scaffolded_sql_runs(db: &TestDb) {
    let dir = tempfile::tempdir().expect("temp dir");
    ok(scaffold_org_keys(
        dir.path(),
        &["--dir", "m", "--version", "2026-12-01-120000"],
    ));
    let backend = match db.kind {
        BackendKind::Postgres => "postgres",
        _ => "sqlite",
    };
    let folder = dir
        .path()
        .join("m")
        .join(backend)
        .join("2026-12-01-120000_create_organization_api_keys");
    let read = |f: &str| std::fs::read_to_string(folder.join(f)).expect("read");
    db.create_organizations_table();
    db.raw_sql(&read("up.sql")).expect("up.sql runs");
    let fk = match db.kind {
        BackendKind::Postgres => "",
        _ => "PRAGMA foreign_keys = ON; ",
    };
    db.raw_sql(&format!(
        "{fk}INSERT INTO organizations (id, name) VALUES (1, 'Acme'), (2, 'Globex');
         INSERT INTO organization_api_keys (prefix, hashed_key, created, name, organization_id)
         VALUES ('aaaaaaaa', 'x', '2026-01-01 00:00:00', 'acme', 1),
                ('bbbbbbbb', 'y', '2026-01-01 00:00:00', 'globex', 2);
         UPDATE organization_api_keys SET revoked = TRUE WHERE prefix = 'bbbbbbbb';"
    ))
    .expect("rows");
    let dup =
        "INSERT INTO organization_api_keys (prefix, hashed_key, created, name, organization_id) \
               VALUES ('aaaaaaaa', 'z', '2026-01-01 00:00:00', 'dup', 1)";
    assert!(db.raw_sql(dup).is_err(), "prefix is unique");
    let orphan = format!(
        "{fk}INSERT INTO organization_api_keys (prefix, hashed_key, created, name, organization_id) \
         VALUES ('cccccccc', 'z', '2026-01-01 00:00:00', 'orphan', 99)"
    );
    assert!(db.raw_sql(&orphan).is_err(), "foreign key enforced");
    let unrevoke = "UPDATE organization_api_keys SET revoked = FALSE";
    assert!(db.raw_sql(unrevoke).is_err(), "revocation is irreversible");
    db.raw_sql(&format!("{fk}DELETE FROM organizations WHERE id = 1"))
        .expect("delete");
    let gone = format!(
        "{fk}INSERT INTO organization_api_keys (prefix, hashed_key, created, name, organization_id) \
         VALUES ('aaaaaaaa', 'x2', '2026-01-01 00:00:00', 'reused', 2)"
    );
    db.raw_sql(&gone)
        .expect("the cascade deleted Acme's key, so its prefix is free again");

    db.raw_sql(&read("down.sql")).expect("down.sql runs");
    db.raw_sql("SELECT 1 FROM organization_api_keys")
        .expect_err("table dropped");
    db.raw_sql(&read("up.sql")).expect("up.sql runs again");
}

/// The application's model, as an application derives it: the CLI's
/// `--table` works on its table without knowing the type, and keys made by
/// either side are the other's.
mod project {
    use apikey_core::chrono::NaiveDateTime;
    use apikey_core::ApiKeyModel;
    use diesel::prelude::*;

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
            label -> Nullable<Text>,
        }
    }

    #[derive(Debug, Clone, Queryable, Selectable, ApiKeyModel)]
    pub struct ProjectApiKey {
        pub id: i64,
        pub prefix: String,
        pub hashed_key: String,
        pub created: NaiveDateTime,
        pub name: String,
        pub revoked: bool,
        pub expiry_date: Option<NaiveDateTime>,
        pub project_id: i64,
        pub label: Option<String>,
    }
}

fn any_key_table(db: &TestDb) {
    use apikey_core::scaffold::KeyTable;
    use project::{ProjectApiKey, ProjectApiKeyFields};

    // The application's tables: no built-in table at all.
    let projects = match db.kind {
        BackendKind::Postgres => {
            "CREATE TABLE projects (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL)"
        }
        _ => "CREATE TABLE projects (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
    };
    db.raw_sql(projects).expect("projects");
    db.raw_sql("INSERT INTO projects (id, name) VALUES (5, 'five'), (6, 'six')")
        .expect("rows");
    let up = KeyTable::new("project_api_keys")
        .column("project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE")
        .column("label TEXT")
        .migration(db.kind)
        .expect("table")
        .up;
    db.raw_sql(&up).expect("key table");
    let t = ["--table", "project_api_keys"];
    let with = |args: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        v.extend(t.iter().map(|s| s.to_string()));
        v
    };
    let run = |args: &[&str]| {
        let args = with(args);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        apikey(db, &args)
    };

    // create --set: the key alone on stdout, the row with its own columns.
    let made = ok(run(&[
        "create",
        "--name",
        "blue-key",
        "--set",
        "project_id=5",
        "--set",
        "label=blue",
    ]));
    let key = made.stdout.trim().to_owned();
    let prefix = key.split_once('.').expect("dot").0.to_owned();
    assert!(apikey_tests::is_key_shaped(&key, 8, 32), "{made:?}");
    // Options before the command work too.
    let before = ok(apikey(
        db,
        &[
            "--table",
            "project_api_keys",
            "create",
            "--name",
            "other",
            "--set",
            "project_id=6",
        ],
    ));
    let other = before.stdout.trim().to_owned();

    // list --json: base columns and own columns, typed.
    let listed = run(&["list", "--json"]);
    let rows: Vec<Value> = serde_json::from_str(&ok(listed).stdout).expect("json");
    assert_eq!(rows.len(), 2);
    let row = rows
        .iter()
        .find(|r| r["prefix"] == prefix.as_str())
        .expect("row");
    assert_eq!(row["name"], "blue-key");
    assert_eq!(row["project_id"], 5);
    assert_eq!(row["label"], "blue");
    assert_eq!(row["revoked"], false);
    assert!(row.get("hashed_key").is_none(), "never the hash");
    let other_row = rows
        .iter()
        .find(|r| r["prefix"] != prefix.as_str())
        .expect("row");
    assert_eq!(other_row["project_id"], 6);
    assert_eq!(other_row["label"], Value::Null);
    // The table: own columns after the base ones.
    let table = ok(run(&["list"])).stdout;
    let header = table.lines().next().expect("header");
    assert!(header.ends_with("REVOKED  PROJECT_ID  LABEL"), "{table}");
    assert!(table.contains("blue"), "{table}");
    // Filters apply.
    let search: Vec<Value> =
        serde_json::from_str(&ok(run(&["list", "--json", "--search", "BLUE-K"])).stdout)
            .expect("json");
    assert_eq!(search.len(), 1);

    // The application's manager sees the CLI's key, and the CLI the manager's.
    let keys = BaseApiKeyManager::<ProjectApiKey>::new(db.database()).without_cache();
    assert_eq!(keys.get_from_key(&key).expect("usable").project_id, 5);
    let (_, app_key) = keys
        .create_key(NewKey::with_extra(
            "from the app",
            ProjectApiKeyFields {
                project_id: 6,
                label: None,
            },
        ))
        .expect("create");
    ok(run(&["verify", app_key.expose_secret()]));

    // verify, revoke, verify.
    ok(run(&["verify", &key]));
    let wrong = format!("{prefix}.{}", "A".repeat(32));
    assert_eq!(run(&["verify", &wrong]).code, 1);
    ok(run(&["revoke", &prefix]));
    assert_eq!(run(&["verify", &key]).code, 1);
    assert!(
        keys.get_from_key(&key).is_err(),
        "revoked for the application too"
    );
    ok(run(&["revoke", &prefix])); // already revoked: still success
    assert_eq!(run(&["revoke", "zzzzzzzz"]).code, 1);
    let revoked: Vec<Value> =
        serde_json::from_str(&ok(run(&["list", "--json", "--revoked"])).stdout).expect("json");
    assert_eq!(revoked.len(), 1);
    ok(run(&["verify", &other]));

    // Refused values: usage errors, nothing written.
    let count = || {
        serde_json::from_str::<Vec<Value>>(&ok(run(&["list", "--json"])).stdout)
            .expect("json")
            .len()
    };
    let before = count();
    for (args, says) in [
        (vec!["create", "--name", "x"], "--set project_id=VALUE"),
        (
            vec![
                "create",
                "--name",
                "x",
                "--set",
                "nope=1",
                "--set",
                "project_id=5",
            ],
            "no such column",
        ),
        (
            vec![
                "create",
                "--name",
                "x",
                "--set",
                "revoked=1",
                "--set",
                "project_id=5",
            ],
            "base column",
        ),
        (
            vec!["create", "--name", "x", "--set", "project_id"],
            "COLUMN=VALUE",
        ),
        (
            vec!["create", "--name", " ", "--set", "project_id=5"],
            "invalid name",
        ),
    ] {
        let r = run(&args);
        assert_eq!(r.code, 2, "{args:?} {r:?}");
        assert!(r.stderr.contains(says), "{args:?} {r:?}");
    }
    // A value the database refuses (no project 99: the foreign key).
    let fk = run(&["create", "--name", "x", "--set", "project_id=99"]);
    assert_eq!(fk.code, 3, "{fk:?}");
    assert_eq!(count(), before);

    // Not a key table: a clear error, never an empty success.
    for cmd in [
        vec!["list"],
        vec!["revoke", "abcdefgh"],
        vec!["verify", &key],
    ] {
        let mut args: Vec<&str> = cmd.clone();
        args.extend(["--table", "projects"]);
        let r = apikey(db, &args);
        assert_eq!(r.code, 2, "{r:?}");
        assert!(
            r.stderr
                .contains("`projects` is not a key table: it has no column `prefix`"),
            "{r:?}"
        );
        let mut args: Vec<&str> = cmd.clone();
        args.extend(["--table", "no_such_table"]);
        let r = apikey(db, &args);
        assert_eq!(r.code, 3, "{r:?}");
        assert!(
            r.stderr.contains("there is no table `no_such_table`"),
            "{r:?}"
        );
    }
    let r = apikey(db, &["list", "--table", "bad name;"]);
    assert_eq!(r.code, 2, "{r:?}");
    let r = apikey(db, &["migrate", "--table", "project_api_keys"]);
    assert_eq!(r.code, 2, "{r:?}");
    let r = apikey(
        db,
        &["--model", "django", "list", "--table", "project_api_keys"],
    );
    assert_eq!(r.code, 2, "{r:?}");

    // A missing key table (Django's, here), and the application's: the
    // error says where the keys are.
    let r = apikey(db, &["--model", "django", "list"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stderr.contains("with --table NAME: "), "{r:?}");
    assert!(r.stderr.contains("project_api_keys"), "{r:?}");
    // The built-in table, empty next to the application's: the command
    // says where the keys are.
    ok(apikey(db, &["migrate"]));
    let r = ok(apikey(db, &["list"]));
    assert!(
        r.stderr.contains("other key tables: project_api_keys"),
        "{r:?}"
    );
    let r = apikey(db, &["revoke", &prefix]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("--table"), "{r:?}");
}

fn branded_keys(db: &TestDb) {
    ok(apikey(db, &["migrate"]));
    let plain = create(db, &["--name", "plain"]);
    let run = ok(apikey(
        db,
        &["create", "--name", "branded", "--brand", "acme"],
    ));
    let key = run.stdout.trim_end().to_owned();
    assert_eq!(run.stdout, format!("{key}\n"), "the key alone on stdout");
    assert!(key.starts_with("acme_"), "{key}");
    assert!(apikey_core::branded::is_branded_key(&key), "{key}");
    let prefix = apikey_core::key::split_prefix(&key).to_owned();
    assert!(
        !run.stderr.contains(secret(&key)),
        "no key material on stderr"
    );
    assert!(run.stderr.contains(&prefix), "{run:?}");
    let listed = list_json(db, &["--search", "branded"]);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["prefix"], prefix.as_str());

    // Both shapes verify; every corruption of the branded one is refused.
    ok(apikey(db, &["verify", &key]));
    ok(apikey(db, &["verify", &plain]));
    let mut corrupted = key.clone();
    let last = corrupted.pop().expect("a character");
    corrupted.push(if last == 'A' { 'B' } else { 'A' });
    let run = apikey(db, &["verify", &corrupted]);
    assert_eq!(run.code, 1, "{run:?}");

    // Bad brands and Django's 8-character prefixes: usage errors, no key.
    for bad in ["Acme", "ac_me", "", "abcdefghijklmnopq"] {
        let run = apikey(db, &["create", "--name", "x", "--brand", bad]);
        assert_eq!(run.code, 2, "{bad:?}: {run:?}");
        assert!(run.stderr.contains("brand"), "{run:?}");
        assert_eq!(run.stdout, "");
    }
    db.create_django_table();
    let run = apikey(
        db,
        &[
            "--model", "django", "create", "--name", "x", "--brand", "acme",
        ],
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("8-character"), "{run:?}");
    assert_eq!(run.stdout, "");
    assert!(list_json(db, &["--model", "django"]).is_empty());
    assert_eq!(list_json(db, &[]).len(), 2);
}

/// `apikey list | head -1`: the reader goes after one line; the rest of a
/// long list meets a closed pipe, which ends the command quietly (exit 0,
/// no panic), and `head` got its line.
fn list_into_a_closed_pipe(db: &TestDb) {
    ok(apikey(db, &["migrate"]));
    let key = create(db, &["--name", "first"]);
    // Enough rows that `list` writes far more than a pipe buffer (64 KiB).
    let rows = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 3000) \
                INSERT INTO api_keys (prefix, hashed_key, created, name, revoked) \
                SELECT 'p' || (1000000 + x), 'sha512$$0', '2025-01-01 00:00:00', \
                       'a name long enough to fill the pipe quickly ' || x, false FROM n";
    let rows = match db.kind {
        BackendKind::Postgres => rows.replace("'p' || (1000000 + x)", "'p' || (1000000 + x)::text"),
        _ => rows.to_owned(),
    };
    db.raw_sql(&rows).expect("bulk rows");
    let script = "set -o pipefail; \"$0\" --database-url \"$1\" list | head -1; \
                  echo \"status=${PIPESTATUS[0]}\" >&2";
    let out = Command::new("bash")
        .args(["-c", script, env!("CARGO_BIN_EXE_apikey"), &db.url])
        .output()
        .expect("run the pipeline");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stdout.lines().count(), 1, "head printed one line: {stdout}");
    assert!(stderr.contains("status=0"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stdout.contains(secret(&key)));
}

/// The store goes away after `apikey` connected (here: while `verify -`
/// waits for the key on stdin, the database is dropped): a database
/// failure, exit 3, named as one; never a usage error or a panic.
#[test]
fn postgres_store_gone_after_connecting_is_a_database_failure() {
    let db = TestDb::postgres();
    ok(apikey(&db, &["migrate"]));
    let key = create(&db, &["--name", "doomed"]);
    let name = db.url.rsplit('/').next().expect("database name").to_owned();
    let server = apikey_tests::pg_server_url();
    let mut child = Command::new(env!("CARGO_BIN_EXE_apikey"))
        .args(["--database-url", &db.url, "verify", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn apikey");
    let mut admin = diesel::PgConnection::establish(&server).expect("connect");
    // Positive evidence first: apikey's connection is there.
    let connected = format!(
        "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = '{name}' \
         AND pid <> pg_backend_pid()"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let n: i64 = diesel::sql_query(&connected)
            .get_result::<Count>(&mut admin)
            .expect("count")
            .n;
        if n > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "apikey never connected"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    diesel::connection::SimpleConnection::batch_execute(
        &mut admin,
        &format!("DROP DATABASE {name} WITH (FORCE)"),
    )
    .expect("drop the database under apikey");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(key.as_bytes()).expect("send the key");
    drop(input);
    let out = child.wait_with_output().expect("apikey output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("database"), "{stderr}");
    assert!(!stderr.contains(secret(&key)), "{stderr}");
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn rotate_keys(db: &TestDb) {
    ok(apikey(db, &["migrate"]));
    let old = create(db, &["--name", "billing", "--expires", "30d"]);
    let old_prefix = old.split_once('.').expect("dot").0.to_owned();
    let expiry = list_json(db, &[])[0]["expiry_date"].clone();

    // Grace 0 (the default): the old key stops at once.
    let run = ok(apikey(db, &["rotate", &old_prefix]));
    let new = run.stdout.trim_end().to_owned();
    assert_eq!(run.stdout, format!("{new}\n"), "the key alone on stdout");
    let (new_prefix, new_secret) = new.split_once('.').expect("prefix.secret");
    assert_eq!((new_prefix.len(), new_secret.len()), (8, 32));
    assert!(
        !run.stderr.contains(new_secret),
        "no key material on stderr"
    );
    assert!(
        run.stderr.contains(&old_prefix) && run.stderr.contains(new_prefix),
        "{run:?}"
    );
    assert!(run.stderr.contains("revoked"), "{run:?}");
    assert_eq!(apikey(db, &["verify", &old]).code, 1);
    ok(apikey(db, &["verify", &new]));
    let active = list_json(db, &["--active"]);
    assert_eq!(active.len(), 1);
    assert_eq!(active[0]["prefix"], new_prefix);
    assert_eq!(active[0]["name"], "billing");
    assert_eq!(active[0]["expiry_date"], expiry, "the same expiry date");

    // With a grace: both work; the old one's expiry is brought forward.
    let run = ok(apikey(db, &["rotate", new_prefix, "--grace", "24h"]));
    let newer = run.stdout.trim_end().to_owned();
    assert!(run.stderr.contains("keeps working until"), "{run:?}");
    ok(apikey(db, &["verify", &new]));
    ok(apikey(db, &["verify", &newer]));
    let listed = list_json(db, &["--search", new_prefix]);
    let until = DateTime::parse_from_rfc3339(listed[0]["expiry_date"].as_str().expect("set"))
        .expect("rfc3339");
    let left = until.with_timezone(&Utc) - Utc::now();
    assert!(
        left > Duration::hours(23) && left <= Duration::hours(24),
        "{left}"
    );

    // Refusals: revoked (2), unknown (1), a whole key (2), a bad grace (2).
    let n = list_json(db, &[]).len();
    let run = apikey(db, &["rotate", &old_prefix]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("revoked"), "{run:?}");
    assert_eq!(run.stdout, "");
    let run = apikey(db, &["rotate", "NoSuchPx"]);
    assert_eq!(run.code, 1, "{run:?}");
    let run = apikey(db, &["rotate", &newer]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(!run.stderr.contains(secret(&newer)), "{run:?}");
    for bad in ["abc", "-1h", "", "24"] {
        let run = apikey(db, &["rotate", new_prefix, "--grace", bad]);
        assert_eq!(run.code, 2, "{bad:?}: {run:?}");
    }
    assert_eq!(list_json(db, &[]).len(), n, "nothing created");

    // A new key that cannot be printed is revoked; the old one keeps its grace.
    let newer_prefix = newer.split_once('.').expect("dot").0.to_owned();
    let mut child = Command::new(env!("CARGO_BIN_EXE_apikey"))
        .args([
            "--database-url",
            &db.url,
            "rotate",
            &newer_prefix,
            "--grace",
            "1h",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("output");
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert_eq!(list_json(db, &[]).len(), n + 1, "one more key...");
    let active: Vec<String> = list_json(db, &["--active"])
        .iter()
        .map(|k| k["prefix"].as_str().expect("prefix").to_owned())
        .collect();
    assert_eq!(active.len(), 2, "...revoked: {active:?}");
    assert!(active.contains(&newer_prefix) && active.contains(&new_prefix.to_owned()));
    ok(apikey(db, &["verify", &newer]));
}

fn scoped_keys(db: &TestDb) {
    ok(apikey(db, &["migrate"]));
    create(
        db,
        &[
            "--name",
            "billing",
            "--scope",
            "billing:read",
            "--scope",
            "reports:*",
        ],
    );
    create(db, &["--name", "plain"]);
    let listed = list_json(db, &["--search", "billing"]);
    assert_eq!(
        listed[0]["scopes"],
        serde_json::json!(["billing:read", "reports:*"])
    );
    let listed = list_json(db, &["--search", "plain"]);
    assert_eq!(listed[0]["scopes"], serde_json::json!([]));
    for bad in ["*", "billing", "Billing:read", "billing:*:x", ""] {
        let run = apikey(db, &["create", "--name", "x", "--scope", bad]);
        assert_eq!(run.code, 2, "{bad:?}: {run:?}");
        assert!(run.stderr.contains("scope"), "{run:?}");
        assert_eq!(run.stdout, "");
    }
    let run = apikey(db, &["create", "--name", "x", "--set", "scopes=a:b"]);
    assert_eq!(run.code, 2, "{run:?}");
    db.create_django_table();
    let run = apikey(
        db,
        &[
            "--model",
            "django",
            "create",
            "--name",
            "x",
            "--scope",
            "billing:read",
        ],
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("no scopes"), "{run:?}");
    assert_eq!(list_json(db, &[]).len(), 2, "nothing else created");
}

fn last_used_keys(db: &TestDb) {
    ok(apikey(db, &["migrate"]));
    let used = create(db, &["--name", "used"]);
    let idle = create(db, &["--name", "idle"]);
    let listed = list_json(db, &[]);
    assert!(
        listed.iter().all(|k| k["last_used_at"].is_null()),
        "{listed:?}"
    );
    let table = ok(apikey(db, &["list"])).stdout;
    assert!(
        table
            .lines()
            .next()
            .is_some_and(|h| h.contains("LAST USED")),
        "{table}"
    );
    assert!(table.contains("never"), "{table}");

    // `verify` is an operator's check, not a use.
    ok(apikey_stdin(db, &["verify", "-"], used.as_bytes()));
    assert!(list_json(db, &[])
        .iter()
        .all(|k| k["last_used_at"].is_null()));

    // A server uses the key.
    let before = Utc::now();
    let server: BaseApiKeyManager<ApiKey> =
        BaseApiKeyManager::new(Database::connect(&db.url).expect("connect"));
    assert!(server.is_valid(&used).expect("answered"));
    assert_eq!(server.flush_last_used().expect("flush"), 1);
    let listed = list_json(db, &["--search", "used"]);
    let at: DateTime<Utc> = listed[0]["last_used_at"]
        .as_str()
        .expect("a time")
        .parse()
        .expect("RFC 3339");
    assert!(
        at >= before - Duration::seconds(1) && at <= Utc::now(),
        "{at}"
    );
    assert!(list_json(db, &["--search", "idle"])[0]["last_used_at"].is_null());

    // Both keys made 100 days ago: only the one never used since is listed.
    let old = (Utc::now() - Duration::days(100)).naive_utc();
    db.raw_sql(&format!(
        "UPDATE api_keys SET created = '{}'",
        old.format("%Y-%m-%d %H:%M:%S")
    ))
    .expect("backdate");
    let unused = list_json(db, &["--unused-for", "90d"]);
    let names: Vec<&str> = unused.iter().filter_map(|k| k["name"].as_str()).collect();
    assert_eq!(names, ["idle"], "{unused:?}");
    assert_eq!(list_json(db, &["--unused-for", "101d"]).len(), 0);
    assert_eq!(
        list_json(db, &["--unused-for", "1s"]).len(),
        1,
        "used just now"
    );
    let _ = idle;
    // Any key table by name: the same column, the same filter.
    let by_name = |extra: &[&str]| {
        let mut args = vec!["--table", "api_keys", "list", "--json"];
        args.extend(extra);
        serde_json::from_str::<Value>(&ok(apikey(db, &args)).stdout).expect("json")
    };
    let all = by_name(&[]);
    let used_row = all
        .as_array()
        .expect("array")
        .iter()
        .find(|k| k["name"] == "used")
        .expect("listed");
    assert_eq!(
        used_row["last_used_at"]
            .as_str()
            .and_then(|t| t.parse::<DateTime<Utc>>().ok()),
        Some(at),
        "{all}"
    );
    let unused = by_name(&["--unused-for", "90d"]);
    assert_eq!(unused.as_array().map(Vec::len), Some(1), "{unused}");
    assert_eq!(unused[0]["name"], "idle");
    let table = ok(apikey(db, &["--table", "api_keys", "list"])).stdout;
    let header = table.lines().next().unwrap_or_default();
    assert!(
        header.contains("LAST USED") && !header.contains("LAST_USED_AT"),
        "{table}"
    );

    for bad in ["90", "x", "0d", "-3d", "99999999999999999w", ""] {
        let run = apikey(db, &["list", "--unused-for", bad]);
        assert_eq!(run.code, 2, "{bad:?}: {run:?}");
        assert_eq!(run.stdout, "");
    }
    // Django's table records no use.
    db.create_django_table();
    let run = apikey(db, &["--model", "django", "list", "--unused-for", "90d"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("last use"), "{run:?}");
    let table = ok(apikey(db, &["--model", "django", "list"])).stdout;
    assert!(!table.contains("LAST USED"), "{table}");
}

fn limited_keys(db: &TestDb) {
    ok(apikey(db, &["migrate"]));
    create(db, &["--name", "rated", "--rate", "10/s", "--uses", "1000"]);
    create(db, &["--name", "hourly", "--rate", "10000/hour"]);
    create(db, &["--name", "plain"]);
    let listed = list_json(db, &["--search", "rated"]);
    assert_eq!(listed[0]["rate_limit"], serde_json::json!("10/s"));
    assert_eq!(listed[0]["remaining_uses"], serde_json::json!(1000));
    let listed = list_json(db, &["--search", "hourly"]);
    assert_eq!(listed[0]["rate_limit"], serde_json::json!("10000/h"));
    assert_eq!(listed[0]["remaining_uses"], serde_json::Value::Null);
    let listed = list_json(db, &["--search", "plain"]);
    assert_eq!(listed[0]["rate_limit"], serde_json::Value::Null);
    let table = ok(apikey(db, &["list", "--search", "rated"]));
    assert!(table.stdout.contains("RATE"), "{table:?}");
    assert!(table.stdout.contains("10/s"), "{table:?}");
    assert!(table.stdout.contains("1000"), "{table:?}");
    for bad in [
        "10",
        "10/m",
        "0/s",
        "-1/s",
        "1.5/s",
        "10/fortnight",
        "99999999999999999999999/s",
        "",
    ] {
        let arg = format!("--rate={bad}");
        let run = apikey(db, &["create", "--name", "x", &arg]);
        assert_eq!(run.code, 2, "{bad:?}: {run:?}");
        assert!(run.stderr.contains("rate"), "{run:?}");
        assert_eq!(run.stdout, "");
    }
    for bad in ["-1", "x", "1e3", "99999999999999999999999", ""] {
        let arg = format!("--uses={bad}");
        let run = apikey(db, &["create", "--name", "x", &arg]);
        assert_eq!(run.code, 2, "{bad:?}: {run:?}");
        assert!(run.stderr.contains("uses"), "{run:?}");
        assert_eq!(run.stdout, "");
    }
    let run = apikey(db, &["create", "--name", "x", "--set", "rate_limit=1/s"]);
    assert_eq!(run.code, 2, "{run:?}");
    // A daily refill: full at creation, shown in list.
    create(db, &["--name", "daily", "--refill", "500/day"]);
    let listed = list_json(db, &["--search", "daily"]);
    assert_eq!(listed[0]["uses_refill"], serde_json::json!("500/day"));
    assert_eq!(listed[0]["remaining_uses"], serde_json::json!(500));
    let table = ok(apikey(db, &["list", "--search", "daily"]));
    assert!(table.stdout.contains("500 (refill 500/day)"), "{table:?}");
    for bad in ["500", "0/day", "500/week", "-1/day"] {
        let arg = format!("--refill={bad}");
        let run = apikey(db, &["create", "--name", "x", &arg]);
        assert_eq!(run.code, 2, "{bad:?}: {run:?}");
        assert!(run.stderr.contains("refill"), "{run:?}");
    }
    db.create_django_table();
    for (flag, value) in [("--rate", "10/s"), ("--uses", "5"), ("--refill", "5/day")] {
        let run = apikey(
            db,
            &["--model", "django", "create", "--name", "x", flag, value],
        );
        assert_eq!(run.code, 2, "{run:?}");
        assert!(run.stderr.contains("Django's table has none"), "{run:?}");
    }
    assert_eq!(list_json(db, &[]).len(), 4, "nothing else created");
}

backend_tests!(
    last_used_keys,
    limited_keys,
    scoped_keys,
    rotate_keys,
    branded_keys,
    list_into_a_closed_pipe,
    any_key_table,
    scaffolded_sql_runs,
    every_command,
    no_key_material_leaves_except_create,
    create_with_closed_stdout_revokes_the_key,
    django_table,
    failures_say_what_they_are,
    hostile_input,
);
