//! The command line: global flags, dispatch of each command to its parser and renderer,
//! and the internal modes every binary answers. A command builds an [`ops::Request`] from
//! its arguments, runs it through [`ops::handle`] and renders the [`ops::Response`].

mod alias;
mod authoring;
pub mod ca;
pub mod completions;
mod config;
mod daemon;
mod dns;
mod dns_serve;
mod doctor;
pub mod flags;
mod fleet;
pub mod help;
mod jobs;
mod lifecycle;
mod logs;
mod mcp;
mod observe;
mod render;
mod request;
mod show;
mod unit;
mod watch;

pub use daemon::daemon_main;
pub use dns::dns_main;
pub use help::{COMMANDS, CommandSpec};
pub use jobs::run_main;

use crate::ctx::Ctx;
use crate::error::{Error, Kind, Result};
use crate::ops::{self, Request, Response};
use crate::tmux::Tmux;
use crate::{events, state};
use help::{command_help, main_help};
use lexopt::prelude::*;
use render::{Out, print_error};
use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

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
    /// `-p/--project NAME`: a registered project, from any directory.
    pub project: Option<String>,
    /// `-H/--host NAME|DEST`: carry the command out on that machine, over ssh.
    pub host: Option<String>,
    /// `-h/--help`.
    pub help: bool,
    /// `-V/--version`.
    pub version: bool,
}

