//! Launching panes: the checks and environment computed before a launch ([`Prepared`]),
//! the launch spec a pane runs (`taskmux __exec`), the batched tmux command lists that make
//! or respawn task windows under the launch lock. Freeing a task's port: [`super::port`].

use super::Ctx;
use super::env::{EnvFiles, port_in, task_env_with};
use super::runtime::{Runtime, Runtimes, config_hash, read_session};
use crate::config::{Project, Task};
use crate::error::{Error, Kind, Result};
use crate::events::Event;
use crate::proc::{Target, TaskIdentity, Terminate, Unfinished};
use crate::state::State;
use crate::tmux::{Cmd, SEP, Tmux};
use crate::{cmd, paths, proc};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Everything checked and computed before a task is launched.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The task's full environment.
    pub env: Vec<(String, String)>,
    /// Its `$PORT`.
    pub port: Option<u16>,
    /// The project's stop count when it was prepared: a stop by hand after it cancels
    /// the launch.
    pub since: u64,
}

/// [`precheck`], keeping the env files it read for the environments built after it.
pub(super) fn precheck_with(project: &Project, task: &Task, files: &mut EnvFiles) -> Result<()> {
    if !task.cwd.is_dir() {
        let why = if task.cwd.exists() {
            "is not a directory"
        } else {
            "does not exist"
        };
        return Err(Error::from(Kind::CwdMissing(format!(
            "Working directory of task '{}' {why}: {}",
            task.name,
            task.cwd.display()
        )))
        .hint("create it, or fix 'cwd' (relative to the directory of taskmux.toml)"));
    }
    for f in project.env_file.iter().chain(task.env_file.iter()) {
        files.get(f)?;
    }
    if let Some(l) = &task.log_file {
        crate::logs::check_log_path(l, &format!("log_file of task '{}'", task.name))?;
    }
    Ok(())
}

/// [`prepare`] with the project's state loaded and env files read once for the whole start.
pub(super) fn prepare_with(
    ctx: &Ctx,
    task: &Task,
    record: &[(String, String)],
    state: &State,
    files: &mut EnvFiles,
) -> Result<Prepared> {
    precheck_with(&ctx.project, task, files)?;
    let port = port_in(&ctx.home, &ctx.project.name, state, task, true)?;
    let env = task_env_with(&ctx.project, task, record, port, files)?;
    Ok(Prepared {
        env,
        port,
        since: state.stops,
    })
}

fn spec_path(home: &Path, session: &str, task: &str) -> PathBuf {
    crate::ctx::project_dir(home, session)
        .join("run")
        .join(format!("{task}.json"))
}

/// What a pane runs, written as JSON by whoever launches it and read back by our own
/// binary in the pane (`taskmux __exec` for a task; a job's spec carries it too, read by
/// `taskmux __job`): the command, exactly its environment, its directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaunchSpec {
    /// The command, as argv.
    pub argv: Vec<String>,
    /// Its working directory.
    pub cwd: PathBuf,
    /// Its whole environment, in order (JSON: `[["K", "v"], …]`).
    pub env: Vec<(String, String)>,
    /// A line printed in the pane before the command runs (where a task is served).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub banner: Option<String>,
}

impl LaunchSpec {
    /// The spec as the JSON its reader expects.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::internal(format!("cannot write a launch spec: {e}")))
    }
}

/// What a launched pane runs: our own binary in `__exec` mode, reading this spec.
fn write_spec(home: &Path, session: &str, task: &Task, prep: &Prepared) -> Result<PathBuf> {
    let p = spec_path(home, session, &task.name);
    let mut spec = LaunchSpec {
        argv: vec!["/bin/sh".into(), "-c".into(), task.command.clone()],
        cwd: task.cwd.clone(),
        env: prep.env.clone(),
        banner: None,
    };
    if let (Some(host), Some(port)) = (&task.host, prep.port) {
        // the task's first line says where it is served (a broken global config was
        // reported by whoever loaded it; the defaults name the URL then)
        let url = crate::config::GlobalConfig::load(home)
            .unwrap_or_default()
            .task_url(session, host);
        spec.banner = Some(format!("[taskmux] serving {url} -> http://127.0.0.1:{port}"));
    }
    let text = spec.to_json()?;
    if std::fs::read(&p).is_ok_and(|old| old == text.as_bytes()) {
        return Ok(p);
    }
    paths::write_replace(&p, text.as_bytes(), 0o600)?;
    Ok(p)
}

