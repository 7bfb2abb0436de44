//! `taskmux mcp`, the MCP server on stdio: the Python SDK's own stdio client lists its tools
//! and calls them (tests/mcp_client.py), it and the TypeScript SDK's client
//! (tests/mcp_client_ts.cjs) get what each protocol revision defines, the MCP Inspector's CLI
//! lists the tools, and raw JSON-RPC lines, malformed ones and batches too, get their replies
//! from a server that goes on; `--session` serves a registered project.

use crate::harness::{Env, bin, python, require, show, strings};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CONFIG: &str = "name = \"mcpproj\"\n\n[tasks.api]\ncommand = \"sleep 300\"\n";

/// A `taskmux mcp` child; Drop kills it if it still runs.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `taskmux ARGS` in `dir` with the Env's state directory, feeds it `input` and closes
/// its stdin; returns its exit code, its stdout as JSON lines, and its stderr.
fn serve(env: &Env, dir: &Path, args: &[&str], input: &str) -> (Option<i32>, Vec<Value>, String) {
    let child = env
        .bare(bin())
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("taskmux runs");
    let mut server = Server(child);
    let mut stdin = server.0.stdin.take().expect("stdin");
    // a server that failed at start has closed its stdin: that write may fail
    let _ = stdin.write_all(input.as_bytes());
    drop(stdin);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(st) = server.0.try_wait().expect("wait") {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "taskmux mcp did not exit at the end of its input"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let (mut out, mut err) = (String::new(), String::new());
    let _ = server.0.stdout.take().expect("stdout").read_to_string(&mut out);
    let _ = server.0.stderr.take().expect("stderr").read_to_string(&mut err);
    let lines = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l:?}\n{err}")))
        .collect();
    (status.code(), lines, err)
}

#[test]
fn python_sdk_lists_and_calls_the_tools() {
    let Some(env) = Env::with_tmux("mcp-sdk") else { return };
    let py = python();
    if !require("python mcp", &[&py, "-c", "import mcp"]) {
        return;
    }
    env.config(CONFIG);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp_client.py");
    let o = Command::new(&py)
        .arg(&script)
        .arg(bin())
        .arg(&env.socket)
        .arg(&env.home)
        .arg(&env.project)
        .current_dir(&env.root)
        .env_remove("TMUX")
        .env_remove("TMUX_PANE")
        .env_remove("TASKMUX_TMUX_SOCKET")
        .stdin(Stdio::null())
        .output()
        .expect("python runs");
    assert_eq!(o.status.code(), Some(0), "the MCP client failed: {}", show(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    let v: Value = serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {}", show(&o)));

    let init = &v["initialize"];
    assert_eq!(init["serverInfo"]["name"], "taskmux", "{init}");
    assert!(init["capabilities"]["tools"].is_object(), "{init}");

    let tools = v["tools"].as_array().expect("tools");
    let mut names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "doctor", "events", "health", "inspect", "logs", "register", "restart", "run_job", "start", "status",
            "stop"
        ]
    );
    for t in tools {
        let s = &t["inputSchema"];
        assert_eq!(s["type"], "object", "{t}");
        assert!(s["properties"].is_object(), "{t}");
        assert_eq!(s["additionalProperties"], false, "{t}");
    }
    let run = tools.iter().find(|t| t["name"] == "run_job").expect("run_job");
    assert_eq!(run["inputSchema"]["required"], json!(["argv"]), "{run}");

    // start and status: the JSON of --json, as structured content and as text
    let start = &v["start"];
    assert_eq!(start["isError"], false, "{start}");
    assert_eq!(start["structuredContent"]["ok"], true, "{start}");
    assert_eq!(strings(&start["structuredContent"]["tasks"]), ["api"], "{start}");
    let status = &v["status"];
    assert_eq!(status["isError"], false, "{status}");
    let sc = &status["structuredContent"];
    assert_eq!(sc["session"], "mcpproj", "{status}");
    assert_eq!(sc["tasks"][0]["name"], "api", "{status}");
    assert_eq!(sc["tasks"][0]["state"], "running", "{status}");
    let as_text: Value =
        serde_json::from_str(status["content"][0]["text"].as_str().expect("a text block")).expect("the text is JSON");
    assert_eq!(&as_text, sc, "{status}");
    let (cli, _) = env.json(&["status"]);
    assert_eq!(
        cli["tasks"][0]["pid"], sc["tasks"][0]["pid"],
        "the CLI's --json and MCP agree: {cli}"
    );

    // run_job: the exit code and the tail of the output
    let job = &v["run_job"];
    assert_eq!(job["isError"], false, "{job}");
    let sc = &job["structuredContent"];
    assert_eq!(sc["exit_code"], 3, "{job}");
    assert_eq!(strings(&sc["output"]), ["first line", "second line"], "{job}");
    assert_eq!(sc["tag"], "mcptest", "{job}");
    assert_eq!(sc["session"], "mcpproj", "{job}");

    // a tool that fails: a result with isError and the error JSON
    let ghost = &v["inspect_ghost"];
    assert_eq!(ghost["isError"], true, "{ghost}");
    assert_eq!(ghost["structuredContent"]["ok"], false, "{ghost}");
    assert_eq!(ghost["structuredContent"]["code"], "E200", "{ghost}");

    // arguments that do not fit the schema, under the SDK's own revision (2025-11-25 or
    // newer): a tool result the model reads (SEP-1303); an unknown tool: a JSON-RPC error;
    // and the server goes on
    assert_eq!(init["protocolVersion"], "2025-11-25", "{init}");
    for (case, needle) in [("invalid", "'lines'"), ("unknown_argument", "'verbose'")] {
        let r = &v[case]["returned"];
        assert_eq!(r["isError"], true, "{case}: {v}");
        assert_eq!(r["structuredContent"]["code"], "E500", "{case}: {r}");
        let text = r["content"][0]["text"].as_str().unwrap_or_default();
        assert!(text.contains(needle), "{case}: the model reads what was wrong: {r}");
    }
    let e = &v["unknown_tool"];
    assert_eq!(e["code"], -32602, "{e}");
    assert!(e["message"].as_str().is_some_and(|m| m.contains("bogus")), "{e}");
    assert_eq!(v["after"]["structuredContent"]["tasks"][0]["state"], "running", "{v}");
    assert!(v["ping"].is_object(), "{v}");

    // a session at each revision gets what that revision defines
    for (rev, got) in v["revisions"].as_object().expect("one session a revision") {
        assert_eq!(got["initialize"]["protocolVersion"], rev.as_str(), "{got}");
        revision_rules(&format!("python SDK, {rev}"), rev, got);
    }
    assert_eq!(v["revisions"].as_object().map(|m| m.len()), Some(4), "{v}");
}

