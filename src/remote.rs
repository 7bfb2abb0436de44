//! The ssh transport of `-H` and `fleet`: which machine a name means (`[hosts]` in the
//! global config), the ssh command that reaches it (always BatchMode and a connect timeout,
//! one shared connection per machine under `$TASKMUX_HOME/ssh/`), and one exchange of
//! JSON lines with `taskmux __request` there. Only that fixed command is ever on the remote
//! command line: what a request says travels as JSON on ssh's stdin. This module knows
//! lines and ssh, not requests; [`crate::ops`] writes and reads the lines.

use crate::config::{self as global, GlobalConfig};
use crate::error::{Error, Kind, Result};
use serde_json::Value;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::time::Duration;

mod child;

use child::{Tail, Watchdog, finish, reap_later};

/// The largest reply line read from a host (a `logs` of many lines is large; a line past
/// this is a broken remote, not a reply).
pub const MAX_REPLY: usize = 64 << 20;

/// How long ssh has to connect, unless the caller says (`fleet --timeout`).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a shared connection stays up after its last use.
const PERSIST: &str = "60";

/// The longest control socket path: a Unix socket's path is at most 104 bytes on macOS
/// (108 on Linux), and ssh adds a suffix of 17 bytes while it makes the socket.
const MAX_SOCKET_PATH: usize = 104 - 17;

/// The environment variable whose value replaces `ssh_command`, as GIT_SSH_COMMAND does.
pub const SSH_COMMAND_VAR: &str = "TASKMUX_SSH_COMMAND";

/// What the requests sent to a host are about there: `-p`, `-c` and `-L` as given here,
/// read on that machine (a `-c` path is a path there).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    /// `-p NAME`: a project registered there.
    pub project: Option<String>,
    /// `-c PATH`: a config there.
    pub config: Option<PathBuf>,
    /// `-L NAME`: a tmux socket there.
    pub socket: Option<String>,
}

/// Another machine, and how to reach it.
#[derive(Debug, Clone)]
pub struct Remote {
    /// The host as named: a name of `[hosts]`, or the destination given to `-H`.
    pub name: String,
    /// The ssh destination.
    pub dest: String,
    /// The taskmux program run there.
    pub program: String,
    /// What the requests are about there.
    pub target: Target,
    /// ssh and its options, as words.
    ssh: Vec<String>,
    /// The shared connection's socket, when it can have one.
    control: Option<PathBuf>,
    /// The environment ssh runs in (the front's).
    env: Vec<(String, String)>,
    /// How long ssh has to connect.
    connect_timeout: Duration,
}

impl Remote {
    /// The machine `name` means: a host of `[hosts]` in the global config of `home`, else
    /// `name` itself as an ssh destination. `env` is the front's environment: ssh runs in
    /// it, and its `TASKMUX_SSH_COMMAND` replaces `ssh_command`.
    pub fn resolve(home: &Path, env: &[(String, String)], name: &str, target: Target) -> Result<Remote> {
        let config = GlobalConfig::load(home)?;
        let from_env = env
            .iter()
            .find(|(k, v)| k == SSH_COMMAND_VAR && !v.trim().is_empty())
            .map(|(_, v)| v.clone());
        let ssh = match &from_env {
            Some(cmd) => global::ssh_words(cmd).ok_or_else(|| {
                Error::invalid(format!(
                    "{SSH_COMMAND_VAR}={cmd:?} must be a program and its options, as a shell would split them"
                ))
                .hint(format!("fix or unset {SSH_COMMAND_VAR}"))
            })?,
            None => global::ssh_words(&config.ssh_command).unwrap_or_else(|| vec!["ssh".into()]),
        };
        let (dest, program) = match config.hosts.get(name) {
            Some(entry) => (
                entry.dest().to_string(),
                entry.taskmux().unwrap_or("taskmux").to_string(),
            ),
            None => {
                if let Some(why) = global::bad_dest(name) {
                    return Err(Error::usage(format!(
                        "-H {name:?}: no host of that name in [hosts], and not an ssh destination: {why}"
                    ))
                    .hint(host_hint(&config)));
                }
                (name.to_string(), "taskmux".to_string())
            }
        };
        let control = control_path(home, &ssh, &dest);
        Ok(Remote {
            name: name.to_string(),
            dest,
            program,
            target,
            ssh,
            control,
            env: env.to_vec(),
            connect_timeout: CONNECT_TIMEOUT,
        })
    }

