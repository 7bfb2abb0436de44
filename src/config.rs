//! `taskmux.toml`: finding it, parsing it with positions, the project and task model, validation.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// The config file's name.
pub const CONFIG_NAME: &str = "taskmux.toml";

/// When a task is restarted after it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
            Error::new("E200", format!("Task '{name}' not found in config")).hint(format!(
                "tasks in {}: {}",
                self.path.display(),
                self.task_names().join(", ")
            ))
        })
    }

    /// Every task's name, in file order.
    pub fn task_names(&self) -> Vec<String> {
        self.tasks.iter().map(|t| t.name.clone()).collect()
    }
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
        return Err(Error::new("E100", format!("Config not found: {}", p.display()))
            .hint("check the path given with -c/--config"));
    }
    let mut searched = Vec::new();
    let mut dir = Some(start);
    while let Some(d) = dir {
        let p = d.join(CONFIG_NAME);
        if p.is_file() {
            return Ok(p);
        }
        searched.push(d.display().to_string());
        dir = d.parent();
    }
    Err(Error::new(
        "E100",
        format!("No {CONFIG_NAME} found in {} or any parent directory", start.display()),
    )
    .hint("run 'taskmux init' to create one, or pass -c PATH")
    .details(serde_json::json!({"searched": searched})))
}

/// Loads and validates the config at `path`.
pub fn load(path: &Path) -> Result<Project> {
    let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::new("E100", format!("Config not found: {}", path.display())),
        std::io::ErrorKind::InvalidData => Error::new("E101", format!("{} is not valid UTF-8", path.display())),
        _ => Error::io("read", path, e),
    })?;
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    parse(&text, &abs)
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(offset, |i| offset - i - 1) + 1;
    (line, col)
}

struct Parser<'a> {
    text: &'a str,
    path: &'a Path,
}

const PROJECT_KEYS: &[&str] = &["name", "auto_start", "auto_daemon", "hooks", "env", "env_file", "tasks"];
const HOOK_KEYS: &[&str] = &["before_start", "after_start", "before_stop", "after_stop"];
/// Every key a task table may hold.
pub const TASK_KEYS: &[&str] = &[
    "command",
    "auto_start",
    "cwd",
    "env",
    "env_file",
    "port",
    "host",
    "host_path",
    "health_url",
    "health_expected_status",
    "health_expected_body",
    "health_check",
    "health_interval",
    "health_timeout",
    "health_retries",
    "boot_grace",
    "stop_grace_period",
    "restart_policy",
    "max_restarts",
    "restart_backoff",
    "log_file",
    "log_max_size",
    "log_max_files",
    "depends_on",
    "hooks",
];

type Val<'i> = Spanned<DeValue<'i>>;

impl<'a> Parser<'a> {
    fn at(&self, span: std::ops::Range<usize>) -> String {
        let (l, c) = line_col(self.text, span.start);
        format!("{}:{l}:{c}", self.path.display())
    }

    fn err(&self, code: &'static str, span: std::ops::Range<usize>, msg: String) -> Error {
        let (l, c) = line_col(self.text, span.start);
        Error::new(code, format!("{msg} (at {})", self.at(span))).details(serde_json::json!({
            "path": self.path.display().to_string(), "line": l, "column": c
        }))
    }

    fn unknown_keys(&self, table: &DeTable<'_>, allowed: &[&str], table_name: &str) -> Result<()> {
        let bad: Vec<_> = table
            .iter()
            .filter(|(k, _)| !allowed.contains(&k.get_ref().as_ref()))
            .collect();
        if bad.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = bad
            .iter()
            .map(|(k, _)| {
                let (l, _) = line_col(self.text, k.span().start);
                format!("'{}' (line {l})", k.get_ref())
            })
            .collect();
        let first = bad[0].0.span();
        let (l, c) = line_col(self.text, first.start);
        Err(Error::new(
            "E103",
            format!(
                "Unknown key{} in [{table_name}] of {}: {}",
                if bad.len() > 1 { "s" } else { "" },
                self.path.display(),
                names.join(", ")
            ),
        )
        .hint(format!("allowed keys in [{table_name}]: {}", allowed.join(", ")))
        .details(serde_json::json!({
            "path": self.path.display().to_string(), "table": table_name, "line": l, "column": c,
            "keys": bad.iter().map(|(k, _)| k.get_ref().to_string()).collect::<Vec<_>>(),
        })))
    }

