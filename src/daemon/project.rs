//! One project under supervision: its thread follows the config on disk (through the same
//! `reload` op as `taskmux watch`), heals the session when it vanished, keeps one
//! supervisor thread per task, and wakes the idle ones when a task of theirs is launched.

use super::Shared;
use super::supervisor::{self, TaskSup};
use super::wake::Wake;
use crate::config::{self, Project};
use crate::ctx::Ctx;
use crate::events::{Event, HealFailure};
use crate::lock::{self, Held};
use crate::registry::{Desired, Entry};
use crate::state::State;
use crate::supervision::{ConfigState, HealRecord};
use crate::sync::guard;
use crate::task;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often a project another supervisor holds is looked at again.
const OTHER_SUPERVISOR: Duration = Duration::from_secs(2);
/// Stack of a supervisor thread: probes and starts need little.
const STACK: usize = 512 * 1024;

/// A supervised project.
#[derive(Debug)]
pub struct ProjectSup {
    /// The project (and session) name.
    pub name: String,
    shared: Arc<Shared>,
    entry: Mutex<Entry>,
    ctx: Mutex<Ctx>,
    project: Mutex<Option<Arc<Project>>>,
    config_state: Mutex<ConfigState>,
    tasks: Mutex<BTreeMap<String, Arc<TaskSup>>>,
    /// Wakes the project's thread.
    pub wake: Wake,
    retired: AtomicBool,
    /// Heal at the next wake-up (the tmux server went away).
    pub heal_now: AtomicBool,
    /// A task was launched on our tmux server: wake the idle supervisors.
    pub launched: AtomicBool,
    /// Its `taskmux.toml` changed: load it at the next wake-up.
    config_changed: AtomicBool,
    held: Mutex<Option<Held>>,
    /// Who else supervises it, while someone does.
    other: Mutex<Option<i32>>,
    /// Why `state.json` could not be read, while it cannot (said once in the log).
    state_error: Mutex<Option<String>>,
}

impl ProjectSup {
    /// A project to supervise, from its registry entry; its thread is not started yet.
    pub fn new(shared: Arc<Shared>, entry: Entry) -> std::io::Result<ProjectSup> {
        let ctx = project_ctx(&shared.base, &entry);
        Ok(ProjectSup {
            name: entry.session.clone(),
            shared,
            entry: Mutex::new(entry),
            ctx: Mutex::new(ctx),
            project: Mutex::new(None),
            config_state: Mutex::new(ConfigState::Ok),
            tasks: Mutex::new(BTreeMap::new()),
            wake: Wake::new()?,
            retired: AtomicBool::new(false),
            heal_now: AtomicBool::new(false),
            launched: AtomicBool::new(false),
            config_changed: AtomicBool::new(false),
            held: Mutex::new(None),
            other: Mutex::new(None),
            state_error: Mutex::new(None),
        })
    }

    /// Its `taskmux.toml` changed: it is loaded (and what runs follows it) at once.
    pub fn config_changed(&self) {
        self.config_changed.store(true, Ordering::SeqCst);
        self.wake.wake();
    }

    /// The registry entry.
    pub fn entry(&self) -> Entry {
        guard(&self.entry).clone()
    }

    /// Takes a changed registry entry (desired state, socket, config path).
    pub fn set_entry(&self, e: Entry) {
        if guard(&self.entry).tmux_socket != e.tmux_socket || guard(&self.entry).config_path != e.config_path {
            *guard(&self.ctx) = project_ctx(&self.shared.base, &e);
        }
        *guard(&self.entry) = e;
        self.heal_now.store(true, Ordering::SeqCst);
        self.wake.wake();
    }

    /// The world this project's operations run in.
    pub fn ctx(&self) -> Ctx {
        guard(&self.ctx).clone()
    }

    /// The last valid config.
    pub fn project(&self) -> Option<Arc<Project>> {
        guard(&self.project).clone()
    }

    /// What `daemon list` says of the config.
    pub fn config_state(&self) -> ConfigState {
        guard(&self.config_state).clone()
    }

    /// The pid of another supervisor (a `start -m` monitor) that holds the project.
    pub fn other_supervisor(&self) -> Option<i32> {
        *guard(&self.other)
    }

    /// Whether this daemon supervises the project now (holds its lock).
    pub fn supervising(&self) -> bool {
        guard(&self.held).is_some()
    }

    /// The task supervisors, by task.
    pub fn tasks(&self) -> Vec<Arc<TaskSup>> {
        guard(&self.tasks).values().cloned().collect()
    }

