//! Start: the tasks asked for, in dependency order, each launched once its dependencies are
//! healthy (its gate); `before_start`/`after_start` hooks; `--wait` for health. The state
//! and env files are read once per start, and each task's environment is computed once.

use super::Ctx;
use super::env::{EnvFiles, hook_env, record_env_in};
use super::hooks::{Hook, Labels, project_hook, task_hook};
use super::launch::{Launch, Prepared, launch, precheck_with, prepare_with, reap_orphans};
use super::port::{free_port, wait_port_free};
use super::runtime::{Runtime, Runtimes, pane_state, read_session, record_health};
use crate::config::{Project, Task};
use crate::error::{Error, Kind, Result};
use crate::events::Event;
use crate::health::{self, Probe};
use crate::state::State;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

mod gates;
mod wait;

use gates::{Gate, Gates, dependency_warnings, gate_reason, has_dependents, probe_desc};
use wait::{Ended, wait_all, wait_health, with_log_tail};

/// What `start` did.
#[derive(Debug, Default)]
pub struct StartReport {
    /// Tasks launched now, in the order they were launched (dependencies first).
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

/// Runs `f`; when it panics, calls `failed` with what the panic said.
fn guarded(f: impl FnOnce(), failed: impl FnOnce(String)) {
    if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        let why = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a worker thread panicked".into());
        failed(why);
    }
}

/// Starts tasks. With `names` empty: every `auto_start` task in dependency order, each
/// waiting for its dependencies to be healthy. With names: those tasks only. With `wait`:
/// returns only when every started task is healthy, else E214.
pub fn start(ctx: &Ctx, names: &[String], wait: bool) -> Result<StartReport> {
    start_as(ctx, names, wait, names.is_empty(), None)
}

/// [`start`] of the tasks named, from `seen`, a look at the session (None: there is none)
/// taken under the project's authority, which the caller holds: how the daemon relaunches
/// a dead task with one look at tmux. When no `before_start` hook runs (a hook may itself
/// start tasks), the launch goes by that look too.
pub fn start_seen(ctx: &Ctx, names: &[String], seen: Option<Runtimes>) -> Result<StartReport> {
    start_as(ctx, names, false, false, Some(seen))
}

/// Starts the tasks named, in dependency order, each launched once its dependencies are
/// healthy (those outside the set must run and be healthy, else it is skipped): how the
/// daemon brings back what a heal finds missing.
pub fn start_in_order(ctx: &Ctx, names: &[String]) -> Result<StartReport> {
    start_as(ctx, names, false, true, None)
}

/// [`start`]; `gated`: each task waits for its dependencies' health; `seen`: see
/// [`start_seen`].
fn start_as(
    ctx: &Ctx,
    names: &[String],
    wait: bool,
    gated: bool,
    seen: Option<Option<Runtimes>>,
) -> Result<StartReport> {
    let began = crate::paths::now_secs();
    let project = &ctx.project;
    let all = names.is_empty();
    let set = start_set(project, names)?;
    // everything that can be refused is refused before anything runs or is written; the
    // env files read here are the ones every environment of this start is built from
    let mut files = EnvFiles::default();
    for t in &set {
        precheck_with(project, t, &mut files)?;
    }
    // hooks and port freeing run without the launch lock (a hook may itself call taskmux);
    // `launch` takes it and reads the session again before making windows
    // a look taken under the authority holds until a hook runs
    let hooked = project.hooks.before_start.is_some() || set.iter().any(|t| t.hooks.before_start.is_some());
    let still = seen.is_some() && ctx.authority_held && !hooked;
    let session = match seen {
        Some(s) => s,
        None => read_session(&ctx.tmux, &project.name)?,
    };
    let session_existed = session.is_some();
    let rts = session.unwrap_or_default();
    let state = State::load(&ctx.home, &project.name)?;
    let record = record_env_in(ctx, &state, all || !session_existed)?;
    let mut prepared: HashMap<String, Prepared> = HashMap::new();
    for t in &set {
        prepared.insert(t.name.clone(), prepare_with(ctx, t, &record, &state, &mut files)?);
    }
    let running_now: HashSet<String> = rts.values().filter(|r| r.running()).map(|r| r.task.clone()).collect();
    let mut report = StartReport::default();
    if !gated {
        report.warnings = dependency_warnings(&set, &running_now);
    }
    if set.iter().all(|t| running_now.contains(&t.name)) {
        return all_running(ctx, &set, &rts, wait, &prepared, report, began);
    }
    // what an earlier run left without a pane (its window or session killed) goes first:
    // never a second copy
    reap_orphans(ctx, &set)?;
    let project_env = hook_env(project, None, &record, &state, &mut files);
    let labels = Labels::for_tasks(
        set.iter().copied().filter(|t| !running_now.contains(&t.name)),
        &[Hook::BeforeStart, Hook::AfterStart],
    );
    project_hook(ctx, Hook::BeforeStart, &project_env, labels)?;

    let run = Run {
        ctx,
        began,
        since: state.stops,
        gated,
        prepared: &prepared,
        running_now: &running_now,
        rts: &rts,
        seen: still.then_some(session_existed.then_some(&rts)),
        in_set: set.iter().map(|t| t.name.as_str()).collect(),
        has_dependents: has_dependents(&set, gated),
        dependency_envs: running_dependency_envs(project, &set, gated, &running_now, &record, &state, &mut files),
        gates: Gates::new(set.iter().map(|t| t.name.as_str())),
        labels,
        report: Mutex::new(report),
        launched: Mutex::new(Vec::new()),
    };
    run.start_all(&set);
    let launched = run.launched.into_inner().unwrap_or_else(PoisonError::into_inner);
    let mut report = run.report.into_inner().unwrap_or_else(PoisonError::into_inner);
    after_run(ctx, &mut report, session_existed, &project_env, labels);
    if wait {
        wait_all(ctx, &launched, &prepared, &report, began)?;
    }
    Ok(report)
}

