//! `taskmux watch`: follow `taskmux.toml` in the foreground and make the running project
//! follow it: start tasks that were added, kill tasks that were removed, leave changed
//! running tasks alone (they show `stale` in `status`), and survive a broken save.

use crate::cli::{Globals, usage};
use crate::config::{self, Project};
use crate::error::{Error, Result};
use crate::events;
use crate::output::{Color, Out, print_error};
use crate::task::{self, Ctx};
use crate::tmux::Tmux;
use serde_json::{Value, json};
use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often the config file is looked at while nothing is happening.
const POLL: Duration = Duration::from_millis(200);
/// How often it is looked at while a change settles.
const SETTLE_POLL: Duration = Duration::from_millis(50);
/// How long a changed file must stay unchanged before it is reloaded.
const DEBOUNCE: Duration = Duration::from_millis(150);

/// What identifies one version of a file on disk without reading it. An editor's atomic
/// save (write a new file, rename it over the old one) changes the inode even when the
/// size and the mtime second stay the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileStamp {
    /// The stamp of whatever is at `path` now (following symlinks); None when nothing is.
    pub fn of(path: &Path) -> Option<FileStamp> {
        let m = std::fs::metadata(path).ok()?;
        Some(FileStamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }
}

/// Polls one path and reports a change once it has settled (unchanged for [`DEBOUNCE`]),
/// so an editor that writes in several steps causes one reload.
#[derive(Debug)]
pub struct FileWatch {
    path: PathBuf,
    /// The stamp last acted on.
    settled: Option<FileStamp>,
    /// A change seen but not yet settled: the stamp and when it was last seen to change.
    pending: Option<(Option<FileStamp>, Instant)>,
}

impl FileWatch {
    /// Starts watching `path` from its present state.
    pub fn new(path: &Path) -> FileWatch {
        FileWatch {
            path: path.to_path_buf(),
            settled: FileStamp::of(path),
            pending: None,
        }
    }

    /// Looks at the file once. True when a change has settled and should be acted on.
    pub fn poll(&mut self) -> bool {
        let now = FileStamp::of(&self.path);
        match self.pending {
            Some((seen, since)) if seen == now => {
                if since.elapsed() >= DEBOUNCE {
                    self.pending = None;
                    if now != self.settled {
                        self.settled = now;
                        return true;
                    }
                }
                false
            }
            _ if self.pending.is_none() && now == self.settled => false,
            _ => {
                self.pending = Some((now, Instant::now()));
                false
            }
        }
    }

    /// How long to wait before the next [`FileWatch::poll`].
    pub fn interval(&self) -> Duration {
        if self.pending.is_some() { SETTLE_POLL } else { POLL }
    }
}

/// How a valid new config differs from the one before, by task name.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ConfigDiff {
    /// Tasks present now and absent before.
    pub added: Vec<String>,
    /// Tasks present before and absent now.
    pub removed: Vec<String>,
    /// Tasks in both whose definition differs.
    pub changed: Vec<String>,
}

/// Compares two configs. A renamed project is a different session: every old task is
/// removed from the old one and every new task added to the new one.
pub fn diff(old: &Project, new: &Project) -> ConfigDiff {
    let mut d = ConfigDiff::default();
    let same_session = old.name == new.name;
    for t in &new.tasks {
        match old.tasks.iter().find(|o| o.name == t.name).filter(|_| same_session) {
            None => d.added.push(t.name.clone()),
            Some(o) if o != t || task::config_hash(o, old) != task::config_hash(t, new) => {
                d.changed.push(t.name.clone())
            }
            Some(_) => {}
        }
    }
    for o in &old.tasks {
        if !same_session || !new.tasks.iter().any(|t| t.name == o.name) {
            d.removed.push(o.name.clone());
        }
    }
    d
}

/// What applying a reload did, beyond the diff.
#[derive(Debug, Default)]
pub struct Applied {
    /// Added tasks started now.
    pub started: Vec<String>,
    /// Removed tasks whose processes were killed and window destroyed.
    pub killed: Vec<String>,
    /// Changed tasks that are running with the old definition (`stale` in `status`).
    pub stale: Vec<String>,
    /// What failed, by task.
    pub errors: Vec<(String, Error)>,
}

