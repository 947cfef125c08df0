//! Running the example binaries as a user runs them, and talking to them
//! with a plain TCP client (so malformed requests reach the server as sent).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A server process, killed when dropped.
#[derive(Debug)]
pub struct Spawned {
    /// The process.
    pub child: Child,
    /// `host:port` it serves on.
    pub addr: String,
    /// The lines it printed on stdout before it started serving.
    pub stdout: Vec<String>,
    /// The lines it printed on stderr before "serving on ...".
    pub stderr: Vec<String>,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `cmd` (with `BIND=127.0.0.1:0`) and waits for its
/// `serving on http://ADDR` line on stderr; collects what it printed before.
pub fn spawn_server(mut cmd: Command) -> Spawned {
    let mut child = cmd
        .env("BIND", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the server binary");
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut addr = String::new();
    let mut before = Vec::new();
    let mut line = String::new();
    while stderr.read_line(&mut line).expect("read stderr") > 0 {
        if let Some(rest) = line.trim().strip_prefix("serving on http://") {
            addr = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
            break;
        }
        before.push(line.trim_end().to_owned());
        line.clear();
    }
    assert!(!addr.is_empty(), "the server did not start: {before:?}");
    // Everything on stdout was written before "serving on" reached stderr.
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_millis(300)) {
        lines.push(line);
    }
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = stderr.read_to_end(&mut sink);
    });
    Spawned {
        child,
        addr,
        stdout: lines,
        stderr: before,
    }
}

/// True for a token shaped like a default key (`8 chars . 32 chars`).
pub fn is_key(t: &str) -> bool {
    t.len() == 41
        && t.as_bytes()[8] == b'.'
        && t.bytes().all(|b| b == b'.' || b.is_ascii_alphanumeric())
}

/// Sends raw bytes (a whole request, `Connection: close`), returns the
/// status code (0 when none could be read) and the whole response.
pub fn http_raw(addr: &str, request: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    s.write_all(request).expect("send");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// GET `path` with extra header lines; the status and the whole response.
pub fn http_get(addr: &str, path: &str, headers: &[&str]) -> (u16, String) {
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    http_raw(addr, req.as_bytes())
}
