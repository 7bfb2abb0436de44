//! Shell completions: `taskmux completions bash|zsh|fish` prints the committed scripts, and
//! the hidden `taskmux __tasks [-c PATH]` lists the config's task names for them.

use super::Globals;
use super::render::Out;
use crate::config;
use crate::error::{Error, Result};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

/// The bash script (also completes `taskmux-run`).
pub const BASH: &str = include_str!("../../completions/taskmux.bash");
/// The zsh script (`#compdef taskmux taskmux-run`).
pub const ZSH: &str = include_str!("../../completions/_taskmux");
/// The fish script.
pub const FISH: &str = include_str!("../../completions/taskmux.fish");

/// `taskmux completions SHELL`: prints the completion script for bash, zsh or fish.
pub fn completions(_g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let words: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let [shell] = words.as_slice() else {
        return Err(Error::usage("completions takes one SHELL: bash, zsh or fish"));
    };
    let script = match shell.as_str() {
        "bash" => BASH,
        "zsh" => ZSH,
        "fish" => FISH,
        other => {
            return Err(Error::usage(format!("no completions for shell '{other}'")).hint("use bash, zsh or fish"));
        }
    };
    out.print(script);
    Ok(0)
}

/// `taskmux __tasks [-c PATH]`: the task names of the config found upward from the current
/// directory (or PATH), one per line; nothing, and success, when there is none or it is invalid.
pub fn tasks_main(args: &[OsString]) -> ExitCode {
    let mut explicit: Option<PathBuf> = None;
    let mut it = args.iter().map(|a| a.to_string_lossy().into_owned());
    while let Some(a) = it.next() {
        if a == "-c" || a == "--config" {
            explicit = it.next().map(PathBuf::from);
        } else if let Some(v) = a.strip_prefix("--config=") {
            explicit = Some(PathBuf::from(v));
        } else if let Some(v) = a.strip_prefix("-c") {
            explicit = Some(PathBuf::from(v));
        }
    }
    let Ok(cwd) = std::env::current_dir() else {
        return ExitCode::SUCCESS;
    };
    if let Ok(path) = config::find(explicit.as_deref(), &cwd)
        && let Ok(project) = config::load(&path)
    {
        let mut s = String::new();
        for n in project.task_names() {
            s.push_str(&n);
            s.push('\n');
        }
        use std::io::Write;
        let _ = std::io::stdout().write_all(s.as_bytes());
    }
    ExitCode::SUCCESS
}