/// Makes the running project follow a reloaded config: kills the removed tasks (with the
/// old config, which still knows them), then starts the added `auto_start` tasks. Changed
/// running tasks are left running.
pub fn apply(tmux: &Tmux, old: &Project, new: &Project, d: &ConfigDiff) -> Applied {
    let mut a = Applied::default();
    let old_ctx = Ctx {
        project: old.clone(),
        tmux: tmux.clone(),
    };
    let new_ctx = Ctx {
        project: new.clone(),
        tmux: tmux.clone(),
    };
    if !d.removed.is_empty() {
        match task::read_runtime(tmux, &old.name) {
            Ok(rts) => {
                for n in d.removed.iter().filter(|n| rts.contains_key(*n)) {
                    // a graceful stop first (C-c, TERM, KILL, hooks), then the window goes
                    let stopped = task::stop(&old_ctx, std::slice::from_ref(n), true, false);
                    match stopped.and_then(|_| task::kill(&old_ctx, n)) {
                        Ok(_) => a.killed.push(n.clone()),
                        Err(e) => a.errors.push((n.clone(), e)),
                    }
                }
            }
            Err(e) => a.errors.extend(d.removed.iter().map(|n| (n.clone(), e.clone()))),
        }
    }
    let to_start: Vec<String> = d
        .added
        .iter()
        .filter(|n| new.auto_start && new.task(n).is_ok_and(|t| t.auto_start))
        .cloned()
        .collect();
    if !to_start.is_empty() {
        match task::start(&new_ctx, &to_start, false) {
            Ok(r) => {
                a.started = r.started;
                a.errors.extend(r.failed);
                for (n, why) in r.skipped {
                    a.errors.push((n, Error::new("E214", why)));
                }
            }
            Err(e) => a.errors.extend(to_start.iter().map(|n| (n.clone(), e.clone()))),
        }
    }
    if !d.changed.is_empty()
        && let Ok(rts) = task::read_runtime(tmux, &new.name)
    {
        for n in &d.changed {
            let (Some(rt), Ok(t)) = (rts.get(n), new.task(n)) else {
                continue;
            };
            if rt.running() && rt.hash != task::config_hash(t, new) {
                a.stale.push(n.clone());
            }
        }
    }
    a
}

fn parse(args: Vec<OsString>) -> Result<()> {
    let mut p = lexopt::Parser::from_args(args);
    match p.next().map_err(|e| usage(e.to_string()))? {
        None => Ok(()),
        Some(arg) => Err(usage(format!("watch takes no arguments: {}", arg.unexpected()))),
    }
}

fn print_start(out: &Out, project: &Project) {
    if out.json {
        out.json(&json!({
            "event": "watching", "config": project.path, "session": project.name,
            "tasks": project.task_names(),
        }));
    } else {
        let n = project.tasks.len();
        out.line(&format!(
            "watching {} (project {}, {n} task{}); Ctrl-C to stop",
            project.path.display(),
            project.name,
            if n == 1 { "" } else { "s" }
        ));
    }
}

fn print_invalid(out: &Out, e: &Error) {
    if out.json {
        let mut v = json!({"event": "config_invalid", "code": e.code, "error": e.message});
        if let Some(h) = &e.hint {
            v["hint"] = json!(h);
        }
        out.json(&v);
    } else {
        print_error(out, "taskmux", e);
        out.line(&format!(
            "{} this save: tasks keep running as they are until the config is valid again",
            out.paint("ignored", Color::Yellow)
        ));
    }
}

fn print_reload(out: &Out, d: &ConfigDiff, a: &Applied) {
    if out.json {
        let errors: Vec<Value> = a
            .errors
            .iter()
            .map(|(n, e)| json!({"task": n, "code": e.code, "error": e.message}))
            .collect();
        out.json(&json!({
            "event": "config_reloaded", "added": d.added, "removed": d.removed, "changed": d.changed,
            "started": a.started, "killed": a.killed, "stale": a.stale, "errors": errors,
        }));
        return;
    }
    let list = |v: &[String]| if v.is_empty() { "-".to_string() } else { v.join(", ") };
    out.line(&format!(
        "{} config: added {}; removed {}; changed {}",
        out.paint("reloaded", Color::Green),
        list(&d.added),
        list(&d.removed),
        list(&d.changed)
    ));
    for n in &a.started {
        out.line(&format!("  {} {n}", out.paint("started", Color::Green)));
    }
    for n in &a.killed {
        out.line(&format!("  {} {n}", out.paint("killed", Color::Yellow)));
    }
    for n in &a.stale {
        out.line(&format!(
            "  {} {n}: runs the old definition; 'taskmux restart {n}' applies the new one",
            out.paint("stale", Color::Yellow)
        ));
    }
    for (n, e) in &a.errors {
        out.line(&format!("  {}", out.failed_line(n, e)));
    }
}

