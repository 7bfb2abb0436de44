//! `remove`: a task out of `taskmux.toml`, stopped first; and the one way a task leaves a
//! running project, which reload uses too.

use super::{Action, Ctx, TaskParams, Warning, config_path};
use crate::authoring;
use crate::config::{self, Project};
use crate::error::{Error, Kind, Result};
use crate::state;
use crate::task::{self, StopOutcome};
use serde::Serialize;
use std::path::PathBuf;

/// The details of a task that others depend on.
#[derive(serde::Serialize)]
struct Dependents<'a> {
    task: &'a str,
    dependents: &'a [String],
}

/// What `remove` did.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Removed {
    /// Always true.
    pub ok: bool,
    /// The task.
    pub task: String,
    /// `removed`.
    pub action: Action,
    /// It was running and was stopped.
    pub stopped: bool,
    /// The config edited (`config_path`).
    #[serde(rename = "config_path")]
    pub config: PathBuf,
    /// Agent files that could not be refreshed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
}

/// Stops a task and destroys its window when its session is up; a missing tmux or a
/// session that is not running means there is nothing to stop. None when it had no
/// window, else whether it was running. The one way a task leaves the project: `remove`
/// and a reload both use it.
pub fn stop_removed(ctx: &Ctx, project: &Project, name: &str) -> Result<Option<bool>> {
    let tmux = ctx.tmux.clone();
    if tmux.check_version().is_err() || !tmux.has_session(&project.name).unwrap_or(false) {
        return Ok(None);
    }
    let lc = task::Ctx {
        project: project.clone(),
        world: ctx.clone(),
    };
    if !task::read_runtime(&lc.tmux, &project.name)?.contains_key(name) {
        return Ok(None);
    }
    let stopped = task::stop(&lc, &[name.to_string()], true, false)?;
    task::kill(&lc, name)?;
    // the task is gone from the config: no mark of it should outlive it
    state::State::update(&ctx.home, &project.name, |s| s.set_manual_stop(name, false))?;
    Ok(Some(stopped.outcomes.iter().any(|(_, o)| *o == StopOutcome::Stopped)))
}

/// `remove`: refused when other tasks depend on it (nothing stopped, nothing written);
/// else stops it if it runs and removes it from the file.
pub fn remove(ctx: &Ctx, p: TaskParams) -> Result<Removed> {
    let name = &p.task;
    let path = config_path(ctx)?;
    let _lock = authoring::edit_lock(&ctx.home, &path);
    let text = authoring::read_config(&path)?;
    let old = config::parse_in(&text, &path, ctx.user_home())?;
    old.task(name)?;
    let dependents: Vec<String> = old
        .tasks
        .iter()
        .filter(|t| t.depends_on.iter().any(|d| d == name))
        .map(|t| t.name.clone())
        .collect();
    if !dependents.is_empty() {
        return Err(Error::from(Kind::UnknownDependency(format!(
            "Task '{name}' is a dependency of: {}",
            dependents.join(", ")
        )))
        .hint(format!(
            "remove those first, or drop '{name}' from their depends_on; nothing was stopped or changed"
        ))
        .details(Dependents {
            task: name,
            dependents: &dependents,
        }));
    }
    let new_text = authoring::remove_task(&text, name)?;
    let new = config::parse_in(&new_text, &path, ctx.user_home())?;
    let kept = old.tasks.iter().filter(|t| &t.name != name).eq(new.tasks.iter());
    if !kept || !authoring::same_project_keys(&old, &new) {
        return Err(authoring::edit_went_wrong(&format!("task '{name}'")));
    }
    let stopped = stop_removed(ctx, &old, name)?.unwrap_or(false);
    authoring::rewrite(&path, &new_text)?;
    let (_, warnings) = authoring::refresh_agent_files(&new);
    Ok(Removed {
        ok: true,
        task: p.task,
        action: Action::Removed,
        stopped,
        config: path,
        warnings: warnings.into_iter().map(Warning).collect(),
    })
}
