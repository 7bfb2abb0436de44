//! The task lifecycle: reading runtime state from tmux, environments, launching panes,
//! dependency-ordered and health-gated start, hooks, ports, stop (by proc::terminate), restart, kill.

use crate::config::{Project, Task, read_env_file};
use crate::error::{Error, Result};
use crate::health::{self, Probe};
use crate::proc::{self, Cancel, Target, TaskIdentity, Terminate, Unfinished};
use crate::state::{self, State};
use crate::tmux::{Cmd, SEP, Tmux};
use crate::{cmd, events, paths};
use rustix::process::Signal;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Everything a lifecycle operation needs: the project and the tmux server.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The loaded config.
    pub project: Project,
    /// The tmux server.
    pub tmux: Tmux,
}

/// What tmux knows about a task's window, read in one `list-panes`.
#[derive(Debug, Clone, Default)]
pub struct Runtime {
    /// The task's name (`@taskmux-task`).
    pub task: String,
    /// `@N`.
    pub window_id: String,
    /// `%N`.
    pub pane_id: String,
    /// The pane's process.
    pub pane_pid: i32,
    /// Whether that process was alive in /proc when this was read.
    pub alive: bool,
    /// Whether tmux reports the pane dead.
    pub dead: bool,
    /// Exit code of a dead pane (128+N when killed by signal N).
    pub exit_code: Option<i32>,
    /// The pane's tty path.
    pub tty: String,
    /// When the task was launched (epoch seconds).
    pub started_at: Option<f64>,
    /// Automatic restarts so far.
    pub restarts: u32,
    /// Stopped by hand.
    pub manual_stop: bool,
    /// Hash of the command/env/cwd it was launched with.
    pub hash: String,
    /// Its `$PORT`.
    pub port: Option<u16>,
    /// The last probe recorded: (ok, method, reason, at).
    pub health: Option<(bool, String, Option<String>, f64)>,
    /// The tmux server's socket path.
    pub socket_path: String,
    /// The pane's foreground command.
    pub current_command: String,
    /// The pane's current directory.
    pub current_path: String,
}

impl Runtime {
    /// Running: the pane is not dead and its process is alive in /proc.
    pub fn running(&self) -> bool {
        !self.dead && self.alive
    }

    fn identity(&self, session: &str) -> TaskIdentity {
        TaskIdentity {
            // a dead pane's pid and tty are free for any new process or terminal to take:
            // never match by them (the marker still finds what the task left behind)
            pane_pid: if self.running() { self.pane_pid } else { 0 },
            tty_nr: if self.running() {
                proc::tty_nr_of(&self.tty)
            } else {
                None
            },
            marker: format!("{session}/{}", self.task),
            server: self.socket_path.clone(),
        }
    }
}

/// What `list-panes` reads: the first 11 fields are enough for `status`; the tty and the
/// socket are for finding processes at stop; the last two cost tmux a look into /proc per
/// pane and are for `inspect` only. Every field is work for tmux on every pane.
const FIELDS: &[&str] = &[
    "@taskmux-task",
    "window_id",
    "pane_id",
    "pane_pid",
    "pane_dead",
    "pane_dead_status",
    "pane_dead_signal",
    "@taskmux-meta",
    "@taskmux-restarts",
    "@taskmux-manual-stop",
    "@taskmux-health",
    "pane_tty",
    "socket_path",
    "pane_current_command",
    "pane_current_path",
];
const BRIEF: usize = 11;
const WITH_PROCESS: usize = 13;

/// The runtime state of a session's tasks, by task name.
pub type Runtimes = HashMap<String, Runtime>;

/// Reads the runtime state of every task window of the session, in one tmux call.
pub fn read_runtime(tmux: &Tmux, session: &str) -> Result<Runtimes> {
    Ok(read_session(tmux, session)?.unwrap_or_default())
}

/// Like [`read_runtime`], and also each pane's current command and directory, which cost
/// tmux a look into /proc per pane: for `inspect`.
pub fn read_runtime_detailed(tmux: &Tmux, session: &str) -> Result<Runtimes> {
    Ok(read_fields(tmux, session, FIELDS)?.unwrap_or_default())
}

/// Like [`read_runtime`], but None when the session does not exist.
pub fn read_session(tmux: &Tmux, session: &str) -> Result<Option<Runtimes>> {
    read_fields(tmux, session, &FIELDS[..WITH_PROCESS])
}

/// What `status` and `health` need, without what stopping needs (the tty and socket).
pub fn read_runtime_brief(tmux: &Tmux, session: &str) -> Result<Runtimes> {
    Ok(read_fields(tmux, session, &FIELDS[..BRIEF])?.unwrap_or_default())
}

fn read_fields(tmux: &Tmux, session: &str, fields: &[&str]) -> Result<Option<Runtimes>> {
    let Some(rows) = tmux.list_panes(Some(session), fields)? else {
        return Ok(None);
    };
    let mut out: Runtimes = HashMap::new();
    for r in rows {
        if r.len() < fields.len() || r[0].is_empty() {
            continue;
        }
        let num = |s: &str| s.parse::<i32>().ok();
        let dead = r[4] == "1";
        let exit_code = if dead {
            proc::exit_code(num(&r[5]), num(&r[6]), num(&r[3]).unwrap_or(0))
        } else {
            None
        };
        let health = {
            let p: Vec<&str> = r[10].splitn(4, '|').collect();
            (p.len() == 4).then(|| {
                (
                    p[0] == "1",
                    p[1].to_string(),
                    (!p[3].is_empty()).then(|| p[3].to_string()),
                    p[2].parse().unwrap_or(0.0),
                )
            })
        };
        // @taskmux-meta is "started|config hash|port"
        let mut meta = r[7].split('|');
        let rt = Runtime {
            task: r[0].clone(),
            window_id: r[1].clone(),
            pane_id: r[2].clone(),
            pane_pid: num(&r[3]).unwrap_or(0),
            alive: !dead && proc::alive(num(&r[3]).unwrap_or(0)),
            dead,
            exit_code,
            tty: r.get(11).cloned().unwrap_or_default(),
            started_at: meta.next().and_then(|v| v.parse().ok()),
            hash: meta.next().unwrap_or_default().to_string(),
            port: meta.next().and_then(|v| v.parse().ok()),
            restarts: r[8].parse().unwrap_or(0),
            manual_stop: r[9] == "1",
            health,
            socket_path: r.get(12).cloned().unwrap_or_default(),
            current_command: r.get(13).cloned().unwrap_or_default(),
            current_path: r.get(14).cloned().unwrap_or_default(),
        };
        // with duplicate windows for one task, a live one wins
        match out.get(&rt.task) {
            Some(prev) if !prev.dead => {}
            _ => {
                out.insert(rt.task.clone(), rt);
            }
        }
    }
    Ok(Some(out))
}

