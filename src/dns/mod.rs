//! Name resolution for the URLs of tasks: the DNS responder (`taskmux-dns`, and the daemon's
//! when `host_resolver = "dns_server"`), the OS resolver set-up behind `taskmux dns install`
//! (a systemd-resolved drop-in, a macOS `/etc/resolver` file, or a managed block in
//! `/etc/hosts`) with its exact uninstall, and a small client for `dns query` and `status`.
//!
//! The responder answers the managed TLD and every name under it with 127.0.0.1 (A) and
//! ::1 (AAAA), other types with no records and the zone's SOA, names outside with REFUSED,
//! and a malformed query with FORMERR. Every place on the system is under a root given by
//! the caller, so tests work in a scratch directory.

use crate::config::GlobalConfig;
use crate::error::{Error, Kind, Result};
use crate::registry::Registry;
use std::net::SocketAddr;
use std::path::Path;

pub mod hosts;
mod install;
mod query;
mod server;
mod status;
mod system;
mod wire;
mod zone;

pub use install::{Uninstalled, install, uninstall};
pub use query::{Reply, ask, type_code};
pub use server::{DnsServer, serve};
pub use status::{CheckStatus, Status, status};
pub use system::{CommandRun, Os, System, flush, os_var, root as system_root, root_var};
pub use zone::Zone;

/// The host names of every registered project's tasks with a `host`, under the global
/// config's TLD: `api.p.localhost` for `host = "api"` in project `p`, `p.localhost` for
/// `"@"`, `*.p.localhost` for `"*"`. Sorted, without duplicates; a project whose config
/// cannot be read is left out (the daemon reports it elsewhere).
pub fn registered_names(home: &Path, global: &GlobalConfig) -> Result<Vec<String>> {
    let registry = Registry::load(home)?;
    let mut names = Vec::new();
    for (project, entry) in &registry.projects {
        let Ok(config) = crate::config::load(&entry.config_path) else {
            continue;
        };
        for host in config.tasks.iter().filter_map(|t| t.host.as_deref()) {
            let name = match host {
                "@" => format!("{project}.{}", global.dns_managed_tld),
                h => format!("{h}.{project}.{}", global.dns_managed_tld),
            };
            if crate::domain::is_domain(name.strip_prefix("*.").unwrap_or(&name), crate::domain::Chars::Host) {
                names.push(name.to_ascii_lowercase());
            }
        }
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// E641 unless `addr` is a loopback address or `allow_remote` says other machines may ask.
pub fn check_bind(addr: SocketAddr, allow_remote: bool) -> Result<()> {
    if addr.ip().is_loopback() || allow_remote {
        return Ok(());
    }
    Err(Kind::DnsNotLoopback { addr: addr.to_string() }.into())
}

/// The error of a [`serve`] that failed: E640 for a port in use (naming UDP or TCP), E700
/// for a privileged port, E642 otherwise.
pub fn serve_error(addr: SocketAddr, e: &std::io::Error) -> Error {
    let text = e.to_string();
    let transport = if text.starts_with("tcp") { "tcp" } else { "udp" };
    match e.kind() {
        std::io::ErrorKind::AddrInUse => Kind::DnsPortInUse {
            addr: addr.to_string(),
            transport,
        }
        .into(),
        std::io::ErrorKind::PermissionDenied => Error::from(Kind::DnsBind {
            addr: addr.to_string(),
            reason: text,
        })
        .hint("ports below 1024 need privilege: use a port such as 5454 (the default)"),
        _ => Error::from(Kind::DnsBind {
            addr: addr.to_string(),
            reason: text,
        })
        .hint("use an address of this machine, such as 127.0.0.1"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_are_loopback_unless_allowed() {
        let addr = |s: &str| s.parse::<SocketAddr>().expect("an address");
        assert!(check_bind(addr("127.0.0.1:5454"), false).is_ok());
        assert!(check_bind(addr("[::1]:5454"), false).is_ok());
        assert!(check_bind(addr("127.0.0.53:53"), false).is_ok());
        assert_eq!(check_bind(addr("0.0.0.0:5454"), false).expect_err("any").code(), "E641");
        assert_eq!(
            check_bind(addr("192.168.1.2:5454"), false).expect_err("lan").code(),
            "E641"
        );
        assert!(check_bind(addr("0.0.0.0:5454"), true).is_ok());
        let busy = std::io::Error::new(std::io::ErrorKind::AddrInUse, "tcp 127.0.0.1:1: in use");
        let e = serve_error(addr("127.0.0.1:1"), &busy);
        assert_eq!(e.code(), "E640");
        assert!(e.message().contains("tcp port"), "{}", e.message());
    }
}
