//! Whether events reach `events.jsonl`: shared by every clone of one [`super::EventLog`], so
//! a process whose threads all record through clones of one log (the daemon) knows when
//! its events are being dropped (an immutable or read-only file, a full disk), how many,
//! and when they are written again. The change each way is handed once to a watcher (the
//! daemon writes it in its log); the current failure is a value `daemon status` and
//! `doctor` show.

use crate::sync::guard;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Events this process could not write, since the first one it dropped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventsFailing {
    /// When the first event was dropped (ISO-8601).
    pub since: String,
    /// Why the last one could not be written.
    pub error: String,
    /// Events dropped since.
    pub dropped: u64,
    /// What to do about it.
    pub fix: String,
}

/// A change in whether events are written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HealthChange<'a> {
    /// An event could not be written, after the last one was (or after none was tried).
    Failing(&'a EventsFailing),
    /// An event was written after some were dropped: the failure that ended.
    Written(&'a EventsFailing),
}

/// What hears of each [`HealthChange`] (it must not record events itself).
pub type HealthWatcher = Arc<dyn Fn(HealthChange<'_>) + Send + Sync>;

/// The shared record behind an event log's clones.
#[derive(Default)]
pub(super) struct Health {
    failing: Mutex<Option<EventsFailing>>,
    watcher: Mutex<Option<HealthWatcher>>,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("failing", &*guard(&self.failing))
            .finish_non_exhaustive()
    }
}

impl Health {
    /// The failure, while events are being dropped.
    pub(super) fn failing(&self) -> Option<EventsFailing> {
        guard(&self.failing).clone()
    }

    /// Sets who hears of each change.
    pub(super) fn watch(&self, w: HealthWatcher) {
        *guard(&self.watcher) = Some(w);
    }

    /// Records how an append of `events` events to the history at `path` went.
    pub(super) fn record(&self, path: &Path, result: &crate::error::Result<()>, events: usize) {
        let (change, now) = {
            let mut failing = guard(&self.failing);
            match (result, failing.as_mut()) {
                (Ok(()), None) => return,
                (Ok(()), Some(_)) => (Some(false), failing.take()),
                (Err(e), Some(f)) => {
                    f.dropped += events as u64;
                    f.error = e.message();
                    f.fix = fix_for(path, &f.error);
                    (None, None)
                }
                (Err(e), None) => {
                    let error = e.message();
                    let f = EventsFailing {
                        since: crate::paths::iso_time(crate::paths::now_secs()),
                        fix: fix_for(path, &error),
                        error,
                        dropped: events as u64,
                    };
                    *failing = Some(f.clone());
                    (Some(true), Some(f))
                }
            }
        };
        let (Some(failed), Some(f)) = (change, now) else { return };
        let watcher = guard(&self.watcher).clone();
        if let Some(w) = watcher {
            w(if failed {
                HealthChange::Failing(&f)
            } else {
                HealthChange::Written(&f)
            });
        }
    }
}

/// What to do when the history at `path` cannot be written, from why (`error`).
pub fn fix_for(path: &Path, error: &str) -> String {
    let p = path.display();
    let dir = path.parent().map(|d| d.display().to_string()).unwrap_or_default();
    if error.contains("No space left") || error.contains("Disk quota") {
        format!("free space on the disk that holds {dir} ('df {dir}'); events are recorded again as soon as they fit")
    } else if error.contains("Read-only file system") {
        format!("remount the file system that holds {dir} read-write; events are recorded again as soon as it is")
    } else if error.contains("Operation not permitted") {
        format!("the file is immutable or append-only: 'lsattr {p}' shows it, 'chattr -i -a {p}' clears it")
    } else {
        format!("make {p} and {dir} writable by you; events are recorded again as soon as they are")
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Event, EventLog, Limits};
    use super::*;

    #[test]
    fn a_failure_is_said_once_counted_and_its_end_said_once() {
        let dir = std::env::temp_dir().join(format!("taskmux-events-health-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // a directory where the history should be: every append fails
        std::fs::create_dir_all(dir.join("events.jsonl")).expect("dir");
        let log = EventLog::new(&dir, Limits::default());
        let heard: Arc<Mutex<Vec<String>>> = Arc::default();
        let h = heard.clone();
        log.clone().watch_health(Arc::new(move |c| {
            guard(&h).push(match c {
                HealthChange::Failing(f) => format!("failing {}", f.dropped),
                HealthChange::Written(f) => format!("written {}", f.dropped),
            })
        }));
        let clone = log.clone();
        clone.emit("p", None, Event::TaskStarted {});
        log.emit_many(&[("p", None, Event::TaskKilled {}), ("p", None, Event::TaskRestarted {})]);
        let f = log.failing().expect("failing");
        assert_eq!(f.dropped, 3);
        assert!(f.error.contains("events.jsonl"), "{f:?}");
        assert!(!f.fix.is_empty());
        std::fs::remove_dir(dir.join("events.jsonl")).expect("rmdir");
        clone.emit("p", None, Event::TaskStarted {});
        log.emit("p", None, Event::SessionStopped {});
        assert_eq!(log.failing(), None);
        assert_eq!(*guard(&heard), vec!["failing 1".to_string(), "written 3".to_string()]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
