//! taskmuxd: a real daemon in a scratch TASKMUX_HOME, supervising real tasks in a private
//! tmux server: restart policies, backoff and its limit, probes, manual stops, heal after
//! a killed server, re-adoption after a killed daemon, config edits, the singleton lock
//! and signals. The harness guard kills the daemon, the server and every task.

use crate::harness::*;
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn ts(e: &Value) -> f64 {
    let s = e["ts"].as_str().expect("ts");
    // 2026-01-01T14:00:00.123456+00:00: seconds of the day are enough for gaps
    let t = &s[11..26];
    let h: f64 = t[0..2].parse().expect("h");
    let m: f64 = t[3..5].parse().expect("m");
    let sec: f64 = t[6..].parse().expect("s");
    h * 3600.0 + m * 60.0 + sec
}

fn start(env: &Env) {
    let o = env.run(&["start"]);
    assert!(o.status.success(), "{}", show(&o));
}

fn pid_of(env: &Env, task: &str) -> Option<i64> {
    env.task_status(task)["pid"].as_i64()
}

fn kill9(pid: i64) {
    let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
}

/// Processes of this world's server carrying a task's marker (what `taskmux` sets for
/// every task process). Only this world's: another run of the suite on the machine has
/// tasks with the same marker.
fn marked(env: &Env, task: &str) -> Vec<i32> {
    let session = std::fs::read_to_string(env.project.join("taskmux.toml"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("name = ").map(|n| n.trim_matches('"').to_string()))
        })
        .expect("the test config names its project");
    task_procs(env, &session, task)
        .into_iter()
        .filter(|p| {
            // the task's command itself: not its sh wrapper, not the log writer
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "sleep")
        })
        .collect()
}

#[test]
fn crash_loop_backs_off_then_gives_up_once() {
    let Some(env) = Env::with_tmux("dcrash") else { return };
    env.config(
        "name = \"dcrash\"\n[tasks.boom]\ncommand = \"sleep 0.5; exit 1\"\nmax_restarts = 4\nrestart_backoff = 1.5\n",
    );
    start(&env);
    env.daemon_start(30.0);
    wait_for(25.0, "max_restarts_reached", || {
        !env.events_named("max_restarts_reached", Some("boom")).is_empty()
    });
    let restarts = env.events_named("auto_restart", Some("boom"));
    assert_eq!(restarts.len(), 4, "{restarts:?}");
    // the first restart at once, then 1.5 s, 2.25 s, 3.375 s after each exit
    let exits = env.events_named("task_exited", Some("boom"));
    assert!(exits.len() >= 5, "{exits:?}");
    for (i, want) in [0.0, 1.5, 2.25, 3.375].iter().enumerate() {
        let gap = ts(&restarts[i]) - ts(&exits[i]);
        assert!(
            gap >= want - 0.05 && gap < want + 0.9,
            "restart {i}: gap {gap}, want {want}"
        );
    }
    assert_eq!(restarts[0]["reason"], "exited with code 1");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(env.events_named("max_restarts_reached", None).len(), 1, "said once");
    let t = env.task_status("boom");
    assert_eq!(
        (t["state"].as_str(), t["restarts"].as_i64()),
        (Some("exited"), Some(4)),
        "{t}"
    );
}

