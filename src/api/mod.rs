//! The API: the daemon's fronts for programs. One protocol (an [`ops::Request`] with its
//! context, a tagged [`ops::Response`] echoing its `id`, pushed messages without one) on
//! two transports: the Unix socket `$TASKMUX_HOME/daemon.sock` (`unix`) and the WebSocket
//! (`ws`). Every request goes through [`handle`] and `ops::handle`; only `subscribe`, which
//! streams, is the transports' own.

pub mod unix;
pub mod ws;

use crate::daemon::Shared;
use crate::error::{Error, Kind};
use crate::ops::{self, Envelope, Front, Response};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;

pub use ops::MAX_LINE;

/// What a transport does with one request.
pub enum Answer {
    /// Send this reply.
    Reply(Value),
    /// Send this reply, then push what the subscription sees.
    Subscribe(Value, Box<Subscription>),
}

/// Reads one request from `front` and answers it: the one dispatcher of the API. The
/// request is decoded into an [`ops::Request`] with its context, checked against what
/// `front` may ask, carried out by [`ops::handle`] in the daemon's world, and answered in
/// its wire form with the request's `id`.
pub fn handle(shared: &Shared, line: &str, front: Front) -> Answer {
    let m = match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(m)) => m,
        _ => {
            return Answer::Reply(error_reply(
                &Envelope::parse(line).request.err().unwrap_or_else(not_object),
                None,
            ));
        }
    };
    if m.get("command").and_then(Value::as_str) == Some("subscribe") {
        return subscribe(shared, m);
    }
    let env = Envelope::from_map(m);
    let id = env.id.clone();
    let resp = match answer(shared, env, front) {
        Ok(r) => r,
        Err(e) => Response::Error(e),
    };
    Answer::Reply(resp.to_wire(id.as_ref()))
}

/// [`handle`] for a transport that can say more than one line: a request that asks for
/// progress (`"progress": true`) is acknowledged at once (`{"ack": true, "pid", "v",
/// "version", "id"}`), then, while it is carried out, `{"progress": "working", "id"}`
/// every [`crate::client::HEARTBEAT`], then answered. `send` writes one message; false
/// when the client is gone.
pub fn handle_acked(shared: &Shared, line: &str, front: Front, send: &(dyn Fn(&Value) -> bool + Sync)) -> Answer {
    let asked = serde_json::from_str::<Value>(line)
        .ok()
        .filter(|v| v.get("progress") == Some(&Value::Bool(true)));
    let Some(asked) = asked else {
        return handle(shared, line, front);
    };
    let id = asked.get("id").cloned().unwrap_or(Value::Null);
    let ack = json!({"ack": true, "pid": std::process::id(), "v": ops::PROTOCOL,
        "version": env!("CARGO_PKG_VERSION"), "id": id});
    if !send(&ack) {
        return Answer::Reply(Value::Null);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(move || {
            let _ = tx.send(handle(shared, line, front));
        });
        loop {
            match rx.recv_timeout(crate::client::HEARTBEAT) {
                Ok(answer) => return answer,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    // a client that went away gets its answer dropped; the work goes on
                    let _ = send(&json!({"progress": "working", "id": id}));
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    return Answer::Reply(error_reply(
                        &Error::internal("the request's worker ended without an answer"),
                        Some(id),
                    ));
                }
            }
        }
    })
}

fn not_object() -> Error {
    Error::from(Kind::BadRequest("a request must be a JSON object".into()))
}

/// Carries out one decoded request for `front`.
fn answer(shared: &Shared, env: Envelope, front: Front) -> Result<Response, Error> {
    let req = env.request?;
    req.allowed_from(front)?;
    if req.needs_project() && env.context.project.is_none() && env.context.config.is_none() && env.context.cwd.is_none()
    {
        return Err(Error::from(Kind::MissingProject(format!(
            "'{}' is about a project, and the request names none",
            req.name()
        ))));
    }
    let ctx = ops::in_context(&shared.request_ctx(), &env.context)?;
    let lifecycle = req.is_lifecycle();
    let resp = ops::handle(&ctx, req);
    if lifecycle {
        // the supervisors of the projects on that tmux server look again at once (no
        // other server changed)
        for p in shared.projects_on(&ctx.tmux.socket) {
            p.launched.store(true, Ordering::SeqCst);
            p.wake.wake();
        }
    }
    Ok(resp)
}

