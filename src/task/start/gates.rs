//! The dependencies of one start: a dependent task's thread waits on its dependency's gate
//! until the dependency is healthy or will not be (and what the gate says then); which
//! tasks have dependents; the warning for a dependency neither running nor started.

use super::wait::Ended;
use crate::config::Task;
use crate::health::{self, Probe};
use std::collections::{HashMap, HashSet};
use std::sync::{Condvar, Mutex};

/// Whether a task of this start is ready for its dependents.
#[derive(Debug, Clone)]
pub(super) enum Gate {
    Pending,
    Healthy,
    NotHealthy(String),
}

/// The gates of a start's tasks: a dependent thread waits on its dependency's gate.
pub(super) struct Gates {
    map: Mutex<HashMap<String, Gate>>,
    cv: Condvar,
}

impl Gates {
    pub(super) fn new<'a>(tasks: impl IntoIterator<Item = &'a str>) -> Gates {
        let map = tasks.into_iter().map(|t| (t.to_string(), Gate::Pending)).collect();
        Gates {
            map: Mutex::new(map),
            cv: Condvar::new(),
        }
    }

    pub(super) fn set(&self, task: &str, g: Gate) {
        if let Ok(mut m) = self.map.lock() {
            m.insert(task.to_string(), g);
        }
        self.cv.notify_all();
    }

    pub(super) fn wait(&self, task: &str) -> Gate {
        let Ok(mut m) = self.map.lock() else {
            return Gate::NotHealthy("internal lock poisoned".into());
        };
        loop {
            match m.get(task) {
                Some(Gate::Pending) | None => match self.cv.wait(m) {
                    Ok(g) => m = g,
                    Err(_) => return Gate::NotHealthy("internal lock poisoned".into()),
                },
                Some(g) => return g.clone(),
            }
        }
    }
}

/// The probe a task failed, and why: for messages.
pub(super) fn probe_desc(task: &Task, p: &Probe) -> String {
    let what = match p.method {
        health::Method::Http => format!("http probe {}", task.health_url.as_deref().unwrap_or("")),
        health::Method::Shell => format!("health_check '{}'", task.health_check.as_deref().unwrap_or("")),
        health::Method::Tcp => "tcp probe on $PORT".into(),
        health::Method::Proc => "process check".into(),
    };
    format!("{what}: {}", p.reason.as_deref().unwrap_or("unhealthy"))
}

/// What a dependency's gate says when its wait ended without health: what happened to it
/// (exited, stopped, the wait cancelled), or the probe budget and the last probe.
pub(super) fn gate_reason(t: &Task, p: &Probe, ended: Ended) -> String {
    let reason = p.reason.clone().unwrap_or_default();
    match ended {
        Ended::Healthy | Ended::TimedOut => {
            let secs = t.health_interval * t.health_retries as f64;
            format!("not healthy after {secs}s ({})", probe_desc(t, p))
        }
        Ended::Died | Ended::Stopped => reason,
        Ended::Cancelled => "was not waited for: the start was cancelled".into(),
    }
}

/// The tasks of `set` another task of it depends on (only a gated start waits on them).
pub(super) fn has_dependents<'a>(set: &[&'a Task], gated: bool) -> HashSet<&'a str> {
    match gated {
        true => set
            .iter()
            .flat_map(|t| t.depends_on.iter().map(String::as_str))
            .collect(),
        false => HashSet::new(),
    }
}

/// `start TASK`: a warning for each dependency that neither runs nor is started now.
pub(super) fn dependency_warnings(set: &[&Task], running_now: &HashSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    for t in set {
        for d in &t.depends_on {
            if !running_now.contains(d) && !set.iter().any(|x| &x.name == d) {
                out.push(format!("Task '{}' depends on '{d}', which is not running", t.name));
            }
        }
    }
    out
}
