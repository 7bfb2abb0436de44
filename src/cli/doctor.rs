//! `taskmux doctor [--json]`: one line per check, ok, warn or fail, with the fix; exit 1
//! on any fail.

use super::render::{Color, Out};
use super::{Globals, View, exec};
use crate::error::{Error, Result};
use crate::ops::doctor::Level;
use crate::ops::{DoctorParams, DoctorReport, Request};
use std::ffi::OsString;
use std::path::PathBuf;

/// `taskmux doctor`.
pub fn doctor(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    if let Some(a) = args.first() {
        return Err(Error::usage(format!("doctor takes no arguments, got {a:?}")));
    }
    let system_root = std::env::var_os("TASKMUX_SYSTEM_ROOT")
        .filter(|r| !r.is_empty())
        .map(PathBuf::from)
        .map(|r| std::path::absolute(&r).unwrap_or(r));
    exec(g, out, Request::Doctor(DoctorParams { system_root }), &View::default())
}

/// A line a check, its fix under it, then the counts.
pub(super) fn show_doctor(out: &Out, r: &DoctorReport) -> Result<()> {
    {
        let width = r.checks.iter().map(|c| c.check.len()).max().unwrap_or(0);
        for c in &r.checks {
            let tag = match c.status {
                Level::Ok => out.paint("ok  ", Color::Green),
                Level::Warn => out.paint("warn", Color::Yellow),
                Level::Fail => out.paint("FAIL", Color::Red),
            };
            out.line(&format!("{tag}  {:width$}  {}", c.check, c.message));
            if let Some(f) = &c.fix {
                out.line(&format!("      {:width$}  fix: {f}", ""));
            }
        }
        out.line(&format!(
            "{} ok, {} warn, {} fail",
            r.summary.ok, r.summary.warn, r.summary.fail
        ));
        Ok(())
    }
}
