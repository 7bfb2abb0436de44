//! The daemon's network services besides the API: the HTTPS proxy (its listeners bound by
//! the front before any privilege drop, its certificates from the local CA, its routes from
//! the registry) and, when `host_resolver = "dns_server"`, the DNS server; plus the managed
//! `/etc/hosts` block kept in step with the registered hosts.

use super::{Front, ServiceStatus, Shared, guard};
use crate::config::{GlobalConfig, HostResolver};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

/// A logger for a service: lines into daemon.log.
fn logger(shared: &Arc<Shared>, what: &'static str) -> Arc<dyn Fn(&str) + Send + Sync> {
    let s = Arc::downgrade(shared);
    Arc::new(move |line: &str| {
        if let Some(s) = s.upgrade() {
            s.log.line(&format!("{what}: {line}"));
        }
    })
}

/// The DNS server, closed with the daemon.
struct DnsFront(Mutex<crate::dns::DnsServer>);

impl Front for DnsFront {
    fn close(&self) {
        guard(&self.0).close();
    }
}

/// Starts the DNS server when the config asks for it, noting how it went in `shared.dns`.
pub fn start_dns(shared: &Arc<Shared>) -> Option<Box<dyn Front>> {
    let g: GlobalConfig = guard(&shared.global).clone();
    if g.host_resolver != HostResolver::DnsServer {
        *guard(&shared.dns) = ServiceStatus::off("host_resolver is not dns_server");
        return None;
    }
    let addr = SocketAddr::from(([127, 0, 0, 1], g.dns_server_port));
    let zone = match crate::dns::Zone::new(&g.dns_managed_tld) {
        Ok(z) => Arc::new(z),
        Err(e) => {
            *guard(&shared.dns) = ServiceStatus::down(e.message(), None);
            return None;
        }
    };
    match crate::dns::serve(addr, zone, logger(shared, "dns")) {
        Ok(server) => {
            shared.log.line(&format!("dns: answering *.{} on {addr} (udp, tcp)", g.dns_managed_tld));
            *guard(&shared.dns) = ServiceStatus::up(vec![format!("udp://{addr}"), format!("tcp://{addr}")]);
            Some(Box::new(DnsFront(Mutex::new(server))))
        }
        Err(e) => {
            let msg = format!("cannot bind {addr}: {e}");
            shared.log.line(&format!("dns: {msg}"));
            *guard(&shared.dns) = ServiceStatus::down(
                msg,
                Some(format!(
                    "free port {0} (ss -lunp sport = :{0}) or taskmux config set dns_server_port PORT",
                    g.dns_server_port
                )),
            );
            None
        }
    }
}

/// Keeps the managed block of `/etc/hosts` listing the registered hosts, when the resolver
/// is `etc_hosts`, the block is installed (`taskmux dns install`) and the file is ours to
/// write. Returns whether it wrote.
pub fn sync_hosts(shared: &Arc<Shared>) -> bool {
    if guard(&shared.global).host_resolver != HostResolver::EtcHosts {
        return false;
    }
    let root = std::path::Path::new("/");
    if !matches!(crate::dns::hosts::listed(root), Ok(Some(_))) {
        return false;
    }
    let mut names: Vec<String> = shared
        .routes
        .list(shared)
        .into_iter()
        .map(|r| r.name)
        .filter(|n| !n.starts_with("*."))
        .collect();
    names.sort();
    names.dedup();
    match crate::dns::hosts::sync(root, &names) {
        Ok(wrote) => {
            if wrote {
                shared.log.line(&format!("/etc/hosts: the managed block now lists {} names", names.len()));
            }
            wrote
        }
        Err(_) => false,
    }
}

/// The proxy's bind address from the config (loopback when it does not parse: the config
/// check reports it).
pub fn proxy_addr(g: &GlobalConfig) -> IpAddr {
    g.proxy_bind.parse().unwrap_or(IpAddr::from([127, 0, 0, 1]))
}
