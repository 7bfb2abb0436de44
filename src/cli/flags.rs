//! The one description of every flag: each binary's table says each flag once. `--help`
//! is made from it, the simple parsers read it, and a test holds the man pages, the
//! completion scripts and the hand-written parse loops to it.

/// One flag of a command.
#[derive(Debug, Clone, Copy)]
pub struct Flag {
    /// The long name, without `--`.
    pub long: &'static str,
    /// The short letter, if any.
    pub short: Option<char>,
    /// The value's name, for flags that take one.
    pub value: Option<&'static str>,
    /// One line on what it does.
    pub help: &'static str,
}

const fn f(long: &'static str, short: Option<char>, value: Option<&'static str>, help: &'static str) -> Flag {
    Flag {
        long,
        short,
        value,
        help,
    }
}

/// Flags every `taskmux` command takes, anywhere before `--`.
pub const GLOBAL: &[Flag] = &[
    f("json", None, None, "machine-readable output on stdout"),
    f(
        "config",
        Some('c'),
        Some("PATH"),
        "taskmux.toml to use (default: searched upward from here)",
    ),
    f(
        "socket",
        Some('L'),
        Some("NAME"),
        "tmux socket name, as tmux -L (env TASKMUX_TMUX_SOCKET)",
    ),
    f(
        "project",
        Some('p'),
        Some("NAME"),
        "a registered project, by name, from any directory",
    ),
    f(
        "host",
        Some('H'),
        Some("NAME|DEST"),
        "carry the command out on that machine, over ssh",
    ),
    f(
        "help",
        Some('h'),
        None,
        "help; 'taskmux COMMAND --help' for one command",
    ),
    f("version", Some('V'), None, "the version"),
];

/// The options of `taskmux-run` and `taskmux run`, besides -c/-L/--json/-h/-V.
pub const RUN: &[Flag] = &[
    f(
        "session",
        Some('s'),
        Some("NAME"),
        "run in this tmux session (created when missing)",
    ),
    f(
        "workspace",
        Some('w'),
        Some("PATH"),
        "run in the session of a tmuxp workspace (loaded when missing)",
    ),
    f(
        "tag",
        Some('t'),
        Some("TAG"),
        "window tag (default: the command's basename)",
    ),
    f(
        "window",
        None,
        Some("NAME"),
        "run in a new pane of this existing window (a name, or @ID)",
    ),
    f("cwd", None, Some("DIR"), "working directory (default: the current one)"),
    f("env", Some('e'), Some("K=V"), "add to the environment (repeatable)"),
    f(
        "log-file",
        None,
        Some("PATH"),
        "capture the output, timestamped, through the log writer",
    ),
    f("keep", None, None, "keep the window after success too"),
    f("rm", None, None, "remove the window after failure too"),
    f("no-keep-on-fail", None, None, "same as --rm"),
    f(
        "keep-on-fail",
        None,
        None,
        "keep the window after failure (the default)",
    ),
    f("wait", None, None, "wait for the end and exit with the job's code"),
];

const BIND: Flag = f(
    "bind",
    None,
    Some("ADDR"),
    "with serve: the address to answer on (default 127.0.0.1)",
);
const PORT: Flag = f(
    "port",
    None,
    Some("PORT"),
    "with serve: the port, UDP and TCP (default dns_server_port, 5454)",
);
const TLD: Flag = f(
    "tld",
    None,
    Some("TLD"),
    "with serve: the domain answered (default dns_managed_tld, localhost)",
);
const ALLOW_REMOTE: Flag = f(
    "allow-remote",
    None,
    None,
    "with serve: allow an address that is not loopback",
);

/// The options of `taskmux-dns` and `taskmux dns serve`, besides --json/-h/-V.
pub const DNS_SERVE: &[Flag] = &[BIND, PORT, TLD, ALLOW_REMOTE];

/// The options of `taskmux dns`: those of serve, and of query.
const DNS: &[Flag] = &[
    BIND,
    PORT,
    TLD,
    ALLOW_REMOTE,
    f(
        "type",
        None,
        Some("TYPE"),
        "with query: the record type (default A; AAAA, MX, TXT, SOA, TYPE65...)",
    ),
    f(
        "server",
        None,
        Some("ADDR:PORT"),
        "with query: the server to ask (default 127.0.0.1:dns_server_port)",
    ),
];