    /// Whether the daemon is stopping or this project left the registry.
    pub fn stopping(&self) -> bool {
        self.retired.load(Ordering::SeqCst) || self.shared.stopping.load(Ordering::SeqCst)
    }

    /// Ends the project's thread and its tasks' threads (the tasks keep running).
    pub fn retire(&self) {
        self.retired.store(true, Ordering::SeqCst);
        self.wake.wake();
    }

    /// How often the session's presence is checked.
    pub fn heal_interval(&self) -> Duration {
        self.shared.heal_interval()
    }

    /// A line in the daemon's log, about this project.
    pub fn log(&self, msg: &str) {
        self.shared.log.line(&format!("{}: {msg}", self.name));
    }

    /// An event about one of this project's tasks.
    pub fn emit(&self, task: &str, event: Event) {
        self.shared.base.events.emit(&self.name, Some(task), event);
    }

    /// The project's `state.json`, for a decision to start or restart a task; None when it
    /// cannot be read (corrupt, the wrong shape, unreadable): the manual-stop marks are
    /// unknown then, so the daemon starts nothing of the project until it reads again.
    /// Said once in the log, and again when it reads.
    pub fn state(&self) -> Option<State> {
        let read = State::load(&self.ctx().home, &self.name);
        let mut last = guard(&self.state_error);
        match read {
            Ok(state) => {
                if last.take().is_some() {
                    self.log("state.json reads again: heals and restarts resume");
                }
                Some(state)
            }
            Err(e) => {
                let why = e.message();
                if last.as_deref() != Some(why.as_str()) {
                    self.log(&format!(
                        "{why}; no heal or restart of its tasks until it reads ({})",
                        e.hint.as_deref().unwrap_or("fix the file")
                    ));
                    *last = Some(why);
                }
                None
            }
        }
    }

    /// The environment of record (the daemon's own when none was captured).
    pub fn record_env(&self) -> Vec<(String, String)> {
        let ctx = self.ctx();
        State::load(&ctx.home, &self.name)
            .ok()
            .and_then(|s| s.env())
            .unwrap_or(ctx.env)
    }

    /// Loads the config; a valid one replaces the last, through a reload when tasks ran
    /// on the last. An invalid or missing one keeps what runs, and says why.
    fn load_config(&self) {
        let ctx = self.ctx();
        let path = self.entry().config_path;
        if !path.is_file() {
            self.set_config_state(ConfigState::ConfigMissing, || format!("{} is missing", path.display()));
            return;
        }
        match config::load_in(&path, ctx.user_home()) {
            Ok(new) => {
                let hosts = |p: &Project| -> Vec<Option<String>> { p.tasks.iter().map(|t| t.host.clone()).collect() };
                let old_hosts = self.project().map(|p| hosts(&p));
                if let Some(old) = self.project() {
                    let d = crate::ops::reload::diff(&old, &new);
                    if d != Default::default() {
                        let a = crate::ops::reload::apply(&ctx, &old, &new, &d);
                        self.log(&format!(
                            "config reloaded: added {:?}, removed {:?}, changed {:?}, started {:?}",
                            d.added, d.removed, d.changed, a.started
                        ));
                        for (t, e) in &a.errors {
                            self.log(&format!("reload of {t} failed: {}", e.message()));
                        }
                    }
                }
                let hosts_changed = old_hosts.is_some_and(|h| h != hosts(&new));
                *guard(&self.project) = Some(Arc::new(new));
                self.set_config_state(ConfigState::Ok, String::new);
                if hosts_changed {
                    // a managed /etc/hosts block lists the names as the config now has them
                    super::net::sync_hosts(&self.shared);
                }
                for t in self.tasks() {
                    t.wake.wake();
                }
            }
            Err(e) => {
                let message = format!("error[{}]: {}", e.code(), e.message());
                self.set_config_state(
                    ConfigState::Error {
                        message: message.clone(),
                    },
                    || format!("{message}; what runs is kept"),
                );
            }
        }
    }

    fn set_config_state(&self, s: ConfigState, say: impl FnOnce() -> String) {
        let mut cur = guard(&self.config_state);
        if *cur != s {
            if s != ConfigState::Ok || *cur != ConfigState::Ok {
                self.shared.log.line(&format!("{}: {}", self.name, say()));
            }
            *cur = s;
        }
    }