/// The absolute path of the running executable (never a bare name from PATH).
pub fn self_exe() -> Result<PathBuf> {
    std::env::current_exe().map_err(|e| Error::internal(format!("cannot find the taskmux executable: {e}")))
}

/// The tmux `wait-for` channel every launch signals, in the same tmux call: a supervisor
/// waiting on it learns at once that a task of its server was (re)launched.
pub const LAUNCHED_CHANNEL: &str = "taskmux-launched";

/// The result of launching one task.
#[derive(Debug, Clone, PartialEq)]
pub enum Launch {
    /// A new process runs in the task's pane.
    Started {
        /// Its pane.
        pane_id: String,
    },
    /// It was running already.
    AlreadyRunning {
        /// Its pane.
        pane_id: String,
    },
    /// It was stopped by hand after its start began: not launched.
    Cancelled,
}

/// Launches tasks in as few tmux round trips as possible: under the project's launch lock,
/// tasks that run are left alone, dead windows are respawned in place, and new windows are
/// made with the task as their first command and their options in the same command list.
/// `seen`: a look at the session the caller took under the authority it holds, which
/// stands for the look under the lock.
pub fn launch(ctx: &Ctx, tasks: &[(&Task, &Prepared)], seen: Option<Option<&Runtimes>>) -> Result<Vec<Launch>> {
    let _authority = authority(ctx)?;
    let _lock = launch_lock(ctx)?;
    if let Some(rts) = seen.filter(|_| ctx.authority_held) {
        return launch_locked(ctx, tasks, rts);
    }
    let rts = read_session(&ctx.tmux, &ctx.project.name)?;
    launch_locked(ctx, tasks, rts.as_ref())
}

/// The project's authority, unless the caller holds it already ([`crate::ctx::Ctx`]).
pub(super) fn authority(ctx: &Ctx) -> Result<Option<crate::lock::Authority>> {
    match ctx.authority_held {
        true => Ok(None),
        false => crate::lock::authority(&ctx.home, &ctx.project.name).map(Some),
    }
}

/// The project's launch lock: held while deciding what runs and creating windows, while
/// reaping orphans before a start, and by `kill` (which destroys a window).
pub(super) fn launch_lock(ctx: &Ctx) -> Result<paths::Lock> {
    paths::lock_in(&ctx.home, &format!("{}.launch", ctx.project.name))
}

/// Ends what earlier runs of `tasks` left behind when they have no live pane now (a window
/// closed by hand, a session or server killed while a child ignored SIGHUP): the processes
/// that carry a task's marker for this tmux server. Each task reaped gets an
/// `orphan_reaped` event with the pids. Takes the launch lock and reads the session under
/// it, so a copy that a concurrent start just launched is never taken for an orphan.
pub(super) fn reap_orphans(ctx: &Ctx, tasks: &[&Task]) -> Result<()> {
    let session = &ctx.project.name;
    // first, without tmux: does any process carry one of these tasks' markers at all? The
    // common start has none, and then costs no tmux round trip
    let procs = proc::snapshot();
    let marks = proc::markers(&procs);
    let marked = |t: &Task| {
        let m = format!("{session}/{}", t.name);
        marks.values().any(|(task, _)| *task == m)
    };
    if !tasks.iter().any(|t| marked(t)) {
        return Ok(());
    }
    let _lock = launch_lock(ctx)?;
    let rts = read_session(&ctx.tmux, session)?.unwrap_or_default();
    let idle: Vec<&Task> = tasks
        .iter()
        .copied()
        .filter(|t| marked(t) && !rts.get(&t.name).is_some_and(Runtime::running))
        .collect();
    if idle.is_empty() {
        return Ok(());
    }
    let server = match rts.values().find(|r| !r.socket_path.is_empty()) {
        Some(r) => r.socket_path.clone(),
        None => ctx.tmux.socket_path(ctx.var("TMUX_TMPDIR")),
    };
    // the look that counts is the one under the lock
    let procs = proc::snapshot();
    let marks = proc::markers(&procs);
    let mut found: Vec<(&Task, Target, Vec<i32>)> = Vec::new();
    for t in idle {
        let target = Target {
            id: TaskIdentity {
                pane_pid: 0,
                tty_nr: None,
                marker: format!("{session}/{}", t.name),
                server: server.clone(),
            },
            pane: None,
            spare_leader: false,
            grace: Duration::ZERO,
        };
        let mut pids = HashSet::new();
        proc::task_processes(&target.id, &procs, &mut pids, Some(&marks));
        if !pids.is_empty() {
            let mut pids: Vec<i32> = pids.into_iter().collect();
            pids.sort_unstable();
            found.push((t, target, pids));
        }
    }
    if found.is_empty() {
        return Ok(());
    }
    let targets: Vec<Target> = found.iter().map(|(_, t, _)| t.clone()).collect();
    let names: Vec<&Task> = found.iter().map(|(t, _, _)| *t).collect();
    proc::terminate(&targets, &Terminate::default(), &ctx.cancel, || {}).map_err(|u| unfinished(&names, u))?;
    let events: Vec<(&str, Option<&str>, Event)> = found
        .iter()
        .map(|(t, _, pids)| {
            (
                session.as_str(),
                Some(t.name.as_str()),
                Event::OrphanReaped { pids: pids.clone() },
            )
        })
        .collect();
    ctx.events.emit_many(&events);
    Ok(())
}

