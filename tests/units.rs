//! `daemon install [--dry-run]` and `daemon uninstall`: the printed unit passes
//! `systemd-analyze verify`, the launchd agent parses as a plist, and install and uninstall
//! against a scratch HOME (with a fake `systemctl` first on PATH, so no real user manager is
//! ever asked to enable anything) write nothing without a manager and revert exactly.

use crate::harness::{Env, bin, require, show};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A scratch world: the harness's, plus a user home of its own.
struct Units {
    env: Env,
    user: PathBuf,
}

impl Units {
    fn new(name: &str) -> Units {
        let env = Env::new(name);
        let user = env.root.join("user");
        std::fs::create_dir_all(&user).expect("mkdir");
        Units { env, user }
    }

    /// taskmux with HOME the scratch user home, no XDG_CONFIG_HOME, and PATH when given.
    fn command(&self, args: &[&str], path: Option<&str>) -> Command {
        let mut c = self.env.command(args);
        c.env("HOME", &self.user)
            .env_remove("XDG_CONFIG_HOME")
            .env("USER", "tester");
        if let Some(p) = path {
            c.env("PATH", p);
        }
        c
    }

    fn run(&self, args: &[&str], path: Option<&str>) -> Output {
        self.command(args, path).output().expect("taskmux runs")
    }

    fn json(&self, args: &[&str], path: Option<&str>) -> (Value, i32) {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        let o = self.run(&a, path);
        let v = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", show(&o)));
        (v, o.status.code().unwrap_or(-1))
    }

    fn unit_path(&self) -> PathBuf {
        self.user.join(".config/systemd/user/taskmuxd.service")
    }

    /// A directory holding fake `systemctl` and `loginctl` that log each call to `calls`;
    /// the manager answers `offline` when `absent`. Returns it, to be the whole PATH.
    fn fake_manager(&self, absent: bool) -> String {
        let dir = self.env.root.join("fakebin");
        std::fs::create_dir_all(&dir).expect("mkdir");
        let log = self.env.root.join("calls");
        let state = if absent { "echo offline; exit 1" } else { "echo running" };
        let systemctl = format!(
            "#!/bin/sh\necho \"systemctl $*\" >> '{}'\ncase \"$2\" in\n  is-system-running) {state} ;;\n  is-enabled|is-active) exit 1 ;;\nesac\nexit 0\n",
            log.display()
        );
        let loginctl = format!(
            "#!/bin/sh\necho \"loginctl $*\" >> '{}'\necho Linger=no\n",
            log.display()
        );
        for (name, text) in [("systemctl", systemctl), ("loginctl", loginctl)] {
            let p = dir.join(name);
            std::fs::write(&p, text).expect("write fake");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        dir.display().to_string()
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.env.root.join("calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// Every path under `dir`, with file contents and modes.
fn tree(dir: &Path) -> Vec<(PathBuf, u32, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            let meta = std::fs::symlink_metadata(&p).expect("stat");
            let mode = meta.permissions().mode();
            if meta.is_dir() {
                stack.push(p.clone());
                out.push((p, mode, None));
            } else {
                out.push((p.clone(), mode, std::fs::read(&p).ok()));
            }
        }
    }
    out.sort();
    out
}

/// The real taskmuxd the unit must run.
fn daemon() -> PathBuf {
    Path::new(bin()).with_file_name("taskmuxd")
}

/// `systemd-analyze verify` of a unit's text, saved as `taskmuxd.service` in `dir`.
/// `--man=no`: the unit names `man:taskmuxd(8)`, which is not installed where tests run.
/// System mode (no `--user`): it needs no running manager, so it works in a container.
fn verify(dir: &Path, unit: &str) -> Output {
    std::fs::create_dir_all(dir).expect("mkdir");
    let file = dir.join("taskmuxd.service");
    std::fs::write(&file, unit).expect("write unit");
    Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&file)
        .output()
        .expect("systemd-analyze runs")
}

#[test]
fn dry_run_prints_a_unit_that_systemd_analyze_verifies() {
    let u = Units::new("units-dry");
    let o = u.run(&["daemon", "install", "--dry-run"], None);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let unit = String::from_utf8(o.stdout.clone()).expect("UTF-8");
    let err = String::from_utf8_lossy(&o.stderr);
    if cfg!(target_os = "macos") {
        assert!(unit.contains("<plist"), "{unit}");
        return;
    }
    let home = u.env.home.display().to_string();
    for line in [
        format!("ExecStart={}", daemon().display()),
        format!("Environment=\"TASKMUX_HOME={home}\""),
        "Restart=on-failure".into(),
        "KillMode=process".into(),
        "WantedBy=default.target".into(),
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} missing:\n{unit}");
    }
    assert!(
        err.contains(&u.unit_path().display().to_string()),
        "where it goes: {err}"
    );
    assert!(err.contains("loginctl enable-linger"), "the linger hint: {err}");
    // the JSON has the same unit, and the dry run changed nothing
    let (v, rc) = u.json(&["daemon", "install", "--dry-run"], None);
    assert_eq!(
        (rc, v["ok"].as_bool(), v["action"].as_str()),
        (0, Some(true), Some("dry_run")),
        "{v}"
    );
    assert_eq!(v["unit"].as_str(), Some(unit.as_str()));
    assert_eq!(v["path"].as_str(), Some(u.unit_path().to_str().expect("UTF-8")));
    assert!(v.get("linger").is_some(), "{v}");
    assert!(tree(&u.user).is_empty(), "nothing under HOME: {:?}", tree(&u.user));
    assert!(tree(&u.env.home).is_empty(), "nothing under TASKMUX_HOME");
    if !require("systemd-analyze", &["systemd-analyze", "--version"]) {
        return;
    }
    let o = verify(&u.env.root.join("verify"), &unit);
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "systemd-analyze verify:\n{unit}\n{}",
        show(&o)
    );
}