/// A stable hash of what a task is launched with, to tell when the config changed under it.
pub fn config_hash(task: &Task, project: &Project) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |s: &str| {
        for b in s.bytes().chain(std::iter::once(0)) {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    feed(&task.command);
    feed(&task.cwd.to_string_lossy());
    for (k, v) in project.env.iter().chain(task.env.iter()) {
        feed(k);
        feed(v);
    }
    for f in project.env_file.iter().chain(task.env_file.iter()) {
        feed(&f.to_string_lossy());
    }
    feed(&task.port.map(|p| p.to_string()).unwrap_or_default());
    feed(task.host.as_deref().unwrap_or(""));
    format!("{h:016x}")
}

/// The environment of record: the stored one, or this process's, stored now.
pub fn record_env(session: &str, refresh: bool) -> Result<Vec<(String, String)>> {
    if !refresh && let Some(e) = State::load(session).env() {
        return Ok(e);
    }
    let env = state::capture_env();
    if State::load(session).env().as_ref() != Some(&env) {
        State::update(session, |s| s.set_env(&env))?;
    }
    Ok(env)
}

/// Adds `more` to `env`: a variable already there takes the new value in its place, a new
/// one goes at the end. The one way variables are layered (record, `[env]`, files, task).
pub fn merge_env(env: &mut Vec<(String, String)>, more: impl IntoIterator<Item = (String, String)>) {
    for (k, v) in more {
        if let Some(slot) = env.iter_mut().find(|(ek, _)| *ek == k) {
            slot.1 = v;
        } else {
            env.push((k, v));
        }
    }
}

/// The `$PORT` of a task: `port`, else the port assigned for `host` (picked once, kept in
/// state.json so it is stable across restarts).
pub fn task_port(session: &str, task: &Task, assign: bool) -> Result<Option<u16>> {
    if let Some(p) = task.port {
        return Ok(Some(p));
    }
    if task.host.is_none() {
        return Ok(None);
    }
    if let Some(p) = State::load(session).port(&task.name) {
        return Ok(Some(p));
    }
    if !assign {
        return Ok(None);
    }
    State::update(session, |s| {
        if let Some(p) = s.port(&task.name) {
            return Some(p);
        }
        let p = std::net::TcpListener::bind(("127.0.0.1", 0))
            .ok()?
            .local_addr()
            .ok()?
            .port();
        s.set_port(&task.name, p);
        Some(p)
    })
}

/// A task's full environment: record + `[env]` + env files + task `env` + `PORT` + marker.
pub fn task_env(
    project: &Project,
    task: &Task,
    record: &[(String, String)],
    port: Option<u16>,
) -> Result<Vec<(String, String)>> {
    let mut env = record.to_vec();
    merge_env(&mut env, project.env.iter().cloned());
    for f in project.env_file.iter().chain(task.env_file.iter()) {
        merge_env(&mut env, read_env_file(f)?);
    }
    merge_env(&mut env, task.env.iter().cloned());
    if let Some(p) = port {
        merge_env(&mut env, [("PORT".to_string(), p.to_string())]);
    }
    merge_env(
        &mut env,
        [("TASKMUX_TASK".to_string(), format!("{}/{}", project.name, task.name))],
    );
    merge_env(&mut env, [("TASKMUX_SESSION".to_string(), project.name.clone())]);
    Ok(env)
}

/// The environment hooks and probes of a task run with (or the project's, for global hooks).
fn hook_env(project: &Project, task: Option<&Task>, record: &[(String, String)]) -> Result<Vec<(String, String)>> {
    match task {
        Some(t) => task_env(project, t, record, task_port(&project.name, t, false)?),
        None => {
            let mut env = record.to_vec();
            merge_env(&mut env, project.env.iter().cloned());
            for f in &project.env_file {
                merge_env(&mut env, read_env_file(f)?);
            }
            Ok(env)
        }
    }
}

fn hook_timeout() -> Duration {
    let secs = std::env::var("TASKMUX_HOOK_TIMEOUT")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(60.0);
    Duration::from_secs_f64(secs.max(0.1))
}

/// Runs one hook in the project directory with the given environment and a timeout.
/// Its output goes to stderr so `--json` stdout stays clean.
pub fn run_hook(project: &Project, which: &str, task: Option<&str>, cmd: &str, env: &[(String, String)]) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let mut c = std::process::Command::new("/bin/sh");
    c.arg("-c")
        .arg(cmd)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(&project.dir);
    c.stdin(std::process::Stdio::null());
    if let Ok(fd) = std::os::fd::AsFd::as_fd(&std::io::stderr()).try_clone_to_owned() {
        c.stdout(std::process::Stdio::from(fd));
    }
    c.process_group(0);
    let whose = match task {
        Some(t) => format!("{which} hook of task '{t}'"),
        None => format!("project {which} hook"),
    };
    let timeout = hook_timeout();
    let details = json!({"hook": which, "task": task, "command": cmd});
    match health::run_with_timeout(c, timeout) {
        Ok((Some(0), _)) => Ok(()),
        Ok((Some(code), _)) => Err(
            Error::new("E400", format!("{whose} failed with exit code {code}: {cmd}"))
                .hint("fix the hook, or run it by hand from the project directory to see why")
                .details({
                    let mut d = details;
                    d["exit_code"] = json!(code);
                    d
                }),
        ),
        Ok((None, _)) => Err(Error::new(
            "E401",
            format!("{whose} timed out after {:.0}s: {cmd}", timeout.as_secs_f64()),
        )
        .hint("make the hook finish sooner, or raise TASKMUX_HOOK_TIMEOUT (seconds)")
        .details(details)),
        Err(e) => Err(Error::new("E400", format!("{whose} could not run: {e}")).details(details)),
    }
}

