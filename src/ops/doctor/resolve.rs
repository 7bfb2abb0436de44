//! doctor's check of one host name: does it reach loopback, through the OS resolver (or,
//! under a scratch root, the files that feed it) and through our DNS server?

use super::{Check, World};
use crate::config::HostResolver;
use std::net::{IpAddr, ToSocketAddrs};

/// The name check for one host.
pub fn check(w: &World, host: &str) -> Check {
    let name = format!("resolve {host}");
    let probe = host.replace("*.", "wildcard-probe.");
    let os = if w.scratch {
        from_files(w, &probe)
    } else {
        from_os(&probe)
    };
    let server = match w.global.host_resolver {
        HostResolver::DnsServer => Some(our_server(w, &probe)),
        _ => None,
    };
    match (os, server) {
        (Ok(os), None | Some(Ok(_))) => {
            let by_server = if w.global.host_resolver == HostResolver::DnsServer {
                format!("; our server on 127.0.0.1:{} answers", w.global.dns_server_port)
            } else {
                String::new()
            };
            Check::ok(name, format!("{os}{by_server}"))
        }
        (_, Some(Err(e))) => Check::fail(
            name,
            e,
            "taskmux daemon restart (it serves DNS when host_resolver = \"dns_server\"), or taskmux dns serve",
        ),
        (Err(e), _) => Check::fail(name, e, fix(w)),
    }
}

fn fix(w: &World) -> String {
    match w.global.host_resolver {
        HostResolver::Noop => {
            "set a resolver: taskmux config set host_resolver etc_hosts (or dns_server), then sudo taskmux dns install"
                .into()
        }
        _ => "sudo taskmux dns install (then taskmux dns flush)".into(),
    }
}

/// getaddrinfo: the name must give a loopback address.
fn from_os(name: &str) -> Result<String, String> {
    match (name, 443).to_socket_addrs() {
        Ok(addrs) => {
            let ips: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
            if ips.iter().any(IpAddr::is_loopback) {
                Ok(format!("the OS resolves it to {}", ips[0]))
            } else {
                Err(format!("the OS resolves it to {ips:?}, not to loopback"))
            }
        }
        Err(e) => Err(format!("the OS does not resolve it: {e}")),
    }
}

/// Under a scratch root: what the installed resolver files say.
fn from_files(w: &World, name: &str) -> Result<String, String> {
    match w.global.host_resolver {
        HostResolver::EtcHosts => {
            let listed = crate::dns::hosts::listed(&w.root)
                .ok()
                .flatten()
                .is_some_and(|names| names.iter().any(|n| n == name));
            if listed {
                Ok("listed in the managed block of /etc/hosts".into())
            } else {
                Err("not in the managed block of /etc/hosts".into())
            }
        }
        HostResolver::DnsServer => {
            let tld = &w.global.dns_managed_tld;
            let dropin = w.sys("/etc/systemd/resolved.conf.d/taskmux.conf");
            let mac = w.sys("/etc/resolver").join(tld);
            if dropin.exists() || mac.exists() {
                Ok(format!("the OS resolver delegates {tld} to our server"))
            } else {
                Err(format!("no resolver delegation for {tld} is installed"))
            }
        }
        HostResolver::Noop => Err("host_resolver is noop: nothing makes the name resolve".into()),
    }
}

/// Our DNS server's answer.
fn our_server(w: &World, name: &str) -> Result<(), String> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], w.global.dns_server_port));
    match crate::dns::ask(addr, name, 1, std::time::Duration::from_secs(2)) {
        Ok(a) if a.rcode == "NOERROR" && !a.answers.is_empty() => Ok(()),
        Ok(a) => Err(format!("our server on {addr} answered {} with no address", a.rcode)),
        Err(e) => Err(format!("our server on {addr} does not answer: {}", e.message())),
    }
}
