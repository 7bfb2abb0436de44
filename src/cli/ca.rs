//! `taskmux ca install|uninstall|mint [HOST]|path|env`: the local CA from the shell. The CA,
//! the certificates and the trust stores are [`crate::certs`]'s; this file reads the words
//! and the environment (`CAROOT`, `PATH`, `HOME`, `TASKMUX_SYSTEM_ROOT`) and prints results.

use super::render::{Color, Out, note};
use super::{Globals, View, context, exec};
use crate::certs::trust::{self, Action, Report, World};
use crate::certs::{self, Authority};
use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::ops::{CaInfo, CertInfo, MintParams, Minted, Request};
use serde_json::{Value, json};
use std::ffi::OsString;
use std::path::PathBuf;

/// The subcommands, for messages.
const SUBCOMMANDS: &str = "install, uninstall, mint [HOST], path or env";

/// `taskmux ca SUBCOMMAND`.
pub fn ca(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let words: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    if let Some(flag) = words.iter().find(|w| w.starts_with('-') && w.len() > 1) {
        return Err(Error::usage(format!("ca has no flag {flag}")).hint(format!("use ca {SUBCOMMANDS}")));
    }
    match words.as_slice() {
        ["path"] => exec(g, out, Request::CaPath, &View::default()),
        ["mint"] => exec(g, out, Request::CaMint(MintParams { host: None }), &View::default()),
        ["mint", host] => {
            let p = MintParams {
                host: Some(host.to_string()),
            };
            exec(g, out, Request::CaMint(p), &View::default())
        }
        ["env"] => env(g, out),
        ["install"] => install(g, out),
        ["uninstall"] => uninstall(g, out),
        [] => Err(Error::usage("ca needs a subcommand").hint(format!("use ca {SUBCOMMANDS}"))),
        [sub @ ("path" | "env" | "install" | "uninstall"), extra, ..] => Err(Error::usage(format!(
            "ca {sub} takes no arguments, got unexpected argument {extra:?}"
        ))),
        ["mint", _, extra, ..] => Err(Error::usage(format!(
            "ca mint takes one HOST, got unexpected argument {extra:?}"
        ))),
        [other, ..] => {
            Err(Error::usage(format!("ca has no subcommand '{other}'")).hint(format!("use ca {SUBCOMMANDS}")))
        }
    }
}

/// The state directory of `ctx`, absolute (it is written into files and hints).
fn home(ctx: &Ctx) -> PathBuf {
    crate::ops::ca::absolute_home(ctx)
}

/// The CA in use for this invocation's environment ([`crate::ops::authority`]).
pub fn authority(ctx: &Ctx) -> Result<Authority> {
    crate::ops::authority(ctx)
}

/// The places `install` and `uninstall` change: the system root (`TASKMUX_SYSTEM_ROOT`,
/// else `/`), `HOME` for the browsers' databases, `PATH` for the tools.
fn world(ctx: &Ctx) -> Result<World> {
    let root = match ctx.var("TASKMUX_SYSTEM_ROOT").filter(|r| !r.is_empty()) {
        Some(r) => {
            let r = ctx.cwd.join(r);
            if !r.is_dir() {
                return Err(
                    Error::invalid(format!("TASKMUX_SYSTEM_ROOT={} is not a directory", r.display()))
                        .hint("point it at a directory that stands for /, or unset it"),
                );
            }
            r
        }
        None => PathBuf::from("/"),
    };
    Ok(World {
        root,
        home: home(ctx),
        user_home: ctx.var("HOME").filter(|h| !h.is_empty()).map(PathBuf::from),
        path: ctx.var("PATH").map(OsString::from),
    })
}

/// The CA's facts, shared by every `--json` result.
fn ca_json(ca: &Authority) -> Value {
    let mut v = serde_json::to_value(crate::ops::ca::info(ca)).unwrap_or_default();
    if let Value::Object(m) = &mut v {
        m.remove("ok");
    }
    v
}

/// Says on stderr that a CA was just made, or that mkcert's is in use.
fn ca_note(path: &std::path::Path, source: certs::Source, created: bool) {
    if created {
        note("taskmux: made a new local CA; trust it with 'taskmux ca install'\n");
    } else if source == certs::Source::Mkcert {
        note(&format!("taskmux: using mkcert's CA ({})\n", path.display()));
    }
}

/// `ca path` for people: the CA certificate's path.
pub(super) fn show_path(out: &Out, ca: &CaInfo) -> Result<()> {
    out.line(&ca.path.display().to_string());
    ca_note(&ca.path, ca.source, ca.created);
    Ok(())
}

