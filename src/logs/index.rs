//! The line index of a task's log, `<state>/projects/<session>/run/<task>.log.index` (in the
//! state directory, so the log's own directory holds only logs): for the current file and the rotated ones,
//! which file (device, inode) holds which line numbers. The writer numbers every line it
//! writes, across rotations, and records the number of each file's first line when it makes
//! the file; `logs -f` reads it to tell exactly how many lines were rotated away before it
//! could read them.
//!
//! Format: one `DEV INO FIRST` line per file, newest first, replaced whole (temp file and
//! rename) so a reader never sees half of it. A missing or unreadable index only means
//! losses cannot be counted.

use super::files::FileId;
use std::path::{Path, PathBuf};

/// `<state>/projects/<session>/run/<task>.log.index`.
pub fn index_path(home: &Path, session: &str, task: &str) -> PathBuf {
    crate::ctx::project_dir(home, session)
        .join("run")
        .join(format!("{task}.log.index"))
}

/// The entries of the index at `path`, newest first; empty when there is none.
pub(super) fn read_index(path: &Path) -> Vec<(FileId, u64)> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_ascii_whitespace().map(str::parse::<u64>);
            match (it.next(), it.next(), it.next()) {
                (Some(Ok(dev)), Some(Ok(ino)), Some(Ok(first))) => Some(((dev, ino), first)),
                _ => None,
            }
        })
        .collect()
}

/// The number of the first line of file `id`, if the index knows it.
pub(super) fn first_line(entries: &[(FileId, u64)], id: FileId) -> Option<u64> {
    entries.iter().find(|(i, _)| *i == id).map(|(_, f)| *f)
}

/// Replaces the index at `path` with `entries` (newest first).
pub(super) fn write_index(path: &Path, entries: &[(FileId, u64)]) -> std::io::Result<()> {
    let text: String = entries
        .iter()
        .map(|((dev, ino), first)| format!("{dev} {ino} {first}\n"))
        .collect();
    crate::paths::write_replace(path, text.as_bytes(), 0o600).map_err(|e| std::io::Error::other(e.message()))
}

/// How many lines (newline characters) a file holds in its first `end` bytes.
pub(super) fn count_lines(file: &std::fs::File, end: u64) -> std::io::Result<u64> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; super::files::BLOCK];
    let (mut pos, mut n) = (0u64, 0u64);
    loop {
        let want = buf
            .len()
            .min(usize::try_from(end.saturating_sub(pos)).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(n);
        }
        let got = match file.read_at(&mut buf[..want], pos) {
            Ok(0) => return Ok(n),
            Ok(g) => g,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        n += memchr::memchr_iter(b'\n', &buf[..got]).count() as u64;
        pos += got as u64;
    }
}
