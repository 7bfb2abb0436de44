//! Task logs: the `__log` writer that `pipe-pane` feeds, and the readers behind `logs`.
//!
//! The writer ([`write_pane_log`], [`Writer`]) splits a pane's raw bytes into lines, stamps each
//! with a UTC time ([`stamp`]: `2024-01-01T14:00:00.123 `), appends them to the task's file
//! ([`log_path`]) and rotates it to `<file>.1` … `<file>.N`. The readers work on those files
//! alone, so logs outlive the tmux session: [`read`] (`-n`, `-g`/`-C`, `--since`, several
//! tasks interleaved by time), [`follow`] (`-f`, across rotations) and [`clean`].
//!
//! Files, each owning one part:
//! - `writer`: the `__log` writer, where a log lives, rotation;
//! - `read`: the query and line types and [`read`];
//! - `files`: opening a task's files (current and rotated) and reading them, backwards too;
//! - `filter`: `--since`, `-g` on the visible text, `-C` context, `-n` per task;
//! - `merge`: interleaving tasks by time;
//! - `follow`: `-f`.
//!

mod files;
mod filter;
mod follow;
mod merge;
mod read;
#[cfg(test)]
mod testutil;
mod writer;

pub use files::clean;
pub use filter::{parse_since, strip_ansi};
pub use follow::follow;
pub use read::{Line, Query, Source, parse_ts, read};
pub use writer::{LINE_CAP, Writer, log_path, pipe_command, stamp, write_pane_log};
