//! `taskmux mcp`: the Model Context Protocol server on stdio, a front like the CLI. One
//! JSON-RPC 2.0 message a line on stdin, one reply a line on stdout, diagnostics on stderr
//! only. It answers the lifecycle (`initialize`, `ping`) and the tools (`tools/list`,
//! `tools/call`); a tool call becomes an [`crate::ops::Request`] through [`tools`], and its
//! result carries the JSON `--json` prints, as text and as structured content.

mod tools;

pub use tools::{TOOLS, Tool};

use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::registry::Registry;
use serde_json::{Value, json};
use std::io::{BufRead, Read, Write};

/// The protocol revisions this server speaks, newest first. A client asking for one gets
/// it back; any other gets the newest.
pub const PROTOCOL_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// The largest message read; a longer line is refused (and skipped) whole.
const MAX_LINE: usize = 16 << 20;

/// JSON-RPC error codes.
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;
const INTERNAL_ERROR: i64 = -32603;

/// What the server tells the agent about itself at `initialize`.
const INSTRUCTIONS: &str = "taskmux runs this project's long-running dev processes (servers, watchers, \
    databases) in tmux, as defined in taskmux.toml. Use status to see every task, start/stop/restart to \
    change them, logs and inspect to see why one fails, and run_job for one-off commands (tests, builds, \
    migrations) instead of running them in the background yourself. Every result is the JSON of the \
    taskmux CLI's --json.";

/// The context the server runs in: `ctx` as the front built it, or with `session`, the
/// project registered under that name (`registry.json`): its config, its directory and its
/// tmux server, unless `-L` named one. An unknown name is an error before anything is served.
pub fn scope(mut ctx: Ctx, session: Option<&str>, socket_given: bool) -> Result<Ctx> {
    let Some(name) = session else {
        return Ok(ctx);
    };
    if ctx.config.is_some() {
        return Err(Error::usage("--session and -c both name the project: give one of them"));
    }
    let reg = Registry::load(&ctx.home)?;
    let Some(entry) = reg.get(name) else {
        let known: Vec<&str> = reg.projects.keys().map(String::as_str).collect();
        let hint = if known.is_empty() {
            "no project is registered: start one with 'taskmux start' in its directory, or leave \
             --session out to serve the project of the current directory"
                .to_string()
        } else {
            format!("the registered projects: {}", known.join(", "))
        };
        return Err(Error::usage(format!(
            "--session {name:?}: no project of that name in {}",
            Registry::path(&ctx.home).display()
        ))
        .hint(hint));
    };
    if let Some(dir) = entry.config_path.parent() {
        ctx.cwd = dir.to_path_buf();
    }
    ctx.config = Some(entry.config_path.clone());
    if !socket_given {
        ctx.tmux.socket = entry.tmux_socket.clone();
    }
    Ok(ctx)
}

/// Serves until stdin ends (or stdout closes): exit code 0.
pub fn serve(ctx: &Ctx) -> Result<u8> {
    let mut log = std::io::stderr();
    let _ = writeln!(
        log,
        "taskmux mcp {}: serving {} on stdio",
        env!("CARGO_PKG_VERSION"),
        match (&ctx.remote, &ctx.config) {
            (Some(r), _) => format!("{} over ssh", r.name),
            (None, Some(c)) => c.display().to_string(),
            (None, None) => format!("the project of {}", ctx.cwd.display()),
        }
    );
    serve_on(ctx, std::io::stdin().lock(), std::io::stdout().lock());
    Ok(0)
}

/// The loop on any pair of streams.
pub fn serve_on(ctx: &Ctx, mut input: impl BufRead, mut output: impl Write) {
    let server = Server;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match (&mut input).take(MAX_LINE as u64 + 1).read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
        let reply = if buf.len() > MAX_LINE && !buf.ends_with(b"\n") {
            if skip_line(&mut input).is_err() {
                break;
            }
            Some(error(Value::Null, PARSE_ERROR, "message too large (over 16 MiB)", None))
        } else {
            match std::str::from_utf8(&buf) {
                Ok(line) if line.trim().is_empty() => None,
                Ok(line) => server.message(ctx, line),
                Err(_) => Some(error(
                    Value::Null,
                    PARSE_ERROR,
                    "Parse error: a message must be UTF-8",
                    None,
                )),
            }
        };
        if let Some(r) = reply
            && writeln!(output, "{r}").and_then(|_| output.flush()).is_err()
        {
            break;
        }
    }
}

