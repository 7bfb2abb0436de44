//! Lifetime locks: the daemon's singleton `daemon.lock` and a project's supervisor lock
//! `locks/<session>.supervise`. The holder writes its pid into the file; anyone can ask
//! who holds a lock without a round trip, and a crashed holder's lock is free at once
//! (the kernel drops a flock with its last fd).

use crate::error::{Error, Result};
use rustix::fs::{FlockOperation, flock};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A lock held for the life of this value; its file holds our pid.
#[derive(Debug)]
pub struct Held {
    file: File,
    path: PathBuf,
}

impl Held {
    /// Whether the lock file is still at its path (not removed, with its directory or
    /// alone): while it is gone, another process could take a new one.
    pub fn still_there(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        match (self.file.metadata(), std::fs::metadata(&self.path)) {
            (Ok(held), Ok(now)) => held.ino() == now.ino() && held.dev() == now.dev(),
            _ => false,
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        // an empty file says nobody holds it, even to a reader that does not lock
        let _ = self.file.set_len(0);
    }
}

fn open(path: &Path) -> Result<File> {
    if let Some(dir) = path.parent() {
        crate::paths::ensure_dir(dir)?;
    }
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::io("open lock", path, e))
}

/// Takes the lock at `path` without waiting for a holder; Err(Some(pid)) names the process
/// that holds it (Err(None): held, pid unknown). A reader testing the lock holds it for a
/// moment, so a taken lock is tried again for a short while before it counts as held.
pub fn try_take(path: &Path) -> Result<std::result::Result<Held, Option<i32>>> {
    let mut file = open(path)?;
    let until = Instant::now() + Duration::from_millis(300);
    loop {
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => break,
            Err(rustix::io::Errno::INTR) => continue,
            Err(rustix::io::Errno::WOULDBLOCK) if Instant::now() < until => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(rustix::io::Errno::WOULDBLOCK) => return Ok(Err(pid_in(&mut file))),
            Err(e) => return Err(Error::io("lock", path, e.into())),
        }
    }
    file.set_len(0).map_err(|e| Error::io("write", path, e))?;
    file.rewind().map_err(|e| Error::io("write", path, e))?;
    file.write_all(format!("{}\n", std::process::id()).as_bytes())
        .map_err(|e| Error::io("write", path, e))?;
    Ok(Ok(Held {
        file,
        path: path.to_path_buf(),
    }))
}

fn pid_in(file: &mut File) -> Option<i32> {
    let mut s = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut s).ok()?;
    s.trim().parse().ok().filter(|p| *p > 0)
}

/// The pid of the process holding the lock at `path`, if one does: its pid from the
/// file, confirmed by the lock being taken (never by the pid alone, which may be reused).
pub fn holder(path: &Path) -> Option<i32> {
    let mut file = File::open(path).ok()?;
    let pid = pid_in(&mut file)?;
    // a holder killed a moment ago may still be letting go (its leader a zombie while its
    // other threads end): a dead pid's lock is waited for, briefly
    let until = Instant::now() + Duration::from_secs(2);
    loop {
        match flock(&file, FlockOperation::NonBlockingLockShared) {
            // free: whoever wrote the pid is gone (the lock is dropped right away with the fd)
            Ok(()) => return None,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) if Instant::now() < until && !crate::proc::stat(pid).is_some_and(|s| s.alive()) => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(_) => return Some(pid),
        }
    }
}

/// The pid of the daemon of the state directory `home`, from its lock: no round trip.
pub fn running_pid(home: &Path) -> Option<i32> {
    holder(&daemon_lock(home))
}

/// A project's authority: held by whoever changes what runs of the project (a `start`,
/// `stop`, `restart`, `kill`, `remove` or reload, the daemon's relaunches, restarts and
/// heals), for the whole change, so they are carried out one at a time, each on the
/// facts the one before left. Released when dropped.
#[derive(Debug)]
pub struct Authority {
    /// The held lock; None for a re-entrant take.
    _held: Option<Held>,
}

/// Takes project `session`'s authority, waiting for the holder. A process whose ancestor
/// holds it (a hook of the change in progress calling taskmux) goes on without waiting:
/// its parent is waiting for it, and it acts within its parent's change.
pub fn authority(home: &Path, session: &str) -> Result<Authority> {
    let path = home.join("locks").join(format!("{session}.ops"));
    let mut file = open(&path)?;
    loop {
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => break,
            Err(rustix::io::Errno::INTR) => continue,
            Err(rustix::io::Errno::WOULDBLOCK) => {
                if pid_in(&mut file).is_some_and(is_ancestor) {
                    return Ok(Authority { _held: None });
                }
                match flock(&file, FlockOperation::LockExclusive) {
                    Ok(()) => break,
                    Err(rustix::io::Errno::INTR) => continue,
                    Err(e) => return Err(Error::io("lock", &path, e.into())),
                }
            }
            Err(e) => return Err(Error::io("lock", &path, e.into())),
        }
    }
    file.set_len(0).map_err(|e| Error::io("write", &path, e))?;
    file.rewind().map_err(|e| Error::io("write", &path, e))?;
    file.write_all(format!("{}\n", std::process::id()).as_bytes())
        .map_err(|e| Error::io("write", &path, e))?;
    Ok(Authority {
        _held: Some(Held { file, path }),
    })
}

/// Whether the holder of project `session`'s authority is an ancestor of this process: a
/// hook of the change in progress, which acts within that change.
pub fn authority_with_ancestor(home: &Path, session: &str) -> bool {
    holder(&home.join("locks").join(format!("{session}.ops"))).is_some_and(is_ancestor)
}

/// Whether `pid` is an ancestor of this process (never this process itself: its threads
/// wait for each other).
fn is_ancestor(pid: i32) -> bool {
    let mut p = std::process::id() as i32;
    for _ in 0..64 {
        match crate::proc::stat(p) {
            Some(s) if s.ppid > 0 => p = s.ppid,
            _ => return false,
        }
        if p == pid {
            return true;
        }
    }
    false
}

/// The daemon's singleton lock of the state directory `home`.
pub fn daemon_lock(home: &Path) -> PathBuf {
    home.join("daemon.lock")
}

/// The supervisor lock of a project: held by the daemon or a `start -m` monitor while it
/// supervises the project, so two never restart the same task.
pub fn supervise_lock(home: &Path, session: &str) -> PathBuf {
    home.join("locks").join(format!("{session}.supervise"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_hold_release() {
        let dir = std::env::temp_dir().join(format!("taskmux-lock-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let p = dir.join("x.lock");
        assert_eq!(holder(&p), None, "no file, no holder");
        let held = try_take(&p).expect("opens").expect("free");
        assert_eq!(holder(&p), Some(std::process::id() as i32));
        // a second open file description is refused, naming us
        assert_eq!(
            try_take(&p).expect("opens").err(),
            Some(Some(std::process::id() as i32))
        );
        drop(held);
        assert_eq!(holder(&p), None, "released");
        assert!(try_take(&p).expect("opens").is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
