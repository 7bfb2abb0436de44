//! `watch` against real tmux: an added task starts, a removed one is killed and its window
//! destroyed, a changed running task turns stale and keeps running, a broken save is
//! reported and survived, and SIGINT/SIGTERM end the watcher with exit 0.

use crate::harness::{Env, alive, strings, task_procs, wait_for, windows};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};

/// A running `taskmux watch`, killed and reaped on drop; its stdout lines (and stderr, when
/// asked for) are collected by threads.
struct Watcher {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
}

impl Watcher {
    fn spawn(env: &Env, args: &[&str]) -> Watcher {
        let mut child = env
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("taskmux watch starts");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (out_pipe, err_pipe) = (child.stdout.take(), child.stderr.take());
        let sink = Arc::clone(&stdout);
        std::thread::spawn(move || {
            let Some(p) = out_pipe else { return };
            for line in BufReader::new(p).lines().map_while(Result::ok) {
                sink.lock().expect("reader lock").push(line);
            }
        });
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let Some(mut p) = err_pipe else { return };
            let mut buf = [0u8; 4096];
            while let Ok(n) = p.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .expect("reader lock")
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Watcher { child, stdout, stderr }
    }

    fn lines(&self) -> Vec<String> {
        self.stdout.lock().expect("reader lock").clone()
    }

    fn stderr(&self) -> String {
        self.stderr.lock().expect("reader lock").clone()
    }

    /// The JSON lines whose `event` is `event`.
    fn events(&self, event: &str) -> Vec<Value> {
        self.lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["event"] == event)
            .collect()
    }

    /// Waits for a JSON line of `event` for which `pred` holds; returns it.
    fn wait_event(&self, event: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let mut found = Value::Null;
        wait_for(10.0, &format!("a '{event}' line from watch"), || {
            match self.events(event).into_iter().find(|v| pred(v)) {
                Some(v) => {
                    found = v;
                    true
                }
                None => false,
            }
        });
        found
    }

    /// Sends a signal and returns the exit code.
    fn signal(mut self, sig: rustix::process::Signal) -> Option<i32> {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).expect("child pid > 0");
        let _ = rustix::process::kill_process(pid, sig);
        let mut code = None;
        wait_for(5.0, "watch to exit after a signal", || match self.child.try_wait() {
            Ok(Some(st)) => {
                code = st.code();
                true
            }
            _ => false,
        });
        code
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Saves the config the way editors do: write a temporary file, rename it over the old one.
fn save(env: &Env, text: &str) {
    let tmp = env.project.join(".taskmux.toml.swp");
    std::fs::write(&tmp, text).expect("write temp config");
    std::fs::rename(&tmp, env.project.join("taskmux.toml")).expect("rename over config");
}

fn running_pid(env: &Env, task: &str) -> i64 {
    let mut pid = 0;
    wait_for(10.0, &format!("{task} to be running"), || {
        let st = env.task_status(task);
        pid = st["pid"].as_i64().unwrap_or(0);
        st["running"] == true && pid > 0
    });
    pid
}

const BASE: &str = "name = \"wp\"\n[tasks.a]\ncommand = \"sleep 300\"\n";

