//! `taskmux dns status`: which resolver is configured, whether it is installed, whether our
//! server answers (a real query), and whether the OS resolves a registered name, each with
//! the fix when it is not so.

use super::hosts;
use super::install::{is_ours, resolver_file, resolver_name, resolver_text};
use super::system::{Os, System};
use crate::config::{GlobalConfig, HostResolver};
use serde::Serialize;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// As it should be.
    Ok,
    /// Works, but not as configured, or could not be tried.
    Warn,
    /// Names will not resolve until it is fixed.
    Fail,
}

/// One line of `dns status`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Check {
    /// `resolver`, `installed`, `systemd_resolved`, `server` or `resolution`.
    pub name: String,
    /// How it came out.
    pub status: CheckStatus,
    /// What was found.
    pub detail: String,
    /// What to do when it is not ok.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// Everything `dns status` found.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Status {
    /// No check failed.
    pub ok: bool,
    /// The configured resolver.
    pub resolver: HostResolver,
    /// Whose layout.
    pub os: Os,
    /// The managed TLD.
    pub tld: String,
    /// The DNS server's port.
    pub port: u16,
    /// The resolver's file or block is in place (always true for `noop`).
    pub installed: bool,
    /// Each check, in order.
    pub checks: Vec<Check>,
}

fn check(name: &'static str, status: CheckStatus, detail: String, fix: Option<String>) -> Check {
    Check {
        name: name.to_string(),
        status,
        detail,
        fix,
    }
}

/// Looks at the system under `sys` for the global config: `names` are the registered host
/// names (the first is looked up through the OS), `server` where our DNS server should
/// answer.
pub fn status(sys: &System, global: &GlobalConfig, names: &[String], server: SocketAddr) -> Status {
    let tld = global.dns_managed_tld.clone();
    let resolver = global.host_resolver;
    let mut checks = vec![check(
        "resolver",
        CheckStatus::Ok,
        format!("host_resolver = \"{}\", TLD .{tld}", resolver_name(resolver)),
        None,
    )];
    let installed = match resolver {
        HostResolver::Noop => {
            checks.push(check(
                "installed",
                CheckStatus::Ok,
                "nothing to install: names are left to the system".into(),
                None,
            ));
            true
        }
        HostResolver::DnsServer => {
            let (c, installed) = file_check(sys, global);
            checks.push(c);
            if sys.os == Os::Linux {
                checks.push(resolved_check(sys));
            }
            checks.push(server_check(server, &tld));
            installed
        }
        HostResolver::EtcHosts => {
            let (c, installed) = block_check(sys, names);
            checks.push(c);
            installed
        }
    };
    checks.push(resolution_check(resolver, names, &tld));
    Status {
        ok: checks.iter().all(|c| c.status != CheckStatus::Fail),
        resolver,
        os: sys.os,
        tld,
        port: global.dns_server_port,
        installed,
        checks,
    }
}

/// The fix for a resolver that is not installed.
fn install_fix(sys: &System) -> Option<String> {
    Some(format!(
        "{}taskmux dns install",
        if sys.scratch() { "" } else { "sudo " }
    ))
}

/// `dns_server`: the resolver file is ours and current; and whether it is there.
fn file_check(sys: &System, global: &GlobalConfig) -> (Check, bool) {
    use CheckStatus::{Fail, Ok, Warn};
    let file = resolver_file(sys, sys.os, &global.dns_managed_tld);
    let want = resolver_text(sys.os, &global.dns_managed_tld, global.dns_server_port);
    let (status, detail, fix, installed) = match hosts::read(&file) {
        Result::Ok(Some(b)) if b == want.as_bytes() => (Ok, format!("{} is in place", file.display()), None, true),
        Result::Ok(Some(b)) if is_ours(&b) => (
            Warn,
            format!("{} is from another port or TLD", file.display()),
            install_fix(sys),
            true,
        ),
        Result::Ok(Some(_)) => (
            Fail,
            format!("{} is there but was not written by taskmux", file.display()),
            Some("move it away, then 'taskmux dns install'".into()),
            false,
        ),
        Result::Ok(None) => (Fail, format!("{} is missing", file.display()), install_fix(sys), false),
        Err(e) => (Fail, e.message(), None, false),
    };
    (check("installed", status, detail, fix), installed)
}

