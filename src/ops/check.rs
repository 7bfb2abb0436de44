//! `check`: validate the config, then lint the environment it will run in.

use super::{Ctx, config_path};
use crate::check::{self, Finding, Severity};
use crate::config;
use crate::error::{Error, Result};
use serde::Serialize;

/// What `check` found.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(from = "CheckJson")]
pub struct CheckReport {
    /// No error was found.
    pub ok: bool,
    /// The config checked.
    pub config: String,
    /// What stops a task from starting as configured.
    pub errors: Vec<Finding>,
    /// What will likely not work.
    pub warnings: Vec<Finding>,
    /// How many tasks the project has, when the config is valid (null when it is not).
    pub tasks: Option<usize>,
    /// 0 clean, 1 errors found, 2 the config is invalid (not in JSON: `tasks` and `ok`
    /// say it).
    #[serde(skip)]
    pub exit: u8,
}

/// [`CheckReport`]'s JSON, read back: the severities come from the lists, the exit code
/// from `tasks` and `ok`.
#[derive(serde::Deserialize)]
struct CheckJson {
    ok: bool,
    config: String,
    errors: Vec<Finding>,
    warnings: Vec<Finding>,
    #[serde(default)]
    tasks: Option<usize>,
}

impl From<CheckJson> for CheckReport {
    fn from(j: CheckJson) -> CheckReport {
        let with = |v: Vec<Finding>, severity| v.into_iter().map(|f| Finding { severity, ..f }).collect();
        CheckReport {
            exit: exit_code(j.tasks.is_some(), j.errors.is_empty()),
            ok: j.ok,
            config: j.config,
            errors: with(j.errors, Severity::Error),
            warnings: with(j.warnings, Severity::Warning),
            tasks: j.tasks,
        }
    }
}

/// 2 when the config is invalid, 1 when errors were found, else 0.
fn exit_code(valid: bool, clean: bool) -> u8 {
    match (valid, clean) {
        (false, _) => 2,
        (true, false) => 1,
        (true, true) => 0,
    }
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
    let exit = exit_code(project.is_some(), errors.is_empty());
    Ok(CheckReport {
        ok: errors.is_empty(),
        config: path.display().to_string(),
        errors,
        warnings,
        tasks: project.map(|p| p.tasks.len()),
        exit,
    })
}