#[test]
fn watch_follows_added_removed_changed_and_broken_saves() {
    let Some(env) = Env::with_tmux("watch") else { return };
    env.config(BASE);
    let (v, code) = env.json(&["start"]);
    assert_eq!(code, 0, "start: {v}");
    let a_pid = running_pid(&env, "a");

    let w = Watcher::spawn(&env, &["--json", "watch"]);
    let hello = w.wait_event("watching", |_| true);
    assert_eq!(hello["session"], "wp", "{hello}");
    assert_eq!(env.task_status("b"), Value::Null, "nothing is started at startup");

    // (a) an added auto_start task is started
    save(&env, &format!("{BASE}[tasks.b]\ncommand = \"sleep 301\"\n"));
    let r = w.wait_event("config_reloaded", |v| strings(&v["added"]) == ["b"]);
    assert_eq!(strings(&r["removed"]), Vec::<String>::new(), "{r}");
    let b_pid = running_pid(&env, "b");
    let (ev, _) = env.json(&["events"]);
    assert!(
        ev["events"].as_array().is_some_and(|a| a
            .iter()
            .any(|e| e["event"] == "config_reloaded" && e["session"] == "wp" && strings(&e["added"]) == ["b"])),
        "no config_reloaded event: {ev}"
    );

    // (b) a removed task is killed and its window destroyed
    save(&env, BASE);
    w.wait_event("config_reloaded", |v| strings(&v["removed"]) == ["b"]);
    wait_for(10.0, "b's processes to be gone", || {
        !alive(b_pid as i32) && task_procs(&env, "wp", "b").is_empty()
    });
    wait_for(5.0, "b's window to be destroyed", || {
        !windows(&env).contains(&"b".to_string())
    });
    assert_eq!(env.task_status("a")["pid"], a_pid, "a is untouched");

    // (c) a changed running task keeps running and is stale
    let changed = "name = \"wp\"\n[tasks.a]\ncommand = \"sleep 302\"\n";
    save(&env, changed);
    w.wait_event("config_reloaded", |v| strings(&v["changed"]) == ["a"]);
    let st = env.task_status("a");
    assert_eq!(st["stale"], true, "{st}");
    assert_eq!(st["running"], true, "{st}");
    assert_eq!(st["pid"], a_pid, "a was not restarted: {st}");

    // (d) a broken save is reported and everything keeps running; a later save is picked up
    save(&env, "name = \"wp\"\n[tasks.a\ncommand = \n");
    let bad = w.wait_event("config_invalid", |_| true);
    assert_eq!(bad["code"], "E101", "{bad}");
    assert!(bad["error"].as_str().is_some_and(|s| !s.is_empty()), "{bad}");
    assert!(alive(a_pid as i32), "a survives a broken save");
    assert_eq!(
        w.events("config_reloaded").len(),
        3,
        "a broken save is not a reload: {:?}",
        w.lines()
    );
    save(&env, &format!("{changed}[tasks.c]\ncommand = \"sleep 303\"\n"));
    let r = w.wait_event("config_reloaded", |v| strings(&v["added"]) == ["c"]);
    assert_eq!(
        strings(&r["changed"]),
        Vec::<String>::new(),
        "diffed against the last valid config: {r}"
    );
    running_pid(&env, "c");
    assert_eq!(env.task_status("a")["pid"], a_pid);

    assert_eq!(
        w.signal(rustix::process::Signal::INT),
        Some(0),
        "SIGINT ends watch with 0"
    );
}

#[test]
fn watch_human_output_and_sigterm() {
    let Some(env) = Env::with_tmux("watch-human") else {
        return;
    };
    env.config(BASE);
    let w = Watcher::spawn(&env, &["watch"]);
    wait_for(10.0, "the startup line", || {
        w.lines()
            .iter()
            .any(|l| l.starts_with("watching ") && l.contains("taskmux.toml"))
    });
    save(&env, "[tasks\n");
    wait_for(10.0, "the error on stderr", || {
        w.stderr().contains("taskmux: error[E101]: ")
    });
    save(
        &env,
        &format!("{BASE}[tasks.m]\ncommand = \"sleep 301\"\nauto_start = false\n"),
    );
    wait_for(10.0, "the reload line", || {
        w.lines().iter().any(|l| l.starts_with("reloaded config: added m;"))
    });
    assert_eq!(env.task_status("m")["running"], false, "a manual task is not started");
    assert_eq!(
        w.signal(rustix::process::Signal::TERM),
        Some(0),
        "SIGTERM ends watch with 0"
    );
}

#[test]
fn watch_says_what_the_config_became_when_it_is_a_directory() {
    let Some(env) = Env::with_tmux("watch-dir") else { return };
    env.config(BASE);
    let w = Watcher::spawn(&env, &["--json", "watch"]);
    w.wait_event("watching", |_| true);
    let cfg = env.project.join("taskmux.toml");
    std::fs::remove_file(&cfg).expect("rm config");
    std::fs::create_dir(&cfg).expect("mkdir in its place");
    let bad = w.wait_event("config_invalid", |_| true);
    assert_eq!(bad["code"], "E100", "an I/O error on the config is not a bug: {bad}");
    assert!(
        bad["error"].as_str().unwrap_or_default().contains("is a directory"),
        "{bad}"
    );
}
