//! The MCP tools: one table says each tool's arguments once; the input schemas `tools/list`
//! shows, the checks a `tools/call` gets and the [`Request`] it becomes are all made from it.
//! A tool's result is the JSON `--json` prints for the same command.

use super::Revision;
use crate::ctx::Ctx;
use crate::logs::{self, Query, Source};
use crate::ops::{self, Request, Response};
use serde_json::{Map, Value, json};
use std::path::PathBuf;

/// The type of one argument, as its JSON Schema says it.
#[derive(Debug, Clone, Copy)]
enum Ty {
    /// A string.
    Str,
    /// An array of strings.
    Strings,
    /// An array of at least one string: a command's argv.
    Argv,
    /// true or false.
    Bool,
    /// An integer from 0 to the bound.
    Count(u64),
    /// An object of string values: environment variables.
    Env,
}

/// One argument of a tool.
#[derive(Debug, Clone, Copy)]
struct Arg {
    name: &'static str,
    ty: Ty,
    required: bool,
    help: &'static str,
}

const fn arg(name: &'static str, ty: Ty, help: &'static str) -> Arg {
    Arg {
        name,
        ty,
        required: false,
        help,
    }
}

const fn required(name: &'static str, ty: Ty, help: &'static str) -> Arg {
    Arg {
        name,
        ty,
        required: true,
        help,
    }
}

/// How a tool changes the world, for the client's annotations.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Effect {
    /// Reads only.
    Reads,
    /// Changes the project, the same way each time it is repeated.
    Converges,
    /// Runs something new each time.
    Runs,
}

/// One tool.
#[derive(Debug)]
pub struct Tool {
    /// Its name in `tools/call`.
    pub name: &'static str,
    title: &'static str,
    description: &'static str,
    args: &'static [Arg],
    effect: Effect,
}

/// The most lines of output `run_job` returns.
const MAX_TAIL: u64 = 10_000;
/// The lines of output `run_job` returns when `tail` is not given.
const DEFAULT_TAIL: usize = 50;
/// The largest count a `lines` or `context` argument takes.
const MAX_COUNT: u64 = 100_000_000;

const TASK: Arg = arg("task", Ty::Str, "one task, by its name in taskmux.toml");
const TASKS: Arg = arg("tasks", Ty::Strings, "several tasks, by name");

