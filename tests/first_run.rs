//! What a new user meets first: `start --wait` returns as soon as a quick server serves
//! (not a whole `health_interval` later), and a typo in a command is said at once.

use crate::harness::{Env, have_tmux, node_module, show, wait_for};
use crate::lifecycle::epoch;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Seconds since the epoch, now.
fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Runs `taskmux start --wait` and returns how long it took, from the command's start to
/// its exit, asserting it succeeded.
fn timed_start_wait(env: &Env) -> Duration {
    let t0 = Instant::now();
    let o = env.run(&["start", "--wait"]);
    let took = t0.elapsed();
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    took
}

/// A `host` task serving in a moment, with the default `health_interval` (10 s): `start
/// --wait` sees it at once, since until the first pass the probes come at 100 ms, doubling.
/// Before, it slept a whole interval after the first (failed) probe: 10.1 s.
#[test]
fn start_wait_returns_as_soon_as_a_quick_server_serves() {
    if !have_tmux() {
        return;
    }
    let env = Env::new("quickwait");
    env.config(
        "name = \"quickwait\"\n[tasks.web]\ncommand = \"python3 -m http.server $PORT --bind 127.0.0.1\"\n\
         host = \"web\"\n",
    );
    let took = timed_start_wait(&env);
    eprintln!("start --wait of python3 -m http.server: {took:?}");
    assert!(
        took < Duration::from_secs(2),
        "start --wait took {took:?}; the server serves in a fraction of a second"
    );
    // and the server was really serving when it returned
    let st = env.task_status("web");
    assert_eq!(st["healthy"], true, "{st}");
    let port = st["port"].as_u64().expect("a host task has a port") as u16;
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        "web serves on {port}"
    );
}

/// The same for Vite's dev server (ready in about 250 ms on a quiet machine, where `start
/// --wait` takes under a second; the bound asserted leaves room for a busy one).
#[test]
fn start_wait_returns_as_soon_as_vite_serves() {
    if !have_tmux() {
        return;
    }
    let Some(vite) = node_module("vite/bin/vite.js") else {
        return;
    };
    let env = Env::new("vitewait");
    env.file("index.html", "<!doctype html><title>vite</title><p>hello</p>\n");
    env.config(&format!(
        "name = \"vitewait\"\n[tasks.web]\n\
         command = \"node '{}' --port $PORT --strictPort --host 127.0.0.1 --clearScreen false\"\n\
         host = \"web\"\n",
        vite.display()
    ));
    let took = timed_start_wait(&env);
    let ready = env.run(&["logs", "web", "-g", "ready in"]);
    eprintln!(
        "start --wait of vite: {took:?}; vite says: {}",
        String::from_utf8_lossy(&ready.stdout).trim()
    );
    assert!(
        took < Duration::from_secs(3),
        "start --wait took {took:?}; vite serves in well under a second on a quiet machine"
    );
    assert_eq!(env.task_status("web")["healthy"], true);
}

/// The typo of the issue: `pyhton3` for `python3`.
const TYPO: &str = "name = \"typo\"\n[tasks.api]\ncommand = \"pyhton3 -m http.server $PORT\"\nhost = \"api\"\n";

