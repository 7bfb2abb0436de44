//! Integration tests: the real binaries against real tmux and real processes.

mod api;
mod authoring;
mod certs;
mod certs_tls;
mod certs_trust;
mod check;
mod completions;
mod config_errors;
mod daemon;
mod dns;
mod drift;
mod edges;
mod global_config;
mod harness;
mod jobs;
mod lifecycle;
mod logs;
mod mcp;
mod observe;
mod proxy;
mod reload;
mod request;
mod stop;
mod units;
mod validation;
mod watch;