    fn string(&self, code: &'static str, key: &str, v: &Val<'_>) -> Result<String> {
        v.get_ref().as_str().map(str::to_string).ok_or_else(|| {
            self.err(
                code,
                v.span(),
                format!("'{key}' must be a string, not {}", v.get_ref().type_str()),
            )
        })
    }

    fn boolean(&self, code: &'static str, key: &str, v: &Val<'_>) -> Result<bool> {
        v.get_ref().as_bool().ok_or_else(|| {
            self.err(
                code,
                v.span(),
                format!("'{key}' must be true or false, not {}", v.get_ref().type_str()),
            )
        })
    }

    fn number(&self, code: &'static str, key: &str, v: &Val<'_>) -> Result<f64> {
        let n = match v.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok().map(|i| i as f64),
            DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
            _ => None,
        };
        match n {
            Some(n) if n.is_finite() && n >= 0.0 => Ok(n),
            Some(_) => Err(self.err("E104", v.span(), format!("'{key}' must be a finite number >= 0"))),
            None => Err(self.err(
                code,
                v.span(),
                format!("'{key}' must be a number, not {}", v.get_ref().type_str()),
            )),
        }
    }

    fn integer(&self, code: &'static str, key: &str, v: &Val<'_>, max: u64) -> Result<u64> {
        let n = match v.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok(),
            _ => None,
        };
        match n {
            Some(n) if n >= 0 && (n as u64) <= max => Ok(n as u64),
            Some(_) => Err(self.err("E104", v.span(), format!("'{key}' must be between 0 and {max}"))),
            None => Err(self.err(
                code,
                v.span(),
                format!("'{key}' must be an integer, not {}", v.get_ref().type_str()),
            )),
        }
    }

    fn string_list(&self, code: &'static str, key: &str, v: &Val<'_>) -> Result<Vec<String>> {
        match v.get_ref() {
            DeValue::String(s) => Ok(vec![s.to_string()]),
            DeValue::Array(a) => a.iter().map(|x| self.string(code, key, x)).collect(),
            other => Err(self.err(
                code,
                v.span(),
                format!("'{key}' must be a list of strings, not {}", other.type_str()),
            )),
        }
    }

    fn env_table(&self, code: &'static str, key: &str, v: &Val<'_>) -> Result<Vec<(String, String)>> {
        let t = v
            .get_ref()
            .as_table()
            .ok_or_else(|| self.err(code, v.span(), format!("'{key}' must be a table of NAME = \"value\"")))?;
        let mut out = Vec::new();
        for (k, val) in t.iter() {
            let name = k.get_ref().to_string();
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                return Err(self.err(
                    code,
                    k.span(),
                    format!("'{name}' is not a valid environment variable name"),
                ));
            }
            let s = match val.get_ref() {
                DeValue::String(s) => s.to_string(),
                DeValue::Integer(i) => i.to_string(),
                DeValue::Float(f) => f.to_string(),
                DeValue::Boolean(b) => b.to_string(),
                other => {
                    return Err(self.err(
                        code,
                        val.span(),
                        format!("env '{name}' must be a string, not {}", other.type_str()),
                    ));
                }
            };
            out.push((name, s));
        }
        Ok(out)
    }

    fn hooks(&self, code: &'static str, v: &Val<'_>, table_name: &str) -> Result<Hooks> {
        let t = v
            .get_ref()
            .as_table()
            .ok_or_else(|| self.err(code, v.span(), format!("[{table_name}] must be a table")))?;
        self.unknown_keys(t, HOOK_KEYS, table_name)?;
        let mut h = Hooks::default();
        for (k, val) in t.iter() {
            let s = Some(self.string(code, k.get_ref(), val)?);
            match k.get_ref().as_ref() {
                "before_start" => h.before_start = s,
                "after_start" => h.after_start = s,
                "before_stop" => h.before_stop = s,
                _ => h.after_stop = s,
            }
        }
        Ok(h)
    }

    fn task(&self, name: &str, name_span: std::ops::Range<usize>, v: &Val<'_>, dir: &Path) -> Result<Task> {
        if !valid_task_name(name) {
            let why = if name == "job" {
                "'job' is reserved for job windows"
            } else {
                "names are 1-64 of A-Z a-z 0-9 _ -, not starting with -"
            };
            return Err(self.err("E102", name_span, format!("Invalid task name '{name}': {why}")));
        }
        let mut t = Task {
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
        };
        let table = match v.get_ref() {
            DeValue::String(s) => {
                t.command = s.to_string();
                if t.command.trim().is_empty() {
                    return Err(self.err("E102", v.span(), format!("Task '{name}' has an empty command")));
                }
                return Ok(t);
            }
            DeValue::Table(tb) => tb,
            other => {
                return Err(self.err(
                    "E102",
                    v.span(),
                    format!(
                        "Task '{name}' must be a table or a command string, not {}",
                        other.type_str()
                    ),
                ));
            }
        };
        let tname = format!("tasks.{name}");
        self.unknown_keys(table, TASK_KEYS, &tname)?;
        let c = "E102";
        let mut has_command = false;
        for (k, val) in table.iter() {
            let key = k.get_ref().as_ref();
            match key {
                "command" => {
                    t.command = self.string(c, key, val)?;
                    if t.command.trim().is_empty() {
                        return Err(self.err(c, val.span(), format!("Task '{name}' has an empty command")));
                    }
                    has_command = true;
                }
                "auto_start" => t.auto_start = self.boolean(c, key, val)?,
                "cwd" => {
                    let s = self.string(c, key, val)?;
                    t.cwd = dir.join(expand_tilde(&s));
                    t.cwd_raw = Some(s);
                }
                "env" => t.env = self.env_table(c, key, val)?,
                "env_file" => {
                    t.env_file = self
                        .string_list(c, key, val)?
                        .iter()
                        .map(|s| dir.join(expand_tilde(s)))
                        .collect()
                }
                "port" => {
                    let p = self.integer(c, key, val, 65535)?;
                    if p == 0 {
                        return Err(self.err("E104", val.span(), "'port' must be between 1 and 65535".into()));
                    }
                    t.port = Some(p as u16);
                }
                "host" => {
                    let h = self.string(c, key, val)?;
                    if !valid_host(&h) {
                        return Err(self.err(
                            "E104",
                            val.span(),
                            format!("host '{h}' is not a DNS label (a-z 0-9 -), '@' or '*'"),
                        ));
                    }
                    t.host = Some(h);
                }
                "host_path" => t.host_path = self.string(c, key, val)?,
                "health_url" => {
                    let u = self.string(c, key, val)?;
                    if !(u.starts_with("http://") || u.starts_with("https://")) {
                        return Err(self.err("E104", val.span(), format!("health_url '{u}' must start with http://")));
                    }
                    t.health_url = Some(u);
                }
                "health_expected_status" => {
                    let s = self.integer(c, key, val, 599)?;
                    if s < 100 {
                        return Err(self.err("E104", val.span(), "'health_expected_status' must be 100-599".into()));
                    }
                    t.health_expected_status = s as u16;
                }
                "health_expected_body" => {
                    let r = self.string(c, key, val)?;
                    if let Err(e) = regex::Regex::new(&r) {
                        return Err(self.err(
                            "E104",
                            val.span(),
                            format!("health_expected_body is not a valid regex: {e}"),
                        ));
                    }
                    t.health_expected_body = Some(r);
                }
                "health_check" => t.health_check = Some(self.string(c, key, val)?),
                "health_interval" => t.health_interval = self.positive(key, val)?,
                "health_timeout" => t.health_timeout = self.positive(key, val)?,
                "health_retries" => t.health_retries = (self.integer(c, key, val, 10_000)? as u32).max(1),
                "boot_grace" => t.boot_grace = self.number(c, key, val)?,
                "stop_grace_period" => t.stop_grace_period = self.number(c, key, val)?,
                "restart_policy" => {
                    let s = self.string(c, key, val)?;
                    t.restart_policy = match s.as_str() {
                        "no" => RestartPolicy::No,
                        "on-failure" => RestartPolicy::OnFailure,
                        "always" => RestartPolicy::Always,
                        _ => {
                            return Err(self.err(
                                "E104",
                                val.span(),
                                format!("restart_policy '{s}' must be \"no\", \"on-failure\" or \"always\""),
                            ));
                        }
                    }
                }
                "max_restarts" => t.max_restarts = self.integer(c, key, val, u32::MAX as u64)? as u32,
                "restart_backoff" => t.restart_backoff = self.number(c, key, val)?,
                "log_file" => t.log_file = Some(dir.join(expand_tilde(&self.string(c, key, val)?))),
                "log_max_size" => {
                    t.log_max_size = match val.get_ref() {
                        DeValue::Integer(_) => self.integer(c, key, val, u64::MAX >> 1)?,
                        _ => {
                            let s = self.string(c, key, val)?;
                            parse_size(&s).ok_or_else(|| {
                                self.err(
                                    "E104",
                                    val.span(),
                                    format!("log_max_size '{s}' is not a size like \"10MB\""),
                                )
                            })?
                        }
                    };
                    if t.log_max_size < 1024 {
                        return Err(self.err("E104", val.span(), "log_max_size must be at least 1KB".into()));
                    }
                }
                "log_max_files" => t.log_max_files = self.integer(c, key, val, 1000)? as u32,
                "depends_on" => t.depends_on = self.string_list(c, key, val)?,
                _ => t.hooks = self.hooks(c, val, &format!("{tname}.hooks"))?,
            }
        }
        if !has_command {
            return Err(self.err("E102", v.span(), format!("Task '{name}' has no 'command'")));
        }
        Ok(t)
    }

    fn positive(&self, key: &str, v: &Val<'_>) -> Result<f64> {
        let n = self.number("E102", key, v)?;
        if n <= 0.0 {
            return Err(self.err("E104", v.span(), format!("'{key}' must be greater than 0")));
        }
        Ok(n)
    }
}

