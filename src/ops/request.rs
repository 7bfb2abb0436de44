//! [`Request`]: every operation as one serde enum, and [`Envelope`], a request as it comes
//! off the wire: its `id`, the protocol version `v`, and the [`Context`] it is for.

use super::{AddParams, EventsParams, InitParams, JobsKillParams, JobsParams, JobsWaitParams, LogsParams};
use super::{PROTOCOL, PROTOCOLS, RunParams, SendParams};
use crate::error::{Error, Kind};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Declares [`Request`]: each variant, its params and its name on the wire, in one place,
/// so [`Request::COMMANDS`] and [`Request::name`] cannot miss one.
macro_rules! requests {
    ($( $(#[$meta:meta])* $variant:ident $(($ty:ty))? = $name:literal, )*) => {
        /// One operation and its params: `{"command": "stop", "params": {"task": "web"}}`.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "command", content = "params")]
        pub enum Request {
            $( $(#[$meta])* #[serde(rename = $name)] $variant $(($ty))?, )*
        }

        impl Request {
            /// Every command's name on the wire, in declaration order.
            pub const COMMANDS: &'static [&'static str] = &[$( $name, )*];

            /// Whether the command `name` takes no params.
            fn is_unit(name: &str) -> bool {
                match name {
                    $( $name => requests!(@unit $($ty)?), )*
                    _ => false,
                }
            }

            /// The command's name on the wire.
            pub fn name(&self) -> &'static str {
                match self {
                    $( requests!(@pat $variant $(, $ty)?) => $name, )*
                }
            }
        }
    };
    (@unit) => { true };
    (@unit $ty:ty) => { false };
    (@pat $variant:ident) => { Request::$variant };
    (@pat $variant:ident, $ty:ty) => { Request::$variant(_) };
}

requests! {
    /// Liveness and the protocol versions spoken.
    Ping = "ping",
    /// Start tasks (all `auto_start` ones in dependency order when none is named).
    Start(TasksParams) = "start",
    /// Stop tasks (all when none is named).
    Stop(TasksParams) = "stop",
    /// Stop then start tasks in their windows.
    Restart(TasksParams) = "restart",
    /// SIGKILL a task and destroy its window.
    Kill(TaskParams) = "kill",
    /// Remove a task from the config, stopping it first.
    Remove(TaskParams) = "remove",
    /// Every task's state.
    Status = "status",
    /// Probe every task now.
    Health = "health",
    /// Everything about one task.
    Inspect(TaskParams) = "inspect",
    /// Type text into a task's pane.
    Send(SendParams) = "send",
    /// Lines from the log files.
    Logs(LogsParams) = "logs",
    /// Delete log files.
    LogsClean(OptTaskParams) = "logs_clean",
    /// Lifecycle events.
    Events(EventsParams) = "events",
    /// A task's https URL.
    Url(TaskParams) = "url",
    /// Run a job window (`taskmux-run`).
    Run(RunParams) = "run",
    /// List job windows.
    Jobs(JobsParams) = "jobs",
    /// Kill job windows.
    JobsKill(JobsKillParams) = "jobs_kill",
    /// Wait for a job to end.
    JobsWait(JobsWaitParams) = "jobs_wait",
    /// Create `taskmux.toml` and the agent context.
    Init(InitParams) = "init",
    /// Add a task to the config.
    Add(AddParams) = "add",
    /// Validate the config and lint the environment.
    Check = "check",
    /// Make the running project follow the config on disk.
    Reload = "reload",
    /// Check every layer from tmux to the URL.
    Doctor(super::DoctorParams) = "doctor",
    /// The global config, every key and where its value comes from.
    ConfigShow = "config_show",
    /// Set a key of the global config.
    ConfigSet(super::global::SetParams) = "config_set",
    /// Remove a key of the global config (back to its default).
    ConfigUnset(super::global::UnsetParams) = "config_unset",
    /// Where the global config is.
    ConfigPath = "config_path",
    /// Whether the daemon runs, and how it is.
    DaemonStatus = "daemon_status",
    /// The registered projects (`list_projects` on the seed's API).
    #[serde(alias = "list_projects")]
    DaemonList = "daemon_list",
    /// Register the project of the context's config with the daemon.
    Register(super::daemon::RegisterParams) = "register",
    /// Unregister a project.
    Unregister(super::daemon::UnregisterParams) = "unregister",
    /// The local CA's certificate.
    CaPath = "ca_path",
    /// Mint host certificates from the local CA.
    CaMint(super::ca::MintParams) = "ca_mint",
    /// How names resolve here.
    DnsStatus(super::dns::StatusParams) = "dns_status",
    /// One question to a DNS server.
    DnsQuery(super::dns::QueryParams) = "dns_query",
    /// The proxy's routes (the daemon's alone).
    ProxyRoutes = "proxy_routes",
    /// Wake the supervisors of a project (the daemon's alone).
    Wake(super::daemon::WakeParams) = "wake",
    /// `status` of every supervised project (the daemon's alone).
    StatusAll = "status_all",
    /// `start` of every supervised project (the daemon's alone).
    StartAll = "start_all",
    /// `stop` of every supervised project (the daemon's alone).
    StopAll = "stop_all",
    /// `restart` of every supervised project (the daemon's alone).
    RestartAll = "restart_all",
    /// Give a URL to a server taskmux does not run.
    AliasAdd(super::alias::AddParams) = "alias_add",
    /// Remove an alias.
    AliasRemove(super::alias::RemoveParams) = "alias_remove",
    /// Every alias.
    AliasList = "alias_list",
    /// This machine at a glance: taskmux, daemon, each project counted (one row of `fleet`).
    Summary = "summary",
    /// This machine and every host of `[hosts]`, asked at once.
    Fleet(super::FleetParams) = "fleet",
}

/// Who sent a request: what it may ask depends on it (taskmuxd(8), API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Front {
    /// The command line, `taskmux __request`, and daemon.sock (the same user): anything.
    Local,
    /// The WebSocket: a token a browser extension or another local program may hold. It
    /// may not change config.toml, the registry, certificates or the system.
    WebSocket,
    /// An MCP client (a coding agent): it may register a project and run doctor, and
    /// change nothing of the system or the global config.
    Mcp,
}

impl Request {
    /// Whether it changes what runs of a project: what the project's authority (the
    /// running daemon) carries out for every front.
    pub fn is_lifecycle(&self) -> bool {
        matches!(
            self,
            Request::Start(_)
                | Request::Stop(_)
                | Request::Restart(_)
                | Request::Kill(_)
                | Request::Remove(_)
                | Request::Reload
        )
    }

    /// Whether it changes the global config, the registry or certificates: what a
    /// WebSocket may not ask.
    fn changes_machine(&self) -> bool {
        matches!(
            self,
            Request::ConfigSet(_)
                | Request::ConfigUnset(_)
                | Request::Register(_)
                | Request::Unregister(_)
                | Request::CaMint(_)
                | Request::AliasAdd(_)
                | Request::AliasRemove(_)
        )
    }

    /// E702 when `front` may not ask this.
    pub fn allowed_from(&self, front: Front) -> Result<(), Error> {
        let refused = match front {
            Front::Local => false,
            Front::WebSocket => self.changes_machine(),
            Front::Mcp => self.changes_machine() && !matches!(self, Request::Register(_)),
        };
        if !refused {
            return Ok(());
        }
        let who = match front {
            Front::WebSocket => "the WebSocket API",
            _ => "an MCP client",
        };
        Err(Error::from(Kind::Unauthorized(format!(
            "'{}' is not allowed over {who}: it changes the machine's config, registry or certificates",
            self.name()
        )))
        .hint(format!(
            "run 'taskmux {}' in a shell, or send it on daemon.sock",
            self.name().replace('_', " ")
        )))
    }

    /// Whether it is about one project (and needs one named, or a directory to find it from).
    pub fn needs_project(&self) -> bool {
        !matches!(
            self,
            Request::Ping
                | Request::ConfigShow
                | Request::ConfigSet(_)
                | Request::ConfigUnset(_)
                | Request::ConfigPath
                | Request::DaemonStatus
                | Request::DaemonList
                | Request::Unregister(_)
                | Request::CaPath
                | Request::CaMint(super::ca::MintParams { host: Some(_) })
                | Request::DnsStatus(_)
                | Request::DnsQuery(_)
                | Request::ProxyRoutes
                | Request::Wake(_)
                | Request::StatusAll
                | Request::StartAll
                | Request::StopAll
                | Request::RestartAll
                | Request::AliasAdd(_)
                | Request::AliasRemove(_)
                | Request::AliasList
                | Request::Summary
                | Request::Fleet(_)
                | Request::Run(_)
                | Request::Jobs(_)
                | Request::JobsKill(_)
                | Request::JobsWait(_)
                | Request::Events(EventsParams { all_projects: true, .. })
        )
    }

    /// Whether its params carry a `session` of their own (the job commands' `-s`), so a
    /// `session` in them is not the project.
    fn has_session_param(name: &str) -> bool {
        matches!(name, "run" | "jobs" | "jobs_kill" | "jobs_wait" | "wake")
    }
}

/// Params naming one task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskParams {
    /// The task.
    pub task: String,
}