/// Reads and drops the rest of an over-long line.
fn skip_line(input: &mut impl BufRead) -> std::io::Result<()> {
    loop {
        let chunk = input.fill_buf()?;
        if chunk.is_empty() {
            return Ok(());
        }
        match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => {
                input.consume(i + 1);
                return Ok(());
            }
            None => {
                let n = chunk.len();
                input.consume(n);
            }
        }
    }
}

/// A JSON-RPC error reply.
fn error(id: Value, code: i64, message: &str, data: Option<Value>) -> Value {
    let mut e = json!({"code": code, "message": message});
    if let Some(d) = data {
        e["data"] = d;
    }
    json!({"jsonrpc": "2.0", "id": id, "error": e})
}

/// The server: stateless, since each request stands alone (the protocol revision agreed at
/// `initialize` changes nothing in what this server sends).
#[derive(Debug, Default)]
struct Server;

impl Server {
    /// The reply to one message; none for a notification or a response.
    fn message(&self, ctx: &Ctx, line: &str) -> Option<Value> {
        let v: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => return Some(error(Value::Null, PARSE_ERROR, &format!("Parse error: {e}"), None)),
        };
        let Value::Object(m) = v else {
            let what = if v.is_array() {
                "batches are not supported: send one message a line"
            } else {
                "a message must be a JSON object"
            };
            return Some(error(
                Value::Null,
                INVALID_REQUEST,
                &format!("Invalid Request: {what}"),
                None,
            ));
        };
        let id = m.get("id").cloned();
        if let Some(id) = &id
            && !(id.is_string() || id.is_number())
        {
            return Some(error(
                Value::Null,
                INVALID_REQUEST,
                "Invalid Request: id must be a string or a number",
                None,
            ));
        }
        let Some(method) = m.get("method") else {
            // a response to a request of ours (we send none), or nothing at all
            return match (&id, m.contains_key("result") || m.contains_key("error")) {
                (_, true) => None,
                (Some(id), false) => Some(error(id.clone(), INVALID_REQUEST, "Invalid Request: no method", None)),
                (None, false) => Some(error(Value::Null, INVALID_REQUEST, "Invalid Request: no method", None)),
            };
        };
        let bad = |why: &str| error(id.clone().unwrap_or(Value::Null), INVALID_REQUEST, why, None);
        if m.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return Some(bad("Invalid Request: \"jsonrpc\" must be \"2.0\""));
        }
        let Some(method) = method.as_str() else {
            return Some(bad("Invalid Request: method must be a string"));
        };
        let params = m.get("params");
        let Some(id) = id else {
            // a notification: never answered (initialized, cancelled, progress…)
            return None;
        };
        let result = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.request(ctx, method, params)))
        {
            Ok(r) => r,
            Err(_) => Err((
                INTERNAL_ERROR,
                format!("internal error in {method}: a bug in taskmux"),
                None,
            )),
        };
        Some(match result {
            Ok(r) => json!({"jsonrpc": "2.0", "id": id, "result": r}),
            Err((code, msg, data)) => error(id, code, &msg, data),
        })
    }

    /// The result of one request, or its error: code, message, data.
    fn request(
        &self,
        ctx: &Ctx,
        method: &str,
        params: Option<&Value>,
    ) -> std::result::Result<Value, (i64, String, Option<Value>)> {
        let invalid = |msg: String| (INVALID_PARAMS, msg, None);
        if let Some(p) = params
            && !(p.is_object() || p.is_null())
        {
            return Err(invalid(format!("the params of {method} must be an object")));
        }
        let param = |k: &str| params.and_then(|p| p.get(k));
        match method {
            "initialize" => {
                let Some(asked) = param("protocolVersion").and_then(Value::as_str) else {
                    return Err(invalid("initialize needs params.protocolVersion, a string".into()));
                };
                let version = PROTOCOL_VERSIONS
                    .iter()
                    .find(|v| **v == asked)
                    .copied()
                    .unwrap_or(PROTOCOL_VERSIONS[0]);
                Ok(json!({
                    "protocolVersion": version,
                    "capabilities": {"tools": {}},
                    "serverInfo": {"name": "taskmux", "title": "taskmux", "version": env!("CARGO_PKG_VERSION")},
                    "instructions": INSTRUCTIONS,
                }))
            }
            "ping" => Ok(json!({})),
            "tools/list" => Ok(json!({"tools": TOOLS.iter().map(Tool::listing).collect::<Vec<_>>()})),
            "tools/call" => {
                let Some(name) = param("name").and_then(Value::as_str) else {
                    return Err(invalid("tools/call needs params.name, a string".into()));
                };
                let Some(tool) = tools::find(name) else {
                    let names: Vec<&str> = TOOLS.iter().map(|t| t.name).collect();
                    return Err((
                        INVALID_PARAMS,
                        format!("Unknown tool: '{name}'; the tools: {}", names.join(", ")),
                        None,
                    ));
                };
                let (v, failed) = tools::call(ctx, tool, param("arguments")).map_err(|msg| {
                    (
                        INVALID_PARAMS,
                        msg,
                        Some(json!({"tool": name, "inputSchema": tool.listing()["inputSchema"]})),
                    )
                })?;
                let structured = if v.is_object() { v.clone() } else { json!({"result": v}) };
                Ok(json!({
                    "content": [{"type": "text", "text": v.to_string()}],
                    "structuredContent": structured,
                    "isError": failed,
                }))
            }
            _ => Err((METHOD_NOT_FOUND, format!("Method not found: {method}"), None)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Ctx {
        let home = std::env::temp_dir().join(format!("tmx-mcp-unit-{}", std::process::id()));
        Ctx {
            tmux: crate::tmux::Tmux::new(Some("tmx-mcp-unit-never-started".into()), None, None),
            events: crate::events::EventLog::new(&home, crate::events::Limits::default()),
            config: None,
            cwd: home.join("nowhere"),
            home,
            env: Vec::new(),
            hook_timeout: std::time::Duration::from_secs(1),
            cancel: Default::default(),
            daemon: None,
            authority_held: false,
            local: false,
            remote: None,
        }
    }

    fn replies(input: &str) -> Vec<Value> {
        let mut out = Vec::new();
        serve_on(&ctx(), input.as_bytes(), &mut out);
        String::from_utf8(out)
            .expect("utf-8")
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }

    #[test]
    fn lifecycle_and_errors() {
        let r = replies(concat!(
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#,
            "\n",
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            "\n",
            r#"{"jsonrpc":"2.0","id":"p","method":"ping"}"#,
            "\n{oops\n\n[1,2]\n",
            r#"{"jsonrpc":"2.0","id":2,"method":"resources/list"}"#,
            "\n",
            r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"inspect","arguments":{}}}"#,
            "\n",
            r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"nope"}}"#,
            "\n",
            r#"{"jsonrpc":"2.0","id":5,"method":"initialize","params":{"protocolVersion":"1999-01-01"}}"#,
            "\n",
            r#"{"jsonrpc":"2.0","id":6,"result":{}}"#,
            "\n",
            r#"{"jsonrpc":"1.0","id":7,"method":"ping"}"#,
            "\n",
        ));
        assert_eq!(r.len(), 9, "{r:?}");
        assert_eq!(r[0]["result"]["protocolVersion"], "2025-06-18");
        assert_eq!(r[0]["result"]["capabilities"], json!({"tools": {}}));
        assert_eq!(r[0]["result"]["serverInfo"]["name"], "taskmux");
        assert_eq!(r[1], json!({"jsonrpc": "2.0", "id": "p", "result": {}}));
        assert_eq!(
            (r[2]["id"].clone(), r[2]["error"]["code"].clone()),
            (Value::Null, json!(-32700))
        );
        assert_eq!(r[3]["error"]["code"], -32600);
        assert_eq!(
            (r[4]["id"].clone(), r[4]["error"]["code"].clone()),
            (json!(2), json!(-32601))
        );
        assert_eq!(r[5]["error"]["code"], -32602);
        assert!(
            r[5]["error"]["message"].as_str().is_some_and(|m| m.contains("'task'")),
            "{}",
            r[5]
        );
        assert_eq!(r[6]["error"]["code"], -32602);
        assert_eq!(r[7]["result"]["protocolVersion"], PROTOCOL_VERSIONS[0]);
        assert_eq!(
            (r[8]["id"].clone(), r[8]["error"]["code"].clone()),
            (json!(7), json!(-32600))
        );
    }

    #[test]
    fn a_tool_failure_is_a_result_with_is_error() {
        let r = replies(concat!(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"logs","arguments":{"task":"ghost"}}}"#,
            "\n"
        ));
        let result = &r[0]["result"];
        assert_eq!(result["isError"], true, "{result}");
        assert_eq!(result["structuredContent"]["ok"], false, "{result}");
        let text: Value =
            serde_json::from_str(result["content"][0]["text"].as_str().expect("text")).expect("JSON text");
        assert_eq!(text, result["structuredContent"]);
    }
}
