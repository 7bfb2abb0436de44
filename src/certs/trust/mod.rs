//! `taskmux ca install` and `ca uninstall`: trust the CA in the system's store (Debian,
//! Fedora, Arch, macOS) and in the NSS databases Chromium and Firefox read, record each
//! change in `$TASKMUX_HOME/ca/installed.json`, and undo exactly those.
//!
//! Everything happens under a system root (`/`, or a scratch directory standing for it in
//! tests). A tool that can be pointed at that root (update-ca-certificates) is; one that
//! cannot (update-ca-trust, security) is not run under a scratch root, and the step says so.

mod debian;
mod nss;
mod record;
mod system;

pub use record::{Entry, Record, Store};

use super::Authority;
use crate::error::{Error, Kind, Result};
use serde::Serialize;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The places install and uninstall work on, from the front.
#[derive(Debug, Clone)]
pub struct World {
    /// The system root: `/`, or a scratch directory that stands for it (tests).
    pub root: PathBuf,
    /// The state directory; the record lives in its `ca/`.
    pub home: PathBuf,
    /// The user's home, where the browsers' NSS databases are; None skips them.
    pub user_home: Option<PathBuf>,
    /// `PATH`, where the tools are looked for.
    pub path: Option<OsString>,
}

impl World {
    /// Whether the root is a scratch one (not `/`).
    pub fn scratch(&self) -> bool {
        self.root != Path::new("/")
    }

    /// A tool on PATH (or in the sbin directories, which a user's PATH may lack).
    fn tool(&self, name: &str) -> Option<PathBuf> {
        crate::tmux::find_in_path(name, self.path.as_deref()).or_else(|| {
            ["/usr/sbin", "/sbin"]
                .iter()
                .map(|d| Path::new(d).join(name))
                .find(|p| p.is_file())
        })
    }

    /// Runs a tool with PATH; its stdout, or E603 with what it said.
    fn run(&self, exe: &Path, args: &[OsString]) -> Result<String> {
        let mut c = Command::new(exe);
        c.args(args).stdin(Stdio::null());
        if let Some(p) = &self.path {
            c.env("PATH", p);
        }
        let shown = || {
            std::iter::once(exe.display().to_string())
                .chain(args.iter().map(|a| a.to_string_lossy().into_owned()))
                .collect::<Vec<_>>()
        };
        let out = c.output().map_err(|e| {
            Error::from(Kind::TrustTool {
                args: shown(),
                stderr: e.to_string(),
            })
        })?;
        if !out.status.success() {
            let mut said = String::from_utf8_lossy(&out.stderr).into_owned();
            if said.trim().is_empty() {
                said = String::from_utf8_lossy(&out.stdout).into_owned();
            }
            let code = out.status.code().map_or("a signal".into(), |c| format!("status {c}"));
            return Err(Kind::TrustTool {
                args: shown(),
                stderr: format!("exited with {code}: {}", said.trim()),
            }
            .into());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The command that does it with privilege, keeping the state directory and home.
    fn sudo_hint(&self, verb: &str) -> String {
        let mut cmd = format!(
            "sudo env TASKMUX_HOME={}",
            crate::shell::quote(&self.home.display().to_string())
        );
        if let Some(h) = &self.user_home {
            cmd.push_str(&format!(" HOME={}", crate::shell::quote(&h.display().to_string())));
        }
        if self.scratch() {
            cmd.push_str(&format!(
                " TASKMUX_SYSTEM_ROOT={}",
                crate::shell::quote(&self.root.display().to_string())
            ));
        }
        format!(
            "writing the system's trust store needs root: run '{cmd} taskmux ca {verb}' (the browsers' databases are done already)"
        )
    }
}

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The CA was added to this store.
    Added,
    /// It was there already.
    Already,
    /// It was taken out of this store.
    Removed,
    /// It was not there (any more) to take out.
    Absent,
    /// Nothing was done; the note says why.
    Skipped,
}

/// One trust store and what was done to it.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Which kind of store.
    pub store: Store,
    /// The file written or removed, the keychain, or the NSS database.
    pub place: PathBuf,
    /// What was done.
    pub action: Action,
    /// The commands run for it.
    pub ran: Vec<Vec<String>>,
    /// Why it was skipped, or what else to know.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Step {
    fn new(store: Store, place: &Path, action: Action) -> Step {
        Step {
            store,
            place: place.to_path_buf(),
            action,
            ran: Vec::new(),
            note: None,
        }
    }

    fn note(mut self, note: impl Into<String>) -> Step {
        self.note = Some(note.into());
        self
    }
}

