//! `start`: the named tasks, or every `auto_start` task in dependency order, gated on health.

use super::shape::{Shape, Skip, failures, field, outcome_task, outcomes, skips};
use super::{Action, Ctx, Outcome, TaskFailure, TasksParams, Warning, fresh_budget, lifecycle_ctx};
use crate::check::{self, Finding, Severity};
use crate::error::Result;
use crate::registry::{Desired, Registry};
use crate::state::State;
use crate::task;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

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
    /// What `check` would say of a task started now, and that shows why it will not run
    /// (W101: its program is not on PATH). In the JSON's `warnings` after the plain ones,
    /// each as `check --json` gives it: `{"code", "task", "message", "hint"}`.
    pub lint: Vec<Finding>,
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

/// `start`'s JSON in each of its shapes.
#[derive(Serialize)]
#[serde(untagged)]
enum StartedJson<'a> {
    /// One task: its outcome, flat.
    One {
        #[serde(flatten)]
        outcome: Outcome,
        warnings: Vec<WarningJson<'a>>,
        session: &'a str,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        auto_daemon: bool,
    },
    /// Several tasks: `results`.
    Many {
        ok: bool,
        session: &'a str,
        results: Vec<Outcome>,
        warnings: Vec<WarningJson<'a>>,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        auto_daemon: bool,
    },
    /// The project.
    All {
        ok: bool,
        session: &'a str,
        action: Action,
        tasks: &'a [String],
        already_running: &'a [String],
        skipped: &'a [Skip],
        failed: &'a [TaskFailure],
        warnings: Vec<WarningJson<'a>>,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        auto_daemon: bool,
    },
}

/// One of `warnings`: a plain one (a string), or a finding (an object).
#[derive(Serialize)]
#[serde(untagged)]
enum WarningJson<'a> {
    Plain(&'a Warning),
    Lint(&'a Finding),
}

impl Serialize for Started {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let (ok, session, auto_daemon) = (self.ok(), self.session.as_str(), self.auto_daemon);
        let warnings = || self.warnings_json();
        match Shape::of(&self.names) {
            Shape::One => StartedJson::One {
                outcome: self.outcome(&self.names[0]),
                warnings: warnings(),
                session,
                auto_daemon,
            },
            Shape::Many => StartedJson::Many {
                ok,
                session,
                results: self.names.iter().map(|n| self.outcome(n)).collect(),
                warnings: warnings(),
                auto_daemon,
            },
            Shape::All => StartedJson::All {
                ok,
                session,
                action: Action::Started,
                tasks: &self.started,
                already_running: &self.already_running,
                skipped: &self.skipped,
                failed: &self.failed,
                warnings: warnings(),
                auto_daemon,
            },
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Started {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Started, D::Error> {
        let v = Value::deserialize(d)?;
        Started::from_json(&v).map_err(serde::de::Error::custom)
    }
}

impl Started {
    /// `warnings` as JSON: the plain ones (strings), then the findings (objects).
    fn warnings_json(&self) -> Vec<WarningJson<'_>> {
        let plain = self.warnings.iter().map(WarningJson::Plain);
        plain.chain(self.lint.iter().map(WarningJson::Lint)).collect()
    }

    /// Reads any of the three shapes back.
    fn from_json(v: &Value) -> std::result::Result<Started, String> {
        let (mut warnings, mut lint) = (Vec::new(), Vec::new());
        for w in field::<Vec<Value>>(v, "warnings")? {
            match w {
                Value::String(s) => warnings.push(Warning(s)),
                other => lint.push(Finding {
                    severity: Severity::Warning,
                    ..Finding::deserialize(other).map_err(|e| format!("warnings: {e}"))?
                }),
            }
        }
        let mut r = Started {
            session: field(v, "session")?,
            names: Vec::new(),
            started: Vec::new(),
            already_running: Vec::new(),
            skipped: Vec::new(),
            failed: Vec::new(),
            warnings,
            lint,
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
    // a task whose program is not there starts, and ends at once: say so now, as `check`
    // would, with the environment it was started with
    let record = State::load(&ctx.home, name).ok().and_then(|s| s.env());
    let base = record.as_deref().unwrap_or(&ctx.env);
    let lint = report
        .started
        .iter()
        .filter_map(|n| lc.project.task(n).ok())
        .filter_map(|t| check::program_not_found(&lc.project, t, base))
        .collect();
    Ok(Started {
        session: lc.project.name.clone(),
        names,
        started: report.started,
        already_running: report.already_running,
        skipped: skips(report.skipped),
        failed: failures(report.failed),
        warnings,
        lint,
        auto_daemon: lc.project.auto_daemon,
    })
}
