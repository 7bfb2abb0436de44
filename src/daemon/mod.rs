//! The per-machine supervisor's parts: the registry of projects it keeps up.

pub mod registry;
pub mod unit;
