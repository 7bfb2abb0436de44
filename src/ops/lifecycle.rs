//! `start`, `stop`, `restart` and `kill`: the lifecycle requests. One task named gives a
//! flat result, several give `results`, none the whole project (REFERENCE section 2).

use super::{Action, Ctx, Outcome, TaskFailure, TaskParams, TasksParams, Warning, lifecycle_ctx};
use crate::error::{Error, Result};
use crate::task::{self, StopOutcome};
use serde::{Serialize, Serializer};
use serde_json::{Value, json};

/// How many tasks a request named, which decides the shape of its JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// None: the whole project.
    All,
    /// One: a flat result.
    One,
    /// Several: `results`.
    Many,
}

impl Shape {
    fn of(names: &[String]) -> Shape {
        match names.len() {
            0 => Shape::All,
            1 => Shape::One,
            _ => Shape::Many,
        }
    }
}

/// A task that was not started, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skip {
    /// The task.
    pub task: String,
    /// Why it was not started.
    pub reason: String,
}

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

fn skips(v: Vec<(String, String)>) -> Vec<Skip> {
    v.into_iter().map(|(task, reason)| Skip { task, reason }).collect()
}

fn failures(v: Vec<(String, Error)>) -> Vec<TaskFailure> {
    v.into_iter().map(|(task, error)| TaskFailure { task, error }).collect()
}

/// `start`: the named tasks, or every `auto_start` task in dependency order.
pub fn start(ctx: &Ctx, p: TasksParams) -> Result<Started> {
    let names = p.names();
    let lc = lifecycle_ctx(ctx)?;
    let report = task::start(&lc, &names, p.wait)?;
    Ok(Started {
        session: lc.project.name.clone(),
        names,
        started: report.started,
        already_running: report.already_running,
        skipped: skips(report.skipped),
        failed: failures(report.failed),
        warnings: report.warnings.into_iter().map(Warning).collect(),
    })
}

/// What `stop` did.
#[derive(Debug, Clone)]
pub struct Stopped {
    /// The project's session.
    pub session: String,
    /// The tasks asked for (empty: the project).
    pub names: Vec<String>,
    /// Per task: `stopped` or `already_stopped`.
    pub results: Vec<(String, Action)>,
    /// `after_stop` hooks that failed.
    pub warnings: Vec<Warning>,
}

impl Serialize for Stopped {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let flat = |(n, a): &(String, Action)| json!({"ok": true, "task": n, "action": a});
        let v = match Shape::of(&self.names) {
            Shape::One => self.results.first().map(flat).unwrap_or(Value::Null),
            Shape::Many => json!({"ok": true, "results": self.results.iter().map(flat).collect::<Vec<_>>()}),
            Shape::All => json!({"ok": true, "session": self.session, "action": Action::Stopped,
                "tasks": self.results.iter().filter(|(_, a)| *a == Action::Stopped).map(|(n, _)| n).collect::<Vec<_>>()}),
        };
        let mut v = v;
        if !self.warnings.is_empty() {
            v["warnings"] = json!(self.warnings);
        }
        v.serialize(s)
    }
}

fn stop_action(o: &StopOutcome) -> Action {
    match o {
        StopOutcome::Stopped => Action::Stopped,
        StopOutcome::AlreadyStopped => Action::AlreadyStopped,
    }
}

/// `stop`: C-c, SIGTERM, SIGKILL; returns when no process of the tasks is left.
pub fn stop(ctx: &Ctx, p: TasksParams) -> Result<Stopped> {
    let names = p.names();
    let lc = lifecycle_ctx(ctx)?;
    let report = task::stop(&lc, &names, true, names.is_empty())?;
    if names.is_empty() && report.outcomes.iter().any(|(_, o)| *o == StopOutcome::Stopped) {
        ctx.events.emit("session_stopped", &lc.project.name, None, json!({}));
    }
    Ok(Stopped {
        session: lc.project.name.clone(),
        names,
        results: report
            .outcomes
            .iter()
            .map(|(n, o)| (n.clone(), stop_action(o)))
            .collect(),
        warnings: report.warnings.into_iter().map(Warning).collect(),
    })
}

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

/// What `kill` did.
#[derive(Debug, Clone, Serialize)]
pub struct Killed {
    /// Always true.
    pub ok: bool,
    /// The task.
    pub task: String,
    /// `killed`, or `already_stopped` when nothing of it was left.
    pub action: Action,
}

/// `kill`: SIGKILL the task's processes and destroy its window; marks manual-stop.
pub fn kill(ctx: &Ctx, p: TaskParams) -> Result<Killed> {
    let lc = lifecycle_ctx(ctx)?;
    let had = task::kill(&lc, &p.task)?;
    Ok(Killed {
        ok: true,
        task: p.task,
        action: if had { Action::Killed } else { Action::AlreadyStopped },
    })
}