    /// The same machine, with ssh given `timeout` to connect.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Remote {
        self.connect_timeout = timeout;
        self
    }

    /// The ssh command, up to and with the destination: ssh_command's words, then our
    /// options (ssh takes the first value it is given for each, so the user's win), then
    /// `--` so that no destination is ever read as an option.
    fn ssh_command(&self, tty: bool) -> Command {
        let (program, options) = self
            .ssh
            .split_first()
            .map_or(("ssh", &[][..]), |(p, o)| (p.as_str(), o));
        let mut c = Command::new(program);
        c.args(options);
        let secs = self.connect_timeout.as_secs_f64().ceil().max(1.0) as u64;
        c.args(["-o", "BatchMode=yes", "-o", &format!("ConnectTimeout={secs}")]);
        // a connection that goes silent (a network gone) ends within a minute
        c.args(["-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=3"]);
        if let Some(path) = &self.control {
            c.args(["-o", "ControlMaster=auto", "-o", &format!("ControlPersist={PERSIST}")]);
            c.arg("-o").arg(format!("ControlPath={}", path.display()));
        }
        c.arg(if tty { "-t" } else { "-T" });
        c.arg("--").arg(&self.dest);
        c.env_clear().envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    /// The remote program, as the remote shell reads it: quoted, except a leading `~/`,
    /// which that shell expands to the home directory there.
    fn program_word(&self) -> String {
        match self.program.strip_prefix("~/") {
            Some(rest) => format!("~/{}", crate::shell::quote(rest)),
            None => crate::shell::quote(&self.program),
        }
    }

    /// `ssh -t DEST taskmux attach ARGS…`, for `exec`: the one command whose remote command
    /// line carries words of the user, each quoted by the project's one shell quoter.
    pub fn attach_command(&self, args: &[String]) -> Command {
        let mut c = self.ssh_command(true);
        c.arg(format!("{} attach {}", self.program_word(), crate::shell::join(args)).trim_end());
        c
    }

    /// Sends `request` as one line to `taskmux __request` there and hands each line of the
    /// reply to `on_line`, which says whether more is to come. `within` bounds the whole
    /// exchange (`fleet`); without it, a request may take as long as it takes there (a
    /// `start --wait`), and a stream as long as both sides want it. A stream keeps ssh's
    /// input open (its end is the reader leaving); any other request closes it once sent,
    /// so the remote loop ends as soon as it has replied.
    pub fn exchange(
        &self,
        request: &Value,
        stream: bool,
        within: Option<Duration>,
        on_line: &mut dyn FnMut(Value) -> Next,
    ) -> Result<()> {
        let mut c = self.ssh_command(false);
        c.arg(format!("{} __request", self.program_word()));
        c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().map_err(|e| {
            Error::from(Kind::HostUnreachable {
                host: self.name.clone(),
                reason: format!("cannot run {}: {e}", self.ssh.first().map_or("ssh", String::as_str)),
            })
            .hint("install the OpenSSH client, or set ssh_command (or TASKMUX_SSH_COMMAND) to one")
        })?;
        let stderr = Tail::collect(child.stderr.take());
        let watchdog = within.map(|d| Watchdog::start(child.id(), d));
        let mut input = child.stdin.take();
        let line = format!("{request}\n");
        // a request is small; a host that takes none of it before it ends says why below
        let sent = input.as_mut().is_some_and(|i| i.write_all(line.as_bytes()).is_ok());
        if !stream {
            input.take();
        }
        let Some(stdout) = child.stdout.take() else {
            return Err(Error::internal("ssh was started without its stdout"));
        };
        let mut heard = false;
        let read = if sent {
            read_reply(&self.name, stdout, &mut input, &mut |v| {
                heard = true;
                on_line(v)
            })
        } else {
            Ok(Ended::Eof)
        };
        let fired = watchdog.is_some_and(|w| w.stop());
        if !fired && matches!(read, Ok(Ended::Done)) {
            // the reply is whole: ssh ends as the remote side does, and nobody waits on it
            drop(input);
            reap_later(child);
            return Ok(());
        }
        let outcome = finish(&mut child, input, &read);
        let said = stderr.text();
        if fired {
            return Err(Error::from(Kind::HostUnreachable {
                host: self.name.clone(),
                reason: format!(
                    "no answer within {}s{}",
                    within.map_or(0.0, |d| d.as_secs_f64()),
                    last_words(&said).map_or(String::new(), |w| format!(" ({w})"))
                ),
            })
            .hint(format!(
                "check that 'ssh {} true' answers quickly; a longer --timeout waits longer",
                self.dest
            )));
        }
        match read? {
            Ended::Done | Ended::Stopped => Ok(()),
            Ended::Eof => Err(self.failure(outcome, &said, heard)),
        }
    }

    /// Why an exchange ended without its reply, from ssh's exit and what it (or the remote
    /// shell) said on stderr; `heard`: a line came from there, so ssh had connected (its
    /// 255 is then a remote that died, not a host out of reach).
    fn failure(&self, status: Option<std::process::ExitStatus>, said: &str, heard: bool) -> Error {
        use std::os::unix::process::ExitStatusExt;
        let code = status.and_then(|s| s.code());
        let words = last_words(said);
        let not_found = said.lines().any(|l| {
            let l = l.to_ascii_lowercase();
            (l.contains("not found") || l.contains("no such file or directory")) && l.contains("taskmux")
        });
        if !heard && (code == Some(127) || code == Some(126) || not_found) {
            return Kind::RemoteNoTaskmux {
                host: self.name.clone(),
                program: self.program.clone(),
            }
            .into();
        }
        // ssh says why it could not connect; a 255 in silence is the remote command's own
        // (killed by a signal, or its exit status)
        if code == Some(255) && !heard && words.is_some() {
            let reason = words.unwrap_or_default();
            let hint = unreachable_hint(said, &self.name, &self.dest, self.connect_timeout).unwrap_or_else(|| {
                format!(
                    "check that 'ssh {} true' works from this shell without a prompt (taskmux runs ssh with BatchMode)",
                    self.dest
                )
            });
            return Error::from(Kind::HostUnreachable {
                host: self.name.clone(),
                reason,
            })
            .hint(hint);
        }
        let how = match (code, status.and_then(|s| s.signal())) {
            (Some(255), _) => "ssh exit 255: the process there was killed, or the connection lost".into(),
            (Some(c), _) => format!("exit {c}"),
            (None, Some(s)) => format!("signal {s}"),
            (None, None) => "no exit status".into(),
        };
        Error::from(Kind::RemoteFailed {
            host: self.name.clone(),
            reason: format!(
                "the connection ended {} ({how}){}",
                if heard {
                    "in the middle of the reply"
                } else {
                    "without a reply"
                },
                words.map_or(String::new(), |w| format!(": {w}"))
            ),
        })
    }

    /// The socket of the shared connection, when there is one.
    pub fn control_path(&self) -> Option<&Path> {
        self.control.as_deref()
    }
}

