//! Hooks: the four kinds ([`Hook`]), the project's and a task's, run in the project
//! directory with an environment given by the caller, under `TASKMUX_HOOK_TIMEOUT`. Their
//! output goes to stderr; when one command runs the hooks of several tasks, each line is
//! labelled with whose hook printed it ([`Labels`]).

use super::Ctx;
use crate::config::{Hooks, Project, Task};
use crate::error::{Error, Kind, Result};
use crate::health;
use std::io::{BufRead, Write};
use std::time::Duration;

/// The label of a project hook's lines: it has a space, so no task name can be it.
pub const PROJECT_LABEL: &str = "project hook";

/// Whether a command labels its hooks' output: on when it runs the hooks of more than one
/// task, whose lines could not be told apart otherwise (parallel hooks interleave).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Labels(pub bool);

impl Labels {
    /// On when more than one of `tasks` has a hook of `kinds`.
    pub fn for_tasks<'t>(tasks: impl IntoIterator<Item = &'t Task>, kinds: &[Hook]) -> Labels {
        let n = tasks
            .into_iter()
            .filter(|t| kinds.iter().any(|k| k.command(&t.hooks).is_some()))
            .count();
        Labels(n > 1)
    }

    /// The label of a hook's lines: its task's name, or [`PROJECT_LABEL`]; None when off.
    fn of(self, task: Option<&str>) -> Option<String> {
        self.0.then(|| task.unwrap_or(PROJECT_LABEL).to_string())
    }
}

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
    /// Put `[LABEL] ` before each line it prints (see [`Labels`]); None: as it prints it.
    pub label: Option<String>,
}

/// The details of a hook's failure: which hook, of which task (null: the project's), its
/// command, and its exit code when it ran to one.
#[derive(serde::Serialize)]
struct HookDetails<'a> {
    hook: &'static str,
    task: Option<&'a str>,
    command: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_code: Option<i32>,
}

/// Runs one hook in the project directory with its environment and timeout. Its output
/// goes to stderr so `--json` stdout stays clean, each line labelled when `label` is set.
pub fn run_hook(project: &Project, run: HookRun<'_>) -> Result<()> {
    let HookRun {
        hook,
        task,
        command: cmd,
        env,
        timeout,
        label,
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
    let relay = match label {
        Some(l) => labelled_output(&mut c, l),
        None => {
            if let Ok(fd) = std::os::fd::AsFd::as_fd(&std::io::stderr()).try_clone_to_owned() {
                c.stdout(std::process::Stdio::from(fd));
            }
            None
        }
    };
    c.process_group(0);
    let whose = match task {
        Some(t) => format!("{which} hook of task '{t}'"),
        None => format!("project {which} hook"),
    };
    let details = |exit_code| HookDetails {
        hook: which,
        task,
        command: cmd,
        exit_code,
    };
    let ran = health::run_with_timeout(c, timeout);
    if let Some(done) = relay {
        // its last lines are out before the next hook's or the command's own; a process the
        // hook left outside its group may hold the socket open: its lines follow later
        let _ = done.recv_timeout(RELAY_GRACE);
    }
    match ran {
        Ok((Some(0), _)) => Ok(()),
        Ok((Some(code), _)) => Err(Error::from(Kind::HookFailed(format!(
            "{whose} failed with exit code {code}: {cmd}"
        )))
        .hint("fix the hook, or run it by hand from the project directory to see why")
        .details(details(Some(code)))),
        Ok((None, _)) => Err(Error::from(Kind::HookTimeout(format!(
            "{whose} timed out after {:.0}s: {cmd}",
            timeout.as_secs_f64()
        )))
        .hint("make the hook finish sooner, or raise TASKMUX_HOOK_TIMEOUT (seconds)")
        .details(details(None))),
        Err(e) => Err(Error::from(Kind::HookFailed(format!("{whose} could not run: {e}"))).details(details(None))),
    }
}

/// How long a labelled hook's last lines may take to be relayed after it has exited.
const RELAY_GRACE: Duration = Duration::from_secs(1);

/// Points the hook's stdout and stderr at a socket whose lines a thread copies to stderr,
/// each as one write of `[label] line`, so the lines of hooks run in parallel never mix.
/// Returns what says the copy is done (the hook's end and all its output); None (output
/// as it comes, unlabelled) if the socket cannot be made.
fn labelled_output(c: &mut std::process::Command, label: String) -> Option<std::sync::mpsc::Receiver<()>> {
    // a socket pair, not a pipe: std makes it close-on-exec, so a hook started at the same
    // moment by another thread cannot inherit this one's end and hold it open
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().ok()?;
    let out = std::os::fd::OwnedFd::from(theirs.try_clone().ok()?);
    let (tx, rx) = std::sync::mpsc::channel();
    // the relay first: without it, the hook's output stays as it is
    std::thread::Builder::new()
        .name("hook output".into())
        .spawn(move || {
            relay_lines(std::io::BufReader::new(ours), &label, &mut std::io::stderr());
            let _ = tx.send(());
        })
        .ok()?;
    c.stdout(std::process::Stdio::from(out));
    c.stderr(std::process::Stdio::from(std::os::fd::OwnedFd::from(theirs)));
    Some(rx)
}

/// Copies each line of `from` to `to` as `[label] line\n` (a last line without its
/// newline gets one), one write each.
fn relay_lines(mut from: impl BufRead, label: &str, to: &mut impl Write) {
    let mut line = Vec::new();
    loop {
        line.clear();
        match from.read_until(b'\n', &mut line) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        }
        if line.last() != Some(&b'\n') {
            line.push(b'\n');
        }
        let mut out = Vec::with_capacity(line.len() + label.len() + 3);
        out.extend_from_slice(format!("[{label}] ").as_bytes());
        out.extend_from_slice(&line);
        // a reader that went away (a closed stderr) costs the hook nothing
        let _ = to.write_all(&out).and_then(|_| to.flush());
    }
}

/// Runs the project's hook of kind `hook`, if it has one, with the project's environment
/// `env` (computed once by the caller; its error counts only when there is a hook to run).
pub(super) fn project_hook(ctx: &Ctx, hook: Hook, env: &Result<Vec<(String, String)>>, labels: Labels) -> Result<()> {
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
            label: labels.of(None),
        },
    )
}

/// Runs a task's hook of kind `hook`, if it has one, with the task's environment `env`.
pub(super) fn task_hook(ctx: &Ctx, task: &Task, hook: Hook, env: &[(String, String)], labels: Labels) -> Result<()> {
    match hook.command(&task.hooks) {
        Some(cmd) => run_hook(
            &ctx.project,
            HookRun {
                hook,
                task: Some(&task.name),
                command: cmd,
                env,
                timeout: ctx.hook_timeout,
                label: labels.of(Some(&task.name)),
            },
        ),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_line_gets_its_label_and_a_newline() {
        let mut out = Vec::new();
        relay_lines(&b"building\n\nwarn: x\r\nno newline"[..], "api", &mut out);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "[api] building\n[api] \n[api] warn: x\r\n[api] no newline\n"
        );
    }

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
