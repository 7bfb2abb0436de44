//! The system's trust store: which kind the root has (from its `/etc/os-release` and its
//! layout), and adding or removing the CA there with the system's own tool.

use super::debian::Debian;
use super::{Action, Entry, Record, Step, Store, World, entry, make_dirs, nickname, os, remove_created, shown};
use crate::certs::Authority;
use crate::error::{Error, Kind, Result};
use std::path::{Path, PathBuf};

/// The keychain macOS trusts system-wide.
const SYSTEM_KEYCHAIN: &str = "/Library/Keychains/System.keychain";

/// The kind of trust store under `root`: the one `/etc/os-release` names when its layout is
/// there, else the first layout found.
pub fn detect(root: &Path) -> Option<Store> {
    let layout = |s: Store| match s {
        Store::Macos => root.join("System/Library/CoreServices/SystemVersion.plist").is_file(),
        Store::Debian => {
            root.join("usr/local/share/ca-certificates").is_dir() || root.join("etc/ca-certificates.conf").is_file()
        }
        Store::Fedora => root.join("etc/pki/ca-trust/source/anchors").is_dir(),
        Store::Arch => root.join("etc/ca-certificates/trust-source/anchors").is_dir(),
        Store::Nss => false,
    };
    let text = std::fs::read_to_string(root.join("etc/os-release"))
        .or_else(|_| std::fs::read_to_string(root.join("usr/lib/os-release")))
        .unwrap_or_default();
    let mut ids = Vec::new();
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("ID=").or_else(|| line.strip_prefix("ID_LIKE=")) {
            ids.extend(
                v.trim_matches(|c| c == '"' || c == '\'')
                    .split_whitespace()
                    .map(str::to_string),
            );
        }
    }
    let named = ids.iter().find_map(|id| match id.as_str() {
        "debian" | "ubuntu" => Some(Store::Debian),
        "fedora" | "rhel" | "centos" => Some(Store::Fedora),
        "arch" => Some(Store::Arch),
        _ => None,
    });
    named.filter(|s| layout(*s)).or_else(|| {
        [Store::Macos, Store::Debian, Store::Fedora, Store::Arch]
            .into_iter()
            .find(|s| layout(*s))
    })
}

/// Where the CA's file goes in a store of anchors, and its tool (run only under `/`).
fn anchor_file(store: Store, root: &Path, name: &str) -> PathBuf {
    let dir = match store {
        Store::Fedora => "etc/pki/ca-trust/source/anchors",
        Store::Arch => "etc/ca-certificates/trust-source/anchors",
        _ => "usr/local/share/ca-certificates",
    };
    root.join(dir).join(format!("{name}.crt"))
}

fn tool(w: &World, name: &str, package: &str) -> Result<PathBuf> {
    w.tool(name).ok_or_else(|| {
        Error::from(Kind::TrustTool {
            args: vec![name.to_string()],
            stderr: "it is not installed".into(),
        })
        .hint(format!("install the {package} package, then run this again"))
    })
}

/// Adds the CA to the root's store (see [`super::install`]) and records it.
pub fn install(ca: &Authority, w: &World, record: &mut Record) -> Result<Step> {
    let store = detect(&w.root).ok_or_else(|| Error::from(Kind::TrustStore { root: w.root.clone() }))?;
    let name = nickname(ca);
    if store == Store::Macos {
        return macos_install(ca, w, record);
    }
    let file = anchor_file(store, &w.root, &name);
    let pem = ca.cert_pem().as_bytes();
    if std::fs::read(&file).ok().as_deref() == Some(pem) {
        if record.find(store, &file, &name).is_none() {
            record.add(entry(ca, w, store, &file, Vec::new()));
        }
        return Ok(Step::new(store, &file, Action::Already));
    }
    let parent = file.parent().unwrap_or(&w.root);
    let created = make_dirs(parent, 0o755)?;
    if let Err(e) = crate::paths::write_atomic(&file, pem, 0o644) {
        remove_created(&created);
        return Err(e);
    }
    let mut step = Step::new(store, &file, Action::Added);
    if let Err(e) = refresh(store, w, &mut step, &name, false) {
        let _ = std::fs::remove_file(&file);
        remove_created(&created);
        return Err(e);
    }
    record.add(entry(ca, w, store, &file, created));
    Ok(step)
}