#[test]
fn policies_no_on_failure_always() {
    let Some(env) = Env::with_tmux("dpol") else { return };
    env.config(
        "name = \"dpol\"\n\
         [tasks.clean]\ncommand = \"sleep 0.3; exit 0\"\n\
         [tasks.fails]\ncommand = \"sleep 0.3; exit 3\"\nrestart_backoff = 1.1\n\
         [tasks.always]\ncommand = \"sleep 0.3; exit 0\"\nrestart_policy = \"always\"\nrestart_backoff = 1.1\n\
         [tasks.never]\ncommand = \"sleep 0.3; exit 1\"\nrestart_policy = \"no\"\n",
    );
    start(&env);
    env.daemon_start(30.0);
    wait_for(15.0, "two restarts each of fails and always", || {
        env.events_named("auto_restart", Some("fails")).len() >= 2
            && env.events_named("auto_restart", Some("always")).len() >= 2
    });
    for quiet in ["clean", "never"] {
        assert!(
            env.events_named("auto_restart", Some(quiet)).is_empty(),
            "{quiet} restarted"
        );
        assert_eq!(env.task_status(quiet)["state"], "exited", "{quiet}");
    }
    assert_eq!(env.task_status("never")["exit_code"], 1);
    let exited = env.events_named("task_exited", Some("fails"));
    assert_eq!(exited[0]["exit_code"], 3, "{exited:?}");
}

#[test]
fn failing_probe_restarts_after_retries() {
    let Some(env) = Env::with_tmux("dprobe") else { return };
    let flag = env.project.join("sick");
    env.config(&format!(
        "name = \"dprobe\"\n[tasks.api]\ncommand = \"rm -f {f}; sleep 1000\"\n\
         health_check = \"test ! -f {f}\"\nhealth_interval = 0.3\nhealth_retries = 2\nboot_grace = 0.5\n",
        f = flag.display()
    ));
    start(&env);
    env.daemon_start(30.0);
    let first = pid_of(&env, "api").expect("api runs");
    std::thread::sleep(Duration::from_millis(900));
    assert!(env.events_named("health_check_failed", Some("api")).is_empty());
    std::fs::write(&flag, "").expect("make it sick");
    wait_for(10.0, "a restart for health", || {
        !env.events_named("auto_restart", Some("api")).is_empty()
    });
    let failed = env.events_named("health_check_failed", Some("api"));
    let attempts: Vec<i64> = failed.iter().filter_map(|e| e["attempt"].as_i64()).collect();
    assert_eq!(&attempts[..2], &[1, 2], "{failed:?}");
    let r = &env.events_named("auto_restart", Some("api"))[0];
    assert!(r["reason"].as_str().is_some_and(|s| s.starts_with("unhealthy")), "{r}");
    wait_for(10.0, "a new healthy api", || {
        pid_of(&env, "api").is_some_and(|p| p != first) && !flag.exists()
    });
}

#[test]
fn manual_stop_survives_daemon_restart_and_heal() {
    let Some(env) = Env::with_tmux("dman") else { return };
    env.tasks("dman", &[("api", "sleep 1000"), ("web", "sleep 1000")]);
    start(&env);
    env.daemon_start(0.5);
    let o = env.run(&["stop", "api"]);
    assert!(o.status.success(), "{}", show(&o));
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(env.task_status("api")["state"], "stopped");
    let o = env.run(&["daemon", "restart"]);
    assert!(o.status.success(), "{}", show(&o));
    env.tmux(&["kill-server"]);
    wait_for(10.0, "the heal", || {
        !env.events_named("project_healed", None).is_empty() && pid_of(&env, "web").is_some()
    });
    std::thread::sleep(Duration::from_millis(1200));
    assert!(
        pid_of(&env, "api").is_none(),
        "api stayed down: {}",
        env.task_status("api")
    );
    assert!(env.events_named("auto_restart", Some("api")).is_empty());
    let healed = &env.events_named("project_healed", None)[0];
    assert_eq!(strings(&healed["tasks"]), vec!["web".to_string()], "{healed}");
    // a start clears the mark: api is supervised again
    assert!(env.run(&["start", "api"]).status.success());
    let p = pid_of(&env, "api").expect("api runs");
    kill9(p);
    wait_for(10.0, "api restarted", || pid_of(&env, "api").is_some_and(|n| n != p));
}

