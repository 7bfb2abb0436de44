//! `check` (config validation and environment lint: codes, JSON entries, exit status) and
//! `url` (host, apex, wildcard, no host, unknown task, the proxy port). No tmux needed.

use crate::harness::{Env, show};
use serde_json::Value;
use std::path::Path;

/// Runs `check --json`; returns (json, exit code), and checks that tmux was never touched.
fn check(env: &Env) -> (Value, i32) {
    let (v, rc) = env.json(&["check"]);
    assert!(!Path::new(&env.socket_path()).exists(), "check started a tmux server");
    (v, rc)
}

/// The entries of `errors` or `warnings`.
fn entries<'a>(v: &'a Value, key: &str) -> &'a Vec<Value> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("'{key}' is not a list: {v}"))
}

/// The one entry of `key` with `code` for `task` (a name, or null for the project).
fn entry<'a>(v: &'a Value, key: &str, code: &str, task: Value) -> &'a Value {
    let found: Vec<&Value> = entries(v, key)
        .iter()
        .filter(|e| e["code"] == code && e["task"] == task)
        .collect();
    assert_eq!(found.len(), 1, "want one {code} for {task} in {key}: {v}");
    let e = found[0];
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "entry without message: {e}"
    );
    e
}

fn msg(e: &Value) -> &str {
    e["message"].as_str().unwrap_or_default()
}

const CLEAN: &str = r#"name = "demo"
[tasks.db]
command = "sleep 100"
health_check = "true"

[tasks.api]
command = "PORT_X=1 exec sleep 100"
host = "api"
health_url = "http://localhost:$PORT/health"
depends_on = ["db"]

[tasks.web]
command = "cd . && ./serve.sh --port $PORT"
cwd = "web"
port = 3000
health_url = "http://127.0.0.1:${PORT}"
"#;

