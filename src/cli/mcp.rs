//! `taskmux mcp [--session NAME]`: the flags of the MCP server, then [`crate::mcp`]. With
//! the global `--host NAME`, the server drives that machine: each tool call goes there.

use super::render::Out;
use super::{Globals, context, flag_value};
use crate::error::{Error, Result};
use lexopt::prelude::*;
use std::ffi::OsString;

/// Reads `--session`, builds the context (the global `-c` and `-L` apply) and serves on
/// stdio until stdin ends. An unknown session fails before anything is served.
pub fn mcp(g: &Globals, args: Vec<OsString>, _out: &Out) -> Result<u8> {
    let mut p = lexopt::Parser::from_args(args);
    let mut session: Option<String> = None;
    while let Some(arg) = p.next().map_err(|e| Error::usage(e.to_string()))? {
        match arg {
            Short('s') | Long("session") => session = Some(flag_value(&mut p)?),
            Value(v) => {
                return Err(Error::usage(format!(
                    "mcp takes no arguments, got unexpected argument {:?}",
                    v.to_string_lossy()
                )));
            }
            other => return Err(Error::usage(other.unexpected().to_string())),
        }
    }
    if session.as_deref().is_some_and(str::is_empty) {
        return Err(Error::usage("--session needs a project name"));
    }
    if g.host.is_some() {
        // `--host NAME`: every tool call is a request carried out on that machine, about
        // the project --session (or -p, -c) names there
        if session.is_some() && (g.project.is_some() || g.config.is_some()) {
            return Err(Error::usage(
                "--session and -p/-c both name the project: give one of them",
            ));
        }
        let there = Globals {
            project: session.or_else(|| g.project.clone()),
            ..g.clone()
        };
        return crate::mcp::serve(&super::request_context(&there)?);
    }
    let ctx = crate::mcp::scope(context(g)?, session.as_deref(), g.socket.is_some())?;
    crate::mcp::serve(&ctx)
}
