//! The API on the Unix socket `$TASKMUX_HOME/daemon.sock`: mode 0600, peers of another uid
//! (but root) refused, one JSON request a line (at most [`MAX_LINE`] bytes), one reply a line; a
//! thread per client, so a slow client stalls only itself.

use super::{Answer, MAX_LINE, error_reply};
use crate::daemon::Shared;
use crate::error::{Error, Kind};
use serde_json::Value;
use std::io::{BufReader, Write};
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
            send(&error_reply(
                &Error::from(Kind::Unauthorized(
                    "the daemon's socket serves only its own user".into(),
                )),
                None,
            ));
            return;
        }
    }
    let mut subscriptions = Vec::new();
    let mut input = BufReader::new(conn);
    let mut buf = Vec::new();
    loop {
        let too_long = match crate::lines::read_line(&mut input, &mut buf, MAX_LINE) {
            Ok(crate::lines::Read::End) | Err(_) => return,
            Ok(r) => r == crate::lines::Read::TooLong,
        };
        let reply = if too_long {
            error_reply(
                &Error::from(Kind::TooLarge(format!("a request line is at most {MAX_LINE} bytes"))),
                None,
            )
        } else {
            match std::str::from_utf8(&buf) {
                Ok(l) if l.trim().is_empty() => continue,
                Ok(l) => match super::handle_acked(&shared, l, crate::ops::Front::Local, &send) {
                    Answer::Reply(Value::Null) => return,
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
