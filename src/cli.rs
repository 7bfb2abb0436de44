//! The command line: global flags, one parse loop per command, help text from one table,
//! and the human and JSON rendering of each result.

use crate::config::{self, Project, Task};
use crate::error::{Error, Result};
use crate::health;
use crate::output::{Color, Out, print_error, warn};
use crate::task::{self, Ctx, Runtime, StopOutcome};
use crate::tmux::Tmux;
use crate::{paths, proc};
use lexopt::prelude::*;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

/// The suite's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Flags accepted anywhere before `--`.
#[derive(Debug, Default, Clone)]
pub struct Globals {
    /// `--json`.
    pub json: bool,
    /// `-c/--config PATH`.
    pub config: Option<PathBuf>,
    /// `-L/--socket NAME`.
    pub socket: Option<String>,
    /// `-h/--help`.
    pub help: bool,
    /// `-V/--version`.
    pub version: bool,
}

/// One row of the command table: name, arguments, summary. `--help` is made from it.
pub struct CommandSpec {
    /// The command's name.
    pub name: &'static str,
    /// Its arguments and flags, as in a synopsis.
    pub args: &'static str,
    /// One line on what it does.
    pub summary: &'static str,
    /// Implemented in this version.
    pub available: bool,
}

/// Every `taskmux` command.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "start",
        args: "[TASK...] [--wait] [--if-stopped]",
        summary: "start auto_start tasks in dependency order (or the named ones)",
        available: true,
    },
    CommandSpec {
        name: "stop",
        args: "[TASK...]",
        summary: "stop tasks: C-c, then SIGTERM, then SIGKILL; no process is left",
        available: true,
    },
    CommandSpec {
        name: "restart",
        args: "[TASK...]",
        summary: "stop then start, in the same window",
        available: true,
    },
    CommandSpec {
        name: "kill",
        args: "TASK",
        summary: "SIGKILL a task and destroy its window",
        available: true,
    },
    CommandSpec {
        name: "status",
        args: "",
        summary: "every task's state (aliases: list, ls)",
        available: true,
    },
    CommandSpec {
        name: "health",
        args: "[-v]",
        summary: "probe every task now",
        available: true,
    },
    CommandSpec {
        name: "inspect",
        args: "TASK",
        summary: "full state of one task",
        available: true,
    },
    CommandSpec {
        name: "logs",
        args: "[TASK] [-f] [-n N] [-g PATTERN] [-C N] [--since T]",
        summary: "task output from the log files",
        available: true,
    },
    CommandSpec {
        name: "logs-clean",
        args: "[TASK]",
        summary: "delete log files",
        available: true,
    },
    CommandSpec {
        name: "events",
        args: "[--task T] [--since T] [-n N] [--all-projects]",
        summary: "lifecycle events",
        available: true,
    },
    CommandSpec {
        name: "add",
        args: "TASK COMMAND [--cwd D] [--host H] [--health-check C] [--depends-on T]... [--force]",
        summary: "add a task to taskmux.toml",
        available: true,
    },
    CommandSpec {
        name: "remove",
        args: "TASK",
        summary: "remove a task from taskmux.toml",
        available: true,
    },
    CommandSpec {
        name: "init",
        args: "[--defaults]",
        summary: "create taskmux.toml and agent context",
        available: true,
    },
    CommandSpec {
        name: "check",
        args: "",
        summary: "validate the config and lint the environment",
        available: true,
    },
    CommandSpec {
        name: "url",
        args: "TASK",
        summary: "the task's https URL",
        available: true,
    },
    CommandSpec {
        name: "send",
        args: "TASK TEXT... [--no-enter]",
        summary: "type text into a task's pane",
        available: true,
    },
    CommandSpec {
        name: "attach",
        args: "[TASK]",
        summary: "attach to the session or a task's window",
        available: true,
    },
    CommandSpec {
        name: "run",
        args: "[opts] -- CMD...",
        summary: "run a fire-and-forget job window",
        available: true,
    },
    CommandSpec {
        name: "jobs",
        args: "[--tag T] | kill ... | wait ID",
        summary: "list and control job windows",
        available: true,
    },
    CommandSpec {
        name: "watch",
        args: "",
        summary: "reload on config change",
        available: true,
    },
    CommandSpec {
        name: "daemon",
        args: "[start|stop|status|...]",
        summary: "the per-machine supervisor",
        available: false,
    },
    CommandSpec {
        name: "config",
        args: "show|set|path",
        summary: "global config",
        available: false,
    },
    CommandSpec {
        name: "ca",
        args: "install|mint|uninstall",
        summary: "local certificates",
        available: false,
    },
    CommandSpec {
        name: "dns",
        args: "install|uninstall|flush|query",
        summary: "name resolution",
        available: false,
    },
    CommandSpec {
        name: "doctor",
        args: "",
        summary: "check the machine and say what to fix",
        available: false,
    },
    CommandSpec {
        name: "completions",
        args: "bash|zsh|fish",
        summary: "print a shell completion script",
        available: true,
    },
];

