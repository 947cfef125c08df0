//! Criterion micro-benchmarks: the pieces of a guarded request.
//!
//! ```text
//! cargo bench -p apikey-bench                  # SQLite only, unless:
//! APIKEY_BENCH_PG_URL=postgres://... cargo bench -p apikey-bench
//! scripts/bench-micro.sh                       # starts a throwaway cluster itself
//! ```
//!
//! `get_from_key` runs against tables of 1,000, 100,000 and 1,000,000 keys.
//! The rows are precomputed (deterministic keys, real SHA-512 hashes) and
//! written with multi-row INSERTs inside transactions. The filled SQLite
//! files are cached under `target/bench/` (rebuilt when their row count is
//! off); the PostgreSQL table is refilled on each run, growing from one size
//! to the next. `APIKEY_BENCH_SIZES=1000,100000` picks other sizes.

// criterion_group! defines undocumented public functions.
#![allow(missing_docs)]

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use actix_web::http::header::HeaderName;
use actix_web::test::TestRequest;
use apikey_actix::{AuthorizationParser, HeaderParser, KeyParser};
use apikey_core::hashers::{self, Verification};
use apikey_core::key::KEY_CHARSET;
use apikey_core::{ApiKey, BaseApiKeyManager, Database, GenerateKey, KeyGenerator};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, SamplingMode};
use diesel::connection::SimpleConnection;

const DEFAULT_SIZES: [u64; 3] = [1_000, 100_000, 1_000_000];
/// Rows per INSERT statement and per transaction.
const ROWS_PER_INSERT: u64 = 500;
const ROWS_PER_TRANSACTION: u64 = 50_000;
/// How many distinct keys a lookup benchmark cycles through (spread over the
/// table, so the benchmark does not hit one hot page).
const PROBES: u64 = 1_024;

fn key_generation(c: &mut Criterion) {
    let generator = KeyGenerator::default();
    c.bench_function("key/generate (OS RNG + sha512)", |b| {
        b.iter(|| black_box(generator.generate()))
    });
}

fn hashing(c: &mut Criterion) {
    let key = KeyGenerator::default().generate().key;
    let key = key.expose_secret();
    let stored = hashers::hash(key);
    let mut wrong = key.to_owned();
    wrong.pop();
    wrong.push('#');
    let mut g = c.benchmark_group("hash");
    g.bench_function("sha512 hash", |b| b.iter(|| hashers::hash(black_box(key))));
    g.bench_function("sha512 verify (valid)", |b| {
        b.iter(|| {
            let v = hashers::verify(black_box(key), black_box(&stored));
            assert_eq!(v, Verification::Valid);
        })
    });
    g.bench_function("sha512 verify (wrong secret)", |b| {
        b.iter(|| hashers::verify(black_box(&wrong), black_box(&stored)))
    });
    g.finish();
}

/// The first `pbkdf2_sha256` vector at Django 4.2's default iteration count.
fn django_pbkdf2_vector() -> Option<(String, String)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../apikey-core/tests/vectors/django.json"
    );
    let text = std::fs::read_to_string(path).ok()?;
    let doc: serde_json::Value = serde_json::from_str(&text).ok()?;
    doc["vectors"].as_array()?.iter().find_map(|v| {
        let hashed = v["hashed_key"].as_str()?;
        if !hashed.starts_with("pbkdf2_sha256$600000$") {
            return None;
        }
        Some((v["key"].as_str()?.to_owned(), hashed.to_owned()))
    })
}

fn legacy_pbkdf2(c: &mut Criterion) {
    let Some((key, hashed)) = django_pbkdf2_vector() else {
        eprintln!("skipping hash/pbkdf2_sha256: no 600000-iteration vector in django.json");
        return;
    };
    let mut g = c.benchmark_group("hash");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .measurement_time(Duration::from_secs(8));
    g.bench_function(
        "pbkdf2_sha256 verify (600000 iterations, Django 4.2)",
        |b| {
            b.iter(|| {
                let v = hashers::verify(black_box(&key), black_box(&hashed));
                assert_eq!(v, Verification::ValidOutdated);
            })
        },
    );
    g.finish();
}

