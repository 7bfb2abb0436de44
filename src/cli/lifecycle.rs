//! `start`, `stop`, `restart`, `kill`: arguments to requests, results to lines.

use super::render::{Color, Out, warn};
use super::{Globals, exec, flags, parse_args, unexpected};
use crate::error::{Error, Kind, Result};
use crate::ops::{Action, Request, Response, Skip, TaskFailure, TaskParams, TasksParams};
use std::ffi::OsString;

fn tasks(names: Vec<String>, wait: bool) -> TasksParams {
    TasksParams {
        task: None,
        tasks: names,
        wait,
    }
}

/// One line per task that was not started (with why) or whose start failed.
fn skips_and_failures(out: &Out, skipped: &[Skip], failed: &[TaskFailure]) {
    for s in skipped {
        out.line(&format!(
            "{} {}: {}",
            out.paint("skipped", Color::Yellow),
            s.task,
            s.reason
        ));
    }
    for f in failed {
        out.line(&out.failed_line(&f.task, &f.error));
    }
}

/// `taskmux start [TASK...] [--wait] [--if-stopped]`.
pub fn start(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let (names, flags) = parse_args(args, flags::of("start"))?;
    if flags.contains_key("monitor") || flags.contains_key("daemon") {
        return Err(Error::from(Kind::UnknownCommand(
            "start --monitor/--daemon needs the daemon, which is not in this version yet".into(),
        ))
        .hint("run 'taskmux start' without -m/-d"));
    }
    let req = Request::Start(tasks(names, flags.contains_key("wait")));
    exec(g, out, req, |out, resp| {
        let Response::Start(r) = resp else {
            return Err(unexpected(&resp));
        };
        for w in &r.warnings {
            warn("taskmux", &w.0);
        }
        if r.names.len() == 1
            && let Some(f) = r.failed.first()
        {
            return Err(f.error.clone());
        }
        for n in &r.started {
            out.line(&format!("{} {n}", out.paint("started", Color::Green)));
        }
        for n in &r.already_running {
            out.line(&format!("{} {n}", out.paint("already running", Color::Dim)));
        }
        skips_and_failures(out, &r.skipped, &r.failed);
        if r.started.is_empty() && r.already_running.is_empty() && r.skipped.is_empty() && r.failed.is_empty() {
            out.line("no tasks to start (no auto_start tasks)");
        }
        Ok(())
    })
}

/// `taskmux stop [TASK...]`.
pub fn stop(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let (names, _) = parse_args(args, flags::of("stop"))?;
    exec(g, out, Request::Stop(tasks(names, false)), |out, resp| {
        let Response::Stop(r) = resp else {
            return Err(unexpected(&resp));
        };
        let mut any = false;
        for (n, a) in &r.results {
            if *a == Action::Stopped || !r.names.is_empty() {
                any = true;
                let color = if *a == Action::Stopped {
                    Color::Yellow
                } else {
                    Color::Dim
                };
                out.line(&format!("{} {n}", out.paint(&a.words(), color)));
            }
        }
        if !any {
            out.line("no task was running");
        }
        Ok(())
    })
}

/// `taskmux restart [TASK...]`.
pub fn restart(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let (names, _) = parse_args(args, flags::of("restart"))?;
    exec(g, out, Request::Restart(tasks(names, false)), |out, resp| {
        let Response::Restart(r) = resp else {
            return Err(unexpected(&resp));
        };
        for n in &r.restarted {
            out.line(&format!("{} {n}", out.paint("restarted", Color::Green)));
        }
        skips_and_failures(out, &r.skipped, &r.failed);
        Ok(())
    })
}

/// `taskmux kill TASK`.
pub fn kill(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let (mut names, _) = parse_args(args, flags::of("kill"))?;
    if names.len() != 1 {
        return Err(Error::usage("kill takes exactly one TASK"));
    }
    let task = names.remove(0);
    exec(g, out, Request::Kill(TaskParams { task }), |out, resp| {
        let Response::Kill(r) = resp else {
            return Err(unexpected(&resp));
        };
        out.line(&format!("{} {}", r.action.words(), r.task));
        Ok(())
    })
}
