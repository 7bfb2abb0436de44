//! Where taskmux keeps its state (`TASKMUX_HOME`), file locks, atomic writes and UTC time.

use crate::error::{Error, Result};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The state directory: `$TASKMUX_HOME`, else `~/.taskmux`.
pub fn home() -> PathBuf {
    if let Some(h) = std::env::var_os("TASKMUX_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h);
    }
    let user_home = std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into());
    Path::new(&user_home).join(".taskmux")
}

/// The state directory of one project (session): logs and `state.json`.
pub fn project_dir(session: &str) -> PathBuf {
    home().join("projects").join(session)
}

/// Creates a directory and its parents.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))
}

/// An exclusive `flock` held until dropped.
pub struct Lock {
    _file: File,
}

/// Takes the exclusive lock `<home>/locks/<name>.lock`, waiting for it.
pub fn lock(name: &str) -> Result<Lock> {
    lock_in(&home(), name)
}

/// Takes the exclusive lock `<dir>/locks/<name>.lock` of another state directory.
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
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
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

/// Seconds since the epoch, as a float.
pub fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
}

/// Converts days since 1970-01-01 to a civil (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days since 1970-01-01 of a civil date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// An ISO 8601 UTC time with microseconds and `+00:00`, as in events and `started_at`.
pub fn iso_time(secs: f64) -> String {
    let micros = (secs * 1e6).round() as i64;
    let s = micros.div_euclid(1_000_000);
    let us = micros.rem_euclid(1_000_000);
    let (y, mo, d) = civil_from_days(s.div_euclid(86_400));
    let sod = s.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{us:06}+00:00",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_time_known_values() {
        assert_eq!(iso_time(0.0), "1970-01-01T00:00:00.000000+00:00");
        assert_eq!(iso_time(1_704_117_600.123), "2024-01-01T14:00:00.123000+00:00");
        assert_eq!(days_from_civil(2024, 1, 1), 19_723);
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
    }
}