fn header_parsing(c: &mut Criterion) {
    let key = KeyGenerator::default().generate().key;
    let key = key.expose_secret();
    let authorization = TestRequest::default()
        .insert_header(("Authorization", format!("Api-Key {key}")))
        .insert_header(("Accept", "application/json"))
        .insert_header(("User-Agent", "bench"))
        .to_http_request();
    let custom = TestRequest::default()
        .insert_header(("X-Api-Key", key))
        .insert_header(("Accept", "application/json"))
        .insert_header(("User-Agent", "bench"))
        .to_http_request();
    let none = TestRequest::default()
        .insert_header(("Accept", "application/json"))
        .to_http_request();
    let auth_parser = AuthorizationParser::default();
    let header_parser = HeaderParser::new(HeaderName::from_static("x-api-key"));

    let mut g = c.benchmark_group("parse");
    g.bench_function("AuthorizationParser (Api-Key)", |b| {
        b.iter(|| auth_parser.parse(black_box(&authorization)))
    });
    g.bench_function("HeaderParser (X-Api-Key)", |b| {
        b.iter(|| header_parser.parse(black_box(&custom)))
    });
    g.bench_function("AuthorizationParser (no header)", |b| {
        b.iter(|| auth_parser.parse(black_box(&none)))
    });
    g.finish();
}

/// The two hops of a lookup that are not SQL: a pool checkout (and return)
/// and the `web::block` round trip the extractor makes to leave the executor.
fn overheads(c: &mut Criterion) {
    let dir = target_dir().join("bench");
    let _ = std::fs::create_dir_all(&dir);
    let url = dir.join("overheads.sqlite3").display().to_string();
    let db = Database::connect(&url)
        .and_then(|db| db.migrate().map(|_| db))
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let mut g = c.benchmark_group("overhead");
    g.bench_function("pool checkout + return (sqlite, r2d2)", |b| {
        b.iter(|| db.run(|_conn| Ok(())))
    });
    let system = actix_rt::System::new();
    g.bench_function("web::block round trip (actix)", |b| {
        b.iter_custom(|iters| {
            system.block_on(async move {
                let started = Instant::now();
                for _ in 0..iters {
                    let _ = black_box(actix_web::web::block(|| black_box(1)).await);
                }
                started.elapsed()
            })
        })
    });
    g.finish();
}

/// A cache hit (`verify_cached`: the prefix looked up, the key's keyed
/// SHA-256 compared, the entry shared) on one thread, then on one thread
/// while a second one hits the same key without pause, as two actix
/// workers do under load: the difference is what the shared entry and the
/// cache's shard lock cost when their cache lines bounce between cores.
fn cache_hit(c: &mut Criterion) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = target_dir().join("bench");
    let _ = std::fs::create_dir_all(&dir);
    let url = dir.join("cache-hit.sqlite3").display().to_string();
    let db = Database::connect(&url)
        .and_then(|db| db.migrate().map(|_| db))
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let manager = BaseApiKeyManager::<ApiKey>::new(db);
    let (_, key) = manager
        .create_key(apikey_core::NewKey::new("cache-hit"))
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let key = key.expose_secret().to_owned();
    let settled = manager.settle_cache(Duration::from_secs(10));
    let verified = manager.get_from_key(&key).is_ok();
    let cached = manager.settle_cache(Duration::from_secs(10))
        && matches!(manager.verify_cached(&key), Some(Ok(_)));
    assert!(
        settled && verified && cached,
        "{url}: the key is not answered from the cache"
    );
    let mut g = c.benchmark_group("cache hit");
    g.bench_function("verify_cached, one thread", |b| {
        b.iter(|| black_box(manager.verify_cached(black_box(&key))))
    });
    g.bench_function("verify_cached, a second thread hitting the same key", |b| {
        b.iter_custom(|iters| {
            let stop = AtomicBool::new(false);
            std::thread::scope(|scope| {
                scope.spawn(|| {
                    while !stop.load(Ordering::Relaxed) {
                        black_box(manager.verify_cached(black_box(&key)));
                    }
                });
                let started = Instant::now();
                for _ in 0..iters {
                    black_box(manager.verify_cached(black_box(&key)));
                }
                let took = started.elapsed();
                stop.store(true, Ordering::Relaxed);
                took
            })
        })
    });
    g.finish();
}

