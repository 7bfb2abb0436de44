//! tmuxp workspaces: the session a workspace names, and creating it with `tmuxp load`.

use crate::ctx::Ctx;
use crate::error::{Error, Kind, Result};
use crate::paths;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The session named in a tmuxp workspace (`.tmuxp.yaml`, `.yml`, `.json`, or a directory
/// holding one). Only `session_name` is read; every other key is tolerated.
pub fn workspace_session(path: &Path) -> Result<(PathBuf, String)> {
    let file = if path.is_dir() {
        [
            ".tmuxp.yaml",
            ".tmuxp.yml",
            ".tmuxp.json",
            "tmuxp.yaml",
            "tmuxp.yml",
            "tmuxp.json",
        ]
        .iter()
        .map(|n| path.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::from(Kind::Workspace(format!(
                "No tmuxp workspace (.tmuxp.yaml, .yml or .json) in {}",
                path.display()
            )))
        })?
    } else {
        path.to_path_buf()
    };
    let text = std::fs::read_to_string(&file).map_err(|e| {
        Error::from(Kind::Workspace(format!(
            "Cannot read tmuxp workspace {}: {e}",
            file.display()
        )))
        .hint("pass -w with a .tmuxp.yaml/.yml/.json file or a directory holding one")
    })?;
    let name = if file.extension().is_some_and(|e| e == "json") {
        serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["session_name"].as_str().map(str::to_string))
    } else {
        text.lines().find_map(|l| {
            // a top-level key: no indentation
            let rest = l.strip_prefix("session_name:")?;
            let v = rest.split(" #").next().unwrap_or("").trim();
            let v = v.trim_matches(|c| c == '"' || c == '\'');
            (!v.is_empty()).then(|| v.to_string())
        })
    };
    let abs = std::path::absolute(&file).unwrap_or(file.clone());
    match name {
        Some(n) => Ok((abs, n)),
        None => Err(Error::from(Kind::Workspace(format!(
            "tmuxp workspace {} has no session_name",
            file.display()
        )))
        .hint("add a top-level 'session_name: NAME' to the workspace")),
    }
}

/// Creates the session from a tmuxp workspace under the session's flock, unless it exists.
pub(super) fn load_workspace(ctx: &Ctx, session: &str, file: &Path) -> Result<()> {
    let tmux = &ctx.tmux;
    let _lock = paths::lock_in(&ctx.home, session)?;
    if tmux.has_session(session)? {
        return Ok(());
    }
    let tmuxp = tmux.find("tmuxp").ok_or_else(|| {
        Error::from(Kind::Tmuxp(
            "tmuxp is not installed (needed to create a session from a tmuxp workspace)".into(),
        ))
        .hint("install it: 'apt-get install tmuxp' (Debian/Ubuntu), 'pip install tmuxp' or 'brew install tmuxp'")
    })?;
    let mut c = std::process::Command::new(tmuxp);
    c.arg("load").arg("-d").arg("-y");
    if let Some(s) = &tmux.socket {
        c.arg("-L").arg(s);
    }
    c.arg(file).stdin(std::process::Stdio::null());
    let out = c
        .output()
        .map_err(|e| Error::from(Kind::Tmuxp(format!("cannot run tmuxp: {e}"))))?;
    if !tmux.has_session(session)? {
        return Err(Error::from(Kind::Tmuxp(format!(
            "tmuxp load {} did not create session '{session}': {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))));
    }
    Ok(())
}
