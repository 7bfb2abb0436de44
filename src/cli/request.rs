//! `taskmux __request`: one JSON request a line on stdin, one JSON response a line on
//! stdout, each echoing its request's `id`. The daemon's API is this loop on a socket.

use super::{Globals, context, split_globals};
use crate::ops::{self, Envelope, Response};
use serde_json::{Value, json};
use std::ffi::OsString;
use std::io::{BufRead, Write};
use std::process::ExitCode;

/// The reply to one request line: the response's JSON (what `--json` prints) with `id`.
pub fn reply(ctx: Option<&crate::ctx::Ctx>, line: &str) -> Value {
    let env = Envelope::parse(line);
    let resp = match (env.request, ctx) {
        (Ok(req), Some(ctx)) => ops::handle(ctx, req),
        (Ok(_), None) => Response::Error(crate::error::Error::new("E100", "cannot read the current directory")),
        (Err(e), _) => Response::Error(e),
    };
    let mut v =
        serde_json::to_value(&resp).unwrap_or_else(|e| json!({"ok": false, "code": "E900", "error": e.to_string()}));
    if let Value::Object(m) = &mut v {
        if !m.contains_key("ok") {
            m.insert("ok".into(), Value::Bool(resp.ok()));
        }
        if let Some(id) = env.id {
            m.insert("id".into(), id);
        }
    }
    v
}

/// Runs the loop until stdin ends. The global flags (`-c`, `-L`) after `__request` set the
/// project and the tmux server for every request.
pub fn serve(args: &[OsString]) -> ExitCode {
    let g = split_globals(args.to_vec())
        .map(|(g, _)| g)
        .unwrap_or_else(|_| Globals::default());
    let ctx = context(&g).ok();
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let v = reply(ctx.as_ref(), &line);
        if writeln!(out, "{v}").and_then(|_| out.flush()).is_err() {
            break;
        }
    }
    ExitCode::SUCCESS
}
