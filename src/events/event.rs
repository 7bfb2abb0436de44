//! What happened: one [`Event`] of the history and its typed payload, as its JSON line
//! carries it.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// One event of the history: its name (`event`) and what it carries. Its JSON line is
/// `ts`, `event`, `session` (absent for a machine-wide event), `task` (when about one),
/// then the fields of its variant, in the order declared here.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A project was started as a whole.
    SessionStarted {
        /// The tasks launched.
        tasks: Vec<String>,
    },
    /// A project was stopped as a whole.
    SessionStopped {},
    /// A task was launched.
    TaskStarted {},
    /// A task was stopped.
    TaskStopped {
        /// By a person (`stop`), not by a restart.
        manual: bool,
        /// It had ended and waited to be restarted: the restart is cancelled (in the JSON
        /// only when true).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        restart_cancelled: bool,
    },
    /// A task was restarted by hand.
    TaskRestarted {},
    /// A task was SIGKILLed.
    TaskKilled {},
    /// Processes left of a task that no longer ran were ended.
    OrphanReaped {
        /// Their pids.
        pids: Vec<i32>,
    },
    /// A supervised task's process ended.
    TaskExited {
        /// Its exit code (null when unknown).
        exit_code: Option<i32>,
        /// The signal that ended it, when one did.
        #[serde(skip_serializing_if = "Option::is_none")]
        signal: Option<i32>,
    },
    /// A probe of a task failed.
    HealthCheckFailed {
        /// Failures in a row.
        attempt: u32,
        /// How it was probed.
        method: crate::health::Method,
        /// Why it failed.
        reason: String,
    },
    /// A task reached its `max_restarts`: it stays as it is.
    MaxRestartsReached {
        /// Restarts so far.
        restarts: u32,
        /// The limit.
        max_restarts: u32,
    },
    /// The daemon restarts a task.
    AutoRestart {
        /// Why.
        reason: String,
        /// Which restart this is.
        attempt: u32,
        /// The exit code of the process it replaces: absent for a restart of a live
        /// (unhealthy) task, null when unknown.
        #[serde(skip_serializing_if = "Option::is_none")]
        exit_code: Option<Option<i32>>,
    },
    /// The daemon brought a project's missing tasks back.
    ProjectHealed {
        /// The tasks started.
        tasks: Vec<String>,
        /// Why.
        reason: String,
        /// The tasks whose start failed.
        failed: Vec<HealFailure>,
    },
    /// The daemon started (machine-wide).
    DaemonStarted {
        /// Its pid.
        pid: u32,
    },
    /// The daemon stopped (machine-wide).
    DaemonStopped {
        /// Its pid.
        pid: u32,
        /// Its exit code.
        exit: u8,
    },
    /// A project's config changed.
    ConfigReloaded {
        /// Tasks added.
        added: Vec<String>,
        /// Tasks removed.
        removed: Vec<String>,
        /// Tasks changed.
        changed: Vec<String>,
    },
    /// A job was started.
    JobStarted {
        /// Its tag.
        tag: String,
        /// `@N`.
        window_id: String,
        /// `%N`.
        pane_id: String,
        /// Its window's name.
        window_name: String,
        /// Its command.
        argv: Vec<String>,
    },
    /// A job ended.
    JobFinished {
        /// Its tag.
        tag: String,
        /// Its exit code.
        exit_code: i32,
        /// The id it was run under.
        id: String,
    },
    /// A task's log could not be written: output is being dropped.
    LogWriteFailed {
        /// Why.
        error: String,
        /// Bytes dropped so far.
        dropped: u64,
        /// The log file.
        path: PathBuf,
    },
    /// A task's log is written again.
    LogWriteResumed {
        /// Bytes dropped meanwhile.
        dropped: u64,
        /// The log file.
        path: PathBuf,
        /// Why they were dropped.
        error: String,
    },
}

/// A task a heal could not start ([`Event::ProjectHealed`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealFailure {
    /// The task.
    pub task: String,
    /// Why.
    pub error: String,
}
