//! Supervision you can leave alone (taskmuxd(8), SUPERVISION): a relaunch first ends what
//! the old run left (a child that ignores SIGHUP and keeps the port; real Vite), and the
//! facts of supervision (restart budget, backoff, giving up) live in `state.json`, so a lost
//! tmux server or a restarted daemon forgets none of them.

use crate::harness::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The pid of a task's command (`command_pid` in `status`), once it runs.
fn command_pid(env: &Env, task: &str) -> i32 {
    let mut pid = 0;
    wait_for(15.0, "the task's command to run", || {
        pid = env.task_status(task)["command_pid"].as_i64().unwrap_or(0) as i32;
        pid > 0
    });
    pid
}

/// Live processes of `task` whose command line contains `needle`.
fn procs_with(env: &Env, session: &str, task: &str, needle: &str) -> Vec<i32> {
    task_procs(env, session, task)
        .into_iter()
        .filter(|p| {
            read(Path::new(&format!("/proc/{p}/cmdline")))
                .replace('\0', " ")
                .contains(needle)
        })
        .collect()
}

/// A server whose child ignores SIGHUP, takes half a second to end on SIGTERM, and holds
/// `$PORT`: what a dev server's worker does when its parent is killed.
const STUBBORN: &str = r#"import os, signal, socket, sys, time
port = int(os.environ["PORT"])
if os.fork() == 0:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *a: (time.sleep(0.5), sys.exit(0)))
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError as e:
        print("CHILD BIND FAILED", e, flush=True)
        sys.exit(1)
    s.listen()
    print("child listening", os.getpid(), flush=True)
    while True:
        time.sleep(1)
while True:
    time.sleep(1)
"#;

#[test]
fn a_relaunch_first_ends_what_the_old_run_left_and_waits_for_its_port() {
    if !have_tmux() {
        return;
    }
    let name = "sv-stubborn";
    let env = Env::new(name);
    env.file("srv.py", STUBBORN);
    env.config(&format!(
        "name = \"{name}\"\n[tasks.web]\ncommand = \"python3 -u srv.py\"\nhost = \"web\"\nstop_grace_period = 2\n"
    ));
    env.daemon_start(30.0);
    let (v, code) = env.json(&["start"]);
    assert_eq!(code, 0, "{v}");
    wait_for(10.0, "the child to listen", || {
        read(&log_of(&env, name, "web")).contains("child listening")
    });
    let child: i32 = read(&log_of(&env, name, "web"))
        .lines()
        .find_map(|l| l.split("child listening ").nth(1).and_then(|p| p.trim().parse().ok()))
        .expect("the child's pid");
    let pid = command_pid(&env, "web");
    assert_ne!(pid, child);
    let _ = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status();
    wait_for(15.0, "the relaunched child to listen", || {
        read(&log_of(&env, name, "web")).matches("child listening").count() == 2
    });
    let log = read(&log_of(&env, name, "web"));
    assert!(
        !log.contains("CHILD BIND FAILED"),
        "the new run found its port free: {log}"
    );
    assert_eq!(env.events_named("auto_restart", Some("web")).len(), 1, "one relaunch");
    let reaped = env.events_named("orphan_reaped", Some("web"));
    assert!(
        reaped
            .iter()
            .any(|e| e["pids"].as_array().is_some_and(|a| a.contains(&json!(child)))),
        "orphan_reaped names the child the old run left ({child}): {reaped:?}"
    );
    assert!(!alive(child), "the old child is gone");
    // and one copy runs: a parent and its child
    let pythons: Vec<i32> = procs_with(&env, name, "web", "srv.py")
        .into_iter()
        .filter(|p| read(Path::new(&format!("/proc/{p}/comm"))).trim().starts_with("python"))
        .collect();
    assert_eq!(
        pythons.len(),
        2,
        "one run of srv.py, a parent and its child: {pythons:?}"
    );
}

fn log_of(env: &Env, session: &str, task: &str) -> PathBuf {
    env.home
        .join("projects")
        .join(session)
        .join("logs")
        .join(format!("{task}.log"))
}

/// Vite from the npm package `.ci/run` installs into `target/node`.
fn vite() -> Option<PathBuf> {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/node/node_modules/.bin/vite");
    require("vite (npm, in target/node)", &[&bin.display().to_string(), "--version"]).then_some(bin)
}

