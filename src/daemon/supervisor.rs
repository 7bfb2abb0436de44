//! One task's supervisor: a thread that waits for the task's exit on a pidfd (no polling),
//! probes it at its `health_interval`, and applies its restart policy with backoff. It
//! shares nothing that blocks with any other task: a hung probe delays only its own task.
//!
//! The CLI and the supervisor coordinate through tmux and `state.json` only: an exit after
//! `stop`/`kill` (manual-stop mark) or during a `restart` (restart mark) is left alone, and
//! a launch anywhere signals tmux's `taskmux-launched` channel, which wakes the project.

use super::wake::Wake;
use crate::config::{Project, RestartPolicy, Task};
use crate::ctx::Ctx;
use crate::events::Event;
use crate::health::{self, Method};
use crate::paths;
use crate::state::{State, Supervised};
use crate::task::{self, Runtime};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

/// The longest delay between restarts.
const MAX_DELAY: f64 = 60.0;
/// How long a task must run healthy before its restart counter goes back to 0.
const HEALTHY_RESET: Duration = Duration::from_secs(60);
/// How often a booting task is probed until its first pass.
const BOOT_PROBE: Duration = Duration::from_millis(500);
/// How long tmux gets to mark a pane dead after its process exited.
const DEAD_WAIT: Duration = Duration::from_secs(2);

/// A task's supervisor as the rest of the daemon sees it.
#[derive(Debug)]
pub struct TaskSup {
    /// The task.
    pub name: String,
    /// Wakes its thread.
    pub wake: Wake,
    /// Set when the task left the config (or the daemon stops): the thread ends.
    pub retired: AtomicBool,
    /// The pane pid it watches now, or whose exit it last handled (0: none): a launch wakes
    /// the supervisor of a task whose pane pid is another, running or already dead.
    pub watching: AtomicI32,
}

impl TaskSup {
    /// A supervisor for `name`, not yet running.
    pub fn new(name: &str) -> std::io::Result<TaskSup> {
        Ok(TaskSup {
            name: name.to_string(),
            wake: Wake::new()?,
            retired: AtomicBool::new(false),
            watching: AtomicI32::new(0),
        })
    }

    /// Ends the thread at its next wake-up.
    pub fn retire(&self) {
        self.retired.store(true, Ordering::SeqCst);
        self.wake.wake();
    }
}

/// Why a watch of a live task ended.
enum Watched {
    /// The process exited.
    Exited,
    /// `health_retries` probes failed after `boot_grace`: restart it.
    Unhealthy(String),
    /// Woken: look again.
    Woken,
}

/// What a supervisor remembers between looks (the facts that must outlive it are in
/// `state.json`: [`crate::state::Supervised`]).
#[derive(Default)]
struct Memory {
    /// The dead pane (by pid) whose exit was already dealt with.
    handled: i32,
    /// The dead pane (by pid) whose exit was told.
    reported: i32,
    /// It has looked at the task before (this is not the first look of a new daemon).
    looked: bool,
}

/// What a task's supervisor needs of the project it works for: its name and world, its
/// last valid config and `state.json`, a voice in its log and events, and a heal on
/// demand. The project thread is one.
pub trait Owner: Send + Sync {
    /// The project (and session) name.
    fn name(&self) -> &str;
    /// The world this project's operations run in.
    fn ctx(&self) -> Ctx;
    /// The last valid config.
    fn project(&self) -> Option<Arc<Project>>;
    /// The project's `state.json`, None while it cannot be read.
    fn state(&self) -> Option<State>;
    /// The environment of record.
    fn record_env(&self) -> Vec<(String, String)>;
    /// Whether the daemon is stopping or the project left the registry.
    fn stopping(&self) -> bool;
    /// How often the session's presence is checked.
    fn heal_interval(&self) -> Duration;
    /// Heals the project's session now.
    fn heal_soon(&self);
    /// A line in the daemon's log, about this project.
    fn log(&self, msg: &str);
    /// An event about one of this project's tasks.
    fn emit(&self, task: &str, event: Event);
}