#[test]
fn killed_daemon_leaves_tasks_and_readopts_without_duplicates() {
    let Some(env) = Env::with_tmux("dkill") else { return };
    env.tasks("dkill", &[("api", "sleep 1000")]);
    start(&env);
    let d = env.daemon_start(30.0);
    let before = pid_of(&env, "api").expect("api runs");
    kill9(d as i64);
    wait_for(5.0, "the daemon gone", || !alive(d));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(pid_of(&env, "api"), Some(before), "tasks keep running");
    let d2 = env.daemon_start(30.0);
    assert_ne!(d, d2);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(pid_of(&env, "api"), Some(before), "re-adopted, not restarted");
    assert_eq!(marked(&env, "api").len(), 1, "one copy: {:?}", marked(&env, "api"));
    kill9(before);
    wait_for(10.0, "supervision resumed", || {
        pid_of(&env, "api").is_some_and(|p| p != before)
    });
    // the new pane's pid is known the moment tmux respawns it; its command (the marked
    // `sleep`) is exec'd a moment later, under load some milliseconds later
    wait_for(10.0, "the relaunched command to run", || {
        !marked(&env, "api").is_empty()
    });
    let copies = marked(&env, "api");
    assert_eq!(copies.len(), 1, "still one copy: {copies:?}");
}

#[test]
fn killed_server_heals_with_the_environment_of_record() {
    let Some(env) = Env::with_tmux("dheal") else { return };
    let out = env.project.join("seen");
    env.config(&format!(
        "name = \"dheal\"\n[tasks.db]\ncommand = \"sleep 1000\"\n\
         [tasks.api]\ncommand = \"echo $ONLY_IN_RECORD > {}; sleep 1000\"\ndepends_on = [\"db\"]\n",
        out.display()
    ));
    let o = env
        .command(&["start"])
        .env("ONLY_IN_RECORD", "from-the-record")
        .output()
        .expect("runs");
    assert!(o.status.success(), "{}", show(&o));
    env.daemon_start(1.0);
    std::fs::remove_file(&out).expect("the task wrote it");
    env.tmux(&["kill-server"]);
    let t = Instant::now();
    wait_for(10.0, "project_healed", || {
        !env.events_named("project_healed", None).is_empty()
    });
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "within the heal interval: {:?}",
        t.elapsed()
    );
    wait_for(5.0, "api's output", || read(&out).trim() == "from-the-record");
    let healed = &env.events_named("project_healed", None)[0];
    assert_eq!(healed["session"], "dheal");
    let mut tasks = strings(&healed["tasks"]);
    tasks.sort();
    assert_eq!(tasks, vec!["api".to_string(), "db".to_string()]);
    let (s, _) = env.json(&["daemon", "status"]);
    assert_eq!(s["last_heal"]["session"], "dheal", "{s}");
}

#[test]
fn a_window_closed_by_hand_heals_at_once_not_at_the_heal_interval() {
    let Some(env) = Env::with_tmux("dwin") else { return };
    env.tasks("dwin", &[("db", "sleep 1000"), ("api", "sleep 1000")]);
    let o = env.command(&["start"]).output().expect("runs");
    assert!(o.status.success(), "{}", show(&o));
    // a heal interval far longer than the test
    env.daemon_start(600.0);
    wait_for(10.0, "the daemon to supervise both tasks", || {
        let (v, _) = env.json(&["daemon", "status"]);
        v["supervised_tasks"] == 2
    });
    env.tmux(&["kill-window", "-t", "=dwin:api"]);
    wait_for(10.0, "project_healed", || {
        !env.events_named("project_healed", None).is_empty()
    });
    let healed = &env.events_named("project_healed", None)[0];
    assert_eq!(strings(&healed["tasks"]), vec!["api".to_string()], "{healed}");
    wait_for(10.0, "api running again", || {
        env.task_status("api")["state"] == "running"
    });
}

