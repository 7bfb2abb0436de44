//! One `[tasks.NAME]` table: its name checked, then each key by kind (setup, probe,
//! lifecycle), every error naming the task.

use super::*;

impl Parser<'_> {
    /// A task, or None when it has errors (kept, each with the task named in its details).
    pub(super) fn task(&self, name: &str, name_span: Span, v: &Val<'_>, dir: &Path) -> Option<Task> {
        let before = self.errors.borrow().len();
        let t = self.task_keys(name, name_span, v, dir);
        let mut errors = self.errors.borrow_mut();
        for e in errors.iter_mut().skip(before) {
            *e = in_task(e.clone(), name);
        }
        t.filter(|_| errors.len() == before)
    }

    fn task_keys(&self, name: &str, name_span: Span, v: &Val<'_>, dir: &Path) -> Option<Task> {
        if !valid_task_name(name) {
            let why = if name == "job" {
                "'job' is reserved for job windows"
            } else {
                "names are 1-64 of A-Z a-z 0-9 _ -, not starting with -"
            };
            self.keep::<()>(Err(self.err(
                Kind::InvalidTask,
                name_span,
                format!("Invalid task name '{name}': {why}"),
            )));
            return None;
        }
        let mut t = Task::defaults(name, dir);
        let table = match v.get_ref() {
            DeValue::String(_) => {
                t.command = self.keep(self.text(Kind::InvalidTask, "command", v))?;
                if t.command.trim().is_empty() {
                    self.keep::<()>(Err(self.err(
                        Kind::InvalidTask,
                        v.span(),
                        format!("Task '{name}' has an empty command"),
                    )));
                }
                return Some(t);
            }
            DeValue::Table(tb) => tb,
            other => {
                self.keep::<()>(Err(self.err(
                    Kind::InvalidTask,
                    v.span(),
                    format!(
                        "Task '{name}' must be a table or a command string, not {}",
                        other.type_str()
                    ),
                )));
                return None;
            }
        };
        let tname = format!("tasks.{name}");
        self.keep(self.unknown_keys(table, TASK_KEYS, Some(&tname)));
        for (k, val) in table.iter() {
            let key = k.get_ref().as_ref();
            let r = match key {
                "command" | "auto_start" | "cwd" | "env" | "env_file" | "log_file" | "depends_on" => {
                    self.task_setup_key(&mut t, key, val, dir)
                }
                "port" | "host" | "host_path" => self.task_probe_key(&mut t, key, val),
                k if k.starts_with("health_") => self.task_probe_key(&mut t, key, val),
                k if TASK_KEYS.contains(&k) => self.task_lifecycle_key(&mut t, key, val),
                _ => Ok(()),
            };
            self.keep(r);
        }
        if table.get("command").is_none() {
            self.keep::<()>(Err(self.err(
                Kind::InvalidTask,
                v.span(),
                format!("Task '{name}' has no 'command'"),
            )));
        }
        Some(t)
    }

    /// A task key of what runs and where: command, cwd, environment, log file, dependencies.
    fn task_setup_key(&self, t: &mut Task, key: &str, val: &Val<'_>, dir: &Path) -> Result<()> {
        let c: fn(String) -> Kind = Kind::InvalidTask;
        let name = t.name.clone();
        match key {
            "command" => {
                t.command = self.text(c, key, val)?;
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
            "port" => t.port = Some(self.integer(c, key, val, 1, 65535)? as u16),
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
            "health_expected_status" => t.health_expected_status = self.integer(c, key, val, 100, 599)? as u16,
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
            "health_check" => t.health_check = Some(self.text(c, key, val)?),
            "health_interval" => t.health_interval = self.seconds(key, val, true)?,
            "health_timeout" => t.health_timeout = self.seconds(key, val, true)?,
            "health_retries" => t.health_retries = (self.integer(c, key, val, 0, MAX_RETRIES)? as u32).max(1),
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
            "boot_grace" => t.boot_grace = self.seconds(key, val, false)?,
            "stop_grace_period" => t.stop_grace_period = self.seconds(key, val, false)?,
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
            "max_restarts" => t.max_restarts = self.integer(c, key, val, 0, MAX_RESTARTS)? as u32,
            "restart_backoff" => t.restart_backoff = self.seconds(key, val, false)?,
            "log_max_size" => {
                t.log_max_size = match val.get_ref() {
                    DeValue::Integer(_) => self.integer(c, key, val, 1024, MAX_LOG_SIZE)?,
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
                if !(1024..=MAX_LOG_SIZE).contains(&t.log_max_size) {
                    return Err(self.err(
                        Kind::Invalid,
                        val.span(),
                        format!("log_max_size must be between 1KB and 1TB, not {}", self.raw(val)),
                    ));
                }
            }
            "log_max_files" => t.log_max_files = self.integer(c, key, val, 0, MAX_LOG_FILES)? as u32,
            _ => t.hooks = self.hooks(c, val, &format!("{tname}.hooks"))?,
        }
        Ok(())
    }
}
