//! Helpers shared by the readers' unit tests: scratch directories and stamped log text.

use super::types::{Line, Source};
use regex::Regex;
use std::fs;
use std::path::{Path, PathBuf};

/// 2024-01-01T14:00:00 UTC.
pub(super) const T0: f64 = 1_704_117_600.0;

/// A scratch directory, removed on drop.
pub(super) struct TempDir(PathBuf);

impl TempDir {
    /// A new, empty directory named after the test and this process.
    pub(super) fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p = std::env::temp_dir().join(format!("taskmux-logread-{name}-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    /// A path inside the directory.
    pub(super) fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The stamp the writer puts on a line at `t`, without its space.
pub(super) fn stamp(t: f64) -> String {
    crate::time::iso_time(t)[..23].to_owned()
}

/// Lines `<ts> <prefix><i>` for each (time, i).
pub(super) fn lines_text(prefix: &str, items: impl IntoIterator<Item = (f64, usize)>) -> String {
    items
        .into_iter()
        .map(|(t, i)| format!("{} {prefix}{i}\n", stamp(t)))
        .collect()
}

/// Writes a whole file.
pub(super) fn write(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
}

/// A [`Source`] of `task` at `path`.
pub(super) fn src(task: &str, path: PathBuf) -> Source {
    Source {
        task: task.to_owned(),
        path,
        index: None,
    }
}

/// The text of each line after its stamp.
pub(super) fn texts(lines: &[Line]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l.raw.get(24..).unwrap_or(&l.raw).to_owned())
        .collect()
}

/// A case-insensitive pattern for `Query::grep`.
pub(super) fn re(p: &str) -> Option<Regex> {
    Some(Regex::new(&format!("(?i){p}")).unwrap())
}

/// `.log.2` holds 0-2, `.log.1` 3-5, `.log` 6-8, one second apart.
pub(super) fn rotated_set(d: &TempDir) -> PathBuf {
    let base = d.path("api.log");
    let item = |i: usize| (T0 + i as f64, i);
    write(&d.path("api.log.2"), &lines_text("line", (0..3).map(item)));
    write(&d.path("api.log.1"), &lines_text("line", (3..6).map(item)));
    write(&base, &lines_text("line", (6..9).map(item)));
    base
}

/// `line<i>` for each `i`, as [`rotated_set`] writes them.
pub(super) fn numbered(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("line{i}")).collect()
}
