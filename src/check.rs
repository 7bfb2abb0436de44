//! The lint behind `taskmux check`: what in a valid config will not work in the environment
//! it will run in.
//!
//! Findings of `check` carry a stable code. Errors use the config codes (E1xx, E213); warnings
//! use `W1xx`:
//! - `W101` the command's program is not found on PATH (or is not executable),
//! - `W102` a `health_url` the probe cannot use (malformed, or `$PORT` that will not be set),
//! - `W103` an `https://` `health_url` (probes speak plain HTTP only),
//! - `W104` an `auto_start` task depends on a task that is not auto-started.

use crate::config::{self, Project, Task};
use crate::error::Error;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

mod shell;

pub use shell::first_program;

/// How bad a finding is: errors fail `check` (exit 1), warnings do not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Severity {
    #[default]
    /// The task cannot start as configured.
    Error,
    /// The task may start but something will likely not work.
    Warning,
}

/// One problem `check` found, tied to a task when it concerns one. Its JSON has no
/// severity: the list it is in (`errors`, `warnings`) says it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Finding {
    /// Error or warning.
    #[serde(skip)]
    pub severity: Severity,
    /// Stable code: `E…` for errors, `W…` for warnings.
    pub code: String,
    /// The task it concerns, or none for the project.
    pub task: Option<String>,
    /// What is wrong, naming the thing.
    pub message: String,
    /// How to fix it, when we know.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Finding {
    fn new(severity: Severity, code: &'static str, task: Option<&str>, message: String) -> Finding {
        Finding {
            severity,
            code: code.to_string(),
            task: task.map(str::to_string),
            message,
            hint: None,
        }
    }

    fn hint(mut self, hint: impl Into<String>) -> Finding {
        self.hint = Some(hint.into());
        self
    }

    /// A finding made of an error, such as a config that does not load.
    pub fn from_error(e: &Error, task: Option<&str>) -> Finding {
        Finding {
            severity: Severity::Error,
            code: e.code().to_string(),
            task: task.map(str::to_string),
            message: e.message(),
            hint: e.hint.clone(),
        }
    }
}

/// Every problem found in a loaded config and the environment it will run in, errors first
/// within each task, in file order.
pub fn lint(project: &Project, base: &[(String, String)]) -> Vec<Finding> {
    let mut found = Vec::new();
    for f in &project.env_file {
        if let Err(e) = config::read_env_file(f) {
            found.push(Finding::from_error(&e, None));
        }
    }
    for t in &project.tasks {
        let cwd_ok = t.cwd.is_dir();
        if !cwd_ok {
            let why = if t.cwd.exists() {
                "is not a directory"
            } else {
                "does not exist"
            };
            found.push(
                Finding::new(
                    Severity::Error,
                    "E213",
                    Some(&t.name),
                    format!("working directory {} {why}", t.cwd.display()),
                )
                .hint("create it, or fix 'cwd' (relative to the directory of taskmux.toml)"),
            );
        }
        for f in &t.env_file {
            if let Err(e) = config::read_env_file(f) {
                found.push(Finding::from_error(&e, Some(&t.name)));
            }
        }
        if let Some(l) = &t.log_file
            && let Err(e) = crate::logs::check_log_path(l, "log_file")
        {
            found.push(Finding::from_error(&e, Some(&t.name)));
        }
        if cwd_ok && let Some(f) = lint_command(project, t, base) {
            found.push(f);
        }
        found.extend(lint_health_url(project, t, base));
        if t.auto_start {
            for d in &t.depends_on {
                if project.tasks.iter().any(|o| &o.name == d && !o.auto_start) {
                    found.push(
                        Finding::new(
                            Severity::Warning,
                            "W104",
                            Some(&t.name),
                            format!(
                                "starts automatically but depends on '{d}', which has auto_start = false, \
                                 so 'taskmux start' skips '{}' unless '{d}' is already running",
                                t.name
                            ),
                        )
                        .hint(format!(
                            "set auto_start = false on '{}' too, or remove it from '{d}'",
                            t.name
                        )),
                    );
                }
            }
        }
    }
    found
}

