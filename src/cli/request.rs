//! `taskmux __request`: one JSON request a line on stdin, one JSON response a line on
//! stdout, each echoing its request's `id`. The daemon's API is this loop on a socket.

use super::{Globals, context};
use crate::error::{Error, Kind, Result};
use crate::ops::{self, Envelope, Response};
use serde_json::{Value, json};
use std::io::{BufRead, Write};

/// The reply to one request line: the response's JSON (what `--json` prints) with `id`.
pub fn reply(ctx: Option<&crate::ctx::Ctx>, line: &str) -> Value {
    let env = Envelope::parse(line);
    let resp = match (env.request, ctx) {
        (Ok(req), Some(ctx)) => ops::handle(ctx, req),
        (Ok(_), None) => Response::Error(
            Kind::NoCurrentDir {
                reason: "it could not be read at start".into(),
            }
            .into(),
        ),
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

/// Runs the loop until stdin ends. The global flags (`-c`, `-L`) set the project and the
/// tmux server for every request. A line that is not UTF-8 gets an error reply.
pub fn serve(g: &Globals) -> Result<u8> {
    let ctx = context(g).ok();
    let mut input = std::io::stdin().lock();
    let mut out = std::io::stdout().lock();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match input.read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
        let v = match std::str::from_utf8(&buf) {
            Ok(line) if line.trim().is_empty() => continue,
            Ok(line) => reply(ctx.as_ref(), line),
            Err(_) => Error::from(Kind::BadRequest("a request line must be UTF-8".into())).to_json(),
        };
        if writeln!(out, "{v}").and_then(|_| out.flush()).is_err() {
            break;
        }
    }
    Ok(0)
}
