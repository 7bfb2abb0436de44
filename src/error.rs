//! The one error type of the suite: what went wrong as a typed [`Kind`] with its context,
//! its stable code, a message naming the cause, and a hint that says how to fix it.
//!
//! Codes (`E1xx` config, `E2xx` tmux and processes, `E3xx` sessions, registry and daemon,
//! `E4xx` hooks, `E5xx` arguments and requests, `E6xx` certificates, proxy and DNS, `E7xx`
//! permissions, `E9xx` bugs) are listed
//! with their meaning in `man taskmux(1)`, EXIT STATUS. A code means one thing.

use serde_json::Value;
use std::fmt;
use std::path::PathBuf;

/// What went wrong, with the context that names it. [`Kind::code`] is exhaustive.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// E100: the config named with `-c` is not there.
    ConfigNotFound {
        /// The path looked at.
        path: PathBuf,
    },
    /// E100: the config path is there but is no file to read (a directory, a symlink
    /// loop, a device).
    ConfigNotFile {
        /// The path.
        path: PathBuf,
        /// What it is: `is a directory`, `is a symlink loop`, `is not a regular file`.
        what: &'static str,
    },
    /// E100: no `taskmux.toml` here or in any parent.
    NoConfig {
        /// Where the search started.
        start: PathBuf,
    },
    /// E100: the current directory cannot be read (it was removed, or no permission).
    NoCurrentDir {
        /// The system's reason.
        reason: String,
    },
    /// E101: a file is not valid TOML (or not UTF-8).
    /// The message says what the parser said, with the file and position where known.
    InvalidToml(String),
    /// E102: a task definition or name is invalid.
    /// The message says which and why.
    InvalidTask(String),
    /// E103: keys that no table of that kind has.
    /// The message says the keys, their table and line.
    UnknownKey(String),
    /// E104: a value out of its range or of the wrong type, with the key named.
    /// The message says the key, the value and the rule.
    Invalid(String),
    /// E105: `init` where a config exists already.
    ConfigExists {
        /// The config.
        path: PathBuf,
    },
    /// E106: `add` of a task that exists, without `--force`.
    TaskExists {
        /// The task.
        task: String,
        /// The config.
        path: PathBuf,
    },
    /// E104: an `env_file` that cannot be read (a config value that cannot be used).
    EnvFile {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        reason: String,
    },
    /// E108: an agent file with a start marker and no end marker.
    AgentFile {
        /// The file.
        path: PathBuf,
        /// The start marker.
        start: &'static str,
        /// The end marker it lacks.
        end: &'static str,
    },
    /// E109: a tmuxp workspace that cannot be used (missing, unreadable, no session name).
    /// The message says which and why.
    Workspace(String),
    /// E200: no task of that name in the config.
    TaskNotFound {
        /// The name asked for.
        task: String,
        /// The config.
        path: Option<PathBuf>,
        /// The tasks it has.
        known: Vec<String>,
    },
    /// E202: the task is not running (or has no window) where it must.
    /// The message says what needed it running.
    NotRunning(String),
    /// E203: tmux is not installed, cannot be run, or is older than 3.2.
    /// The message says which.
    Tmux(String),
    /// E204: a tmux command failed.
    TmuxFailed {
        /// The commands of the invocation.
        args: Vec<String>,
        /// What tmux said.
        stderr: String,
    },
    /// E205: a task's `port` is held by a process that cannot be stopped.
    /// The message says the port, the task and who holds it.
    PortBusy(String),
    /// E206: processes of a task are left after SIGKILL.
    ProcessesLeft {
        /// The task.
        task: String,
        /// What is left.
        pids: Vec<i32>,
    },
    /// E207: tmuxp is missing, or failed to create its session.
    /// The message says which.
    Tmuxp(String),
    /// E200: a task without `host` has no URL (there is no task of that name with a URL).
    NoHost {
        /// The task.
        task: String,
        /// The config.
        path: PathBuf,
    },
    /// E210: a dependency on a task that is not in the config, or a task others need.
    /// The message says which.
    UnknownDependency(String),
    /// E211: a task that depends on itself.
    /// The message names the task.
    SelfDependency(String),
    /// E212: a dependency cycle.
    /// The message says where it is, naming the whole cycle (`a -> b -> a`).
    Cycle(String),
    /// E213: a working directory that does not exist.
    /// The message says whose and which.
    CwdMissing(String),
    /// E214: a task did not become healthy, or was not started.
    /// The message says the task, the probe and the last reason.
    NotHealthy(String),
    /// E220: no job window of that id or name.
    JobNotFound {
        /// The id asked for.
        job: String,
        /// The session looked in.
        session: String,
    },
    /// E221: a job ended (or its pane went) without reporting its exit code.
    /// The message says which.
    JobLost(String),
    /// E222: `--window` names a window that is not in the session.
    WindowNotFound {
        /// The window.
        window: String,
        /// The session.
        session: String,
    },
    /// E300: the session is not running.
    SessionNotFound {
        /// The session.
        session: String,
    },
    /// E300: a job with no session to run in: no `-s`, no `-w`, no project.
    NoSession,
    /// E302: the daemon, or another supervisor of the project, already runs.
    /// The message names its pid.
    AlreadySupervised(String),
    /// E303: a project that is not in the registry.
    NotRegistered(String),
    /// E304: the daemon is not running, and the command needs it.
    /// The message says what needed it.
    DaemonNotRunning(String),
    /// E308: the daemon runs and does not answer (stopped, or stuck).
    /// The message names its pid, and the hint the fix.
    DaemonSilent(String),
    /// E309: the daemon ended while it carried out a request.
    /// The message says what is known to have happened.
    DaemonLost(String),
    /// E310: ssh could not reach a host (refused, timed out, a key refused, a host key that
    /// does not match).
    HostUnreachable {
        /// The host as named (`a`, or the destination given to `-H`).
        host: String,
        /// What ssh said, or why there was no answer.
        reason: String,
    },
    /// E311: the taskmux on a host ended without a reply, or replied with something that is
    /// not one (not JSON, too large, cut off mid-stream).
    RemoteFailed {
        /// The host as named.
        host: String,
        /// What happened, with ssh's or the remote's last words where there are some.
        reason: String,
    },
    /// E312: the host has no `taskmux` on the PATH of a non-interactive ssh session (or
    /// not at the path configured).
    RemoteNoTaskmux {
        /// The host as named.
        host: String,
        /// The program run there.
        program: String,
    },
    /// E305: another config with the same project name owns the session.
    NameCollision {
        /// The session (the project name).
        session: String,
        /// This config.
        ours: PathBuf,
        /// The config that owns the session.
        theirs: PathBuf,
    },
    /// E306: a state file (`state.json`) that cannot be parsed.
    CorruptState {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
    /// E400: a hook failed or could not run.
    /// The message says which hook, its command and exit code.
    HookFailed(String),
    /// E401: a hook ran past its timeout.
    /// The message says which hook and the timeout.
    HookTimeout(String),
    /// E500: an invalid argument or parameter.
    /// The message says what is wrong with it.
    Usage(String),
    /// E501: a command that does not exist, or is not in this version.
    /// The message says which.
    UnknownCommand(String),
    /// E502: a request line that is not a JSON request.
    /// The message says why.
    BadRequest(String),
    /// E503: a command that needs a terminal, run without one.
    /// The message says which.
    NoTerminal(String),
    /// E504: a request larger than the protocol takes.
    /// The message says the limit.
    TooLarge(String),
    /// E505: a request about a project that names none (no `project`, `session` or
    /// `config` in the envelope), where the front has no project of its own.
    MissingProject(String),
    /// E506: a request or reply of a protocol version this side does not speak.
    Version {
        /// The versions this side speaks.
        ours: Vec<u32>,
        /// The version it got.
        theirs: u32,
        /// Who spoke it, and what to do (`run 'taskmux daemon restart'`).
        who: String,
    },
    /// E702: a front asking for something it may not (the WebSocket changing config.toml,
    /// a peer of another user).
    /// The message says what was refused and why.
    Unauthorized(String),
    /// An error received from another taskmux (the daemon, a remote machine): its code and
    /// message as that side gave them.
    Received {
        /// Its code, `E303`.
        code: String,
        /// Its message.
        message: String,
    },
    /// E600: a host name the local CA does not certify (not under the managed TLD, a
    /// wildcard, not a DNS name).
    CertName {
        /// The name asked for.
        host: String,
        /// The managed TLD.
        tld: String,
        /// Why it is refused.
        reason: String,
    },
    /// E601: the CA's certificate or key cannot be used (unreadable, corrupt, expired, not a
    /// CA, a key that does not match).
    CaFiles {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// E602: a certificate could not be made.
    /// The message says which and why.
    Mint(String),
    /// E603: a trust-store tool (update-ca-certificates, update-ca-trust, certutil,
    /// security) is missing or failed.
    TrustTool {
        /// The command.
        args: Vec<String>,
        /// What it said.
        stderr: String,
    },
    /// E604: a system whose trust store is of no kind taskmux knows.
    TrustStore {
        /// The system root looked at.
        root: PathBuf,
    },
    /// E700: permission denied on a path.
    Permission {
        /// What was being done (`read`, `write`, …).
        action: String,
        /// The path.
        path: PathBuf,
        /// The system's reason.
        reason: String,
    },
    /// E701: an I/O failure on a path (not a permission problem, not a bug).
    Io {
        /// What was being done (`read`, `write`, …).
        action: String,
        /// The path.
        path: PathBuf,
        /// The system's reason.
        reason: String,
    },
    /// E900: a bug.
    /// The message says what happened.
    Internal(String),
    /// E307: no user service manager can take the daemon's unit: none runs (a container,
    /// no login session), or it refused the unit.
    NoServiceManager {
        /// `systemd` or `launchd`.
        manager: &'static str,
        /// What was asked and what it said.
        reason: String,
    },
    /// E640: the DNS server's port is taken on that address (UDP or TCP).
    DnsPortInUse {
        /// The address, `127.0.0.1:5454`.
        addr: String,
        /// `udp` or `tcp`.
        transport: &'static str,
    },
    /// E641: the DNS server asked to listen on an address that is not loopback, without
    /// `--allow-remote`.
    DnsNotLoopback {
        /// The address asked for.
        addr: String,
    },
    /// E642: the DNS server cannot listen on its address for another reason than a busy
    /// port (no such local address, a privileged port).
    DnsBind {
        /// The address.
        addr: String,
        /// The system's reason.
        reason: String,
    },
    /// E643: no DNS server answered a query.
    DnsNoAnswer {
        /// The server asked, `127.0.0.1:5454`.
        server: String,
        /// Why there was no answer.
        reason: String,
    },
    /// E644: the resolver that `dns install` would configure is not in use here (no
    /// systemd-resolved).
    /// The message says what is missing.
    ResolverAbsent(String),
    /// E645: a hosts file whose taskmux block cannot be edited safely (a BEGIN line
    /// without its END line, or two blocks).
    HostsBlock {
        /// The hosts file.
        path: PathBuf,
        /// What is wrong with the block.
        reason: String,
    },
    /// E646: `dns install` would replace a resolver file that taskmux did not write.
    ResolverFileTaken {
        /// The file.
        path: PathBuf,
    },
}

impl Kind {
    /// The stable code.
    pub fn code(&self) -> &str {
        match self {
            Kind::Received { code, .. } => code,
            Kind::ConfigNotFound { .. }
            | Kind::ConfigNotFile { .. }
            | Kind::NoConfig { .. }
            | Kind::NoCurrentDir { .. } => "E100",
            Kind::InvalidToml(_) => "E101",
            Kind::InvalidTask(_) => "E102",
            Kind::UnknownKey(_) => "E103",
            Kind::Invalid(_) => "E104",
            Kind::ConfigExists { .. } => "E105",
            Kind::TaskExists { .. } => "E106",
            Kind::EnvFile { .. } => "E104",
            Kind::AgentFile { .. } => "E108",
            Kind::Workspace(_) => "E109",
            Kind::TaskNotFound { .. } => "E200",
            Kind::NotRunning(_) => "E202",
            Kind::Tmux(_) => "E203",
            Kind::TmuxFailed { .. } => "E204",
            Kind::PortBusy(_) => "E205",
            Kind::ProcessesLeft { .. } => "E206",
            Kind::Tmuxp(_) => "E207",
            Kind::NoHost { .. } => "E200",
            Kind::UnknownDependency(_) => "E210",
            Kind::SelfDependency(_) => "E211",
            Kind::Cycle(_) => "E212",
            Kind::CwdMissing(_) => "E213",
            Kind::NotHealthy(_) => "E214",
            Kind::JobNotFound { .. } => "E220",
            Kind::JobLost(_) => "E221",
            Kind::WindowNotFound { .. } => "E222",
            Kind::SessionNotFound { .. } => "E300",
            Kind::NoSession => "E300",
            Kind::AlreadySupervised(_) => "E302",
            Kind::NotRegistered(_) => "E303",
            Kind::DaemonNotRunning(_) => "E304",
            Kind::DaemonSilent(_) => "E308",
            Kind::DaemonLost(_) => "E309",
            Kind::HostUnreachable { .. } => "E310",
            Kind::RemoteFailed { .. } => "E311",
            Kind::RemoteNoTaskmux { .. } => "E312",
            Kind::NameCollision { .. } => "E305",
            Kind::CorruptState { .. } => "E306",
            Kind::HookFailed(_) => "E400",
            Kind::HookTimeout(_) => "E401",
            Kind::Usage(_) => "E500",
            Kind::UnknownCommand(_) => "E501",
            Kind::BadRequest(_) => "E502",
            Kind::NoTerminal(_) => "E503",
            Kind::TooLarge(_) => "E504",
            Kind::MissingProject(_) => "E505",
            Kind::Version { .. } => "E506",
            Kind::Unauthorized(_) => "E702",
            Kind::CertName { .. } => "E600",
            Kind::CaFiles { .. } => "E601",
            Kind::Mint(_) => "E602",
            Kind::TrustTool { .. } => "E603",
            Kind::TrustStore { .. } => "E604",
            Kind::Permission { .. } => "E700",
            Kind::Io { .. } => "E701",
            Kind::Internal(_) => "E900",
            Kind::NoServiceManager { .. } => "E307",
            Kind::DnsPortInUse { .. } => "E640",
            Kind::DnsNotLoopback { .. } => "E641",
            Kind::DnsBind { .. } => "E642",
            Kind::DnsNoAnswer { .. } => "E643",
            Kind::ResolverAbsent(_) => "E644",
            Kind::HostsBlock { .. } => "E645",
            Kind::ResolverFileTaken { .. } => "E646",
        }
    }

    /// The message: the cause, naming the thing it happened to.
    pub fn message(&self) -> String {
        match self {
            Kind::ConfigNotFound { path } => format!("Config not found: {}", path.display()),
            Kind::ConfigNotFile { path, what } => format!("Config {} {what}", path.display()),
            Kind::NoConfig { start } => {
                format!("No taskmux.toml found in {} or any parent directory", start.display())
            }
            Kind::NoCurrentDir { reason } => format!("cannot read the current directory: {reason}"),
            Kind::ConfigExists { path } => format!("Config already exists: {}", path.display()),
            Kind::TaskExists { task, path } => format!("Task '{task}' already exists in {}", path.display()),
            Kind::EnvFile { path, reason } => format!("env_file {} cannot be read: {reason}", path.display()),
            Kind::AgentFile { path, start, end } => format!("{} has '{start}' without '{end}'", path.display()),
            Kind::TaskNotFound { task, .. } => format!("Task '{task}' not found in config"),
            Kind::TmuxFailed { args, stderr } => {
                format!("tmux command failed: {}: {}", args.join(" ; "), stderr.trim())
            }
            Kind::ProcessesLeft { task, pids } => {
                format!("Task '{task}' still has processes after SIGKILL: {pids:?}")
            }
            Kind::NoHost { task, .. } => format!("Task '{task}' has no host, so it has no URL"),
            Kind::JobNotFound { job, session } => format!("Job '{job}' not found in session '{session}'"),
            Kind::WindowNotFound { window, session } => format!("No window '{window}' in session '{session}'"),
            Kind::SessionNotFound { session } => format!("Session '{session}' is not running"),
            Kind::NoSession => "No session to run in: no taskmux.toml here or above".into(),
            Kind::NotRegistered(name) => format!("Project '{name}' is not registered with the daemon"),
            Kind::NameCollision { session, ours, theirs } => format!(
                "Session '{session}' belongs to {}, another project with the same name (this one is {})",
                theirs.display(),
                ours.display()
            ),
            Kind::CorruptState { path, reason } => format!("{} is corrupt: {reason}", path.display()),
            Kind::HostUnreachable { host, reason } => format!("cannot reach {host}: {reason}"),
            Kind::RemoteFailed { host, reason } => format!("taskmux on {host}: {reason}"),
            Kind::RemoteNoTaskmux { host, program } => {
                format!("taskmux not found on {host} (ran '{program}'); set hosts.{host}.taskmux")
            }
            Kind::CertName { host, reason, .. } => format!("no certificate for {host:?}: {reason}"),
            Kind::CaFiles { path, reason } => format!("the CA file {} cannot be used: {reason}", path.display()),
            Kind::TrustTool { args, stderr } => {
                format!("{} failed: {}", args.join(" "), stderr.trim())
            }
            Kind::TrustStore { root } => format!(
                "cannot tell how the system at {} trusts a CA: none of the Debian, Fedora, Arch or macOS trust stores is there",
                root.display()
            ),
            Kind::Permission { action, path, reason } | Kind::Io { action, path, reason } => {
                format!("cannot {action} {}: {reason}", path.display())
            }
            Kind::InvalidToml(message)
            | Kind::InvalidTask(message)
            | Kind::UnknownKey(message)
            | Kind::Invalid(message)
            | Kind::Workspace(message)
            | Kind::NotRunning(message)
            | Kind::Tmux(message)
            | Kind::PortBusy(message)
            | Kind::Tmuxp(message)
            | Kind::UnknownDependency(message)
            | Kind::SelfDependency(message)
            | Kind::Cycle(message)
            | Kind::CwdMissing(message)
            | Kind::NotHealthy(message)
            | Kind::JobLost(message)
            | Kind::HookFailed(message)
            | Kind::HookTimeout(message)
            | Kind::Usage(message)
            | Kind::UnknownCommand(message)
            | Kind::BadRequest(message)
            | Kind::NoTerminal(message)
            | Kind::TooLarge(message)
            | Kind::MissingProject(message)
            | Kind::Unauthorized(message)
            | Kind::AlreadySupervised(message)
            | Kind::DaemonNotRunning(message)
            | Kind::DaemonSilent(message)
            | Kind::DaemonLost(message)
            | Kind::Mint(message)
            | Kind::ResolverAbsent(message)
            | Kind::Internal(message) => message.clone(),
            Kind::Received { message, .. } => message.clone(),
            Kind::Version { ours, theirs, who } => format!(
                "{who} speaks protocol version {theirs}; this taskmux speaks {}",
                ours.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
            ),
            Kind::NoServiceManager { manager, reason } => {
                format!("the {manager} user service manager cannot take taskmuxd: {reason}")
            }
            Kind::DnsPortInUse { addr, transport } => {
                format!("cannot serve DNS on {addr}: the {transport} port is in use")
            }
            Kind::DnsNotLoopback { addr } => {
                format!("refusing to serve DNS on {addr}: it is not a loopback address")
            }
            Kind::DnsBind { addr, reason } => format!("cannot serve DNS on {addr}: {reason}"),
            Kind::DnsNoAnswer { server, reason } => format!("no DNS server answered at {server}: {reason}"),
            Kind::HostsBlock { path, reason } => {
                format!("the taskmux block of {} cannot be edited: {reason}", path.display())
            }
            Kind::ResolverFileTaken { path } => {
                format!("{} is there and was not written by taskmux", path.display())
            }
        }
    }

    /// The hint that goes with this kind when the site gives none.
    fn default_hint(&self) -> Option<String> {
        Some(match self {
            Kind::ConfigNotFound { .. } => "check the path given with -c/--config".into(),
            Kind::ConfigNotFile { .. } => "pass the path of a taskmux.toml file with -c/--config".into(),
            Kind::NoConfig { .. } => "run 'taskmux init' to create one, or pass -c PATH".into(),
            Kind::ConfigExists { .. } => {
                "edit it, or add tasks with 'taskmux add TASK \"COMMAND\"'; nothing was changed".into()
            }
            Kind::TaskExists { task, .. } => {
                format!("use --force to replace it, or 'taskmux remove {task}' first")
            }
            Kind::EnvFile { .. } => "create the file or fix the env_file path".into(),
            Kind::AgentFile { .. } => {
                "add the end marker or delete the start marker, then run 'taskmux init' again".into()
            }
            Kind::TaskNotFound {
                path: Some(p), known, ..
            } => {
                format!("tasks in {}: {}", p.display(), known.join(", "))
            }
            Kind::ProcessesLeft { .. } => "they may be stuck in the kernel (state D) or belong to another user".into(),
            Kind::NoHost { task, path } => {
                format!("add host = \"{task}\" to [tasks.{task}] in {}", path.display())
            }
            Kind::JobNotFound { .. } => "list the jobs with 'taskmux jobs'".into(),
            Kind::SessionNotFound { .. } => "start the project with 'taskmux start'".into(),
            Kind::AlreadySupervised(_) => "stop it first with 'taskmux daemon stop', or leave it be".into(),
            Kind::NotRegistered(_) => "list the registered projects with 'taskmux daemon list'".into(),
            Kind::DaemonNotRunning(_) => "start it with 'taskmux daemon start'".into(),
            Kind::DaemonSilent(_) => {
                "run 'taskmux daemon restart' (the tasks keep running); 'taskmux daemon stop' to do without it".into()
            }
            Kind::DaemonLost(_) => "see 'taskmux status'; 'taskmux daemon start' (or systemd) brings it back".into(),
            Kind::HostUnreachable { .. } => {
                "check that 'ssh DEST true' works from this shell without a prompt (taskmux runs ssh with BatchMode)"
                    .into()
            }
            Kind::RemoteFailed { .. } => "see whether 'ssh DEST taskmux --version' works there".into(),
            Kind::RemoteNoTaskmux { host, .. } => format!(
                "install taskmux there, or name its path: 'taskmux config set hosts.{host}.taskmux /path/to/taskmux' \
                 (~/.cargo/bin is often not on a non-interactive PATH)"
            ),
            Kind::NoSession => {
                "pass -s SESSION (created when missing) or -w WORKSPACE, or run inside a taskmux project".into()
            }
            Kind::NameCollision { ours, theirs, .. } => format!(
                "set `name` in one of them ({} or {}), so each project has its own session",
                ours.display(),
                theirs.display()
            ),
            Kind::CorruptState { path, .. } => format!(
                "fix the JSON in {}, or delete it to start over (ports assigned to hosts are then assigned anew)",
                path.display()
            ),
            Kind::CertName { tld, .. } => {
                format!("ask for a name under .{tld}, such as api.myproject.{tld} (the TLD is dns_managed_tld)")
            }
            Kind::CaFiles { path, .. } => format!(
                "put back the CA's files, or move {} away to make a new CA (then run 'taskmux ca install' again)",
                path.parent().unwrap_or(path).display()
            ),
            Kind::TrustStore { .. } => {
                "trust the CA by hand: its certificate is the file 'taskmux ca path' prints".into()
            }
            Kind::Usage(_) => "see 'taskmux --help'".into(),
            Kind::MissingProject(_) => {
                "name it: \"project\" (a registered name) or \"config\" (a path) in the request".into()
            }
            Kind::Version { .. } => "run the same version on both sides: 'taskmux daemon restart' after an upgrade".into(),
            Kind::NoTerminal(_) => "run it from a terminal, or see the task's output with 'taskmux logs TASK'".into(),
            Kind::Permission { .. } => {
                "check the permissions of that path, or set TASKMUX_HOME to a directory you own".into()
            }
            Kind::Internal(_) => "this is a bug in taskmux; please report it with the command you ran".into(),
            Kind::NoServiceManager { .. } => "run the daemon with 'taskmux daemon start' instead".into(),
            Kind::DnsPortInUse { .. } => {
                "stop what listens there (ss -ulpn, ss -tlpn), or choose another port with --port or 'taskmux config set dns_server_port N'".into()
            }
            Kind::DnsNotLoopback { .. } => {
                "serve on 127.0.0.1 or ::1; pass --allow-remote to answer other machines on purpose".into()
            }
            Kind::DnsNoAnswer { .. } => {
                "start the server: 'taskmux dns serve', or the daemon with host_resolver = \"dns_server\"".into()
            }
            Kind::HostsBlock { path, .. } => format!(
                "fix the lines between '# BEGIN taskmux managed' and '# END taskmux managed' in {} by hand, then run it again",
                path.display()
            ),
            Kind::ResolverFileTaken { .. } => {
                "move it away if it is no longer needed, or choose another dns_managed_tld".into()
            }
            _ => return None,
        })
    }
}

/// Every failure a user can see: its [`Kind`], and where the site knows better than the
/// kind, its own hint and machine-readable details.
#[derive(Debug, Clone)]
pub struct Error {
    /// What went wrong.
    pub kind: Kind,
    /// How to fix it, when we know.
    pub hint: Option<String>,
    /// Extra machine-readable context for `--json`.
    pub details: Option<Value>,
}

/// The suite's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Kind> for Error {
    fn from(kind: Kind) -> Self {
        let hint = kind.default_hint();
        Error {
            kind,
            hint,
            details: None,
        }
    }
}

