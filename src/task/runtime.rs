//! Runtime state read from tmux: the `list-panes` row of each task window parsed by field
//! name into a [`Runtime`], the last recorded probe ([`LastHealth`]), one pane's state, the
//! config hash a task was launched with, and the state name people read.

use crate::config::{Project, Task};
use crate::error::Result;
use crate::health::{self, Method, Probe};
use crate::proc::{self, TaskIdentity};
use crate::tmux::{Cmd, SEP, Tmux};
use crate::{cmd, paths};
use std::collections::HashMap;

/// What tmux knows about a task's window, read in one `list-panes`.
#[derive(Debug, Clone, Default)]
pub struct Runtime {
    /// The task's name (`@taskmux-task`).
    pub task: String,
    /// `@N`.
    pub window_id: String,
    /// `%N`.
    pub pane_id: String,
    /// The pane's process.
    pub pane_pid: i32,
    /// Whether that process was alive in /proc when this was read.
    pub alive: bool,
    /// Its command name (`comm`) when it was read, for telling the `sh -c` wrapper apart.
    pub comm: String,
    /// Whether tmux reports the pane dead.
    pub dead: bool,
    /// Exit code of a dead pane (128+N when killed by signal N).
    pub exit_code: Option<i32>,
    /// The signal that ended a dead pane's process, when one did.
    pub signal: Option<i32>,
    /// The pane's tty path.
    pub tty: String,
    /// When the task was launched (epoch seconds).
    pub started_at: Option<f64>,
    /// Hash of the command/env/cwd it was launched with.
    pub hash: String,
    /// Its `$PORT`.
    pub port: Option<u16>,
    /// The last probe recorded in `@taskmux-health`.
    pub health: Option<LastHealth>,
    /// The tmux server's socket path.
    pub socket_path: String,
    /// The pane's foreground command.
    pub current_command: String,
    /// The pane's current directory.
    pub current_path: String,
}

impl Runtime {
    /// Running: the pane is not dead and its process is alive in /proc.
    pub fn running(&self) -> bool {
        !self.dead && self.alive
    }

    /// How to find this task's processes at stop or kill.
    pub(super) fn identity(&self, session: &str) -> TaskIdentity {
        TaskIdentity {
            // a dead pane's pid and tty are free for any new process or terminal to take:
            // never match by them (the marker still finds what the task left behind)
            pane_pid: if self.running() { self.pane_pid } else { 0 },
            tty_nr: if self.running() {
                proc::tty_nr_of(&self.tty)
            } else {
                None
            },
            marker: format!("{session}/{}", self.task),
            server: self.socket_path.clone(),
        }
    }
}

/// The last probe of a task, as recorded in its window option `@taskmux-health`
/// (`ok|method|at|reason`), so `status` shows it without probing again.
#[derive(Debug, Clone, PartialEq)]
pub struct LastHealth {
    /// Whether the probe passed.
    pub ok: bool,
    /// Which probe ran.
    pub method: Method,
    /// Why it failed (None when it passed).
    pub reason: Option<String>,
    /// When it ran (epoch seconds).
    pub at: f64,
}

impl LastHealth {
    /// The option value: `ok|method|at|reason`, the reason stripped of control characters
    /// and `|` so the value stays one field of a `list-panes` row.
    fn encode(p: &Probe, at: f64) -> String {
        let reason = p
            .reason
            .clone()
            .unwrap_or_default()
            .replace(|c: char| c.is_control() || c == '|', " ");
        format!("{}|{}|{at:.3}|{reason}", if p.ok { 1 } else { 0 }, p.method.as_str())
    }

    /// Parses an option value; None when it is empty or not one [`LastHealth::encode`] wrote.
    fn decode(v: &str) -> Option<LastHealth> {
        let p: Vec<&str> = v.splitn(4, '|').collect();
        let [ok, method, at, reason] = p[..] else {
            return None;
        };
        Some(LastHealth {
            ok: ok == "1",
            method: method_named(method)?,
            reason: (!reason.is_empty()).then(|| reason.to_string()),
            at: at.parse().unwrap_or(0.0),
        })
    }
}

/// The probe method spelled `s` (as [`Method::as_str`] spells it).
fn method_named(s: &str) -> Option<Method> {
    // a new Method fails to compile here until it is added to the list below
    const _: fn(Method) = |m| match m {
        Method::Http | Method::Shell | Method::Tcp | Method::Proc => {}
    };
    [Method::Http, Method::Shell, Method::Tcp, Method::Proc]
        .into_iter()
        .find(|m| m.as_str() == s)
}

