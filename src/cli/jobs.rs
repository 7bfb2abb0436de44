//! `taskmux-run` (and `taskmux run`) and `taskmux jobs`: job windows from the shell.

use super::render::{Out, print_error};
use super::{Globals, VERSION, View, exec, flag_value, flags, internal_mode};
use crate::error::{Error, Result};
use crate::ops::{JobKilled, JobList, JobsKillParams, JobsParams, JobsWaitParams, Request, RunParams, Where};
use lexopt::prelude::*;
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
        flags::help_lines(flags::RUN),
        flags::help_lines(flags::GLOBAL),
    )
}

/// Entry point of `taskmux-run` (and `taskmux run`, with the global flags already read).
pub fn run_main(args: Vec<OsString>) -> ExitCode {
    if let Some(code) = internal_mode(&args) {
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
pub fn run(g: &Globals, args: Vec<OsString>, _out: &Out) -> Result<u8> {
    run_cmd(args, Some(g))
}

fn run_cmd(args: Vec<OsString>, globals: Option<&Globals>) -> Result<u8> {
    let mut p = lexopt::Parser::from_args(args);
    let mut g = globals.cloned().unwrap_or_default();
    let mut r = RunParams::default();
    let val = flag_value;
    while let Some(arg) = p.next().map_err(|e| Error::usage(e.to_string()))? {
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
            Short('c') | Long("config") => g.config = Some(PathBuf::from(val(&mut p)?)),
            Short('s') | Long("session") => r.place.session = Some(val(&mut p)?),
            Short('w') | Long("workspace") => r.place.workspace = Some(PathBuf::from(val(&mut p)?)),
            Short('L') | Long("socket") => g.socket = Some(val(&mut p)?),
            Short('p') | Long("project") => g.project = Some(val(&mut p)?),
            Short('H') | Long("host") => g.host = Some(val(&mut p)?),
            Short('t') | Long("tag") => r.tag = Some(val(&mut p)?),
            Long("window") => r.window = Some(val(&mut p)?),
            Long("cwd") => r.cwd = Some(PathBuf::from(val(&mut p)?)),
            Long("log-file") => r.log_file = Some(PathBuf::from(val(&mut p)?)),
            Short('e') | Long("env") => {
                let kv = val(&mut p)?;
                match kv.split_once('=') {
                    Some((k, v)) if !k.is_empty() => r.env.push((k.to_string(), v.to_string())),
                    _ => return Err(Error::usage(format!("-e needs K=V, not '{kv}'"))),
                }
            }
            Long("keep") => r.keep = true,
            Long("rm") | Long("no-keep-on-fail") => r.rm = true,
            Long("keep-on-fail") => {}
            Long("wait") => r.wait = true,
            Value(v) => {
                // the command starts here: everything after it is its own
                r.argv.push(v.to_string_lossy().into_owned());
                r.argv.extend(
                    p.raw_args()
                        .map_err(|e| Error::usage(e.to_string()))?
                        .map(|a| a.to_string_lossy().into_owned()),
                );
            }
            other => return Err(Error::usage(format!("unknown option {}", other.unexpected()))),
        }
    }
    if r.argv.is_empty() {
        return Err(Error::usage("no command after --").hint("usage: taskmux-run [OPTIONS] -- CMD [ARGS...]"));
    }
    if r.keep && r.rm {
        return Err(Error::usage("--keep and --rm contradict each other").hint("use one of them"));
    }
    // the JobRef is JSON whether or not --json was given
    exec(&g, &Out::new(true), Request::Run(r), &View::default())
}

/// `taskmux jobs [--tag T] | jobs kill (--tag T | --window-id ID | --all) | jobs wait ID`.
pub fn jobs(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let mut p = lexopt::Parser::from_args(args);
    let (mut sub, mut tag, mut window_id, mut all, mut target) = (None::<String>, None, None, false, None::<String>);
    let mut place = Where::default();
    while let Some(arg) = p.next().map_err(|e| Error::usage(e.to_string()))? {
        match arg {
            Short('t') | Long("tag") => tag = Some(flag_value(&mut p)?),
            Long("window-id") => window_id = Some(flag_value(&mut p)?),
            Long("all") => all = true,
            Short('s') | Long("session") => place.session = Some(flag_value(&mut p)?),
            Short('w') | Long("workspace") => place.workspace = Some(PathBuf::from(flag_value(&mut p)?)),
            Value(v) if sub.is_none() => sub = Some(v.to_string_lossy().into_owned()),
            Value(v) if target.is_none() => target = Some(v.to_string_lossy().into_owned()),
            other => return Err(Error::usage(format!("unexpected {}", other.unexpected()))),
        }
    }
    let req = match sub.as_deref() {
        None | Some("list") | Some("ls") => Request::Jobs(JobsParams { place, tag }),
        Some("kill") => {
            if !all && tag.is_none() && window_id.is_none() {
                return Err(Error::usage("jobs kill needs --tag T, --window-id ID or --all"));
            }
            Request::JobsKill(JobsKillParams {
                place,
                tag,
                window_id,
                all,
            })
        }
        Some("wait") => {
            let Some(id) = target else {
                return Err(Error::usage(
                    "jobs wait needs a job: its window id (@N), pane id (%N) or window name",
                ));
            };
            return exec(
                g,
                &Out::new(true),
                Request::JobsWait(JobsWaitParams { place, id }),
                &View::default(),
            );
        }
        Some(other) => {
            return Err(Error::usage(format!(
                "unknown jobs subcommand '{other}' (list, kill, wait)"
            )));
        }
    };
    exec(g, out, req, &View::default())
}

/// The job windows, a row each.
pub(super) fn show_jobs(out: &Out, l: &JobList) -> Result<()> {
    {
        {
            let rows: Vec<Vec<String>> = l
                .jobs
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
            Ok(())
        }
    }
}

/// How many job windows `jobs kill` ended.
pub(super) fn show_jobs_kill(out: &Out, k: &JobKilled) -> Result<()> {
    let n = k.jobs.len();
    out.line(&format!("killed {n} job window{}", if n == 1 { "" } else { "s" }));
    Ok(())
}
