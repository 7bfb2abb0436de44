//! Hearing of changes to files without polling them: inotify on Linux. A file is watched
//! through its directory, by name, so an editor's save that writes a new file and renames
//! it over the old one is heard as well as a write in place; a directory can be watched
//! for its own removal. Changes are told in batches once they have settled (no event for
//! [`SETTLE`]), so a save in several steps is one change. Elsewhere (macOS, until kqueue
//! is done) there is no notifier and the daemon looks at its files on a slow timer.

use crate::sync::guard;
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

/// How long a change must be quiet before it is told.
pub const SETTLE: Duration = Duration::from_millis(100);

/// What is watched in one directory.
#[derive(Debug)]
struct Dir {
    /// The kernel's watch descriptor.
    wd: i32,
    /// Files in it, by name, and the key each change is told as.
    files: Vec<(OsString, String)>,
    /// The key its own removal or move is told as, when that is watched.
    gone: Option<String>,
}

/// An inotify instance and what it watches.
#[derive(Debug)]
pub struct Notify {
    fd: OwnedFd,
    dirs: Mutex<Vec<Dir>>,
}

impl Notify {
    /// A notifier watching nothing yet.
    pub fn new() -> std::io::Result<Notify> {
        use rustix::fs::inotify;
        let fd = inotify::init(inotify::CreateFlags::CLOEXEC)?;
        Ok(Notify {
            fd,
            dirs: Mutex::new(Vec::new()),
        })
    }

    /// Adds (or extends) the watch of directory `dir`; its index in `dirs`.
    fn dir(&self, dirs: &mut Vec<Dir>, dir: &Path) -> std::io::Result<usize> {
        use rustix::fs::inotify::{self, WatchFlags};
        let flags = WatchFlags::CLOSE_WRITE
            | WatchFlags::MOVED_TO
            | WatchFlags::MOVED_FROM
            | WatchFlags::CREATE
            | WatchFlags::DELETE
            | WatchFlags::ATTRIB
            | WatchFlags::DELETE_SELF
            | WatchFlags::MOVE_SELF;
        let wd = inotify::add_watch(&self.fd, dir, flags)?;
        if let Some(i) = dirs.iter().position(|d| d.wd == wd) {
            return Ok(i);
        }
        dirs.push(Dir {
            wd,
            files: Vec::new(),
            gone: None,
        });
        Ok(dirs.len() - 1)
    }

