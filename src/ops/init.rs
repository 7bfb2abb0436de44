//! `init`: create `taskmux.toml` and the agent context block.

use super::{Ctx, Warning};
use crate::authoring;
use crate::config::{self, CONFIG_NAME};
use crate::error::{Error, Kind, Result};
use crate::paths;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The details of a config that exists already: where.
#[derive(serde::Serialize)]
struct ConfigExistsDetails<'a> {
    config_path: &'a std::path::Path,
}

/// Params of `init`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InitParams {
    /// The project name (default: the slug of the directory).
    pub name: Option<String>,
    /// The agent files to write the context block to (default: AGENTS.md and CLAUDE.md).
    pub agent_files: Option<Vec<String>>,
}

/// What `init` did.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Initialized {
    /// Always true.
    pub ok: bool,
    /// The project name.
    pub session: String,
    /// The config written.
    pub config_path: PathBuf,
    /// The agent files written.
    pub agent_files: Vec<PathBuf>,
    /// Agent files that could not be written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
}

/// Where `init` would write the config and the name it would give the project; E105 when
/// a config is there already. A front asks its questions with these as defaults.
pub fn init_target(ctx: &Ctx) -> Result<(PathBuf, String)> {
    let here = &ctx.cwd;
    let path = match &ctx.config {
        Some(c) if here.join(c).is_dir() => here.join(c).join(CONFIG_NAME),
        Some(c) => here.join(c),
        None => here.join(CONFIG_NAME),
    };
    let path = std::path::absolute(&path).unwrap_or(path);
    if path.symlink_metadata().is_ok() {
        return Err(
            Error::from(Kind::ConfigExists { path: path.clone() }).details(ConfigExistsDetails { config_path: &path })
        );
    }
    let dir = path.parent().map_or_else(|| here.clone(), Path::to_path_buf);
    let mut name = config::slug(
        &dir.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    name.truncate(64);
    Ok((path, name.trim_end_matches('-').to_string()))
}

/// `init`: creates `taskmux.toml` and writes the agent context block.
pub fn init(ctx: &Ctx, p: InitParams) -> Result<Initialized> {
    let (path, default) = init_target(ctx)?;
    let name = p.name.unwrap_or(default);
    let text = authoring::initial_config(&name);
    let project = config::parse_in(&text, &path, ctx.user_home())?;
    let files: Vec<String> = p
        .agent_files
        .unwrap_or_else(|| authoring::AGENT_FILES.iter().map(|f| f.to_string()).collect());
    if let Some(f) = files.iter().find(|f| !authoring::AGENT_FILES.contains(&f.as_str())) {
        return Err(Error::usage(format!(
            "'{f}' is not an agent file (one of {})",
            authoring::AGENT_FILES.join(", ")
        )));
    }
    paths::write_atomic(&path, text.as_bytes(), 0o644)?;
    let dir = project.dir.clone();
    let block = authoring::agent_block(&project);
    let (mut written, mut warnings) = (Vec::new(), Vec::new());
    for f in files {
        let p = dir.join(&f);
        match authoring::write_agent_file(&p, &block) {
            Ok(()) => written.push(p),
            Err(e) => warnings.push(Warning(format!("{} (skipped {f})", e.message()))),
        }
    }
    Ok(Initialized {
        ok: true,
        session: name,
        config_path: path,
        agent_files: written,
        warnings,
    })
}