/// A usage error (E500, exit 2).
pub fn usage(msg: impl Into<String>) -> Error {
    Error::new("E500", msg).hint("see 'taskmux --help'")
}

/// Splits global flags out of the arguments (anywhere before `--`).
pub fn split_globals(args: Vec<OsString>) -> Result<(Globals, Vec<OsString>)> {
    let mut g = Globals::default();
    let mut rest = Vec::new();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let s = a.to_string_lossy().into_owned();
        if s == "--" {
            rest.push(a);
            rest.extend(it.by_ref());
            break;
        }
        let mut value = |flag: &str, inline: Option<&str>| -> Result<String> {
            match inline {
                Some(v) => Ok(v.to_string()),
                None => it
                    .next()
                    .map(|v| v.to_string_lossy().into_owned())
                    .ok_or_else(|| usage(format!("{flag} needs a value"))),
            }
        };
        match s.as_str() {
            "--json" => g.json = true,
            "-h" | "--help" => g.help = true,
            "-V" | "--version" => g.version = true,
            "-c" | "--config" => g.config = Some(value(&s, None)?.into()),
            "-L" | "--socket" => g.socket = Some(value(&s, None)?),
            _ if s.starts_with("--config=") => g.config = Some(value("--config", s.strip_prefix("--config="))?.into()),
            _ if s.starts_with("--socket=") => g.socket = Some(value("--socket", s.strip_prefix("--socket="))?),
            _ if s.starts_with("-c") && s.len() > 2 && !s.starts_with("--") => {
                g.config = Some(value("-c", Some(&s[2..]))?.into())
            }
            _ if s.starts_with("-L") && s.len() > 2 && !s.starts_with("--") => {
                g.socket = Some(value("-L", Some(&s[2..]))?)
            }
            _ => rest.push(a),
        }
    }
    Ok((g, rest))
}

fn main_help() -> String {
    let mut s = format!(
        "taskmux {VERSION}: run a project's development tasks in tmux\n\n\
         Usage: taskmux [--json] [-c PATH] [-L SOCKET] COMMAND [ARGS...]\n\nCommands:\n"
    );
    let w = COMMANDS
        .iter()
        .map(|c| c.name.len() + c.args.len() + 1)
        .max()
        .unwrap_or(0)
        .min(44);
    for c in COMMANDS.iter().filter(|c| c.available) {
        let left = format!("{} {}", c.name, c.args);
        s.push_str(&format!("  {left:<w$}  {}\n", c.summary));
    }
    s.push_str("\nGlobal flags (anywhere before --):\n");
    s.push_str(&crate::flags::help_lines(crate::flags::GLOBAL));
    s.push_str(
        "\nEnvironment: TASKMUX_HOME (state, default ~/.taskmux), TASKMUX_TMUX_SOCKET, NO_COLOR,\n\
         TASKMUX_HOOK_TIMEOUT (seconds a hook may run, default 60).\n\
         Exit codes: 0 success, 1 failure, 2 usage error or invalid config.\n",
    );
    s
}

