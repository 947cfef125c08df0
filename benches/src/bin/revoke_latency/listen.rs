//! An independent `LISTEN apikey_changes` client that speaks the
//! PostgreSQL wire protocol itself (no driver dependency).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::Result;

/// The notification channel the key tables' triggers use.
const CHANNEL: &str = "apikey_changes";

/// An independent `LISTEN apikey_changes` client, speaking the PostgreSQL
/// wire protocol itself (trust authentication only, as `scripts/pg.sh`
/// sets up): the arrival time of every notification, to tell a late
/// notification (the database) from a late invalidation (the server).
///
/// With `poke`, it also sends `SELECT 1` that often (a listener that is
/// never idle for long, to compare with one that only waits).
pub(crate) fn pg_listen(url: &str, poke: Option<Duration>) -> Result<mpsc::Receiver<Instant>> {
    let rest = url.split_once("://").map(|(_, r)| r).ok_or("not a URL")?;
    let rest = rest.split('?').next().unwrap_or(rest);
    let (auth_host, db) = rest.split_once('/').unwrap_or((rest, "postgres"));
    let (user, host) = auth_host
        .rsplit_once('@')
        .unwrap_or(("postgres", auth_host));
    if user.contains(':') {
        return Err("the listener does not do password authentication".into());
    }
    let host = if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:5432")
    };
    let mut s = TcpStream::connect(&host).map_err(|e| format!("listener: {e}"))?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut body = 196_608i32.to_be_bytes().to_vec();
    // Name, value, ..., and an empty name to end the list.
    for part in [
        "user",
        user,
        "database",
        db,
        "application_name",
        "revoke-latency",
        "",
    ] {
        body.extend_from_slice(part.as_bytes());
        body.push(0);
    }
    let mut startup = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    startup.extend_from_slice(&body);
    s.write_all(&startup).map_err(|e| e.to_string())?;
    let mut query = format!("LISTEN {CHANNEL}").into_bytes();
    query.push(0);
    let mut msg = vec![b'Q'];
    msg.extend_from_slice(&((query.len() + 4) as i32).to_be_bytes());
    msg.extend_from_slice(&query);
    let mut listening = false;
    loop {
        let (kind, body) = read_message(&mut s)?;
        match kind {
            b'R' if body.get(..4) == Some(&[0, 0, 0, 0]) => {}
            b'R' => return Err("the listener only does trust authentication".into()),
            b'E' => return Err(format!("listener: {}", String::from_utf8_lossy(&body))),
            b'Z' if !listening => {
                s.write_all(&msg).map_err(|e| e.to_string())?;
                listening = true;
            }
            b'Z' => break,
            _ => {}
        }
    }
    let (tx, rx) = mpsc::channel();
    if let Some(every) = poke {
        let mut w = s.try_clone().map_err(|e| e.to_string())?;
        let mut q = b"SELECT 1\0".to_vec();
        let mut msg = vec![b'Q'];
        msg.extend_from_slice(&((q.len() + 4) as i32).to_be_bytes());
        msg.append(&mut q);
        thread::spawn(move || {
            while w.write_all(&msg).is_ok() {
                thread::sleep(every);
            }
        });
    }
    thread::spawn(move || {
        while let Ok((kind, _)) = read_message(&mut s) {
            if kind == b'A' && tx.send(Instant::now()).is_err() {
                break;
            }
        }
    });
    Ok(rx)
}

/// One backend message: its type and body.
fn read_message(s: &mut TcpStream) -> Result<(u8, Vec<u8>)> {
    let mut head = [0u8; 5];
    s.read_exact(&mut head).map_err(|e| e.to_string())?;
    let len = i32::from_be_bytes([head[1], head[2], head[3], head[4]]);
    let len = usize::try_from(len - 4).map_err(|_| "bad message length")?;
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).map_err(|e| e.to_string())?;
    Ok((head[0], body))
}
