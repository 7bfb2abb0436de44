//! taskmux: run a project's development tasks in tmux. The library behind the four binaries.
//!
//! Layers, top to bottom (a module never imports one above it): the fronts (`cli`, `mcp`), the
//! operations (`ops`), the domain (`task`, `jobs`, `health`, `authoring`, `check`, `watch`,
//! `certs`, `daemon`, `dns`, `proxy`), and the drivers and files (`tmux`, `proc`, `logs`,
//! `events`, `state`, `config`, `paths`, `time`, `ctx`, `error`), over the leaves every layer
//! may use (`shell`, `signals`, `sync`, `domain`, `os`, `lines`).

pub(crate) mod aliases;
pub(crate) mod api;
pub(crate) mod authoring;
pub mod certs;
pub(crate) mod check;
pub mod cli;
pub(crate) mod client;
pub mod config;
pub(crate) mod ctx;
pub(crate) mod daemon;
pub(crate) mod dns;
pub(crate) mod domain;
pub(crate) mod error;
pub(crate) mod events;
pub(crate) mod health;
pub(crate) mod jobs;
pub(crate) mod lines;
pub(crate) mod lock;
pub(crate) mod logs;
pub(crate) mod mcp;
pub(crate) mod notify;
pub(crate) mod ops;
pub(crate) mod os;
pub(crate) mod paths;
pub(crate) mod proc;
pub(crate) mod proxy;
pub mod registry;
pub(crate) mod remote;
pub(crate) mod shell;
pub(crate) mod signals;
pub(crate) mod state;
pub(crate) mod supervision;
pub(crate) mod sync;
pub(crate) mod task;
pub(crate) mod time;
pub(crate) mod tmux;
pub mod unit;
pub(crate) mod watch;
