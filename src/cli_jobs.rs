//! The hands-on commands: `taskmux-run`/`taskmux run`, `jobs`, `send`, `attach`.

use crate::cli::{Globals, VERSION, context, usage};
use crate::cmd;
use crate::config;
use crate::error::{Error, Result};
use crate::jobs::{self, Cleanup, JobInfo, RunRequest};
use crate::output::{Out, print_error};
use crate::task;
use crate::tmux::Tmux;
use lexopt::prelude::*;
use serde_json::json;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

/// `taskmux-run --help`, made from the flag table.
fn run_help() -> String {
    format!(
        "taskmux-run {VERSION}: run a command in a tagged tmux job window\n\n\
         Usage: taskmux-run [OPTIONS] -- CMD [ARGS...]\n\n\
         Where it runs: -s, else -w, else the session of the taskmux.toml found upward from here.\n\n\
         Options:\n{}{}\n\
         The command is argv: no shell runs unless you name one (taskmux-run -- sh -c '...').\n\
         Prints the JobRef as JSON: session, window_id, pane_id, window_name, tag, log_file.\n\
         With --wait, adds exit_code and exits with the job's code (128+N when killed by signal N).\n",
        crate::flags::help_lines(crate::flags::RUN),
        crate::flags::help_lines(crate::flags::GLOBAL),
    )
}

/// Where `run` and `jobs` act: a session, maybe made from a workspace.
struct Place {
    session: String,
    workspace: Option<PathBuf>,
}

fn place(config_path: Option<&PathBuf>, session: Option<String>, workspace: Option<PathBuf>) -> Result<Place> {
    if let Some(s) = session {
        if s.is_empty() || s.contains(':') || s.contains('.') {
            return Err(Error::new(
                "E500",
                format!("'{s}' is not a usable session name (no ':' or '.')"),
            ));
        }
        return Ok(Place {
            session: s,
            workspace: None,
        });
    }
    if let Some(w) = workspace {
        let (file, s) = jobs::workspace_session(&w)?;
        return Ok(Place {
            session: s,
            workspace: Some(file),
        });
    }
    let cwd =
        std::env::current_dir().map_err(|e| Error::new("E100", format!("cannot read the current directory: {e}")))?;
    match config::find(config_path.map(|p| p.as_path()), &cwd) {
        Ok(path) => Ok(Place {
            session: config::load(&path)?.name,
            workspace: None,
        }),
        Err(e) if config_path.is_some() => Err(e),
        Err(_) => Err(
            Error::new("E300", "No session to run in: no taskmux.toml here or above")
                .hint("pass -s SESSION (created when missing) or -w WORKSPACE, or run inside a taskmux project"),
        ),
    }
}

/// Entry point of `taskmux-run` (and `taskmux run`, with the global flags already read).
pub fn run_main(args: Vec<OsString>) -> ExitCode {
    if let Some(code) = crate::cli::internal_mode(&args) {
        return code;
    }
    let json = args.iter().take_while(|a| *a != "--").any(|a| a == "--json");
    match run_cmd(args, None) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            print_error(&Out::new(json), "taskmux-run", &e);
            ExitCode::from(e.exit_code())
        }
    }
}

/// `taskmux run [opts] -- CMD...`: the same as `taskmux-run`.
pub fn cmd_run(g: &Globals, args: Vec<OsString>, _out: &Out) -> Result<u8> {
    run_cmd(args, Some(g))
}

