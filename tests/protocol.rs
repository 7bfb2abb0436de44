//! The one protocol on every front: requests with their context (`config`, `project`,
//! `socket`, `cwd`) answered from any directory by `taskmux __request` and daemon.sock;
//! bad requests (an unknown field, a protocol version not spoken, params of the wrong
//! type, a line too long) answered with the same code and wording on each; what a
//! WebSocket may not ask refused; `-p NAME` from anywhere.

use crate::harness::*;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Sends `lines` to one `taskmux __request` run in `dir` and returns its replies.
fn over_request(env: &Env, dir: &Path, lines: &[String]) -> Vec<Value> {
    let mut c = Command::new(bin())
        .arg("__request")
        .current_dir(dir)
        .env("TASKMUX_HOME", &env.home)
        .env_remove("TMUX")
        .env_remove("TASKMUX_TMUX_SOCKET")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("taskmux __request runs");
    let mut stdin = c.stdin.take().expect("stdin");
    let input = lines.join("\n") + "\n";
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let o = c.wait_with_output().expect("it ends when stdin does");
    writer.join().expect("writer");
    assert!(o.status.success(), "__request exits 0: {}", show(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("a reply that is not JSON ({e}): {l}")))
        .collect()
}

/// Sends `lines` on daemon.sock and returns a reply a line.
fn over_socket(env: &Env, lines: &[String]) -> Vec<Value> {
    let mut s = UnixStream::connect(env.home.join("daemon.sock")).expect("daemon.sock answers");
    s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let mut r = BufReader::new(s.try_clone().expect("clone"));
    lines
        .iter()
        .map(|l| {
            s.write_all(l.as_bytes())
                .and_then(|_| s.write_all(b"\n"))
                .expect("send");
            let mut reply = String::new();
            r.read_line(&mut reply).expect("a reply");
            serde_json::from_str(&reply).unwrap_or_else(|e| panic!("a reply that is not JSON ({e}): {reply}"))
        })
        .collect()
}

#[test]
fn request_answers_from_any_directory_with_the_context_in_the_envelope() {
    let Some(env) = Env::with_tmux("proto-ctx") else { return };
    env.config("name = \"proto-ctx\"\n[tasks.a]\ncommand = \"sleep 1000\"\nstop_grace_period = 1\n");
    let elsewhere = env.root.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).expect("mkdir");
    let config = env.project.join("taskmux.toml");
    let r = over_request(
        &env,
        &elsewhere,
        &[
            json!({"command": "config_show", "id": 1}).to_string(),
            json!({"command": "register", "config": config, "socket": env.socket, "v": 2, "id": 2}).to_string(),
            json!({"command": "daemon_list", "id": 3}).to_string(),
            json!({"command": "start", "project": "proto-ctx", "id": 4}).to_string(),
            json!({"command": "status", "project": "proto-ctx", "id": 5}).to_string(),
            json!({"command": "status", "id": 6}).to_string(),
            json!({"command": "status", "project": "ghost", "id": 7}).to_string(),
            json!({"command": "stop", "session": "proto-ctx", "id": 8}).to_string(),
        ],
    );
    assert_eq!(r.len(), 8, "{r:?}");
    assert_eq!(
        (&r[0]["response"], &r[0]["ok"], &r[0]["id"]),
        (&json!("config_show"), &json!(true), &json!(1))
    );
    assert_eq!(r[0]["path"], json!(env.home.join("config.toml")), "{}", r[0]);
    assert_eq!(
        (&r[1]["response"], &r[1]["name"]),
        (&json!("register"), &json!("proto-ctx")),
        "{}",
        r[1]
    );
    let listed = &r[2]["projects"][0];
    assert_eq!(
        (&listed["name"], &listed["config_path"], &listed["tmux_socket"]),
        (&json!("proto-ctx"), &json!(config), &json!(env.socket)),
        "{}",
        r[2]
    );
    assert_eq!(
        (&r[3]["response"], &r[3]["tasks"]),
        (&json!("start"), &json!(["a"])),
        "{}",
        r[3]
    );
    assert_eq!(r[4]["session"], "proto-ctx", "{}", r[4]);
    assert_eq!(
        r[4]["tasks"][0]["running"], true,
        "the project's own tmux server: {}",
        r[4]
    );
    // no project named and no taskmux.toml up from here: the config search says so
    assert_eq!(
        (&r[5]["response"], &r[5]["code"]),
        (&json!("error"), &json!("E100")),
        "{}",
        r[5]
    );
    assert_eq!(
        (&r[6]["code"], &r[6]["error"]),
        (&json!("E303"), &json!("unknown_session")),
        "{}",
        r[6]
    );
    // the seed's `session` names the project too
    assert_eq!(
        (&r[7]["response"], &r[7]["action"]),
        (&json!("stop"), &json!("stopped")),
        "{}",
        r[7]
    );
    // the CLI's -p does the same from anywhere
    let o = Command::new(bin())
        .args(["--json", "-p", "proto-ctx", "status"])
        .current_dir(&elsewhere)
        .env("TASKMUX_HOME", &env.home)
        .env_remove("TASKMUX_TMUX_SOCKET")
        .output()
        .expect("runs");
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("JSON ({e}): {}", show(&o)));
    assert_eq!(
        (&v["session"], &v["tasks"][0]["name"]),
        (&json!("proto-ctx"), &json!("a")),
        "{v}"
    );
}

