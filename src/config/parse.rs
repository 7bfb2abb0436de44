//! Parsing `taskmux.toml` with positions: every key checked, every value range-checked, the
//! dependency graph validated, errors naming the file, line and column. The parser goes on
//! after an error, so `check` reports every error it can find at once.

use super::name::default_name;
use super::*;
use std::cell::RefCell;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

mod graph;
mod suggest;
mod task;

use graph::validate_graph;
use suggest::closest;

/// The longest duration any key takes, in seconds (one day). Documented in taskmux.toml(5).
pub const MAX_SECONDS: f64 = 86_400.0;
/// The largest `log_max_size`: 1 TiB.
pub const MAX_LOG_SIZE: u64 = 1 << 40;
/// The largest `max_restarts`.
pub const MAX_RESTARTS: u64 = 1_000_000;
/// The largest `health_retries`.
pub const MAX_RETRIES: u64 = 10_000;
/// The largest `log_max_files`.
pub const MAX_LOG_FILES: u64 = 1000;

struct Parser<'a> {
    text: &'a str,
    path: &'a Path,
    /// What `~/` in a path stands for.
    home: Option<&'a Path>,
    /// Every error found so far, in file order.
    errors: RefCell<Vec<Error>>,
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
type Span = std::ops::Range<usize>;

/// The error, with `"task": task` in its details: which task of the file it is about.
fn in_task(mut e: Error, task: &str) -> Error {
    let mut d = e.details.take().unwrap_or_else(|| serde_json::json!({}));
    if let Some(o) = d.as_object_mut() {
        o.insert("task".into(), task.into());
    }
    e.details = Some(d);
    e
}

impl<'a> Parser<'a> {
    fn at(&self, span: Span) -> String {
        let (l, c) = line_col(self.text, span.start);
        format!("{}:{l}:{c}", self.path.display())
    }

    fn err(&self, code: fn(String) -> Kind, span: Span, msg: String) -> Error {
        let (l, c) = line_col(self.text, span.start);
        Error::from(code(format!("{msg} (at {})", self.at(span)))).details(serde_json::json!({
            "path": self.path.display().to_string(), "line": l, "column": c
        }))
    }

    /// Keeps the error of `r` for the report and goes on.
    fn keep<T>(&self, r: Result<T>) -> Option<T> {
        r.map_err(|e| self.errors.borrow_mut().push(e)).ok()
    }

    /// The value as written in the file, for messages.
    fn raw(&self, v: &Val<'_>) -> &str {
        self.text.get(v.span()).unwrap_or("").trim()
    }

    /// E103 for the keys of `table` not in `allowed`; `table_name` None is the top level.
    fn unknown_keys(&self, table: &DeTable<'_>, allowed: &[&str], table_name: Option<&str>) -> Result<()> {
        let bad: Vec<_> = table
            .iter()
            .filter(|(k, _)| !allowed.contains(&k.get_ref().as_ref()))
            .collect();
        if bad.is_empty() {
            return Ok(());
        }
        let mut suggestions = serde_json::Map::new();
        let names: Vec<String> = bad
            .iter()
            .map(|(k, _)| {
                let (l, _) = line_col(self.text, k.span().start);
                let key = k.get_ref();
                match closest(key, allowed) {
                    Some(s) => {
                        suggestions.insert(key.to_string(), s.into());
                        format!("'{key}' (line {l}): did you mean `{s}`?")
                    }
                    None => format!("'{key}' (line {l})"),
                }
            })
            .collect();
        let first = bad[0].0.span();
        let (l, c) = line_col(self.text, first.start);
        let plural = if bad.len() > 1 { "s" } else { "" };
        let path = self.path.display();
        let (msg, hint) = match table_name {
            Some(t) => (
                format!("Unknown key{plural} in [{t}] of {path}: {}", names.join("; ")),
                format!("allowed keys in [{t}]: {}", allowed.join(", ")),
            ),
            None => (
                format!("Unknown key{plural} at the top level of {path}: {}", names.join("; ")),
                format!("allowed keys at the top level: {}", allowed.join(", ")),
            ),
        };
        Err(Error::from(Kind::UnknownKey(msg))
            .hint(hint)
            .details(serde_json::json!({
                "path": self.path.display().to_string(), "table": table_name.unwrap_or("project"),
                "line": l, "column": c,
                "keys": bad.iter().map(|(k, _)| k.get_ref().to_string()).collect::<Vec<_>>(),
                "suggestions": suggestions,
            })))
    }

    fn string(&self, code: fn(String) -> Kind, key: &str, v: &Val<'_>) -> Result<String> {
        v.get_ref().as_str().map(str::to_string).ok_or_else(|| {
            self.err(
                code,
                v.span(),
                format!("'{key}' must be a string, not {}", v.get_ref().type_str()),
            )
        })
    }

    /// A string that goes to a shell or a process: no NUL byte (E104).
    fn text(&self, code: fn(String) -> Kind, key: &str, v: &Val<'_>) -> Result<String> {
        let s = self.string(code, key, v)?;
        if s.contains('\0') {
            return Err(self.err(Kind::Invalid, v.span(), format!("'{key}' must not contain a NUL byte")));
        }
        Ok(s)
    }

