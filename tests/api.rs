//! The daemon's API with real clients (tests/api_client.py): the WebSocket through Python's
//! `websockets` (the token, origins, a restart seen by `status` and `events`, a subscription
//! pushing `task_exited`), the Unix socket through Python's `socket` (malformed, unknown,
//! oversized and pipelined requests), another uid refused, and the token file's mode.

use crate::harness::*;
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

const CONFIG: &str =
    "name = \"apiproj\"\n[tasks.web]\ncommand = \"sleep 1000\"\n[tasks.api]\ncommand = \"sleep 1000\"\n";

fn script() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/api_client.py")
        .display()
        .to_string()
}

/// Runs the client with `python` in `mode`; returns its JSON.
pub(crate) fn client(python: &str, mode: &str, args: &[&str]) -> Value {
    let o = Command::new(python)
        .arg(script())
        .arg(mode)
        .args(args)
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("all_proxy")
        .stdin(Stdio::null())
        .output()
        .expect("python runs");
    assert_eq!(o.status.code(), Some(0), "the {mode} client failed: {}", show(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {}", show(&o)))
}

/// A daemon with the WebSocket on a free port that lists one origin; returns its URL and
/// the token. `None` (skip) without tmux or a Python with `websockets`.
fn ws_daemon(env: &Env) -> Option<(String, String, String)> {
    if !require_tmux() {
        return None;
    }
    let py = python();
    if !require("python websockets", &[&py, "-c", "import websockets.sync.client"]) {
        return None;
    }
    let port = free_port();
    env.daemon_start_with(
        0.5,
        &format!("api_port = {port}\napi_allowed_origins = [\"http://localhost:3000\"]\n"),
    );
    let token = read(&env.home.join("api.token")).trim().to_string();
    assert_eq!(token.len(), 64, "a 32-byte hex token: {token:?}");
    Some((py, format!("ws://127.0.0.1:{port}/"), token))
}

#[test]
fn websocket_wants_the_token_and_refuses_other_origins() {
    let env = Env::new("api-auth");
    let Some((py, url, token)) = ws_daemon(&env) else {
        return;
    };
    let v = client(&py, "ws_auth", &[&url, &token]);
    assert_eq!(v["none"]["status"], 401, "{v}");
    let body: Value = serde_json::from_str(v["none"]["body"].as_str().unwrap_or("")).expect("a JSON body");
    assert_eq!(
        (&body["ok"], &body["error"]),
        (&json!(false), &json!("unauthorized")),
        "{body}"
    );
    assert_eq!(v["wrong"]["status"], 401, "{v}");
    assert_eq!(v["evil"]["status"], 403, "{v}");
    assert!(
        v["evil"]["body"].as_str().unwrap_or("").contains("api_allowed_origins"),
        "{v}"
    );
    assert_eq!(v["listed"]["status"], 101, "a listed origin with the token: {v}");
    assert_eq!(
        v["header"],
        json!({"command": "ping", "ok": true, "v": 2, "versions": [2],
            "version": env!("CARGO_PKG_VERSION"), "response": "ping", "id": "by-header"})
    );
    assert_eq!(
        v["query"],
        json!({"command": "ping", "ok": true, "v": 2, "versions": [2],
            "version": env!("CARGO_PKG_VERSION"), "response": "ping", "id": 2})
    );
    assert_eq!(v["large"]["error"], "too_large", "{v}");
    assert_eq!(v["binary"]["ok"], false, "{v}");
    assert_eq!(v["after"]["id"], 3, "the connection goes on: {v}");
    let log = read(&env.home.join("daemon.log"));
    assert!(log.contains("websocket: listening on ws://127.0.0.1:"), "{log}");
    assert!(log.contains("refused") && log.contains("evil.example"), "{log}");
    // the token file: 0600, and the same one after a daemon restart
    let mode = std::fs::metadata(env.home.join("api.token"))
        .expect("api.token")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let (s, _) = env.json(&["daemon", "status"]);
    assert_eq!(s["api"]["websocket"].as_str(), Some(url.trim_end_matches('/')), "{s}");
    let o = env.run(&["daemon", "restart"]);
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(read(&env.home.join("api.token")).trim(), token);
}

#[test]
fn websocket_port_answers_plain_http_with_426_and_an_oversized_message_with_too_large() {
    let env = Env::new("api-limits");
    let Some((py, url, token)) = ws_daemon(&env) else {
        return;
    };
    // before: a plain request got an empty reply, a 5 MB message a connection reset
    if require("curl", &["curl", "--version"]) {
        let http = url.replace("ws://", "http://");
        let o = Command::new("curl")
            .args(["-sS", "-i", "--max-time", "10", "--noproxy", "*", &http])
            .stdin(Stdio::null())
            .output()
            .expect("curl runs");
        assert_eq!(o.status.code(), Some(0), "curl: {}", show(&o));
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.starts_with("HTTP/1.1 426 Upgrade Required\r\n"), "{text}");
        assert!(text.contains("\r\nUpgrade: websocket\r\n"), "{text}");
        let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
        assert!(
            body.ends_with('\n') && body.trim_end().lines().count() == 1 && body.contains("WebSocket"),
            "a line of text: {body:?}"
        );
    }
    let v = client(&py, "ws_limits", &[&url, &token]);
    for plain in ["get", "post"] {
        let a = &v[plain];
        assert_eq!(a["status"], 426, "{plain}: {v}");
        assert_eq!(a["headers"]["upgrade"], "websocket", "{plain}: {a}");
        assert!(
            a["body"].as_str().is_some_and(|b| b.contains("api.token")),
            "{plain}: {a}"
        );
    }
    assert_eq!(v["garbage"]["status"], 400, "{v}");
    assert_eq!(v["no_key"]["status"], 400, "{v}");
    assert!(
        v["no_key"]["body"]
            .as_str()
            .is_some_and(|b| b.contains("Sec-WebSocket")),
        "names what is missing: {v}"
    );
    // the 5 MB message: the documented reply, then a 1009 close; never a reset
    assert_eq!(v["sent"], true, "the whole message was taken: {v}");
    assert_eq!(
        (&v["reply"]["ok"], &v["reply"]["error"]),
        (&json!(false), &json!("too_large")),
        "{v}"
    );
    assert_eq!(v["then"]["rcvd"], 1009, "closed with 1009 (message too big): {v}");
    assert!(!v.to_string().contains("ConnectionReset"), "no reset: {v}");
    assert_eq!(
        (&v["after"]["ok"], &v["after"]["v"], &v["after"]["id"]),
        (&json!(true), &json!(2), &json!(6)),
        "{v}"
    );
}

#[test]
fn websocket_restart_is_seen_in_status_and_events() {
    let env = Env::new("api-restart");
    env.config(CONFIG);
    let o = env.run(&["start"]);
    assert!(o.status.success(), "{}", show(&o));
    let Some((py, url, token)) = ws_daemon(&env) else {
        return;
    };
    let before = env.task_status("web")["pid"].as_i64().expect("web runs");
    let req = json!({"command": "restart", "params": {"session": "apiproj", "task": "web"}, "id": 7});
    let v = client(&py, "ws_request", &[&url, &token, &req.to_string()]);
    assert_eq!((&v["ok"], &v["id"]), (&json!(true), &json!(7)), "{v}");
    wait_for(10.0, "a new pid for web", || {
        env.task_status("web")["pid"].as_i64().is_some_and(|p| p != before)
    });
    assert!(
        !env.events_named("task_restarted", Some("web")).is_empty(),
        "{:?}",
        env.events()
    );
    // unknown session, by WebSocket too
    let req = json!({"command": "status", "params": {"session": "nope"}, "id": 8});
    let v = client(&py, "ws_request", &[&url, &token, &req.to_string()]);
    assert_eq!((&v["error"], &v["id"]), (&json!("unknown_session"), &json!(8)), "{v}");
}

#[test]
fn websocket_subscription_pushes_task_exited() {
    let env = Env::new("api-sub");
    env.config(CONFIG);
    let o = env.run(&["start"]);
    assert!(o.status.success(), "{}", show(&o));
    let Some((py, url, token)) = ws_daemon(&env) else {
        return;
    };
    let pid = env.task_status("api")["pid"].as_i64().expect("api runs");
    let v = client(&py, "ws_subscribe", &[&url, &token, &pid.to_string()]);
    assert_eq!(v["reply"], json!({"ok": true, "command": "subscribe", "id": 1}), "{v}");
    let exited = &v["exited"];
    assert_eq!(
        (&exited["event"], &exited["task"]),
        (&json!("task_exited"), &json!("api")),
        "{v}"
    );
    assert!(exited.get("id").is_none(), "a pushed message has no id: {exited}");
}

#[test]
fn unix_socket_answers_each_request_once() {
    let Some(env) = Env::with_tmux("api-unix") else { return };
    env.daemon_start(30.0);
    let sock = env.home.join("daemon.sock").display().to_string();
    let v = client("python3", "unix", &[&sock]);
    assert_eq!(v["malformed"]["error"], "invalid_json", "{v}");
    assert_eq!(
        (&v["unknown"]["error"], &v["unknown"]["id"]),
        (&json!("unknown_command"), &json!(41)),
        "{v}"
    );
    assert_eq!(v["large"]["error"], "too_large", "{v}");
    assert_eq!(
        (&v["after"]["ok"], &v["after"]["id"]),
        (&json!(true), &json!("after")),
        "{v}"
    );
    let ids: Vec<i64> = v["pipelined"]
        .as_array()
        .expect("20 replies")
        .iter()
        .map(|r| {
            assert_eq!(r["ok"], true, "{r}");
            r["id"].as_i64().expect("an id")
        })
        .collect();
    assert_eq!(ids, (1..=20).collect::<Vec<_>>());
    assert_eq!(v["last"]["id"], "last", "no reply more than asked: {v}");
}

#[test]
fn another_uid_cannot_use_the_socket() {
    if !require_tmux() {
        return;
    }
    // a python that nobody may run (a python3 under root's home is not one)
    let as_nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"];
    let py = ["/usr/bin/python3", "/usr/local/bin/python3", "python3"]
        .into_iter()
        .find(|py| {
            Command::new(as_nobody[0])
                .args(&as_nobody[1..])
                .args([py, "-c", ""])
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .unwrap_or("python3");
    let probe: Vec<&str> = as_nobody.iter().copied().chain([py, "-c", ""]).collect();
    if !require("setpriv and a python3 as nobody (as root)", &probe) {
        return;
    }
    let env = Env::new("api-uid");
    env.daemon_start(30.0);
    let sock = env.home.join("daemon.sock");
    let mode = std::fs::metadata(&sock).expect("daemon.sock").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let o = Command::new("setpriv")
        .args(&as_nobody[1..])
        .args([py, &script(), "unix_ping", &sock.display().to_string()])
        .stdin(Stdio::null())
        .output()
        .expect("setpriv runs");
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let v: Value = serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).expect("JSON");
    match v.get("reply") {
        Some(r) => assert_eq!(r["error"], "unauthorized", "{v}"),
        None => assert_eq!(v["refused"], "permission_denied", "{v}"),
    }
}

#[test]
fn a_port_in_use_leaves_the_daemon_on_its_socket() {
    let Some(env) = Env::with_tmux("api-busy") else { return };
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = held.local_addr().expect("its address").port();
    env.daemon_start_with(30.0, &format!("api_port = {port}\n"));
    let (s, code) = env.json(&["daemon", "status"]);
    assert_eq!(code, 0, "{s}");
    assert_eq!(s["api"]["websocket"], Value::Null, "{s}");
    assert!(
        s["api"]["error"].as_str().unwrap_or("").contains(&port.to_string()),
        "{s}"
    );
    let log = read(&env.home.join("daemon.log"));
    assert!(log.contains("websocket: cannot listen"), "{log}");
    drop(held);
}

#[test]
fn a_bind_beyond_loopback_is_logged_as_a_warning() {
    let Some(env) = Env::with_tmux("api-bind") else { return };
    let port = free_port();
    env.daemon_start_with(30.0, &format!("api_bind = \"0.0.0.0\"\napi_port = {port}\n"));
    let log = read(&env.home.join("daemon.log"));
    assert!(
        log.contains(&format!("warning: the WebSocket API listens on 0.0.0.0:{port}")),
        "{log}"
    );
    let (s, _) = env.json(&["daemon", "status"]);
    assert_eq!(
        s["api"]["websocket"].as_str(),
        Some(format!("ws://0.0.0.0:{port}").as_str()),
        "{s}"
    );
}

#[test]
fn a_client_that_never_reads_stalls_no_other_client() {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixStream;
    use std::time::{Duration, Instant};
    let Some(env) = Env::with_tmux("api-slow") else { return };
    env.daemon_start(30.0);
    let sock = env.home.join("daemon.sock");
    // a client that asks and asks and reads nothing: its replies fill the socket's buffer
    // and its thread in the daemon blocks on the write
    let mut hog = UnixStream::connect(&sock).expect("connects");
    hog.set_nonblocking(true).expect("nonblocking");
    let line = b"{\"command\": \"list_projects\", \"id\": 1}\n".repeat(1000);
    let (mut sent, mut stuck) = (0usize, false);
    let started = Instant::now();
    while !stuck && started.elapsed() < Duration::from_secs(10) {
        match hog.write(&line) {
            Ok(n) => sent += n,
            // the daemon has stopped reading it: its thread waits to write a reply
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => stuck = true,
            Err(e) => panic!("the hog's write: {e}"),
        }
    }
    assert!(stuck, "the hog never filled its socket ({sent} bytes sent)");
    // another client is answered at once, again and again
    let c = UnixStream::connect(&sock).expect("connects");
    c.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let mut r = BufReader::new(c.try_clone().expect("clone"));
    for i in 0..20 {
        let t = Instant::now();
        (&c).write_all(format!("{{\"command\": \"ping\", \"id\": {i}}}\n").as_bytes())
            .expect("ask");
        let mut reply = String::new();
        r.read_line(&mut reply).expect("a reply while the hog is stuck");
        let v: Value = serde_json::from_str(&reply).expect("JSON");
        assert_eq!((&v["ok"], &v["id"]), (&json!(true), &json!(i)), "{v}");
        assert!(t.elapsed() < Duration::from_secs(2), "ping {i} took {:?}", t.elapsed());
    }
    // and the daemon's own work goes on: the CLI's status answers
    let (st, code) = env.json(&["daemon", "status"]);
    assert_eq!((code, &st["running"]), (0, &json!(true)), "{st}");
    drop(hog);
}