fn command_help(name: &str) -> Option<String> {
    let c = COMMANDS.iter().find(|c| c.name == name)?;
    let mut s = format!("Usage: taskmux {} {}\n\n{}.\n", c.name, c.args, c.summary);
    let flags = crate::flags::of(name);
    if !flags.is_empty() {
        s.push_str("\nOptions:\n");
        s.push_str(&crate::flags::help_lines(flags));
    }
    s.push_str("\nGlobal flags:\n");
    s.push_str(&crate::flags::help_lines(crate::flags::GLOBAL));
    Some(s)
}

/// The internal modes every binary answers, since panes and pipes run the executable that
/// started them: `__exec SPEC` (a task), `__job SPEC` (a job), `__log PATH SIZE FILES`.
pub fn internal_mode(args: &[OsString]) -> Option<ExitCode> {
    let arg = |i: usize| args.get(i).map(|a| a.to_string_lossy().into_owned());
    match arg(0).as_deref() {
        Some("__exec") => Some(arg(1).map_or(ExitCode::from(2), |s| task::exec_spec(&s))),
        Some("__job") => Some(arg(1).map_or(ExitCode::from(2), |s| crate::jobs::job_main(&s))),
        Some("__log") => {
            let rest: Vec<String> = args[1..].iter().map(|a| a.to_string_lossy().into_owned()).collect();
            Some(crate::logs::writer_main(&rest))
        }
        Some("__tasks") => Some(crate::completions::tasks_main(&args[1..])),
        _ => None,
    }
}

/// Entry point of the `taskmux` binary.
pub fn taskmux_main(args: Vec<OsString>) -> ExitCode {
    if let Some(code) = internal_mode(&args) {
        return code;
    }
    let json_hint = args.iter().take_while(|a| *a != "--").any(|a| a == "--json");
    let (g, rest) = match split_globals(args) {
        Ok(v) => v,
        Err(e) => {
            print_error(&Out::new(json_hint), "taskmux", &e);
            return ExitCode::from(e.exit_code());
        }
    };
    let out = Out::new(g.json);
    match run(&g, rest, &out) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            print_error(&out, "taskmux", &e);
            ExitCode::from(e.exit_code())
        }
    }
}

fn run(g: &Globals, rest: Vec<OsString>, out: &Out) -> Result<u8> {
    let mut rest = rest.into_iter();
    let Some(cmd) = rest.next() else {
        if g.version {
            out.line(&format!("taskmux {VERSION}"));
            return Ok(0);
        }
        out.print(&main_help());
        return Ok(if g.help { 0 } else { 2 });
    };
    let cmd = cmd.to_string_lossy().into_owned();
    let args: Vec<OsString> = rest.collect();
    let cmd = match cmd.as_str() {
        "list" | "ls" => "status".to_string(),
        "help" => {
            let topic = args.first().map(|a| a.to_string_lossy().into_owned());
            out.print(&topic.and_then(|t| command_help(&t)).unwrap_or_else(main_help));
            return Ok(0);
        }
        _ => cmd,
    };
    let Some(spec) = COMMANDS.iter().find(|c| c.name == cmd) else {
        return Err(
            Error::new("E501", format!("Unknown command '{cmd}'")).hint("see 'taskmux --help' for the commands")
        );
    };
    if g.help {
        out.print(&command_help(spec.name).unwrap_or_default());
        return Ok(0);
    }
    if g.version {
        out.line(&format!("taskmux {VERSION}"));
        return Ok(0);
    }
    if !spec.available {
        return Err(
            Error::new("E501", format!("'taskmux {cmd}' is not available in this version yet"))
                .hint("see 'taskmux --help' for the commands this version has"),
        );
    }
    match spec.name {
        "start" => cmd_start(g, args, out),
        "stop" => cmd_stop(g, args, out),
        "restart" => cmd_restart(g, args, out),
        "kill" => cmd_kill(g, args, out),
        "status" => cmd_status(g, args, out),
        "logs" => crate::cli_logs::cmd_logs(g, args, out),
        "init" => crate::authoring::cmd_init(g, args, out),
        "add" => crate::authoring::cmd_add(g, args, out),
        "remove" => crate::authoring::cmd_remove(g, args, out),
        "check" => crate::check::cmd_check(g, args, out),
        "url" => crate::check::cmd_url(g, args, out),
        "watch" => crate::watch::cmd_watch(g, args, out),
        "run" => crate::cli_jobs::cmd_run(g, args, out),
        "jobs" => crate::cli_jobs::cmd_jobs(g, args, out),
        "send" => crate::cli_jobs::cmd_send(g, args, out),
        "attach" => crate::cli_jobs::cmd_attach(g, args, out),
        "logs-clean" => crate::cli_logs::cmd_logs_clean(g, args, out),
        "events" => crate::cli_logs::cmd_events(g, args, out),
        "health" => cmd_health(g, args, out),
        "inspect" => cmd_inspect(g, args, out),
        "completions" => crate::completions::cmd_completions(g, args, out),
        _ => Err(Error::internal(format!("command '{cmd}' has no handler"))),
    }
}

