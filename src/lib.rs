//! taskmux: run a project's development tasks in tmux. The library behind the four binaries.

pub mod authoring;
pub mod check;
pub mod cli;
pub mod cli_jobs;
pub mod cli_logs;
pub mod completions;
pub mod config;
pub mod error;
pub mod events;
pub mod flags;
pub mod health;
pub mod jobs;
pub mod logread;
pub mod logs;
pub mod output;
pub mod paths;
pub mod proc;
pub mod state;
pub mod task;
pub mod time;
pub mod tmux;
pub mod watch;
