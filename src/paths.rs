//! Where taskmux keeps its state (`TASKMUX_HOME`), file locks and atomic writes. UTC time lives
//! in [`crate::time`]; its clock and formats are re-exported here for the callers that use them.

use crate::error::{Error, Result};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

pub use crate::time::{iso_time, now_secs};

/// Creates a directory and its parents, each one it makes private (0700): the state
/// directory holds job argv, environments and logs.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    create_private_dir(dir).map_err(|e| Error::io("create directory", dir, e))
}

/// [`ensure_dir`] as an `io::Result`: creates `dir` and its missing parents with mode 0700
/// (an existing directory keeps its mode).
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// An exclusive `flock` held until dropped.
pub struct Lock {
    _file: File,
}

/// Takes the exclusive lock `<home>/locks/<name>.lock` of the state directory `home`,
/// waiting for it.
pub fn lock_in(dir: &Path, name: &str) -> Result<Lock> {
    let dir = dir.join("locks");
    ensure_dir(&dir)?;
    let path = dir.join(format!("{name}.lock"));
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| Error::io("open lock", &path, e))?;
    loop {
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive) {
            Ok(()) => return Ok(Lock { _file: file }),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(Error::io("lock", &path, e.into())),
        }
    }
}

/// Writes a file atomically: a temp file in the same directory, fsync, rename.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    replace(path, data, mode, true)
}

/// Replaces a file through a temp file and rename, without fsync: for files that are
/// rewritten from scratch whenever they are needed (launch specs).
pub fn write_replace(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    replace(path, data, mode, false)
}

fn replace(path: &Path, data: &[u8], mode: u32, sync: bool) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    ensure_dir(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // unique per writer, not per process: two threads of one daemon may write one file
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.tmp.{}.{seq}", std::process::id()));
    let res = (|| -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(mode)
            .open(&tmp)?;
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.write_all(data)?;
        if sync {
            f.sync_all()?;
        }
        fs::rename(&tmp, path)
    })();
    res.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io("write", path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_writing_one_file_never_share_a_temp_file() {
        let dir = std::env::temp_dir().join(format!("taskmux-paths-unit-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let file = dir.join("state.json");
        std::thread::scope(|s| {
            for t in 0..8 {
                let file = &file;
                s.spawn(move || {
                    for i in 0..50 {
                        let body = format!("{t}-{i}-").repeat(500);
                        write_atomic(file, body.as_bytes(), 0o600).expect("every write succeeds");
                    }
                });
            }
        });
        let text = fs::read_to_string(&file).expect("the file is there");
        let first = text.split('-').take(2).collect::<Vec<_>>().join("-");
        assert_eq!(
            text,
            format!("{first}-").repeat(500),
            "one writer's whole body, never a mix"
        );
        let left: Vec<_> = fs::read_dir(&dir).expect("dir").filter_map(|e| e.ok()).collect();
        assert_eq!(left.len(), 1, "no temp file is left: {left:?}");
        let _ = fs::remove_dir_all(&dir);
    }
}
