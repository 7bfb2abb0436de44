//! Hooks: the four kinds ([`Hook`]), the project's and a task's, run in the project
//! directory with an environment given by the caller, under `TASKMUX_HOOK_TIMEOUT`.

use super::Ctx;
use crate::config::{Hooks, Project, Task};
use crate::error::{Error, Kind, Result};
use crate::health;
use serde_json::json;
use std::time::Duration;

/// When a hook runs. A typed kind, so that no spelling can pick the wrong command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// Before a start; a failure aborts it.
    BeforeStart,
    /// After a start.
    AfterStart,
    /// Before a stop; a failure aborts it.
    BeforeStop,
    /// After a stop.
    AfterStop,
}

impl Hook {
    /// The config key and the spelling in messages and JSON: `before_start`, ….
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::BeforeStart => "before_start",
            Hook::AfterStart => "after_start",
            Hook::BeforeStop => "before_stop",
            Hook::AfterStop => "after_stop",
        }
    }

    /// The command configured for this hook in `hooks`, if any.
    pub fn command(self, hooks: &Hooks) -> Option<&str> {
        match self {
            Hook::BeforeStart => hooks.before_start.as_deref(),
            Hook::AfterStart => hooks.after_start.as_deref(),
            Hook::BeforeStop => hooks.before_stop.as_deref(),
            Hook::AfterStop => hooks.after_stop.as_deref(),
        }
    }
}

/// One hook to run: which, whose, its command, its environment and how long it may take.
pub struct HookRun<'a> {
    /// The kind, named in messages.
    pub hook: Hook,
    /// The task it belongs to, or None for the project's.
    pub task: Option<&'a str>,
    /// The shell command.
    pub command: &'a str,
    /// Exactly the environment it runs with.
    pub env: &'a [(String, String)],
    /// How long it may run (`TASKMUX_HOOK_TIMEOUT`, read by the front).
    pub timeout: Duration,
}

/// Runs one hook in the project directory with its environment and timeout. Its output
/// goes to stderr so `--json` stdout stays clean.
pub fn run_hook(project: &Project, run: HookRun<'_>) -> Result<()> {
    let HookRun {
        hook,
        task,
        command: cmd,
        env,
        timeout,
    } = run;
    let which = hook.as_str();
    use std::os::unix::process::CommandExt;
    let mut c = std::process::Command::new("/bin/sh");
    c.arg("-c")
        .arg(cmd)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(&project.dir);
    c.stdin(std::process::Stdio::null());
    if let Ok(fd) = std::os::fd::AsFd::as_fd(&std::io::stderr()).try_clone_to_owned() {
        c.stdout(std::process::Stdio::from(fd));
    }
    c.process_group(0);
    let whose = match task {
        Some(t) => format!("{which} hook of task '{t}'"),
        None => format!("project {which} hook"),
    };
    let details = json!({"hook": which, "task": task, "command": cmd});
    match health::run_with_timeout(c, timeout) {
        Ok((Some(0), _)) => Ok(()),
        Ok((Some(code), _)) => Err(Error::from(Kind::HookFailed(format!(
            "{whose} failed with exit code {code}: {cmd}"
        )))
        .hint("fix the hook, or run it by hand from the project directory to see why")
        .details({
            let mut d = details;
            d["exit_code"] = json!(code);
            d
        })),
        Ok((None, _)) => Err(Error::from(Kind::HookTimeout(format!(
            "{whose} timed out after {:.0}s: {cmd}",
            timeout.as_secs_f64()
        )))
        .hint("make the hook finish sooner, or raise TASKMUX_HOOK_TIMEOUT (seconds)")
        .details(details)),
        Err(e) => Err(Error::from(Kind::HookFailed(format!("{whose} could not run: {e}"))).details(details)),
    }
}

/// Runs the project's hook of kind `hook`, if it has one, with the project's environment
/// `env` (computed once by the caller; its error counts only when there is a hook to run).
pub(super) fn project_hook(ctx: &Ctx, hook: Hook, env: &Result<Vec<(String, String)>>) -> Result<()> {
    let Some(cmd) = hook.command(&ctx.project.hooks) else {
        return Ok(());
    };
    let env = env.as_ref().map_err(Clone::clone)?;
    run_hook(
        &ctx.project,
        HookRun {
            hook,
            task: None,
            command: cmd,
            env,
            timeout: ctx.hook_timeout,
        },
    )
}

/// Runs a task's hook of kind `hook`, if it has one, with the task's environment `env`.
pub(super) fn task_hook(ctx: &Ctx, task: &Task, hook: Hook, env: &[(String, String)]) -> Result<()> {
    match hook.command(&task.hooks) {
        Some(cmd) => run_hook(
            &ctx.project,
            HookRun {
                hook,
                task: Some(&task.name),
                command: cmd,
                env,
                timeout: ctx.hook_timeout,
            },
        ),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_picks_its_own_command() {
        let hooks = Hooks {
            before_start: Some("a".into()),
            after_start: Some("b".into()),
            before_stop: Some("c".into()),
            after_stop: None,
        };
        let all = [Hook::BeforeStart, Hook::AfterStart, Hook::BeforeStop, Hook::AfterStop];
        let picked: Vec<_> = all.iter().map(|h| (h.as_str(), h.command(&hooks))).collect();
        assert_eq!(
            picked,
            [
                ("before_start", Some("a")),
                ("after_start", Some("b")),
                ("before_stop", Some("c")),
                ("after_stop", None)
            ]
        );
    }
}