/// Splits global flags out of the arguments (anywhere before `--`).
pub fn split_globals(args: Vec<OsString>) -> Result<(Globals, Vec<OsString>)> {
    let mut g = Globals::default();
    let mut rest: Vec<OsString> = Vec::new();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let s = a.to_string_lossy().into_owned();
        if s == "--" {
            rest.push(a);
            rest.extend(it.by_ref());
            break;
        }
        // `add TASK CMD --host H` is the task's proxy host; -H is always the machine
        if (s == "--host" || s.starts_with("--host=")) && rest.first().is_some_and(|c| c == "add") {
            rest.push(a);
            continue;
        }
        let mut value = |flag: &str, inline: Option<&str>| -> Result<String> {
            match inline {
                Some(v) => Ok(v.to_string()),
                None => it
                    .next()
                    .map(|v| v.to_string_lossy().into_owned())
                    .ok_or_else(|| Error::usage(format!("{flag} needs a value"))),
            }
        };
        match s.as_str() {
            "--json" => g.json = true,
            "-h" | "--help" => g.help = true,
            "-V" | "--version" => g.version = true,
            "-c" | "--config" => g.config = Some(value(&s, None)?.into()),
            "-L" | "--socket" => g.socket = Some(value(&s, None)?),
            "-p" | "--project" => g.project = Some(value(&s, None)?),
            "-H" | "--host" => g.host = Some(value(&s, None)?),
            _ if s.starts_with("--host=") => g.host = Some(value("--host", s.strip_prefix("--host="))?),
            _ if s.starts_with("-H") && s.len() > 2 => g.host = Some(value("-H", Some(&s[2..]))?),
            _ if s.starts_with("--project=") => g.project = Some(value("--project", s.strip_prefix("--project="))?),
            _ if s.starts_with("-p") && s.len() > 2 && !s.starts_with("--") => {
                g.project = Some(value("-p", Some(&s[2..]))?)
            }
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

/// The internal modes every binary answers, since panes and pipes run the executable that
/// started them: `__exec SPEC` (a task), `__job SPEC` (a job), `__log PATH SIZE FILES`.
pub fn internal_mode(args: &[OsString]) -> Option<ExitCode> {
    let arg = |i: usize| args.get(i).map(|a| a.to_string_lossy().into_owned());
    match arg(0).as_deref() {
        Some("__exec") => Some(arg(1).map_or(ExitCode::from(2), |s| {
            crate::task::exec_spec(&s, &pane_env(), &mut std::io::stderr())
        })),
        Some("__job") => Some(arg(1).map_or(ExitCode::from(2), |s| {
            crate::jobs::job_main(&s, &pane_env(), &mut std::io::stdout())
        })),
        Some("__log") => Some(log_writer(&args[1..])),
        Some("__tasks") => Some(completions::tasks_main(&args[1..])),
        _ => None,
    }
}

/// `taskmux __log PATH MAX_SIZE MAX_FILES [--pane-pid PID] [--home DIR --session S --task T]`:
/// the log writer `pipe-pane` runs for a task (or a job's `--log-file`).
fn log_writer(args: &[OsString]) -> ExitCode {
    let arg = |i: usize| args.get(i).map(|a| a.to_string_lossy().into_owned());
    let (Some(path), Some(size), Some(files)) = (arg(0), arg(1), arg(2)) else {
        eprintln!("taskmux: usage: taskmux __log PATH MAX_SIZE MAX_FILES [OPTIONS]");
        return ExitCode::from(2);
    };
    let (Ok(size), Ok(files)) = (size.parse::<u64>(), files.parse::<u32>()) else {
        eprintln!("taskmux: __log: MAX_SIZE and MAX_FILES must be numbers");
        return ExitCode::from(2);
    };
    let mut opts = crate::logs::WriterOptions::default();
    let (mut home, mut session, mut task) = (None, None, None);
    for pair in args[3..].chunks(2) {
        let value = pair.get(1).cloned();
        match pair[0].to_str() {
            Some("--pane-pid") => opts.pane_pid = value.and_then(|v| v.to_str()?.parse().ok()),
            Some("--home") => home = value.map(std::path::PathBuf::from),
            Some("--session") => session = value.map(|v| v.to_string_lossy().into_owned()),
            Some("--task") => task = value.map(|v| v.to_string_lossy().into_owned()),
            _ => {}
        }
    }
    if let (Some(home), Some(session), Some(task)) = (home, session, task) {
        opts.task = Some(crate::logs::TaskLog { home, session, task });
    }
    match crate::logs::write_pane_log(std::path::Path::new(&path), size, files, opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("taskmux: log writer for {path}: {e}");
            ExitCode::from(1)
        }
    }
}

/// What tmux gave the pane this process runs in.
fn pane_env() -> crate::task::PaneEnv {
    crate::task::PaneEnv {
        tmux: std::env::var_os("TMUX"),
        pane: std::env::var_os("TMUX_PANE"),
        path: std::env::var_os("PATH"),
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
        // the request loop: global flags anywhere on its line set its project and server
        "__request" if g.host.is_some() => {
            return Err(Error::usage(
                "__request answers for this machine; -H does not apply to it",
            ));
        }
        "__request" if args.is_empty() => return request::serve(g),
        "__request" => return Err(Error::usage("__request takes no arguments but the global flags")),
        "list" | "ls" => "status".to_string(),
        "help" => return help(&args, out),
        _ => cmd,
    };
    let Some(spec) = COMMANDS.iter().find(|c| c.name == cmd) else {
        return Err(Error::from(Kind::UnknownCommand(format!("Unknown command '{cmd}'")))
            .hint("see 'taskmux --help' for the commands"));
    };
    if g.help {
        out.print(&command_help(spec.name).unwrap_or_default());
        return Ok(0);
    }
    if g.version {
        out.line(&format!("taskmux {VERSION}"));
        return Ok(0);
    }
    match spec.name {
        "start" => lifecycle::start(g, args, out),
        "stop" => lifecycle::stop(g, args, out),
        "restart" => lifecycle::restart(g, args, out),
        "kill" => lifecycle::kill(g, args, out),
        "status" => observe::status(g, args, out),
        "health" => observe::health(g, args, out),
        "inspect" => observe::inspect(g, args, out),
        "send" => observe::send(g, args, out),
        "attach" => observe::attach(g, args, out),
        "logs" => logs::logs(g, args, out),
        "logs-clean" => logs::logs_clean(g, args, out),
        "events" => logs::events(g, args, out),
        "init" => authoring::init(g, args, out),
        "add" => authoring::add(g, args, out),
        "remove" => authoring::remove(g, args, out),
        "check" => authoring::check(g, args, out),
        "url" => authoring::url(g, args, out),
        "watch" => watch::watch(g, args, out),
        "run" => jobs::run(g, args, out),
        "jobs" => jobs::jobs(g, args, out),
        "mcp" => mcp::mcp(g, args, out),
        "completions" => completions::completions(g, args, out),
        "config" => config::config(g, args, out),
        "ca" => ca::ca(g, args, out),
        "doctor" => doctor::doctor(g, args, out),
        "alias" => alias::alias(g, args, out),
        "daemon" => daemon::daemon(g, args, out),
        "dns" => dns::dns(g, args, out),
        "fleet" => fleet::fleet(g, args, out),
        _ => Err(Error::internal(format!("command '{cmd}' has no handler"))),
    }
}

/// `taskmux help [COMMAND]`: the main help, or one command's.
fn help(args: &[OsString], out: &Out) -> Result<u8> {
    let topic = args.first().map(|a| a.to_string_lossy().into_owned());
    if args.len() > 1 {
        return Err(Error::usage("help takes at most one COMMAND"));
    }
    let text = match topic {
        None => main_help(),
        Some(t) => command_help(&t).ok_or_else(|| {
            Error::usage(format!("help takes a COMMAND, and there is no command '{t}'"))
                .hint("see 'taskmux --help' for the commands")
        })?,
    };
    out.print(&text);
    Ok(0)
}

/// The world of one invocation, from the global flags and the process environment: the
/// one place the environment is read. `-p NAME` gives the registered project's config,
/// tmux server and directory (`-c` and `-L` still win).
pub fn context(g: &Globals) -> Result<Ctx> {
    let ctx = context_at(g, state_home(None))?;
    match &g.project {
        None => Ok(ctx),
        Some(name) => {
            let c = ops::Context {
                project: Some(name.clone()),
                config: g.config.clone(),
                socket: g.socket.clone(),
                ..Default::default()
            };
            ops::in_context(&ctx, &c)
        }
    }
}

/// `$TASKMUX_HOME`, else `~/.taskmux` of `user_home` (the user sudo ran us for), else of
/// `$HOME`.
pub fn state_home(user_home: Option<&Path>) -> PathBuf {
    match std::env::var_os("TASKMUX_HOME").filter(|h| !h.is_empty()) {
        Some(h) => PathBuf::from(h),
        None => match user_home {
            Some(h) => h.join(".taskmux"),
            None => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into())).join(".taskmux"),
        },
    }
}