/// How much of a pane a read asks tmux for; each level includes those before it. Every
/// field is work for tmux on every pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    /// What `status` and `health` show.
    Brief,
    /// Also what finding processes at stop needs: the tty and the server's socket.
    Stop,
    /// Also what costs tmux a look into /proc per pane: for `inspect`.
    Detail,
}

/// One field of a pane that taskmux reads, by name: adding one cannot shift another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Task,
    WindowId,
    PaneId,
    PanePid,
    PaneDead,
    DeadStatus,
    DeadSignal,
    Meta,
    Health,
    Tty,
    Socket,
    CurrentCommand,
    CurrentPath,
}

/// A pane's fields while they are read: the runtime, and the raw exit fields it is
/// decoded from once every field is in.
#[derive(Default)]
struct Row {
    rt: Runtime,
    dead_status: Option<i32>,
    dead_signal: Option<i32>,
}

impl Field {
    /// Every field, in the order a read asks for them: free-form values come last, since
    /// the last field of a row takes whatever is left of its line.
    const ALL: [Field; 13] = [
        Field::Task,
        Field::WindowId,
        Field::PaneId,
        Field::PanePid,
        Field::PaneDead,
        Field::DeadStatus,
        Field::DeadSignal,
        Field::Meta,
        Field::Health,
        Field::Tty,
        Field::Socket,
        Field::CurrentCommand,
        Field::CurrentPath,
    ];

    /// The tmux format variable (or window user option).
    fn name(self) -> &'static str {
        match self {
            Field::Task => "@taskmux-task",
            Field::WindowId => "window_id",
            Field::PaneId => "pane_id",
            Field::PanePid => "pane_pid",
            Field::PaneDead => "pane_dead",
            Field::DeadStatus => "pane_dead_status",
            Field::DeadSignal => "pane_dead_signal",
            Field::Meta => "@taskmux-meta",
            Field::Health => "@taskmux-health",
            Field::Tty => "pane_tty",
            Field::Socket => "socket_path",
            Field::CurrentCommand => "pane_current_command",
            Field::CurrentPath => "pane_current_path",
        }
    }

    fn level(self) -> Level {
        match self {
            Field::Tty | Field::Socket => Level::Stop,
            Field::CurrentCommand | Field::CurrentPath => Level::Detail,
            _ => Level::Brief,
        }
    }

    /// The fields a read at `level` asks for.
    fn upto(level: Level) -> Vec<Field> {
        Field::ALL.into_iter().filter(|f| f.level() <= level).collect()
    }

    /// Puts this field's value `v` where it goes.
    fn set(self, row: &mut Row, v: &str) {
        let rt = &mut row.rt;
        match self {
            Field::Task => rt.task = v.to_string(),
            Field::WindowId => rt.window_id = v.to_string(),
            Field::PaneId => rt.pane_id = v.to_string(),
            Field::PanePid => rt.pane_pid = v.parse().unwrap_or(0),
            Field::PaneDead => rt.dead = v == "1",
            Field::DeadStatus => row.dead_status = v.parse().ok(),
            Field::DeadSignal => row.dead_signal = v.parse().ok(),
            Field::Meta => {
                // "started|config hash|port"
                let mut meta = v.split('|');
                rt.started_at = meta.next().and_then(|v| v.parse().ok());
                rt.hash = meta.next().unwrap_or_default().to_string();
                rt.port = meta.next().and_then(|v| v.parse().ok());
            }
            Field::Health => rt.health = LastHealth::decode(v),
            Field::Tty => rt.tty = v.to_string(),
            Field::Socket => rt.socket_path = v.to_string(),
            Field::CurrentCommand => rt.current_command = v.to_string(),
            Field::CurrentPath => rt.current_path = v.to_string(),
        }
    }
}

/// A pane's runtime from the values of `fields`, in that order: liveness from /proc, the
/// exit code of a dead pane by [`proc::exit_code`].
fn parse_row(fields: &[Field], values: &[String]) -> Runtime {
    let mut row = Row::default();
    for (f, v) in fields.iter().zip(values) {
        f.set(&mut row, v);
    }
    let mut rt = row.rt;
    if !rt.dead
        && rt.pane_pid > 0
        && let Some(p) = proc::stat(rt.pane_pid)
    {
        rt.alive = p.alive();
        rt.comm = p.comm;
    }
    if rt.dead {
        rt.exit_code = proc::exit_code(row.dead_status, row.dead_signal, rt.pane_pid);
        // as for the exit code, a status tmux gives wins over a signal
        rt.signal = row.dead_signal.filter(|s| *s > 0 && row.dead_status.is_none());
    }
    rt
}