/// What supervision knows of a task, from `state.json`.
fn facts(p: &dyn Owner, task: &str) -> Supervised {
    State::load(&p.ctx().home, p.name())
        .map(|s| s.facts(task))
        .unwrap_or_default()
}

/// Changes what supervision knows of a task, in `state.json` under its lock.
fn set_facts(p: &dyn Owner, task: &str, f: impl FnOnce(&mut Supervised)) {
    if let Err(e) = State::update(&p.ctx().home, p.name(), |s| s.set_facts(task, f)) {
        p.log(&format!(
            "{task}: cannot record its supervision in state.json: {}",
            e.message()
        ));
    }
}

/// A look at the project's session taken under its authority: what a relaunch decides
/// on and launches from, with no second look (see [`decide_again`]).
struct Held {
    _authority: crate::lock::Authority,
    session: Option<task::Runtimes>,
}

/// The supervisor thread's body: until retired, look at the task and act.
pub fn run(p: Arc<dyn Owner>, t: Arc<TaskSup>) {
    let mut mem = Memory::default();
    let mut exited_at: Option<Instant> = None;
    let mut exited = false;
    // as if it had a window: one missing at the first look (closed before the daemon
    // came) is healed too
    let mut had_window = true;
    while !t.retired.load(Ordering::SeqCst) && !p.stopping() {
        let Some(project) = p.project() else {
            t.wake.wait(Some(p.heal_interval()));
            continue;
        };
        let Ok(task) = project.task(&t.name).cloned() else {
            return;
        };
        // the look after an exit most likely ends in a relaunch: it is taken under the
        // project's authority, which the relaunch keeps (a stop by hand in progress is
        // waited for, and then seen)
        let authority = match std::mem::take(&mut exited) {
            true => take_authority(&*p, &task),
            false => None,
        };
        let session = match task::read_session(&p.ctx().tmux, &project.name) {
            Ok(r) => r,
            Err(e) => {
                p.log(&format!("{}: cannot read tmux: {}", t.name, e.message()));
                t.wake.wait(Some(p.heal_interval()));
                continue;
            }
        };
        let rt = session.as_ref().and_then(|s| s.get(&t.name)).cloned();
        let window_gone = std::mem::replace(&mut had_window, rt.is_some()) && rt.is_none();
        match rt {
            Some(rt) if rt.running() => {
                drop(authority);
                exited_at = None;
                match watch(&*p, &t, &project, &task, &rt) {
                    Watched::Exited => exited = true,
                    Watched::Woken => {}
                    Watched::Unhealthy(reason) => restart_unhealthy(&*p, &t, &project, &task, &rt, &reason),
                }
            }
            // the process is gone and tmux has not marked the pane dead yet: look again
            // in a moment (the exit code is tmux's to tell)
            Some(rt) if !rt.dead => {
                drop(authority);
                let since = *exited_at.get_or_insert_with(Instant::now);
                let wait = match since.elapsed() < DEAD_WAIT {
                    true => Some(Duration::from_millis(5)),
                    false => None,
                };
                exited = true;
                t.wake.wait(wait);
            }
            Some(rt) if rt.dead => {
                exited_at = None;
                let held = authority.map(|a| Held { _authority: a, session });
                if let Some(wait) = dead(&*p, &t, &project, &task, &rt, &mut mem, held) {
                    t.wake.wait(wait);
                }
            }
            _ => {
                drop(authority);
                t.watching.store(0, Ordering::SeqCst);
                // its window went away (closed by hand, its session or tmux server
                // killed): the project heals now, not at the next heal interval
                if window_gone {
                    p.heal_soon();
                }
                t.wake.wait(None);
            }
        }
        mem.looked = true;
    }
    t.watching.store(0, Ordering::SeqCst);
}

