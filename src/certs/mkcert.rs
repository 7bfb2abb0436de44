//! Where mkcert keeps its CA: `$CAROOT` when set, else what `mkcert -CAROOT` says. The
//! front reads the environment and passes the values; this only decides and runs mkcert.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// mkcert's CA root directory: `caroot` (the `CAROOT` variable) when set, else the line
/// `mkcert -CAROOT` prints when mkcert is on `path`; None when neither. Whether the directory
/// holds a CA is for [`super::Authority::load_or_create`] to see.
pub fn mkcert_root(caroot: Option<&OsStr>, path: Option<&OsStr>) -> Option<PathBuf> {
    if let Some(dir) = caroot.filter(|c| !c.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let exe = crate::tmux::find_in_path("mkcert", path)?;
    let mut c = Command::new(exe);
    c.arg("-CAROOT").stdin(Stdio::null()).stderr(Stdio::null());
    if let Some(p) = path {
        c.env("PATH", p);
    }
    let out = c.output().ok().filter(|o| o.status.success())?;
    let line = String::from_utf8(out.stdout).ok()?;
    let dir = line.trim();
    (!dir.is_empty()).then(|| PathBuf::from(dir))
}
