//! `status`: every task of the project, from one tmux read; with an invalid config, what
//! tmux has of the session.

use super::{Ctx, Warning, lifecycle_ctx};
use crate::config::{GlobalConfig, Project, RestartPolicy, Task};
use crate::error::{Error, Result};
use crate::health::{self, Method};
use crate::state::State;
use crate::task::{self, Runtime, TaskState};
use crate::{paths, proc};
use serde::Serialize;

/// Whether the daemon runs, and who supervises the project (the daemon or a `start -m`
/// monitor), from their locks: no round trip.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct DaemonState {
    /// It runs.
    pub running: bool,
    /// Its pid.
    pub pid: Option<i32>,
    /// The pid of the process that restarts this project's tasks, if one does.
    pub supervisor_pid: Option<i32>,
}

impl DaemonState {
    fn read(ctx: &Ctx, session: &str) -> DaemonState {
        let pid = crate::lock::running_pid(&ctx.home);
        DaemonState {
            running: pid.is_some(),
            pid,
            supervisor_pid: crate::lock::holder(&crate::lock::supervise_lock(&ctx.home, session)),
        }
    }
}

/// The last probe recorded for a task.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct HealthSeen {
    /// It passed.
    pub ok: bool,
    /// `http`, `shell`, `tcp` or `proc`.
    pub method: Method,
    /// Why it failed.
    pub reason: Option<String>,
    /// When (ISO-8601).
    pub at: String,
}

/// One task in `status` (taskmux(1) `status`).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct TaskStatus {
    /// The task.
    pub name: String,
    /// Its pane is alive.
    pub running: bool,
    /// Its last probe passed (`null`: not probed since its start).
    pub healthy: Option<bool>,
    /// `running`, `starting`, `unhealthy`, `stopped`, `exited` or `backoff`.
    pub state: TaskState,
    /// The command.
    pub command: String,
    /// Started by `start` with no names.
    pub auto_start: bool,
    /// The proxy host.
    pub host: Option<String>,
    /// The https URL, for a task with `host`.
    pub url: Option<String>,
    /// `$PORT`.
    pub port: Option<u16>,
    /// `no`, `on-failure` or `always`.
    pub restart_policy: RestartPolicy,
    /// `cwd` as written.
    pub cwd: Option<String>,
    /// Its dependencies.
    pub depends_on: Vec<String>,
    /// The pane's process, while it runs.
    pub pid: Option<i32>,
    /// The process of the command asked for, while it runs: the pane's process when the
    /// command was exec'd, else the only child of its `sh -c` wrapper (null when several).
    pub command_pid: Option<i32>,
    /// When it was launched.
    pub started_at: Option<String>,
    /// Automatic restarts.
    pub restarts: u32,
    /// When a task in `backoff` will be restarted (ISO-8601).
    pub next_restart_at: Option<String>,
    /// The exit code of a dead pane.
    pub exit_code: Option<i32>,
    /// It runs a command, env or cwd that differs from the config on disk.
    pub stale: bool,
    /// The last probe.
    pub last_health: Option<HealthSeen>,
    /// Its log cannot be written (disk full, …): why, and the bytes dropped since.
    pub log_error: Option<crate::logs::LogError>,
}

/// The last probe tmux holds for a task's window.
fn last_health(rt: &Runtime) -> Option<HealthSeen> {
    rt.health.as_ref().map(|h| HealthSeen {
        ok: h.ok,
        method: h.method,
        reason: h.reason.clone(),
        at: paths::iso_time(h.at),
    })
}

impl TaskStatus {
    pub(super) fn new(project: &Project, global: &GlobalConfig, t: &Task, rt: Option<&Runtime>, state: &State) -> Self {
        let running = rt.is_some_and(|r| r.running());
        let facts = state.facts(&t.name);
        let seen = rt.and_then(last_health);
        let healthy = if !running {
            Some(false)
        } else {
            match &seen {
                Some(h) => Some(h.ok),
                None if health::method_for(t) == Method::Proc => Some(true),
                None => None,
            }
        };
        TaskStatus {
            name: t.name.clone(),
            running,
            healthy,
            state: task::state_name(t, rt, state.manual_stop(&t.name), facts.backoff_until.is_some()),
            command: t.command.clone(),
            auto_start: t.auto_start,
            host: t.host.clone(),
            url: t.host.as_deref().map(|h| global.task_url(&project.name, h)),
            port: rt.and_then(|r| r.port).or_else(|| task::known_port(state, t)),
            restart_policy: t.restart_policy,
            cwd: t.cwd_raw.clone(),
            depends_on: t.depends_on.clone(),
            pid: if running { rt.map(|r| r.pane_pid) } else { None },
            command_pid: rt
                .filter(|_| running)
                .and_then(|r| proc::command_pid(r.pane_pid, &r.comm)),
            started_at: rt.and_then(|r| r.started_at).map(paths::iso_time),
            restarts: facts.restarts,
            next_restart_at: facts
                .backoff_until
                .filter(|_| rt.is_some_and(|r| !running && r.dead))
                .map(paths::iso_time),
            exit_code: if running { None } else { rt.and_then(|r| r.exit_code) },
            stale: running && rt.is_some_and(|r| r.hash != task::config_hash(t, project)),
            last_health: seen,
            log_error: None,
        }
    }
}

