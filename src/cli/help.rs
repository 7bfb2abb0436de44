//! The command table and the help text made from it and the flag table.

use super::VERSION;
use super::flags;

/// One row of the command table: name, arguments, summary. `--help` is made from it.
pub struct CommandSpec {
    /// The command's name.
    pub name: &'static str,
    /// Its arguments and flags, as in a synopsis.
    pub args: &'static str,
    /// One line on what it does.
    pub summary: &'static str,
    /// Implemented in this version.
    pub available: bool,
}

/// Every `taskmux` command.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "start",
        args: "[TASK...] [--wait] [--if-stopped]",
        summary: "start auto_start tasks in dependency order (or the named ones)",
        available: true,
    },
    CommandSpec {
        name: "stop",
        args: "[TASK...]",
        summary: "stop tasks: C-c, then SIGTERM, then SIGKILL; no process is left",
        available: true,
    },
    CommandSpec {
        name: "restart",
        args: "[TASK...]",
        summary: "stop then start, in the same window",
        available: true,
    },
    CommandSpec {
        name: "kill",
        args: "TASK",
        summary: "SIGKILL a task and destroy its window",
        available: true,
    },
    CommandSpec {
        name: "status",
        args: "",
        summary: "every task's state (aliases: list, ls)",
        available: true,
    },
    CommandSpec {
        name: "health",
        args: "[-v]",
        summary: "probe every task now",
        available: true,
    },
    CommandSpec {
        name: "inspect",
        args: "TASK",
        summary: "full state of one task",
        available: true,
    },
    CommandSpec {
        name: "logs",
        args: "[TASK] [-f] [-n N] [-g PATTERN] [-C N] [--since T]",
        summary: "task output from the log files",
        available: true,
    },
    CommandSpec {
        name: "logs-clean",
        args: "[TASK]",
        summary: "delete log files",
        available: true,
    },
    CommandSpec {
        name: "events",
        args: "[--task T] [--since T] [-n N] [--all-projects]",
        summary: "lifecycle events",
        available: true,
    },
    CommandSpec {
        name: "add",
        args: "TASK COMMAND [--cwd D] [--host H] [--health-check C] [--depends-on T]... [--force]",
        summary: "add a task to taskmux.toml",
        available: true,
    },
    CommandSpec {
        name: "remove",
        args: "TASK",
        summary: "remove a task from taskmux.toml",
        available: true,
    },
    CommandSpec {
        name: "init",
        args: "[--defaults]",
        summary: "create taskmux.toml and agent context",
        available: true,
    },
    CommandSpec {
        name: "check",
        args: "",
        summary: "validate the config and lint the environment",
        available: true,
    },
    CommandSpec {
        name: "url",
        args: "TASK",
        summary: "the task's https URL",
        available: true,
    },
    CommandSpec {
        name: "send",
        args: "TASK TEXT... [--no-enter]",
        summary: "type text into a task's pane",
        available: true,
    },
    CommandSpec {
        name: "attach",
        args: "[TASK]",
        summary: "attach to the session or a task's window",
        available: true,
    },
    CommandSpec {
        name: "run",
        args: "[opts] -- CMD...",
        summary: "run a fire-and-forget job window",
        available: true,
    },
    CommandSpec {
        name: "jobs",
        args: "[--tag T] | kill ... | wait ID",
        summary: "list and control job windows",
        available: true,
    },
    CommandSpec {
        name: "watch",
        args: "",
        summary: "reload on config change",
        available: true,
    },
    CommandSpec {
        name: "daemon",
        args: "[start|stop|status|...]",
        summary: "the per-machine supervisor",
        available: false,
    },
    CommandSpec {
        name: "config",
        args: "show|set|path",
        summary: "global config",
        available: false,
    },
    CommandSpec {
        name: "ca",
        args: "install|mint|uninstall",
        summary: "local certificates",
        available: false,
    },
    CommandSpec {
        name: "dns",
        args: "install|uninstall|flush|query",
        summary: "name resolution",
        available: false,
    },
    CommandSpec {
        name: "doctor",
        args: "",
        summary: "check the machine and say what to fix",
        available: false,
    },
    CommandSpec {
        name: "completions",
        args: "bash|zsh|fish",
        summary: "print a shell completion script",
        available: true,
    },
];

pub fn main_help() -> String {
    let mut s = format!(
        "taskmux {VERSION}: run a project's development tasks in tmux\n\n\
         Usage: taskmux [--json] [-c PATH] [-L SOCKET] COMMAND [ARGS...]\n\nCommands:\n"
    );
    let w = COMMANDS
        .iter()
        .map(|c| c.name.len() + c.args.len() + 1)
        .max()
        .unwrap_or(0)
        .min(44);
    for c in COMMANDS.iter().filter(|c| c.available) {
        let left = format!("{} {}", c.name, c.args);
        s.push_str(&format!("  {left:<w$}  {}\n", c.summary));
    }
    s.push_str("\nGlobal flags (anywhere before --):\n");
    s.push_str(&flags::help_lines(flags::GLOBAL));
    s.push_str(
        "\nEnvironment: TASKMUX_HOME (state, default ~/.taskmux), TASKMUX_TMUX_SOCKET, NO_COLOR,\n\
         TASKMUX_HOOK_TIMEOUT (seconds a hook may run, default 60).\n\
         Exit codes: 0 success, 1 failure, 2 usage error or invalid config.\n",
    );
    s
}

pub fn command_help(name: &str) -> Option<String> {
    let c = COMMANDS.iter().find(|c| c.name == name)?;
    let mut s = format!("Usage: taskmux {} {}\n\n{}.\n", c.name, c.args, c.summary);
    let flags = flags::of(name);
    if !flags.is_empty() {
        s.push_str("\nOptions:\n");
        s.push_str(&flags::help_lines(flags));
    }
    s.push_str("\nGlobal flags:\n");
    s.push_str(&flags::help_lines(flags::GLOBAL));
    Some(s)
}