#[test]
fn vite_killed_comes_back_once_with_one_node_and_serves_the_page() {
    if !have_tmux() {
        return;
    }
    let Some(vite) = vite() else { return };
    let name = "sv-vite";
    let env = Env::new(name);
    env.file("index.html", "<h1>served by vite</h1>\n");
    env.config(&format!(
        "name = \"{name}\"\n[tasks.web]\ncommand = \"{} --port $PORT --strictPort --host 127.0.0.1\"\nhost = \"web\"\nstop_grace_period = 2\n",
        vite.display()
    ));
    env.daemon_start(30.0);
    let (v, code) = env.json(&["start", "--wait"]);
    assert_eq!(code, 0, "{v}");
    let port = env.task_status("web")["port"].as_u64().expect("a port") as u16;
    let page = || -> String {
        std::process::Command::new("curl")
            .args(["-s", "--max-time", "2", &format!("http://127.0.0.1:{port}/")])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    wait_for(15.0, "vite to serve the page", || page().contains("served by vite"));
    let pid = command_pid(&env, "web");
    let _ = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status();
    wait_for(20.0, "vite to serve the page again", || {
        env.task_status("web")["command_pid"]
            .as_i64()
            .is_some_and(|p| p as i32 != pid)
            && page().contains("served by vite")
    });
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(2) {
        let nodes: Vec<i32> = procs_with(&env, name, "web", "vite")
            .into_iter()
            .filter(|p| read(Path::new(&format!("/proc/{p}/comm"))).trim() == "node")
            .collect();
        assert_eq!(nodes.len(), 1, "one node vite: {nodes:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        env.events_named("auto_restart", Some("web")).len(),
        1,
        "exactly one relaunch"
    );
    let log = read(&log_of(&env, name, "web"));
    assert!(
        !log.contains("Port") || !log.contains("is already in use"),
        "the new vite found its port: {log}"
    );
    assert_eq!(env.task_status("web")["restarts"], 1);
}

/// A task that fails the moment it starts, by a start the running daemon carries out, is
/// restarted by its policy: its supervisor is woken for a pane that has already ended, not
/// only for one that runs (before: it stayed exited, and nothing said why).
#[test]
fn a_task_that_fails_at_once_is_restarted_by_its_policy() {
    if !have_tmux() {
        return;
    }
    let name = "sv-at-once";
    let env = Env::new(name);
    env.config(&format!(
        "name = \"{name}\"\n[tasks.crash]\ncommand = \"exit 3\"\nmax_restarts = 2\nrestart_backoff = 1.01\n"
    ));
    // a heal interval longer than the test: only supervision can bring it back
    env.daemon_start(600.0);
    let (v, code) = env.json(&["start"]);
    assert_eq!(code, 0, "{v}");
    wait_for(15.0, "max_restarts_reached", || {
        !env.events_named("max_restarts_reached", Some("crash")).is_empty()
    });
    assert_eq!(env.events_named("auto_restart", Some("crash")).len(), 2);
    assert_eq!(env.task_status("crash")["restarts"], 2);
}

#[test]
fn restart_budgets_outlive_tmux_and_the_daemon_and_a_heal_leaves_a_task_that_gave_up() {
    if !have_tmux() {
        return;
    }
    let name = "sv-budget";
    let env = Env::new(name);
    env.config(&format!(
        "name = \"{name}\"\n[tasks.crash]\ncommand = \"sh -c 'sleep 0.2; exit 3'\"\nmax_restarts = 2\nrestart_backoff = 1.01\n\n[tasks.idle]\ncommand = \"sleep 1000\"\nstop_grace_period = 1\n"
    ));
    env.daemon_start(0.5);
    let (v, code) = env.json(&["start"]);
    assert_eq!(code, 0, "{v}");
    wait_for(15.0, "max_restarts_reached", || {
        !env.events_named("max_restarts_reached", Some("crash")).is_empty()
    });
    assert_eq!(env.events_named("auto_restart", Some("crash")).len(), 2);
    let facts = |env: &Env| -> Value {
        let s: Value =
            serde_json::from_str(&read(&env.home.join("projects").join(name).join("state.json"))).expect("state.json");
        s["supervised"]["crash"].clone()
    };
    assert_eq!(facts(&env)["restarts"], 2, "{}", facts(&env));
    assert_eq!(facts(&env)["gave_up"], true, "{}", facts(&env));
    assert_eq!(
        env.task_status("crash")["restarts"],
        2,
        "status reads the budget from state.json"
    );
    // the tmux server goes: the heal brings back idle, and leaves crash down
    env.tmux(&["kill-server"]);
    wait_for(15.0, "the heal", || {
        !env.events_named("project_healed", None).is_empty()
    });
    wait_for(10.0, "idle to run again", || env.task_status("idle")["running"] == true);
    let healed = env.events_named("project_healed", None);
    assert!(
        healed
            .iter()
            .all(|e| !e["tasks"].as_array().is_some_and(|t| t.contains(&json!("crash")))),
        "a task that gave up is left down by a heal: {healed:?}"
    );
    // a daemon restart says nothing again and restarts nothing
    let pid = env.daemon_pid().expect("the daemon runs");
    let _ = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status();
    wait_for(5.0, "the daemon to be gone", || !alive(pid));
    env.daemon_start(0.5);
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(1500) {
        assert_eq!(
            env.events_named("max_restarts_reached", Some("crash")).len(),
            1,
            "said once"
        );
        assert_eq!(
            env.events_named("auto_restart", Some("crash")).len(),
            2,
            "no new attempt"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // started by hand: a fresh budget
    let (v, code) = env.json(&["start", "crash"]);
    assert_eq!(code, 0, "{v}");
    wait_for(15.0, "a new automatic restart", || {
        env.events_named("auto_restart", Some("crash")).len() == 3
    });
    let last = env.events_named("auto_restart", Some("crash")).pop().expect("one");
    assert_eq!(last["attempt"], 1, "a fresh count after a start by hand: {last}");
}
