//! Parsing `taskmux.toml` with positions: every key checked, every value range-checked, the
//! dependency graph validated, errors naming the file, line and column.

use super::*;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

struct Parser<'a> {
    text: &'a str,
    path: &'a Path,
    /// What `~/` in a path stands for.
    home: Option<&'a Path>,
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

    fn err(&self, code: fn(String) -> Kind, span: std::ops::Range<usize>, msg: String) -> Error {
        let (l, c) = line_col(self.text, span.start);
        Error::from(code(format!("{msg} (at {})", self.at(span)))).details(serde_json::json!({
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
        Err(Error::from(Kind::UnknownKey(format!(
            "Unknown key{} in [{table_name}] of {}: {}",
            if bad.len() > 1 { "s" } else { "" },
            self.path.display(),
            names.join(", ")
        )))
        .hint(format!("allowed keys in [{table_name}]: {}", allowed.join(", ")))
        .details(serde_json::json!({
            "path": self.path.display().to_string(), "table": table_name, "line": l, "column": c,
            "keys": bad.iter().map(|(k, _)| k.get_ref().to_string()).collect::<Vec<_>>(),
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

    fn boolean(&self, code: fn(String) -> Kind, key: &str, v: &Val<'_>) -> Result<bool> {
        v.get_ref().as_bool().ok_or_else(|| {
            self.err(
                code,
                v.span(),
                format!("'{key}' must be true or false, not {}", v.get_ref().type_str()),
            )
        })
    }

    fn number(&self, code: fn(String) -> Kind, key: &str, v: &Val<'_>) -> Result<f64> {
        let n = match v.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok().map(|i| i as f64),
            DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
            _ => None,
        };
        match n {
            Some(n) if n.is_finite() && n >= 0.0 => Ok(n),
            Some(_) => Err(self.err(Kind::Invalid, v.span(), format!("'{key}' must be a finite number >= 0"))),
            None => Err(self.err(
                code,
                v.span(),
                format!("'{key}' must be a number, not {}", v.get_ref().type_str()),
            )),
        }
    }

    fn integer(&self, code: fn(String) -> Kind, key: &str, v: &Val<'_>, max: u64) -> Result<u64> {
        let n = match v.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok(),
            _ => None,
        };
        match n {
            Some(n) if n >= 0 && (n as u64) <= max => Ok(n as u64),
            Some(_) => Err(self.err(Kind::Invalid, v.span(), format!("'{key}' must be between 0 and {max}"))),
            None => Err(self.err(
                code,
                v.span(),
                format!("'{key}' must be an integer, not {}", v.get_ref().type_str()),
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
            out.push((name, s));
        }
        Ok(out)
    }

    fn hooks(&self, code: fn(String) -> Kind, v: &Val<'_>, table_name: &str) -> Result<Hooks> {
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
            return Err(self.err(
                Kind::InvalidTask,
                name_span,
                format!("Invalid task name '{name}': {why}"),
            ));
        }
        let mut t = Task::defaults(name, dir);
        let table = match v.get_ref() {
            DeValue::String(s) => {
                t.command = s.to_string();
                if t.command.trim().is_empty() {
                    return Err(self.err(
                        Kind::InvalidTask,
                        v.span(),
                        format!("Task '{name}' has an empty command"),
                    ));
                }
                return Ok(t);
            }
            DeValue::Table(tb) => tb,
            other => {
                return Err(self.err(
                    Kind::InvalidTask,
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
        for (k, val) in table.iter() {
            let key = k.get_ref().as_ref();
            match key {
                "command" | "auto_start" | "cwd" | "env" | "env_file" | "log_file" | "depends_on" => {
                    self.task_setup_key(&mut t, key, val, dir)?
                }
                "port" | "host" | "host_path" => self.task_probe_key(&mut t, key, val)?,
                k if k.starts_with("health_") => self.task_probe_key(&mut t, key, val)?,
                _ => self.task_lifecycle_key(&mut t, key, val)?,
            }
        }
        if t.command.is_empty() {
            return Err(self.err(Kind::InvalidTask, v.span(), format!("Task '{name}' has no 'command'")));
        }
        Ok(t)
    }

    /// A task key of what runs and where: command, cwd, environment, log file, dependencies.
    fn task_setup_key(&self, t: &mut Task, key: &str, val: &Val<'_>, dir: &Path) -> Result<()> {
        let c: fn(String) -> Kind = Kind::InvalidTask;
        let name = t.name.clone();
        match key {
            "command" => {
                t.command = self.string(c, key, val)?;
                if t.command.trim().is_empty() {
                    return Err(self.err(c, val.span(), format!("Task '{name}' has an empty command")));
                }
            }
            "auto_start" => t.auto_start = self.boolean(c, key, val)?,
            "cwd" => {
                let s = self.string(c, key, val)?;
                t.cwd = dir.join(expand_tilde(&s, self.home));
                t.cwd_raw = Some(s);
            }
            "env" => t.env = self.env_table(c, key, val)?,
            "env_file" => {
                t.env_file = self
                    .string_list(c, key, val)?
                    .iter()
                    .map(|s| dir.join(expand_tilde(s, self.home)))
                    .collect()
            }
            "log_file" => t.log_file = Some(dir.join(expand_tilde(&self.string(c, key, val)?, self.home))),
            "depends_on" => t.depends_on = self.string_list(c, key, val)?,
            _ => {}
        }
        Ok(())
    }

    /// A task key of its port, host and health probe.
    fn task_probe_key(&self, t: &mut Task, key: &str, val: &Val<'_>) -> Result<()> {
        let c: fn(String) -> Kind = Kind::InvalidTask;
        match key {
            "port" => {
                let p = self.integer(c, key, val, 65535)?;
                if p == 0 {
                    return Err(self.err(Kind::Invalid, val.span(), "'port' must be between 1 and 65535".into()));
                }
                t.port = Some(p as u16);
            }
            "host" => {
                let h = self.string(c, key, val)?;
                if !valid_host(&h) {
                    return Err(self.err(
                        Kind::Invalid,
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
                    return Err(self.err(
                        Kind::Invalid,
                        val.span(),
                        format!("health_url '{u}' must start with http://"),
                    ));
                }
                t.health_url = Some(u);
            }
            "health_expected_status" => {
                let s = self.integer(c, key, val, 599)?;
                if s < 100 {
                    return Err(self.err(
                        Kind::Invalid,
                        val.span(),
                        "'health_expected_status' must be 100-599".into(),
                    ));
                }
                t.health_expected_status = s as u16;
            }
            "health_expected_body" => {
                let r = self.string(c, key, val)?;
                if let Err(e) = regex::Regex::new(&r) {
                    return Err(self.err(
                        Kind::Invalid,
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
            _ => {}
        }
        Ok(())
    }

    /// A task key of its lifecycle: grace periods, restarts, log rotation and hooks.
    fn task_lifecycle_key(&self, t: &mut Task, key: &str, val: &Val<'_>) -> Result<()> {
        let c: fn(String) -> Kind = Kind::InvalidTask;
        let name = t.name.clone();
        let tname = format!("tasks.{name}");
        match key {
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
                            Kind::Invalid,
                            val.span(),
                            format!("restart_policy '{s}' must be \"no\", \"on-failure\" or \"always\""),
                        ));
                    }
                }
            }
            "max_restarts" => t.max_restarts = self.integer(c, key, val, u32::MAX as u64)? as u32,
            "restart_backoff" => t.restart_backoff = self.number(c, key, val)?,
            "log_max_size" => {
                t.log_max_size = match val.get_ref() {
                    DeValue::Integer(_) => self.integer(c, key, val, u64::MAX >> 1)?,
                    _ => {
                        let s = self.string(c, key, val)?;
                        parse_size(&s).ok_or_else(|| {
                            self.err(
                                Kind::Invalid,
                                val.span(),
                                format!("log_max_size '{s}' is not a size like \"10MB\""),
                            )
                        })?
                    }
                };
                if t.log_max_size < 1024 {
                    return Err(self.err(Kind::Invalid, val.span(), "log_max_size must be at least 1KB".into()));
                }
            }
            "log_max_files" => t.log_max_files = self.integer(c, key, val, 1000)? as u32,
            _ => t.hooks = self.hooks(c, val, &format!("{tname}.hooks"))?,
        }
        Ok(())
    }

    fn positive(&self, key: &str, v: &Val<'_>) -> Result<f64> {
        let n = self.number(Kind::InvalidTask, key, v)?;
        if n <= 0.0 {
            return Err(self.err(Kind::Invalid, v.span(), format!("'{key}' must be greater than 0")));
        }
        Ok(n)
    }
}

/// Parses config text; `path` is the file it came from (absolute). `~/` is not expanded.
pub fn parse(text: &str, path: &Path) -> Result<Project> {
    parse_in(text, path, None)
}

/// Parses config text; `path` is the file it came from (absolute), and `~/` in paths
/// expands to `user_home`.
pub fn parse_in(text: &str, path: &Path, user_home: Option<&Path>) -> Result<Project> {
    let dir = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    let p = Parser {
        text,
        path,
        home: user_home,
    };
    let doc = DeTable::parse(text).map_err(|e| {
        let (l, c) = e.span().map_or((1, 1), |s| line_col(text, s.start));
        let msg = e.message().trim().to_string();
        Error::from(Kind::InvalidToml(format!(
            "Invalid TOML in {} at line {l}, column {c}: {msg}",
            path.display()
        )))
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
                let n = p.string(Kind::Invalid, "name", v)?;
                if !valid_project_name(&n) {
                    return Err(p.err(
                        Kind::Invalid,
                        v.span(),
                        format!(
                            "Invalid project name '{n}': use a-z, 0-9 and -, starting and ending with a letter or digit"
                        ),
                    ));
                }
                project.name = n;
            }
            "auto_start" => project.auto_start = p.boolean(Kind::Invalid, "auto_start", v)?,
            "auto_daemon" => project.auto_daemon = p.boolean(Kind::Invalid, "auto_daemon", v)?,
            "hooks" => project.hooks = p.hooks(Kind::Invalid, v, "hooks")?,
            "env" => project.env = p.env_table(Kind::Invalid, "env", v)?,
            "env_file" => {
                project.env_file = p
                    .string_list(Kind::Invalid, "env_file", v)?
                    .iter()
                    .map(|s| dir.join(expand_tilde(s, user_home)))
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
            .ok_or_else(|| p.err(Kind::InvalidTask, tv.span(), "[tasks] must be a table".into()))?;
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
                return Err(p.err(
                    Kind::SelfDependency,
                    span_of(&t.name),
                    format!("Task '{}' depends on itself", t.name),
                ));
            }
            if !project.tasks.iter().any(|o| &o.name == d) {
                return Err(p
                    .err(
                        Kind::UnknownDependency,
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
                Kind::Cycle,
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