#[test]
fn second_daemon_refuses_and_signals_end_it() {
    let Some(env) = Env::with_tmux("dsig") else { return };
    let pid = env.daemon_start(30.0);
    let o = Command::new(env!("CARGO_BIN_EXE_taskmuxd"))
        .env("TASKMUX_HOME", &env.home)
        .stdin(Stdio::null())
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("E302") && err.contains(&pid.to_string()), "{err}");
    // start when running: ok, the same daemon
    let (v, code) = env.json(&["daemon", "start"]);
    assert_eq!(
        (code, v["pid"].as_i64(), v["started"].as_bool()),
        (0, Some(pid as i64), Some(false))
    );
    let (v, code) = env.json(&["daemon", "stop"]);
    assert_eq!((code, v["stopped"].as_bool()), (0, Some(true)), "{v}");
    assert!(
        env.daemon_pid().is_none() && !alive(pid),
        "stop returns once it has exited"
    );
    let (v, code) = env.json(&["daemon", "status"]);
    assert_eq!((code, v["running"].as_bool()), (1, Some(false)));
    // in the foreground: SIGTERM exits 0, another fatal signal 128+N
    for (sig, want) in [("TERM", 0), ("USR1", 138), ("INT", 130)] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_taskmuxd"))
            .env("TASKMUX_HOME", &env.home)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("runs");
        wait_for(5.0, "the daemon's socket", || {
            env.daemon_pid() == Some(child.id() as i32) && env.home.join("daemon.sock").exists()
        });
        let _ = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(child.id().to_string())
            .status();
        let st = child.wait().expect("waits");
        assert_eq!(st.code(), Some(want), "SIG{sig}");
    }
    let log = read(&env.home.join("daemon.log"));
    assert!(
        log.contains("started (pid") && log.contains("tasks keep running"),
        "{log}"
    );
}

/// `daemon stop` returns once the daemon's process has ended, not when its lock is free:
/// the daemon lets the lock go a moment before it exits, a moment that a busy core
/// stretches. A process that holds the daemon's lock the daemon's way, and on SIGTERM lets
/// it go and lives a second more, makes the moment long every time.
#[test]
fn daemon_stop_returns_once_the_process_has_exited() {
    if !require("flock", &["flock", "-V"]) {
        return;
    }
    let env = Env::new("dstopwait");
    let lock = env.home.join("daemon.lock");
    let script = "exec 9<>\"$1\" && flock -x 9 && echo $$ >&9 || exit 1\n\
                  trap 'flock -u 9; : >\"$1\"; sleep 1; exit 0' TERM\n\
                  while :; do sleep 0.05; done";
    let holder = Reaped(
        Command::new("sh")
            .args(["-c", script, "sh"])
            .arg(&lock)
            .stdin(Stdio::null())
            .spawn()
            .expect("sh runs"),
    );
    let pid = holder.0.id() as i64;
    wait_for(5.0, "the stand-in to hold the daemon's lock", || {
        let (v, _) = env.json(&["daemon", "status"]);
        v["pid"].as_i64() == Some(pid)
    });
    let t = Instant::now();
    let (v, code) = env.json(&["daemon", "stop"]);
    assert_eq!(
        (code, v["stopped"].as_bool(), v["pid"].as_i64()),
        (0, Some(true), Some(pid)),
        "{v}"
    );
    assert!(
        !alive(pid as i32),
        "stop returned after {:?} while the process lives",
        t.elapsed()
    );
}

