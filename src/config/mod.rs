//! `taskmux.toml`: finding it, parsing it with positions, the project and task model, validation.

use crate::error::{Error, Kind, Result};
use std::path::{Path, PathBuf};

mod global;
pub mod global_edit;
mod name;
mod parse;

pub use global::{GlobalConfig, HostEntry, HostResolver, bad_dest, bad_host_name, ssh_words};
pub use name::project_name_of;
pub use parse::{MAX_SECONDS, TASK_KEYS, parse, parse_all, parse_in};

/// The config file's name.
pub const CONFIG_NAME: &str = "taskmux.toml";

/// When a task is restarted after it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    /// Never.
    No,
    /// After a non-zero exit or failed probes.
    OnFailure,
    /// After any exit.
    Always,
}

impl RestartPolicy {
    /// The spelling used in the config and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::OnFailure => "on-failure",
            RestartPolicy::Always => "always",
        }
    }
}

/// Lifecycle hooks, for the project or one task.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hooks {
    /// Runs before start; a failure aborts the start.
    pub before_start: Option<String>,
    /// Runs after start.
    pub after_start: Option<String>,
    /// Runs before stop; a failure aborts the stop.
    pub before_stop: Option<String>,
    /// Runs after stop.
    pub after_stop: Option<String>,
}

/// One task of the project, with every default filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// The task's name, also its window's name.
    pub name: String,
    /// The shell command.
    pub command: String,
    /// Started by `start` with no names.
    pub auto_start: bool,
    /// `cwd` as written, if any.
    pub cwd_raw: Option<String>,
    /// Absolute working directory.
    pub cwd: PathBuf,
    /// The task's own variables.
    pub env: Vec<(String, String)>,
    /// Dotenv files, absolute.
    pub env_file: Vec<PathBuf>,
    /// A port to free before start; also `$PORT`.
    pub port: Option<u16>,
    /// The proxy host name.
    pub host: Option<String>,
    /// Reserved base path.
    pub host_path: String,
    /// HTTP probe URL (may hold `$PORT`, `${VAR}`).
    pub health_url: Option<String>,
    /// Status the HTTP probe wants.
    pub health_expected_status: u16,
    /// Regex the HTTP probe's body must match.
    pub health_expected_body: Option<String>,
    /// Shell probe.
    pub health_check: Option<String>,
    /// Seconds between probes.
    pub health_interval: f64,
    /// Seconds a probe may take.
    pub health_timeout: f64,
    /// Consecutive failures that count as unhealthy.
    pub health_retries: u32,
    /// Seconds after start during which a failing probe means `starting`.
    pub boot_grace: f64,
    /// Seconds after C-c before SIGTERM.
    pub stop_grace_period: f64,
    /// Restart policy.
    pub restart_policy: RestartPolicy,
    /// Restarts before giving up (0 = unlimited).
    pub max_restarts: u32,
    /// Exponential backoff base.
    pub restart_backoff: f64,
    /// Log path override.
    pub log_file: Option<PathBuf>,
    /// Rotation size in bytes.
    pub log_max_size: u64,
    /// Rotated files kept.
    pub log_max_files: u32,
    /// Tasks that must be healthy first.
    pub depends_on: Vec<String>,
    /// The task's hooks.
    pub hooks: Hooks,
}

impl Task {
    /// A task of that name with every default of taskmux.toml(5) "Task keys" and no command.
    pub fn defaults(name: &str, dir: &Path) -> Task {
        Task {
            name: name.to_string(),
            command: String::new(),
            auto_start: true,
            cwd_raw: None,
            cwd: dir.to_path_buf(),
            env: Vec::new(),
            env_file: Vec::new(),
            port: None,
            host: None,
            host_path: "/".into(),
            health_url: None,
            health_expected_status: 200,
            health_expected_body: None,
            health_check: None,
            health_interval: 10.0,
            health_timeout: 5.0,
            health_retries: 3,
            boot_grace: 10.0,
            stop_grace_period: 5.0,
            restart_policy: RestartPolicy::OnFailure,
            max_restarts: 5,
            restart_backoff: 2.0,
            log_file: None,
            log_max_size: 10 * 1024 * 1024,
            log_max_files: 3,
            depends_on: Vec::new(),
            hooks: Hooks::default(),
        }
    }
}

/// A loaded, validated `taskmux.toml`.
#[derive(Debug, Clone)]
pub struct Project {
    /// The session name.
    pub name: String,
    /// Global auto-start toggle.
    pub auto_start: bool,
    /// Spawn the daemon on start.
    pub auto_daemon: bool,
    /// Project hooks.
    pub hooks: Hooks,
    /// Variables for every task.
    pub env: Vec<(String, String)>,
    /// Dotenv files for every task.
    pub env_file: Vec<PathBuf>,
    /// Tasks in file order.
    pub tasks: Vec<Task>,
    /// Absolute path of the config file.
    pub path: PathBuf,
    /// Its directory.
    pub dir: PathBuf,
}

