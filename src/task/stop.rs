//! Stop, restart and kill: C-c and the manual-stop mark in one tmux call, then
//! [`proc::terminate`] until no process of the task is left (found even when its tmux is
//! gone); `before_stop`/`after_stop` hooks; kill destroys the window.

use super::Ctx;
use super::env::{EnvFiles, hook_env};
use super::hooks::{Hook, Labels, project_hook, task_hook};
use super::launch::{authority, launch_lock, unfinished};
use super::runtime::{Runtimes, read_runtime};
use super::start::{StartReport, start};
use crate::cmd;
use crate::config::Task;
use crate::error::Result;
use crate::events::Event;
use crate::proc::{self, Target, TaskIdentity, Terminate};
use crate::state::State;
use crate::tmux::Cmd;
use std::collections::HashMap;
use std::time::Duration;

/// What `stop` did to one task.
#[derive(Debug, Clone, PartialEq)]
pub enum StopOutcome {
    /// It was running and is now stopped.
    Stopped,
    /// It was not running.
    AlreadyStopped,
    /// It had ended by itself and was waiting out its backoff to be restarted: a stop by
    /// hand cancels that restart.
    RestartCancelled,
}

/// What `stop` did: per task, and what is worth saying (an `after_stop` hook that failed).
#[derive(Debug, Clone, Default)]
pub struct StopReport {
    /// Each task asked for, in order, and what was done to it.
    pub outcomes: Vec<(String, StopOutcome)>,
    /// Failures that did not fail the stop.
    pub warnings: Vec<String>,
}

/// Stops tasks: C-c, SIGTERM to the group after `stop_grace_period`, SIGKILL 3 s later;
/// returns when no process of any of them is left. Windows stay. Marks manual-stop when
/// `manual` is set.
pub fn stop(ctx: &Ctx, names: &[String], manual: bool, run_project_hooks: bool) -> Result<StopReport> {
    let project = &ctx.project;
    let tasks: Vec<&Task> = if names.is_empty() {
        project.tasks.iter().collect()
    } else {
        names.iter().map(|n| project.task(n)).collect::<Result<_>>()?
    };
    // a stop by hand wins: its mark goes first, before it waits for the project's
    // authority, so a start in progress launches none of these any more, and a relaunch
    // decided a moment ago finds it and lets the task be
    // the tasks whose restart (after their backoff) the mark cancels
    let mut cancelled = match manual {
        true => mark_stopped(ctx, &tasks)?,
        false => Vec::new(),
    };
    let _authority = authority(ctx)?;
    let rts = read_runtime(&ctx.tmux, &project.name)?;
    let state = State::load(&ctx.home, &project.name)?;
    let record = state.env().unwrap_or_else(|| ctx.env.clone());
    let mut files = EnvFiles::default();
    let running: Vec<&Task> = tasks
        .iter()
        .copied()
        .filter(|t| rts.get(&t.name).is_some_and(|r| r.running()))
        .collect();
    // ended, with a restart scheduled (`state` backoff): the stop by hand cancelled it
    let in_backoff: Vec<&str> = tasks
        .iter()
        .filter(|t| cancelled.contains(&t.name) && rts.get(&t.name).is_some_and(|r| r.dead))
        .map(|t| t.name.as_str())
        .collect();
    // each running task's environment, built once for both of its hooks
    let envs: HashMap<String, Vec<(String, String)>> = running
        .iter()
        .map(|t| {
            let env = hook_env(project, Some(t), &record, &state, &mut files).unwrap_or_else(|_| record.clone());
            (t.name.clone(), env)
        })
        .collect();
    let project_hooks = run_project_hooks && !running.is_empty();
    let project_env = match project_hooks {
        true => hook_env(project, None, &record, &state, &mut files),
        false => Ok(Vec::new()),
    };
    let labels = Labels::for_tasks(running.iter().copied(), &[Hook::BeforeStop, Hook::AfterStop]);
    if project_hooks {
        project_hook(ctx, Hook::BeforeStop, &project_env, labels)?;
    }
    for t in &running {
        task_hook(ctx, t, Hook::BeforeStop, &envs[&t.name], labels)?;
    }

    // the manual-stop mark clears the backoff (State::set_manual_stop)
    let chain = interrupt_chain(&tasks, &rts);
    // the mark comes before the first signal, so a supervisor that sees the exit knows
    // it was ours: a manual stop it never undoes, or a restart's stop it leaves alone (a
    // start that ran while this waited may have cleared the first mark)
    if manual {
        cancelled.extend(mark_stopped(ctx, &tasks)?);
    } else if !running.is_empty() {
        State::update(&ctx.home, &project.name, |s| {
            for t in &running {
                s.set_restarting(&t.name, true);
            }
        })?;
    }
    let targets = stop_targets(ctx, &tasks, &rts);
    let cancel = &ctx.cancel;
    // the first look at the processes comes before C-c, while every pane still holds its tty
    let had = proc::terminate(&targets, &Terminate::default(), cancel, || {
        if !chain.is_empty() {
            let _ = ctx.tmux.exec(&chain);
        }
    })
    .map_err(|u| unfinished(&tasks, u))?;

    let mut out = StopReport::default();
    for (t, had) in tasks.iter().zip(had) {
        let was = running.iter().any(|r| r.name == t.name) || had;
        if was {
            ctx.events.emit(
                &project.name,
                Some(&t.name),
                Event::TaskStopped {
                    manual,
                    restart_cancelled: false,
                },
            );
            if let Some(env) = envs.get(&t.name)
                && let Err(e) = task_hook(ctx, t, Hook::AfterStop, env, labels)
            {
                out.warnings.push(e.message());
            }
        }
        let outcome = if was {
            StopOutcome::Stopped
        } else if in_backoff.contains(&t.name.as_str()) {
            ctx.events.emit(
                &project.name,
                Some(&t.name),
                Event::TaskStopped {
                    manual: true,
                    restart_cancelled: true,
                },
            );
            StopOutcome::RestartCancelled
        } else {
            StopOutcome::AlreadyStopped
        };
        out.outcomes.push((t.name.clone(), outcome));
    }
    if project_hooks && let Err(e) = project_hook(ctx, Hook::AfterStop, &project_env, labels) {
        out.warnings.push(e.message());
    }
    Ok(out)
}

