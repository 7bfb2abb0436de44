//! The world an operation runs in: the state directory, the tmux server, the config to use,
//! the environment of record and a cancel token. A front builds one; the core only reads it.

use crate::tmux::Tmux;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A flag a long wait checks, so a supervisor (or Ctrl-C) can stop it. Clones share it.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// Asks every wait holding this token to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether [`Cancel::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Everything an operation needs from outside: built once by a front (from flags and the
/// process environment) and passed down, so nothing below reads the environment.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The state directory (`TASKMUX_HOME`).
    pub home: PathBuf,
    /// The tmux server (`-L` / `TASKMUX_TMUX_SOCKET`).
    pub tmux: Tmux,
    /// The config named with `-c`, if any; else it is searched upward from `cwd`.
    pub config: Option<PathBuf>,
    /// Where a relative `-c` and the config search start.
    pub cwd: PathBuf,
    /// The front's environment: captured as a project's environment of record on its
    /// first start (less what tmux sets per pane).
    pub env: Vec<(String, String)>,
    /// How long a hook may run (`TASKMUX_HOOK_TIMEOUT`).
    pub hook_timeout: Duration,
    /// Stops long waits (health gates, stop escalation) when cancelled.
    pub cancel: Cancel,
}

impl Ctx {
    /// The state directory of one project: logs, `state.json`, launch specs.
    pub fn project_dir(&self, session: &str) -> PathBuf {
        self.home.join("projects").join(session)
    }
}
