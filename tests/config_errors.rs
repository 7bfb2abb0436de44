//! Config errors (taskmux.toml(5) ERRORS; taskmux(1) DIAGNOSTICS, "Configuration: E1xx"):
//! each code, its exit status, a message that names the thing, and nothing started or
//! written. Also `-c PATH` and upward config discovery.

use crate::harness::{Env, read, require_tmux, show, wait_for};
use serde_json::Value;
use std::path::Path;

/// No tmux server for this world and no project state under TASKMUX_HOME.
fn assert_nothing_happened(env: &Env) {
    assert_eq!(
        env.tmux(&["list-sessions"]),
        "",
        "a tmux session exists after a config error"
    );
    assert!(
        !Path::new(&env.socket_path()).exists(),
        "a tmux server socket was made after a config error"
    );
    let projects = env.home.join("projects");
    let entries: Vec<String> = std::fs::read_dir(&projects)
        .map(|d| d.flatten().map(|e| e.path().display().to_string()).collect())
        .unwrap_or_default();
    assert!(
        entries.is_empty(),
        "project state was written after a config error: {entries:?}"
    );
    assert!(env.our_processes().is_empty(), "processes run after a config error");
}

/// `start --json` in the project must fail with `code` and exit `exit`; returns the error.
fn start_fails(env: &Env, code: &str, exit: i32) -> Value {
    let (v, rc) = env.json(&["start"]);
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["code"], code, "{v}");
    assert_eq!(rc, exit, "exit status of {code}: {v}");
    assert!(v["error"].as_str().is_some_and(|s| !s.is_empty()), "no message: {v}");
    assert_nothing_happened(env);
    v
}

fn msg(v: &Value) -> String {
    v["error"].as_str().unwrap_or_default().to_string()
}

/// Human mode: nothing on stdout, `taskmux: error[CODE]: …` on stderr, exit `exit`.
fn start_fails_human(env: &Env, code: &str, exit: i32) -> String {
    let o = env.run(&["start"]);
    assert_eq!(o.status.code(), Some(exit), "{}", show(&o));
    assert!(o.stdout.is_empty(), "{}", show(&o));
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        err.starts_with(&format!("taskmux: error[{code}]: ")),
        "stderr should start with the error line: {err:?}"
    );
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{err}");
    assert_nothing_happened(env);
    err
}

#[test]
fn e100_no_config_anywhere_up() {
    let env = Env::new("cfg-e100");
    let empty = env.root.join("empty").join("deeper");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let (v, rc) = env.json_in(&empty, &["start"]);
    assert_eq!(v["code"], "E100", "{v}");
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(rc, 2, "{v}");
    assert!(
        msg(&v).contains(&empty.display().to_string()),
        "message names where it looked: {v}"
    );
    let searched: Vec<&str> = v["details"]["searched"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let root = env.root.display().to_string();
    assert!(
        searched.contains(&root.as_str()) && searched.contains(&"/"),
        "the search walks up to /: {v}"
    );
    assert_nothing_happened(&env);

    // human mode: stderr, exit 2, with a hint
    let o = env.command(&["start"]).current_dir(&empty).output().expect("runs");
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.starts_with("taskmux: error[E100]: "), "{err}");
    assert!(err.contains("hint:"), "{err}");
}

#[test]
fn e100_explicit_config_missing() {
    let env = Env::new("cfg-e100c");
    // a valid config in the project does not rescue a wrong -c
    env.tasks("p", &[("a", "sleep 1000")]);
    let (v, rc) = env.json(&["-c", "missing.toml", "start"]);
    assert_eq!(v["code"], "E100", "{v}");
    assert_eq!(rc, 2, "{v}");
    let want = env.project.join("missing.toml").display().to_string();
    assert!(msg(&v).contains(&want), "message names the path: {v}");
    assert_nothing_happened(&env);
}

#[test]
fn e101_unterminated_string() {
    let env = Env::new("cfg-e101a");
    env.config("# comment\nname = \"x\n[tasks.a]\ncommand = \"sleep 1000\"\n");
    let v = start_fails(&env, "E101", 2);
    assert_eq!(v["details"]["line"], 2, "{v}");
    assert!(v["details"]["column"].as_u64().is_some_and(|c| c >= 8), "{v}");
    let m = msg(&v);
    assert!(m.contains("line 2") && m.contains("column"), "{m}");
    assert!(m.contains("taskmux.toml"), "names the file: {m}");
    let err = start_fails_human(&env, "E101", 2);
    assert!(err.contains("line 2"), "{err}");
}

