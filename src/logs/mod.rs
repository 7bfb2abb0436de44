//! Task logs: the `__log` writer that `pipe-pane` feeds, and the readers behind `logs`.
//!
//! The writer ([`write_pane_log`], [`Writer`]) splits a pane's raw bytes into lines, stamps each
//! with a UTC time ([`stamp`]: `2024-01-01T14:00:00.123 `), appends them to the task's file
//! ([`log_path`]) and rotates it to `<file>.1` … `<file>.N`. The readers work on those files
//! alone, so logs outlive the tmux session: [`read`] (`-n`, `-g`/`-C`, `--since`, several
//! tasks interleaved by time), [`follow`] (`-f`, across rotations) and [`clean`].
//!
//! Files, each owning one part:
//! - `writer`: the line writer, where a log lives, rotation, write failures;
//! - `pane`: the `__log` loop that feeds it until the pane is dead;
//! - `read`: the query and line types and [`read`];
//! - `files`: opening a task's files (current and rotated) and reading them, backwards too;
//! - `filter`: `--since`, `-g` on the visible text, `-C` context, `-n` per task;
//! - `merge`: interleaving tasks by time;
//! - `follow`: `-f`;
//! - `index`: the line index, which numbers lines across rotations (losses `-f` reports);
//! - `report`: a writer's failures, as events and the `<task>.log.error` status file;
//! - `usable`: whether a path can hold a log at all.
//!

mod files;
mod filter;
mod follow;
mod index;
mod merge;
mod pane;
mod read;
mod report;
#[cfg(test)]
mod testutil;
mod types;
mod usable;
mod writer;

pub use files::clean;
pub use filter::{parse_since, strip_ansi};
pub use follow::follow_while;
pub use index::index_path;
pub use pane::{WriterOptions, write_pane_log};
pub use read::read;
pub use report::{LogError, TaskLog, log_error, log_errors};
pub use types::{Line, Query, Source};
pub use usable::check_log_path;
pub use writer::{log_path, pipe_command, task_pipe_command};
