//! A request carried out on another machine (`-H`): sent as one JSON line, with what it is
//! about (`-p`, `-c`, `-L` as given here, read there) in its envelope, to `taskmux
//! __request` there over [`crate::remote`], and its reply read back as the [`Response`] it
//! is, so the front shows it as one computed here. A remote of another protocol version is
//! named, with the side to upgrade.

use super::stream::{Followed, Item};
use super::{Context, JobsKillParams, JobsParams, JobsWaitParams, PROTOCOLS, Request, Response, RunParams, envelope};
use crate::error::{Error, Kind};
use crate::remote::{Next, Remote};
use serde_json::Value;
use std::time::Duration;

/// The session a job runs in on another machine when nothing names one (no `-s`, `-w`,
/// `-p` or `-c`): the directory there is the login's, which belongs to no project.
pub const REMOTE_JOBS_SESSION: &str = "jobs";

/// Carries `req` out on `remote` and gives its response; every failure is an error
/// response naming the host.
pub fn ask(remote: &Remote, req: &Request) -> Response {
    ask_within(remote, req, None)
}

/// [`ask`], the whole exchange bounded by `within` (`fleet`).
pub fn ask_within(remote: &Remote, req: &Request, within: Option<Duration>) -> Response {
    let line = match prepare(remote, req) {
        Ok(l) => l,
        Err(e) => return Response::Error(e),
    };
    let mut reply = None;
    let sent = remote.exchange(&line, false, within, &mut |v| {
        reply = Some(v);
        Next::Done
    });
    match (sent, reply) {
        (Err(e), _) => Response::Error(e),
        (Ok(()), Some(v)) => decode(remote, v),
        (Ok(()), None) => Response::Error(Error::internal("an exchange ended without its reply")),
    }
}

/// Carries out a streaming request on `remote`: each item to `emit` until it returns false
/// (then `followed`), or the final reply.
pub fn stream(remote: &Remote, req: &Request, emit: &mut dyn FnMut(Item) -> bool) -> Response {
    let line = match prepare(remote, req) {
        Ok(l) => l,
        Err(e) => return Response::Error(e),
    };
    let mut reply = None;
    let mut items = 0u64;
    let mut left = false;
    let sent = remote.exchange(&line, true, None, &mut |v| {
        if v.get("item").is_some() && v.get("response").is_none() {
            // an item of a kind this version does not know is passed over
            let Ok(item) = serde_json::from_value::<Item>(v) else {
                return Next::More;
            };
            items += 1;
            if emit(item) {
                return Next::More;
            }
            left = true;
            return Next::Stop;
        }
        reply = Some(v);
        Next::Done
    });
    match (sent, reply) {
        (Err(e), _) => Response::Error(e),
        (Ok(()), Some(v)) => decode(remote, v),
        (Ok(()), None) if left => Response::Followed(Followed { ok: true, items }),
        (Ok(()), None) => Response::Error(Error::internal("a stream ended without its reply")),
    }
}

/// The line sent for `req`: its envelope with what it is about there. A request about a
/// project needs one named (this directory means nothing there); a job with no place
/// runs in [`REMOTE_JOBS_SESSION`].
fn prepare(remote: &Remote, req: &Request) -> Result<Value, Error> {
    let t = &remote.target;
    let named = t.project.is_some() || t.config.is_some();
    let req = if named { req.clone() } else { job_place(req) };
    if req.needs_project() && !named {
        return Err(Error::from(Kind::MissingProject(format!(
            "'{}' on {} is about a project, and none is named",
            req.name(),
            remote.name
        )))
        .hint(format!(
            "name it with -p NAME (a project registered on {0}: 'taskmux -H {0} daemon list') or -c PATH \
             (a taskmux.toml there); the directory here means nothing there",
            remote.name
        )));
    }
    let context = Context {
        config: t.config.clone(),
        project: t.project.clone(),
        socket: t.socket.clone(),
        cwd: None,
        env: None,
    };
    Ok(envelope(&req, &context, Some(Value::from(1)), false))
}