/// What install or uninstall did.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `installed`, `already_installed`, `uninstalled` or `not_installed`.
    pub action: &'static str,
    /// Every store looked at.
    pub steps: Vec<Step>,
}

fn encode_steps(steps: &[Step]) -> serde_json::Value {
    serde_json::to_value(steps).unwrap_or_default()
}

/// Trusts `ca` in the NSS databases (where certutil is), then in the system's store, and
/// records each change. Twice is once. Without the privilege to write the system's store:
/// E700 with the `sudo` command to run, the databases done all the same.
pub fn install(ca: &Authority, w: &World) -> Result<Report> {
    let mut record = Record::load(&w.home)?;
    let mut steps = nss::install(ca, w, &mut record);
    record.save(&w.home)?;
    match system::install(ca, w, &mut record) {
        Ok(step) => steps.push(step),
        Err(e) => {
            let e = if e.code() == "E700" {
                e.hint(w.sudo_hint("install"))
            } else {
                e
            };
            return Err(e.details(serde_json::json!({"steps": encode_steps(&steps)})));
        }
    }
    record.save(&w.home)?;
    let added = steps.iter().any(|s| s.action == Action::Added);
    Ok(Report {
        action: if added { "installed" } else { "already_installed" },
        steps,
    })
}

/// Undoes what install recorded under this root, and only that: the NSS databases first,
/// then the system's store. Nothing recorded: `not_installed`, and nothing is touched.
pub fn uninstall(w: &World) -> Result<Report> {
    let mut record = Record::load(&w.home)?;
    let mut steps = Vec::new();
    let mut kept = Vec::new();
    let mut failure = None;
    for entry in std::mem::take(&mut record.entries) {
        if failure.is_some() || (entry.store != Store::Nss && entry.root != w.root) {
            kept.push(entry);
            continue;
        }
        let done = match entry.store {
            Store::Nss => nss::uninstall(&entry, w),
            _ => system::uninstall(&entry, w),
        };
        match done {
            Ok(step) => steps.push(step),
            Err(e) => {
                failure = Some(e);
                kept.push(entry);
            }
        }
    }
    record.entries = kept;
    record.save(&w.home)?;
    if let Some(e) = failure {
        let e = if e.code() == "E700" {
            e.hint(w.sudo_hint("uninstall"))
        } else {
            e
        };
        return Err(e.details(serde_json::json!({"steps": encode_steps(&steps)})));
    }
    Ok(Report {
        action: if steps.is_empty() {
            "not_installed"
        } else {
            "uninstalled"
        },
        steps,
    })
}

/// The changes install recorded for `ca` under this root: the system's store and each NSS
/// database (for `doctor`, which can check each is still in place).
pub fn installed_for(ca: &Authority, w: &World) -> Result<Vec<Entry>> {
    Ok(Record::load(&w.home)?
        .entries
        .into_iter()
        .filter(|e| e.fingerprint == ca.fingerprint() && (e.store == Store::Nss || e.root == w.root))
        .collect())
}

/// The entry of a change just made.
fn entry(ca: &Authority, w: &World, store: Store, place: &Path, created: Vec<PathBuf>) -> Entry {
    Entry {
        store,
        root: w.root.clone(),
        place: place.to_path_buf(),
        name: nickname(ca),
        fingerprint: ca.fingerprint().to_string(),
        pem: ca.cert_pem().to_string(),
        created,
    }
}

/// The CA's name in the trust stores: `taskmux-<id>`.
pub fn nickname(ca: &Authority) -> String {
    format!("taskmux-{}", ca.id())
}

/// Makes `dir` and its missing parents with `mode`; returns those it made, outermost first.
fn make_dirs(dir: &Path, mode: u32) -> Result<Vec<PathBuf>> {
    use std::os::unix::fs::DirBuilderExt;
    let mut missing: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|d| !d.exists())
        .map(Path::to_path_buf)
        .collect();
    missing.reverse();
    for d in &missing {
        std::fs::DirBuilder::new()
            .mode(mode)
            .create(d)
            .map_err(|e| Error::io("create directory", d, e))?;
    }
    Ok(missing)
}

/// Removes what install made, innermost first: files, and directories left empty.
fn remove_created(created: &[PathBuf]) {
    for p in created.iter().rev() {
        if p.is_dir() {
            let _ = std::fs::remove_dir(p);
        } else {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

fn shown(exe: &Path, args: &[OsString]) -> Vec<String> {
    std::iter::once(exe.display().to_string())
        .chain(args.iter().map(|a| a.to_string_lossy().into_owned()))
        .collect()
}
