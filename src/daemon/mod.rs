//! The per-machine supervisor, `taskmuxd`: the registry of projects it keeps up, one thread
//! per project and per task, heal after a killed tmux server or a reboot, its singleton
//! lock, its log, its signals, and its control socket. It is a front of the ops core: a
//! restart or a heal is `task::start`, a config change is `ops::reload::apply`.

pub mod log;
pub mod net;
pub mod privilege;
pub mod project;
pub mod routes;
pub mod supervisor;
pub mod wake;

use crate::config::GlobalConfig;
use crate::ctx::Ctx;
use crate::error::{Error, Kind, Result};
use crate::registry::{Entry, Registry};
use crate::supervision::{ApiStatus, DaemonLive, DaemonStatus, HealRecord, ProjectInfo, ServiceStatus};
use crate::watch::FileWatch;
use project::ProjectSup;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use wake::Wake;

/// What every thread of the daemon shares.
#[derive(Debug)]
pub struct Shared {
    /// The daemon's world: state directory, PATH, environment, events.
    pub base: Ctx,
    /// `daemon.log`.
    pub log: log::DaemonLog,
    /// When it started (epoch seconds).
    pub started_at: f64,
    /// Set when it is stopping.
    pub stopping: AtomicBool,
    /// The global config, reread on SIGHUP.
    pub global: Mutex<GlobalConfig>,
    /// The last heal.
    pub last_heal: Mutex<Option<HealRecord>>,
    /// Where the WebSocket API listens, or why it does not.
    pub api: Mutex<ApiStatus>,
    /// Where the HTTPS proxy listens, or why it does not.
    pub proxy: Mutex<ServiceStatus>,
    /// Where the DNS server listens, or why it does not (or that it is off).
    pub dns: Mutex<ServiceStatus>,
    /// The DNS server's zone, which follows `dns_managed_tld` on SIGHUP.
    pub dns_zone: Mutex<Option<Arc<crate::dns::Zone>>>,
    /// The supervised projects, by name.
    pub projects: Mutex<BTreeMap<String, Arc<ProjectSup>>>,
    /// The proxy's routes.
    pub routes: routes::Routes,
    /// One `tmux wait-for` thread per tmux server, by socket name.
    waiters: Mutex<HashMap<Option<String>, Arc<Wake>>>,
    /// Itself, for the worlds of the requests it carries out.
    me: std::sync::Weak<Shared>,
}

