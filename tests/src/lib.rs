//! Test databases for the integration tests: a fresh SQLite file, or a fresh
//! database on the PostgreSQL server that `scripts/test.sh` starts.
//!
//! `APIKEY_TEST_PG_URL` points at that server (any database on it; each test
//! creates its own). A PostgreSQL test without it fails, saying how to run it:
//! it never passes without having run. Every such test has `postgres` in its
//! name, so `cargo test -- --skip postgres` runs the SQLite ones alone.
#![forbid(unsafe_code)]

pub mod redis;
pub mod server;

use std::sync::atomic::{AtomicU32, Ordering};

use apikey_core::{BackendKind, Database, DatabaseConfig};
use diesel::connection::SimpleConnection;
use diesel::Connection;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A database of its own for one test, deleted when dropped.
#[derive(Debug)]
pub struct TestDb {
    /// The database URL.
    pub url: String,
    /// The backend.
    pub kind: BackendKind,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

/// Runs `f` to completion on a fresh actix system (actix's test service
/// needs one); the shared `block_on` of the synchronous test functions.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    actix_rt::System::new().block_on(f)
}

/// True for `prefix.secret` with these lengths, both of `[A-Za-z0-9]`: the
/// shape of a key the default generator makes (8 and 32 characters).
pub fn is_key_shaped(key: &str, prefix_len: usize, secret_len: usize) -> bool {
    let Some((prefix, secret)) = key.split_once('.') else {
        return false;
    };
    prefix.len() == prefix_len
        && secret.len() == secret_len
        && prefix
            .bytes()
            .chain(secret.bytes())
            .all(|b| b.is_ascii_alphanumeric())
}

/// What a PostgreSQL test says when it has no server.
pub const NO_PG: &str = "this PostgreSQL test needs a server and APIKEY_TEST_PG_URL is not set. \
Run scripts/test.sh (it starts a throwaway one), or start one with \
`eval \"$(scripts/pg.sh start | grep ^DATABASE_URL=)\"; export APIKEY_TEST_PG_URL=$DATABASE_URL`; \
to run only the SQLite tests: cargo test -- --skip postgres";

/// The PostgreSQL server URL of the tests (`APIKEY_TEST_PG_URL`).
///
/// # Panics
/// When it is not set: the test fails with [`NO_PG`], it does not pass.
pub fn pg_server_url() -> String {
    match std::env::var("APIKEY_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!("{NO_PG}"),
    }
}

