//! Streaming requests: `logs` and `events` with `"follow": true`. Their reply is a sequence
//! of [`Item`]s, then one final [`Response`] (`followed` when the stream ended because the
//! reader left, an error when it could not go on). On `taskmux __request` (what `-H` talks
//! to over ssh) each item is a line `{"item": "line", "task", "line", "id"}`; the CLI's
//! `logs -f` and `events -f` here are the same stream, so both show alike.

use super::{Ctx, EventsParams, LogsParams, Request, Response, host, load_project, log_sources};
use crate::error::{Error, Kind};
use crate::logs::Line;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One thing a stream says before its final reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "item", rename_all = "snake_case")]
pub enum Item {
    /// The first item of a `logs` stream: the tasks whose lines follow.
    Tasks {
        /// Their names.
        tasks: Vec<String>,
    },
    /// A log line as written: its timestamp, escape codes kept.
    Line {
        /// Its task.
        task: String,
        /// The line.
        line: String,
    },
    /// Lines rotated away before they could be read.
    Lost {
        /// Their task.
        task: String,
        /// How many.
        lost: u64,
        /// The line saying so.
        line: String,
    },
    /// An event, as `events.jsonl` has it.
    Event {
        /// The event.
        event: Value,
    },
}

impl Item {
    /// The item of a log line.
    fn of_line(l: &Line) -> Item {
        match l.lost {
            Some(lost) => Item::Lost {
                task: l.task.clone(),
                lost,
                line: l.raw.clone(),
            },
            None => Item::Line {
                task: l.task.clone(),
                line: l.raw.clone(),
            },
        }
    }
}

/// The final reply of a stream that ended because its reader left.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Followed {
    /// Always true: a stream that failed ends with an error.
    pub ok: bool,
    /// The items sent.
    pub items: u64,
}

impl Request {
    /// Whether its reply is a stream of [`Item`]s.
    pub fn streams(&self) -> bool {
        matches!(
            self,
            Request::Logs(LogsParams { follow: true, .. }) | Request::Events(EventsParams { follow: true, .. })
        )
    }
}

/// E500 for a streaming request sent to a front that answers once.
pub(super) fn not_here(req: &Request) -> Error {
    Error::from(Kind::Usage(format!(
        "'{}' with \"follow\": true streams, and this front answers once",
        req.name()
    )))
    .hint("send it on 'taskmux __request' (what -H uses), or use subscribe on daemon.sock")
}

/// Carries out a request whose reply may stream: each [`Item`] to `emit` until it returns
/// false or `keep_going` does, then the final response. A request that does not stream
/// gets its one reply. On another machine (`-H`), the stream comes over ssh.
pub fn stream(ctx: &Ctx, req: Request, emit: &mut dyn FnMut(Item) -> bool, keep_going: &dyn Fn() -> bool) -> Response {
    if let Some(remote) = &ctx.remote {
        return host::stream(remote, &req, emit);
    }
    let mut items = 0u64;
    let mut counted = |item: Item| {
        items += 1;
        emit(item)
    };
    let done = match req {
        Request::Logs(p) if p.follow => follow_logs(ctx, p, &mut counted, keep_going),
        Request::Events(p) if p.follow => follow_events(ctx, p, &mut counted, keep_going),
        other => return super::handle(ctx, other),
    };
    match done {
        Ok(()) => Response::Followed(Followed { ok: true, items }),
        Err(e) => Response::Error(e),
    }
}

/// `logs -f`: the tasks, their last lines, then each new line.
fn follow_logs(
    ctx: &Ctx,
    p: LogsParams,
    emit: &mut dyn FnMut(Item) -> bool,
    keep_going: &dyn Fn() -> bool,
) -> crate::error::Result<()> {
    let sources = log_sources(ctx, p.task.as_deref())?;
    if !emit(Item::Tasks {
        tasks: sources.into_iter().map(|s| s.task).collect(),
    }) {
        return Ok(());
    }
    super::follow_while(ctx, p, &mut |l: &Line| emit(Item::of_line(l)), keep_going)
}

/// `events -f`: the last events (10 unless `lines` or `since` says), then each new one as
/// it is recorded, by whoever records it.
fn follow_events(
    ctx: &Ctx,
    mut p: EventsParams,
    emit: &mut dyn FnMut(Item) -> bool,
    keep_going: &dyn Fn() -> bool,
) -> crate::error::Result<()> {
    let session = match p.all_projects {
        true => None,
        false => Some(load_project(ctx)?.name),
    };
    if p.lines.is_none() && p.since.is_none() {
        p.lines = Some(10);
    }
    let task = p.task.clone();
    for event in super::events::events(ctx, EventsParams { follow: false, ..p })?.events {
        if !emit(Item::Event { event }) {
            return Ok(());
        }
    }
    ctx.events.follow(
        session.as_deref(),
        task.as_deref(),
        &mut |e: &Value| emit(Item::Event { event: e.clone() }),
        keep_going,
    )
}
