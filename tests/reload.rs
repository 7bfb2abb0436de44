//! The `reload` request: a running project follows its config on disk, with what runs read
//! from tmux (no memory of the config before).

use crate::harness::{Env, show, task_procs, wait_for, windows};
use serde_json::Value;
use std::io::Write;
use std::process::Stdio;

/// Sends one request line to `taskmux __request` and returns its reply.
fn request(env: &Env, line: &str) -> Value {
    let mut child = env
        .command(&["__request"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("taskmux __request runs");
    let mut stdin = child.stdin.take().expect("piped stdin");
    writeln!(stdin, "{line}").expect("write the request");
    drop(stdin);
    let o = child.wait_with_output().expect("the loop ends at end of input");
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not one JSON reply ({e}): {}", show(&o)))
}

#[test]
fn reload_starts_added_stops_removed_and_marks_changed_stale() {
    let Some(env) = Env::with_tmux("reload") else { return };
    env.config(
        "name = \"rl\"\n[tasks.a]\ncommand = \"sleep 1001\"\n[tasks.b]\ncommand = \"sleep 1002\"\n\
         [tasks.k]\ncommand = \"sleep 1004\"\n",
    )
    .started();
    let (v, rc) = env.json(&["kill", "k"]);
    assert_eq!((rc, v["action"].as_str()), (0, Some("killed")), "{v}");
    let b = task_procs(&env, "rl", "b");
    assert!(!b.is_empty(), "b runs");

    // b leaves the config, c joins it, a's command changes; k was killed by hand
    env.config(
        "name = \"rl\"\n[tasks.a]\ncommand = \"sleep 2001\"\n[tasks.c]\ncommand = \"sleep 1003\"\n\
         [tasks.k]\ncommand = \"sleep 1004\"\n",
    );
    let v = request(&env, r#"{"command": "reload", "id": 1}"#);
    assert_eq!((v["ok"].clone(), v["id"].clone()), (true.into(), 1.into()), "{v}");
    assert_eq!(v["added"], serde_json::json!(["c"]), "k was stopped by hand: {v}");
    assert_eq!(v["removed"], serde_json::json!(["b"]), "{v}");
    assert_eq!(v["started"], serde_json::json!(["c"]), "{v}");
    assert_eq!(v["killed"], serde_json::json!(["b"]), "{v}");
    assert_eq!(v["stale"], serde_json::json!(["a"]), "{v}");
    wait_for(10.0, "b's processes to be gone", || {
        task_procs(&env, "rl", "b").is_empty()
    });
    assert!(
        !windows(&env).contains(&"b".to_string()),
        "b's window is gone: {:?}",
        windows(&env)
    );
    assert!(!task_procs(&env, "rl", "c").is_empty(), "c runs");
    assert!(task_procs(&env, "rl", "k").is_empty(), "k stays stopped");
    let (s, _) = env.json(&["status"]);
    let a = s["tasks"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == "a").cloned());
    assert_eq!(a.map(|a| a["stale"].clone()), Some(true.into()), "{s}");

    // nothing differs now: a second reload does nothing
    let v = request(&env, r#"{"command": "reload"}"#);
    for k in ["added", "removed", "started", "killed"] {
        assert_eq!(v[k], serde_json::json!([]), "{k}: {v}");
    }
    assert_eq!(v["stale"], serde_json::json!(["a"]), "still stale until restarted: {v}");
}

#[test]
fn reload_of_a_project_that_is_not_running_does_nothing() {
    let Some(env) = Env::with_tmux("reload-idle") else {
        return;
    };
    env.tasks("rli", &[("a", "sleep 1005")]);
    let v = request(&env, r#"{"command": "reload"}"#);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["started"], serde_json::json!([]), "{v}");
    assert!(task_procs(&env, "rli", "a").is_empty(), "nothing was started");
}
