//! The environment a task runs with: the environment of record (kept in `state.json`),
//! `[env]`, `env_file`s, the task's `env`, `$PORT` (assigned once for a `host`) and the
//! marker; and the one merge of variables.

use crate::config::{Project, Task, read_env_file};
use crate::error::Result;
use crate::state::{self, State};

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

/// The environment of record: the stored one, or this process's, stored now.
pub fn record_env(session: &str, refresh: bool) -> Result<Vec<(String, String)>> {
    if !refresh && let Some(e) = State::load(session).env() {
        return Ok(e);
    }
    let env = state::capture_env();
    if State::load(session).env().as_ref() != Some(&env) {
        State::update(session, |s| s.set_env(&env))?;
    }
    Ok(env)
}

/// The `$PORT` of a task: `port`, else the port assigned for `host` (picked once, kept in
/// state.json so it is stable across restarts).
pub fn task_port(session: &str, task: &Task, assign: bool) -> Result<Option<u16>> {
    if let Some(p) = task.port {
        return Ok(Some(p));
    }
    if task.host.is_none() {
        return Ok(None);
    }
    if let Some(p) = State::load(session).port(&task.name) {
        return Ok(Some(p));
    }
    if !assign {
        return Ok(None);
    }
    State::update(session, |s| {
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
    let mut env = record.to_vec();
    merge_env(&mut env, project.env.iter().cloned());
    for f in project.env_file.iter().chain(task.env_file.iter()) {
        merge_env(&mut env, read_env_file(f)?);
    }
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

/// The environment hooks and probes of a task run with (or the project's, for global hooks).
pub(super) fn hook_env(
    project: &Project,
    task: Option<&Task>,
    record: &[(String, String)],
) -> Result<Vec<(String, String)>> {
    match task {
        Some(t) => task_env(project, t, record, task_port(&project.name, t, false)?),
        None => {
            let mut env = record.to_vec();
            merge_env(&mut env, project.env.iter().cloned());
            for f in &project.env_file {
                merge_env(&mut env, read_env_file(f)?);
            }
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
}
