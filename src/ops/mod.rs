//! The operations: one typed request per thing taskmux can do, one file per request, and
//! [`handle`], which every front (the CLI, the daemon's API, the MCP server) calls. A request
//! takes the [`Ctx`] and typed params and returns a typed result; nothing here prints, reads
//! the environment or exits.
//!
//! The JSON form of [`Request`] is the API's wire format:
//! `{"command": "restart", "params": {"task": "web"}, "id": 7}`; the JSON form of a
//! [`Response`] is what `--json` prints.

mod add;
mod check;
pub mod doctor;
mod events;
mod health;
mod init;
mod inspect;
mod jobs;
mod kill;
mod logs;
pub mod reload;
mod remove;
mod request;
mod restart;
mod results;
mod send;
mod shape;
mod start;
mod status;
mod stop;
mod url;

pub use crate::ctx::{Cancel, Ctx};
pub use add::{AddParams, Added};
pub use check::CheckReport;
pub use doctor::{DoctorParams, DoctorReport};
pub use events::{EventList, EventsParams};
pub use health::{HealthReport, HealthRow};
pub use init::{InitParams, Initialized, init_target};
pub use inspect::Inspected;
pub use jobs::{JobKilled, JobList, JobsKillParams, JobsParams, JobsWaitParams, RunParams, Where};
pub use kill::Killed;
pub use logs::{Cleaned, LogLines, LogsParams, follow, follow_while, log_sources};
pub use remove::{Removed, stop_removed};
pub use request::{Envelope, OptTaskParams, Request, TaskParams, TasksParams};
pub use restart::Restarted;
pub use results::{Action, Outcome, TaskFailure, Warning};
pub use send::{SendParams, Sent};
pub use shape::Skip;
pub use start::Started;
pub use status::{Status, TaskStatus};
pub use stop::Stopped;
pub use url::UrlResult;

use crate::config::{self, Project};
use crate::error::{Error, Result};
use serde::Serialize;

/// The typed result of a request; its JSON is what `--json` prints for that command.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Response {
    /// `start`.
    Start(Started),
    /// `stop`.
    Stop(Stopped),
    /// `restart`.
    Restart(Restarted),
    /// `kill`.
    Kill(Killed),
    /// `remove`.
    Remove(Removed),
    /// `status`.
    Status(Status),
    /// `health`.
    Health(HealthReport),
    /// `inspect`.
    Inspect(Box<Inspected>),
    /// `send`.
    Send(Sent),
    /// `logs`.
    Logs(LogLines),
    /// `logs_clean`.
    LogsClean(Cleaned),
    /// `events`.
    Events(EventList),
    /// `url`.
    Url(UrlResult),
    /// `run` (a job).
    Run(crate::jobs::JobRef),
    /// `jobs`.
    Jobs(JobList),
    /// `jobs_kill`.
    JobsKill(JobKilled),
    /// `jobs_wait`.
    JobsWait(crate::jobs::JobRef),
    /// `init`.
    Init(Initialized),
    /// `add`.
    Add(Added),
    /// `check`.
    Check(CheckReport),
    /// `reload`.
    Reload(reload::Reloaded),
    /// `doctor`.
    Doctor(DoctorReport),
    /// `ping`: `{"ok": true, "v": 1}`.
    Pong {
        /// Always true.
        ok: bool,
        /// The protocol version.
        v: u32,
    },
    /// The request failed as a whole.
    Error(Error),
}

impl Response {
    /// Whether the request did all it was asked.
    pub fn ok(&self) -> bool {
        match self {
            Response::Start(r) => r.ok(),
            Response::Restart(r) => r.ok(),
            Response::Check(r) => r.ok,
            Response::Reload(r) => r.ok,
            Response::Doctor(r) => r.ok,
            Response::Error(_) => false,
            _ => true,
        }
    }

    /// The process exit code a CLI gives this result (REFERENCE section 1).
    pub fn exit_code(&self) -> u8 {
        match self {
            Response::Error(e) => e.exit_code(),
            Response::Start(r) => r.exit_code(),
            Response::Restart(r) => u8::from(!r.ok()),
            Response::Reload(r) => u8::from(!r.ok),
            Response::Doctor(r) => u8::from(!r.ok),
            Response::Check(r) => r.exit,
            Response::Run(j) | Response::JobsWait(j) => j.exit_code.map_or(0, |c| c.clamp(0, 255) as u8),
            _ => 0,
        }
    }
}

