//! `taskmux config show|path|set|unset`: the global config `$TASKMUX_HOME/config.toml`
//! through the real binary, in a scratch TASKMUX_HOME. No tmux needed.

use crate::harness::{Env, require, show};
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use taskmux::config::global_edit::KEYS;

fn file(env: &Env) -> PathBuf {
    env.home.join("config.toml")
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).expect("the file is there").permissions().mode() & 0o777
}

/// `config set KEY VALUE --json`: the result, which must succeed.
fn set(env: &Env, key: &str, value: &str) -> Value {
    let (v, rc) = env.json(&["config", "set", key, value]);
    assert_eq!(rc, 0, "config set {key} {value:?}: {v}");
    assert_eq!((v["ok"].clone(), v["key"].clone()), (json!(true), json!(key)), "{v}");
    v
}

/// `config set KEY VALUE`, which must fail with E104 naming the key and leave the file as it was.
fn refused(env: &Env, key: &str, value: &str) -> Value {
    let before = std::fs::read(file(env)).ok();
    let (v, rc) = env.json(&["config", "set", key, value]);
    assert_eq!(
        (rc, v["code"].clone()),
        (2, json!("E104")),
        "config set {key} {value:?}: {v}"
    );
    assert!(v["error"].as_str().unwrap_or_default().contains(key), "{v}");
    assert_eq!(std::fs::read(file(env)).ok(), before, "a refused set wrote the file");
    let o = env.run(&["config", "set", key, value]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(err.contains("error[E104]") && err.contains("hint:"), "{}", show(&o));
    v
}

#[test]
fn path_names_the_file_and_whether_it_exists() {
    let env = Env::new("gconf-path");
    let o = env.run(&["config", "path"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        file(&env).display().to_string()
    );
    let (v, rc) = env.json(&["config", "path"]);
    assert_eq!(rc, 0);
    assert_eq!(v, json!({"path": file(&env), "exists": false}));
    // a broken file is still found: path does not read it
    std::fs::write(file(&env), "api_port = [").expect("write");
    let (v, rc) = env.json(&["config", "path"]);
    assert_eq!((rc, v["exists"].clone()), (0, json!(true)), "{v}");
    let o = env.run(&["config", "path", "extra"]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
}

#[test]
fn show_fills_in_every_default() {
    let env = Env::new("gconf-show");
    let (v, rc) = env.json(&["config", "show"]);
    assert_eq!(rc, 0, "{v}");
    assert_eq!(v["exists"], false);
    assert_eq!(v["path"], json!(file(&env)));
    assert_eq!(v["from_file"], json!([]));
    assert_eq!(
        v["config"],
        json!({
            "health_check_interval": 30.0, "api_bind": "127.0.0.1", "api_port": 8765,
            "api_allowed_origins": [], "proxy_enabled": true, "proxy_bind": "127.0.0.1",
            "proxy_https_port": 443, "proxy_http_port": 80, "host_resolver": "etc_hosts",
            "dns_server_port": 5454, "dns_managed_tld": "localhost",
            "proxy_upstream_timeout": 60.0, "ssh_command": "ssh", "hosts": {}
        })
    );
    assert!(!file(&env).exists(), "show created the file");
    // `config` alone is show; the human form lists every key and where it comes from
    std::fs::write(file(&env), "api_port = 9000\n").expect("write");
    let o = env.run(&["config"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    for k in KEYS {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(k.name))
            .unwrap_or_else(|| panic!("show lacks {}: {text}", k.name));
        let from = if k.name == "api_port" { "file" } else { "default" };
        assert!(line.ends_with(from), "{line}");
    }
    let port = text.lines().find(|l| l.starts_with("api_port ")).unwrap_or_default();
    assert_eq!(
        port.split_whitespace().collect::<Vec<_>>(),
        ["api_port", "9000", "file"],
        "{text}"
    );
    let (v, _) = env.json(&["config", "show"]);
    assert_eq!(
        (v["exists"].clone(), v["from_file"].clone()),
        (json!(true), json!(["api_port"]))
    );
    assert_eq!(v["config"]["api_port"], 9000);
}

#[test]
fn set_reads_each_type_and_writes_a_private_file() {
    let env = Env::new("gconf-set");
    let v = set(&env, "api_port", "9001");
    assert_eq!((v["value"].clone(), v["action"].clone()), (json!(9001), json!("set")));
    assert_eq!(v["path"], json!(file(&env)));
    assert_eq!(mode(&file(&env)), 0o600);
    assert_eq!(set(&env, "health_check_interval", "2.5")["value"], 2.5);
    assert_eq!(set(&env, "health_check_interval", "15")["value"], 15.0);
    assert_eq!(set(&env, "proxy_enabled", "false")["value"], false);
    assert_eq!(set(&env, "proxy_http_port", "0")["value"], 0);
    assert_eq!(set(&env, "api_bind", "0.0.0.0")["value"], "0.0.0.0");
    assert_eq!(set(&env, "dns_managed_tld", "test")["value"], "test");
    assert_eq!(set(&env, "host_resolver", "dns_server")["value"], "dns_server");
    let origins = set(&env, "api_allowed_origins", "[\"http://localhost:3000\"]");
    assert_eq!(origins["value"], json!(["http://localhost:3000"]));
    let origins = set(&env, "api_allowed_origins", "http://a:1, http://b:2");
    assert_eq!(origins["value"], json!(["http://a:1", "http://b:2"]));
    assert_eq!(origins["config"]["api_port"], 9001, "the result carries every key");
    assert_eq!(
        read(&file(&env)),
        "api_port = 9001\nhealth_check_interval = 15\nproxy_enabled = false\nproxy_http_port = 0\n\
         api_bind = \"0.0.0.0\"\ndns_managed_tld = \"test\"\nhost_resolver = \"dns_server\"\n\
         api_allowed_origins = [\"http://a:1\", \"http://b:2\"]\n"
    );
    assert_eq!(set(&env, "api_allowed_origins", "")["value"], json!([]));
    // the same value again writes nothing
    let before = std::fs::metadata(file(&env)).and_then(|m| m.modified()).expect("mtime");
    assert_eq!(set(&env, "api_port", "9001")["action"], "unchanged");
    let after = std::fs::metadata(file(&env)).and_then(|m| m.modified()).expect("mtime");
    assert_eq!(before, after, "an unchanged set rewrote the file");
    // a value starting with '-' after --
    let (v, rc) = env.json(&["config", "set", "proxy_http_port", "--", "-1"]);
    assert_eq!((rc, v["code"].clone()), (2, json!("E104")), "{v}");
    // what was set is what the rest of taskmux reads
    let (v, _) = env.json(&["config", "show"]);
    assert_eq!(v["config"]["host_resolver"], "dns_server");
    let o = env.run(&["config", "set", "api_port", "9002"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("api_port = 9002"),
        "{}",
        show(&o)
    );
}

#[test]
fn set_keeps_comments_and_other_keys_byte_for_byte() {
    let env = Env::new("gconf-keep");
    let original = "# my machine\n\n# the proxy, on a high port\nproxy_https_port   =   8443   # not 443\n\
                    api_allowed_origins = [ 'http://x:1' ,\n  'http://y:2' ]  # two\n\napi_port = 9000 # the api\n";
    std::fs::write(file(&env), original).expect("write");
    std::fs::set_permissions(file(&env), std::fs::Permissions::from_mode(0o644)).expect("chmod");
    set(&env, "api_port", "9100");
    let want = original.replace("api_port = 9000 # the api", "api_port = 9100 # the api");
    assert_eq!(read(&file(&env)), want);
    assert_eq!(mode(&file(&env)), 0o600, "the file is private after a set");
    set(&env, "dns_server_port", "5353");
    assert_eq!(read(&file(&env)), format!("{want}dns_server_port = 5353\n"));
    let o = env.run(&["config", "unset", "api_port"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("8765"),
        "unset names the default: {}",
        show(&o)
    );
    assert_eq!(
        read(&file(&env)),
        format!(
            "{}dns_server_port = 5353\n",
            want.replace("\napi_port = 9100 # the api\n", "")
        )
    );
    let (v, rc) = env.json(&["config", "unset", "api_port"]);
    assert_eq!(
        (rc, v["action"].clone(), v["value"].clone()),
        (0, json!("unchanged"), json!(8765))
    );
}

#[test]
fn unknown_keys_are_e104_with_the_keys_in_the_hint() {
    let env = Env::new("gconf-unknown");
    let v = refused(&env, "api_prot", "1");
    let hint = v["hint"].as_str().unwrap_or_default();
    for k in KEYS {
        assert!(hint.contains(k.name), "the hint lacks {}: {v}", k.name);
    }
    assert_eq!(v["details"]["key"], "api_prot");
    assert!(!file(&env).exists(), "a refused set created the file");
    let (v, rc) = env.json(&["config", "unset", "api_prot"]);
    assert_eq!((rc, v["code"].clone()), (2, json!("E104")), "{v}");
    // a stray key in the file makes it invalid; unset is how to take it out
    std::fs::write(file(&env), "# keep\nbogus = 1\napi_port = 9000\n").expect("write");
    let (v, rc) = env.json(&["config", "show"]);
    assert_eq!((rc, v["code"].clone()), (2, json!("E104")), "{v}");
    let msg = v["error"].as_str().unwrap_or_default();
    assert!(
        msg.contains("bogus") && msg.contains(&file(&env).display().to_string()),
        "{v}"
    );
    let (v, rc) = env.json(&["config", "set", "api_port", "9001"]);
    assert_eq!((rc, v["code"].clone()), (2, json!("E104")), "{v}");
    assert!(
        v["hint"].as_str().unwrap_or_default().contains("nothing was written"),
        "{v}"
    );
    let (v, rc) = env.json(&["config", "unset", "bogus"]);
    assert_eq!((rc, v["action"].clone()), (0, json!("unset")), "{v}");
    assert_eq!(read(&file(&env)), "# keep\napi_port = 9000\n");
}

#[test]
fn bad_values_are_e104_naming_the_key() {
    let env = Env::new("gconf-bad");
    std::fs::write(file(&env), "api_port = 9000\n").expect("write");
    for (key, value) in [
        ("api_port", "0"),
        ("api_port", "70000"),
        ("api_port", "abc"),
        ("api_port", "80.5"),
        ("proxy_https_port", "-443"),
        ("dns_server_port", ""),
        ("health_check_interval", "abc"),
        ("health_check_interval", "0"),
        ("health_check_interval", "100000"),
        ("proxy_enabled", "yes"),
        ("host_resolver", "dns"),
        ("host_resolver", "\"noop\""),
        ("api_bind", ""),
        ("dns_managed_tld", "my tld"),
        ("api_allowed_origins", "[1, 2]"),
        ("api_allowed_origins", "[\"http://a:1\""),
    ] {
        let v = refused(&env, key, value);
        assert!(v["error"].as_str().unwrap_or_default().contains("must be"), "{v}");
    }
    let v = refused(&env, "api_port", "70000");
    assert!(v["error"].as_str().unwrap_or_default().contains("1 to 65535"), "{v}");
    let v = refused(&env, "host_resolver", "dns");
    let msg = v["error"].as_str().unwrap_or_default();
    assert!(
        msg.contains("etc_hosts") && msg.contains("dns_server") && msg.contains("noop"),
        "{v}"
    );
    assert_eq!(read(&file(&env)), "api_port = 9000\n");
    // usage errors: a missing value, an unknown subcommand
    for args in [
        &["config", "set", "api_port"][..],
        &["config", "frob"],
        &["config", "show", "x"],
    ] {
        let (v, rc) = env.json(args);
        assert_eq!((rc, v["code"].clone()), (2, json!("E500")), "{args:?}: {v}");
    }
}

#[test]
fn a_malformed_file_is_reported_and_left_alone() {
    let env = Env::new("gconf-malformed");
    let broken = "# mine\napi_port = 9000\nproxy_bind = \"127.0.0.1\n";
    std::fs::write(file(&env), broken).expect("write");
    let (v, rc) = env.json(&["config", "show"]);
    assert_eq!((rc, v["code"].clone()), (2, json!("E101")), "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap_or_default()
            .contains(&file(&env).display().to_string()),
        "{v}"
    );
    assert_eq!(v["details"]["line"], 3, "{v}");
    let (v, rc) = env.json(&["config", "set", "api_port", "9001"]);
    assert_eq!((rc, v["code"].clone()), (2, json!("E101")), "{v}");
    assert_eq!(read(&file(&env)), broken, "a set on a broken file changed it");
    let o = env.run(&["config", "show"]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("error[E101]"),
        "{}",
        show(&o)
    );
    // a value of the wrong type in the file is E104; setting that key fixes it
    std::fs::write(file(&env), "api_port = \"x\" # fix me\n").expect("write");
    let (v, rc) = env.json(&["config", "show"]);
    assert_eq!((rc, v["code"].clone()), (2, json!("E104")), "{v}");
    set(&env, "api_port", "9001");
    assert_eq!(read(&file(&env)), "api_port = 9001 # fix me\n");
    // not UTF-8
    std::fs::write(file(&env), b"\xff\xfe").expect("write");
    let (v, rc) = env.json(&["config", "show"]);
    assert_eq!((rc, v["code"].clone()), (2, json!("E101")), "{v}");
}

#[test]
fn help_man_page_and_completions_know_the_command_and_its_keys() {
    let env = Env::new("gconf-docs");
    let o = env.run(&["--help"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.lines().any(|l| l.trim_start().starts_with("config ")), "{text}");
    assert!(
        !text.contains("Coming: config") && !text.contains(", config,"),
        "{text}"
    );
    let o = env.run(&["config", "--help"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("set KEY VALUE"),
        "{}",
        show(&o)
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let man = read(&root.join("man/taskmux.1"));
    let section = man
        .split(".SS \"config ")
        .nth(1)
        .and_then(|s| s.split(".SS ").next())
        .expect("taskmux.1 has a config subsection");
    for script in [
        "completions/taskmux.bash",
        "completions/_taskmux",
        "completions/taskmux.fish",
    ] {
        let text = read(&root.join(script));
        for k in KEYS {
            assert!(text.contains(k.name), "{script} does not complete {}", k.name);
        }
    }
    for k in KEYS {
        assert!(
            section.replace("\\_", "_").contains(k.name),
            "taskmux.1 config lacks {}",
            k.name
        );
    }
    if !require("bash", &["bash", "--version"]) {
        return;
    }
    let complete = |line: &str| -> String {
        let program = r#"
            source "$1" || exit 3
            read -ra COMP_WORDS <<<"$2"
            [[ $2 == *' ' ]] && COMP_WORDS+=('')
            COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
            _taskmux taskmux "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
            printf '%s\n' "${COMPREPLY[@]}"
        "#;
        let o = Command::new("bash")
            .args(["--norc", "--noprofile", "-c", program, "bash"])
            .arg(root.join("completions/taskmux.bash"))
            .arg(line)
            .current_dir(&env.home)
            .output()
            .expect("bash runs");
        assert!(o.status.success() && o.stderr.is_empty(), "{line:?}: {}", show(&o));
        String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(complete("taskmux conf"), "config");
    assert_eq!(complete("taskmux config "), "show path set unset");
    assert_eq!(complete("taskmux config set api_p"), "api_port");
    assert_eq!(
        complete("taskmux --json config unset dns_"),
        "dns_server_port dns_managed_tld"
    );
    assert_eq!(
        complete("taskmux config set host_resolver "),
        "etc_hosts dns_server noop"
    );
    assert_eq!(complete("taskmux config set api_port 1 "), "");
}