fn run_cmd(args: Vec<OsString>, globals: Option<&Globals>) -> Result<u8> {
    let mut p = lexopt::Parser::from_args(args);
    let mut config_path = globals.and_then(|g| g.config.clone());
    let mut socket = globals.and_then(|g| g.socket.clone());
    let (mut session, mut workspace, mut tag, mut window, mut cwd, mut log_file) = (None, None, None, None, None, None);
    let (mut keep, mut rm, mut wait) = (false, false, false);
    let mut env: Vec<(String, String)> = Vec::new();
    let mut argv: Vec<String> = Vec::new();
    let val = crate::cli::flag_value;
    while let Some(arg) = p.next().map_err(|e| usage(e.to_string()))? {
        match arg {
            Short('h') | Long("help") => {
                Out::new(false).print(&run_help());
                return Ok(0);
            }
            Short('V') | Long("version") => {
                Out::new(false).line(&format!("taskmux-run {VERSION}"));
                return Ok(0);
            }
            Long("json") => {}
            Short('c') | Long("config") => config_path = Some(PathBuf::from(val(&mut p)?)),
            Short('s') | Long("session") => session = Some(val(&mut p)?),
            Short('w') | Long("workspace") => workspace = Some(PathBuf::from(val(&mut p)?)),
            Short('L') | Long("socket") => socket = Some(val(&mut p)?),
            Short('t') | Long("tag") => tag = Some(jobs::clean_tag(&val(&mut p)?)),
            Long("window") => window = Some(val(&mut p)?),
            Long("cwd") => cwd = Some(PathBuf::from(val(&mut p)?)),
            Long("log-file") => log_file = Some(PathBuf::from(val(&mut p)?)),
            Short('e') | Long("env") => {
                let kv = val(&mut p)?;
                match kv.split_once('=') {
                    Some((k, v)) if !k.is_empty() => env.push((k.to_string(), v.to_string())),
                    _ => return Err(usage(format!("-e needs K=V, not '{kv}'"))),
                }
            }
            Long("keep") => keep = true,
            Long("rm") | Long("no-keep-on-fail") => rm = true,
            Long("keep-on-fail") => {}
            Long("wait") => wait = true,
            Value(v) => {
                // the command starts here: everything after it is its own
                argv.push(v.to_string_lossy().into_owned());
                argv.extend(
                    p.raw_args()
                        .map_err(|e| usage(e.to_string()))?
                        .map(|a| a.to_string_lossy().into_owned()),
                );
            }
            other => return Err(usage(format!("unknown option {}", other.unexpected()))),
        }
    }
    if argv.is_empty() {
        return Err(usage("no command after --").hint("usage: taskmux-run [OPTIONS] -- CMD [ARGS...]"));
    }
    if keep && rm {
        return Err(usage("--keep and --rm contradict each other").hint("use one of them"));
    }
    let place = place(config_path.as_ref(), session, workspace)?;
    let tmux = Tmux::new(socket);
    tmux.check_version()?;
    let cwd = match cwd {
        Some(c) => std::path::absolute(&c).unwrap_or(c),
        None => std::env::current_dir().map_err(|e| Error::new("E500", format!("no current directory: {e}")))?,
    };
    if !cwd.is_dir() {
        return Err(Error::new(
            "E213",
            format!("--cwd {} is not a directory", cwd.display()),
        ));
    }
    let log_file = log_file.map(|l| std::path::absolute(&l).unwrap_or(l));
    let req = RunRequest {
        session: place.session,
        workspace: place.workspace,
        tag: tag.unwrap_or_else(|| jobs::default_tag(&argv)),
        argv,
        cwd,
        env,
        log_file,
        window,
        cleanup: Cleanup {
            keep_on_success: keep,
            keep_on_failure: !rm,
        },
    };
    let job = jobs::run(&tmux, &req)?;
    let out = Out::new(true);
    if !wait {
        out.json(&job.to_json());
        return Ok(0);
    }
    let code = jobs::wait(&tmux, &job.id, &job.pane_id)?;
    let mut v = job.to_json();
    v["exit_code"] = json!(code);
    out.json(&v);
    Ok(code.clamp(0, 255) as u8)
}

/// `taskmux jobs [--tag T] | jobs kill (--tag T | --window-id ID | --all) | jobs wait ID`.
pub fn cmd_jobs(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let mut p = lexopt::Parser::from_args(args);
    let (mut sub, mut tag, mut window_id, mut all, mut target) = (None::<String>, None, None, false, None::<String>);
    let (mut session, mut workspace) = (None, None);
    let val = crate::cli::flag_value;
    while let Some(arg) = p.next().map_err(|e| usage(e.to_string()))? {
        match arg {
            Short('t') | Long("tag") => tag = Some(val(&mut p)?),
            Long("window-id") => window_id = Some(val(&mut p)?),
            Long("all") => all = true,
            Short('s') | Long("session") => session = Some(val(&mut p)?),
            Short('w') | Long("workspace") => workspace = Some(PathBuf::from(val(&mut p)?)),
            Value(v) if sub.is_none() => sub = Some(v.to_string_lossy().into_owned()),
            Value(v) if target.is_none() => target = Some(v.to_string_lossy().into_owned()),
            other => return Err(usage(format!("unexpected {}", other.unexpected()))),
        }
    }
    let place = place(g.config.as_ref(), session, workspace)?;
    let tmux = Tmux::new(g.socket.clone());
    tmux.check_version()?;
    let list = jobs::list(&tmux, &place.session, None)?;
    match sub.as_deref() {
        None | Some("list") | Some("ls") => {
            let shown: Vec<&JobInfo> = list
                .iter()
                .filter(|j| tag.as_ref().is_none_or(|t| &j.job.tag == t))
                .collect();
            if out.json {
                out.json(
                    &json!({"session": place.session, "jobs": shown.iter().map(|j| j.to_json()).collect::<Vec<_>>()}),
                );
            } else {
                let rows: Vec<Vec<String>> = shown
                    .iter()
                    .map(|j| {
                        vec![
                            j.job.window_id.clone(),
                            j.job.window_name.clone(),
                            if j.dead {
                                format!("exited {}", j.exit_code.map_or("?".into(), |c| c.to_string()))
                            } else {
                                "running".into()
                            },
                            j.started_at.clone().unwrap_or_default(),
                        ]
                    })
                    .collect();
                out.table(&["WINDOW", "NAME", "STATE", "STARTED"], &rows);
            }
            Ok(0)
        }
        Some("kill") => {
            let chosen: Vec<JobInfo> = if all {
                list
            } else if let Some(t) = &tag {
                list.into_iter().filter(|j| &j.job.tag == t).collect()
            } else if let Some(w) = &window_id {
                let found: Vec<JobInfo> = list
                    .into_iter()
                    .filter(|j| &j.job.window_id == w || &j.job.pane_id == w)
                    .collect();
                if found.is_empty() {
                    return Err(
                        Error::new("E220", format!("Job {w} not found in session '{}'", place.session))
                            .hint("list the jobs with 'taskmux jobs'"),
                    );
                }
                found
            } else {
                return Err(usage("jobs kill needs --tag T, --window-id ID or --all"));
            };
            jobs::kill(&tmux, &chosen)?;
            let ids: Vec<&String> = chosen.iter().map(|j| &j.job.window_id).collect();
            if out.json {
                out.json(&json!({"ok": true, "action": "killed", "jobs": ids}));
            } else {
                out.line(&format!(
                    "killed {} job window{}",
                    ids.len(),
                    if ids.len() == 1 { "" } else { "s" }
                ));
            }
            Ok(0)
        }
        Some("wait") => {
            let Some(id) = target else {
                return Err(usage(
                    "jobs wait needs a job: its window id (@N), pane id (%N) or window name",
                ));
            };
            let Some(j) = list
                .into_iter()
                .find(|j| j.job.window_id == id || j.job.pane_id == id || j.job.window_name == id)
            else {
                return Err(
                    Error::new("E220", format!("Job '{id}' not found in session '{}'", place.session))
                        .hint("a job that succeeded has closed its window; list the jobs with 'taskmux jobs'"),
                );
            };
            let code = if let Some(c) = j.exit_code {
                c
            } else {
                jobs::wait(&tmux, &j.job.id, &j.job.pane_id)?
            };
            let mut v = j.job.to_json();
            v["exit_code"] = json!(code);
            out.json(&v);
            Ok(code.clamp(0, 255) as u8)
        }
        Some(other) => Err(usage(format!("unknown jobs subcommand '{other}' (list, kill, wait)"))),
    }
}

