//! `projects/<session>/state.json`: what must outlive tmux — the config that owns the
//! session, assigned ports, manual-stop marks and the environment of record. A typed file,
//! written atomically, 0600, under a lock; a file that cannot be read is an error, never a
//! silent reset (that would reassign every port).

use crate::error::{Error, Kind, Result};
use crate::paths;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The per-project state file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct State {
    /// The config that last started the session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_path: Option<PathBuf>,
    /// Ports assigned to tasks with `host`, by task: stable across restarts.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub ports: BTreeMap<String, u16>,
    /// Tasks stopped by hand (`stop`, `kill`): nothing restarts them until the next start.
    /// The one home of that mark: it outlives tmux, and the daemon reads it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub manual_stop: Vec<String>,
    /// The stops by hand so far: each mark gets the next number, so a start knows a stop
    /// that came after it began (and launches nothing it stopped).
    #[serde(skip_serializing_if = "is_zero")]
    pub stops: u64,
    /// The number of each task's manual-stop mark.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub stopped_at: BTreeMap<String, u64>,
    /// What supervision knows of each task: its restart budget and backoff, whether it
    /// gave up, since when it is healthy. Kept here so a lost tmux server or a restarted
    /// daemon forgets none of it.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub supervised: BTreeMap<String, Supervised>,
    /// Tasks being restarted: their stop is ours, and the supervisor leaves their exit to
    /// the restart. Set before the first signal, cleared when the task is launched again.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub restarting: Vec<String>,
    /// The environment of record, captured at the project's first start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<BTreeMap<String, String>>,
    /// When it was captured (ISO-8601).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env_captured_at: Option<String>,
}

impl State {
    /// Where the state of a project lives under the state directory `home`.
    pub fn path(home: &Path, session: &str) -> PathBuf {
        home.join("projects").join(session).join("state.json")
    }

    /// Reads the state of a project; a missing file is empty state, an unreadable or
    /// corrupt one an error naming the file and the fix.
    pub fn load(home: &Path, session: &str) -> Result<State> {
        let path = State::path(home, session);
        match read_file(&path)? {
            Some(bytes) => parse_object(&path, &bytes, |_| Ok(())),
            None => Ok(State::default()),
        }
    }

    /// Changes the state under the project's state lock and writes it atomically (only
    /// when something changed).
    pub fn update<T>(home: &Path, session: &str, f: impl FnOnce(&mut State) -> T) -> Result<T> {
        let file = StateFile {
            home,
            lock: &format!("{session}.state"),
            path: &State::path(home, session),
            create: true,
        };
        file.update(|| State::load(home, session), |st| Ok(f(st)))
    }

    /// The environment of record, if one was captured.
    pub fn env(&self) -> Option<Vec<(String, String)>> {
        self.env
            .as_ref()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }

    /// Records the environment of record.
    pub fn set_env(&mut self, env: &[(String, String)]) {
        self.env = Some(env.iter().cloned().collect());
        self.env_captured_at = Some(paths::iso_time(paths::now_secs()));
    }

    /// The port assigned to a task with `host`, if any.
    pub fn port(&self, task: &str) -> Option<u16> {
        self.ports.get(task).copied()
    }

    /// Records a task's assigned port.
    pub fn set_port(&mut self, task: &str, port: u16) {
        self.ports.insert(task.to_string(), port);
    }

    /// Whether a task was stopped by hand (no auto-restart until the next start).
    pub fn manual_stop(&self, task: &str) -> bool {
        self.manual_stop.iter().any(|t| t == task)
    }

    /// Whether a task's stop is part of a restart that has not launched it yet.
    pub fn restarting(&self, task: &str) -> bool {
        self.restarting.iter().any(|t| t == task)
    }

    /// Sets or clears a task's restart mark.
    pub fn set_restarting(&mut self, task: &str, on: bool) {
        self.restarting.retain(|t| t != task);
        if on {
            self.restarting.push(task.to_string());
        }
    }

    /// Sets or clears a task's manual-stop mark (a mark set gets the next stop number).
    pub fn set_manual_stop(&mut self, task: &str, on: bool) {
        self.manual_stop.retain(|t| t != task);
        self.stopped_at.remove(task);
        if on {
            self.manual_stop.push(task.to_string());
            self.stops += 1;
            self.stopped_at.insert(task.to_string(), self.stops);
            // a restart it was waiting for will not come
            self.set_facts(task, |f| f.backoff_until = None);
        }
    }

    /// Whether a task was stopped by hand after stop number `since` (a start that began
    /// when [`State::stops`] was `since` must not launch it).
    pub fn stopped_since(&self, task: &str, since: u64) -> bool {
        self.manual_stop(task) && self.stopped_at.get(task).is_some_and(|n| *n > since)
    }
}

/// The bytes of a state file, None when there is none yet.
pub fn read_file(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

/// A JSON state file changed in place (`state.json`, `registry.json`, `aliases.json`): read,
/// changed and written back whole under a lock, so two writers never lose each other's change.
pub struct StateFile<'a> {
    /// The state directory, where the lock lives.
    pub home: &'a Path,
    /// The lock's name (see [`paths::lock_in`]).
    pub lock: &'a str,
    /// The file.
    pub path: &'a Path,
    /// Whether it is written when it does not exist yet, though nothing changed.
    pub create: bool,
}

