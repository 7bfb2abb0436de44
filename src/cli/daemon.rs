//! `taskmux daemon …` and the `taskmuxd` binary: run the supervisor in the foreground,
//! start it detached and wait until it answers, stop it and wait until it is gone, ask
//! it how it is, and manage the registry of projects it keeps up.

use super::render::{Color, Out};
use super::{Globals, View, context, exec};
use crate::daemon;
use crate::error::{Error, Kind, Result};
use crate::ops::{ProjectList, RegisterParams, Registered, Request, UnregisterParams, Unregistered};
use crate::registry::Desired;
use crate::supervision::{ConfigState, DaemonStatus, ServiceState};
use lexopt::prelude::*;
use serde_json::{Value, json};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// How long `daemon start` waits for the daemon to answer, and `stop` for it to exit.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Entry point of the `taskmuxd` binary: `taskmux daemon` (the supervisor, foreground).
pub fn daemon_main(args: Vec<OsString>) -> ExitCode {
    if let Some(code) = super::internal_mode(&args) {
        return code;
    }
    let json = args.iter().any(|a| a == "--json");
    let out = Out::new(json);
    let result = super::split_globals(args).and_then(|(g, rest)| {
        if g.help {
            out.print(&super::help::command_help("daemon").unwrap_or_default());
            return Ok(0);
        }
        if g.version {
            out.line(&format!("taskmuxd {}", super::VERSION));
            return Ok(0);
        }
        foreground(&g, rest)
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            super::render::print_error(&out, "taskmuxd", &e);
            ExitCode::from(e.exit_code())
        }
    }
}

/// `taskmux daemon SUBCOMMAND …`; with no subcommand, the daemon in the foreground.
pub fn daemon(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let Some(sub) = args.first().map(|a| a.to_string_lossy().into_owned()) else {
        return foreground(g, args);
    };
    let rest: Vec<OsString> = args[1..].to_vec();
    match sub.as_str() {
        "run" | "--detached" => foreground(g, args),
        "start" => start(g, rest, out),
        "stop" => stop(g, rest, out),
        "restart" => {
            no_args("daemon restart", &rest)?;
            let ctx = context(g)?;
            let old = stop_daemon(&ctx.home)?;
            let (pid, _) = ensure(&ctx.home)?;
            if out.json {
                out.json(&json!({"ok": true, "pid": pid, "stopped": old}));
            } else {
                out.line(&format!(
                    "{} taskmuxd (pid {pid})",
                    out.paint("restarted", Color::Green)
                ));
            }
            Ok(0)
        }
        "status" => status(g, rest, out),
        "list" => list(g, rest, out),
        "register" => register(g, rest, out),
        "unregister" => unregister(g, rest, out),
        "install" => super::unit::install(g, rest, out),
        "uninstall" => super::unit::uninstall(g, rest, out),
        other => Err(Error::usage(format!("unknown daemon subcommand '{other}'"))
            .hint("daemon start|stop|restart|status|list|register|unregister|install|uninstall")),
    }
}

fn no_args(what: &str, args: &[OsString]) -> Result<()> {
    match args.first() {
        Some(a) => Err(Error::usage(format!("{what} takes no arguments, got {a:?}"))),
        None => Ok(()),
    }
}

/// The daemon itself, in this process. `--detached` (from `daemon start`): a session of
/// its own, and stderr into the log.
fn foreground(g: &Globals, args: Vec<OsString>) -> Result<u8> {
    let mut detached = false;
    for a in &args {
        match a.to_str() {
            Some("--detached") => detached = true,
            Some("run") => {}
            _ => return Err(Error::usage(format!("taskmuxd takes no arguments, got {a:?}"))),
        }
    }
    if detached {
        let _ = rustix::process::setsid();
    }
    // root through sudo: bind the proxy's ports as root, then become the user for good
    // before anything touches tmux or state
    let sudo = super::sudo_user();
    let home = super::state_home(sudo.as_ref().map(|(_, h)| h.as_path()));
    // an invalid config.toml stops the daemon at once (E101, E104; exit 2): never the
    // defaults, which could bind ports and edit /etc/hosts the user asked it not to
    let global = crate::config::GlobalConfig::load(&home)?;
    let bound = daemon::net::bind_proxy(&global);
    let mut ctx = match &sudo {
        Some((user, user_home)) => {
            daemon::privilege::drop_to(*user).map_err(|e| {
                Error::from(Kind::Permission {
                    action: format!("become uid {} (from sudo) for", user.uid),
                    path: home.clone(),
                    reason: e.to_string(),
                })
            })?;
            let mut ctx = super::context_at(g, home)?;
            ctx.env.retain(|(k, _)| k != "HOME" && !k.starts_with("SUDO_"));
            ctx.env.push(("HOME".into(), user_home.display().to_string()));
            ctx
        }
        None => context(g)?,
    };
    crate::unit::without_daemon_malloc(&mut ctx.env);
    daemon::run(
        ctx,
        detached,
        daemon::Fronts {
            bound,
            socket: Box::new(|shared| Ok(Box::new(crate::api::unix::Server::bind(shared)?) as Box<dyn daemon::Front>)),
            websocket: std::sync::Arc::new(|shared| {
                Box::new(crate::api::ws::Server::start(shared)) as Box<dyn daemon::Front>
            }),
        },
    )
}