/// Runs one request. Every failure is a [`Response::Error`], never a panic or an exit.
pub fn handle(ctx: &Ctx, req: Request) -> Response {
    let r = match req {
        Request::Ping => Ok(Response::Pong { ok: true, v: 1 }),
        Request::Start(p) => start::start(ctx, p).map(Response::Start),
        Request::Stop(p) => stop::stop(ctx, p).map(Response::Stop),
        Request::Restart(p) => restart::restart(ctx, p).map(Response::Restart),
        Request::Kill(p) => kill::kill(ctx, p).map(Response::Kill),
        Request::Remove(p) => remove::remove(ctx, p).map(Response::Remove),
        Request::Status => status::status(ctx).map(Response::Status),
        Request::Health => health::health(ctx).map(Response::Health),
        Request::Inspect(p) => inspect::inspect(ctx, p).map(|r| Response::Inspect(Box::new(r))),
        Request::Send(p) => send::send(ctx, p).map(Response::Send),
        Request::Logs(p) => logs::logs(ctx, p).map(Response::Logs),
        Request::LogsClean(p) => logs::clean(ctx, p).map(Response::LogsClean),
        Request::Events(p) => events::events(ctx, p).map(Response::Events),
        Request::Url(p) => url::url(ctx, p).map(Response::Url),
        Request::Run(p) => jobs::run(ctx, p).map(Response::Run),
        Request::Jobs(p) => jobs::list(ctx, p).map(Response::Jobs),
        Request::JobsKill(p) => jobs::kill(ctx, p).map(Response::JobsKill),
        Request::JobsWait(p) => jobs::wait(ctx, p).map(Response::JobsWait),
        Request::Init(p) => init::init(ctx, p).map(Response::Init),
        Request::Add(p) => add::add(ctx, p).map(Response::Add),
        Request::Check => check::check(ctx).map(Response::Check),
        Request::Reload => reload::reload(ctx).map(Response::Reload),
        Request::Doctor(p) => doctor::doctor(ctx, p).map(Response::Doctor),
    };
    r.unwrap_or_else(Response::Error)
}

/// The path of the project's config: `-c` (relative to the context's directory), else
/// `taskmux.toml` found upward from it.
pub fn config_path(ctx: &Ctx) -> Result<std::path::PathBuf> {
    let found = config::find(ctx.config.as_deref(), &ctx.cwd)?;
    Ok(std::path::absolute(&found).unwrap_or(found))
}

/// Finds and loads the project's config, without touching tmux.
pub fn load_project(ctx: &Ctx) -> Result<Project> {
    config::load_in(&config::find(ctx.config.as_deref(), &ctx.cwd)?, ctx.user_home())
}

/// Loads the project and checks tmux: what every lifecycle operation needs. A session
/// owned by another config of the same name is E305.
pub fn lifecycle_ctx(ctx: &Ctx) -> Result<crate::task::Ctx> {
    let project = load_project(ctx)?;
    check_owner(ctx, &project)?;
    ctx.tmux.check_version()?;
    Ok(crate::task::Ctx {
        project,
        world: ctx.clone(),
    })
}

/// E305 when `state.json` of the project's session records another config that still
/// exists and names the same project: two projects never share one session. A config
/// that moved or was deleted owns nothing.
pub fn check_owner(ctx: &Ctx, project: &Project) -> Result<()> {
    let Ok(state) = crate::state::State::load(&ctx.home, &project.name) else {
        return Ok(());
    };
    let Some(theirs) = state.config_path else {
        return Ok(());
    };
    let canon = |p: &std::path::Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    if theirs == project.path || canon(&theirs) == canon(&project.path) || !theirs.is_file() {
        return Ok(());
    }
    if config::project_name_of(&theirs).as_deref() != Some(project.name.as_str()) {
        return Ok(());
    }
    Err(Error::from(crate::error::Kind::NameCollision {
        session: project.name.clone(),
        ours: project.path.clone(),
        theirs: theirs.clone(),
    })
    .details(serde_json::json!({"session": project.name, "ours": project.path, "theirs": theirs})))
}