// ---------------------------------------------------------------------------
// get_from_key on filled tables

/// The deterministic key of row `i`: an 8-character base-62 prefix of `i`
/// and a 32-character secret derived from it (the benchmark needs the plain
/// keys back; they are made up and never leave this process).
fn row_key(i: u64) -> String {
    let mut key = String::with_capacity(41);
    let mut n = i;
    let mut prefix = [b'0'; 8];
    for slot in prefix.iter_mut().rev() {
        *slot = KEY_CHARSET[(n % 62) as usize];
        n /= 62;
    }
    key.extend(prefix.iter().map(|&b| b as char));
    key.push('.');
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    for _ in 0..32 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        key.push(KEY_CHARSET[(x % 62) as usize] as char);
    }
    key
}

/// Rows `from..to` as `VALUES` tuples, `ROWS_PER_INSERT` per statement,
/// `ROWS_PER_TRANSACTION` per transaction.
fn fill(db: &Database, from: u64, to: u64) {
    let started = Instant::now();
    let mut start = from;
    while start < to {
        let end = (start + ROWS_PER_TRANSACTION).min(to);
        let mut sql = String::with_capacity(((end - start) * 240) as usize);
        sql.push_str("BEGIN;\n");
        let mut i = start;
        while i < end {
            let stop = (i + ROWS_PER_INSERT).min(end);
            sql.push_str(
                "INSERT INTO api_keys (prefix, hashed_key, created, name, revoked, expiry_date) VALUES ",
            );
            for j in i..stop {
                let key = row_key(j);
                if j > i {
                    sql.push(',');
                }
                sql.push_str("('");
                sql.push_str(&key[..8]);
                sql.push_str("','");
                sql.push_str(&hashers::hash(&key));
                sql.push_str("','2026-01-01 00:00:00.000000','bench',FALSE,NULL)");
            }
            sql.push_str(";\n");
            i = stop;
        }
        sql.push_str("COMMIT;\n");
        if let Err(e) = db.run(|conn| conn.batch_execute(&sql)) {
            panic!("filling the key table failed: {e}");
        }
        start = end;
    }
    eprintln!(
        "filled rows {from}..{to} of {} in {:.1} s",
        db.redacted_url(),
        started.elapsed().as_secs_f64()
    );
}

fn count(db: &Database) -> u64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    db.run(|conn| {
        use diesel::RunQueryDsl;
        diesel::sql_query("SELECT COUNT(*) AS n FROM api_keys").get_result::<Count>(conn)
    })
    .map_or(0, |c| u64::try_from(c.n).unwrap_or(0))
}

fn sizes() -> Vec<u64> {
    match std::env::var("APIKEY_BENCH_SIZES") {
        Ok(s) => s.split(',').filter_map(|n| n.trim().parse().ok()).collect(),
        Err(_) => DEFAULT_SIZES.to_vec(),
    }
}

/// Keys spread evenly over the first `n` rows.
fn probes(n: u64) -> Vec<String> {
    let count = PROBES.min(n);
    (0..count).map(|k| row_key(k * (n / count))).collect()
}