/// Parses config text; `path` is the file it came from (absolute).
pub fn parse(text: &str, path: &Path) -> Result<Project> {
    let dir = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    let p = Parser { text, path };
    let doc = DeTable::parse(text).map_err(|e| {
        let (l, c) = e.span().map_or((1, 1), |s| line_col(text, s.start));
        let msg = e.message().trim().to_string();
        Error::new(
            "E101",
            format!("Invalid TOML in {} at line {l}, column {c}: {msg}", path.display()),
        )
        .hint("fix the syntax at that line")
        .details(serde_json::json!({"path": path.display().to_string(), "line": l, "column": c}))
    })?;
    let doc = doc.get_ref();
    p.unknown_keys(doc, PROJECT_KEYS, "project")?;

    let mut project = Project {
        name: String::new(),
        auto_start: true,
        auto_daemon: false,
        hooks: Hooks::default(),
        env: Vec::new(),
        env_file: Vec::new(),
        tasks: Vec::new(),
        path: path.to_path_buf(),
        dir: dir.clone(),
    };
    let mut tasks_val = None;
    for (k, v) in doc.iter() {
        match k.get_ref().as_ref() {
            "name" => {
                let n = p.string("E104", "name", v)?;
                if !valid_project_name(&n) {
                    return Err(p.err(
                        "E104",
                        v.span(),
                        format!(
                            "Invalid project name '{n}': use a-z, 0-9 and -, starting and ending with a letter or digit"
                        ),
                    ));
                }
                project.name = n;
            }
            "auto_start" => project.auto_start = p.boolean("E104", "auto_start", v)?,
            "auto_daemon" => project.auto_daemon = p.boolean("E104", "auto_daemon", v)?,
            "hooks" => project.hooks = p.hooks("E104", v, "hooks")?,
            "env" => project.env = p.env_table("E104", "env", v)?,
            "env_file" => {
                project.env_file = p
                    .string_list("E104", "env_file", v)?
                    .iter()
                    .map(|s| dir.join(expand_tilde(s)))
                    .collect()
            }
            _ => tasks_val = Some(v),
        }
    }
    if project.name.is_empty() {
        project.name = slug(
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .as_deref()
                .unwrap_or(""),
        );
    }
    if let Some(tv) = tasks_val {
        let t = tv
            .get_ref()
            .as_table()
            .ok_or_else(|| p.err("E102", tv.span(), "[tasks] must be a table".into()))?;
        for (k, v) in t.iter() {
            project.tasks.push(p.task(k.get_ref(), k.span(), v, &dir)?);
        }
    }
    validate_graph(&project, &p, doc)?;
    Ok(project)
}

