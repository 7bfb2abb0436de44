//! What a log read asks for ([`Source`], [`Query`]) and what comes back ([`Line`]): the
//! types `read`, `follow` and their helpers share, depending on none of them.

use crate::time;
use regex::Regex;
use std::path::PathBuf;

/// One task's log: its name and the base `.log` path (rotated files are `<path>.1` … `<path>.N`).
#[derive(Debug, Clone)]
pub struct Source {
    /// The task the lines belong to.
    pub task: String,
    /// The current log file; `.1` (newest rotated) to `.N` (oldest) sit next to it.
    pub path: PathBuf,
    /// Its line index ([`super::index_path`]), with which `follow` counts the lines rotated
    /// away before it could read them.
    pub index: Option<PathBuf>,
}

/// One log line.
#[derive(Debug, Clone)]
pub struct Line {
    /// The task it came from.
    pub task: String,
    /// Its timestamp in seconds since the epoch, NaN when the prefix does not parse.
    pub ts: f64,
    /// The whole line without its newline, timestamp included, escape codes kept, lossy UTF-8.
    pub raw: String,
    /// Set on a report `follow` makes in place of lines: this many lines were rotated away
    /// before they could be read (`raw` then says so: `-- N lines lost to rotation --`).
    pub lost: Option<u64>,
}

/// What to read.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Only the last N lines (after the other filters).
    pub tail: Option<usize>,
    /// Keep lines whose visible text (after the timestamp, escape codes removed) matches.
    pub grep: Option<Regex>,
    /// With `grep`: also keep up to this many lines before and after each match.
    pub context: usize,
    /// Keep lines stamped at or after this time (epoch seconds).
    pub since: Option<f64>,
}

/// The timestamp prefix of a log line (`YYYY-MM-DDTHH:MM:SS.mmm `) in epoch seconds.
pub fn parse_ts(line: &[u8]) -> Option<f64> {
    time::parse_log_stamp(line).map(|(ts, _)| ts)
}

/// A [`Line`] of `task` from its bytes: lossy UTF-8, NaN time when it has no stamp.
pub(super) fn make_line(task: &str, bytes: &[u8]) -> Line {
    Line {
        task: task.to_owned(),
        ts: parse_ts(bytes).unwrap_or(f64::NAN),
        raw: String::from_utf8_lossy(bytes).into_owned(),
        lost: None,
    }
}

/// The report `follow` makes when `n` lines of `task` were rotated away unread.
pub(super) fn lost_line(task: &str, n: u64) -> Line {
    Line {
        task: task.to_owned(),
        ts: f64::NAN,
        raw: format!("-- {n} line{} lost to rotation --", if n == 1 { "" } else { "s" }),
        lost: Some(n),
    }
}