/// The error for processes that outlived a stop, a kill or a reap (E206).
pub(super) fn unfinished(tasks: &[&Task], u: Unfinished) -> Error {
    match u {
        Unfinished::Stuck { target, pids } => Kind::ProcessesLeft {
            task: tasks.get(target).map_or("", |t| t.name.as_str()).to_string(),
            pids: pids.into_iter().collect(),
        }
        .into(),
        Unfinished::Cancelled => Error::internal("the wait for a task's processes was cancelled"),
    }
}

/// [`launch`] for a caller that holds the launch lock and has read the session (None: the
/// session does not exist).
fn launch_locked(ctx: &Ctx, tasks: &[(&Task, &Prepared)], rts: Option<&Runtimes>) -> Result<Vec<Launch>> {
    let session = &ctx.project.name;
    let exe = self_exe()?;
    let now = paths::now_secs();
    let mut results: Vec<Option<Launch>> = vec![None; tasks.len()];
    // per task, the commands that launch it: a new window (or a respawn of its dead pane)
    // whose very first command is the task, then its options, all in one command list, so
    // tmux cannot reap a fast exit before remain-on-exit is on
    let mut groups: Vec<(usize, Vec<Cmd>)> = Vec::new();
    let mut respawned: Vec<(usize, String)> = Vec::new();
    // read here, under the project's authority: a stop by hand since the start began wins
    let state = State::load(&ctx.home, session)?;
    for (i, (t, prep)) in tasks.iter().enumerate() {
        if state.stopped_since(&t.name, prep.since) {
            results[i] = Some(Launch::Cancelled);
            continue;
        }
        let rt = rts.and_then(|r| r.get(&t.name));
        if let Some(rt) = rt.filter(|r| r.running()) {
            results[i] = Some(Launch::AlreadyRunning {
                pane_id: rt.pane_id.clone(),
            });
            continue;
        }
        if let Some(rt) = rt {
            respawned.push((i, rt.pane_id.clone()));
        }
        groups.push((i, launch_group(ctx, t, prep, rt, &exe, now)?));
    }
    let new_ids = if groups.is_empty() {
        Vec::new()
    } else {
        let mut plain: Vec<Vec<Cmd>> = groups.iter().map(|(_, g)| g.clone()).collect();
        // wakes a supervisor waiting on this tmux server (taskmuxd, start -m) at once
        if let Some(last) = plain.last_mut() {
            last.push(cmd!["wait-for", "-S", LAUNCHED_CHANNEL]);
        }
        crate::tmux::parse_ids(&run_launch(ctx, session, plain, rts.is_some())?)
    };
    let mut new_ids = new_ids.into_iter();
    for (i, _) in &groups {
        let pane = match respawned.iter().find(|(r, _)| r == i) {
            Some((_, p)) => p.clone(),
            None => new_ids.next().map(|(_, p)| p).unwrap_or_default(),
        };
        results[*i] = Some(Launch::Started { pane_id: pane });
    }
    // the marks of what runs now are cleared: but a stop by hand that came while it was
    // being launched, which will end it as soon as this returns, keeps its mark
    let runs = |i: usize| !matches!(results[i], Some(Launch::Cancelled));
    if tasks
        .iter()
        .enumerate()
        .any(|(i, (t, _))| runs(i) && (state.manual_stop(&t.name) || state.restarting(&t.name)))
    {
        State::update(&ctx.home, session, |s| {
            for (i, (t, prep)) in tasks.iter().enumerate() {
                if runs(i) && !s.stopped_since(&t.name, prep.since) {
                    s.set_manual_stop(&t.name, false);
                    s.set_restarting(&t.name, false);
                }
            }
        })?;
    }
    results
        .into_iter()
        .map(|r| r.ok_or_else(|| Error::internal("a task was neither launched nor running")))
        .collect()
}

