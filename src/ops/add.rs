//! `add`: a task into `taskmux.toml`, keeping every comment and blank line.

use super::{Action, Ctx, Warning, config_path};
use crate::authoring::{self, NewTask};
use crate::config;
use crate::error::{Kind, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Params of `add`: the task's keys and `force`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AddParams {
    /// The task.
    #[serde(flatten)]
    pub task: NewTask,
    /// Replace a task of that name.
    pub force: bool,
}

/// What `add` did.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Added {
    /// Always true.
    pub ok: bool,
    /// The task.
    pub task: String,
    /// Its command.
    pub command: String,
    /// `added` or `replaced`.
    pub action: Action,
    /// The config edited (`config_path`).
    #[serde(rename = "config_path")]
    pub config: PathBuf,
    /// Agent files that could not be refreshed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
}

/// `add`: appends a `[tasks.NAME]` table (or with `force` replaces the task where it
/// stands), validating the new config before the file is written.
pub fn add(ctx: &Ctx, p: AddParams) -> Result<Added> {
    let t = p.task;
    let path = config_path(ctx)?;
    let _lock = authoring::edit_lock(&ctx.home, &path);
    let text = authoring::read_config(&path)?;
    let old = config::parse_in(&text, &path, ctx.user_home())?;
    authoring::precheck_add(&t, &old)?;
    if !p.force && authoring::has_task(&text, &t.name)? {
        return Err(Kind::TaskExists {
            task: t.name.clone(),
            path,
        }
        .into());
    }
    let (new_text, replaced) = authoring::add_task(&text, &t)?;
    let new = config::parse_in(&new_text, &path, ctx.user_home())?;
    let added = new.tasks.iter().find(|n| n.name == t.name);
    let others_kept = old
        .tasks
        .iter()
        .filter(|o| o.name != t.name)
        .eq(new.tasks.iter().filter(|n| n.name != t.name));
    let as_asked = added.is_some_and(|a| {
        a.command == t.command
            && a.cwd_raw == t.cwd
            && a.host == t.host
            && a.health_check == t.health_check
            && a.depends_on == t.depends_on
    });
    if !others_kept
        || !as_asked
        || !authoring::same_project_keys(&old, &new)
        || new.tasks.len() != old.tasks.len() + usize::from(!replaced)
    {
        return Err(authoring::edit_went_wrong(&format!("task '{}'", t.name)));
    }
    authoring::rewrite(&path, &new_text)?;
    let (_, warnings) = authoring::refresh_agent_files(&new);
    Ok(Added {
        ok: true,
        task: t.name,
        command: t.command,
        action: if replaced { Action::Replaced } else { Action::Added },
        config: path,
        warnings: warnings.into_iter().map(Warning).collect(),
    })
}
