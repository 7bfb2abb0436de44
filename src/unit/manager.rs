//! What each service manager (systemd, launchd) is asked, and in which words: its program,
//! its domain and service names, whether a user manager runs, the unit's state, the enable
//! and start commands, and the error and hint when no manager would take the unit.

use super::install::Target;
use super::{LABEL, Manager, SYSTEMD_UNIT};
use crate::error::{Error, Kind, Result};

/// Its arguments as owned strings.
pub(super) fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

impl Target<'_> {
    pub(super) fn program(&self) -> &'static str {
        match self.manager {
            Manager::Systemd => "systemctl",
            Manager::Launchd => "launchctl",
        }
    }

    pub(super) fn domain(&self) -> String {
        format!("gui/{}", self.uid)
    }

    pub(super) fn service(&self) -> String {
        format!("gui/{}/{LABEL}", self.uid)
    }

    /// `None` when a user manager runs, else why not.
    pub(super) fn absent(&self) -> Option<String> {
        let (a, o) = match self.manager {
            Manager::Systemd => {
                let a = args(&["--user", "is-system-running"]);
                let o = self.runner.run("systemctl", &a);
                let state = o.stdout.trim();
                // degraded: some unit failed, the manager is there all the same
                if matches!(
                    state,
                    "running" | "degraded" | "starting" | "initializing" | "maintenance"
                ) {
                    return None;
                }
                (a, o)
            }
            Manager::Launchd => {
                let a = vec!["print".to_string(), self.domain()];
                let o = self.runner.run("launchctl", &a);
                if o.ok {
                    return None;
                }
                (a, o)
            }
        };
        let said: Vec<&str> = [o.stdout.trim(), o.stderr.trim()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect();
        let said = if said.is_empty() {
            "no answer".to_string()
        } else {
            said.join("; ").replace('\n', "; ")
        };
        Some(format!(
            "none is running ('{} {}' says: {said})",
            self.program(),
            a.join(" ")
        ))
    }

    /// Whether the unit now there is enabled and running, as the manager sees it.
    pub(super) fn unit_state(&self) -> (bool, bool) {
        match self.manager {
            Manager::Systemd => {
                let q = |what: &str| {
                    self.runner
                        .run("systemctl", &args(&["--user", what, "--quiet", SYSTEMD_UNIT]))
                        .ok
                };
                (q("is-enabled"), q("is-active"))
            }
            Manager::Launchd => {
                let loaded = self.runner.run("launchctl", &["print".to_string(), self.service()]).ok;
                (loaded, loaded)
            }
        }
    }

    /// Whether the user's manager starts at boot without a login.
    pub(super) fn linger(&self) -> Option<bool> {
        let user = self.user.as_deref().filter(|_| self.manager == Manager::Systemd)?;
        let o = self.runner.run("loginctl", &args(&["show-user", user, "-p", "Linger"]));
        match o.stdout.trim() {
            "Linger=yes" if o.ok => Some(true),
            "Linger=no" if o.ok => Some(false),
            _ => None,
        }
    }

    pub(super) fn enable_commands(&self, restart: bool) -> Vec<Vec<String>> {
        let path = self.unit_path.to_string_lossy().into_owned();
        match self.manager {
            Manager::Systemd => {
                let mut c = vec![args(&["systemctl", "--user", "daemon-reload"])];
                if restart {
                    c.push(args(&["systemctl", "--user", "try-restart", SYSTEMD_UNIT]));
                }
                c.push(args(&["systemctl", "--user", "enable", "--now", SYSTEMD_UNIT]));
                c
            }
            Manager::Launchd => {
                let mut c = Vec::new();
                if restart {
                    c.push(vec!["launchctl".into(), "bootout".into(), self.service()]);
                }
                c.push(vec!["launchctl".into(), "bootstrap".into(), self.domain(), path]);
                c
            }
        }
    }

    /// Runs commands in turn; the first failure is E307 (a `bootout` of what is not loaded
    /// is no failure).
    pub(super) fn run_all(&self, commands: &[Vec<String>]) -> Result<()> {
        for c in commands {
            let o = self.runner.run(&c[0], &c[1..]);
            if !o.ok && c.get(1).map(String::as_str) != Some("bootout") {
                return Err(Kind::NoServiceManager {
                    manager: self.manager.name(),
                    reason: format!("'{}' failed: {}", c.join(" "), o.stderr.trim()),
                }
                .into());
            }
        }
        Ok(())
    }

    pub(super) fn no_manager(&self, reason: String, unit: &str) -> Error {
        let fix = match self.manager {
            Manager::Systemd => format!(
                "run the daemon with 'taskmux daemon start' instead; or, where a systemd user manager runs, \
                 save the unit printed above as {} and run 'systemctl --user enable --now {SYSTEMD_UNIT}'",
                self.unit_path.display()
            ),
            Manager::Launchd => format!(
                "run the daemon with 'taskmux daemon start' instead; or, in a login session, save the agent \
                 printed above as {} and run 'launchctl bootstrap gui/{} {}'",
                self.unit_path.display(),
                self.uid,
                self.unit_path.display()
            ),
        };
        Error::from(Kind::NoServiceManager {
            manager: self.manager.name(),
            reason,
        })
        .hint(fix)
        .details(serde_json::json!({
            "manager": self.manager,
            "path": self.unit_path,
            "unit": unit,
            "written": false,
        }))
    }
}

/// The line that tells how to keep a systemd user daemon up without a login (`None` when
/// linger is on, or for launchd, whose agents run in a login session only).
pub fn linger_hint(manager: Manager, linger: Option<bool>, user: Option<&str>) -> Option<String> {
    if manager != Manager::Systemd {
        return None;
    }
    let user = user.unwrap_or("$USER");
    match linger {
        Some(true) => None,
        Some(false) => Some(format!(
            "linger is off: the daemon runs only while you are logged in; to start it at boot without a login: \
             loginctl enable-linger {user}"
        )),
        None => Some(format!(
            "to start the daemon at boot without a login, enable linger: loginctl enable-linger {user}"
        )),
    }
}