/// A child that is killed and reaped when the test ends, even on a panic.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn config_edits_are_followed_and_a_broken_save_keeps_what_runs() {
    let Some(env) = Env::with_tmux("dedit") else { return };
    env.tasks("dedit", &[("a", "sleep 1000"), ("b", "sleep 1000")]);
    start(&env);
    env.daemon_start(30.0);
    let a = pid_of(&env, "a").expect("a runs");
    env.tasks("dedit", &[("a", "sleep 1000"), ("c", "sleep 1000")]);
    wait_for(10.0, "c started, b gone", || {
        pid_of(&env, "c").is_some()
            && env.task_status("b").is_null()
            && env
                .tmux(&["list-windows", "-t", "=dedit", "-F", "#{@taskmux-task}"])
                .lines()
                .all(|l| l != "b")
    });
    env.config("name = \"dedit\"\n[tasks.a]\ncommand = \"sleep 1000\"\nbogus = 1\n");
    wait_for(10.0, "the error in daemon list", || {
        let (v, _) = env.json(&["daemon", "list"]);
        v["projects"][0]["state"] == "error"
    });
    let (v, _) = env.json(&["daemon", "list"]);
    assert!(
        v["projects"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("bogus")),
        "{v}"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(pid_of(&env, "a"), Some(a), "a untouched");
    let windows = env.tmux(&["list-windows", "-t", "=dedit", "-F", "#{@taskmux-task}"]);
    assert!(windows.lines().any(|l| l == "c"), "c kept: {windows}");
}

#[test]
fn registry_collision_force_and_unregister() {
    let env = Env::new("dreg");
    env.tasks("same", &[("a", "true")]);
    let other = env.root.join("other");
    std::fs::create_dir_all(&other).expect("dir");
    std::fs::write(
        other.join("taskmux.toml"),
        "name = \"same\"\n[tasks.a]\ncommand = \"true\"\n",
    )
    .expect("write");
    let (v, code) = env.json(&["daemon", "register"]);
    assert_eq!(code, 0, "{v}");
    let o = other.join("taskmux.toml");
    let o = o.to_str().expect("utf-8");
    let (v, code) = env.json(&["-c", o, "daemon", "register"]);
    assert_eq!((code, v["code"].as_str()), (1, Some("E305")), "{v}");
    let (v, code) = env.json(&["-c", o, "daemon", "register", "-f"]);
    assert_eq!(code, 0, "{v}");
    let (v, _) = env.json(&["daemon", "list"]);
    assert_eq!(v["projects"][0]["config_path"].as_str(), Some(o), "{v}");
    assert_eq!(v["projects"][0]["state"], "ok");
    std::fs::remove_file(other.join("taskmux.toml")).expect("rm");
    let (v, _) = env.json(&["daemon", "list"]);
    assert_eq!(v["projects"][0]["state"], "config_missing", "{v}");
    let (_, code) = env.json(&["daemon", "unregister", "same"]);
    assert_eq!(code, 0);
    let (v, code) = env.json(&["daemon", "unregister", "same"]);
    assert_eq!((code, v["code"].as_str()), (1, Some("E303")), "{v}");
}

#[test]
fn start_registers_and_stop_sets_down() {
    let Some(env) = Env::with_tmux("dstart") else { return };
    env.tasks("dstart", &[("a", "sleep 1000")]);
    start(&env);
    let reg: Value = serde_json::from_str(&read(&env.home.join("registry.json"))).expect("registry");
    let p = &reg["projects"]["dstart"];
    assert_eq!(
        (p["desired"].as_str(), p["tmux_socket"].as_str()),
        (Some("up"), Some(env.socket.as_str())),
        "{reg}"
    );
    assert!(env.run(&["stop", "a"]).status.success());
    let reg: Value = serde_json::from_str(&read(&env.home.join("registry.json"))).expect("registry");
    assert_eq!(
        reg["projects"]["dstart"]["desired"], "up",
        "one task stopped is not the project"
    );
    assert!(env.run(&["stop"]).status.success());
    let reg: Value = serde_json::from_str(&read(&env.home.join("registry.json"))).expect("registry");
    assert_eq!(reg["projects"]["dstart"]["desired"], "down");
    // a project stopped as a whole is not healed
    env.daemon_start(0.3);
    std::thread::sleep(Duration::from_millis(1200));
    assert!(pid_of(&env, "a").is_none());
    assert!(env.events_named("project_healed", None).is_empty());
}