/// `start` of a task whose program is not on PATH says so, as `check` does (W101): on
/// stderr, and in `warnings` with `--json`, the same object `check --json` gives. Before,
/// it said `started api` and nothing else, exit 0.
#[test]
fn start_warns_of_a_program_not_on_path_as_check_does() {
    if !have_tmux() {
        return;
    }
    let env = Env::new("typo");
    env.config(TYPO);
    let o = env.run(&["start"]);
    assert_eq!(o.status.code(), Some(0), "the task did start: {}", show(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("warning[W101]: task 'api': command 'pyhton3' not found on PATH"),
        "{}",
        show(&o)
    );
    assert!(err.contains("  hint: "), "{}", show(&o));

    let (checked, _) = env.json(&["check"]);
    let w101 = checked["warnings"][0].clone();
    assert_eq!(w101["code"], "W101", "{checked}");
    env.run(&["stop"]);
    let (v, code) = env.json(&["start"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["warnings"], json!([w101]), "start's warning is check's: {v}");
    // one task named: the same
    env.run(&["stop"]);
    let (v, _) = env.json(&["start", "api"]);
    assert_eq!(v["warnings"], json!([w101]), "{v}");

    // a program that is there is not warned about
    let fine = Env::new("notypo");
    fine.config(&TYPO.replace("typo", "notypo").replace("pyhton3", "python3"));
    let (v, code) = fine.json(&["start"]);
    assert_eq!((code, &v["warnings"]), (0, &json!([])), "{v}");
}

/// A `start --wait` that fails shows the last lines of the task's log under the error
/// (`details.log_tail` with `--json`) and names `taskmux logs TASK`.
#[test]
fn a_failed_start_wait_shows_the_end_of_the_tasks_log() {
    if !have_tmux() {
        return;
    }
    let env = Env::new("typowait");
    env.config(&TYPO.replace("typo", "typowait"));
    let o = env.run(&["start", "--wait"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    let lines: Vec<&str> = err.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("taskmux: error[E214]: Task 'api' is not healthy"))
        .unwrap_or_else(|| panic!("E214 first: {}", show(&o)));
    assert_eq!(lines[at + 1], "  the last lines of api's log:", "{}", show(&o));
    assert!(
        lines[at + 2..]
            .iter()
            .take_while(|l| l.starts_with("    "))
            .any(|l| l.ends_with("pyhton3: not found")),
        "the shell's own words are shown: {}",
        show(&o)
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("  hint: ") && l.contains("'taskmux logs api'")),
        "{}",
        show(&o)
    );

    env.run(&["stop"]);
    let (v, code) = env.json(&["start", "--wait"]);
    assert_eq!((code, v["code"].as_str()), (1, Some("E214")), "{v}");
    let tail = crate::harness::strings(&v["details"]["log_tail"]);
    assert!(tail.iter().any(|l| l.ends_with("pyhton3: not found")), "{v}");
    assert!(tail.len() <= 10, "{v}");
    // only this run's lines: the first start's are older than this start
    let runs = tail.iter().filter(|l| l.ends_with("not found")).count();
    assert_eq!(runs, 1, "{v}");
    assert!(
        v["hint"].as_str().is_some_and(|h| h.contains("taskmux logs api")),
        "{v}"
    );
}

/// `stop` of a task that ended and waits out its backoff to be restarted by the daemon
/// cancels that restart and says so (before: "no task was running", though its mark did
/// keep the daemon from restarting it).
#[test]
fn stop_of_a_task_in_backoff_says_it_cancelled_the_restart() {
    if !have_tmux() {
        return;
    }
    let env = Env::new("backoff");
    // it runs a moment before it fails, so the test sees it running first
    env.config("name = \"backoff\"\n[tasks.api]\ncommand = \"sleep 1; exit 3\"\nrestart_backoff = 3\n");
    env.daemon_start(30.0);
    let in_backoff = |env: &Env| {
        wait_for(20.0, "api to be in backoff", || {
            env.task_status("api")["state"] == "backoff"
        });
        env.task_status("api")
    };
    env.run(&["start"]);
    let before = in_backoff(&env);
    let o = env.run(&["stop", "api"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "stopped api: it had ended, and its restart by the daemon is cancelled",
        "{}",
        show(&o)
    );
    let st = env.task_status("api");
    assert_eq!(
        (&st["state"], &st["next_restart_at"]),
        (&json!("stopped"), &Value::Null),
        "{st}"
    );
    // the restart that was due does not come
    let starts = env.events_named("task_started", Some("api")).len();
    let due = before["next_restart_at"]
        .as_str()
        .expect("a task in backoff has its restart's time");
    let due = epoch(due);
    wait_for(10.0, "the restart's time to pass", || now() > due + 1.0);
    assert_eq!(
        env.events_named("task_started", Some("api")).len(),
        starts,
        "not restarted"
    );
    assert_eq!(env.task_status("api")["state"], "stopped");
    let cancelled = env.events_named("task_stopped", Some("api"));
    assert_eq!(
        cancelled.last().map(|e| e["restart_cancelled"].clone()),
        Some(json!(true))
    );

    // with --json, the whole project
    env.run(&["start"]);
    in_backoff(&env);
    let (v, code) = env.json(&["stop"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        (&v["tasks"], &v["restart_cancelled"]),
        (&json!([]), &json!(["api"])),
        "{v}"
    );
}
