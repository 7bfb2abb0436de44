//! `start`: the named tasks, or every `auto_start` task in dependency order, gated on health.

use super::shape::{Shape, Skip, failures, field, outcome_task, outcomes, skips};
use super::{Action, Ctx, Outcome, TaskFailure, TasksParams, Warning, fresh_budget, lifecycle_ctx};
use crate::error::Result;
use crate::registry::{Desired, Registry};
use crate::task;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
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
    /// The project asks for the daemon (`auto_daemon`): in the JSON when true.
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
        let mut v = match Shape::of(&self.names) {
            Shape::One => {
                let mut v = serde_json::to_value(self.outcome(&self.names[0])).unwrap_or(Value::Null);
                v["warnings"] = json!(self.warnings);
                v["session"] = json!(self.session);
                v
            }
            Shape::Many => json!({"ok": self.ok(), "session": self.session,
                "results": self.names.iter().map(|n| self.outcome(n)).collect::<Vec<_>>(),
                "warnings": self.warnings}),
            Shape::All => json!({
                "ok": self.ok(), "session": self.session, "action": Action::Started,
                "tasks": self.started, "already_running": self.already_running,
                "skipped": self.skipped, "failed": self.failed, "warnings": self.warnings,
            }),
        };
        if self.auto_daemon {
            v["auto_daemon"] = json!(true);
        }
        v.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Started {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Started, D::Error> {
        let v = Value::deserialize(d)?;
        Started::from_json(&v).map_err(serde::de::Error::custom)
    }
}

impl Started {
    /// Reads any of the three shapes back.
    fn from_json(v: &Value) -> std::result::Result<Started, String> {
        let mut r = Started {
            session: field(v, "session")?,
            names: Vec::new(),
            started: Vec::new(),
            already_running: Vec::new(),
            skipped: Vec::new(),
            failed: Vec::new(),
            warnings: field(v, "warnings")?,
            auto_daemon: field(v, "auto_daemon")?,
        };
        let list = match v.get("results") {
            Some(_) => outcomes(v)?,
            None if v.get("task").is_some() => vec![Outcome::deserialize(v).map_err(|e| e.to_string())?],
            None => {
                r.started = field(v, "tasks")?;
                r.already_running = field(v, "already_running")?;
                r.skipped = field(v, "skipped")?;
                r.failed = field(v, "failed")?;
                return Ok(r);
            }
        };
        for o in list {
            r.names.push(outcome_task(&o).to_string());
            match o {
                Outcome::Done {
                    task,
                    action: Action::Started,
                    ..
                } => r.started.push(task),
                Outcome::Done { task, .. } => r.already_running.push(task),
                Outcome::Failed(f) => r.failed.push(f),
            }
        }
        Ok(r)
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
    fresh_budget(ctx, &lc.project, &names)?;
    let mut warnings = Vec::new();
    match registered {
        Err(e) if e.code() == "E305" => return Err(e),
        // a broken registry must not keep a person from starting their tasks
        Err(e) => warnings.push(Warning(format!("not registered with the daemon: {}", e.message()))),
        Ok(()) => {}
    }
    // the daemon supervises it from now, and heals nothing of it while this starts it
    let daemon = ctx.daemon.as_ref();
    if let Some(d) = daemon {
        d.starting(name, true);
        d.follow_registry();
    }
    let report = task::start(&lc, &names, p.wait);
    if let Some(d) = daemon {
        d.starting(name, false);
    }
    let report = report?;
    warnings.extend(report.warnings.into_iter().map(Warning));
    Ok(Started {
        session: lc.project.name.clone(),
        names,
        started: report.started,
        already_running: report.already_running,
        skipped: skips(report.skipped),
        failed: failures(report.failed),
        warnings,
        auto_daemon: lc.project.auto_daemon,
    })
}
