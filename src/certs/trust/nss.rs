//! The NSS databases the browsers read: Chromium's `~/.pki/nssdb` (made when missing, as
//! Chromium would on its first start, so a browser installed later trusts the CA too) and
//! each Firefox profile's `cert9.db`, changed with `certutil`.

use super::{Action, Entry, Record, Step, Store, World, entry, make_dirs, nickname, remove_created, shown};
use crate::certs::Authority;
use crate::error::{Error, Result};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The files `certutil -N` makes in a new database.
const DB_FILES: [&str; 3] = ["cert9.db", "key4.db", "pkcs11.txt"];

/// Chromium's database, and every Firefox profile that has a `cert9.db`.
fn databases(home: &Path) -> (PathBuf, Vec<PathBuf>) {
    let mut firefox = Vec::new();
    for base in [".mozilla/firefox", "snap/firefox/common/.mozilla/firefox"] {
        let Ok(rd) = std::fs::read_dir(home.join(base)) else {
            continue;
        };
        let mut found: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.join("cert9.db").is_file())
            .collect();
        found.sort();
        firefox.extend(found);
    }
    (home.join(".pki/nssdb"), firefox)
}

fn sql(db: &Path) -> OsString {
    let mut s = OsString::from("sql:");
    s.push(db);
    s
}

/// Whether this process may write `db` without leaving root-owned files in another
/// user's home (`sudo taskmux ca install` does the system's store; the user's own run does
/// their databases).
fn ours_to_write(db: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    if !rustix::process::geteuid().is_root() {
        return true;
    }
    let owner = db.ancestors().find_map(|d| std::fs::metadata(d).ok()).map(|m| m.uid());
    owner == Some(0)
}

/// Trusts the CA in each database (see [`super::install`]); a database that fails is a
/// step with a note, never a failure of the whole install.
pub fn install(ca: &Authority, w: &World, record: &mut Record) -> Vec<Step> {
    let Some(home) = &w.user_home else {
        return Vec::new();
    };
    let (chromium, firefox) = databases(home);
    let Some(certutil) = w.tool("certutil") else {
        let note = "certutil is not installed, so Chromium and Firefox on Linux are not told to trust the CA: install libnss3-tools (Debian) or nss-tools (Fedora) and run this again";
        return vec![Step::new(Store::Nss, &chromium, Action::Skipped).note(note)];
    };
    let mut steps = Vec::new();
    for (db, create) in std::iter::once((chromium, true)).chain(firefox.into_iter().map(|d| (d, false))) {
        let step = add(ca, w, &certutil, &db, create, record)
            .unwrap_or_else(|e| Step::new(Store::Nss, &db, Action::Skipped).note(e.message()));
        steps.push(step);
    }
    steps
}

fn add(ca: &Authority, w: &World, certutil: &Path, db: &Path, create: bool, record: &mut Record) -> Result<Step> {
    let name = nickname(ca);
    if !ours_to_write(db) {
        return Ok(Step::new(Store::Nss, db, Action::Skipped)
            .note("another user's database: run 'taskmux ca install' as that user for it"));
    }
    let mut created = Vec::new();
    let mut ran = Vec::new();
    if !db.join("cert9.db").is_file() {
        if !create {
            return Ok(Step::new(Store::Nss, db, Action::Skipped));
        }
        created = make_dirs(db, 0o700)?;
        let pre: Vec<PathBuf> = DB_FILES.iter().map(|f| db.join(f)).filter(|p| !p.exists()).collect();
        let args = vec!["-N".into(), "--empty-password".into(), "-d".into(), sql(db)];
        if let Err(e) = w.run(certutil, &args) {
            remove_created(&created);
            return Err(e);
        }
        ran.push(shown(certutil, &args));
        created.extend(pre.into_iter().filter(|p| p.exists()));
    } else if has(w, certutil, db, &name) {
        if record.find(Store::Nss, db, &name).is_none() {
            record.add(entry(ca, w, Store::Nss, db, Vec::new()));
        }
        return Ok(Step::new(Store::Nss, db, Action::Already));
    }
    let mut args: Vec<OsString> = vec!["-A".into(), "-d".into(), sql(db), "-t".into(), "C,,".into()];
    args.extend(["-n".into(), name.clone().into(), "-i".into(), ca.cert_pem_path().into()]);
    if let Err(e) = w.run(certutil, &args) {
        remove_created(&created);
        return Err(e);
    }
    ran.push(shown(certutil, &args));
    record.add(entry(ca, w, Store::Nss, db, created));
    let mut step = Step::new(Store::Nss, db, Action::Added);
    step.ran = ran;
    Ok(step)
}

/// Whether the database holds a certificate of that nickname.
fn has(w: &World, certutil: &Path, db: &Path, name: &str) -> bool {
    let args = vec!["-L".into(), "-d".into(), sql(db), "-n".into(), name.into()];
    w.run(certutil, &args).is_ok()
}

/// How many certificates the database lists.
fn count(w: &World, certutil: &Path, db: &Path) -> Option<usize> {
    let out = w.run(certutil, &["-L".into(), "-d".into(), sql(db)]).ok()?;
    Some(
        out.lines()
            .filter(|l| !l.trim().is_empty() && !l.contains("Certificate Nickname") && !l.contains("SSL,S/MIME"))
            .count(),
    )
}

/// Takes the nickname out of a recorded database; a database install made is removed
/// again when nothing else is in it.
pub fn uninstall(e: &Entry, w: &World) -> Result<Step> {
    let certutil = w.tool("certutil").ok_or_else(|| {
        Error::from(crate::error::Kind::TrustTool {
            args: vec!["certutil".into()],
            stderr: format!("it is not installed, and {} holds the CA", e.place.display()),
        })
        .hint("install libnss3-tools (Debian) or nss-tools (Fedora) and run this again")
    })?;
    if !e.place.join("cert9.db").is_file() {
        return Ok(Step::new(Store::Nss, &e.place, Action::Absent));
    }
    let mut step = Step::new(Store::Nss, &e.place, Action::Absent);
    if has(w, &certutil, &e.place, &e.name) {
        let args = vec![
            "-D".into(),
            "-d".into(),
            sql(&e.place),
            "-n".into(),
            e.name.clone().into(),
        ];
        w.run(&certutil, &args)?;
        step.ran.push(shown(&certutil, &args));
        step.action = Action::Removed;
    }
    if !e.created.is_empty() && count(w, &certutil, &e.place) == Some(0) {
        remove_created(&e.created);
    }
    Ok(step)
}
