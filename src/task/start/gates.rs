//! The gates of one start: a dependent task's thread waits on its dependency's gate until
//! the dependency is healthy or will not be.

use std::collections::HashMap;
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
