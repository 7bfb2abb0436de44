//! Integration tests: the real binaries against real tmux and real processes.

mod check;
mod config_errors;
mod edges;
mod harness;
mod jobs;
mod lifecycle;
mod logs;
mod observe;
mod stop;
mod watch;
