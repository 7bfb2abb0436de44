//! The event history: one JSON object a line in `events.jsonl`, appended under a lock and
//! trimmed to the last [`KEEP_LINES`] lines when it passes [`MAX_LINES`].
//!
//! Appends never read `events.jsonl`: a small counter file, `events.count`, next to it holds
//! the number of lines and the byte size of `events.jsonl` as of the last append. It is read
//! and rewritten in place under the same lock. When it is missing, unparsable, or its size
//! disagrees with the file's (the file was edited, deleted, or a crash fell between the two
//! writes), the lines are counted once to rebuild it.

mod health;

pub use health::{EventsFailing, HealthChange, HealthWatcher, fix_for};

use crate::error::{Error, Result};
use crate::paths;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

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

/// Past this many lines, `events.jsonl` is trimmed (a front may lower it: [`Limits`]).
pub const MAX_LINES: usize = 15_000;

/// How many of the newest lines a trim keeps.
pub const KEEP_LINES: usize = 10_000;

/// The file name of the history inside `$TASKMUX_HOME`.
const EVENTS_FILE: &str = "events.jsonl";

/// The file name of the line counter inside `$TASKMUX_HOME`.
const COUNT_FILE: &str = "events.count";

/// Width of the counter record, so that rewriting it in place never leaves a stale tail.
const COUNT_WIDTH: usize = 40;

/// When the history is trimmed: past `max` lines, down to the last `keep`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    max: usize,
    keep: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::new(MAX_LINES, KEEP_LINES)
    }
}

impl Limits {
    /// Limits with `max` at least 1 and `keep` at most `max` (a front may set them from
    /// `TASKMUX_EVENTS_MAX` / `TASKMUX_EVENTS_KEEP`, for tests).
    pub fn new(max: usize, keep: usize) -> Limits {
        let max = max.max(1);
        Limits {
            max,
            keep: keep.min(max),
        }
    }
}

/// The event history of one state directory. Its clones share whether their events are
/// written ([`EventLog::failing`]).
#[derive(Debug, Clone)]
pub struct EventLog {
    home: PathBuf,
    limits: Limits,
    health: std::sync::Arc<health::Health>,
}

impl PartialEq for EventLog {
    fn eq(&self, other: &EventLog) -> bool {
        (&self.home, self.limits) == (&other.home, other.limits)
    }
}

impl EventLog {
    /// The history in the state directory `home`, trimmed at `limits`.
    pub fn new(home: &Path, limits: Limits) -> EventLog {
        EventLog {
            home: home.to_path_buf(),
            limits,
            health: Default::default(),
        }
    }

    /// Whether events of this log (and its clones) are being dropped, since when, how
    /// many, why, and the fix; None while they are written.
    pub fn failing(&self) -> Option<EventsFailing> {
        self.health.failing()
    }

    /// Hands each change in whether events are written (the first dropped, the first
    /// written again) to `watcher`, once: a daemon says it in its log.
    pub fn watch_health(&self, watcher: HealthWatcher) {
        self.health.watch(watcher);
    }

    fn append(&self, data: &[u8], lines: usize) -> Result<()> {
        let result = append_in(&self.home, data, lines, self.limits);
        self.health.record(&self.path(), &result, lines);
        result
    }

    /// The path of the history, `<home>/events.jsonl`.
    pub fn path(&self) -> PathBuf {
        self.home.join(EVENTS_FILE)
    }

    /// Appends one event for a session ("" for a machine-wide one) and optional task.
    /// Failing to record an event never fails the operation it records.
    pub fn emit(&self, session: &str, task: Option<&str>, event: Event) {
        self.emit_many(&[(session, task, event)]);
    }

    /// [`EventLog::emit`] that says whether the event was written: for a caller that tries
    /// again later (a log writer on a full disk).
    pub fn try_emit(&self, session: &str, task: Option<&str>, event: Event) -> Result<()> {
        let ts = paths::iso_time(paths::now_secs());
        let line = event_line(&ts, session, task, &event);
        self.append(line.as_bytes(), 1)
    }

