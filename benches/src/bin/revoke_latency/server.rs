//! The two servers under test: the example binaries, started as a user
//! starts them.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::thread;

use crate::Result;

/// A server process, killed when dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `bin` with the default cache configuration and waits for its
/// `serving on http://ADDR` line.
pub(crate) fn start_server(
    bin: &std::path::Path,
    url: &str,
    cwd: &std::path::Path,
) -> Result<Server> {
    let mut child = Command::new(bin)
        .env("DATABASE_URL", url)
        .env("BIND", "127.0.0.1:0")
        .env_remove("APIKEY_CACHE")
        .env_remove("APIKEY_CACHE_TTL_MS")
        .env_remove("APIKEY_ADMIN_USER")
        .env_remove("APIKEY_ADMIN_PASSWORD")
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("start {}: {e}", bin.display()))?;
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = stdout.read_to_end(&mut sink);
    });
    let mut stderr = BufReader::new(child.stderr.take().ok_or("no stderr")?);
    let mut line = String::new();
    let mut seen = Vec::new();
    let addr = loop {
        line.clear();
        if stderr.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            let _ = child.kill();
            return Err(format!("{} did not start: {seen:?}", bin.display()));
        }
        if let Some(rest) = line.trim().strip_prefix("serving on http://") {
            break rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
        }
        seen.push(line.trim_end().to_owned());
    };
    thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = stderr.read_to_end(&mut sink);
    });
    Ok(Server { child, addr })
}
