//! The API: the daemon's fronts for programs. One protocol — a JSON request, a JSON reply
//! echoing its `id`, pushed messages without one — on two transports: the Unix socket
//! `$TASKMUX_HOME/daemon.sock` (`unix`) and the WebSocket (`ws`). The daemon's own
//! commands (`ping`, `daemon_status`, `list_projects`, `wake`) are answered here; every
//! other command is an ops request for the project named by `session`, run through
//! `ops::handle` in that project's world.

pub mod unix;
pub mod ws;

use crate::daemon::Shared;
use crate::error::{Error, Kind};
use crate::ops::{self, Envelope, Response};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;

pub use unix::socket_path;

/// The largest request (a line on the socket, a message on the WebSocket).
pub const MAX_LINE: usize = 1024 * 1024;
/// The protocol version `ping` reports.
pub const VERSION: u32 = 1;

/// Starts the API's fronts for a daemon: the WebSocket (one that cannot listen is logged
/// and reported by `daemon_status`, never fatal), then the Unix socket, whose first answer
/// is what `daemon start` waits for: by then the WebSocket is settled.
pub fn serve(shared: Arc<Shared>) -> crate::error::Result<Vec<Box<dyn crate::daemon::Front>>> {
    let ws = ws::Server::start(shared.clone());
    Ok(vec![Box::new(unix::Server::bind(shared)?), Box::new(ws)])
}

/// What a transport does with one request.
pub enum Answer {
    /// Send this reply.
    Reply(Value),
    /// Send this reply, then push what the subscription sees.
    Subscribe(Value, Box<Subscription>),
}

/// The reply to one request line (a `subscribe` is refused: the transport must use
/// [`handle`] to serve one).
pub fn answer(shared: &Shared, line: &str) -> Value {
    match handle(shared, line) {
        Answer::Reply(v) | Answer::Subscribe(v, _) => v,
    }
}

/// Reads one request and answers it.
pub fn handle(shared: &Shared, line: &str) -> Answer {
    let Ok(Value::Object(mut m)) = serde_json::from_str::<Value>(line) else {
        return Answer::Reply(error_reply(
            &Envelope::parse(line)
                .request
                .err()
                .unwrap_or_else(|| bad("not a JSON object")),
            None,
        ));
    };
    let id = m.get("id").cloned();
    let command = m.get("command").and_then(Value::as_str).unwrap_or_default().to_string();
    let with_id = |mut v: Value| {
        if let (Value::Object(o), Some(id)) = (&mut v, id.clone()) {
            o.insert("id".into(), id);
        }
        v
    };
    if command == "subscribe" {
        return match Subscription::parse(shared, m.remove("params").unwrap_or(Value::Null)) {
            Ok(sub) => Answer::Subscribe(with_id(json!({"ok": true, "command": "subscribe"})), Box::new(sub)),
            Err(v) => Answer::Reply(with_id(v)),
        };
    }
    let session = take_session(&mut m);
    let v = match command.as_str() {
        "ping" => json!({"command": "ping", "ok": true, "v": VERSION}),
        "daemon_status" => to_value(&shared.status()),
        "list_projects" => json!({"ok": true, "projects": shared.list()}),
        "wake" => wake(shared, session.as_deref()),
        "status_all" => each_project(shared, json!({"command": "status"})),
        "start_all" => each_project(shared, json!({"command": "start"})),
        "stop_all" => each_project(shared, json!({"command": "stop"})),
        "restart_all" => each_project(shared, json!({"command": "restart"})),
        "proxy_routes" => proxy_routes(shared),
        _ => project_request(shared, session.as_deref(), m),
    };
    Answer::Reply(with_id(v))
}

/// One request run for every registered project: `{"ok", "projects": {name: reply}}`.
fn each_project(shared: &Shared, req: Value) -> Value {
    let projects: Vec<_> = crate::daemon::guard(&shared.projects).values().cloned().collect();
    let mut out = serde_json::Map::new();
    let mut ok = true;
    for p in projects {
        let Value::Object(m) = req.clone() else { continue };
        let v = project_request(shared, Some(&p.name), m);
        ok &= v["ok"].as_bool().unwrap_or(true);
        out.insert(p.name.clone(), v);
    }
    json!({"ok": ok, "projects": out})
}

/// The proxy's routes: each registered project's tasks with a `host`, the name it answers
/// to, its URL and the port it listens on.
fn proxy_routes(shared: &Shared) -> Value {
    json!({"ok": true, "routes": shared.routes.list(shared)})
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
    let projects = crate::daemon::guard(&shared.projects);
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
    let Some(p) = crate::daemon::guard(&shared.projects).get(session).cloned() else {
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

/// What a `subscribe` asked for: `{"events": true, "session": "p", "logs": {"session":
/// "p", "task": "web"}}` (events of every project unless `session` narrows them).
pub struct Subscription {
    events: bool,
    events_session: Option<String>,
    logs: Option<(crate::ctx::Ctx, String, String)>,
    log: crate::events::EventLog,
}

impl Subscription {
    fn parse(shared: &Shared, params: Value) -> Result<Subscription, Value> {
        let invalid = |m: String| json!({"ok": false, "error": "invalid_params", "code": "E500", "message": m});
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
                let Some(proj) = crate::daemon::guard(&shared.projects).get(session).cloned() else {
                    return Err(json!({"ok": false, "error": "unknown_session", "code": "E303",
                        "message": format!("no registered project '{session}'")}));
                };
                if proj.project().is_some_and(|pr| pr.task(task).is_err()) {
                    return Err(json!({"ok": false, "error": "unknown_task", "code": "E200",
                        "message": format!("Task '{task}' not found in '{session}'")}));
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
            log: shared.base.events.clone(),
        })
    }

    /// Starts following: each pushed message goes to `push` until it returns false or the
    /// returned handle is dropped.
    pub fn start(self, push: Arc<dyn Fn(Value) -> bool + Send + Sync>) -> Subscribed {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        if self.events {
            let (push, stop, log, session) = (push.clone(), stop.clone(), self.log.clone(), self.events_session);
            let _ = std::thread::Builder::new()
                .name("api events".into())
                .stack_size(256 * 1024)
                .spawn(move || {
                    let keep = || !stop.load(Ordering::SeqCst);
                    let _ = log.follow(session.as_deref(), None, &mut |e| push(e.clone()), &keep);
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
