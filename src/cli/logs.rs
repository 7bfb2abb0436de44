//! `logs`, `logs-clean` and `events`: arguments to requests, lines to the terminal. They
//! read files only, so they work without tmux and after the session is gone.

use super::render::Out;
use super::{Globals, View, exec, flag_value};
use crate::error::{Error, Kind, Result};
use crate::logs::{self, Line};
use crate::ops::{
    self, Cleaned, EventList, EventsParams, Item, LogLines, LogsParams, OptTaskParams, Request, Response,
};
use lexopt::prelude::*;
use serde_json::{Value, json};
use std::ffi::OsString;

fn number(p: &mut lexopt::Parser, flag: &str) -> Result<usize> {
    let v = p.value().map_err(|e| Error::usage(e.to_string()))?;
    let s = v.to_string_lossy();
    s.parse::<usize>().map_err(|_| {
        Error::from(Kind::Usage(format!("{flag} needs a whole number, not '{s}'"))).hint(format!("e.g. {flag} 100"))
    })
}

/// `taskmux logs [TASK] [-f] [-n N] [-g PATTERN] [-C N] [--since T]`.
pub fn logs(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let mut p = lexopt::Parser::from_args(args);
    let mut q = LogsParams::default();
    let mut follow = false;
    while let Some(arg) = p.next().map_err(|e| Error::usage(e.to_string()))? {
        match arg {
            Short('f') | Long("follow") => follow = true,
            Short('n') | Long("lines") => q.lines = Some(number(&mut p, "-n")?),
            Short('g') | Long("grep") => q.grep = Some(flag_value(&mut p)?),
            Short('C') | Long("context") => q.context = number(&mut p, "-C")?,
            Long("since") => q.since = Some(flag_value(&mut p)?),
            Value(v) if q.task.is_none() => q.task = Some(v.to_string_lossy().into_owned()),
            Value(v) => {
                return Err(Error::usage(format!(
                    "logs takes one TASK, got also '{}'",
                    v.to_string_lossy()
                )));
            }
            other => return Err(Error::usage(format!("unknown flag {}", other.unexpected()))),
        }
    }
    if follow {
        q.follow = true;
        return stream(g, out, Request::Logs(q), false);
    }
    exec(g, out, Request::Logs(q), &View::default())
}

/// Log lines for people: each prefixed with its task when they come from several, escape
/// codes kept only in color.
pub(super) fn show_logs(out: &Out, r: &LogLines) -> Result<()> {
    let width = r.lines.iter().map(|l| l.task.len()).max().unwrap_or(0);
    let mut text = String::new();
    for l in &r.lines {
        text.push_str(&line_text(out, l, r.task.is_none(), width));
        text.push('\n');
    }
    out.print(&text);
    Ok(())
}

/// One log line as shown: `task | text` when lines of several tasks are shown.
fn line_text(out: &Out, l: &Line, many: bool, width: usize) -> String {
    let text = if out.color {
        l.raw.clone()
    } else {
        logs::strip_ansi(&l.raw)
    };
    if many {
        format!("{:<width$} | {text}", l.task)
    } else {
        text
    }
}

/// `taskmux logs-clean [TASK]`.
pub fn logs_clean(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let mut p = lexopt::Parser::from_args(args);
    let mut task = None;
    while let Some(arg) = p.next().map_err(|e| Error::usage(e.to_string()))? {
        match arg {
            Value(v) if task.is_none() => task = Some(v.to_string_lossy().into_owned()),
            other => return Err(Error::usage(format!("unexpected {}", other.unexpected()))),
        }
    }
    exec(g, out, Request::LogsClean(OptTaskParams { task }), &View::default())
}

/// How many log files were deleted.
pub(super) fn show_logs_clean(out: &Out, r: &Cleaned) -> Result<()> {
    let n = r.deleted;
    out.line(&format!("deleted {n} log file{}", if n == 1 { "" } else { "s" }));
    Ok(())
}

/// `taskmux events [--task T] [--since T] [-n N] [--all-projects]`.
pub fn events(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let mut p = lexopt::Parser::from_args(args);
    let mut q = EventsParams::default();
    let mut follow = false;
    while let Some(arg) = p.next().map_err(|e| Error::usage(e.to_string()))? {
        match arg {
            Long("task") | Short('t') => q.task = Some(flag_value(&mut p)?),
            Long("since") => q.since = Some(flag_value(&mut p)?),
            Short('n') | Long("lines") => q.lines = Some(number(&mut p, "-n")?),
            Long("all-projects") | Short('a') => q.all_projects = true,
            Short('f') | Long("follow") => follow = true,
            other => return Err(Error::usage(format!("unexpected {}", other.unexpected()))),
        }
    }
    let all = q.all_projects;
    if !follow {
        let view = View {
            all_projects: all,
            ..View::default()
        };
        return exec(g, out, Request::Events(q), &view);
    }
    // -f: the last events (10 unless -n or --since says), then each new one as it is
    // recorded, by whoever records it (a command, the daemon), until interrupted
    q.follow = true;
    stream(g, out, Request::Events(q), all)
}

/// `logs -f` and `events -f`: each item of the stream shown as it comes, here or from
/// another machine (`-H`) alike, until interrupted (or the stream fails).
fn stream(g: &Globals, out: &Out, req: Request, all_projects: bool) -> Result<u8> {
    let ctx = super::request_context(g)?;
    let (mut width, mut many) = (0, false);
    let mut show = |item: Item| {
        let line = |task: String, raw: String, lost: Option<u64>| Line {
            task,
            ts: f64::NAN,
            raw,
            lost,
        };
        match item {
            Item::Tasks { tasks } => {
                width = tasks.iter().map(String::len).max().unwrap_or(0);
                many = tasks.len() > 1;
            }
            Item::Line { task, line: raw } if out.json => {
                out.json(&json!({"task": task, "line": logs::strip_ansi(&raw)}));
            }
            Item::Lost { task, lost, .. } if out.json => out.json(&json!({"task": task, "lost": lost})),
            Item::Line { task, line: raw } => out.line(&line_text(out, &line(task, raw, None), many, width)),
            Item::Lost { task, lost, line: raw } => {
                out.line(&line_text(out, &line(task, raw, Some(lost)), many, width));
            }
            Item::Event { event } if out.json => out.print(&format!("{event}\n")),
            Item::Event { event } => out.print(&event_line(&event, all_projects)),
        }
        true
    };
    match ops::stream(&ctx, req, &mut show, &|| true) {
        Response::Followed(_) => Ok(0),
        Response::Error(e) => Err(e),
        other => super::show(out, &View::default(), &other),
    }
}

/// Events for people, a line each (with their project under `--all-projects`).
pub(super) fn show_events(out: &Out, view: &View, r: &EventList) -> Result<()> {
    let mut text = String::new();
    for e in &r.events {
        text.push_str(&event_line(e, view.all_projects));
    }
    out.print(&text);
    Ok(())
}

fn event_line(e: &Value, all: bool) -> String {
    let mut extra: Vec<String> = Vec::new();
    if let Some(m) = e.as_object() {
        for (k, v) in m {
            if !matches!(k.as_str(), "ts" | "event" | "session" | "task") {
                extra.push(format!(
                    "{k}={}",
                    match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    }
                ));
            }
        }
    }
    let s = |k: &str| e[k].as_str().unwrap_or("").to_string();
    let who = if all {
        format!("{}/{}", s("session"), s("task"))
    } else {
        s("task")
    };
    format!(
        "{}  {:<20} {:<16} {}\n",
        s("ts"),
        s("event"),
        who.trim_end_matches('/'),
        extra.join(" ")
    )
}