#[test]
fn e101_missing_value() {
    let env = Env::new("cfg-e101b");
    env.config("[tasks.a]\ncommand = \n");
    let v = start_fails(&env, "E101", 2);
    assert_eq!(v["details"]["line"], 2, "{v}");
    let col = v["details"]["column"].as_u64().unwrap_or(0);
    assert!((9..=11).contains(&col), "column points after 'command =': {v}");
    assert!(msg(&v).contains(&format!("line 2, column {col}")), "{v}");
}

#[test]
fn e102_task_without_command() {
    let env = Env::new("cfg-e102a");
    env.config("[tasks.ok]\ncommand = \"sleep 1000\"\n[tasks.a]\ncwd = \".\"\n");
    let v = start_fails(&env, "E102", 2);
    let m = msg(&v);
    assert!(m.contains("'a'") && m.contains("command"), "{m}");
    assert_eq!(v["details"]["line"], 3, "the [tasks.a] header: {v}");
}

#[test]
fn e102_bad_task_name() {
    let env = Env::new("cfg-e102b");
    env.config("[tasks.\"bad name\"]\ncommand = \"sleep 1000\"\n");
    let v = start_fails(&env, "E102", 2);
    assert!(msg(&v).contains("'bad name'"), "{v}");
    start_fails_human(&env, "E102", 2);
}

#[test]
fn e102_reserved_task_name() {
    let env = Env::new("cfg-e102c");
    env.config("[tasks.job]\ncommand = \"sleep 1000\"\n");
    let v = start_fails(&env, "E102", 2);
    let m = msg(&v);
    assert!(m.contains("'job'") && m.contains("reserved"), "{m}");
}

#[test]
fn e103_unknown_key_in_project_table() {
    let env = Env::new("cfg-e103a");
    env.config("name = \"p\"\nbogus = 1\n[tasks.a]\ncommand = \"sleep 1000\"\n");
    let v = start_fails(&env, "E103", 2);
    let m = msg(&v);
    assert!(
        m.contains("'bogus' (line 2)") && m.contains("at the top level of"),
        "{m}"
    );
    assert!(!m.contains("[project]"), "the top level is no table [project]: {m}");
    assert_eq!(v["details"]["keys"], serde_json::json!(["bogus"]), "{v}");
    let err = start_fails_human(&env, "E103", 2);
    assert!(err.contains("'bogus' (line 2)"), "{err}");
    assert!(err.contains("\n  hint: "), "a hint lists the allowed keys: {err}");
}

#[test]
fn e103_unknown_key_in_task_table() {
    let env = Env::new("cfg-e103b");
    env.config("[tasks.a]\ncommand = \"sleep 1000\"\nrestart = \"always\"\n");
    let v = start_fails(&env, "E103", 2);
    let m = msg(&v);
    assert!(m.contains("'restart' (line 3)") && m.contains("[tasks.a]"), "{m}");
    assert_eq!(v["details"]["table"], "tasks.a", "{v}");
}

#[test]
fn e103_unknown_key_in_task_hooks_table() {
    let env = Env::new("cfg-e103c");
    env.config("[tasks.a]\ncommand = \"sleep 1000\"\n\n[tasks.a.hooks]\nbefore_strat = \"true\"\n");
    let v = start_fails(&env, "E103", 2);
    let m = msg(&v);
    assert!(
        m.contains("'before_strat' (line 5)") && m.contains("[tasks.a.hooks]"),
        "{m}"
    );
}

#[test]
fn e103_two_unknown_keys_both_named() {
    let env = Env::new("cfg-e103d");
    env.config("[tasks.a]\ncommand = \"sleep 1000\"\nfoo = 1\nbar = 2\n");
    let v = start_fails(&env, "E103", 2);
    let m = msg(&v);
    assert!(m.contains("'foo' (line 3)") && m.contains("'bar' (line 4)"), "{m}");
    assert_eq!(v["details"]["keys"], serde_json::json!(["foo", "bar"]), "{v}");
}

