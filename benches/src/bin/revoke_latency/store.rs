//! The other processes that write to the database: the `apikey` CLI and
//! the databases' own clients (`sqlite3`, `psql`).

use std::process::{Command, Stdio};

use crate::Result;

/// Runs a command to completion; its stdout, or an error with its stderr.
pub(crate) fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// How the scenario talks to the database.
pub(crate) struct Store {
    pub(crate) url: String,
    pub(crate) bin_dir: std::path::PathBuf,
}

impl Store {
    pub(crate) fn is_postgres(&self) -> bool {
        self.url.starts_with("postgres://") || self.url.starts_with("postgresql://")
    }

    /// Raw SQL through the database's own client (another process).
    pub(crate) fn sql(&self, sql: &str) -> Command {
        if self.is_postgres() {
            let mut c = Command::new("psql");
            c.args([
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                &self.url,
                "-c",
                sql,
            ]);
            c
        } else {
            let path = self
                .url
                .strip_prefix("sqlite://")
                .or_else(|| self.url.strip_prefix("file:"))
                .unwrap_or(&self.url);
            let mut c = Command::new("sqlite3");
            c.args(["-bail", "-cmd", ".timeout 5000", path, sql]);
            c
        }
    }

    pub(crate) fn cli(&self) -> Command {
        let mut c = Command::new(self.bin_dir.join("apikey"));
        c.arg("--database-url").arg(&self.url);
        c
    }

    pub(crate) fn boolean(&self, b: bool) -> &'static str {
        match (self.is_postgres(), b) {
            (true, true) => "TRUE",
            (true, false) => "FALSE",
            (false, true) => "1",
            (false, false) => "0",
        }
    }
}
