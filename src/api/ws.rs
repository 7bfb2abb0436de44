//! The API on a WebSocket at `api_bind:api_port` (127.0.0.1:8765): the same requests and
//! replies as `daemon.sock`, one JSON object a text message. A client must show the token of
//! `$TASKMUX_HOME/api.token` (`Authorization: Bearer …` or `?token=…`), and a request with
//! an `Origin` header is refused unless that origin is listed in `api_allowed_origins`: any
//! web page can reach 127.0.0.1, and none may drive your tasks. A thread per client.
//! What is not a WebSocket handshake gets an HTTP answer with a line of text (426 for a
//! plain HTTP request), and a message past the cap gets `too_large` and a 1009 close: the
//! rest of it is read and dropped first, so the client sees both instead of a reset.

use super::{Answer, MAX_LINE, error_reply, handle};
use crate::daemon::Shared;
use crate::error::{Error, Kind};
use crate::supervision::ApiStatus;
use crate::sync::guard;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::Duration;
use tungstenite::error::{CapacityError, ProtocolError};
use tungstenite::handshake::HandshakeError;
use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::http::StatusCode;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

/// How long a client has to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a subscribed client's pushed messages are sent while it is quiet.
const PUSH_EVERY: Duration = Duration::from_millis(100);
/// Messages past [`MAX_LINE`] up to this size are answered `too_large` and the client goes
/// on; a larger one is answered and the connection closed (it is not read whole).
const MAX_MESSAGE: usize = 4 * MAX_LINE;
/// Pushed messages a subscribed client may have waiting before its followers wait for it.
const PUSH_QUEUE: usize = 256;
/// How long the rest of a refused message (or request) is read and dropped before the
/// connection is closed, and how much of it at most.
const DRAIN_FOR: Duration = Duration::from_secs(5);
const DRAIN_AT_MOST: u64 = 64 << 20;

/// Where the WebSocket's token is kept.
pub fn token_path(home: &Path) -> PathBuf {
    home.join("api.token")
}

/// The token clients must show: read from `api.token`, or made (32 random bytes, in hex)
/// and written with mode 0600 when there is none yet. A token file readable by others is
/// made 0600 again.
pub fn ensure_token(home: &Path) -> crate::error::Result<String> {
    use std::os::unix::fs::PermissionsExt;
    let path = token_path(home);
    match std::fs::read_to_string(&path) {
        Ok(t) if !t.trim().is_empty() => {
            let loose = std::fs::metadata(&path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0);
            if loose {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| Error::io("chmod", &path, e))?;
            }
            return Ok(t.trim().to_string());
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("read", &path, e)),
    }
    let mut raw = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut raw))
        .map_err(|e| Error::io("read", Path::new("/dev/urandom"), e))?;
    let token: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    crate::paths::write_atomic(&path, format!("{token}\n").as_bytes(), 0o600)?;
    Ok(token)
}

/// The WebSocket listener; a no-op when it could not listen (the daemon goes on with its
/// Unix socket, and says why in `daemon status`).
pub struct Server {
    addr: Option<SocketAddr>,
    closed: Arc<AtomicBool>,
}

