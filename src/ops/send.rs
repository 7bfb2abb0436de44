//! `send`: literal text into a running task's pane.

use super::{Action, Ctx, lifecycle_ctx};
use crate::cmd;
use crate::error::{Error, Kind, Result};
use crate::task;
use serde::{Deserialize, Serialize};

/// Params of `send`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendParams {
    /// The task.
    pub task: String,
    /// Literal text to type.
    #[serde(default)]
    pub text: String,
    /// Press Enter after it (default true).
    #[serde(default = "yes")]
    pub enter: bool,
}

fn yes() -> bool {
    true
}

/// What `send` did.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Sent {
    /// Always true.
    pub ok: bool,
    /// The task.
    pub task: String,
    /// `sent`.
    pub action: Action,
}

/// `send TASK TEXT`: literal text into a running task's pane, then Enter.
pub fn send(ctx: &Ctx, p: SendParams) -> Result<Sent> {
    let lc = lifecycle_ctx(ctx)?;
    let t = lc.project.task(&p.task)?;
    let rts = task::read_runtime(&lc.tmux, &lc.project.name)?;
    let Some(rt) = rts.get(&t.name).filter(|r| r.running()) else {
        return Err(Error::from(Kind::NotRunning(format!(
            "Task '{}' is not running: nothing reads what would be sent",
            p.task
        )))
        .hint(format!("start it with 'taskmux start {}'", p.task)));
    };
    let mut chain = Vec::new();
    if !p.text.is_empty() {
        chain.push(cmd!["send-keys", "-t", &rt.pane_id, "-l", "--", &p.text]);
    }
    if p.enter {
        chain.push(cmd!["send-keys", "-t", &rt.pane_id, "Enter"]);
    }
    if chain.is_empty() {
        return Err(Error::usage("send needs TEXT, or Enter"));
    }
    lc.tmux.run(&chain)?;
    Ok(Sent {
        ok: true,
        task: p.task,
        action: Action::Sent,
    })
}