/// The value of the flag just read, as a string (a missing value is a usage error).
pub fn flag_value(p: &mut lexopt::Parser) -> Result<String> {
    Ok(p.value()
        .map_err(|e| usage(e.to_string()))?
        .to_string_lossy()
        .into_owned())
}

/// Finds and loads the project's config, without touching tmux.
pub fn load_project(g: &Globals) -> Result<Project> {
    let cwd =
        std::env::current_dir().map_err(|e| Error::new("E100", format!("cannot read the current directory: {e}")))?;
    let path = config::find(g.config.as_deref(), &cwd)?;
    config::load(&path)
}

/// Loads the project and checks tmux: what every lifecycle command needs.
pub fn context(g: &Globals) -> Result<Ctx> {
    let project = load_project(g)?;
    let tmux = Tmux::new(g.socket.clone());
    tmux.check_version()?;
    Ok(Ctx { project, tmux })
}

/// Parses a command's arguments: positional names and the given boolean flags.
fn parse_args(args: Vec<OsString>, flags: &[crate::flags::Flag]) -> Result<(Vec<String>, HashMap<String, bool>)> {
    let bools: Vec<(&str, Option<char>)> = flags
        .iter()
        .filter(|f| f.value.is_none())
        .map(|f| (f.long, f.short))
        .collect();
    let mut p = lexopt::Parser::from_args(args);
    let mut names = Vec::new();
    let mut flags: HashMap<String, bool> = HashMap::new();
    while let Some(arg) = p.next().map_err(|e| usage(e.to_string()))? {
        match arg {
            Value(v) => names.push(v.to_string_lossy().into_owned()),
            Long(l) => match bools.iter().find(|(n, _)| *n == l) {
                Some((n, _)) => {
                    flags.insert(n.to_string(), true);
                }
                None => return Err(usage(format!("unknown flag --{l}"))),
            },
            Short(c) => match bools.iter().find(|(_, s)| *s == Some(c)) {
                Some((n, _)) => {
                    flags.insert(n.to_string(), true);
                }
                None => return Err(usage(format!("unknown flag -{c}"))),
            },
        }
    }
    Ok((names, flags))
}