#[test]
fn clean_config_passes() {
    let env = Env::new("check-clean");
    env.config(CLEAN);
    env.file("web/.keep", "");
    let (v, rc) = check(&env);
    assert_eq!(rc, 0, "{v}");
    assert_eq!(v["ok"], true, "{v}");
    assert!(entries(&v, "errors").is_empty(), "{v}");
    assert!(entries(&v, "warnings").is_empty(), "{v}");
    let want = std::fs::canonicalize(env.project.join("taskmux.toml")).expect("config exists");
    let got = std::fs::canonicalize(v["config"].as_str().unwrap_or_default()).expect("config path exists");
    assert_eq!(got, want, "{v}");
    assert!(Path::new(v["config"].as_str().unwrap_or_default()).is_absolute(), "{v}");

    let o = env.run(&["check"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("check passed") && text.contains("3 tasks, 0 errors, 0 warnings"),
        "{}",
        show(&o)
    );
}

#[test]
fn missing_cwd_is_an_error() {
    let env = Env::new("check-cwd");
    env.config("[tasks.api]\ncommand = \"sleep 1\"\ncwd = \"apps/api\"\n[tasks.ok]\ncommand = \"sleep 1\"\n");
    let (v, rc) = check(&env);
    assert_eq!(rc, 1, "{v}");
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(entries(&v, "errors").len(), 1, "{v}");
    let e = entry(&v, "errors", "E213", "api".into());
    assert!(msg(e).contains("apps/api"), "names the directory: {e}");

    // human: one line per finding, then a summary; exit 1
    let o = env.run(&["check"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("error[E213]: task 'api': "), "{}", show(&o));
    assert!(
        text.contains("check failed") && text.contains("1 error"),
        "{}",
        show(&o)
    );
}

#[test]
fn unknown_command_is_a_warning() {
    let env = Env::new("check-cmd");
    env.config(
        r#"[tasks.a]
command = "FOO=1 exec taskmux-no-such-program-xyz --flag"
[tasks.b]
command = "./missing.sh"
[tasks.c]
command = "./present.sh"
[tasks.d]
command = "env -u HOME BAR=2 sleep 1"
[tasks.e]
command = "while true; do nosuchthing; done"
[tasks.f]
command = "bin/tool"
[tasks.g]
command = "./notexec.sh"
"#,
    );
    let p = env.file("present.sh", "#!/bin/sh\n");
    let tool = env.file("bin/tool", "#!/bin/sh\n");
    env.file("notexec.sh", "#!/bin/sh\n");
    use std::os::unix::fs::PermissionsExt;
    for f in [&p, &tool] {
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let (v, rc) = check(&env);
    assert_eq!(rc, 0, "warnings only: {v}");
    assert_eq!(v["ok"], true, "{v}");
    assert!(entries(&v, "errors").is_empty(), "{v}");
    let e = entry(&v, "warnings", "W101", "a".into());
    assert!(
        msg(e).contains("taskmux-no-such-program-xyz") && msg(e).contains("PATH"),
        "{e}"
    );
    let e = entry(&v, "warnings", "W101", "b".into());
    assert!(msg(e).contains("./missing.sh"), "{e}");
    let e = entry(&v, "warnings", "W101", "g".into());
    assert!(msg(e).contains("not an executable"), "{e}");
    let warned: Vec<&Value> = entries(&v, "warnings").iter().map(|w| &w["task"]).collect();
    assert_eq!(warned, ["a", "b", "g"], "{v}");

    let o = env.run(&["check"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("warning[W101]: task 'a': "), "{}", show(&o));
    assert!(text.contains("check passed"), "{}", show(&o));
}

#[test]
fn task_path_entries_are_searched() {
    let env = Env::new("check-path");
    env.config("[tasks.a]\ncommand = \"mytool serve\"\nenv = { PATH = \"tools:/usr/bin:/bin\" }\n");
    let t = env.file("tools/mytool", "#!/bin/sh\n");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&t, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let (v, rc) = check(&env);
    assert_eq!(rc, 0, "{v}");
    assert!(entries(&v, "warnings").is_empty(), "{v}");
}

#[test]
fn bad_health_urls_are_warnings() {
    let env = Env::new("check-url");
    env.config(
        r#"[tasks.badport]
command = "sleep 1"
health_url = "http://localhost:abc/health"
[tasks.nohost]
command = "sleep 1"
port = 8000
health_url = "http://:8000/"
[tasks.tls]
command = "sleep 1"
port = 8443
health_url = "https://localhost:$PORT/"
[tasks.noport]
command = "sleep 1"
health_url = "http://localhost:$PORT/"
[tasks.vars]
command = "sleep 1"
env = { HOST = "127.0.0.1" }
host = "vars"
health_url = "http://${HOST}:$PORT/x?y=1"
"#,
    );
    let (v, rc) = check(&env);
    assert_eq!(rc, 0, "{v}");
    assert_eq!(v["ok"], true, "{v}");
    assert!(entries(&v, "errors").is_empty(), "{v}");
    let e = entry(&v, "warnings", "W102", "badport".into());
    assert!(msg(e).contains("'abc'"), "{e}");
    let e = entry(&v, "warnings", "W102", "nohost".into());
    assert!(msg(e).contains("no host"), "{e}");
    let e = entry(&v, "warnings", "W103", "tls".into());
    assert!(msg(e).contains("https"), "{e}");
    let e = entry(&v, "warnings", "W102", "noport".into());
    assert!(msg(e).contains("$PORT"), "{e}");
    assert!(
        !entries(&v, "warnings").iter().any(|w| w["task"] == "vars"),
        "placeholders are allowed: {v}"
    );
    assert_eq!(entries(&v, "warnings").len(), 4, "{v}");
}

#[test]
fn auto_start_depending_on_manual_task_is_a_warning() {
    let env = Env::new("check-manual");
    env.config(
        r#"[tasks.db]
command = "sleep 1"
auto_start = false
[tasks.api]
command = "sleep 1"
depends_on = ["db"]
[tasks.tool]
command = "sleep 1"
auto_start = false
depends_on = ["db"]
"#,
    );
    let (v, rc) = check(&env);
    assert_eq!(rc, 0, "{v}");
    assert_eq!(v["ok"], true, "{v}");
    let e = entry(&v, "warnings", "W104", "api".into());
    assert!(msg(e).contains("'db'"), "names the manual task: {e}");
    assert_eq!(
        entries(&v, "warnings").len(),
        1,
        "a manual task may depend on a manual one: {v}"
    );
}

#[test]
fn missing_env_file_is_an_error() {
    let env = Env::new("check-envfile");
    env.config(
        r#"env_file = ".env.shared"
[tasks.api]
command = "sleep 1"
env_file = [".env", ".env.local"]
"#,
    );
    env.file(".env", "A=1\n");
    let (v, rc) = check(&env);
    assert_eq!(rc, 1, "{v}");
    assert_eq!(v["ok"], false, "{v}");
    let e = entry(&v, "errors", "E104", Value::Null);
    assert!(msg(e).contains(".env.shared"), "{e}");
    let e = entry(&v, "errors", "E104", "api".into());
    assert!(msg(e).contains(".env.local"), "{e}");
    assert_eq!(entries(&v, "errors").len(), 2, "{v}");
}

#[test]
fn duplicate_host_is_an_error() {
    let env = Env::new("check-host");
    env.config(
        "[tasks.a]\ncommand = \"sleep 1\"\nhost = \"app\"\n[tasks.b]\ncommand = \"sleep 1\"\nhost = \"app\"\n\
         [tasks.c]\ncommand = \"sleep 1\"\nhost = \"other\"\n",
    );
    // an invalid config (as for `start`), not a lint of the environment: exit 2
    let (v, rc) = check(&env);
    assert_eq!(rc, 2, "{v}");
    let e = entry(&v, "errors", "E104", "b".into());
    assert!(
        msg(e).contains("'app'") && msg(e).contains("'a'") && msg(e).contains("'b'"),
        "{e}"
    );
    assert_eq!(entries(&v, "errors").len(), 1, "{v}");
}

#[test]
fn invalid_config_is_reported_with_its_code() {
    let env = Env::new("check-toml");
    env.config("name = \"demo\"\n[tasks.api\ncommand = \"x\"\n");
    let (v, rc) = check(&env);
    assert_eq!(rc, 2, "{v}");
    assert_eq!(v["ok"], false, "{v}");
    let e = entry(&v, "errors", "E101", Value::Null);
    assert!(msg(e).contains("line 2"), "names the line: {e}");
    assert!(entries(&v, "warnings").is_empty(), "{v}");

    // a validation error of the config itself, with its own code
    env.config("[tasks.a]\ncommand = \"x\"\ndepends_on = [\"a\"]\n");
    let (v, rc) = check(&env);
    assert_eq!(rc, 2, "{v}");
    entry(&v, "errors", "E211", "a".into());

    let o = env.run(&["check"]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("error[E211]: ") && text.contains("not a valid config"),
        "{}",
        show(&o)
    );
}

#[test]
fn no_config_is_a_plain_error() {
    let env = Env::new("check-none");
    let (v, rc) = check(&env);
    assert_eq!(rc, 2, "{v}");
    assert_eq!(v["code"], "E100", "{v}");
    assert!(v.get("errors").is_none(), "{v}");
    let (v, rc) = env.json(&["check", "extra"]);
    assert_eq!((v["code"].as_str(), rc), (Some("E500"), 2), "{v}");
}

const HOSTS: &str = r#"name = "shop"
[tasks.api]
command = "sleep 1"
host = "api"
[tasks.site]
command = "sleep 1"
host = "@"
[tasks.tenants]
command = "sleep 1"
host = "*"
[tasks.worker]
command = "sleep 1"
"#;

#[test]
fn url_of_each_kind_of_host() {
    let env = Env::new("url-hosts");
    env.config(HOSTS);
    for (task, want) in [
        ("api", "https://api.shop.localhost"),
        ("site", "https://shop.localhost"),
        ("tenants", "https://*.shop.localhost"),
    ] {
        let (v, rc) = env.json(&["url", task]);
        assert_eq!(rc, 0, "{v}");
        assert_eq!(v, serde_json::json!({"ok": true, "task": task, "url": want}));
    }
    let o = env.run(&["url", "api"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "https://api.shop.localhost\n");
}

#[test]
fn url_without_host_or_task_is_e200() {
    let env = Env::new("url-nohost");
    env.config(HOSTS);
    let (v, rc) = env.json(&["url", "worker"]);
    assert_eq!(rc, 1, "{v}");
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["code"], "E200", "{v}");
    assert_eq!(v["details"]["reason"], "no_host", "{v}");
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|m| m.contains("'worker'") && m.contains("host")),
        "{v}"
    );

    let (v, rc) = env.json(&["url", "ghost"]);
    assert_eq!(rc, 1, "{v}");
    assert_eq!(v["code"], "E200", "{v}");
    assert!(v["error"].as_str().is_some_and(|m| m.contains("'ghost'")), "{v}");

    let o = env.run(&["url", "worker"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(o.stdout.is_empty(), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).starts_with("taskmux: error[E200]: "),
        "{}",
        show(&o)
    );

    let (v, rc) = env.json(&["url"]);
    assert_eq!((v["code"].as_str(), rc), (Some("E500"), 2), "{v}");
}

#[test]
fn url_carries_the_proxy_port_when_not_443() {
    let env = Env::new("url-port");
    env.config(HOSTS);
    std::fs::write(
        env.home.join("config.toml"),
        "proxy_enabled = true\nproxy_https_port = 8443\n",
    )
    .expect("write global config");
    let (v, rc) = env.json(&["url", "api"]);
    assert_eq!(rc, 0, "{v}");
    assert_eq!(v["url"], "https://api.shop.localhost:8443", "{v}");
    let (v, _) = env.json(&["url", "site"]);
    assert_eq!(v["url"], "https://shop.localhost:8443", "{v}");

    std::fs::write(env.home.join("config.toml"), "proxy_https_port = 443\n").expect("write global config");
    let (v, rc) = env.json(&["url", "api"]);
    assert_eq!(rc, 0, "{v}");
    assert_eq!(v["url"], "https://api.shop.localhost", "{v}");
}
