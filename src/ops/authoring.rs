//! `init`, `add`, `remove`, `check` and `url`: writing and reading the config itself.

use super::{Action, Ctx, TaskParams, Warning, config_path, load_project};
use crate::authoring::{self, NewTask};
use crate::check::{self, Finding, Severity};
use crate::config::{self, CONFIG_NAME, GlobalConfig, Project};
use crate::error::{Error, Kind, Result};
use crate::task::{self, StopOutcome};
use crate::{paths, state};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::{Path, PathBuf};

/// Params of `init`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InitParams {
    /// The project name (default: the slug of the directory).
    pub name: Option<String>,
    /// The agent files to write the context block to (default: AGENTS.md and CLAUDE.md).
    pub agent_files: Option<Vec<String>>,
}

/// What `init` did.
#[derive(Debug, Clone, Serialize)]
pub struct Initialized {
    /// Always true.
    pub ok: bool,
    /// The project name.
    pub session: String,
    /// The config written.
    pub config_path: PathBuf,
    /// The agent files written.
    pub agent_files: Vec<PathBuf>,
    /// Agent files that could not be written.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
}

/// Where `init` would write the config and the name it would give the project; E105 when
/// a config is there already. A front asks its questions with these as defaults.
pub fn init_target(ctx: &Ctx) -> Result<(PathBuf, String)> {
    let here = &ctx.cwd;
    let path = match &ctx.config {
        Some(c) if here.join(c).is_dir() => here.join(c).join(CONFIG_NAME),
        Some(c) => here.join(c),
        None => here.join(CONFIG_NAME),
    };
    let path = std::path::absolute(&path).unwrap_or(path);
    if path.symlink_metadata().is_ok() {
        return Err(Error::from(Kind::ConfigExists { path: path.clone() }).details(json!({"config_path": path})));
    }
    let dir = path.parent().map_or_else(|| here.clone(), Path::to_path_buf);
    let mut name = config::slug(
        &dir.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    name.truncate(64);
    Ok((path, name.trim_end_matches('-').to_string()))
}

/// `init`: creates `taskmux.toml` and writes the agent context block.
pub fn init(ctx: &Ctx, p: InitParams) -> Result<Initialized> {
    let (path, default) = init_target(ctx)?;
    let name = p.name.unwrap_or(default);
    let text = authoring::initial_config(&name);
    let project = config::parse_in(&text, &path, ctx.user_home())?;
    let files: Vec<String> = p
        .agent_files
        .unwrap_or_else(|| authoring::AGENT_FILES.iter().map(|f| f.to_string()).collect());
    if let Some(f) = files.iter().find(|f| !authoring::AGENT_FILES.contains(&f.as_str())) {
        return Err(super::invalid(format!(
            "'{f}' is not an agent file (one of {})",
            authoring::AGENT_FILES.join(", ")
        )));
    }
    paths::write_atomic(&path, text.as_bytes(), 0o644)?;
    let dir = project.dir.clone();
    let block = authoring::agent_block(&project);
    let (mut written, mut warnings) = (Vec::new(), Vec::new());
    for f in files {
        let p = dir.join(&f);
        match authoring::write_agent_file(&p, &block) {
            Ok(()) => written.push(p),
            Err(e) => warnings.push(Warning(format!("{} (skipped {f})", e.message()))),
        }
    }
    Ok(Initialized {
        ok: true,
        session: name,
        config_path: path,
        agent_files: written,
        warnings,
    })
}

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
#[derive(Debug, Clone, Serialize)]
pub struct Added {
    /// Always true.
    pub ok: bool,
    /// The task.
    pub task: String,
    /// Its command.
    pub command: String,
    /// `added` or `replaced`.
    pub action: Action,
    /// The config edited (not in JSON, which the seed tool defines).
    #[serde(skip)]
    pub config: PathBuf,
    /// Agent files that could not be refreshed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
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

/// What `remove` did.
#[derive(Debug, Clone, Serialize)]
pub struct Removed {
    /// Always true.
    pub ok: bool,
    /// The task.
    pub task: String,
    /// `removed`.
    pub action: Action,
    /// It was running and was stopped.
    pub stopped: bool,
    /// The config edited (not in JSON).
    #[serde(skip)]
    pub config: PathBuf,
    /// Agent files that could not be refreshed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
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
        .details(json!({"task": name, "dependents": dependents})));
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

/// What `check` found.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// No error was found.
    pub ok: bool,
    /// The config checked.
    pub config: String,
    /// What stops a task from starting as configured.
    pub errors: Vec<Finding>,
    /// What will likely not work.
    pub warnings: Vec<Finding>,
    /// The project, when the config is valid (not in JSON).
    #[serde(skip)]
    pub tasks: Option<usize>,
    /// 0 clean, 1 errors found, 2 the config is invalid (not in JSON).
    #[serde(skip)]
    pub exit: u8,
}

/// `check`: validates the config, then lints the environment it will run in.
pub fn check(ctx: &Ctx) -> Result<CheckReport> {
    let path = config_path(ctx)?;
    let (project, findings) = match config::load_all(&path, ctx.user_home()) {
        Ok(p) => {
            let f = check::lint(&p, &ctx.env);
            (Some(p), f)
        }
        Err(errors) => {
            // a config that cannot be read at all (E100, permissions) stays a plain error
            if let Some(e) = errors.iter().find(|e| e.code() == "E100" || e.exit_code() != 2) {
                return Err(e.clone());
            }
            let task = |e: &Error| e.details.as_ref().and_then(|d| d["task"].as_str()).map(str::to_string);
            (
                None,
                errors
                    .iter()
                    .map(|e| Finding::from_error(e, task(e).as_deref()))
                    .collect(),
            )
        }
    };
    let (errors, warnings): (Vec<Finding>, Vec<Finding>) =
        findings.into_iter().partition(|f| f.severity == Severity::Error);
    let exit = match (&project, errors.is_empty()) {
        (None, _) => 2,
        (Some(_), false) => 1,
        (Some(_), true) => 0,
    };
    Ok(CheckReport {
        ok: errors.is_empty(),
        config: path.display().to_string(),
        errors,
        warnings,
        tasks: project.map(|p| p.tasks.len()),
        exit,
    })
}

/// What `url` answers.
#[derive(Debug, Clone, Serialize)]
pub struct UrlResult {
    /// Always true.
    pub ok: bool,
    /// The task.
    pub task: String,
    /// Its https URL.
    pub url: String,
}

/// `url TASK`: the https URL a task with `host` is served at.
pub fn url(ctx: &Ctx, p: TaskParams) -> Result<UrlResult> {
    let project = load_project(ctx)?;
    let name = &p.task;
    let task = project.task(name)?;
    let Some(host) = task.host.as_deref() else {
        return Err(Error::from(Kind::NoHost {
            task: name.clone(),
            path: project.path.clone(),
        })
        .details(json!({"reason": "no_host", "task": name})));
    };
    let url = GlobalConfig::load(&ctx.home)?.task_url(&project.name, host);
    Ok(UrlResult {
        ok: true,
        task: p.task,
        url,
    })
}