    /// Appends several events, each `(session, task, event)` as in [`EventLog::emit`],
    /// under one lock and in one write. Never fails: events that cannot be written are
    /// counted in [`EventLog::failing`].
    pub fn emit_many(&self, items: &[(&str, Option<&str>, Event)]) {
        if items.is_empty() {
            return;
        }
        let ts = paths::iso_time(paths::now_secs());
        let mut buf = String::new();
        for (session, task, event) in items {
            buf.push_str(&event_line(&ts, session, *task, event));
        }
        let _ = self.append(buf.as_bytes(), items.len());
    }

    /// Follows the history: see [`follow_in`].
    pub fn follow(
        &self,
        session: Option<&str>,
        task: Option<&str>,
        emit: &mut dyn FnMut(&Value) -> bool,
        keep_going: &dyn Fn() -> bool,
    ) -> Result<()> {
        follow_in(&self.home, None, session, task, emit, keep_going)
    }

    /// Where the history ends now: a follower started later with [`EventLog::follow_from`]
    /// this place misses nothing appended in between.
    pub fn end(&self) -> u64 {
        std::fs::metadata(self.home.join(EVENTS_FILE)).map_or(0, |m| m.len())
    }

    /// Follows the history from `from` (an [`EventLog::end`]): see [`follow_in`].
    pub fn follow_from(
        &self,
        from: u64,
        session: Option<&str>,
        emit: &mut dyn FnMut(&Value) -> bool,
        keep_going: &dyn Fn() -> bool,
    ) -> Result<()> {
        follow_in(&self.home, Some(from), session, None, emit, keep_going)
    }

    /// Returns the events of `session` (every project when `None`), of `task` when given,
    /// whose `ts` is at or after `since` (epoch seconds), the last `limit` of them, oldest
    /// first. Malformed lines are skipped; a missing history is empty.
    pub fn query(
        &self,
        session: Option<&str>,
        task: Option<&str>,
        since: Option<f64>,
        limit: Option<usize>,
    ) -> Result<Vec<Value>> {
        query_in(&self.home, session, task, since, limit)
    }
}

/// Parses an event time such as `2026-01-01T14:00:00.123456+00:00` to epoch seconds.
/// Also accepts `Z`, `±HHMM`, `±HH`, no zone (UTC), a space for `T`, no seconds or fraction,
/// and a bare date (midnight UTC). `None` when it is not such a time. The crate's one ISO 8601
/// parser, [`crate::time::parse_iso`], under the name events callers know.
pub fn parse_event_ts(s: &str) -> Option<f64> {
    crate::time::parse_iso(s)
}

/// One event as its JSON line, newline included. A machine-wide event (`daemon_started`)
/// is emitted with session "" and carries no `session` key.
fn event_line(ts: &str, session: &str, task: Option<&str>, event: &Event) -> String {
    // an event is a tagged struct: its value is an object that starts with `event`
    let body = serde_json::to_value(event).unwrap_or_else(|_| Value::Object(Map::new()));
    line_of(ts, session, task, body)
}

/// The JSON line of an event whose name and fields are `body` (an object with `event`):
/// `ts`, `event`, `session`, `task`, then the other fields (its `ts`, `session` and `task`
/// never replace the event's own).
fn line_of(ts: &str, session: &str, task: Option<&str>, body: Value) -> String {
    let Value::Object(mut fields) = body else {
        return String::new();
    };
    let mut obj = Map::new();
    obj.insert("ts".into(), ts.into());
    obj.insert("event".into(), fields.shift_remove("event").unwrap_or(Value::Null));
    if !session.is_empty() {
        obj.insert("session".into(), session.into());
    }
    if let Some(t) = task {
        obj.insert("task".into(), t.into());
    }
    for (k, v) in fields {
        if !obj.contains_key(&k) && k != "task" {
            obj.insert(k, v);
        }
    }
    let mut line = Value::Object(obj).to_string();
    line.push('\n');
    line
}

