//! `url`: the https URL a task with `host` is served at.

use super::{Ctx, TaskParams, load_project};
use crate::config::GlobalConfig;
use crate::error::{Error, Kind, Result};
use serde::Serialize;

/// What `url` answers.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct UrlResult {
    /// Always true.
    pub ok: bool,
    /// The task.
    pub task: String,
    /// Its https URL.
    pub url: String,
}

/// The details of E-no-host: why, and which task.
#[derive(Serialize)]
struct NoHostDetails<'a> {
    reason: &'static str,
    task: &'a str,
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
        .details(NoHostDetails {
            reason: "no_host",
            task: name,
        }));
    };
    let url = GlobalConfig::load(&ctx.home)?.task_url(&project.name, host);
    Ok(UrlResult {
        ok: true,
        task: p.task,
        url,
    })
}