/// The executable that runs the daemon: `taskmuxd` next to this one, else this one.
fn daemon_exe() -> Result<(PathBuf, Vec<&'static str>)> {
    let me = crate::task::self_exe()?;
    let sibling = me.with_file_name("taskmuxd");
    if sibling.is_file() {
        return Ok((sibling, vec!["--detached"]));
    }
    Ok((me, vec!["daemon", "--detached"]))
}

/// Starts the daemon detached unless it runs; returns (pid, whether it was started now).
pub fn ensure(home: &Path) -> Result<(i32, bool)> {
    if let Some(pid) = crate::lock::running_pid(home) {
        return Ok((pid, false));
    }
    // what the daemon would refuse at its start, refused here, with the config's own code
    crate::config::GlobalConfig::load(home)?;
    crate::paths::ensure_dir(home)?;
    let log_path = home.join("daemon.log");
    let log = daemon::log::open(&log_path).map_err(|e| Error::io("open", &log_path, e))?;
    if let Some((user, _)) = super::sudo_user() {
        // the daemon becomes the user: what is made for it here is theirs
        for p in [home, log_path.as_path()] {
            let _ = rustix::fs::chown(
                p,
                Some(rustix::fs::Uid::from_raw_unchecked(user.uid)),
                Some(rustix::fs::Gid::from_raw_unchecked(user.gid)),
            );
        }
    }
    let log2 = log.try_clone().map_err(|e| Error::io("open", &log_path, e))?;
    let (exe, args) = daemon_exe()?;
    // the daemon holds no descriptor of its caller: one it kept (the write end of a pipe,
    // as in `daemon start 9>&1 | cat`) would keep the reader waiting for as long as the
    // daemon lives. Every descriptor of this process from 3 up is closed on exec (what
    // taskmux opens already is); the daemon gets /dev/null and the log as 0, 1 and 2.
    close_fds::set_fds_cloexec_threadsafe(3, &[]);
    let mut cmd = Command::new(&exe);
    // the allocator settings of a long-lived daemon, unless the caller chose its own
    let set: Vec<&str> = crate::unit::DAEMON_MALLOC
        .iter()
        .filter(|(k, _)| std::env::var_os(k).is_none())
        .map(|(k, v)| {
            cmd.env(k, v);
            *k
        })
        .collect();
    if !set.is_empty() {
        cmd.env(crate::unit::DAEMON_MALLOC_SET, set.join(","));
    }
    let mut child = cmd
        .args(args)
        .env("TASKMUX_HOME", home)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .spawn()
        .map_err(|e| Error::internal(format!("cannot run {}: {e}", exe.display())))?;
    let pid = child.id() as i32;
    let until = Instant::now() + READY_TIMEOUT;
    while Instant::now() < until {
        if let Ok(Some(st)) = child.try_wait() {
            let code = st.code().unwrap_or(1);
            let running = crate::lock::running_pid(home);
            if let Some(other) = running {
                // another start won the race: that daemon is the one
                return Ok((other, false));
            }
            return Err(Error::from(Kind::DaemonNotRunning(format!(
                "taskmuxd exited with status {code} at start: {}",
                last_line(&log_path)
            )))
            .hint(format!("see {}", log_path.display())));
        }
        if crate::lock::running_pid(home) == Some(pid) && request(home, &json!({"command": "ping"})).is_ok() {
            return Ok((pid, true));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(Error::from(Kind::DaemonNotRunning(format!(
        "taskmuxd (pid {pid}) did not answer within {}s",
        READY_TIMEOUT.as_secs()
    )))
    .hint(format!("see {}", log_path.display())))
}

fn last_line(path: &Path) -> String {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.lines().rev().find(|l| !l.trim().is_empty()).map(str::to_string))
        .unwrap_or_else(|| "(nothing in its log)".into())
}

/// One request to the daemon's socket, and its reply.
pub fn request(home: &Path, req: &Value) -> Result<Value> {
    crate::client::request(home, req, Duration::from_secs(30))
}

fn start(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    no_args("daemon start", &args)?;
    let sudo = super::sudo_user();
    let ctx = super::context_at(g, super::state_home(sudo.as_ref().map(|(_, h)| h.as_path())))?;
    let (pid, started) = ensure(&ctx.home)?;
    if out.json {
        out.json(&json!({"ok": true, "pid": pid, "started": started, "already_running": !started}));
    } else if started {
        out.line(&format!("{} taskmuxd (pid {pid})", out.paint("started", Color::Green)));
    } else {
        out.line(&format!("taskmuxd is already running (pid {pid})"));
    }
    Ok(0)
}

fn stop(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    no_args("daemon stop", &args)?;
    let ctx = context(g)?;
    let pid = stop_daemon(&ctx.home)?;
    match (out.json, pid) {
        (true, _) => out.json(&json!({"ok": true, "stopped": pid.is_some(), "pid": pid})),
        (false, Some(pid)) => out.line(&format!(
            "{} taskmuxd (pid {pid}); the tasks keep running",
            out.paint("stopped", Color::Yellow)
        )),
        (false, None) => out.line("taskmuxd is not running"),
    }
    Ok(0)
}

/// SIGTERM to the daemon, and the wait until it has exited; the pid it had, None when
/// none ran.
fn stop_daemon(home: &Path) -> Result<Option<i32>> {
    let Some(pid) = crate::lock::running_pid(home) else {
        return Ok(None);
    };
    // the daemon lets its lock go just before its process ends: wait for the process too
    // (the same pid with another start time would be another process)
    let started = crate::proc::stat(pid).map(|p| p.start_time);
    let exited = || !crate::proc::stat(pid).is_some_and(|p| p.alive() && Some(p.start_time) == started);
    let term = crate::proc::Escalation {
        term_after: Some(Duration::ZERO),
        kill_after: None,
        give_up: READY_TIMEOUT,
        step: Duration::from_millis(10),
        groups: false,
    };
    crate::proc::signal_until(
        &term,
        || vec![pid],
        || crate::lock::running_pid(home).is_none() && exited(),
    )
    .map_err(|_| {
        Error::from(Kind::AlreadySupervised(format!(
            "taskmuxd (pid {pid}) did not exit within {}s of SIGTERM",
            READY_TIMEOUT.as_secs()
        )))
        .hint(format!("kill -9 {pid} ends it; the tasks keep running either way"))
    })?;
    Ok(Some(pid))
}

/// `daemon status`: exit 0 when it runs, 1 when not.
fn status(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    no_args("daemon status", &args)?;
    exec(g, out, Request::DaemonStatus, &View::default())
}

/// `daemon status` for people.
pub(super) fn show_status(out: &Out, s: &DaemonStatus) -> Result<()> {
    let (Some(pid), true) = (s.pid, s.running) else {
        out.line("taskmuxd: not running (start it with 'taskmux daemon start')");
        return Ok(());
    };
    let Some(v) = &s.live else {
        out.line(&format!(
            "taskmuxd: {} (pid {pid}), not answering: {}",
            out.paint("running", Color::Green),
            s.warning.as_deref().unwrap_or("")
        ));
        return Ok(());
    };
    let up = v.uptime_secs.map(human_secs).unwrap_or_default();
    out.line(&format!(
        "taskmuxd: {} (pid {pid}), up {up}",
        out.paint("running", Color::Green)
    ));
    out.line(&format!(
        "projects: {}, supervised tasks: {}",
        v.projects, v.supervised_tasks
    ));
    match &v.last_heal {
        Some(h) => out.line(&format!(
            "last heal: {} {} ({}): {}",
            h.at,
            h.session,
            h.reason,
            h.tasks.join(", ")
        )),
        None => out.line("last heal: none"),
    }
    match (&v.api.websocket, &v.api.error) {
        (Some(url), _) => out.line(&format!("websocket: {url}")),
        (None, Some(e)) => out.line(&format!("websocket: not listening: {e}")),
        (None, None) => {}
    }
    for (name, svc) in [("proxy", &v.proxy), ("dns", &v.dns)] {
        match svc.state {
            ServiceState::Up => out.line(&format!("{name}: {}", svc.listen.join(", "))),
            state => {
                let word = serde_json::to_value(state)
                    .ok()
                    .and_then(|w| w.as_str().map(str::to_string));
                out.line(&format!(
                    "{name}: {} ({})",
                    word.unwrap_or_default(),
                    svc.error.as_deref().unwrap_or("")
                ));
                if let Some(fix) = &svc.fix {
                    out.line(&format!("  fix: {fix}"));
                }
            }
        }
    }
    for a in &v.aliases {
        out.line(&format!(
            "alias: {} -> {}",
            a.url,
            a.target.map(|t| t.to_string()).unwrap_or_default()
        ));
    }
    if let Some(e) = &v.config_error {
        out.line(&format!(
            "{}: config.toml does not load, the last good one is in force: {e}",
            out.paint("config", Color::Red)
        ));
    }
    if let Some(f) = &v.events_failing {
        out.line(&format!(
            "events: {} since {} ({} dropped): {}",
            out.paint("not written", Color::Red),
            f.since,
            f.dropped,
            f.error
        ));
        out.line(&format!("  fix: {}", f.fix));
    }
    if let Some(l) = &v.log {
        out.line(&format!("log: {}", l.display()));
    }
    Ok(())
}

fn human_secs(s: u64) -> String {
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        _ => format!("{}h {}m", s / 3600, (s % 3600) / 60),
    }
}