/// What the reader of a reply line wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// More lines: the reply goes on (a stream).
    More,
    /// That was the reply: end the exchange.
    Done,
    /// The reader is gone (its output closed): end the exchange now.
    Stop,
}

/// How the reading of a reply ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// The reader had its reply.
    Done,
    /// The reader left.
    Stopped,
    /// The output ended before the reply did.
    Eof,
}

/// Reads reply lines until the reader has its reply, leaves, or the output ends. A line
/// that is not JSON, or longer than [`MAX_REPLY`], is E311.
fn read_reply(
    host: &str,
    stdout: std::process::ChildStdout,
    input: &mut Option<ChildStdin>,
    on_line: &mut dyn FnMut(Value) -> Next,
) -> Result<Ended> {
    let mut out = BufReader::with_capacity(64 * 1024, stdout);
    let mut buf = Vec::new();
    loop {
        match crate::lines::read_line(&mut out, &mut buf, MAX_REPLY) {
            Ok(crate::lines::Read::End) | Err(_) => return Ok(Ended::Eof),
            Ok(crate::lines::Read::TooLong) => {
                return Err(bad_reply(
                    host,
                    format!("a reply line longer than {} MiB", MAX_REPLY >> 20),
                ));
            }
            Ok(crate::lines::Read::Line) => {}
        }
        let text = String::from_utf8_lossy(&buf);
        if text.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&text).map_err(|_| {
            let shown: String = text.trim().chars().take(120).collect();
            bad_reply(host, format!("a reply that is not JSON: {shown:?}"))
        })?;
        match on_line(v) {
            Next::More => {}
            Next::Done => return Ok(Ended::Done),
            Next::Stop => {
                input.take();
                return Ok(Ended::Stopped);
            }
        }
    }
}

