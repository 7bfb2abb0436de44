//! The task lifecycle: what tmux says runs ([`runtime`]), the environment a task runs with
//! ([`env`]), its hooks ([`hooks`]), launching its pane ([`launch`]), dependency-ordered and
//! health-gated start ([`start`]), and stop, restart and kill ([`stop`]).
//!
//! Data flows one way through the files: `stop` (for restart) uses `start`; `start` uses
//! `launch`; both use `hooks`, `env` and `runtime`; `launch` uses `env` and `runtime`;
//! `hooks` runs what it is given; `runtime` reads tmux and /proc only. Everything callers
//! use is re-exported here, so it is `crate::task::NAME`.

mod env;
mod hooks;
mod launch;
mod port;
mod runtime;
mod start;
mod stop;

pub use env::{known_port, merge_env, task_env};
pub use launch::{LAUNCHED_CHANNEL, LaunchSpec, PaneEnv, exec_spec, self_exe, spec_command};
pub use runtime::{
    Runtime, Runtimes, TaskState, config_hash, read_runtime, read_runtime_brief, read_runtime_detailed, read_session,
    record_health, state_name,
};
pub use start::{start, start_in_order, start_seen};
pub use stop::{StopOutcome, kill, restart, stop};

use crate::config::Project;

/// A lifecycle operation's world with its project loaded: the [`crate::ctx::Ctx`] (state
/// directory, tmux server, environment, events, cancel token, through `Deref`) and the config.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The loaded config.
    pub project: Project,
    /// The world it runs in.
    pub world: crate::ctx::Ctx,
}

impl std::ops::Deref for Ctx {
    type Target = crate::ctx::Ctx;

    fn deref(&self) -> &crate::ctx::Ctx {
        &self.world
    }
}
