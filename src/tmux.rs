//! The tmux driver: the only code that runs tmux. Exact targets, chained commands in one
//! invocation, format output split on a delimiter that cannot occur in values, and
//! ensure-session under a flock.

use crate::error::{Error, Kind, Result};
use crate::paths;
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Field delimiter in format output: ASCII unit separator, which never occurs in the values
/// we read (ids, numbers, our own options); free-form fields come last.
pub const SEP: char = '\x1f';

/// The oldest tmux we support.
const MIN_VERSION: (u32, u32) = (3, 2);

/// A tmux server, addressed by socket name (`tmux -L`), or the default one.
#[derive(Debug, Clone, Default)]
pub struct Tmux {
    /// The `-L` socket name, if any.
    pub socket: Option<String>,
    /// The tmux executable, resolved on `path` once.
    pub bin: Option<PathBuf>,
    /// The PATH programs are looked up on (tmux itself, tmuxp).
    pub path: Option<OsString>,
    /// Where the version check is cached (the state directory), if anywhere.
    pub state_dir: Option<PathBuf>,
}

/// One command of a chain: its argv, without `tmux` itself.
pub type Cmd = Vec<String>;

/// Builds a [`Cmd`] from anything string-like.
#[macro_export]
macro_rules! cmd {
    ($($a:expr),* $(,)?) => { vec![$(String::from($a)),*] };
}

/// Makes one argument safe from tmux's argv parser, which ends a command at an argument
/// whose last character is `;` and turns a trailing `\;` into `;`.
fn escape_arg(a: &str) -> String {
    if let Some(head) = a.strip_suffix(';') {
        format!("{head}\\;")
    } else {
        a.to_string()
    }
}

impl Tmux {
    /// The server on socket `socket` (the default server when None), with tmux found on
    /// `path` (a PATH value) and its version check cached in `state_dir`.
    pub fn new(socket: Option<String>, path: Option<OsString>, state_dir: Option<PathBuf>) -> Tmux {
        Tmux {
            socket: socket.filter(|s| !s.is_empty()),
            bin: find_in_path("tmux", path.as_deref()),
            path,
            state_dir,
        }
    }

    /// A program on this server's PATH (such as `tmuxp`).
    pub fn find(&self, program: &str) -> Option<PathBuf> {
        find_in_path(program, self.path.as_deref())
    }

    fn base(&self) -> Command {
        let mut c = match &self.bin {
            Some(b) => Command::new(b),
            None => Command::new("tmux"),
        };
        // -u: without a UTF-8 locale in the environment (an agent spawns its MCP servers
        // with hardly any variables) tmux prints each control character of a format, the
        // field separator SEP among them, as '_'
        c.arg("-u");
        if let Some(s) = &self.socket {
            c.arg("-L").arg(s);
        }
        // a server started from inside a task pane must not carry that task's marker: its
        // children (log writers) would be taken for the task's processes at stop
        c.env_remove("TASKMUX_TASK").env_remove("TASKMUX_SESSION");
        c.stdin(Stdio::null());
        c
    }

