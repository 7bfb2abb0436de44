//! Reading state: `status`, `inspect` and `health` JSON, errors when tmux is missing, and
//! the output rules (broken pipes, color, unknown commands, `--json` anywhere).

use crate::harness::{Env, alive, bin, entry, free_port, show, wait_for};
use serde_json::Value;
use std::io::Read;
use std::process::{Command, Stdio};

const STATUS_TASK_KEYS: &[&str] = &[
    "name",
    "running",
    "healthy",
    "state",
    "command",
    "auto_start",
    "host",
    "url",
    "port",
    "restart_policy",
    "cwd",
    "depends_on",
    "pid",
    "command_pid",
    "started_at",
    "restarts",
    "exit_code",
    "stale",
    "last_health",
];

fn assert_keys(v: &Value, keys: &[&str]) {
    let m = v.as_object().unwrap_or_else(|| panic!("not an object: {v}"));
    for k in keys {
        assert!(m.contains_key(*k), "key {k:?} missing in {v}");
    }
}

#[test]
fn status_json_shape_and_values() {
    let Some(env) = Env::with_tmux("statusshape") else {
        return;
    };
    env.file("m/.keep", "");
    env.config(
        r#"name = "shape"
[tasks.run]
command = "sleep 1000"
stop_grace_period = 1
[tasks.manual]
command = "sleep 1001"
auto_start = false
cwd = "m"
host = "man"
depends_on = ["run"]
restart_policy = "no"
"#,
    );
    env.started();
    let s = env.status();
    assert_keys(&s, &["session", "running", "active_tasks", "daemon", "tasks"]);
    assert_keys(&s["daemon"], &["running", "pid"]);
    assert_eq!(s["session"], "shape");
    assert_eq!(s["running"], true);
    assert_eq!(s["active_tasks"], 1);
    assert_eq!(s["daemon"]["running"], false, "no daemon in a fresh TASKMUX_HOME: {s}");
    assert_eq!(s["daemon"]["pid"], Value::Null);
    let tasks = s["tasks"].as_array().expect("tasks");
    assert_eq!(tasks.len(), 2, "every task of the config, running or not: {s}");
    for t in tasks {
        assert_keys(t, STATUS_TASK_KEYS);
    }

    let run = entry(&s, "run");
    assert_eq!(run["running"], true, "{run}");
    assert_eq!(run["healthy"], true, "a proc-probed live task is healthy: {run}");
    assert_eq!(run["state"], "running", "{run}");
    assert_eq!(run["command"], "sleep 1000");
    assert_eq!(run["auto_start"], true);
    assert_eq!(run["host"], Value::Null);
    assert_eq!(run["url"], Value::Null);
    assert_eq!(run["port"], Value::Null);
    assert_eq!(run["restart_policy"], "on-failure", "the seed's default: {run}");
    assert_eq!(run["depends_on"], serde_json::json!([]));
    let pid = run["pid"].as_i64().unwrap_or_else(|| panic!("pid: {run}")) as i32;
    assert!(alive(pid), "pid {pid} is a live process");
    // the pane's process execs the task's shell, which execs sleep: under load status can
    // look a moment before the exec, so wait for it (briefly) rather than race it
    let cmdline =
        || String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default()).into_owned();
    wait_for(5.0, "the task's process to exec its command", || {
        cmdline().contains("sleep")
    });
    assert!(
        cmdline().contains("sleep"),
        "pid {pid} is the task's process: {:?}",
        cmdline()
    );
    let started = run["started_at"]
        .as_str()
        .unwrap_or_else(|| panic!("started_at: {run}"));
    assert!(
        started.len() >= 19 && started.as_bytes()[10] == b'T',
        "ISO time: {started}"
    );
    assert_eq!(run["restarts"], 0);
    assert_eq!(run["exit_code"], Value::Null);
    assert_eq!(run["stale"], false);

    let man = entry(&s, "manual");
    assert_eq!(man["running"], false, "{man}");
    assert_eq!(man["healthy"], false, "{man}");
    assert_eq!(man["state"], "stopped", "{man}");
    assert_eq!(man["pid"], Value::Null, "{man}");
    assert_eq!(man["started_at"], Value::Null, "{man}");
    assert_eq!(man["auto_start"], false);
    assert_eq!(man["cwd"], "m");
    assert_eq!(man["host"], "man");
    assert_eq!(man["url"], "https://man.shape.localhost");
    assert_eq!(man["restart_policy"], "no");
    assert_eq!(man["depends_on"], serde_json::json!(["run"]));
    assert_eq!(man["exit_code"], Value::Null);
    assert_eq!(man["stale"], false);
    assert_eq!(man["restarts"], 0);

    // the aliases give the same answer
    for alias in ["list", "ls"] {
        let (a, code) = env.json(&[alias]);
        assert_eq!(code, 0, "{a}");
        assert_eq!(a["tasks"].as_array().map(Vec::len), Some(2), "{alias}: {a}");
    }
}

