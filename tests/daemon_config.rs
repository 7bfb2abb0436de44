//! The daemon and its global config and home (taskmuxd(8), THE GLOBAL CONFIG): an invalid
//! `config.toml` stops `daemon start` (and `start -d`) with the config's own code, nothing
//! started; a running daemon keeps its last good config when the file breaks, and says so
//! in `daemon status` and `doctor`; a valid change is applied at once (the proxy and the
//! WebSocket on their new ports), and `config set` says so; a removed state directory ends
//! the daemon with a line on its stderr, and a new start makes one daemon, never two.

use crate::harness::*;
use serde_json::json;
use std::io::Read;
use std::process::{Command, Stdio};

#[test]
fn an_invalid_config_toml_stops_daemon_start_with_its_own_code() {
    let Some(env) = Env::with_tmux("dc-invalid") else {
        return;
    };
    env.config("name = \"dc-invalid\"\n[tasks.a]\ncommand = \"sleep 1000\"\nstop_grace_period = 1\n");
    for (text, code, says) in [
        ("garbage = = [\n", "E101", "line 1"),
        ("api_port = 0\nproxy_enabled = false\n", "E104", "api_port"),
        ("colour = \"blue\"\nproxy_enabled = false\n", "E104", "colour"),
    ] {
        std::fs::write(env.home.join("config.toml"), text).expect("write config.toml");
        for args in [&["daemon", "start"][..], &["start", "-d"][..]] {
            let o = env.run(args);
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{args:?} with {text:?}: {}", show(&o));
            assert!(
                err.contains(code) && err.contains(says),
                "{args:?} with {text:?}: {err}"
            );
            assert!(env.daemon_pid().is_none(), "no daemon started: {text:?}");
            assert!(env.task_status("a")["running"] != true, "nothing started by {args:?}");
        }
    }
}

#[test]
fn a_running_daemon_keeps_its_last_good_config_and_says_why() {
    let Some(env) = Env::with_tmux("dc-keep") else { return };
    let port = free_port();
    let pid = env.daemon_start_with(30.0, &format!("api_port = {port}\n"));
    std::fs::write(env.home.join("config.toml"), "api_port = = 3\n").expect("break it");
    wait_for(10.0, "daemon status to say the config does not load", || {
        env.json(&["daemon", "status"]).0["config_error"]
            .as_str()
            .is_some_and(|e| e.contains("E101"))
    });
    assert_eq!(env.daemon_pid(), Some(pid), "it runs on");
    let (d, _) = env.json(&["doctor"]);
    let check = d["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["check"] == "daemon").cloned())
        .expect("a daemon check");
    assert_eq!(check["status"], "warn", "{check}");
    assert!(
        check["message"]
            .as_str()
            .is_some_and(|m| m.contains("last good config")),
        "{check}"
    );
    // the WebSocket still listens where the last good config said
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        "its API port is kept"
    );
    // SIGHUP with the same bad file keeps it too; a good file is taken again
    let _ = Command::new("kill").args(["-HUP", &pid.to_string()]).status();
    std::fs::write(
        env.home.join("config.toml"),
        format!("api_port = {port}\nproxy_enabled = false\n"),
    )
    .expect("fix");
    wait_for(10.0, "the error to be gone", || {
        env.json(&["daemon", "status"]).0.get("config_error").is_none()
    });
}

#[test]
fn config_set_is_applied_by_the_running_daemon_at_once() {
    let Some(env) = Env::with_tmux("dc-apply") else { return };
    let (api1, api2, https1, https2) = (free_port(), free_port(), free_port(), free_port());
    let pid = env.daemon_start_with(
        30.0,
        &format!("api_port = {api1}\nproxy_https_port = {https1}\nproxy_http_port = 0\n"),
    );
    wait_for(10.0, "the proxy to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", https1)).is_ok()
    });
    let o = env.run(&["config", "set", "proxy_https_port", &https2.to_string()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", show(&o));
    assert!(
        text.contains(&format!("applied by the running daemon (pid {pid})")),
        "{text}"
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", https2)).is_ok(),
        "the proxy on its new port"
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", https1)).is_err(),
        "and no longer on the old"
    );
    let (v, code) = env.json(&["daemon", "status"]);
    assert_eq!(code, 0, "{v}");
    assert!(
        v["proxy"]["listen"].to_string().contains(&format!(":{https2}")),
        "daemon status says where: {v}"
    );
    // the WebSocket too, and --json says what was applied
    let (v, code) = env.json(&["config", "set", "api_port", &api2.to_string()]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["applied"]["pid"], json!(pid), "{v}");
    assert!(v["applied"]["changed"].to_string().contains("websocket"), "{v}");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", api2)).is_ok(),
        "the API on its new port"
    );
    // a port another program holds: said, with the fix, and the daemon goes on
    let holder = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind");
    let held = holder.local_addr().expect("addr").port();
    let (v, code) = env.json(&["config", "set", "proxy_https_port", &held.to_string()]);
    assert_eq!(code, 0, "the edit is made: {v}");
    let not = &v["applied"]["not_applied"][0];
    assert_eq!(not["what"], "proxy", "{v}");
    assert!(
        not["why"].as_str().is_some_and(|w| !w.is_empty()) && not["fix"].is_string(),
        "{v}"
    );
    assert_eq!(env.daemon_pid(), Some(pid));
}

#[test]
fn a_removed_state_directory_ends_the_daemon_and_a_new_start_makes_one() {
    let Some(env) = Env::with_tmux("dc-home") else { return };
    std::fs::write(
        env.home.join("config.toml"),
        format!("api_port = {}\nproxy_enabled = false\n", free_port()),
    )
    .expect("config");
    // in the foreground, as systemd runs it: its stderr is the journal
    let mut daemon = Command::new(bin())
        .args(["-L", &env.socket, "daemon"])
        .env("TASKMUX_HOME", &env.home)
        .env_remove("TMUX")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("taskmuxd runs");
    wait_for(10.0, "the daemon to answer", || {
        env.json(&["daemon", "status"]).0["uptime_secs"].is_number()
    });
    std::fs::remove_dir_all(&env.home).expect("rm -rf the home");
    let mut exited = None;
    wait_for(10.0, "the daemon to exit", || {
        exited = daemon.try_wait().ok().flatten();
        exited.is_some()
    });
    let mut err = String::new();
    let _ = daemon.stderr.take().expect("stderr").read_to_string(&mut err);
    assert!(
        err.contains("was removed") && err.contains(&env.home.display().to_string()),
        "{err}"
    );
    // a new start: one daemon
    std::fs::create_dir_all(&env.home).expect("mkdir");
    std::fs::write(
        env.home.join("config.toml"),
        format!("api_port = {}\nproxy_enabled = false\n", free_port()),
    )
    .expect("config");
    let (v, code) = env.json(&["daemon", "start"]);
    assert_eq!((code, &v["started"]), (0, &json!(true)), "{v}");
    let daemons = processes_with_env(&format!("TASKMUX_HOME={}", env.home.display()))
        .into_iter()
        .filter(|p| std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.starts_with("taskmux")))
        .count();
    assert_eq!(daemons, 1, "one daemon");
}