/// E311: what came back is no reply.
fn bad_reply(host: &str, reason: String) -> Error {
    Error::from(Kind::RemoteFailed {
        host: host.to_string(),
        reason,
    })
}

/// ssh's own words for a failure: the last line that says something (not a banner of
/// `@`s), with the warning of a changed host key kept in front of it.
pub fn last_words(said: &str) -> Option<String> {
    let lines: Vec<&str> = said
        .lines()
        .map(|l| l.trim_matches(|c: char| c.is_whitespace() || c == '\r'))
        .filter(|l| !l.is_empty() && !l.chars().all(|c| c == '@'))
        .collect();
    let last = lines.last()?;
    let last: String = last.chars().filter(|c| !c.is_control()).take(300).collect();
    if said.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") && !last.contains("IDENTIFICATION") {
        return Some(format!("REMOTE HOST IDENTIFICATION HAS CHANGED; {last}"));
    }
    Some(last)
}

/// The fix for a failed connection, by what ssh said.
fn unreachable_hint(said: &str, name: &str, dest: &str, timeout: Duration) -> Option<String> {
    let s = said.to_ascii_lowercase();
    Some(
        if s.contains("identification has changed") || s.contains("host key verification failed") {
            format!(
                "the host key of {dest} is not the one known here: check it, then connect once with \
             'ssh {dest}' to accept it (if it changed on purpose, 'ssh-keygen -R HOST' first)"
            )
        } else if s.contains("permission denied") {
            format!(
                "{dest} refused the key: add your public key to ~/.ssh/authorized_keys there, or load it \
             with ssh-add (BatchMode never asks for a password)"
            )
        } else if s.contains("connection refused") {
            format!("nothing answers ssh at {dest}: is sshd running there, on that port?")
        } else if s.contains("timed out") {
            format!(
                "{dest} did not answer within {}s: is it up and reachable from here?",
                timeout.as_secs()
            )
        } else if s.contains("could not resolve") {
            format!("the name {dest} does not resolve: check it, or add host '{name}' to [hosts] or ~/.ssh/config")
        } else {
            return None;
        },
    )
}

