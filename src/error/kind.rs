//! What went wrong: the typed [`Kind`] of every error, with its context, and its stable code.

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
}