fn bench_lookups(c: &mut Criterion, backend: &str, n: u64, manager: &BaseApiKeyManager<ApiKey>) {
    let keys = probes(n);
    // Same prefixes, wrong secrets: the row is found, the hash does not match.
    let wrong: Vec<String> = keys
        .iter()
        .map(|k| format!("{}.{}", &k[..8], "x".repeat(32)))
        .collect();
    let unknown: Vec<String> = (0..keys.len() as u64)
        .map(|k| format!("zzzz{k:04}.{}", "x".repeat(32)))
        .collect();
    if let Err(e) = manager.get_from_key(&keys[0]) {
        panic!("{backend} {n}: the probe key does not verify: {e}");
    }
    // The machine is shared: say how busy it is next to each figure.
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    eprintln!(
        "get_from_key/{backend}, {n} keys: load average {}",
        load.split(' ').take(3).collect::<Vec<_>>().join(" ")
    );
    let mut g = c.benchmark_group(format!("get_from_key/{backend}"));
    for (what, list, valid) in [
        ("valid", &keys, true),
        ("wrong secret", &wrong, false),
        ("unknown prefix", &unknown, false),
    ] {
        let mut next = 0usize;
        g.bench_function(format!("{what}/{n} keys"), |b| {
            b.iter_batched(
                || {
                    next = (next + 1) % list.len();
                    &list[next]
                },
                |key| {
                    let found = manager.get_from_key(key);
                    assert_eq!(found.is_ok(), valid);
                    found
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")))
}

fn get_from_key_sqlite(c: &mut Criterion) {
    let dir = target_dir().join("bench");
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("cannot create {}: {e}", dir.display());
    }
    for n in sizes() {
        let path = dir.join(format!("get_from_key-{n}.sqlite3"));
        let url = path.display().to_string();
        let db = Database::connect(&url)
            .and_then(|db| db.migrate().map(|_| db))
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        if count(&db) != n {
            drop(db);
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{url}{suffix}"));
            }
            let db = Database::connect(&url)
                .and_then(|db| db.migrate().map(|_| db))
                .unwrap_or_else(|e| panic!("{url}: {e}"));
            fill(&db, 0, n);
            let _ = db.run(|conn| conn.batch_execute("ANALYZE; PRAGMA wal_checkpoint(TRUNCATE);"));
        } else {
            eprintln!("reusing {url} ({n} keys)");
        }
        let manager = BaseApiKeyManager::<ApiKey>::new(
            Database::connect(&url).unwrap_or_else(|e| panic!("{url}: {e}")),
        );
        bench_lookups(c, "sqlite", n, &manager);
    }
}

fn get_from_key_postgres(c: &mut Criterion) {
    let Ok(url) = std::env::var("APIKEY_BENCH_PG_URL") else {
        eprintln!(
            "skipping get_from_key/postgres: APIKEY_BENCH_PG_URL is not set \
             (scripts/bench-micro.sh starts a throwaway cluster and sets it)"
        );
        return;
    };
    let db = match Database::connect(&url).and_then(|db| db.migrate().map(|_| db)) {
        Ok(db) => db,
        Err(e) => {
            eprintln!("skipping get_from_key/postgres: no server at APIKEY_BENCH_PG_URL ({e})");
            return;
        }
    };
    if let Err(e) = db.run(|conn| conn.batch_execute("TRUNCATE api_keys")) {
        panic!("emptying api_keys on PostgreSQL: {e}");
    }
    let manager = BaseApiKeyManager::<ApiKey>::new(db.clone());
    let mut filled = 0;
    let mut wanted = sizes();
    wanted.sort_unstable();
    for n in wanted {
        if n > filled {
            fill(&db, filled, n);
            filled = n;
            let _ = db.run(|conn| conn.batch_execute("VACUUM ANALYZE api_keys"));
        }
        bench_lookups(c, "postgres", n, &manager);
    }
}

criterion_group!(
    pieces,
    key_generation,
    hashing,
    legacy_pbkdf2,
    header_parsing,
    overheads,
    cache_hit
);
criterion_group!(lookups, get_from_key_sqlite, get_from_key_postgres);
criterion_main!(pieces, lookups);
