//! The daemon's service units: the systemd user unit and the launchd agent that run
//! `taskmuxd`, their text, and installing and uninstalling them so that `uninstall` puts back
//! exactly what was there before.
//!
//! Every place is a parameter (the unit directory, the state directory) and every call to the
//! service manager goes through a [`Runner`], so tests run against a scratch home with a fake
//! manager. What `install` replaced is kept under `$TASKMUX_HOME/units/`: a record
//! (`systemd.json`, `launchd.json`) naming the unit file, the bytes it wrote, what was there
//! before (a copy of the file, `<name>.before`, with its mode; or a symlink's target; and
//! whether the manager had that unit enabled and running) and the directories it created.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

mod install;
mod manager;
mod record;
mod runner;

pub use install::{Installed, Plan, Target, Uninstalled};
pub use manager::linger_hint;
pub use runner::{Outcome, Runner, SystemRunner};

/// The launchd label of the agent (and the name of its plist).
pub const LABEL: &str = "dev.taskmux.taskmuxd";
/// The systemd unit's name.
pub const SYSTEMD_UNIT: &str = "taskmuxd.service";
/// Said in the comment at the top of every unit taskmux writes.
const MARK: &str = "written by 'taskmux daemon install'";

/// The allocator settings the daemon runs with (glibc's; other C libraries ignore them).
/// A burst of large requests on many threads otherwise stays in the daemon for good: glibc
/// gives each thread an arena and raises its mmap threshold to the largest block freed, so
/// freed megabytes stay in the arenas. Two arenas and a fixed 128 KiB threshold (large
/// blocks mapped, and unmapped when freed) bring it back to its idle size.
pub const DAEMON_MALLOC: [(&str, &str); 2] = [("MALLOC_ARENA_MAX", "2"), ("MALLOC_MMAP_THRESHOLD_", "131072")];

/// Names the [`DAEMON_MALLOC`] variables taskmux set for the daemon (comma-separated), so
/// the daemon leaves them out of the environment it gives tasks and hooks.
pub const DAEMON_MALLOC_SET: &str = "TASKMUX_DAEMON_MALLOC";

/// The environment of the daemon less what taskmux set only for the daemon's own
/// allocator ([`DAEMON_MALLOC_SET`]): a task's environment of record must not carry it.
pub fn without_daemon_malloc(env: &mut Vec<(String, String)>) {
    let Some(set) = env.iter().find(|(k, _)| k == DAEMON_MALLOC_SET).map(|(_, v)| v.clone()) else {
        return;
    };
    let ours: Vec<&str> = set.split(',').collect();
    env.retain(|(k, _)| k != DAEMON_MALLOC_SET && !ours.contains(&k.as_str()));
}

/// Which service manager runs the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Manager {
    /// A systemd user manager (`systemctl --user`): Linux.
    Systemd,
    /// launchd's per-user GUI domain (`launchctl`): macOS.
    Launchd,
}

impl Manager {
    /// The manager of the system this was built for.
    pub fn native() -> Manager {
        match crate::os::Os::native() {
            crate::os::Os::Macos => Manager::Launchd,
            crate::os::Os::Linux => Manager::Systemd,
        }
    }

    /// `systemd` or `launchd`.
    pub fn name(self) -> &'static str {
        match self {
            Manager::Systemd => "systemd",
            Manager::Launchd => "launchd",
        }
    }

    /// Where the user's unit goes: `$XDG_CONFIG_HOME/systemd/user/taskmuxd.service` (default
    /// `~/.config`), or `~/Library/LaunchAgents/dev.taskmux.taskmuxd.plist`.
    pub fn unit_path(self, user_home: &Path, xdg_config_home: Option<&Path>) -> PathBuf {
        match self {
            Manager::Systemd => xdg_config_home
                .filter(|p| p.is_absolute())
                .map_or_else(|| user_home.join(".config"), Path::to_path_buf)
                .join("systemd/user")
                .join(SYSTEMD_UNIT),
            Manager::Launchd => user_home.join("Library/LaunchAgents").join(format!("{LABEL}.plist")),
        }
    }
}

/// What a unit runs: the daemon and the environment it needs.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitSpec {
    /// The `taskmuxd` executable, absolute.
    pub daemon: PathBuf,
    /// The state directory in force (`TASKMUX_HOME`), absolute.
    pub home: PathBuf,
    /// The installer's `PATH`, so the daemon finds tmux where the user's shell does (the
    /// managers' own PATH lacks `/opt/homebrew/bin`, `~/.local/bin`, …).
    pub path: Option<String>,
}

impl UnitSpec {
    /// The unit's text for `manager`.
    pub fn render(&self, manager: Manager) -> Result<String> {
        match manager {
            Manager::Systemd => self.systemd(),
            Manager::Launchd => self.launchd(),
        }
    }