/// What a session at revision `rev` got (`tools`, `status`, `invalid`: the recording of
/// a client, Python's or TypeScript's) against what that revision defines: `annotations`
/// from 2025-03-26, `title` and `structuredContent` from 2025-06-18, and arguments that do
/// not fit a tool result with `isError` from 2025-11-25 (before: JSON-RPC -32602).
fn revision_rules(who: &str, rev: &str, got: &Value) {
    let at_least = |r: &str| rev >= r;
    let tools = got["tools"].as_array().expect("tools");
    assert_eq!(tools.len(), 11, "{who}: {got}");
    for t in tools {
        assert_eq!(t.get("annotations").is_some(), at_least("2025-03-26"), "{who}: {t}");
        assert_eq!(t.get("title").is_some(), at_least("2025-06-18"), "{who}: {t}");
        assert_eq!(t["inputSchema"]["type"], "object", "{who}: {t}");
    }
    let status = &got["status"];
    assert_eq!(status["isError"], false, "{who}: {status}");
    assert_eq!(
        status.get("structuredContent").is_some(),
        at_least("2025-06-18"),
        "{who}: {status}"
    );
    let text: Value = serde_json::from_str(status["content"][0]["text"].as_str().expect("text")).expect("JSON");
    assert_eq!(text["session"], "mcpproj", "{who}: {status}");
    let invalid = &got["invalid"];
    if at_least("2025-11-25") {
        let r = &invalid["returned"];
        assert_eq!(r["isError"], true, "{who}: {invalid}");
        let text = r["content"][0]["text"].as_str().unwrap_or_default();
        assert!(text.contains("'lines'") && text.contains("E500"), "{who}: {invalid}");
    } else {
        assert_eq!(invalid["code"], -32602, "{who}: {invalid}");
        assert!(
            invalid["message"].as_str().is_some_and(|m| m.contains("'lines'")),
            "{who}: {invalid}"
        );
    }
}

/// `initialize` at the newest revision, as a line of a raw session.
const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#;

