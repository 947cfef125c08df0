//! Running the example binaries as a user runs them, and talking to them
//! with a plain TCP client (so malformed requests reach the server as sent).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

/// A server process, killed when dropped.
#[derive(Debug)]
pub struct Spawned {
    /// The process.
    pub child: Child,
    /// `host:port` it serves on.
    pub addr: String,
    /// The lines read from its stdout so far (see [`Spawned::read_stdout_until`]).
    pub stdout: Vec<String>,
    /// The lines it printed on stderr before "serving on ...".
    pub stderr: Vec<String>,
    out: Receiver<String>,
    err: Receiver<String>,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How long a server may take to print what a test waits for (a loaded
/// machine builds and starts several at once).
const PATIENCE: Duration = Duration::from_secs(60);

fn lines_of(pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line.trim_end().to_owned()).is_err() {
                break;
            }
        }
    });
    rx
}

impl Spawned {
    /// Reads stdout until a line satisfies `last` (positive evidence that
    /// the server printed all it prints at start, before a test says what
    /// is NOT among it); appends the lines to [`Spawned::stdout`].
    ///
    /// # Panics
    /// When no such line comes within a minute, or stdout closes first.
    pub fn read_stdout_until(&mut self, last: impl Fn(&str) -> bool) -> &[String] {
        if self.stdout.iter().any(|l| last(l)) {
            return &self.stdout;
        }
        loop {
            match self.out.recv_timeout(PATIENCE) {
                Ok(line) => {
                    let done = last(&line);
                    self.stdout.push(line);
                    if done {
                        return &self.stdout;
                    }
                }
                Err(e) => panic!(
                    "the expected stdout line never came ({e}); stdout: {:?}",
                    self.stdout
                ),
            }
        }
    }

    /// Sends SIGINT (Ctrl-C), waits for the process to end; its exit status
    /// and what it printed on stderr after "serving on ...".
    pub fn interrupt(&mut self) -> (std::process::ExitStatus, String) {
        let sent = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill -INT");
        assert!(sent.success(), "kill -INT failed");
        let status = self.child.wait().expect("wait");
        let mut rest = Vec::new();
        while let Ok(line) = self.err.recv_timeout(PATIENCE) {
            rest.push(line);
        }
        (status, rest.join("\n"))
    }
}

/// Starts `cmd` (with `BIND=127.0.0.1:0`) and waits for its
/// `serving on http://ADDR` line on stderr; collects what it printed on
/// stderr before. The process is killed when the result is dropped, also
/// when the test panics.
pub fn spawn_server(mut cmd: Command) -> Spawned {
    let mut child = cmd
        .env("BIND", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the server binary");
    let out = lines_of(child.stdout.take().expect("stdout"));
    let err = lines_of(child.stderr.take().expect("stderr"));
    let mut srv = Spawned {
        child,
        addr: String::new(),
        stdout: Vec::new(),
        stderr: Vec::new(),
        out,
        err,
    };
    // `srv` owns the child from here: a panic below kills it.
    while let Ok(line) = srv.err.recv_timeout(PATIENCE) {
        if let Some(rest) = line.trim().strip_prefix("serving on http://") {
            srv.addr = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
            break;
        }
        srv.stderr.push(line);
    }
    assert!(
        !srv.addr.is_empty(),
        "the server did not start: {:?}",
        srv.stderr
    );
    srv.stdout.extend(srv.out.try_iter());
    srv
}

/// True for a token shaped like a default key (`8 chars . 32 chars`).
pub fn is_key(t: &str) -> bool {
    crate::is_key_shaped(t, 8, 32)
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
