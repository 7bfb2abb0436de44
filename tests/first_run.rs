//! What a new user meets first: `start --wait` returns as soon as a quick server serves
//! (not a whole `health_interval` later), and a typo in a command is said at once.

use crate::harness::{Env, have_tmux, node_module, show};
use std::time::{Duration, Instant};

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