/// Requests of a raw session, one a line.
fn lines(msgs: &[&str]) -> String {
    msgs.iter().map(|m| format!("{m}\n")).collect()
}

#[test]
fn raw_json_rpc_errors_and_no_crash() {
    let env = Env::new("mcp-raw");
    env.config(CONFIG);
    let input = lines(&[
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        "this is not json",
        r#"{"jsonrpc":"2.0","id":2,"method":"no/such/method"}"#,
        "\u{1}\u{2}{{{",
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"logs","arguments":{"lines":-5}}}"#,
        r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"inspect","arguments":"api"}}"#,
        r#"{"jsonrpc":"2.0","method":"no/such/notification"}"#,
        "[]",
        "42",
        r#"{"jsonrpc":"2.0","id":{"x":1},"method":"ping"}"#,
        r#"{"jsonrpc":"2.0","id":"last","method":"ping"}"#,
    ]);
    let (code, replies, err) = serve(&env, &env.project, &["-L", &env.socket, "mcp"], &input);
    assert_eq!(code, Some(0), "{err}");
    let summary: Vec<(Value, Value)> = replies
        .iter()
        .map(|r| (r["id"].clone(), r["error"]["code"].clone()))
        .collect();
    assert_eq!(
        summary,
        [
            (json!(1), Value::Null),
            (Value::Null, json!(-32700)),
            (json!(2), json!(-32601)),
            (Value::Null, json!(-32700)),
            (json!(3), json!(-32602)),
            (json!(4), json!(-32602)),
            (Value::Null, json!(-32600)),
            (Value::Null, json!(-32600)),
            (Value::Null, json!(-32600)),
            (json!("last"), Value::Null),
        ],
        "{replies:?}"
    );
    assert_eq!(replies[0]["result"]["protocolVersion"], "2025-03-26");
    assert!(replies.iter().all(|r| r["jsonrpc"] == "2.0"), "{replies:?}");
    assert_eq!(replies[9]["result"], json!({}));
    assert!(err.contains("taskmux mcp"), "diagnostics go to stderr: {err}");
}

#[test]
fn session_serves_a_registered_project_and_an_unknown_one_fails() {
    let env = Env::new("mcp-session");
    env.config(CONFIG);
    let cfg: PathBuf = env.project.join("taskmux.toml");
    taskmux::registry::Registry::update(&env.home, |r| {
        r.register(
            "mcpproj",
            &cfg,
            Some(&env.socket),
            taskmux::registry::Desired::Up,
            false,
        )
    })
    .expect("register");
    let call = lines(&[
        INITIALIZE,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"status","arguments":{}}}"#,
    ]);
    // from another directory, with no -L: the registry names the config and the server
    let (code, replies, err) = serve(&env, &env.root, &["mcp", "--session", "mcpproj"], &call);
    assert_eq!(code, Some(0), "{err}");
    let sc = &replies[1]["result"]["structuredContent"];
    assert_eq!(sc["session"], "mcpproj", "{replies:?}");
    assert_eq!(sc["tasks"][0]["name"], "api", "{replies:?}");

    let (code, replies, err) = serve(&env, &env.project, &["mcp", "--session", "ghost"], &call);
    assert_eq!(code, Some(2), "{err}");
    assert!(replies.is_empty(), "nothing is served: {replies:?}");
    assert!(
        err.contains("E500") && err.contains("ghost") && err.contains("mcpproj"),
        "{err}"
    );
}

