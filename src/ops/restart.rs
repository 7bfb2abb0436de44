//! `restart`: stop (without the manual-stop mark), then start, in the same windows.

use super::shape::{Shape, Skip, failures, skips};
use super::{Action, Ctx, Outcome, TaskFailure, TasksParams, lifecycle_ctx};
use crate::error::Result;
use crate::task;
use serde::{Serialize, Serializer};
use serde_json::{Value, json};

/// What `restart` did.
#[derive(Debug, Clone)]
pub struct Restarted {
    /// The project's session.
    pub session: String,
    /// The tasks asked for (empty: the project).
    pub names: Vec<String>,
    /// Running again.
    pub restarted: Vec<String>,
    /// Not started again, with the reason.
    pub skipped: Vec<Skip>,
    /// Whose start failed.
    pub failed: Vec<TaskFailure>,
}

impl Restarted {
    /// Whether no start failed.
    pub fn ok(&self) -> bool {
        self.failed.is_empty()
    }

    fn outcome(&self, n: &String) -> Outcome {
        match self.failed.iter().find(|f| &f.task == n) {
            Some(f) => Outcome::Failed(f.clone()),
            None => Outcome::done(n, Action::Restarted),
        }
    }
}

impl Serialize for Restarted {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let v = match Shape::of(&self.names) {
            Shape::One => serde_json::to_value(self.outcome(&self.names[0])).unwrap_or(Value::Null),
            Shape::Many => json!({"ok": self.ok(),
                "results": self.names.iter().map(|n| self.outcome(n)).collect::<Vec<_>>()}),
            Shape::All => json!({"ok": self.ok(), "session": self.session, "action": Action::Restarted,
                "tasks": self.restarted, "skipped": self.skipped}),
        };
        v.serialize(s)
    }
}

/// `restart`: stop (without the manual-stop mark), then start, in the same windows.
pub fn restart(ctx: &Ctx, p: TasksParams) -> Result<Restarted> {
    let names = p.names();
    let lc = lifecycle_ctx(ctx)?;
    let (_, report) = task::restart(&lc, &names)?;
    Ok(Restarted {
        session: lc.project.name.clone(),
        names,
        restarted: report.started.into_iter().chain(report.already_running).collect(),
        skipped: skips(report.skipped),
        failed: failures(report.failed),
    })
}
