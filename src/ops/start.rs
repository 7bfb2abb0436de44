//! `start`: the named tasks, or every `auto_start` task in dependency order, gated on health.

use super::shape::{Shape, Skip, failures, skips};
use super::{Action, Ctx, Outcome, TaskFailure, TasksParams, Warning, lifecycle_ctx};
use crate::error::Result;
use crate::registry::{Desired, Registry};
use crate::task;
use serde::{Serialize, Serializer};
use serde_json::{Value, json};

/// What `start` did.
#[derive(Debug, Clone)]
pub struct Started {
    /// The project's session.
    pub session: String,
    /// The tasks asked for (empty: the project).
    pub names: Vec<String>,
    /// Launched now, in the order they started.
    pub started: Vec<String>,
    /// Running already.
    pub already_running: Vec<String>,
    /// Not started, with the reason.
    pub skipped: Vec<Skip>,
    /// Whose start failed.
    pub failed: Vec<TaskFailure>,
    /// What is worth saying.
    pub warnings: Vec<Warning>,
    /// The project's config, and its tmux server: what a supervisor of it needs.
    pub config_path: std::path::PathBuf,
    /// The project asks for the daemon (`auto_daemon`).
    pub auto_daemon: bool,
}

impl Started {
    /// Whether no start failed.
    pub fn ok(&self) -> bool {
        self.failed.is_empty()
    }

    /// 0 when ok; the error's own code when the one named task failed; else 1.
    pub fn exit_code(&self) -> u8 {
        match (self.ok(), Shape::of(&self.names), self.failed.first()) {
            (true, ..) => 0,
            (false, Shape::One, Some(f)) => f.error.exit_code(),
            _ => 1,
        }
    }

    fn outcome(&self, n: &String) -> Outcome {
        match self.failed.iter().find(|f| &f.task == n) {
            Some(f) => Outcome::Failed(f.clone()),
            None if self.started.contains(n) => Outcome::done(n, Action::Started),
            None => Outcome::done(n, Action::AlreadyRunning),
        }
    }
}

impl Serialize for Started {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let v = match Shape::of(&self.names) {
            Shape::One => {
                let o = self.outcome(&self.names[0]);
                let mut v = serde_json::to_value(&o).unwrap_or(Value::Null);
                if o.ok() {
                    v["warnings"] = json!(self.warnings);
                }
                v
            }
            Shape::Many => json!({"ok": self.ok(),
                "results": self.names.iter().map(|n| self.outcome(n)).collect::<Vec<_>>(),
                "warnings": self.warnings}),
            Shape::All => json!({
                "ok": self.ok(), "session": self.session, "action": Action::Started,
                "tasks": self.started, "already_running": self.already_running,
                "skipped": self.skipped, "failed": self.failed, "warnings": self.warnings,
            }),
        };
        v.serialize(s)
    }
}

/// `start`: the named tasks, or every `auto_start` task in dependency order.
pub fn start(ctx: &Ctx, p: TasksParams) -> Result<Started> {
    let names = p.names();
    let lc = lifecycle_ctx(ctx)?;
    // the daemon keeps a started project up: registered, desired `up`
    let (name, path) = (&lc.project.name, &lc.project.path);
    let registered = Registry::update(&ctx.home, |r| {
        r.register(name, path, ctx.tmux.socket.as_deref(), Desired::Up, false)
    });
    let mut warnings = Vec::new();
    match registered {
        Err(e) if e.code() == "E305" => return Err(e),
        // a broken registry must not keep a person from starting their tasks
        Err(e) => warnings.push(Warning(format!("not registered with the daemon: {}", e.message()))),
        Ok(()) => {}
    }
    let report = task::start(&lc, &names, p.wait)?;
    warnings.extend(report.warnings.into_iter().map(Warning));
    Ok(Started {
        session: lc.project.name.clone(),
        names,
        started: report.started,
        already_running: report.already_running,
        skipped: skips(report.skipped),
        failed: failures(report.failed),
        warnings,
        config_path: lc.project.path.clone(),
        auto_daemon: lc.project.auto_daemon,
    })
}
