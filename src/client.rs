//! A client of the daemon's control socket: one request line out, one reply line back.

use crate::error::{Error, Kind, Result};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `$TASKMUX_HOME/daemon.sock`.
pub fn socket_path(home: &Path) -> PathBuf {
    home.join("daemon.sock")
}

/// Sends one request to the daemon of `home` and reads its reply (E304 when none answers).
pub fn request(home: &Path, req: &Value, timeout: Duration) -> Result<Value> {
    let path = socket_path(home);
    let not_running = |e: std::io::Error| {
        Error::from(Kind::DaemonNotRunning(format!(
            "cannot reach the daemon at {}: {e}",
            path.display()
        )))
    };
    let mut s = UnixStream::connect(&path).map_err(not_running)?;
    let _ = s.set_read_timeout(Some(timeout));
    writeln!(s, "{req}").map_err(not_running)?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).map_err(not_running)?;
    serde_json::from_str(&line).map_err(|e| Error::internal(format!("the daemon's reply is not JSON: {e}")))
}
