//! `run`, `jobs`, `jobs_kill` and `jobs_wait`: fire-and-forget job windows.

use super::{Action, Ctx};
use crate::config;
use crate::error::{Error, Kind, Result};
use crate::jobs::{self, Cleanup, JobInfo, JobRef, RunRequest};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where a job runs: a session by name, a tmuxp workspace, else the project's session.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Where {
    /// A session, created when missing.
    pub session: Option<String>,
    /// A tmuxp workspace file, or a directory holding one.
    pub workspace: Option<PathBuf>,
}

/// The session a job request acts on, and the workspace that makes it when missing.
fn place(ctx: &Ctx, w: &Where) -> Result<(String, Option<PathBuf>)> {
    if let Some(s) = &w.session {
        check_session_name(s, "-s")?;
        return Ok((s.clone(), None));
    }
    if let Some(ws) = &w.workspace {
        let ws = ctx.cwd.join(ws);
        let (file, s) = jobs::workspace_session(&ws, &ctx.env)?;
        check_session_name(&s, &format!("session_name of {}", file.display()))?;
        return Ok((s, Some(file)));
    }
    match config::find(ctx.config.as_deref(), &ctx.cwd) {
        Ok(path) => Ok((config::load_in(&path, ctx.user_home())?.name, None)),
        Err(e) if ctx.config.is_some() => Err(e),
        Err(_) => Err(Kind::NoSession.into()),
    }
}

/// Refuses a session name tmux would misread as a target (DESIGN section 3, "Target
/// exactly"): `$N`, `@N` and `%N` are ids, `:` and `.` separate window and pane, a control
/// character (a newline) splits tmux's output, and an empty name means the current session.
/// This runs before anything starts, so a refused name leaves no window and no process.
fn check_session_name(s: &str, what: &str) -> Result<()> {
    let rule = if s.is_empty() {
        Some("it is empty")
    } else if s.starts_with(['$', '@', '%']) {
        Some("it starts with '$', '@' or '%', which tmux reads as an id")
    } else if s.contains([':', '.']) {
        Some("it contains ':' or '.', which tmux reads as window and pane separators")
    } else if s.chars().any(char::is_control) {
        Some("it contains a control character (a newline, a tab…)")
    } else if s.contains('/') {
        // it would split the session's state and lock file names into directories
        Some("it contains '/', which would make it a path")
    } else {
        None
    };
    match rule {
        None => Ok(()),
        Some(rule) => Err(
            Error::from(Kind::Usage(format!("{what} {s:?}: not a usable session name: {rule}")))
                .hint("use letters, digits, '-' and '_' in a session name"),
        ),
    }
}

/// Params of `run` (`taskmux-run`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunParams {
    /// Where it runs.
    #[serde(flatten)]
    pub place: Where,
    /// The command, as argv (no shell unless it names one).
    pub argv: Vec<String>,
    /// The tag (default: the command's basename).
    pub tag: Option<String>,
    /// Run in a new pane of this window instead of a new window.
    pub window: Option<String>,
    /// Working directory (default: the caller's).
    pub cwd: Option<PathBuf>,
    /// Extra environment, `[K, V]` pairs.
    pub env: Vec<(String, String)>,
    /// Also log the output to this file.
    pub log_file: Option<PathBuf>,
    /// Keep the window after success.
    pub keep: bool,
    /// Close the window after failure too.
    pub rm: bool,
    /// Block until the job ends; the result carries its `exit_code`.
    pub wait: bool,
}