fn cmd_start(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let (names, flags) = parse_args(args, crate::flags::of("start"))?;
    if flags.contains_key("monitor") || flags.contains_key("daemon") {
        return Err(Error::new(
            "E501",
            "start --monitor/--daemon needs the daemon, which is not in this version yet",
        )
        .hint("run 'taskmux start' without -m/-d"));
    }
    let ctx = context(g)?;
    let report = task::start(&ctx, &names, flags.contains_key("wait"))?;
    for w in &report.warnings {
        if !out.json {
            warn("taskmux", w);
        }
    }
    let ok = report.failed.is_empty();
    if out.json {
        let v = if names.len() == 1 {
            let n = &names[0];
            match report.failed.first() {
                Some((_, e)) => {
                    let mut v = e.to_json();
                    v["task"] = json!(n);
                    v
                }
                None => json!({"ok": true, "task": n,
                    "action": if report.started.contains(n) { "started" } else { "already_running" },
                    "warnings": report.warnings}),
            }
        } else if names.len() > 1 {
            let results: Vec<Value> = names
                .iter()
                .map(|n| match report.failed.iter().find(|(f, _)| f == n) {
                    Some((_, e)) => {
                        let mut v = e.to_json();
                        v["task"] = json!(n);
                        v
                    }
                    None => json!({"ok": true, "task": n,
                        "action": if report.started.contains(n) { "started" } else { "already_running" }}),
                })
                .collect();
            json!({"ok": ok, "results": results, "warnings": report.warnings})
        } else {
            json!({
                "ok": ok, "session": ctx.project.name, "action": "started",
                "tasks": report.started, "already_running": report.already_running,
                "skipped": report.skipped.iter().map(|(t, r)| json!({"task": t, "reason": r})).collect::<Vec<_>>(),
                "failed": report.failed.iter().map(|(t, e)| { let mut v = e.to_json(); v["task"] = json!(t); v }).collect::<Vec<_>>(),
                "warnings": report.warnings,
            })
        };
        out.json(&v);
    } else {
        for n in &report.started {
            out.line(&format!("{} {n}", out.paint("started", Color::Green)));
        }
        for n in &report.already_running {
            out.line(&format!("{} {n}", out.paint("already running", Color::Dim)));
        }
        for (n, r) in &report.skipped {
            out.line(&format!("{} {n}: {r}", out.paint("skipped", Color::Yellow)));
        }
        for (n, e) in &report.failed {
            out.line(&out.failed_line(n, e));
        }
        if report.started.is_empty()
            && report.already_running.is_empty()
            && report.skipped.is_empty()
            && report.failed.is_empty()
        {
            out.line("no tasks to start (no auto_start tasks)");
        }
    }
    if ok {
        Ok(0)
    } else if names.len() == 1
        && let Some((_, e)) = report.failed.first()
    {
        if !out.json {
            return Err(e.clone());
        }
        Ok(e.exit_code())
    } else {
        Ok(1)
    }
}

fn stop_json(ctx: &Ctx, names: &[String], results: &[(String, StopOutcome)], action: &str, out: &Out) {
    let word = |o: &StopOutcome| match o {
        StopOutcome::Stopped => action.to_string(),
        StopOutcome::AlreadyStopped => "already_stopped".to_string(),
    };
    if out.json {
        let v = if names.len() == 1 {
            json!({"ok": true, "task": results[0].0, "action": word(&results[0].1)})
        } else if names.len() > 1 {
            json!({"ok": true, "results": results.iter().map(|(n, o)| json!({"ok": true, "task": n, "action": word(o)})).collect::<Vec<_>>()})
        } else {
            json!({"ok": true, "session": ctx.project.name, "action": action,
                "tasks": results.iter().filter(|(_, o)| *o == StopOutcome::Stopped).map(|(n, _)| n).collect::<Vec<_>>()})
        };
        out.json(&v);
    } else {
        let mut any = false;
        for (n, o) in results {
            if *o == StopOutcome::Stopped || !names.is_empty() {
                any = true;
                let w = word(o).replace('_', " ");
                let w = if *o == StopOutcome::Stopped {
                    out.paint(&w, Color::Yellow)
                } else {
                    out.paint(&w, Color::Dim)
                };
                out.line(&format!("{w} {n}"));
            }
        }
        if !any {
            out.line("no task was running");
        }
    }
}

fn cmd_stop(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let (names, _) = parse_args(args, crate::flags::of("stop"))?;
    let ctx = context(g)?;
    let results = task::stop(&ctx, &names, true, names.is_empty())?;
    if names.is_empty() && results.iter().any(|(_, o)| *o == StopOutcome::Stopped) {
        crate::events::emit("session_stopped", &ctx.project.name, None, json!({}));
    }
    stop_json(&ctx, &names, &results, "stopped", out);
    Ok(0)
}