/// A lock, taken even when a thread panicked holding it.
pub fn guard<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Shared state for a daemon (or a monitor) with this world and log.
    pub fn new(base: Ctx, log: log::DaemonLog) -> Arc<Shared> {
        let global = GlobalConfig::load(&base.home).unwrap_or_else(|e| {
            log.line(&format!("global config: {}; using the defaults", e.message()));
            GlobalConfig::default()
        });
        let shared = Arc::new_cyclic(|me| Shared {
            me: me.clone(),
            base,
            log,
            started_at: crate::paths::now_secs(),
            stopping: AtomicBool::new(false),
            global: Mutex::new(global),
            last_heal: Mutex::new(None),
            api: Mutex::new(ApiStatus::default()),
            proxy: Mutex::new(ServiceStatus::off("not started")),
            dns: Mutex::new(ServiceStatus::off("host_resolver is not dns_server")),
            dns_zone: Mutex::new(None),
            projects: Mutex::new(BTreeMap::new()),
            routes: routes::Routes::default(),
            waiters: Mutex::new(HashMap::new()),
        });
        // events that cannot be written are said in the log: once when they start being
        // dropped, once when they are written again
        let me = Arc::downgrade(&shared);
        shared.base.events.watch_health(Arc::new(move |change| {
            let Some(s) = me.upgrade() else { return };
            s.log.line(&match change {
                crate::events::HealthChange::Failing(f) => {
                    format!(
                        "events: cannot write: {}; dropping them until it can ({})",
                        f.error, f.fix
                    )
                }
                crate::events::HealthChange::Written(f) => format!(
                    "events: written again to {}; {} were dropped since {}",
                    s.base.events.path().display(),
                    f.dropped,
                    f.since
                ),
            });
        }));
        shared
    }

    /// How often each project's session is checked (`health_check_interval`).
    pub fn heal_interval(&self) -> Duration {
        Duration::from_secs_f64(guard(&self.global).health_check_interval)
    }

    /// Rereads the global config (SIGHUP); a broken one keeps the last.
    pub fn reload_global(&self) {
        match GlobalConfig::load(&self.base.home) {
            Ok(g) => {
                if let Some(z) = guard(&self.dns_zone).as_ref()
                    && let Ok(true) = z.set_tld(&g.dns_managed_tld)
                {
                    self.log.line(&format!("dns: now answering *.{}", g.dns_managed_tld));
                }
                *guard(&self.global) = g;
                self.log.line("global config reread");
                for p in guard(&self.projects).values() {
                    // a heal look now, and the next one after the new interval
                    p.heal_now.store(true, Ordering::SeqCst);
                    p.wake.wake();
                }
            }
            Err(e) => self.log.line(&format!("global config not reread: {}", e.message())),
        }
    }

    /// Makes the supervised set follow the registry: new projects get a thread, removed
    /// ones stop being supervised (their tasks keep running), changed entries are taken.
    pub fn reconcile(self: &Arc<Self>, reg: &Registry) {
        let mut projects = guard(&self.projects);
        projects.retain(|name, p| {
            let keep = reg.projects.contains_key(name);
            if !keep {
                self.log.line(&format!("{name}: unregistered; no longer supervised"));
                p.retire();
            }
            keep
        });
        for (name, e) in &reg.projects {
            match projects.get(name) {
                Some(p) if p.entry() == *e => {}
                Some(p) => p.set_entry(e.clone()),
                None => match self.supervise(e.clone()) {
                    Ok(p) => {
                        projects.insert(name.clone(), p);
                    }
                    Err(err) => self.log.line(&format!("{name}: cannot supervise: {err}")),
                },
            }
        }
        drop(projects);
        self.ensure_waiters();
    }

    /// Starts supervising one project.
    pub fn supervise(self: &Arc<Self>, e: Entry) -> std::io::Result<Arc<ProjectSup>> {
        let p = Arc::new(ProjectSup::new(self.clone(), e)?);
        // supervised from now, not from the thread's first look: a `start` that registered
        // it returns with its supervisor in place
        p.take_lock();
        let p2 = p.clone();
        std::thread::Builder::new()
            .name(format!("project {}", p.name))
            .stack_size(512 * 1024)
            .spawn(move || project::run(p2))?;
        Ok(p)
    }

    /// One thread per tmux server our projects use, waiting on the channel every launch
    /// signals: it wakes the projects on that server at once, and notices the server going
    /// away (the wait ends with an error) so they heal without waiting for the interval.
    fn ensure_waiters(self: &Arc<Self>) {
        let sockets: Vec<Option<String>> = guard(&self.projects).values().map(|p| p.entry().tmux_socket).collect();
        let mut waiters = guard(&self.waiters);
        for s in sockets {
            if waiters.contains_key(&s) {
                continue;
            }
            let Ok(w) = Wake::new().map(Arc::new) else { continue };
            let (me, sock, w2) = (self.clone(), s.clone(), w.clone());
            let ok = std::thread::Builder::new()
                .name("tmux waiter".into())
                .stack_size(256 * 1024)
                .spawn(move || me.wait_launches(sock, &w2))
                .is_ok();
            if ok {
                waiters.insert(s, w);
            }
        }
    }

    fn projects_on(&self, socket: &Option<String>) -> Vec<Arc<ProjectSup>> {
        guard(&self.projects)
            .values()
            .filter(|p| p.entry().tmux_socket == *socket)
            .cloned()
            .collect()
    }

    fn wait_launches(&self, socket: Option<String>, rearm: &Wake) {
        let tmux = crate::tmux::Tmux::new(socket.clone(), self.base.tmux.path.clone(), None);
        while !self.stopping.load(Ordering::SeqCst) {
            let ended = tmux.spawn_wait_for(crate::task::LAUNCHED_CHANNEL).and_then(|mut c| {
                *guard(&WAIT_CHILDREN) = Some(c.id());
                c.wait().map_err(|e| Error::internal(e.to_string()))
            });
            let projects = self.projects_on(&socket);
            if projects.is_empty() {
                guard(&self.waiters).remove(&socket);
                return;
            }
            match ended {
                Ok(st) if st.success() => {
                    for p in projects {
                        p.launched.store(true, Ordering::SeqCst);
                        p.wake.wake();
                    }
                }
                _ => {
                    // no server: the projects heal now, and the wait is armed again after
                    // a heal interval (or sooner, when a heal starts the server)
                    for p in projects {
                        p.heal_now.store(true, Ordering::SeqCst);
                        p.wake.wake();
                    }
                    rearm.wait(Some(self.heal_interval().min(Duration::from_secs(5))));
                }
            }
        }
    }

    /// What `daemon status` reports.
    pub fn status(&self) -> DaemonStatus {
        let projects = guard(&self.projects);
        let supervised_tasks = projects
            .values()
            .filter(|p| p.supervising())
            .map(|p| p.tasks().len())
            .sum();
        DaemonStatus {
            running: true,
            pid: Some(std::process::id() as i32),
            live: Some(DaemonLive {
                started_at: Some(crate::paths::iso_time(self.started_at)),
                uptime_secs: Some((crate::paths::now_secs() - self.started_at).max(0.0).round() as u64),
                projects: projects.len(),
                supervised_tasks,
                last_heal: guard(&self.last_heal).clone(),
                socket: Some(self.base.home.join("daemon.sock")),
                log: Some(self.base.home.join("daemon.log")),
                version: env!("CARGO_PKG_VERSION").to_string(),
                api: guard(&self.api).clone(),
                proxy: guard(&self.proxy).clone(),
                dns: guard(&self.dns).clone(),
                events_failing: self.base.events.failing(),
            }),
            warning: None,
        }
    }

    /// The world of a request the daemon carries out: its own, knowing the daemon.
    pub fn request_ctx(&self) -> Ctx {
        let mut ctx = self.base.clone();
        ctx.daemon = Some(Arc::new(Handle(self.me.clone())));
        ctx.cancel = Default::default();
        ctx
    }

    /// What `daemon list` reports, from the daemon's view.
    pub fn list(&self) -> Vec<ProjectInfo> {
        guard(&self.projects)
            .values()
            .map(|p| {
                let e = p.entry();
                ProjectInfo {
                    name: p.name.clone(),
                    config_path: e.config_path,
                    tmux_socket: e.tmux_socket,
                    desired: e.desired,
                    config: p.config_state(),
                    supervised_by: if p.supervising() {
                        Some(std::process::id() as i32)
                    } else {
                        p.other_supervisor()
                    },
                    tasks: p.tasks().len(),
                }
            })
            .collect()
    }

    /// Ends every thread's work: projects and tasks stop being supervised (they keep
    /// running), the tmux waits end.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        for p in guard(&self.projects).values() {
            p.retire();
            for t in p.tasks() {
                t.retire();
            }
        }
        for w in guard(&self.waiters).values() {
            w.wake();
        }
        if let Some(pid) = guard(&WAIT_CHILDREN).take() {
            crate::proc::signal(pid as i32, rustix::process::Signal::TERM);
        }
    }
}