/// Linux `dns_server`: systemd-resolved runs, so the drop-in is read.
fn resolved_check(sys: &System) -> Check {
    let run = sys.path("/run/systemd/resolve");
    if run.is_dir() {
        return check(
            "systemd_resolved",
            CheckStatus::Ok,
            "systemd-resolved is in use".into(),
            None,
        );
    }
    check(
        "systemd_resolved",
        CheckStatus::Fail,
        format!(
            "systemd-resolved is not in use ({} is missing): the drop-in is not read",
            run.display()
        ),
        Some("use host_resolver = \"etc_hosts\", or point your resolver at 127.0.0.1 for the TLD".into()),
    )
}

/// `etc_hosts`: the block is there and lists the registered names; and whether it is there.
fn block_check(sys: &System, names: &[String]) -> (Check, bool) {
    use CheckStatus::{Fail, Ok, Warn};
    let file = hosts::path(&sys.root);
    let plain: Vec<String> = names.iter().filter(|n| !n.contains('*')).cloned().collect();
    let (status, detail, fix, installed) = match hosts::listed(&sys.root) {
        Result::Ok(Some(listed)) if listed == plain => (
            Ok,
            format!("the block in {} lists {} name(s)", file.display(), listed.len()),
            None,
            true,
        ),
        Result::Ok(Some(listed)) => (
            Warn,
            format!(
                "the block in {} lists {} name(s), and {} are registered",
                file.display(),
                listed.len(),
                plain.len()
            ),
            Some("the daemon refreshes it; or run 'taskmux dns install' again".into()),
            true,
        ),
        Result::Ok(None) => (
            Fail,
            format!("{} has no taskmux block", file.display()),
            install_fix(sys),
            false,
        ),
        Err(e) => (Fail, e.message(), e.hint.clone(), false),
    };
    (check("installed", status, detail, fix), installed)
}

/// A real query for the TLD to our server.
fn server_check(server: SocketAddr, tld: &str) -> Check {
    match super::query::ask(server, tld, 1, Duration::from_millis(1000)) {
        Ok(r) if r.rcode == "NOERROR" && r.answers.iter().any(|a| a.data == "127.0.0.1") => check(
            "server",
            CheckStatus::Ok,
            format!("{server} answers {tld} with 127.0.0.1 ({:.1} ms)", r.time_ms),
            None,
        ),
        Ok(r) => check(
            "server",
            CheckStatus::Fail,
            format!(
                "{server} answers {tld} with {} and {} record(s): is it another server?",
                r.rcode,
                r.answers.len()
            ),
            Some("stop what listens there, or set dns_server_port to a free port".into()),
        ),
        Err(e) => check(
            "server",
            CheckStatus::Fail,
            e.message(),
            Some("start it: 'taskmux dns serve', or the daemon ('taskmux daemon start')".into()),
        ),
    }
}

/// Whether the OS resolves a registered name (the first) to loopback.
fn resolution_check(resolver: HostResolver, names: &[String], tld: &str) -> Check {
    let fallback = (resolver == HostResolver::DnsServer).then(|| format!("taskmux-status.{tld}"));
    let Some(name) = names.iter().find(|n| !n.contains('*')).cloned().or(fallback) else {
        return check(
            "resolution",
            CheckStatus::Warn,
            "no registered host name to look up (no task with host = \"...\")".into(),
            None,
        );
    };
    let fix = match resolver {
        HostResolver::Noop => {
            "set host_resolver ('taskmux config set host_resolver etc_hosts'), then 'taskmux dns install'"
        }
        HostResolver::EtcHosts => "run 'taskmux dns install' (the hosts block), then 'taskmux dns flush'",
        HostResolver::DnsServer => "check the checks above, then 'taskmux dns flush'",
    };
    match (name.as_str(), 0u16).to_socket_addrs() {
        Ok(addrs) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            let shown: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
            if !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()) {
                check(
                    "resolution",
                    CheckStatus::Ok,
                    format!("{name} resolves to {}", shown.join(", ")),
                    None,
                )
            } else {
                check(
                    "resolution",
                    CheckStatus::Fail,
                    format!("{name} resolves to {}, not loopback", shown.join(", ")),
                    Some(fix.into()),
                )
            }
        }
        Err(e) => check(
            "resolution",
            CheckStatus::Fail,
            format!("{name} does not resolve: {e}"),
            Some(fix.into()),
        ),
    }
}
