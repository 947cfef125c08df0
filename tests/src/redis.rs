//! A throwaway `redis-server` for one test: its own free port on
//! 127.0.0.1, its own folder, no persistence; stopped (killed) when dropped.
//!
//! Without a `redis-server` (Debian's `redis-server` package, which
//! `scripts/install-deps.sh` installs) the test fails with a message that
//! says how to install it, or how to leave the Redis tests out (`cargo test
//! -- --skip redis`: every such test has `redis` in its name): never a
//! pass that tested nothing.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to answer PING after it is started.
const PATIENCE: Duration = Duration::from_secs(30);

/// A running `redis-server`.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// `redis://127.0.0.1:<port>/`.
    pub url: String,
    dir: tempfile::TempDir,
}

fn binary() -> Option<String> {
    let name = std::env::var("APIKEY_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
    Command::new(&name)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()
        .filter(|s| s.success())
        .map(|_| name)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// True when the server on `port` answers PING with PONG.
fn pong(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

impl RedisServer {
    /// Starts a server.
    ///
    /// # Panics
    /// When there is no `redis-server` (with how to install it, or skip
    /// the Redis tests), or it does not start.
    pub fn start() -> Self {
        if binary().is_none() {
            panic!(
                "this Redis test needs redis-server: install it with scripts/install-deps.sh \
                 (Debian's redis-server package; scripts/test.sh and CI have it), or leave \
                 the Redis tests out: cargo test -- --skip redis"
            );
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server = RedisServer {
            child: None,
            port: 0,
            url: String::new(),
            dir,
        };
        // A port found free may be taken before the server binds it: try
        // a few.
        for _ in 0..5 {
            server.port = free_port();
            server.url = format!("redis://127.0.0.1:{}/", server.port);
            if server.run() {
                return server;
            }
        }
        panic!("redis-server did not start (5 ports tried)");
    }

    /// Starts the process on `self.port`; true once it answers PING.
    fn run(&mut self) -> bool {
        let Some(bin) = binary() else {
            return false;
        };
        let child = Command::new(bin)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(mut child) = child else {
            return false;
        };
        let start = Instant::now();
        while start.elapsed() < PATIENCE {
            if pong(self.port) {
                self.child = Some(child);
                return true;
            }
            if let Ok(Some(_)) = child.try_wait() {
                return false; // exited: the port was taken
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// Stops the server (as a crash would: killed); its port refuses
    /// connections afterwards.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (empty).
    ///
    /// # Panics
    /// When it does not start.
    pub fn restart(&mut self) {
        self.stop();
        assert!(
            self.run(),
            "redis-server did not restart on port {}",
            self.port
        );
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
