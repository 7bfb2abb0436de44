//! Listing the job windows of a session, and killing jobs.

use super::*;
use crate::cmd;
use crate::ctx::Ctx;
use crate::error::Result;
use crate::tmux::Cmd;
use serde_json::Value;
use std::path::PathBuf;

/// One job window, as `jobs` lists it: JobRef + `dead`, `exit_code`, `started_at`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct JobInfo {
    /// Its JobRef.
    #[serde(flatten)]
    pub job: JobRef,
    /// The job has ended (its window stayed).
    pub dead: bool,
    /// Its exit code when dead.
    pub exit_code: Option<i32>,
    /// When it started.
    pub started_at: Option<String>,
    /// The wrapper's pid (the pane's process, leader of the job's group); 0 when dead (not
    /// in JSON).
    #[serde(skip)]
    pub pane_pid: i32,
    /// The tmux server's socket path (not in JSON).
    #[serde(skip)]
    pub socket: String,
}

impl JobInfo {
    /// JobRef + `dead`, `exit_code`, `started_at`.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// The job windows of a session, optionally of one tag.
pub fn list(ctx: &Ctx, session: &str, tag: Option<&str>) -> Result<Vec<JobInfo>> {
    let tmux = &ctx.tmux;
    let fields = [
        "window_id",
        "pane_id",
        "pane_dead",
        "pane_dead_status",
        "@taskmux-job",
        "@taskmux-job-tag",
        "@taskmux-job-started",
        "@taskmux-job-log",
        "pane_pid",
        "pane_dead_signal",
        "socket_path",
        "window_name",
    ];
    let rows = tmux.list_panes(Some(session), &fields)?.unwrap_or_default();
    let mut out: Vec<JobInfo> = Vec::new();
    for r in rows {
        if r.len() < fields.len() || !r[11].starts_with("job:") {
            continue;
        }
        if out.iter().any(|j| j.job.window_id == r[0]) {
            continue;
        }
        let t = if r[5].is_empty() {
            r[11].split(':').nth(1).unwrap_or("").to_string()
        } else {
            r[5].clone()
        };
        if tag.is_some_and(|want| want != t) {
            continue;
        }
        // the wrapper records the exit before its pane dies (it still prints and signals):
        // a recorded job has ended, whatever tmux says of its pane
        let recorded = read_exit(&ctx.home, &r[4]);
        let dead = r[2] == "1" || recorded.is_some();
        out.push(JobInfo {
            job: JobRef {
                session: session.to_string(),
                window_id: r[0].clone(),
                pane_id: r[1].clone(),
                window_name: r[11].clone(),
                tag: t,
                log_file: (!r[7].is_empty()).then(|| PathBuf::from(&r[7])),
                id: r[4].clone(),
                exit_code: None,
            },
            dead,
            // the wrapper's own record first: tmux's status can be late or missing
            exit_code: if dead {
                recorded
                    .or_else(|| crate::proc::exit_code(r[3].parse().ok(), r[9].parse().ok(), r[8].parse().unwrap_or(0)))
            } else {
                None
            },
            started_at: (!r[6].is_empty()).then(|| r[6].clone()),
            pane_pid: if dead { 0 } else { r[8].parse().unwrap_or(0) },
            socket: r[10].clone(),
        });
    }
    Ok(out)
}

/// Ends jobs and closes their windows: SIGTERM to each job's processes (the wrapper
/// records the end, 143, and wakes waiters), SIGKILL to what is left after 3 s, then
/// `kill-window`.
pub fn kill(ctx: &Ctx, jobs: &[JobInfo]) -> Result<()> {
    let tmux = &ctx.tmux;
    use crate::proc::{Target, TaskIdentity, Terminate};
    // the job's processes: its group and session, and whatever carries its pane in its
    // environment (a child that made a group of its own); the wrapper itself is spared, so
    // it survives to record the end
    let targets: Vec<Target> = jobs
        .iter()
        .filter(|j| j.pane_pid > 0)
        .map(|j| Target {
            id: TaskIdentity {
                pane_pid: j.pane_pid,
                tty_nr: None,
                marker: String::new(),
                server: j.socket.clone(),
            },
            pane: Some(j.job.pane_id.clone()),
            spare_leader: true,
            grace: std::time::Duration::ZERO,
        })
        .collect();
    let opts = Terminate {
        rescan: std::time::Duration::ZERO,
        ..Terminate::default()
    };
    // what outlives SIGKILL (stuck in the kernel) cannot be helped here: the windows go anyway
    let _ = crate::proc::terminate(&targets, &opts, &ctx.cancel, || {});
    // give each wrapper a moment to record the end before its window goes
    let until = std::time::Instant::now() + std::time::Duration::from_millis(500);
    while jobs.iter().any(|j| j.pane_pid > 0 && crate::proc::alive(j.pane_pid)) && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let cmds: Vec<Cmd> = jobs
        .iter()
        .map(|j| cmd!["kill-window", "-t", &j.job.window_id])
        .collect();
    if !cmds.is_empty() && !tmux.exec(&cmds)?.0 {
        // a window already closed by its own job stops the chain: the rest one by one
        for c in cmds {
            let _ = tmux.exec(&[c])?;
        }
    }
    Ok(())
}