#[test]
fn dry_run_quotes_a_daemon_path_with_blanks_and_specifiers() {
    if cfg!(target_os = "macos") || !require("systemd-analyze", &["systemd-analyze", "--version"]) {
        return;
    }
    // taskmux and taskmuxd in a directory systemd would split and expand: verify checks
    // that the ExecStart it parses is an executable, so a wrong quote fails here (quotes
    // and backslashes systemd refuses in an executable's path: taskmux says so, E104)
    let u = Units::new("units-quote");
    let dir = u.env.root.join("my bin 50% $HOME");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let exe = dir.join("taskmux");
    if std::fs::hard_link(bin(), &exe).is_err() {
        std::fs::copy(bin(), &exe).expect("copy taskmux");
    }
    std::os::unix::fs::symlink(daemon(), dir.join("taskmuxd")).expect("symlink taskmuxd");
    let o = Command::new(&exe)
        .args(["daemon", "install", "--dry-run"])
        .env("HOME", &u.user)
        .env("TASKMUX_HOME", u.env.root.join("state 100%"))
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let unit = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(unit.contains("/my bin 50%% $HOME/taskmuxd\"\n"), "{unit}");
    let o = verify(&u.env.root.join("verify"), &unit);
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "systemd-analyze verify:\n{unit}\n{}",
        show(&o)
    );
    let home = u.env.root.join("state");
    let o = Command::new(&exe)
        .args(["--json", "daemon", "install", "--dry-run"])
        .env("HOME", &u.user)
        .env("TASKMUX_HOME", &home)
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let quoted = u.env.root.join("it's");
    std::fs::create_dir_all(&quoted).expect("mkdir");
    let exe = quoted.join("taskmux");
    std::fs::rename(dir.join("taskmux"), &exe).expect("move");
    std::os::unix::fs::symlink(daemon(), quoted.join("taskmuxd")).expect("symlink taskmuxd");
    let o = Command::new(&exe)
        .args(["--json", "daemon", "install", "--dry-run"])
        .env("HOME", &u.user)
        .env("TASKMUX_HOME", &home)
        .output()
        .expect("runs");
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!((o.status.code(), v["code"].as_str()), (Some(2), Some("E104")), "{v}");
}