/// `run`: a job window, its JobRef (with `exit_code` when waited for).
pub fn run(ctx: &Ctx, p: RunParams) -> Result<JobRef> {
    if p.argv.is_empty() {
        return Err(Error::usage("no command after --").hint("usage: taskmux-run [OPTIONS] -- CMD [ARGS...]"));
    }
    if p.keep && p.rm {
        return Err(Error::usage("--keep and --rm contradict each other").hint("use one of them"));
    }
    let (session, workspace) = place(ctx, &p.place)?;
    ctx.tmux.check_version()?;
    let cwd = match (&p.cwd, &workspace) {
        (Some(c), _) => std::path::absolute(ctx.cwd.join(c)).unwrap_or_else(|_| c.clone()),
        // where the workspace's panes start
        (None, Some(ws)) => jobs::workspace_cwd(ws, &ctx.env, &ctx.cwd)?,
        (None, None) => ctx.cwd.clone(),
    };
    if !cwd.is_dir() {
        return Err(Error::from(Kind::CwdMissing(format!(
            "--cwd {} is not a directory",
            cwd.display()
        ))));
    }
    let log_file = p.log_file.map(|l| std::path::absolute(ctx.cwd.join(&l)).unwrap_or(l));
    if let Some(l) = &log_file
        && std::fs::symlink_metadata(l).is_ok_and(|m| m.file_type().is_symlink())
    {
        // the writer opens with O_NOFOLLOW anyway; refusing here says so before the job runs
        return Err(Error::invalid(format!(
            "--log-file {} is a symbolic link: taskmux never writes a log through a link",
            l.display()
        ))
        .hint("give the path of the file itself, or a new path"));
    }
    let req = RunRequest {
        session,
        workspace,
        tag: p
            .tag
            .as_deref()
            .map(jobs::clean_tag)
            .unwrap_or_else(|| jobs::default_tag(&p.argv)),
        argv: p.argv,
        cwd,
        env: p.env,
        log_file,
        window: p.window,
        cleanup: Cleanup {
            keep_on_success: p.keep,
            keep_on_failure: !p.rm,
        },
    };
    if let Some(l) = &req.log_file {
        crate::logs::check_log_path(l, "--log-file")?;
    }
    let mut job = jobs::run(ctx, &req)?;
    if p.wait {
        job.exit_code = Some(jobs::wait(ctx, &job.id, &job.pane_id, job.log_file.as_deref())?);
    }
    Ok(job)
}

/// Params of `jobs`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobsParams {
    /// Which session.
    #[serde(flatten)]
    pub place: Where,
    /// Only jobs of this tag.
    pub tag: Option<String>,
}

/// `jobs`: the job windows of a session.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct JobList {
    /// The session.
    pub session: String,
    /// Its job windows.
    pub jobs: Vec<JobInfo>,
}

fn session_jobs(ctx: &Ctx, w: &Where) -> Result<(String, Vec<JobInfo>)> {
    let (session, _) = place(ctx, w)?;
    ctx.tmux.check_version()?;
    let list = jobs::list(ctx, &session, None)?;
    Ok((session, list))
}

