//! `taskmux __request`: one JSON request a line on stdin, one JSON reply a line on stdout,
//! each echoing its request's `id` — the protocol of daemon.sock, on a pipe (what `-H`
//! sends over ssh). A request's context (`config`, `project`, `socket`, `cwd`) is read
//! against this process's: its global flags and directory.

use super::{Globals, context};
use crate::error::{Error, Kind, Result};
use crate::ops::{self, Envelope, Front, Response};
use serde_json::Value;
use std::io::Write;

/// The reply to one request line: the response in its wire form, with the `id`.
pub fn reply(base: Option<&crate::ctx::Ctx>, line: &str) -> Value {
    let env = Envelope::parse(line);
    let id = env.id.clone();
    let resp = match run(base, env) {
        Ok(r) => r,
        Err(e) => Response::Error(e),
    };
    resp.to_wire(id.as_ref())
}

fn run(base: Option<&crate::ctx::Ctx>, env: Envelope) -> Result<Response> {
    let req = env.request?;
    req.allowed_from(Front::Local)?;
    let Some(base) = base else {
        return Err(Kind::NoCurrentDir {
            reason: "it could not be read at start".into(),
        }
        .into());
    };
    let ctx = ops::in_context(base, &env.context)?;
    Ok(ops::handle(&ctx, req))
}

/// Runs the loop until stdin ends. The global flags (`-c`, `-L`) set the project and the
/// tmux server for every request that does not name its own. A line that is not UTF-8
/// gets an error reply.
pub fn serve(g: &Globals) -> Result<u8> {
    let ctx = context(g).ok();
    let mut input = std::io::stdin().lock();
    let mut out = std::io::stdout().lock();
    let mut buf = Vec::new();
    loop {
        let read = match crate::lines::read_line(&mut input, &mut buf, ops::MAX_LINE) {
            Ok(crate::lines::Read::End) | Err(_) => break,
            Ok(r) => r,
        };
        let v = match std::str::from_utf8(&buf) {
            _ if read == crate::lines::Read::TooLong => Response::Error(Error::from(Kind::TooLarge(format!(
                "a request line is at most {} bytes",
                ops::MAX_LINE
            ))))
            .to_wire(None),
            Ok(line) if line.trim().is_empty() => continue,
            Ok(line) => reply(ctx.as_ref(), line),
            Err(_) => {
                Response::Error(Error::from(Kind::BadRequest("a request line must be UTF-8".into()))).to_wire(None)
            }
        };
        if writeln!(out, "{v}").and_then(|_| out.flush()).is_err() {
            break;
        }
    }
    Ok(0)
}
