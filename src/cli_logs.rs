//! The `logs`, `logs-clean` and `events` commands: arguments and output. They read files
//! only, so they work without tmux and after the session is gone.

use crate::cli::{Globals, load_project, usage};
use crate::error::{Error, Result};
use crate::logread::{self, Line, Query, Source};
use crate::output::Out;
use crate::{events, logs, paths};
use lexopt::prelude::*;
use serde_json::{Value, json};
use std::ffi::OsString;

fn number(p: &mut lexopt::Parser, flag: &str) -> Result<usize> {
    let v = p.value().map_err(|e| usage(e.to_string()))?;
    let s = v.to_string_lossy();
    s.parse::<usize>().map_err(|_| {
        Error::new("E500", format!("{flag} needs a whole number, not '{s}'")).hint(format!("e.g. {flag} 100"))
    })
}

/// `taskmux logs [TASK] [-f] [-n N] [-g PATTERN] [-C N] [--since T]`.
pub fn cmd_logs(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let mut p = lexopt::Parser::from_args(args);
    let (mut task, mut follow, mut tail, mut grep, mut context, mut since) = (None, false, None, None, 0, None);
    while let Some(arg) = p.next().map_err(|e| usage(e.to_string()))? {
        match arg {
            Short('f') | Long("follow") => follow = true,
            Short('n') | Long("lines") => tail = Some(number(&mut p, "-n")?),
            Short('g') | Long("grep") => grep = Some(crate::cli::flag_value(&mut p)?),
            Short('C') | Long("context") => context = number(&mut p, "-C")?,
            Long("since") => since = Some(crate::cli::flag_value(&mut p)?),
            Value(v) if task.is_none() => task = Some(v.to_string_lossy().into_owned()),
            Value(v) => {
                return Err(usage(format!(
                    "logs takes one TASK, got also '{}'",
                    v.to_string_lossy()
                )));
            }
            other => return Err(usage(format!("unknown flag {}", other.unexpected()))),
        }
    }
    let project = load_project(g)?;
    let sources: Vec<Source> = match &task {
        Some(t) => {
            let t = project.task(t)?;
            vec![Source {
                task: t.name.clone(),
                path: logs::log_path(&project, t),
            }]
        }
        None => project
            .tasks
            .iter()
            .map(|t| Source {
                task: t.name.clone(),
                path: logs::log_path(&project, t),
            })
            .collect(),
    };
    let grep = match grep {
        Some(pat) => Some(
            regex::RegexBuilder::new(&pat)
                .case_insensitive(true)
                .build()
                .map_err(|e| {
                    Error::new("E500", format!("-g '{pat}' is not a valid regular expression: {e}"))
                        .hint("escape special characters with \\, e.g. -g 'GET /api\\?x'")
                })?,
        ),
        None => None,
    };
    let since = match since {
        Some(s) => Some(logread::parse_since(&s, paths::now_secs())?),
        None => None,
    };
    let tail = match tail {
        Some(n) => Some(n),
        None if grep.is_some() || since.is_some() => None,
        None if follow => Some(10),
        None => Some(100),
    };
    let q = Query {
        tail,
        grep,
        context,
        since,
    };
    let width = sources.iter().map(|s| s.task.len()).max().unwrap_or(0);
    let many = sources.len() > 1;
    let strip = !out.color;
    let show = |l: &Line| -> String {
        let text = if strip {
            logread::strip_ansi(&l.raw)
        } else {
            l.raw.clone()
        };
        if many {
            format!("{:<width$} | {text}", l.task)
        } else {
            text
        }
    };
    if follow {
        let mut emit = |l: &Line| -> bool {
            if out.json {
                out.json(&json!({"task": l.task, "line": logread::strip_ansi(&l.raw)}));
            } else {
                out.line(&show(l));
            }
            true
        };
        logread::follow(&sources, &q, &mut emit)?;
        return Ok(0);
    }
    let lines = logread::read(&sources, &q)?;
    if out.json {
        let v = if task.is_some() {
            json!({"task": sources[0].task,
                "lines": lines.iter().map(|l| logread::strip_ansi(&l.raw)).collect::<Vec<_>>()})
        } else {
            json!({"lines": lines.iter().map(|l| json!({"task": l.task, "line": logread::strip_ansi(&l.raw)})).collect::<Vec<_>>()})
        };
        out.json(&v);
    } else {
        let mut text = String::new();
        for l in &lines {
            text.push_str(&show(l));
            text.push('\n');
        }
        out.print(&text);
    }
    Ok(0)
}

/// `taskmux logs-clean [TASK]`.
pub fn cmd_logs_clean(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let mut p = lexopt::Parser::from_args(args);
    let mut task = None;
    while let Some(arg) = p.next().map_err(|e| usage(e.to_string()))? {
        match arg {
            Value(v) if task.is_none() => task = Some(v.to_string_lossy().into_owned()),
            other => return Err(usage(format!("unexpected {}", other.unexpected()))),
        }
    }
    let project = load_project(g)?;
    let tasks: Vec<&crate::config::Task> = match &task {
        Some(t) => vec![project.task(t)?],
        None => project.tasks.iter().collect(),
    };
    let sources: Vec<Source> = tasks
        .iter()
        .map(|t| Source {
            task: t.name.clone(),
            path: logs::log_path(&project, t),
        })
        .collect();
    let deleted = logread::clean(&sources)?;
    if out.json {
        out.json(&json!({"ok": true, "deleted": deleted}));
    } else {
        out.line(&format!(
            "deleted {deleted} log file{}",
            if deleted == 1 { "" } else { "s" }
        ));
    }
    Ok(0)
}

/// `taskmux events [--task T] [--since T] [-n N] [--all-projects]`.
pub fn cmd_events(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let mut p = lexopt::Parser::from_args(args);
    let (mut task, mut since, mut limit, mut all) = (None, None, None, false);
    while let Some(arg) = p.next().map_err(|e| usage(e.to_string()))? {
        match arg {
            Long("task") | Short('t') => task = Some(crate::cli::flag_value(&mut p)?),
            Long("since") => since = Some(crate::cli::flag_value(&mut p)?),
            Short('n') | Long("lines") => limit = Some(number(&mut p, "-n")?),
            Long("all-projects") | Short('a') => all = true,
            other => return Err(usage(format!("unexpected {}", other.unexpected()))),
        }
    }
    let session = if all { None } else { Some(load_project(g)?.name) };
    let since = match since {
        Some(s) => Some(logread::parse_since(&s, paths::now_secs())?),
        None => None,
    };
    let evs = events::query(session.as_deref(), task.as_deref(), since, limit)?;
    if out.json {
        out.json(&json!({"events": evs, "count": evs.len()}));
        return Ok(0);
    }
    let mut text = String::new();
    for e in &evs {
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
        text.push_str(&format!(
            "{}  {:<20} {:<16} {}\n",
            s("ts"),
            s("event"),
            who.trim_end_matches('/'),
            extra.join(" ")
        ));
    }
    out.print(&text);
    Ok(0)
}
