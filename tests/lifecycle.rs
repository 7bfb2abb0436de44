//! Lifecycle against real tmux and real processes: dependency order and health gating,
//! skipped dependents, `start --wait`, exited tasks, idempotent verbs, hooks and their
//! failures, and the environment and directory a task runs with.

use crate::harness::{Env, alive, read, show, strings as names, task_procs, wait_for, windows};
use serde_json::Value;

/// `n` distinct free ports on 127.0.0.1.
fn free_ports(n: usize) -> Vec<u16> {
    (0..n).map(|_| crate::harness::free_port()).collect()
}

/// Seconds since the epoch of `YYYY-MM-DDTHH:MM:SS.ffffff+00:00`.
pub(crate) fn epoch(iso: &str) -> f64 {
    let n = |r: std::ops::Range<usize>| -> i64 { iso[r].parse().unwrap_or_else(|_| panic!("bad time {iso:?}")) };
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let secs: f64 = iso[17..26].parse().unwrap_or_else(|_| panic!("bad time {iso:?}"));
    (days * 86_400 + n(11..13) * 3600 + n(14..16) * 60) as f64 + secs
}

fn started_at(env: &Env, task: &str) -> f64 {
    let t = env.task_status(task);
    let s = t["started_at"]
        .as_str()
        .unwrap_or_else(|| panic!("{task} has no started_at: {t}"));
    epoch(s)
}

/// Waits (10 s) for a task's `state`; every different status seen on the way is printed,
/// so a timeout shows where the task got stuck.
fn wait_state(env: &Env, task: &str, state: &str) {
    let mut last = Value::Null;
    wait_for(10.0, &format!("{task} to be {state}"), || {
        let st = env.task_status(task);
        if st["state"] != last["state"] || st["pid"] != last["pid"] {
            let panes = env.tmux(&[
                "list-panes",
                "-a",
                "-F",
                "#{window_name} dead=#{pane_dead} status=#{pane_dead_status} pid=#{pane_pid}",
            ]);
            eprintln!("{task}: {st}\ntmux panes: {panes}");
            last = st.clone();
        }
        st["state"] == state
    });
}

fn health_of(v: &Value, task: &str) -> Value {
    v["tasks"]
        .as_array()
        .and_then(|a| a.iter().find(|t| t["name"] == task).cloned())
        .unwrap_or(Value::Null)
}