    /// Tells a change to the file `path` (written, replaced, created, removed) as `key`.
    pub fn watch_file(&self, path: &Path, key: &str) -> std::io::Result<()> {
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(std::io::Error::other(format!(
                "{} is no file in a directory",
                path.display()
            )));
        };
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let mut dirs = guard(&self.dirs);
        let i = self.dir(&mut dirs, dir)?;
        let entry = (name.to_os_string(), key.to_string());
        if !dirs[i].files.contains(&entry) {
            dirs[i].files.push(entry);
        }
        Ok(())
    }

    /// Tells the removal (or move) of the directory `dir` itself as `key`.
    pub fn watch_gone(&self, dir: &Path, key: &str) -> std::io::Result<()> {
        let mut dirs = guard(&self.dirs);
        let i = self.dir(&mut dirs, dir)?;
        dirs[i].gone = Some(key.to_string());
        Ok(())
    }

    /// Stops telling changes as `key`; a directory with nothing left to tell is unwatched.
    pub fn forget(&self, key: &str) {
        let mut dirs = guard(&self.dirs);
        for d in dirs.iter_mut() {
            d.files.retain(|(_, k)| k != key);
            if d.gone.as_deref() == Some(key) {
                d.gone = None;
            }
        }
        dirs.retain(|d| {
            let keep = !d.files.is_empty() || d.gone.is_some();
            if !keep {
                let _ = rustix::fs::inotify::remove_watch(&self.fd, d.wd);
            }
            keep
        });
    }

    /// Whether some change is told as `key`.
    #[cfg(test)]
    pub fn watches(&self, key: &str) -> bool {
        guard(&self.dirs)
            .iter()
            .any(|d| d.files.iter().any(|(_, k)| k == key) || d.gone.as_deref() == Some(key))
    }

    /// Waits for changes and returns their keys, each once, once they have settled.
    pub fn wait(&self) -> std::io::Result<BTreeSet<String>> {
        let mut keys = BTreeSet::new();
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 4096];
        // block for the first event, then gather until quiet
        loop {
            self.read_some(&mut buf, &mut keys)?;
            while readable(&self.fd, SETTLE) {
                self.read_some(&mut buf, &mut keys)?;
            }
            if !keys.is_empty() {
                return Ok(keys);
            }
        }
    }

    /// Reads what is there (blocking for at least one event) into `keys`.
    fn read_some(&self, buf: &mut [std::mem::MaybeUninit<u8>], keys: &mut BTreeSet<String>) -> std::io::Result<()> {
        use rustix::fs::inotify::{ReadFlags, Reader};
        let mut r = Reader::new(&self.fd, buf);
        loop {
            let ev = match r.next() {
                Ok(ev) => ev,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            };
            let mut dirs = guard(&self.dirs);
            if ev.events().contains(ReadFlags::QUEUE_OVERFLOW) {
                // events were lost: everything may have changed
                for d in dirs.iter() {
                    keys.extend(d.files.iter().map(|(_, k)| k.clone()));
                }
            }
            if let Some(i) = dirs.iter().position(|d| d.wd == ev.wd()) {
                let name = ev.file_name().map(|n| {
                    use std::os::unix::ffi::OsStrExt;
                    std::ffi::OsStr::from_bytes(n.to_bytes()).to_os_string()
                });
                let d = &dirs[i];
                match name {
                    Some(n) => keys.extend(d.files.iter().filter(|(f, _)| *f == n).map(|(_, k)| k.clone())),
                    None if ev.events().intersects(ReadFlags::DELETE_SELF | ReadFlags::MOVE_SELF) => {
                        keys.extend(d.gone.iter().cloned());
                        // its files are gone with it
                        keys.extend(d.files.iter().map(|(_, k)| k.clone()));
                    }
                    None => {}
                }
                if ev.events().contains(ReadFlags::IGNORED) {
                    // the kernel dropped the watch (its directory is gone)
                    dirs.remove(i);
                }
            }
            drop(dirs);
            if r.is_buffer_empty() {
                return Ok(());
            }
        }
    }
}

/// Whether `fd` has something to read within `wait`.
fn readable(fd: &impl AsFd, wait: Duration) -> bool {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let mut fds = [PollFd::new(fd, PollFlags::IN)];
    let ts = Timespec::try_from(wait).ok();
    loop {
        match poll(&mut fds, ts.as_ref()) {
            Ok(n) => return n > 0,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_renames_and_removals_are_told_once_settled() {
        let dir = std::env::temp_dir().join(format!("taskmux-notify-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).expect("mkdir");
        let n = Notify::new().expect("inotify");
        n.watch_file(&dir.join("a.toml"), "a").expect("watch a");
        n.watch_file(&dir.join("b.json"), "b").expect("watch b");
        n.watch_gone(&dir.join("sub"), "sub").expect("watch sub");
        // a write in place, in two steps: one change
        std::fs::write(dir.join("a.toml"), "x").expect("write");
        std::fs::write(dir.join("a.toml"), "y").expect("write");
        std::fs::write(dir.join("other"), "z").expect("write");
        assert_eq!(n.wait().expect("waits"), BTreeSet::from(["a".to_string()]));
        // an atomic save: a new file renamed over the old one
        std::fs::write(dir.join(".b.json.tmp"), "{}").expect("write");
        std::fs::rename(dir.join(".b.json.tmp"), dir.join("b.json")).expect("rename");
        assert_eq!(n.wait().expect("waits"), BTreeSet::from(["b".to_string()]));
        std::fs::remove_dir_all(dir.join("sub")).expect("rmdir");
        assert!(n.wait().expect("waits").contains("sub"));
        n.forget("a");
        assert!(!n.watches("a") && n.watches("b"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
