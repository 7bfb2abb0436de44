//! How a task's log writer says that writing fails: a `log_write_failed` event once per
//! failure episode (and `log_write_resumed` when it ends), and the status file
//! `<state>/projects/<session>/run/<task>.log.error`, which lives while writing fails and
//! which `status` and `inspect` show as `log_error`. Both live in the state directory, not
//! next to a `log_file` that may sit on the full disk.

use crate::events::{Event, EventLog, Limits};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The task a log writer writes for: where to report, and what to name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskLog {
    /// The state directory.
    pub home: PathBuf,
    /// The session (project name).
    pub session: String,
    /// The task.
    pub task: String,
}

/// A log that cannot be written, as the status file holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogError {
    /// The system's reason for the last failed write.
    pub error: String,
    /// Bytes of output dropped since writing started to fail.
    pub dropped: u64,
    /// When writing started to fail (ISO 8601).
    pub since: String,
    /// The log file.
    pub path: PathBuf,
}

/// `<state>/projects/<session>/run/<task>.log.error`.
pub fn error_path(home: &Path, session: &str, task: &str) -> PathBuf {
    crate::ctx::project_dir(home, session)
        .join("run")
        .join(format!("{task}.log.error"))
}

/// The failure the writer of a task reports now, if its log cannot be written.
pub fn log_error(home: &Path, session: &str, task: &str) -> Option<LogError> {
    let text = std::fs::read_to_string(error_path(home, session, task)).ok()?;
    serde_json::from_str(&text).ok()
}

/// The failures the writers of a session's tasks report now, by task: one look at the
/// directory, so `status` pays for a file only where there is one.
pub fn log_errors(home: &Path, session: &str) -> std::collections::HashMap<String, LogError> {
    let dir = crate::ctx::project_dir(home, session).join("run");
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Default::default();
    };
    rd.flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let task = name.strip_suffix(".log.error")?.to_string();
            let err = log_error(home, session, &task)?;
            Some((task, err))
        })
        .collect()
}

/// How often the status file is rewritten with the bytes dropped so far.
const NOTE_EVERY: Duration = Duration::from_secs(1);

/// One failure episode of a writer: from the first failed write to the next good one.
#[derive(Debug)]
pub(super) struct Episode {
    pub(super) error: String,
    pub(super) dropped: u64,
    since: f64,
    /// The event was recorded (its write may fail on the same full disk: tried again).
    evented: bool,
    /// When the status file was last written, and with how many bytes dropped.
    noted: Option<(Instant, u64)>,
}

impl Episode {
    pub(super) fn new(error: String) -> Episode {
        Episode {
            error,
            dropped: 0,
            since: crate::time::now_secs(),
            evented: false,
            noted: None,
        }
    }

    /// Records the episode where it is seen: the event once, the status file now and then.
    pub(super) fn report(&mut self, t: &TaskLog, path: &Path) {
        if !self.evented {
            let failed = Event::LogWriteFailed {
                error: self.error.clone(),
                dropped: self.dropped,
                path: path.to_path_buf(),
            };
            self.evented = events(t).try_emit(&t.session, Some(&t.task), failed).is_ok();
        }
        let due = self
            .noted
            .is_none_or(|(at, n)| n != self.dropped && at.elapsed() >= NOTE_EVERY);
        if due {
            let e = LogError {
                error: self.error.clone(),
                dropped: self.dropped,
                since: crate::time::iso_time(self.since),
                path: path.to_path_buf(),
            };
            let text = serde_json::to_vec(&e).unwrap_or_default();
            let file = error_path(&t.home, &t.session, &t.task);
            if crate::paths::write_replace(&file, &text, 0o600).is_ok() {
                self.noted = Some((Instant::now(), self.dropped));
            }
        }
    }

    /// Writing works again: the status file goes, and the event says what was dropped.
    pub(super) fn end(self, t: &TaskLog, path: &Path) {
        let _ = std::fs::remove_file(error_path(&t.home, &t.session, &t.task));
        let resumed = Event::LogWriteResumed {
            dropped: self.dropped,
            path: path.to_path_buf(),
            error: self.error.clone(),
        };
        events(t).emit(&t.session, Some(&t.task), resumed);
    }
}

fn events(t: &TaskLog) -> EventLog {
    EventLog::new(&t.home, Limits::default())
}

impl TaskLog {
    /// The task's line index.
    pub(super) fn index_path(&self) -> PathBuf {
        super::index::index_path(&self.home, &self.session, &self.task)
    }
}
