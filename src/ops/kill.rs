//! `kill`: SIGKILL a task's processes and destroy its window.

use super::{Action, Ctx, TaskParams, lifecycle_ctx};
use crate::error::Result;
use crate::task;
use serde::Serialize;

/// What `kill` did.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Killed {
    /// Always true.
    pub ok: bool,
    /// The task.
    pub task: String,
    /// `killed`, or `already_stopped` when nothing of it was left.
    pub action: Action,
}

/// `kill`: SIGKILL the task's processes and destroy its window; marks manual-stop.
pub fn kill(ctx: &Ctx, p: TaskParams) -> Result<Killed> {
    let lc = lifecycle_ctx(ctx)?;
    let had = task::kill(&lc, &p.task)?;
    Ok(Killed {
        ok: true,
        task: p.task,
        action: if had { Action::Killed } else { Action::AlreadyStopped },
    })
}
