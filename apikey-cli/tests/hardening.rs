//! The built `apikey` binary against abuse cases (issue 12): passwords in
//! database URLs, names that read differently from what they are, expiry
//! dates past year 9999, keys on the command line.

use std::io::Write;
use std::process::{Command, Stdio};

use apikey_tests::TestDb;

#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn apikey(env: &[(&str, &str)], args: &[&str], stdin: &[u8]) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_apikey"));
    cmd.current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("APIKEY_KEY")
        .envs(env.iter().copied())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn apikey");
    let mut input = child.stdin.take().expect("stdin");
    let _ = input.write_all(stdin);
    drop(input);
    let out = child.wait_with_output().expect("apikey output");
    let run = Run {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_ne!(run.code, 101, "apikey panicked: {run:?}");
    run
}

fn on(db: &TestDb, args: &[&str]) -> Run {
    let mut all = vec!["--database-url", db.url.as_str()];
    all.extend(args);
    apikey(&[], &all, b"")
}

fn migrated() -> TestDb {
    let db = TestDb::sqlite();
    assert_eq!(on(&db, &["migrate"]).code, 0);
    db
}

fn listed(db: &TestDb) -> usize {
    let run = on(db, &["list", "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    serde_json::from_str::<serde_json::Value>(&run.stdout)
        .expect("json")
        .as_array()
        .expect("array")
        .len()
}

#[test]
fn no_password_in_any_message() {
    for (url, password) in [
        ("postgres://u:pa/ss@127.0.0.1:1/db", "pa/ss"),
        ("postgres://u:p@ss@127.0.0.1:1/db", "p@ss"),
        ("postgres://u:p:ss@127.0.0.1:1/db", "p:ss"),
        ("postgres://u:p%2Fss@127.0.0.1:1/db", "p%2Fss"),
        ("postgres://u:pa?ss@127.0.0.1:1/db", "pa?ss"),
    ] {
        let run = apikey(&[], &["--database-url", url, "list"], b"");
        assert_ne!(run.code, 0, "{run:?}");
        let (head, tail) = password.split_at(2);
        for piece in [password, &format!(":{head}"), &format!("{}@", &tail[1..])] {
            assert!(
                !run.stderr.contains(piece),
                "{url}: {piece} in {}",
                run.stderr
            );
        }
        assert!(run.stderr.contains("****"), "{}", run.stderr);
    }
}

#[test]
fn names_with_bidi_or_zero_width_characters_are_refused() {
    let db = migrated();
    for name in ["evil\u{202E}txt.exe", "zero\u{200B}width", "\u{2066}x"] {
        let run = on(&db, &["create", "--name", name]);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(run.stderr.contains("invisible"), "{}", run.stderr);
        assert!(run.stdout.is_empty(), "no key printed");
    }
    assert_eq!(listed(&db), 0);
}

#[test]
fn expiry_past_year_9999_is_refused() {
    let db = migrated();
    let run = on(&db, &["create", "--name", "far", "--expires", "3000000d"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("year 9999"), "{}", run.stderr);
    let run = on(
        &db,
        &[
            "create",
            "--name",
            "far",
            "--expires",
            "+10000-01-01T00:00:00Z",
        ],
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(listed(&db), 0);
    let run = on(
        &db,
        &[
            "create",
            "--name",
            "last",
            "--expires",
            "9999-12-31T00:00:00Z",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let key = run.stdout.trim().to_owned();
    let verify = apikey(
        &[("APIKEY_KEY", &key)],
        &["--database-url", &db.url, "verify"],
        b"",
    );
    assert_eq!(
        verify.code, 0,
        "a key expiring in year 9999 is usable: {verify:?}"
    );
}

#[test]
fn verify_reads_the_key_from_the_environment_or_stdin() {
    let db = migrated();
    let key = on(&db, &["create", "--name", "k"]).stdout.trim().to_owned();
    let url = ["--database-url", db.url.as_str(), "verify"];
    let env = apikey(&[("APIKEY_KEY", &key)], &url, b"");
    assert_eq!(env.code, 0, "{env:?}");
    assert!(!env.stderr.contains("warning"), "{}", env.stderr);
    let stdin = apikey(&[], &url, format!("{key}\n").as_bytes());
    assert_eq!(stdin.code, 0, "{stdin:?}");
    assert!(!stdin.stderr.contains("warning"), "{}", stdin.stderr);
    let wrong = apikey(&[("APIKEY_KEY", &format!("{key}x"))], &url, b"");
    assert_eq!(wrong.code, 1, "{wrong:?}");
    let mut argv = url.to_vec();
    argv.push(&key);
    let arg = apikey(&[], &argv, b"");
    assert_eq!(arg.code, 0, "{arg:?}");
    assert!(arg.stderr.contains("warning"), "{}", arg.stderr);
    assert!(arg.stderr.contains("APIKEY_KEY"), "{}", arg.stderr);
    assert!(!arg.stderr.contains(&key[9..]), "the key is never printed");
}
