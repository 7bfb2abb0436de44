//! The environment a task runs with: the environment of record (kept in `state.json`),
//! `[env]`, `env_file`s (each read once per operation, [`EnvFiles`]), the task's `env`,
//! `$PORT` (assigned once for a `host`) and the marker; and the one merge of variables.

use super::Ctx;
use crate::config::{Project, Task, read_env_file};
use crate::error::Result;
use crate::state::State;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Adds `more` to `env`: a variable already there takes the new value in its place, a new
/// one goes at the end. The one way variables are layered (record, `[env]`, files, task).
pub fn merge_env(env: &mut Vec<(String, String)>, more: impl IntoIterator<Item = (String, String)>) {
    for (k, v) in more {
        if let Some(slot) = env.iter_mut().find(|(ek, _)| *ek == k) {
            slot.1 = v;
        } else {
            env.push((k, v));
        }
    }
}

/// The env files of one operation, each read at most once: a start checks them before it
/// writes anything, then builds every environment (launch, hooks, probes) from what it read.
/// A file that could not be read keeps its error.
#[derive(Debug, Default)]
pub struct EnvFiles(HashMap<PathBuf, Result<Vec<(String, String)>>>);

impl EnvFiles {
    /// The variables of env file `path`, read now unless it was read before.
    pub fn get(&mut self, path: &Path) -> Result<&[(String, String)]> {
        self.0
            .entry(path.to_path_buf())
            .or_insert_with(|| read_env_file(path))
            .as_deref()
            .map_err(Clone::clone)
    }

    /// Merges the env files `paths` into `env`, in order; the first that cannot be read is
    /// the error.
    fn merge_into<'a>(
        &mut self,
        env: &mut Vec<(String, String)>,
        paths: impl IntoIterator<Item = &'a PathBuf>,
    ) -> Result<()> {
        for f in paths {
            merge_env(env, self.get(f)?.iter().cloned());
        }
        Ok(())
    }
}

/// [`record_env`] with the project's state already loaded.
pub(super) fn record_env_in(ctx: &Ctx, state: &State, refresh: bool) -> Result<Vec<(String, String)>> {
    let stored = state.env();
    if !refresh && let Some(e) = stored {
        return Ok(e);
    }
    let env = ctx.env.clone();
    let owner = Some(ctx.project.path.clone());
    if stored.as_ref() != Some(&env) || state.config_path != owner {
        State::update(&ctx.home, &ctx.project.name, |s| {
            s.set_env(&env);
            s.config_path = owner;
        })?;
    }
    Ok(env)
}

/// The `$PORT` a task has now, without assigning one: `port`, else the one assigned to
/// its `host` in `state`.
pub fn known_port(state: &State, task: &Task) -> Option<u16> {
    task.port
        .or_else(|| task.host.as_ref().and_then(|_| state.port(&task.name)))
}

/// [`task_port`] with the project's state already loaded (it is loaded again, under the
/// lock, only to assign a port).
pub(super) fn port_in(home: &Path, session: &str, state: &State, task: &Task, assign: bool) -> Result<Option<u16>> {
    if let Some(p) = task.port {
        return Ok(Some(p));
    }
    if task.host.is_none() {
        return Ok(None);
    }
    if let Some(p) = state.port(&task.name) {
        return Ok(Some(p));
    }
    if !assign {
        return Ok(None);
    }
    State::update(home, session, |s| {
        if let Some(p) = s.port(&task.name) {
            return Some(p);
        }
        let p = std::net::TcpListener::bind(("127.0.0.1", 0))
            .ok()?
            .local_addr()
            .ok()?
            .port();
        s.set_port(&task.name, p);
        Some(p)
    })
}

/// A task's full environment: record + `[env]` + env files + task `env` + `PORT` + marker.
pub fn task_env(
    project: &Project,
    task: &Task,
    record: &[(String, String)],
    port: Option<u16>,
) -> Result<Vec<(String, String)>> {
    task_env_with(project, task, record, port, &mut EnvFiles::default())
}

/// [`task_env`] from env files read once.
pub(super) fn task_env_with(
    project: &Project,
    task: &Task,
    record: &[(String, String)],
    port: Option<u16>,
    files: &mut EnvFiles,
) -> Result<Vec<(String, String)>> {
    let mut env = record.to_vec();
    merge_env(&mut env, project.env.iter().cloned());
    files.merge_into(&mut env, project.env_file.iter().chain(task.env_file.iter()))?;
    merge_env(&mut env, task.env.iter().cloned());
    if let Some(p) = port {
        merge_env(&mut env, [("PORT".to_string(), p.to_string())]);
    }
    merge_env(
        &mut env,
        [("TASKMUX_TASK".to_string(), format!("{}/{}", project.name, task.name))],
    );
    merge_env(&mut env, [("TASKMUX_SESSION".to_string(), project.name.clone())]);
    Ok(env)
}

/// The environment hooks and probes of a task run with (its full environment with the port
/// already assigned, if any), or the project's for global hooks: record + `[env]` + the
/// project's env files.
pub(super) fn hook_env(
    project: &Project,
    task: Option<&Task>,
    record: &[(String, String)],
    state: &State,
    files: &mut EnvFiles,
) -> Result<Vec<(String, String)>> {
    match task {
        Some(t) => task_env_with(project, t, record, known_port(state, t), files),
        None => {
            let mut env = record.to_vec();
            merge_env(&mut env, project.env.iter().cloned());
            files.merge_into(&mut env, &project.env_file)?;
            Ok(env)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_replaces_in_place_and_appends() {
        let mut env = vec![("A".to_string(), "1".to_string()), ("B".to_string(), "2".to_string())];
        merge_env(
            &mut env,
            [("B".to_string(), "3".to_string()), ("C".to_string(), "4".to_string())],
        );
        assert_eq!(
            env,
            [("A", "1"), ("B", "3"), ("C", "4")].map(|(k, v)| (k.to_string(), v.to_string()))
        );
    }

    #[test]
    fn env_files_are_read_once() {
        let d = std::env::temp_dir().join(format!("tmx-envfiles-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let f = d.join("a.env");
        std::fs::write(&f, "X=1\n").unwrap();
        let mut files = EnvFiles::default();
        assert_eq!(files.get(&f).unwrap(), [("X".to_string(), "1".to_string())]);
        std::fs::write(&f, "X=2\n").unwrap();
        assert_eq!(files.get(&f).unwrap()[0].1, "1");
        assert_eq!(files.get(&d.join("missing.env")).unwrap_err().code(), "E104");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