/// A job request with no session, workspace or project, given [`REMOTE_JOBS_SESSION`].
fn job_place(req: &Request) -> Request {
    let mut req = req.clone();
    let place = match &mut req {
        Request::Run(RunParams { place, .. })
        | Request::Jobs(JobsParams { place, .. })
        | Request::JobsKill(JobsKillParams { place, .. })
        | Request::JobsWait(JobsWaitParams { place, .. }) => place,
        _ => return req,
    };
    if place.session.is_none() && place.workspace.is_none() {
        place.session = Some(REMOTE_JOBS_SESSION.into());
    }
    req
}

/// The response a reply line is; a reply of another protocol version is said as such.
fn decode(remote: &Remote, v: Value) -> Response {
    match Response::from_wire(v) {
        Ok((_, Response::Error(e))) => Response::Error(received(remote, e)),
        Ok((_, r)) => r,
        Err(e) => Response::Error(versions(remote).unwrap_or_else(|| {
            Error::from(Kind::RemoteFailed {
                host: remote.name.clone(),
                reason: format!("a reply this taskmux does not read: {}", e.message()),
            })
        })),
    }
}

/// An error the remote replied with: one that says it does not speak this request (an
/// older or newer taskmux there) is named as a version mismatch.
fn received(remote: &Remote, e: Error) -> Error {
    let msg = e.message();
    let foreign = match e.code() {
        "E506" => true,
        "E502" => msg.contains("unknown request field"),
        "E501" => msg.starts_with("Unknown command"),
        "E500" => msg.contains("unknown field") || msg.contains("unknown variant"),
        _ => false,
    };
    if !foreign {
        return e;
    }
    match versions(remote) {
        Some(v) => v,
        None => {
            let hint = format!(
                "taskmux on {} may be another version than this one ({}): 'taskmux fleet' shows each \
                 host's; run the same version on both",
                remote.name,
                env!("CARGO_PKG_VERSION"),
            );
            e.hint(hint)
        }
    }
}

/// E506 when the remote's `ping` says it speaks none of this side's protocol versions,
/// naming the side to upgrade; None when it speaks one (or does not say).
fn versions(remote: &Remote) -> Option<Error> {
    let mut pong = None;
    remote
        .exchange(
            &serde_json::to_value(Request::Ping).unwrap_or_default(),
            false,
            Some(Duration::from_secs(10)),
            &mut |v| {
                pong = Some(v);
                Next::Done
            },
        )
        .ok()?;
    let pong = pong?;
    let theirs: Vec<u32> = match pong.get("versions").and_then(Value::as_array) {
        Some(a) => a.iter().filter_map(|x| Some(x.as_u64()? as u32)).collect(),
        None => vec![pong.get("v").and_then(Value::as_u64).unwrap_or(1) as u32],
    };
    if theirs.iter().any(|v| PROTOCOLS.contains(v)) {
        return None;
    }
    let version = pong.get("version").and_then(Value::as_str).unwrap_or("older than 0.1");
    let (newest_theirs, newest_ours) = (
        theirs.iter().copied().max().unwrap_or(0),
        PROTOCOLS.iter().copied().max().unwrap_or(0),
    );
    let ours = env!("CARGO_PKG_VERSION");
    let hint = if newest_theirs < newest_ours {
        format!(
            "upgrade taskmux on {0} (it runs {version}, this one {ours}), or set hosts.{0}.taskmux to a newer one there",
            remote.name
        )
    } else {
        format!(
            "upgrade taskmux here (this one runs {ours}, {} runs {version})",
            remote.name
        )
    };
    Some(
        Error::from(Kind::Version {
            ours: PROTOCOLS.to_vec(),
            theirs: newest_theirs,
            who: format!("taskmux {version} on {}", remote.name),
        })
        .hint(hint),
    )
}
