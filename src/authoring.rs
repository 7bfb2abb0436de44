//! `init`, `add` and `remove`: creating `taskmux.toml`, editing its tasks without disturbing
//! what a person wrote around them, and keeping the agent context block in `AGENTS.md` and
//! `CLAUDE.md` in step with the task list.

mod agents;
mod edit;

pub use agents::{END as BLOCK_END, FILES as AGENT_FILES, START as BLOCK_START, block as agent_block};
pub use edit::{NewTask, add_task, remove_task};

use crate::cli::{Globals, usage};
use crate::config::{self, CONFIG_NAME, Project};
use crate::error::{Error, Result};
use crate::output::{Color, Out, warn};
use crate::paths;
use crate::task::{self, Ctx, StopOutcome};
use crate::tmux::Tmux;
use lexopt::prelude::*;
use serde_json::json;
use std::ffi::OsString;
use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The config `init` writes: the name and a commented example task.
pub fn initial_config(name: &str) -> String {
    format!(
        "# taskmux.toml: this project's long-running dev processes, each in its own tmux window.\n\
         # Every key is in 'man taskmux.toml'. Add a task from the shell: taskmux add api \"npm run dev\"\n\
         name = \"{name}\"\n\
         \n\
         # [tasks.api]\n\
         # command = \"npm run dev\"\n\
         # cwd = \"apps/api\"                        # relative to this file\n\
         # health_url = \"http://localhost:3000/health\"\n\
         # depends_on = [\"db\"]\n"
    )
}

fn cwd() -> Result<PathBuf> {
    std::env::current_dir().map_err(|e| Error::new("E100", format!("cannot read the current directory: {e}")))
}

fn read_config(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::new("E100", format!("Config not found: {}", path.display())),
        std::io::ErrorKind::InvalidData => Error::new("E101", format!("{} is not valid UTF-8", path.display())),
        _ => Error::io("read", path, e),
    })
}

/// Writes `text` over an existing file atomically, keeping its mode, and through a symlink
/// to the file it points at rather than over the link.
fn rewrite(path: &Path, text: &str) -> Result<()> {
    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mode = std::fs::metadata(&target).map_or(0o644, |m| m.permissions().mode() & 0o7777);
    paths::write_atomic(&target, text.as_bytes(), mode)
}

/// Serializes edits of one config file between concurrent `add`/`remove` runs. Best effort:
/// a state directory that cannot be written does not stop an edit.
fn edit_lock(path: &Path) -> Option<paths::Lock> {
    let hash = path.to_string_lossy().bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    paths::lock(&format!("config-{hash:016x}")).ok()
}

/// The absolute path of the config `add`/`remove` edit, found like every other command's.
fn config_path(g: &Globals) -> Result<PathBuf> {
    let found = config::find(g.config.as_deref(), &cwd()?)?;
    Ok(std::path::absolute(&found).unwrap_or(found))
}

/// Refreshes the task list in the agent files next to the config that hold a block;
/// returns the files rewritten. Failures are warnings: the config is already written.
fn refresh_agent_files(project: &Project) -> Vec<PathBuf> {
    let block = agents::block(project);
    let mut done = Vec::new();
    for f in agents::FILES {
        let path = project.dir.join(f);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        if !agents::has_block(&text) {
            continue;
        }
        match agents::with_block(&text, &block) {
            Some(new) if new == text => {}
            Some(new) => match rewrite(&path, &new) {
                Ok(()) => done.push(path),
                Err(e) => warn(
                    "taskmux",
                    &format!("could not refresh the task list in {f}: {}", e.message),
                ),
            },
            None => {}
        }
    }
    done
}

/// Writes the block into one agent file, creating it or updating it in place.
fn write_agent_file(path: &Path, block: &str) -> Result<()> {
    let existing = match std::fs::read_to_string(path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io("read", path, e)),
    };
    let new = agents::with_block(existing.as_deref().unwrap_or(""), block).ok_or_else(|| {
        Error::new(
            "E104",
            format!("{} has '{}' without '{}'", path.display(), agents::START, agents::END),
        )
        .hint("add the end marker or delete the start marker, then run 'taskmux init' again")
    })?;
    match existing {
        Some(old) if old == new => Ok(()),
        Some(_) => rewrite(path, &new),
        None => paths::write_atomic(path, new.as_bytes(), 0o644),
    }
}

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