#[test]
fn a_hung_probe_delays_no_other_task_and_sighup_rereads_the_global_config() {
    let Some(env) = Env::with_tmux("dhung") else { return };
    env.config(
        "name = \"dhung\"\n\
         [tasks.hung]\ncommand = \"sleep 1000\"\nhealth_check = \"sleep 30\"\nhealth_timeout = 25\n\
         health_interval = 0.2\nboot_grace = 0\n\
         [tasks.crash]\ncommand = \"sleep 1.5; exit 1\"\nmax_restarts = 1\n",
    );
    start(&env);
    env.daemon_start(30.0);
    wait_for(10.0, "crash restarted", || {
        !env.events_named("auto_restart", Some("crash")).is_empty()
    });
    let exit = &env.events_named("task_exited", Some("crash"))[0];
    let restart = &env.events_named("auto_restart", Some("crash"))[0];
    let gap = ts(restart) - ts(exit);
    assert!(gap < 0.5, "the hung probe of another task delayed this restart: {gap}s");
    // SIGHUP: the global config is read again (a shorter heal interval takes effect)
    let config = read(&env.home.join("config.toml"));
    let shorter: String = config
        .lines()
        .map(|l| match l.starts_with("health_check_interval") {
            true => "health_check_interval = 0.3\n".to_string(),
            false => format!("{l}\n"),
        })
        .collect();
    std::fs::write(env.home.join("config.toml"), shorter).expect("write");
    let pid = env.daemon_pid().expect("daemon runs");
    let _ = Command::new("kill").arg("-HUP").arg(pid.to_string()).status();
    wait_for(5.0, "the reread in the log", || {
        read(&env.home.join("daemon.log")).contains("global config applied")
    });
    // another session keeps the server up: only the interval can notice
    env.tmux(&["new-session", "-d", "-s", "keep", "sleep 1000"]);
    std::thread::sleep(Duration::from_millis(400));
    env.tmux(&["kill-session", "-t", "=dhung"]);
    wait_for(3.0, "a heal within the new interval", || {
        !env.events_named("project_healed", None).is_empty()
    });
}

#[test]
fn events_follow_sees_what_anyone_records() {
    let Some(env) = Env::with_tmux("devf") else { return };
    env.tasks("devf", &[("a", "sleep 1000")]);
    let mut f = env
        .command(&["--json", "events", "-f"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("events -f runs");
    let out = f.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                return;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    start(&env);
    let mut seen = Vec::new();
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until && !seen.iter().any(|v: &Value| v["event"] == "session_started") {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
            seen.push(serde_json::from_str(&l).expect("one JSON event a line"));
        }
    }
    let _ = f.kill();
    let _ = f.wait();
    assert!(
        seen.iter().any(|v| v["event"] == "task_started" && v["task"] == "a"),
        "{seen:?}"
    );
}

#[test]
fn a_booting_task_is_running_in_status_as_soon_as_its_probe_passes() {
    let Some(env) = Env::with_tmux("dboot") else { return };
    let ready = env.project.join("ready");
    // an interval and a grace far longer than the test: only the daemon's boot probing
    // can turn it to running in time
    env.config(&format!(
        "name = \"dboot\"\n[tasks.api]\ncommand = \"sleep 1000\"\n\
         health_check = \"test -f {f}\"\nhealth_interval = 60\nboot_grace = 60\n",
        f = ready.display()
    ));
    start(&env);
    env.daemon_start(30.0);
    wait_for(5.0, "a failing boot probe, recorded", || {
        env.task_status("api")["last_health"]["ok"] == false
    });
    assert_eq!(env.task_status("api")["state"], "starting", "not ready yet");
    std::fs::write(&ready, "").expect("ready");
    wait_for(5.0, "status to say running and healthy", || {
        let s = env.task_status("api");
        s["state"] == "running" && s["healthy"] == true
    });
    assert!(
        env.events_named("health_check_failed", Some("api")).is_empty(),
        "a failing probe within boot_grace is not an event"
    );
}
