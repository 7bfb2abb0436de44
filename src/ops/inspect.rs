//! `inspect`: everything about one task.

use super::status::{TaskStatus, global_or_default};
use super::{Ctx, TaskParams, lifecycle_ctx};
use crate::error::Result;
use crate::state::State;
use crate::task;
use serde::Serialize;

/// `inspect`: a task's `status` fields and more.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Inspected {
    /// Every `status` field.
    #[serde(flatten)]
    pub status: TaskStatus,
    /// The shell probe.
    pub health_check: Option<String>,
    /// The HTTP probe.
    pub health_url: Option<String>,
    /// Its log file.
    pub log_file: std::path::PathBuf,
    /// `@N`.
    pub window_id: Option<String>,
    /// `%N`.
    pub pane_id: Option<String>,
    /// The pane's foreground command.
    pub pane_current_command: Option<String>,
    /// The pane's directory.
    pub pane_current_path: Option<String>,
    /// The names of its environment variables.
    pub env: Vec<String>,
}

/// `inspect TASK`.
pub fn inspect(ctx: &Ctx, p: TaskParams) -> Result<Inspected> {
    let lc = lifecycle_ctx(ctx)?;
    let global = global_or_default(ctx, &mut Vec::new());
    let t = lc.project.task(&p.task)?;
    let rts = task::read_runtime_detailed(&lc.tmux, &lc.project.name)?;
    let rt = rts.get(&t.name);
    let state = State::load(&ctx.home, &lc.project.name)?;
    let mut status = TaskStatus::new(&lc.project, &global, t, rt, &state);
    status.log_error = crate::logs::log_error(&ctx.home, &lc.project.name, &t.name);
    let record = state.env().unwrap_or_default();
    let env = task::task_env(&lc.project, t, &record, status.port)
        .map(|e| e.into_iter().map(|(k, _)| k).collect())
        .unwrap_or_default();
    Ok(Inspected {
        status,
        health_check: t.health_check.clone(),
        health_url: t.health_url.clone(),
        log_file: crate::logs::log_path(&ctx.home, &lc.project, t),
        window_id: rt.map(|r| r.window_id.clone()),
        pane_id: rt.map(|r| r.pane_id.clone()),
        pane_current_command: rt.map(|r| r.current_command.clone()),
        pane_current_path: rt.map(|r| r.current_path.clone()),
        env,
    })
}
