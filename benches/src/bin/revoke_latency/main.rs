//! How long a running server keeps accepting a key after another process
//! revokes it (issue 11): the driver of `scripts/bench-revoke.sh`.
//!
//! ```text
//! revoke-latency --scenario revoke|organization --database-url URL \
//!     --bin-dir DIR [--trials 50] [--csv FILE] [--pause-us 0]
//! ```
//!
//! It starts two servers (release builds of the example binaries in `DIR`)
//! on the one database `URL`, then runs the trials. A trial:
//!
//! 1. `revoke`: `apikey create` makes a fresh key. `organization`: a fresh
//!    active organization is inserted (`sqlite3`/`psql`) and
//!    `organizations new-key` makes a key of it.
//! 2. Each server is asked for the key 8 times on one keep-alive connection,
//!    all 200 (the first is a miss, the rest are answered from its cache).
//! 3. One thread per server polls the guarded route on that connection in a
//!    tight loop (the next request as soon as the answer is in; with
//!    `--pause-us N`, N µs after it: two busy pollers on a 2-core machine
//!    compete for CPU with the very feed threads being measured).
//! 4. After 30 ms of polling, `apikey revoke PREFIX` (or `UPDATE
//!    organizations SET active = FALSE ...` through `sqlite3`/`psql`) runs
//!    as a child process; the times it started and returned are taken.
//! 5. Each poller keeps going until 250 ms after its server's first 401
//!    (or 5 s after the command returned: a timeout, counted as a failure).
//!
//! On PostgreSQL two more clients of the driver's own `LISTEN
//! apikey_changes` (one that only waits, as the servers' feeds do, one that
//! also runs `SELECT 1` every 5 ms) record when the notification reached
//! them: a late notification there too means PostgreSQL delivered it late,
//! not that a server's feed was slow to act on it.
//!
//! Per server and trial it records the time from the command's return (and
//! from its start) to the arrival of that server's first 401, and counts
//! every 200 that arrived after it (must be none: a 200 after a refusal is a
//! stale cache answering again). Times are taken when the response is read.
//! The summary (median, p90, max) goes to stdout as a Markdown table; each
//! sample goes to `--csv`. Exit status 1 when a trial broke a rule (a 200
//! after a 401, a timeout, a status other than 200/401, a warm-up refusal).
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

mod http;
mod listen;
mod server;
mod store;

use std::collections::HashMap;
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use http::Conn;
use listen::pg_listen;
use server::{start_server, Server};
use store::{run, Store};

/// Polling before the command runs.
const BEFORE: Duration = Duration::from_millis(30);
/// Polling after a server's first 401.
const AFTER: Duration = Duration::from_millis(250);
/// A server that still accepts the key this long after the command
/// returned is a failed trial.
const GIVE_UP: Duration = Duration::from_secs(5);
/// Requests per server before polling starts (the first one fills the cache).
const WARM: usize = 8;

/// Errors are messages for the terminal.
pub(crate) type Result<T> = std::result::Result<T, String>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    /// `apikey revoke` of a quickstart key.
    Revoke,
    /// An organization deactivated under the organizations example.
    Organization,
}

#[derive(Debug)]
struct Args {
    scenario: Scenario,
    url: String,
    bin_dir: std::path::PathBuf,
    trials: usize,
    csv: Option<std::path::PathBuf>,
    pause: Duration,
}

fn parse_args() -> Result<Args> {
    let mut map = HashMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        map.insert(flag, value);
    }
    let take = |m: &mut HashMap<String, String>, k: &str| m.remove(k);
    let scenario = match take(&mut map, "--scenario").as_deref() {
        Some("revoke") => Scenario::Revoke,
        Some("organization") => Scenario::Organization,
        other => return Err(format!("--scenario revoke|organization, not {other:?}")),
    };
    let url = take(&mut map, "--database-url").ok_or("--database-url is required")?;
    let bin_dir = take(&mut map, "--bin-dir").ok_or("--bin-dir is required")?;
    // Absolute: the servers run in another folder.
    let bin_dir =
        std::fs::canonicalize(&bin_dir).map_err(|e| format!("--bin-dir {bin_dir}: {e}"))?;
    let trials = match take(&mut map, "--trials") {
        Some(t) => t.parse().map_err(|_| "--trials: a number")?,
        None => 50,
    };
    let csv = take(&mut map, "--csv").map(Into::into);
    let pause = match take(&mut map, "--pause-us") {
        Some(t) => Duration::from_micros(t.parse().map_err(|_| "--pause-us: a number")?),
        None => Duration::ZERO,
    };
    if let Some(k) = map.keys().next() {
        return Err(format!("unknown argument {k}"));
    }
    Ok(Args {
        scenario,
        url,
        bin_dir,
        trials,
        csv,
        pause,
    })
}

