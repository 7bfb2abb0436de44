//! `init`, `add`, `remove`, `check` and `url`: the config from the shell. `init` asks its
//! questions here, on a terminal only; the edits themselves are requests.

use super::render::{Color, Out, warn};
use super::{Globals, View, context, exec};
use crate::authoring::{AGENT_FILES, NewTask};
use crate::check::Severity;
use crate::config;
use crate::error::{Error, Result};
use crate::ops::{
    self, AddParams, Added, CheckReport, InitParams, Initialized, Removed, Request, TaskParams, UrlResult,
};
use lexopt::prelude::*;
use std::ffi::OsString;
use std::io::{BufRead, IsTerminal, Write};

/// Asks a question on stderr and reads one line from stdin; None at end of input.
fn ask(question: &str) -> Option<String> {
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{question}");
    let _ = err.flush();
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim().to_string()),
    }
}

fn ask_yes(question: &str) -> bool {
    loop {
        match ask(&format!("{question} [Y/n] "))
            .as_deref()
            .map(str::to_ascii_lowercase)
        {
            None => return true,
            Some(a) if a.is_empty() || a == "y" || a == "yes" => return true,
            Some(a) if a == "n" || a == "no" => return false,
            Some(_) => {}
        }
    }
}

fn ask_name(default: &str) -> String {
    loop {
        match ask(&format!("Project name (tmux session) [{default}]: ")) {
            None => return default.to_string(),
            Some(a) if a.is_empty() => return default.to_string(),
            Some(a) if config::valid_project_name(&a) => return a,
            Some(a) => {
                let _ = writeln!(
                    std::io::stderr(),
                    "'{a}' is not a valid name: use a-z, 0-9 and -, starting and ending with a letter or digit"
                );
            }
        }
    }
}

fn warn_all(warnings: &[ops::Warning]) {
    for w in warnings {
        warn("taskmux", &w.0);
    }
}

/// `taskmux init [--defaults]`: creates `taskmux.toml` here (or at `-c PATH`) and writes the
/// agent context block. Asks for the name and the agent files only on a terminal, and never
/// with `--defaults` or `--json` (a script or agent may hold a terminal but cannot answer).
pub fn init(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let mut defaults = false;
    let mut p = lexopt::Parser::from_args(args);
    while let Some(arg) = p.next().map_err(|e| Error::usage(e.to_string()))? {
        match arg {
            Long("defaults") => defaults = true,
            other => return Err(Error::usage(other.unexpected().to_string())),
        }
    }
    let mut params = InitParams::default();
    if !defaults && !g.json && std::io::stdin().is_terminal() {
        let (_, name) = ops::init_target(&context(g)?)?;
        params.name = Some(ask_name(&name));
        params.agent_files = Some(
            AGENT_FILES
                .into_iter()
                .filter(|f| ask_yes(&format!("Write agent context to {f}?")))
                .map(String::from)
                .collect(),
        );
    }
    exec(g, out, Request::Init(params), &View::default())
}

/// What `init` made.
pub(super) fn show_init(out: &Out, r: &Initialized) -> Result<()> {
    {
        warn_all(&r.warnings);
        out.line(&format!(
            "{} {} (session {})",
            out.paint("created", Color::Green),
            r.config_path.display(),
            r.session
        ));
        if !r.agent_files.is_empty() {
            let names: Vec<String> = r.agent_files.iter().map(|p| p.display().to_string()).collect();
            out.line(&format!("agent context in {}", names.join(", ")));
        }
        out.line("next: taskmux add TASK \"COMMAND\", then taskmux start");
        Ok(())
    }
}

/// Parses `add`'s arguments: TASK, COMMAND (one argument, or several words joined as a
/// shell would read them), the task keys, and `--force`.
fn parse_add(args: Vec<OsString>) -> Result<(NewTask, bool)> {
    let mut p = lexopt::Parser::from_args(args);
    let mut words: Vec<String> = Vec::new();
    let mut t = NewTask::default();
    let mut force = false;
    let text = |v: OsString| {
        v.into_string()
            .map_err(|_| Error::usage("arguments must be valid UTF-8"))
    };
    while let Some(arg) = p.next().map_err(|e| Error::usage(e.to_string()))? {
        match arg {
            Long("force") | Short('f') => force = true,
            Long("cwd") => t.cwd = Some(text(p.value().map_err(|e| Error::usage(e.to_string()))?)?),
            Long("host") => t.host = Some(text(p.value().map_err(|e| Error::usage(e.to_string()))?)?),
            Long("health-check") => t.health_check = Some(text(p.value().map_err(|e| Error::usage(e.to_string()))?)?),
            Long("depends-on") => {
                let v = text(p.value().map_err(|e| Error::usage(e.to_string()))?)?;
                for d in v.split(',').map(str::trim).filter(|d| !d.is_empty()) {
                    if !t.depends_on.iter().any(|x| x == d) {
                        t.depends_on.push(d.to_string());
                    }
                }
            }
            Value(v) => words.push(text(v)?),
            other => return Err(Error::usage(other.unexpected().to_string())),
        }
    }
    if words.len() < 2 {
        return Err(Error::usage(
            "add needs TASK and COMMAND: taskmux add api \"npm run dev\"",
        ));
    }
    t.name = words.remove(0);
    t.command = if words.len() == 1 {
        words.remove(0)
    } else {
        crate::shell::join(&words)
    };
    Ok((t, force))
}

