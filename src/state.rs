//! `projects/<session>/state.json`: what must outlive tmux — assigned ports, manual-stop
//! marks and the environment of record. Written atomically, 0600, under a lock.

use crate::error::Result;
use crate::paths;
use serde_json::{Map, Value, json};
use std::path::PathBuf;

/// The per-project state file.
#[derive(Debug, Clone, Default)]
pub struct State {
    /// The parsed JSON object.
    pub data: Map<String, Value>,
}

fn path(session: &str) -> PathBuf {
    paths::project_dir(session).join("state.json")
}

impl State {
    /// Reads the state of a project; a missing or unreadable file is empty state.
    pub fn load(session: &str) -> State {
        let data = std::fs::read(path(session))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default();
        State { data }
    }

    /// Changes the state under the project's state lock and writes it atomically.
    pub fn update<T>(session: &str, f: impl FnOnce(&mut State) -> T) -> Result<T> {
        let _lock = paths::lock(&format!("{session}.state"))?;
        let mut st = State::load(session);
        let before = st.data.clone();
        let out = f(&mut st);
        if st.data == before && path(session).exists() {
            return Ok(out);
        }
        let text = serde_json::to_vec_pretty(&Value::Object(st.data.clone())).unwrap_or_default();
        paths::write_atomic(&path(session), &text, 0o600)?;
        Ok(out)
    }

    /// The environment of record, if one was captured.
    pub fn env(&self) -> Option<Vec<(String, String)>> {
        let m = self.data.get("env")?.as_object()?;
        Some(
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect(),
        )
    }

    /// Records the environment of record.
    pub fn set_env(&mut self, env: &[(String, String)]) {
        let m: Map<String, Value> = env.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
        self.data.insert("env".into(), Value::Object(m));
        self.data
            .insert("env_captured_at".into(), json!(paths::iso_time(paths::now_secs())));
    }

    /// The port assigned to a task with `host`, if any.
    pub fn port(&self, task: &str) -> Option<u16> {
        self.data
            .get("ports")?
            .get(task)?
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
    }

    /// Records a task's assigned port.
    pub fn set_port(&mut self, task: &str, port: u16) {
        let ports = self.data.entry("ports").or_insert_with(|| json!({}));
        if let Some(m) = ports.as_object_mut() {
            m.insert(task.into(), json!(port));
        }
    }

    /// Whether a task was stopped by hand (no auto-restart until the next start).
    pub fn manual_stop(&self, task: &str) -> bool {
        self.data
            .get("manual_stop")
            .and_then(|v| v.as_array())
            .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(task)))
    }

    /// Sets or clears a task's manual-stop mark.
    pub fn set_manual_stop(&mut self, task: &str, on: bool) {
        let list = self.data.entry("manual_stop").or_insert_with(|| json!([]));
        if let Some(a) = list.as_array_mut() {
            a.retain(|x| x.as_str() != Some(task));
            if on {
                a.push(json!(task));
            }
        }
    }
}

/// The environment of this process, less what tmux sets for each pane itself and our marker.
pub fn capture_env() -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| !matches!(k.as_str(), "TMUX" | "TMUX_PANE" | "TASKMUX_TASK" | "PORT"))
        .collect();
    env.sort();
    env
}