/// Whether `id` is a tmux window or pane id (`@N`, `%N`).
fn is_tmux_id(id: &str) -> bool {
    id.strip_prefix(['@', '%'])
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The jobs of the session that holds window or pane `id`, when it is one of this tmux
/// server: ids are unique per server, so a job is found by its id whatever session it runs
/// in (`taskmux-run -s scratch` then `jobs wait @7` from the project). Else the jobs of the
/// session `w` names, or the project's.
fn jobs_holding(ctx: &Ctx, w: &Where, id: &str) -> Result<(String, Vec<JobInfo>)> {
    if is_tmux_id(id) {
        ctx.tmux.check_version()?;
        let asked = ctx
            .tmux
            .exec(&[crate::cmd!["display-message", "-p", "-t", id, "#{session_name}"]]);
        if let Ok((true, out, _)) = asked
            && !out.trim().is_empty()
        {
            let session = out.trim().to_string();
            let list = jobs::list(ctx, &session, None)?;
            return Ok((session, list));
        }
    }
    session_jobs(ctx, w)
}

/// E220 for job `id`, not found in `session`, with how to find it.
fn not_found(id: String, session: String) -> Error {
    let hint = if is_tmux_id(&id) {
        format!(
            "no window or pane of this tmux server is {id}: a job that succeeded has closed its window; \
             list the jobs left with 'taskmux jobs' (-s SESSION for another session)"
        )
    } else {
        format!(
            "a job of another session is found with -s: 'taskmux jobs wait -s SESSION {id}', or by its window \
             id (@N); a job that succeeded has closed its window; list the jobs with 'taskmux jobs -s SESSION'"
        )
    };
    Error::from(Kind::JobNotFound { job: id, session }).hint(hint)
}

/// `jobs`.
pub fn list(ctx: &Ctx, p: JobsParams) -> Result<JobList> {
    let (session, list) = session_jobs(ctx, &p.place)?;
    Ok(JobList {
        session,
        jobs: list
            .into_iter()
            .filter(|j| p.tag.as_ref().is_none_or(|t| &j.job.tag == t))
            .collect(),
    })
}

/// Params of `jobs_kill`: one of `tag`, `window_id` (or pane id) and `all`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobsKillParams {
    /// Which session.
    #[serde(flatten)]
    pub place: Where,
    /// Every job of this tag.
    pub tag: Option<String>,
    /// The job in this window (`@N`) or pane (`%N`).
    pub window_id: Option<String>,
    /// Every job of the session.
    pub all: bool,
}

/// What `jobs_kill` did.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct JobKilled {
    /// Always true.
    pub ok: bool,
    /// `killed`.
    pub action: Action,
    /// The windows killed.
    pub jobs: Vec<String>,
}

/// `jobs_kill`: ends the chosen jobs and closes their windows.
pub fn kill(ctx: &Ctx, p: JobsKillParams) -> Result<JobKilled> {
    if !p.all && p.tag.is_none() && p.window_id.is_none() {
        return Err(Error::usage("jobs kill needs --tag T, --window-id ID or --all"));
    }
    let (session, list) = match &p.window_id {
        Some(w) if !p.all && p.tag.is_none() => jobs_holding(ctx, &p.place, w)?,
        _ => session_jobs(ctx, &p.place)?,
    };
    let chosen: Vec<JobInfo> = if p.all {
        list
    } else if let Some(t) = &p.tag {
        list.into_iter().filter(|j| &j.job.tag == t).collect()
    } else {
        let w = p.window_id.as_deref().unwrap_or_default();
        let found: Vec<JobInfo> = list
            .into_iter()
            .filter(|j| j.job.window_id == w || j.job.pane_id == w)
            .collect();
        if found.is_empty() {
            return Err(not_found(w.to_string(), session));
        }
        found
    };
    jobs::kill(ctx, &chosen)?;
    Ok(JobKilled {
        ok: true,
        action: Action::Killed,
        jobs: chosen.into_iter().map(|j| j.job.window_id).collect(),
    })
}

/// Params of `jobs_wait`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobsWaitParams {
    /// Which session.
    #[serde(flatten)]
    pub place: Where,
    /// The job: window id (`@N`), pane id (`%N`) or window name.
    pub id: String,
}

/// `jobs_wait`: blocks until the job ends; its JobRef with `exit_code`.
pub fn wait(ctx: &Ctx, p: JobsWaitParams) -> Result<JobRef> {
    if p.id.is_empty() {
        return Err(Error::usage(
            "jobs wait needs a job: its window id (@N), pane id (%N) or window name",
        ));
    }
    let (session, list) = jobs_holding(ctx, &p.place, &p.id)?;
    let Some(j) = list
        .into_iter()
        .find(|j| j.job.window_id == p.id || j.job.pane_id == p.id || j.job.window_name == p.id)
    else {
        return Err(not_found(p.id, session));
    };
    let code = match j.exit_code {
        Some(c) => c,
        None => jobs::wait(ctx, &j.job.id, &j.job.pane_id, j.job.log_file.as_deref())?,
    };
    Ok(JobRef {
        exit_code: Some(code),
        ..j.job
    })
}
