//! A client of the daemon's control socket: one request line out, and either one reply
//! line back ([`request`]), or, for a request the daemon carries out for a front
//! ([`call`]), its acknowledgement at once, its heartbeats while it works, then its reply:
//! so a daemon that does not answer, or ends mid-request, is said at once, never waited
//! on in the dark.

use crate::error::{Error, Kind, Result};
use serde_json::Value;
use std::io::{BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The longest reply line read from the daemon.
const MAX_REPLY: usize = 64 << 20;

/// `$TASKMUX_HOME/daemon.sock`.
pub fn socket_path(home: &Path) -> PathBuf {
    home.join("daemon.sock")
}

/// How long the daemon has to acknowledge a request.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the daemon says it is still at a request it acknowledged.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// How long a front waits without a word from the daemon, once it acknowledged.
pub const SILENCE: Duration = Duration::from_secs(20);

fn not_running(path: &Path, e: std::io::Error) -> Error {
    Error::from(Kind::DaemonNotRunning(format!(
        "cannot reach the daemon at {}: {e}",
        path.display()
    )))
}

/// Sends one request to the daemon of `home` and reads its reply (E304 when none answers).
pub fn request(home: &Path, req: &Value, timeout: Duration) -> Result<Value> {
    let path = socket_path(home);
    let mut s = UnixStream::connect(&path).map_err(|e| not_running(&path, e))?;
    let _ = s.set_read_timeout(Some(timeout));
    let _ = s.set_write_timeout(Some(timeout));
    s.write_all(format!("{req}\n").as_bytes())
        .map_err(|e| not_running(&path, e))?;
    let mut line = Vec::new();
    let read =
        crate::lines::read_line(&mut BufReader::new(s), &mut line, MAX_REPLY).map_err(|e| not_running(&path, e))?;
    if read == crate::lines::Read::TooLong {
        return Err(Error::from(Kind::TooLarge(format!(
            "the daemon's reply is over {MAX_REPLY} bytes"
        ))));
    }
    serde_json::from_slice(&line).map_err(|e| Error::internal(format!("the daemon's reply is not JSON: {e}")))
}

/// How a [`call`] went wrong.
#[derive(Debug)]
pub enum CallError {
    /// No daemon answers on the socket.
    Unreachable,
    /// It accepted the connection and did not acknowledge in time, or fell silent.
    Silent,
    /// It acknowledged, then the connection ended without a reply: it died.
    Lost,
}

/// Sends `req` (which asks for progress) to the daemon of `home`: waits `ack` for its
/// acknowledgement, then for its reply, handing each progress message to `progress`,
/// for up to [`SILENCE`] between any two lines. A first line that is no acknowledgement
/// is returned as the reply (an older daemon's error).
pub fn call(home: &Path, req: &Value, ack: Duration, mut progress: impl FnMut(&Value)) -> Result<Value, CallError> {
    let path = socket_path(home);
    let mut s = UnixStream::connect(&path).map_err(|_| CallError::Unreachable)?;
    let _ = s.set_read_timeout(Some(ack));
    // a stopped daemon accepts nothing: a request larger than the socket's buffer would
    // wait for it forever
    let _ = s.set_write_timeout(Some(ack));
    match s.write_all(format!("{req}\n").as_bytes()) {
        Ok(()) => {}
        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
            return Err(CallError::Silent);
        }
        Err(_) => return Err(CallError::Unreachable),
    }
    let mut input = BufReader::new(s);
    let mut first = true;
    let mut buf = Vec::new();
    loop {
        let read = crate::lines::read_line(&mut input, &mut buf, MAX_REPLY);
        let line = match read {
            Ok(crate::lines::Read::Line) => buf.clone(),
            Ok(crate::lines::Read::End) => return Err(if first { CallError::Silent } else { CallError::Lost }),
            Ok(crate::lines::Read::TooLong) => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return Err(CallError::Silent);
            }
            Err(_) => return Err(if first { CallError::Silent } else { CallError::Lost }),
        };
        let Ok(v) = serde_json::from_slice::<Value>(&line) else {
            continue;
        };
        if first {
            first = false;
            let _ = input.get_ref().set_read_timeout(Some(SILENCE));
            if v.get("ack") == Some(&Value::Bool(true)) {
                continue;
            }
            return Ok(v);
        }
        if v.get("progress").is_some() && v.get("response").is_none() {
            progress(&v);
            continue;
        }
        return Ok(v);
    }
}