/// The command list that launches one task: a respawn of its dead pane `rt`, or a new
/// window (no -d: it becomes the session's current one, which `=S:` names), then its log
/// pipe and options.
fn launch_group(
    ctx: &Ctx,
    t: &Task,
    prep: &Prepared,
    rt: Option<&Runtime>,
    exe_path: &Path,
    now: f64,
) -> Result<Vec<Cmd>> {
    let session = &ctx.project.name;
    let exe = exe_path.to_string_lossy().into_owned();
    let spec = write_spec(&ctx.home, session, t, prep)?.to_string_lossy().into_owned();
    let cwd = t.cwd.to_string_lossy().into_owned();
    let ids = format!("#{{window_id}}{SEP}#{{pane_id}}");
    let (first, target) = match rt {
        Some(rt) => (
            cmd![
                "respawn-pane",
                "-k",
                "-t",
                &rt.pane_id,
                "-c",
                &cwd,
                &exe,
                "__exec",
                &spec
            ],
            rt.window_id.clone(),
        ),
        None => (
            cmd![
                "new-window",
                "-t",
                format!("={session}:"),
                "-n",
                &t.name,
                "-c",
                &cwd,
                "-P",
                "-F",
                &ids,
                &exe,
                "__exec",
                &spec
            ],
            format!("={session}:"),
        ),
    };
    let opt = |k: &str, v: String| cmd!["set-option", "-w", "-t", &target, k, v];
    let port = prep.port.map(|p| p.to_string()).unwrap_or_default();
    let log = crate::logs::log_path(&ctx.home, &ctx.project, t);
    let pipe = crate::logs::task_pipe_command(
        exe_path,
        &log,
        t.log_max_size,
        t.log_max_files,
        &crate::logs::TaskLog {
            home: ctx.home.clone(),
            session: session.clone(),
            task: t.name.clone(),
        },
    );
    let meta = format!("{now:.3}|{}|{port}", config_hash(t, &ctx.project));
    let mut group = vec![first];
    // the pipe is attached in the same command list as the spawn, before tmux reads the
    // pane's first byte. A reused pane's pipe is replaced (pipe-pane without -o closes the
    // old one first, never toggles): the old writer sees its end and writes out a partial
    // last line, so the new run's first line never gets glued to the old run's last.
    group.push(cmd!["pipe-pane", "-t", &target, pipe]);
    group.extend([
        opt("remain-on-exit", "on".into()),
        opt("@taskmux-task", t.name.clone()),
        opt("@taskmux-meta", meta),
    ]);
    if rt.is_some() {
        // a reused window: forget its last probe
        group.push(opt("@taskmux-health", String::new()));
    }
    Ok(group)
}