impl StateFile<'_> {
    /// Under the lock: `load` reads the file, `f` changes what it read, and the file is
    /// written atomically (0600) when that changed (or, with `create`, does not exist).
    pub fn update<S, T>(&self, load: impl FnOnce() -> Result<S>, f: impl FnOnce(&mut S) -> Result<T>) -> Result<T>
    where
        S: Clone + PartialEq + Serialize,
    {
        let _lock = paths::lock_in(self.home, self.lock)?;
        let mut value = load()?;
        let before = value.clone();
        let out = f(&mut value)?;
        if value != before || (self.create && !self.path.exists()) {
            let text = serde_json::to_vec_pretty(&value)
                .map_err(|e| Error::internal(format!("cannot encode {}: {e}", self.path.display())))?;
            paths::write_atomic(self.path, &text, 0o600)?;
        }
        Ok(out)
    }
}

/// Reads a state file (`state.json`, `registry.json`) that holds one JSON object of `T`'s
/// shape. serde reads a struct from a JSON array too, field by field, so `[]` would pass
/// as an empty file (forgetting every project, every manual stop): any shape but an
/// object is E306, like garbage. `inner` checks the shape inside the object, and says
/// what is wrong.
pub fn parse_object<T: serde::de::DeserializeOwned>(
    path: &Path,
    bytes: &[u8],
    inner: impl FnOnce(&serde_json::Map<String, serde_json::Value>) -> std::result::Result<(), String>,
) -> Result<T> {
    let corrupt = |reason: String| -> Error {
        Kind::CorruptState {
            path: path.to_path_buf(),
            reason,
        }
        .into()
    };
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
    let serde_json::Value::Object(map) = &value else {
        return Err(corrupt(format!("it holds {}, not an object", json_kind(&value))));
    };
    inner(map).map_err(corrupt)?;
    serde_json::from_value(value).map_err(|e| corrupt(e.to_string()))
}

/// What a JSON value is, in words: `an array`, `a string`, ….
pub fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What supervision knows of one task (taskmuxd(8), SUPERVISION).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Supervised {
    /// Automatic restarts since it was last started by hand or healthy for a minute.
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub restarts: u32,
    /// When its next automatic restart is due (epoch seconds), while it waits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backoff_until: Option<f64>,
    /// It reached `max_restarts`: it stays down, heals included, until started by hand.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub gave_up: bool,
    /// Since when its probes pass (epoch seconds); None while it is not known healthy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthy_since: Option<f64>,
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

impl State {
    /// What supervision knows of a task (nothing yet: the defaults).
    pub fn facts(&self, task: &str) -> Supervised {
        self.supervised.get(task).cloned().unwrap_or_default()
    }

    /// Changes what supervision knows of a task; facts back to the defaults are dropped.
    pub fn set_facts(&mut self, task: &str, f: impl FnOnce(&mut Supervised)) {
        let mut facts = self.facts(task);
        f(&mut facts);
        if facts == Supervised::default() {
            self.supervised.remove(task);
        } else {
            self.supervised.insert(task.to_string(), facts);
        }
    }
}

/// An environment as the environment of record keeps it: sorted, less what tmux sets for
/// each pane itself and our own marker. A front passes its process environment through this.
pub fn record_of(vars: impl IntoIterator<Item = (String, String)>) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(k, _)| !matches!(k.as_str(), "TMUX" | "TMUX_PANE" | "TASKMUX_TASK" | "PORT"))
        .collect();
    env.sort();
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let home = std::env::temp_dir().join(format!("taskmux-state-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        assert_eq!(State::load(&home, "p").expect("missing is empty"), State::default());
        State::update(&home, "p", |s| {
            s.set_port("api", 4000);
            s.set_manual_stop("web", true);
            s.set_env(&[("A".into(), "1".into())]);
        })
        .expect("written");
        let s = State::load(&home, "p").expect("reads back");
        assert_eq!((s.port("api"), s.manual_stop("web")), (Some(4000), true));
        assert_eq!(s.env(), Some(vec![("A".to_string(), "1".to_string())]));
        // a file from before this version, with its untyped keys, still reads
        std::fs::write(
            State::path(&home, "p"),
            r#"{"ports": {"a": 1}, "manual_stop": ["b"], "extra": 1}"#,
        )
        .expect("write");
        let s = State::load(&home, "p").expect("old file reads");
        assert_eq!((s.port("a"), s.manual_stop("b")), (Some(1), true));
        // a struct reads from an array too, by position: a wrong shape is corrupt
        for wrong in ["[]", "[null, {}]", "null", "\"x\"", "7"] {
            std::fs::write(State::path(&home, "p"), wrong).expect("write");
            let e = State::load(&home, "p").expect_err("a wrong shape is an error");
            assert_eq!(e.code(), "E306", "{wrong}: {e}");
        }
        std::fs::write(State::path(&home, "p"), "{not json").expect("write");
        let e = State::load(&home, "p").expect_err("corrupt is an error");
        assert_eq!(e.code(), "E306");
        assert!(e.message().contains("state.json"), "{e}");
        assert!(
            State::update(&home, "p", |s| s.set_port("x", 2)).is_err(),
            "never overwritten"
        );
        let _ = std::fs::remove_dir_all(&home);
    }
}
