//! Installing and uninstalling the daemon's unit: the record of what was there before,
//! the calls to the service manager (through a [`Runner`]) and the exact revert.

use super::manager::args;
use super::record::{Before, Record, load_record, missing_dirs, record_path, restore, save_record, units_dir};
use super::runner::Runner;
use super::{Manager, SYSTEMD_UNIT, UnitSpec};
use crate::error::{Error, Result};
use crate::paths;
use serde::Serialize;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Where and for whom a unit is installed.
pub struct Target<'a> {
    /// The service manager.
    pub manager: Manager,
    /// The unit file (see [`Manager::unit_path`]).
    pub unit_path: PathBuf,
    /// The state directory: the record of what install replaced lives in its `units/`.
    pub home: PathBuf,
    /// The user's id (launchd's `gui/<uid>` domain).
    pub uid: u32,
    /// The user's name (`loginctl show-user`), when known.
    pub user: Option<String>,
    /// How the manager is asked.
    pub runner: &'a dyn Runner,
}

/// What `install --dry-run` would do; nothing is changed to find it out.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The service manager.
    pub manager: Manager,
    /// Where the unit would be written.
    pub path: PathBuf,
    /// The unit's text.
    pub unit: String,
    /// A file is there now (install keeps a copy and uninstall puts it back).
    pub replaces: bool,
    /// A user service manager runs, so install can enable the unit.
    pub manager_running: bool,
    /// Why not, when it does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manager_reason: Option<String>,
    /// The commands install runs after writing the unit.
    pub commands: Vec<Vec<String>>,
    /// Whether the user's manager starts at boot without a login (`loginctl enable-linger`);
    /// `None` when unknown or not a systemd notion.
    pub linger: Option<bool>,
}

/// What `install` did.
#[derive(Debug, Clone, Serialize)]
pub struct Installed {
    /// The service manager.
    pub manager: Manager,
    /// The unit file written.
    pub path: PathBuf,
    /// Its text.
    pub unit: String,
    /// A file that was there before install (the first one) is kept, for uninstall.
    pub replaced: bool,
    /// The unit was already installed by taskmux and is now rewritten.
    pub reinstalled: bool,
    /// The commands that enabled it.
    pub commands: Vec<Vec<String>>,
    /// As in [`Plan::linger`].
    pub linger: Option<bool>,
}

/// What `uninstall` did.
#[derive(Debug, Clone, Serialize)]
pub struct Uninstalled {
    /// Nothing was installed from this state directory: nothing was done.
    pub installed: bool,
    /// The service manager.
    pub manager: Manager,
    /// The unit file.
    pub path: PathBuf,
    /// The file that was there before install is back (else the unit file is gone).
    pub restored: bool,
    /// The unit had been changed since install; that version is kept here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept_changed: Option<PathBuf>,
    /// The commands run.
    pub commands: Vec<Vec<String>>,
    /// Why the manager was not asked (none ran), when it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manager_reason: Option<String>,
}