/// Runs the launch groups; without a session, the first task's window is made as the
/// session's first window (under the session lock), unless a concurrent start made it.
fn run_launch(ctx: &Ctx, session: &str, groups: Vec<Vec<Cmd>>, session_exists: bool) -> Result<String> {
    let tmux = &ctx.tmux;
    if session_exists {
        return run_groups(tmux, groups);
    }
    let _lock = paths::lock_in(&ctx.home, session)?;
    let mut with_session = groups.clone();
    let c = &mut with_session[0][0];
    if c[0] == "new-window" {
        *c = Tmux::as_new_session(c, session);
    }
    match run_groups(tmux, with_session) {
        Err(e) if e.message().contains("duplicate session") => run_groups(tmux, groups),
        other => other,
    }
}

/// Runs groups of commands in as few invocations as tmux's message size allows, never
/// splitting a group.
fn run_groups(tmux: &Tmux, groups: Vec<Vec<Cmd>>) -> Result<String> {
    let mut out = String::new();
    let mut batch: Vec<Cmd> = Vec::new();
    let mut size = 0;
    for g in groups.into_iter().filter(|g| !g.is_empty()) {
        let len: usize = g.iter().flat_map(|c| c.iter()).map(|a| a.len() + 8).sum();
        if size + len > 12_000 && !batch.is_empty() {
            out.push_str(&tmux.run(&std::mem::take(&mut batch))?);
            size = 0;
        }
        size += len;
        batch.extend(g);
    }
    if !batch.is_empty() {
        out.push_str(&tmux.run(&batch)?);
    }
    Ok(out)
}

/// What tmux gave a pane's own process, read by the front that runs in it (`__exec`,
/// `__job`) and handed to the command it runs.
#[derive(Debug, Clone, Default)]
pub struct PaneEnv {
    /// `TMUX`: the server's socket, for a task that drives tmux itself.
    pub tmux: Option<std::ffi::OsString>,
    /// `TMUX_PANE`: the pane's id.
    pub pane: Option<std::ffi::OsString>,
    /// `PATH`, to find tmux for a job's wrapper.
    pub path: Option<std::ffi::OsString>,
}

/// Runs a launch spec: sets the environment and directory and execs the command. This is
/// the pane's own process, so after the exec the task's pid is the pane's pid. Returns only
/// when the exec failed, having said why on `err`.
pub fn exec_spec(spec_path: &str, pane: &PaneEnv, err: &mut dyn std::io::Write) -> std::process::ExitCode {
    use std::os::unix::process::CommandExt;
    let spec: LaunchSpec = match std::fs::read(spec_path).map(|b| serde_json::from_slice(&b)) {
        Ok(Ok(v)) => v,
        _ => {
            let _ = writeln!(err, "taskmux: cannot read launch spec {spec_path}");
            return std::process::ExitCode::from(127);
        }
    };
    let Some(mut c) = spec_command(&spec, pane) else {
        let _ = writeln!(err, "taskmux: empty command in {spec_path}");
        return std::process::ExitCode::from(127);
    };
    let prog = c.get_program().to_string_lossy().into_owned();
    quiet_control_echo();
    if let Some(b) = &spec.banner {
        println!("{b}");
    }
    let e = c.exec();
    let _ = writeln!(err, "taskmux: cannot run {prog}: {e}");
    std::process::ExitCode::from(127)
}

/// The command a launch or job spec describes: its argv, exactly its environment (plus the
/// `TMUX`/`TMUX_PANE` tmux gave this pane) and its directory. None for an empty argv.
pub fn spec_command(spec: &LaunchSpec, pane: &PaneEnv) -> Option<std::process::Command> {
    let (prog, args) = spec.argv.split_first()?;
    let mut c = std::process::Command::new(prog);
    c.args(args).env_clear();
    for (k, v) in [("TMUX", &pane.tmux), ("TMUX_PANE", &pane.pane)] {
        if let Some(v) = v {
            c.env(k, v);
        }
    }
    c.envs(spec.env.iter().map(|(k, v)| (k, v)));
    c.current_dir(&spec.cwd);
    Some(c)
}

/// Turns off the tty's echo of control characters, so `stop`'s C-c does not leave a `^C`
/// in the pane and the log.
fn quiet_control_echo() {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    if let Ok(mut t) = tcgetattr(&stdin) {
        t.local_modes.remove(LocalModes::ECHOCTL);
        let _ = tcsetattr(&stdin, OptionalActions::Now, &t);
    }
}