/// The hint for a name that is no host: the known ones.
fn host_hint(config: &GlobalConfig) -> String {
    match config.hosts.is_empty() {
        true => "name a machine with 'taskmux config set hosts.NAME user@host', or give an ssh destination".into(),
        false => format!(
            "the hosts: {}",
            config.hosts.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
    }
}

/// The control socket for `dest` reached by `ssh`: `<home>/ssh/<16 hex digits>`, a hash of
/// both, in a directory of mode 0700. None (no sharing) when the directory cannot be made,
/// or the path is too long for a Unix socket or holds what ssh would expand (`%`, `$`,
/// whitespace, quotes).
fn control_path(home: &Path, ssh: &[String], dest: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let dir = home.join("ssh");
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in ssh.iter().flat_map(|w| w.bytes().chain([0])).chain(dest.bytes()) {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let path = dir.join(format!("{hash:016x}"));
    let text = path.to_str()?;
    if text.len() > MAX_SOCKET_PATH
        || text
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '%' | '$' | '"' | '\'' | '\\'))
    {
        return None;
    }
    std::fs::create_dir_all(&dir).ok()?;
    let meta = std::fs::metadata(&dir).ok()?;
    if meta.permissions().mode() & 0o777 != 0o700 {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).ok()?;
    }
    Some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(program: &str) -> Remote {
        Remote {
            name: "a".into(),
            dest: "me@a".into(),
            program: program.into(),
            target: Target::default(),
            ssh: vec!["ssh".into(), "-F".into(), "/x y/cfg".into()],
            control: Some("/h/ssh/0123456789abcdef".into()),
            env: vec![],
            connect_timeout: Duration::from_millis(2500),
        }
    }

    fn argv(c: &Command) -> Vec<String> {
        std::iter::once(c.get_program())
            .chain(c.get_args())
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn the_ssh_command_has_batch_mode_a_timeout_sharing_and_only_the_fixed_remote_command() {
        let r = remote("taskmux");
        let mut c = r.ssh_command(false);
        c.arg(format!("{} __request", r.program_word()));
        let a = argv(&c);
        assert_eq!(&a[..3], ["ssh", "-F", "/x y/cfg"], "the user's words first: theirs win");
        for o in [
            "BatchMode=yes",
            "ConnectTimeout=3",
            "ControlMaster=auto",
            "ControlPersist=60",
            "ControlPath=/h/ssh/0123456789abcdef",
        ] {
            assert!(a.iter().any(|x| x == o), "{o} in {a:?}");
        }
        let end = &a[a.len() - 3..];
        assert_eq!(end, ["--", "me@a", "taskmux __request"]);
        // a program path is quoted, and ~/ stays for the remote shell to expand
        assert_eq!(remote("~/my bin/taskmux").program_word(), "~/'my bin/taskmux'");
        assert_eq!(remote("/opt/x;y").program_word(), "'/opt/x;y'");
        let attach = argv(&r.attach_command(&["-p".into(), "it's; $HOME".into()]));
        assert!(attach.contains(&"-t".to_string()));
        assert_eq!(
            attach.last().map(String::as_str),
            Some("taskmux attach -p 'it'\\''s; $HOME'")
        );
    }

    #[test]
    fn control_paths_are_short_hashed_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let home = std::env::temp_dir().join(format!("tmx-remote-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        let ssh = vec!["ssh".to_string()];
        let a = control_path(&home, &ssh, "a").expect("a path");
        assert_eq!(a.parent(), Some(home.join("ssh").as_path()));
        assert_eq!(a.file_name().map(|n| n.len()), Some(16));
        assert_ne!(Some(a.clone()), control_path(&home, &ssh, "b"), "one per destination");
        let other = vec!["ssh".to_string(), "-F".to_string(), "x".to_string()];
        assert_ne!(Some(a.clone()), control_path(&home, &other, "a"), "one per ssh command");
        let mode = std::fs::metadata(home.join("ssh")).expect("made").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let long = home.join("x".repeat(80));
        assert_eq!(
            control_path(&long, &ssh, "a"),
            None,
            "too long for a socket: no sharing"
        );
        assert_eq!(control_path(&home.join("50%"), &ssh, "a"), None, "ssh would expand %");
        let _ = std::fs::remove_dir_all(&home);
    }

    #[test]
    fn failures_say_what_ssh_said_and_how_to_fix_it() {
        use std::os::unix::process::ExitStatusExt;
        let r = remote("taskmux");
        let status = |code: i32| Some(std::process::ExitStatus::from_raw(code << 8));
        let refused = r.failure(
            status(255),
            "ssh: connect to host 127.0.0.1 port 2: Connection refused\r\n",
            false,
        );
        assert_eq!(refused.code(), "E310");
        assert_eq!(
            refused.message(),
            "cannot reach a: ssh: connect to host 127.0.0.1 port 2: Connection refused"
        );
        assert!(refused.hint.as_deref().is_some_and(|h| h.contains("sshd")));
        let changed = r.failure(
            status(255),
            "@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n@@@@@@@\nIT IS POSSIBLE...\nHost key verification failed.\n",
            false,
        );
        assert!(changed.message().contains("IDENTIFICATION HAS CHANGED"), "{changed}");
        assert!(
            changed.message().ends_with("Host key verification failed."),
            "{changed}"
        );
        let key = r.failure(status(255), "root@127.0.0.1: Permission denied (publickey).\n", false);
        assert!(key.hint.as_deref().is_some_and(|h| h.contains("authorized_keys")));
        let missing = r.failure(status(127), "bash: line 1: taskmux: command not found\n", false);
        assert_eq!(missing.code(), "E312");
        assert_eq!(
            missing.message(),
            "taskmux not found on a (ran 'taskmux'); set hosts.a.taskmux"
        );
        let died = r.failure(Some(std::process::ExitStatus::from_raw(9)), "", false);
        assert_eq!(died.code(), "E311");
        assert!(died.message().contains("signal 9"), "{died}");
        // a 255 after the remote had spoken is a remote that died, not a host out of reach
        let cut = r.failure(status(255), "", true);
        assert_eq!(
            r.failure(status(255), "", false).code(),
            "E311",
            "a remote killed by a signal"
        );
        assert_eq!(cut.code(), "E311");
        assert!(cut.message().contains("in the middle of the reply"), "{cut}");
    }
}