/// The daemon as the core sees it ([`crate::supervision::Daemon`]): a weak handle, so the
/// worlds of its requests do not keep it alive.
#[derive(Debug)]
struct Handle(std::sync::Weak<Shared>);

impl crate::supervision::Daemon for Handle {
    fn status(&self) -> DaemonStatus {
        match self.0.upgrade() {
            Some(s) => s.status(),
            None => DaemonStatus {
                running: false,
                pid: None,
                live: None,
                warning: Some("the daemon is stopping".into()),
            },
        }
    }

    fn list(&self) -> Vec<ProjectInfo> {
        self.0.upgrade().map(|s| s.list()).unwrap_or_default()
    }

    fn routes(&self) -> Vec<crate::supervision::RouteInfo> {
        self.0.upgrade().map(|s| s.routes.list(&s)).unwrap_or_default()
    }

    fn projects(&self) -> Vec<(String, Ctx)> {
        let Some(s) = self.0.upgrade() else { return Vec::new() };
        let ps: Vec<Arc<ProjectSup>> = guard(&s.projects).values().cloned().collect();
        ps.into_iter()
            .map(|p| {
                let mut ctx = p.ctx();
                ctx.daemon = Some(Arc::new(Handle(Arc::downgrade(&s))));
                (p.name.clone(), ctx)
            })
            .collect()
    }