impl Error {
    /// The stable code, such as `E200`.
    pub fn code(&self) -> &str {
        self.kind.code()
    }

    /// The code's name, such as `unknown_task`: the API's `error` field.
    pub fn name(&self) -> &'static str {
        name_of(self.code())
    }

    /// What went wrong, naming the thing it went wrong with.
    pub fn message(&self) -> String {
        self.kind.message()
    }

    /// Replaces the hint: the line that tells the user how to fix it.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds machine-readable details, shown under `details` in `--json`: a typed value
    /// (a struct, a [`Value`]) serialised as the object it is.
    pub fn details(mut self, details: impl serde::Serialize) -> Self {
        self.details = serde_json::to_value(details).ok();
        self
    }

    /// The process exit code for this error: 2 for usage and invalid config (E1xx, the
    /// dependency errors E210-E213 found in the config, E500-E503), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        let code = self.code();
        if code.starts_with("E1")
            || matches!(
                code,
                "E210" | "E211" | "E212" | "E213" | "E500" | "E501" | "E502" | "E503" | "E504" | "E505"
            )
        {
            2
        } else {
            1
        }
    }

    /// A usage error (E500).
    pub fn usage(message: impl Into<String>) -> Self {
        Kind::Usage(message.into()).into()
    }

    /// A validation error (E104) naming the key.
    pub fn invalid(message: impl Into<String>) -> Self {
        Kind::Invalid(message.into()).into()
    }

    /// An internal error: a bug, with where to report it.
    pub fn internal(message: impl Into<String>) -> Self {
        Kind::Internal(message.into()).into()
    }

    /// An I/O failure on a path, with the path named.
    pub fn io(action: &str, path: &std::path::Path, err: std::io::Error) -> Self {
        if err.kind() == std::io::ErrorKind::PermissionDenied {
            return Kind::Permission {
                action: action.to_string(),
                path: path.to_path_buf(),
                reason: err.to_string(),
            }
            .into();
        }
        Error {
            kind: Kind::Io {
                action: action.to_string(),
                path: path.to_path_buf(),
                reason: err.to_string(),
            },
            hint: None,
            details: None,
        }
    }

    /// The error as the CLI prints it with `--json` (taskmux(1), JSON OUTPUT):
    /// `{"ok": false, "code": "E200", "error": "Task 'ghost' not found in config"}`.
    pub fn to_json(&self) -> Value {
        let mut v = serde_json::json!({"ok": false, "code": self.code(), "error": self.message()});
        self.add_context(&mut v);
        v
    }

    /// The error as the API replies with it (taskmuxd(8), API): `{"ok": false, "error":
    /// "unknown_task", "code": "E200", "message": "Task 'ghost' not found in config"}`.
    pub fn to_api_json(&self) -> Value {
        let mut v =
            serde_json::json!({"ok": false, "error": self.name(), "code": self.code(), "message": self.message()});
        self.add_context(&mut v);
        v
    }

    fn add_context(&self, v: &mut Value) {
        if let Some(h) = &self.hint {
            v["hint"] = h.clone().into();
        }
        if let Some(d) = &self.details {
            v["details"] = d.clone();
        }
    }

    /// Reads an error in either shape ([`Error::to_json`], [`Error::to_api_json`]); None
    /// when `v` is not one (no `code`, or `ok` not false).
    pub fn from_json(v: &Value) -> Option<Error> {
        if v.get("ok") != Some(&Value::Bool(false)) {
            return None;
        }
        let code = v.get("code")?.as_str()?.to_string();
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let message = text("message").or_else(|| text("error")).unwrap_or_default();
        Some(Error {
            kind: Kind::Received { code, message },
            hint: text("hint"),
            details: v.get("details").cloned(),
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error[{}]: {}", self.code(), self.message())?;
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

impl serde::Serialize for Error {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Error {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Error, D::Error> {
        let v = Value::deserialize(d)?;
        Error::from_json(&v)
            .ok_or_else(|| serde::de::Error::custom("not an error: it needs \"ok\": false and \"code\""))
    }
}

/// Every code and its name, the one table both error shapes come from: the CLI's `code`
/// and the API's `error` (REFERENCE section 5, taskmux(1) EXIT STATUS).
pub const CODES: &[(&str, &str)] = &[
    ("E100", "config_not_found"),
    ("E101", "invalid_toml"),
    ("E102", "invalid_task"),
    ("E103", "unknown_key"),
    ("E104", "invalid_value"),
    ("E105", "config_exists"),
    ("E106", "task_exists"),
    ("E108", "agent_file"),
    ("E109", "invalid_workspace"),
    ("E200", "unknown_task"),
    ("E202", "not_running"),
    ("E203", "tmux_missing"),
    ("E204", "tmux_failed"),
    ("E205", "port_busy"),
    ("E206", "processes_left"),
    ("E207", "tmuxp_failed"),
    ("E210", "unknown_dependency"),
    ("E211", "self_dependency"),
    ("E212", "dependency_cycle"),
    ("E213", "cwd_missing"),
    ("E214", "not_healthy"),
    ("E220", "unknown_job"),
    ("E221", "job_lost"),
    ("E222", "unknown_window"),
    ("E300", "session_not_running"),
    ("E302", "already_supervised"),
    ("E303", "unknown_session"),
    ("E304", "daemon_not_running"),
    ("E305", "name_collision"),
    ("E306", "corrupt_state"),
    ("E307", "no_service_manager"),
    ("E308", "daemon_unresponsive"),
    ("E309", "daemon_lost"),
    ("E310", "host_unreachable"),
    ("E311", "remote_failed"),
    ("E312", "remote_taskmux_missing"),
    ("E400", "hook_failed"),
    ("E401", "hook_timeout"),
    ("E500", "invalid_params"),
    ("E501", "unknown_command"),
    ("E502", "invalid_json"),
    ("E503", "no_terminal"),
    ("E504", "too_large"),
    ("E505", "missing_session"),
    ("E506", "version_mismatch"),
    ("E600", "certificate_name"),
    ("E601", "ca_files"),
    ("E602", "mint_failed"),
    ("E603", "trust_tool_failed"),
    ("E604", "unknown_trust_store"),
    ("E640", "dns_port_in_use"),
    ("E641", "dns_not_loopback"),
    ("E642", "dns_bind_failed"),
    ("E643", "dns_no_answer"),
    ("E644", "resolver_absent"),
    ("E645", "hosts_block"),
    ("E646", "resolver_file_taken"),
    ("E700", "permission_denied"),
    ("E701", "io_failed"),
    ("E702", "unauthorized"),
    ("E900", "internal"),
];

/// The name of a code (`failed` for one this version does not know).
pub fn name_of(code: &str) -> &'static str {
    CODES.iter().find(|(c, _)| *c == code).map_or("failed", |(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_messages_and_exit_codes() {
        let e: Error = Kind::TaskNotFound {
            task: "ghost".into(),
            path: Some("/p/taskmux.toml".into()),
            known: vec!["a".into(), "b".into()],
        }
        .into();
        assert_eq!((e.code(), e.exit_code()), ("E200", 1));
        assert_eq!(e.message(), "Task 'ghost' not found in config");
        assert_eq!(e.hint.as_deref(), Some("tasks in /p/taskmux.toml: a, b"));
        let v = e.to_json();
        assert_eq!((v["ok"].clone(), v["code"].clone()), (false.into(), "E200".into()));
        assert_eq!(Error::usage("x").exit_code(), 2);
        assert_eq!(Error::from(Kind::Cycle("a -> a".into())).exit_code(), 2);
        let denied = Error::io("read", "/x".as_ref(), std::io::ErrorKind::PermissionDenied.into());
        assert_eq!(denied.code(), "E700");
        let eio = Error::io("read", "/x".as_ref(), std::io::Error::from_raw_os_error(5));
        assert_eq!(eio.code(), "E701", "an I/O error is not a bug");
        assert!(eio.message().starts_with("cannot read /x: "), "{}", eio.message());
    }
}
