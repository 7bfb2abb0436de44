//! The API on the Unix socket `$TASKMUX_HOME/daemon.sock`: mode 0600, peers of another uid
//! (but root) refused, one JSON request a line (at most [`MAX_LINE`] bytes), one reply a line; a
//! thread per client, so a slow client stalls only itself.

use super::{Answer, MAX_LINE, error_reply, handle};
use crate::daemon::Shared;
use crate::error::{Error, Kind};
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};

/// The listening socket.
pub struct Server {
    path: PathBuf,
}

impl Server {
    /// Binds `daemon.sock` (a stale one from a dead daemon is replaced: we hold the lock)
    /// and serves it on a thread, a thread per client.
    pub fn bind(shared: Arc<Shared>) -> crate::error::Result<Server> {
        let path = socket_path(&shared.base.home);
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).map_err(|e| Error::io("listen on", &path, e))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::io("chmod", &path, e))?;
        std::thread::Builder::new()
            .name("api accept".into())
            .stack_size(256 * 1024)
            .spawn(move || accept(listener, shared))
            .map_err(|e| Error::internal(format!("cannot start the socket thread: {e}")))?;
        Ok(Server { path })
    }
}

impl crate::daemon::Front for Server {
    fn close(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Where the control socket of the state directory `home` is.
pub fn socket_path(home: &std::path::Path) -> PathBuf {
    crate::client::socket_path(home)
}

fn accept(listener: UnixListener, shared: Arc<Shared>) {
    for conn in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(conn) = conn else { continue };
        let s = shared.clone();
        let _ = std::thread::Builder::new()
            .name("api client".into())
            .stack_size(512 * 1024)
            .spawn(move || client(conn, s));
    }
}

/// Serves one client until it hangs up. Replies and pushed messages share the writer, one
/// whole line at a time.
fn client(conn: UnixStream, shared: Arc<Shared>) {
    let Ok(out) = conn.try_clone() else { return };
    let out = Arc::new(Mutex::new(out));
    let send = |v: &serde_json::Value| -> bool { write_line(&out, v) };
    let me = rustix::process::geteuid();
    match rustix::net::sockopt::socket_peercred(&conn) {
        // root too: it can read the state anyway, and `sudo taskmux daemon start` waits
        // for the daemon it started (which became the user) to answer
        Ok(cred) if cred.uid == me || cred.uid.is_root() => {}
        _ => {
            send(&json!({"ok": false, "error": "unauthorized", "code": "E700",
                "message": "the daemon's socket serves only its own user"}));
            return;
        }
    }
    let mut subscriptions = Vec::new();
    let mut input = BufReader::new(conn);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let (n, too_long) = match read_line(&mut input, &mut buf) {
            Ok(v) => v,
            Err(_) => return,
        };
        if n == 0 {
            return;
        }
        let reply = if too_long {
            json!({"ok": false, "error": "too_large", "code": "E500",
                "message": format!("a request line is at most {MAX_LINE} bytes")})
        } else {
            match std::str::from_utf8(&buf) {
                Ok(l) if l.trim().is_empty() => continue,
                Ok(l) => match handle(&shared, l) {
                    Answer::Reply(v) => v,
                    Answer::Subscribe(v, sub) => {
                        if !send(&v) {
                            return;
                        }
                        let w = out.clone();
                        subscriptions.push(sub.start(Arc::new(move |m| write_line(&w, &m))));
                        continue;
                    }
                },
                Err(_) => error_reply(
                    &Error::from(Kind::BadRequest("a request line must be UTF-8".into())),
                    None,
                ),
            }
        };
        if !send(&reply) {
            return;
        }
    }
}

/// Writes one message as one line in one write: a reply formatted straight into the
/// socket would be a system call for every token of it.
fn write_line(out: &Mutex<UnixStream>, v: &serde_json::Value) -> bool {
    let mut line = v.to_string();
    line.push('\n');
    let mut w = out.lock().unwrap_or_else(PoisonError::into_inner);
    w.write_all(line.as_bytes()).is_ok()
}

/// Reads one line into `buf`, keeping at most [`MAX_LINE`] bytes of it; the rest of a
/// longer line is read and dropped. Returns (bytes read, whether it was too long).
fn read_line(input: &mut impl BufRead, buf: &mut Vec<u8>) -> std::io::Result<(usize, bool)> {
    let mut total = 0;
    let mut too_long = false;
    loop {
        let chunk = input.fill_buf()?;
        if chunk.is_empty() {
            return Ok((total, too_long));
        }
        let (take, done) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if !too_long {
            if buf.len() + take > MAX_LINE + 1 {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(&chunk[..take]);
            }
        }
        input.consume(take);
        total += take;
        if done {
            return Ok((total, too_long));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_dropped_whole() {
        let mut data = vec![b'x'; MAX_LINE + 10];
        data.push(b'\n');
        data.extend_from_slice(b"{\"command\": \"ping\"}\n");
        let mut r = std::io::BufReader::with_capacity(4096, &data[..]);
        let mut buf = Vec::new();
        let (n, long) = read_line(&mut r, &mut buf).expect("reads");
        assert!(long && n == MAX_LINE + 11 && buf.is_empty());
        buf.clear();
        let (_, long) = read_line(&mut r, &mut buf).expect("reads");
        assert!(!long);
        assert_eq!(buf, b"{\"command\": \"ping\"}\n");
    }
}
