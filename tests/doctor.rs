//! `taskmux doctor` on a scratch machine: everything set up (daemon, unit, linger, CA
//! trusted by the system store and NSS, hosts block, proxy) is all ok; a stopped daemon
//! and an expired host certificate each fail with their fix.

use crate::harness::*;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

struct World {
    env: Env,
    root: PathBuf,
    user_home: PathBuf,
    https: u16,
}

impl World {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.env.command(args);
        c.env("HOME", &self.user_home)
            .env("USER", "tester")
            .env("TASKMUX_SYSTEM_ROOT", &self.root)
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("CAROOT");
        c
    }
    fn json(&self, args: &[&str]) -> (Value, i32) {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        let o = self.cmd(&a).output().expect("runs");
        let v = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("not JSON: {}", show(&o)));
        (v, o.status.code().unwrap_or(-1))
    }
    fn doctor(&self) -> (Value, i32) {
        self.json(&["doctor"])
    }
}

fn check<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["checks"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["check"] == name))
        .unwrap_or_else(|| panic!("no check {name}: {v}"))
}

/// A healthy scratch machine: project `doc` with a host task, the daemon with its proxy,
/// the unit, linger, the CA installed in a Debian root and NSS, the hosts block.
fn healthy() -> Option<World> {
    let env = Env::with_tmux("doc")?;
    if !require("certutil", &["sh", "-c", "command -v certutil"]) || !require("curl", &["curl", "-V"]) {
        return None;
    }
    let root = env.root.join("sysroot");
    let user_home = env.root.join("user");
    std::fs::create_dir_all(root.join("etc")).expect("mkdir");
    std::fs::create_dir_all(&user_home).expect("mkdir");
    if !crate::certs_trust::debian_root(&root, &env.root) {
        return None;
    }
    std::fs::write(root.join("etc/hosts"), "127.0.0.1 localhost\n").expect("hosts");
    std::fs::create_dir_all(root.join("var/lib/systemd/linger")).expect("mkdir");
    std::fs::write(root.join("var/lib/systemd/linger/tester"), "").expect("linger");
    env.config("name = \"doc\"\n[tasks.web]\ncommand = \"exec python3 -m http.server $PORT --bind 127.0.0.1\"\nhost = \"web\"\n");
    let https = free_port();
    let w = World {
        env,
        root,
        user_home,
        https,
    };
    let global = format!(
        "health_check_interval = 30\napi_port = {}\nproxy_https_port = {https}\nproxy_http_port = 0\nhost_resolver = \"etc_hosts\"\n",
        free_port()
    );
    std::fs::write(w.env.home.join("config.toml"), global).expect("config");
    for args in [
        &["start"][..],
        &["daemon", "start"],
        &["ca", "install"],
        &["dns", "install"],
    ] {
        let (v, code) = w.json(args);
        assert_eq!(code, 0, "{args:?}: {v}");
    }
    // the unit, as install would write it (this machine has no user service manager)
    let unit = w.cmd(&["daemon", "install", "--dry-run"]).output().expect("runs");
    let path = w.user_home.join(".config/systemd/user/taskmuxd.service");
    std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
    std::fs::write(&path, &unit.stdout).expect("unit");
    Some(w)
}

fn failing(v: &Value) -> Vec<String> {
    v["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["status"] != "ok")
        .map(|c| c.to_string())
        .collect()
}

#[test]
fn a_healthy_machine_is_all_ok_and_each_broken_layer_fails_with_its_fix() {
    let Some(w) = healthy() else { return };
    // the host's certificate is minted on its first request
    let name = "web.doc.localhost";
    let ca = w.env.home.join("ca/ca.pem");
    wait_for(15.0, "the page through the proxy", || {
        let o = Command::new("curl")
            .args(["-sf", "--cacert", &ca.display().to_string()])
            .args(["--resolve", &format!("{name}:{}:127.0.0.1", w.https)])
            .arg(format!("https://{name}:{}/", w.https))
            .output()
            .expect("curl");
        o.status.success()
    });
    let (v, code) = w.doctor();
    assert_eq!(failing(&v), Vec::<String>::new(), "every check ok: {v:#}");
    assert_eq!((code, v["ok"].as_bool()), (0, Some(true)), "{v}");
    for c in [
        "tmux",
        "config",
        "daemon",
        "unit",
        "linger",
        "ca",
        "ca trust: system",
        "ca trust: browsers",
        "orphans",
        "logs",
        "proxy",
    ] {
        assert_eq!(check(&v, c)["status"], "ok", "{c}: {v:#}");
    }
    assert_eq!(check(&v, &format!("cert {name}"))["status"], "ok", "{v:#}");
    assert_eq!(check(&v, &format!("resolve {name}"))["status"], "ok", "{v:#}");
    assert_eq!(
        check(&v, &format!("port {}", w.https))["message"],
        "bound by taskmuxd",
        "{v:#}"
    );
    // the text form: one line a check
    let o = w.cmd(&["doctor"]).output().expect("runs");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.lines().any(|l| l.starts_with("ok") && l.contains("daemon")),
        "{text}"
    );

    // an expired host certificate: fails, with the fix
    let certs = w.env.home.join("certs");
    let (leaf, key) = crate::certs::openssl_leaf(&w.env.root, name, &ca, &w.env.home.join("ca/ca-key.pem"), "0");
    std::thread::sleep(std::time::Duration::from_millis(1100)); // past its one second
    std::fs::copy(&leaf, certs.join(format!("{name}.pem"))).expect("copy");
    std::fs::copy(&key, certs.join(format!("{name}-key.pem"))).expect("copy");
    let (v, code) = w.doctor();
    let c = check(&v, &format!("cert {name}"));
    assert_eq!((code, c["status"].as_str()), (1, Some("fail")), "{v:#}");
    assert!(c["message"].as_str().unwrap_or("").contains("expired"), "{c}");
    assert!(
        c["fix"]
            .as_str()
            .unwrap_or("")
            .contains(&format!("taskmux ca mint {name}")),
        "{c}"
    );
    // the fix works
    let (m, code) = w.json(&["ca", "mint", name]);
    assert_eq!(code, 0, "{m}");
    assert_eq!(check(&w.doctor().0, &format!("cert {name}"))["status"], "ok");

    // the daemon stopped: it and the proxy fail, each with its fix
    let (s, code) = w.json(&["daemon", "stop"]);
    assert_eq!(code, 0, "{s}");
    let (v, code) = w.doctor();
    assert_eq!(code, 1, "{v:#}");
    let d = check(&v, "daemon");
    assert_eq!(d["status"], "fail", "{v:#}");
    assert!(d["fix"].as_str().unwrap_or("").contains("taskmux daemon start"), "{d}");
    assert_eq!(check(&v, "proxy")["status"], "fail", "{v:#}");
    // the port is free now: bindable
    assert_eq!(check(&v, &format!("port {}", w.https))["status"], "ok", "{v:#}");
    let _ = w.json(&["dns", "uninstall"]);
    let _ = w.json(&["ca", "uninstall"]);
}
