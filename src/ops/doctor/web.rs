//! doctor's checks of the way to a URL: the CA and its trust, each host's certificate,
//! each host's name, the proxy, and its port.

use super::{Check, World};
use serde_json::Value;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// Every check of the web layer.
pub fn checks(w: &World, daemon_up: bool) -> Vec<Check> {
    let mut out = Vec::new();
    let hosts = registered_hosts(w);
    out.extend(super::names::checks(w, &hosts));
    out.push(proxy(w, daemon_up));
    out.push(https_port(w, daemon_up));
    out
}

/// The host names of every registered project's tasks with a `host` (`*` as `*.p.tld`).
pub fn registered_hosts(w: &World) -> Vec<String> {
    let Ok(reg) = crate::registry::Registry::load(&w.ctx.home) else {
        return Vec::new();
    };
    let tld = &w.global.dns_managed_tld;
    let mut names = Vec::new();
    for (name, e) in &reg.projects {
        let Ok(p) = crate::config::load(&e.config_path) else {
            continue;
        };
        for t in &p.tasks {
            match t.host.as_deref() {
                Some("@") => names.push(format!("{name}.{tld}")),
                Some(h) => names.push(format!("{h}.{name}.{tld}")),
                None => {}
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

fn daemon_status(w: &World) -> Option<Value> {
    crate::client::request(
        &w.ctx.home,
        &serde_json::to_value(crate::ops::Request::DaemonStatus).unwrap_or_default(),
        Duration::from_secs(5),
    )
    .ok()
}

/// The proxy: bound (as the daemon says) and answering a TCP connect.
fn proxy(w: &World, daemon_up: bool) -> Check {
    if !w.global.proxy_enabled {
        return Check::ok("proxy", "off (proxy_enabled = false)");
    }
    if !daemon_up {
        return Check::fail(
            "proxy",
            "the daemon is not running, so no proxy serves the URLs",
            "taskmux daemon start",
        );
    }
    let Some(st) = daemon_status(w) else {
        return Check::fail(
            "proxy",
            "the daemon did not say how its proxy is",
            "taskmux daemon restart",
        );
    };
    let p = &st["proxy"];
    match p["state"].as_str() {
        Some("up") => {
            let port = w.global.proxy_https_port;
            let addr: SocketAddr = match format!("{}:{port}", w.global.proxy_bind).parse() {
                Ok(a) => a,
                Err(_) => {
                    return Check::fail(
                        "proxy",
                        "proxy_bind is not an address",
                        "taskmux config set proxy_bind 127.0.0.1",
                    );
                }
            };
            match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
                Ok(_) => Check::ok("proxy", format!("listening on {addr} and accepting connections")),
                Err(e) => Check::fail(
                    "proxy",
                    format!("the daemon says it listens on {addr}, but a connection fails: {e}"),
                    "taskmux daemon restart",
                ),
            }
        }
        Some("off") => Check::ok("proxy", "off (proxy_enabled = false)"),
        _ => Check::fail(
            "proxy",
            format!("down: {}", p["error"].as_str().unwrap_or("no reason given")),
            p["fix"].as_str().unwrap_or("taskmux daemon restart").to_string(),
        ),
    }
}

/// The proxy's https port: ours, free to bind, or taken (by whom), or privileged.
fn https_port(w: &World, daemon_up: bool) -> Check {
    let port = w.global.proxy_https_port;
    let name = format!("port {port}");
    let ours = daemon_up
        && crate::lock::running_pid(&w.ctx.home).is_some_and(|pid| crate::proc::listeners(port).contains(&pid));
    if ours {
        return Check::ok(name, "bound by taskmuxd");
    }
    let addr = format!("{}:{port}", w.global.proxy_bind);
    match TcpListener::bind(&addr) {
        Ok(_) => Check::ok(name, format!("{addr} can be bound")),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            let who: Vec<String> = crate::proc::listeners(port)
                .into_iter()
                .map(|pid| {
                    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                    format!("{} (pid {pid})", comm.trim())
                })
                .collect();
            let by = if who.is_empty() {
                "a process of another user".to_string()
            } else {
                who.join(", ")
            };
            Check::fail(
                name,
                format!("{addr} is taken by {by}"),
                "stop it, or move the proxy: taskmux config set proxy_https_port 8443",
            )
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Check::fail(
            name,
            format!("cannot bind {addr}: permission denied (ports below 1024 need privilege)"),
            privileged_port_fix(),
        ),
        Err(e) => Check::fail(
            name,
            format!("cannot bind {addr}: {e}"),
            "check proxy_bind: taskmux config show",
        ),
    }
}

/// The ways to let the proxy bind a privileged port.
pub fn privileged_port_fix() -> String {
    "sudo setcap cap_net_bind_service=+ep \"$(command -v taskmuxd)\"; or sudo sysctl \
     net.ipv4.ip_unprivileged_port_start=443; or start the daemon with sudo (it drops to you \
     after binding); or taskmux config set proxy_https_port 8443"
        .into()
}
