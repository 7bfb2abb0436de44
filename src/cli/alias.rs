//! `taskmux alias add NAME PORT|HOST:PORT | remove NAME | list`: URLs for servers taskmux
//! does not run, from the shell.

use super::render::{Color, Out};
use super::{Globals, View, exec};
use crate::error::{Error, Result};
use crate::ops::{AliasAddParams, AliasDone, AliasList, AliasRemoveParams, Request};
use std::ffi::OsString;

/// `taskmux alias SUBCOMMAND` (no subcommand is `list`).
pub fn alias(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let words: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let req = match words.as_slice() {
        [] | ["list"] => Request::AliasList,
        ["add", name, target] => Request::AliasAdd(AliasAddParams {
            name: name.to_string(),
            target: target.to_string(),
        }),
        ["remove" | "rm", name] => Request::AliasRemove(AliasRemoveParams { name: name.to_string() }),
        ["add", ..] => {
            return Err(Error::usage("alias add takes NAME and PORT (or HOST:PORT on loopback)")
                .hint("for example: taskmux alias add db 5432"));
        }
        ["remove" | "rm", ..] => return Err(Error::usage("alias remove takes one NAME")),
        ["list", extra, ..] => {
            return Err(Error::usage(format!(
                "alias list takes no arguments, got unexpected argument {extra:?}"
            )));
        }
        [other, ..] => {
            return Err(Error::usage(format!("alias has no subcommand '{other}'")).hint("use add, remove or list"));
        }
    };
    exec(g, out, req, &View::default())
}

/// What `alias add` or `alias remove` did.
pub(super) fn show_done(out: &Out, r: &AliasDone) -> Result<()> {
    let word = match r.action.as_str() {
        "added" => out.paint("added", Color::Green),
        "removed" => out.paint("removed", Color::Yellow),
        other => other.to_string(),
    };
    out.line(&format!(
        "{word} {} -> {} ({})",
        r.alias.url, r.alias.target, r.alias.alias
    ));
    Ok(())
}

/// Every alias, a row each.
pub(super) fn show_list(out: &Out, l: &AliasList) -> Result<()> {
    if l.aliases.is_empty() {
        out.line("no aliases ('taskmux alias add NAME PORT' adds one)");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = l
        .aliases
        .iter()
        .map(|a| vec![a.alias.clone(), a.target.to_string(), a.url.clone()])
        .collect();
    out.table(&["ALIAS", "TARGET", "URL"], &rows);
    Ok(())
}
