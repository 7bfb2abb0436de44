//! `taskmux ca install` and `ca uninstall` with the real tools: update-ca-certificates
//! against a minimal but real Debian root (and a hook of its own in the root's hooks
//! directory, recording what the tool tells hooks such as Java's keystore), certutil on the
//! NSS databases of a scratch HOME, and the E700 of a user who may not write the system's
//! store.

use crate::certs::{Ca, Node, have_certutil, have_openssl, mode, openssl, openssl_ca, run, s, text, tree};
use crate::harness::{require, show};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A minimal Debian trust store under `root`: one listed root in /usr/share, the local
/// directory, and the links and bundle update-ca-certificates itself makes from them.
pub(crate) fn debian_root(root: &Path, scratch: &Path) -> bool {
    if !require(
        "update-ca-certificates",
        &[
            "sh",
            "-c",
            "command -v update-ca-certificates || test -x /usr/sbin/update-ca-certificates",
        ],
    ) {
        return false;
    }
    for d in [
        "etc/ssl/certs",
        "usr/share/ca-certificates/mozilla",
        "usr/local/share/ca-certificates",
        "etc/ca-certificates/update.d",
    ] {
        std::fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    std::fs::write(
        root.join("etc/os-release"),
        "PRETTY_NAME=\"Debian (scratch)\"\nID=debian\n",
    )
    .expect("write");
    openssl_ca(scratch, "Test_Root.crt", "Test_Root.key", "ec");
    std::fs::copy(
        scratch.join("Test_Root.crt"),
        root.join("usr/share/ca-certificates/mozilla/Test_Root.crt"),
    )
    .expect("copy");
    std::fs::write(root.join("etc/ca-certificates.conf"), "mozilla/Test_Root.crt\n").expect("write");
    let dir = |d: &str| root.join(d).display().to_string();
    let o = Command::new("sh")
        .args([
            "-c",
            "PATH=$PATH:/usr/sbin:/sbin exec update-ca-certificates \"$@\"",
            "sh",
        ])
        .args([
            "--certsconf",
            &dir("etc/ca-certificates.conf"),
            "--certsdir",
            &dir("usr/share/ca-certificates"),
        ])
        .args([
            "--localcertsdir",
            &dir("usr/local/share/ca-certificates"),
            "--etccertsdir",
            &dir("etc/ssl/certs"),
        ])
        .args(["--hooksdir", &dir("etc/ca-certificates/update.d")])
        .output()
        .expect("update-ca-certificates runs");
    assert!(o.status.success(), "{}", show(&o));
    assert!(root.join("etc/ssl/certs/Test_Root.pem").exists(), "{}", show(&o));
    true
}

/// The nicknames an NSS database lists.
fn nicknames(db: &Path) -> String {
    text(&run("certutil", &["-L", "-d", &format!("sql:{}", db.display())]))
}

fn steps<'a>(v: &'a Value, store: &str) -> Vec<&'a Value> {
    v["steps"]
        .as_array()
        .map(|a| a.iter().filter(|s| s["store"] == store).collect())
        .unwrap_or_default()
}

