//! `$TASKMUX_HOME/ca/installed.json`: what `ca install` put where, so `ca uninstall` takes
//! away exactly that and nothing else.

use super::super::adopt;
use crate::error::{Error, Kind, Result};
use crate::paths::{ensure_dir, write_atomic};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A trust store taskmux knows how to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Store {
    /// Debian, Ubuntu and kin: `/usr/local/share/ca-certificates/` + `update-ca-certificates`.
    Debian,
    /// Fedora, RHEL and kin: `/etc/pki/ca-trust/source/anchors/` + `update-ca-trust`.
    Fedora,
    /// Arch and kin: `/etc/ca-certificates/trust-source/anchors/` + `update-ca-trust`.
    Arch,
    /// macOS: the System keychain, by `security`.
    Macos,
    /// An NSS database (Chromium's `~/.pki/nssdb`, a Firefox profile), by `certutil`.
    Nss,
}

impl Store {
    /// Its name in output.
    pub fn name(self) -> &'static str {
        match self {
            Store::Debian => "debian",
            Store::Fedora => "fedora",
            Store::Arch => "arch",
            Store::Macos => "macos",
            Store::Nss => "nss",
        }
    }
}

/// One change install made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Where.
    pub store: Store,
    /// The system root it was made under (`/` but in tests).
    pub root: PathBuf,
    /// The file written (system stores), the keychain, or the NSS database directory.
    pub place: PathBuf,
    /// `taskmux-<id>`: the file's stem, the NSS nickname.
    pub name: String,
    /// The CA's SHA-256.
    pub fingerprint: String,
    /// The CA certificate (PEM), to name it to `security` when ca.pem is gone.
    pub pem: String,
    /// Directories and files install made for it, taken away again when left empty.
    #[serde(default)]
    pub created: Vec<PathBuf>,
}

/// Everything install did and uninstall has not undone yet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The changes, oldest first.
    pub entries: Vec<Entry>,
}

fn path(home: &Path) -> PathBuf {
    super::super::authority::ca_dir(home).join("installed.json")
}

impl Record {
    /// The record of a state directory; none yet is an empty one.
    pub fn load(home: &Path) -> Result<Record> {
        let p = path(home);
        let text = match std::fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Record::default()),
            Err(e) => return Err(Error::io("read", &p, e)),
        };
        serde_json::from_str(&text).map_err(|e| {
            Error::from(Kind::CorruptState {
                path: p.clone(),
                reason: e.to_string(),
            })
            .hint(format!(
                "fix the JSON in {}; without it uninstall cannot know what install changed",
                p.display()
            ))
        })
    }

    /// Writes it (0600), or removes the file when nothing is left in it.
    pub fn save(&self, home: &Path) -> Result<()> {
        let p = path(home);
        if self.entries.is_empty() {
            return match std::fs::remove_file(&p) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(Error::io("remove", &p, e)),
            };
        }
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::internal(format!("cannot encode the install record: {e}")))?;
        if let Some(dir) = p.parent() {
            ensure_dir(dir)?;
        }
        write_atomic(&p, format!("{text}\n").as_bytes(), 0o600)?;
        adopt(home, &p);
        Ok(())
    }

    /// The entry for this store and place, if install made one.
    pub fn find(&self, store: Store, place: &Path, name: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| e.store == store && e.place == place && e.name == name)
    }

    /// Adds an entry unless the same change is there already.
    pub fn add(&mut self, entry: Entry) {
        if self.find(entry.store, &entry.place, &entry.name).is_none() {
            self.entries.push(entry);
        }
    }
}
