//! The operating system taskmux was built for, as the layouts that differ by it (the DNS
//! resolver, the service manager) name it: the one detection both use.

use serde::{Deserialize, Serialize};

/// An operating system whose layout taskmux knows: whose resolver `dns install` configures,
/// which service manager runs the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Os {
    /// Linux: systemd-resolved (a drop-in in `/etc/systemd/resolved.conf.d/`), systemd.
    Linux,
    /// macOS: `/etc/resolver/<tld>`, read by mDNSResponder; launchd.
    Macos,
}

impl Os {
    /// The system this was built for.
    pub fn native() -> Os {
        if cfg!(target_os = "macos") {
            Os::Macos
        } else {
            Os::Linux
        }
    }

    /// `linux` or `macos` (also `darwin`), as a test may name one.
    pub fn parse(s: &str) -> Option<Os> {
        match s.to_ascii_lowercase().as_str() {
            "linux" => Some(Os::Linux),
            "macos" | "darwin" => Some(Os::Macos),
            _ => None,
        }
    }

    /// `linux` or `macos`.
    pub fn name(self) -> &'static str {
        match self {
            Os::Linux => "linux",
            Os::Macos => "macos",
        }
    }
}