/// Every tool `taskmux mcp` serves.
pub const TOOLS: &[Tool] = &[
    Tool {
        name: "status",
        title: "Task status",
        description: "Every task of the project: state (running, starting, unhealthy, stopped, exited, backoff), \
                      health, pid, port, URL, restarts, exit code. The JSON of 'taskmux status --json'.",
        args: &[],
        effect: Effect::Reads,
    },
    Tool {
        name: "start",
        title: "Start tasks",
        description: "Start tasks in their tmux windows. No task named: every auto_start task, in dependency \
                      order, each gated on its dependencies' health. Idempotent: a running task is reported \
                      as already running. The JSON of 'taskmux start --json'.",
        args: &[
            TASK,
            TASKS,
            arg(
                "wait",
                Ty::Bool,
                "return only once every started task is healthy, else fail with the reason",
            ),
        ],
        effect: Effect::Converges,
    },
    Tool {
        name: "stop",
        title: "Stop tasks",
        description: "Stop tasks: Ctrl-C, then SIGTERM to the process group, then SIGKILL; returns once no \
                      process of the task is left, and marks it manually stopped. No task named: the whole \
                      project. The JSON of 'taskmux stop --json'.",
        args: &[TASK, TASKS],
        effect: Effect::Converges,
    },
    Tool {
        name: "restart",
        title: "Restart tasks",
        description: "Stop then start tasks in the same windows (all of them when none is named). \
                      The JSON of 'taskmux restart --json'.",
        args: &[TASK, TASKS],
        effect: Effect::Converges,
    },
    Tool {
        name: "logs",
        title: "Task output",
        description: "Timestamped output lines from the log files (they outlive the session). One task, or \
                      every task interleaved by time. Default: the last 100 lines; with grep or since, every \
                      matching line unless lines is given. The JSON of 'taskmux logs --json'.",
        args: &[
            arg("task", Ty::Str, "one task (default: every task, interleaved by time)"),
            arg(
                "lines",
                Ty::Count(MAX_COUNT),
                "only the last N lines (default 100, or all with grep or since)",
            ),
            arg(
                "grep",
                Ty::Str,
                "a case-insensitive regular expression the lines must match",
            ),
            arg(
                "context",
                Ty::Count(MAX_COUNT),
                "with grep: lines of context around each match",
            ),
            arg(
                "since",
                Ty::Str,
                "only lines since a time: 30s, 5m, 1h30m, 2d or an ISO time",
            ),
        ],
        effect: Effect::Reads,
    },
    Tool {
        name: "inspect",
        title: "Inspect a task",
        description: "Everything about one task: its status fields plus health check, log file, tmux window \
                      and pane, the pane's current command and directory, environment names. The JSON of \
                      'taskmux inspect TASK --json'.",
        args: &[required("task", Ty::Str, "the task")],
        effect: Effect::Reads,
    },
    Tool {
        name: "health",
        title: "Probe health",
        description: "Probe every task's health now (http, tcp, shell or process). The JSON of \
                      'taskmux health --json'.",
        args: &[],
        effect: Effect::Reads,
    },
    Tool {
        name: "events",
        title: "Lifecycle events",
        description: "The project's lifecycle events (starts, stops, exits, restarts, health changes, jobs), \
                      oldest first. The JSON of 'taskmux events --json'.",
        args: &[
            arg("task", Ty::Str, "only this task's events"),
            arg(
                "since",
                Ty::Str,
                "only events since a time: 30s, 5m, 1h30m, 2d or an ISO time",
            ),
            arg("lines", Ty::Count(MAX_COUNT), "only the last N events"),
            arg("all_projects", Ty::Bool, "every project's events, not only this one's"),
        ],
        effect: Effect::Reads,
    },
    Tool {
        name: "doctor",
        title: "Check the set-up",
        description: "Check every layer from tmux to the URLs: tmux, the config, the daemon, its units, \
                      certificates, trust, name resolution, the proxy, ports, orphans, log space; each \
                      check ok, warn or fail, with the fix. The JSON of 'taskmux doctor --json'.",
        args: &[],
        effect: Effect::Reads,
    },
    Tool {
        name: "register",
        title: "Register the project",
        description: "Register the project with the daemon, so it keeps its tasks up (restarts, heal after \
                      a crash or a reboot). The JSON of 'taskmux daemon register --json'.",
        args: &[arg(
            "force",
            Ty::Bool,
            "take the name over from another config registered under it",
        )],
        effect: Effect::Converges,
    },
    Tool {
        name: "run_job",
        title: "Run a job",
        description: "Run a one-off command (tests, a build, a migration) in a job window of the project's \
                      tmux session and wait for it to end, like 'taskmux-run --wait'. Returns the JobRef with \
                      exit_code and output, the last lines it printed. The command is argv: no shell runs \
                      unless you name one ([\"sh\", \"-c\", \"...\"]). A failed job's window stays open to look at.",
        args: &[
            required(
                "argv",
                Ty::Argv,
                "the command and its arguments, e.g. [\"cargo\", \"test\"]",
            ),
            arg("tag", Ty::Str, "the window's tag (default: the command's basename)"),
            arg(
                "cwd",
                Ty::Str,
                "working directory (default, and the base of a relative one: where the server runs, the project's directory with --session)",
            ),
            arg("env", Ty::Env, "extra environment variables"),
            arg(
                "tail",
                Ty::Count(MAX_TAIL),
                "how many of the last output lines to return (default 50)",
            ),
            arg(
                "log_file",
                Ty::Str,
                "also keep the whole output, timestamped, in this file",
            ),
            arg("keep", Ty::Bool, "keep the job's window after success too"),
        ],
        effect: Effect::Runs,
    },
];

impl Ty {
    fn schema(self) -> Value {
        match self {
            Ty::Str => json!({"type": "string"}),
            Ty::Strings => json!({"type": "array", "items": {"type": "string"}}),
            Ty::Argv => json!({"type": "array", "items": {"type": "string"}, "minItems": 1}),
            Ty::Bool => json!({"type": "boolean"}),
            Ty::Count(max) => json!({"type": "integer", "minimum": 0, "maximum": max}),
            Ty::Env => json!({"type": "object", "additionalProperties": {"type": "string"}}),
        }
    }

