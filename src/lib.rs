//! taskmux: run a project's development tasks in tmux. The library behind the four binaries.
//!
//! Layers, top to bottom (a module never imports one above it): the fronts (`cli`, `mcp`), the
//! operations (`ops`), the domain (`task`, `jobs`, `health`, `authoring`, `check`, `watch`,
//! `certs`, `daemon`, `dns`, `proxy`), and the drivers and files (`tmux`, `proc`, `logs`,
//! `events`, `state`, `config`, `paths`, `time`, `ctx`, `error`), over the leaves every layer
//! may use (`shell`, `signals`, `sync`, `domain`, `os`, `lines`).

pub mod aliases;
pub mod api;
pub mod authoring;
pub mod certs;
pub mod check;
pub mod cli;
pub mod client;
pub mod config;
pub mod ctx;
pub mod daemon;
pub mod dns;
pub mod domain;
pub mod error;
pub mod events;
pub mod health;
pub mod jobs;
pub mod lines;
pub mod lock;
pub mod logs;
pub mod mcp;
pub mod notify;
pub mod ops;
pub mod os;
pub mod paths;
pub mod proc;
pub mod proxy;
pub mod registry;
pub mod remote;
pub mod shell;
pub mod signals;
pub mod state;
pub mod supervision;
pub mod sync;
pub mod task;
pub mod time;
pub mod tmux;
pub mod unit;
pub mod watch;
