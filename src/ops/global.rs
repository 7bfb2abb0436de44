//! `config_show`, `config_set`, `config_unset`, `config_path`: the global config
//! (`$TASKMUX_HOME/config.toml`) as requests. Reading, validating and editing it are
//! [`crate::config::global_edit`]'s.

use super::Ctx;
use crate::config::GlobalConfig;
use crate::config::global_edit::{self, Edited, Shown};
use crate::error::Result;
use crate::supervision::ConfigApplied;
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

/// What `config_set` and `config_unset` did: the edit, and what the running daemon made of
/// it (it applies a change at once: taskmuxd(8), THE GLOBAL CONFIG).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConfigEdited {
    /// The edit.
    #[serde(flatten)]
    pub edited: Edited,
    /// What the running daemon applied, and what not; absent when none runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<ConfigApplied>,
}

/// `config_set`: the value read as the key's type, written when the whole file is valid,
/// and applied by the daemon when this is the daemon.
pub fn set(ctx: &Ctx, p: SetParams) -> Result<ConfigEdited> {
    let raw = match &p.value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let edited = global_edit::set(&ctx.home, &p.key, &raw)?;
    Ok(applied(ctx, edited))
}

/// `config_unset`: the key back to its default.
pub fn unset(ctx: &Ctx, p: UnsetParams) -> Result<ConfigEdited> {
    let edited = global_edit::unset(&ctx.home, &p.key)?;
    Ok(applied(ctx, edited))
}

fn applied(ctx: &Ctx, edited: Edited) -> ConfigEdited {
    ConfigEdited {
        applied: ctx.daemon.as_ref().map(|d| d.apply_config()),
        edited,
    }
}

/// `config_path`: the file is not read, so this is how to find a broken one.
pub fn path(ctx: &Ctx) -> ConfigPath {
    let path = GlobalConfig::path(&ctx.home);
    ConfigPath {
        exists: path.exists(),
        path,
    }
}