/// The environment a task's variables come from before it runs: `base` (the caller's),
/// then the project's, its env files (those that read), and its own.
fn static_env(project: &Project, task: &Task, base: &[(String, String)]) -> Vec<(String, String)> {
    use crate::task::merge_env;
    let mut env = base.to_vec();
    merge_env(&mut env, project.env.iter().cloned());
    for f in project.env_file.iter().chain(task.env_file.iter()) {
        if let Ok(vars) = config::read_env_file(f) {
            merge_env(&mut env, vars);
        }
    }
    merge_env(&mut env, task.env.iter().cloned());
    env
}

fn lookup<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// W101 for a task about to run, as `check` gives it: its command's first program is not
/// found on the PATH of `base` (with the project's and the task's own variables over it), or
/// is not executable. None when it is found, or the task's `cwd` is missing (which is an
/// error of its own).
pub fn program_not_found(project: &Project, task: &Task, base: &[(String, String)]) -> Option<Finding> {
    if !task.cwd.is_dir() {
        return None;
    }
    lint_command(project, task, base)
}

/// W101: the program the task's shell command runs first, when it is neither a builtin nor
/// found where the shell would look for it.
fn lint_command(project: &Project, task: &Task, base: &[(String, String)]) -> Option<Finding> {
    let word = first_program(&task.command)?;
    let warn = |msg: String| {
        Finding::new(Severity::Warning, "W101", Some(&task.name), msg)
            .hint("install it, or fix 'command' (it runs with /bin/sh -c in the task's cwd)")
    };
    if word.contains('/') {
        let p = expand_home(&word, lookup(base, "HOME"));
        let p = if p.is_absolute() {
            p
        } else {
            task.cwd.join(p.strip_prefix("./").unwrap_or(&p))
        };
        return match std::fs::metadata(&p) {
            Err(_) => Some(warn(format!("command '{word}' not found ({})", p.display()))),
            Ok(m) if !m.is_file() || m.permissions().mode() & 0o111 == 0 => Some(warn(format!(
                "command '{word}' is not an executable file ({})",
                p.display()
            ))),
            Ok(_) => None,
        };
    }
    let env = static_env(project, task, base);
    let path = lookup(&env, "PATH").unwrap_or("");
    if search_path(path, &word, &task.cwd).is_some() {
        return None;
    }
    Some(warn(format!("command '{word}' not found on PATH")))
}