fn replace_db_name(server_url: &str, name: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (server_url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

impl TestDb {
    /// A fresh SQLite file in a temporary folder.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("keys.db");
        TestDb {
            url: format!("sqlite://{}", path.display()),
            kind: BackendKind::Sqlite,
            _dir: Some(dir),
            pg: None,
        }
    }

    /// A fresh database on the test PostgreSQL server.
    ///
    /// # Panics
    /// Without `APIKEY_TEST_PG_URL` (see [`pg_server_url`]), or when the
    /// server cannot be reached.
    pub fn postgres() -> Self {
        let server = pg_server_url();
        let name = format!(
            "apikey_t{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
        );
        let mut admin = diesel::PgConnection::establish(&server)
            .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL server: {e}"));
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create test database");
        TestDb {
            url: replace_db_name(&server, &name),
            kind: BackendKind::Postgres,
            _dir: None,
            pg: Some((server, name)),
        }
    }

    /// A fresh database of `kind`.
    pub fn of(kind: BackendKind) -> Self {
        match kind {
            BackendKind::Postgres => Self::postgres(),
            _ => Self::sqlite(),
        }
    }

    /// A connected pool with the built-in migrations applied.
    pub fn database(&self) -> Database {
        self.database_with(DatabaseConfig::default())
    }

    /// Like [`TestDb::database`], with pool settings.
    pub fn database_with(&self, config: DatabaseConfig) -> Database {
        let db = Database::connect_with(&self.url, config).expect("connect");
        db.migrate().expect("migrate");
        db
    }

    /// Runs raw SQL on a connection of its own (outside any pool).
    pub fn raw_sql(&self, sql: &str) -> Result<(), diesel::result::Error> {
        match self.kind {
            BackendKind::Postgres => {
                let mut c = diesel::PgConnection::establish(&self.url).expect("connect");
                c.batch_execute(sql)
            }
            _ => {
                let path = self.url.trim_start_matches("sqlite://");
                let mut c = diesel::SqliteConnection::establish(path).expect("connect");
                c.batch_execute(sql)
            }
        }
    }

    /// Creates Django's key table `rest_framework_api_key_apikey` as
    /// `manage.py migrate` makes it (Django 4.2, djangorestframework-api-key
    /// 3.1.0 migrations: the same columns in the same order, types,
    /// nullability, constraints and indexes, names included), for tests that
    /// do not run Django itself. `django_interop::hand_written_django_table_is_migrates`
    /// compares the two catalogues.
    pub fn create_django_table(&self) {
        let sql = match self.kind {
            BackendKind::Postgres => {
                "CREATE TABLE rest_framework_api_key_apikey (
                    id varchar(150) NOT NULL PRIMARY KEY,
                    created timestamp with time zone NOT NULL,
                    name varchar(50) NOT NULL,
                    revoked boolean NOT NULL,
                    expiry_date timestamp with time zone NULL,
                    hashed_key varchar(150) NOT NULL,
                    prefix varchar(8) NOT NULL UNIQUE);
                CREATE INDEX rest_framework_api_key_apikey_created_c61872d9
                    ON rest_framework_api_key_apikey (created);
                CREATE INDEX rest_framework_api_key_apikey_id_6e07e68e_like
                    ON rest_framework_api_key_apikey (id varchar_pattern_ops);
                CREATE INDEX rest_framework_api_key_apikey_prefix_4e0db5f8_like
                    ON rest_framework_api_key_apikey (prefix varchar_pattern_ops);"
            }
            // Django's SQLite schema editor rebuilds the table when a later
            // migration changes the primary key: `id` ends up last.
            _ => {
                "CREATE TABLE \"rest_framework_api_key_apikey\" (
                    \"created\" datetime NOT NULL,
                    \"name\" varchar(50) NOT NULL,
                    \"revoked\" bool NOT NULL,
                    \"expiry_date\" datetime NULL,
                    \"hashed_key\" varchar(150) NOT NULL,
                    \"prefix\" varchar(8) NOT NULL UNIQUE,
                    \"id\" varchar(150) NOT NULL PRIMARY KEY);
                CREATE INDEX \"rest_framework_api_key_apikey_created_c61872d9\"
                    ON \"rest_framework_api_key_apikey\" (\"created\");"
            }
        };
        self.raw_sql(sql).expect("django table");
    }
}

impl TestDb {
    /// Creates the examples' `organizations` table (id, name, active
    /// defaulting to true), the parent of the scaffolded
    /// `organization_api_keys` tables in the tests.
    pub fn create_organizations_table(&self) {
        let sql = match self.kind {
            BackendKind::Postgres => {
                "CREATE TABLE organizations (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL, \
                 active BOOLEAN NOT NULL DEFAULT TRUE);"
            }
            _ => {
                "CREATE TABLE organizations (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, \
                 name TEXT NOT NULL, active BOOLEAN NOT NULL DEFAULT 1);"
            }
        };
        self.raw_sql(sql).expect("organizations table");
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((server, name)) = self.pg.take() {
            if let Ok(mut admin) = diesel::PgConnection::establish(&server) {
                let _ =
                    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

/// Declares each listed `fn name(db: &TestDb)` as two tests,
/// `sqlite::name` and `postgres::name` (which fails without a server: see
/// [`pg_server_url`]).
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    super::$name(&$crate::TestDb::sqlite());
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    super::$name(&$crate::TestDb::postgres());
                }
            )*
        }
    };
}

/// Declares each listed `fn name(db: &TestDb)` as one test,
/// `postgres_only::name`, for what only PostgreSQL has (its change feed,
/// its server): no SQLite twin that would pass without testing anything.
#[macro_export]
macro_rules! postgres_tests {
    ($($name:ident),* $(,)?) => {
        mod postgres_only {
            $(
                #[test]
                fn $name() {
                    super::$name(&$crate::TestDb::postgres());
                }
            )*
        }
    };
}

/// The README's Rust snippets, compiled (and the runnable ones run) as doc
/// tests, with the dependencies the README lists. `migrations/sqlite/` is
/// what its custom-model program embeds: `apikey scaffold` output.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