/// Params naming at most one task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptTaskParams {
    /// The task, or every task.
    pub task: Option<String>,
}

/// Params of the lifecycle verbs: tasks by name (`task` for one, `tasks` for several, or
/// neither for the whole project), and `wait` for `start`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TasksParams {
    /// One task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// Several tasks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<String>,
    /// `start --wait`: return only when every started task is healthy.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub wait: bool,
}

impl TasksParams {
    /// The named tasks, `task` first; empty for the whole project.
    pub fn names(&self) -> Vec<String> {
        self.task.iter().chain(self.tasks.iter()).cloned().collect()
    }
}

/// What a request is about, as a CLI flag would say it: the project (a config path, or a
/// registered name), the tmux server, the directory a relative path and the config search
/// start from, and the sender's environment (for the environment of record of a first
/// start). Every field is optional; a front fills in its own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Context {
    /// `-c PATH`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<PathBuf>,
    /// `-p NAME`: a registered project (the seed's API calls it `session`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// `-L NAME`: the tmux socket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socket: Option<String>,
    /// The sender's working directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwd: Option<PathBuf>,
    /// The sender's environment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<BTreeMap<String, String>>,
}

impl Context {}

/// A request as it comes off the wire: the request (or why it could not be read), its
/// `id` to echo, the protocol version it speaks, and the context it is for.
#[derive(Debug)]
pub struct Envelope {
    /// The client's `id`, echoed in the reply.
    pub id: Option<Value>,
    /// The context.
    pub context: Context,
    /// The request, or the error to reply with.
    pub request: Result<Request, Error>,
}