/// Appends `data` (`lines` complete JSON lines) to `<dir>/events.jsonl` under the lock,
/// keeps the counter, and trims the file when it passes `limits.max` lines.
fn append_in(dir: &Path, data: &[u8], lines: usize, limits: Limits) -> Result<()> {
    let _lock = paths::lock_in(dir, "events")?;
    let path = dir.join(EVENTS_FILE);
    let file = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| Error::io("open", &path, e))?;
    let meta = file.metadata().map_err(|e| Error::io("stat", &path, e))?;
    if meta.mode() & 0o077 != 0 {
        // made before events were private: job argv can carry secrets
        let _ = file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600));
    }
    let size = meta.len();
    let count_path = dir.join(COUNT_FILE);
    let count_file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .mode(0o600)
        .open(&count_path)
        .map_err(|e| Error::io("open", &count_path, e))?;
    let mut prefix: &[u8] = b"";
    let count = match read_count(&count_file) {
        Some((n, s)) if s == size => n,
        _ => {
            let (n, ends_with_newline) = count_lines(&file).map_err(|e| Error::io("read", &path, e))?;
            if !ends_with_newline {
                // A torn last line: end it, so the new event is a line of its own.
                prefix = b"\n";
            }
            n
        }
    };
    let mut buf = Vec::with_capacity(prefix.len() + data.len());
    buf.extend_from_slice(prefix);
    buf.extend_from_slice(data);
    (&file).write_all(&buf).map_err(|e| Error::io("append to", &path, e))?;
    let mut count = count + lines + prefix.len();
    let mut size = size + buf.len() as u64;
    if count > limits.max {
        drop(file);
        let all = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
        let tail = &all[tail_start(&all, limits.keep)..];
        paths::write_atomic(&path, tail, 0o600)?;
        count = tail.iter().filter(|&&c| c == b'\n').count();
        size = tail.len() as u64;
    }
    write_count(&count_file, count, size).map_err(|e| Error::io("write", &count_path, e))
}

/// The `(lines, size)` record of the counter file, if it holds one.
fn read_count(file: &File) -> Option<(usize, u64)> {
    let mut buf = [0u8; COUNT_WIDTH + 1];
    let n = file.read_at(&mut buf, 0).ok()?;
    let text = std::str::from_utf8(buf.get(..n)?).ok()?;
    let mut parts = text.split_whitespace();
    let lines = parts.next()?.parse().ok()?;
    let size = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((lines, size))
}

/// Rewrites the counter record in place, padded to a fixed width (one small write).
fn write_count(file: &File, lines: usize, size: u64) -> std::io::Result<()> {
    let mut rec = format!("{lines} {size}");
    while rec.len() < COUNT_WIDTH {
        rec.push(' ');
    }
    rec.push('\n');
    file.write_all_at(rec.as_bytes(), 0)
}

/// Counts the newlines of a file, and whether it is empty or ends with one.
fn count_lines(file: &File) -> std::io::Result<(usize, bool)> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut offset = 0u64;
    let mut lines = 0;
    let mut last = b'\n';
    loop {
        let n = match file.read_at(&mut buf, offset) {
            Ok(0) => return Ok((lines, last == b'\n')),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        lines += buf[..n].iter().filter(|&&c| c == b'\n').count();
        last = buf[n - 1];
        offset += n as u64;
    }
}

/// Where the last `keep` lines of `data` start.
fn tail_start(data: &[u8], keep: usize) -> usize {
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    if keep == 0 {
        return data.len();
    }
    let mut seen = 0;
    for (i, &c) in body.iter().enumerate().rev() {
        if c == b'\n' {
            seen += 1;
            if seen == keep {
                return i + 1;
            }
        }
    }
    0
}