/// Every task asked for runs already: the report says so, and `--wait` waits for their
/// health all the same.
fn all_running(
    ctx: &Ctx,
    set: &[&Task],
    rts: &Runtimes,
    wait: bool,
    prepared: &HashMap<String, Prepared>,
    mut report: StartReport,
    began: f64,
) -> Result<StartReport> {
    report.already_running = set.iter().map(|t| t.name.clone()).collect();
    if wait {
        let list: Vec<(String, String)> = set
            .iter()
            .filter_map(|t| Some((t.name.clone(), rts.get(&t.name)?.pane_id.clone())))
            .collect();
        wait_all(ctx, &list, prepared, &report, began)?;
    }
    Ok(report)
}

/// After the launches: the session made (and its event), the `after_start` hook (a failure
/// is a warning), the report in config order.
fn after_run(
    ctx: &Ctx,
    report: &mut StartReport,
    session_existed: bool,
    project_env: &Result<Vec<(String, String)>>,
    labels: Labels,
) {
    let project = &ctx.project;
    report.session_created = !session_existed;
    if !session_existed {
        ctx.events.emit(
            &project.name,
            None,
            Event::SessionStarted {
                tasks: report.started.clone(),
            },
        );
    }
    if let Err(e) = project_hook(ctx, Hook::AfterStart, project_env, labels) {
        report.warnings.push(e.message());
    }
    in_config_order(project, report);
}

/// Sorts the lists of a report into config order, but `started`, which stays in the order
/// the tasks were launched (dependencies first).
fn in_config_order(project: &Project, report: &mut StartReport) {
    let order = |n: &String| project.tasks.iter().position(|t| &t.name == n).unwrap_or(usize::MAX);
    report.already_running.sort_by_key(order);
    report.skipped.sort_by_key(|(n, _)| order(n));
}

/// The tasks a start is about: the `auto_start` set (none when the project turns
/// `auto_start` off) for no names, else the named ones, each once.
fn start_set<'a>(project: &'a Project, names: &[String]) -> Result<Vec<&'a Task>> {
    if names.is_empty() {
        return Ok(if project.auto_start {
            project.tasks.iter().filter(|t| t.auto_start).collect()
        } else {
            Vec::new()
        });
    }
    let mut v: Vec<&Task> = Vec::new();
    for n in names {
        let t = project.task(n)?;
        if !v.iter().any(|x| x.name == t.name) {
            v.push(t);
        }
    }
    Ok(v)
}

/// Running dependencies outside the set, by name: the task and its environment.
type RunningDeps<'a> = HashMap<String, (&'a Task, Vec<(String, String)>)>;