/// The user this root process runs for through sudo (`SUDO_UID`, `SUDO_GID`), and their home
/// directory; None when not root or not through sudo.
pub fn sudo_user() -> Option<(crate::daemon::privilege::User, PathBuf)> {
    use crate::daemon::privilege::{User, home_of, is_root};
    if !is_root() {
        return None;
    }
    let num = |k: &str| std::env::var(k).ok().and_then(|v| v.trim().parse::<u32>().ok());
    let user = User {
        uid: num("SUDO_UID").filter(|&u| u != 0)?,
        gid: num("SUDO_GID")?,
    };
    let home = home_of(&std::fs::read_to_string("/etc/passwd").unwrap_or_default(), user.uid)?;
    Some((user, home))
}

/// The world of a request: with `-H`, one whose every request is carried out on that
/// machine ([`Ctx::remote`]): `-p`, `-c` and `-L` then name things there, and nothing of
/// this machine but its global config (`[hosts]`, `ssh_command`) and the environment ssh
/// runs in is used. Without, [`context`].
pub fn request_context(g: &Globals) -> Result<Ctx> {
    let Some(host) = &g.host else {
        return context(g);
    };
    let here = Globals {
        host: None,
        project: None,
        config: None,
        socket: None,
        ..g.clone()
    };
    let mut ctx = context(&here)?;
    let target = crate::remote::Target {
        project: g.project.clone(),
        config: g.config.clone(),
        socket: g.socket.clone(),
    };
    let remote = crate::remote::Remote::resolve(&ctx.home, &ctx.env, host, target)?;
    ctx.remote = Some(std::sync::Arc::new(remote));
    Ok(ctx)
}