/// The flags of each `taskmux` command.
pub const COMMANDS: &[(&str, &[Flag])] = &[
    (
        "start",
        &[
            f(
                "wait",
                None,
                None,
                "return when every started task is healthy, else fail (E214)",
            ),
            f(
                "if-stopped",
                None,
                None,
                "accepted for compatibility: start is idempotent",
            ),
            f(
                "monitor",
                Some('m'),
                None,
                "stay in the foreground, restarting tasks by policy, until Ctrl-C",
            ),
            f("daemon", Some('d'), None, "also start the daemon unless it runs"),
        ],
    ),
    ("stop", &[]),
    ("restart", &[]),
    ("kill", &[]),
    ("status", &[]),
    (
        "health",
        &[f("verbose", Some('v'), None, "show each probe's method and reason")],
    ),
    ("inspect", &[]),
    (
        "logs",
        &[
            f("follow", Some('f'), None, "follow new lines, across rotations"),
            f(
                "lines",
                Some('n'),
                Some("N"),
                "the last N lines (default 100; 10 with -f)",
            ),
            f(
                "grep",
                Some('g'),
                Some("PATTERN"),
                "lines matching a case-insensitive regex",
            ),
            f("context", Some('C'), Some("N"), "N lines of context around each match"),
            f(
                "since",
                None,
                Some("TIME"),
                "lines since 30s, 5m, 1h30m, 2d or an ISO time",
            ),
        ],
    ),
    ("logs-clean", &[]),
    (
        "events",
        &[
            f("task", Some('t'), Some("TASK"), "only this task's events"),
            f(
                "since",
                None,
                Some("TIME"),
                "events since 30s, 5m, 1h30m, 2d or an ISO time",
            ),
            f("lines", Some('n'), Some("N"), "the last N events"),
            f("all-projects", Some('a'), None, "every project's events"),
            f(
                "follow",
                Some('f'),
                None,
                "then print each new event as it is recorded (JSON: one a line)",
            ),
        ],
    ),
    (
        "add",
        &[
            f("cwd", None, Some("DIR"), "the task's working directory"),
            f(
                "host",
                None,
                Some("HOST"),
                "serve the task at https://HOST.PROJECT.localhost",
            ),
            f(
                "health-check",
                None,
                Some("CMD"),
                "a shell command that exits 0 when healthy",
            ),
            f(
                "depends-on",
                None,
                Some("TASK"),
                "a task that must be healthy first (repeatable)",
            ),
            f("force", Some('f'), None, "replace a task of that name"),
        ],
    ),
    ("remove", &[]),
    ("init", &[f("defaults", None, None, "never ask: take the defaults")]),
    ("check", &[]),
    ("url", &[]),
    (
        "send",
        &[f("no-enter", None, None, "do not press Enter after the text")],
    ),
    ("attach", &[]),
    ("run", RUN),
    (
        "jobs",
        &[
            f("tag", Some('t'), Some("TAG"), "only jobs of this tag"),
            f("window-id", None, Some("ID"), "with kill: this job window"),
            f("all", None, None, "with kill: every job window"),
            f("session", Some('s'), Some("NAME"), "the jobs of this session"),
            f(
                "workspace",
                Some('w'),
                Some("PATH"),
                "the jobs of a tmuxp workspace's session",
            ),
        ],
    ),
    ("watch", &[]),
    (
        "mcp",
        &[f(
            "session",
            Some('s'),
            Some("NAME"),
            "serve this registered project (default: the one found from here)",
        )],
    ),
    ("config", &[]),
    ("ca", &[]),
    ("doctor", &[]),
    ("alias", &[]),
    (
        "daemon",
        &[
            f(
                "dry-run",
                None,
                None,
                "with install: print the unit and where it would go; change nothing",
            ),
            f(
                "force",
                Some('f'),
                None,
                "with register: take the name from another config",
            ),
        ],
    ),
    ("dns", DNS),
    (
        "fleet",
        &[f(
            "timeout",
            None,
            Some("SECS"),
            "how long each host has to answer (default 5)",
        )],
    ),
    ("completions", &[]),
];

/// The flags of one command (empty for an unknown one).
pub fn of(command: &str) -> &'static [Flag] {
    COMMANDS.iter().find(|(c, _)| *c == command).map_or(&[], |(_, f)| *f)
}

/// Help lines for a list of flags, aligned.
pub fn help_lines(flags: &[Flag]) -> String {
    let left: Vec<String> = flags
        .iter()
        .map(|fl| {
            let short = fl.short.map_or("    ".to_string(), |c| format!("-{c}, "));
            let value = fl.value.map_or(String::new(), |v| format!(" {v}"));
            format!("  {short}--{}{value}", fl.long)
        })
        .collect();
    let w = left.iter().map(String::len).max().unwrap_or(0);
    left.iter()
        .zip(flags)
        .map(|(l, fl)| format!("{l:<w$}  {}\n", fl.help))
        .collect()
}