    /// One supervisor thread per task of the config; the threads of tasks that left end.
    fn sync_tasks(self: &Arc<Self>) {
        let names: Vec<String> = self
            .project()
            .map(|p| p.tasks.iter().map(|t| t.name.clone()).collect())
            .unwrap_or_default();
        let mut tasks = guard(&self.tasks);
        tasks.retain(|n, t| {
            let keep = names.contains(n);
            if !keep {
                t.retire();
            }
            keep
        });
        for n in names {
            if tasks.contains_key(&n) {
                continue;
            }
            let Ok(t) = TaskSup::new(&n).map(Arc::new) else {
                self.log(&format!("{n}: cannot make a wake-up fd; not supervised"));
                continue;
            };
            let (p, t2) = (self.clone(), t.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("sup {}", n))
                .stack_size(STACK)
                .spawn(move || supervisor::run(p, t2));
            match spawned {
                Ok(_) => {
                    tasks.insert(n, t);
                }
                Err(e) => self.log(&format!("{n}: cannot start its supervisor: {e}")),
            }
        }
    }

    /// Brings a project that should be up back to its config: when its session is gone
    /// (a killed server, a reboot) or an `auto_start` task's window is, those tasks that
    /// were not stopped by hand start again, with the environment of record.
    fn heal(&self) {
        if self.entry().desired != Desired::Up || self.shared.starting(&self.name) {
            return;
        }
        let Some(project) = self.project() else { return };
        let ctx = self.ctx();
        let rts = match task::read_session(&ctx.tmux, &project.name) {
            Ok(r) => r,
            Err(e) => {
                self.log(&format!("cannot read tmux to heal: {}", e.message()));
                return;
            }
        };
        let Some(state) = self.state() else { return };
        let missing = missing(&project, &state, |t| rts.as_ref().is_some_and(|r| r.contains_key(t)));
        if missing.is_empty() {
            return;
        }
        let session_gone = rts.is_none();
        let by_hand = project
            .tasks
            .iter()
            .any(|t| state.manual_stop(&t.name) || state.facts(&t.name).gave_up);
        let names = if session_gone && !by_hand { Vec::new() } else { missing };
        let tctx = task::Ctx {
            project: (*project).clone(),
            world: ctx,
        };
        let reason = if session_gone {
            "session missing"
        } else {
            "windows missing"
        };
        // whoever brings them back, dependents wait for their dependencies' health
        let started = match names.is_empty() {
            true => task::start(&tctx, &names, false),
            false => task::start_in_order(&tctx, &names),
        };
        match started {
            Ok(r) => {
                let failed = r
                    .failed
                    .iter()
                    .map(|(t, e)| HealFailure {
                        task: t.clone(),
                        error: e.message(),
                    })
                    .collect();
                self.shared.base.events.emit(
                    &self.name,
                    None,
                    Event::ProjectHealed {
                        tasks: r.started.clone(),
                        reason: reason.to_string(),
                        failed,
                    },
                );
                self.log(&format!("healed ({reason}): started {:?}", r.started));
                *guard(&self.shared.last_heal) = Some(HealRecord {
                    at: crate::paths::iso_time(crate::paths::now_secs()),
                    session: self.name.clone(),
                    reason: reason.to_string(),
                    tasks: r.started,
                });
            }
            Err(e) => self.log(&format!("heal ({reason}) failed: {}", e.message())),
        }
        for t in self.tasks() {
            t.wake.wake();
        }
    }

    /// The heal interval's look, from the windows of every session of its tmux server
    /// (None: no server): heals at once when something is missing that a heal would
    /// start. No tmux call of its own.
    pub fn sweep(&self, windows: Option<&std::collections::HashSet<(String, String)>>) {
        if self.entry().desired != Desired::Up {
            return;
        }
        let (Some(project), Some(state)) = (self.project(), self.state()) else {
            return;
        };
        let present = |t: &str| windows.is_some_and(|w| w.contains(&(self.name.clone(), t.to_string())));
        if !missing(&project, &state, present).is_empty() {
            self.heal_soon();
        }
    }

    /// Heals at the thread's next wake-up, which is now.
    pub fn heal_soon(&self) {
        self.heal_now.store(true, Ordering::SeqCst);
        self.wake.wake();
    }

    /// After a launch on our tmux server: wakes each supervisor whose task has a pane it
    /// has not seen, running or already ended (a task that failed at once must still be
    /// restarted by its policy); one tmux read for the project.
    fn wake_idle(&self) {
        let Ok(Some(rts)) = task::read_session(&self.ctx().tmux, &self.name) else {
            return;
        };
        for t in self.tasks() {
            if let Some(rt) = rts.get(&t.name)
                && rt.pane_pid != t.watching.load(Ordering::SeqCst)
            {
                t.wake.wake();
            }
        }
    }