/// The largest request: a line on daemon.sock or `__request`, a WebSocket message.
pub const MAX_LINE: usize = 1024 * 1024;

/// The top-level keys of a request.
const ENVELOPE_KEYS: &[&str] = &[
    "command", "params", "id", "v", "config", "project", "session", "socket", "cwd", "env", "progress",
];

impl Envelope {
    /// Reads one JSON request line. A line that is not a JSON object is E502, an unknown
    /// command E501, bad params E500, a protocol version this side does not speak E506;
    /// each keeps the `id` where one could be read.
    pub fn parse(line: &str) -> Envelope {
        let v: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                return Envelope::failed(
                    None,
                    Error::from(Kind::BadRequest(format!("invalid JSON request: {e}")))
                        .hint("send one JSON object a line: {\"command\": \"status\", \"id\": 1}"),
                );
            }
        };
        let Value::Object(m) = v else {
            return Envelope::failed(
                None,
                Error::from(Kind::BadRequest("a request must be a JSON object".into())),
            );
        };
        Envelope::from_map(m)
    }

    fn failed(id: Option<Value>, e: Error) -> Envelope {
        Envelope {
            id,
            context: Context::default(),
            request: Err(e),
        }
    }

    /// Reads a request from a JSON object.
    pub fn from_map(mut m: serde_json::Map<String, Value>) -> Envelope {
        let id = m.remove("id");
        if let Some(v) = m.remove("v")
            && let Err(e) = check_version(&v)
        {
            return Envelope::failed(id, e);
        }
        // `"progress": true` (an acknowledgement and progress before the reply) is read from
        // the line itself by the daemon's socket (`api::handle_acked`); here it is dropped
        m.remove("progress");
        let mut ctx = serde_json::Map::new();
        for k in ["config", "project", "socket", "cwd", "env"] {
            if let Some(v) = m.remove(k) {
                ctx.insert(k.into(), v);
            }
        }
        let session = m.remove("session");
        let request = Envelope::request(&mut m);
        // the seed's API names the project `session`, at the top or in the params
        let session = session.or_else(|| match (&request, m.get_mut("params")) {
            (Ok(name), Some(Value::Object(p))) if !Request::has_session_param(name) => p.remove("session"),
            _ => None,
        });
        if let Some(s) = session
            && !ctx.contains_key("project")
        {
            ctx.insert("project".into(), s);
        }
        let context = match serde_json::from_value::<Context>(Value::Object(ctx)) {
            Ok(c) => c,
            Err(e) => {
                return Envelope::failed(
                    id,
                    Error::usage(format!("bad request context: {e}"))
                        .hint("config and cwd are paths, project and socket names, env an object of strings"),
                );
            }
        };
        let request = request.and_then(|name| Envelope::decode(&name, m));
        Envelope { id, context, request }
    }

    /// The command's name, checked; what is left of `m` is `command` and `params`.
    fn request(m: &mut serde_json::Map<String, Value>) -> Result<String, Error> {
        let Some(Value::String(command)) = m.get("command").cloned() else {
            return Err(Error::from(Kind::BadRequest(
                "a request needs \"command\": a string".into(),
            )));
        };
        if let Some(k) = m.keys().find(|k| !ENVELOPE_KEYS.contains(&k.as_str())) {
            return Err(Error::from(Kind::BadRequest(format!("unknown request field '{k}'")))
                .hint(format!("a request has {}", ENVELOPE_KEYS.join(", "))));
        }
        let command = if command == "list_projects" {
            "daemon_list".to_string()
        } else {
            command
        };
        if !Request::COMMANDS.contains(&command.as_str()) {
            return Err(
                Error::from(Kind::UnknownCommand(format!("Unknown command '{command}'")))
                    .hint(format!("commands: {}", Request::COMMANDS.join(", "))),
            );
        }
        Ok(command)
    }

    fn decode(command: &str, mut m: serde_json::Map<String, Value>) -> Result<Request, Error> {
        let params = m.remove("params").unwrap_or(Value::Null);
        let mut obj = serde_json::Map::new();
        obj.insert("command".into(), Value::String(command.to_string()));
        // a command without params takes none; one with params may leave them out
        let unit = Request::is_unit(command);
        match params {
            Value::Null if unit => {}
            Value::Object(p) if unit && p.is_empty() => {}
            Value::Null => {
                obj.insert("params".into(), Value::Object(Default::default()));
            }
            p => {
                obj.insert("params".into(), p);
            }
        }
        serde_json::from_value(Value::Object(obj))
            .map_err(|e| Error::from(Kind::Usage(format!("bad params for '{command}': {e}"))))
    }
}

