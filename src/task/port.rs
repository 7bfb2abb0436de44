//! A task's port before a launch: waiting for what an earlier run left to let it go
//! ([`wait_port_free`]), or freeing it from whatever holds it ([`free_port`]).

use crate::error::{Error, Kind, Result};
use crate::proc;
use serde::Serialize;
use std::time::{Duration, Instant};

/// The details of E205: the port, who holds it, and whether SIGKILL was sent (when
/// taskmux tried to free it).
#[derive(Serialize)]
struct PortHolders<'a> {
    port: u16,
    pids: &'a [i32],
    #[serde(skip_serializing_if = "Option::is_none")]
    killed: Option<bool>,
}

/// Waits, up to `grace`, for nothing to listen on a task's assigned `$PORT` any more (what
/// an earlier run of it left is ending): a relaunch never binds beside the old server. E205
/// naming who holds it when it stays taken.
pub fn wait_port_free(port: u16, task: &str, grace: Duration) -> Result<()> {
    let deadline = Instant::now() + grace;
    while proc::port_listening(port) {
        if Instant::now() >= deadline {
            let pids = proc::listeners(port);
            return Err(Error::from(Kind::PortBusy(format!(
                "Port {port} of task '{task}' is still in use (pids {pids:?}) by something that is not its own run"
            )))
            .hint(format!("find it with 'ss -ltnp sport = :{port}' and stop it"))
            .details(PortHolders {
                port,
                pids: &pids,
                killed: None,
            }));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Frees a TCP port: kills whatever listens on it, TERM then KILL. E205 when it stays taken.
pub fn free_port(port: u16, task: &str) -> Result<()> {
    if !proc::port_listening(port) {
        return Ok(());
    }
    // SIGTERM to its listeners, SIGKILL after a second, for at most 3 s
    let end = proc::Escalation {
        term_after: Some(Duration::ZERO),
        kill_after: Some(Duration::from_secs(1)),
        give_up: Duration::from_secs(3),
        step: Duration::from_millis(50),
        groups: false,
    };
    let mut pids = Vec::new();
    let waited = proc::signal_until(
        &end,
        || {
            pids = proc::listeners(port);
            pids.clone()
        },
        || !proc::port_listening(port),
    );
    match waited {
        Ok(()) => Ok(()),
        Err(_) if pids.is_empty() => Err(Error::from(Kind::PortBusy(format!(
            "Port {port} of task '{task}' is in use by a process taskmux cannot see or signal"
        )))
        .hint(format!(
            "find it with 'ss -ltnp sport = :{port}' and stop it, or change the task's port"
        ))),
        Err(proc::Outlived { killed }) => Err(Error::from(Kind::PortBusy(format!(
            "Port {port} of task '{task}' could not be freed (pids {pids:?})"
        )))
        .hint("those processes may belong to another user; stop them or change the task's port")
        .details(PortHolders {
            port,
            pids: &pids,
            killed: Some(killed),
        })),
    }
}
