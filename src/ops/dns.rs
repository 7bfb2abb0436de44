//! `dns_status` and `dns_query`: how names resolve here, and one question to a DNS server.
//! Setting the resolver up (`dns install`) changes the system and stays the CLI's.

use super::Ctx;
use crate::config::GlobalConfig;
use crate::dns::{self, Os, Reply, System};
use crate::error::{Error, Result};
use crate::unit::SystemRunner;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// How long `dns_query` waits for the answer.
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// Params of `dns_status`: the system to look at (tests point it at a scratch root).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StatusParams {
    /// The directory that stands for `/` (`TASKMUX_SYSTEM_ROOT`).
    pub system_root: Option<PathBuf>,
    /// Whose layout it has (`TASKMUX_TEST_OS`): `linux` or `macos`.
    pub os: Option<Os>,
}

/// Params of `dns_query`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueryParams {
    /// The name asked for.
    pub name: String,
    /// The record type (`A`, `AAAA`, `MX`, `TYPE65`); `A` when none.
    #[serde(rename = "type")]
    pub qtype: Option<String>,
    /// The server (`ADDR:PORT`); the DNS server of `dns_server_port` on 127.0.0.1 when none.
    pub server: Option<String>,
}

/// `dns_query`: the server's reply, `ok` first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Queried {
    /// Always true: no answer is an error.
    pub ok: bool,
    /// The reply.
    #[serde(flatten)]
    pub reply: Reply,
}

/// `dns_status`: how names resolve, and what to fix.
pub fn status(ctx: &Ctx, p: StatusParams) -> Result<dns::Status> {
    let home = super::ca::absolute_home(ctx);
    let global = GlobalConfig::load(&home)?;
    let root = dns::system_root(p.system_root)?;
    let runner = SystemRunner {
        path: ctx.var("PATH").map(str::to_string),
    };
    let sys = System {
        root,
        os: p.os.unwrap_or_else(Os::native),
        runner: &runner,
    };
    let names = dns::registered_names(&home, &global)?;
    let server = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), global.dns_server_port);
    Ok(dns::status(&sys, &global, &names, server))
}

/// `dns_query`: asks the server over UDP; no answer is E643.
pub fn query(ctx: &Ctx, p: QueryParams) -> Result<Queried> {
    if p.name.is_empty() {
        return Err(Error::usage("dns query takes a NAME, such as api.myapp.localhost"));
    }
    let qtype = match &p.qtype {
        None => 1,
        Some(t) => dns::type_code(t).ok_or_else(|| {
            Error::usage(format!(
                "--type takes a record type such as A, AAAA, MX, TXT or TYPE65, not {t:?}"
            ))
        })?,
    };
    let server = match &p.server {
        Some(s) => parse_server(s)?,
        None => {
            let port = GlobalConfig::load(&ctx.home)?.dns_server_port;
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
        }
    };
    Ok(Queried {
        ok: true,
        reply: dns::ask(server, &p.name, qtype, QUERY_TIMEOUT)?,
    })
}

/// `--server`: `ADDR:PORT`, `[V6]:PORT`, or an address alone (port 53).
fn parse_server(s: &str) -> Result<SocketAddr> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = s.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    Err(Error::usage(format!(
        "--server takes ADDR:PORT such as 127.0.0.1:5454, not {s:?}"
    )))
}