impl Project {
    /// The task of that name.
    pub fn task(&self, name: &str) -> Result<&Task> {
        self.tasks.iter().find(|t| t.name == name).ok_or_else(|| {
            Error::from(Kind::TaskNotFound {
                task: name.to_string(),
                path: Some(self.path.clone()),
                known: self.task_names(),
            })
        })
    }

    /// Every task's name, in file order.
    pub fn task_names(&self) -> Vec<String> {
        self.tasks.iter().map(|t| t.name.clone()).collect()
    }
}

/// What the thing at `path` is when it is no file to read as a config: None when it is a
/// regular file or is not there at all.
fn not_a_file(path: &Path) -> Option<&'static str> {
    let link = std::fs::symlink_metadata(path).ok()?;
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => None,
        Ok(m) if m.is_dir() => Some("is a directory"),
        Ok(_) => Some("is not a regular file"),
        // ELOOP
        Err(e) if e.raw_os_error() == Some(40) => Some("is a symlink loop"),
        Err(_) if link.file_type().is_symlink() => None,
        Err(_) => Some("is not a regular file"),
    }
}

/// E100 for a path that is there but is no file; None for a file or nothing.
fn unusable(path: &Path) -> Option<Error> {
    not_a_file(path).map(|what| {
        Kind::ConfigNotFile {
            path: path.to_path_buf(),
            what,
        }
        .into()
    })
}

/// Finds the config: `explicit` if given, else `taskmux.toml` upward from `start`.
pub fn find(explicit: Option<&Path>, start: &Path) -> Result<PathBuf> {
    if let Some(p) = explicit {
        let p = if p.is_absolute() {
            p.to_path_buf()
        } else {
            start.join(p)
        };
        if p.is_file() {
            return Ok(p);
        }
        return Err(unusable(&p).unwrap_or_else(|| Kind::ConfigNotFound { path: p }.into()));
    }
    let mut searched = Vec::new();
    let mut dir = Some(start);
    while let Some(d) = dir {
        let p = d.join(CONFIG_NAME);
        if p.is_file() {
            return Ok(p);
        }
        if let Some(e) = unusable(&p) {
            return Err(e);
        }
        searched.push(d.display().to_string());
        dir = d.parent();
    }
    Err(Error::from(Kind::NoConfig {
        start: start.to_path_buf(),
    })
    .details(serde_json::json!({"searched": searched})))
}

/// Loads and validates the config at `path`, with no `~` expansion (see [`load_in`]).
pub fn load(path: &Path) -> Result<Project> {
    load_in(path, None)
}

/// Loads and validates the config at `path`; `~/` in paths expands to `user_home`.
pub fn load_in(path: &Path, user_home: Option<&Path>) -> Result<Project> {
    let (text, abs) = read_config(path)?;
    parse_in(&text, &abs, user_home)
}

/// Like [`load_in`], with every error the parser finds (see [`parse_all`]); a file that
/// cannot be read is one error.
pub fn load_all(path: &Path, user_home: Option<&Path>) -> std::result::Result<Project, Vec<Error>> {
    let (text, abs) = read_config(path).map_err(|e| vec![e])?;
    parse_all(&text, &abs, user_home)
}

/// The text of the config at `path`, and its absolute path.
pub fn read_config(path: &Path) -> Result<(String, PathBuf)> {
    let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => unusable(path).unwrap_or_else(|| {
            Kind::ConfigNotFound {
                path: path.to_path_buf(),
            }
            .into()
        }),
        std::io::ErrorKind::InvalidData => Kind::InvalidToml(format!("{} is not valid UTF-8", path.display())).into(),
        _ => unusable(path).unwrap_or_else(|| Error::io("read", path, e)),
    })?;
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    Ok((text, abs))
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(offset, |i| offset - i - 1) + 1;
    (line, col)
}

/// Task names: `^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$`, and not `job`.
pub fn valid_task_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && name != "job"
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
}

/// Project names: `^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`.
pub fn valid_project_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// A task's `host`: `@` (the project's own name), `*` (every name under it) or one label.
fn valid_host(h: &str) -> bool {
    h == "@" || h == "*" || crate::domain::is_label(h, crate::domain::Chars::Lower)
}

/// The slug of a directory name: lowercase, runs of other characters become `-`.
pub fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() { "taskmux".into() } else { out }
}

/// `~/x` as `<user_home>/x` when the home is known; anything else as written.
fn expand_tilde(s: &str, user_home: Option<&Path>) -> PathBuf {
    if let Some(rest) = s.strip_prefix("~/")
        && let Some(h) = user_home
    {
        return h.join(rest);
    }
    PathBuf::from(s)
}