/// `daemon list`: each registered project and the state of its config, from the daemon
/// when it runs, else from the registry and the configs.
fn list(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    no_args("daemon list", &args)?;
    exec(g, out, Request::DaemonList, &View::default())
}

/// `daemon list` for people.
pub(super) fn show_list(out: &Out, l: &ProjectList) -> Result<()> {
    if l.projects.is_empty() {
        out.line("no registered projects ('taskmux start' or 'taskmux daemon register' adds one)");
        return Ok(());
    }
    out.line(&format!("{:<20} {:<8} {:<15} CONFIG", "NAME", "DESIRED", "STATE"));
    for p in &l.projects {
        let desired = match p.desired {
            Desired::Up => "up",
            Desired::Down => "down",
        };
        let (state, message) = match &p.config {
            ConfigState::Ok => ("ok", None),
            ConfigState::ConfigMissing => (
                "config_missing",
                Some(format!("{} is missing", p.config_path.display())),
            ),
            ConfigState::Error { message } => ("error", Some(message.clone())),
        };
        out.line(&format!(
            "{:<20} {:<8} {:<15} {}",
            p.name,
            desired,
            state,
            p.config_path.display()
        ));
        if let Some(m) = message {
            out.line(&format!("  {m}"));
        }
    }
    Ok(())
}