#[test]
fn install_then_uninstall_leaves_a_debian_root_byte_for_byte() {
    if !have_openssl() || !have_certutil() {
        return;
    }
    let c = Ca::new("ca-install");
    if !debian_root(&c.root, &c.env.root.join("seed")) {
        return;
    }
    let profile = c.user.join(".mozilla/firefox/abc.default-release");
    std::fs::create_dir_all(&profile).expect("mkdir");
    let o = run(
        "certutil",
        &["-N", "--empty-password", "-d", &format!("sql:{}", profile.display())],
    );
    assert!(o.status.success(), "{}", text(&o));
    let root_before = tree(&c.root);
    let paths = |t: Vec<Node>| -> Vec<PathBuf> { t.into_iter().map(|e| e.0).collect() };
    let home_before = paths(tree(&c.user));

    let (v, rc) = c.json(&["ca", "install"]);
    assert_eq!((rc, v["action"].as_str()), (0, Some("installed")), "{v}");
    let nick = format!(
        "taskmux-{}",
        &v["ca"]["fingerprint_sha256"].as_str().expect("fingerprint")[..16]
    );
    let nss = steps(&v, "nss");
    assert_eq!(nss.len(), 2, "Chromium's database (made) and the Firefox profile: {v}");
    assert!(nss.iter().all(|s| s["action"] == "added"), "{v}");
    let chromium = c.user.join(".pki/nssdb");
    for db in [&chromium, &profile] {
        assert!(
            nicknames(db).contains(&nick),
            "{nick} in {}: {}",
            db.display(),
            nicknames(db)
        );
    }
    let debian = steps(&v, "debian");
    assert_eq!(debian.len(), 1, "{v}");
    assert!(
        debian[0]["ran"][0][0]
            .as_str()
            .is_some_and(|c| c.ends_with("update-ca-certificates")),
        "{v}"
    );
    let file = c.root.join(format!("usr/local/share/ca-certificates/{nick}.crt"));
    assert_eq!(
        std::fs::read(&file).expect("installed"),
        std::fs::read(c.ca_pem()).expect("ca.pem")
    );
    assert_eq!(mode(&file), 0o644);
    // the system's bundle now trusts a host certificate of ours
    let host = c.mint("api.p.localhost");
    let bundle = c.root.join("etc/ssl/certs/ca-certificates.crt");
    let o = openssl(&["verify", "-CAfile", s(&bundle), host["cert"].as_str().expect("cert")]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(c.root.join(format!("etc/ssl/certs/{nick}.pem")).exists());
    let installed = tree(&c.root);

    let (v, rc) = c.json(&["ca", "install"]);
    assert_eq!(
        (rc, v["action"].as_str()),
        (0, Some("already_installed")),
        "twice is once: {v}"
    );
    assert!(
        v["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .all(|s| s["action"] == "already"),
        "{v}"
    );
    assert!(tree(&c.root) == installed, "a second install changes nothing");

    let o = c.run(&["ca", "uninstall"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("uninstalled"),
        "{}",
        show(&o)
    );
    assert!(tree(&c.root) == root_before, "the root is byte for byte as it was");
    assert!(!nicknames(&profile).contains(&nick), "{}", nicknames(&profile));
    assert!(!chromium.exists(), "the database install made is gone");
    assert_eq!(paths(tree(&c.user)), home_before, "HOME has what it had");
    assert!(!c.env.home.join("ca/installed.json").exists());
    let (v, rc) = c.json(&["ca", "uninstall"]);
    assert_eq!((rc, v["action"].as_str()), (0, Some("not_installed")), "{v}");
}

#[test]
fn an_unknown_system_is_e604_and_the_browsers_are_done_all_the_same() {
    if !have_certutil() {
        return;
    }
    let c = Ca::new("ca-unknown");
    let (v, rc) = c.json(&["ca", "install"]);
    assert_eq!((rc, v["code"].as_str()), (1, Some("E604")), "{v}");
    assert_eq!(v["details"]["steps"][0]["action"], "added", "{v}");
    assert!(tree(&c.root).is_empty(), "nothing written under the root");
    let (v, rc) = c.json(&["ca", "uninstall"]);
    assert_eq!((rc, v["action"].as_str()), (0, Some("uninstalled")), "{v}");
    assert!(tree(&c.user).is_empty(), "HOME as it was: {:?}", tree(&c.user));
}

#[test]
fn without_privilege_install_is_e700_with_the_sudo_fix() {
    if !have_openssl() || !have_certutil() {
        return;
    }
    let c = Ca::new("ca-noperm");
    if !debian_root(&c.root, &c.env.root.join("seed")) {
        return;
    }
    let root_before = tree(&c.root);
    let as_root = rustix::process::geteuid().is_root();
    let command = |args: &[&str]| -> Command {
        let mut cmd = if as_root {
            // root may write anything: run as nobody, who owns only the state and HOME
            for dir in [&c.env.home, &c.user] {
                let o = run("chown", &["-R", "65534:65534", s(dir)]);
                assert!(o.status.success(), "{}", text(&o));
            }
            let mut cmd = Command::new("setpriv");
            cmd.args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                crate::harness::bin(),
            ]);
            cmd
        } else {
            let local = c.root.join("usr/local/share/ca-certificates");
            std::fs::set_permissions(&local, std::fs::Permissions::from_mode(0o555)).expect("chmod");
            Command::new(crate::harness::bin())
        };
        cmd.args(args);
        c.apply(&mut cmd);
        cmd
    };
    let (v, rc) = Ca::json_of(&mut command(&["--json", "ca", "install"]));
    assert_eq!((rc, v["code"].as_str()), (1, Some("E700")), "{v}");
    let hint = v["hint"].as_str().unwrap_or_default();
    assert!(
        hint.contains("sudo env TASKMUX_HOME=") && hint.contains("taskmux ca install"),
        "{v}"
    );
    assert_eq!(
        v["details"]["steps"][0]["action"], "added",
        "the browsers' database: {v}"
    );
    assert!(nicknames(&c.user.join(".pki/nssdb")).contains("taskmux-"));
    if !as_root {
        let local = c.root.join("usr/local/share/ca-certificates");
        std::fs::set_permissions(&local, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    assert!(tree(&c.root) == root_before, "the root is untouched");
    let (v, rc) = Ca::json_of(&mut command(&["--json", "ca", "uninstall"]));
    assert_eq!((rc, v["action"].as_str()), (0, Some("uninstalled")), "{v}");
    assert!(tree(&c.user).is_empty(), "HOME as it was: {:?}", tree(&c.user));
}

#[test]
fn a_fedora_root_gets_the_anchor_and_loses_it_without_update_ca_trust_run() {
    if !have_certutil() {
        return;
    }
    let c = Ca::new("ca-fedora");
    let anchors = c.root.join("etc/pki/ca-trust/source/anchors");
    std::fs::create_dir_all(&anchors).expect("mkdir");
    std::fs::write(c.root.join("etc/os-release"), "ID=fedora\n").expect("write");
    let before = tree(&c.root);
    let (v, rc) = c.json(&["ca", "install"]);
    assert_eq!(rc, 0, "{v}");
    let step = steps(&v, "fedora");
    assert_eq!(step.len(), 1, "{v}");
    assert!(
        step[0]["note"]
            .as_str()
            .is_some_and(|n| n.contains("update-ca-trust was not run")),
        "{v}"
    );
    assert!(step[0]["ran"].as_array().is_some_and(|r| r.is_empty()), "{v}");
    let files: Vec<_> = std::fs::read_dir(&anchors)
        .expect("dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(
        std::fs::read(&files[0]).expect("anchor"),
        std::fs::read(c.ca_pem()).expect("ca")
    );
    let (v, rc) = c.json(&["ca", "uninstall"]);
    assert_eq!((rc, v["action"].as_str()), (0, Some("uninstalled")), "{v}");
    assert!(tree(&c.root) == before, "the root as it was");
}

#[test]
fn uninstall_tells_the_hooks_of_the_removal_and_install_keeps_a_pem_file_that_is_not_ours() {
    if !have_openssl() || !have_certutil() {
        return;
    }
    let c = Ca::new("ca-hooks");
    if !debian_root(&c.root, &c.env.root.join("seed")) {
        return;
    }
    // another local CA, linked by the tool, whose link was then replaced by a copy of the
    // file (as a provisioning script's `install` does): the tool would make it a link again
    let seed = c.env.root.join("seed");
    openssl_ca(&seed, "other-ca.crt", "other-ca.key", "ec");
    let local = c.root.join("usr/local/share/ca-certificates/other-ca.crt");
    std::fs::copy(seed.join("other-ca.crt"), &local).expect("copy");
    let dir = |d: &str| c.root.join(d).display().to_string();
    let o = Command::new("sh")
        .args([
            "-c",
            "PATH=$PATH:/usr/sbin:/sbin exec update-ca-certificates \"$@\"",
            "sh",
        ])
        .args(["--certsconf", &dir("etc/ca-certificates.conf")])
        .args(["--certsdir", &dir("usr/share/ca-certificates")])
        .args(["--localcertsdir", &dir("usr/local/share/ca-certificates")])
        .args(["--etccertsdir", &dir("etc/ssl/certs")])
        .args(["--hooksdir", &dir("etc/ca-certificates/update.d")])
        .output()
        .expect("update-ca-certificates runs");
    assert!(o.status.success(), "{}", show(&o));
    let other = c.root.join("etc/ssl/certs/other-ca.pem");
    std::fs::remove_file(&other).expect("the tool's link");
    std::fs::copy(&local, &other).expect("a file in its place");
    // a hook in the root's hooks directory, writing what it is told outside the root
    let log = c.env.root.join("hook.log");
    let hook = c.root.join("etc/ca-certificates/update.d/record");
    std::fs::write(
        &hook,
        format!("#!/bin/sh\n{{ echo run; cat; }} >> '{}'\n", log.display()),
    )
    .expect("write");
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let before = tree(&c.root);

    let (v, rc) = c.json(&["ca", "install"]);
    assert_eq!((rc, v["action"].as_str()), (0, Some("installed")), "{v}");
    let nick = format!(
        "taskmux-{}",
        &v["ca"]["fingerprint_sha256"].as_str().expect("fingerprint")[..16]
    );
    let ours = c.root.join(format!("etc/ssl/certs/{nick}.pem"));
    assert_eq!(
        std::fs::read_to_string(&log).expect("the hook ran"),
        format!("run\n+{}\n", ours.display()),
        "the hooks hear of ours alone"
    );
    let meta = std::fs::symlink_metadata(&other).expect("other-ca.pem");
    assert!(meta.file_type().is_file(), "other-ca.pem is still a file: {meta:?}");
    assert_eq!(
        std::fs::read(&other).expect("read"),
        std::fs::read(&local).expect("read")
    );
    let debian = steps(&v, "debian");
    assert!(
        debian[0]["note"].as_str().is_some_and(|n| n.contains("other-ca.pem")),
        "the step says what it left alone: {v}"
    );
    assert!(std::fs::symlink_metadata(&ours).is_ok_and(|m| m.file_type().is_symlink()));

    let (v, rc) = c.json(&["ca", "uninstall"]);
    assert_eq!((rc, v["action"].as_str()), (0, Some("uninstalled")), "{v}");
    assert_eq!(
        std::fs::read_to_string(&log).expect("the hook ran"),
        format!("run\n+{0}\nrun\n-{0}\n", ours.display()),
        "the hooks hear of the removal"
    );
    assert!(tree(&c.root) == before, "the root is byte for byte as it was");
}