    fn boolean(&self, code: fn(String) -> Kind, key: &str, v: &Val<'_>) -> Result<bool> {
        v.get_ref().as_bool().ok_or_else(|| {
            self.err(
                code,
                v.span(),
                format!("'{key}' must be true or false, not {}", v.get_ref().type_str()),
            )
        })
    }

    /// A duration in seconds, between 0 and [`MAX_SECONDS`] (greater than 0 when `positive`).
    fn seconds(&self, key: &str, v: &Val<'_>, positive: bool) -> Result<f64> {
        let n = match v.get_ref() {
            DeValue::Integer(i) => i128::from_str_radix(i.as_str(), i.radix()).map_or(f64::INFINITY, |i| i as f64),
            DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().unwrap_or(f64::NAN),
            other => {
                return Err(self.err(
                    Kind::InvalidTask,
                    v.span(),
                    format!("'{key}' must be a number of seconds, not {}", other.type_str()),
                ));
            }
        };
        let low_ok = if positive { n > 0.0 } else { n >= 0.0 };
        if n.is_finite() && low_ok && n <= MAX_SECONDS {
            return Ok(n);
        }
        let range = if positive {
            format!("greater than 0 and at most {MAX_SECONDS}")
        } else {
            format!("between 0 and {MAX_SECONDS}")
        };
        Err(self.err(
            Kind::Invalid,
            v.span(),
            format!("'{key}' must be a number of seconds {range}, not {}", self.raw(v)),
        ))
    }

    /// An integer between `min` and `max`.
    fn integer(&self, code: fn(String) -> Kind, key: &str, v: &Val<'_>, min: u64, max: u64) -> Result<u64> {
        let DeValue::Integer(i) = v.get_ref() else {
            return Err(self.err(
                code,
                v.span(),
                format!("'{key}' must be an integer, not {}", v.get_ref().type_str()),
            ));
        };
        match i128::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) if n >= min as i128 && n <= max as i128 => Ok(n as u64),
            _ => Err(self.err(
                Kind::Invalid,
                v.span(),
                format!("'{key}' must be between {min} and {max}, not {}", self.raw(v)),
            )),
        }
    }

    fn string_list(&self, code: fn(String) -> Kind, key: &str, v: &Val<'_>) -> Result<Vec<String>> {
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

    fn env_table(&self, code: fn(String) -> Kind, key: &str, v: &Val<'_>) -> Result<Vec<(String, String)>> {
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
            if s.contains('\0') {
                return Err(self.err(
                    Kind::Invalid,
                    val.span(),
                    format!("env '{name}' must not contain a NUL byte"),
                ));
            }
            out.push((name, s));
        }
        Ok(out)
    }

    fn hooks(&self, code: fn(String) -> Kind, v: &Val<'_>, table_name: &str) -> Result<Hooks> {
        let t = v
            .get_ref()
            .as_table()
            .ok_or_else(|| self.err(code, v.span(), format!("[{table_name}] must be a table")))?;
        self.keep(self.unknown_keys(t, HOOK_KEYS, Some(table_name)));
        let mut h = Hooks::default();
        for (k, val) in t.iter() {
            let slot = match k.get_ref().as_ref() {
                "before_start" => &mut h.before_start,
                "after_start" => &mut h.after_start,
                "before_stop" => &mut h.before_stop,
                "after_stop" => &mut h.after_stop,
                _ => continue,
            };
            if let Some(s) = self.keep(self.text(code, k.get_ref(), val)) {
                *slot = Some(s);
            }
        }
        Ok(h)
    }

    /// The project's own keys into `project` (errors kept); the `[tasks]` value, if any.
    fn project_keys<'d, 'i>(&self, doc: &'d DeTable<'i>, project: &mut Project, dir: &Path) -> Option<&'d Val<'i>> {
        let mut tasks_val = None;
        for (k, v) in doc.iter() {
            let r = match k.get_ref().as_ref() {
                "name" => self.string(Kind::Invalid, "name", v).and_then(|n| {
                    if !valid_project_name(&n) {
                        return Err(self.err(
                            Kind::Invalid,
                            v.span(),
                            format!(
                                "Invalid project name '{n}': use a-z, 0-9 and -, starting and ending with a letter or digit"
                            ),
                        ));
                    }
                    project.name = n;
                    Ok(())
                }),
                "auto_start" => self
                    .boolean(Kind::Invalid, "auto_start", v)
                    .map(|b| project.auto_start = b),
                "auto_daemon" => self
                    .boolean(Kind::Invalid, "auto_daemon", v)
                    .map(|b| project.auto_daemon = b),
                "hooks" => self.hooks(Kind::Invalid, v, "hooks").map(|h| project.hooks = h),
                "env" => self.env_table(Kind::Invalid, "env", v).map(|e| project.env = e),
                "env_file" => self
                    .string_list(Kind::Invalid, "env_file", v)
                    .map(|files| project.env_file = files.iter().map(|s| dir.join(expand_tilde(s, self.home))).collect()),
                "tasks" => {
                    tasks_val = Some(v);
                    Ok(())
                }
                _ => Ok(()),
            };
            self.keep(r);
        }
        tasks_val
    }

    /// Each task of `[tasks]` into `project` (errors kept); every name the table has, valid
    /// or not.
    fn tasks_table(&self, tv: &Val<'_>, project: &mut Project, dir: &Path) -> Vec<String> {
        let mut written: Vec<String> = Vec::new();
        match tv.get_ref().as_table() {
            None => {
                self.keep::<()>(Err(self.err(
                    Kind::InvalidTask,
                    tv.span(),
                    "[tasks] must be a table".into(),
                )));
            }
            Some(t) => {
                for (k, v) in t.iter() {
                    written.push(k.get_ref().to_string());
                    if let Some(task) = self.task(k.get_ref(), k.span(), v, dir) {
                        project.tasks.push(task);
                    }
                }
            }
        }
        written
    }

    /// The span of `key` in `[tasks.TASK]`, or of the task itself.
    fn task_key_span(doc: &DeTable<'_>, task: &str, key: &str) -> Span {
        let t = doc
            .get("tasks")
            .and_then(|t| t.get_ref().as_table())
            .and_then(|t| t.get(task));
        t.and_then(|t| t.get_ref().as_table())
            .and_then(|t| t.get(key))
            .map(|v| v.span())
            .or_else(|| t.map(|t| t.span()))
            .unwrap_or(0..0)
    }

    /// E104 for a task whose `host` is the host of a task before it: the proxy routes a
    /// name to one task, so two would leave the choice to chance.
    fn duplicate_hosts(&self, project: &Project, doc: &DeTable<'_>) {
        for (i, t) in project.tasks.iter().enumerate() {
            let Some(h) = &t.host else { continue };
            if let Some(o) = project.tasks[..i].iter().find(|o| o.host.as_ref() == Some(h)) {
                let e = self
                    .err(
                        Kind::Invalid,
                        Self::task_key_span(doc, &t.name, "host"),
                        format!(
                            "'host' '{h}' of task '{}' is also the host of task '{}'",
                            t.name, o.name
                        ),
                    )
                    .hint("each host routes to one task: give one of them another host, or none");
                self.keep::<()>(Err(in_task(e, &t.name)));
            }
        }
    }

    /// E104 for a task whose `port` is the port of a task before it.
    fn duplicate_ports(&self, project: &Project, doc: &DeTable<'_>) {
        for (i, t) in project.tasks.iter().enumerate() {
            let Some(p) = t.port else { continue };
            if let Some(o) = project.tasks[..i].iter().find(|o| o.port == Some(p)) {
                let e = self
                    .err(
                        Kind::Invalid,
                        Self::task_key_span(doc, &t.name, "port"),
                        format!("'port' {p} of task '{}' is also the port of task '{}'", t.name, o.name),
                    )
                    .hint("two tasks cannot listen on one port: give one of them another port, or none");
                self.keep::<()>(Err(in_task(e, &t.name)));
            }
        }
    }
}

