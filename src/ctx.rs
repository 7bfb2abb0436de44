//! The world an operation runs in: the state directory, the tmux server, the config to use,
//! the environment of record, the event history and a cancel token. A front builds one; the
//! core only reads it.

use crate::events::EventLog;
use crate::tmux::Tmux;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use crate::proc::Cancel;

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
    /// The front's environment, as [`crate::state::record_of`] keeps it: a project's
    /// environment of record on its first start, and the base of a job's.
    pub env: Vec<(String, String)>,
    /// How long a hook may run (`TASKMUX_HOOK_TIMEOUT`).
    pub hook_timeout: Duration,
    /// The event history.
    pub events: EventLog,
    /// Stops long waits (health gates, stop escalation) when cancelled.
    pub cancel: Arc<Cancel>,
    /// The running daemon, when this request is carried out by it: what only it knows.
    pub daemon: Option<Arc<dyn crate::supervision::Daemon>>,
    /// The caller holds the project's authority ([`crate::lock::authority`]) for what it
    /// does in this world: the steps below it do not take it again.
    pub authority_held: bool,
    /// Carry out lifecycle requests here, never through a running daemon: this process is
    /// the project's supervisor (`start -m`).
    pub local: bool,
    /// Carry out every request on this other machine, over ssh (`-H`): nothing is done here.
    pub remote: Option<Arc<crate::remote::Remote>>,
}

impl Ctx {
    /// The state directory of one project: logs, `state.json`, launch specs.
    pub fn project_dir(&self, session: &str) -> PathBuf {
        project_dir(&self.home, session)
    }

    /// The user's home directory (`HOME`), which `~/` in a config stands for.
    pub fn user_home(&self) -> Option<&Path> {
        self.var("HOME").map(Path::new)
    }

    /// A variable of the front's environment.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// The state directory of one project under the state directory `home`.
pub fn project_dir(home: &Path, session: &str) -> PathBuf {
    home.join("projects").join(session)
}
