//! What an error says: the message of each [`Kind`], naming the cause, and the hint that
//! goes with it when the site gives none.

use super::Kind;

impl Kind {
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
    pub(super) fn default_hint(&self) -> Option<String> {
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
