//! doctor's checks of this machine: tmux, the project's config, the daemon and its unit,
//! orphan task processes, and the log directory.

use super::{Check, World};
use crate::unit::Manager;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

/// tmux: installed, new enough, and its server's socket.
pub fn tmux(w: &World) -> Check {
    let t = &w.ctx.tmux;
    if let Err(e) = t.check_version() {
        return Check::fail(
            "tmux",
            e.message(),
            e.hint.unwrap_or_else(|| "install tmux 3.2 or newer".into()),
        );
    }
    let version = t
        .find("tmux")
        .and_then(|b| std::process::Command::new(b).arg("-V").output().ok())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "tmux".into());
    let socket = t.derived_socket_path(None);
    match t.exec(&[crate::cmd!["display-message", "-p", "#{socket_path}"]]) {
        Ok((true, out, _)) => Check::ok("tmux", format!("{version}; server running at {}", out.trim())),
        _ => Check::ok(
            "tmux",
            format!("{version}; no server running yet (its socket: {socket})"),
        ),
    }
}

/// The project's config, when doctor runs in a project.
pub fn project_config(w: &World) -> Check {
    match crate::ops::config_path(w.ctx) {
        Err(_) => Check::ok("config", "no taskmux.toml here or above: machine checks only"),
        Ok(path) => match crate::ops::load_project(w.ctx) {
            Ok(p) => Check::ok(
                "config",
                format!(
                    "{} is valid: project '{}', {} tasks",
                    path.display(),
                    p.name,
                    p.tasks.len()
                ),
            ),
            Err(e) => Check::fail(
                "config",
                format!("{}: error[{}]: {}", path.display(), e.code(), e.message()),
                e.hint
                    .unwrap_or_else(|| "fix the config; 'taskmux check' says more".into()),
            ),
        },
    }
}

/// The daemon: running (its lock) and answering (its socket).
pub fn daemon(w: &World) -> Check {
    let home = &w.ctx.home;
    let Some(pid) = crate::lock::running_pid(home) else {
        return Check::fail(
            "daemon",
            "taskmuxd is not running: nothing restarts crashed tasks, heals, or serves the proxy",
            "taskmux daemon start (or 'taskmux daemon install' to run it at login)",
        );
    };
    let status = serde_json::to_value(crate::ops::Request::DaemonStatus).unwrap_or_default();
    match crate::client::request(home, &status, Duration::from_secs(5)) {
        Ok(v) if v["ok"] == true => match v["config_error"].as_str() {
            None => Check::ok("daemon", format!("taskmuxd is running (pid {pid}) and answers")),
            Some(e) => Check::warn(
                "daemon",
                format!("taskmuxd (pid {pid}) runs on its last good config: config.toml does not load: {e}"),
                "fix config.toml ('taskmux config show' says where it is wrong); the daemon applies it once it loads",
            ),
        },
        Ok(v) => Check::fail(
            "daemon",
            format!("taskmuxd (pid {pid}) answered ping with {v}"),
            "taskmux daemon restart",
        ),
        Err(e) => Check::fail(
            "daemon",
            format!(
                "taskmuxd (pid {pid}) holds its lock but does not answer: {}",
                e.message()
            ),
            format!("taskmux daemon restart; its log: {}", home.join("daemon.log").display()),
        ),
    }
}

/// The service unit, and (systemd) whether the user's manager lingers.
pub fn unit(w: &World) -> Vec<Check> {
    let Some(user_home) = w.ctx.user_home() else {
        return vec![Check::warn(
            "unit",
            "HOME is not set: cannot look for the unit",
            "set HOME",
        )];
    };
    let manager = Manager::native();
    let path = manager.unit_path(user_home, w.ctx.var("XDG_CONFIG_HOME").map(std::path::Path::new));
    let mut out = vec![if path.is_file() {
        Check::ok("unit", format!("{} unit installed: {}", manager.name(), path.display()))
    } else {
        Check::warn(
            "unit",
            format!(
                "no {} unit at {}: the daemon does not start at login",
                manager.name(),
                path.display()
            ),
            "taskmux daemon install",
        )
    }];
    if manager == Manager::Systemd {
        let user = w.ctx.var("USER").or_else(|| w.ctx.var("LOGNAME")).unwrap_or("");
        let linger = w.sys("/var/lib/systemd/linger").join(user);
        out.push(if user.is_empty() {
            Check::warn(
                "linger",
                "USER is not set: cannot tell whether linger is on",
                "set USER",
            )
        } else if linger.exists() {
            Check::ok("linger", format!("on for {user}: the daemon starts at boot"))
        } else {
            Check::warn(
                "linger",
                format!("off for {user}: the daemon starts only when you log in"),
                format!("loginctl enable-linger {user}"),
            )
        });
    }
    out
}

/// Task processes of this state directory's projects (the registry's, and the one here)
/// that carry a marker but whose window is gone.
pub fn orphans(w: &World) -> Check {
    let mut sessions: HashSet<String> = crate::registry::Registry::load(&w.ctx.home)
        .map(|r| r.projects.keys().cloned().collect())
        .unwrap_or_default();
    if let Ok(p) = crate::ops::load_project(w.ctx) {
        sessions.insert(p.name);
    }
    let procs = crate::proc::snapshot();
    let markers = crate::proc::markers(&procs);
    let me = std::process::id() as i32;
    // marked processes by tmux server socket, then the windows each server has
    let mut by_server: BTreeMap<String, Vec<(i32, String)>> = BTreeMap::new();
    for (pid, (marker, tmux)) in markers {
        if pid == me || !marker.split('/').next().is_some_and(|s| sessions.contains(s)) {
            continue;
        }
        let socket = tmux.split(',').next().unwrap_or("").to_string();
        by_server.entry(socket).or_default().push((pid, marker));
    }
    let mut orphans = Vec::new();
    for (socket, procs) in by_server {
        let windows = windows_of(&socket);
        for (pid, marker) in procs {
            if !windows.contains(&marker) && !is_job_marker(&marker) {
                orphans.push(format!("{pid} ({marker})"));
            }
        }
    }
    if orphans.is_empty() {
        return Check::ok("orphans", "no task process outlived its window");
    }
    orphans.sort();
    Check::warn(
        "orphans",
        format!(
            "{} task processes have no window: {}",
            orphans.len(),
            orphans.join(", ")
        ),
        "'taskmux start' of that task reaps them, or kill those pids",
    )
}