    /// Takes the project's supervisor lock, or notes who holds it.
    pub(super) fn take_lock(&self) -> bool {
        if self.supervising() {
            return true;
        }
        let path = lock::supervise_lock(&self.ctx().home, &self.name);
        match lock::try_take(&path) {
            Ok(Ok(h)) => {
                *guard(&self.held) = Some(h);
                *guard(&self.other) = None;
                self.heal_now.store(true, Ordering::SeqCst);
                true
            }
            Ok(Err(pid)) => {
                let mut other = guard(&self.other);
                if *other != pid {
                    self.log(&format!(
                        "supervised by another process (pid {pid:?}); waiting for it to end"
                    ));
                    *other = pid;
                }
                false
            }
            Err(e) => {
                self.log(&format!("cannot take the supervisor lock: {}", e.message()));
                false
            }
        }
    }
}

impl supervisor::Owner for ProjectSup {
    fn name(&self) -> &str {
        &self.name
    }
    fn ctx(&self) -> Ctx {
        ProjectSup::ctx(self)
    }
    fn project(&self) -> Option<Arc<Project>> {
        ProjectSup::project(self)
    }
    fn state(&self) -> Option<State> {
        ProjectSup::state(self)
    }
    fn record_env(&self) -> Vec<(String, String)> {
        ProjectSup::record_env(self)
    }
    fn stopping(&self) -> bool {
        ProjectSup::stopping(self)
    }
    fn heal_interval(&self) -> Duration {
        ProjectSup::heal_interval(self)
    }
    fn heal_soon(&self) {
        ProjectSup::heal_soon(self)
    }
    fn log(&self, msg: &str) {
        ProjectSup::log(self, msg)
    }
    fn emit(&self, task: &str, event: Event) {
        ProjectSup::emit(self, task, event)
    }
}

/// The world of a project's operations: the daemon's, on the project's tmux server, with
/// its config, and the environment of record as the environment (so a heal or a restart
/// never replaces the record with the daemon's own).
pub fn project_ctx(base: &Ctx, e: &Entry) -> Ctx {
    let mut ctx = base.clone();
    ctx.tmux = crate::tmux::Tmux::new(e.tmux_socket.clone(), base.tmux.path.clone(), Some(base.home.clone()));
    ctx.config = Some(e.config_path.clone());
    if let Some(dir) = e.config_path.parent() {
        ctx.cwd = dir.to_path_buf();
    }
    if let Some(env) = State::load(&base.home, &e.session).ok().and_then(|s| s.env()) {
        ctx.env = env;
    }
    ctx.cancel = Default::default();
    ctx
}

/// The `auto_start` tasks a heal starts when `present` says their window is missing: not
/// those stopped by hand, nor those that gave up (max_restarts), which stay down until
/// someone starts them.
fn missing(project: &Project, state: &State, present: impl Fn(&str) -> bool) -> Vec<String> {
    project
        .tasks
        .iter()
        .filter(|t| project.auto_start && t.auto_start && !state.manual_stop(&t.name))
        .filter(|t| !state.facts(&t.name).gave_up)
        .filter(|t| !present(&t.name))
        .map(|t| t.name.clone())
        .collect()
}

/// The project's thread: until retired, follow the config, keep task supervisors, heal.
/// It sleeps until woken, with no timer: a change to its config, a launch on its tmux
/// server, a request, a task's window gone, or the daemon's heal interval finding
/// something missing ([`ProjectSup::sweep`]).
pub fn run(p: Arc<ProjectSup>) {
    let mut watched = p.entry().config_path;
    p.load_config();
    // the first look heals: a daemon that starts brings back what a reboot took
    p.heal_now.store(true, Ordering::SeqCst);
    while !p.stopping() {
        if !p.take_lock() {
            // another supervisor (a `start -m`) holds it: look again now and then
            p.wake.wait(Some(OTHER_SUPERVISOR));
            continue;
        }
        let path = p.entry().config_path;
        if path != watched || p.config_changed.swap(false, Ordering::SeqCst) {
            watched = path;
            p.load_config();
        }
        p.sync_tasks();
        if p.heal_now.swap(false, Ordering::SeqCst) {
            p.heal();
        }
        if p.launched.swap(false, Ordering::SeqCst) {
            p.wake_idle();
        }
        p.wake.wait(None);
    }
    for t in guard(&p.tasks).values() {
        t.retire();
    }
    *guard(&p.held) = None;
}
