//! Edge cases of the core: old tmux, the socket from the environment, hook timeouts,
//! dependency warnings for named starts.

use crate::harness::{Env, show, wait_for};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;

#[test]
fn tmux_older_than_3_2_is_e203_with_the_fix() {
    let env = Env::new("oldtmux");
    env.tasks("oldtmux", &[("a", "sleep 1000")]);
    let bin = env.root.join("oldbin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let fake = bin.join("tmux");
    std::fs::write(&fake, "#!/bin/sh\necho 'tmux 3.1c'\n").expect("write fake tmux");
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let o = env
        .command(&["--json", "start"])
        .env("PATH", &path)
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON error");
    assert_eq!(v["code"], "E203", "{v}");
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|m| m.contains("3.1c") && m.contains("3.2")),
        "{v}"
    );
    assert!(
        v["hint"]
            .as_str()
            .is_some_and(|h| h.contains("install") || h.contains("upgrade")),
        "{v}"
    );
}

#[test]
fn socket_comes_from_the_environment_when_not_given() {
    let Some(env) = Env::with_tmux("envsock") else { return };
    env.tasks("envsock", &[("a", "sleep 1000")]);
    // no -L: the socket name comes from TASKMUX_TMUX_SOCKET
    let o = std::process::Command::new(crate::harness::bin())
        .args(["--json", "start"])
        .current_dir(&env.project)
        .env("TASKMUX_HOME", &env.home)
        .env("TASKMUX_TMUX_SOCKET", &env.socket)
        .env_remove("TMUX")
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        env.tmux(&["list-sessions", "-F", "#{session_name}"])
            .lines()
            .any(|l| l == "envsock")
    );
    assert_eq!(env.task_status("a")["running"], true);
}

#[test]
fn a_hook_that_runs_too_long_is_e401_and_starts_nothing() {
    let Some(env) = Env::with_tmux("hooktimeout") else {
        return;
    };
    env.config(
        "name = \"hooktimeout\"\n[tasks.a]\ncommand = \"sleep 1000\"\n[tasks.a.hooks]\nbefore_start = \"sleep 30\"\n",
    );
    let t0 = std::time::Instant::now();
    let o = env
        .command(&["--json", "start", "a"])
        .env("TASKMUX_HOOK_TIMEOUT", "0.5")
        .output()
        .expect("runs");
    assert!(t0.elapsed().as_secs_f64() < 10.0, "the hook was cut short");
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_ne!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(v["code"], "E401", "{v}");
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|m| m.contains("before_start") && m.contains("sleep 30")),
        "{v}"
    );
    assert_eq!(env.task_status("a")["running"], false);
    // the hook's own process is gone too
    let hooks = crate::harness::processes_with_env(&format!("TASKMUX_HOME={}", env.home.display()));
    assert!(hooks.is_empty(), "hook processes left: {hooks:?}");
}

#[test]
fn a_named_start_warns_about_a_dependency_that_is_not_running() {
    let Some(env) = Env::with_tmux("depwarn") else { return };
    env.config(
        "name = \"depwarn\"\n[tasks.db]\ncommand = \"sleep 1000\"\nauto_start = false\n\
         [tasks.api]\ncommand = \"sleep 1000\"\ndepends_on = [\"db\"]\n",
    );
    let (v, code) = env.json(&["start", "api"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["action"], "started", "{v}");
    assert!(
        v["warnings"]
            .as_array()
            .is_some_and(|w| w.iter().any(|x| x.as_str().is_some_and(|s| s.contains("db")))),
        "{v}"
    );
    // db itself was not started: a named start starts only the names
    assert_eq!(env.task_status("db")["running"], false);
    let o = env.run(&["start", "api"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("already running"),
        "{}",
        show(&o)
    );
}

#[test]
fn restart_all_brings_back_what_ran() {
    let Some(env) = Env::with_tmux("restartall") else {
        return;
    };
    env.config(
        "name = \"restartall\"\n[tasks.a]\ncommand = \"sleep 1000\"\nstop_grace_period = 1\n\
         [tasks.m]\ncommand = \"sleep 1000\"\nauto_start = false\nstop_grace_period = 1\n",
    );
    assert_eq!(env.json(&["start"]).1, 0);
    assert_eq!(env.json(&["start", "m"]).1, 0);
    let before_a = env.task_status("a")["pid"].clone();
    let before_m = env.task_status("m")["pid"].clone();
    let (v, code) = env.json(&["restart"]);
    assert_eq!(code, 0, "{v}");
    wait_for(5.0, "both running again", || {
        env.task_status("a")["running"] == true && env.task_status("m")["running"] == true
    });
    assert_ne!(env.task_status("a")["pid"], before_a);
    assert_ne!(env.task_status("m")["pid"], before_m);
}

#[test]
fn a_hook_may_call_taskmux_start_itself() {
    // the launch lock is not held while hooks run, so this does not wait for the timeout
    let Some(env) = Env::with_tmux("hookstart") else { return };
    let bin = crate::harness::bin();
    env.config(&format!(
        "name = \"hookstart\"\n[tasks.db]\ncommand = \"sleep 1000\"\nauto_start = false\n\
         [tasks.api]\ncommand = \"sleep 1000\"\n[tasks.api.hooks]\n\
         before_start = \"'{bin}' -L {} start db\"\n",
        env.socket
    ));
    let t0 = std::time::Instant::now();
    let o = env
        .command(&["--json", "start", "api"])
        .env("TASKMUX_HOOK_TIMEOUT", "8")
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        t0.elapsed().as_secs_f64() < 6.0,
        "no wait on the hook: {:?}",
        t0.elapsed()
    );
    assert_eq!(env.task_status("db")["running"], true);
    assert_eq!(env.task_status("api")["running"], true);
}
