//! `events`: the lifecycle event history of this project, or of every project.

use super::{Ctx, load_project};
use crate::error::Result;
use crate::logs;
use crate::paths;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Params of `events`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventsParams {
    /// Only this task's events.
    pub task: Option<String>,
    /// `5m`, `1h30m` or an ISO time.
    pub since: Option<String>,
    /// The last N events.
    pub lines: Option<usize>,
    /// Every project's events, not only this one's.
    pub all_projects: bool,
    /// Then each new event as it is recorded: the reply streams (the default is then the
    /// last 10 events).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub follow: bool,
}

/// `events`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct EventList {
    /// The events, oldest first.
    pub events: Vec<Value>,
    /// How many.
    pub count: usize,
}

/// `events`.
pub fn events(ctx: &Ctx, p: EventsParams) -> Result<EventList> {
    let session = if p.all_projects {
        None
    } else {
        Some(load_project(ctx)?.name)
    };
    let since = match &p.since {
        Some(s) => Some(logs::parse_since(s, paths::now_secs())?),
        None => None,
    };
    let events = ctx
        .events
        .query(session.as_deref(), p.task.as_deref(), since, p.lines)?;
    Ok(EventList {
        count: events.len(),
        events,
    })
}