/// [`context`] with this state directory. E500 with `-H`: what asks for this world acts
/// on this machine (a daemon, a watcher, the system's trust store), and `-H` names
/// another; requests go through [`request_context`].
pub fn context_at(g: &Globals, home: PathBuf) -> Result<Ctx> {
    if let Some(h) = &g.host {
        return Err(
            Error::usage(format!("this command acts on this machine, and -H names another ({h})"))
                .hint(format!("run it there: ssh {h} taskmux ...")),
        );
    }
    let cwd = std::env::current_dir().map_err(|e| Error::from(Kind::NoCurrentDir { reason: e.to_string() }))?;
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let socket = g.socket.clone().or_else(|| var("TASKMUX_TMUX_SOCKET"));
    let hook_timeout = match var("TASKMUX_HOOK_TIMEOUT") {
        Some(v) => env_seconds("TASKMUX_HOOK_TIMEOUT", &v)?,
        None => Duration::from_secs(60),
    };
    let count = |name: &str, default: usize| var(name).map_or(Ok(default), |v| env_count(name, &v));
    let limits = events::Limits::new(
        count("TASKMUX_EVENTS_MAX", events::MAX_LINES)?,
        count("TASKMUX_EVENTS_KEEP", events::KEEP_LINES)?,
    );
    let env =
        state::record_of(std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))));
    Ok(Ctx {
        tmux: Tmux::new(socket, std::env::var_os("PATH"), Some(home.clone())),
        events: events::EventLog::new(&home, limits),
        home,
        config: g.config.clone(),
        cwd,
        env,
        hook_timeout,
        cancel: Default::default(),
        daemon: None,
        authority_held: false,
        remote: None,
        local: false,
    })
}

/// The largest count a `TASKMUX_EVENTS_*` variable takes.
const MAX_ENV_COUNT: usize = 100_000_000;

/// A duration variable of the environment: seconds, greater than 0 and at most a day.
fn env_seconds(name: &str, v: &str) -> Result<Duration> {
    let max = crate::config::MAX_SECONDS;
    match v.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 && n <= max => Ok(Duration::from_secs_f64(n.max(0.1))),
        _ => Err(Error::invalid(format!(
            "{name}={v} must be a number of seconds greater than 0 and at most {max}"
        ))
        .hint(format!("fix or unset {name}"))),
    }
}

/// A count variable of the environment: an integer from 1 to [`MAX_ENV_COUNT`].
fn env_count(name: &str, v: &str) -> Result<usize> {
    match v.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_ENV_COUNT).contains(&n) => Ok(n),
        _ => Err(
            Error::invalid(format!("{name}={v} must be an integer between 1 and {MAX_ENV_COUNT}"))
                .hint(format!("fix or unset {name}")),
        ),
    }
}

/// What changes how a response is shown to people, and nothing else: flags such as
/// `health -v` that do not change the request.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// `health -v`: the method and reason of each probe.
    pub verbose: bool,
    /// `events --all-projects`: each event's project.
    pub all_projects: bool,
}

/// Carries out a request where it belongs (here, or with `-H` on that machine) and
/// returns its response.
fn ask(g: &Globals, req: Request) -> Result<Response> {
    let ctx = request_context(g)?;
    Ok(ops::handle(&ctx, req))
}

/// Runs a request and prints its response: the JSON with `--json`, else for people. The
/// exit code comes from the response; a failed request is an error.
fn exec(g: &Globals, out: &Out, req: Request, view: &View) -> Result<u8> {
    exec_keep(g, out, req, view).map(|(code, _)| code)
}

/// [`exec`] for a command that acts on the response after printing it: it is returned
/// with the exit code.
fn exec_keep(g: &Globals, out: &Out, req: Request, view: &View) -> Result<(u8, Response)> {
    let resp = ask(g, req)?;
    let code = show(out, view, &resp)?;
    Ok((code, resp))
}

