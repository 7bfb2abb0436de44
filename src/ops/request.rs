//! [`Request`]: every operation as one serde enum, and [`Envelope`], a request as it comes
//! off the wire with its `id`.

use super::{AddParams, EventsParams, InitParams, JobsKillParams, JobsParams, JobsWaitParams, LogsParams};
use super::{RunParams, SendParams};
use crate::error::{Error, Kind};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One operation and its params: `{"command": "stop", "params": {"task": "web"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", content = "params", rename_all = "snake_case")]
pub enum Request {
    /// Liveness and protocol version.
    Ping,
    /// Start tasks (all `auto_start` ones in dependency order when none is named).
    Start(TasksParams),
    /// Stop tasks (all when none is named).
    Stop(TasksParams),
    /// Stop then start tasks in their windows.
    Restart(TasksParams),
    /// SIGKILL a task and destroy its window.
    Kill(TaskParams),
    /// Remove a task from the config, stopping it first.
    Remove(TaskParams),
    /// Every task's state.
    Status,
    /// Probe every task now.
    Health,
    /// Everything about one task.
    Inspect(TaskParams),
    /// Type text into a task's pane.
    Send(SendParams),
    /// Lines from the log files.
    Logs(LogsParams),
    /// Delete log files.
    LogsClean(OptTaskParams),
    /// Lifecycle events.
    Events(EventsParams),
    /// A task's https URL.
    Url(TaskParams),
    /// Run a job window (`taskmux-run`).
    Run(RunParams),
    /// List job windows.
    Jobs(JobsParams),
    /// Kill job windows.
    JobsKill(JobsKillParams),
    /// Wait for a job to end.
    JobsWait(JobsWaitParams),
    /// Create `taskmux.toml` and the agent context.
    Init(InitParams),
    /// Add a task to the config.
    Add(AddParams),
    /// Validate the config and lint the environment.
    Check,
    /// Make the running project follow the config on disk.
    Reload,
    /// Check every layer from tmux to the URL.
    Doctor(super::DoctorParams),
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

/// A request as it comes off the wire: the request, or why it could not be read, and the
/// `id` to echo when one could be read.
#[derive(Debug)]
pub struct Envelope {
    /// The client's `id`, echoed in the reply.
    pub id: Option<Value>,
    /// The request, or the error to reply with.
    pub request: Result<Request, Error>,
}

impl Envelope {
    /// Reads one JSON request line. A line that is not a JSON object, an unknown command and
    /// bad params are errors (E502, E501, E500) carrying the `id` where one could be read.
    pub fn parse(line: &str) -> Envelope {
        let v: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                return Envelope {
                    id: None,
                    request: Err(Error::from(Kind::BadRequest(format!("invalid JSON request: {e}")))
                        .hint("send one JSON object a line: {\"command\": \"status\", \"id\": 1}")),
                };
            }
        };
        let Value::Object(mut m) = v else {
            return Envelope {
                id: None,
                request: Err(Error::from(Kind::BadRequest("a request must be a JSON object".into()))),
            };
        };
        let id = m.remove("id");
        let request = Envelope::request(m);
        Envelope { id, request }
    }

    fn request(mut m: serde_json::Map<String, Value>) -> Result<Request, Error> {
        let Some(Value::String(command)) = m.get("command").cloned() else {
            return Err(Error::from(Kind::BadRequest(
                "a request needs \"command\": a string".into(),
            )));
        };
        if let Some(k) = m.keys().find(|k| !matches!(k.as_str(), "command" | "params")) {
            return Err(Error::from(Kind::BadRequest(format!("unknown request field '{k}'")))
                .hint("a request has \"command\", \"params\" and \"id\""));
        }
        let params = m.remove("params").unwrap_or(Value::Null);
        if !Request::COMMANDS.contains(&command.as_str()) {
            return Err(
                Error::from(Kind::UnknownCommand(format!("Unknown command '{command}'")))
                    .hint(format!("commands: {}", Request::COMMANDS.join(", "))),
            );
        }
        let mut obj = serde_json::Map::new();
        obj.insert("command".into(), Value::String(command.clone()));
        // a command without params takes none; one with params may leave them out
        let unit = Request::UNIT.contains(&command.as_str());
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

impl Request {
    /// Every command's name on the wire.
    pub const COMMANDS: &'static [&'static str] = &[
        "ping",
        "start",
        "stop",
        "restart",
        "kill",
        "remove",
        "status",
        "health",
        "inspect",
        "send",
        "logs",
        "logs_clean",
        "events",
        "url",
        "run",
        "jobs",
        "jobs_kill",
        "jobs_wait",
        "init",
        "add",
        "check",
        "reload",
        "doctor",
    ];

    /// The commands that take no params.
    const UNIT: &'static [&'static str] = &["ping", "status", "health", "check", "reload"];
}

#[cfg(test)]
mod tests {
    use super::*;

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