/// The bad requests of the protocol, and the code each is answered with.
fn bad_requests() -> Vec<(String, &'static str, &'static str)> {
    vec![
        (
            json!({"command": "ping", "colour": 1, "id": 1}).to_string(),
            "E502",
            "unknown request field 'colour'",
        ),
        (
            json!({"command": "ping", "v": 9, "id": 2}).to_string(),
            "E506",
            "speaks protocol version 9",
        ),
        (
            json!({"command": "kill", "params": {"task": 5}, "session": "p", "id": 3}).to_string(),
            "E500",
            "bad params for 'kill'",
        ),
        (
            json!({"command": "kill", "params": {"tsk": "a"}, "id": 4}).to_string(),
            "E500",
            "unknown field `tsk`",
        ),
        (
            json!({"command": "frobnicate", "id": 5}).to_string(),
            "E501",
            "Unknown command 'frobnicate'",
        ),
        ("{\"command\": ".to_string(), "E502", "invalid JSON request"),
        (
            json!({"command": "ping", "pad": "x".repeat(1024 * 1024 + 10)}).to_string(),
            "E504",
            "at most 1048576 bytes",
        ),
        (
            json!({"command": "status", "config": 3, "id": 8}).to_string(),
            "E500",
            "bad request context",
        ),
    ]
}

#[test]
fn bad_requests_get_the_same_error_on_every_front() {
    let Some(env) = Env::with_tmux("proto-bad") else { return };
    env.daemon_start(30.0);
    let bad = bad_requests();
    let lines: Vec<String> = bad.iter().map(|(l, _, _)| l.clone()).collect();
    let piped = over_request(&env, &env.project, &lines);
    let socket = over_socket(&env, &lines);
    assert_eq!((piped.len(), socket.len()), (bad.len(), bad.len()));
    for ((line, code, says), (a, b)) in bad.iter().zip(piped.iter().zip(&socket)) {
        let what = &line[..line.len().min(80)];
        assert_eq!(
            (&a["ok"], &a["response"], &a["code"]),
            (&json!(false), &json!("error"), &json!(code)),
            "{what}: {a}"
        );
        assert!(a["message"].as_str().is_some_and(|m| m.contains(says)), "{what}: {a}");
        assert_eq!(a, b, "{what}: __request and daemon.sock answer alike");
    }
    // the version error names both sides
    assert!(
        piped[1]["message"].as_str().is_some_and(|m| m.contains("speaks 2")),
        "{}",
        piped[1]
    );
    // and the loop went on after each: a ping is answered
    let p = over_socket(&env, &[json!({"command": "ping", "id": "after"}).to_string()]);
    assert_eq!((&p[0]["ok"], &p[0]["id"]), (&json!(true), &json!("after")), "{p:?}");
}

#[test]
fn the_websocket_may_not_change_the_machine() {
    let Some(env) = Env::with_tmux("proto-ws") else { return };
    let py = python();
    if !require("python websockets", &[&py, "-c", "import websockets.sync.client"]) {
        return;
    }
    let port = free_port();
    env.daemon_start_with(30.0, &format!("api_port = {port}\n"));
    let before = read(&env.home.join("config.toml"));
    let token = read(&env.home.join("api.token")).trim().to_string();
    let url = format!("ws://127.0.0.1:{port}/");
    let ask = |req: Value| -> Value { crate::api::client(&py, "ws_request", &[&url, &token, &req.to_string()]) };
    for req in [
        json!({"command": "config_set", "params": {"key": "api_port", "value": 1}, "id": 1}),
        json!({"command": "config_unset", "params": {"key": "api_port"}, "id": 2}),
        json!({"command": "register", "config": env.project.join("taskmux.toml"), "id": 3}),
        json!({"command": "unregister", "params": {"name": "x"}, "id": 4}),
        json!({"command": "ca_mint", "params": {"host": "a.localhost"}, "id": 5}),
    ] {
        let r = ask(req.clone());
        assert_eq!(
            (&r["ok"], &r["error"], &r["code"]),
            (&json!(false), &json!("unauthorized"), &json!("E702")),
            "{req}: {r}"
        );
        assert!(r["message"].as_str().is_some_and(|m| m.contains("WebSocket")), "{r}");
    }
    assert_eq!(read(&env.home.join("config.toml")), before, "config.toml untouched");
    assert!(
        !env.home.join("certs").join("a.localhost.pem").exists(),
        "no certificate minted"
    );
    // what only reads is answered
    let r = ask(json!({"command": "config_show", "id": 6}));
    assert_eq!((&r["ok"], &r["response"]), (&json!(true), &json!("config_show")), "{r}");
    let r = ask(json!({"command": "daemon_status", "id": 7}));
    assert_eq!(
        (&r["running"], &r["pid"]),
        (&json!(true), &json!(env.daemon_pid())),
        "{r}"
    );
}