    /// Why `v` is not of this type, if it is not.
    fn check(self, v: &Value) -> Option<String> {
        let strings = |v: &Value| v.as_array().is_some_and(|a| a.iter().all(Value::is_string));
        match self {
            Ty::Str if v.is_string() => None,
            Ty::Str => Some("must be a string".into()),
            Ty::Strings if strings(v) => None,
            Ty::Strings => Some("must be an array of strings".into()),
            Ty::Argv if strings(v) && v.as_array().is_some_and(|a| !a.is_empty()) => None,
            Ty::Argv => Some("must be a non-empty array of strings: the command and its arguments".into()),
            Ty::Bool if v.is_boolean() => None,
            Ty::Bool => Some("must be true or false".into()),
            Ty::Count(max) => match v.as_u64() {
                Some(n) if n <= max => None,
                _ => Some(format!("must be an integer from 0 to {max}")),
            },
            Ty::Env if v.as_object().is_some_and(|m| m.values().all(Value::is_string)) => None,
            Ty::Env => Some("must be an object of string values, e.g. {\"RUST_LOG\": \"debug\"}".into()),
        }
    }
}

impl Tool {
    /// The tool as `tools/list` shows it under `revision`: `annotations` from 2025-03-26,
    /// `title` from 2025-06-18.
    pub fn listing(&self, revision: Revision) -> Value {
        let mut props = Map::new();
        for a in self.args {
            let mut s = a.ty.schema();
            s["description"] = a.help.into();
            props.insert(a.name.into(), s);
        }
        let required: Vec<&str> = self.args.iter().filter(|a| a.required).map(|a| a.name).collect();
        let mut schema = json!({"type": "object", "properties": props, "additionalProperties": false});
        if !required.is_empty() {
            schema["required"] = json!(required);
        }
        let mut tool = json!({"name": self.name, "description": self.description, "inputSchema": schema});
        if revision.titles_and_structured_content() {
            tool["title"] = json!(self.title);
        }
        if revision.annotations() {
            tool["annotations"] = json!({
                "title": self.title,
                "readOnlyHint": self.effect == Effect::Reads,
                "destructiveHint": self.effect != Effect::Reads,
                "idempotentHint": self.effect != Effect::Runs,
                "openWorldHint": false,
            });
        }
        tool
    }

    /// The arguments, checked against the table: an object (or nothing), no unknown name,
    /// every value of its type, every required one there. The error says which and why.
    fn check(&self, arguments: Option<&Value>) -> Result<Map<String, Value>, String> {
        let args = match arguments {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(other) => {
                return Err(format!(
                    "the arguments of tool '{}' must be a JSON object, got {}",
                    self.name,
                    kind_of(other)
                ));
            }
        };
        for (k, v) in &args {
            let Some(a) = self.args.iter().find(|a| a.name == k) else {
                let known: Vec<&str> = self.args.iter().map(|a| a.name).collect();
                return Err(if known.is_empty() {
                    format!("tool '{}' takes no arguments, got '{k}'", self.name)
                } else {
                    format!(
                        "tool '{}' has no argument '{k}'; it takes: {}",
                        self.name,
                        known.join(", ")
                    )
                });
            };
            if let Some(why) = a.ty.check(v) {
                return Err(format!(
                    "argument '{k}' of tool '{}' {why}, got {}",
                    self.name,
                    kind_of(v)
                ));
            }
        }
        if let Some(a) = self.args.iter().find(|a| a.required && !args.contains_key(a.name)) {
            return Err(format!(
                "tool '{}' needs the argument '{}': {}",
                self.name, a.name, a.help
            ));
        }
        Ok(args)
    }
}

/// What a JSON value is, for an error message.
fn kind_of(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if s.chars().count() > 40 => "a string".into(),
        Value::String(s) => format!("{s:?}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// The tool of this name.
pub fn find(name: &str) -> Option<&'static Tool> {
    TOOLS.iter().find(|t| t.name == name)
}

/// Where `run_job` keeps the output it returns, when the caller asked for no log file: a
/// file of its own under the state directory, removed once read.
fn scratch_log(ctx: &Ctx) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    ctx.home
        .join("mcp")
        .join(format!("job-{}-{n}-{nanos}.log", std::process::id()))
}

