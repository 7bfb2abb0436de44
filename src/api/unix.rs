//! The API on the Unix socket `$TASKMUX_HOME/daemon.sock`: mode 0600, peers of another uid
//! (but root) refused, one JSON request a line (at most [`MAX_LINE`] bytes), one reply a line; a
//! thread per client, so a slow client stalls only itself. At most [`MAX_CLIENTS`] at once:
//! a line left unfinished for [`LINE_IDLE`] closes its client, and at the cap the client
//! idle longest gives way to a new one. A client between lines (a quiet `subscribe`) is
//! never timed out.

use super::{Answer, MAX_LINE, error_reply};
use crate::daemon::Shared;
use crate::error::{Error, Kind};
use crate::sync::guard;
use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufReader, Read, Write};
use std::net::Shutdown;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Clients served at once. At the cap, the client idle longest (not carrying out a
/// request, not subscribed) is closed for the new one; when every client is busy or
/// subscribed, the new one is told so and closed.
pub const MAX_CLIENTS: usize = 64;

/// How long a client may leave a line unfinished (no byte of it for this long) before it
/// is told and closed: a client that sends half a request and waits holds a thread.
pub const LINE_IDLE: Duration = Duration::from_secs(10);

/// A line buffer past this capacity is given back after its line: one large request does
/// not keep its memory for the life of the connection.
const KEEP_BUFFER: usize = 64 * 1024;

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

/// What the accepting thread knows of each client, to choose one to close at the cap.
#[derive(Default)]
struct Clients {
    next: u64,
    open: HashMap<u64, Client>,
}

struct Client {
    /// A handle on the connection, to shut it down.
    stream: UnixStream,
    /// The last byte read from it, or the end of its last request.
    last: Instant,
    /// Carrying out a request.
    busy: bool,
    /// Subscribed: pushed messages go to it.
    subscribed: bool,
}

type Registry = Arc<Mutex<Clients>>;

/// One client's entry in the [`Registry`], removed when it ends.
struct Seat {
    clients: Registry,
    id: u64,
}

impl Seat {
    fn set(&self, f: impl FnOnce(&mut Client)) {
        if let Some(c) = guard(&self.clients).open.get_mut(&self.id) {
            f(c);
        }
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        guard(&self.clients).open.remove(&self.id);
    }
}

fn accept(listener: UnixListener, shared: Arc<Shared>) {
    let clients = Registry::default();
    for conn in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(conn) = conn else { continue };
        let Some(seat) = seat_for(&clients, &conn, &shared) else {
            continue;
        };
        let s = shared.clone();
        let _ = std::thread::Builder::new()
            .name("api client".into())
            .stack_size(512 * 1024)
            .spawn(move || client(conn, s, seat));
    }
}

/// A place for a new client: free, or made by closing the client idle longest; None
/// (the client told why, and closed) when every client is busy or subscribed.
fn seat_for(clients: &Registry, conn: &UnixStream, shared: &Shared) -> Option<Seat> {
    let handle = conn.try_clone().ok()?;
    let mut c = guard(clients);
    if c.open.len() >= MAX_CLIENTS {
        let idle = c
            .open
            .iter()
            .filter(|(_, x)| !x.busy && !x.subscribed)
            .min_by_key(|(_, x)| x.last)
            .map(|(id, _)| *id);
        match idle.and_then(|id| c.open.remove(&id)) {
            // its thread reads the end and goes
            Some(old) => {
                let _ = old.stream.shutdown(Shutdown::Both);
            }
            None => {
                drop(c);
                let e = Error::from(Kind::DaemonSilent(format!(
                    "taskmuxd serves at most {MAX_CLIENTS} clients at once, and each is carrying out a request or subscribed"
                )))
                .hint("try again when one of them ends");
                let mut w = handle;
                let _ = w.set_write_timeout(Some(Duration::from_secs(1)));
                let _ = w.write_all(format!("{}\n", error_reply(&e, None)).as_bytes());
                shared
                    .log
                    .line(&format!("api: {MAX_CLIENTS} clients, all busy: refused one"));
                return None;
            }
        }
    }
    let id = c.next;
    c.next += 1;
    c.open.insert(
        id,
        Client {
            stream: handle,
            last: Instant::now(),
            busy: false,
            subscribed: false,
        },
    );
    Some(Seat {
        clients: clients.clone(),
        id,
    })
}

/// The client's side of the connection as its line reader reads it: no time limit
/// between lines, [`LINE_IDLE`] for each byte once a line has begun; every read marks the
/// client active.
struct Paced<'a> {
    stream: UnixStream,
    seat: &'a Seat,
    /// The last byte read did not end a line.
    mid_line: bool,
    /// The read timeout set on the socket.
    timeout: Option<Duration>,
}

impl Read for Paced<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = self.mid_line.then_some(LINE_IDLE);
        if want != self.timeout {
            self.stream.set_read_timeout(want)?;
            self.timeout = want;
        }
        let n = self.stream.read(buf)?;
        if n > 0 {
            self.mid_line = buf[n - 1] != b'\n';
            self.seat.set(|c| c.last = Instant::now());
        }
        Ok(n)
    }
}

/// Serves one client until it hangs up (or leaves a line unfinished, or is closed for a
/// new client at the cap). Replies and pushed messages share the writer, one whole line at
/// a time.
fn client(conn: UnixStream, shared: Arc<Shared>, seat: Seat) {
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
    let mut input = BufReader::new(Paced {
        stream: conn,
        seat: &seat,
        mid_line: false,
        timeout: None,
    });
    let mut buf = Vec::new();
    loop {
        let too_long = match crate::lines::read_line(&mut input, &mut buf, MAX_LINE) {
            Ok(crate::lines::Read::End) => return,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                send(&error_reply(
                    &Error::from(Kind::BadRequest(format!(
                        "a request line left unfinished for {}s: closing (end each request with a newline)",
                        LINE_IDLE.as_secs()
                    ))),
                    None,
                ));
                return;
            }
            Err(_) => return,
            Ok(r) => r == crate::lines::Read::TooLong,
        };
        seat.set(|c| c.busy = true);
        let reply = if too_long {
            error_reply(
                &Error::from(Kind::TooLarge(format!("a request line is at most {MAX_LINE} bytes"))),
                None,
            )
        } else {
            match std::str::from_utf8(&buf) {
                Ok(l) if l.trim().is_empty() => Value::Null,
                Ok(l) => match super::handle_acked(&shared, l, crate::ops::Front::Local, &send) {
                    Answer::Reply(Value::Null) => return,
                    Answer::Reply(v) => v,
                    Answer::Subscribe(v, sub) => {
                        if !send(&v) {
                            return;
                        }
                        let w = out.clone();
                        subscriptions.push(sub.start(Arc::new(move |m| write_line(&w, &m))));
                        seat.set(|c| c.subscribed = true);
                        Value::Null
                    }
                },
                Err(_) => error_reply(
                    &Error::from(Kind::BadRequest("a request line must be UTF-8".into())),
                    None,
                ),
            }
        };
        if buf.capacity() > KEEP_BUFFER {
            buf = Vec::new();
        }
        seat.set(|c| {
            c.busy = false;
            c.last = Instant::now();
        });
        if !reply.is_null() && !send(&reply) {
            return;
        }
    }
}

/// Writes one message as one line in one write: a reply formatted straight into the
/// socket would be a system call for every token of it.
fn write_line(out: &Mutex<UnixStream>, v: &serde_json::Value) -> bool {
    let mut line = v.to_string();
    line.push('\n');
    let mut w = guard(out);
    w.write_all(line.as_bytes()).is_ok()
}