fn cmd_restart(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let (names, _) = parse_args(args, crate::flags::of("restart"))?;
    let ctx = context(g)?;
    let (_, report) = task::restart(&ctx, &names)?;
    let ok = report.failed.is_empty();
    if out.json {
        let item = |n: &String| match report.failed.iter().find(|(f, _)| f == n) {
            Some((_, e)) => {
                let mut v = e.to_json();
                v["task"] = json!(n);
                v
            }
            None => json!({"ok": true, "task": n, "action": "restarted"}),
        };
        let v = if names.len() == 1 {
            item(&names[0])
        } else if names.len() > 1 {
            json!({"ok": ok, "results": names.iter().map(item).collect::<Vec<_>>()})
        } else {
            json!({"ok": ok, "session": ctx.project.name, "action": "restarted",
                "tasks": report.started.iter().chain(report.already_running.iter()).collect::<Vec<_>>(),
                "skipped": report.skipped.iter().map(|(t, r)| json!({"task": t, "reason": r})).collect::<Vec<_>>()})
        };
        out.json(&v);
    } else {
        for n in report.started.iter().chain(report.already_running.iter()) {
            out.line(&format!("{} {n}", out.paint("restarted", Color::Green)));
        }
        for (n, r) in &report.skipped {
            out.line(&format!("{} {n}: {r}", out.paint("skipped", Color::Yellow)));
        }
        for (n, e) in &report.failed {
            out.line(&out.failed_line(n, e));
        }
    }
    Ok(if ok { 0 } else { 1 })
}

fn cmd_kill(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let (names, _) = parse_args(args, crate::flags::of("kill"))?;
    if names.len() != 1 {
        return Err(usage("kill takes exactly one TASK"));
    }
    let ctx = context(g)?;
    let had = task::kill(&ctx, &names[0])?;
    let action = if had { "killed" } else { "already_stopped" };
    if out.json {
        out.json(&json!({"ok": true, "task": names[0], "action": action}));
    } else {
        out.line(&format!("{} {}", action.replace('_', " "), names[0]));
    }
    Ok(0)
}

/// The https URL of a task with `host`, with the proxy's port when it is not 443.
pub fn task_url(project: &Project, task: &Task) -> Option<String> {
    let host = task.host.as_deref()?;
    let name = match host {
        "@" => format!("{}.localhost", project.name),
        h => format!("{h}.{}.localhost", project.name),
    };
    match crate::check::proxy_https_port().unwrap_or(443) {
        443 => Some(format!("https://{name}")),
        port => Some(format!("https://{name}:{port}")),
    }
}

fn daemon_json() -> Value {
    let pid = std::fs::read_to_string(paths::home().join("daemon.pid"))
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .filter(|p| proc::alive(*p));
    json!({"running": pid.is_some(), "pid": pid})
}

fn task_json(ctx: &Ctx, t: &Task, rt: Option<&Runtime>) -> Value {
    let running = rt.is_some_and(|r| r.running());
    let state = task::state_name(t, rt);
    let healthy: Value = if !running {
        json!(false)
    } else {
        match rt.and_then(|r| r.health.as_ref()) {
            Some(h) => json!(h.ok),
            None if health::method_for(t) == health::Method::Proc => json!(true),
            None => Value::Null,
        }
    };
    let last_health = rt
        .and_then(|r| r.health.as_ref())
        .map(|h| json!({"ok": h.ok, "method": h.method.as_str(), "reason": h.reason, "at": paths::iso_time(h.at)}));
    let port = rt
        .and_then(|r| r.port)
        .or_else(|| task::task_port(&ctx.project.name, t, false).ok().flatten());
    json!({
        "name": t.name,
        "running": running,
        "healthy": healthy,
        "state": state,
        "command": t.command,
        "auto_start": t.auto_start,
        "host": t.host,
        "url": task_url(&ctx.project, t),
        "port": port,
        "restart_policy": t.restart_policy.as_str(),
        "cwd": t.cwd_raw,
        "depends_on": t.depends_on,
        "pid": if running { rt.map(|r| json!(r.pane_pid)) } else { None },
        "started_at": rt.and_then(|r| r.started_at).map(paths::iso_time),
        "restarts": rt.map_or(0, |r| r.restarts),
        "exit_code": if running { None } else { rt.and_then(|r| r.exit_code) },
        "stale": running && rt.is_some_and(|r| r.hash != task::config_hash(t, &ctx.project)),
        "last_health": last_health,
    })
}

