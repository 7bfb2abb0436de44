//! `taskmux dns serve|install|uninstall|status|flush|query`: the DNS server in the
//! foreground, the OS resolver's set-up and its exact undo, a look at how names resolve,
//! and one question to the server. The system's root (`TASKMUX_SYSTEM_ROOT`, a scratch
//! directory in tests) and its layout (`TASKMUX_TEST_OS`) are read here and passed down.

use super::dns_serve;
use super::render::{Color, Out};
use super::{Globals, View, context, exec, flag_value};
use crate::config::GlobalConfig;
use crate::dns::{self, CheckStatus, CommandRun, Os, System};
use crate::error::{Error, Kind, Result};
use crate::ops::{DnsStatusParams, Queried, QueryParams, Request};
use crate::unit::SystemRunner;
use lexopt::prelude::*;
use serde_json::Value;
use std::ffi::OsString;
use std::path::PathBuf;

pub use dns_serve::dns_main;

/// `taskmux dns SUBCOMMAND …`.
pub fn dns(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let Some(sub) = args.first().map(|a| a.to_string_lossy().into_owned()) else {
        return Err(Error::usage("dns needs a subcommand")
            .hint("dns serve|install|uninstall|status|flush|query NAME; see 'taskmux dns --help'"));
    };
    let rest: Vec<OsString> = args[1..].to_vec();
    match sub.as_str() {
        "serve" => dns_serve::serve(g, dns_serve::parse(rest)?, out, "taskmux"),
        "install" => install(g, rest, out),
        "uninstall" => uninstall(g, rest, out),
        "status" => status(g, rest, out),
        "flush" => flush(g, rest, out),
        "query" => query(g, rest, out),
        other => Err(Error::usage(format!("dns has no subcommand '{other}'"))
            .hint("dns serve|install|uninstall|status|flush|query NAME")),
    }
}

/// The world of the system subcommands: the state directory, the global config, and how
/// to reach the system.
struct World {
    home: PathBuf,
    global: GlobalConfig,
    root: PathBuf,
    os: Os,
    runner: SystemRunner,
}

impl World {
    fn new(g: &Globals, sub: &str, args: Vec<OsString>) -> Result<World> {
        if let Some(a) = args.first() {
            return Err(Error::usage(format!("dns {sub} takes no arguments, got {a:?}")));
        }
        let ctx = context(g)?;
        let home = if ctx.home.is_absolute() {
            ctx.home.clone()
        } else {
            ctx.cwd.join(&ctx.home)
        };
        let root = crate::dns::system_root(crate::dns::root_var())?;
        let os = crate::dns::os_var()?.unwrap_or_else(Os::native);
        Ok(World {
            global: GlobalConfig::load(&home)?,
            home,
            root,
            os,
            runner: SystemRunner {
                path: ctx.var("PATH").map(str::to_string),
            },
        })
    }

    fn system(&self) -> System<'_> {
        System {
            root: self.root.clone(),
            os: self.os,
            runner: &self.runner,
        }
    }

    /// A permission error gets the way to run it as root with this state directory.
    fn as_root(&self, e: Error, sub: &str) -> Error {
        if e.code() != "E700" {
            return e;
        }
        let hint = format!(
            "it changes the system: run it as root, keeping your state directory: sudo env TASKMUX_HOME={} taskmux dns {sub}",
            self.home.display()
        );
        e.hint(hint)
    }
}

/// `dns install`: sets up the configured resolver.
fn install(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let w = World::new(g, "install", args)?;
    let names = dns::registered_names(&w.home, &w.global)?;
    let done = dns::install(&w.system(), &w.home, &w.global, &names).map_err(|e| w.as_root(e, "install"))?;
    let failed = done.commands.iter().any(|c| c.ran && !c.ok);
    if out.json {
        out.json(&with_ok(!failed, &done)?);
        return Ok(u8::from(failed));
    }
    let mut s = String::new();
    if let Some(r) = &done.replaced {
        s.push_str(&uninstalled_text(r));
    }
    let path = done.path.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
    match (done.action, &done.names) {
        ("nothing_to_install", _) => {
            s.push_str("nothing to install: host_resolver is \"noop\" (names are left to the system)\n")
        }
        (action, Some(names)) => s.push_str(&format!(
            "{action}: the taskmux block in {path}, {} name(s){}\n",
            names.len(),
            if names.is_empty() {
                String::new()
            } else {
                format!(": {}", names.join(", "))
            }
        )),
        (action, None) => s.push_str(&format!(
            "{action}: {path} (names under .{} go to 127.0.0.1 port {})\n",
            w.global.dns_managed_tld, w.global.dns_server_port
        )),
    }
    s.push_str(&commands_text(&done.commands));
    for n in &done.notes {
        s.push_str(&format!("note: {n}\n"));
    }
    out.print(&s);
    Ok(u8::from(failed))
}

/// `dns uninstall`: takes back what install did.
fn uninstall(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let w = World::new(g, "uninstall", args)?;
    let done = dns::uninstall(&w.system(), &w.home, &w.global).map_err(|e| w.as_root(e, "uninstall"))?;
    let failed = done.commands.iter().any(|c| c.ran && !c.ok);
    if out.json {
        out.json(&with_ok(!failed, &done)?);
        return Ok(u8::from(failed));
    }
    if done.action == "not_installed" {
        out.line(&format!(
            "not installed: nothing of 'taskmux dns install' under {}",
            w.root.display()
        ));
        return Ok(0);
    }
    out.print(&uninstalled_text(&done));
    Ok(u8::from(failed))
}