/// A `subscribe`: its acknowledgement, and what to push after it.
fn subscribe(shared: &Shared, mut m: serde_json::Map<String, Value>) -> Answer {
    let id = m.remove("id");
    let with_id = |mut v: Value| {
        if let (Value::Object(o), Some(id)) = (&mut v, id.clone()) {
            o.insert("id".into(), id);
        }
        v
    };
    match Subscription::parse(shared, m.remove("params").unwrap_or(Value::Null)) {
        Ok(sub) => Answer::Subscribe(
            with_id(serde_json::json!({"ok": true, "command": "subscribe"})),
            Box::new(sub),
        ),
        Err(e) => Answer::Reply(error_reply(&e, id)),
    }
}

/// An error reply in the API's shape (`{"ok": false, "error": "unknown_task", "code",
/// "message", "id"}`), with the tag `response` every reply has.
pub fn error_reply(e: &Error, id: Option<Value>) -> Value {
    Response::Error(e.clone()).to_wire(id.as_ref())
}

/// What a `subscribe` asked for: `{"events": true, "session": "p", "logs": {"session":
/// "p", "task": "web"}}` (events of every project unless `session` narrows them).
pub struct Subscription {
    events: bool,
    events_session: Option<String>,
    logs: Option<(crate::ctx::Ctx, String, String)>,
    log: crate::events::EventLog,
    /// Where the history ended when the subscription was taken (before its ack): the
    /// follower starts there, so nothing between the ack and its start is lost.
    from: u64,
}

impl Subscription {
    fn parse(shared: &Shared, params: Value) -> Result<Subscription, Error> {
        let invalid = Error::usage;
        let p = match params {
            Value::Object(p) => p,
            Value::Null => Default::default(),
            _ => return Err(invalid("subscribe takes an object of params".into())),
        };
        if let Some(k) = p.keys().find(|k| !matches!(k.as_str(), "events" | "session" | "logs")) {
            return Err(invalid(format!("subscribe has no param '{k}' (events, session, logs)")));
        }
        let events = p.get("events").and_then(Value::as_bool).unwrap_or(false);
        let events_session = p.get("session").and_then(Value::as_str).map(str::to_string);
        let logs = match p.get("logs") {
            None | Some(Value::Null) => None,
            Some(Value::Object(l)) => {
                let (Some(session), Some(task)) = (
                    l.get("session").and_then(Value::as_str),
                    l.get("task").and_then(Value::as_str),
                ) else {
                    return Err(invalid("logs needs {\"session\": …, \"task\": …}".into()));
                };
                let Some(proj) = crate::sync::guard(&shared.projects).get(session).cloned() else {
                    return Err(Error::from(Kind::NotRegistered(session.to_string())));
                };
                if let Some(Err(e)) = proj.project().map(|pr| pr.task(task).map(|_| ())) {
                    return Err(e);
                }
                Some((proj.ctx(), session.to_string(), task.to_string()))
            }
            Some(_) => return Err(invalid("logs is an object: {\"session\", \"task\"}".into())),
        };
        if !events && logs.is_none() {
            return Err(invalid("subscribe to \"events\": true, \"logs\", or both".into()));
        }
        Ok(Subscription {
            events,
            events_session,
            logs,
            from: shared.base.events.end(),
            log: shared.base.events.clone(),
        })
    }

    /// Starts following: each pushed message goes to `push` until it returns false or the
    /// returned handle is dropped.
    pub fn start(self, push: Arc<dyn Fn(Value) -> bool + Send + Sync>) -> Subscribed {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        if self.events {
            let (push, stop, log, session, from) = (
                push.clone(),
                stop.clone(),
                self.log.clone(),
                self.events_session,
                self.from,
            );
            let _ = std::thread::Builder::new()
                .name("api events".into())
                .stack_size(256 * 1024)
                .spawn(move || {
                    let keep = || !stop.load(Ordering::SeqCst);
                    let _ = log.follow_from(from, session.as_deref(), &mut |e| push(e.clone()), &keep);
                });
        }
        if let Some((ctx, session, task)) = self.logs {
            let stop = stop.clone();
            let _ = std::thread::Builder::new()
                .name("api logs".into())
                .stack_size(512 * 1024)
                .spawn(move || {
                    let keep = || !stop.load(Ordering::SeqCst);
                    let p = ops::LogsParams {
                        task: Some(task.clone()),
                        lines: Some(0),
                        ..Default::default()
                    };
                    let mut emit = |l: &crate::logs::Line| {
                        push(json!({"event": "log", "session": session, "task": task,
                            "line": crate::logs::strip_ansi(&l.raw)}))
                    };
                    let _ = ops::follow_while(&ctx, p, &mut emit, &keep);
                });
        }
        Subscribed { stop }
    }
}

/// A running subscription: dropping it ends its followers (within 100 ms).
pub struct Subscribed {
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for Subscribed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}
