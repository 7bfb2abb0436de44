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
    /// Its subcommands (for `completions`, the shells), each of which `--help` and the man
    /// page name.
    pub subcommands: &'static [&'static str],
}

/// Every `taskmux` command.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "start",
        args: "[TASK...] [--wait] [--if-stopped]",
        summary: "start auto_start tasks in dependency order (or the named ones)",
        subcommands: &[],
    },
    CommandSpec {
        name: "stop",
        args: "[TASK...]",
        summary: "stop tasks: C-c, then SIGTERM, then SIGKILL; no process is left",
        subcommands: &[],
    },
    CommandSpec {
        name: "restart",
        args: "[TASK...]",
        summary: "stop then start, in the same window",
        subcommands: &[],
    },
    CommandSpec {
        name: "kill",
        args: "TASK",
        summary: "SIGKILL a task and destroy its window",
        subcommands: &[],
    },
    CommandSpec {
        name: "status",
        args: "",
        summary: "every task's state (aliases: list, ls)",
        subcommands: &[],
    },
    CommandSpec {
        name: "health",
        args: "[-v]",
        summary: "probe every task now",
        subcommands: &[],
    },
    CommandSpec {
        name: "inspect",
        args: "TASK",
        summary: "full state of one task",
        subcommands: &[],
    },
    CommandSpec {
        name: "logs",
        args: "[TASK] [-f] [-n N] [-g PATTERN] [-C N] [--since T]",
        summary: "task output from the log files",
        subcommands: &[],
    },
    CommandSpec {
        name: "logs-clean",
        args: "[TASK]",
        summary: "delete log files",
        subcommands: &[],
    },
    CommandSpec {
        name: "events",
        args: "[--task T] [--since T] [-n N] [--all-projects]",
        summary: "lifecycle events",
        subcommands: &[],
    },
    CommandSpec {
        name: "add",
        args: "TASK COMMAND [--cwd D] [--host H] [--health-check C] [--depends-on T]... [--force]",
        summary: "add a task to taskmux.toml",
        subcommands: &[],
    },
    CommandSpec {
        name: "remove",
        args: "TASK",
        summary: "remove a task from taskmux.toml",
        subcommands: &[],
    },
    CommandSpec {
        name: "init",
        args: "[--defaults]",
        summary: "create taskmux.toml and agent context",
        subcommands: &[],
    },
    CommandSpec {
        name: "check",
        args: "",
        summary: "validate the config and lint the environment",
        subcommands: &[],
    },
    CommandSpec {
        name: "url",
        args: "TASK",
        summary: "the task's https URL",
        subcommands: &[],
    },
    CommandSpec {
        name: "send",
        args: "TASK TEXT... [--no-enter]",
        summary: "type text into a task's pane",
        subcommands: &[],
    },
    CommandSpec {
        name: "attach",
        args: "[TASK]",
        summary: "attach to the session or a task's window",
        subcommands: &[],
    },
    CommandSpec {
        name: "run",
        args: "[opts] -- CMD...",
        summary: "run a fire-and-forget job window",
        subcommands: &[],
    },
    CommandSpec {
        name: "jobs",
        args: "[list] [--tag T] | kill (--tag T|--window-id ID|--all) | wait ID",
        summary: "list and control job windows",
        subcommands: &["list", "kill", "wait"],
    },
    CommandSpec {
        name: "watch",
        args: "",
        summary: "reload on config change",
        subcommands: &[],
    },
    CommandSpec {
        name: "mcp",
        args: "[--session NAME]",
        summary: "Model Context Protocol server on stdio, for coding agents",
        subcommands: &[],
    },
    CommandSpec {
        name: "daemon",
        args: "[start|stop|restart|status|list|register [-f]|unregister NAME|install [--dry-run]|uninstall]",
        summary: "the per-machine supervisor",
        subcommands: &[
            "start",
            "stop",
            "restart",
            "status",
            "list",
            "register",
            "unregister",
            "install",
            "uninstall",
        ],
    },
    CommandSpec {
        name: "config",
        args: "[show|path|set KEY VALUE|unset KEY]",
        summary: "show or edit the global config, $TASKMUX_HOME/config.toml",
        subcommands: &["show", "path", "set", "unset"],
    },
    CommandSpec {
        name: "ca",
        args: "install|uninstall|mint [HOST]|path|env",
        summary: "the local CA: trust it, mint host certificates, point tools at it",
        subcommands: &["install", "uninstall", "mint", "path", "env"],
    },
    CommandSpec {
        name: "dns",
        args: "serve|install|uninstall|status|flush|query NAME",
        summary: "name resolution for task URLs: the DNS server, the OS resolver set-up, a query",
        subcommands: &["serve", "install", "uninstall", "status", "flush", "query"],
    },
    CommandSpec {
        name: "alias",
        args: "add NAME PORT|HOST:PORT | remove NAME | list",
        summary: "a URL (https://NAME.localhost) for a server taskmux does not run",
        subcommands: &["add", "remove", "list"],
    },
    CommandSpec {
        name: "doctor",
        args: "",
        summary: "check every layer from tmux to the URL and say what to fix",
        subcommands: &[],
    },
    CommandSpec {
        name: "fleet",
        args: "[--timeout SECS]",
        summary: "this machine and every host of [hosts]: reachable, daemon, projects",
        subcommands: &[],
    },
    CommandSpec {
        name: "completions",
        args: "bash|zsh|fish",
        summary: "print a shell completion script",
        subcommands: &["bash", "zsh", "fish"],
    },
];

