//! `registry.json`: the projects the daemon keeps up — each one's config, tmux server and
//! desired state. Typed, written atomically under a lock; `taskmux start` registers a
//! project and sets it `up`, `stop` of the whole project sets it `down`.

use crate::config;
use crate::error::{Error, Kind, Result};
use crate::paths;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a person last asked of a project as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Desired {
    /// Keep it running: heal it when its session vanishes.
    Up,
    /// Leave it stopped.
    Down,
}

/// One registered project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Its tmux session (the project name).
    pub session: String,
    /// Its `taskmux.toml`, absolute.
    pub config_path: PathBuf,
    /// The tmux server's socket name (`-L`), when not the default server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmux_socket: Option<String>,
    /// When it was registered (ISO-8601).
    pub registered_at: String,
    /// Up or down.
    pub desired: Desired,
}

/// The registry file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Registry {
    /// Projects by name.
    pub projects: BTreeMap<String, Entry>,
}

impl Registry {
    /// Where the registry of the state directory `home` lives.
    pub fn path(home: &Path) -> PathBuf {
        home.join("registry.json")
    }

    /// Reads the registry; a missing file is an empty registry, a corrupt one an error
    /// (never silently reset: that would forget every project).
    pub fn load(home: &Path) -> Result<Registry> {
        let path = Registry::path(home);
        let Some(bytes) = crate::state::read_file(&path)? else {
            return Ok(Registry::default());
        };
        crate::state::parse_object(&path, &bytes, |m| {
            // each project an object too (a struct would read from an array)
            match m.get("projects") {
                Some(serde_json::Value::Object(ps)) => match ps.iter().find(|(_, e)| !e.is_object()) {
                    Some((name, e)) => Err(format!(
                        "project '{name}' is {}, not an object",
                        crate::state::json_kind(e)
                    )),
                    None => Ok(()),
                },
                Some(other) => Err(format!("projects is {}, not an object", crate::state::json_kind(other))),
                None => Ok(()),
            }
        })
    }

    /// Changes the registry under its lock and writes it atomically when something changed.
    pub fn update<T>(home: &Path, f: impl FnOnce(&mut Registry) -> Result<T>) -> Result<T> {
        let file = crate::state::StateFile {
            home,
            lock: "registry",
            path: &Registry::path(home),
            create: true,
        };
        file.update(|| Registry::load(home), f)
    }

    /// The entry of a project.
    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.projects.get(name)
    }

    /// Registers `name` at `config_path` on `tmux_socket` with `desired`. Another config
    /// that still exists and names the same project is E305 unless `force`. A name
    /// registered before keeps its `registered_at` (a moved project, a forced take-over).
    pub fn register(
        &mut self,
        name: &str,
        config_path: &Path,
        tmux_socket: Option<&str>,
        desired: Desired,
        force: bool,
    ) -> Result<()> {
        if let Some(e) = self.projects.get(name)
            && !force
            && !same_file(&e.config_path, config_path)
            && e.config_path.is_file()
            && config::project_name_of(&e.config_path).as_deref() == Some(name)
        {
            return Err(Error::from(Kind::NameCollision {
                session: name.to_string(),
                ours: config_path.to_path_buf(),
                theirs: e.config_path.clone(),
            })
            .hint(format!(
                "set `name` in one of them, or take the name over with 'taskmux daemon register -c {} -f'",
                config_path.display()
            )));
        }
        // the first registration's time, whatever moved or took the name over since
        let registered_at = match self.projects.get(name) {
            Some(e) => e.registered_at.clone(),
            None => paths::iso_time(paths::now_secs()),
        };
        self.projects.insert(
            name.to_string(),
            Entry {
                session: name.to_string(),
                config_path: config_path.to_path_buf(),
                tmux_socket: tmux_socket.map(str::to_string),
                registered_at,
                desired,
            },
        );
        Ok(())
    }

    /// Sets the desired state of a registered project; false when it is not registered.
    pub fn set_desired(&mut self, name: &str, desired: Desired) -> bool {
        match self.projects.get_mut(name) {
            Some(e) => {
                e.desired = desired;
                true
            }
            None => false,
        }
    }
}

/// Whether two paths name one file (or are equal when either is gone).
fn same_file(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_collide_force() {
        let home = std::env::temp_dir().join(format!("taskmux-registry-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(home.join("a")).expect("dir");
        std::fs::create_dir_all(home.join("b")).expect("dir");
        let (a, b) = (home.join("a/taskmux.toml"), home.join("b/taskmux.toml"));
        for f in [&a, &b] {
            std::fs::write(f, "name = \"p\"\n[tasks]\nx = \"true\"\n").expect("write");
        }
        Registry::update(&home, |r| r.register("p", &a, Some("s"), Desired::Up, false)).expect("registers");
        let r = Registry::load(&home).expect("reads");
        assert_eq!(r.get("p").map(|e| e.desired), Some(Desired::Up));
        let e = Registry::update(&home, |r| r.register("p", &b, None, Desired::Up, false)).expect_err("collision");
        assert_eq!(e.code(), "E305");
        Registry::update(&home, |r| r.register("p", &b, None, Desired::Up, true)).expect("forced");
        assert_eq!(
            Registry::load(&home)
                .expect("reads")
                .get("p")
                .map(|e| e.config_path.clone()),
            Some(b.clone())
        );
        // a config that no longer names the project owns nothing
        std::fs::write(&b, "name = \"q\"\n[tasks]\nx = \"true\"\n").expect("write");
        Registry::update(&home, |r| r.register("p", &a, None, Desired::Down, false)).expect("takes over");
        for wrong in [
            "[]",
            "[{}]",
            "{\"projects\": []}",
            "{\"projects\": {\"p\": [\"p\", \"/x\", null, \"t\", \"up\"]}}",
        ] {
            std::fs::write(Registry::path(&home), wrong).expect("write");
            let e = Registry::load(&home).expect_err("a wrong shape is an error");
            assert_eq!(e.code(), "E306", "{wrong}: {e}");
        }
        std::fs::write(Registry::path(&home), "{bad").expect("write");
        assert_eq!(Registry::load(&home).expect_err("corrupt").code(), "E306");
        let _ = std::fs::remove_dir_all(&home);
    }
}
