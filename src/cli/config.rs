//! `taskmux config show|set KEY VALUE|unset KEY|path`: the global config
//! (`$TASKMUX_HOME/config.toml`) from the shell. Reading, validating and editing it are
//! [`crate::config::global_edit`]'s; this file reads the words and prints the result.

use super::render::{Color, Out, note};
use super::{Globals, View, exec};
use crate::config::global_edit::{self, EditAction, Edited, KEYS, Shown};
use crate::error::{Error, Result};
use crate::ops::{ConfigEdited, ConfigPath, Request, SetParams, UnsetParams};
use std::ffi::OsString;

/// `taskmux config [show|set KEY VALUE|unset KEY|path]` (no word is `show`).
pub fn config(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let mut words: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    // `config set KEY -- VALUE` lets a VALUE start with '-'; nothing here is a flag anyway
    if let Some(i) = words.iter().position(|w| w == "--") {
        words.remove(i);
    }
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let view = View::default();
    match words.as_slice() {
        [] | ["show"] => exec(g, out, Request::ConfigShow, &view),
        // the file is not read: `config path` is how to find a broken one
        ["path"] => exec(g, out, Request::ConfigPath, &view),
        ["set", key, value] => {
            let p = SetParams {
                key: key.to_string(),
                value: serde_json::Value::String(value.to_string()),
            };
            exec(g, out, Request::ConfigSet(p), &view)
        }
        ["unset", key] => exec(
            g,
            out,
            Request::ConfigUnset(UnsetParams { key: key.to_string() }),
            &view,
        ),
        ["set", ..] => Err(Error::usage("config set takes KEY VALUE").hint(format!(
            "for example: taskmux config set api_port 8765; the keys are: {}",
            global_edit::key_list()
        ))),
        ["unset", ..] => {
            Err(Error::usage("config unset takes one KEY").hint(format!("the keys are: {}", global_edit::key_list())))
        }
        ["show" | "path", extra, ..] => Err(Error::usage(format!(
            "config {} takes no arguments, got unexpected argument {extra:?}",
            words[0]
        ))),
        [other, ..] => Err(Error::usage(format!("config has no subcommand '{other}'"))
            .hint("use show, path, set KEY VALUE or unset KEY")),
    }
}

/// `config path`: the file, and a note on stderr when it is not there yet.
pub(super) fn show_path(out: &Out, p: &ConfigPath) -> Result<()> {
    out.line(&p.path.display().to_string());
    if !p.exists {
        note("taskmux: note: the file does not exist yet: every key has its default\n");
    }
    Ok(())
}

/// `config show`: every key, its effective value and where it comes from.
pub(super) fn show_config(out: &Out, s: &Shown) -> Result<()> {
    let v = serde_json::to_value(s).map_err(|e| Error::internal(format!("cannot encode the result: {e}")))?;
    let file = if s.exists {
        s.path.display().to_string()
    } else {
        format!("{} (not there: every key has its default)", s.path.display())
    };
    out.line(&format!("{} {file}", out.paint("file:", Color::Bold)));
    let mut rows: Vec<Vec<String>> = Vec::new();
    for k in KEYS {
        let from = if s.from_file.iter().any(|f| f == k.name) {
            "file".to_string()
        } else {
            out.paint("default", Color::Dim)
        };
        // a row for each host, as `config set hosts.NAME` names it
        match v["config"][k.name].as_object() {
            Some(hosts) if !hosts.is_empty() => {
                for (name, entry) in hosts {
                    rows.push(vec![format!("{}.{name}", k.name), literal(entry), from.clone()]);
                }
            }
            _ => rows.push(vec![k.name.to_string(), literal(&v["config"][k.name]), from]),
        }
    }
    out.table(&["KEY", "VALUE", "FROM"], &rows);
    Ok(())
}

/// `config set` and `config unset`: what was done, to which file, and what the running
/// daemon made of it.
pub(super) fn show_config_edited(out: &Out, r: &ConfigEdited) -> Result<()> {
    show_edited(out, &r.edited)?;
    let Some(a) = &r.applied else { return Ok(()) };
    if let Some(e) = &a.error {
        out.line(&format!(
            "{} by taskmuxd (pid {}): the file does not load ({e})",
            out.paint("not applied", Color::Red),
            a.pid
        ));
        return Ok(());
    }
    if a.not_applied.is_empty() {
        out.line(&format!("applied by the running daemon (pid {})", a.pid));
    }
    for n in &a.not_applied {
        out.line(&format!(
            "{} by taskmuxd (pid {}): {}: {}",
            out.paint("not applied", Color::Red),
            a.pid,
            n.what,
            n.why
        ));
        if let Some(f) = &n.fix {
            out.line(&format!("  fix: {f}"));
        }
    }
    Ok(())
}

/// `config set` and `config unset`: what was done, to which file.
fn show_edited(out: &Out, r: &Edited) -> Result<()> {
    let value = literal(&r.value);
    let line = match r.action {
        EditAction::Set => format!(
            "{} {} = {value} in {}",
            out.paint("set", Color::Green),
            r.key,
            r.path.display()
        ),
        EditAction::Unset => format!(
            "{} {} in {} (its default is {value})",
            out.paint("unset", Color::Green),
            r.key,
            r.path.display()
        ),
        EditAction::Unchanged => format!("unchanged: {} = {value} in {}", r.key, r.path.display()),
    };
    out.line(&line);
    Ok(())
}

/// A value as TOML writes it: `30`, `"127.0.0.1"`, `["http://localhost:3000"]`, `true`.
fn literal(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(x)) => x.to_string(),
            _ => n.to_string(),
        },
        serde_json::Value::Array(a) => format!("[{}]", a.iter().map(literal).collect::<Vec<_>>().join(", ")),
        serde_json::Value::Object(m) if m.is_empty() => "{}".into(),
        serde_json::Value::Object(m) => format!(
            "{{ {} }}",
            m.iter()
                .map(|(k, x)| format!("{k} = {}", literal(x)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}
