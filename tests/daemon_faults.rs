//! The daemon's own faults, each against a real daemon in a scratch TASKMUX_HOME: the
//! descriptors it keeps from its caller, the modes of its files, state files of the wrong
//! shape, events it cannot write, memory after a burst of large requests, clients that
//! hold a connection with half a line, and the registry's first registration time.

use crate::harness::*;
use serde_json::Value;
use std::path::Path;

/// `registered_at` of a project in this world's registry.
fn registered_at(env: &Env, name: &str) -> String {
    let reg: Value = serde_json::from_str(&read(&env.home.join("registry.json"))).expect("registry.json is JSON");
    reg["projects"][name]["registered_at"]
        .as_str()
        .unwrap_or_else(|| panic!("{name} is registered: {reg}"))
        .to_string()
}

fn register(env: &Env, dir: &Path, force: bool) {
    let config = dir.join("taskmux.toml");
    let mut args = vec!["daemon", "register", "-c", config.to_str().expect("utf-8 path")];
    if force {
        args.push("-f");
    }
    let (v, code) = env.json(&args);
    assert_eq!(code, 0, "register: {v}");
}

#[test]
fn registered_at_stays_the_first_across_a_move_and_a_forced_take_over() {
    let env = Env::new("regat");
    let config = "name = \"regat\"\n[tasks.a]\ncommand = \"sleep 300\"\n";
    let first = env.root.join("first");
    std::fs::create_dir_all(&first).expect("mkdir");
    std::fs::write(first.join("taskmux.toml"), config).expect("write config");
    register(&env, &first, false);
    let at = registered_at(&env, "regat");
    // the project moves (a process run later: its stamp, microseconds, would differ): the
    // old config is gone, the new one registers the name again
    let moved = env.root.join("moved");
    std::fs::rename(&first, &moved).expect("move the project");
    register(&env, &moved, false);
    assert_eq!(
        registered_at(&env, "regat"),
        at,
        "a moved project keeps its first registration"
    );
    // another config with the name takes it over by force
    let other = env.root.join("other");
    std::fs::create_dir_all(&other).expect("mkdir");
    std::fs::write(other.join("taskmux.toml"), config).expect("write config");
    register(&env, &other, true);
    let reg = read(&env.home.join("registry.json"));
    assert!(reg.contains(other.to_str().expect("utf-8")), "taken over: {reg}");
    assert_eq!(
        registered_at(&env, "regat"),
        at,
        "register -f keeps the first registration"
    );
}