/// `taskmux add TASK COMMAND [--cwd D] [--host H] [--health-check C] [--depends-on T]...
/// [--force]`.
pub fn add(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let (task, force) = parse_add(args)?;
    exec(g, out, Request::Add(AddParams { task, force }), &View::default())
}

/// What `add` did.
pub(super) fn show_add(out: &Out, r: &Added) -> Result<()> {
    warn_all(&r.warnings);
    let word = out.paint(&r.action.words(), Color::Green);
    let prep = if r.action == ops::Action::Replaced { "in" } else { "to" };
    out.line(&format!("{word} {} {prep} {}", r.task, r.config.display()));
    Ok(())
}

/// Exactly one TASK and nothing else.
fn one_task(args: Vec<OsString>, what: &str) -> Result<String> {
    let mut p = lexopt::Parser::from_args(args);
    let mut names = Vec::new();
    while let Some(arg) = p.next().map_err(|e| Error::usage(e.to_string()))? {
        match arg {
            Value(v) => names.push(v.to_string_lossy().into_owned()),
            other => return Err(Error::usage(format!("{what}: unexpected {}", other.unexpected()))),
        }
    }
    match <[String; 1]>::try_from(names) {
        Ok([name]) => Ok(name),
        Err(_) => Err(Error::usage(format!("{what} takes exactly one TASK"))),
    }
}

/// `taskmux remove TASK`.
pub fn remove(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let task = one_task(args, "remove")?;
    exec(g, out, Request::Remove(TaskParams { task }), &View::default())
}

/// What `remove` did.
pub(super) fn show_remove(out: &Out, r: &Removed) -> Result<()> {
    {
        warn_all(&r.warnings);
        if r.stopped {
            out.line(&format!("{} {}", out.paint("stopped", Color::Yellow), r.task));
        }
        out.line(&format!(
            "{} {} from {}",
            out.paint("removed", Color::Green),
            r.task,
            r.config.display()
        ));
        Ok(())
    }
}

/// `taskmux check`.
pub fn check(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let mut p = lexopt::Parser::from_args(args);
    if let Some(arg) = p.next().map_err(|e| Error::usage(e.to_string()))? {
        return Err(Error::usage(format!(
            "check takes no arguments, got {}",
            arg.unexpected()
        )));
    }
    exec(g, out, Request::Check, &View::default())
}

/// What `check` found, a finding a line, then the verdict.
pub(super) fn show_check(out: &Out, r: &CheckReport) -> Result<()> {
    {
        let mut text = String::new();
        for f in r.errors.iter().chain(r.warnings.iter()) {
            let head = match f.severity {
                Severity::Error => out.paint(&format!("error[{}]", f.code), Color::Red),
                Severity::Warning => out.paint(&format!("warning[{}]", f.code), Color::Yellow),
            };
            match &f.task {
                Some(t) => text.push_str(&format!("{head}: task '{t}': {}\n", f.message)),
                None => text.push_str(&format!("{head}: {}\n", f.message)),
            }
            if let Some(h) = &f.hint {
                text.push_str(&format!("  hint: {h}\n"));
            }
        }
        let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        let summary = match r.tasks {
            None => format!(
                "{}: {} is not a valid config",
                out.paint("check failed", Color::Red),
                r.config
            ),
            Some(n) => {
                let counts = format!(
                    "{}, {}, {}",
                    plural(n, "task"),
                    plural(r.errors.len(), "error"),
                    plural(r.warnings.len(), "warning")
                );
                let verdict = if r.errors.is_empty() {
                    out.paint("check passed", Color::Green)
                } else {
                    out.paint("check failed", Color::Red)
                };
                format!("{verdict}: {} ({counts})", r.config)
            }
        };
        text.push_str(&summary);
        text.push('\n');
        out.print(&text);
        Ok(())
    }
}

/// `taskmux url TASK`.
pub fn url(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let task = one_task(args, "url")?;
    exec(g, out, Request::Url(TaskParams { task }), &View::default())
}

/// The URL.
pub(super) fn show_url(out: &Out, r: &UrlResult) -> Result<()> {
    out.line(&r.url);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_words_are_joined_as_a_shell_reads_them() {
        let w = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(crate::shell::join(&w(&["npm", "run", "dev"])), "npm run dev");
        assert_eq!(
            crate::shell::join(&w(&["echo", "it's a b", ""])),
            "echo 'it'\\''s a b' ''"
        );
        let (t, force) = parse_add(
            ["api", "npm", "run", "--depends-on", "db,cache", "--depends-on=db", "-f"]
                .iter()
                .map(OsString::from)
                .collect(),
        )
        .expect("parses");
        assert_eq!((t.name.as_str(), t.command.as_str(), force), ("api", "npm run", true));
        assert_eq!(t.depends_on, vec!["db", "cache"]);
        assert_eq!(parse_add(vec![OsString::from("api")]).unwrap_err().code(), "E500");
    }
}
