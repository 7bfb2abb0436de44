//! Whether a path can hold a log, checked before anything starts: a `log_file` or a job's
//! `--log-file` that is a directory, a device, a FIFO, or a file of /proc or /sys would take
//! every line and keep none.

use crate::error::{Error, Kind, Result};
use std::path::Path;

/// Pseudo file systems whose files take writes without keeping them (or refuse them).
const PSEUDO_FS: &[(i64, &str)] = &[
    (0x9fa0, "/proc"),
    (0x6265_6572, "/sys"),
    (0x0027_e0eb, "cgroup"),
    (0x6367_7270, "cgroup2"),
    (0x6462_6720, "debugfs"),
    (0x7472_6163, "tracefs"),
    (0x7363_6673, "securityfs"),
    (0x6265_6570, "configfs"),
    (0xcafe_4a11, "bpf"),
    (0xde5e_81e4, "efivarfs"),
];

/// Refuses a log path that cannot hold a log (E104), naming `what` (`log_file of task
/// 'api'`, `--log-file`): an existing path must be a regular file that opens for appending,
/// not on a pseudo file system; a missing one needs its nearest existing parent to be a
/// directory.
pub fn check_log_path(path: &Path, what: &str) -> Result<()> {
    let bad = |why: String| -> Error {
        Error::from(Kind::Invalid(format!("{what} {} {why}", path.display())))
            .hint("point it at a regular file in a writable directory (it is created when missing)")
    };
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => return Err(bad("is a directory".into())),
        Ok(m) if !m.is_file() => return Err(bad("is not a regular file".into())),
        Ok(_) => {
            if let Some(fs) = pseudo_fs(path) {
                return Err(bad(format!("is on {fs}, which keeps no log")));
            }
            std::fs::OpenOptions::new()
                .append(true)
                .open(path)
                .map_err(|e| bad(format!("cannot be opened for writing: {e}")))?;
            return Ok(());
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(bad(format!("cannot be used: {e}"))),
    }
    // missing: the directories it needs are made, so the nearest existing one must be one
    let mut dir = path.parent();
    while let Some(d) = dir {
        let d = if d.as_os_str().is_empty() { Path::new(".") } else { d };
        match std::fs::metadata(d) {
            Ok(m) if m.is_dir() => {
                if let Some(fs) = pseudo_fs(d) {
                    return Err(bad(format!("is on {fs}, which keeps no log")));
                }
                return Ok(());
            }
            Ok(_) => return Err(bad(format!("cannot be made: {} is not a directory", d.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => dir = d.parent(),
            Err(e) => return Err(bad(format!("cannot be made: {}: {e}", d.display()))),
        }
    }
    Ok(())
}

/// The pseudo file system a path is on, if it is on one.
fn pseudo_fs(path: &Path) -> Option<&'static str> {
    #[cfg(target_os = "linux")]
    {
        let st = rustix::fs::statfs(path).ok()?;
        #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
        let kind = st.f_type as i64;
        PSEUDO_FS.iter().find(|(m, _)| *m == kind).map(|(_, n)| *n)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = path;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_cannot_hold_a_log() {
        let d = std::env::temp_dir().join(format!("tmx-usable-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("temp dir");
        let code = |p: &Path| check_log_path(p, "log_file").err().map(|e| e.code().to_string());
        assert_eq!(code(&d), Some("E104".to_string()), "a directory");
        assert_eq!(
            code(Path::new("/proc/version")),
            Some("E104".to_string()),
            "a /proc file"
        );
        assert_eq!(code(Path::new("/dev/null")), Some("E104".to_string()), "a device");
        let file = d.join("f");
        std::fs::write(&file, "").expect("write");
        assert_eq!(code(&file.join("x.log")), Some("E104".to_string()), "under a file");
        assert_eq!(code(&file), None, "an existing file");
        assert_eq!(code(&d.join("new/dir/x.log")), None, "a new file in new directories");
        let _ = std::fs::remove_dir_all(&d);
    }
}