/// Watches a live task: its exit on a pidfd, its probes on their interval, the reset of
/// its restart counter after a healthy minute.
fn watch(p: &dyn Owner, t: &TaskSup, project: &Project, task: &Task, rt: &Runtime) -> Watched {
    let pid = rt.pane_pid;
    let Some(pidfd) = rustix::process::Pid::from_raw(pid)
        .and_then(|p| rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok())
    else {
        return Watched::Exited;
    };
    t.watching.store(pid, Ordering::SeqCst);
    let method = health::method_for(task);
    let interval = Duration::from_secs_f64(task.health_interval.max(0.1));
    let started = rt.started_at.unwrap_or_else(paths::now_secs);
    // until its first passing probe, a booting task is probed every BOOT_PROBE (or its
    // interval, when shorter), so `status` says running as soon as it is, not an interval
    // later; a failure then is not counted (boot_grace)
    let mut passed = rt.health.as_ref().is_some_and(|h| h.ok);
    let step = |passed: bool| match !passed && paths::now_secs() - started < task.boot_grace {
        true => interval.min(BOOT_PROBE),
        false => interval,
    };
    let mut next_probe = (method != Method::Proc).then(|| Instant::now() + step(passed));
    let known = facts(p, &t.name);
    let mut reset_at = (known.restarts > 0).then(|| Instant::now() + HEALTHY_RESET);
    let mut healthy = known.healthy_since.is_some();
    let mut fails = 0u32;
    let env = probe_env(p, project, task, rt);
    loop {
        let deadline = [next_probe, reset_at].into_iter().flatten().min();
        let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        match t.wake.wait_or(&pidfd, timeout) {
            super::wake::Woke::Fd => return Watched::Exited,
            super::wake::Woke::Wake => return Watched::Woken,
            super::wake::Woke::Timeout => {}
        }
        let now = Instant::now();
        if reset_at.is_some_and(|r| r <= now) {
            reset_at = None;
            if fails == 0 {
                set_facts(p, &t.name, |f| f.restarts = 0);
            } else {
                reset_at = Some(now + HEALTHY_RESET);
            }
        }
        if next_probe.is_some_and(|n| n <= now) {
            let probe = health::probe(task, true, &env);
            task::record_health(&p.ctx().tmux, &[(rt.pane_id.clone(), probe.clone())]);
            passed |= probe.ok;
            next_probe = Some(Instant::now() + step(passed));
            if probe.ok != healthy {
                // written when it changes, not at every probe
                healthy = probe.ok;
                let since = probe.ok.then(paths::now_secs);
                set_facts(p, &t.name, |f| f.healthy_since = since);
            }
            if probe.ok {
                fails = 0;
                continue;
            }
            if paths::now_secs() - started < task.boot_grace {
                continue;
            }
            fails += 1;
            let reason = probe.reason.unwrap_or_else(|| "unhealthy".into());
            p.emit(
                &t.name,
                Event::HealthCheckFailed {
                    attempt: fails,
                    method,
                    reason: reason.clone(),
                },
            );
            if fails >= task.health_retries.max(1) && task.restart_policy != RestartPolicy::No {
                return Watched::Unhealthy(reason);
            }
            // a failing task is not a healthy one: no reset of its counter
            reset_at = reset_at.map(|_| now + HEALTHY_RESET);
        }
    }
}

/// The environment a task's probes expand `$PORT` and `${VAR}` from.
fn probe_env(p: &dyn Owner, project: &Project, task: &Task, rt: &Runtime) -> Vec<(String, String)> {
    let record = p.record_env();
    task::task_env(project, task, &record, rt.port).unwrap_or(record)
}