/// `daemon register [-c PATH] [-f]`: the daemon keeps the project up.
fn register(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let mut force = false;
    let mut p = lexopt::Parser::from_args(args);
    while let Some(arg) = p.next().map_err(|e| Error::usage(e.to_string()))? {
        match arg {
            Short('f') | Long("force") => force = true,
            Value(v) => {
                return Err(Error::usage(format!("daemon register takes no arguments, got {v:?}"))
                    .hint("name the config with -c PATH"));
            }
            _ => return Err(Error::usage(format!("unknown flag {}", arg_name(&arg)))),
        }
    }
    exec(g, out, Request::Register(RegisterParams { force }), &View::default())
}

/// What `register` did.
pub(super) fn show_registered(out: &Out, r: &Registered) -> Result<()> {
    out.line(&format!("registered {} ({})", r.name, r.config_path.display()));
    Ok(())
}

fn arg_name(a: &lexopt::Arg<'_>) -> String {
    match a {
        Short(c) => format!("-{c}"),
        Long(l) => format!("--{l}"),
        Value(v) => v.to_string_lossy().into_owned(),
    }
}

/// `daemon unregister NAME`: E303 when it is not registered.
fn unregister(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let mut p = lexopt::Parser::from_args(args);
    let mut name = None;
    while let Some(arg) = p.next().map_err(|e| Error::usage(e.to_string()))? {
        match arg {
            Value(v) if name.is_none() => name = Some(v.to_string_lossy().into_owned()),
            _ => return Err(Error::usage(format!("unexpected {}", arg_name(&arg)))),
        }
    }
    let Some(name) = name else {
        return Err(Error::usage("daemon unregister takes the project's NAME"));
    };
    exec(g, out, Request::Unregister(UnregisterParams { name }), &View::default())
}

/// What `unregister` did.
pub(super) fn show_unregistered(out: &Out, r: &Unregistered) -> Result<()> {
    out.line(&format!(
        "unregistered {}; its tasks keep running, unsupervised",
        r.name
    ));
    Ok(())
}