/// A checked `run_job` call as the `run` request, waiting; and the log it reads the output
/// from, with whether that log is a scratch file.
fn run_request(ctx: &Ctx, mut args: Map<String, Value>) -> Result<(Value, PathBuf, bool), String> {
    args.remove("tail");
    let scratch = !args.contains_key("log_file");
    if ctx.remote.is_some() {
        // on another machine (`mcp --host`) a job's log is there: no output is read back
        if let Some(Value::Object(env)) = args.remove("env") {
            let pairs: Vec<Value> = env.into_iter().map(|(k, v)| json!([k, v])).collect();
            args.insert("env".into(), Value::Array(pairs));
        }
        args.insert("wait".into(), Value::Bool(true));
        return Ok((json!({"command": "run", "params": args}), PathBuf::new(), false));
    }
    let log = match args.get("log_file").and_then(Value::as_str) {
        Some(l) => std::path::absolute(ctx.cwd.join(l)).unwrap_or_else(|_| ctx.cwd.join(l)),
        None => scratch_log(ctx),
    };
    if let Some(Value::Object(env)) = args.remove("env") {
        let pairs: Vec<Value> = env.into_iter().map(|(k, v)| json!([k, v])).collect();
        args.insert("env".into(), Value::Array(pairs));
    }
    args.insert("log_file".into(), json!(log));
    args.insert("wait".into(), Value::Bool(true));
    Ok((json!({"command": "run", "params": args}), log, scratch))
}

/// The last `n` lines a job printed, from its log: the timestamps and escape codes taken
/// off, and the wrapper's own `[exited N]` left out (the result has the code).
fn output_tail(log: &std::path::Path, n: usize, code: Option<i32>) -> Vec<String> {
    let source = Source {
        task: "job".into(),
        path: log.to_path_buf(),
        index: None,
    };
    let q = Query {
        tail: Some(n + 1),
        ..Query::default()
    };
    let mut lines: Vec<String> = logs::read(&[source], &q)
        .unwrap_or_default()
        .iter()
        .map(|l| {
            let text = match crate::time::parse_log_stamp(l.raw.as_bytes()) {
                Some((_, end)) => l.raw.get(end..).unwrap_or_default(),
                None => l.raw.as_str(),
            };
            logs::strip_ansi(text)
        })
        .collect();
    if let Some(c) = code
        && lines.last().is_some_and(|l| *l == format!("[exited {c}]"))
    {
        lines.pop();
    }
    let extra = lines.len().saturating_sub(n);
    lines.drain(..extra);
    lines
}

