//! `init`, `add` and `remove`: creating `taskmux.toml`, editing its tasks without disturbing
//! what a person wrote around them, and keeping the agent context block in `AGENTS.md` and
//! `CLAUDE.md` in step with the task list.

mod agents;
mod edit;

pub use agents::{FILES as AGENT_FILES, block as agent_block};
pub use edit::{NewTask, add_task, has_task, remove_task};

use crate::config::{self, Project};
use crate::error::{Error, Kind, Result};
use crate::paths;
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

pub fn read_config(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Kind::ConfigNotFound {
            path: path.to_path_buf(),
        }
        .into(),
        std::io::ErrorKind::InvalidData => Kind::InvalidToml(format!("{} is not valid UTF-8", path.display())).into(),
        _ => Error::io("read", path, e),
    })
}

/// Writes `text` over an existing file atomically, keeping its mode, and through a symlink
/// to the file it points at rather than over the link.
pub fn rewrite(path: &Path, text: &str) -> Result<()> {
    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mode = std::fs::metadata(&target).map_or(0o644, |m| m.permissions().mode() & 0o7777);
    paths::write_atomic(&target, text.as_bytes(), mode)
}

/// Serializes edits of one config file between concurrent `add`/`remove` runs. Best effort:
/// a state directory that cannot be written does not stop an edit.
pub fn edit_lock(home: &Path, path: &Path) -> Option<paths::Lock> {
    let hash = path.to_string_lossy().bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    paths::lock_in(home, &format!("config-{hash:016x}")).ok()
}

/// Refreshes the task list in the agent files next to the config that hold a block;
/// returns the files rewritten and what could not be. Failures are warnings: the config
/// is already written.
pub fn refresh_agent_files(project: &Project) -> (Vec<PathBuf>, Vec<String>) {
    let block = agents::block(project);
    let mut done = Vec::new();
    let mut warnings = Vec::new();
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
                Err(e) => warnings.push(format!("could not refresh the task list in {f}: {}", e.message())),
            },
            None => {}
        }
    }
    (done, warnings)
}

/// Writes the block into one agent file, creating it or updating it in place.
pub fn write_agent_file(path: &Path, block: &str) -> Result<()> {
    let existing = match std::fs::read_to_string(path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io("read", path, e)),
    };
    let new = agents::with_block(existing.as_deref().unwrap_or(""), block).ok_or_else(|| {
        Error::from(Kind::AgentFile {
            path: path.to_path_buf(),
            start: agents::START,
            end: agents::END,
        })
    })?;
    match existing {
        Some(old) if old == new => Ok(()),
        Some(_) => rewrite(path, &new),
        None => paths::write_atomic(path, new.as_bytes(), 0o644),
    }
}

/// Checks what `add` can check before editing: the name, the command, the dependencies.
pub fn precheck_add(t: &NewTask, project: &Project) -> Result<()> {
    if !config::valid_task_name(&t.name) {
        let why = if t.name == "job" {
            "'job' is reserved for job windows"
        } else {
            "names are 1-64 of A-Z a-z 0-9 _ -, not starting with -"
        };
        return Err(Error::from(Kind::InvalidTask(format!(
            "Invalid task name '{}': {why}",
            t.name
        ))));
    }
    if t.command.trim().is_empty() {
        return Err(Error::from(Kind::InvalidTask(format!(
            "Task '{}' has an empty command",
            t.name
        ))));
    }
    for d in &t.depends_on {
        if d == &t.name {
            return Err(Kind::SelfDependency(format!("Task '{}' depends on itself", t.name)).into());
        }
        if !project.tasks.iter().any(|o| &o.name == d) {
            return Err(Error::from(Kind::UnknownDependency(format!(
                "Task '{}' depends on unknown task '{d}'",
                t.name
            )))
            .hint(if project.tasks.is_empty() {
                "the config has no tasks yet; add the dependency first".to_string()
            } else {
                format!("known tasks: {}", project.task_names().join(", "))
            }));
        }
    }
    Ok(())
}

/// Whether two projects agree on everything but the tasks.
pub fn same_project_keys(a: &Project, b: &Project) -> bool {
    a.name == b.name
        && a.auto_start == b.auto_start
        && a.auto_daemon == b.auto_daemon
        && a.hooks == b.hooks
        && a.env == b.env
        && a.env_file == b.env_file
}

pub fn edit_went_wrong(what: &str) -> Error {
    Error::internal(format!(
        "editing the config would have changed more than {what}; the file was not written"
    ))
}

#[cfg(test)]
mod tests {
    use super::agents::{END as BLOCK_END, START as BLOCK_START};
    use super::*;

    #[test]
    fn initial_config_is_valid_and_has_no_tasks() {
        let p = config::parse(&initial_config("demo"), Path::new("/tmp/x/taskmux.toml")).expect("valid");
        assert_eq!(p.name, "demo");
        assert!(p.tasks.is_empty());
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