fn validate_graph(project: &Project, p: &Parser<'_>, doc: &DeTable<'_>) -> Result<()> {
    let span_of = |task: &str| -> std::ops::Range<usize> {
        doc.get("tasks")
            .and_then(|t| t.get_ref().as_table())
            .and_then(|t| t.get(task))
            .and_then(|t| t.get_ref().as_table())
            .and_then(|t| t.get("depends_on"))
            .map_or(0..0, |d| d.span())
    };
    for t in &project.tasks {
        for d in &t.depends_on {
            if d == &t.name {
                return Err(p.err("E211", span_of(&t.name), format!("Task '{}' depends on itself", t.name)));
            }
            if !project.tasks.iter().any(|o| &o.name == d) {
                return Err(p
                    .err(
                        "E210",
                        span_of(&t.name),
                        format!("Task '{}' depends on unknown task '{d}'", t.name),
                    )
                    .hint(format!("known tasks: {}", project.task_names().join(", "))));
            }
        }
    }
    if let Some(cycle) = find_cycle(project) {
        let first = cycle[0].clone();
        return Err(p
            .err(
                "E212",
                span_of(&first),
                format!("Dependency cycle: {}", cycle.join(" -> ")),
            )
            .details(serde_json::json!({"cycle": cycle})));
    }
    Ok(())
}

