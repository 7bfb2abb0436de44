//! The daemon's control socket, `$TASKMUX_HOME/daemon.sock` (0600, peers of another uid
//! refused): one JSON request a line, one reply a line echoing its `id`. The daemon's own
//! commands (`ping`, `daemon_status`, `list_projects`, `wake`) are answered here; every
//! other command is an ops request for the project named by `session`, run through
//! `ops::handle` in that project's world.

use super::Shared;
use crate::error::{Error, Kind};
use crate::ops::{self, Envelope, Response};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// The largest request line.
pub const MAX_LINE: usize = 1024 * 1024;
/// The protocol version `ping` reports.
pub const VERSION: u32 = 1;

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

    /// Stops answering: the socket file goes.
    pub fn close(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Where the control socket of the state directory `home` is.
pub fn socket_path(home: &std::path::Path) -> PathBuf {
    home.join("daemon.sock")
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

/// Serves one client until it hangs up.
fn client(conn: UnixStream, shared: Arc<Shared>) {
    let Ok(mut out) = conn.try_clone() else { return };
    let me = rustix::process::geteuid();
    match rustix::net::sockopt::socket_peercred(&conn) {
        Ok(cred) if cred.uid == me => {}
        _ => {
            let e = json!({"ok": false, "error": "unauthorized", "code": "E700",
                "message": "the daemon's socket serves only its own user"});
            let _ = writeln!(out, "{e}");
            return;
        }
    }
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
                Ok(l) => answer(&shared, l),
                Err(_) => error_reply(
                    &Error::from(Kind::BadRequest("a request line must be UTF-8".into())),
                    None,
                ),
            }
        };
        if writeln!(out, "{reply}").and_then(|_| out.flush()).is_err() {
            return;
        }
    }
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

/// The reply to one request line.
pub fn answer(shared: &Shared, line: &str) -> Value {
    let Ok(Value::Object(mut m)) = serde_json::from_str::<Value>(line) else {
        return error_reply(
            &Envelope::parse(line)
                .request
                .err()
                .unwrap_or_else(|| bad("not a JSON object")),
            None,
        );
    };
    let id = m.get("id").cloned();
    let command = m.get("command").and_then(Value::as_str).unwrap_or_default().to_string();
    let session = take_session(&mut m);
    let mut v = match command.as_str() {
        "ping" => json!({"command": "ping", "ok": true, "v": VERSION}),
        "daemon_status" => to_value(&shared.status()),
        "list_projects" => json!({"ok": true, "projects": shared.list()}),
        "wake" => wake(shared, session.as_deref()),
        _ => project_request(shared, session.as_deref(), m),
    };
    if let (Value::Object(o), Some(id)) = (&mut v, id) {
        o.insert("id".into(), id);
    }
    v
}

fn bad(msg: &str) -> Error {
    Error::from(Kind::BadRequest(msg.into()))
}

/// Takes `session` out of the request's params (or the request itself).
fn take_session(m: &mut serde_json::Map<String, Value>) -> Option<String> {
    let from_params = m
        .get_mut("params")
        .and_then(Value::as_object_mut)
        .and_then(|p| p.remove("session"));
    let v = from_params.or_else(|| m.remove("session"));
    v.and_then(|v| v.as_str().map(str::to_string))
}

/// `wake`: the supervisors of a project (every project when none is named) look again.
fn wake(shared: &Shared, session: Option<&str>) -> Value {
    let projects = super::guard(&shared.projects);
    let mut woken = Vec::new();
    for p in projects.values().filter(|p| session.is_none_or(|s| s == p.name)) {
        p.launched.store(true, Ordering::SeqCst);
        p.heal_now.store(true, Ordering::SeqCst);
        p.wake.wake();
        woken.push(p.name.clone());
    }
    json!({"ok": true, "woken": woken})
}

/// An ops request for a registered project.
fn project_request(shared: &Shared, session: Option<&str>, m: serde_json::Map<String, Value>) -> Value {
    let line = Value::Object(m).to_string();
    let env = Envelope::parse(&line);
    let req = match env.request {
        Ok(r) => r,
        Err(e) => return error_reply(&e, None),
    };
    let Some(session) = session else {
        return json!({"ok": false, "error": "missing_session", "code": "E500",
            "message": "this command needs \"session\": the project to act on"});
    };
    let Some(p) = super::guard(&shared.projects).get(session).cloned() else {
        return json!({"ok": false, "error": "unknown_session", "code": "E303",
            "message": format!("no registered project '{session}'")});
    };
    let resp = ops::handle(&p.ctx(), req);
    p.launched.store(true, Ordering::SeqCst);
    p.wake.wake();
    let mut v = to_value(&resp);
    if let (Value::Object(o), Response::Error(e)) = (&mut v, &resp) {
        *o = error_reply(e, None).as_object().cloned().unwrap_or_default();
    } else if let Value::Object(o) = &mut v
        && !o.contains_key("ok")
    {
        o.insert("ok".into(), Value::Bool(resp.ok()));
    }
    v
}

fn to_value(v: &impl serde::Serialize) -> Value {
    serde_json::to_value(v)
        .unwrap_or_else(|e| json!({"ok": false, "code": "E900", "error": "internal", "message": e.to_string()}))
}

/// An error reply: the symbolic `error` of the API, with the code and message.
pub fn error_reply(e: &Error, id: Option<Value>) -> Value {
    let error = match e.code() {
        "E501" => "unknown_command",
        "E502" => "invalid_json",
        "E200" => "unknown_task",
        "E300" => "unknown_session",
        "E500" => "invalid_params",
        _ => "failed",
    };
    let mut v = json!({"ok": false, "error": error, "code": e.code(), "message": e.message()});
    if let Some(h) = &e.hint {
        v["hint"] = json!(h);
    }
    if let Some(id) = id {
        v["id"] = id;
    }
    v
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