/// The width `--help` fits in.
const WIDTH: usize = 80;
/// The width of the command column of `--help`; a longer synopsis gets its own lines.
const LEFT: usize = 30;

/// `text` in lines of at most `width` characters, broken between words (a longer word
/// stays whole).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut cur = String::new();
    for w in text.split_whitespace() {
        if !cur.is_empty() && cur.chars().count() + 1 + w.chars().count() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(w);
    }
    if !cur.is_empty() || lines.is_empty() {
        lines.push(cur);
    }
    lines
}

/// One command's rows: its synopsis in the left column (on lines of its own when longer
/// than the column), its summary wrapped in the right one.
fn command_rows(c: &CommandSpec) -> String {
    let indent = 2 + LEFT + 2;
    let left = format!("{} {}", c.name, c.args).trim_end().to_string();
    let mut summary = wrap(c.summary, WIDTH - indent).into_iter();
    let mut s = String::new();
    if left.chars().count() <= LEFT {
        s.push_str(&format!("  {left:<LEFT$}  {}\n", summary.next().unwrap_or_default()));
    } else {
        for (i, l) in wrap(&left, WIDTH - 4).into_iter().enumerate() {
            s.push_str(&format!("{}{l}\n", if i == 0 { "  " } else { "    " }));
        }
    }
    for l in summary {
        s.push_str(&format!("{:indent$}{l}\n", ""));
    }
    s
}

pub fn main_help() -> String {
    let mut s = format!(
        "taskmux {VERSION}: run a project's development tasks in tmux\n\n\
         Usage: taskmux [--json] [-c PATH | -p NAME] [-H HOST] COMMAND [ARGS...]\n\nCommands:\n"
    );
    for c in COMMANDS {
        s.push_str(&command_rows(c));
    }
    s.push_str("\nGlobal flags (anywhere before --):\n");
    s.push_str(&flags::help_lines(flags::GLOBAL));
    s.push_str(
        "\nEnvironment: TASKMUX_HOME (state, default ~/.taskmux), TASKMUX_TMUX_SOCKET,\n\
         NO_COLOR, TASKMUX_HOOK_TIMEOUT (seconds a hook may run, default 60),\n\
         TASKMUX_SSH_COMMAND (ssh and its options for -H and fleet).\n\
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
    if name == "config" {
        s.push_str("\nKeys (their types and defaults: man taskmux, config):\n");
        let keys: Vec<&str> = crate::config::global_edit::KEYS.iter().map(|k| k.name).collect();
        for l in wrap(&keys.join(", "), WIDTH - 2) {
            s.push_str(&format!("  {l}\n"));
        }
    }
    s.push_str("\nGlobal flags:\n");
    s.push_str(&flags::help_lines(flags::GLOBAL));
    Some(s)
}
