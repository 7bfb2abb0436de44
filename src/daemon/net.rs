//! The daemon's network services besides the API: the HTTPS proxy (its listeners bound by
//! the front before any privilege drop, its certificates from the local CA, its routes from
//! the registry) and, when `host_resolver = "dns_server"`, the DNS server; plus the managed
//! `/etc/hosts` block kept in step with the registered hosts.

use super::{Front, Shared};
use crate::config::{GlobalConfig, HostResolver};
use crate::supervision::ServiceStatus;
use crate::sync::guard;
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
    *guard(&shared.dns_zone) = Some(zone.clone());
    match crate::dns::serve(addr, zone, logger(shared, "dns")) {
        Ok(server) => {
            shared
                .log
                .line(&format!("dns: answering *.{} on {addr} (udp, tcp)", g.dns_managed_tld));
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
    // the root the daemon was started with (a scratch one in tests): never the real
    // /etc/hosts when it names another
    let Ok(root) = crate::dns::system_root(crate::dns::root_var()) else {
        return false;
    };
    let root = root.as_path();
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
                shared.log.line(&format!(
                    "/etc/hosts: the managed block now lists {} names",
                    names.len()
                ));
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

/// The proxy's listeners as the front bound them: None when the proxy is off.
pub type Bound = Option<std::io::Result<crate::proxy::Listeners>>;

/// Binds the proxy's ports from the global config (before any privilege drop).
pub fn bind_proxy(g: &GlobalConfig) -> Bound {
    g.proxy_enabled
        .then(|| crate::proxy::bind(proxy_addr(g), g.proxy_https_port, g.proxy_http_port))
}

/// The routes as the proxy asks for them.
struct DaemonRouter(std::sync::Weak<Shared>);

impl crate::proxy::Router for DaemonRouter {
    fn route(&self, host: &str) -> crate::proxy::Route {
        use super::routes::Lookup;
        use crate::proxy::Route;
        let Some(s) = self.0.upgrade() else {
            return Route::Unknown {
                project: None,
                hosts: Vec::new(),
                registered: Vec::new(),
            };
        };
        match s.routes.lookup(&s, host) {
            Lookup::Task {
                session,
                task,
                port: Some(port),
                addr,
            } => Route::Upstream {
                port,
                addr,
                session,
                task,
            },
            Lookup::Task {
                session,
                task,
                port: None,
                ..
            } => {
                let state = self.state(&session, &task);
                Route::Down { session, task, state }
            }
            Lookup::Unknown { project, hosts } => Route::Unknown {
                project,
                hosts,
                // for the 503 page: what is registered, and what is started
                registered: crate::registry::Registry::load(&s.base.home)
                    .map(|r| {
                        r.projects
                            .iter()
                            .map(|(name, e)| (name.clone(), e.desired == crate::registry::Desired::Up))
                            .collect()
                    })
                    .unwrap_or_default(),
            },
        }
    }

    fn state(&self, session: &str, task: &str) -> String {
        if session.is_empty() {
            return format!("an alias taskmux does not run ('taskmux alias remove {task}' drops it)");
        }
        let Some(s) = self.0.upgrade() else {
            return "unknown".into();
        };
        let Some(p) = guard(&s.projects).get(session).cloned() else {
            return "not registered".into();
        };
        match crate::ops::handle(&p.ctx(), crate::ops::Request::Status) {
            crate::ops::Response::Status(st) => st
                .tasks
                .iter()
                .find(|t| t.name == task)
                .map_or_else(|| "not in the config".into(), |t| t.state.as_str().to_string()),
            _ => "unknown".into(),
        }
    }
}

/// The proxy, closed with the daemon.
struct ProxyFront(crate::proxy::Proxy);

impl Front for ProxyFront {
    fn close(&self) {
        self.0.close();
    }
}

/// Starts the proxy on what the front bound, with certificates from the local CA (or
/// mkcert's), noting how it went in `shared.proxy`.
pub fn start_proxy(shared: &Arc<Shared>, bound: Bound) -> Option<Box<dyn Front>> {
    let g: GlobalConfig = guard(&shared.global).clone();
    let listeners = match bound {
        None => {
            *guard(&shared.proxy) = ServiceStatus::off("proxy_enabled = false");
            return None;
        }
        Some(Err(e)) => {
            let fix = if e.kind() == std::io::ErrorKind::PermissionDenied {
                crate::ops::doctor::privileged_port_fix()
            } else {
                format!(
                    "free the port (taskmux doctor says who holds it), or taskmux config set proxy_https_port {}",
                    if g.proxy_https_port == 443 {
                        8443
                    } else {
                        g.proxy_https_port.saturating_add(1)
                    }
                )
            };
            shared.log.line(&format!("proxy: down: {e}"));
            *guard(&shared.proxy) = ServiceStatus::down(e.to_string(), Some(fix));
            return None;
        }
        Some(Ok(l)) => l,
    };
    let ctx = &shared.base;
    let mkcert = crate::certs::mkcert_root(
        ctx.var("CAROOT").map(std::ffi::OsStr::new),
        ctx.var("PATH").map(std::ffi::OsStr::new),
    );
    let ca = match crate::certs::Authority::load_or_create(&ctx.home, &g.dns_managed_tld, mkcert.as_deref()) {
        Ok(ca) => Arc::new(ca),
        Err(e) => {
            shared.log.line(&format!("proxy: down: the CA: {}", e.message()));
            *guard(&shared.proxy) = ServiceStatus::down(
                format!("the CA cannot be used: {}", e.message()),
                e.hint.clone().or_else(|| Some("taskmux ca path".into())),
            );
            return None;
        }
    };
    let resolver = Arc::new(crate::certs::SniResolver::new(ca, g.dns_managed_tld.clone()));
    let opts = crate::proxy::Options {
        https_port: g.proxy_https_port,
        upstream_timeout: g.upstream_timeout(),
        ..Default::default()
    };
    let router = Arc::new(DaemonRouter(Arc::downgrade(shared)));
    let proxy = crate::proxy::serve(
        listeners,
        crate::proxy::tls_config(resolver),
        router,
        opts,
        logger(shared, "proxy"),
    );
    let listen = proxy.listening();
    shared.log.line(&format!("proxy: serving on {}", listen.join(", ")));
    if !proxy_addr(&g).is_loopback() {
        shared.log.line(&format!(
            "proxy: warning: proxy_bind = {} is not loopback: other machines can reach every task with a host",
            g.proxy_bind
        ));
    }
    *guard(&shared.proxy) = ServiceStatus::up(listen);
    Some(Box::new(ProxyFront(proxy)))
}