fn cert_lines(out: &Out, c: &CertInfo) -> String {
    let verb = if c.action == "minted" {
        out.paint("minted", Color::Green)
    } else {
        "reused".to_string()
    };
    format!(
        "{verb} {}\n  cert: {}\n  key:  {}\n  expires: {}\n",
        c.host,
        c.cert.display(),
        c.key.display(),
        c.not_after
    )
}

/// `ca mint` for people: each certificate, minted or reused.
pub(super) fn show_minted(out: &Out, m: &Minted) -> Result<()> {
    let certs: Vec<&CertInfo> = m.one.iter().chain(m.certs.iter().flatten()).collect();
    if certs.is_empty()
        && let Some(p) = &m.config_path
    {
        out.line(&format!(
            "no task of {} has a host; name one with 'taskmux ca mint HOST'",
            p.display()
        ));
    }
    out.print(&certs.iter().map(|c| cert_lines(out, c)).collect::<String>());
    ca_note(&m.ca, m.ca_source, m.ca_created);
    Ok(())
}

/// `ca env`: `export` lines for `eval "$(taskmux ca env)"`.
fn env(g: &Globals, out: &Out) -> Result<u8> {
    let ctx = context(g)?;
    let ca = authority(&ctx)?;
    let root = world(&ctx)?.root;
    let e = certs::ca_env(&ca, &home(&ctx), &root)?;
    if out.json {
        let vars: serde_json::Map<String, Value> = e
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), v.display().to_string().into()))
            .collect();
        out.json(&json!({
            "ok": true,
            "env": vars,
            "bundle": e.bundle,
            "system_roots": e.system_roots,
            "rebuilt": e.rebuilt,
        }));
        return Ok(0);
    }
    let text: String = e
        .vars
        .iter()
        .map(|(k, v)| format!("export {k}={}\n", crate::shell::quote(&v.display().to_string())))
        .collect();
    out.print(&text);
    if e.system_roots.is_none() {
        note("taskmux: warning: no system root bundle was found, so the bundle holds the taskmux CA alone\n");
    }
    ca_note(ca.cert_pem_path(), ca.source(), ca.created());
    Ok(0)
}

fn report_json(ca: Option<&Authority>, r: &Report) -> Result<Value> {
    let steps =
        serde_json::to_value(&r.steps).map_err(|e| Error::internal(format!("cannot encode the result: {e}")))?;
    let mut v = json!({"ok": true, "action": r.action, "steps": steps});
    if let Some(ca) = ca {
        v["ca"] = ca_json(ca);
    }
    Ok(v)
}

/// One line a step: what was done where, and its note.
fn step_lines(out: &Out, r: &Report) -> String {
    let mut s = String::new();
    for st in &r.steps {
        let what = match st.action {
            Action::Added => out.paint("added", Color::Green),
            Action::Already => "already trusted in".to_string(),
            Action::Removed => out.paint("removed from", Color::Yellow),
            Action::Absent => "was not in".to_string(),
            Action::Skipped => out.paint("skipped", Color::Dim),
        };
        let to = if st.action == Action::Added { " to" } else { "" };
        s.push_str(&format!("{what}{to} {} ({})\n", st.place.display(), st.store.name()));
        if let Some(n) = &st.note {
            s.push_str(&format!("  note: {n}\n"));
        }
    }
    s
}

/// `ca install`: trust the CA in the system's store and the browsers' databases.
fn install(g: &Globals, out: &Out) -> Result<u8> {
    let ctx = context(g)?;
    let ca = authority(&ctx)?;
    let r = trust::install(&ca, &world(&ctx)?)?;
    if out.json {
        out.json(&report_json(Some(&ca), &r)?);
        return Ok(0);
    }
    let mut s = step_lines(out, &r);
    if r.action == "installed" {
        s.push_str(&format!(
            "trusted {} ({}); restart running browsers so they see it\n",
            ca.cert_pem_path().display(),
            ca.subject()
        ));
    } else {
        s.push_str("already installed: nothing changed\n");
    }
    out.print(&s);
    Ok(0)
}

/// `ca uninstall`: undo exactly what install recorded.
fn uninstall(g: &Globals, out: &Out) -> Result<u8> {
    let ctx = context(g)?;
    let r = trust::uninstall(&world(&ctx)?)?;
    if out.json {
        out.json(&report_json(None, &r)?);
        return Ok(0);
    }
    let mut s = step_lines(out, &r);
    if r.action == "not_installed" {
        s.push_str("not installed: 'taskmux ca install' recorded nothing to undo here\n");
    } else {
        s.push_str("uninstalled: every change 'taskmux ca install' made is undone\n");
    }
    out.print(&s);
    Ok(0)
}