impl Server {
    /// Listens on `api_bind:api_port` of the global config and serves it on a thread. A
    /// failure (the port in use, no token) is logged and recorded, never fatal.
    pub fn start(shared: Arc<Shared>) -> Server {
        let closed = Arc::new(AtomicBool::new(false));
        let (bind, port) = {
            let g = guard(&shared.global);
            (g.api_bind.clone(), g.api_port)
        };
        let fail = |msg: String| {
            shared
                .log
                .line(&format!("websocket: {msg}; the API is on daemon.sock only"));
            *guard(&shared.api) = ApiStatus {
                websocket: None,
                error: Some(msg),
            };
            Server {
                addr: None,
                closed: closed.clone(),
            }
        };
        let token: Arc<str> = match ensure_token(&shared.base.home) {
            Ok(t) => t.into(),
            Err(e) => return fail(format!("no token: {}", e.message())),
        };
        let listener = match TcpListener::bind((bind.as_str(), port)) {
            Ok(l) => l,
            Err(e) => return fail(format!("cannot listen on {bind}:{port}: {e}")),
        };
        let addr = match listener.local_addr() {
            Ok(a) => a,
            Err(e) => return fail(format!("cannot listen on {bind}:{port}: {e}")),
        };
        if !addr.ip().is_loopback() {
            shared.log.line(&format!(
                "warning: the WebSocket API listens on {addr}, beyond this machine: anyone who can \
                 reach it and holds the token in {} can drive your tasks",
                token_path(&shared.base.home).display()
            ));
        }
        let (s, c) = (shared.clone(), closed.clone());
        let spawned = std::thread::Builder::new()
            .name("ws accept".into())
            .stack_size(256 * 1024)
            .spawn(move || accept(listener, s, token, c));
        if let Err(e) = spawned {
            return fail(format!("cannot start its thread: {e}"));
        }
        shared.log.line(&format!("websocket: listening on ws://{addr}"));
        *guard(&shared.api) = ApiStatus {
            websocket: Some(format!("ws://{addr}")),
            error: None,
        };
        Server {
            addr: Some(addr),
            closed,
        }
    }
}

impl crate::daemon::Front for Server {
    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        // wake the accept so it sees the flag and lets the port go
        if let Some(addr) = self.addr {
            let _ = TcpStream::connect_timeout(&addr, Duration::from_millis(200));
        }
    }
}

fn accept(listener: TcpListener, shared: Arc<Shared>, token: Arc<str>, closed: Arc<AtomicBool>) {
    for conn in listener.incoming() {
        if closed.load(Ordering::SeqCst) || shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(conn) = conn else { continue };
        let (s, t) = (shared.clone(), token.clone());
        let _ = std::thread::Builder::new()
            .name("ws client".into())
            .stack_size(512 * 1024)
            .spawn(move || client(conn, s, &t));
    }
}

/// Small buffers (a quiet client costs little), and a message limit past [`MAX_LINE`] so a
/// too large request is answered rather than cut off.
fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
}

/// The handshake's gate: an `Origin` not listed is refused with 403, a missing or wrong
/// token with 401. Returns the reason of a refusal.
fn gate(req: &Request, token: &str, origins: &[String]) -> Result<(), (StatusCode, String)> {
    if let Some(origin) = req.headers().get("origin") {
        let o = origin.to_str().unwrap_or("");
        if !origins.iter().any(|a| a == o) {
            return Err((
                StatusCode::FORBIDDEN,
                format!("origin {o:?} is not in api_allowed_origins of the global config"),
            ));
        }
    }
    let bearer = req
        .headers()
        .get_all("authorization")
        .iter()
        .filter_map(|h| h.to_str().ok())
        .filter_map(|h| h.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    let query = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.strip_prefix("token="));
    let mut ok = false;
    for shown in bearer.chain(query) {
        ok |= same(shown.as_bytes(), token.as_bytes());
    }
    if ok {
        Ok(())
    } else {
        Err((
            StatusCode::UNAUTHORIZED,
            "the WebSocket API needs the token of api.token: 'Authorization: Bearer TOKEN' or ?token=TOKEN".into(),
        ))
    }
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn refusal(status: StatusCode, message: &str) -> ErrorResponse {
    let body = json!({"ok": false, "error": "unauthorized", "code": "E700", "message": message});
    let mut r = ErrorResponse::new(Some(body.to_string()));
    *r.status_mut() = status;
    if let Ok(v) = "application/json".parse() {
        r.headers_mut().insert("content-type", v);
    }
    r
}

fn too_large() -> Value {
    error_reply(
        &crate::error::Error::from(crate::error::Kind::TooLarge(format!(
            "a request message is at most {MAX_LINE} bytes"
        ))),
        None,
    )
}

/// A client's socket, for tungstenite: a call a signal interrupts is made again. The
/// socket has a read timeout (the handshake's, then the push tick's), and Linux ends such
/// a read with EINTR on any signal the daemon handles, or on a SIGCHLD that one of its
/// threads left pending while it spawned; tungstenite takes that for the end of the
/// connection.
struct Conn(TcpStream);

impl std::io::Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match self.0.read(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                r => return r,
            }
        }
    }
}

