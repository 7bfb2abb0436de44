//! `status`, `health`, `inspect`, `send` and `attach`: what runs, shown to people.

use super::render::{Color, Out, escape_control, warn};
use super::{Globals, View, context, exec, flags, no_arguments, parse_args};
use crate::error::{Error, Kind, Result};
use crate::ops::{self, HealthReport, Inspected, Request, SendParams, Sent, Status, TaskParams};
use crate::task::TaskState;
use lexopt::prelude::*;
use std::ffi::OsString;
use std::path::PathBuf;

/// `taskmux status` (also `list`, `ls`).
pub fn status(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let (names, _) = parse_args(args, flags::of("status"))?;
    no_arguments("status", &names)?;
    exec(g, out, Request::Status, &View::default())
}

/// `status` for people: a line for the session, a table of the tasks.
pub(super) fn show_status(out: &Out, s: &Status) -> Result<()> {
    {
        for w in &s.warnings {
            warn("taskmux", &w.0);
        }
        let auto = match (s.daemon.supervisor_pid, s.daemon.pid) {
            (Some(pid), _) => format!("active (pid {pid})"),
            (None, Some(pid)) => format!("inactive (taskmuxd pid {pid} does not supervise it)"),
            (None, None) => "inactive (no daemon: taskmux daemon start)".to_string(),
        };
        out.line(&format!(
            "{} {}  {}/{} running  auto-restart: {auto}",
            out.paint("session", Color::Bold),
            s.session,
            s.active_tasks,
            s.tasks.len()
        ));
        let rows: Vec<Vec<String>> = s
            .tasks
            .iter()
            .map(|t| {
                let color = match t.state {
                    TaskState::Running => Color::Green,
                    TaskState::Starting => Color::Yellow,
                    TaskState::Unhealthy | TaskState::Exited => Color::Red,
                    _ => Color::Dim,
                };
                let state = match t.exit_code {
                    Some(c) if t.state == TaskState::Exited => format!("exited ({c})"),
                    _ => t.state.as_str().to_string(),
                };
                let health = match t.healthy {
                    Some(true) => out.paint("healthy", Color::Green),
                    Some(false) if t.running => out.paint("unhealthy", Color::Red),
                    None => "-".into(),
                    _ => out.paint("-", Color::Dim),
                };
                let shown = escape_control(&t.command);
                let cmd = if shown.chars().count() > 48 {
                    format!("{}…", shown.chars().take(47).collect::<String>())
                } else {
                    shown
                };
                vec![
                    t.name.clone(),
                    out.paint(&state, color),
                    health,
                    match (t.pid, t.command_pid) {
                        (Some(p), Some(c)) if c != p => format!("{p}/{c}"),
                        (Some(p), _) => p.to_string(),
                        (None, _) => "-".into(),
                    },
                    t.port.map_or("-".into(), |p| p.to_string()),
                    t.restarts.to_string(),
                    cmd,
                ]
            })
            .collect();
        out.table(
            &["TASK", "STATE", "HEALTH", "PID", "PORT", "RESTARTS", "COMMAND"],
            &rows,
        );
        for (t, e) in s.tasks.iter().filter_map(|t| Some((t, t.log_error.as_ref()?))) {
            out.line(&format!(
                "{}: the log of '{}' cannot be written ({}); {} bytes dropped since {}",
                out.paint("warning", Color::Yellow),
                t.name,
                e.error,
                e.dropped,
                e.since
            ));
        }
        Ok(())
    }
}

/// `taskmux health [-v]`.
pub fn health(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let (names, flags) = parse_args(args, flags::of("health"))?;
    no_arguments("health", &names)?;
    let view = View {
        verbose: flags.contains_key("verbose"),
        ..View::default()
    };
    exec(g, out, Request::Health, &view)
}

/// `health` for people: a table, with the method and reason when verbose.
pub(super) fn show_health(out: &Out, view: &View, h: &HealthReport) -> Result<()> {
    let verbose = view.verbose;
    {
        let rows: Vec<Vec<String>> = h
            .tasks
            .iter()
            .map(|t| {
                let mut r = vec![
                    t.name.clone(),
                    if t.healthy {
                        out.paint("healthy", Color::Green)
                    } else {
                        out.paint("unhealthy", Color::Red)
                    },
                ];
                if verbose {
                    r.push(t.method.as_str().to_string());
                    r.push(t.reason.clone().unwrap_or_default());
                }
                r
            })
            .collect();
        if verbose {
            out.table(&["TASK", "HEALTH", "METHOD", "REASON"], &rows);
        } else {
            out.table(&["TASK", "HEALTH"], &rows);
        }
        out.line(&format!("{}/{} healthy", h.healthy_count, h.total_count));
        Ok(())
    }
}

/// `taskmux inspect TASK`: the JSON, pretty for people.
pub fn inspect(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let (mut names, _) = parse_args(args, flags::of("inspect"))?;
    if names.len() != 1 {
        return Err(Error::usage("inspect takes exactly one TASK"));
    }
    let task = names.remove(0);
    exec(g, out, Request::Inspect(TaskParams { task }), &View::default())
}

/// `inspect` for people: its JSON, pretty.
pub(super) fn show_inspect(out: &Out, r: &Inspected) -> Result<()> {
    out.line(&serde_json::to_string_pretty(r).unwrap_or_default());
    Ok(())
}

