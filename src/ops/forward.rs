//! The one authority per project (taskmuxd(8), THE AUTHORITY): while a daemon runs, the
//! lifecycle requests of every front (`start`, `stop`, `restart`, `kill`, `remove`,
//! `reload`) are carried out by it, in order with its own relaunches and heals, and the
//! front shows the response it gets back. The daemon acknowledges at once and says it is
//! still at it while it works; one that does not answer, or ends mid-request, is an error
//! naming its pid and the fix, and the request is never carried out behind its back.

use super::{Ctx, Request, Response, context_of, envelope, load_project};
use crate::client::{self, CallError};
use crate::error::{Error, Kind};
use serde_json::Value;

/// Carries `req` out through the running daemon when it is the project's authority; None
/// when it is to be carried out here: no daemon runs, this is the daemon, a `start -m`
/// supervises the project, or this process is a hook of a change the authority is making.
pub fn forward(ctx: &Ctx, req: &Request) -> Option<Response> {
    let config = matches!(req, Request::ConfigSet(_) | Request::ConfigUnset(_));
    if ctx.daemon.is_some() || ctx.authority_held || ctx.local || !(req.is_lifecycle() || config) {
        return None;
    }
    let pid = crate::lock::running_pid(&ctx.home)?;
    // an edit of config.toml goes to the daemon, which applies it at once and says how
    let session = match config {
        true => String::new(),
        false => {
            // a config that does not load is said by the request carried out here
            let project = load_project(ctx).ok()?;
            let supervisor = crate::lock::holder(&crate::lock::supervise_lock(&ctx.home, &project.name));
            if supervisor.is_some_and(|s| s != pid) || crate::lock::authority_with_ancestor(&ctx.home, &project.name) {
                return None;
            }
            project.name
        }
    };
    let mut context = context_of(ctx);
    context.env = Some(ctx.env.iter().cloned().collect());
    let line = envelope(req, &context, None, true);
    let sent = crate::paths::now_secs();
    let reply = client::call(&ctx.home, &line, client::ACK_TIMEOUT, |_| {});
    Some(match reply {
        Ok(v) => decode(ctx, pid, v),
        Err(CallError::Unreachable | CallError::Silent) => Response::Error(silent(pid, req)),
        Err(CallError::Lost) => Response::Error(lost(ctx, pid, req, &session, sent)),
    })
}

/// The daemon's reply; one of an older daemon, which does not speak this protocol, is
/// said as such.
fn decode(ctx: &Ctx, pid: i32, v: Value) -> Response {
    match Response::from_wire(v) {
        Ok((_, Response::Error(e))) if matches!(e.code(), "E502" | "E506") => {
            Response::Error(older(ctx, pid).unwrap_or(e))
        }
        Ok((_, r)) => r,
        Err(e) => Response::Error(older(ctx, pid).unwrap_or(e)),
    }
}

/// E506 naming an older daemon's versions, when its `ping` says it speaks another protocol.
fn older(ctx: &Ctx, pid: i32) -> Option<Error> {
    let ping = serde_json::to_value(Request::Ping).unwrap_or_default();
    let pong = client::request(&ctx.home, &ping, client::ACK_TIMEOUT).ok()?;
    let v = pong.get("v").and_then(Value::as_u64)? as u32;
    if super::PROTOCOLS.contains(&v) {
        return None;
    }
    let version = pong.get("version").and_then(Value::as_str).unwrap_or("older than 0.2");
    Some(
        Error::from(Kind::Version {
            ours: super::PROTOCOLS.to_vec(),
            theirs: v,
            who: format!("taskmuxd (pid {pid}) runs taskmux {version} and"),
        })
        .hint("run 'taskmux daemon restart' so the daemon is this version (the tasks keep running)"),
    )
}

/// E308: the daemon did not acknowledge, or fell silent.
fn silent(pid: i32, req: &Request) -> Error {
    let state = match crate::proc::stat(pid).map(|s| s.state) {
        Some('T' | 't') => " (it is stopped: SIGSTOP, or a debugger)",
        _ => "",
    };
    Error::from(Kind::DaemonSilent(format!(
        "taskmuxd (pid {pid}) does not answer{state}; '{}' was not carried out",
        req.name()
    )))
}

/// E309: the daemon ended during the request; what the events say it did before.
fn lost(ctx: &Ctx, pid: i32, req: &Request, session: &str, sent: f64) -> Error {
    let done: Vec<String> = ctx
        .events
        .query(Some(session), None, Some(sent - 0.001), None)
        .unwrap_or_default()
        .iter()
        .filter_map(|e| {
            let event = e.get("event")?.as_str()?.strip_prefix("task_")?;
            Some(format!("{} {event}", e.get("task")?.as_str()?))
        })
        .collect();
    let known = match done.is_empty() {
        true => "nothing of it was recorded".to_string(),
        false => format!("before that: {}", done.join(", ")),
    };
    Error::from(Kind::DaemonLost(format!(
        "taskmuxd (pid {pid}) ended while it carried out '{}'; {known}",
        req.name()
    )))
}
