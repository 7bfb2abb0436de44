//! What the lifecycle requests share: the shape a result takes for one, several or all
//! tasks (taskmux(1) `start`, `stop`, `restart`), and skipped and failed tasks as data.

use super::TaskFailure;
use crate::error::Error;
use serde::Serialize;

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
    /// The shape for the tasks a request named.
    pub(super) fn of(names: &[String]) -> Shape {
        match names.len() {
            0 => Shape::All,
            1 => Shape::One,
            _ => Shape::Many,
        }
    }
}

/// A task that was not started, and why.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Skip {
    /// The task.
    pub task: String,
    /// Why it was not started.
    pub reason: String,
}

pub(super) fn skips(v: Vec<(String, String)>) -> Vec<Skip> {
    v.into_iter().map(|(task, reason)| Skip { task, reason }).collect()
}

pub(super) fn failures(v: Vec<(String, Error)>) -> Vec<TaskFailure> {
    v.into_iter().map(|(task, error)| TaskFailure { task, error }).collect()
}

/// Reads one JSON field of a result being decoded (missing: its default).
pub(super) fn field<T: serde::de::DeserializeOwned + Default>(v: &serde_json::Value, key: &str) -> Result<T, String> {
    match v.get(key) {
        None | Some(serde_json::Value::Null) => Ok(T::default()),
        Some(x) => T::deserialize(x).map_err(|e| format!("{key}: {e}")),
    }
}

/// The outcomes of a `results` list (the shape for several tasks), each task once.
pub(super) fn outcomes(v: &serde_json::Value) -> Result<Vec<super::Outcome>, String> {
    field(v, "results")
}

/// The task an outcome is about.
pub(super) fn outcome_task(o: &super::Outcome) -> &str {
    match o {
        super::Outcome::Done { task, .. } => task,
        super::Outcome::Failed(f) => &f.task,
    }
}
