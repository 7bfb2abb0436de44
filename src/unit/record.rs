//! The record install leaves under `$TASKMUX_HOME/units/`: what was at the unit's path
//! before, and putting it back.

use super::Manager;
use crate::error::{Error, Kind, Result};
use crate::paths;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What was at the unit's path before install.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub(super) enum Before {
    /// A file: its copy and mode.
    File { backup: PathBuf, mode: u32 },
    /// A symlink and where it pointed.
    Symlink { target: PathBuf },
}

/// The record install leaves under `$TASKMUX_HOME/units/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Record {
    pub(super) manager: Manager,
    pub(super) path: PathBuf,
    pub(super) written: String,
    pub(super) before: Option<Before>,
    /// The manager had the unit that was there enabled / running.
    pub(super) enabled_before: bool,
    pub(super) active_before: bool,
    /// Directories install created for the unit, deepest first.
    pub(super) created_dirs: Vec<PathBuf>,
}

pub(super) fn units_dir(home: &Path) -> PathBuf {
    home.join("units")
}

pub(super) fn record_path(home: &Path, manager: Manager) -> PathBuf {
    units_dir(home).join(format!("{}.json", manager.name()))
}

pub(super) fn load_record(home: &Path, manager: Manager) -> Result<Option<Record>> {
    let path = record_path(home, manager);
    match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| {
            Kind::CorruptState {
                path: path.clone(),
                reason: e.to_string(),
            }
            .into()
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", &path, e)),
    }
}

pub(super) fn save_record(home: &Path, r: &Record) -> Result<()> {
    let text = serde_json::to_vec_pretty(r).map_err(|e| Error::internal(format!("cannot encode unit record: {e}")))?;
    paths::write_atomic(&record_path(home, r.manager), &text, 0o600)
}

/// The unit path as it was before install: the old file or symlink back, or nothing and the
/// directories install created removed (each only when empty).
pub(super) fn restore(record: &Record) -> Result<()> {
    let path = &record.path;
    match &record.before {
        Some(Before::File { backup, mode }) => {
            let bytes = std::fs::read(backup).map_err(|e| Error::io("read", backup, e))?;
            paths::write_atomic(path, &bytes, *mode)?;
            std::fs::remove_file(backup).map_err(|e| Error::io("remove", backup, e))?;
        }
        Some(Before::Symlink { target }) => {
            remove_if_there(path)?;
            std::os::unix::fs::symlink(target, path).map_err(|e| Error::io("create symlink", path, e))?;
        }
        None => {
            remove_if_there(path)?;
            for d in &record.created_dirs {
                if std::fs::remove_dir(d).is_err() {
                    break;
                }
            }
        }
    }
    Ok(())
}

pub(super) fn remove_if_there(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io("remove", path, e)),
        _ => Ok(()),
    }
}

/// `dir` and its ancestors that do not exist yet, deepest first.
pub(super) fn missing_dirs(dir: &Path) -> Vec<PathBuf> {
    dir.ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && d.symlink_metadata().is_err())
        .map(Path::to_path_buf)
        .collect()
}