/// Parses `"10MB"`, `"2KB"`, `"512"`, `"1.5 GiB"`: binary units, case-insensitive.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return None,
    };
    Some((n * mult as f64) as u64)
}

/// Reads a dotenv file: `KEY=value`, `export KEY=value`, quotes, `#` comments.
pub fn read_env_file(path: &Path) -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::from(Kind::EnvFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    })?;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else { continue };
        let k = k.trim();
        let v = v.trim();
        let v = if v.len() >= 2
            && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\'')))
        {
            let inner = &v[1..v.len() - 1];
            if v.starts_with('"') {
                inner.replace("\\n", "\n").replace("\\\"", "\"")
            } else {
                inner.to_string()
            }
        } else {
            v.split(" #").next().unwrap_or("").trim_end().to_string()
        };
        if !k.is_empty() {
            out.push((k.to_string(), v));
        }
    }
    Ok(out)
}

/// Expands `$NAME` and `${NAME}` from `env`; unknown names are left as written.
pub fn expand_vars(s: &str, env: &[(String, String)]) -> String {
    let lookup = |n: &str| env.iter().rev().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' && i + 1 < b.len() {
            if b[i + 1] == b'{'
                && let Some(end) = s[i + 2..].find('}')
            {
                let name = &s[i + 2..i + 2 + end];
                if let Some(v) = lookup(name) {
                    out.push_str(&v);
                    i += end + 3;
                    continue;
                }
            } else {
                let n = s[i + 1..]
                    .bytes()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
                    .count();
                if n > 0
                    && let Some(v) = lookup(&s[i + 1..i + 1 + n])
                {
                    out.push_str(&v);
                    i += n + 1;
                    continue;
                }
            }
        }
        let ch = s[i..].chars().next().unwrap_or('$');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Project> {
        parse(text, Path::new("/tmp/x/taskmux.toml"))
    }

    #[test]
    fn parses_defaults_and_order() {
        let pr = p("name = \"demo\"\n[tasks.b]\ncommand = \"b\"\n[tasks.a]\ncommand = \"a\"\ncwd = \"sub\"\n")
            .expect("valid");
        assert_eq!(pr.task_names(), vec!["b", "a"]);
        assert_eq!(pr.tasks[1].cwd, Path::new("/tmp/x/sub"));
        assert_eq!(pr.tasks[0].health_retries, 3);
    }

    #[test]
    fn bare_string_task_and_default_name() {
        let pr = p("tasks.a = \"echo hi\"\n").expect("valid");
        assert_eq!(pr.name, "x");
        assert_eq!(pr.tasks[0].command, "echo hi");
    }

    #[test]
    fn errors_have_codes() {
        assert_eq!(p("name = \n").unwrap_err().code(), "E101");
        let e = p("[tasks.a]\ncommand = \"x\"\nbogus = 1\n").unwrap_err();
        assert_eq!(e.code(), "E103");
        assert!(
            e.message().contains("'bogus' (line 3)") && e.message().contains("[tasks.a]"),
            "{}",
            e.message()
        );
        assert_eq!(p("[tasks.job]\ncommand = \"x\"\n").unwrap_err().code(), "E102");
        assert_eq!(p("[tasks.a]\ncwd = \"x\"\n").unwrap_err().code(), "E102");
        assert_eq!(
            p("[tasks.a]\ncommand = \"x\"\ndepends_on = [\"zz\"]\n")
                .unwrap_err()
                .code(),
            "E210"
        );
        assert_eq!(
            p("[tasks.a]\ncommand = \"x\"\ndepends_on = [\"a\"]\n")
                .unwrap_err()
                .code(),
            "E211"
        );
        let e =
            p("[tasks.a]\ncommand = \"x\"\ndepends_on = [\"b\"]\n[tasks.b]\ncommand = \"x\"\ndepends_on = [\"a\"]\n")
                .unwrap_err();
        assert_eq!(e.code(), "E212");
        assert!(e.message().contains("a -> b -> a"), "{}", e.message());
        assert_eq!(
            p("[tasks.a]\ncommand = \"x\"\nrestart_policy = \"sometimes\"\n")
                .unwrap_err()
                .code(),
            "E104"
        );
        assert_eq!(p("name = \"Bad_Name\"\n").unwrap_err().code(), "E104");
    }

    #[test]
    fn sizes_and_expansion() {
        assert_eq!(parse_size("2KB"), Some(2048));
        assert_eq!(parse_size("10MB"), Some(10 << 20));
        assert_eq!(parse_size("1.5 kib"), Some(1536));
        assert_eq!(parse_size("ten"), None);
        let env = vec![
            ("PORT".to_string(), "80".to_string()),
            ("H".to_string(), "x".to_string()),
        ];
        assert_eq!(expand_vars("http://${H}:$PORT/$NOPE", &env), "http://x:80/$NOPE");
        assert_eq!(slug("My Cool_App!"), "my-cool-app");
    }
}