/// The runtime state of a session's tasks, by task name.
pub type Runtimes = HashMap<String, Runtime>;

/// Reads the runtime state of every task window of the session, in one tmux call.
pub fn read_runtime(tmux: &Tmux, session: &str) -> Result<Runtimes> {
    Ok(read_session(tmux, session)?.unwrap_or_default())
}

/// Like [`read_runtime`], and also each pane's current command and directory, which cost
/// tmux a look into /proc per pane: for `inspect`.
pub fn read_runtime_detailed(tmux: &Tmux, session: &str) -> Result<Runtimes> {
    Ok(read_fields(tmux, session, Level::Detail)?.unwrap_or_default())
}

/// Like [`read_runtime`], but None when the session does not exist.
pub fn read_session(tmux: &Tmux, session: &str) -> Result<Option<Runtimes>> {
    read_fields(tmux, session, Level::Stop)
}

/// What `status` and `health` need, without what stopping needs (the tty and socket).
pub fn read_runtime_brief(tmux: &Tmux, session: &str) -> Result<Runtimes> {
    Ok(read_fields(tmux, session, Level::Brief)?.unwrap_or_default())
}

fn read_fields(tmux: &Tmux, session: &str, level: Level) -> Result<Option<Runtimes>> {
    let fields = Field::upto(level);
    let names: Vec<&str> = fields.iter().map(|f| f.name()).collect();
    let Some(rows) = tmux.list_panes(Some(session), &names)? else {
        return Ok(None);
    };
    // a window that is not a task's (a job's, the user's own) has no task name
    let task = fields.iter().position(|f| *f == Field::Task);
    let mut out: Runtimes = HashMap::new();
    for r in rows.iter().filter(|r| r.len() >= fields.len()) {
        if task.is_none_or(|i| r[i].is_empty()) {
            continue;
        }
        let rt = parse_row(&fields, r);
        // with duplicate windows for one task, a live one wins
        match out.get(&rt.task) {
            Some(prev) if !prev.dead => {}
            _ => {
                out.insert(rt.task.clone(), rt);
            }
        }
    }
    Ok(Some(out))
}

/// One pane's state (dead, pid, exit code; nothing else is read), None when tmux does not
/// know the pane.
pub fn pane_state(tmux: &Tmux, pane_id: &str) -> Result<Option<Runtime>> {
    let fields = [Field::PaneDead, Field::PanePid, Field::DeadStatus, Field::DeadSignal];
    let format: Vec<String> = fields.iter().map(|f| format!("#{{{}}}", f.name())).collect();
    let (ok, out, _) = tmux.exec(&[cmd![
        "display-message",
        "-p",
        "-t",
        pane_id,
        format.join(&SEP.to_string())
    ]])?;
    if !ok {
        return Ok(None);
    }
    let values: Vec<String> = out.trim_end().split(SEP).map(str::to_string).collect();
    Ok(Some(parse_row(&fields, &values)))
}

/// Records the last probe of tasks in their window options (one tmux call); each result
/// is (window or pane target, probe).
pub fn record_health(tmux: &Tmux, results: &[(String, Probe)]) {
    let now = paths::now_secs();
    let cmds: Vec<Cmd> = results
        .iter()
        .filter(|(w, _)| !w.is_empty())
        .map(|(w, p)| {
            cmd![
                "set-option",
                "-w",
                "-t",
                w,
                "@taskmux-health",
                LastHealth::encode(p, now)
            ]
        })
        .collect();
    if !cmds.is_empty() {
        let _ = tmux.exec(&cmds);
    }
}