fn cmd_status(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let _ = parse_args(args, crate::flags::of("status"))?;
    let ctx = context(g)?;
    let rts = task::read_runtime_brief(&ctx.tmux, &ctx.project.name)?;
    let tasks: Vec<Value> = ctx
        .project
        .tasks
        .iter()
        .map(|t| task_json(&ctx, t, rts.get(&t.name)))
        .collect();
    let active = tasks.iter().filter(|t| t["running"] == json!(true)).count();
    let daemon = daemon_json();
    if out.json {
        out.json(&json!({
            "session": ctx.project.name, "running": !rts.is_empty(), "active_tasks": active,
            "daemon": daemon, "tasks": tasks,
        }));
        return Ok(0);
    }
    let auto = if daemon["running"] == json!(true) {
        format!("active (pid {})", daemon["pid"])
    } else {
        "inactive".to_string()
    };
    out.line(&format!(
        "{} {}  {active}/{} running  auto-restart: {auto}",
        out.paint("session", Color::Bold),
        ctx.project.name,
        tasks.len()
    ));
    let rows: Vec<Vec<String>> = tasks
        .iter()
        .map(|t| {
            let state = t["state"].as_str().unwrap_or("").to_string();
            let color = match state.as_str() {
                "running" => Color::Green,
                "starting" => Color::Yellow,
                "unhealthy" | "exited" => Color::Red,
                _ => Color::Dim,
            };
            let state = match t["exit_code"].as_i64() {
                Some(c) if state == "exited" => format!("exited ({c})"),
                _ => state,
            };
            let health = match &t["healthy"] {
                Value::Bool(true) => out.paint("healthy", Color::Green),
                Value::Bool(false) if t["running"] == json!(true) => out.paint("unhealthy", Color::Red),
                Value::Null => "-".into(),
                _ => out.paint("-", Color::Dim),
            };
            let cmd = t["command"].as_str().unwrap_or("");
            let cmd = if cmd.chars().count() > 48 {
                format!("{}…", cmd.chars().take(47).collect::<String>())
            } else {
                cmd.to_string()
            };
            vec![
                t["name"].as_str().unwrap_or("").to_string(),
                out.paint(&state, color),
                health,
                t["pid"].as_i64().map_or("-".into(), |p| p.to_string()),
                t["port"].as_u64().map_or("-".into(), |p| p.to_string()),
                cmd,
            ]
        })
        .collect();
    out.table(&["TASK", "STATE", "HEALTH", "PID", "PORT", "COMMAND"], &rows);
    Ok(0)
}

fn probe_all(ctx: &Ctx, rts: &HashMap<String, Runtime>) -> Vec<(String, health::Probe)> {
    let record = crate::state::State::load(&ctx.project.name)
        .env()
        .unwrap_or_else(crate::state::capture_env);
    let results: Vec<(String, health::Probe)> = std::thread::scope(|s| {
        let hs: Vec<_> = ctx
            .project
            .tasks
            .iter()
            .map(|t| {
                let rt = rts.get(&t.name);
                let record = &record;
                s.spawn(move || {
                    let running = rt.is_some_and(|r| r.running());
                    let port = rt
                        .and_then(|r| r.port)
                        .or_else(|| task::task_port(&ctx.project.name, t, false).ok().flatten());
                    let env = task::task_env(&ctx.project, t, record, port).unwrap_or_else(|_| record.clone());
                    (t.name.clone(), health::probe(t, running, &env))
                })
            })
            .collect();
        hs.into_iter()
            .zip(&ctx.project.tasks)
            .map(|(h, t)| h.join().unwrap_or_else(|_| (t.name.clone(), health::probe_crashed(t))))
            .collect()
    });
    let recs: Vec<(String, health::Probe)> = results
        .iter()
        .filter_map(|(n, p)| {
            rts.get(n)
                .filter(|r| r.running())
                .map(|r| (r.window_id.clone(), p.clone()))
        })
        .collect();
    task::record_health(&ctx.tmux, &recs);
    results
}

