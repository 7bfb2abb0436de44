//! Integration tests: the real binaries against real tmux and real processes.

mod config_errors;
mod edges;
mod harness;
mod lifecycle;
mod logs;
mod observe;
mod stop;
