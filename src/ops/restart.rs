//! `restart`: stop (without the manual-stop mark), then start, in the same windows.

use super::shape::{Shape, Skip, failures, field, outcome_task, outcomes, skips};
use super::{Action, Ctx, Outcome, TaskFailure, TasksParams, lifecycle_ctx};
use crate::error::Result;
use crate::task;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

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

/// `restart`'s JSON in each of its shapes.
#[derive(Serialize)]
#[serde(untagged)]
enum RestartedJson<'a> {
    /// One task: its outcome, flat.
    One {
        #[serde(flatten)]
        outcome: Outcome,
        session: &'a str,
    },
    /// Several tasks: `results`.
    Many {
        ok: bool,
        session: &'a str,
        results: Vec<Outcome>,
    },
    /// The project.
    All {
        ok: bool,
        session: &'a str,
        action: Action,
        tasks: &'a [String],
        skipped: &'a [Skip],
        failed: &'a [TaskFailure],
    },
}

impl Serialize for Restarted {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let (ok, session) = (self.ok(), self.session.as_str());
        match Shape::of(&self.names) {
            Shape::One => RestartedJson::One {
                outcome: self.outcome(&self.names[0]),
                session,
            },
            Shape::Many => RestartedJson::Many {
                ok,
                session,
                results: self.names.iter().map(|n| self.outcome(n)).collect(),
            },
            Shape::All => RestartedJson::All {
                ok,
                session,
                action: Action::Restarted,
                tasks: &self.restarted,
                skipped: &self.skipped,
                failed: &self.failed,
            },
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Restarted {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Restarted, D::Error> {
        let v = Value::deserialize(d)?;
        let read = || -> std::result::Result<Restarted, String> {
            let mut r = Restarted {
                session: field(&v, "session")?,
                names: Vec::new(),
                restarted: Vec::new(),
                skipped: Vec::new(),
                failed: Vec::new(),
            };
            let list = match v.get("results") {
                Some(_) => outcomes(&v)?,
                None if v.get("task").is_some() => vec![Outcome::deserialize(&v).map_err(|e| e.to_string())?],
                None => {
                    r.restarted = field(&v, "tasks")?;
                    r.skipped = field(&v, "skipped")?;
                    r.failed = field(&v, "failed")?;
                    return Ok(r);
                }
            };
            for o in list {
                r.names.push(outcome_task(&o).to_string());
                match o {
                    Outcome::Done { task, .. } => r.restarted.push(task),
                    Outcome::Failed(f) => r.failed.push(f),
                }
            }
            Ok(r)
        };
        read().map_err(serde::de::Error::custom)
    }
}

/// `restart`: stop (without the manual-stop mark), then start, in the same windows.
pub fn restart(ctx: &Ctx, p: TasksParams) -> Result<Restarted> {
    let names = p.names();
    let lc = lifecycle_ctx(ctx)?;
    super::fresh_budget(ctx, &lc.project, &names)?;
    let (_, report) = task::restart(&lc, &names)?;
    Ok(Restarted {
        session: lc.project.name.clone(),
        names,
        restarted: report.started.into_iter().chain(report.already_running).collect(),
        skipped: skips(report.skipped),
        failed: failures(report.failed),
    })
}