/// One response seen by a poller.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    status: u16,
}

/// Polls until told to stop; every response with its arrival time.
fn poll(
    mut conn: Conn,
    stop: &AtomicBool,
    first_refusal: &Mutex<Option<Instant>>,
    pause: Duration,
) -> Result<Vec<Sample>> {
    let mut samples = Vec::with_capacity(1 << 16);
    while !stop.load(Ordering::Acquire) {
        if !pause.is_zero() {
            thread::sleep(pause);
        }
        let status = conn.get()?;
        let at = Instant::now();
        samples.push(Sample { at, status });
        if status == 401 {
            let mut first = first_refusal.lock().map_err(|_| "poisoned")?;
            first.get_or_insert(at);
        }
    }
    Ok(samples)
}

/// What one server showed in one trial.
#[derive(Debug)]
struct Outcome {
    /// First 401, from the command's return (negative: before it returned).
    from_return_ms: Option<f64>,
    /// First 401, from the command's start.
    from_start_ms: Option<f64>,
    /// 200s that arrived after the first 401.
    accepted_after: usize,
    /// Statuses other than 200 and 401.
    other: usize,
    /// Refusals before the command started (the key was not served).
    refused_before: usize,
    /// Responses in the trial.
    requests: usize,
    /// Median time between two responses, µs (the resolution).
    gap_us: f64,
    /// The longest time between two responses, ms (a stalled server or
    /// client shows here).
    max_gap_ms: f64,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn signed_ms(a: Instant, b: Instant) -> f64 {
    if a >= b {
        ms(a - b)
    } else {
        -ms(b - a)
    }
}

fn analyse(samples: &[Sample], started: Instant, returned: Instant) -> Outcome {
    let first = samples.iter().position(|s| s.status == 401);
    let mut gaps: Vec<f64> = samples
        .windows(2)
        .map(|w| (w[1].at - w[0].at).as_secs_f64() * 1e6)
        .collect();
    gaps.sort_by(f64::total_cmp);
    Outcome {
        from_return_ms: first.map(|i| signed_ms(samples[i].at, returned)),
        from_start_ms: first.map(|i| signed_ms(samples[i].at, started)),
        accepted_after: first.map_or(0, |i| {
            samples[i..].iter().filter(|s| s.status == 200).count()
        }),
        other: samples
            .iter()
            .filter(|s| s.status != 200 && s.status != 401)
            .count(),
        refused_before: samples
            .iter()
            .filter(|s| s.at < started && s.status != 200)
            .count(),
        requests: samples.len(),
        gap_us: gaps.get(gaps.len() / 2).copied().unwrap_or(f64::NAN),
        max_gap_ms: gaps.last().map_or(f64::NAN, |g| g / 1e3),
    }
}

/// A fresh key (and, for `organization`, its fresh organization's name).
fn new_key(store: &Store, scenario: Scenario, trial: usize) -> Result<(String, String)> {
    let name = format!("revoke-bench-{}-{trial}", std::process::id());
    let key = match scenario {
        Scenario::Revoke => run(store.cli().args(["create", "--name", &name]))?,
        Scenario::Organization => {
            run(&mut store.sql(&format!(
                "INSERT INTO organizations (name, active) VALUES ('{name}', {})",
                store.boolean(true)
            )))?;
            run(Command::new(store.bin_dir.join("organizations"))
                .args(["new-key", &name, "bench key"])
                .env("DATABASE_URL", &store.url))?
        }
    };
    let key = key.trim().to_owned();
    if key.len() != 41 || key.as_bytes().get(8) != Some(&b'.') {
        return Err(format!("not a key: {} characters", key.len()));
    }
    Ok((key, name))
}

/// What one trial showed.
#[derive(Debug)]
struct Trial {
    /// Per server.
    outcomes: Vec<Outcome>,
    /// How long the command ran.
    command_ms: f64,
    /// When it started, seconds since the epoch (to find it in server logs).
    wall: f64,
    /// Per independent listener: when it got a notification, from the
    /// command's return (None: no notification within the trial).
    notified_ms: Vec<Option<f64>>,
}

fn trial(
    store: &Store,
    scenario: Scenario,
    servers: &[Server],
    listeners: &[mpsc::Receiver<Instant>],
    pause: Duration,
    n: usize,
) -> Result<Trial> {
    let (key, org) = new_key(store, scenario, n)?;
    let prefix = key[..8].to_owned();
    let path = match scenario {
        Scenario::Revoke => "/protected",
        Scenario::Organization => "/organization",
    };
    // Let the feeds see the creation before the cache is filled.
    thread::sleep(Duration::from_millis(20));
    let mut conns = Vec::new();
    for s in servers {
        let mut c = Conn::open(&s.addr, path, &key)?;
        for i in 0..WARM {
            let status = c.get()?;
            if status != 200 {
                return Err(format!("warm-up request {i} on {}: {status}", s.addr));
            }
        }
        conns.push(c);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let firsts: Vec<Arc<Mutex<Option<Instant>>>> = servers.iter().map(|_| Arc::default()).collect();
    let pollers: Vec<_> = conns
        .into_iter()
        .zip(&firsts)
        .map(|(conn, first)| {
            let stop = Arc::clone(&stop);
            let first = Arc::clone(first);
            thread::spawn(move || poll(conn, &stop, &first, pause))
        })
        .collect();

    thread::sleep(BEFORE);
    // Notifications of the key's creation are not this trial's.
    for rx in listeners {
        while rx.try_recv().is_ok() {}
    }
    let mut cmd = match scenario {
        Scenario::Revoke => {
            let mut c = store.cli();
            c.args(["revoke", &prefix]);
            c
        }
        Scenario::Organization => store.sql(&format!(
            "UPDATE organizations SET active = {} WHERE name = '{org}'",
            store.boolean(false)
        )),
    };
    cmd.stdin(Stdio::null());
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let started = Instant::now();
    let output = cmd.output();
    let returned = Instant::now();
    let command_ms = ms(returned - started);

    let failed = match output {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!(
            "{cmd:?}: {} after {command_ms:.0} ms: {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Some(format!("{cmd:?}: {e}")),
    };
    if failed.is_none() {
        loop {
            let now = Instant::now();
            let all_done = firsts.iter().all(|f| {
                f.lock()
                    .ok()
                    .and_then(|g| *g)
                    .is_some_and(|t| now - t >= AFTER)
            });
            if all_done || now - returned >= GIVE_UP {
                break;
            }
            thread::sleep(Duration::from_millis(2));
        }
    }
    stop.store(true, Ordering::Release);
    let mut outcomes = Vec::new();
    for p in pollers {
        let samples = p.join().map_err(|_| "a poller panicked")??;
        outcomes.push(analyse(&samples, started, returned));
    }
    if let Some(e) = failed {
        return Err(e);
    }
    let notified_ms = listeners
        .iter()
        .map(|rx| {
            rx.try_iter()
                .find(|t| *t >= started)
                .map(|t| signed_ms(t, returned))
        })
        .collect();
    Ok(Trial {
        outcomes,
        command_ms,
        wall,
        notified_ms,
    })
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn stats(mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    format!(
        "{:.1} | {:.1} | {:.1}",
        percentile(&v, 50.0),
        percentile(&v, 90.0),
        v.last().copied().unwrap_or(f64::NAN)
    )
}

fn main() -> ExitCode {
    match real_main() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("revoke-latency: {e}");
            ExitCode::from(2)
        }
    }
}

fn real_main() -> Result<bool> {
    let args = parse_args()?;
    let store = Store {
        url: args.url.clone(),
        bin_dir: args.bin_dir.clone(),
    };
    let bin = args.bin_dir.join(match args.scenario {
        Scenario::Revoke => "quickstart",
        Scenario::Organization => "organizations",
    });
    let cwd = std::env::temp_dir();
    // One after the other: the first start migrates (and seeds) the database.
    let servers = vec![
        start_server(&bin, &args.url, &cwd)?,
        start_server(&bin, &args.url, &cwd)?,
    ];
    // Two independent listeners on PostgreSQL: one that only waits, as the
    // servers' feeds do, and one that also runs a query every 5 ms.
    let mut listeners = Vec::new();
    if store.is_postgres() {
        for poke in [None, Some(Duration::from_millis(5))] {
            match pg_listen(&args.url, poke) {
                Ok(rx) => listeners.push(rx),
                Err(e) => {
                    eprintln!("revoke-latency: no independent listener ({e})");
                    listeners.clear();
                    break;
                }
            }
        }
    }
    let mut csv = String::from(
        "trial,server,from_return_ms,from_start_ms,command_ms,accepted_after_refusal,other_statuses,requests,median_gap_us,max_gap_ms,notified_ms,notified_poking_ms,load1,started_unix_s\n",
    );
    let mut notified: Vec<Vec<f64>> = vec![Vec::new(); listeners.len()];
    let mut from_return: Vec<Vec<f64>> = vec![Vec::new(); servers.len()];
    let mut from_start: Vec<Vec<f64>> = vec![Vec::new(); servers.len()];
    let mut commands = Vec::new();
    let mut gaps = Vec::new();
    let mut problems = Vec::new();
    for n in 0..args.trials {
        let t = match trial(&store, args.scenario, &servers, &listeners, args.pause, n) {
            Ok(t) => t,
            Err(e) => {
                problems.push(format!("trial {n}: {e}"));
                continue;
            }
        };
        let Trial {
            outcomes,
            command_ms,
            wall,
            notified_ms,
        } = t;
        commands.push(command_ms);
        let mut notified_cols = String::new();
        for (i, v) in notified_ms.iter().enumerate() {
            notified[i].extend(*v);
            notified_cols.push_str(&v.map_or("-".into(), |v| format!("{v:.3}")));
            notified_cols.push(',');
        }
        if listeners.is_empty() {
            notified_cols.push_str("-,-,");
        }
        let load = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|l| l.split_whitespace().next().map(str::to_owned))
            .unwrap_or_default();
        for (i, o) in outcomes.iter().enumerate() {
            let show = |v: Option<f64>| v.map_or("timeout".into(), |v| format!("{v:.3}"));
            csv.push_str(&format!(
                "{n},{i},{},{},{command_ms:.3},{},{},{},{:.1},{:.1},{notified_cols}{load},{wall:.3}\n",
                show(o.from_return_ms),
                show(o.from_start_ms),
                o.accepted_after,
                o.other,
                o.requests,
                o.gap_us,
                o.max_gap_ms
            ));
            gaps.push(o.gap_us);
            match (o.from_return_ms, o.from_start_ms) {
                (Some(r), Some(s)) => {
                    from_return[i].push(r);
                    from_start[i].push(s);
                }
                _ => problems.push(format!(
                    "trial {n}, server {i}: still 200 {} s after the command returned",
                    GIVE_UP.as_secs()
                )),
            }
            if o.accepted_after > 0 {
                problems.push(format!(
                    "trial {n}, server {i}: {} responses 200 AFTER the first 401 (stale cache)",
                    o.accepted_after
                ));
            }
            if o.other > 0 {
                problems.push(format!(
                    "trial {n}, server {i}: {} responses neither 200 nor 401",
                    o.other
                ));
            }
            if o.refused_before > 0 {
                problems.push(format!(
                    "trial {n}, server {i}: {} refusals before the command started",
                    o.refused_before
                ));
            }
        }
        eprint!(".");
    }
    eprintln!();
    if let Some(path) = &args.csv {
        std::fs::write(path, csv).map_err(|e| format!("{}: {e}", path.display()))?;
    }

    let what = match args.scenario {
        Scenario::Revoke => "`apikey revoke`",
        Scenario::Organization => "`UPDATE organizations SET active = FALSE`",
    };
    println!(
        "{what}, {} trials x {} servers; ms from the command's return (from its start) to the server's first 401",
        args.trials,
        servers.len()
    );
    println!();
    println!("| server | samples | median | p90 | max | from start: median | p90 | max |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let all_r: Vec<f64> = from_return.iter().flatten().copied().collect();
    let all_s: Vec<f64> = from_start.iter().flatten().copied().collect();
    for i in 0..servers.len() {
        println!(
            "| {} | {} | {} | {} |",
            i + 1,
            from_return[i].len(),
            stats(from_return[i].clone()),
            stats(from_start[i].clone())
        );
    }
    println!(
        "| both | {} | {} | {} |",
        all_r.len(),
        stats(all_r),
        stats(all_s)
    );
    println!();
    println!(
        "command duration (start to return), ms: median | p90 | max = {}; median time between two polls: {:.0} µs",
        stats(commands.clone()),
        {
            gaps.sort_by(f64::total_cmp);
            percentile(&gaps, 50.0)
        }
    );
    for (got, what) in notified
        .iter()
        .zip(["waits", "also runs SELECT 1 every 5 ms"])
    {
        if got.is_empty() {
            println!("an independent LISTEN client that {what} got no notification");
            continue;
        }
        println!(
            "an independent LISTEN client that {what} got the notification, ms from the command's return: median | p90 | max = {} ({} of {} trials)",
            stats(got.clone()),
            got.len(),
            commands.len()
        );
    }
    if problems.is_empty() {
        println!("no 200 after a 401, no timeout, no other status, in any trial");
        Ok(true)
    } else {
        println!("PROBLEMS ({}):", problems.len());
        for p in &problems {
            println!("- {p}");
        }
        Ok(false)
    }
}
