//! `taskmux mcp`: the Model Context Protocol server on stdio, a front like the CLI. One
//! JSON-RPC 2.0 message a line on stdin, one reply a line on stdout, diagnostics on stderr
//! only. It answers the lifecycle (`initialize`, `ping`) and the tools (`tools/list`,
//! `tools/call`); a tool call becomes an [`crate::ops::Request`] through [`tools`], and its
//! result carries the JSON `--json` prints, as text and as structured content. What it
//! sends follows the protocol revision `initialize` agreed on ([`Revision`]).

mod revision;
mod tools;

pub use revision::Revision;
pub use tools::TOOLS;

use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::registry::Registry;
use serde_json::{Value, json};
use std::io::{BufRead, Write};

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
    let mut server = Server::default();
    let mut buf = Vec::new();
    loop {
        let read = match crate::lines::read_line(&mut input, &mut buf, MAX_LINE) {
            Ok(crate::lines::Read::End) | Err(_) => break,
            Ok(read) => read,
        };
        let reply = if read == crate::lines::Read::TooLong {
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

/// A JSON-RPC error reply.
fn error(id: Value, code: i64, message: &str, data: Option<Value>) -> Value {
    let mut e = json!({"code": code, "message": message});
    if let Some(d) = data {
        e["data"] = d;
    }
    json!({"jsonrpc": "2.0", "id": id, "error": e})
}

/// The server: the revision agreed at `initialize`, which decides what it sends; before
/// that, only `initialize` and `ping` are answered.
#[derive(Debug, Default)]
struct Server {
    revision: Option<Revision>,
}

/// A request's failure: the JSON-RPC error code, message and data.
type Failure = (i64, String, Option<Value>);

impl Server {
    /// The reply to one line: a message, or under a revision that has them a batch; none
    /// for a notification, a response, or a batch of those only.
    fn message(&mut self, ctx: &Ctx, line: &str) -> Option<Value> {
        let v: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => return Some(error(Value::Null, PARSE_ERROR, &format!("Parse error: {e}"), None)),
        };
        match v {
            Value::Object(m) => self.one(ctx, m, false),
            Value::Array(batch) => self.batch(ctx, batch),
            _ => Some(error(
                Value::Null,
                INVALID_REQUEST,
                "Invalid Request: a message must be a JSON object",
                None,
            )),
        }
    }

    /// A JSON-RPC batch: answered as an array of replies under 2025-03-26, the one revision
    /// that has batches; else one error saying why not.
    fn batch(&mut self, ctx: &Ctx, batch: Vec<Value>) -> Option<Value> {
        let refused = |why: String| {
            Some(error(
                Value::Null,
                INVALID_REQUEST,
                &format!("Invalid Request: {why}"),
                None,
            ))
        };
        match self.revision {
            Some(r) if r.batches() => {}
            Some(r) => {
                return refused(format!(
                    "protocol revision {} has no batches (only 2025-03-26 has): send one message a line",
                    r.name()
                ));
            }
            None => {
                return refused("a batch before initialize: send initialize alone first, one message a line".into());
            }
        }
        if batch.is_empty() {
            return refused("an empty batch".into());
        }
        let replies: Vec<Value> = batch
            .into_iter()
            .filter_map(|v| match v {
                Value::Object(m) => self.one(ctx, m, true),
                _ => Some(error(
                    Value::Null,
                    INVALID_REQUEST,
                    "Invalid Request: a message of a batch must be a JSON object",
                    None,
                )),
            })
            .collect();
        (!replies.is_empty()).then_some(Value::Array(replies))
    }

    /// The reply to one message (`in_batch`: one of a batch, where initialize may not be).
    fn one(&mut self, ctx: &Ctx, m: serde_json::Map<String, Value>, in_batch: bool) -> Option<Value> {
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
        if in_batch && method == "initialize" {
            return Some(bad("Invalid Request: initialize may not be part of a batch"));
        }
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

    /// The result of one request, or its error.
    fn request(&mut self, ctx: &Ctx, method: &str, params: Option<&Value>) -> std::result::Result<Value, Failure> {
        let invalid = |msg: String| (INVALID_PARAMS, msg, None);
        if let Some(p) = params
            && !(p.is_object() || p.is_null())
        {
            return Err(invalid(format!("the params of {method} must be an object")));
        }
        let param = |k: &str| params.and_then(|p| p.get(k));
        let known = matches!(method, "initialize" | "ping" | "tools/list" | "tools/call");
        let revision = match self.revision {
            Some(r) => r,
            // an unknown method is that, before initialize too
            None if !known || matches!(method, "initialize" | "ping") => Revision::NEWEST,
            None => {
                return Err((
                    INVALID_REQUEST,
                    format!(
                        "Invalid Request: {method} before initialize: the session begins with initialize \
                         (only ping is answered before it)"
                    ),
                    None,
                ));
            }
        };
        match method {
            "initialize" => {
                let Some(asked) = param("protocolVersion").and_then(Value::as_str) else {
                    return Err(invalid("initialize needs params.protocolVersion, a string".into()));
                };
                let revision = Revision::named(asked).unwrap_or(Revision::NEWEST);
                self.revision = Some(revision);
                let mut info = json!({"name": "taskmux", "version": env!("CARGO_PKG_VERSION")});
                if revision.titles_and_structured_content() {
                    info["title"] = json!("taskmux");
                }
                Ok(json!({
                    "protocolVersion": revision.name(),
                    "capabilities": {"tools": {}},
                    "serverInfo": info,
                    "instructions": INSTRUCTIONS,
                }))
            }
            "ping" => Ok(json!({})),
            "tools/list" => Ok(json!({"tools": TOOLS.iter().map(|t| t.listing(revision)).collect::<Vec<_>>()})),
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
                match tools::call(ctx, tool, param("arguments")) {
                    Ok((v, failed)) => Ok(tool_result(revision, v, failed)),
                    // SEP-1303: the model reads what was wrong, and can call again
                    Err(msg) if revision.input_errors_are_results() => {
                        let v = json!({"ok": false, "code": "E500", "error": msg,
                            "hint": format!("call '{name}' again with arguments that fit its inputSchema (tools/list)")});
                        Ok(tool_result(revision, v, true))
                    }
                    Err(msg) => Err((
                        INVALID_PARAMS,
                        msg,
                        Some(json!({"tool": name, "inputSchema": tool.listing(revision)["inputSchema"]})),
                    )),
                }
            }
            _ => Err((METHOD_NOT_FOUND, format!("Method not found: {method}"), None)),
        }
    }
}

/// A `tools/call` result: the `--json` object as text, and from 2025-06-18 on as
/// `structuredContent` too; `isError` when the request failed.
fn tool_result(revision: Revision, v: Value, failed: bool) -> Value {
    let mut r = json!({"content": [{"type": "text", "text": v.to_string()}], "isError": failed});
    if revision.titles_and_structured_content() {
        r["structuredContent"] = if v.is_object() { v } else { json!({"result": v}) };
    }
    r
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
    fn a_message_over_16_mib_is_a_parse_error_and_the_next_is_read() {
        let mut input = "x".repeat(MAX_LINE + 1);
        input.push('\n');
        input.push_str(r#"{"jsonrpc": "2.0", "id": 1, "method": "ping"}"#);
        input.push('\n');
        let r = replies(&input);
        assert_eq!(r.len(), 2, "{r:?}");
        assert_eq!(r[0]["error"]["code"], PARSE_ERROR, "{}", r[0]);
        assert_eq!(r[0]["error"]["message"], "message too large (over 16 MiB)", "{}", r[0]);
        assert_eq!(r[1]["id"], 1, "{}", r[1]);
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
        assert_eq!(r[7]["result"]["protocolVersion"], Revision::NEWEST.name());
        assert_eq!(
            (r[8]["id"].clone(), r[8]["error"]["code"].clone()),
            (json!(7), json!(-32600))
        );
    }

    /// `initialize` at `revision`, then `lines`, one message a line.
    fn session(revision: &str, lines: &[&str]) -> Vec<Value> {
        let init = format!(
            r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"{revision}","capabilities":{{}},"clientInfo":{{"name":"t","version":"1"}}}}}}"#
        );
        let input: String = std::iter::once(init.as_str())
            .chain(lines.iter().copied())
            .map(|l| format!("{l}\n"))
            .collect();
        let r = replies(&input);
        assert_eq!(r[0]["result"]["protocolVersion"], revision, "{r:?}");
        r[1..].to_vec()
    }

    const BAD_LINES: &str =
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"logs","arguments":{"lines":"five"}}}"#;

    #[test]
    fn a_tool_failure_is_a_result_with_is_error() {
        let r = session(
            "2025-11-25",
            &[
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"logs","arguments":{"task":"ghost"}}}"#,
            ],
        );
        let result = &r[0]["result"];
        assert_eq!(result["isError"], true, "{result}");
        assert_eq!(result["structuredContent"]["ok"], false, "{result}");
        let text: Value =
            serde_json::from_str(result["content"][0]["text"].as_str().expect("text")).expect("JSON text");
        assert_eq!(text, result["structuredContent"]);
    }

    #[test]
    fn nothing_but_ping_before_initialize() {
        let r = replies(concat!(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"status","arguments":{}}}"#,
            "\n",
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
            "\n",
            r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#,
            "\n",
            r#"{"jsonrpc":"2.0","id":4,"method":"server/discover"}"#,
            "\n",
        ));
        for e in &r[..2] {
            assert_eq!(e["error"]["code"], -32600, "{e}");
            assert!(
                e["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("before initialize")),
                "{e}"
            );
        }
        assert_eq!(r[2]["result"], json!({}));
        assert_eq!(r[3]["error"]["code"], -32601, "an unknown method is unknown: {}", r[3]);
    }

    #[test]
    fn input_errors_are_tool_results_from_2025_11_25() {
        let r = session("2025-11-25", &[BAD_LINES]);
        let result = &r[0]["result"];
        assert_eq!(result["isError"], true, "{result}");
        let sc = &result["structuredContent"];
        assert_eq!((&sc["ok"], &sc["code"]), (&json!(false), &json!("E500")), "{result}");
        assert!(
            sc["error"]
                .as_str()
                .is_some_and(|m| m.contains("'lines'") && m.contains("\"five\"")),
            "{result}"
        );
        assert!(
            sc["hint"].as_str().is_some_and(|h| h.contains("inputSchema")),
            "{result}"
        );
        let text: Value = serde_json::from_str(result["content"][0]["text"].as_str().expect("text")).expect("JSON");
        assert_eq!(&text, sc);
        // an unknown tool stays a protocol error
        let r = session(
            "2025-11-25",
            &[r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"bogus"}}"#],
        );
        assert_eq!(r[0]["error"]["code"], -32602, "{r:?}");
        for older in ["2025-06-18", "2025-03-26", "2024-11-05"] {
            let r = session(older, &[BAD_LINES]);
            assert_eq!(r[0]["error"]["code"], -32602, "{older}: {r:?}");
        }
    }

    #[test]
    fn batches_under_2025_03_26_only() {
        let batch = concat!(
            r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},"#,
            r#"{"jsonrpc":"2.0","method":"notifications/progress"},"#,
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"},"#,
            r#"{"jsonrpc":"2.0","id":3,"method":"initialize","params":{"protocolVersion":"2025-03-26"}},"#,
            r#"7]"#
        );
        let r = session(
            "2025-03-26",
            &[batch, "[]", r#"[{"jsonrpc":"2.0","method":"notifications/x"}]"#],
        );
        assert_eq!(r.len(), 2, "a batch of notifications gets no reply: {r:?}");
        let replies = r[0].as_array().expect("a batch's reply is an array");
        let ids: Vec<&Value> = replies.iter().map(|x| &x["id"]).collect();
        assert_eq!(ids, [&json!(1), &json!(2), &json!(3), &Value::Null], "{r:?}");
        assert_eq!(replies[0]["result"], json!({}));
        assert_eq!(replies[1]["result"]["tools"][0]["name"], "status");
        assert_eq!(replies[2]["error"]["code"], -32600, "initialize is never batched");
        assert_eq!(replies[3]["error"]["code"], -32600);
        assert_eq!(r[1]["error"]["code"], -32600, "an empty batch is invalid");
        for other in ["2025-11-25", "2025-06-18", "2024-11-05"] {
            let r = session(other, &[r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#]);
            assert_eq!(r[0]["error"]["code"], -32600, "{other}: {r:?}");
            assert!(
                r[0]["error"]["message"].as_str().is_some_and(|m| m.contains(other)),
                "{r:?}"
            );
        }
    }

    #[test]
    fn fields_follow_the_revision() {
        let list = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
        let call =
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"logs","arguments":{"task":"ghost"}}}"#;
        for (rev, annotations, titles) in [
            ("2024-11-05", false, false),
            ("2025-03-26", true, false),
            ("2025-06-18", true, true),
            ("2025-11-25", true, true),
        ] {
            let r = session(rev, &[list, call]);
            for t in r[0]["result"]["tools"].as_array().expect("tools") {
                assert_eq!(t.get("annotations").is_some(), annotations, "{rev}: {t}");
                assert_eq!(t.get("title").is_some(), titles, "{rev}: {t}");
            }
            let result = &r[1]["result"];
            assert_eq!(result.get("structuredContent").is_some(), titles, "{rev}: {result}");
            assert_eq!(result["isError"], true, "{rev}: {result}");
        }
        let info = &replies(concat!(
            r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2024-11-05"}}"#,
            "\n"
        ))[0]["result"]["serverInfo"];
        assert_eq!(info, &json!({"name": "taskmux", "version": env!("CARGO_PKG_VERSION")}));
    }
}
