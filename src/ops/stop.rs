//! `stop`: C-c, SIGTERM, SIGKILL; returns when no process of the tasks is left.

use super::shape::{Shape, field, outcome_task, outcomes};
use super::{Action, Ctx, Outcome, TasksParams, Warning, lifecycle_ctx};
use crate::error::Result;
use crate::registry::{Desired, Registry};
use crate::task::{self, StopOutcome};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// What `stop` did.
#[derive(Debug, Clone)]
pub struct Stopped {
    /// The project's session.
    pub session: String,
    /// The tasks asked for (empty: the project).
    pub names: Vec<String>,
    /// Per task: `stopped`, `already_stopped`, or `restart_cancelled` (it had ended and
    /// waited to be restarted).
    pub results: Vec<(String, Action)>,
    /// `after_stop` hooks that failed.
    pub warnings: Vec<Warning>,
}

/// One task's result in `stop`'s JSON.
#[derive(Serialize)]
struct Flat<'a> {
    ok: bool,
    task: &'a str,
    action: Action,
}

impl Flat<'_> {
    fn of((task, action): &(String, Action)) -> Flat<'_> {
        Flat {
            ok: true,
            task,
            action: *action,
        }
    }
}

/// `stop`'s JSON in each of its shapes.
#[derive(Serialize)]
#[serde(untagged)]
enum StoppedJson<'a> {
    /// One task: its result, flat.
    One {
        #[serde(flatten)]
        result: Option<Flat<'a>>,
        session: &'a str,
        #[serde(skip_serializing_if = "<[_]>::is_empty")]
        warnings: &'a [Warning],
    },
    /// Several tasks: `results`.
    Many {
        ok: bool,
        session: &'a str,
        results: Vec<Flat<'a>>,
        #[serde(skip_serializing_if = "<[_]>::is_empty")]
        warnings: &'a [Warning],
    },
    /// The project.
    All {
        ok: bool,
        session: &'a str,
        action: Action,
        tasks: Vec<&'a String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        restart_cancelled: Vec<&'a String>,
        #[serde(skip_serializing_if = "<[_]>::is_empty")]
        warnings: &'a [Warning],
    },
}

impl Serialize for Stopped {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let (session, warnings) = (self.session.as_str(), self.warnings.as_slice());
        match Shape::of(&self.names) {
            Shape::One => StoppedJson::One {
                result: self.results.first().map(Flat::of),
                session,
                warnings,
            },
            Shape::Many => StoppedJson::Many {
                ok: true,
                session,
                results: self.results.iter().map(Flat::of).collect(),
                warnings,
            },
            Shape::All => StoppedJson::All {
                ok: true,
                session,
                action: Action::Stopped,
                tasks: self.with(Action::Stopped),
                restart_cancelled: self.with(Action::RestartCancelled),
                warnings,
            },
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Stopped {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Stopped, D::Error> {
        let v = Value::deserialize(d)?;
        let read = || -> std::result::Result<Stopped, String> {
            let mut r = Stopped {
                session: field(&v, "session")?,
                names: Vec::new(),
                results: Vec::new(),
                warnings: field(&v, "warnings")?,
            };
            let list = match v.get("results") {
                Some(_) => outcomes(&v)?,
                None if v.get("task").is_some() => vec![Outcome::deserialize(&v).map_err(|e| e.to_string())?],
                None => {
                    let tasks: Vec<String> = field(&v, "tasks")?;
                    let cancelled: Vec<String> = field(&v, "restart_cancelled")?;
                    r.results = tasks.into_iter().map(|t| (t, Action::Stopped)).collect();
                    r.results
                        .extend(cancelled.into_iter().map(|t| (t, Action::RestartCancelled)));
                    return Ok(r);
                }
            };
            for o in list {
                r.names.push(outcome_task(&o).to_string());
                if let Outcome::Done { task, action, .. } = o {
                    r.results.push((task, action));
                }
            }
            Ok(r)
        };
        read().map_err(serde::de::Error::custom)
    }
}

impl Stopped {
    /// The tasks of the result whose action was `a`.
    fn with(&self, a: Action) -> Vec<&String> {
        self.results.iter().filter(|(_, x)| *x == a).map(|(n, _)| n).collect()
    }
}

fn stop_action(o: &StopOutcome) -> Action {
    match o {
        StopOutcome::Stopped => Action::Stopped,
        StopOutcome::AlreadyStopped => Action::AlreadyStopped,
        StopOutcome::RestartCancelled => Action::RestartCancelled,
    }
}

/// `stop`: C-c, SIGTERM, SIGKILL; returns when no process of the tasks is left.
pub fn stop(ctx: &Ctx, p: TasksParams) -> Result<Stopped> {
    let names = p.names();
    let lc = lifecycle_ctx(ctx)?;
    if names.is_empty() {
        // stopped as a whole, it stays down: the daemon does not heal it
        Registry::update(&ctx.home, |r| Ok(r.set_desired(&lc.project.name, Desired::Down)))?;
    }
    let report = task::stop(&lc, &names, true, names.is_empty())?;
    if names.is_empty() && report.outcomes.iter().any(|(_, o)| *o == StopOutcome::Stopped) {
        ctx.events
            .emit(&lc.project.name, None, crate::events::Event::SessionStopped {});
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
