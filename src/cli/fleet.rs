//! `taskmux fleet [--timeout SECS]`: this machine and every host of `[hosts]` in one table,
//! and why each one that could not be read could not.

use super::render::{Color, Out};
use super::{Globals, View, exec, flag_value};
use crate::error::{Error, Result};
use crate::ops::{Fleet, FleetParams, Request};
use lexopt::prelude::*;
use std::ffi::OsString;

/// `taskmux fleet [--timeout SECS]`.
pub fn fleet(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let mut p = lexopt::Parser::from_args(args);
    let mut params = FleetParams::default();
    while let Some(arg) = p.next().map_err(|e| Error::usage(e.to_string()))? {
        match arg {
            Long("timeout") => {
                let v = flag_value(&mut p)?;
                let secs = v.trim().parse::<f64>().ok().filter(|s| s.is_finite() && *s > 0.0);
                params.timeout = Some(secs.ok_or_else(|| {
                    Error::usage(format!("--timeout needs a number of seconds, not '{v}'")).hint("e.g. --timeout 10")
                })?);
            }
            other => return Err(Error::usage(format!("unexpected {}", other.unexpected()))),
        }
    }
    exec(g, out, Request::Fleet(params), &View::default())
}

/// `fleet` for people: a row per project of each host (one for a host with none), then a
/// line for each host or project that could not be read, with its fix.
pub(super) fn show_fleet(out: &Out, f: &Fleet) -> Result<()> {
    let dash = || "-".to_string();
    let mut rows: Vec<Vec<String>> = Vec::new();
    for h in &f.hosts {
        let name = match h.local {
            true => format!("{} (here)", h.host),
            false => h.host.clone(),
        };
        let daemon = match (&h.daemon, h.reachable, &h.error) {
            (Some(d), _, _) => match d.pid {
                Some(pid) if d.running => out.paint(&format!("pid {pid}"), Color::Green),
                _ => out.paint("not running", Color::Dim),
            },
            (None, false, _) => out.paint("unreachable", Color::Red),
            (None, true, _) => out.paint("error", Color::Red),
        };
        let version = h.version.clone().unwrap_or_else(dash);
        let projects = h.projects.as_deref().unwrap_or_default();
        if projects.is_empty() {
            rows.push(vec![name, version, daemon, dash(), dash(), dash(), dash()]);
            continue;
        }
        for p in projects {
            let count = |n: usize, bad: bool| match (n, bad) {
                (0, _) => "0".to_string(),
                (n, true) => out.paint(&n.to_string(), Color::Red),
                (n, false) => n.to_string(),
            };
            let (tasks, unhealthy, failed) = match &p.error {
                Some(_) => (out.paint("error", Color::Red), dash(), dash()),
                None => (
                    format!("{}/{}", p.running, p.total),
                    count(p.unhealthy, true),
                    count(p.failed, true),
                ),
            };
            rows.push(vec![
                name.clone(),
                version.clone(),
                daemon.clone(),
                p.name.clone(),
                tasks,
                unhealthy,
                failed,
            ]);
        }
    }
    out.table(
        &["HOST", "TASKMUX", "DAEMON", "PROJECT", "RUNNING", "UNHEALTHY", "FAILED"],
        &rows,
    );
    for h in &f.hosts {
        if let Some(e) = &h.error {
            let code = h.code.as_deref().unwrap_or("E900");
            out.line(&format!(
                "{}: {} {e}",
                h.host,
                out.paint(&format!("error[{code}]:"), Color::Red)
            ));
            if let Some(hint) = &h.hint {
                out.line(&format!("  hint: {hint}"));
            }
        }
        for p in h.projects.iter().flatten() {
            if let Some(e) = &p.error {
                out.line(&format!("{}: {}: {e}", h.host, p.name));
            }
        }
    }
    Ok(())
}