/// Prints a response (the JSON with `--json`, else for people) and gives its exit code;
/// an error response is returned as the error, for the caller to print.
pub fn show(out: &Out, view: &View, resp: &Response) -> Result<u8> {
    if let Response::Error(e) = resp {
        return Err(e.clone());
    }
    if out.json {
        print_json(out, resp)?;
    } else {
        show::human(out, view, resp)?;
    }
    Ok(resp.exit_code())
}

fn print_json(out: &Out, resp: &Response) -> Result<()> {
    out.json(&serde_json::to_value(resp).map_err(|e| Error::internal(format!("cannot encode the result: {e}")))?);
    Ok(())
}

/// The response a renderer did not expect: a bug.
fn unexpected(resp: &Response) -> Error {
    Error::internal(format!("unexpected response {resp:?}"))
}

/// The value of the flag just read, as a string (a missing value is a usage error).
pub fn flag_value(p: &mut lexopt::Parser) -> Result<String> {
    Ok(p.value()
        .map_err(|e| Error::usage(e.to_string()))?
        .to_string_lossy()
        .into_owned())
}

/// Parses a command's arguments: positional names and the given boolean flags.
fn parse_args(args: Vec<OsString>, flags: &[flags::Flag]) -> Result<(Vec<String>, HashMap<String, bool>)> {
    let bools: Vec<(&str, Option<char>)> = flags
        .iter()
        .filter(|f| f.value.is_none())
        .map(|f| (f.long, f.short))
        .collect();
    let mut p = lexopt::Parser::from_args(args);
    let mut names = Vec::new();
    let mut flags: HashMap<String, bool> = HashMap::new();
    while let Some(arg) = p.next().map_err(|e| Error::usage(e.to_string()))? {
        match arg {
            Value(v) => names.push(v.to_string_lossy().into_owned()),
            Long(l) => match bools.iter().find(|(n, _)| *n == l) {
                Some((n, _)) => {
                    flags.insert(n.to_string(), true);
                }
                None => return Err(Error::usage(format!("unknown flag --{l}"))),
            },
            Short(c) => match bools.iter().find(|(_, s)| *s == Some(c)) {
                Some((n, _)) => {
                    flags.insert(n.to_string(), true);
                }
                None => return Err(Error::usage(format!("unknown flag -{c}"))),
            },
        }
    }
    Ok((names, flags))
}

/// E500 when a command that takes no arguments got some.
fn no_arguments(cmd: &str, names: &[String]) -> Result<()> {
    match names.first() {
        Some(extra) => Err(Error::usage(format!(
            "{cmd} takes no arguments, got unexpected argument {extra:?}"
        ))),
        None => Ok(()),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn split(args: &[&str]) -> (Globals, Vec<String>) {
        let (g, rest) = split_globals(args.iter().map(OsString::from).collect()).expect("splits");
        (g, rest.iter().map(|a| a.to_string_lossy().into_owned()).collect())
    }

    #[test]
    fn host_is_global_but_add_keeps_its_proxy_host() {
        for args in [
            &["-H", "a", "status"][..],
            &["status", "--host", "a"],
            &["--host=a", "status"],
            &["-Ha", "status"],
        ] {
            let (g, rest) = split(args);
            assert_eq!(
                (g.host.as_deref(), rest),
                (Some("a"), vec!["status".to_string()]),
                "{args:?}"
            );
        }
        let (g, rest) = split(&["-H", "b", "add", "api", "x", "--host", "api"]);
        assert_eq!(g.host.as_deref(), Some("b"));
        assert_eq!(rest, ["add", "api", "x", "--host", "api"]);
        let (g, rest) = split(&["add", "api", "x", "--host=api"]);
        assert_eq!((g.host, rest.last().map(String::as_str)), (None, Some("--host=api")));
        assert!(split_globals(vec!["-H".into()]).is_err(), "-H needs a value");
    }
}