    /// The systemd user unit. `Restart=on-failure` restarts a daemon that died of a signal
    /// (it exits 128+N) or crashed, but not one that refused to run (exit 1: another
    /// daemon holds the lock, or its state cannot be used; exit 2: its config.toml is
    /// invalid), which would only refuse again every second; `KillMode=process` leaves the tasks and the tmux server running when the
    /// daemon stops.
    pub fn systemd(&self) -> Result<String> {
        let daemon = checked("the taskmuxd path", &self.daemon)?;
        let home = checked("TASKMUX_HOME", &self.home)?;
        let mut env = format!("Environment={}\n", systemd_env("TASKMUX_HOME", home));
        let names: Vec<&str> = DAEMON_MALLOC.iter().map(|(k, _)| *k).collect();
        for (k, v) in DAEMON_MALLOC
            .iter()
            .chain(&[(DAEMON_MALLOC_SET, names.join(",").as_str())])
        {
            env.push_str(&format!("Environment={}\n", systemd_env(k, v)));
        }
        if let Some(p) = self.path.as_deref().filter(|p| !p.is_empty()) {
            env.push_str(&format!(
                "Environment={}\n",
                systemd_env("PATH", checked_str("PATH", p)?)
            ));
        }
        Ok(format!(
            "# taskmuxd, the taskmux supervisor: {MARK}.\n\
             # 'taskmux daemon uninstall' removes it. See taskmuxd(8), SERVICE UNITS.\n\
             [Unit]\n\
             Description=taskmux supervisor (taskmuxd)\n\
             Documentation=man:taskmuxd(8)\n\
             \n\
             [Service]\n\
             Type=simple\n\
             ExecStart={}\n\
             {env}\
             Restart=on-failure\n\
             RestartSec=1\n\
             RestartPreventExitStatus=1 2\n\
             KillMode=process\n\
             \n\
             [Install]\n\
             WantedBy=default.target\n",
            systemd_exec(daemon)?
        ))
    }

    /// The launchd agent. `KeepAlive` with `SuccessfulExit=false` restarts a daemon that
    /// did not exit 0; `AbandonProcessGroup` leaves the tasks running when it exits.
    pub fn launchd(&self) -> Result<String> {
        let daemon = checked("the taskmuxd path", &self.daemon)?;
        let home = checked("TASKMUX_HOME", &self.home)?;
        let log = self.home.join("daemon.log");
        let log = checked("TASKMUX_HOME", &log)?;
        let mut env = format!("\t\t<key>TASKMUX_HOME</key>\n\t\t<string>{}</string>\n", xml(home));
        if let Some(p) = self.path.as_deref().filter(|p| !p.is_empty()) {
            env.push_str(&format!(
                "\t\t<key>PATH</key>\n\t\t<string>{}</string>\n",
                xml(checked_str("PATH", p)?)
            ));
        }
        Ok(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
             <!-- taskmuxd, the taskmux supervisor: {MARK}.\n     \
             'taskmux daemon uninstall' removes it. See taskmuxd(8), SERVICE UNITS. -->\n\
             <plist version=\"1.0\">\n\
             <dict>\n\
             \t<key>Label</key>\n\t<string>{LABEL}</string>\n\
             \t<key>ProgramArguments</key>\n\t<array>\n\t\t<string>{}</string>\n\t</array>\n\
             \t<key>EnvironmentVariables</key>\n\t<dict>\n{env}\t</dict>\n\
             \t<key>RunAtLoad</key>\n\t<true/>\n\
             \t<key>KeepAlive</key>\n\t<dict>\n\t\t<key>SuccessfulExit</key>\n\t\t<false/>\n\t</dict>\n\
             \t<key>AbandonProcessGroup</key>\n\t<true/>\n\
             \t<key>StandardOutPath</key>\n\t<string>{log}</string>\n\
             \t<key>StandardErrorPath</key>\n\t<string>{log}</string>\n\
             </dict>\n\
             </plist>\n",
            xml(daemon),
            log = xml(log),
        ))
    }
}

/// A path as text for a unit: UTF-8 and free of control characters, which neither format
/// can carry safely.
fn checked<'a>(what: &str, path: &'a Path) -> Result<&'a str> {
    let s = path
        .to_str()
        .ok_or_else(|| Error::invalid(format!("{what} {} is not UTF-8", path.display())))?;
    checked_str(what, s)
}

fn checked_str<'a>(what: &str, s: &'a str) -> Result<&'a str> {
    if s.chars().any(char::is_control) {
        return Err(Error::invalid(format!(
            "{what} {s:?} has a control character, which a service unit cannot hold"
        )));
    }
    Ok(s)
}

/// The executable of `ExecStart=`: `%` doubled (a specifier otherwise), in double quotes
/// when it has blanks. `$` is literal there, and systemd refuses quotes and backslashes in
/// an executable's path (`string_is_safe`), so those are an error.
fn systemd_exec(path: &str) -> Result<String> {
    if path.chars().any(|c| matches!(c, '"' | '\'' | '\\' | '\x7f')) {
        return Err(Error::invalid(format!(
            "the taskmuxd path {path:?} has a quote or backslash, which systemd refuses in ExecStart="
        ))
        .hint("install taskmux and taskmuxd in a directory whose path has none"));
    }
    let s = path.replace('%', "%%");
    Ok(if s.chars().any(char::is_whitespace) {
        format!("\"{s}\"")
    } else {
        s
    })
}

