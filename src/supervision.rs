//! What a running daemon knows of itself and tells the core: its status, the projects it
//! supervises, its proxy's routes ([`Daemon`], which the daemon implements and puts in the
//! [`Ctx`] of the requests it carries out), and the types those facts come in.

use crate::ctx::Ctx;
use crate::registry::Desired;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The running daemon, as the core sees it: what only it knows. It lives in the
/// [`Ctx`] of every request the daemon carries out.
pub trait Daemon: std::fmt::Debug + Send + Sync {
    /// `daemon status`.
    fn status(&self) -> DaemonStatus;
    /// `daemon list`.
    fn list(&self) -> Vec<ProjectInfo>;
    /// The proxy's routes.
    fn routes(&self) -> Vec<RouteInfo>;
    /// Each supervised project, and the world its requests run in.
    fn projects(&self) -> Vec<(String, Ctx)>;
    /// Wakes the supervisors of a project (all when None); the projects woken.
    fn wake(&self, project: Option<&str>) -> Vec<String>;
    /// Makes the supervised set follow the registry now (after `register`, `start`).
    fn follow_registry(&self);
    /// A start of `project` for a front begins (`on`) or ends: no heal meanwhile.
    fn starting(&self, project: &str, on: bool);
    /// Reads config.toml again and applies what changed, saying what it could not.
    fn apply_config(&self) -> ConfigApplied;
}

/// The last heal, for `daemon status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealRecord {
    /// When (ISO-8601).
    pub at: String,
    /// Which project.
    pub session: String,
    /// Why: `session missing` or `windows missing`.
    pub reason: String,
    /// The tasks started.
    pub tasks: Vec<String>,
}

/// `daemon status`: whether it runs, and what a running daemon says of itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaemonStatus {
    /// It runs.
    pub running: bool,
    /// Its pid.
    pub pid: Option<i32>,
    /// What it says of itself, when it answered.
    #[serde(flatten)]
    pub live: Option<DaemonLive>,
    /// Why a running daemon's own word is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// What a running daemon says of itself in `daemon status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaemonLive {
    /// When it started.
    pub started_at: Option<String>,
    /// Seconds since.
    pub uptime_secs: Option<u64>,
    /// Registered projects.
    pub projects: usize,
    /// Tasks under supervision.
    pub supervised_tasks: usize,
    /// The last heal.
    pub last_heal: Option<HealRecord>,
    /// Its control socket.
    pub socket: Option<PathBuf>,
    /// Its log.
    pub log: Option<PathBuf>,
    /// Its version.
    pub version: String,
    /// The WebSocket API.
    pub api: ApiStatus,
    /// The HTTPS proxy.
    pub proxy: ServiceStatus,
    /// The DNS server.
    pub dns: ServiceStatus,
    /// The aliases the proxy serves (`alias add`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<RouteInfo>,
    /// Why the config.toml on disk is not the one in force (it did not load: the last good
    /// one is kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_error: Option<String>,
    /// Events it could not write to `events.jsonl` (since when, how many, why, the fix);
    /// absent while they are written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_failing: Option<crate::events::EventsFailing>,
}

/// A network service of the daemon in `daemon status`: `{"state": "up", "listen":
/// ["https://127.0.0.1:443", …]}`, `{"state": "down", "error": "cannot bind :443: permission
/// denied", "fix": …}` or `{"state": "off", "reason": …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceStatus {
    /// `up`, `down` or `off`.
    pub state: ServiceState,
    /// Where it listens.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listen: Vec<String>,
    /// Why it is down, or off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What to do about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl ServiceStatus {
    /// Listening here.
    pub fn up(listen: Vec<String>) -> ServiceStatus {
        ServiceStatus {
            state: ServiceState::Up,
            listen,
            error: None,
            fix: None,
        }
    }
    /// Not listening, for this reason, with this fix.
    pub fn down(error: String, fix: Option<String>) -> ServiceStatus {
        ServiceStatus {
            state: ServiceState::Down,
            listen: Vec::new(),
            error: Some(error),
            fix,
        }
    }
    /// Turned off by the config.
    pub fn off(reason: &str) -> ServiceStatus {
        ServiceStatus {
            state: ServiceState::Off,
            listen: Vec::new(),
            error: Some(reason.into()),
            fix: None,
        }
    }
}

/// The WebSocket API in `daemon status`: `{"websocket": "ws://127.0.0.1:8765"}`, or
/// `{"websocket": null, "error": "cannot listen on …"}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApiStatus {
    /// Its address, when it listens.
    pub websocket: Option<String>,
    /// Why it does not listen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One project in `daemon list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectInfo {
    /// The project.
    pub name: String,
    /// Its config.
    pub config_path: PathBuf,
    /// Its tmux server.
    pub tmux_socket: Option<String>,
    /// Up or down.
    pub desired: Desired,
    /// `ok`, `config_missing`, or `error` with `message`.
    #[serde(flatten)]
    pub config: ConfigState,
    /// The pid supervising it.
    pub supervised_by: Option<i32>,
    /// Its task supervisors (0 when the daemon does not run).
    #[serde(default)]
    pub tasks: usize,
}

/// What `daemon list` says of a project's config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ConfigState {
    /// Loaded and valid.
    Ok,
    /// The file is gone.
    ConfigMissing,
    /// It does not load; what runs is kept.
    Error {
        /// Why.
        message: String,
    },
}

/// One route, as `proxy_routes` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteInfo {
    /// The project.
    pub session: String,
    /// The task.
    pub task: String,
    /// Its `host` key: a label, `@` or `*`.
    pub host: String,
    /// The full name it answers to (`*.p.localhost` for a wildcard).
    pub name: String,
    /// Its https URL.
    pub url: String,
    /// Its `$PORT`, once assigned.
    pub port: Option<u16>,
    /// An alias's target (its `session` is empty, its `task` the alias).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<std::net::SocketAddr>,
}

/// How a network service of the daemon is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceState {
    /// Listening.
    Up,
    /// Asked for, and not listening.
    Down,
    /// Not asked for.
    Off,
}

/// What a running daemon made of config.toml once it was saved (`config set` shows it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfigApplied {
    /// The daemon that applied it.
    pub pid: i32,
    /// What it changed: services made again, settings in force.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<String>,
    /// What it could not apply, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_applied: Vec<NotApplied>,
    /// Why the file is not in force at all (it does not load).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ConfigApplied {
    /// Notes how a service made again came out.
    pub fn service(&mut self, what: &str, s: &ServiceStatus) {
        match s.state {
            ServiceState::Down => self.not_applied.push(NotApplied {
                what: what.into(),
                why: s.error.clone().unwrap_or_default(),
                fix: s.fix.clone(),
            }),
            _ => self.changed.push(what.into()),
        }
    }
}

/// A change of config.toml the running daemon could not apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotApplied {
    /// The service or key.
    pub what: String,
    /// Why.
    pub why: String,
    /// What to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}
