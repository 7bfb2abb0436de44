//! `reload`: make the running project follow a changed config. `taskmux watch` and the
//! daemon apply it when `taskmux.toml` changes: added tasks start, removed tasks stop and
//! leave, changed running tasks are marked `stale`.

use super::Ctx;
use crate::config::Project;
use crate::error::{Error, Kind};
use crate::task;
use serde::Serialize;

/// How a valid new config differs from the one before, by task name.
#[derive(Debug, Default, Clone, PartialEq, Serialize, serde::Deserialize)]
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

/// Makes the running project follow a reloaded config: removed tasks stop and leave
/// (through the same path as `remove`, with the old config, which still knows them), then
/// the added `auto_start` tasks start. Changed running tasks are left running and listed
/// as stale. Records a `config_reloaded` event.
pub fn apply(ctx: &Ctx, old: &Project, new: &Project, d: &ConfigDiff) -> Applied {
    let mut a = Applied::default();
    for n in &d.removed {
        match super::remove::stop_removed(ctx, old, n) {
            Ok(Some(_)) => a.killed.push(n.clone()),
            Ok(None) => {}
            Err(e) => a.errors.push((n.clone(), e)),
        }
    }
    let to_start: Vec<String> = d
        .added
        .iter()
        .filter(|n| new.auto_start && new.task(n).is_ok_and(|t| t.auto_start))
        .cloned()
        .collect();
    let new_ctx = task::Ctx {
        project: new.clone(),
        world: ctx.clone(),
    };
    if !to_start.is_empty() {
        // in dependency order, each once its dependencies are healthy: whoever starts them
        match task::start_in_order(&new_ctx, &to_start) {
            Ok(r) => {
                a.started = r.started;
                a.errors.extend(r.failed);
                for (n, why) in r.skipped {
                    a.errors.push((n, Error::from(Kind::NotHealthy(why))));
                }
            }
            Err(e) => a.errors.extend(to_start.iter().map(|n| (n.clone(), e.clone()))),
        }
    }
    if !d.changed.is_empty()
        && let Ok(rts) = task::read_runtime(&ctx.tmux, &new.name)
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
    ctx.events.emit(
        &new.name,
        None,
        crate::events::Event::ConfigReloaded {
            added: d.added.clone(),
            removed: d.removed.clone(),
            changed: d.changed.clone(),
        },
    );
    a
}

/// What the `reload` request did: how what runs differed from the config on disk, and
/// what was done about it. The JSON is `watch`'s `config_reloaded` line without `event`.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct Reloaded {
    /// Nothing failed.
    pub ok: bool,
    /// The session.
    pub session: String,
    /// The difference.
    #[serde(flatten)]
    pub diff: ConfigDiff,
    /// Added tasks started now.
    pub started: Vec<String>,
    /// Removed tasks stopped and their windows gone.
    pub killed: Vec<String>,
    /// Running tasks whose definition changed.
    pub stale: Vec<String>,
    /// What failed, by task.
    pub errors: Vec<super::TaskFailure>,
}

/// `reload`: makes a running project follow the config on disk now, with no memory of
/// the config before: what runs is read from tmux. Tasks of the config without a window
/// (and not stopped by hand) are added, windows of tasks the config no longer has are
/// removed, running tasks launched with another definition are stale. A project that is
/// not running has nothing to follow.
pub fn reload(ctx: &Ctx) -> crate::error::Result<Reloaded> {
    let lc = super::lifecycle_ctx(ctx)?;
    let new = &lc.project;
    let rts = task::read_runtime(&ctx.tmux, &new.name)?;
    let mut out = Reloaded {
        ok: true,
        session: new.name.clone(),
        diff: ConfigDiff::default(),
        started: Vec::new(),
        killed: Vec::new(),
        stale: Vec::new(),
        errors: Vec::new(),
    };
    if rts.is_empty() {
        return Ok(out);
    }
    let state = crate::state::State::load(&ctx.home, &new.name)?;
    // what runs, as a project: the config's tasks that have a window, and a stand-in with
    // the defaults for each window whose task has left the config
    let mut old = new.clone();
    old.tasks.retain(|t| rts.contains_key(&t.name));
    let mut gone: Vec<&String> = rts.keys().filter(|n| new.task(n).is_err()).collect();
    gone.sort();
    old.tasks
        .extend(gone.into_iter().map(|n| crate::config::Task::defaults(n, &new.dir)));
    let mut d = diff(&old, new);
    d.added.retain(|n| !state.manual_stop(n));
    d.changed = new
        .tasks
        .iter()
        .filter(|t| rts.get(&t.name).is_some_and(|r| r.hash != task::config_hash(t, new)))
        .map(|t| t.name.clone())
        .collect();
    let a = apply(ctx, &old, new, &d);
    out.ok = a.errors.is_empty();
    out.diff = d;
    out.started = a.started;
    out.killed = a.killed;
    out.stale = a.stale;
    out.errors = a
        .errors
        .into_iter()
        .map(|(task, error)| super::TaskFailure { task, error })
        .collect();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;
    use std::path::Path;

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
}