fn uninstalled_text(done: &dns::Uninstalled) -> String {
    let mut s = String::new();
    for p in &done.removed {
        s.push_str(&format!("uninstalled: removed {}\n", p.display()));
    }
    for p in &done.edited {
        s.push_str(&format!("uninstalled: took the taskmux block out of {}\n", p.display()));
    }
    for p in &done.dirs_removed {
        s.push_str(&format!(
            "removed the empty directory {} (install made it)\n",
            p.display()
        ));
    }
    s.push_str(&commands_text(&done.commands));
    for n in &done.notes {
        s.push_str(&format!("note: {n}\n"));
    }
    s
}

/// The lines for the system commands: what ran, what failed, what was not run.
fn commands_text(commands: &[CommandRun]) -> String {
    let mut s = String::new();
    for c in commands {
        let cmd = c.command.join(" ");
        let note = c.note.as_deref().unwrap_or_default();
        s.push_str(&match (c.ran, c.ok) {
            (true, true) => format!("ran: {cmd}\n"),
            (true, false) => format!("failed: {cmd}: {note}\n"),
            (false, _) => format!("not run: {cmd} ({note})\n"),
        });
    }
    s
}

/// `dns status`: how names resolve, and what to fix.
fn status(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    if let Some(a) = args.first() {
        return Err(Error::usage(format!("dns status takes no arguments, got {a:?}")));
    }
    let system_root = crate::dns::root_var();
    let os = crate::dns::os_var()?;
    exec(
        g,
        out,
        Request::DnsStatus(DnsStatusParams { system_root, os }),
        &View::default(),
    )
}

/// `dns status` for people: a table of the checks, then the fixes.
pub(super) fn show_status(out: &Out, st: &dns::Status) -> Result<()> {
    let rows: Vec<Vec<String>> = st
        .checks
        .iter()
        .map(|c| {
            let status = match c.status {
                CheckStatus::Ok => out.paint("ok", Color::Green),
                CheckStatus::Warn => out.paint("warn", Color::Yellow),
                CheckStatus::Fail => out.paint("fail", Color::Red),
            };
            vec![c.name.to_string(), status, c.detail.clone()]
        })
        .collect();
    out.table(&["CHECK", "STATUS", "DETAIL"], &rows);
    for c in st.checks.iter().filter(|c| c.fix.is_some()) {
        out.line(&format!("fix {}: {}", c.name, c.fix.as_deref().unwrap_or_default()));
    }
    Ok(())
}

/// `dns flush`: empties the OS resolver's cache.
fn flush(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let w = World::new(g, "flush", args)?;
    let done = dns::flush(&w.system());
    let failed = done.commands.iter().any(|c| c.ran && !c.ok);
    if out.json {
        out.json(&with_ok(!failed, &done)?);
    } else {
        out.print(&commands_text(&done.commands));
    }
    Ok(u8::from(failed))
}

/// `dns query NAME [--type T] [--server ADDR:PORT]`: asks our server (or another) over
/// UDP and prints the records and the response code; no answer is E643.
fn query(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let mut p = lexopt::Parser::from_args(args);
    let mut q = QueryParams::default();
    let mut name = None;
    while let Some(arg) = p.next().map_err(|e| Error::usage(e.to_string()))? {
        match arg {
            Long("type") => q.qtype = Some(flag_value(&mut p)?),
            Long("server") => q.server = Some(flag_value(&mut p)?),
            Value(v) if name.is_none() => name = Some(v.to_string_lossy().into_owned()),
            Value(v) => return Err(Error::usage(format!("dns query takes one NAME, got also {v:?}"))),
            Long(l) => return Err(Error::usage(format!("unknown flag --{l} for dns query"))),
            Short(c) => return Err(Error::usage(format!("unknown flag -{c} for dns query"))),
        }
    }
    q.name = name.ok_or_else(|| Error::usage("dns query takes a NAME, such as api.myapp.localhost"))?;
    exec(g, out, Request::DnsQuery(q), &View::default())
}

/// `dns query` for people: the records, then the response code and the time.
pub(super) fn show_query(out: &Out, q: &Queried) -> Result<()> {
    let reply = &q.reply;
    let mut rows: Vec<Vec<String>> = Vec::new();
    for (section, list) in [("answer", &reply.answers), ("authority", &reply.authority)] {
        for a in list.iter() {
            let name = format!("{}.", a.name.trim_end_matches('.'));
            rows.push(vec![
                section.into(),
                name,
                a.ttl.to_string(),
                a.rtype.clone(),
                a.data.clone(),
            ]);
        }
    }
    if !rows.is_empty() {
        out.table(&["SECTION", "NAME", "TTL", "TYPE", "DATA"], &rows);
    }
    let mut flags = Vec::new();
    if reply.authoritative {
        flags.push("authoritative");
    }
    if reply.truncated {
        flags.push("truncated");
    }
    let rcode = match reply.rcode.as_str() {
        "NOERROR" => out.paint(&reply.rcode, Color::Green),
        _ => out.paint(&reply.rcode, Color::Yellow),
    };
    out.line(&format!(
        "{rcode} from {} in {:.1} ms{}{}",
        reply.server,
        reply.time_ms,
        if flags.is_empty() { "" } else { ", " },
        flags.join(", ")
    ));
    Ok(())
}

/// A result as the `--json` object, `ok` first.
fn with_ok(ok: bool, v: &impl serde::Serialize) -> Result<Value> {
    let mut obj = serde_json::Map::new();
    obj.insert("ok".into(), ok.into());
    if let Value::Object(m) = encode(v)? {
        obj.extend(m);
    }
    Ok(Value::Object(obj))
}

fn encode(v: &impl serde::Serialize) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| Error::from(Kind::Internal(format!("cannot encode the result: {e}"))))
}
