//! taskmux: run a project's development tasks in tmux. The library behind the four binaries.

pub mod cli;
pub mod config;
pub mod error;
pub mod events;
pub mod health;
pub mod output;
pub mod paths;
pub mod proc;
pub mod state;
pub mod task;
pub mod tmux;