/// `taskmux send TASK TEXT... [--no-enter]`: literal text into a running task's pane.
pub fn send(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let mut p = lexopt::Parser::from_args(args);
    let mut words: Vec<String> = Vec::new();
    let mut enter = true;
    while let Some(arg) = p.next().map_err(|e| Error::usage(e.to_string()))? {
        match arg {
            Long("no-enter") => enter = false,
            Value(v) => words.push(v.to_string_lossy().into_owned()),
            other => return Err(Error::usage(format!("unexpected {}", other.unexpected()))),
        }
    }
    if words.len() < 2 && !(words.len() == 1 && enter) {
        return Err(Error::usage("send needs a TASK and TEXT"));
    }
    let task = words.remove(0);
    let req = Request::Send(SendParams {
        task,
        text: words.join(" "),
        enter,
    });
    exec(g, out, req, &View::default())
}

/// What `send` did.
pub(super) fn show_send(out: &Out, r: &Sent) -> Result<()> {
    out.line(&format!("sent to {}", r.task));
    Ok(())
}

/// `taskmux attach [TASK]`: exec `tmux attach` (or `switch-client` inside tmux).
pub fn attach(g: &Globals, args: Vec<OsString>, _out: &Out) -> Result<u8> {
    use std::os::unix::process::CommandExt;
    let mut p = lexopt::Parser::from_args(args);
    let mut name = None;
    while let Some(arg) = p.next().map_err(|e| Error::usage(e.to_string()))? {
        match arg {
            Value(v) if name.is_none() => name = Some(v.to_string_lossy().into_owned()),
            other => return Err(Error::usage(format!("unexpected {}", other.unexpected()))),
        }
    }
    if g.host.is_some() {
        return attach_remote(g, name);
    }
    let ctx = context(g)?;
    let lc = ops::lifecycle_ctx(&ctx)?;
    let session = &lc.project.name;
    if !lc.tmux.has_session(session)? {
        return Err(Kind::SessionNotFound {
            session: session.clone(),
        }
        .into());
    }
    let window = match &name {
        Some(n) => {
            let t = lc.project.task(n)?;
            let rts = crate::task::read_runtime(&lc.tmux, session)?;
            let Some(rt) = rts.get(&t.name) else {
                return Err(Error::from(Kind::NotRunning(format!("Task '{n}' has no window")))
                    .hint(format!("start it with 'taskmux start {n}'")));
            };
            Some(rt.window_id.clone())
        }
        None => None,
    };
    // before tmux runs: without a terminal it would only print its own error
    let inside = std::env::var_os("TMUX").is_some_and(|v| !v.is_empty());
    if !inside {
        need_terminal()?;
    }
    let mut c = std::process::Command::new(lc.tmux.bin.clone().unwrap_or_else(|| PathBuf::from("tmux")));
    if let Some(s) = &lc.tmux.socket {
        c.arg("-L").arg(s);
    }
    if let Some(w) = &window {
        c.args(["select-window", "-t", w, ";"]);
    }
    if inside {
        c.args(["switch-client", "-t", &format!("={session}:")]);
    } else {
        c.args(["attach-session", "-t", &format!("={session}:")]);
    }
    let err = c.exec();
    Err(Kind::Tmux(format!("cannot run tmux: {err}")).into())
}

/// E503 unless standard input and output are terminals: what `attach` hands to tmux.
fn need_terminal() -> Result<()> {
    use std::io::IsTerminal;
    let (stdin, stdout) = (std::io::stdin().is_terminal(), std::io::stdout().is_terminal());
    if stdin && stdout {
        return Ok(());
    }
    let which = if stdin { "standard output" } else { "standard input" };
    Err(Error::from(Kind::NoTerminal(format!(
        "attach needs a terminal: its {which} is not a terminal"
    )))
    .hint("run it from a terminal (or inside tmux); to read a task's output here, use 'taskmux logs TASK'"))
}

/// `taskmux -H HOST attach [TASK]`: `ssh -t HOST taskmux attach …` in place of this process,
/// with `-p`, `-c` and `-L` as given here, each word quoted for the shell there.
fn attach_remote(g: &Globals, task: Option<String>) -> Result<u8> {
    use std::os::unix::process::CommandExt;
    if g.project.is_none() && g.config.is_none() {
        return Err(Error::from(Kind::MissingProject(format!(
            "attach on {} needs the project named",
            g.host.as_deref().unwrap_or_default()
        )))
        .hint("name it with -p NAME (registered there) or -c PATH (a taskmux.toml there)"));
    }
    need_terminal()?;
    let ctx = super::request_context(g)?;
    let Some(remote) = &ctx.remote else {
        return Err(Error::internal("-H gave no remote"));
    };
    let mut args: Vec<String> = Vec::new();
    if let Some(p) = &g.project {
        args.extend(["-p".into(), p.clone()]);
    }
    if let Some(c) = &g.config {
        args.extend(["-c".into(), c.display().to_string()]);
    }
    if let Some(s) = &g.socket {
        args.extend(["-L".into(), s.clone()]);
    }
    if let Some(t) = task {
        args.extend(["--".into(), t]);
    }
    let err = remote.attach_command(&args).exec();
    Err(Error::from(Kind::HostUnreachable {
        host: remote.name.clone(),
        reason: format!("cannot run ssh: {err}"),
    }))
}
