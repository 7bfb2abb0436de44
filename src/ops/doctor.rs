//! `doctor`: every layer between a task and its URL, checked one line each (ok, warn or
//! fail) with the fix: tmux, the configs, the daemon and its unit, the CA and the host
//! certificates, name resolution, the proxy and its port, orphan processes, the log
//! directory, the event history and the privacy of the state directory. Any fail makes the
//! exit status 1.

mod local;
mod names;
mod resolve;
mod web;

pub use web::privileged_port_fix;

use super::Ctx;
use crate::error::Result;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What `doctor` is asked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoctorParams {
    /// The directory that stands for `/` (tests; `TASKMUX_SYSTEM_ROOT`): system files are
    /// read under it, and the OS resolver is judged from its files instead of asked.
    #[serde(default)]
    pub system_root: Option<PathBuf>,
}

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Fine.
    Ok,
    /// Works, but something is missing or will bite.
    Warn,
    /// Broken.
    Fail,
}

/// One check.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Check {
    /// What was checked: `tmux`, `daemon`, `cert api.p.localhost`, …
    pub check: String,
    /// How it came out.
    pub status: Level,
    /// What was found.
    pub message: String,
    /// What to do, when not ok.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    pub(crate) fn ok(check: impl Into<String>, message: impl Into<String>) -> Check {
        Check {
            check: check.into(),
            status: Level::Ok,
            message: message.into(),
            fix: None,
        }
    }
    pub(crate) fn warn(check: impl Into<String>, message: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            check: check.into(),
            status: Level::Warn,
            message: message.into(),
            fix: Some(fix.into()),
        }
    }
    pub(crate) fn fail(check: impl Into<String>, message: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            check: check.into(),
            status: Level::Fail,
            message: message.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Counts by level.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Summary {
    /// Checks that passed.
    pub ok: usize,
    /// Warnings.
    pub warn: usize,
    /// Failures.
    pub fail: usize,
}

/// What `doctor` answers.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct DoctorReport {
    /// No check failed.
    pub ok: bool,
    /// Each check, in order.
    pub checks: Vec<Check>,
    /// Counts.
    pub summary: Summary,
}

/// The world doctor looks at.
pub(crate) struct World<'a> {
    pub ctx: &'a Ctx,
    /// `/`, or the scratch root.
    pub root: PathBuf,
    /// Whether `root` is a scratch root.
    pub scratch: bool,
    pub global: crate::config::GlobalConfig,
}

impl World<'_> {
    /// A system path under the root.
    pub fn sys(&self, abs: &str) -> PathBuf {
        self.root.join(abs.trim_start_matches('/'))
    }
}

/// Runs every check.
pub fn doctor(ctx: &Ctx, p: DoctorParams) -> Result<DoctorReport> {
    let mut checks = Vec::new();
    let global = match crate::config::GlobalConfig::load(&ctx.home) {
        Ok(g) => {
            checks.push(Check::ok("global config", global_config_message(ctx)));
            g
        }
        Err(e) => {
            checks.push(Check::fail(
                "global config",
                e.message(),
                e.hint
                    .clone()
                    .unwrap_or_else(|| "fix it with 'taskmux config set KEY VALUE' or edit it".into()),
            ));
            crate::config::GlobalConfig::default()
        }
    };
    let w = World {
        ctx,
        scratch: p.system_root.is_some(),
        root: p.system_root.clone().unwrap_or_else(|| "/".into()),
        global,
    };
    checks.push(local::tmux(&w));
    checks.push(local::project_config(&w));
    let daemon = local::daemon(&w);
    let daemon_up = daemon.status == Level::Ok;
    checks.push(daemon);
    checks.extend(local::unit(&w));
    checks.extend(web::checks(&w, daemon_up));
    checks.extend(aliases(&w));
    checks.push(local::orphans(&w));
    checks.push(local::log_dir(&w));
    checks.push(local::permissions(&w));
    checks.push(local::events(&w));
    let mut summary = Summary::default();
    for c in &checks {
        match c.status {
            Level::Ok => summary.ok += 1,
            Level::Warn => summary.warn += 1,
            Level::Fail => summary.fail += 1,
        }
    }
    Ok(DoctorReport {
        ok: summary.fail == 0,
        checks,
        summary,
    })
}

/// Each alias: its URL, and whether its target answers.
fn aliases(w: &World) -> Vec<Check> {
    let Ok(a) = crate::aliases::Aliases::load(&w.ctx.home) else {
        return vec![Check::fail(
            "aliases",
            format!("{} does not read", crate::aliases::Aliases::path(&w.ctx.home).display()),
            "fix or delete it ('taskmux alias list' says why)",
        )];
    };
    a.aliases
        .iter()
        .map(|(name, x)| {
            let what = format!("alias {name}");
            let url = w.global.alias_url(name);
            match std::net::TcpStream::connect_timeout(&x.target, std::time::Duration::from_secs(1)) {
                Ok(_) => Check::ok(what, format!("{url} -> {} answers", x.target)),
                Err(e) => Check::warn(
                    what,
                    format!("{url} -> {}: nothing answers there ({e})", x.target),
                    format!("start the server on {}, or 'taskmux alias remove {name}'", x.target),
                ),
            }
        })
        .collect()
}

fn global_config_message(ctx: &Ctx) -> String {
    let p = crate::config::GlobalConfig::path(&ctx.home);
    if p.exists() {
        format!("{} is valid", p.display())
    } else {
        format!("{} is absent: the defaults apply", p.display())
    }
}