/// Jobs (`<session>/job…`) are windows of their own that end with their command.
fn is_job_marker(marker: &str) -> bool {
    marker.split('/').nth(1).is_some_and(|t| t.starts_with("job"))
}

/// `<session>/<window>` of every window of the tmux server at `socket` (empty when gone).
fn windows_of(socket: &str) -> HashSet<String> {
    if socket.is_empty() {
        return HashSet::new();
    }
    let out = std::process::Command::new("tmux")
        .args([
            "-S",
            socket,
            "list-windows",
            "-a",
            "-F",
            "#{session_name}/#{window_name}",
        ])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).lines().map(String::from).collect(),
        _ => HashSet::new(),
    }
}

/// The state directory: writable, and room left.
pub fn log_dir(w: &World) -> Check {
    let dir = w.ctx.home.join("projects");
    if let Err(e) = crate::paths::ensure_dir(&dir) {
        return Check::fail(
            "logs",
            format!("cannot make {}: {}", dir.display(), e.message()),
            format!("make {} writable by you", w.ctx.home.display()),
        );
    }
    let probe = dir.join(format!(".doctor-{}", std::process::id()));
    if let Err(e) = std::fs::write(&probe, b"x") {
        return Check::fail(
            "logs",
            format!("{} is not writable: {e}", dir.display()),
            format!(
                "make {} writable by you (chown -R $USER {})",
                dir.display(),
                w.ctx.home.display()
            ),
        );
    }
    let _ = std::fs::remove_file(&probe);
    let free = rustix::fs::statvfs(&dir)
        .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
        .unwrap_or(u64::MAX);
    let mb = free / (1024 * 1024);
    let msg = format!("{} is writable, {mb} MB free", dir.display());
    match mb {
        0..50 => Check::fail("logs", msg, "free disk space: logs and state cannot be written"),
        50..500 => Check::warn("logs", msg, "free disk space, or 'taskmux logs --clean'"),
        _ => Check::ok("logs", msg),
    }
}

/// The state directory and the state files at its top: private (0700, and 0600 for every
/// file but `config.toml`), since logs, events and the environment of record can carry
/// secrets. taskmux makes them so; a directory that was there before keeps its mode.
pub fn permissions(w: &World) -> Check {
    use std::os::unix::fs::PermissionsExt;
    let home = &w.ctx.home;
    let Ok(meta) = std::fs::metadata(home) else {
        return Check::ok("permissions", format!("{} is not made yet", home.display()));
    };
    let mode = meta.permissions().mode() & 0o777;
    let mut open_files: Vec<(String, u32)> = std::fs::read_dir(home)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name() != "config.toml")
        .filter_map(|e| {
            let m = e.metadata().ok().filter(|m| m.is_file())?;
            let mode = m.permissions().mode() & 0o777;
            (mode & 0o077 != 0).then(|| (e.file_name().to_string_lossy().into_owned(), mode))
        })
        .collect();
    open_files.sort();
    if mode & 0o077 == 0 && open_files.is_empty() {
        return Check::ok("permissions", format!("{} and its files are private", home.display()));
    }
    let mut found = Vec::new();
    let mut fix = Vec::new();
    if mode & 0o077 != 0 {
        found.push(format!("{} is {mode:04o}", home.display()));
        fix.push(format!("chmod 700 {}", home.display()));
    }
    if !open_files.is_empty() {
        let list: Vec<String> = open_files.iter().map(|(n, m)| format!("{n} ({m:04o})")).collect();
        found.push(format!("readable by others: {}", list.join(", ")));
        let paths: Vec<String> = open_files
            .iter()
            .map(|(n, _)| home.join(n).display().to_string())
            .collect();
        fix.push(format!("chmod 600 {}", paths.join(" ")));
    }
    Check::warn(
        "permissions",
        format!(
            "{}: other users may read its logs, events and environments",
            found.join("; ")
        ),
        fix.join(" && "),
    )
}

/// The event history: the daemon's word when it drops events, else whether
/// `events.jsonl` opens for appending now (an immutable file or a read-only mount does
/// not; a full disk is the `logs` check's).
pub fn events(w: &World) -> Check {
    let path = w.ctx.home.join("events.jsonl");
    if let Ok(s) = crate::ops::daemon::status(w.ctx)
        && let Some(f) = s.live.and_then(|l| l.events_failing)
    {
        return Check::fail(
            "events",
            format!(
                "taskmuxd cannot write its events since {}: {} ({} dropped)",
                f.since, f.error, f.dropped
            ),
            f.fix,
        );
    }
    match std::fs::OpenOptions::new().append(true).open(&path) {
        Ok(_) => Check::ok("events", format!("{} is writable", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Check::ok("events", format!("{} is not made yet", path.display()))
        }
        Err(e) => {
            let error = crate::error::Error::io("open", &path, e).message();
            Check::fail(
                "events",
                format!("events cannot be recorded: {error}"),
                crate::events::fix_for(&path, &error),
            )
        }
    }
}
