//! `health`: every task probed now, in parallel, the results recorded in tmux.

use super::{Ctx, lifecycle_ctx};
use crate::error::Result;
use crate::health::{self, Probe};
use crate::state::State;
use crate::task::{self, Runtime};
use serde::Serialize;
use std::collections::HashMap;

/// One task's probe in `health`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct HealthRow {
    /// The task.
    pub name: String,
    /// It passed.
    pub healthy: bool,
    /// `http`, `shell`, `tcp` or `proc`.
    pub method: health::Method,
    /// Why it failed.
    pub reason: Option<String>,
}

/// `health`: every task probed now.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct HealthReport {
    /// Tasks that passed.
    pub healthy_count: usize,
    /// Tasks probed.
    pub total_count: usize,
    /// Each task's probe, in config order.
    pub tasks: Vec<HealthRow>,
}

fn probe_all(lc: &task::Ctx, rts: &HashMap<String, Runtime>, state: &State) -> Vec<(String, Probe)> {
    let record = state.env().unwrap_or_else(|| lc.env.clone());
    let results: Vec<(String, Probe)> = std::thread::scope(|s| {
        let hs: Vec<_> = lc
            .project
            .tasks
            .iter()
            .map(|t| {
                let rt = rts.get(&t.name);
                let record = &record;
                let port = rt.and_then(|r| r.port).or_else(|| task::known_port(state, t));
                s.spawn(move || {
                    let running = rt.is_some_and(|r| r.running());
                    let env = task::task_env(&lc.project, t, record, port).unwrap_or_else(|_| record.clone());
                    (t.name.clone(), health::probe(t, running, &env))
                })
            })
            .collect();
        hs.into_iter()
            .zip(&lc.project.tasks)
            .map(|(h, t)| h.join().unwrap_or_else(|_| (t.name.clone(), health::probe_crashed(t))))
            .collect()
    });
    let recs: Vec<(String, Probe)> = results
        .iter()
        .filter_map(|(n, p)| {
            rts.get(n)
                .filter(|r| r.running())
                .map(|r| (r.window_id.clone(), p.clone()))
        })
        .collect();
    task::record_health(&lc.tmux, &recs);
    results
}

/// `health`.
pub fn health(ctx: &Ctx) -> Result<HealthReport> {
    let lc = lifecycle_ctx(ctx)?;
    let rts = task::read_runtime_brief(&lc.tmux, &lc.project.name)?;
    let state = State::load(&ctx.home, &lc.project.name)?;
    let results = probe_all(&lc, &rts, &state);
    Ok(HealthReport {
        healthy_count: results.iter().filter(|(_, p)| p.ok).count(),
        total_count: results.len(),
        tasks: results
            .into_iter()
            .map(|(name, p)| HealthRow {
                name,
                healthy: p.ok,
                method: p.method,
                reason: p.reason,
            })
            .collect(),
    })
}