/// `taskmux send TASK TEXT... [--no-enter]`: literal text into a running task's pane.
pub fn cmd_send(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let mut p = lexopt::Parser::from_args(args);
    let mut words: Vec<String> = Vec::new();
    let mut enter = true;
    while let Some(arg) = p.next().map_err(|e| usage(e.to_string()))? {
        match arg {
            Long("no-enter") => enter = false,
            Value(v) => words.push(v.to_string_lossy().into_owned()),
            other => return Err(usage(format!("unexpected {}", other.unexpected()))),
        }
    }
    if words.len() < 2 && !(words.len() == 1 && enter) {
        return Err(usage("send needs a TASK and TEXT"));
    }
    let name = words.remove(0);
    let ctx = context(g)?;
    let t = ctx.project.task(&name)?;
    let rts = task::read_runtime(&ctx.tmux, &ctx.project.name)?;
    let Some(rt) = rts.get(&t.name).filter(|r| r.running()) else {
        return Err(Error::new(
            "E202",
            format!("Task '{name}' is not running: nothing reads what would be sent"),
        )
        .hint(format!("start it with 'taskmux start {name}'")));
    };
    let mut chain = Vec::new();
    let text = words.join(" ");
    if !text.is_empty() {
        chain.push(cmd!["send-keys", "-t", &rt.pane_id, "-l", "--", text]);
    }
    if enter {
        chain.push(cmd!["send-keys", "-t", &rt.pane_id, "Enter"]);
    }
    ctx.tmux.run(&chain)?;
    if out.json {
        out.json(&json!({"ok": true, "task": name, "action": "sent"}));
    } else {
        out.line(&format!("sent to {name}"));
    }
    Ok(0)
}

/// `taskmux attach [TASK]`: exec `tmux attach` (or `switch-client` inside tmux).
pub fn cmd_attach(g: &Globals, args: Vec<OsString>, _out: &Out) -> Result<u8> {
    use std::os::unix::process::CommandExt;
    let mut p = lexopt::Parser::from_args(args);
    let mut name = None;
    while let Some(arg) = p.next().map_err(|e| usage(e.to_string()))? {
        match arg {
            Value(v) if name.is_none() => name = Some(v.to_string_lossy().into_owned()),
            other => return Err(usage(format!("unexpected {}", other.unexpected()))),
        }
    }
    let ctx = context(g)?;
    let session = &ctx.project.name;
    if !ctx.tmux.has_session(session)? {
        return Err(Error::new("E300", format!("Session '{session}' is not running"))
            .hint("start the project with 'taskmux start'"));
    }
    let window = match &name {
        Some(n) => {
            let t = ctx.project.task(n)?;
            let rts = task::read_runtime(&ctx.tmux, session)?;
            let Some(rt) = rts.get(&t.name) else {
                return Err(Error::new("E202", format!("Task '{n}' has no window"))
                    .hint(format!("start it with 'taskmux start {n}'")));
            };
            Some(rt.window_id.clone())
        }
        None => None,
    };
    let inside = std::env::var_os("TMUX").is_some_and(|v| !v.is_empty());
    let mut c = std::process::Command::new(ctx.tmux.bin.clone().unwrap_or_else(|| PathBuf::from("tmux")));
    if let Some(s) = &ctx.tmux.socket {
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
    Err(Error::new("E204", format!("cannot run tmux: {err}")))
}