    fn spawn_error(e: std::io::Error) -> Error {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::from(Kind::Tmux("tmux is not installed (not found on PATH)".into())).hint(
                "install tmux 3.2 or newer: 'apt-get install tmux' (Debian/Ubuntu) or 'brew install tmux' (macOS)",
            )
        } else {
            Error::from(Kind::Tmux(format!("cannot run tmux: {e}")))
        }
    }

    /// Starts `tmux wait-for CHANNEL` as a child that returns when the channel is signalled.
    pub fn spawn_wait_for(&self, channel: &str) -> Result<std::process::Child> {
        let mut c = self.base();
        c.arg("wait-for")
            .arg(escape_arg(channel))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c.spawn().map_err(Self::spawn_error)
    }

    /// Runs a chain of commands in one invocation; returns (success, stdout, stderr).
    pub fn exec(&self, cmds: &[Cmd]) -> Result<(bool, String, String)> {
        let mut c = self.base();
        for (i, cmd) in cmds.iter().enumerate() {
            if i > 0 {
                c.arg(";");
            }
            for a in cmd {
                c.arg(escape_arg(a));
            }
        }
        let out = c.output().map_err(Self::spawn_error)?;
        Ok((
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }

    /// Runs a chain of commands; a failure is E204 with the arguments and tmux's stderr.
    pub fn run(&self, cmds: &[Cmd]) -> Result<String> {
        let (ok, out, err) = self.exec(cmds)?;
        if ok { Ok(out) } else { Err(self.failed(cmds, &err)) }
    }

    /// The E204 error for a failed chain.
    pub fn failed(&self, cmds: &[Cmd], stderr: &str) -> Error {
        let args: Vec<String> = cmds.iter().map(|c| c.join(" ")).collect();
        Error::from(Kind::TmuxFailed {
            args,
            stderr: stderr.trim().to_string(),
        })
        .details(serde_json::json!({"args": cmds, "stderr": stderr.trim(), "socket": self.socket}))
    }

    /// Checks that tmux exists and is at least 3.2. The answer is cached per tmux binary
    /// (path and mtime) under the state directory, so this costs a stat, not a process.
    pub fn check_version(&self) -> Result<()> {
        let bin = self
            .bin
            .clone()
            .ok_or_else(|| Self::spawn_error(std::io::ErrorKind::NotFound.into()))?;
        let stamp = std::fs::metadata(&bin)
            .and_then(|m| m.modified())
            .map(|t| format!("{}:{:?}", bin.display(), t))
            .unwrap_or_default();
        let cache = self.state_dir.as_ref().map(|d| d.join("tmux-version"));
        if let Some(c) = cache.as_ref().and_then(|c| std::fs::read_to_string(c).ok())
            && c.trim_end() == stamp
        {
            return Ok(());
        }
        let out = self.base().arg("-V").output().map_err(Self::spawn_error)?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let v = parse_version(&text);
        match v {
            Some(v) if v >= MIN_VERSION => {
                if let Some(cache) = &cache {
                    let _ = paths::write_atomic(cache, format!("{stamp}\n").as_bytes(), 0o600);
                }
                Ok(())
            }
            _ => Err(Error::from(Kind::Tmux(format!(
                "tmux is too old: {} (taskmux needs 3.2 or newer)",
                text.trim()
            )))
            .hint("upgrade tmux: 'apt-get install tmux' from a current release, or 'brew upgrade tmux'")),
        }
    }

    /// The server's socket path: `#{socket_path}` when the server answers, else the path
    /// tmux makes for this socket name ([`Tmux::derived_socket_path`]), so the processes of
    /// a server that is gone are still told apart by the `TMUX` in their environment.
    pub fn socket_path(&self, tmpdir: Option<&str>) -> String {
        match self.exec(&[cmd!["display-message", "-p", "#{socket_path}"]]) {
            Ok((true, out, _)) if !out.trim().is_empty() => out.trim().to_string(),
            _ => self.derived_socket_path(tmpdir),
        }
    }

    /// The socket path tmux uses for this server: `tmux-UID/NAME` (`default` without `-L`)
    /// in `tmpdir` (`$TMUX_TMPDIR`, else `/tmp`), the directory resolved as tmux resolves it.
    pub fn derived_socket_path(&self, tmpdir: Option<&str>) -> String {
        let uid = rustix::process::getuid().as_raw();
        let base = PathBuf::from(tmpdir.filter(|d| !d.is_empty()).unwrap_or("/tmp")).join(format!("tmux-{uid}"));
        let base = std::fs::canonicalize(&base).unwrap_or(base);
        base.join(self.socket.as_deref().unwrap_or("default"))
            .to_string_lossy()
            .into_owned()
    }

    /// Whether the session exists (exact name).
    pub fn has_session(&self, session: &str) -> Result<bool> {
        let (ok, _, _) = self.exec(&[cmd!["has-session", "-t", format!("={session}")]])?;
        Ok(ok)
    }

    /// Turns `new-window [-d] -t =S: ARGS…` into `new-session -d -s S ARGS…`, for the first
    /// window of a session that does not exist yet: the same window, made with its session.
    pub fn as_new_session(new_window: &Cmd, session: &str) -> Cmd {
        let mut rest = new_window.iter().skip(1).peekable();
        let mut out = cmd!["new-session", "-d", "-s", session, "-x", "200", "-y", "50"];
        while let Some(a) = rest.next() {
            match a.as_str() {
                "-d" => {}
                "-t" => {
                    rest.next();
                }
                _ => {
                    out.push(a.clone());
                    out.extend(rest.by_ref().cloned());
                }
            }
        }
        out
    }

    /// Runs `list-panes` over a session (or every session with `None`) with the given
    /// format fields; returns one row of fields per pane. A missing session is no rows.
    pub fn list_panes(&self, session: Option<&str>, fields: &[&str]) -> Result<Option<Vec<Vec<String>>>> {
        let fmt: Vec<String> = fields.iter().map(|f| format!("#{{{f}}}")).collect();
        let fmt = fmt.join(&SEP.to_string());
        let c = match session {
            Some(s) => cmd!["list-panes", "-s", "-t", format!("={s}:"), "-F", fmt],
            None => cmd!["list-panes", "-a", "-F", fmt],
        };
        let (ok, out, err) = self.exec(std::slice::from_ref(&c))?;
        if !ok {
            if is_missing(&err) {
                return Ok(None);
            }
            return Err(self.failed(&[c], &err));
        }
        Ok(Some(
            out.lines()
                .map(|l| l.splitn(fields.len(), SEP).map(str::to_string).collect())
                .collect(),
        ))
    }
}

/// Parses `-P -F '#{window_id}SEP#{pane_id}'` output lines.
pub fn parse_ids(out: &str) -> Vec<(String, String)> {
    out.lines()
        .map(|l| {
            let (w, p) = l.split_once(SEP).unwrap_or((l, ""));
            (w.to_string(), p.to_string())
        })
        .collect()
}

/// Whether tmux's stderr says the server or the session is not there.
pub fn is_missing(stderr: &str) -> bool {
    stderr.contains("no server running")
        || stderr.contains("can't find session")
        || stderr.contains("error connecting to")
        || stderr.contains("can't find window")
        || stderr.contains("can't find pane")
        || stderr.contains("session not found")
        // a server that is starting (or ending) and has no session yet answers this
        || stderr.contains("no current target")
        // a server that ends (its last session gone) while the command connects
        || stderr.contains("server exited unexpectedly")
}

/// Parses `tmux 3.3a` / `tmux next-3.4` into (major, minor).
fn parse_version(s: &str) -> Option<(u32, u32)> {
    let v = s.split_whitespace().nth(1)?;
    let v = v.trim_start_matches(|c: char| !c.is_ascii_digit());
    let mut it = v.split('.');
    let major = it.next()?.parse().ok()?;
    let minor: String = it
        .next()
        .unwrap_or("0")
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    Some((major, minor.parse().unwrap_or(0)))
}

/// The first executable called `name` on PATH.
pub fn find_in_path(name: &str, path: Option<&OsStr>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path?).map(|d| d.join(name)).find(|p| {
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_that_ends_under_a_command_is_missing() {
        // what tmux 3.3a's client says when the server goes while it connects: seen in 7
        // of 100 `list-panes` right after `kill-session` of the last session
        assert!(is_missing("server exited unexpectedly\n"));
        assert!(is_missing("no server running on /tmp/tmux-0/x\n"));
        assert!(!is_missing("unknown command: nope\n"));
    }

    #[test]
    fn versions() {
        assert_eq!(parse_version("tmux 3.3a\n"), Some((3, 3)));
        assert_eq!(parse_version("tmux next-3.4"), Some((3, 4)));
        assert_eq!(parse_version("tmux 2.9"), Some((2, 9)));
        assert!(parse_version("tmux 3.1c").is_some_and(|v| v < MIN_VERSION));
    }

    #[test]
    fn new_window_becomes_new_session() {
        let w = cmd!["new-window", "-d", "-t", "=p:", "-n", "a", "-c", "/x", "sleep", "-d"];
        assert_eq!(
            Tmux::as_new_session(&w, "p"),
            cmd![
                "new-session",
                "-d",
                "-s",
                "p",
                "-x",
                "200",
                "-y",
                "50",
                "-n",
                "a",
                "-c",
                "/x",
                "sleep",
                "-d"
            ]
        );
        let w = cmd!["new-window", "-t", "=p:", "-n", "b", "true"];
        assert_eq!(Tmux::as_new_session(&w, "p")[8..], cmd!["-n", "b", "true"][..]);
    }

    #[test]
    fn semicolons_are_escaped() {
        assert_eq!(escape_arg("a;"), "a\\;");
        assert_eq!(escape_arg("b\\;"), "b\\\\;");
        assert_eq!(escape_arg("x;y"), "x;y");
    }
}