/// Sets the manual-stop marks of `tasks`.
fn mark_stopped(ctx: &Ctx, tasks: &[&Task]) -> Result<Vec<String>> {
    State::update(&ctx.home, &ctx.project.name, |s| {
        let mut cancelled = Vec::new();
        for t in tasks {
            if s.facts(&t.name).backoff_until.is_some() {
                cancelled.push(t.name.clone());
            }
            s.set_manual_stop(&t.name, true);
        }
        cancelled
    })
}

/// One tmux command list for every window of the tasks: C-c to the running ones. (The
/// manual-stop mark lives in `state.json`, written before this is sent.)
fn interrupt_chain(tasks: &[&Task], rts: &Runtimes) -> Vec<Cmd> {
    let mut chain: Vec<Cmd> = Vec::new();
    for t in tasks {
        let Some(rt) = rts.get(&t.name) else { continue };
        if rt.running() {
            chain.push(cmd!["send-keys", "-t", &rt.pane_id, "C-c"]);
        }
    }
    chain
}

/// What to end for each task: its window's processes (group, session, tty, open fds on
/// the tty, marker), or, with no window, whatever carries its marker for this tmux server
/// (derived from the socket name when the server is gone); each with its
/// `stop_grace_period`.
fn stop_targets(ctx: &Ctx, tasks: &[&Task], rts: &Runtimes) -> Vec<Target> {
    let server = std::sync::OnceLock::new();
    tasks
        .iter()
        .map(|t| Target {
            id: identity(ctx, &t.name, rts, || server.get_or_init(|| server_path(ctx)).clone()),
            pane: None,
            spare_leader: false,
            grace: Duration::try_from_secs_f64(t.stop_grace_period).unwrap_or(Duration::MAX),
        })
        .collect()
}

