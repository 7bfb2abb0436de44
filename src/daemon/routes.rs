//! The proxy's route table: which task serves each `{host}.{project}.{tld}` name, built from
//! the registered projects' configs and the ports their state records, and rebuilt when it
//! is a second old, or at once on a miss, so a new task's URL works without a restart.

use super::Shared;
use crate::config::GlobalConfig;
use crate::supervision::RouteInfo;
use crate::sync::guard;
use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// How old the table may get before a lookup rebuilds it.
const FRESH: Duration = Duration::from_secs(1);
/// How soon after a rebuild a miss may rebuild again.
const MISS_REBUILD: Duration = Duration::from_millis(100);

/// What a name leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// A task with a port.
    Task {
        /// Its project (empty for an alias).
        session: String,
        /// The task (or the alias).
        task: String,
        /// Its `$PORT`, when one was assigned (at its first start).
        port: Option<u16>,
        /// Its address when not 127.0.0.1 by default (an alias's).
        addr: Option<std::net::IpAddr>,
    },
    /// No task has this name.
    Unknown {
        /// The project the name is under, when it is registered.
        project: Option<String>,
        /// The URLs that project serves (every project's, when `project` is None).
        hosts: Vec<String>,
    },
}

#[derive(Debug, Default)]
struct Table {
    tld: String,
    /// Exact names, and `*.{project}.{tld}` for wildcards.
    names: HashMap<String, usize>,
    routes: Vec<RouteInfo>,
    /// Each project's URLs.
    projects: BTreeMap<String, Vec<String>>,
    built: Option<Instant>,
}

/// The table, shared by the proxy's connection threads.
#[derive(Debug, Default)]
pub struct Routes {
    table: RwLock<Table>,
}

impl Routes {
    /// The route for a host name (any case, no port).
    pub fn lookup(&self, shared: &Shared, host: &str) -> Lookup {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let age = self.age();
        if age.is_none_or(|a| a > FRESH) {
            self.rebuild(shared);
        }
        match self.find(&host) {
            Some(l) => l,
            None if self.age().is_some_and(|a| a > MISS_REBUILD) => {
                self.rebuild(shared);
                self.find(&host).unwrap_or_else(|| self.unknown(&host))
            }
            None => self.unknown(&host),
        }
    }

    /// Every route, fresh.
    pub fn list(&self, shared: &Shared) -> Vec<RouteInfo> {
        self.rebuild(shared);
        crate::sync::read(&self.table).routes.clone()
    }

    fn age(&self) -> Option<Duration> {
        crate::sync::read(&self.table).built.map(|b| b.elapsed())
    }

    fn find(&self, host: &str) -> Option<Lookup> {
        let t = crate::sync::read(&self.table);
        let i = t.names.get(host).copied().or_else(|| {
            // `a.b.p.tld` falls to `*.p.tld`: the project is the label before the tld
            let rest = host.strip_suffix(&t.tld)?.strip_suffix('.')?;
            let project = rest.rsplit('.').next()?;
            t.names.get(&format!("*.{project}.{}", t.tld)).copied()
        })?;
        let r = &t.routes[i];
        Some(Lookup::Task {
            session: r.session.clone(),
            task: r.task.clone(),
            port: r.port,
            addr: r.target.map(|a| a.ip()),
        })
    }

    fn unknown(&self, host: &str) -> Lookup {
        let t = crate::sync::read(&self.table);
        let project = host
            .strip_suffix(&t.tld)
            .and_then(|r| r.strip_suffix('.'))
            .and_then(|r| r.rsplit('.').next())
            .filter(|p| t.projects.contains_key(*p))
            .map(String::from);
        let hosts = match &project {
            Some(p) => t.projects.get(p).cloned().unwrap_or_default(),
            None => t.projects.values().flatten().cloned().collect(),
        };
        Lookup::Unknown { project, hosts }
    }

    /// Rebuilds the table from the registered projects.
    pub fn rebuild(&self, shared: &Shared) {
        let global: GlobalConfig = guard(&shared.global).clone();
        let tld = global.dns_managed_tld.clone();
        let projects: Vec<_> = guard(&shared.projects).values().cloned().collect();
        let mut t = Table {
            tld: tld.clone(),
            ..Table::default()
        };
        for p in projects {
            let Some(project) = p.project() else { continue };
            let state = crate::state::State::load(&shared.base.home, &p.name).unwrap_or_default();
            let urls = t.projects.entry(p.name.clone()).or_default();
            for task in project.tasks.iter() {
                let Some(host) = task.host.clone() else { continue };
                let name = match host.as_str() {
                    "@" => format!("{}.{tld}", p.name),
                    h => format!("{h}.{}.{tld}", p.name),
                };
                let url = global.task_url(&p.name, &host);
                urls.push(url.clone());
                t.names.entry(name.clone()).or_insert(t.routes.len());
                t.routes.push(RouteInfo {
                    session: p.name.clone(),
                    task: task.name.clone(),
                    host,
                    name,
                    url,
                    port: crate::task::known_port(&state, task),
                    target: None,
                });
            }
        }
        // the aliases: servers taskmux does not run, at `{alias}.{tld}`
        let aliases = crate::aliases::Aliases::load(&shared.base.home).unwrap_or_default();
        for (alias, a) in &aliases.aliases {
            let name = format!("{alias}.{tld}");
            if t.names.contains_key(&name) {
                continue;
            }
            let url = global.alias_url(alias);
            t.projects.entry(String::new()).or_default().push(url.clone());
            t.names.insert(name.clone(), t.routes.len());
            t.routes.push(RouteInfo {
                session: String::new(),
                task: alias.clone(),
                host: alias.clone(),
                name,
                url,
                port: Some(a.target.port()),
                target: Some(a.target),
            });
        }
        t.built = Some(Instant::now());
        *crate::sync::write(&self.table) = t;
    }
}