/// Removes a scratch log and its rotated files.
fn remove_log(log: &std::path::Path) {
    let _ = std::fs::remove_file(log);
    for i in 1..=3 {
        let mut p = log.as_os_str().to_owned();
        p.push(format!(".{i}"));
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

/// Runs a tool: its arguments checked (an error here is the caller's: a JSON-RPC invalid
/// params), its request handled, and its `--json` object with whether it failed.
pub fn call(ctx: &Ctx, tool: &Tool, arguments: Option<&Value>) -> Result<(Value, bool), String> {
    let args = tool.check(arguments)?;
    let tail = args
        .get("tail")
        .and_then(Value::as_u64)
        .map_or(DEFAULT_TAIL, |n| n as usize);
    let (wire, job_log) = match tool.name {
        "status" | "health" => (json!({"command": tool.name}), None),
        "doctor" => (json!({"command": "doctor", "params": {}}), None),
        "run_job" => {
            let (wire, log, scratch) = run_request(ctx, args)?;
            (wire, Some((log, scratch)))
        }
        name => (json!({"command": name, "params": args}), None),
    };
    let req: Request =
        serde_json::from_value(wire).map_err(|e| format!("bad arguments for tool '{}': {e}", tool.name))?;
    let resp = match req.allowed_from(ops::Front::Mcp) {
        Ok(()) => ops::handle(ctx, req),
        Err(e) => Response::Error(e),
    };
    let failed = !resp.ok();
    let mut v = match &resp {
        Response::Error(e) => e.to_json(),
        r => serde_json::to_value(r).unwrap_or_else(
            |e| json!({"ok": false, "code": "E900", "error": format!("cannot encode the result: {e}")}),
        ),
    };
    if let Some((log, scratch)) = job_log {
        if let Response::Run(job) = &resp
            && !log.as_os_str().is_empty()
        {
            v["output"] = json!(output_tail(&log, tail, job.exit_code));
            if scratch {
                v["log_file"] = Value::Null;
            }
        }
        if scratch {
            remove_log(&log);
        }
    }
    Ok((v, failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_has_a_strict_schema() {
        let names: Vec<&str> = TOOLS.iter().map(|t| t.name).collect();
        assert_eq!(
            names,
            [
                "status", "start", "stop", "restart", "logs", "inspect", "health", "events", "doctor", "register",
                "run_job"
            ]
        );
        for t in TOOLS {
            let l = t.listing(Revision::NEWEST);
            assert_eq!(l["inputSchema"]["type"], "object", "{l}");
            assert_eq!(l["inputSchema"]["additionalProperties"], false, "{l}");
            assert!(
                l["title"].is_string() && l["annotations"]["readOnlyHint"].is_boolean(),
                "{l}"
            );
            // 2024-11-05 knows neither field
            let old = t.listing(Revision::V2024_11_05);
            let keys: Vec<&String> = old.as_object().expect("an object").keys().collect();
            assert_eq!(keys, ["name", "description", "inputSchema"], "{old}");
            assert_eq!(old["inputSchema"], l["inputSchema"]);
        }
        assert_eq!(
            find("inspect").map(|t| t.listing(Revision::NEWEST)["inputSchema"]["required"].clone()),
            Some(json!(["task"]))
        );
    }

    #[test]
    fn arguments_are_checked_against_the_table() {
        let logs = find("logs").expect("logs");
        assert!(
            logs.check(Some(&json!({"task": "api", "lines": 5, "grep": "x"})))
                .is_ok()
        );
        assert!(logs.check(None).is_ok());
        let err = logs.check(Some(&json!({"lines": "five"}))).expect_err("type");
        assert!(err.contains("'lines'") && err.contains("integer"), "{err}");
        assert!(logs.check(Some(&json!({"lines": -1}))).is_err());
        let err = logs.check(Some(&json!({"bogus": 1}))).expect_err("unknown");
        assert!(err.contains("'bogus'") && err.contains("grep"), "{err}");
        assert!(logs.check(Some(&json!([1]))).is_err());
        let inspect = find("inspect").expect("inspect");
        assert!(
            inspect
                .check(Some(&json!({})))
                .expect_err("required")
                .contains("'task'")
        );
        let status = find("status").expect("status");
        assert!(
            status
                .check(Some(&json!({"x": 1})))
                .expect_err("none")
                .contains("no arguments")
        );
        let run = find("run_job").expect("run_job");
        assert!(run.check(Some(&json!({"argv": []}))).is_err());
        assert!(run.check(Some(&json!({"argv": ["true"], "env": {"A": 1}}))).is_err());
        assert!(
            run.check(Some(&json!({"argv": ["true"], "env": {"A": "1"}, "tail": 3})))
                .is_ok()
        );
    }

    #[test]
    fn tool_arguments_make_requests() {
        // every tool's full set of arguments deserializes into its request
        for t in TOOLS.iter().filter(|t| t.name != "run_job") {
            let mut args = Map::new();
            for a in t.args {
                let v = match a.ty {
                    Ty::Str => json!("x"),
                    Ty::Strings | Ty::Argv => json!(["x"]),
                    Ty::Bool => json!(true),
                    Ty::Count(_) => json!(1),
                    Ty::Env => json!({"K": "V"}),
                };
                args.insert(a.name.into(), v);
            }
            let wire = match t.name {
                "status" | "health" => json!({"command": t.name}),
                n => json!({"command": n, "params": args}),
            };
            let r: Result<Request, _> = serde_json::from_value(wire);
            assert!(r.is_ok(), "{}: {r:?}", t.name);
        }
    }
}