/// A stable hash of what a task is launched with, to tell when the config changed under it.
pub fn config_hash(task: &Task, project: &Project) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |s: &str| {
        for b in s.bytes().chain(std::iter::once(0)) {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    feed(&task.command);
    feed(&task.cwd.to_string_lossy());
    for (k, v) in project.env.iter().chain(task.env.iter()) {
        feed(k);
        feed(v);
    }
    for f in project.env_file.iter().chain(task.env_file.iter()) {
        feed(&f.to_string_lossy());
    }
    feed(&task.port.map(|p| p.to_string()).unwrap_or_default());
    feed(task.host.as_deref().unwrap_or(""));
    format!("{h:016x}")
}

/// The runtime state of a task as a person or agent reads it: `running`, `starting`,
/// `unhealthy`, `stopped`, `exited`, `backoff` (dead, a restart scheduled). A dead pane of a task stopped by hand (`manual_stop`,
/// from `state.json`) is `stopped`, not `exited`.
pub fn state_name(task: &Task, rt: Option<&Runtime>, manual_stop: bool, backoff: bool) -> TaskState {
    let Some(rt) = rt else { return TaskState::Stopped };
    if !rt.running() {
        if rt.dead && backoff && !manual_stop {
            return TaskState::Backoff;
        }
        if rt.dead && rt.exit_code.is_some() && !manual_stop {
            return TaskState::Exited;
        }
        return TaskState::Stopped;
    }
    let ok = rt.health.as_ref().map(|h| h.ok);
    match ok {
        Some(true) | None if health::method_for(task) == Method::Proc => TaskState::Running,
        Some(true) => TaskState::Running,
        _ => {
            let age = rt.started_at.map_or(f64::MAX, |s| paths::now_secs() - s);
            if age < task.boot_grace {
                TaskState::Starting
            } else if rt.health.is_some() {
                TaskState::Unhealthy
            } else {
                TaskState::Running
            }
        }
    }
}

/// What `status` says a task is doing (taskmux(1), STATUS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Alive and, where it has a probe, passing it.
    Running,
    /// Within `boot_grace` of its start, its probe not passing yet.
    Starting,
    /// Alive, its probe failing past `boot_grace`.
    Unhealthy,
    /// No process: never started, or stopped by hand.
    Stopped,
    /// Its process ended by itself (`exit_code` is set).
    Exited,
    /// Ended, waiting for its restart.
    Backoff,
}

impl TaskState {
    /// The word for people and JSON: `running`.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Running => "running",
            TaskState::Starting => "starting",
            TaskState::Unhealthy => "unhealthy",
            TaskState::Stopped => "stopped",
            TaskState::Exited => "exited",
            TaskState::Backoff => "backoff",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pairs: &[(Field, &str)]) -> Runtime {
        let fields: Vec<Field> = pairs.iter().map(|(f, _)| *f).collect();
        let values: Vec<String> = pairs.iter().map(|(_, v)| v.to_string()).collect();
        parse_row(&fields, &values)
    }

    #[test]
    fn fields_are_read_by_name_in_any_order() {
        let rt = row(&[
            (Field::Meta, "12.5|abc|8080"),
            (Field::PaneDead, "1"),
            (Field::DeadSignal, "9"),
            (Field::Task, "web"),
            (Field::Health, "0|http|3.000|status 500"),
        ]);
        assert_eq!(rt.task, "web");
        assert_eq!(
            (rt.started_at, rt.hash.as_str(), rt.port),
            (Some(12.5), "abc", Some(8080))
        );
        assert!(rt.dead && !rt.running());
        assert_eq!(rt.exit_code, Some(137));
        assert_eq!(
            rt.health,
            Some(LastHealth {
                ok: false,
                method: Method::Http,
                reason: Some("status 500".into()),
                at: 3.0
            })
        );
        let rt = row(&[
            (Field::PaneDead, "1"),
            (Field::DeadStatus, "3"),
            (Field::DeadSignal, "9"),
        ]);
        assert_eq!(rt.exit_code, Some(3));
    }

    #[test]
    fn levels_keep_the_old_field_lists() {
        let names = |l| Field::upto(l).iter().map(|f| f.name()).collect::<Vec<_>>();
        assert_eq!(
            names(Level::Brief).len(),
            9,
            "the manual-stop mark, restart counts and backoffs are read from state.json, not tmux"
        );
        assert_eq!(names(Level::Stop)[9..], ["pane_tty", "socket_path"]);
        assert_eq!(names(Level::Detail).last(), Some(&"pane_current_path"));
    }

    #[test]
    fn last_health_round_trips() {
        let p = Probe {
            ok: true,
            method: Method::Tcp,
            reason: Some("a|b\nc".into()),
        };
        let h = LastHealth::decode(&LastHealth::encode(&p, 7.25)).expect("decodes");
        assert_eq!(
            (h.ok, h.method, h.reason.as_deref(), h.at),
            (true, Method::Tcp, Some("a b c"), 7.25)
        );
        assert_eq!(LastHealth::decode(""), None);
        for m in [Method::Http, Method::Shell, Method::Tcp, Method::Proc] {
            assert_eq!(method_named(m.as_str()), Some(m));
        }
    }
}