    fn wake(&self, project: Option<&str>) -> Vec<String> {
        let Some(s) = self.0.upgrade() else { return Vec::new() };
        let projects = guard(&s.projects);
        let mut woken = Vec::new();
        for p in projects.values().filter(|p| project.is_none_or(|n| n == p.name)) {
            p.launched.store(true, Ordering::SeqCst);
            p.heal_now.store(true, Ordering::SeqCst);
            p.wake.wake();
            woken.push(p.name.clone());
        }
        woken
    }

    fn follow_registry(&self) {
        if let Some(s) = self.0.upgrade() {
            load_registry(&s);
        }
    }

    fn starting(&self, project: &str, on: bool) {
        let Some(s) = self.0.upgrade() else { return };
        if let Some(p) = guard(&s.projects).get(project) {
            p.starting(on);
        }
    }
}

/// The last `tmux wait-for` child started, ended at shutdown.
static WAIT_CHILDREN: Mutex<Option<u32>> = Mutex::new(None);

/// E302: the daemon (or a monitor) already runs.
pub fn already_running(what: &str, pid: Option<i32>) -> Error {
    Error::from(Kind::AlreadySupervised(match pid {
        Some(pid) => format!("{what} is already running (pid {pid})"),
        None => format!("{what} is already running"),
    }))
    .hint("stop it first: 'taskmux daemon stop'")
}

/// A front the daemon serves (the API's socket, the WebSocket): closed when it stops.
pub trait Front: Send {
    /// Stops serving.
    fn close(&self);
}

/// What starts the daemon's fronts once its state is up (the API lives above the daemon,
/// so the daemon is handed it, with the proxy's listeners bound before any privilege drop).
pub type Serve = Box<dyn FnOnce(Arc<Shared>) -> Result<Vec<Box<dyn Front>>>>;

/// Runs the daemon in this process until SIGTERM (exit 0) or another fatal signal (exit
/// 128+N). `capture_stderr`: the process was detached and stderr goes to the log.
pub fn run(base: Ctx, capture_stderr: bool, serve: Serve) -> Result<u8> {
    crate::paths::ensure_dir(&base.home)?;
    let held = match crate::lock::try_take(&crate::lock::daemon_lock(&base.home))? {
        Ok(h) => h,
        Err(pid) => return Err(already_running("taskmuxd", pid)),
    };
    let pid_file = base.home.join("daemon.pid");
    crate::paths::write_atomic(&pid_file, format!("{}\n", std::process::id()).as_bytes(), 0o600)?;
    let log = log::DaemonLog::new(Some(base.home.join("daemon.log")), log::MAX_BYTES, capture_stderr);
    let signals = Signals::new()?;
    let shared = Shared::new(base, log);
    shared.log.line(&format!(
        "taskmuxd {} started (pid {}, state {})",
        env!("CARGO_PKG_VERSION"),
        std::process::id(),
        shared.base.home.display()
    ));
    let fronts = serve(shared.clone())?;
    shared.base.events.emit(
        "daemon_started",
        "",
        None,
        serde_json::json!({"pid": std::process::id()}),
    );
    let reg_path = Registry::path(&shared.base.home);
    let mut reg_watch = FileWatch::new(&reg_path);
    load_registry(&shared);
    let mut ticks = 0u32;
    let code = loop {
        ticks = ticks.wrapping_add(1);
        if ticks % 10 == 1 {
            // every 5 s: the managed /etc/hosts block follows the registered hosts
            net::sync_hosts(&shared);
        }
        match signals.next(Duration::from_millis(500)) {
            Some(sig) if sig == libc_sig::HUP => shared.reload_global(),
            Some(sig) if sig == libc_sig::TERM => break 0,
            Some(sig) => break 128 + sig as u8,
            None => {}
        }
        if reg_watch.poll() {
            load_registry(&shared);
        }
    };
    shared.log.line(&format!("stopping (exit {code}); tasks keep running"));
    shared.stop();
    for f in &fronts {
        f.close();
    }
    shared.base.events.emit(
        "daemon_stopped",
        "",
        None,
        serde_json::json!({"pid": std::process::id(), "exit": code}),
    );
    let _ = std::fs::remove_file(&pid_file);
    drop(held);
    Ok(code)
}

