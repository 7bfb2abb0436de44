//! `taskmux __request`: one JSON request a line on stdin, one JSON reply a line on stdout,
//! each echoing its request's `id` — the protocol of daemon.sock, on a pipe (what `-H`
//! sends over ssh). A request's context (`config`, `project`, `socket`, `cwd`) is read
//! against this process's: its global flags and directory.
//!
//! A request whose reply streams (`logs` or `events` with `"follow": true`) is the last
//! one read: its items go out a line each (`{"item": …, "id"}`) until the reader leaves
//! (any further input, or the end of it, ends the stream) or the stream fails, then its
//! final reply.

use super::{Globals, context};
use crate::error::{Error, Kind, Result};
use crate::ops::{self, Envelope, Front, Response};
use serde_json::Value;
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The reply to one request line: the response in its wire form, with the `id`.
pub fn reply(base: Option<&crate::ctx::Ctx>, line: &str) -> Value {
    let env = Envelope::parse(line);
    let id = env.id.clone();
    let resp = match prepare(base, env) {
        Ok((ctx, req)) => ops::handle(&ctx, req),
        Err(e) => Response::Error(e),
    };
    resp.to_wire(id.as_ref())
}

/// The world and the request of one request line, checked.
fn prepare(base: Option<&crate::ctx::Ctx>, env: Envelope) -> Result<(crate::ctx::Ctx, ops::Request)> {
    let req = env.request?;
    req.allowed_from(Front::Local)?;
    let Some(base) = base else {
        return Err(Kind::NoCurrentDir {
            reason: "it could not be read at start".into(),
        }
        .into());
    };
    Ok((ops::in_context(base, &env.context)?, req))
}

/// Whether a request line asks for a stream (read before it is carried out).
fn streams(line: &str) -> bool {
    Envelope::parse(line).request.is_ok_and(|r| r.streams())
}

/// Carries out a streaming request: its items, then its final reply, on `out`. Input
/// read meanwhile (or its end) means the reader left.
fn stream(base: Option<&crate::ctx::Ctx>, line: &str, mut input: impl Read + Send + 'static, out: &mut impl Write) {
    let env = Envelope::parse(line);
    let id = env.id.clone();
    let (ctx, req) = match prepare(base, env) {
        Ok(v) => v,
        Err(e) => {
            let _ = writeln!(out, "{}", Response::Error(e).to_wire(id.as_ref())).and_then(|_| out.flush());
            return;
        }
    };
    let left = Arc::new(AtomicBool::new(false));
    let flag = left.clone();
    let _ = std::thread::Builder::new()
        .name("request input".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            let mut byte = [0u8; 1];
            loop {
                match input.read(&mut byte) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    _ => break,
                }
            }
            flag.store(true, Ordering::SeqCst);
        });
    let mut emit = |item: ops::Item| {
        let mut v = serde_json::to_value(&item).unwrap_or_default();
        if let (Value::Object(m), Some(id)) = (&mut v, &id) {
            m.insert("id".into(), id.clone());
        }
        !left.load(Ordering::SeqCst) && writeln!(out, "{v}").and_then(|_| out.flush()).is_ok()
    };
    let resp = ops::stream(&ctx, req, &mut emit, &|| !left.load(Ordering::SeqCst));
    let _ = writeln!(out, "{}", resp.to_wire(id.as_ref())).and_then(|_| out.flush());
}

/// Runs the loop until stdin ends. The global flags (`-c`, `-L`) set the project and the
/// tmux server for every request that does not name its own. A line that is not UTF-8
/// gets an error reply.
pub fn serve(g: &Globals) -> Result<u8> {
    let ctx = context(g).ok();
    let mut input = std::io::BufReader::new(std::io::stdin());
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
            Ok(line) if streams(line) => {
                // what is left of the input, buffered or not, is the reader's word to stop
                let rest = std::io::Cursor::new(input.buffer().to_vec()).chain(input.into_inner());
                stream(ctx.as_ref(), line, rest, &mut out);
                return Ok(0);
            }
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