/// The environment of each running dependency outside the set, for the probes that gate
/// its dependents (the record alone when its own cannot be built).
fn running_dependency_envs<'a>(
    project: &'a Project,
    set: &[&Task],
    all: bool,
    running_now: &HashSet<String>,
    record: &[(String, String)],
    state: &State,
    files: &mut EnvFiles,
) -> RunningDeps<'a> {
    let mut out = HashMap::new();
    if !all {
        return out;
    }
    for d in set.iter().flat_map(|t| &t.depends_on) {
        if out.contains_key(d) || !running_now.contains(d) || set.iter().any(|t| &t.name == d) {
            continue;
        }
        if let Ok(dt) = project.task(d) {
            let env = hook_env(project, Some(dt), record, state, files).unwrap_or_else(|_| record.to_vec());
            out.insert(d.clone(), (dt, env));
        }
    }
    out
}

/// One start in progress: what every launching thread shares.
struct Run<'a> {
    ctx: &'a Ctx,
    /// When the start began (epoch seconds): a task's log lines from then on are its run's.
    began: f64,
    /// The project's stop count when the start began: a stop by hand after it wins.
    since: u64,
    /// Each task waits for its dependencies' health (the whole auto_start set, or a heal).
    gated: bool,
    prepared: &'a HashMap<String, Prepared>,
    /// Tasks that ran when the start began.
    running_now: &'a HashSet<String>,
    rts: &'a Runtimes,
    /// `rts` (None: no session) when it was read under the authority the caller holds and
    /// no hook runs before the launch: the launch goes by it, with no second look.
    seen: Option<Option<&'a Runtimes>>,
    in_set: HashSet<&'a str>,
    /// Tasks whose health gates another task of the set.
    has_dependents: HashSet<&'a str>,
    /// Each running dependency outside the set, with its environment for the probe.
    dependency_envs: RunningDeps<'a>,
    gates: Gates,
    /// Whether hook output is labelled with its task.
    labels: Labels,
    report: Mutex<StartReport>,
    /// (task, pane) of every task launched or found running.
    launched: Mutex<Vec<(String, String)>>,
}