/// A dependency cycle as a path that returns to its start (`a -> b -> a`), if any.
fn find_cycle(project: &Project) -> Option<Vec<String>> {
    let idx = |n: &str| project.tasks.iter().position(|t| t.name == n);
    // 0 = unvisited, 1 = on the stack, 2 = done
    let mut mark = vec![0u8; project.tasks.len()];
    let mut stack: Vec<usize> = Vec::new();
    fn visit(
        i: usize,
        project: &Project,
        mark: &mut [u8],
        stack: &mut Vec<usize>,
        idx: &dyn Fn(&str) -> Option<usize>,
    ) -> Option<Vec<String>> {
        mark[i] = 1;
        stack.push(i);
        for d in &project.tasks[i].depends_on {
            let Some(j) = idx(d) else { continue };
            if mark[j] == 1 {
                let pos = stack.iter().position(|&s| s == j).unwrap_or(0);
                let mut cyc: Vec<String> = stack[pos..].iter().map(|&s| project.tasks[s].name.clone()).collect();
                cyc.push(project.tasks[j].name.clone());
                return Some(cyc);
            }
            if mark[j] == 0
                && let Some(c) = visit(j, project, mark, stack, idx)
            {
                return Some(c);
            }
        }
        stack.pop();
        mark[i] = 2;
        None
    }
    for i in 0..project.tasks.len() {
        if mark[i] == 0
            && let Some(c) = visit(i, project, &mut mark, &mut stack, &idx)
        {
            return Some(c);
        }
    }
    None
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

fn valid_host(h: &str) -> bool {
    h == "@"
        || h == "*"
        || (!h.is_empty()
            && h.len() <= 63
            && !h.starts_with('-')
            && !h.ends_with('-')
            && h.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-'))
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

fn expand_tilde(s: &str) -> PathBuf {
    if let Some(rest) = s.strip_prefix("~/")
        && let Some(h) = std::env::var_os("HOME")
    {
        return Path::new(&h).join(rest);
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
        Error::new("E104", format!("env_file {} cannot be read: {e}", path.display()))
            .hint("create the file or fix the env_file path")
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
        assert_eq!(p("name = \n").unwrap_err().code, "E101");
        let e = p("[tasks.a]\ncommand = \"x\"\nbogus = 1\n").unwrap_err();
        assert_eq!(e.code, "E103");
        assert!(
            e.message.contains("'bogus' (line 3)") && e.message.contains("[tasks.a]"),
            "{}",
            e.message
        );
        assert_eq!(p("[tasks.job]\ncommand = \"x\"\n").unwrap_err().code, "E102");
        assert_eq!(p("[tasks.a]\ncwd = \"x\"\n").unwrap_err().code, "E102");
        assert_eq!(
            p("[tasks.a]\ncommand = \"x\"\ndepends_on = [\"zz\"]\n")
                .unwrap_err()
                .code,
            "E210"
        );
        assert_eq!(
            p("[tasks.a]\ncommand = \"x\"\ndepends_on = [\"a\"]\n")
                .unwrap_err()
                .code,
            "E211"
        );
        let e =
            p("[tasks.a]\ncommand = \"x\"\ndepends_on = [\"b\"]\n[tasks.b]\ncommand = \"x\"\ndepends_on = [\"a\"]\n")
                .unwrap_err();
        assert_eq!(e.code, "E212");
        assert!(e.message.contains("a -> b -> a"), "{}", e.message);
        assert_eq!(
            p("[tasks.a]\ncommand = \"x\"\nrestart_policy = \"sometimes\"\n")
                .unwrap_err()
                .code,
            "E104"
        );
        assert_eq!(p("name = \"Bad_Name\"\n").unwrap_err().code, "E104");
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