impl Target<'_> {
    /// What install would do: the unit, where it goes, and whether a manager would take
    /// it. Reads, asks the manager read-only questions, writes nothing.
    pub fn plan(&self, spec: &UnitSpec) -> Result<Plan> {
        let unit = spec.render(self.manager)?;
        let reason = self.absent();
        Ok(Plan {
            manager: self.manager,
            path: self.unit_path.clone(),
            replaces: self.unit_path.symlink_metadata().is_ok(),
            manager_running: reason.is_none(),
            manager_reason: reason,
            commands: self.enable_commands(false),
            linger: self.linger(),
            unit,
        })
    }

    /// Writes the unit (atomically, keeping what was there for [`Target::uninstall`]) and
    /// enables and starts it. Where no user manager runs, writes nothing: E307, with the
    /// unit in the error's details.
    pub fn install(&self, spec: &UnitSpec) -> Result<Installed> {
        let unit = spec.render(self.manager)?;
        if let Some(reason) = self.absent() {
            return Err(self.no_manager(reason, &unit));
        }
        let mut record = match load_record(&self.home, self.manager)? {
            // installed before at another place (XDG_CONFIG_HOME changed): put that back first
            Some(old) if old.path != self.unit_path => {
                restore(&old)?;
                std::fs::remove_file(record_path(&self.home, self.manager))
                    .map_err(|e| Error::io("remove", &record_path(&self.home, self.manager), e))?;
                None
            }
            r => r,
        };
        let reinstalled = record.is_some();
        let changed = record.as_ref().is_some_and(|r| r.written != unit);
        if record.is_none() {
            // the record (and the copy of what is there) before the first byte of the unit
            let (enabled_before, active_before) = match self.unit_path.symlink_metadata() {
                Ok(_) => self.unit_state(),
                Err(_) => (false, false),
            };
            record = Some(Record {
                manager: self.manager,
                path: self.unit_path.clone(),
                written: unit.clone(),
                before: self.keep_before()?,
                enabled_before,
                active_before,
                created_dirs: missing_dirs(self.unit_path.parent().unwrap_or(Path::new("/"))),
            });
        }
        let mut record = record.expect("a record was loaded or made");
        record.written = unit.clone();
        save_record(&self.home, &record)?;
        if let Some(dir) = self.unit_path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
        }
        paths::write_atomic(&self.unit_path, unit.as_bytes(), 0o644)?;
        let commands = self.enable_commands(changed);
        if let Err(e) = self.run_all(&commands) {
            // leave the system as it was: the unit out, what was there back
            if !reinstalled && self.revert(&record).is_ok() && self.manager == Manager::Systemd {
                let _ = self.runner.run("systemctl", &args(&["--user", "daemon-reload"]));
            }
            return Err(e);
        }
        Ok(Installed {
            manager: self.manager,
            path: self.unit_path.clone(),
            unit,
            replaced: record.before.is_some(),
            reinstalled,
            commands,
            linger: self.linger(),
        })
    }

    /// A copy of what is at the unit's path now, under `units/`.
    fn keep_before(&self) -> Result<Option<Before>> {
        let path = &self.unit_path;
        let meta = match path.symlink_metadata() {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read", path, e)),
        };
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(path).map_err(|e| Error::io("read", path, e))?;
            return Ok(Some(Before::Symlink { target }));
        }
        let bytes = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let backup = units_dir(&self.home).join(format!("{name}.before"));
        paths::write_atomic(&backup, &bytes, 0o600)?;
        Ok(Some(Before::File {
            backup,
            mode: meta.permissions().mode() & 0o7777,
        }))
    }

    /// Disables and stops the unit, puts back what was there before install (or removes the
    /// unit and the directories install made), and tells the manager. Nothing installed:
    /// nothing done, and that is no error.
    pub fn uninstall(&self) -> Result<Uninstalled> {
        let Some(record) = load_record(&self.home, self.manager)? else {
            return Ok(Uninstalled {
                installed: false,
                manager: self.manager,
                path: self.unit_path.clone(),
                restored: false,
                kept_changed: None,
                commands: Vec::new(),
                manager_reason: None,
            });
        };
        let reason = self.absent();
        let mut commands = Vec::new();
        if reason.is_none() {
            commands.push(match self.manager {
                Manager::Systemd => args(&["systemctl", "--user", "disable", "--now", SYSTEMD_UNIT]),
                Manager::Launchd => vec!["launchctl".into(), "bootout".into(), self.service()],
            });
            self.run_all(&commands)?;
        }
        let kept_changed = self.revert(&record)?;
        if reason.is_none() {
            let mut after = Vec::new();
            match self.manager {
                Manager::Systemd => {
                    after.push(args(&["systemctl", "--user", "daemon-reload"]));
                    if record.enabled_before {
                        after.push(args(&["systemctl", "--user", "enable", SYSTEMD_UNIT]));
                    }
                    if record.active_before {
                        after.push(args(&["systemctl", "--user", "start", SYSTEMD_UNIT]));
                    }
                }
                Manager::Launchd if record.active_before => {
                    after.push(vec![
                        "launchctl".into(),
                        "bootstrap".into(),
                        self.domain(),
                        record.path.to_string_lossy().into_owned(),
                    ]);
                }
                Manager::Launchd => {}
            }
            self.run_all(&after)?;
            commands.extend(after);
        }
        Ok(Uninstalled {
            installed: true,
            manager: self.manager,
            path: record.path.clone(),
            restored: record.before.is_some(),
            kept_changed,
            commands,
            manager_reason: reason,
        })
    }

    /// Puts the files back as the record says and forgets it; a unit changed since install
    /// is kept under `units/` first, and its path returned.
    fn revert(&self, record: &Record) -> Result<Option<PathBuf>> {
        let mut kept = None;
        if let Ok(now) = std::fs::read(&record.path)
            && now != record.written.as_bytes()
            && !record.path.symlink_metadata().is_ok_and(|m| m.file_type().is_symlink())
        {
            let name = record
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let copy = units_dir(&self.home).join(format!("{name}.changed"));
            paths::write_atomic(&copy, &now, 0o600)?;
            kept = Some(copy);
        }
        restore(record)?;
        let rp = record_path(&self.home, record.manager);
        std::fs::remove_file(&rp).map_err(|e| Error::io("remove", &rp, e))?;
        let _ = std::fs::remove_dir(units_dir(&self.home)); // only when empty
        Ok(kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit::Outcome;
    use std::cell::RefCell;

    /// A user manager that answers as told and remembers what it was asked.
    #[derive(Default)]
    struct Fake {
        absent: bool,
        enabled: bool,
        fail: Option<&'static str>,
        calls: RefCell<Vec<String>>,
    }

    impl Runner for Fake {
        fn run(&self, program: &str, args: &[String]) -> Outcome {
            let line = format!("{program} {}", args.join(" "));
            self.calls.borrow_mut().push(line.clone());
            let ok = |ok: bool, stdout: &str| Outcome {
                ok,
                stdout: stdout.into(),
                stderr: if ok { String::new() } else { "refused".into() },
            };
            if self.fail.is_some_and(|f| line.contains(f)) {
                return ok(false, "");
            }
            match args.get(1).map(String::as_str) {
                Some("is-system-running") if self.absent => ok(false, "offline\n"),
                Some("is-system-running") => ok(true, "running\n"),
                Some("is-enabled" | "is-active") => ok(self.enabled, ""),
                _ if program == "loginctl" => ok(true, "Linger=no\n"),
                _ => ok(true, ""),
            }
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("taskmux-unit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("scratch dir");
        d
    }

    fn spec(root: &Path) -> UnitSpec {
        UnitSpec {
            daemon: root.join("bin/taskmuxd"),
            home: root.join("state"),
            path: Some("/usr/bin:/bin".into()),
        }
    }

    fn target<'a>(root: &Path, runner: &'a Fake) -> Target<'a> {
        Target {
            manager: Manager::Systemd,
            unit_path: Manager::Systemd.unit_path(&root.join("home"), None),
            home: root.join("state"),
            uid: 1000,
            user: Some("me".into()),
            runner,
        }
    }

    /// Every file and directory under `dir`, with file contents.
    fn tree(dir: &Path) -> Vec<(PathBuf, Option<Vec<u8>>)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).expect("readable").flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p.clone());
                    out.push((p, None));
                } else {
                    out.push((p.clone(), std::fs::read(&p).ok()));
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn no_manager_writes_nothing_and_carries_the_unit() {
        let root = scratch("absent");
        let fake = Fake {
            absent: true,
            ..Fake::default()
        };
        let t = target(&root, &fake);
        let e = t.install(&spec(&root)).expect_err("no manager");
        assert_eq!((e.code(), e.exit_code()), ("E307", 1));
        assert!(e.message().contains("offline"), "{}", e.message());
        let unit = e
            .details
            .as_ref()
            .and_then(|d| d["unit"].as_str())
            .expect("the unit in details");
        assert!(unit.contains("KillMode=process"), "{unit}");
        assert!(
            e.hint.as_deref().is_some_and(|h| h.contains("taskmux daemon start")),
            "{e}"
        );
        assert!(tree(&root).is_empty(), "nothing written: {:?}", tree(&root));
        assert_eq!(*fake.calls.borrow(), ["systemctl --user is-system-running"]);
        let plan = t.plan(&spec(&root)).expect("a dry run works anywhere");
        assert!(!plan.manager_running && plan.manager_reason.is_some());
        assert!(tree(&root).is_empty());
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn install_then_uninstall_restores_a_file_exactly() {
        let root = scratch("restore");
        let fake = Fake {
            enabled: true,
            ..Fake::default()
        };
        let t = target(&root, &fake);
        let before = b"[Service]\nExecStart=/usr/bin/mine\n\xff not even UTF-8\n";
        std::fs::create_dir_all(t.unit_path.parent().expect("dir")).expect("mkdir");
        std::fs::write(&t.unit_path, before).expect("write");
        std::fs::set_permissions(&t.unit_path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        let snapshot = tree(&root.join("home"));

        let done = t.install(&spec(&root)).expect("installs");
        assert!(done.replaced && !done.reinstalled);
        assert_eq!(std::fs::read_to_string(&t.unit_path).expect("unit"), done.unit);
        // again: the copy of the first file is kept, not replaced by our own unit
        let again = t.install(&spec(&root)).expect("reinstalls");
        assert!(again.reinstalled);
        let calls = fake.calls.borrow().clone();
        assert!(
            calls.contains(&"systemctl --user enable --now taskmuxd.service".to_string()),
            "{calls:?}"
        );
        assert!(
            calls.contains(&"systemctl --user daemon-reload".to_string()),
            "{calls:?}"
        );

        fake.calls.borrow_mut().clear();
        let gone = t.uninstall().expect("uninstalls");
        assert!(gone.installed && gone.restored && gone.kept_changed.is_none());
        assert_eq!(tree(&root.join("home")), snapshot, "byte for byte");
        assert!(tree(&root.join("state")).is_empty(), "nothing of ours left");
        let mode = std::fs::metadata(&t.unit_path).expect("there").permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        // the unit that was there was enabled and running: so it is again
        let calls = fake.calls.borrow().clone();
        let want = [
            "systemctl --user disable --now taskmuxd.service",
            "systemctl --user daemon-reload",
            "systemctl --user enable taskmuxd.service",
            "systemctl --user start taskmuxd.service",
        ];
        let ran: Vec<&String> = calls.iter().filter(|c| want.iter().any(|w| *c == w)).collect();
        assert_eq!(ran, want, "{calls:?}");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn install_into_nothing_and_uninstall_leave_nothing() {
        let root = scratch("fresh");
        std::fs::create_dir_all(root.join("home")).expect("mkdir");
        let fake = Fake::default();
        let t = target(&root, &fake);
        let done = t.install(&spec(&root)).expect("installs");
        assert!(!done.replaced && done.linger == Some(false));
        assert!(t.unit_path.is_file());
        let gone = t.uninstall().expect("uninstalls");
        assert!(gone.installed && !gone.restored);
        assert_eq!(tree(&root), [(root.join("home"), None), (root.join("state"), None)]);
        let calls = fake.calls.borrow().clone();
        assert!(
            !calls.iter().any(|c| c.ends_with(" start taskmuxd.service")),
            "{calls:?}"
        );
        let nothing = t.uninstall().expect("nothing installed is ok");
        assert!(!nothing.installed && nothing.commands.is_empty());
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_symlink_comes_back_and_a_changed_unit_is_kept() {
        let root = scratch("symlink");
        let fake = Fake::default();
        let t = target(&root, &fake);
        std::fs::create_dir_all(t.unit_path.parent().expect("dir")).expect("mkdir");
        std::os::unix::fs::symlink("/dotfiles/taskmuxd.service", &t.unit_path).expect("symlink");
        t.install(&spec(&root)).expect("installs");
        assert!(!t.unit_path.symlink_metadata().expect("there").file_type().is_symlink());
        std::fs::write(&t.unit_path, "edited by hand\n").expect("edit");
        let gone = t.uninstall().expect("uninstalls");
        let kept = gone.kept_changed.expect("the edit is kept");
        assert_eq!(std::fs::read_to_string(kept).expect("kept"), "edited by hand\n");
        assert_eq!(
            std::fs::read_link(&t.unit_path).expect("a symlink again"),
            Path::new("/dotfiles/taskmuxd.service")
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_refused_enable_puts_back_what_was_there() {
        let root = scratch("refused");
        let fake = Fake {
            fail: Some("enable --now"),
            ..Fake::default()
        };
        let t = target(&root, &fake);
        std::fs::create_dir_all(t.unit_path.parent().expect("dir")).expect("mkdir");
        std::fs::write(&t.unit_path, "old\n").expect("write");
        let snapshot = tree(&root.join("home"));
        let e = t.install(&spec(&root)).expect_err("refused");
        assert_eq!(e.code(), "E307");
        assert!(e.message().contains("enable --now"), "{}", e.message());
        assert_eq!(tree(&root.join("home")), snapshot);
        assert!(tree(&root.join("state")).is_empty(), "no record left");
        let _ = std::fs::remove_dir_all(&root);
    }
}