/// Where `name` is found on `path` (a `PATH` value; relative entries from `cwd`).
fn search_path(path: &str, name: &str, cwd: &Path) -> Option<PathBuf> {
    path.split(':')
        .map(|d| {
            let d = if d.is_empty() { "." } else { d };
            cwd.join(d).join(name)
        })
        .find(|p| {
            std::fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

fn expand_home(s: &str, home: Option<&str>) -> PathBuf {
    if let Some(rest) = s.strip_prefix("~/")
        && let Some(h) = home
    {
        return Path::new(h).join(rest);
    }
    PathBuf::from(s)
}

/// W102/W103: a `health_url` the probe cannot use.
fn lint_health_url(project: &Project, task: &Task, base: &[(String, String)]) -> Vec<Finding> {
    let Some(url) = &task.health_url else {
        return Vec::new();
    };
    let mut found = Vec::new();
    let mut env = static_env(project, task, base);
    let has_port = task.port.is_some() || task.host.is_some();
    if has_port {
        env.push(("PORT".into(), task.port.unwrap_or(1).to_string()));
    }
    let expanded = config::expand_vars(url, &env);
    let needs_port = expanded.contains("$PORT") || expanded.contains("${PORT}");
    if needs_port {
        found.push(
            Finding::new(
                Severity::Warning,
                "W102",
                Some(&task.name),
                format!("health_url '{url}' uses $PORT, but the task has no 'port' or 'host', so $PORT is not set"),
            )
            .hint("set 'port' (or 'host', which assigns one), or write the port in the URL"),
        );
    }
    if let Some(why) = url_problem(&fill_placeholders(&expanded)) {
        found.push(
            Finding::new(
                Severity::Warning,
                "W102",
                Some(&task.name),
                format!("health_url '{url}' is malformed: {why}"),
            )
            .hint("write it as http://HOST[:PORT]/PATH; $PORT and ${VAR} may stand for parts"),
        );
    }
    if url.starts_with("https://") {
        found.push(
            Finding::new(
                Severity::Warning,
                "W103",
                Some(&task.name),
                format!("health_url '{url}' is https, and health probes speak plain HTTP only"),
            )
            .hint("probe the task's own http:// port, or use health_check with curl"),
        );
    }
    found
}

/// Replaces `$NAME` and `${NAME}` left after expansion by a value valid anywhere in a URL.
fn fill_placeholders(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(inner) = after.strip_prefix('{')
            && let Some(end) = inner.find('}')
        {
            out.push('1');
            rest = &inner[end + 1..];
            continue;
        }
        let n = after
            .bytes()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
            .count();
        if n == 0 {
            out.push('$');
        } else {
            out.push('1');
        }
        rest = &after[n..];
    }
    out.push_str(rest);
    out
}

/// Why a URL is not `http(s)://HOST[:PORT][/PATH]`, or none when it is.
fn url_problem(url: &str) -> Option<String> {
    let Some(rest) = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://")) else {
        return Some("it does not start with http://".into());
    };
    if let Some(c) = url.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Some(format!("it holds a space or control character ({c:?})"));
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.contains('@') {
        return Some("user info (user@host) is not supported".into());
    }
    let (host, port) = if let Some(h) = authority.strip_prefix('[') {
        let Some((h, after)) = h.split_once(']') else {
            return Some("an IPv6 host needs a closing ']'".into());
        };
        if h.is_empty() || !h.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.') {
            return Some(format!("'{h}' is not an IPv6 address"));
        }
        match after {
            "" => (h, None),
            a => match a.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None => return Some(format!("unexpected '{a}' after the IPv6 host")),
            },
        }
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Some("it has no host".into());
    }
    if !authority.starts_with('[')
        && !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    {
        return Some(format!("'{host}' is not a host name"));
    }
    if let Some(p) = port
        && !(p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok_and(|n| n > 0))
    {
        return Some(format!("port '{p}' must be between 1 and 65535"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_program_skips_prefixes() {
        let f = |s: &str| first_program(s);
        assert_eq!(f("npm run dev").as_deref(), Some("npm"));
        assert_eq!(
            f("FOO=1 BAR='a b' exec python -m http.server").as_deref(),
            Some("python")
        );
        assert_eq!(f("env -u X A=1 node server.js").as_deref(), Some("node"));
        assert_eq!(f("exec -a name ./run.sh").as_deref(), Some("./run.sh"));
        assert_eq!(f("nohup 'my tool' --x").as_deref(), Some("my tool"));
        assert_eq!(f(">/dev/null 2>&1 redis-server").as_deref(), Some("redis-server"));
        assert_eq!(f("cd web && npm start"), None);
        assert_eq!(f("while true; do sleep 1; done"), None);
        assert_eq!(f("$HOME/bin/x"), None);
        assert_eq!(f("(cd a; make)"), None);
        assert_eq!(f("command -v foo"), None);
        assert_eq!(f("sleep 100").as_deref(), Some("sleep"));
        assert_eq!(f("  # just a comment"), None);
    }

    #[test]
    fn urls() {
        assert_eq!(url_problem("http://localhost:8000/health"), None);
        assert_eq!(url_problem("http://127.0.0.1"), None);
        assert_eq!(url_problem("http://[::1]:80/x?y#z"), None);
        assert_eq!(url_problem(&fill_placeholders("http://localhost:$PORT/h")), None);
        assert_eq!(url_problem(&fill_placeholders("http://${HOST}:${PORT}")), None);
        assert!(url_problem("http://").is_some());
        assert!(url_problem("http://:80/").is_some());
        assert!(url_problem("http://localhost:abc/").is_some());
        assert!(url_problem("http://localhost:99999/").is_some());
        assert!(url_problem("http://local host/").is_some());
        assert!(url_problem("http://u@h/").is_some());
        assert!(url_problem("ftp://h/").is_some());
    }
}
