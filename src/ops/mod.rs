//! The operations: one typed request per thing taskmux can do, one file per request, and
//! [`handle`], which every front (the CLI, the daemon's API, the MCP server) calls. A request
//! takes the [`Ctx`] and typed params and returns a typed result; nothing here prints, reads
//! the environment or exits.
//!
//! The JSON form of [`Request`] is the API's wire format:
//! `{"command": "restart", "params": {"task": "web"}, "id": 7}`; the JSON form of a
//! [`Response`] is what `--json` prints.

mod add;
mod alias;
pub mod ca;
mod check;
mod daemon;
mod dns;
pub mod doctor;
mod events;
mod fleet;
mod forward;
mod global;
mod health;
pub mod host;
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
mod stream;
mod url;

pub use crate::ctx::Ctx;
pub use add::{AddParams, Added};
pub use alias::{AddParams as AliasAddParams, AliasDone, AliasList, RemoveParams as AliasRemoveParams};
pub use ca::{CaInfo, CertInfo, MintParams, Minted, authority};
pub use check::CheckReport;
pub use daemon::{ProjectList, RegisterParams, Registered, UnregisterParams, Unregistered};
pub use dns::{Queried, QueryParams, StatusParams as DnsStatusParams};
pub use doctor::{DoctorParams, DoctorReport};
pub use events::{EventList, EventsParams};
pub use fleet::{Fleet, FleetParams};
pub use global::{ConfigEdited, ConfigPath, SetParams, UnsetParams};
pub use health::HealthReport;
pub use init::{InitParams, Initialized, init_target};
pub use inspect::Inspected;
pub use jobs::{JobKilled, JobList, JobsKillParams, JobsParams, JobsWaitParams, RunParams, Where};
pub use kill::Killed;
pub use logs::{Cleaned, LogLines, LogsParams, follow_while, log_sources};
pub use remove::Removed;
pub use request::{Context, Envelope, Front, MAX_LINE, OptTaskParams, Request, TaskParams, TasksParams, envelope};
pub use restart::Restarted;
pub use results::{Action, Outcome, TaskFailure, Warning};
pub use send::{SendParams, Sent};
pub use shape::Skip;
pub use start::Started;
pub use status::Status;
pub use stop::Stopped;
pub use stream::{Item, stream};
pub use url::UrlResult;