/// Parses config text; `path` is the file it came from (absolute). `~/` is not expanded.
pub fn parse(text: &str, path: &Path) -> Result<Project> {
    parse_in(text, path, None)
}

/// Parses config text; `path` is the file it came from (absolute), and `~/` in paths
/// expands to `user_home`. The first error, when there are any.
pub fn parse_in(text: &str, path: &Path, user_home: Option<&Path>) -> Result<Project> {
    parse_all(text, path, user_home).map_err(|errors| {
        errors
            .into_iter()
            .next()
            .unwrap_or_else(|| Error::internal("the config parser failed without an error"))
    })
}

/// Like [`parse_in`], with every error it finds, in file order (a TOML syntax error stops
/// it at once).
pub fn parse_all(text: &str, path: &Path, user_home: Option<&Path>) -> std::result::Result<Project, Vec<Error>> {
    let dir = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    let p = Parser {
        text,
        path,
        home: user_home,
        errors: RefCell::new(Vec::new()),
    };
    let doc = DeTable::parse(text).map_err(|e| {
        let (l, c) = e.span().map_or((1, 1), |s| line_col(text, s.start));
        let msg = e.message().trim().to_string();
        vec![
            Error::from(Kind::InvalidToml(format!(
                "Invalid TOML in {} at line {l}, column {c}: {msg}",
                path.display()
            )))
            .hint("fix the syntax at that line")
            .details(serde_json::json!({"path": path.display().to_string(), "line": l, "column": c})),
        ]
    })?;
    let doc = doc.get_ref();
    p.keep(p.unknown_keys(doc, PROJECT_KEYS, None));

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
    let tasks_val = p.project_keys(doc, &mut project, &dir);
    if project.name.is_empty() {
        project.name = default_name(&dir);
    }
    let written = match tasks_val {
        Some(tv) => p.tasks_table(tv, &mut project, &dir),
        None => Vec::new(),
    };
    p.duplicate_ports(&project, doc);
    p.duplicate_hosts(&project, doc);
    validate_graph(&project, &p, doc, &written);
    let errors = p.errors.into_inner();
    if errors.is_empty() { Ok(project) } else { Err(errors) }
}