/// Runs the store's tool after our file `name` was added or `removed`:
/// update-ca-certificates pointed at the root, changing only ours (see [`Debian`]),
/// update-ca-trust only under `/`.
fn refresh(store: Store, w: &World, step: &mut Step, name: &str, removed: bool) -> Result<()> {
    match store {
        Store::Debian => {
            let exe = tool(w, "update-ca-certificates", "ca-certificates")?;
            let (args, kept) = Debian::new(&w.root).refresh(w, &exe, name, removed)?;
            step.ran.push(shown(&exe, &args));
            if !kept.is_empty() {
                let names: Vec<String> = kept.iter().map(|p| p.display().to_string()).collect();
                step.note = Some(format!(
                    "left as they were, where update-ca-certificates would have put a link of its own: {}",
                    names.join(", ")
                ));
            }
        }
        Store::Fedora | Store::Arch if w.scratch() => {
            step.note = Some(format!(
                "update-ca-trust was not run: it cannot be pointed at the system root {}",
                w.root.display()
            ));
        }
        Store::Fedora | Store::Arch => {
            let exe = tool(w, "update-ca-trust", "ca-certificates (p11-kit)")?;
            let args = os(&["extract"]);
            w.run(&exe, &args)?;
            step.ran.push(shown(&exe, &args));
        }
        Store::Macos | Store::Nss => {}
    }
    Ok(())
}

/// Takes out what one recorded entry added (see [`super::uninstall`]).
pub fn uninstall(e: &Entry, w: &World) -> Result<Step> {
    if e.store == Store::Macos {
        return macos_uninstall(e, w);
    }
    let action = match std::fs::remove_file(&e.place) {
        Ok(()) => Action::Removed,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Action::Absent,
        Err(err) => return Err(Error::io("remove", &e.place, err)),
    };
    let mut step = Step::new(e.store, &e.place, action);
    refresh(e.store, w, &mut step, &e.name, true)?;
    if e.store == Store::Debian {
        remove_links(&Debian::new(&w.root).etc_certs, &e.place, &e.name)?;
    }
    remove_created(&e.created);
    Ok(step)
}

/// Removes what is left of the links update-ca-certificates made for our file in
/// `/etc/ssl/certs`: the `<name>.pem` link to it and the hash links (`1a2b3c4d.0`) to that.
/// The run that deselects ours removes them; this is for a store where it did not.
fn remove_links(etc_certs: &Path, file: &Path, name: &str) -> Result<()> {
    let Ok(rd) = std::fs::read_dir(etc_certs) else {
        return Ok(());
    };
    let pem = format!("{name}.pem");
    let ours_pem = etc_certs.join(&pem);
    for e in rd.flatten() {
        let p = e.path();
        let Ok(target) = std::fs::read_link(&p) else { continue };
        if target == file || target == Path::new(&pem) || target == ours_pem {
            std::fs::remove_file(&p).map_err(|err| Error::io("remove", &p, err))?;
        }
    }
    Ok(())
}

fn macos_install(ca: &Authority, w: &World, record: &mut Record) -> Result<Step> {
    let keychain = w.root.join(SYSTEM_KEYCHAIN.trim_start_matches('/'));
    let name = nickname(ca);
    if w.scratch() {
        return Ok(Step::new(Store::Macos, &keychain, Action::Skipped).note(format!(
            "security was not run: it cannot be pointed at the system root {}",
            w.root.display()
        )));
    }
    if record.find(Store::Macos, &keychain, &name).is_some() {
        return Ok(Step::new(Store::Macos, &keychain, Action::Already));
    }
    let exe = tool(w, "security", "macOS")?;
    let mut args = os(&["add-trusted-cert", "-d", "-r", "trustRoot", "-k", SYSTEM_KEYCHAIN]);
    args.push(ca.cert_pem_path().into());
    w.run(&exe, &args).map_err(|e| {
        e.hint(format!(
            "the System keychain needs an administrator: run 'sudo env TASKMUX_HOME={} taskmux ca install'",
            crate::shell::quote(&w.home.display().to_string())
        ))
    })?;
    let mut step = Step::new(Store::Macos, &keychain, Action::Added);
    step.ran.push(shown(&exe, &args));
    record.add(entry(ca, w, Store::Macos, &keychain, Vec::new()));
    Ok(step)
}

fn macos_uninstall(e: &Entry, w: &World) -> Result<Step> {
    let exe = tool(w, "security", "macOS")?;
    let tmp = super::super::authority::ca_dir(&w.home).join(format!("{}.pem", e.name));
    crate::paths::write_atomic(&tmp, e.pem.as_bytes(), 0o600)?;
    let mut args = os(&["remove-trusted-cert", "-d"]);
    args.push(tmp.clone().into());
    let done = w.run(&exe, &args);
    let _ = std::fs::remove_file(&tmp);
    done?;
    let mut step = Step::new(Store::Macos, &e.place, Action::Removed);
    step.ran.push(shown(&exe, &args));
    Ok(step)
}
