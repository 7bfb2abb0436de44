//! Watching a file for changes without reading it: `taskmux watch` and the daemon reload a
//! project when its `taskmux.toml` settles after a save.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const POLL: Duration = Duration::from_millis(200);
/// How often it is looked at while a change settles.
const SETTLE_POLL: Duration = Duration::from_millis(50);
/// How long a changed file must stay unchanged before it is reloaded.
const DEBOUNCE: Duration = Duration::from_millis(150);

/// What identifies one version of a file on disk without reading it. An editor's atomic
/// save (write a new file, rename it over the old one) changes the inode even when the
/// size and the mtime second stay the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileStamp {
    /// The stamp of whatever is at `path` now (following symlinks); None when nothing is.
    pub fn of(path: &Path) -> Option<FileStamp> {
        let m = std::fs::metadata(path).ok()?;
        Some(FileStamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }
}

/// Polls one path and reports a change once it has settled (unchanged for [`DEBOUNCE`]),
/// so an editor that writes in several steps causes one reload.
#[derive(Debug)]
pub struct FileWatch {
    path: PathBuf,
    /// The stamp last acted on.
    settled: Option<FileStamp>,
    /// A change seen but not yet settled: the stamp and when it was last seen to change.
    pending: Option<(Option<FileStamp>, Instant)>,
}

impl FileWatch {
    /// Starts watching `path` from its present state.
    pub fn new(path: &Path) -> FileWatch {
        FileWatch {
            path: path.to_path_buf(),
            settled: FileStamp::of(path),
            pending: None,
        }
    }

    /// Looks at the file once. True when a change has settled and should be acted on.
    pub fn poll(&mut self) -> bool {
        let now = FileStamp::of(&self.path);
        match self.pending {
            Some((seen, since)) if seen == now => {
                if since.elapsed() >= DEBOUNCE {
                    self.pending = None;
                    if now != self.settled {
                        self.settled = now;
                        return true;
                    }
                }
                false
            }
            _ if self.pending.is_none() && now == self.settled => false,
            _ => {
                self.pending = Some((now, Instant::now()));
                false
            }
        }
    }

    /// How long to wait before the next [`FileWatch::poll`].
    pub fn interval(&self) -> Duration {
        if self.pending.is_some() { SETTLE_POLL } else { POLL }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_watch_settles_once_per_change() {
        let dir = std::env::temp_dir().join(format!("taskmux-watch-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir is writable");
        let f = dir.join("taskmux.toml");
        std::fs::write(&f, "a").expect("write");
        let mut w = FileWatch::new(&f);
        assert!(!w.poll());
        let tmp = dir.join("new");
        std::fs::write(&tmp, "b").expect("write");
        std::fs::rename(&tmp, &f).expect("rename");
        assert!(!w.poll(), "a fresh change is not acted on before it settles");
        std::thread::sleep(DEBOUNCE + Duration::from_millis(20));
        assert!(w.poll());
        assert!(!w.poll(), "a settled change is reported once");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
