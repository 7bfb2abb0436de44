//! The system `dns install` works on: its root (`/`, or a scratch directory standing for it
//! in tests), which operating system's layout to use, and the door to the commands that
//! reload or flush the OS resolver, which are never run under a scratch root.

pub use crate::os::Os;
use crate::unit::Runner;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The directory that stands for `/`: `system_root` (`TASKMUX_SYSTEM_ROOT`, a scratch
/// directory in tests) when given, else `/`. A relative path or one that is not a
/// directory is refused: a typo must not send writes to the real system.
pub fn root(system_root: Option<PathBuf>) -> crate::error::Result<PathBuf> {
    match system_root {
        None => Ok(PathBuf::from("/")),
        Some(r) if r.is_absolute() && r.is_dir() => Ok(r),
        Some(r) => Err(crate::error::Error::invalid(format!(
            "TASKMUX_SYSTEM_ROOT={} must be an absolute path to a directory",
            r.display()
        ))
        .hint("unset it to work on the system itself")),
    }
}

/// `TASKMUX_SYSTEM_ROOT` as this process was given it (unset or empty: none).
pub fn root_var() -> Option<PathBuf> {
    std::env::var_os("TASKMUX_SYSTEM_ROOT")
        .filter(|r| !r.is_empty())
        .map(PathBuf::from)
}

/// `TASKMUX_TEST_OS` as this process was given it: the layout a test asks for.
pub fn os_var() -> crate::error::Result<Option<Os>> {
    match std::env::var("TASKMUX_TEST_OS").ok().filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => Os::parse(&v).map(Some).ok_or_else(|| {
            crate::error::Error::invalid(format!("TASKMUX_TEST_OS={v} must be linux or macos")).hint("fix or unset it")
        }),
    }
}

/// Where and how system changes are made.
pub struct System<'a> {
    /// The directory that stands for `/`: `/` itself on a real system.
    pub root: PathBuf,
    /// Whose layout to use.
    pub os: Os,
    /// How `systemctl`, `resolvectl`, `dscacheutil` and `killall` are run.
    pub runner: &'a dyn Runner,
}

/// A system command `dns` ran, or would have run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommandRun {
    /// The command and its arguments.
    pub command: Vec<String>,
    /// Whether it was run (never under a scratch root).
    pub ran: bool,
    /// Whether it ran and exited 0.
    pub ok: bool,
    /// What it said when it failed, or why it was not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What `dns flush` did.
#[derive(Debug, Clone, Serialize)]
pub struct Flushed {
    /// Whose resolver.
    pub os: Os,
    /// The commands, in order.
    pub commands: Vec<CommandRun>,
}

impl System<'_> {
    /// Whether the root is a scratch directory rather than the system's `/`.
    pub fn scratch(&self) -> bool {
        self.root != Path::new("/")
    }

    /// The path of the system's `abs` (such as `/etc/hosts`) under the root.
    pub fn path(&self, abs: &str) -> PathBuf {
        self.root.join(abs.trim_start_matches('/'))
    }

    /// Runs a system command, or under a scratch root records that it was not run.
    pub(super) fn run(&self, argv: &[&str]) -> CommandRun {
        let command: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        if self.scratch() {
            return CommandRun {
                command,
                ran: false,
                ok: false,
                note: Some(format!(
                    "the system root is the scratch directory {} (TASKMUX_SYSTEM_ROOT)",
                    self.root.display()
                )),
            };
        }
        let o = self.runner.run(argv[0], &command[1..]);
        let said = if o.stderr.trim().is_empty() { o.stdout } else { o.stderr };
        CommandRun {
            command,
            ran: true,
            ok: o.ok,
            note: (!o.ok).then(|| said.trim().to_string()),
        }
    }
}

/// `dns flush`: empties the OS resolver's cache (`resolvectl flush-caches`; on macOS
/// `dscacheutil -flushcache` and `killall -HUP mDNSResponder`). Under a scratch root
/// nothing is run, and the result says so.
pub fn flush(sys: &System) -> Flushed {
    let commands = match sys.os {
        Os::Linux => vec![sys.run(&["resolvectl", "flush-caches"])],
        Os::Macos => vec![
            sys.run(&["dscacheutil", "-flushcache"]),
            sys.run(&["killall", "-HUP", "mDNSResponder"]),
        ],
    };
    Flushed { os: sys.os, commands }
}
