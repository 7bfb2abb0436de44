//! The event history: one JSON object a line in `events.jsonl`, appended under a lock.

use crate::paths;
use serde_json::{Map, Value, json};
use std::io::Write;

/// Appends one event (`task_started`, …) for a session and optional task, with extra fields.
/// Failing to record an event never fails the operation it records.
pub fn emit(event: &str, session: &str, task: Option<&str>, extra: Value) {
    let mut obj = Map::new();
    obj.insert("ts".into(), json!(paths::iso_time(paths::now_secs())));
    obj.insert("event".into(), json!(event));
    obj.insert("session".into(), json!(session));
    if let Some(t) = task {
        obj.insert("task".into(), json!(t));
    }
    if let Value::Object(m) = extra {
        obj.extend(m);
    }
    let mut line = Value::Object(obj).to_string();
    line.push('\n');
    let path = paths::home().join("events.jsonl");
    let Ok(_lock) = paths::lock("events") else { return };
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(&path) {
        let _ = f.write_all(line.as_bytes());
    }
}