fn project_hook(ctx: &Ctx, which: &str, record: &[(String, String)]) -> Result<()> {
    let h = &ctx.project.hooks;
    let cmd = match which {
        "before_start" => &h.before_start,
        "after_start" => &h.after_start,
        "before_stop" => &h.before_stop,
        _ => &h.after_stop,
    };
    match cmd {
        Some(c) => run_hook(&ctx.project, which, None, c, &hook_env(&ctx.project, None, record)?),
        None => Ok(()),
    }
}

fn task_hook(ctx: &Ctx, task: &Task, which: &str, env: &[(String, String)]) -> Result<()> {
    let h = &task.hooks;
    let cmd = match which {
        "before_start" => &h.before_start,
        "after_start" => &h.after_start,
        "before_stop" => &h.before_stop,
        _ => &h.after_stop,
    };
    match cmd {
        Some(c) => run_hook(&ctx.project, which, Some(&task.name), c, env),
        None => Ok(()),
    }
}

/// Frees a TCP port: kills whatever listens on it, TERM then KILL. E205 when it stays taken.
pub fn free_port(port: u16, task: &str) -> Result<()> {
    if !proc::port_listening(port) {
        return Ok(());
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut sent_kill = false;
    loop {
        let pids = proc::listeners(port);
        if !proc::port_listening(port) {
            return Ok(());
        }
        if pids.is_empty() && Instant::now() >= deadline {
            return Err(Error::new(
                "E205",
                format!("Port {port} of task '{task}' is in use by a process taskmux cannot see or signal"),
            )
            .hint(format!(
                "find it with 'ss -ltnp sport = :{port}' and stop it, or change the task's port"
            )));
        }
        let late = Instant::now() + Duration::from_secs(2) >= deadline;
        for &p in &pids {
            proc::signal(p, if late { Signal::KILL } else { Signal::TERM });
        }
        sent_kill |= late;
        if Instant::now() >= deadline {
            return Err(Error::new(
                "E205",
                format!("Port {port} of task '{task}' could not be freed (pids {pids:?})"),
            )
            .hint("those processes may belong to another user; stop them or change the task's port")
            .details(json!({"port": port, "pids": pids, "killed": sent_kill})));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Everything checked and computed before a task is launched.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The task's full environment.
    pub env: Vec<(String, String)>,
    /// Its `$PORT`.
    pub port: Option<u16>,
}

/// Checks what can be checked without writing anything: cwd exists, env files read.
pub fn precheck(project: &Project, task: &Task) -> Result<()> {
    if !task.cwd.is_dir() {
        return Err(Error::new(
            "E213",
            format!(
                "Working directory of task '{}' does not exist: {}",
                task.name,
                task.cwd.display()
            ),
        )
        .hint("create it, or fix 'cwd' (relative to the directory of taskmux.toml)"));
    }
    for f in project.env_file.iter().chain(task.env_file.iter()) {
        read_env_file(f)?;
    }
    Ok(())
}

/// Checks what can be checked before anything starts and computes the environment.
pub fn prepare(ctx: &Ctx, task: &Task, record: &[(String, String)]) -> Result<Prepared> {
    precheck(&ctx.project, task)?;
    let port = task_port(&ctx.project.name, task, true)?;
    let env = task_env(&ctx.project, task, record, port)?;
    Ok(Prepared { env, port })
}

fn spec_path(session: &str, task: &str) -> PathBuf {
    paths::project_dir(session).join("run").join(format!("{task}.json"))
}

/// What a launched pane runs: our own binary in `__exec` mode, reading this spec.
fn write_spec(session: &str, task: &Task, env: &[(String, String)]) -> Result<PathBuf> {
    let p = spec_path(session, &task.name);
    let spec = json!({
        "argv": ["/bin/sh", "-c", task.command],
        "cwd": task.cwd,
        "env": env.iter().map(|(k, v)| [k, v]).collect::<Vec<_>>(),
    });
    let text = spec.to_string();
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
}

/// Launches tasks in as few tmux round trips as possible: under the project's launch lock,
/// tasks that run are left alone, dead windows are respawned in place, and new windows are
/// made with a placeholder, given `remain-on-exit`, then respawned with the real command.
pub fn launch(ctx: &Ctx, tasks: &[(&Task, &Prepared)]) -> Result<Vec<Launch>> {
    let _lock = launch_lock(&ctx.project.name)?;
    let rts = read_session(&ctx.tmux, &ctx.project.name)?;
    launch_locked(ctx, tasks, rts.as_ref())
}

/// The project's launch lock: held while deciding what runs and creating windows.
fn launch_lock(session: &str) -> Result<paths::Lock> {
    paths::lock(&format!("{session}.launch"))
}

/// [`launch`] for a caller that holds the launch lock and has read the session (None: the
/// session does not exist).
fn launch_locked(ctx: &Ctx, tasks: &[(&Task, &Prepared)], rts: Option<&Runtimes>) -> Result<Vec<Launch>> {
    let session = &ctx.project.name;
    let exe_path = self_exe()?;
    let exe = exe_path.to_string_lossy().into_owned();
    let now = paths::now_secs();
    let mut results: Vec<Option<Launch>> = vec![None; tasks.len()];
    // per task, the commands that launch it: a new window (or a respawn of its dead pane)
    // whose very first command is the task, then its options, all in one command list, so
    // tmux cannot reap a fast exit before remain-on-exit is on
    let mut groups: Vec<(usize, Vec<Cmd>)> = Vec::new();
    let mut respawned: Vec<(usize, String)> = Vec::new();
    for (i, (t, prep)) in tasks.iter().enumerate() {
        let rt = rts.and_then(|r| r.get(&t.name));
        if let Some(rt) = rt.filter(|r| r.running()) {
            results[i] = Some(Launch::AlreadyRunning {
                pane_id: rt.pane_id.clone(),
            });
            continue;
        }
        let spec = write_spec(session, t, &prep.env)?.to_string_lossy().into_owned();
        let cwd = t.cwd.to_string_lossy().into_owned();
        let ids = format!("#{{window_id}}{SEP}#{{pane_id}}");
        let (first, target) = match rt {
            Some(rt) => {
                respawned.push((i, rt.pane_id.clone()));
                (
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
                )
            }
            // no -d: the new window becomes the session's current one, which `=S:` names
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
        let log = crate::logs::log_path(&ctx.project, t);
        let pipe = crate::logs::pipe_command(&exe_path, &log, t.log_max_size, t.log_max_files);
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
            // a reused window: forget its last probe and the manual-stop mark
            group.push(opt("@taskmux-health", String::new()));
            group.push(opt("@taskmux-manual-stop", "0".into()));
        }
        groups.push((i, group));
    }
    let mut new_ids: Vec<(String, String)> = Vec::new();
    if !groups.is_empty() {
        let plain: Vec<Vec<Cmd>> = groups.iter().map(|(_, g)| g.clone()).collect();
        let out = if rts.is_none() {
            // no session: the first task's window is the session's first window
            let _lock = paths::lock(session)?;
            let mut with_session = plain.clone();
            let c = &mut with_session[0][0];
            if c[0] == "new-window" {
                *c = Tmux::as_new_session(c, session);
            }
            match run_groups(&ctx.tmux, with_session) {
                Err(e) if e.message.contains("duplicate session") => run_groups(&ctx.tmux, plain)?,
                other => other?,
            }
        } else {
            run_groups(&ctx.tmux, plain)?
        };
        new_ids.extend(crate::tmux::parse_ids(&out));
    }
    let mut new_ids = new_ids.into_iter();
    for (i, _) in &groups {
        let pane = match respawned.iter().find(|(r, _)| r == i) {
            Some((_, p)) => p.clone(),
            None => new_ids.next().map(|(_, p)| p).unwrap_or_default(),
        };
        results[*i] = Some(Launch::Started { pane_id: pane });
    }
    if tasks.iter().any(|(t, _)| State::load(session).manual_stop(&t.name)) {
        State::update(session, |s| {
            for (t, _) in tasks {
                s.set_manual_stop(&t.name, false);
            }
        })?;
    }
    results
        .into_iter()
        .map(|r| r.ok_or_else(|| Error::internal("a task was neither launched nor running")))
        .collect()
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

/// Runs a launch spec: sets the environment and directory and execs the command. This is
/// the pane's own process, so after the exec the task's pid is the pane's pid.
pub fn exec_spec(spec_path: &str) -> std::process::ExitCode {
    use std::os::unix::process::CommandExt;
    let spec: serde_json::Value = match std::fs::read(spec_path).map(|b| serde_json::from_slice(&b)) {
        Ok(Ok(v)) => v,
        _ => {
            eprintln!("taskmux: cannot read launch spec {spec_path}");
            return std::process::ExitCode::from(127);
        }
    };
    let Some(mut c) = spec_command(&spec) else {
        eprintln!("taskmux: empty command in {spec_path}");
        return std::process::ExitCode::from(127);
    };
    let prog = c.get_program().to_string_lossy().into_owned();
    quiet_control_echo();
    let err = c.exec();
    eprintln!("taskmux: cannot run {prog}: {err}");
    std::process::ExitCode::from(127)
}

/// The command a launch or job spec describes: its argv, exactly its environment (plus the
/// `TMUX`/`TMUX_PANE` tmux gave this pane) and its directory. None for an empty argv.
pub fn spec_command(spec: &serde_json::Value) -> Option<std::process::Command> {
    let argv: Vec<String> = spec["argv"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect())
        .unwrap_or_default();
    let (prog, args) = argv.split_first()?;
    let mut c = std::process::Command::new(prog);
    c.args(args).env_clear();
    for k in ["TMUX", "TMUX_PANE"] {
        if let Some(v) = std::env::var_os(k) {
            c.env(k, v);
        }
    }
    if let Some(env) = spec["env"].as_array() {
        for kv in env {
            if let (Some(k), Some(v)) = (kv[0].as_str(), kv[1].as_str()) {
                c.env(k, v);
            }
        }
    }
    if let Some(cwd) = spec["cwd"].as_str() {
        c.current_dir(cwd);
    }
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

/// Reads one pane's (dead, pid, exit code).
fn pane_state(tmux: &Tmux, pane_id: &str) -> Result<Option<(bool, i32, Option<i32>)>> {
    let (ok, out, _) = tmux.exec(&[cmd![
        "display-message",
        "-p",
        "-t",
        pane_id,
        format!("#{{pane_dead}}{SEP}#{{pane_pid}}{SEP}#{{pane_dead_status}}{SEP}#{{pane_dead_signal}}")
    ]])?;
    if !ok {
        return Ok(None);
    }
    let f: Vec<&str> = out.trim_end().split(SEP).collect();
    let dead = f.first() == Some(&"1");
    let pid = f.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let code = if dead {
        let num = |i: usize| f.get(i).and_then(|s| s.parse::<i32>().ok());
        proc::exit_code(num(2), num(3), pid)
    } else {
        None
    };
    Ok(Some((dead, pid, code)))
}

/// Probes a task until healthy, or until `health_retries x health_interval` seconds pass, or
/// it exits. Returns the last probe.
pub fn wait_healthy(ctx: &Ctx, task: &Task, pane_id: &str, env: &[(String, String)]) -> Probe {
    let budget = Duration::from_secs_f64(task.health_interval * task.health_retries as f64);
    let deadline = Instant::now() + budget;
    loop {
        let st = pane_state(&ctx.tmux, pane_id).ok().flatten();
        let running = st.is_some_and(|(dead, pid, _)| !dead && proc::alive(pid));
        let mut p = health::probe(task, running, env);
        if p.ok {
            return p;
        }
        if !running {
            p.reason = Some(match st {
                Some((true, _, Some(code))) => format!("exited with code {code}"),
                Some(_) => "its process is gone".into(),
                None => "its window is gone".into(),
            });
            return p;
        }
        let now = Instant::now();
        if now >= deadline {
            return p;
        }
        let step = Duration::from_secs_f64(task.health_interval).min(deadline - now);
        std::thread::sleep(step);
    }
}

/// Records the last probe of tasks in their window options (one tmux call).
pub fn record_health(tmux: &Tmux, results: &[(String, Probe)]) {
    let now = paths::now_secs();
    let cmds: Vec<Cmd> = results
        .iter()
        .filter(|(w, _)| !w.is_empty())
        .map(|(w, p)| {
            let reason = p
                .reason
                .clone()
                .unwrap_or_default()
                .replace(|c: char| c.is_control() || c == '|', " ");
            let v = format!("{}|{}|{now:.3}|{reason}", if p.ok { 1 } else { 0 }, p.method.as_str());
            cmd!["set-option", "-w", "-t", w, "@taskmux-health", v]
        })
        .collect();
    if !cmds.is_empty() {
        let _ = tmux.exec(&cmds);
    }
}

/// What `start` did.
#[derive(Debug, Default)]
pub struct StartReport {
    /// Tasks launched now.
    pub started: Vec<String>,
    /// Tasks that were running already.
    pub already_running: Vec<String>,
    /// Tasks not started, with the reason.
    pub skipped: Vec<(String, String)>,
    /// Tasks whose start failed.
    pub failed: Vec<(String, Error)>,
    /// Warnings (a dependency not running for `start TASK`).
    pub warnings: Vec<String>,
    /// Whether a session was made.
    pub session_created: bool,
}

#[derive(Debug, Clone)]
enum Gate {
    Pending,
    Healthy,
    NotHealthy(String),
}

struct Gates {
    map: Mutex<HashMap<String, Gate>>,
    cv: Condvar,
}

impl Gates {
    fn set(&self, task: &str, g: Gate) {
        if let Ok(mut m) = self.map.lock() {
            m.insert(task.to_string(), g);
        }
        self.cv.notify_all();
    }

    fn wait(&self, task: &str) -> Gate {
        let Ok(mut m) = self.map.lock() else {
            return Gate::NotHealthy("internal lock poisoned".into());
        };
        loop {
            match m.get(task) {
                Some(Gate::Pending) | None => match self.cv.wait(m) {
                    Ok(g) => m = g,
                    Err(_) => return Gate::NotHealthy("internal lock poisoned".into()),
                },
                Some(g) => return g.clone(),
            }
        }
    }
}

fn probe_desc(task: &Task, p: &Probe) -> String {
    let what = match p.method {
        health::Method::Http => format!("http probe {}", task.health_url.as_deref().unwrap_or("")),
        health::Method::Shell => format!("health_check '{}'", task.health_check.as_deref().unwrap_or("")),
        health::Method::Tcp => "tcp probe on $PORT".into(),
        health::Method::Proc => "process check".into(),
    };
    format!("{what}: {}", p.reason.as_deref().unwrap_or("unhealthy"))
}

/// Starts tasks. With `names` empty: every `auto_start` task in dependency order, each
/// waiting for its dependencies to be healthy. With names: those tasks only. With `wait`:
/// returns only when every started task is healthy, else E214.
pub fn start(ctx: &Ctx, names: &[String], wait: bool) -> Result<StartReport> {
    let project = &ctx.project;
    let all = names.is_empty();
    let set: Vec<&Task> = if all {
        if project.auto_start {
            project.tasks.iter().filter(|t| t.auto_start).collect()
        } else {
            Vec::new()
        }
    } else {
        let mut v: Vec<&Task> = Vec::new();
        for n in names {
            let t = project.task(n)?;
            if !v.iter().any(|x| x.name == t.name) {
                v.push(t);
            }
        }
        v
    };
    let mut report = StartReport::default();
    // everything that can be refused is refused before anything runs or is written
    for t in &set {
        precheck(&ctx.project, t)?;
    }
    // hooks and port freeing run without the launch lock (a hook may itself call taskmux);
    // `launch` takes it and reads the session again before making windows
    let session = read_session(&ctx.tmux, &project.name)?;
    let session_existed = session.is_some();
    let rts = session.unwrap_or_default();
    let record = record_env(&project.name, all || !session_existed)?;
    let mut prepared: HashMap<String, Prepared> = HashMap::new();
    for t in &set {
        prepared.insert(t.name.clone(), prepare(ctx, t, &record)?);
    }
    let running_now: HashSet<String> = rts
        .iter()
        .filter(|(_, r)| r.running())
        .map(|(k, _)| k.clone())
        .collect();
    if !all {
        for t in &set {
            for d in &t.depends_on {
                if !running_now.contains(d) && !set.iter().any(|x| &x.name == d) {
                    report
                        .warnings
                        .push(format!("Task '{}' depends on '{d}', which is not running", t.name));
                }
            }
        }
    }
    if set.iter().all(|t| running_now.contains(&t.name)) {
        report.already_running = set.iter().map(|t| t.name.clone()).collect();
        if wait {
            let list: Vec<(String, String)> = set
                .iter()
                .filter_map(|t| Some((t.name.clone(), rts.get(&t.name)?.pane_id.clone())))
                .collect();
            wait_all(ctx, &list, &prepared, &report)?;
        }
        return Ok(report);
    }
    project_hook(ctx, "before_start", &record)?;

    let in_set: HashSet<&str> = set.iter().map(|t| t.name.as_str()).collect();
    let has_dependents: HashSet<&str> = if all {
        set.iter()
            .flat_map(|t| t.depends_on.iter().map(String::as_str))
            .collect()
    } else {
        HashSet::new()
    };
    let gates = Arc::new(Gates {
        map: Mutex::new(HashMap::new()),
        cv: Condvar::new(),
    });
    for t in &set {
        gates.set(&t.name, Gate::Pending);
    }
    let report_m = Mutex::new(report);
    let launched: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

    // first wave: tasks that wait for nothing, hooks in parallel, then one batched launch
    let wave: Vec<&Task> = set
        .iter()
        .copied()
        .filter(|t| !all || t.depends_on.is_empty())
        .collect();
    let rest: Vec<&Task> = set
        .iter()
        .copied()
        .filter(|t| all && !t.depends_on.is_empty())
        .collect();

    let fail = |t: &Task, e: Error| {
        gates.set(&t.name, Gate::NotHealthy(format!("its start failed: {}", e.message)));
        if let Ok(mut r) = report_m.lock() {
            r.failed.push((t.name.clone(), e));
        }
    };
    let finish_launch = |t: &Task, l: &Launch, prep: &Prepared| {
        let (pane, fresh) = match l {
            Launch::Started { pane_id } => (pane_id.clone(), true),
            Launch::AlreadyRunning { pane_id } => (pane_id.clone(), false),
        };
        if fresh {
            events::emit("task_started", &project.name, Some(&t.name), json!({}));
            if let Err(e) = task_hook(ctx, t, "after_start", &prep.env) {
                if let Ok(mut r) = report_m.lock() {
                    r.warnings.push(e.message.clone());
                }
            }
        }
        if let Ok(mut r) = report_m.lock() {
            if fresh {
                r.started.push(t.name.clone())
            } else {
                r.already_running.push(t.name.clone())
            }
        }
        if let Ok(mut v) = launched.lock() {
            v.push((t.name.clone(), pane.clone()));
        }
        if has_dependents.contains(t.name.as_str()) {
            let p = wait_healthy(ctx, t, &pane, &prep.env);
            record_health(&ctx.tmux, &[(pane.clone(), p.clone())]);
            if p.ok {
                gates.set(&t.name, Gate::Healthy);
            } else {
                let secs = t.health_interval * t.health_retries as f64;
                gates.set(
                    &t.name,
                    Gate::NotHealthy(format!("not healthy after {secs}s ({})", probe_desc(t, &p))),
                );
            }
        } else {
            gates.set(&t.name, Gate::Healthy);
        }
    };

    std::thread::scope(|s| {
        // before_start hooks of the first wave, in parallel
        let ok_wave: Vec<&Task> = {
            let hs: Vec<_> = wave
                .iter()
                .filter(|t| !running_now.contains(&t.name) && t.hooks.before_start.is_some())
                .map(|t| {
                    let prep = &prepared[&t.name];
                    (t, s.spawn(move || task_hook(ctx, t, "before_start", &prep.env)))
                })
                .collect();
            let mut ok = Vec::new();
            for (t, h) in hs {
                match h
                    .join()
                    .unwrap_or_else(|_| Err(Error::internal("hook thread panicked")))
                {
                    Ok(()) => ok.push(*t),
                    Err(e) => fail(t, e),
                }
            }
            ok.extend(
                wave.iter()
                    .copied()
                    .filter(|t| running_now.contains(&t.name) || t.hooks.before_start.is_none()),
            );
            ok.sort_by_key(|t: &&Task| project.tasks.iter().position(|x| x.name == t.name));
            ok
        };
        for t in &ok_wave {
            if let Some(p) = t.port
                && !running_now.contains(&t.name)
                && let Err(e) = free_port(p, &t.name)
            {
                fail(t, e);
            }
        }
        let ok_wave: Vec<&Task> = ok_wave
            .into_iter()
            .filter(|t| {
                report_m
                    .lock()
                    .map(|r| !r.failed.iter().any(|(n, _)| n == &t.name))
                    .unwrap_or(true)
            })
            .collect();
        let batch: Vec<(&Task, &Prepared)> = ok_wave.iter().map(|t| (*t, &prepared[&t.name])).collect();
        let launched_wave = launch(ctx, &batch);
        match launched_wave {
            Ok(ls) => {
                for (t, l) in ok_wave.iter().zip(ls) {
                    let t: &Task = t;
                    let prep = &prepared[&t.name];
                    let finish = &finish_launch;
                    s.spawn(move || finish(t, &l, prep));
                }
            }
            Err(e) => {
                for t in &ok_wave {
                    fail(t, e.clone());
                }
            }
        }
        // the rest, a thread each: wait for dependencies, then launch
        for t in &rest {
            let t: &Task = t;
            let gates = &gates;
            let prep = &prepared[&t.name];
            let finish = &finish_launch;
            let report_m = &report_m;
            let in_set = &in_set;
            let running_now = &running_now;
            let fail = &fail;
            let record = &record;
            let rts = &rts;
            s.spawn(move || {
                for d in &t.depends_on {
                    let reason = if in_set.contains(d.as_str()) {
                        match gates.wait(d) {
                            Gate::Healthy => None,
                            Gate::NotHealthy(r) => Some(format!("Dependency '{d}' {r}")),
                            Gate::Pending => Some(format!("Dependency '{d}' did not start")),
                        }
                    } else if running_now.contains(d) {
                        let Ok(dt) = project.task(d) else { continue };
                        let rec = record.to_vec();
                        let env = hook_env(project, Some(dt), &rec).unwrap_or(rec);
                        let pane = rts.get(d).map(|r| r.pane_id.clone()).unwrap_or_default();
                        let p = wait_healthy(ctx, dt, &pane, &env);
                        (!p.ok).then(|| format!("Dependency '{d}' not healthy ({})", probe_desc(dt, &p)))
                    } else {
                        Some(format!(
                            "Dependency '{d}' is not running and is not started automatically (run 'taskmux start {d}')"
                        ))
                    };
                    if let Some(r) = reason {
                        gates.set(&t.name, Gate::NotHealthy(format!("was skipped: {r}")));
                        if let Ok(mut rep) = report_m.lock() {
                            rep.skipped.push((t.name.clone(), r));
                        }
                        return;
                    }
                }
                if !running_now.contains(&t.name) {
                    if let Err(e) = task_hook(ctx, t, "before_start", &prep.env) {
                        return fail(t, e);
                    }
                    if let Some(p) = t.port
                        && let Err(e) = free_port(p, &t.name)
                    {
                        return fail(t, e);
                    }
                }
                match launch(ctx, &[(t, prep)]) {
                    Ok(ls) => {
                        if let Some(l) = ls.first() {
                            finish(t, l, prep)
                        }
                    }
                    Err(e) => fail(t, e),
                }
            });
        }
    });

    let mut report = report_m.into_inner().unwrap_or_default();
    report.session_created = !session_existed;
    if !session_existed {
        events::emit("session_started", &project.name, None, json!({"tasks": report.started}));
    }
    if let Err(e) = project_hook(ctx, "after_start", &record) {
        report.warnings.push(e.message);
    }
    // keep config order in the report
    let order = |n: &String| project.tasks.iter().position(|t| &t.name == n).unwrap_or(usize::MAX);
    report.started.sort_by_key(order);
    report.already_running.sort_by_key(order);
    report.skipped.sort_by_key(|(n, _)| order(n));

    if wait {
        wait_all(ctx, &launched.into_inner().unwrap_or_default(), &prepared, &report)?;
    }
    Ok(report)
}

/// `start --wait`: probes every task of `list` (name, pane) until healthy; E214 naming the
/// first that is not, its probe and the last reason. A skipped task is E214 too.
fn wait_all(
    ctx: &Ctx,
    list: &[(String, String)],
    prepared: &HashMap<String, Prepared>,
    report: &StartReport,
) -> Result<()> {
    let project = &ctx.project;
    let results: Vec<(String, String, Probe)> = std::thread::scope(|s| {
        let hs: Vec<_> = list
            .iter()
            .filter_map(|(name, pane)| {
                let t = project.task(name).ok()?;
                let prep = prepared.get(name)?;
                Some((t, pane, s.spawn(move || wait_healthy(ctx, t, pane, &prep.env))))
            })
            .collect();
        hs.into_iter()
            .map(|(t, pane, h)| {
                (
                    t.name.clone(),
                    pane.clone(),
                    h.join().unwrap_or_else(|_| health::probe_crashed(t)),
                )
            })
            .collect()
    });
    let panes: Vec<(String, Probe)> = results.iter().map(|(_, pane, p)| (pane.clone(), p.clone())).collect();
    record_health(&ctx.tmux, &panes);
    let failures: Vec<_> = results.into_iter().filter(|(_, _, p)| !p.ok).collect();
    if let Some((name, _, p)) = failures.first() {
        let t = project.task(name)?;
        return Err(
            Error::new("E214", format!("Task '{name}' is not healthy: {}", probe_desc(t, p)))
                .hint(format!(
                    "see 'taskmux inspect {name}' and the task's window ('tmux attach -t {}')",
                    project.name
                ))
                .details(json!({
                    "task": name, "method": p.method.as_str(), "reason": p.reason,
                    "unhealthy": failures.iter().map(|(n, _, _)| n).collect::<Vec<_>>(),
                    "started": report.started,
                    "skipped": report.skipped.iter().map(|(t, r)| json!({"task": t, "reason": r})).collect::<Vec<_>>(),
                })),
        );
    }
    if let Some((name, reason)) = report.skipped.first() {
        return Err(Error::new("E214", format!("Task '{name}' was not started: {reason}"))
            .details(json!({"task": name, "reason": reason})));
    }
    Ok(())
}

/// What `stop` did to one task.
#[derive(Debug, Clone, PartialEq)]
pub enum StopOutcome {
    /// It was running and is now stopped.
    Stopped,
    /// It was not running.
    AlreadyStopped,
}

/// Stops tasks: C-c, SIGTERM to the group after `stop_grace_period`, SIGKILL 3 s later;
/// returns when no process of any of them is left. Windows stay. Marks manual-stop when
/// `manual` is set.
pub fn stop(ctx: &Ctx, names: &[String], manual: bool, run_project_hooks: bool) -> Result<Vec<(String, StopOutcome)>> {
    let project = &ctx.project;
    let tasks: Vec<&Task> = if names.is_empty() {
        project.tasks.iter().collect()
    } else {
        names.iter().map(|n| project.task(n)).collect::<Result<_>>()?
    };
    let rts = read_runtime(&ctx.tmux, &project.name)?;
    let record = State::load(&project.name).env().unwrap_or_else(state::capture_env);
    let running: Vec<&Task> = tasks
        .iter()
        .copied()
        .filter(|t| rts.get(&t.name).is_some_and(|r| r.running()))
        .collect();
    let envs: HashMap<String, Vec<(String, String)>> = running
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                hook_env(project, Some(t), &record).unwrap_or_else(|_| record.clone()),
            )
        })
        .collect();
    if run_project_hooks && !running.is_empty() {
        project_hook(ctx, "before_stop", &record)?;
    }
    for t in &running {
        task_hook(ctx, t, "before_stop", &envs[&t.name])?;
    }

    // every window of the asked tasks: running ones get C-c, all get the mark
    let mut chain: Vec<Cmd> = Vec::new();
    for t in &tasks {
        let Some(rt) = rts.get(&t.name) else { continue };
        if rt.running() {
            chain.push(cmd!["send-keys", "-t", &rt.pane_id, "C-c"]);
        }
        if manual {
            chain.push(cmd![
                "set-option",
                "-w",
                "-t",
                &rt.window_id,
                "@taskmux-manual-stop",
                "1"
            ]);
        }
    }
    if manual {
        State::update(&project.name, |s| {
            for t in &tasks {
                s.set_manual_stop(&t.name, true);
            }
        })?;
    }
    let server = std::sync::OnceLock::new();
    let targets: Vec<Target> = tasks
        .iter()
        .map(|t| Target {
            id: identity(ctx, &t.name, &rts, || server.get_or_init(|| socket_path(ctx)).clone()),
            pane: None,
            spare_leader: false,
            grace: Duration::try_from_secs_f64(t.stop_grace_period).unwrap_or(Duration::MAX),
        })
        .collect();
    // the first look at the processes comes before C-c, while every pane still holds its tty
    let had = proc::terminate(&targets, &Terminate::default(), &Cancel::new(), || {
        if !chain.is_empty() {
            let _ = ctx.tmux.exec(&chain);
        }
    })
    .map_err(|u| unfinished(&tasks, u, true))?;
    let mut out = Vec::new();
    for (t, had) in tasks.iter().zip(had) {
        let was = running.iter().any(|r| r.name == t.name) || had;
        if was {
            events::emit("task_stopped", &project.name, Some(&t.name), json!({"manual": manual}));
            if let Some(env) = envs.get(&t.name) {
                if let Err(e) = task_hook(ctx, t, "after_stop", env) {
                    crate::output::warn("taskmux", &e.message);
                }
            }
        }
        out.push((
            t.name.clone(),
            if was {
                StopOutcome::Stopped
            } else {
                StopOutcome::AlreadyStopped
            },
        ));
    }
    if run_project_hooks && !running.is_empty() {
        if let Err(e) = project_hook(ctx, "after_stop", &record) {
            crate::output::warn("taskmux", &e.message);
        }
    }
    Ok(out)
}

fn socket_path(ctx: &Ctx) -> String {
    ctx.tmux
        .exec(&[cmd!["display-message", "-p", "#{socket_path}"]])
        .ok()
        .filter(|(ok, _, _)| *ok)
        .map(|(_, o, _)| o.trim().to_string())
        .unwrap_or_default()
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

/// The error for processes that outlived a stop (`stop`: with a hint) or a kill.
fn unfinished(tasks: &[&Task], u: Unfinished, with_hint: bool) -> Error {
    match u {
        Unfinished::Stuck { target, pids } => {
            let name = tasks.get(target).map_or("", |t| t.name.as_str());
            let e = Error::new(
                "E204",
                format!("Task '{name}' still has processes after SIGKILL: {pids:?}"),
            );
            if with_hint {
                e.hint("they may be stuck in the kernel (state D) or belong to another user")
            } else {
                e
            }
        }
        Unfinished::Cancelled => Error::internal("the wait for a task's processes was cancelled"),
    }
}

/// Restarts tasks in their windows: stop (without the manual mark), then start.
pub fn restart(ctx: &Ctx, names: &[String]) -> Result<(Vec<(String, StopOutcome)>, StartReport)> {
    let stopped = stop(ctx, names, false, names.is_empty())?;
    let targets: Vec<String> = if names.is_empty() {
        // restart everything that ran, plus the auto_start set
        let mut v: Vec<String> = stopped
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
        events::emit("task_restarted", &ctx.project.name, Some(n), json!({}));
    }
    Ok((stopped, report))
}

/// SIGKILLs a task's processes and destroys its window; marks manual-stop. Returns whether
/// there was anything to kill (a process or a window).
pub fn kill(ctx: &Ctx, name: &str) -> Result<bool> {
    let project = &ctx.project;
    let t = project.task(name)?;
    let rts = read_runtime(&ctx.tmux, &project.name)?;
    let target = Target {
        id: identity(ctx, name, &rts, || socket_path(ctx)),
        pane: None,
        spare_leader: false,
        grace: Duration::ZERO,
    };
    let opts = Terminate {
        kill_at_once: true,
        rescan: Duration::ZERO,
        ..Terminate::default()
    };
    let found_any = proc::terminate(&[target], &opts, &Cancel::new(), || {})
        .map_err(|u| unfinished(&[t], u, false))?
        .contains(&true);
    let had_window = rts.contains_key(name);
    if let Some(rt) = rts.get(name) {
        let _ = ctx.tmux.exec(&[cmd!["kill-window", "-t", &rt.window_id]]);
    }
    State::update(&project.name, |s| s.set_manual_stop(&t.name, true))?;
    events::emit("task_killed", &project.name, Some(name), json!({}));
    Ok(found_any || had_window)
}

/// The runtime state of a task as a person or agent reads it: `running`, `starting`,
/// `unhealthy`, `stopped`, `exited`.
pub fn state_name(task: &Task, rt: Option<&Runtime>) -> &'static str {
    let Some(rt) = rt else { return "stopped" };
    if !rt.running() {
        if rt.dead && rt.exit_code.is_some() && !rt.manual_stop {
            return "exited";
        }
        return "stopped";
    }
    match &rt.health {
        Some((true, ..)) | None if health::method_for(task) == health::Method::Proc => "running",
        Some((true, ..)) => "running",
        _ => {
            let age = rt.started_at.map_or(f64::MAX, |s| paths::now_secs() - s);
            if age < task.boot_grace {
                "starting"
            } else if rt.health.is_some() {
                "unhealthy"
            } else {
                "running"
            }
        }
    }
}