/// `taskmux watch`: in the foreground until SIGINT or SIGTERM (exit 0), reload the config
/// whenever it changes and make the project follow it. Nothing is started at startup.
pub fn cmd_watch(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    parse(args)?;
    let cwd =
        std::env::current_dir().map_err(|e| Error::new("E100", format!("cannot read the current directory: {e}")))?;
    let path = config::find(g.config.as_deref(), &cwd)?;
    let mut project = config::load(&path)?;
    let tmux = Tmux::new(g.socket.clone());
    tmux.check_version()?;

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| Error::internal(format!("cannot handle signal {sig}: {e}")))?;
    }

    let mut watch = FileWatch::new(&path);
    print_start(out, &project);
    while !stop.load(Ordering::Relaxed) {
        // sleep in short steps so a signal ends the loop promptly
        let until = Instant::now() + watch.interval();
        while !stop.load(Ordering::Relaxed) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(25).min(until.saturating_duration_since(Instant::now())));
        }
        if stop.load(Ordering::Relaxed) || !watch.poll() {
            continue;
        }
        let new = match config::load(&path) {
            Ok(p) => p,
            Err(e) => {
                print_invalid(out, &e);
                continue;
            }
        };
        let d = diff(&project, &new);
        let applied = apply(&tmux, &project, &new, &d);
        events::emit(
            "config_reloaded",
            &new.name,
            None,
            json!({"added": d.added, "removed": d.removed, "changed": d.changed}),
        );
        print_reload(out, &d, &applied);
        project = new;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(text: &str) -> Project {
        config::parse(text, Path::new("/tmp/watch-unit/taskmux.toml")).expect("test config is valid")
    }

    #[test]
    fn diff_names_added_removed_changed() {
        let old = project("name = \"p\"\n[tasks]\na = \"sleep 1\"\nb = \"sleep 2\"\nc = \"sleep 3\"\n");
        let new = project("name = \"p\"\n[tasks]\na = \"sleep 1\"\nc = \"sleep 30\"\nd = \"sleep 4\"\n");
        let d = diff(&old, &new);
        assert_eq!(d.added, vec!["d"]);
        assert_eq!(d.removed, vec!["b"]);
        assert_eq!(d.changed, vec!["c"]);
    }

    #[test]
    fn project_env_change_changes_every_task() {
        let old = project("name = \"p\"\n[tasks]\na = \"sleep 1\"\n");
        let new = project("name = \"p\"\n[env]\nX = \"1\"\n[tasks]\na = \"sleep 1\"\n");
        assert_eq!(diff(&old, &new).changed, vec!["a"]);
    }

    #[test]
    fn renamed_project_replaces_every_task() {
        let old = project("name = \"p\"\n[tasks]\na = \"sleep 1\"\n");
        let new = project("name = \"q\"\n[tasks]\na = \"sleep 1\"\n");
        let d = diff(&old, &new);
        assert_eq!((d.added, d.removed), (vec!["a".to_string()], vec!["a".to_string()]));
    }

    #[test]
    fn file_watch_settles_once_per_change() {
        let dir = std::env::temp_dir().join(format!("taskmux-watch-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir is writable");
        let f = dir.join("taskmux.toml");
        std::fs::write(&f, "a").expect("write");
        let mut w = FileWatch::new(&f);
        assert!(!w.poll());
        let tmp = dir.join("new");
        std::fs::write(&tmp, "b").expect("write");
        std::fs::rename(&tmp, &f).expect("rename");
        assert!(!w.poll(), "a fresh change is not acted on before it settles");
        std::thread::sleep(DEBOUNCE + Duration::from_millis(20));
        assert!(w.poll());
        assert!(!w.poll(), "a settled change is reported once");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
