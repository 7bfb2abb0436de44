//! Task logs: the `__log` writer that `pipe-pane` feeds, and the readers behind `logs`.
//!
//! The writer ([`writer_main`], [`Writer`]) splits a pane's raw bytes into lines, stamps each
//! with a UTC time ([`stamp`]: `2024-01-01T14:00:00.123 `), appends them to the task's file
//! ([`log_path`]) and rotates it to `<file>.1` … `<file>.N`. The readers work on those files
//! alone, so logs outlive the tmux session.
//!
//! Files: `writer` (writing and rotation).

mod writer;

pub use writer::{LINE_CAP, Writer, log_path, pipe_command, stamp, writer_main};