use crate::config::{self, Project};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Declares [`Response`]: each variant, its type and its tag on the wire, in one place.
macro_rules! responses {
    ($( $(#[$doc:meta])* $variant:ident($ty:ty) = $tag:literal, )*) => {
        /// The typed result of a request. Its JSON (serde's, untagged) is what `--json`
        /// prints for that command; [`Response::to_wire`] adds the tag `response` that
        /// [`Response::from_wire`] reads it back by.
        #[derive(Debug, Serialize)]
        #[serde(untagged)]
        pub enum Response {
            $( $(#[$doc])* $variant($ty), )*
        }

        impl Response {
            /// The variant's name on the wire (`"status"`, `"error"`).
            pub fn tag(&self) -> &'static str {
                match self {
                    $( Response::$variant(_) => $tag, )*
                }
            }

            /// Every tag, in declaration order.
            pub const TAGS: &'static [&'static str] = &[$( $tag, )*];

            /// The variant tagged `tag`, from its JSON; None for a tag this version does
            /// not know.
            fn decode(tag: &str, body: Value) -> Option<serde_json::Result<Response>> {
                Some(match tag {
                    $( $tag => serde_json::from_value::<$ty>(body).map(Response::$variant), )*
                    _ => return None,
                })
            }
        }
    };
}

responses! {
    /// `start`.
    Start(Started) = "start",
    /// `stop`.
    Stop(Stopped) = "stop",
    /// `restart`.
    Restart(Restarted) = "restart",
    /// `kill`.
    Kill(Killed) = "kill",
    /// `remove`.
    Remove(Removed) = "remove",
    /// `status`.
    Status(Status) = "status",
    /// `health`.
    Health(HealthReport) = "health",
    /// `inspect`.
    Inspect(Box<Inspected>) = "inspect",
    /// `send`.
    Send(Sent) = "send",
    /// `logs`.
    Logs(LogLines) = "logs",
    /// `logs_clean`.
    LogsClean(Cleaned) = "logs_clean",
    /// `events`.
    Events(EventList) = "events",
    /// `url`.
    Url(UrlResult) = "url",
    /// `run` (a job).
    Run(crate::jobs::JobRef) = "run",
    /// `jobs`.
    Jobs(JobList) = "jobs",
    /// `jobs_kill`.
    JobsKill(JobKilled) = "jobs_kill",
    /// `jobs_wait`.
    JobsWait(crate::jobs::JobRef) = "jobs_wait",
    /// `init`.
    Init(Initialized) = "init",
    /// `add`.
    Add(Added) = "add",
    /// `check`.
    Check(CheckReport) = "check",
    /// `reload`.
    Reload(reload::Reloaded) = "reload",
    /// `doctor`.
    Doctor(DoctorReport) = "doctor",
    /// `ping`.
    Pong(Pong) = "ping",
    /// `config_show`.
    ConfigShow(crate::config::global_edit::Shown) = "config_show",
    /// `config_set`.
    ConfigSet(global::ConfigEdited) = "config_set",
    /// `config_unset`.
    ConfigUnset(global::ConfigEdited) = "config_unset",
    /// `config_path`.
    ConfigPath(global::ConfigPath) = "config_path",
    /// `daemon_status`.
    DaemonStatus(Box<crate::supervision::DaemonStatus>) = "daemon_status",
    /// `daemon_list`.
    DaemonList(daemon::ProjectList) = "daemon_list",
    /// `register`.
    Register(daemon::Registered) = "register",
    /// `unregister`.
    Unregister(daemon::Unregistered) = "unregister",
    /// `ca_path`.
    CaPath(ca::CaInfo) = "ca_path",
    /// `ca_mint`.
    CaMint(ca::Minted) = "ca_mint",
    /// `dns_status`.
    DnsStatus(crate::dns::Status) = "dns_status",
    /// `dns_query`.
    DnsQuery(dns::Queried) = "dns_query",
    /// `proxy_routes`.
    ProxyRoutes(daemon::Routes) = "proxy_routes",
    /// `wake`.
    Wake(daemon::Woken) = "wake",
    /// `status_all`, `start_all`, `stop_all`, `restart_all`.
    EachProject(daemon::EachProject) = "each_project",
    /// `alias_add`, `alias_remove`.
    Alias(alias::AliasDone) = "alias",
    /// `alias_list`.
    AliasList(alias::AliasList) = "alias_list",
    /// `summary`.
    Summary(fleet::Summary) = "summary",
    /// `fleet`.
    Fleet(fleet::Fleet) = "fleet",
    /// The end of a stream (`logs`, `events` with `follow`) whose reader left.
    Followed(stream::Followed) = "followed",
    /// The request failed as a whole.
    Error(Error) = "error",
}

/// What `ping` answers: `{"command": "ping", "ok": true, "v": 2, "versions": [2],
/// "version": "0.1.0"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pong {
    /// `ping`, as the seed's reply has it.
    pub command: String,
    /// Always true.
    pub ok: bool,
    /// The protocol version this side speaks by default.
    pub v: u32,
    /// Every protocol version it speaks.
    pub versions: Vec<u32>,
    /// Its taskmux version.
    pub version: String,
}

impl Pong {
    /// This side's answer.
    pub fn here() -> Pong {
        Pong {
            command: "ping".into(),
            ok: true,
            v: PROTOCOL,
            versions: PROTOCOLS.to_vec(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// The protocol version this side speaks by default: a request with no `v` is taken as one.
pub const PROTOCOL: u32 = 2;
/// Every protocol version this side speaks.
pub const PROTOCOLS: &[u32] = &[2];

impl Response {
    /// Whether the request did all it was asked.
    pub fn ok(&self) -> bool {
        match self {
            Response::Start(r) => r.ok(),
            Response::Restart(r) => r.ok(),
            Response::Check(r) => r.ok,
            Response::Reload(r) => r.ok,
            Response::Doctor(r) => r.ok,
            Response::DnsStatus(r) => r.ok,
            Response::EachProject(r) => r.ok,
            Response::Fleet(r) => r.ok,
            Response::Error(_) => false,
            _ => true,
        }
    }

    /// The response on the wire: its JSON with `ok` (when the variant's JSON has none),
    /// the tag `response` and the request's `id`. An error has the API's shape
    /// (`{"ok": false, "error": "unknown_task", "code", "message"}`).
    pub fn to_wire(&self, id: Option<&Value>) -> Value {
        let mut v = match self {
            Response::Error(e) => e.to_api_json(),
            other => serde_json::to_value(other).unwrap_or_else(|e| {
                Error::internal(format!("cannot encode the {} response: {e}", other.tag())).to_api_json()
            }),
        };
        if let Value::Object(m) = &mut v {
            m.entry("ok").or_insert(Value::Bool(self.ok()));
            m.insert("response".into(), Value::from(self.tag()));
            if let Some(id) = id {
                m.insert("id".into(), id.clone());
            }
        }
        v
    }

    /// Reads a response off the wire ([`Response::to_wire`]'s form), and its `id`. A reply
    /// without a tag, of a tag this version does not know, or whose fields do not fit its
    /// tag is E502 naming what was wrong.
    pub fn from_wire(mut v: Value) -> Result<(Option<Value>, Response)> {
        let bad = |m: String| Error::from(crate::error::Kind::BadRequest(m));
        let Value::Object(m) = &mut v else {
            return Err(bad("a reply must be a JSON object".into()));
        };
        let id = m.remove("id");
        let tag = match m.remove("response") {
            Some(Value::String(t)) => t,
            _ if m.get("command").and_then(Value::as_str) == Some("ping") => "ping".to_string(),
            _ if m.get("ok") == Some(&Value::Bool(false)) && m.contains_key("code") => "error".to_string(),
            _ => return Err(bad("a reply needs \"response\": the kind of result it is".into())),
        };
        match Response::decode(&tag, v) {
            Some(Ok(r)) => Ok((id, r)),
            Some(Err(e)) => Err(bad(format!("a '{tag}' reply that does not read: {e}"))),
            None => Err(bad(format!(
                "a reply of a kind this taskmux does not know: '{tag}' (is the other side newer?)"
            ))),
        }
    }

    /// The process exit code a CLI gives this result (taskmux(1) EXIT STATUS).
    pub fn exit_code(&self) -> u8 {
        match self {
            Response::Error(e) => e.exit_code(),
            Response::Start(r) => r.exit_code(),
            Response::Restart(r) => u8::from(!r.ok()),
            Response::Reload(r) => u8::from(!r.ok),
            Response::Doctor(r) => u8::from(!r.ok),
            Response::DnsStatus(r) => u8::from(!r.ok),
            Response::EachProject(r) => u8::from(!r.ok),
            Response::Fleet(r) => u8::from(!r.ok),
            Response::DaemonStatus(s) => u8::from(!s.running),
            Response::Check(r) => r.exit,
            Response::Run(j) | Response::JobsWait(j) => j.exit_code.map_or(0, |c| c.clamp(0, 255) as u8),
            _ => 0,
        }
    }
}

/// Runs one request. Every failure is a [`Response::Error`], never a panic or an exit.
/// With `-H` it is carried out on that machine ([`host`]); a lifecycle request is carried
/// out by the project's authority: the running daemon, when there is one ([`forward`]),
/// else here. A request whose reply streams goes through [`stream`] instead.
pub fn handle(ctx: &Ctx, req: Request) -> Response {
    if let Some(remote) = &ctx.remote {
        return host::ask(remote, &req);
    }
    if req.streams() {
        return Response::Error(stream::not_here(&req));
    }
    if let Some(r) = forward::forward(ctx, &req) {
        return r;
    }
    let r = match req {
        Request::Ping => Ok(Response::Pong(Pong::here())),
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
        Request::ConfigShow => global::show(ctx).map(Response::ConfigShow),
        Request::ConfigSet(p) => global::set(ctx, p).map(Response::ConfigSet),
        Request::ConfigUnset(p) => global::unset(ctx, p).map(Response::ConfigUnset),
        Request::ConfigPath => Ok(Response::ConfigPath(global::path(ctx))),
        Request::DaemonStatus => daemon::status(ctx).map(|s| Response::DaemonStatus(Box::new(s))),
        Request::DaemonList => daemon::list(ctx).map(Response::DaemonList),
        Request::Register(p) => daemon::register(ctx, p).map(Response::Register),
        Request::Unregister(p) => daemon::unregister(ctx, p).map(Response::Unregister),
        Request::CaPath => ca::path(ctx).map(Response::CaPath),
        Request::CaMint(p) => ca::mint(ctx, p).map(Response::CaMint),
        Request::DnsStatus(p) => dns::status(ctx, p).map(Response::DnsStatus),
        Request::DnsQuery(p) => dns::query(ctx, p).map(Response::DnsQuery),
        Request::ProxyRoutes => daemon::routes(ctx).map(Response::ProxyRoutes),
        Request::Wake(p) => daemon::wake(ctx, p).map(Response::Wake),
        Request::StatusAll => daemon::each(ctx, Request::Status).map(Response::EachProject),
        Request::StartAll => daemon::each(ctx, Request::Start(TasksParams::default())).map(Response::EachProject),
        Request::StopAll => daemon::each(ctx, Request::Stop(TasksParams::default())).map(Response::EachProject),
        Request::RestartAll => daemon::each(ctx, Request::Restart(TasksParams::default())).map(Response::EachProject),
        Request::AliasAdd(p) => alias::add(ctx, p).map(Response::Alias),
        Request::AliasRemove(p) => alias::remove(ctx, p).map(Response::Alias),
        Request::AliasList => alias::list(ctx).map(Response::AliasList),
        Request::Summary => fleet::summary(ctx).map(Response::Summary),
        Request::Fleet(p) => fleet::fleet(ctx, p).map(Response::Fleet),
    };
    r.unwrap_or_else(Response::Error)
}

/// The world a request runs in: `base` (the front's own) with what the request's context
/// names. A registered `project` gives its config, tmux server and directory; `config`
/// and `cwd` are read relative to `base`'s directory. An unknown project is E303.
pub fn in_context(base: &Ctx, c: &Context) -> Result<Ctx> {
    let mut ctx = base.clone();
    if let Some(cwd) = &c.cwd {
        ctx.cwd = base.cwd.join(cwd);
    }
    let mut socket = c.socket.clone();
    if let Some(name) = &c.project {
        let reg = crate::registry::Registry::load(&base.home)?;
        let Some(e) = reg.get(name) else {
            return Err(Error::from(crate::error::Kind::NotRegistered(name.clone())));
        };
        ctx.config = Some(e.config_path.clone());
        if c.cwd.is_none()
            && let Some(dir) = e.config_path.parent()
        {
            ctx.cwd = dir.to_path_buf();
        }
        socket = socket.or_else(|| e.tmux_socket.clone());
    }
    if let Some(config) = &c.config {
        ctx.config = Some(ctx.cwd.join(config));
    }
    if let Some(s) = socket {
        ctx.tmux = crate::tmux::Tmux::new(Some(s), base.tmux.path.clone(), Some(base.home.clone()));
    }
    if let Some(env) = &c.env {
        ctx.env = crate::state::record_of(env.clone());
    }
    Ok(ctx)
}

/// The context a request sent from `ctx` carries: its config (absolute), tmux server and
/// directory.
pub fn context_of(ctx: &Ctx) -> Context {
    Context {
        config: ctx.config.as_ref().map(|c| ctx.cwd.join(c)),
        project: None,
        socket: ctx.tmux.socket.clone(),
        cwd: Some(ctx.cwd.clone()),
        env: None,
    }
}

/// How long the daemon has to answer a request about itself.
const DAEMON_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Asks the daemon of `ctx`'s state directory, in `ctx`'s context. Its error reply is the
/// error; no daemon is E304.
pub fn ask_daemon(ctx: &Ctx, req: &Request) -> Result<Response> {
    let line = envelope(req, &context_of(ctx), None, false);
    let v = crate::client::request(&ctx.home, &line, DAEMON_TIMEOUT)?;
    match Response::from_wire(v)? {
        (_, Response::Error(e)) => Err(e),
        (_, r) => Ok(r),
    }
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

/// A start or restart by hand gives the tasks it names (the `auto_start` set when none)
/// a fresh restart budget: what the daemon gave up on, it tries again.
pub(crate) fn fresh_budget(ctx: &Ctx, project: &Project, names: &[String]) -> Result<()> {
    let tasks: Vec<&str> = match names.is_empty() {
        true => project
            .tasks
            .iter()
            .filter(|t| t.auto_start)
            .map(|t| t.name.as_str())
            .collect(),
        false => names.iter().map(String::as_str).collect(),
    };
    let state = crate::state::State::load(&ctx.home, &project.name)?;
    if tasks.iter().all(|t| !state.supervised.contains_key(*t)) {
        return Ok(());
    }
    crate::state::State::update(&ctx.home, &project.name, |s| {
        for t in tasks {
            s.supervised.remove(t);
        }
    })
}

/// The details of E305: the session and the two configs that claim it.
#[derive(Serialize)]
struct Collision<'a> {
    session: &'a str,
    ours: &'a std::path::Path,
    theirs: &'a std::path::Path,
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
    .details(Collision {
        session: &project.name,
        ours: &project.path,
        theirs: &theirs,
    }))
}