/// [`query`] on the history in `dir`.
fn query_in(
    dir: &Path,
    session: Option<&str>,
    task: Option<&str>,
    since: Option<f64>,
    limit: Option<usize>,
) -> Result<Vec<Value>> {
    let path = dir.join(EVENTS_FILE);
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("read", &path, e)),
    };
    let field = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let mut out: Vec<Value> = data
        .split(|&c| c == b'\n')
        .filter_map(|line| serde_json::from_slice::<Value>(line).ok())
        .filter(|v| v.is_object())
        .filter(|v| session.is_none_or(|s| field(v, "session").as_deref() == Some(s)))
        .filter(|v| task.is_none_or(|t| field(v, "task").as_deref() == Some(t)))
        .filter(|v| {
            since.is_none_or(|s| {
                v.get("ts")
                    .and_then(Value::as_str)
                    .and_then(parse_event_ts)
                    .is_some_and(|ts| ts >= s)
            })
        })
        .collect();
    if let Some(n) = limit {
        let skip = out.len().saturating_sub(n);
        out.drain(..skip);
    }
    Ok(out)
}

/// Follows the history in `dir`: every event appended from now on that matches `session`
/// and `task`, within 100 ms, across trims (a trimmed file is a new file: what was already
/// seen is not sent again); from the byte `from` when given. Returns when `emit` or
/// `keep_going` says false.
pub fn follow_in(
    dir: &Path,
    from: Option<u64>,
    session: Option<&str>,
    task: Option<&str>,
    emit: &mut dyn FnMut(&Value) -> bool,
    keep_going: &dyn Fn() -> bool,
) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    use std::os::unix::fs::MetadataExt;
    let path = dir.join(EVENTS_FILE);
    let stamp = |m: &std::fs::Metadata| (m.dev(), m.ino());
    let mut file: Option<(std::fs::File, (u64, u64))> = None;
    let mut pos = from.unwrap_or_else(|| std::fs::metadata(&path).map_or(0, |m| m.len()));
    let mut last_ts = String::new();
    let mut partial: Vec<u8> = Vec::new();
    let field = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    loop {
        if !keep_going() {
            return Ok(());
        }
        let now = std::fs::metadata(&path).ok();
        let replaced = match (&file, &now) {
            (Some((_, st)), Some(m)) => *st != stamp(m) || m.len() < pos,
            _ => false,
        };
        if replaced || (file.is_none() && now.is_some()) {
            if replaced {
                pos = 0;
                partial.clear();
            }
            file = std::fs::File::open(&path)
                .ok()
                .and_then(|f| Some((stamp(&f.metadata().ok()?), f)))
                .map(|(st, f)| (f, st));
        }
        if let Some((f, _)) = file.as_mut()
            && now.as_ref().is_some_and(|m| m.len() > pos)
        {
            f.seek(SeekFrom::Start(pos)).map_err(|e| Error::io("read", &path, e))?;
            let mut buf = Vec::new();
            let n = f.read_to_end(&mut buf).map_err(|e| Error::io("read", &path, e))?;
            pos += n as u64;
            partial.extend_from_slice(&buf);
            let end = partial.iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1);
            let complete: Vec<u8> = partial.drain(..end).collect();
            for line in complete.split(|&c| c == b'\n') {
                let Ok(v) = serde_json::from_slice::<Value>(line) else {
                    continue;
                };
                let ts = field(&v, "ts").unwrap_or_default();
                // after a trim the file starts again with events already sent
                if replaced && ts <= last_ts {
                    continue;
                }
                last_ts = ts;
                if session.is_some_and(|s| field(&v, "session").as_deref() != Some(s))
                    || task.is_some_and(|t| field(&v, "task").as_deref() != Some(t))
                {
                    continue;
                }
                if !emit(&v) {
                    return Ok(());
                }
            }
            continue;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fresh, empty directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            static N: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "taskmux-events-{}-{}-{name}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const BIG: Limits = Limits {
        max: MAX_LINES,
        keep: KEEP_LINES,
    };

    fn put(dir: &Path, ts: &str, event: &str, session: &str, task: Option<&str>, limits: Limits) {
        let line = named_line(ts, event, session, task, json!({"n": 1}));
        append_in(dir, line.as_bytes(), 1, limits).unwrap();
    }

    /// The line of an event of any name (the history keeps what it is given), with the
    /// fields of `extra`.
    fn named_line(ts: &str, event: &str, session: &str, task: Option<&str>, extra: Value) -> String {
        let mut body = json!({"event": event});
        if let Value::Object(m) = extra {
            for (k, v) in m {
                body[k] = v;
            }
        }
        line_of(ts, session, task, body)
    }

    fn lines_of(dir: &Path) -> Vec<String> {
        String::from_utf8_lossy(&std::fs::read(dir.join(EVENTS_FILE)).unwrap())
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn names(events: &[Value]) -> Vec<String> {
        events.iter().map(|e| e["event"].as_str().unwrap().to_owned()).collect()
    }

    #[test]
    fn parses_event_times() {
        assert_eq!(parse_event_ts("1970-01-01T00:00:00.000000+00:00"), Some(0.0));
        assert_eq!(parse_event_ts("2024-01-01T14:00:00+00:00"), Some(1_704_117_600.0));
        let t = parse_event_ts("2024-01-01T14:00:00.123456+00:00").unwrap();
        assert!((t - 1_704_117_600.123456).abs() < 1e-6);
        assert_eq!(parse_event_ts("2024-01-01T16:00:00+02:00"), Some(1_704_117_600.0));
        assert_eq!(parse_event_ts("2024-01-01T09:30:00-0430"), Some(1_704_117_600.0));
        assert_eq!(parse_event_ts("2024-01-01T14:00:00Z"), Some(1_704_117_600.0));
        assert_eq!(parse_event_ts("2024-01-01 14:00"), Some(1_704_117_600.0));
        assert_eq!(parse_event_ts("2024-01-01"), Some(1_704_067_200.0));
        assert_eq!(parse_event_ts("2024-02-29T00:00:00"), Some(1_709_164_800.0));
        let now = paths::now_secs();
        let back = parse_event_ts(&paths::iso_time(now)).unwrap();
        assert!((back - now).abs() < 1e-5);
        for bad in [
            "",
            "yesterday",
            "2024-1-01",
            "2023-02-29",
            "2024-13-01",
            "2024-01-01T24:00:00",
            "2024-01-01T14:00:00.",
            "2024-01-01T14:00:00+00:00x",
            "2024-01-01T14",
            "2024-01-01X14:00",
            "2024-01-01T14:00:00+0",
        ] {
            assert_eq!(parse_event_ts(bad), None, "{bad}");
        }
    }

    #[test]
    fn extra_fields_never_replace_core_fields() {
        let line = line_of(
            "T",
            "p",
            None,
            json!({"event": "task_exited", "exit_code": 3, "ts": "x", "task": "y", "session": "q"}),
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            v,
            json!({"ts": "T", "event": "task_exited", "session": "p", "exit_code": 3})
        );
        assert!(line.ends_with('\n'));
    }

    #[test]
    fn a_typed_event_is_the_line_it_always_was() {
        let exited = Event::TaskExited {
            exit_code: Some(3),
            signal: None,
        };
        assert_eq!(
            event_line("T", "p", Some("api"), &exited),
            "{\"ts\":\"T\",\"event\":\"task_exited\",\"session\":\"p\",\"task\":\"api\",\"exit_code\":3}\n"
        );
        let restart = Event::AutoRestart {
            reason: "exited".into(),
            attempt: 2,
            exit_code: Some(None),
        };
        assert_eq!(
            event_line("T", "p", Some("api"), &restart),
            "{\"ts\":\"T\",\"event\":\"auto_restart\",\"session\":\"p\",\"task\":\"api\",\"reason\":\"exited\",\"attempt\":2,\"exit_code\":null}\n"
        );
        let stopped = Event::TaskStopped {
            manual: true,
            restart_cancelled: false,
        };
        assert_eq!(
            event_line("T", "p", Some("api"), &stopped),
            "{\"ts\":\"T\",\"event\":\"task_stopped\",\"session\":\"p\",\"task\":\"api\",\"manual\":true}\n"
        );
        assert_eq!(
            event_line("T", "p", None, &Event::SessionStopped {}),
            "{\"ts\":\"T\",\"event\":\"session_stopped\",\"session\":\"p\"}\n"
        );
    }

    #[test]
    fn a_machine_wide_event_has_no_session_and_no_session_filter_matches_it() {
        let line = event_line("T", "", None, &Event::DaemonStarted { pid: 9 });
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v, json!({"ts": "T", "event": "daemon_started", "pid": 9}));
        let tmp = TempDir::new("machine");
        put(
            &tmp.0,
            "2024-01-01T14:00:00.000000+00:00",
            "daemon_started",
            "",
            None,
            BIG,
        );
        assert_eq!(query_in(&tmp.0, None, None, None, None).unwrap().len(), 1);
        assert!(query_in(&tmp.0, Some(""), None, None, None).unwrap().is_empty());
    }

    #[test]
    fn append_and_query_filters() {
        let tmp = TempDir::new("query");
        let d = &tmp.0;
        assert!(query_in(d, None, None, None, None).unwrap().is_empty());
        put(d, "2024-01-01T14:00:00.000000+00:00", "session_started", "p", None, BIG);
        put(
            d,
            "2024-01-01T14:00:01.000000+00:00",
            "task_started",
            "p",
            Some("api"),
            BIG,
        );
        put(
            d,
            "2024-01-01T14:00:02.000000+00:00",
            "task_started",
            "q",
            Some("api"),
            BIG,
        );
        put(
            d,
            "2024-01-01T14:00:03.000000+00:00",
            "task_started",
            "p",
            Some("db"),
            BIG,
        );
        put(
            d,
            "2024-01-01T14:00:04.000000+00:00",
            "task_stopped",
            "p",
            Some("api"),
            BIG,
        );

        let all = query_in(d, None, None, None, None).unwrap();
        assert_eq!(all.len(), 5);
        assert_eq!(all[1]["task"], "api");
        assert_eq!(all[1]["n"], 1);
        assert_eq!(query_in(d, Some("p"), None, None, None).unwrap().len(), 4);
        assert_eq!(query_in(d, Some("q"), None, None, None).unwrap().len(), 1);
        assert!(query_in(d, Some("nope"), None, None, None).unwrap().is_empty());
        assert_eq!(
            names(&query_in(d, Some("p"), Some("api"), None, None).unwrap()),
            ["task_started", "task_stopped"]
        );
        assert_eq!(query_in(d, None, Some("api"), None, None).unwrap().len(), 3);
        let since = parse_event_ts("2024-01-01T14:00:03+00:00");
        let recent = query_in(d, Some("p"), None, since, None).unwrap();
        assert_eq!(names(&recent), ["task_started", "task_stopped"]);
        assert_eq!(recent[0]["task"], "db");
        let last2 = query_in(d, Some("p"), None, None, Some(2)).unwrap();
        assert_eq!(last2[0]["task"], "db");
        assert_eq!(last2[1]["event"], "task_stopped");
        assert_eq!(query_in(d, None, None, None, Some(100)).unwrap().len(), 5);
        assert!(query_in(d, None, None, None, Some(0)).unwrap().is_empty());
        assert_eq!(
            query_in(d, None, None, since, Some(1)).unwrap()[0]["event"],
            "task_stopped"
        );
    }

    #[test]
    fn malformed_lines_are_skipped() {
        let tmp = TempDir::new("malformed");
        let d = &tmp.0;
        let mut data = b"not json\n[1,2]\n\n{\"ts\": \"bad\", \"event\": \"e0\", \"session\": \"p\"}\n".to_vec();
        data.extend_from_slice(b"\xff\xfe\n{\"ts\": \"2024-01-01T14:00:00+00:00\", \"event\": \"e1\", \"sess");
        std::fs::write(d.join(EVENTS_FILE), &data).unwrap();
        // The torn last line must not swallow the next event.
        put(d, "2024-01-01T14:00:01.000000+00:00", "e2", "p", None, BIG);
        assert_eq!(names(&query_in(d, None, None, None, None).unwrap()), ["e0", "e2"]);
        // An event whose time cannot be read is not "since" anything.
        assert_eq!(names(&query_in(d, None, None, Some(0.0), None).unwrap()), ["e2"]);
        assert_eq!(lines_of(d).len(), 7);
    }

    #[test]
    fn trims_to_keep_when_passing_max() {
        let tmp = TempDir::new("trim");
        let d = &tmp.0;
        let limits = Limits::new(10, 4);
        for i in 0..10 {
            put(d, "2024-01-01T14:00:00+00:00", &format!("e{i}"), "p", None, limits);
        }
        assert_eq!(lines_of(d).len(), 10, "not trimmed at exactly max");
        put(d, "2024-01-01T14:00:00+00:00", "e10", "p", None, limits);
        assert_eq!(
            names(&query_in(d, None, None, None, None).unwrap()),
            ["e7", "e8", "e9", "e10"]
        );
        let size = std::fs::metadata(d.join(EVENTS_FILE)).unwrap().len();
        let count = File::open(d.join(COUNT_FILE)).unwrap();
        assert_eq!(read_count(&count), Some((4, size)));
        for i in 11..18 {
            put(d, "2024-01-01T14:00:00+00:00", &format!("e{i}"), "p", None, limits);
        }
        assert_eq!(
            names(&query_in(d, None, None, None, None).unwrap()),
            ["e14", "e15", "e16", "e17"]
        );
        // A batch that passes max in one append is trimmed too.
        let batch: String = (0..25)
            .map(|i| named_line("2024-01-01T14:00:00+00:00", &format!("b{i}"), "p", None, json!({})))
            .collect();
        append_in(d, batch.as_bytes(), 25, limits).unwrap();
        assert_eq!(
            names(&query_in(d, None, None, None, None).unwrap()),
            ["b21", "b22", "b23", "b24"]
        );
    }

    #[test]
    fn counter_is_rebuilt_when_missing_or_stale() {
        let tmp = TempDir::new("rebuild");
        let d = &tmp.0;
        let limits = Limits::new(10, 3);
        for i in 0..8 {
            put(d, "2024-01-01T14:00:00+00:00", &format!("e{i}"), "p", None, limits);
        }
        std::fs::remove_file(d.join(COUNT_FILE)).unwrap();
        put(d, "2024-01-01T14:00:00+00:00", "e8", "p", None, limits);
        let size = std::fs::metadata(d.join(EVENTS_FILE)).unwrap().len();
        assert_eq!(read_count(&File::open(d.join(COUNT_FILE)).unwrap()), Some((9, size)));
        // Garbage in the counter: rebuilt, and the trim still happens on time.
        std::fs::write(d.join(COUNT_FILE), "garbage").unwrap();
        put(d, "2024-01-01T14:00:00+00:00", "e9", "p", None, limits);
        assert_eq!(lines_of(d).len(), 10);
        put(d, "2024-01-01T14:00:00+00:00", "e10", "p", None, limits);
        assert_eq!(
            names(&query_in(d, None, None, None, None).unwrap()),
            ["e8", "e9", "e10"]
        );
        // Lines added behind the counter's back (size mismatch): counted again.
        let mut f = OpenOptions::new().append(true).open(d.join(EVENTS_FILE)).unwrap();
        for i in 0..7 {
            writeln!(f, "{{\"event\": \"x{i}\", \"session\": \"p\"}}").unwrap();
        }
        put(d, "2024-01-01T14:00:00+00:00", "e11", "p", None, limits);
        assert_eq!(
            names(&query_in(d, None, None, None, None).unwrap()),
            ["x5", "x6", "e11"]
        );
        // History deleted: starts over.
        std::fs::remove_file(d.join(EVENTS_FILE)).unwrap();
        put(d, "2024-01-01T14:00:00+00:00", "e12", "p", None, limits);
        assert_eq!(lines_of(d).len(), 1);
        let size = std::fs::metadata(d.join(EVENTS_FILE)).unwrap().len();
        assert_eq!(read_count(&File::open(d.join(COUNT_FILE)).unwrap()), Some((1, size)));
    }

    #[test]
    fn limits_are_sane() {
        assert_eq!(Limits::new(0, 5), Limits { max: 1, keep: 1 });
        assert_eq!(Limits::new(10, 50), Limits { max: 10, keep: 10 });
        assert_eq!(Limits::new(10, 0), Limits { max: 10, keep: 0 });
        assert_eq!(tail_start(b"a\nb\nc\n", 2), 2);
        assert_eq!(tail_start(b"a\nb\nc\n", 3), 0);
        assert_eq!(tail_start(b"a\nb\nc\n", 9), 0);
        assert_eq!(tail_start(b"a\nb\nc\n", 0), 6);
    }

    #[test]
    fn concurrent_appends_lose_nothing() {
        let tmp = TempDir::new("concurrent");
        let d = tmp.0.clone();
        let (threads, per) = (8, 150);
        std::thread::scope(|s| {
            for t in 0..threads {
                let d = &d;
                s.spawn(move || {
                    for i in 0..per {
                        if i % 10 == 0 {
                            let items: String = (0..3)
                                .map(|k| named_line("T", &format!("{t}-{i}-{k}"), "p", None, json!({})))
                                .collect();
                            append_in(d, items.as_bytes(), 3, BIG).unwrap();
                        } else {
                            put(d, "T", &format!("{t}-{i}"), "p", None, BIG);
                        }
                    }
                });
            }
        });
        let events = query_in(&d, None, None, None, None).unwrap();
        let expected = threads * (per + per / 10 * 2);
        assert_eq!(lines_of(&d).len(), expected);
        let mut seen: Vec<String> = names(&events);
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), expected);
        let size = std::fs::metadata(d.join(EVENTS_FILE)).unwrap().len();
        assert_eq!(
            read_count(&File::open(d.join(COUNT_FILE)).unwrap()),
            Some((expected, size))
        );
    }

    #[test]
    fn concurrent_appends_with_trimming_stay_consistent() {
        let tmp = TempDir::new("concurrent-trim");
        let d = tmp.0.clone();
        let limits = Limits::new(50, 20);
        std::thread::scope(|s| {
            for t in 0..6 {
                let d = &d;
                s.spawn(move || {
                    for i in 0..100 {
                        put(d, "T", &format!("{t}-{i}"), "p", None, limits);
                    }
                });
            }
        });
        let lines = lines_of(&d);
        assert!((20..=50).contains(&lines.len()), "{}", lines.len());
        assert_eq!(query_in(&d, None, None, None, None).unwrap().len(), lines.len());
        let size = std::fs::metadata(d.join(EVENTS_FILE)).unwrap().len();
        assert_eq!(
            read_count(&File::open(d.join(COUNT_FILE)).unwrap()),
            Some((lines.len(), size))
        );
    }
}