#[test]
fn e104_validation_errors() {
    let cases = [
        (
            "restart_policy",
            "[tasks.a]\ncommand = \"sleep 1000\"\nrestart_policy = \"sometimes\"\n",
            3,
            "sometimes",
        ),
        (
            "name",
            "name = \"Bad_Name\"\n[tasks.a]\ncommand = \"sleep 1000\"\n",
            1,
            "Bad_Name",
        ),
        (
            "log_max_size",
            "[tasks.a]\ncommand = \"sleep 1000\"\nlog_max_size = \"lots\"\n",
            3,
            "lots",
        ),
        (
            "health_expected_body",
            "[tasks.a]\ncommand = \"sleep 1000\"\nhealth_url = \"http://127.0.0.1:1/\"\nhealth_expected_body = \"([\"\n",
            4,
            "health_expected_body",
        ),
    ];
    for (what, text, line, needle) in cases {
        let env = Env::new("cfg-e104");
        env.config(text);
        let v = start_fails(&env, "E104", 2);
        let m = msg(&v);
        assert!(m.contains(needle), "{what}: message should name {needle:?}: {m}");
        assert_eq!(v["details"]["line"], line, "{what}: {v}");
        assert!(
            m.contains(&format!("taskmux.toml:{line}:")),
            "{what}: message has file:line: {m}"
        );
    }
}

#[test]
fn e104_two_tasks_with_one_host_is_an_invalid_config() {
    // before: `check` said E104 but `start` ran both, and the proxy's pick was arbitrary
    let env = Env::new("cfg-host");
    env.config(
        "name = \"cfghost\"\n[tasks.api]\ncommand = \"sleep 1000\"\nhost = \"app\"\n\
         [tasks.other]\ncommand = \"sleep 1000\"\nhost = \"other\"\n\
         [tasks.web]\ncommand = \"sleep 1000\"\nhost = \"app\"\n",
    );
    let v = start_fails(&env, "E104", 2);
    let m = msg(&v);
    assert!(
        m.contains("'app'") && m.contains("'web'") && m.contains("'api'"),
        "names the host and both tasks: {m}"
    );
    assert_eq!(
        (&v["details"]["task"], &v["details"]["line"]),
        (&"web".into(), &10.into()),
        "{v}"
    );
    assert!(m.contains("taskmux.toml:10:"), "file:line of the second host: {m}");
    let err = start_fails_human(&env, "E104", 2);
    assert!(err.contains("hint: ") && err.contains("another host"), "{err}");
    // every command that loads the config refuses it the same way; status, which shows
    // what tmux knows even then, says why in a warning
    for args in [&["url", "api"][..], &["check"], &["status"]] {
        let (v, rc) = env.json(args);
        assert_eq!(rc, if args[0] == "status" { 0 } else { 2 }, "{args:?}: {v}");
        let text = v.to_string();
        assert!(
            text.contains("E104") && text.contains("'web'") && text.contains("'api'"),
            "{args:?}: {v}"
        );
    }
    assert_nothing_happened(&env);
    // one host each: it starts
    if require_tmux() {
        env.config(
            "name = \"cfghost\"\n[tasks.api]\ncommand = \"sleep 1000\"\nhost = \"app\"\n\
             [tasks.web]\ncommand = \"sleep 1000\"\nhost = \"www\"\n",
        );
        let (v, rc) = env.json(&["start"]);
        assert_eq!((rc, &v["ok"]), (0, &true.into()), "{v}");
    }
}

#[test]
fn e210_unknown_dependency() {
    let env = Env::new("cfg-e210");
    env.config("[tasks.a]\ncommand = \"sleep 1000\"\ndepends_on = [\"ghost\"]\n");
    let v = start_fails(&env, "E210", 2);
    let m = msg(&v);
    assert!(m.contains("'ghost'") && m.contains("'a'"), "{m}");
}

#[test]
fn e211_self_dependency() {
    let env = Env::new("cfg-e211");
    env.config(
        "[tasks.b]\ncommand = \"sleep 1000\"\n[tasks.a]\ncommand = \"sleep 1000\"\ndepends_on = [\"b\", \"a\"]\n",
    );
    let v = start_fails(&env, "E211", 2);
    assert!(msg(&v).contains("'a'"), "{v}");
}

