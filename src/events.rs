//! The event history: one JSON object a line in `events.jsonl`, appended under a lock and
//! trimmed to the last [`KEEP_LINES`] lines when it passes [`MAX_LINES`].
//!
//! Appends never read `events.jsonl`: a small counter file, `events.count`, next to it holds
//! the number of lines and the byte size of `events.jsonl` as of the last append. It is read
//! and rewritten in place under the same lock. When it is missing, unparsable, or its size
//! disagrees with the file's (the file was edited, deleted, or a crash fell between the two
//! writes), the lines are counted once to rebuild it.

mod event;
mod health;

pub use event::{Event, HealFailure};
pub use health::{EventsFailing, HealthChange, HealthWatcher, fix_for};

use crate::error::{Error, Result};
use crate::paths;
use serde_json::{Map, Value};
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

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
mod tests;
