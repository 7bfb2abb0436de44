//! `summary` and `fleet`. `summary` is this machine at a glance, in one round trip: its
//! taskmux, its daemon, and each registered project with how many of its tasks run, are
//! unhealthy or have failed. `fleet` asks it of this machine and of every host of `[hosts]`
//! at once, each within a timeout: a host that cannot be reached is a row that says why,
//! and never hides the others.

use super::{Context, Ctx, Request, Response, host, in_context, status};
use crate::config::GlobalConfig;
use crate::error::{Error, Result};
use crate::remote::{Remote, Target};
use crate::task::TaskState;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long `fleet` gives each host when the request says nothing.
pub const DEFAULT_TIMEOUT: f64 = 5.0;

/// Params of `fleet`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FleetParams {
    /// Seconds each host has to answer (default 5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
}

/// Whether the daemon runs, from its lock: no round trip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaemonBrief {
    /// It runs.
    pub running: bool,
    /// Its pid.
    pub pid: Option<i32>,
}

/// One registered project, counted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectBrief {
    /// The project.
    pub name: String,
    /// Tasks running.
    pub running: usize,
    /// Tasks in its config.
    pub total: usize,
    /// Tasks alive whose probe fails.
    pub unhealthy: usize,
    /// Tasks that ended with a non-zero code (or a signal) and were not restarted.
    pub failed: usize,
    /// Why it could not be read (a config gone or broken).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `summary`: this machine at a glance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Its taskmux.
    pub version: String,
    /// The protocol versions it speaks.
    pub versions: Vec<u32>,
    /// Its daemon.
    pub daemon: DaemonBrief,
    /// Each registered project.
    pub projects: Vec<ProjectBrief>,
}

/// One machine in `fleet`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostRow {
    /// Its name in `[hosts]`; this machine's host name for the local row.
    pub host: String,
    /// The row of this machine.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub local: bool,
    /// Its ssh destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dest: Option<String>,
    /// ssh reached it.
    pub reachable: bool,
    /// Its taskmux.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Its daemon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon: Option<DaemonBrief>,
    /// Its registered projects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projects: Option<Vec<ProjectBrief>>,
    /// Why it has no summary: ssh's own words where it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The error's code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// How to fix it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl HostRow {
    fn new(host: String, local: bool, dest: Option<String>, got: Result<Summary>) -> HostRow {
        let mut row = HostRow {
            host,
            local,
            dest,
            reachable: true,
            version: None,
            daemon: None,
            projects: None,
            error: None,
            code: None,
            hint: None,
        };
        match got {
            Ok(s) => {
                row.version = Some(s.version);
                row.daemon = Some(s.daemon);
                row.projects = Some(s.projects);
            }
            Err(e) => {
                row.reachable = e.code() != "E310";
                row.error = Some(e.message());
                row.code = Some(e.code().to_string());
                row.hint = e.hint.clone();
            }
        }
        row
    }

    /// Whether all is well there: reached, read, and no task failed.
    pub fn ok(&self) -> bool {
        self.error.is_none()
            && self
                .projects
                .iter()
                .flatten()
                .all(|p| p.error.is_none() && p.failed == 0)
    }
}

/// `fleet`: this machine and every host of `[hosts]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fleet {
    /// Every host was reached and no task failed.
    pub ok: bool,
    /// This machine first, then the hosts by name.
    pub hosts: Vec<HostRow>,
}

/// `summary`.
pub fn summary(ctx: &Ctx) -> Result<Summary> {
    let reg = crate::registry::Registry::load(&ctx.home)?;
    let pid = crate::lock::running_pid(&ctx.home);
    let projects = reg.projects.keys().map(|name| project(ctx, name)).collect::<Vec<_>>();
    Ok(Summary {
        version: env!("CARGO_PKG_VERSION").to_string(),
        versions: super::PROTOCOLS.to_vec(),
        daemon: DaemonBrief {
            running: pid.is_some(),
            pid,
        },
        projects,
    })
}

/// One registered project, counted from its `status`.
fn project(ctx: &Ctx, name: &str) -> ProjectBrief {
    let mut brief = ProjectBrief {
        name: name.to_string(),
        running: 0,
        total: 0,
        unhealthy: 0,
        failed: 0,
        error: None,
    };
    let c = Context {
        project: Some(name.to_string()),
        ..Context::default()
    };
    match in_context(ctx, &c).and_then(|pctx| status::status(&pctx)) {
        Ok(s) => {
            brief.total = s.tasks.len();
            brief.running = s.active_tasks;
            brief.unhealthy = s.tasks.iter().filter(|t| t.state == TaskState::Unhealthy).count();
            brief.failed = s
                .tasks
                .iter()
                .filter(|t| t.state == TaskState::Exited && t.exit_code != Some(0))
                .count();
        }
        Err(e) => brief.error = Some(e.message()),
    }
    brief
}

/// `fleet`: every machine asked at once, each within the timeout.
pub fn fleet(ctx: &Ctx, p: FleetParams) -> Result<Fleet> {
    let timeout = p.timeout.unwrap_or(DEFAULT_TIMEOUT);
    if !(timeout.is_finite() && (0.1..=3600.0).contains(&timeout)) {
        return Err(Error::usage(format!(
            "--timeout {timeout}: a number of seconds from 0.1 to 3600"
        )));
    }
    let within = Duration::from_secs_f64(timeout);
    let config = GlobalConfig::load(&ctx.home)?;
    let here = rustix::system::uname().nodename().to_string_lossy().into_owned();
    let hosts: Vec<HostRow> = std::thread::scope(|s| {
        let local = s.spawn(|| HostRow::new(here.clone(), true, None, summary(ctx)));
        let remote: Vec<_> = config
            .hosts
            .iter()
            .map(|(name, entry)| {
                let dest = entry.dest().to_string();
                s.spawn(move || {
                    let got = Remote::resolve(&ctx.home, &ctx.env, name, Target::default())
                        .map(|r| r.with_connect_timeout(within))
                        .and_then(|r| match host::ask_within(&r, &Request::Summary, Some(within)) {
                            Response::Summary(s) => Ok(s),
                            Response::Error(e) => Err(e),
                            other => Err(Error::internal(format!("summary answered {}", other.tag()))),
                        });
                    HostRow::new(name.clone(), false, Some(dest), got)
                })
            })
            .collect();
        std::iter::once(local)
            .chain(remote)
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    HostRow::new(
                        "?".into(),
                        false,
                        None,
                        Err(Error::internal("a host's thread panicked")),
                    )
                })
            })
            .collect()
    });
    Ok(Fleet {
        ok: hosts.iter().all(HostRow::ok),
        hosts,
    })
}