impl<'a> Run<'a> {
    /// The first wave (tasks that wait for nothing): hooks in parallel, then one batched
    /// launch; then the rest, a thread each, launched as their dependencies become healthy.
    fn start_all(&self, set: &[&'a Task]) {
        let (wave, rest): (Vec<&Task>, Vec<&Task>) = set
            .iter()
            .copied()
            .partition(|t| !self.gated || t.depends_on.is_empty());
        std::thread::scope(|s| {
            let ok_wave = self.free_ports(self.wave_hooks(&wave));
            let batch: Vec<(&Task, &Prepared)> = ok_wave.iter().map(|t| (*t, &self.prepared[&t.name])).collect();
            match launch(self.ctx, &batch, self.seen) {
                Ok(ls) => {
                    for (t, l) in ok_wave.iter().zip(&ls) {
                        self.record(t, l);
                    }
                    for (t, l) in ok_wave.into_iter().zip(ls) {
                        s.spawn(move || self.guarded(t, || self.finish_launch(t, &l)));
                    }
                }
                Err(e) => {
                    for t in &ok_wave {
                        self.fail(t, e.clone());
                    }
                }
            }
            for t in rest {
                s.spawn(move || self.guarded(t, || self.after_dependencies(t)));
            }
        });
    }

    /// Runs the `before_start` hooks of the first wave in parallel; returns the tasks that
    /// may go on, in config order.
    fn wave_hooks(&self, wave: &[&'a Task]) -> Vec<&'a Task> {
        let needs_hook = |t: &Task| !self.running_now.contains(&t.name) && t.hooks.before_start.is_some();
        let mut ok: Vec<&Task> = std::thread::scope(|s| {
            let hs: Vec<_> = wave
                .iter()
                .filter(|t| needs_hook(t))
                .map(|t| {
                    let prep = &self.prepared[&t.name];
                    (
                        *t,
                        s.spawn(move || task_hook(self.ctx, t, Hook::BeforeStart, &prep.env, self.labels)),
                    )
                })
                .collect();
            let mut ok = Vec::new();
            for (t, h) in hs {
                match h
                    .join()
                    .unwrap_or_else(|_| Err(Error::internal("hook thread panicked")))
                {
                    Ok(()) => ok.push(t),
                    Err(e) => self.fail(t, e),
                }
            }
            ok
        });
        ok.extend(wave.iter().copied().filter(|t| !needs_hook(t)));
        let project = &self.ctx.project;
        ok.sort_by_key(|t| project.tasks.iter().position(|x| x.name == t.name));
        ok
    }

    /// Frees the fixed ports of the tasks about to launch, and waits for the assigned ones
    /// to be let go; returns the tasks that did not fail.
    fn free_ports(&self, tasks: Vec<&'a Task>) -> Vec<&'a Task> {
        for t in &tasks {
            if !self.running_now.contains(&t.name)
                && let Err(e) = self.port_ready(t)
            {
                self.fail(t, e);
            }
        }
        tasks
            .into_iter()
            .filter(|t| {
                self.report
                    .lock()
                    .map(|r| !r.failed.iter().any(|(n, _)| n == &t.name))
                    .unwrap_or(true)
            })
            .collect()
    }

    /// A task's port before its launch: a fixed `port` is freed (whatever listens there is
    /// ended); an assigned one (`host`) must be let go by an earlier run of it first.
    fn port_ready(&self, t: &Task) -> Result<()> {
        if let Some(p) = t.port {
            return free_port(p, &t.name);
        }
        match (t.host.as_ref(), self.prepared.get(&t.name).and_then(|p| p.port)) {
            (Some(_), Some(p)) => {
                let grace = Duration::try_from_secs_f64(t.stop_grace_period + 3.0).unwrap_or(Duration::from_secs(10));
                wait_port_free(p, &t.name, grace)
            }
            _ => Ok(()),
        }
    }

    /// A task of the rest: waits for its dependencies, then hooks, port, launch.
    fn after_dependencies(&self, t: &Task) {
        for d in &t.depends_on {
            if let Some(r) = self.not_ready(d) {
                self.gates.set(&t.name, Gate::NotHealthy(format!("was skipped: {r}")));
                if let Ok(mut rep) = self.report.lock() {
                    rep.skipped.push((t.name.clone(), r));
                }
                return;
            }
        }
        let prep = &self.prepared[&t.name];
        if !self.running_now.contains(&t.name) {
            if let Err(e) = task_hook(self.ctx, t, Hook::BeforeStart, &prep.env, self.labels) {
                return self.fail(t, e);
            }
            if let Err(e) = self.port_ready(t) {
                return self.fail(t, e);
            }
        }
        match launch(self.ctx, &[(t, prep)], None) {
            Ok(ls) => {
                if let Some(l) = ls.first() {
                    self.record(t, l);
                    self.finish_launch(t, l)
                }
            }
            Err(e) => self.fail(t, e),
        }
    }

    /// Waits until dependency `d` is ready; None when it is, else why not.
    fn not_ready(&self, d: &str) -> Option<String> {
        if self.in_set.contains(d) {
            return match self.gates.wait(d) {
                Gate::Healthy => None,
                Gate::NotHealthy(r) => Some(format!("Dependency '{d}' {r}")),
                Gate::Pending => Some(format!("Dependency '{d}' did not start")),
            };
        }
        if !self.running_now.contains(d) {
            return Some(format!(
                "Dependency '{d}' is not running and is not started automatically (run 'taskmux start {d}')"
            ));
        }
        // a window of a task that is no longer in the config gates nothing
        let (dt, env) = self.dependency_envs.get(d)?;
        let pane = self.rts.get(d).map(|r| r.pane_id.clone()).unwrap_or_default();
        let (p, ended) = wait_health(self.ctx, dt, &pane, env, self.since);
        if ended == Ended::Healthy {
            return None;
        }
        let why = match ended {
            Ended::TimedOut => format!("not healthy ({})", probe_desc(dt, &p)),
            _ => gate_reason(dt, &p, ended),
        };
        if ended == Ended::Died {
            self.died(dt, &why);
        }
        Some(format!("Dependency '{d}' {why}"))
    }

    /// A task's start failed: its dependents are told, the report says why.
    fn fail(&self, t: &Task, e: Error) {
        self.gates
            .set(&t.name, Gate::NotHealthy(format!("its start failed: {}", e.message())));
        let mut r = crate::sync::guard(&self.report);
        r.failed.push((t.name.clone(), e));
    }

    /// Runs a task's thread: a panic in it fails the task with an error (and opens its
    /// gate, so no dependent waits for it forever) instead of hanging the start.
    fn guarded(&self, t: &Task, f: impl FnOnce()) {
        guarded(f, |why| {
            self.fail(
                t,
                Error::internal(format!("the start of task '{}' failed: {why}", t.name)),
            )
        });
    }

    /// Right after a launch returns, so the report lists tasks in the order they were
    /// launched (dependencies first): started or found running, and its pane.
    fn record(&self, t: &Task, l: &Launch) {
        let (pane, fresh) = match l {
            Launch::Started { pane_id } => (pane_id, true),
            Launch::AlreadyRunning { pane_id } => (pane_id, false),
            Launch::Cancelled => {
                let why = "was stopped by hand during the start".to_string();
                self.gates.set(&t.name, Gate::NotHealthy(why.clone()));
                if let Ok(mut r) = self.report.lock() {
                    r.skipped.push((t.name.clone(), format!("it {why}")));
                }
                return;
            }
        };
        if let Ok(mut r) = self.report.lock() {
            if fresh {
                r.started.push(t.name.clone())
            } else {
                r.already_running.push(t.name.clone())
            }
        }
        if let Ok(mut v) = self.launched.lock() {
            v.push((t.name.clone(), pane.clone()));
        }
    }

    /// After a launch (recorded): the event and `after_start` hook of a fresh start, and
    /// the task's gate (opened once it is healthy when another task waits for it).
    fn finish_launch(&self, t: &Task, l: &Launch) {
        let prep = &self.prepared[&t.name];
        let (pane, fresh) = match l {
            Launch::Started { pane_id } => (pane_id.clone(), true),
            Launch::AlreadyRunning { pane_id } => (pane_id.clone(), false),
            Launch::Cancelled => return,
        };
        if fresh {
            self.ctx
                .events
                .emit(&self.ctx.project.name, Some(&t.name), Event::TaskStarted {});
            if let Err(e) = task_hook(self.ctx, t, Hook::AfterStart, &prep.env, self.labels)
                && let Ok(mut r) = self.report.lock()
            {
                r.warnings.push(e.message());
            }
        }
        if !self.has_dependents.contains(t.name.as_str()) {
            return self.gates.set(&t.name, Gate::Healthy);
        }
        let (p, ended) = wait_health(self.ctx, t, &pane, &prep.env, prep.since);
        record_health(&self.ctx.tmux, &[(pane.clone(), p.clone())]);
        match ended {
            Ended::Healthy => self.gates.set(&t.name, Gate::Healthy),
            _ => self.not_healthy(t, &p, ended),
        }
    }

    /// A task of the set that its dependents waited for did not get healthy: its gate says
    /// what happened; one that died is a failure of the start.
    fn not_healthy(&self, t: &Task, p: &Probe, ended: Ended) {
        let why = gate_reason(t, p, ended);
        if ended == Ended::Died {
            self.died(t, &why);
        }
        self.gates.set(&t.name, Gate::NotHealthy(why));
    }

    /// A dependency died while its dependents waited: a failure of the start (once).
    fn died(&self, t: &Task, why: &str) {
        let known = |r: &StartReport| r.failed.iter().any(|(n, _)| n == &t.name);
        let launched = match self.report.lock() {
            Ok(r) if !known(&r) => r.started.contains(&t.name),
            _ => return,
        };
        let e = Error::from(Kind::NotHealthy(format!(
            "Task '{}' {why} before it was healthy; its dependents were skipped",
            t.name
        )))
        .hint(format!("see 'taskmux logs {}' for why it ended", t.name));
        // the log is read without the report's lock: it may wait a moment for the last lines
        let e = with_log_tail(self.ctx, t, launched.then_some(self.began), true, e);
        if let Ok(mut r) = self.report.lock()
            && !known(&r)
        {
            r.failed.push((t.name.clone(), e));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_start_thread_fails_its_task_and_opens_its_gate() {
        let gates = Gates::new(["db", "api"]);
        let gate = std::thread::scope(|s| {
            let waiter = s.spawn(|| gates.wait("db"));
            s.spawn(|| {
                guarded(
                    || panic!("probe blew up"),
                    |why| gates.set("db", Gate::NotHealthy(format!("its start failed: {why}"))),
                )
            });
            waiter.join().expect("the waiter returns")
        });
        match gate {
            Gate::NotHealthy(r) => assert!(r.contains("probe blew up"), "{r}"),
            _ => panic!("the gate of a panicked task must say it failed"),
        }
    }
}
