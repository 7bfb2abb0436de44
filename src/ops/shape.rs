//! What the lifecycle requests share: the shape a result takes for one, several or all
//! tasks (REFERENCE section 2), and skipped and failed tasks as data.

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
#[derive(Debug, Clone, Serialize)]
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