#[test]
fn the_launchd_agent_is_a_plist_with_the_keys() {
    if !require("python3", &["python3", "--version"]) {
        return;
    }
    let u = Units::new("units-plist");
    // on macOS the binary's dry run prints it; elsewhere the same renderer is called here
    let text = if cfg!(target_os = "macos") {
        let o = u.run(&["daemon", "install", "--dry-run"], None);
        assert_eq!(o.status.code(), Some(0), "{}", show(&o));
        String::from_utf8(o.stdout).expect("UTF-8")
    } else {
        taskmux::unit::UnitSpec {
            daemon: "/Apps/<a & b>/it's \"here\"/taskmuxd".into(),
            home: u.env.home.clone(),
            path: Some("/opt/homebrew/bin:/usr/bin:/bin".into()),
        }
        .launchd()
        .expect("renders")
    };
    let file = u.env.root.join("dev.taskmux.taskmuxd.plist");
    std::fs::write(&file, &text).expect("write plist");
    let o = Command::new("python3")
        .args([
            "-c",
            "import json, plistlib, sys; print(json.dumps(plistlib.load(open(sys.argv[1], 'rb'))))",
        ])
        .arg(&file)
        .output()
        .expect("python3 runs");
    assert!(o.status.success(), "plistlib:\n{text}\n{}", show(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["Label"], "dev.taskmux.taskmuxd", "{v}");
    let program = v["ProgramArguments"].as_array().expect("an array");
    assert_eq!(program.len(), 1, "{v}");
    if !cfg!(target_os = "macos") {
        assert_eq!(program[0], "/Apps/<a & b>/it's \"here\"/taskmuxd");
        assert_eq!(v["EnvironmentVariables"]["PATH"], "/opt/homebrew/bin:/usr/bin:/bin");
    }
    assert_eq!(
        v["EnvironmentVariables"]["TASKMUX_HOME"],
        u.env.home.display().to_string()
    );
    assert_eq!(v["KeepAlive"], serde_json::json!({"SuccessfulExit": false}));
    assert_eq!(
        (v["RunAtLoad"].as_bool(), v["AbandonProcessGroup"].as_bool()),
        (Some(true), Some(true))
    );
    let log = u.env.home.join("daemon.log").display().to_string();
    assert_eq!(
        (v["StandardOutPath"].as_str(), v["StandardErrorPath"].as_str()),
        (Some(&*log), Some(&*log))
    );
}

/// Whether a systemd user manager answers here (then the real-PATH test must not run).
fn real_manager_runs() -> bool {
    Command::new("systemctl")
        .args(["--user", "is-system-running"])
        .output()
        .is_ok_and(|o| {
            let s = String::from_utf8_lossy(&o.stdout);
            matches!(
                s.trim(),
                "running" | "degraded" | "starting" | "initializing" | "maintenance"
            )
        })
}

#[test]
fn install_without_a_user_manager_is_e307_prints_the_unit_and_writes_nothing() {
    if cfg!(target_os = "macos") {
        return;
    }
    let u = Units::new("units-e307");
    let fake = u.fake_manager(true);
    let mut paths = vec![Some(fake)];
    // this machine's own systemctl too, where no user manager runs (a container)
    if !real_manager_runs() {
        paths.push(None);
    }
    for path in paths {
        let o = u.run(&["daemon", "install"], path.as_deref());
        assert_eq!(o.status.code(), Some(1), "{}", show(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("error[E307]") && err.contains("taskmux daemon start"),
            "{err}"
        );
        let unit = String::from_utf8_lossy(&o.stdout);
        assert!(
            unit.contains("[Service]") && unit.contains("KillMode=process"),
            "the unit: {}",
            show(&o)
        );
        let (v, rc) = u.json(&["daemon", "install"], path.as_deref());
        assert_eq!(
            (rc, v["ok"].as_bool(), v["code"].as_str()),
            (1, Some(false), Some("E307")),
            "{v}"
        );
        assert_eq!(v["details"]["unit"].as_str(), Some(&*unit), "{v}");
        assert_eq!(v["details"]["written"], false, "{v}");
        assert!(tree(&u.user).is_empty(), "nothing under HOME: {:?}", tree(&u.user));
        assert!(tree(&u.env.home).is_empty(), "nothing under TASKMUX_HOME");
    }
    assert!(
        u.calls().iter().all(|c| c.ends_with("is-system-running")),
        "{:?}",
        u.calls()
    );
}

#[test]
fn uninstall_with_nothing_installed_is_ok() {
    let u = Units::new("units-none");
    let fake = u.fake_manager(false);
    let o = u.run(&["daemon", "uninstall"], Some(&fake));
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("not installed"),
        "{}",
        show(&o)
    );
    let (v, rc) = u.json(&["daemon", "uninstall"], Some(&fake));
    assert_eq!(
        (rc, v["ok"].as_bool(), v["action"].as_str()),
        (0, Some(true), Some("not_installed")),
        "{v}"
    );
    assert!(u.calls().is_empty(), "the manager is not asked: {:?}", u.calls());
    assert!(tree(&u.user).is_empty() && tree(&u.env.home).is_empty());
}

#[test]
fn install_then_uninstall_puts_a_file_back_byte_for_byte() {
    if cfg!(target_os = "macos") {
        return;
    }
    let u = Units::new("units-revert");
    let fake = u.fake_manager(false);
    let path = u.unit_path();
    std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
    let mine = b"# my own unit\n[Service]\nExecStart=/usr/bin/sleep infinity\n\xfe\n";
    std::fs::write(&path, mine).expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let before = tree(&u.user);

    let (v, rc) = u.json(&["daemon", "install"], Some(&fake));
    assert_eq!(
        (rc, v["action"].as_str(), v["replaced"].as_bool()),
        (0, Some("installed"), Some(true)),
        "{v}"
    );
    assert_eq!(v["linger"], false, "{v}");
    assert!(
        v["linger_hint"]
            .as_str()
            .is_some_and(|h| h.contains("loginctl enable-linger tester")),
        "{v}"
    );
    let unit = std::fs::read_to_string(&path).expect("the unit");
    assert_eq!(v["unit"].as_str(), Some(unit.as_str()));
    assert!(unit.contains(&format!("ExecStart={}", daemon().display())), "{unit}");
    let calls = u.calls();
    for want in [
        "systemctl --user daemon-reload",
        "systemctl --user enable --now taskmuxd.service",
    ] {
        assert!(calls.iter().any(|c| c == want), "{want} not run: {calls:?}");
    }

    let o = u.run(&["daemon", "uninstall"], Some(&fake));
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("back as it was"),
        "{}",
        show(&o)
    );
    assert_eq!(
        tree(&u.user),
        before,
        "the file, its mode and its directory as they were"
    );
    assert!(tree(&u.env.home).is_empty(), "no record left: {:?}", tree(&u.env.home));
    let calls = u.calls();
    assert!(
        calls
            .iter()
            .any(|c| c == "systemctl --user disable --now taskmuxd.service"),
        "{calls:?}"
    );

    // into an empty HOME: install makes ~/.config/systemd/user, uninstall takes it away
    std::fs::remove_dir_all(u.user.join(".config")).expect("rm");
    let o = u.run(&["daemon", "install"], Some(&fake));
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("installed") && out.contains("loginctl enable-linger tester"),
        "{out}"
    );
    assert!(path.is_file());
    let o = u.run(&["daemon", "uninstall"], Some(&fake));
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(tree(&u.user).is_empty(), "HOME as it was: {:?}", tree(&u.user));
}

#[test]
fn daemon_arguments_are_checked() {
    let u = Units::new("units-usage");
    for args in [
        &["daemon", "nosuch"][..],
        &["daemon", "install", "extra"],
        &["daemon", "uninstall", "--dry-run"],
        &["daemon", "install", "--nosuch"],
    ] {
        let (v, rc) = u.json(args, None);
        assert_eq!((rc, v["code"].as_str()), (2, Some("E500")), "{args:?}: {v}");
    }
    assert!(tree(&u.user).is_empty());
}
