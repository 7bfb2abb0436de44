//! `start`, `stop`, `restart`, `kill`: arguments to requests, results to lines.

use super::render::{Color, Out, note, warn};
use super::{Globals, View, exec, exec_keep, flags, parse_args, unexpected};
use crate::daemon;
use crate::error::{Error, Result};
use crate::ops::{
    Action, Killed, Request, Response, Restarted, Skip, Started, Stopped, TaskFailure, TaskParams, TasksParams,
};
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
    let (monitor, daemon) = (flags.contains_key("monitor"), flags.contains_key("daemon"));
    if let Some(host) = g.host.as_deref().filter(|_| monitor || daemon) {
        let flag = if monitor { "-m" } else { "-d" };
        return Err(Error::usage(format!(
            "start {flag} supervises from this machine, and -H names another ({host})"
        ))
        .hint(format!(
            "start the daemon there (ssh {host} taskmux daemon start, or its service: taskmux daemon install), \
             then 'taskmux -H {host} start'"
        )));
    }
    if daemon {
        // `-d` with a config.toml the daemon would refuse: refused before anything starts
        crate::config::GlobalConfig::load(&super::context(g)?.home)?;
    }
    let req = Request::Start(tasks(names, flags.contains_key("wait")));
    let (code, resp) = match monitor {
        false => exec_keep(g, out, req, &View::default())?,
        true => {
            // `start -m` is the project's one authority itself: never beside a daemon
            let mut ctx = super::context(g)?;
            if let Some(pid) = crate::lock::running_pid(&ctx.home) {
                return Err(
                    daemon::already_running(&format!("taskmuxd (pid {pid})"), Some(pid)).hint(
                        "the daemon supervises every registered project: use 'taskmux start', or \
                     'taskmux daemon stop' first to supervise this one in the foreground",
                    ),
                );
            }
            ctx.local = true;
            let resp = crate::ops::handle(&ctx, req);
            (super::show(out, &View::default(), &resp)?, resp)
        }
    };
    let Response::Start(r) = resp else {
        return Err(unexpected(&resp));
    };
    // auto_daemon is for a start made there: -H does not start a daemon on another machine
    if !(monitor || daemon || r.auto_daemon) || g.host.is_some() {
        return Ok(code);
    }
    supervise_after(g, out, r, monitor, daemon).map(|c| c.max(code))
}

/// What `start` did, a line a task; a failed start of one named task is its error.
pub(super) fn show_start(out: &Out, r: &Started) -> Result<()> {
    for w in &r.warnings {
        warn("taskmux", &w.0);
    }
    for f in &r.lint {
        let task = f.task.as_deref().map(|t| format!("task '{t}': ")).unwrap_or_default();
        let hint = f.hint.as_deref().map(|h| format!("\n  hint: {h}")).unwrap_or_default();
        note(&format!("taskmux: warning[{}]: {task}{}{hint}\n", f.code, f.message));
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
}

/// After a start: `-d` (or `auto_daemon`) ensures the daemon; `-m` supervises the project
/// in the foreground until Ctrl-C (exit 130), leaving its tasks running.
fn supervise_after(g: &Globals, out: &Out, r: Started, monitor: bool, daemon: bool) -> Result<u8> {
    let ctx = super::context(g)?;
    let (session, auto_daemon) = (r.session, r.auto_daemon);
    if (daemon || auto_daemon) && !monitor {
        let (pid, now) = super::daemon::ensure(&ctx.home)?;
        if !out.json {
            let what = if now { "started" } else { "running" };
            out.line(&format!("taskmuxd {what} (pid {pid}): it keeps {session} up"));
        }
    }
    if !monitor {
        return Ok(0);
    }
    if !out.json {
        out.line(&format!(
            "supervising {session} in the foreground (Ctrl-C stops supervising; the tasks keep running)"
        ));
    }
    let entry = crate::registry::Entry {
        session,
        config_path: crate::ops::config_path(&ctx)?,
        tmux_socket: ctx.tmux.socket.clone(),
        registered_at: crate::paths::iso_time(crate::paths::now_secs()),
        desired: crate::registry::Desired::Up,
    };
    crate::daemon::monitor(ctx, entry)
}

/// `taskmux stop [TASK...]`.
pub fn stop(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let (names, _) = parse_args(args, flags::of("stop"))?;
    exec(g, out, Request::Stop(tasks(names, false)), &View::default())
}

/// What `stop` did, a line a task.
pub(super) fn show_stop(out: &Out, r: &Stopped) -> Result<()> {
    for w in &r.warnings {
        warn("taskmux", &w.0);
    }
    let mut any = false;
    for (n, a) in &r.results {
        if *a == Action::RestartCancelled {
            any = true;
            out.line(&format!(
                "{} {n}: it had ended, and its restart by the daemon is cancelled",
                out.paint("stopped", Color::Yellow)
            ));
        } else if *a == Action::Stopped || !r.names.is_empty() {
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
}

/// `taskmux restart [TASK...]`.
pub fn restart(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let (names, _) = parse_args(args, flags::of("restart"))?;
    exec(g, out, Request::Restart(tasks(names, false)), &View::default())
}

/// What `restart` did, a line a task.
pub(super) fn show_restart(out: &Out, r: &Restarted) -> Result<()> {
    for n in &r.restarted {
        out.line(&format!("{} {n}", out.paint("restarted", Color::Green)));
    }
    skips_and_failures(out, &r.skipped, &r.failed);
    Ok(())
}

/// `taskmux kill TASK`.
pub fn kill(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let (mut names, _) = parse_args(args, flags::of("kill"))?;
    if names.len() != 1 {
        return Err(Error::usage("kill takes exactly one TASK"));
    }
    let task = names.remove(0);
    exec(g, out, Request::Kill(TaskParams { task }), &View::default())
}

/// What `kill` did.
pub(super) fn show_kill(out: &Out, r: &Killed) -> Result<()> {
    out.line(&format!("{} {}", r.action.words(), r.task));
    Ok(())
}