fn cmd_health(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let (_, flags) = parse_args(args, crate::flags::of("health"))?;
    let ctx = context(g)?;
    let rts = task::read_runtime_brief(&ctx.tmux, &ctx.project.name)?;
    let results = probe_all(&ctx, &rts);
    let healthy = results.iter().filter(|(_, p)| p.ok).count();
    if out.json {
        out.json(&json!({
            "healthy_count": healthy, "total_count": results.len(),
            "tasks": results.iter().map(|(n, p)| json!({"name": n, "healthy": p.ok, "method": p.method.as_str(), "reason": p.reason})).collect::<Vec<_>>(),
        }));
        return Ok(0);
    }
    let verbose = flags.contains_key("verbose");
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|(n, p)| {
            let mut r = vec![
                n.clone(),
                if p.ok {
                    out.paint("healthy", Color::Green)
                } else {
                    out.paint("unhealthy", Color::Red)
                },
            ];
            if verbose {
                r.push(p.method.as_str().to_string());
                r.push(p.reason.clone().unwrap_or_default());
            }
            r
        })
        .collect();
    if verbose {
        out.table(&["TASK", "HEALTH", "METHOD", "REASON"], &rows);
    } else {
        out.table(&["TASK", "HEALTH"], &rows);
    }
    out.line(&format!("{healthy}/{} healthy", results.len()));
    Ok(0)
}

fn cmd_inspect(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let (names, _) = parse_args(args, crate::flags::of("inspect"))?;
    if names.len() != 1 {
        return Err(usage("inspect takes exactly one TASK"));
    }
    let ctx = context(g)?;
    let t = ctx.project.task(&names[0])?;
    let rts = task::read_runtime_detailed(&ctx.tmux, &ctx.project.name)?;
    let rt = rts.get(&t.name);
    let mut v = task_json(&ctx, t, rt);
    let record = crate::state::State::load(&ctx.project.name).env().unwrap_or_default();
    let env_names: Vec<String> = task::task_env(&ctx.project, t, &record, v["port"].as_u64().map(|p| p as u16))
        .map(|e| e.into_iter().map(|(k, _)| k).collect())
        .unwrap_or_default();
    let log_file = t.log_file.clone().unwrap_or_else(|| {
        paths::project_dir(&ctx.project.name)
            .join("logs")
            .join(format!("{}.log", t.name))
    });
    if let Some(m) = v.as_object_mut() {
        m.insert("health_check".into(), json!(t.health_check));
        m.insert("health_url".into(), json!(t.health_url));
        m.insert("log_file".into(), json!(log_file));
        m.insert("window_id".into(), json!(rt.map(|r| &r.window_id)));
        m.insert("pane_id".into(), json!(rt.map(|r| &r.pane_id)));
        m.insert("pane_current_command".into(), json!(rt.map(|r| &r.current_command)));
        m.insert("pane_current_path".into(), json!(rt.map(|r| &r.current_path)));
        m.insert("env".into(), json!(env_names));
    }
    if out.json {
        out.json(&v);
    } else {
        let text = serde_json::to_string_pretty(&v).unwrap_or_default();
        out.line(&text);
    }
    Ok(0)
}

/// Entry point for binaries whose issue has not landed: `--help`/`--version`, else exit 2.
pub fn placeholder_main(name: &str, what: &str, args: Vec<OsString>) -> ExitCode {
    let first = args.first().map(|a| a.to_string_lossy().into_owned());
    match first.as_deref() {
        Some("-h" | "--help") => {
            println!(
                "{name} {VERSION}: {what}\n\nUsage: {name} [-h|--help] [-V|--version]\n\nNot available in this version yet."
            );
            ExitCode::SUCCESS
        }
        Some("-V" | "--version") => {
            println!("{name} {VERSION}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{name}: not available in this version yet (see '{name} --help')");
            ExitCode::from(2)
        }
    }
}