#[test]
fn fullstack_starts_in_dependency_order_gated_on_health() {
    let Some(env) = Env::with_tmux("fullstack") else { return };
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/fullstack");
    let ports = free_ports(4);
    // only the example's own files: others may sit there (the README's backup example
    // leaves app.sql.gz behind), and they need not be text
    for name in ["taskmux.toml", "api.py", "store.py", "web.py", "worker.sh"] {
        let mut text = std::fs::read_to_string(src.join(name)).expect("read example file");
        if name == "taskmux.toml" {
            // through placeholders, so a new port that contains "7302" is not rewritten again
            for i in 0..ports.len() {
                text = text.replace(&format!("{}", 7301 + i), &format!("@PORT{i}@"));
            }
            for (i, p) in ports.iter().enumerate() {
                text = text.replace(&format!("@PORT{i}@"), &p.to_string());
            }
        }
        env.file(name, &text);
    }

    let v = env.started();
    assert_eq!(v["ok"], true, "{v}");
    let tasks = names(&v["tasks"]);
    for t in ["store", "api", "web", "worker"] {
        assert!(tasks.contains(&t.to_string()), "{t} started: {v}");
    }
    assert!(!tasks.contains(&"shell".to_string()), "manual task not started: {v}");
    assert_eq!(v["skipped"].as_array().map(Vec::len), Some(0), "{v}");
    assert_eq!(v["failed"].as_array().map(Vec::len), Some(0), "{v}");

    // gating: health right after start returns, before anything else could have waited
    let (h, _) = env.json(&["health"]);
    assert_eq!(
        health_of(&h, "store")["healthy"],
        true,
        "store healthy when start returns: {h}"
    );
    assert_eq!(
        health_of(&h, "api")["healthy"],
        true,
        "api healthy when start returns: {h}"
    );
    assert_eq!(health_of(&h, "store")["method"], "http", "{h}");

    // order: store first; api and worker only after store was healthy (it binds after 1 s)
    let (store, api, web, worker) = (
        started_at(&env, "store"),
        started_at(&env, "api"),
        started_at(&env, "web"),
        started_at(&env, "worker"),
    );
    assert!(store < api && api < web, "store {store} < api {api} < web {web}");
    assert!(
        api - store >= 0.9,
        "api launched {:.3}s after store, before store could be healthy",
        api - store
    );
    assert!(
        worker - store >= 0.9,
        "worker launched {:.3}s after store",
        worker - store
    );
    assert_eq!(env.task_status("shell")["state"], "stopped");
    assert_eq!(env.task_status("shell")["running"], false);

    wait_for(20.0, "web healthy", || {
        let (h, _) = env.json(&["health"]);
        health_of(&h, "web")["healthy"] == true
    });
    let (h, _) = env.json(&["health"]);
    for t in ["store", "api", "web"] {
        assert_eq!(health_of(&h, t)["healthy"], true, "{t}: {h}");
    }
    assert_eq!(health_of(&h, "web")["method"], "shell", "{h}");

    let (v, code) = env.json(&["stop"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["action"], "stopped", "{v}");
    let stopped = names(&v["tasks"]);
    for t in ["store", "api", "web", "worker"] {
        assert!(stopped.contains(&t.to_string()), "{t} stopped: {v}");
    }
    let (s, _) = env.json(&["status"]);
    assert_eq!(s["active_tasks"], 0, "{s}");
    for t in s["tasks"].as_array().expect("tasks") {
        assert_eq!(t["running"], false, "{t}");
        assert_eq!(t["pid"], Value::Null, "{t}");
    }
    assert!(
        env.our_processes().is_empty(),
        "processes left: {:?}",
        env.our_processes()
    );
}

#[test]
fn dependents_of_an_unhealthy_dependency_are_skipped_with_reason() {
    let Some(env) = Env::with_tmux("skipdeps") else { return };
    env.config(
        r#"name = "gate"
[tasks.db]
command = "sleep 1000"
health_check = "false"
health_interval = 0.2
health_retries = 3
stop_grace_period = 1
[tasks.app]
command = "sleep 1000"
depends_on = ["db"]
stop_grace_period = 1
[tasks.app2]
command = "sleep 1000"
depends_on = ["app"]
stop_grace_period = 1
"#,
    );
    let (v, code) = env.json(&["start"]);
    assert_eq!(v["ok"], true, "skipping is not a failure (taskmux(1) `start`): {v}");
    assert_eq!(code, 0, "{v}");
    assert_eq!(names(&v["tasks"]), vec!["db".to_string()], "{v}");
    let skipped = v["skipped"].as_array().expect("skipped list");
    let reason = |task: &str| -> String {
        skipped
            .iter()
            .find(|s| s["task"] == task)
            .and_then(|s| s["reason"].as_str())
            .unwrap_or_else(|| panic!("{task} not in skipped: {v}"))
            .to_string()
    };
    assert!(reason("app").contains("db"), "app's reason names db: {v}");
    assert!(reason("app2").contains("app"), "app2's reason names app: {v}");
    assert_eq!(skipped.len(), 2, "{v}");

    assert_eq!(env.task_status("db")["running"], true);
    for t in ["app", "app2"] {
        let st = env.task_status(t);
        assert_eq!(st["running"], false, "{st}");
        assert_eq!(st["state"], "stopped", "{st}");
        assert!(
            !windows(&env).contains(&t.to_string()),
            "no window for {t}: {:?}",
            windows(&env)
        );
        assert!(task_procs(&env, "gate", t).is_empty(), "no process for {t}");
    }
}

#[test]
fn start_wait_fails_with_e214_when_a_probe_never_passes() {
    let Some(env) = Env::with_tmux("waitfail") else { return };
    env.config(
        r#"name = "waitfail"
[tasks.never_ready]
command = "sleep 1000"
health_check = "test -e /nonexistent/ready-flag"
health_interval = 0.2
health_retries = 3
stop_grace_period = 1
"#,
    );
    let (v, code) = env.json(&["start", "--wait"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["code"], "E214", "{v}");
    let msg = v["error"].as_str().unwrap_or_default();
    assert!(msg.contains("never_ready"), "message names the task: {msg}");
    assert!(
        msg.contains("health_check") || msg.contains("ready-flag"),
        "message names the probe: {msg}"
    );

    // and without --json (from stopped again): the same code on stderr, with a hint
    let (v, code) = env.json(&["stop"]);
    assert_eq!(code, 0, "{v}");
    let o = env.run(&["start", "--wait"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("error[E214]") && err.contains("never_ready"),
        "{}",
        show(&o)
    );
    assert!(err.lines().any(|l| l.starts_with("  hint: ")), "{}", show(&o));
}

#[test]
fn a_task_that_exits_keeps_its_window_and_exit_code() {
    let Some(env) = Env::with_tmux("exited") else { return };
    env.config(
        r#"name = "exited"
[tasks.quick]
command = "echo hi; exit 3"
restart_policy = "no"
"#,
    );
    env.started();
    wait_state(&env, "quick", "exited");
    let st = env.task_status("quick");
    assert_eq!(st["exit_code"], 3, "{st}");
    assert_eq!(st["running"], false, "{st}");
    assert_eq!(st["pid"], Value::Null, "{st}");
    assert!(
        windows(&env).contains(&"quick".to_string()),
        "window stays: {:?}",
        windows(&env)
    );
    let (i, code) = env.json(&["inspect", "quick"]);
    assert_eq!(code, 0, "{i}");
    let pane = i["pane_id"]
        .as_str()
        .unwrap_or_else(|| panic!("pane_id: {i}"))
        .to_string();
    // -S -: tmux scrolls the first line into history when it prints "Pane is dead"
    // tmux may draw the last output a moment after it marks the pane dead
    let mut text = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        text = env.tmux(&["capture-pane", "-p", "-S", "-", "-t", &pane]);
        if text.lines().any(|l| l.trim() == "hi") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        text.lines().any(|l| l.trim() == "hi"),
        "pane shows the output: {text:?}"
    );
}

#[test]
fn lifecycle_verbs_are_idempotent() {
    let Some(env) = Env::with_tmux("idem") else { return };
    env.config(
        r#"name = "idem"
[tasks.svc]
command = "sleep 1000"
stop_grace_period = 1
"#,
    );
    let count = |env: &Env| windows(env).iter().filter(|w| *w == "svc").count();

    let (v, code) = env.json(&["start", "svc"]);
    assert_eq!((code, v["action"].as_str()), (0, Some("started")), "{v}");
    let (v, code) = env.json(&["start", "svc"]);
    assert_eq!((code, v["action"].as_str()), (0, Some("already_running")), "{v}");
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(count(&env), 1, "{:?}", windows(&env));

    // restart: same window, new process
    let (before, _) = env.json(&["inspect", "svc"]);
    let old_pid = before["pid"].as_i64().expect("pid") as i32;
    assert!(alive(old_pid));
    let (v, code) = env.json(&["restart", "svc"]);
    assert_eq!((code, v["action"].as_str()), (0, Some("restarted")), "{v}");
    let (after, _) = env.json(&["inspect", "svc"]);
    assert_eq!(after["window_id"], before["window_id"], "restart reuses the window");
    let new_pid = after["pid"]
        .as_i64()
        .unwrap_or_else(|| panic!("running after restart: {after}")) as i32;
    assert_ne!(new_pid, old_pid);
    assert!(alive(new_pid));
    assert!(!alive(old_pid), "old process {old_pid} is gone");
    assert_eq!(count(&env), 1, "{:?}", windows(&env));

    // stop twice
    let (v, code) = env.json(&["stop", "svc"]);
    assert_eq!((code, v["action"].as_str()), (0, Some("stopped")), "{v}");
    assert!(!alive(new_pid));
    let (v, code) = env.json(&["stop", "svc"]);
    assert_eq!((code, v["action"].as_str()), (0, Some("already_stopped")), "{v}");
    assert_eq!(count(&env), 1, "the window stays after stop: {:?}", windows(&env));

    // start again (into the same window), then kill
    let (v, code) = env.json(&["start", "svc"]);
    assert_eq!((code, v["action"].as_str()), (0, Some("started")), "{v}");
    assert_eq!(count(&env), 1, "{:?}", windows(&env));
    let pid = env.task_status("svc")["pid"].as_i64().expect("running") as i32;
    let (v, code) = env.json(&["kill", "svc"]);
    assert_eq!((code, v["action"].as_str()), (0, Some("killed")), "{v}");
    assert_eq!(count(&env), 0, "kill destroys the window: {:?}", windows(&env));
    assert!(!alive(pid), "killed process {pid} is gone");
    assert!(task_procs(&env, "idem", "svc").is_empty());
    assert_eq!(env.task_status("svc")["state"], "stopped");
    let (v, code) = env.json(&["kill", "svc"]);
    assert_eq!(code, 0, "killing a killed task is a no-op: {v}");
    assert_eq!(v["ok"], true, "{v}");
}

#[test]
fn hooks_run_in_order_in_the_project_directory() {
    let Some(env) = Env::with_tmux("hooks") else { return };
    env.config(
        r#"name = "hooks"
[hooks]
before_start = "echo g_before_start >> hooks.log"
after_start = "echo g_after_start >> hooks.log"
before_stop = "echo g_before_stop >> hooks.log"
after_stop = "echo g_after_stop >> hooks.log"
[tasks.h]
command = "sleep 1000"
stop_grace_period = 1
[tasks.h.hooks]
before_start = "echo t_before_start >> hooks.log"
after_start = "echo t_after_start >> hooks.log"
before_stop = "echo t_before_stop >> hooks.log"
after_stop = "echo t_after_stop >> hooks.log"
"#,
    );
    // run from a subdirectory: the config is found upward, hooks still run in its directory
    let deep = env.project.join("deep/er");
    std::fs::create_dir_all(&deep).expect("mkdir");
    let o = env
        .command(&["--json", "start"])
        .current_dir(&deep)
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let o = env
        .command(&["--json", "stop"])
        .current_dir(&deep)
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(!deep.join("hooks.log").exists(), "hooks ran in the caller's directory");
    let log = read(&env.project.join("hooks.log"));
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(
        lines,
        [
            "g_before_start",
            "t_before_start",
            "t_after_start",
            "g_after_start",
            "g_before_stop",
            "t_before_stop",
            "t_after_stop",
            "g_after_stop"
        ],
        "hook order"
    );
}

#[test]
fn a_failing_task_before_start_hook_stops_that_task_only() {
    let Some(env) = Env::with_tmux("taskhookfail") else {
        return;
    };
    env.config(
        r#"name = "thf"
[tasks.good]
command = "sleep 1000"
stop_grace_period = 1
[tasks.bad]
command = "sleep 1000"
stop_grace_period = 1
[tasks.bad.hooks]
before_start = "exit 7"
"#,
    );
    let (v, code) = env.json(&["start"]);
    assert_ne!(code, 0, "{v}");
    assert_eq!(v["ok"], false, "{v}");
    let failed = v["failed"].as_array().unwrap_or_else(|| panic!("failed list: {v}"));
    let bad = failed
        .iter()
        .find(|f| f["task"] == "bad")
        .unwrap_or_else(|| panic!("bad in failed: {v}"));
    assert_eq!(bad["code"], "E400", "{v}");
    let mentions_7 = bad["details"]["exit_code"] == 7 || bad["error"].as_str().is_some_and(|e| e.contains('7'));
    assert!(mentions_7, "exit code 7 reported: {v}");
    assert!(names(&v["tasks"]).contains(&"good".to_string()), "{v}");
    assert!(
        !windows(&env).contains(&"bad".to_string()),
        "no window for bad: {:?}",
        windows(&env)
    );
    assert!(task_procs(&env, "thf", "bad").is_empty(), "no process for bad");
    assert_eq!(env.task_status("bad")["running"], false);
    assert_eq!(env.task_status("good")["running"], true);

    // one task named: a flat error with the code at the top
    let (v, code) = env.json(&["start", "bad"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["code"], "E400", "{v}");
    assert_eq!(v["task"], "bad", "{v}");
    assert!(!windows(&env).contains(&"bad".to_string()), "{:?}", windows(&env));
}

#[test]
fn a_failing_global_before_start_hook_starts_nothing() {
    let Some(env) = Env::with_tmux("globalhookfail") else {
        return;
    };
    env.config(
        r#"name = "ghf"
[hooks]
before_start = "exit 5"
[tasks.a]
command = "sleep 1000"
[tasks.b]
command = "sleep 1000"
"#,
    );
    let (v, code) = env.json(&["start"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["code"], "E400", "top-level code: {v}");
    let msg = v["error"].as_str().unwrap_or_default();
    assert!(
        msg.contains('5') || v["details"]["exit_code"] == 5,
        "exit code 5 reported: {v}"
    );
    assert_eq!(env.tmux(&["list-sessions"]), "", "no session was made");
    assert!(env.our_processes().is_empty(), "nothing runs");

    let o = env.run(&["start"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("error[E400]"),
        "{}",
        show(&o)
    );
}

#[test]
fn task_environment_and_cwd() {
    let Some(env) = Env::with_tmux("taskenv") else { return };
    let port = free_ports(1)[0];
    env.file(".env", "B=2\n");
    env.file("sub/.keep", "");
    env.config(&format!(
        r#"name = "envt"
env_file = ".env"
[env]
A = "1"
[tasks.show]
command = "env > env.out; pwd > pwd.out"
cwd = "sub"
port = {port}
env = {{ C = "3" }}
restart_policy = "no"
"#
    ));
    env.started();
    let sub = env.project.join("sub");
    wait_for(10.0, "pwd.out written", || read(&sub.join("pwd.out")).ends_with('\n'));
    let out = read(&sub.join("env.out"));
    let lines: Vec<&str> = out.lines().collect();
    for want in [
        "A=1".to_string(),
        "B=2".to_string(),
        "C=3".to_string(),
        format!("PORT={port}"),
        "TASKMUX_TASK=envt/show".to_string(),
    ] {
        assert!(lines.contains(&want.as_str()), "{want} in the task's env:\n{out}");
    }
    let pwd = read(&sub.join("pwd.out"));
    assert_eq!(
        std::fs::canonicalize(pwd.trim()).expect("pwd exists"),
        std::fs::canonicalize(&sub).expect("sub"),
        "the task runs in cwd relative to the config"
    );
    assert!(!env.project.join("env.out").exists(), "not in the project dir itself");
}

#[test]
fn stopping_an_exited_task_leaves_other_servers_alone() {
    // A's task exits: its pane is dead and tmux frees its pty, which B's panes may reuse
    let Some(a) = Env::with_tmux("xsrv-a") else { return };
    a.config("name = \"xa\"\n[tasks.quick]\ncommand = \"exit 3\"\nrestart_policy = \"no\"\n");
    let b = Env::new("xsrv-b");
    let mut cfg = String::from("name = \"xb\"\n");
    for i in 0..4 {
        cfg.push_str(&format!(
            "[tasks.v{i}]\ncommand = \"sleep 1000\"\nstop_grace_period = 1\n"
        ));
    }
    b.config(&cfg);
    a.started();
    // (not state "exited": see a_task_that_exits_keeps_its_window_and_exit_code)
    wait_for(10.0, "quick's pane to be dead", || {
        a.tmux(&["list-panes", "-a", "-F", "#{pane_dead}"]).trim() == "1"
    });
    let (i, _) = a.json(&["inspect", "quick"]);
    let dead_tty = a.tmux(&[
        "display-message",
        "-p",
        "-t",
        i["pane_id"].as_str().expect("pane"),
        "#{pane_tty}",
    ]);
    b.started();
    let pids: Vec<i32> = (0..4)
        .map(|n| b.task_status(&format!("v{n}"))["pid"].as_i64().expect("running") as i32)
        .collect();
    let b_ttys = b.tmux(&["list-panes", "-a", "-F", "#{pane_tty}"]);
    let shared = b_ttys.lines().any(|t| t == dead_tty.trim());
    eprintln!(
        "A's dead pane had {}; B's panes: {b_ttys:?}; shared: {shared}",
        dead_tty.trim()
    );
    if !shared {
        // another test's pane took the pty: stopping A now could hit that test, not B
        eprintln!("skipping the stop: none of B's panes reused A's pty");
        return;
    }

    let (v, code) = a.json(&["stop", "quick"]);
    assert_eq!(code, 0, "{v}");
    for p in &pids {
        assert!(alive(*p), "B's process {p} survives A's 'stop quick' ({v})");
    }
    assert_eq!(
        v["action"], "already_stopped",
        "an exited task has nothing to stop: {v}"
    );
    let (v, code) = a.json(&["kill", "quick"]);
    assert_eq!(code, 0, "{v}");
    for p in &pids {
        assert!(alive(*p), "B's process {p} survives A's 'kill quick'");
    }
}

/// The reason a task was skipped for, from a `start --json` result.
fn skip_reason(v: &Value, task: &str) -> String {
    v["skipped"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["task"] == task))
        .and_then(|s| s["reason"].as_str())
        .unwrap_or_else(|| panic!("{task} not in skipped: {v}"))
        .to_string()
}

/// A dependency that exits while its dependents wait for its health: they are skipped
/// with what happened ("exited with code 1", not a probe budget of hours), the dependency
/// is a failure of the start, and the start is not ok (exit 1); it returns at once.
#[test]
fn a_dependency_that_dies_mid_chain_fails_the_start_and_skips_its_dependents_saying_why() {
    let Some(env) = Env::with_tmux("depdies") else { return };
    env.config(
        r#"name = "dies"
[tasks.db]
command = "sleep 0.3; exit 1"
health_check = "false"
health_interval = 0.5
health_retries = 10000
[tasks.app]
command = "sleep 1000"
depends_on = ["db"]
stop_grace_period = 1
[tasks.app2]
command = "sleep 1000"
depends_on = ["app"]
stop_grace_period = 1
"#,
    );
    let t0 = std::time::Instant::now();
    let (v, code) = env.json(&["start"]);
    assert!(t0.elapsed().as_secs() < 30, "start waited out the probe budget: {v}");
    assert_eq!(v["ok"], false, "a dependency died: {v}");
    assert_eq!(code, 1, "{v}");
    let app = skip_reason(&v, "app");
    assert!(app.contains("'db'") && app.contains("exited with code 1"), "{app}");
    assert!(!app.contains("not healthy after"), "{app}");
    assert!(skip_reason(&v, "app2").contains("'app'"), "{v}");
    let failed = v["failed"].as_array().expect("failed list");
    assert_eq!(failed.len(), 1, "{v}");
    assert_eq!(failed[0]["task"], "db", "{v}");
    assert!(
        failed[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("exited with code 1")),
        "{v}"
    );
    for t in ["app", "app2"] {
        assert!(task_procs(&env, "dies", t).is_empty(), "no process for {t}");
    }
    let o = env.run(&["start"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        text.contains("skipped app: Dependency 'db' exited with code 1"),
        "{}",
        show(&o)
    );
}

/// `taskmux stop` of a dependency while a start waits for its health: the dependents'
/// skip reason says it was stopped.
#[test]
fn a_dependency_stopped_during_the_wait_is_named_as_stopped() {
    let Some(env) = Env::with_tmux("depstopped") else {
        return;
    };
    env.config(
        r#"name = "stopped"
[tasks.db]
command = "sleep 1000"
health_check = "false"
health_interval = 0.5
health_retries = 10000
stop_grace_period = 1
[tasks.app]
command = "sleep 1000"
depends_on = ["db"]
stop_grace_period = 1
"#,
    );
    let start = env
        .command(&["--json", "start"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    wait_for(20.0, "db to run", || env.task_status("db")["running"] == true);
    let (s, code) = env.json(&["stop", "db"]);
    assert_eq!(code, 0, "{s}");
    let out = start.wait_with_output().expect("start returns");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(&out)));
    let app = skip_reason(&v, "app");
    assert!(app.contains("'db'") && app.contains("stopped"), "{app}");
    assert!(!app.contains("not healthy after"), "{app}");
    assert!(task_procs(&env, "stopped", "app").is_empty(), "no process for app");
}

/// `start --json` lists `tasks` in the order they were launched: a dependency before its
/// dependents, whatever the order of the file.
#[test]
fn start_lists_tasks_in_launch_order_dependencies_first() {
    let Some(env) = Env::with_tmux("launchorder") else {
        return;
    };
    env.config(
        r#"name = "order"
[tasks.web]
command = "sleep 1000"
depends_on = ["api"]
stop_grace_period = 1
[tasks.api]
command = "sleep 1000"
depends_on = ["db"]
stop_grace_period = 1
[tasks.db]
command = "sleep 1000"
stop_grace_period = 1
"#,
    );
    let v = env.started();
    assert_eq!(names(&v["tasks"]), ["db", "api", "web"], "{v}");
}
