//! `taskmux dns serve` and the `taskmux-dns` binary: the DNS responder in the foreground,
//! following `dns_managed_tld` in the global config while it runs, until SIGINT or SIGTERM.

use super::render::Out;
use super::{Globals, context, flag_value};
use crate::config::GlobalConfig;
use crate::dns::{self, Zone};
use crate::error::{Error, Result};
use lexopt::prelude::*;
use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, SystemTime};

/// How often the global config's modification time is looked at.
const CONFIG_POLL: Duration = Duration::from_secs(1);

/// The flags of `serve`, as given.
#[derive(Debug, Default)]
pub(super) struct ServeFlags {
    bind: Option<IpAddr>,
    port: Option<u16>,
    tld: Option<String>,
    allow_remote: bool,
}

/// Entry point of the `taskmux-dns` binary: `taskmux dns serve`.
pub fn dns_main(args: Vec<OsString>) -> ExitCode {
    let json = args.iter().take_while(|a| *a != "--").any(|a| a == "--json");
    let out = Out::new(json);
    let result = super::split_globals(args).and_then(|(g, rest)| {
        if g.help {
            out.print(&help());
            return Ok(0);
        }
        if g.version {
            out.line(&format!("taskmux-dns {}", super::VERSION));
            return Ok(0);
        }
        serve(&g, parse(rest)?, &out, "taskmux-dns")
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            super::render::print_error(&out, "taskmux-dns", &e);
            ExitCode::from(e.exit_code())
        }
    }
}

/// `taskmux-dns --help`.
fn help() -> String {
    format!(
        "taskmux-dns {}: answers the managed TLD (default localhost) and every name under it\n\
         with 127.0.0.1 and ::1, over UDP and TCP\n\n\
         Usage: taskmux-dns [--bind ADDR] [--port PORT] [--tld TLD] [--allow-remote] [--json]\n\n\
         Options:\n{}\n\
         The defaults of --port and --tld are dns_server_port and dns_managed_tld of\n\
         $TASKMUX_HOME/config.toml, which is followed while it runs. Stops on SIGINT or SIGTERM.\n",
        super::VERSION,
        super::flags::help_lines(super::flags::DNS_SERVE)
    )
}

/// Reads the flags of `serve`.
pub(super) fn parse(args: Vec<OsString>) -> Result<ServeFlags> {
    let mut f = ServeFlags::default();
    let mut p = lexopt::Parser::from_args(args);
    while let Some(arg) = p.next().map_err(|e| Error::usage(e.to_string()))? {
        match arg {
            Long("bind") => {
                let v = flag_value(&mut p)?;
                let ip = v.trim_start_matches('[').trim_end_matches(']');
                f.bind = Some(ip.parse().map_err(|_| {
                    Error::usage(format!(
                        "--bind takes an IP address such as 127.0.0.1 or ::1, not {v:?}"
                    ))
                })?);
            }
            Long("port") => {
                let v = flag_value(&mut p)?;
                f.port = Some(v.parse().map_err(|_| {
                    Error::usage(format!("--port takes a port from 0 (any free one) to 65535, not {v:?}"))
                })?);
            }
            Long("tld") => f.tld = Some(flag_value(&mut p)?),
            Long("allow-remote") => f.allow_remote = true,
            Value(v) => {
                return Err(Error::usage(format!(
                    "dns serve takes no arguments, got unexpected argument {v:?}"
                )));
            }
            Long(l) => return Err(Error::usage(format!("unknown flag --{l} for dns serve"))),
            Short(c) => return Err(Error::usage(format!("unknown flag -{c} for dns serve"))),
        }
    }
    Ok(f)
}

/// The responder in this process until SIGINT or SIGTERM (exit 0). SIGHUP reads the global
/// config again at once.
pub(super) fn serve(g: &Globals, f: ServeFlags, out: &Out, prog: &'static str) -> Result<u8> {
    let home = context(g)?.home;
    // the stamp before the read: a save from then on is seen as a change and applied, even
    // one that lands while the sockets are being bound
    let path = GlobalConfig::path(&home);
    let mut seen = stamp(&path);
    let global = GlobalConfig::load(&home)?;
    let addr = SocketAddr::new(
        f.bind.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        f.port.unwrap_or(global.dns_server_port),
    );
    dns::check_bind(addr, f.allow_remote)?;
    let tld = f.tld.clone().unwrap_or_else(|| global.dns_managed_tld.clone());
    let zone = Arc::new(Zone::new(&tld).map_err(|e| Error::usage(format!("--tld: {}", e.message())))?);
    let log: Arc<dyn Fn(&str) + Send + Sync> = Arc::new(move |m: &str| {
        let _ = std::io::Write::write_all(&mut std::io::stderr(), format!("{prog}: {m}\n").as_bytes());
    });
    // SIGINT and SIGTERM stop it, SIGHUP reads the config now
    let signals = crate::signals::channel(&[crate::signals::SIGINT, crate::signals::SIGTERM, crate::signals::SIGHUP])?;
    let mut server = dns::serve(addr, zone.clone(), log.clone()).map_err(|e| dns::serve_error(addr, &e))?;
    let at = server.local_addr();
    if out.json {
        out.json(
            &serde_json::json!({"ok": true, "action": "serving", "addr": at.to_string(),
            "port": at.port(), "tld": zone.tld()}),
        );
    } else {
        log(&format!(
            "answering {0} and *.{0} on {at} (udp and tcp) with 127.0.0.1 and ::1",
            zone.tld()
        ));
    }
    if !at.ip().is_loopback() {
        log("warning: not a loopback address: other machines can ask (--allow-remote)");
    }
    let mut port = global.dns_server_port;
    loop {
        let hup = match signals.recv_timeout(CONFIG_POLL) {
            Ok(crate::signals::SIGHUP) => true,
            Err(RecvTimeoutError::Timeout) => false,
            Ok(_) | Err(RecvTimeoutError::Disconnected) => break,
        };
        let now = stamp(&path);
        if now == seen && !hup {
            continue;
        }
        seen = now;
        follow(&home, &f, &zone, &log, &mut port);
    }
    server.close();
    log("stopped");
    Ok(0)
}

/// The global config's modification time and size, to see that it changed.
fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()))
}

/// Applies the global config to the running server: the TLD (unless `--tld` fixed it);
/// a new port (`port` is the last one seen) is only reported, since the sockets stay where
/// they are.
fn follow(home: &Path, f: &ServeFlags, zone: &Zone, log: &Arc<dyn Fn(&str) + Send + Sync>, port: &mut u16) {
    let global = match GlobalConfig::load(home) {
        Ok(c) => c,
        Err(e) => {
            log(&format!(
                "config not applied, keeping .{}: error[{}]: {}",
                zone.tld(),
                e.code(),
                e.message()
            ));
            return;
        }
    };
    if f.tld.is_none() {
        match zone.set_tld(&global.dns_managed_tld) {
            Ok(true) => log(&format!("now answering {0} and *.{0}", zone.tld())),
            Ok(false) => {}
            Err(e) => log(&format!("dns_managed_tld not applied: {}", e.message())),
        }
    }
    if f.port.is_none() && global.dns_server_port != *port {
        *port = global.dns_server_port;
        log(&format!(
            "dns_server_port is now {port}: restart the server to listen there"
        ));
    }
}