/// How to find task `name`'s processes: from its window, else by its marker alone (the
/// server's socket path from `server`, asked only then).
fn identity(ctx: &Ctx, name: &str, rts: &Runtimes, server: impl FnOnce() -> String) -> TaskIdentity {
    match rts.get(name) {
        Some(rt) => rt.identity(&ctx.project.name),
        None => TaskIdentity {
            pane_pid: 0,
            tty_nr: None,
            marker: format!("{}/{name}", ctx.project.name),
            server: server(),
        },
    }
}

/// The tmux server's socket path, asked of the server, else derived from its socket name
/// (the server may be gone: killed with the task's session).
fn server_path(ctx: &Ctx) -> String {
    ctx.tmux.socket_path(ctx.var("TMUX_TMPDIR"))
}

/// Restarts tasks in their windows: stop (without the manual mark), then start.
pub fn restart(ctx: &Ctx, names: &[String]) -> Result<(StopReport, StartReport)> {
    // the stop leaves restart marks, so no supervisor relaunches what it ends before the
    // start below does; a stop by hand meanwhile cancels that start
    let stopped = stop(ctx, names, false, names.is_empty())?;
    let targets: Vec<String> = if names.is_empty() {
        // restart everything that ran, plus the auto_start set
        let mut v: Vec<String> = stopped
            .outcomes
            .iter()
            .filter(|(_, o)| *o == StopOutcome::Stopped)
            .map(|(n, _)| n.clone())
            .collect();
        for t in ctx
            .project
            .tasks
            .iter()
            .filter(|t| t.auto_start && ctx.project.auto_start)
        {
            if !v.contains(&t.name) {
                v.push(t.name.clone());
            }
        }
        v
    } else {
        names.to_vec()
    };
    let report = if names.is_empty() {
        // the auto_start set in dependency order, then the manual tasks that were running
        let mut report = start(ctx, &[], false)?;
        let extra: Vec<String> = targets
            .iter()
            .filter(|n| {
                ctx.project
                    .task(n)
                    .is_ok_and(|t| !(t.auto_start && ctx.project.auto_start))
            })
            .cloned()
            .collect();
        if !extra.is_empty() {
            let more = start(ctx, &extra, false)?;
            report.started.extend(more.started);
            report.already_running.extend(more.already_running);
            report.failed.extend(more.failed);
        }
        report
    } else {
        start(ctx, &targets, false)?
    };
    for n in &targets {
        ctx.events.emit(&ctx.project.name, Some(n), Event::TaskRestarted {});
    }
    Ok((stopped, report))
}

/// SIGKILLs a task's processes and destroys its window; marks manual-stop. Returns whether
/// there was anything to kill (a process or a window).
pub fn kill(ctx: &Ctx, name: &str) -> Result<bool> {
    let project = &ctx.project;
    let t = project.task(name)?;
    mark_stopped(ctx, &[t])?;
    let _authority = authority(ctx)?;
    // under the launch lock: a start never finds the window this destroys half gone
    let _lock = launch_lock(ctx)?;
    let rts = read_runtime(&ctx.tmux, &project.name)?;
    let target = Target {
        id: identity(ctx, name, &rts, || server_path(ctx)),
        pane: None,
        spare_leader: false,
        grace: Duration::ZERO,
    };
    let opts = Terminate {
        kill_at_once: true,
        rescan: Duration::ZERO,
        ..Terminate::default()
    };
    let found_any = proc::terminate(&[target], &opts, &ctx.cancel, || {})
        .map_err(|u| unfinished(&[t], u))?
        .contains(&true);
    let had_window = rts.contains_key(name);
    if let Some(rt) = rts.get(name) {
        let _ = ctx.tmux.exec(&[cmd!["kill-window", "-t", &rt.window_id]]);
    }
    State::update(&ctx.home, &project.name, |s| s.set_manual_stop(&t.name, true))?;
    ctx.events.emit(&project.name, Some(name), Event::TaskKilled {});
    Ok(found_any || had_window)
}
