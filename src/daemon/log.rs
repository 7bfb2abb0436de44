//! `daemon.log`: the daemon's own log, one timestamped line per thing it did or could not
//! do, bounded by rotation (`daemon.log.1` … `.N`). Anything written to the process's
//! stderr (a panic) lands in the current file too.

use crate::paths;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Size at which the log rotates.
pub const MAX_BYTES: u64 = 1024 * 1024;
/// Rotated files kept.
pub const KEEP: u32 = 3;

/// The daemon's log: a file, or stderr when it runs in a terminal in the foreground.
#[derive(Debug)]
pub struct DaemonLog {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: Option<PathBuf>,
    file: Option<File>,
    size: u64,
    max: u64,
    /// Whether stderr is pointed at the file (a detached daemon).
    capture_stderr: bool,
}

/// Opens a daemon log for appending: made 0600, and made 0600 again when an older
/// taskmux left it readable by others (what the daemon logs names projects and paths).
pub fn open(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::PermissionsExt;
    let f = OpenOptions::new().create(true).append(true).mode(0o600).open(path)?;
    if f.metadata()?.permissions().mode() & 0o077 != 0 {
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(f)
}

impl DaemonLog {
    /// A log that writes to `path` (rotating at `max` bytes), and points stderr at it when
    /// `capture_stderr`; with no path, to stderr.
    pub fn new(path: Option<PathBuf>, max: u64, capture_stderr: bool) -> DaemonLog {
        let file = path.as_deref().and_then(|p| open(p).ok());
        let size = file.as_ref().and_then(|f| f.metadata().ok()).map_or(0, |m| m.len());
        let log = DaemonLog {
            inner: Mutex::new(Inner {
                path,
                file,
                size,
                max,
                capture_stderr,
            }),
        };
        if let Ok(g) = log.inner.lock() {
            g.point_stderr();
        }
        log
    }

    /// Writes one line, `2026-01-01T14:00:00.123 message`.
    pub fn line(&self, msg: &str) {
        let stamp = crate::time::log_stamp(paths::now_secs());
        let text = format!("{}{msg}\n", String::from_utf8_lossy(&stamp));
        let Ok(mut g) = self.inner.lock() else { return };
        if g.file.is_none() {
            let _ = std::io::stderr().write_all(text.as_bytes());
            return;
        }
        if g.size + text.len() as u64 > g.max {
            g.rotate();
        }
        if let Some(f) = g.file.as_mut()
            && f.write_all(text.as_bytes()).is_ok()
        {
            g.size += text.len() as u64;
        }
    }
}

impl Inner {
    fn rotate(&mut self) {
        let Some(path) = self.path.clone() else { return };
        let name = |n: u32| PathBuf::from(format!("{}.{n}", path.display()));
        let _ = std::fs::remove_file(name(KEEP));
        for n in (1..KEEP).rev() {
            let _ = std::fs::rename(name(n), name(n + 1));
        }
        let _ = std::fs::rename(&path, name(1));
        self.file = open(&path).ok();
        self.size = 0;
        self.point_stderr();
    }

    fn point_stderr(&self) {
        if let (true, Some(f)) = (self.capture_stderr, self.file.as_ref()) {
            let _ = rustix::stdio::dup2_stderr(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_and_bounds() {
        let dir = std::env::temp_dir().join(format!("taskmux-dlog-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let p = dir.join("daemon.log");
        let log = DaemonLog::new(Some(p.clone()), 200, false);
        for i in 0..100 {
            log.line(&format!("line {i}"));
        }
        let total: u64 = std::fs::read_dir(&dir)
            .expect("dir")
            .map(|e| e.expect("entry").metadata().expect("meta").len())
            .sum();
        assert!(total <= 200 * (KEEP as u64 + 1), "bounded: {total}");
        assert!(std::fs::read_to_string(&p).expect("log").contains("line 99"));
        assert!(dir.join("daemon.log.3").exists() && !dir.join("daemon.log.4").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