impl std::io::Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        loop {
            match self.0.write(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                r => return r,
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Serves one client: its handshake, then each text message as one request.
fn client(conn: TcpStream, shared: Arc<Shared>, token: &str) {
    let peer = conn.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    let _ = conn.set_read_timeout(Some(HANDSHAKE_TIMEOUT));
    let _ = conn.set_nodelay(true);
    let origins = guard(&shared.global).api_allowed_origins.clone();
    let callback = |req: &Request, resp: Response| match gate(req, token, &origins) {
        Ok(()) => Ok(resp),
        Err((status, why)) => {
            shared.log.line(&format!("websocket: refused {peer} ({status}): {why}"));
            Err(refusal(status, &why))
        }
    };
    // the handshake takes the stream; a clone answers what was not a handshake at all
    let raw = conn.try_clone();
    let mut ws = match tungstenite::accept_hdr_with_config(Conn(conn), callback, Some(config())) {
        Ok(ws) => ws,
        Err(HandshakeError::Failure(e)) => {
            if let (Some((status, why)), Ok(raw)) = (not_a_handshake(&e), raw) {
                answer_plain(raw, status, &why);
            }
            return;
        }
        Err(HandshakeError::Interrupted(_)) => return,
    };
    let _ = ws.get_ref().0.set_read_timeout(None);
    serve(&mut ws, &shared);
}

/// The HTTP answer to a request that is not a WebSocket handshake: 426 for a plain HTTP
/// request (no `Upgrade: websocket`, or not a GET), 400 for a handshake that is malformed,
/// 431 for a head past tungstenite's 64 KiB. None when there is nobody to answer (the
/// client went away or was silent) or the answer was given already (a refusal of the gate).
fn not_a_handshake(e: &tungstenite::Error) -> Option<(StatusCode, String)> {
    use tungstenite::Error as E;
    let plain = "this port serves the taskmux API over WebSocket only: connect with a WebSocket \
                 client (Upgrade: websocket) and the token of api.token (Authorization: Bearer TOKEN or ?token=TOKEN)";
    match e {
        E::Protocol(
            ProtocolError::WrongHttpMethod
            | ProtocolError::WrongHttpVersion
            | ProtocolError::MissingConnectionUpgradeHeader
            | ProtocolError::MissingUpgradeWebSocketHeader,
        ) => Some((StatusCode::UPGRADE_REQUIRED, plain.into())),
        E::Protocol(ProtocolError::HandshakeIncomplete) => None,
        E::Protocol(p) => Some((StatusCode::BAD_REQUEST, format!("not a valid WebSocket handshake: {p}"))),
        E::AttackAttempt | E::Capacity(CapacityError::TooManyHeaders) => Some((
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "the request head is too large (at most 64 KiB, 124 headers)".into(),
        )),
        E::HttpFormat(_) | E::Utf8(_) => Some((StatusCode::BAD_REQUEST, format!("not a valid HTTP request: {e}"))),
        _ => None,
    }
}

/// Writes an HTTP answer with one line of text, then closes the connection without a reset.
fn answer_plain(mut conn: TcpStream, status: StatusCode, why: &str) {
    let body = format!(
        "taskmux: {} {}: {why}\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    let upgrade = if status == StatusCode::UPGRADE_REQUIRED {
        "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
    } else {
        ""
    };
    let head = format!(
        "HTTP/1.1 {} {}\r\n{upgrade}Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    );
    let _ = conn.set_write_timeout(Some(HANDSHAKE_TIMEOUT));
    if conn
        .write_all(head.as_bytes())
        .and_then(|_| conn.write_all(body.as_bytes()))
        .is_ok()
    {
        close_gently(&conn);
    }
}

/// Ends the connection after what was written: our side is shut for writing (the client
/// reads to the end), then what the client still sends is read and dropped, for
/// [`DRAIN_FOR`] or [`DRAIN_AT_MOST`] bytes at most, until it closes too. Closing with
/// unread bytes would make the kernel send a reset, and the client could lose our answer.
fn close_gently(conn: &TcpStream) {
    let _ = conn.shutdown(Shutdown::Write);
    let deadline = std::time::Instant::now() + DRAIN_FOR;
    let mut drained = 0u64;
    let mut buf = [0u8; 16 * 1024];
    let mut r = conn;
    while drained < DRAIN_AT_MOST {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() || r.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match r.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => drained += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

fn serve(ws: &mut WebSocket<Conn>, shared: &Shared) {
    // made at the first subscribe: a bounded channel allocates its whole queue, which a
    // client that only asks should not pay for
    let mut pushed: Option<(SyncSender<Value>, Receiver<Value>)> = None;
    let mut subscriptions = Vec::new();
    let send = |ws: &mut WebSocket<Conn>, v: &Value| ws.send(Message::text(v.to_string())).is_ok();
    loop {
        if let Some((_, rx)) = &pushed {
            while let Ok(m) = rx.try_recv() {
                if !send(ws, &m) {
                    return;
                }
            }
        }
        let msg = match ws.read() {
            Ok(m) => m,
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
            {
                continue;
            }
            Err(tungstenite::Error::Capacity(_)) => {
                // not read whole: answer, close with 1009 (message too big), and drop the
                // rest of it before the socket goes, so the client reads both, not a reset
                send(ws, &too_large());
                let _ = ws.close(Some(CloseFrame {
                    code: CloseCode::Size,
                    reason: format!("a message over {MAX_MESSAGE} bytes is not read").into(),
                }));
                let _ = ws.flush();
                close_gently(&ws.get_ref().0);
                return;
            }
            Err(_) => return,
        };
        let reply = match msg {
            Message::Text(t) if t.len() > MAX_LINE => too_large(),
            Message::Text(t) if t.trim().is_empty() => continue,
            Message::Text(t) => match handle(shared, t.as_str(), crate::ops::Front::WebSocket) {
                Answer::Reply(v) => v,
                Answer::Subscribe(v, sub) => {
                    if !send(ws, &v) {
                        return;
                    }
                    let (tx, _) = pushed.get_or_insert_with(|| {
                        let _ = ws.get_ref().0.set_read_timeout(Some(PUSH_EVERY));
                        std::sync::mpsc::sync_channel(PUSH_QUEUE)
                    });
                    let tx = tx.clone();
                    subscriptions.push(sub.start(Arc::new(move |m| tx.send(m).is_ok())));
                    continue;
                }
            },
            Message::Binary(_) => error_reply(
                &Error::from(Kind::BadRequest("a request is a JSON text message, not binary".into())),
                None,
            ),
            Message::Close(_) => {
                let _ = ws.flush();
                return;
            }
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {
                let _ = ws.flush();
                continue;
            }
        };
        if !send(ws, &reply) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(uri: &str, headers: &[(&str, &str)]) -> Request {
        let mut b = Request::builder().uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).expect("a valid request")
    }

    #[test]
    fn the_gate_wants_the_token_and_a_listed_origin() {
        let ok = ["http://localhost:3000".to_string()];
        let code = |r: &Request| gate(r, "abc", &ok).err().map(|e| e.0.as_u16());
        assert_eq!(code(&req("/", &[])), Some(401));
        assert_eq!(code(&req("/?token=abd", &[])), Some(401));
        assert_eq!(code(&req("/?x=1&token=abc", &[])), None);
        assert_eq!(code(&req("/", &[("Authorization", "Bearer abc")])), None);
        assert_eq!(code(&req("/", &[("Authorization", "bearer  abc ")])), None);
        assert_eq!(code(&req("/", &[("Authorization", "Basic abc")])), Some(401));
        let evil = [("Origin", "https://evil.example"), ("Authorization", "Bearer abc")];
        assert_eq!(code(&req("/", &evil)), Some(403));
        let listed = [("Origin", "http://localhost:3000"), ("Authorization", "Bearer abc")];
        assert_eq!(code(&req("/", &listed)), None);
    }
}
