//! `config_show`, `config_set`, `config_unset`, `config_path`: the global config
//! (`$TASKMUX_HOME/config.toml`) as requests. Reading, validating and editing it are
//! [`crate::config::global_edit`]'s.

use super::Ctx;
use crate::config::GlobalConfig;
use crate::config::global_edit::{self, Edited, Shown};
use crate::error::Result;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::PathBuf;

/// Params of `config_set`: the key, and its value as the command line gives it (`8443`,
/// `dns_server`) or as JSON (`8443`, `["http://localhost:3000"]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetParams {
    /// The key.
    pub key: String,
    /// Its new value.
    pub value: Value,
}

/// Params of `config_unset`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnsetParams {
    /// The key.
    pub key: String,
}

/// `config_path`: where the file is and whether it is there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigPath {
    /// The file.
    pub path: PathBuf,
    /// Whether it exists; when not, every key has its default.
    pub exists: bool,
}

/// `config_show`: every key, its effective value and where it comes from.
pub fn show(ctx: &Ctx) -> Result<Shown> {
    global_edit::show(&ctx.home)
}

/// `config_set`: the value read as the key's type, written when the whole file is valid.
pub fn set(ctx: &Ctx, p: SetParams) -> Result<Edited> {
    let raw = match &p.value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    global_edit::set(&ctx.home, &p.key, &raw)
}

/// `config_unset`: the key back to its default.
pub fn unset(ctx: &Ctx, p: UnsetParams) -> Result<Edited> {
    global_edit::unset(&ctx.home, &p.key)
}

/// `config_path`: the file is not read, so this is how to find a broken one.
pub fn path(ctx: &Ctx) -> ConfigPath {
    let path = GlobalConfig::path(&ctx.home);
    ConfigPath {
        exists: path.exists(),
        path,
    }
}
