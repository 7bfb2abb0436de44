//! `taskmux watch`: follow `taskmux.toml` in the foreground and make the running project
//! follow it through the `reload` operation, and survive a broken save.

use super::render::{Color, Out, print_error};
use super::{Globals, context};
use crate::config::{self, Project};
use crate::error::{Error, Result};
use crate::ops::reload;
use crate::watch::FileWatch;
use serde_json::{Value, json};
use std::ffi::OsString;
use std::sync::mpsc::RecvTimeoutError;

fn parse(args: Vec<OsString>) -> Result<()> {
    let mut p = lexopt::Parser::from_args(args);
    match p.next().map_err(|e| Error::usage(e.to_string()))? {
        None => Ok(()),
        Some(arg) => Err(Error::usage(format!("watch takes no arguments: {}", arg.unexpected()))),
    }
}

fn print_start(out: &Out, project: &Project) {
    if out.json {
        out.json(&json!({
            "event": "watching", "config": project.path, "session": project.name,
            "tasks": project.task_names(),
        }));
    } else {
        let n = project.tasks.len();
        out.line(&format!(
            "watching {} (project {}, {n} task{}); Ctrl-C to stop",
            project.path.display(),
            project.name,
            if n == 1 { "" } else { "s" }
        ));
    }
}

fn print_invalid(out: &Out, e: &Error) {
    if out.json {
        let mut v = json!({"event": "config_invalid", "code": e.code(), "error": e.message()});
        if let Some(h) = &e.hint {
            v["hint"] = json!(h);
        }
        out.json(&v);
    } else {
        print_error(out, "taskmux", e);
        out.line(&format!(
            "{} this save: tasks keep running as they are until the config is valid again",
            out.paint("ignored", Color::Yellow)
        ));
    }
}

fn print_reload(out: &Out, d: &reload::ConfigDiff, a: &reload::Applied) {
    if out.json {
        let errors: Vec<Value> = a
            .errors
            .iter()
            .map(|(n, e)| json!({"task": n, "code": e.code(), "error": e.message()}))
            .collect();
        out.json(&json!({
            "event": "config_reloaded", "added": d.added, "removed": d.removed, "changed": d.changed,
            "started": a.started, "killed": a.killed, "stale": a.stale, "errors": errors,
        }));
        return;
    }
    let list = |v: &[String]| if v.is_empty() { "-".to_string() } else { v.join(", ") };
    out.line(&format!(
        "{} config: added {}; removed {}; changed {}",
        out.paint("reloaded", Color::Green),
        list(&d.added),
        list(&d.removed),
        list(&d.changed)
    ));
    for n in &a.started {
        out.line(&format!("  {} {n}", out.paint("started", Color::Green)));
    }
    for n in &a.killed {
        out.line(&format!("  {} {n}", out.paint("killed", Color::Yellow)));
    }
    for n in &a.stale {
        out.line(&format!(
            "  {} {n}: runs the old definition; 'taskmux restart {n}' applies the new one",
            out.paint("stale", Color::Yellow)
        ));
    }
    for (n, e) in &a.errors {
        out.line(&format!("  {}", out.failed_line(n, e)));
    }
}

/// `taskmux watch`: in the foreground until SIGINT or SIGTERM (exit 0), reload the config
/// whenever it changes and make the project follow it. Nothing is started at startup.
pub fn watch(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    parse(args)?;
    let ctx = context(g)?;
    let path = config::find(ctx.config.as_deref(), &ctx.cwd)?;
    let mut project = config::load_in(&path, ctx.user_home())?;
    ctx.tmux.check_version()?;

    let signals = crate::signals::channel(&[crate::signals::SIGINT, crate::signals::SIGTERM])?;

    let mut watch = FileWatch::new(&path);
    print_start(out, &project);
    // a signal (or the signal thread gone) ends the loop at once
    while let Err(RecvTimeoutError::Timeout) = signals.recv_timeout(watch.interval()) {
        if !watch.poll() {
            continue;
        }
        let new = match config::load_in(&path, ctx.user_home()) {
            Ok(p) => p,
            Err(e) => {
                print_invalid(out, &e);
                continue;
            }
        };
        let d = reload::diff(&project, &new);
        let applied = reload::apply(&ctx, &project, &new, &d);
        print_reload(out, &d, &applied);
        project = new;
    }
    Ok(0)
}