/// Runs `program ARGS` in the project directory of `env`, with its state directory, and
/// returns its stdout as JSON (asserting exit 0).
fn client_json(env: &Env, program: &str, args: &[&str]) -> Value {
    let o = env
        .bare(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the client runs");
    assert_eq!(o.status.code(), Some(0), "{program} {args:?}: {}", show(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {}", show(&o)))
}

/// The TypeScript SDK's client, one session per revision it offers (tests/mcp_client_ts.cjs):
/// each gets what its revision defines, as the Python SDK's do.
#[test]
fn typescript_sdk_gets_what_each_revision_defines() {
    let Some(env) = Env::with_tmux("mcp-ts") else { return };
    let Some(sdk) = crate::harness::node_module("@modelcontextprotocol/sdk/package.json") else {
        return;
    };
    env.config(CONFIG);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp_client_ts.cjs");
    let modules = sdk.ancestors().nth(3).expect("node_modules holds the SDK");
    let home = env.home.display().to_string();
    let project = env.project.display().to_string();
    let v = client_json(
        &env,
        "node",
        &[
            &script.display().to_string(),
            &modules.display().to_string(),
            bin(),
            &env.socket,
            &home,
            &project,
        ],
    );
    let revisions = v["revisions"].as_object().expect("one session a revision");
    assert_eq!(revisions.len(), 4, "{v}");
    for (rev, got) in revisions {
        assert_eq!(got["initialize"]["protocolVersion"], rev.as_str(), "{got}");
        let info = &got["initialize"]["serverInfo"];
        assert_eq!(
            info.get("title").is_some(),
            rev.as_str() >= "2025-06-18",
            "{rev}: {info}"
        );
        revision_rules(&format!("TypeScript SDK, {rev}"), rev, got);
    }
}

/// The MCP Inspector's CLI lists the tools, and a call with an argument of the wrong type
/// comes back as a result the model can read.
#[test]
fn inspector_cli_lists_the_tools_and_reads_an_input_error() {
    let Some(env) = Env::with_tmux("mcp-inspector") else {
        return;
    };
    let Some(cli) = crate::harness::node_module("@modelcontextprotocol/inspector/cli/build/cli.js") else {
        return;
    };
    env.config(CONFIG);
    let cli = cli.display().to_string();
    let home = format!("TASKMUX_HOME={}", env.home.display());
    let server = ["--cli", "-e", home.as_str(), bin(), "-L", env.socket.as_str(), "mcp"];
    let list = client_json(
        &env,
        "node",
        &[&[cli.as_str()], &server[..], &["--method", "tools/list"]].concat(),
    );
    let tools = list["tools"].as_array().expect("tools");
    let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "status", "start", "stop", "restart", "logs", "inspect", "health", "events", "doctor", "register",
            "run_job"
        ],
        "{list}"
    );
    assert!(
        tools
            .iter()
            .all(|t| t["title"].is_string() && t["annotations"].is_object()),
        "{list}"
    );
    let bad = [
        "--method",
        "tools/call",
        "--tool-name",
        "logs",
        "--tool-arg",
        "lines=five",
    ];
    let r = client_json(&env, "node", &[&[cli.as_str()], &server[..], &bad[..]].concat());
    assert_eq!(r["isError"], true, "{r}");
    assert_eq!(r["structuredContent"]["code"], "E500", "{r}");
    assert!(
        r["content"][0]["text"].as_str().is_some_and(|t| t.contains("'lines'")),
        "{r}"
    );
}

/// Batches, answered under 2025-03-26 and refused under the others, and a tool call
/// before initialize, through the binary itself.
#[test]
fn batches_follow_the_revision_and_nothing_comes_before_initialize() {
    let Some(env) = Env::with_tmux("mcp-batch") else { return };
    env.config(CONFIG);
    let init = |rev: &str| INITIALIZE.replace("2025-11-25", rev);
    let batch = r#"[{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"status","arguments":{}}},{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":"b","method":"ping"}]"#;
    let early = r#"{"jsonrpc":"2.0","id":"early","method":"tools/call","params":{"name":"status","arguments":{}}}"#;
    let input = lines(&[early, &init("2025-03-26"), batch]);
    let (code, replies, err) = serve(&env, &env.project, &["-L", &env.socket, "mcp"], &input);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(replies.len(), 3, "{replies:?}");
    assert_eq!(
        (&replies[0]["id"], &replies[0]["error"]["code"]),
        (&json!("early"), &json!(-32600))
    );
    let answers = replies[2].as_array().expect("a batch is answered with an array");
    let ids: Vec<&Value> = answers.iter().map(|a| &a["id"]).collect();
    assert_eq!(ids, [&json!("a"), &json!("b")], "{answers:?}");
    let status: Value =
        serde_json::from_str(answers[0]["result"]["content"][0]["text"].as_str().expect("text")).expect("JSON");
    assert_eq!(status["session"], "mcpproj", "{answers:?}");
    assert!(
        answers[0]["result"].get("structuredContent").is_none(),
        "not before 2025-06-18"
    );

    let input = lines(&[&init("2025-06-18"), batch]);
    let (_, replies, _) = serve(&env, &env.project, &["-L", &env.socket, "mcp"], &input);
    assert_eq!(replies[1]["error"]["code"], -32600, "{replies:?}");
    assert!(
        replies[1]["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("2025-06-18")),
        "{replies:?}"
    );
}