fn load_registry(shared: &Arc<Shared>) {
    match Registry::load(&shared.base.home) {
        Ok(reg) => shared.reconcile(&reg),
        Err(e) => shared.log.line(&format!(
            "registry not read: {}; keeping the projects as they were",
            e.message()
        )),
    }
}

/// Supervises one project in the foreground (`start -m`) with the daemon's code, until
/// SIGINT (exit 130) or SIGTERM (exit 143); the tasks keep running.
pub fn monitor(base: Ctx, entry: Entry) -> Result<u8> {
    let path = crate::lock::supervise_lock(&base.home, &entry.session);
    if let Some(pid) = crate::lock::holder(&path) {
        return Err(already_running(
            &format!("a supervisor of '{}'", entry.session),
            Some(pid),
        ));
    }
    let signals = Signals::new()?;
    let log = log::DaemonLog::new(None, log::MAX_BYTES, false);
    let shared = Shared::new(base, log);
    let mut reg = Registry::default();
    reg.projects.insert(entry.session.clone(), entry);
    shared.reconcile(&reg);
    let code = loop {
        match signals.next(Duration::from_secs(3600)) {
            Some(sig) if sig == libc_sig::HUP => shared.reload_global(),
            Some(sig) => break 128 + sig as u8,
            None => {}
        }
    };
    shared.stop();
    // let the project thread drop its lock before the process goes
    std::thread::sleep(Duration::from_millis(50));
    Ok(code)
}

/// Signal numbers the daemon acts on.
mod libc_sig {
    pub const HUP: i32 = 1;
    pub const INT: i32 = 2;
    pub const QUIT: i32 = 3;
    pub const USR1: i32 = 10;
    pub const USR2: i32 = 12;
    pub const TERM: i32 = 15;
}

/// The signals a daemon handles, delivered to a channel: SIGTERM, SIGHUP, and the other
/// fatal ones it ends on with 128+N. SIGPIPE is ignored (a client that went away).
struct Signals {
    rx: std::sync::mpsc::Receiver<i32>,
}

impl Signals {
    fn new() -> Result<Signals> {
        use libc_sig::*;
        let mut it = signal_hook::iterator::Signals::new([HUP, INT, QUIT, USR1, USR2, TERM])
            .map_err(|e| Error::internal(format!("cannot handle signals: {e}")))?;
        let _ = signal_hook::flag::register(13, Arc::new(AtomicBool::new(false)));
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("signals".into())
            .stack_size(128 * 1024)
            .spawn(move || {
                for s in it.forever() {
                    if tx.send(s).is_err() {
                        return;
                    }
                }
            })
            .map_err(|e| Error::internal(format!("cannot handle signals: {e}")))?;
        Ok(Signals { rx })
    }

    fn next(&self, timeout: Duration) -> Option<i32> {
        self.rx.recv_timeout(timeout).ok()
    }
}