/// `taskmux init [--defaults]`: creates `taskmux.toml` here (or at `-c PATH`) and writes the
/// agent context block. Asks for the name and the agent files only on a terminal, and never
/// with `--defaults` or `--json` (a script or agent may hold a terminal but cannot answer).
pub fn cmd_init(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let mut defaults = false;
    let mut p = lexopt::Parser::from_args(args);
    while let Some(arg) = p.next().map_err(|e| usage(e.to_string()))? {
        match arg {
            Long("defaults") => defaults = true,
            other => return Err(usage(other.unexpected().to_string())),
        }
    }
    let here = cwd()?;
    let path = match &g.config {
        Some(c) if here.join(c).is_dir() => here.join(c).join(CONFIG_NAME),
        Some(c) => here.join(c),
        None => here.join(CONFIG_NAME),
    };
    let path = std::path::absolute(&path).unwrap_or(path);
    if path.symlink_metadata().is_ok() {
        return Err(Error::new("E105", format!("Config already exists: {}", path.display()))
            .hint("edit it, or add tasks with 'taskmux add TASK \"COMMAND\"'; nothing was changed")
            .details(json!({"config_path": path})));
    }
    let dir = path.parent().map_or_else(|| here.clone(), Path::to_path_buf);
    let mut name = config::slug(
        &dir.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    name.truncate(64);
    let name = name.trim_end_matches('-').to_string();
    let interactive = !defaults && !g.json && std::io::stdin().is_terminal();
    let (name, files): (String, Vec<&str>) = if interactive {
        let name = ask_name(&name);
        let files = agents::FILES
            .into_iter()
            .filter(|f| ask_yes(&format!("Write agent context to {f}?")))
            .collect();
        (name, files)
    } else {
        (name, agents::FILES.to_vec())
    };
    let text = initial_config(&name);
    let project = config::parse(&text, &path)?;
    paths::write_atomic(&path, text.as_bytes(), 0o644)?;
    let block = agents::block(&project);
    let mut written = Vec::new();
    for f in files {
        let p = dir.join(f);
        match write_agent_file(&p, &block) {
            Ok(()) => written.push(p),
            Err(e) => warn("taskmux", &format!("{} (skipped {f})", e.message)),
        }
    }
    if out.json {
        out.json(&json!({"ok": true, "session": name, "config_path": path, "agent_files": written}));
    } else {
        out.line(&format!(
            "{} {} (session {name})",
            out.paint("created", Color::Green),
            path.display()
        ));
        if !written.is_empty() {
            let names: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
            out.line(&format!("agent context in {}", names.join(", ")));
        }
        out.line("next: taskmux add TASK \"COMMAND\", then taskmux start");
    }
    Ok(0)
}

/// Joins command words into one shell command, quoting the words that need it.
fn shell_join(words: &[String]) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    words
        .iter()
        .map(|w| {
            if !w.is_empty() && w.chars().all(safe) {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Parses `add`'s arguments: TASK, COMMAND (one argument, or several words joined as a
/// shell would read them), the task keys, and `--force`.
fn parse_add(args: Vec<OsString>) -> Result<(NewTask, bool)> {
    let mut p = lexopt::Parser::from_args(args);
    let mut words: Vec<String> = Vec::new();
    let mut t = NewTask::default();
    let mut force = false;
    let text = |v: OsString| v.into_string().map_err(|_| usage("arguments must be valid UTF-8"));
    while let Some(arg) = p.next().map_err(|e| usage(e.to_string()))? {
        match arg {
            Long("force") | Short('f') => force = true,
            Long("cwd") => t.cwd = Some(text(p.value().map_err(|e| usage(e.to_string()))?)?),
            Long("host") => t.host = Some(text(p.value().map_err(|e| usage(e.to_string()))?)?),
            Long("health-check") => t.health_check = Some(text(p.value().map_err(|e| usage(e.to_string()))?)?),
            Long("depends-on") => {
                let v = text(p.value().map_err(|e| usage(e.to_string()))?)?;
                for d in v.split(',').map(str::trim).filter(|d| !d.is_empty()) {
                    if !t.depends_on.iter().any(|x| x == d) {
                        t.depends_on.push(d.to_string());
                    }
                }
            }
            Value(v) => words.push(text(v)?),
            other => return Err(usage(other.unexpected().to_string())),
        }
    }
    if words.len() < 2 {
        return Err(usage("add needs TASK and COMMAND: taskmux add api \"npm run dev\""));
    }
    t.name = words.remove(0);
    t.command = if words.len() == 1 {
        words.remove(0)
    } else {
        shell_join(&words)
    };
    Ok((t, force))
}

/// Checks what `add` can check before editing: the name, the command, the dependencies.
fn precheck_add(t: &NewTask, project: &Project) -> Result<()> {
    if !config::valid_task_name(&t.name) {
        let why = if t.name == "job" {
            "'job' is reserved for job windows"
        } else {
            "names are 1-64 of A-Z a-z 0-9 _ -, not starting with -"
        };
        return Err(Error::new("E102", format!("Invalid task name '{}': {why}", t.name)));
    }
    if t.command.trim().is_empty() {
        return Err(Error::new("E102", format!("Task '{}' has an empty command", t.name)));
    }
    for d in &t.depends_on {
        if d == &t.name {
            return Err(Error::new("E211", format!("Task '{}' depends on itself", t.name)));
        }
        if !project.tasks.iter().any(|o| &o.name == d) {
            return Err(
                Error::new("E210", format!("Task '{}' depends on unknown task '{d}'", t.name)).hint(
                    if project.tasks.is_empty() {
                        "the config has no tasks yet; add the dependency first".to_string()
                    } else {
                        format!("known tasks: {}", project.task_names().join(", "))
                    },
                ),
            );
        }
    }
    Ok(())
}

/// Whether two projects agree on everything but the tasks.
fn same_project_keys(a: &Project, b: &Project) -> bool {
    a.name == b.name
        && a.auto_start == b.auto_start
        && a.auto_daemon == b.auto_daemon
        && a.hooks == b.hooks
        && a.env == b.env
        && a.env_file == b.env_file
}

fn edit_went_wrong(what: &str) -> Error {
    Error::internal(format!(
        "editing the config would have changed more than {what}; the file was not written"
    ))
}

/// `taskmux add TASK COMMAND [--cwd D] [--host H] [--health-check C] [--depends-on T]...
/// [--force]`: appends a `[tasks.TASK]` table (or with `--force` replaces the task where it
/// stands), validating the new config before the file is written.
pub fn cmd_add(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let (t, force) = parse_add(args)?;
    let path = config_path(g)?;
    let _lock = edit_lock(&path);
    let text = read_config(&path)?;
    let old = config::parse(&text, &path)?;
    precheck_add(&t, &old)?;
    if !force && edit::has_task(&text, &t.name)? {
        return Err(Error::new(
            "E106",
            format!("Task '{}' already exists in {}", t.name, path.display()),
        )
        .hint(format!(
            "use --force to replace it, or 'taskmux remove {}' first",
            t.name
        )));
    }
    let (new_text, replaced) = add_task(&text, &t)?;
    let new = config::parse(&new_text, &path)?;
    let added = new.tasks.iter().find(|n| n.name == t.name);
    let others_kept = old
        .tasks
        .iter()
        .filter(|o| o.name != t.name)
        .eq(new.tasks.iter().filter(|n| n.name != t.name));
    let as_asked = added.is_some_and(|a| {
        a.command == t.command
            && a.cwd_raw == t.cwd
            && a.host == t.host
            && a.health_check == t.health_check
            && a.depends_on == t.depends_on
    });
    if !others_kept
        || !as_asked
        || !same_project_keys(&old, &new)
        || new.tasks.len() != old.tasks.len() + usize::from(!replaced)
    {
        return Err(edit_went_wrong(&format!("task '{}'", t.name)));
    }
    rewrite(&path, &new_text)?;
    refresh_agent_files(&new);
    let action = if replaced { "replaced" } else { "added" };
    if out.json {
        out.json(&json!({"ok": true, "task": t.name, "command": t.command, "action": action}));
    } else {
        let word = out.paint(action, Color::Green);
        let prep = if replaced { "in" } else { "to" };
        out.line(&format!("{word} {} {prep} {}", t.name, path.display()));
    }
    Ok(0)
}

/// Stops the task and destroys its window when its session is up; a missing tmux or a
/// session that is not running means there is nothing to stop. Returns whether it was
/// running.
fn stop_for_removal(g: &Globals, project: &Project, name: &str) -> Result<bool> {
    let tmux = Tmux::new(g.socket.clone());
    if tmux.check_version().is_err() || !tmux.has_session(&project.name).unwrap_or(false) {
        return Ok(false);
    }
    let ctx = Ctx {
        project: project.clone(),
        tmux,
    };
    if !task::read_runtime(&ctx.tmux, &project.name)?.contains_key(name) {
        return Ok(false);
    }
    let stopped = task::stop(&ctx, &[name.to_string()], true, false)?;
    task::kill(&ctx, name)?;
    // the task is gone from the config: no mark of it should outlive it
    crate::state::State::update(&project.name, |s| s.set_manual_stop(name, false))?;
    Ok(stopped.iter().any(|(_, o)| *o == StopOutcome::Stopped))
}

/// `taskmux remove TASK`: refuses when other tasks depend on it (nothing stopped, nothing
/// written); else stops it if it runs and removes it from the file.
pub fn cmd_remove(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let mut p = lexopt::Parser::from_args(args);
    let mut names = Vec::new();
    while let Some(arg) = p.next().map_err(|e| usage(e.to_string()))? {
        match arg {
            Value(v) => names.push(v.to_string_lossy().into_owned()),
            other => return Err(usage(other.unexpected().to_string())),
        }
    }
    let [name] = names.as_slice() else {
        return Err(usage("remove takes exactly one TASK"));
    };
    let path = config_path(g)?;
    let _lock = edit_lock(&path);
    let text = read_config(&path)?;
    let old = config::parse(&text, &path)?;
    old.task(name)?;
    let dependents: Vec<String> = old
        .tasks
        .iter()
        .filter(|t| t.depends_on.iter().any(|d| d == name))
        .map(|t| t.name.clone())
        .collect();
    if !dependents.is_empty() {
        return Err(Error::new(
            "E210",
            format!("Task '{name}' is a dependency of: {}", dependents.join(", ")),
        )
        .hint(format!(
            "remove those first, or drop '{name}' from their depends_on; nothing was stopped or changed"
        ))
        .details(json!({"task": name, "dependents": dependents})));
    }
    let new_text = remove_task(&text, name)?;
    let new = config::parse(&new_text, &path)?;
    let kept = old.tasks.iter().filter(|t| &t.name != name).eq(new.tasks.iter());
    if !kept || !same_project_keys(&old, &new) {
        return Err(edit_went_wrong(&format!("task '{name}'")));
    }
    let stopped = stop_for_removal(g, &old, name)?;
    rewrite(&path, &new_text)?;
    refresh_agent_files(&new);
    if out.json {
        out.json(&json!({"ok": true, "task": name, "action": "removed", "stopped": stopped}));
    } else {
        if stopped {
            out.line(&format!("{} {name}", out.paint("stopped", Color::Yellow)));
        }
        out.line(&format!(
            "{} {name} from {}",
            out.paint("removed", Color::Green),
            path.display()
        ));
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_config_is_valid_and_has_no_tasks() {
        let p = config::parse(&initial_config("demo"), Path::new("/tmp/x/taskmux.toml")).expect("valid");
        assert_eq!(p.name, "demo");
        assert!(p.tasks.is_empty());
    }

    #[test]
    fn command_words_are_joined_as_a_shell_reads_them() {
        let w = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(shell_join(&w(&["npm", "run", "dev"])), "npm run dev");
        assert_eq!(shell_join(&w(&["echo", "it's a b", ""])), "echo 'it'\\''s a b' ''");
        let (t, force) = parse_add(
            ["api", "npm", "run", "--depends-on", "db,cache", "--depends-on=db", "-f"]
                .iter()
                .map(OsString::from)
                .collect(),
        )
        .expect("parses");
        assert_eq!((t.name.as_str(), t.command.as_str(), force), ("api", "npm run", true));
        assert_eq!(t.depends_on, vec!["db", "cache"]);
        assert_eq!(parse_add(vec![OsString::from("api")]).unwrap_err().code, "E500");
    }

    #[test]
    fn add_then_remove_round_trips_through_validation() {
        let path = Path::new("/tmp/x/taskmux.toml");
        let text = initial_config("demo");
        let t = NewTask {
            name: "api".into(),
            command: "npm run dev".into(),
            host: Some("api".into()),
            ..NewTask::default()
        };
        let (added, _) = add_task(&text, &t).expect("adds");
        let p = config::parse(&added, path).expect("valid");
        assert_eq!(p.task_names(), vec!["api"]);
        let block = agent_block(&p);
        assert!(block.starts_with(BLOCK_START) && block.ends_with(BLOCK_END), "{block}");
        assert!(block.contains("`api`: `npm run dev` (host `api`)"), "{block}");
        assert_eq!(remove_task(&added, "api").expect("removes"), text);
        let dotted = format!("{text}tasks.db = \"postgres\"\n");
        let (added, _) = add_task(&dotted, &t).expect("adds");
        assert_eq!(
            config::parse(&added, path).expect("valid").task_names(),
            vec!["db", "api"]
        );
    }
}