/// Deals with a dead pane: reports a fresh exit, then restarts it by its policy (now, or
/// when its backoff is over), or leaves it. Returns how long to wait before looking
/// again (None: until woken), or None-in-Option when it should look again at once.
fn dead(
    p: &dyn Owner,
    t: &TaskSup,
    project: &Project,
    task: &Task,
    rt: &Runtime,
    mem: &mut Memory,
    held: Option<Held>,
) -> Option<Option<Duration>> {
    t.watching.store(rt.pane_pid, Ordering::SeqCst);
    let pid = rt.pane_pid;
    if mem.handled == pid {
        return Some(None);
    }
    // the exit of the process this supervisor watched: tmux may not have marked the pane
    // dead yet when the pidfd fired, so the exit code is read from the pane now
    // a state.json that cannot be read hides the manual-stop marks: leave the task until
    // it reads (said in the log), looking again after a heal interval
    let Some(state) = p.state() else {
        return Some(Some(p.heal_interval()));
    };
    let ours = state.manual_stop(&t.name) || state.restarting(&t.name);
    // each exit is told once; one that came before this supervisor first looked (the
    // daemon was down) is acted on but not told again
    if mem.reported != pid {
        mem.reported = pid;
        if !ours && mem.looked {
            let exited = Event::TaskExited {
                exit_code: rt.exit_code,
                signal: rt.signal,
            };
            p.emit(&t.name, exited);
        }
    }
    if ours {
        mem.handled = pid;
        return Some(None);
    }
    let wanted = match task.restart_policy {
        RestartPolicy::No => false,
        RestartPolicy::OnFailure => rt.exit_code != Some(0),
        RestartPolicy::Always => true,
    };
    if !wanted {
        mem.handled = pid;
        return Some(None);
    }
    let known = facts(p, &t.name);
    let n = known.restarts;
    if known.gave_up || (task.max_restarts > 0 && n >= task.max_restarts) {
        // said once, and remembered: a heal or a new daemon leaves it down too
        if !known.gave_up {
            give_up(p, &t.name, n, task.max_restarts);
        }
        mem.handled = pid;
        return Some(None);
    }
    let now = paths::now_secs();
    match known.backoff_until {
        Some(at) if at > now => return Some(Some(Duration::from_secs_f64(at - now))),
        Some(_) => {}
        None => {
            let delay = delay_for(n, task.restart_backoff);
            if delay > 0.0 {
                set_facts(p, &t.name, |f| f.backoff_until = Some(now + delay));
                return Some(Some(Duration::from_secs_f64(delay)));
            }
        }
    }
    relaunch(p, project, task, rt, &exit_reason(rt), held);
    None
}

/// The task reached its restart limit: remembered in `state.json` (so a heal or a new
/// daemon leaves it down too), its event, a line in the log.
fn give_up(p: &dyn Owner, task: &str, n: u32, max_restarts: u32) {
    set_facts(p, task, |f| {
        f.gave_up = true;
        f.backoff_until = None;
    });
    p.emit(
        task,
        Event::MaxRestartsReached {
            restarts: n,
            max_restarts,
        },
    );
    p.log(&format!("{task}: {n} restarts, the limit: it stays down"));
}

/// How the task's process ended, in a relaunch's words.
fn exit_reason(rt: &Runtime) -> String {
    match (rt.exit_code, rt.signal) {
        (_, Some(sig)) => format!("killed by signal {sig}"),
        (Some(0), _) => "exited cleanly (restart_policy = always)".to_string(),
        (Some(c), _) => format!("exited with code {c}"),
        (None, _) => "exited".to_string(),
    }
}

/// The delay before restart number `n + 1`: none for the first, then
/// `min(restart_backoff ^ n, 60)` seconds.
pub fn delay_for(n: u32, backoff: f64) -> f64 {
    if n == 0 {
        return 0.0;
    }
    backoff.powi(n.min(64) as i32).min(MAX_DELAY)
}

/// The project's authority, or None (said in the log) when it cannot be taken.
fn take_authority(p: &dyn Owner, task: &Task) -> Option<crate::lock::Authority> {
    match crate::lock::authority(&p.ctx().home, p.name()) {
        Ok(a) => Some(a),
        Err(e) => {
            p.log(&format!(
                "{}: cannot take the project's authority: {}",
                task.name,
                e.message()
            ));
            None
        }
    }
}