/// One `Environment=` assignment, quoted: `%` doubled (no `$` expansion happens there).
fn systemd_env(name: &str, value: &str) -> String {
    let v = value.replace('%', "%%").replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{name}={v}\"")
}

/// Text escaped for XML.
fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daemon_malloc_settings_stay_out_of_the_environment_it_hands_on() {
        let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
        let mut env = vec![
            pair("MALLOC_ARENA_MAX", "2"),
            pair("MALLOC_MMAP_THRESHOLD_", "4096"),
            pair("PATH", "/bin"),
            pair(DAEMON_MALLOC_SET, "MALLOC_ARENA_MAX"),
        ];
        without_daemon_malloc(&mut env);
        // what the caller set itself stays
        assert_eq!(env, vec![pair("MALLOC_MMAP_THRESHOLD_", "4096"), pair("PATH", "/bin")]);
        without_daemon_malloc(&mut env);
        assert_eq!(env.len(), 2, "nothing set by taskmux: nothing removed");
    }

    #[test]
    fn systemd_unit_quotes_what_systemd_would_split_or_expand() {
        let s = UnitSpec {
            daemon: "/opt/my apps/50%/$x/taskmuxd".into(),
            home: "/h/a \"b\" \\c %d".into(),
            path: None,
        };
        let text = s.systemd().expect("renders");
        assert!(
            text.contains("\nExecStart=\"/opt/my apps/50%%/$x/taskmuxd\"\n"),
            "{text}"
        );
        assert!(
            text.contains("\nEnvironment=\"TASKMUX_HOME=/h/a \\\"b\\\" \\\\c %%d\"\n"),
            "{text}"
        );
        assert!(!text.contains("PATH="), "no PATH given, none set: {text}");
        for line in [
            "Type=simple",
            "Restart=on-failure",
            "RestartSec=1",
            "KillMode=process",
            "WantedBy=default.target",
            "Environment=\"MALLOC_ARENA_MAX=2\"",
            "Environment=\"MALLOC_MMAP_THRESHOLD_=131072\"",
            "Environment=\"TASKMUX_DAEMON_MALLOC=MALLOC_ARENA_MAX,MALLOC_MMAP_THRESHOLD_\"",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing: {text}");
        }
        assert_eq!(systemd_exec("/usr/bin/taskmuxd").expect("plain"), "/usr/bin/taskmuxd");
        let quoted = UnitSpec {
            daemon: "/it's/taskmuxd".into(),
            ..s.clone()
        };
        assert_eq!(quoted.systemd().expect_err("a quote").code(), "E104");
        let bad = UnitSpec {
            daemon: "/a\nb".into(),
            ..s
        };
        assert_eq!(bad.systemd().expect_err("newline").code(), "E104");
    }

    #[test]
    fn launchd_agent_escapes_xml_and_has_the_keys() {
        let s = UnitSpec {
            daemon: "/Apps/<a & b>/taskmuxd".into(),
            home: "/Users/me/.taskmux".into(),
            path: Some("/opt/homebrew/bin:/usr/bin".into()),
        };
        let text = s.launchd().expect("renders");
        assert!(
            text.contains("<string>/Apps/&lt;a &amp; b&gt;/taskmuxd</string>"),
            "{text}"
        );
        for key in [
            "Label",
            "ProgramArguments",
            "EnvironmentVariables",
            "RunAtLoad",
            "KeepAlive",
            "SuccessfulExit",
            "AbandonProcessGroup",
        ] {
            assert!(text.contains(&format!("<key>{key}</key>")), "{key}: {text}");
        }
        assert!(text.contains("<key>SuccessfulExit</key>\n\t\t<false/>"), "{text}");
        assert!(
            text.contains("<string>/Users/me/.taskmux/daemon.log</string>"),
            "{text}"
        );
    }

    #[test]
    fn unit_places_follow_xdg_config_home() {
        let home = Path::new("/home/me");
        assert_eq!(
            Manager::Systemd.unit_path(home, None),
            Path::new("/home/me/.config/systemd/user/taskmuxd.service")
        );
        assert_eq!(
            Manager::Systemd.unit_path(home, Some(Path::new("/x/cfg"))),
            Path::new("/x/cfg/systemd/user/taskmuxd.service")
        );
        // a relative XDG_CONFIG_HOME is invalid by the spec: ignored
        assert_eq!(
            Manager::Systemd.unit_path(home, Some(Path::new("cfg"))),
            Path::new("/home/me/.config/systemd/user/taskmuxd.service")
        );
        assert_eq!(
            Manager::Launchd.unit_path(home, None),
            Path::new("/home/me/Library/LaunchAgents/dev.taskmux.taskmuxd.plist")
        );
    }
}
