//! `logs` and `logs_clean`: reading and deleting the log files. They need no tmux, so they
//! work after the session is gone.

use super::{Ctx, load_project, request::OptTaskParams};
use crate::error::{Error, Kind, Result};
use crate::logs::{self, Line, Query, Source};
use crate::paths;
use serde::{Deserialize, Serialize};

/// Params of `logs`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogsParams {
    /// One task, or every task interleaved by time.
    pub task: Option<String>,
    /// The last N lines (default 100; every line with `grep` or `since`).
    pub lines: Option<usize>,
    /// A case-insensitive regular expression the lines must match.
    pub grep: Option<String>,
    /// Lines of context around each match.
    pub context: usize,
    /// `5m`, `1h30m` or an ISO time.
    pub since: Option<String>,
    /// Then follow new lines, across rotations: the reply streams (the default tail is
    /// then 10 lines, not 100).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub follow: bool,
}

/// `logs` for one task (`task`, `lines`) or all (`lines` of `{task, line}`).
#[derive(Debug, Clone)]
pub struct LogLines {
    /// The task asked for, if one was.
    pub task: Option<String>,
    /// The lines, oldest first.
    pub lines: Vec<Line>,
}

/// `logs`' JSON: one task's lines as text, or every task's lines tagged.
#[derive(Serialize)]
#[serde(untagged)]
enum LogLinesJson<'a> {
    One { task: &'a str, lines: Vec<String> },
    All { lines: Vec<TaggedLine<'a>> },
}

/// A line of `logs` for every task.
#[derive(Serialize)]
struct TaggedLine<'a> {
    task: &'a str,
    line: String,
}

impl Serialize for LogLines {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let text = |l: &Line| logs::strip_ansi(&l.raw);
        match &self.task {
            Some(task) => LogLinesJson::One {
                task,
                lines: self.lines.iter().map(text).collect(),
            },
            None => LogLinesJson::All {
                lines: self
                    .lines
                    .iter()
                    .map(|l| TaggedLine {
                        task: &l.task,
                        line: text(l),
                    })
                    .collect(),
            },
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for LogLines {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<LogLines, D::Error> {
        #[derive(Deserialize)]
        struct Tagged {
            task: String,
            line: String,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Shape {
            One { task: String, lines: Vec<String> },
            All { lines: Vec<Tagged> },
        }
        let line = |task: String, raw: String| Line {
            task,
            ts: crate::time::parse_log_stamp(raw.as_bytes()).map_or(f64::NAN, |(ts, _)| ts),
            raw,
            lost: None,
        };
        Ok(match Shape::deserialize(d)? {
            Shape::One { task, lines } => LogLines {
                lines: lines.into_iter().map(|l| line(task.clone(), l)).collect(),
                task: Some(task),
            },
            Shape::All { lines } => LogLines {
                task: None,
                lines: lines.into_iter().map(|l| line(l.task, l.line)).collect(),
            },
        })
    }
}

/// The log files of one task, or of every task.
pub fn log_sources(ctx: &Ctx, task: Option<&str>) -> Result<Vec<Source>> {
    let project = load_project(ctx)?;
    let source = |t: &crate::config::Task| Source {
        task: t.name.clone(),
        path: logs::log_path(&ctx.home, &project, t),
        index: Some(logs::index_path(&ctx.home, &project.name, &t.name)),
    };
    Ok(match task {
        Some(t) => vec![source(project.task(t)?)],
        None => project.tasks.iter().map(source).collect(),
    })
}

fn query(p: &LogsParams) -> Result<Query> {
    let grep = match &p.grep {
        Some(pat) => Some(
            regex::RegexBuilder::new(pat)
                .case_insensitive(true)
                .build()
                .map_err(|e| {
                    Error::from(Kind::Usage(format!(
                        "-g '{pat}' is not a valid regular expression: {e}"
                    )))
                    .hint("escape special characters with \\, e.g. -g 'GET /api\\?x'")
                })?,
        ),
        None => None,
    };
    let since = match &p.since {
        Some(s) => Some(logs::parse_since(s, paths::now_secs())?),
        None => None,
    };
    let tail = match p.lines {
        Some(n) => Some(n),
        None if grep.is_some() || since.is_some() => None,
        None if p.follow => Some(10),
        None => Some(100),
    };
    Ok(Query {
        tail,
        grep,
        context: p.context,
        since,
    })
}

/// `logs`.
pub fn logs(ctx: &Ctx, p: LogsParams) -> Result<LogLines> {
    let sources = log_sources(ctx, p.task.as_deref())?;
    let q = query(&p)?;
    Ok(LogLines {
        task: p.task.as_ref().map(|_| sources[0].task.clone()),
        lines: logs::read(&sources, &q)?,
    })
}

/// [`follow`] that also ends once `keep_going` says false (an API subscriber gone).
pub fn follow_while(
    ctx: &Ctx,
    p: LogsParams,
    emit: &mut dyn FnMut(&Line) -> bool,
    keep_going: &dyn Fn() -> bool,
) -> Result<()> {
    let sources = log_sources(ctx, p.task.as_deref())?;
    let q = query(&LogsParams { follow: true, ..p })?;
    logs::follow_while(&sources, &q, emit, keep_going)
}

/// What `logs_clean` did.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Cleaned {
    /// Always true.
    pub ok: bool,
    /// Files deleted.
    pub deleted: usize,
}

/// `logs_clean`: deletes the log files (and rotated ones) of a task or of every task.
pub fn clean(ctx: &Ctx, p: OptTaskParams) -> Result<Cleaned> {
    let sources = log_sources(ctx, p.task.as_deref())?;
    Ok(Cleaned {
        ok: true,
        deleted: logs::clean(&sources)?,
    })
}