/// E506 unless `v` is a version this side speaks.
fn check_version(v: &Value) -> Result<(), Error> {
    match v.as_u64() {
        Some(n) if PROTOCOLS.contains(&(n as u32)) => Ok(()),
        _ => Err(Error::from(Kind::Version {
            ours: PROTOCOLS.to_vec(),
            theirs: v.as_u64().map_or(0, |n| n.min(u32::MAX as u64) as u32),
            who: "the request".into(),
        })),
    }
}

/// A request as a front sends it: `{"command", "params", "v", …context}`.
pub fn envelope(req: &Request, context: &Context, id: Option<Value>, progress: bool) -> Value {
    let mut v = serde_json::to_value(req).unwrap_or_default();
    if let Value::Object(m) = &mut v {
        m.insert("v".into(), Value::from(PROTOCOL));
        if let Ok(Value::Object(c)) = serde_json::to_value(context) {
            m.extend(c);
        }
        if let Some(id) = id {
            m.insert("id".into(), id);
        }
        if progress {
            m.insert("progress".into(), Value::Bool(true));
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_without_params_is_its_command_alone() {
        let text = |r: Request| serde_json::to_string(&r).unwrap();
        assert_eq!(text(Request::Ping), r#"{"command":"ping"}"#);
        assert_eq!(text(Request::DaemonStatus), r#"{"command":"daemon_status"}"#);
    }

    #[test]
    fn wire_format() {
        let e = Envelope::parse(r#"{"command": "restart", "params": {"task": "web"}, "id": 7}"#);
        assert_eq!(e.id, Some(Value::from(7)));
        assert_eq!(
            e.request.expect("valid"),
            Request::Restart(TasksParams {
                task: Some("web".into()),
                ..Default::default()
            })
        );
        assert_eq!(
            Envelope::parse(r#"{"command": "status"}"#).request.expect("valid"),
            Request::Status
        );
        assert_eq!(
            Envelope::parse(r#"{"command": "stop"}"#).request.expect("valid"),
            Request::Stop(TasksParams::default())
        );
        let bad = Envelope::parse(r#"{"command": "bogus", "id": "x"}"#);
        assert_eq!(
            (bad.id, bad.request.expect_err("unknown").code()),
            (Some("x".into()), "E501")
        );
        assert_eq!(Envelope::parse("{").request.expect_err("json").code(), "E502");
        assert_eq!(Envelope::parse("[1]").request.expect_err("object").code(), "E502");
        let e = Envelope::parse(r#"{"command": "kill", "params": {"tsk": "a"}, "id": 1}"#);
        assert_eq!(e.request.expect_err("params").code(), "E500");
        for c in Request::COMMANDS {
            let line = format!(r#"{{"command": "{c}"}}"#);
            let r = Envelope::parse(&line).request;
            assert!(r.is_ok() || r.as_ref().is_err_and(|e| e.code() == "E500"), "{c}: {r:?}");
        }
    }
}
