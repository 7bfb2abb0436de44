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
use crate::supervision::{
    ApiStatus, ConfigApplied, DaemonLive, DaemonStatus, HealRecord, NotApplied, ProjectInfo, ServiceStatus,
};
use crate::sync::guard;
use crate::watch::FileWatch;
use project::ProjectSup;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
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
    /// What hears of changes to the files it follows (None: it looks at them instead).
    notify: Mutex<Option<Arc<crate::notify::Notify>>>,
    /// Starts of each project the daemon is carrying out for a front: no heal of a project
    /// meanwhile (the start brings up what the heal would, in order).
    starts: Mutex<HashMap<String, usize>>,
    /// Why config.toml on disk is not in force (it does not load), while it does not.
    pub config_error: Mutex<Option<String>>,
    /// The network services it keeps.
    services: Mutex<Services>,
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
            notify: Mutex::new(None),
            starts: Mutex::new(HashMap::new()),
            config_error: Mutex::new(None),
            services: Mutex::new(Services::default()),
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

    /// SIGHUP: the global config is read again, and the log says so (applied or not).
    fn hangup(self: &Arc<Self>) {
        self.log.line("SIGHUP: global config reread");
        self.reload_global();
    }

    /// Rereads the global config (SIGHUP, or config.toml changed) and applies what changed:
    /// the proxy, the DNS server and the WebSocket are made again on their new addresses,
    /// the DNS zone follows `dns_managed_tld`, the projects their new heal interval. A file
    /// that does not load keeps the last good config, and the error is shown by `daemon
    /// status` and `doctor` until it loads.
    pub fn reload_global(self: &Arc<Self>) -> ConfigApplied {
        let mut applied = ConfigApplied {
            pid: std::process::id() as i32,
            ..Default::default()
        };
        let new = match GlobalConfig::load(&self.base.home) {
            Ok(g) => g,
            Err(e) => {
                let why = format!("error[{}]: {}", e.code(), e.message());
                self.log
                    .line(&format!("global config not applied (the last good one is kept): {why}"));
                *guard(&self.config_error) = Some(why.clone());
                applied.error = Some(why);
                return applied;
            }
        };
        *guard(&self.config_error) = None;
        let old = std::mem::replace(&mut *guard(&self.global), new.clone());
        if old == new {
            return applied;
        }
        self.log.line("global config applied");
        if old.dns_managed_tld != new.dns_managed_tld
            && let Some(z) = guard(&self.dns_zone).as_ref()
            && let Ok(true) = z.set_tld(&new.dns_managed_tld)
        {
            self.log.line(&format!("dns: now answering *.{}", new.dns_managed_tld));
            applied.changed.push("dns_managed_tld".into());
        }
        let proxy_keys = (
            old.proxy_enabled,
            &old.proxy_bind,
            old.proxy_https_port,
            old.proxy_http_port,
        ) != (
            new.proxy_enabled,
            &new.proxy_bind,
            new.proxy_https_port,
            new.proxy_http_port,
        ) || old.upstream_timeout() != new.upstream_timeout()
            || old.dns_managed_tld != new.dns_managed_tld;
        if proxy_keys {
            if let Some(f) = guard(&self.services).proxy.take() {
                f.close();
            }
            let bound = net::bind_proxy(&new);
            let denied = matches!(&bound, Some(Err(e)) if e.kind() == std::io::ErrorKind::PermissionDenied);
            let proxy = net::start_proxy(self, bound);
            guard(&self.services).proxy = proxy;
            let mut status = guard(&self.proxy).clone();
            if denied && !privilege::is_root() {
                // bound as root at its start, it is the user now: only a restart binds it
                status.fix = Some(format!(
                    "run 'sudo taskmux daemon restart' (it binds port {} as root, then drops to you)",
                    new.proxy_https_port
                ));
            }
            applied.service("proxy", &status);
        }
        if (old.host_resolver, old.dns_server_port) != (new.host_resolver, new.dns_server_port) {
            if let Some(f) = guard(&self.services).dns.take() {
                f.close();
            }
            let dns = net::start_dns(self);
            guard(&self.services).dns = dns;
            applied.service("dns", &guard(&self.dns));
        }
        if (&old.api_bind, old.api_port) != (&new.api_bind, new.api_port) {
            let make = guard(&self.services).make_websocket.clone();
            if let Some(f) = guard(&self.services).websocket.take() {
                f.close();
            }
            if let Some(make) = make {
                let ws = make(self.clone());
                guard(&self.services).websocket = Some(ws);
            }
            let api = guard(&self.api).clone();
            match api.error {
                None => applied.changed.push("websocket".into()),
                Some(e) => applied.not_applied.push(NotApplied {
                    what: "websocket".into(),
                    why: e,
                    fix: Some("free the port, or taskmux config set api_port PORT".into()),
                }),
            }
        }
        if old.api_allowed_origins != new.api_allowed_origins {
            applied.changed.push("api_allowed_origins".into());
        }
        if old.health_check_interval != new.health_check_interval {
            applied.changed.push("health_check_interval".into());
        }
        for p in guard(&self.projects).values() {
            // a heal look now, and the next one after the new interval
            p.heal_soon();
        }
        net::sync_hosts(self);
        applied
    }

    /// Makes the supervised set follow the registry: new projects get a thread, removed
    /// ones stop being supervised (their tasks keep running), changed entries are taken.
    pub fn reconcile(self: &Arc<Self>, reg: &Registry) {
        let mut projects = guard(&self.projects);
        projects.retain(|name, p| {
            let keep = reg.projects.contains_key(name);
            if !keep {
                self.log.line(&format!("{name}: unregistered; no longer supervised"));
                if let Some(n) = guard(&self.notify).as_ref() {
                    n.forget(&format!("{PROJECT}{name}"));
                }
                p.retire();
            }
            keep
        });
        for (name, e) in &reg.projects {
            match projects.get(name) {
                Some(p) if p.entry() == *e => {}
                Some(p) => {
                    if p.entry().config_path != e.config_path {
                        self.watch_project(name, &e.config_path);
                    }
                    p.set_entry(e.clone())
                }
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
        self.watch_project(&p.name, &p.entry().config_path);
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

    /// Arms the wait on tmux server `socket` again, when it ended for want of a server.
    fn rearm(&self, socket: &Option<String>) {
        if let Some(w) = guard(&self.waiters).get(socket) {
            w.wake();
        }
    }

    /// The heal interval's look at every project: one `list-panes -a` per tmux server,
    /// and a heal now for each project missing something a heal would start
    /// ([`ProjectSup::sweep`]). The one timer of an idle daemon.
    fn sweep(&self) {
        let mut by_socket: HashMap<Option<String>, Vec<Arc<ProjectSup>>> = HashMap::new();
        for p in guard(&self.projects).values() {
            by_socket.entry(p.entry().tmux_socket).or_default().push(p.clone());
        }
        for (socket, projects) in by_socket {
            let tmux = projects[0].ctx().tmux;
            let windows = match tmux.list_panes(None, &["session_name", "@taskmux-task"]) {
                Ok(rows) => rows.map(|rows| {
                    rows.into_iter()
                        .filter_map(|r| match &r[..] {
                            [s, t] if !t.is_empty() => Some((s.clone(), t.clone())),
                            _ => None,
                        })
                        .collect::<std::collections::HashSet<_>>()
                }),
                Err(e) => {
                    self.log.line(&format!("heal look: cannot read tmux: {}", e.message()));
                    continue;
                }
            };
            if windows.is_some() {
                self.rearm(&socket);
            }
            for p in projects {
                p.sweep(windows.as_ref());
            }
        }
    }

    pub(crate) fn projects_on(&self, socket: &Option<String>) -> Vec<Arc<ProjectSup>> {
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
                    // no server: the projects heal now, and the wait is armed again when
                    // the daemon launches there or its heal interval finds the server
                    for p in projects {
                        p.heal_soon();
                    }
                    rearm.wait(None);
                }
            }
        }
    }

    /// What `daemon status` reports.
    pub fn status(&self) -> DaemonStatus {
        // before the projects' lock: listing the routes takes it
        let aliases = self
            .routes
            .list(self)
            .into_iter()
            .filter(|r| r.target.is_some())
            .collect();
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
                config_error: guard(&self.config_error).clone(),
                aliases,
                events_failing: self.base.events.failing(),
            }),
            warning: None,
        }
    }

    /// Follows the state directory: its removal, `registry.json`, `config.toml`; and tells
    /// the main thread, through `signals`, of each change once it has settled. Without
    /// inotify (out of watches, another system), it looks at them every few seconds.
    /// `home`: the state directory's own files too (a daemon; not a `start -m`).
    fn watch_files(self: &Arc<Self>, signals: &Signals, home_too: bool) {
        let home = &self.base.home;
        let notify = match crate::notify::Notify::new() {
            Ok(n) => Arc::new(n),
            Err(e) => {
                self.log
                    .line(&format!("cannot watch files ({e}): looking at them every 5 s"));
                return self.poll_home(signals);
            }
        };
        // the home's own removal is heard late (open files in it keep it until they close):
        // the removal of daemon.lock, which rm -r takes first, is heard at once
        let watched = match home_too {
            false => Ok(()),
            true => notify
                .watch_gone(home, HOME_GONE)
                .and_then(|_| notify.watch_file(&crate::lock::daemon_lock(home), HOME_GONE))
                .and_then(|_| notify.watch_file(&Registry::path(home), REGISTRY))
                .and_then(|_| notify.watch_file(&crate::aliases::Aliases::path(home), ALIASES))
                .and_then(|_| notify.watch_file(&GlobalConfig::path(home), CONFIG)),
        };
        if let Err(e) = watched {
            self.log
                .line(&format!("cannot watch {} ({e}): looking every 5 s", home.display()));
            return self.poll_home(signals);
        }
        *guard(&self.notify) = Some(notify.clone());
        let tx = signals.tx.clone();
        let me = Arc::downgrade(self);
        let _ = std::thread::Builder::new()
            .name("file watch".into())
            .stack_size(128 * 1024)
            .spawn(move || {
                while let Ok(keys) = notify.wait() {
                    if me.upgrade().is_none_or(|s| s.stopping.load(Ordering::SeqCst))
                        || tx.send(Woken::Changed(keys)).is_err()
                    {
                        return;
                    }
                }
            });
    }

    /// [`Shared::watch_files`] without inotify: a look every 5 s at the same files.
    fn poll_home(self: &Arc<Self>, signals: &Signals) {
        let home = self.base.home.clone();
        let tx = signals.tx.clone();
        let me = Arc::downgrade(self);
        let _ = std::thread::Builder::new()
            .name("file poll".into())
            .stack_size(128 * 1024)
            .spawn(move || {
                let mut reg = FileWatch::new(&Registry::path(&home));
                let mut cfg = FileWatch::new(&GlobalConfig::path(&home));
                let mut projects: HashMap<String, FileWatch> = HashMap::new();
                loop {
                    std::thread::sleep(Duration::from_secs(5));
                    let Some(s) = me.upgrade() else { return };
                    let mut keys = std::collections::BTreeSet::new();
                    if !home.is_dir() {
                        keys.insert(HOME_GONE.to_string());
                    }
                    if reg.poll() {
                        keys.insert(REGISTRY.to_string());
                    }
                    if cfg.poll() {
                        keys.insert(CONFIG.to_string());
                    }
                    for p in guard(&s.projects).values() {
                        let path = p.entry().config_path;
                        let w = projects.entry(p.name.clone()).or_insert_with(|| FileWatch::new(&path));
                        if w.poll() {
                            keys.insert(format!("{PROJECT}{}", p.name));
                        }
                    }
                    if !keys.is_empty() && tx.send(Woken::Changed(keys)).is_err() {
                        return;
                    }
                }
            });
    }

    /// Whether the daemon is carrying out a start of `project` for a front.
    pub fn starting(&self, project: &str) -> bool {
        guard(&self.starts).contains_key(project)
    }

    /// Follows a supervised project's `taskmux.toml` (its path may have changed).
    fn watch_project(&self, name: &str, config: &std::path::Path) {
        if let Some(n) = guard(&self.notify).as_ref() {
            let key = format!("{PROJECT}{name}");
            n.forget(&key);
            if let Err(e) = n.watch_file(config, &key) {
                self.log
                    .line(&format!("{name}: cannot watch {} ({e})", config.display()));
            }
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

    fn apply_config(&self) -> ConfigApplied {
        match self.0.upgrade() {
            Some(s) => s.reload_global(),
            None => ConfigApplied::default(),
        }
    }

    fn starting(&self, project: &str, on: bool) {
        let Some(s) = self.0.upgrade() else { return };
        {
            let mut starts = guard(&s.starts);
            let n = starts.entry(project.to_string()).or_insert(0);
            match on {
                true => *n += 1,
                false => *n = n.saturating_sub(1),
            }
            if *n == 0 {
                starts.remove(project);
            }
        }
        if !on && let Some(p) = guard(&s.projects).get(project) {
            // what the start did not bring up, a heal may
            p.launched.store(true, Ordering::SeqCst);
            p.heal_soon();
            s.rearm(&p.entry().tmux_socket);
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

/// What the daemon serves, handed to it by its front (the API lives above the daemon): the
/// proxy's listeners, bound before any privilege drop; daemon.sock, whose first answer is
/// what `daemon start` waits for; and how to make the WebSocket, again when its keys change.
pub struct Fronts {
    /// The proxy's listeners (None: the proxy is off).
    pub bound: net::Bound,
    /// Binds daemon.sock and serves it.
    pub socket: MakeSocket,
    /// Starts the WebSocket API on the global config's address.
    pub websocket: MakeFront,
}

/// What binds daemon.sock and serves it.
pub type MakeSocket = Box<dyn FnOnce(Arc<Shared>) -> Result<Box<dyn Front>>>;
/// What makes a front (again).
pub type MakeFront = Arc<dyn Fn(Arc<Shared>) -> Box<dyn Front> + Send + Sync>;

/// The network services a running daemon keeps, each made again when the global config
/// changes what it listens on.
#[derive(Default)]
pub struct Services {
    proxy: Option<Box<dyn Front>>,
    dns: Option<Box<dyn Front>>,
    websocket: Option<Box<dyn Front>>,
    make_websocket: Option<MakeFront>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("proxy", &self.proxy.is_some())
            .field("dns", &self.dns.is_some())
            .field("websocket", &self.websocket.is_some())
            .finish()
    }
}

/// Runs the daemon in this process until SIGTERM (exit 0) or another fatal signal (exit
/// 128+N). `capture_stderr`: the process was detached and stderr goes to the log.
pub fn run(base: Ctx, capture_stderr: bool, fronts: Fronts) -> Result<u8> {
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
    // the proxy and DNS first: when daemon.sock answers (what `daemon start` waits for),
    // `daemon status` already says how they are
    {
        let proxy = net::start_proxy(&shared, fronts.bound);
        let dns = net::start_dns(&shared);
        let websocket = (fronts.websocket)(shared.clone());
        let mut s = guard(&shared.services);
        s.proxy = proxy;
        s.dns = dns;
        s.websocket = Some(websocket);
        s.make_websocket = Some(fronts.websocket.clone());
    }
    let socket = (fronts.socket)(shared.clone())?;
    shared.base.events.emit(
        "",
        None,
        crate::events::Event::DaemonStarted {
            pid: std::process::id(),
        },
    );
    shared.watch_files(&signals, true);
    load_registry(&shared);
    net::sync_hosts(&shared);
    // asleep until a signal, a change to a file it follows, or the heal interval
    let mut due = Instant::now() + shared.heal_interval();
    let code = loop {
        match signals.next(due) {
            Some(Woken::Due) => {
                shared.sweep();
                due = Instant::now() + shared.heal_interval();
            }
            Some(Woken::Signal(sig)) if sig == crate::signals::SIGHUP => shared.hangup(),
            Some(Woken::Signal(sig)) if sig == crate::signals::SIGTERM => break 0,
            Some(Woken::Signal(sig)) => break 128 + sig as u8,
            Some(Woken::Changed(keys)) => {
                if keys.contains(HOME_GONE) && !held.still_there() {
                    let line = format!(
                        "taskmuxd: its state directory {} (or its daemon.lock) was removed; exiting (tasks keep running)",
                        shared.base.home.display()
                    );
                    eprintln!("{line}");
                    shared.log.line(&line);
                    break 0;
                }
                if keys.contains(CONFIG) {
                    shared.reload_global();
                }
                if keys.contains(REGISTRY) {
                    load_registry(&shared);
                }
                if keys.contains(ALIASES) {
                    // served at once, and listed in the hosts block
                    shared.routes.rebuild(&shared);
                }
                for name in keys.iter().filter_map(|k| k.strip_prefix(PROJECT)) {
                    if let Some(p) = guard(&shared.projects).get(name) {
                        p.config_changed();
                    }
                }
                net::sync_hosts(&shared);
            }
            None => break 1,
        }
    };
    shared.log.line(&format!("stopping (exit {code}); tasks keep running"));
    shared.stop();
    socket.close();
    let s = std::mem::take(&mut *guard(&shared.services));
    for f in [s.proxy, s.dns, s.websocket].into_iter().flatten() {
        f.close();
    }
    shared.base.events.emit(
        "",
        None,
        crate::events::Event::DaemonStopped {
            pid: std::process::id(),
            exit: code,
        },
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
    shared.watch_files(&signals, false);
    let mut reg = Registry::default();
    reg.projects.insert(entry.session.clone(), entry);
    shared.reconcile(&reg);
    let mut due = Instant::now() + shared.heal_interval();
    let code = loop {
        match signals.next(due) {
            Some(Woken::Due) => {
                shared.sweep();
                due = Instant::now() + shared.heal_interval();
            }
            Some(Woken::Signal(sig)) if sig == crate::signals::SIGHUP => shared.hangup(),
            Some(Woken::Signal(sig)) => break 128 + sig as u8,
            Some(Woken::Changed(keys)) => {
                for name in keys.iter().filter_map(|k| k.strip_prefix(PROJECT)) {
                    if let Some(p) = guard(&shared.projects).get(name) {
                        p.config_changed();
                    }
                }
            }
            None => break 1,
        }
    };
    shared.stop();
    // let the project thread drop its lock before the process goes
    std::thread::sleep(Duration::from_millis(50));
    Ok(code)
}

/// What wakes the daemon's main thread.
enum Woken {
    /// A signal.
    Signal(i32),
    /// Files it follows changed: their keys ([`REGISTRY`], [`CONFIG`], [`HOME_GONE`],
    /// [`PROJECT`] + a project's name).
    Changed(std::collections::BTreeSet<String>),
    /// The heal interval is over.
    Due,
}

/// The key of a change to `registry.json`.
const REGISTRY: &str = "registry";
/// The key of a change to the global `config.toml`.
const CONFIG: &str = "config";
/// The key of the state directory's removal.
const HOME_GONE: &str = "home";
/// The key of a change to `aliases.json`.
const ALIASES: &str = "aliases";
/// The prefix of the key of a change to a project's `taskmux.toml`.
const PROJECT: &str = "project:";

/// The signals a daemon handles and the file changes it follows, delivered to one channel:
/// SIGTERM, SIGHUP, and the other fatal ones it ends on with 128+N (SIGPIPE is ignored: a
/// client that went away); and what its [`crate::notify::Notify`] hears.
struct Signals {
    rx: std::sync::mpsc::Receiver<Woken>,
    tx: std::sync::mpsc::Sender<Woken>,
}

impl Signals {
    fn new() -> Result<Signals> {
        use crate::signals::*;
        let (tx, rx) = std::sync::mpsc::channel();
        forward(
            &[SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGTERM],
            tx.clone(),
            Woken::Signal,
        )?;
        ignore_broken_pipe();
        Ok(Signals { rx, tx })
    }

    /// The next wake-up, or [`Woken::Due`] at `due`; None when no more can come.
    fn next(&self, due: Instant) -> Option<Woken> {
        match self.rx.recv_timeout(due.saturating_duration_since(Instant::now())) {
            Ok(w) => Some(w),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Some(Woken::Due),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => None,
        }
    }
}