/// `status`: every task of the project.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Status {
    /// The session.
    pub session: String,
    /// The session exists.
    pub running: bool,
    /// Tasks running.
    pub active_tasks: usize,
    /// The daemon.
    pub daemon: DaemonState,
    /// Every task, in config order.
    pub tasks: Vec<TaskStatus>,
    /// What is worth saying.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
}

/// The global config, or its defaults with a warning when it is broken: a broken global
/// config must not hide what runs.
pub(super) fn global_or_default(ctx: &Ctx, warnings: &mut Vec<Warning>) -> GlobalConfig {
    GlobalConfig::load(&ctx.home).unwrap_or_else(|e| {
        warnings.push(Warning(e.message()));
        GlobalConfig::default()
    })
}

/// `status`. With a config that does not validate, what runs is still shown, from tmux
/// alone, with the config's error as a warning: a person mid-edit sees their tasks.
pub fn status(ctx: &Ctx) -> Result<Status> {
    let lc = match lifecycle_ctx(ctx) {
        Ok(lc) => lc,
        Err(e) if e.exit_code() == 2 && e.code() != "E100" => return status_from_tmux(ctx, &e),
        Err(e) => return Err(e),
    };
    let mut warnings = Vec::new();
    let global = global_or_default(ctx, &mut warnings);
    let rts = task::read_runtime_brief(&lc.tmux, &lc.project.name)?;
    let state = State::load(&ctx.home, &lc.project.name)?;
    let mut log_errors = crate::logs::log_errors(&ctx.home, &lc.project.name);
    let tasks: Vec<TaskStatus> = lc
        .project
        .tasks
        .iter()
        .map(|t| TaskStatus::new(&lc.project, &global, t, rts.get(&t.name), &state))
        .map(|s| TaskStatus {
            log_error: log_errors.remove(&s.name),
            ..s
        })
        .collect();
    Ok(Status {
        session: lc.project.name.clone(),
        running: !rts.is_empty(),
        active_tasks: tasks.iter().filter(|t| t.running).count(),
        daemon: DaemonState::read(ctx, &lc.project.name),
        tasks,
        warnings,
    })
}

/// `status` of the session the invalid config would name (its `name`, or its directory's
/// default name): every task window tmux has, with only what tmux knows of it.
fn status_from_tmux(ctx: &Ctx, invalid: &Error) -> Result<Status> {
    let path = super::config_path(ctx)?;
    let Some(session) = crate::config::project_name_of(&path) else {
        return Err(invalid.clone());
    };
    ctx.tmux.check_version()?;
    let rts = task::read_runtime_brief(&ctx.tmux, &session)?;
    let state = State::load(&ctx.home, &session).unwrap_or_default();
    let dir = path.parent().unwrap_or(std::path::Path::new("/"));
    let mut windows: Vec<&Runtime> = rts.values().collect();
    windows.sort_by_key(|r| r.window_id.trim_start_matches('@').parse::<u64>().unwrap_or(u64::MAX));
    let tasks: Vec<TaskStatus> = windows
        .into_iter()
        .map(|rt| {
            let t = Task::defaults(&rt.task, dir);
            let running = rt.running();
            let facts = state.facts(&rt.task);
            TaskStatus {
                name: rt.task.clone(),
                running,
                healthy: if running {
                    rt.health.as_ref().map(|h| h.ok)
                } else {
                    Some(false)
                },
                state: task::state_name(&t, Some(rt), state.manual_stop(&rt.task), facts.backoff_until.is_some()),
                command: String::new(),
                auto_start: t.auto_start,
                host: None,
                url: None,
                port: rt.port,
                restart_policy: t.restart_policy,
                cwd: None,
                depends_on: Vec::new(),
                pid: running.then_some(rt.pane_pid),
                command_pid: running.then(|| proc::command_pid(rt.pane_pid, &rt.comm)).flatten(),
                started_at: rt.started_at.map(paths::iso_time),
                restarts: facts.restarts,
                next_restart_at: facts.backoff_until.filter(|_| rt.dead).map(paths::iso_time),
                exit_code: if running { None } else { rt.exit_code },
                stale: false,
                last_health: last_health(rt),
                log_error: crate::logs::log_error(&ctx.home, &session, &rt.task),
            }
        })
        .collect();
    Ok(Status {
        daemon: DaemonState::read(ctx, &session),
        session,
        running: !rts.is_empty(),
        active_tasks: tasks.iter().filter(|t| t.running).count(),
        tasks,
        warnings: vec![Warning(format!(
            "the config is invalid, so only what tmux knows is shown: error[{}]: {}",
            invalid.code(),
            invalid.message()
        ))],
    })
}