#[test]
fn inspect_json_has_everything_but_env_values() {
    let Some(env) = Env::with_tmux("inspect") else { return };
    let port = free_port();
    env.file("wd/.keep", "");
    env.config(&format!(
        r#"name = "insp"
[tasks.ins]
command = "exec sleep 1000"
cwd = "wd"
port = {port}
health_check = "true"
env = {{ SECRET = "s3cr3t-value-xyz" }}
stop_grace_period = 1
"#
    ));
    env.started();
    // the pane runs taskmux for an instant, then sh, then (exec) sleep
    wait_for(10.0, "pane_current_command to be sleep", || {
        env.json(&["inspect", "ins"]).0["pane_current_command"] == "sleep"
    });
    let o = env.run(&["--json", "inspect", "ins"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let raw = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(!raw.contains("s3cr3t-value-xyz"), "env values never shown: {raw}");
    let i: Value = serde_json::from_str(raw.trim()).expect("inspect JSON");
    assert_keys(&i, STATUS_TASK_KEYS);
    assert_keys(
        &i,
        &[
            "health_check",
            "health_url",
            "log_file",
            "window_id",
            "pane_id",
            "pane_current_command",
            "pane_current_path",
            "env",
        ],
    );
    assert_eq!(i["name"], "ins");
    assert_eq!(i["running"], true, "{i}");
    assert_eq!(i["port"], port, "{i}");
    assert_eq!(i["health_check"], "true");
    assert_eq!(i["health_url"], Value::Null);
    assert!(i["log_file"].as_str().is_some_and(|s| !s.is_empty()), "{i}");
    let wid = i["window_id"].as_str().unwrap_or_default();
    assert!(wid.starts_with('@'), "window_id: {i}");
    assert!(
        i["pane_id"].as_str().is_some_and(|s| s.starts_with('%')),
        "pane_id: {i}"
    );
    let listing = env.tmux(&["list-windows", "-a", "-F", "#{window_id} #{window_name}"]);
    assert!(
        listing.lines().any(|l| l == format!("{wid} ins")),
        "{wid} is the window: {listing}"
    );
    assert_eq!(i["pane_current_command"], "sleep", "{i}");
    assert!(
        i["pane_current_path"].as_str().is_some_and(|p| p.ends_with("/wd")),
        "pane_current_path is the task's cwd: {i}"
    );
    assert_eq!(i["pid"], env.task_status("ins")["pid"]);
    let names: Vec<&str> = i["env"]
        .as_array()
        .unwrap_or_else(|| panic!("env list: {i}"))
        .iter()
        .map(|x| x.as_str().unwrap_or_else(|| panic!("env entries are strings: {i}")))
        .collect();
    for n in ["PORT", "SECRET", "TASKMUX_TASK"] {
        assert!(names.contains(&n), "{n} in env names: {names:?}");
    }
    assert!(names.iter().all(|n| !n.contains('=')), "names only: {names:?}");

    let (e, code) = env.json(&["inspect", "ghost"]);
    assert_eq!(code, 1, "{e}");
    assert_eq!(e["ok"], false, "{e}");
    assert_eq!(e["code"], "E200", "{e}");
    assert!(e["error"].as_str().is_some_and(|m| m.contains("ghost")), "{e}");
    let o = env.run(&["inspect", "ghost"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("error[E200]"),
        "{}",
        show(&o)
    );
}

#[test]
fn health_json_methods_and_reasons() {
    let Some(env) = Env::with_tmux("health") else { return };
    let port = free_port();
    env.config(&format!(
        r#"name = "probe"
[tasks.web]
command = "python3 -m http.server $PORT --bind 127.0.0.1"
port = {port}
health_url = "http://127.0.0.1:$PORT/"
stop_grace_period = 1
[tasks.badbody]
command = "sleep 1000"
health_url = "http://127.0.0.1:{port}/"
health_expected_body = "no-such-text-zq9"
stop_grace_period = 1
[tasks.sh]
command = "sleep 1000"
health_check = "exit 0"
stop_grace_period = 1
[tasks.plain]
command = "sleep 1000"
stop_grace_period = 1
[tasks.off]
command = "sleep 1000"
health_check = "exit 0"
auto_start = false
"#
    ));
    env.started();
    wait_for(20.0, "the http server to answer", || {
        let (h, _) = env.json(&["health"]);
        entry(&h, "web")["healthy"] == true
    });
    let (h, code) = env.json(&["health"]);
    assert_eq!(code, 0, "{h}");
    assert_keys(&h, &["healthy_count", "total_count", "tasks"]);
    for t in h["tasks"].as_array().expect("tasks") {
        assert_keys(t, &["name", "healthy", "method", "reason"]);
    }
    let check = |task: &str, healthy: bool, method: &str| {
        let t = entry(&h, task);
        assert_eq!(t["healthy"], healthy, "{task}: {h}");
        assert_eq!(t["method"], method, "{task}: {h}");
        if healthy {
            assert_eq!(t["reason"], Value::Null, "{task}: {h}");
        } else {
            assert!(
                t["reason"].as_str().is_some_and(|r| !r.is_empty()),
                "{task} has a reason: {h}"
            );
        }
        t
    };
    check("web", true, "http");
    check("sh", true, "shell");
    check("plain", true, "proc");
    check("off", false, "shell");
    let bb = check("badbody", false, "http");
    assert!(
        bb["reason"].as_str().unwrap_or_default().contains("body"),
        "reason names the body: {bb}"
    );
    assert_eq!(h["healthy_count"], 3, "{h}");
    assert_eq!(h["total_count"], 5, "{h}");

    // a probe that would pass never calls a stopped task healthy
    let (v, code) = env.json(&["stop", "sh"]);
    assert_eq!((code, v["action"].as_str()), (0, Some("stopped")), "{v}");
    let (h, _) = env.json(&["health"]);
    let sh = entry(&h, "sh");
    assert_eq!(sh["healthy"], false, "stopped task with health_check 'exit 0': {h}");
    assert!(sh["reason"].as_str().is_some_and(|r| !r.is_empty()), "{h}");
    assert_eq!(h["healthy_count"], 2, "{h}");
    let st = env.task_status("sh");
    assert_eq!(st["healthy"], false, "{st}");
    assert_eq!(st["running"], false, "{st}");
}

#[test]
fn tmux_missing_from_path_is_e203() {
    let Some(env) = Env::with_tmux("notmux") else { return };
    env.tasks("notmux", &[("a", "sleep 1000")]);
    let empty = env.root.join("emptybin");
    std::fs::create_dir_all(&empty).expect("mkdir");
    for path in [empty.to_string_lossy().into_owned(), "/nonexistent".to_string()] {
        let o = env
            .command(&["--json", "status"])
            .env("PATH", &path)
            .output()
            .expect("runs");
        assert_eq!(o.status.code(), Some(1), "PATH={path}: {}", show(&o));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("JSON ({e}): {}", show(&o)));
        assert_eq!(v["ok"], false, "{v}");
        assert_eq!(v["code"], "E203", "{v}");
        assert!(v["error"].as_str().is_some_and(|m| m.contains("tmux")), "{v}");

        let o = env.command(&["status"]).env("PATH", &path).output().expect("runs");
        assert_eq!(o.status.code(), Some(1), "{}", show(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("error[E203]"), "{}", show(&o));
        assert!(
            err.lines().any(|l| l.starts_with("  hint: ")),
            "a hint line: {}",
            show(&o)
        );
        assert!(o.stdout.is_empty(), "errors go to stderr: {}", show(&o));
    }
    assert_eq!(env.tmux(&["list-sessions"]), "", "nothing was started");
}

/// A config whose `status` table is far bigger than a pipe buffer.
fn big_config(env: &Env) {
    let mut c = String::from("name = \"big\"\n");
    for i in 0..1500 {
        c.push_str(&format!(
            "[tasks.t{i:04}]\ncommand = \"echo a fairly long command line for task number {i:04} here\"\nauto_start = false\n"
        ));
    }
    env.config(&c);
}

#[test]
fn a_closed_stdout_ends_quietly() {
    let Some(env) = Env::with_tmux("pipe") else { return };
    big_config(&env);
    let full = env.run(&["status"]);
    assert_eq!(full.status.code(), Some(0), "{}", show(&full));
    assert!(
        full.stdout.len() > 100_000,
        "output ({} bytes) overflows a pipe",
        full.stdout.len()
    );

    // the reader goes away after one byte: taskmux exits 0 with nothing on stderr
    let mut child = env
        .command(&["status"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut out = child.stdout.take().expect("stdout");
    let mut one = [0u8; 1];
    out.read_exact(&mut one).expect("first byte");
    drop(out);
    let o = child.wait_with_output().expect("wait");
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(o.stderr.is_empty(), "no panic or broken-pipe message: {}", show(&o));

    // and through a shell pipeline, as people type it
    let o = env
        .bare("bash")
        .arg("-c")
        .arg(r#"set -o pipefail; "$0" -L "$1" status | head -c 1"#)
        .arg(bin())
        .arg(&env.socket)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("bash runs");
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(o.stdout.len(), 1, "{}", show(&o));
    assert!(o.stderr.is_empty(), "{}", show(&o));
}

#[test]
fn human_output_has_no_color_without_a_tty_or_with_no_color() {
    let Some(env) = Env::with_tmux("color") else { return };
    env.config(
        r#"name = "color"
[tasks.a]
command = "sleep 1000"
stop_grace_period = 1
[tasks.b]
command = "sleep 1000"
auto_start = false
"#,
    );
    let o = env.run(&["start"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(!o.stdout.contains(&0x1b), "{}", show(&o));
    for args in [&["status"][..], &["health", "-v"], &["inspect", "a"], &["start"]] {
        // NO_COLOR set (the harness default), stdout a pipe
        let o = env.run(args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", show(&o));
        assert!(!o.stdout.is_empty(), "{args:?}: {}", show(&o));
        assert!(
            !o.stdout.contains(&0x1b) && !o.stderr.contains(&0x1b),
            "{args:?}: {}",
            show(&o)
        );
        // NO_COLOR unset, stdout still not a tty
        let o = env.command(args).env_remove("NO_COLOR").output().expect("runs");
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", show(&o));
        assert!(!o.stdout.contains(&0x1b), "not a tty, no color: {args:?}: {}", show(&o));
    }
    let text = String::from_utf8_lossy(&env.run(&["status"]).stdout).into_owned();
    assert!(text.contains("running") && text.contains("stopped"), "{text}");

    // on a terminal (script(1) gives one): color, unless NO_COLOR is set
    let have_script = Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if have_script {
        let on_tty = |no_color: bool| -> Vec<u8> {
            let line = format!("{} -L {} status", bin(), env.socket);
            let mut c = Command::new("script");
            c.args(["-q", "-e", "-c", &line, "/dev/null"])
                .current_dir(&env.project)
                .env("TASKMUX_HOME", &env.home)
                .env_remove("TMUX")
                .env_remove("TMUX_PANE")
                .env_remove("TASKMUX_TMUX_SOCKET")
                .env_remove("NO_COLOR")
                .stdin(Stdio::null());
            if no_color {
                c.env("NO_COLOR", "1");
            }
            let o = c.output().expect("script runs");
            assert_eq!(o.status.code(), Some(0), "{}", show(&o));
            assert!(String::from_utf8_lossy(&o.stdout).contains("TASK"), "{}", show(&o));
            o.stdout
        };
        assert!(on_tty(false).contains(&0x1b), "a tty without NO_COLOR gets color");
        assert!(!on_tty(true).contains(&0x1b), "NO_COLOR wins on a tty");
    }
}

#[test]
fn unknown_command_and_json_after_the_subcommand() {
    let Some(env) = Env::with_tmux("usage") else { return };
    env.config("name = \"usage\"\n[tasks.a]\ncommand = \"sleep 1000\"\nstop_grace_period = 1\n");

    let (v, code) = env.json(&["frobnicate"]);
    assert_eq!(code, 2, "{v}");
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["code"], "E501", "{v}");
    assert!(v["error"].as_str().is_some_and(|m| m.contains("frobnicate")), "{v}");
    let o = env.run(&["frobnicate"]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("error[E501]"), "{}", show(&o));
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{}",
        show(&o)
    );
    assert!(o.stdout.is_empty(), "{}", show(&o));

    // --json after the subcommand, and after its arguments
    let o = env.run(&["start", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("JSON ({e}): {}", show(&o)));
    assert_eq!(v["ok"], true, "{v}");
    let o = env.run(&["status", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("JSON ({e}): {}", show(&o)));
    assert_eq!(v["session"], "usage", "{v}");
    assert_eq!(entry(&v, "a")["running"], true, "{v}");
    let o = env.run(&["inspect", "a", "--json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("JSON ({e}): {}", show(&o)));
    assert_eq!(v["name"], "a", "{v}");
    let o = env.run(&["frobnicate", "--json"]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("JSON ({e}): {}", show(&o)));
    assert_eq!(v["code"], "E501", "{v}");
}

/// The command line of a process, its arguments joined by spaces.
fn cmdline(pid: i64) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&raw).trim_end_matches('\0').replace('\0', " ")
}

/// `status` shows the process of the command asked for, not only the `sh -c` wrapper:
/// `command_pid` is the wrapper's child, or the pane's pid when the command was exec'd,
/// and the table's PID column shows `PANE/COMMAND` when they differ.
#[test]
fn status_shows_the_pid_of_the_command_next_to_the_wrapper() {
    let Some(env) = Env::with_tmux("cmdpid") else { return };
    env.config(
        r#"name = "cmdpid"
[tasks.wrapped]
command = "echo hi; sleep 1001"
stop_grace_period = 1
[tasks.execd]
command = "exec sleep 1002"
stop_grace_period = 1
"#,
    );
    env.started();
    let mut s = Value::Null;
    wait_for(10.0, "both command pids", || {
        s = env.json(&["status"]).0;
        ["wrapped", "execd"]
            .iter()
            .all(|t| entry(&s, t)["command_pid"].is_i64())
    });
    let w = entry(&s, "wrapped");
    let (pid, cmd) = (
        w["pid"].as_i64().expect("pid"),
        w["command_pid"].as_i64().expect("command_pid"),
    );
    assert_ne!(pid, cmd, "{w}");
    assert!(
        cmdline(pid).starts_with("/bin/sh -c"),
        "pid is the wrapper: {}",
        cmdline(pid)
    );
    assert_eq!(cmdline(cmd), "sleep 1001", "{w}");
    let e = entry(&s, "execd");
    assert_eq!(
        e["command_pid"], e["pid"],
        "an exec'd command is the pane's process: {e}"
    );
    assert_eq!(cmdline(e["pid"].as_i64().expect("pid")), "sleep 1002", "{e}");

    let (i, code) = env.json(&["inspect", "wrapped"]);
    assert_eq!(code, 0, "{i}");
    assert_eq!(i["command_pid"], cmd, "{i}");

    let o = env.run(&["status"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains(&format!("{pid}/{cmd}")), "{}", show(&o));
    let execd_line = text.lines().find(|l| l.starts_with("execd")).unwrap_or_default();
    let execd_pid = e["pid"].to_string();
    assert!(
        execd_line.split_whitespace().any(|f| f == execd_pid),
        "one pid when they agree: {execd_line}"
    );
}
