//! What the lifecycle requests report per task: an [`Action`] done, or a [`TaskFailure`],
//! and [`Warning`]s, all plain data that a front renders.

use crate::error::Error;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// What a request did to one task, as JSON spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A new process runs.
    Started,
    /// It ran already.
    AlreadyRunning,
    /// It ran and no process of it is left.
    Stopped,
    /// It was not running.
    AlreadyStopped,
    /// It had ended and was waiting to be restarted (backoff): the restart is cancelled.
    RestartCancelled,
    /// Stopped and started again.
    Restarted,
    /// SIGKILLed and its window destroyed.
    Killed,
    /// Text typed into its pane.
    Sent,
    /// Added to the config.
    Added,
    /// Replaced in the config.
    Replaced,
    /// Removed from the config.
    Removed,
}

impl Action {
    /// The word for people: `already running`.
    pub fn words(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
            .unwrap_or_default()
    }
}

/// A task whose request failed: the error's JSON with `task` added.
#[derive(Debug, Clone)]
pub struct TaskFailure {
    /// The task.
    pub task: String,
    /// Why.
    pub error: Error,
}

impl Serialize for TaskFailure {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut v = self.error.to_json();
        v["task"] = self.task.clone().into();
        v.serialize(s)
    }
}

impl<'de> Deserialize<'de> for TaskFailure {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<TaskFailure, D::Error> {
        let v = Value::deserialize(d)?;
        let task = v.get("task").and_then(Value::as_str).map(str::to_string);
        match (task, Error::from_json(&v)) {
            (Some(task), Some(error)) => Ok(TaskFailure { task, error }),
            _ => Err(serde::de::Error::custom(
                "a task's failure has \"task\", \"ok\": false and \"code\"",
            )),
        }
    }
}

/// One task's result: `{"ok": true, "task": "api", "action": "started"}` or its failure.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Outcome {
    /// Done.
    Done {
        /// Always true.
        ok: bool,
        /// The task.
        task: String,
        /// What was done.
        action: Action,
    },
    /// Failed.
    Failed(TaskFailure),
}

impl Outcome {
    /// A task that was done.
    pub fn done(task: &str, action: Action) -> Outcome {
        Outcome::Done {
            ok: true,
            task: task.to_string(),
            action,
        }
    }
}

/// Something worth saying that did not fail the request (a dependency not running, a hook
/// that failed after the start). JSON: the message as a string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Warning(pub String);