#[test]
fn e212_cycle_of_three_named_whole() {
    let env = Env::new("cfg-e212");
    env.config(
        "[tasks.a]\ncommand = \"sleep 1000\"\ndepends_on = [\"b\"]\n\
         [tasks.b]\ncommand = \"sleep 1000\"\ndepends_on = [\"c\"]\n\
         [tasks.c]\ncommand = \"sleep 1000\"\ndepends_on = [\"a\"]\n",
    );
    let v = start_fails(&env, "E212", 2);
    let m = msg(&v);
    assert!(
        ["a -> b -> c -> a", "b -> c -> a -> b", "c -> a -> b -> c"]
            .iter()
            .any(|c| m.contains(c)),
        "the whole cycle should be named: {m}"
    );
    start_fails_human(&env, "E212", 2);
}

#[test]
fn e213_missing_cwd_starts_nothing() {
    let Some(env) = Env::with_tmux("cfg-e213") else { return };
    env.config(
        "name = \"p\"\n[tasks.good]\ncommand = \"echo $$ > good.pid; exec sleep 1000\"\n\
         [tasks.bad]\ncommand = \"sleep 1000\"\ncwd = \"missing-dir\"\n",
    );
    let (v, rc) = env.json(&["start"]);
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["code"], "E213", "{v}");
    assert_eq!(rc, 2, "{v}");
    let m = msg(&v);
    assert!(m.contains("'bad'") && m.contains("missing-dir"), "{m}");
    assert!(!env.project.join("good.pid").exists(), "the valid task ran");
    assert_eq!(env.tmux(&["list-sessions"]), "", "a session was made");
    assert!(env.our_processes().is_empty(), "processes run after E213");
    assert_nothing_happened(&env);
}

#[test]
fn explicit_config_from_another_directory() {
    let Some(env) = Env::with_tmux("cfg-dashc") else { return };
    let other = env.root.join("elsewhere");
    let cwd = env.root.join("somewhere");
    std::fs::create_dir_all(&other).expect("mkdir");
    std::fs::create_dir_all(&cwd).expect("mkdir");
    std::fs::write(
        other.join("other.toml"),
        "name = \"other\"\n[tasks.w]\ncommand = \"pwd > where.txt; exec sleep 1000\"\n",
    )
    .expect("write");
    let (v, rc) = env.json_in(&cwd, &["-c", "../elsewhere/other.toml", "start"]);
    assert_eq!(rc, 0, "{v}");
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["session"], "other", "{v}");
    assert_eq!(v["tasks"], serde_json::json!(["w"]), "{v}");
    // the task runs in the config file's directory, not the caller's
    wait_for(10.0, "where.txt", || !read(&other.join("where.txt")).is_empty());
    assert_eq!(read(&other.join("where.txt")).trim(), other.display().to_string());
    let (s, _) = env.json_in(&cwd, &["-c", "../elsewhere/other.toml", "status"]);
    assert_eq!(s["session"], "other", "{s}");
    assert_eq!(s["tasks"][0]["running"], true, "{s}");
    // without -c, the same directory has no config
    let (e, rc) = env.json_in(&cwd, &["status"]);
    assert_eq!((e["code"].as_str(), rc), (Some("E100"), 2), "{e}");
}

#[test]
fn config_is_found_upward_from_a_subdirectory() {
    let Some(env) = Env::with_tmux("cfg-upward") else {
        return;
    };
    env.tasks("up", &[("w", "pwd > where.txt; exec sleep 1000")]);
    let sub = env.project.join("src").join("deep");
    std::fs::create_dir_all(&sub).expect("mkdir");
    let (v, rc) = env.json_in(&sub, &["start"]);
    assert_eq!(rc, 0, "{v}");
    assert_eq!(v["session"], "up", "{v}");
    assert_eq!(v["tasks"], serde_json::json!(["w"]), "{v}");
    wait_for(10.0, "where.txt in the project dir", || {
        !read(&env.project.join("where.txt")).is_empty()
    });
    assert_eq!(
        read(&env.project.join("where.txt")).trim(),
        env.project.display().to_string()
    );
    assert!(!sub.join("where.txt").exists(), "the task ran in the subdirectory");
    let (s, _) = env.json_in(&sub, &["status"]);
    assert_eq!(s["tasks"][0]["running"], true, "{s}");
    assert_eq!(s["active_tasks"], 1, "{s}");
}