/// The project's authority, then a fresh look at the task: whether what the supervisor
/// decided on (the pane dead, or alive, with this pid; no stop by hand or restart in
/// between) still holds. None when it does not: the decision is dropped. A decision
/// taken under the authority (`held`) needs no second look at tmux; its look is returned
/// for the launch.
fn decide_again(
    p: &dyn Owner,
    project: &Project,
    task: &Task,
    rt: &Runtime,
    dead: bool,
    held: Option<Held>,
) -> Option<(Held, task::Ctx)> {
    let mut world = p.ctx();
    let held = match held {
        Some(h) => h,
        None => Held {
            _authority: take_authority(p, task)?,
            session: task::read_session(&world.tmux, &project.name).ok().flatten(),
        },
    };
    let now = held.session.as_ref().and_then(|r| r.get(&task.name));
    let same = now.is_some_and(|n| n.pane_pid == rt.pane_pid && n.dead == dead && (dead || n.running()));
    let state = p.state()?;
    if !same || state.manual_stop(&task.name) || state.restarting(&task.name) {
        p.log(&format!(
            "{}: the task changed while its restart waited (stopped, restarted or started by hand): no restart",
            task.name
        ));
        return None;
    }
    world.authority_held = true;
    Some((
        held,
        task::Ctx {
            project: project.clone(),
            world,
        },
    ))
}

/// The restart number this one is, counted in `state.json`, its backoff over.
fn count_restart(p: &dyn Owner, task: &str) -> u32 {
    let mut n = 0;
    set_facts(p, task, |f| {
        f.restarts += 1;
        f.backoff_until = None;
        f.healthy_since = None;
        n = f.restarts;
    });
    n
}

/// Starts a dead task again in its pane, counting the restart.
fn relaunch(p: &dyn Owner, project: &Project, task: &Task, rt: &Runtime, reason: &str, held: Option<Held>) {
    let Some((held, ctx)) = decide_again(p, project, task, rt, true, held) else {
        return;
    };
    let n = count_restart(p, &task.name);
    p.emit(
        &task.name,
        Event::AutoRestart {
            reason: reason.to_string(),
            attempt: n,
            exit_code: Some(rt.exit_code),
        },
    );
    match task::start_seen(&ctx, std::slice::from_ref(&task.name), held.session) {
        Ok(r) if !r.failed.is_empty() => {
            let why: Vec<String> = r.failed.iter().map(|(_, e)| e.message()).collect();
            p.log(&format!("{}: restart {n} failed: {}", task.name, why.join("; ")));
        }
        Ok(_) => p.log(&format!("{}: restarted ({reason}), restart {n}", task.name)),
        Err(e) => p.log(&format!("{}: restart {n} failed: {}", task.name, e.message())),
    }
}

/// Restarts a live task whose probes kept failing (stop, then start, in its window).
fn restart_unhealthy(p: &dyn Owner, t: &TaskSup, project: &Project, task: &Task, rt: &Runtime, why: &str) {
    let known = facts(p, &t.name);
    let n = known.restarts;
    if known.gave_up || (task.max_restarts > 0 && n >= task.max_restarts) {
        if !known.gave_up {
            set_facts(p, &t.name, |f| f.gave_up = true);
            p.emit(
                &t.name,
                Event::MaxRestartsReached {
                    restarts: n,
                    max_restarts: task.max_restarts,
                },
            );
        }
        // it runs on, unhealthy; nothing more is tried until it is started again
        t.wake.wait(None);
        return;
    }
    let delay = delay_for(n, task.restart_backoff);
    if delay > 0.0 && t.wake.wait(Some(Duration::from_secs_f64(delay))) {
        return;
    }
    let Some((_held, ctx)) = decide_again(p, project, task, rt, false, None) else {
        return;
    };
    let n = count_restart(p, &t.name);
    let reason = format!("unhealthy: {why}");
    p.emit(
        &t.name,
        Event::AutoRestart {
            reason: reason.clone(),
            attempt: n,
            exit_code: None,
        },
    );
    match task::restart(&ctx, std::slice::from_ref(&task.name)) {
        Ok(_) => p.log(&format!("{}: restarted ({reason}), restart {n}", t.name)),
        Err(e) => p.log(&format!("{}: restart {n} failed: {}", t.name, e.message())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(delay_for(0, 2.0), 0.0, "the first restart is immediate");
        assert_eq!(delay_for(1, 1.5), 1.5);
        assert_eq!(delay_for(2, 1.5), 2.25);
        assert_eq!(delay_for(10, 2.0), 60.0);
        assert_eq!(delay_for(u32::MAX, 10.0), 60.0);
    }
}
