//! `taskmux daemon install [--dry-run]` and `taskmux daemon uninstall`: the service unit that
//! runs `taskmuxd` under the user's systemd or launchd, from the places in the environment.

use super::render::Out;
use super::{Globals, context, flags, parse_args};
use crate::error::{Error, Result};
use crate::unit::{self, Manager, SystemRunner, Target, UnitSpec};
use serde_json::Value;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// `taskmux daemon install [--dry-run]`: writes the unit and enables it; with `--dry-run`,
/// prints it (stdout is the unit alone) and where it would go (stderr), changing nothing.
/// Where no user service manager runs: E307, the unit printed all the same, nothing written.
pub fn install(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    let dry_run = parse("install", args, &["dry-run"])?.contains(&"dry-run".to_string());
    let world = World::new(g)?;
    let spec = UnitSpec {
        daemon: daemon_path()?,
        home: world.home.clone(),
        path: world.path.clone(),
    };
    let runner = SystemRunner {
        path: world.path.clone(),
    };
    let target = world.target(&runner);
    let manager = target.manager;
    if dry_run {
        let plan = target.plan(&spec)?;
        if out.json {
            out.json(&with_ok("dry_run", &plan, plan.linger, manager, &world)?);
            return Ok(0);
        }
        out.print(&plan.unit);
        let mut note = format!("taskmux: dry run: would write {}", plan.path.display());
        if plan.replaces {
            note.push_str(" (a file is there: install keeps a copy and uninstall puts it back)");
        }
        note.push('\n');
        if plan.manager_running {
            note.push_str(&format!("taskmux: then run: {}\n", joined(&plan.commands)));
        } else {
            let why = plan.manager_reason.as_deref().unwrap_or("none is running");
            note.push_str(&format!(
                "taskmux: install would fail here (E307): the {} user service manager: {why}\n",
                manager.name()
            ));
        }
        if let Some(h) = unit::linger_hint(manager, plan.linger, world.user.as_deref()) {
            note.push_str(&format!("taskmux: {h}\n"));
        }
        super::render::note(&note);
        return Ok(0);
    }
    match target.install(&spec) {
        Ok(done) => {
            if out.json {
                out.json(&with_ok("installed", &done, done.linger, manager, &world)?);
                return Ok(0);
            }
            let what = match manager {
                Manager::Systemd => "systemd user unit",
                Manager::Launchd => "launchd agent",
            };
            let mut s = format!(
                "{} {} ({what}{})\n",
                if done.reinstalled { "reinstalled" } else { "installed" },
                done.path.display(),
                if done.replaced {
                    "; the file that was there is kept for uninstall"
                } else {
                    ""
                }
            );
            s.push_str(&format!("enabled and started: {}\n", joined(&done.commands)));
            if let Some(h) = unit::linger_hint(manager, done.linger, world.user.as_deref()) {
                s.push_str(&format!("{h}\n"));
            }
            out.print(&s);
            Ok(0)
        }
        Err(e) => {
            // no manager: the unit is the output, so it can be saved and used by hand
            if !out.json
                && let Some(text) = e.details.as_ref().and_then(|d| d["unit"].as_str())
            {
                out.print(text);
            }
            Err(e)
        }
    }
}

/// `taskmux daemon uninstall`: disables and stops the unit and puts back exactly what was
/// there before install; with nothing installed, says so and succeeds.
pub fn uninstall(g: &Globals, args: Vec<OsString>, out: &Out) -> Result<u8> {
    parse("uninstall", args, &[])?;
    let world = World::new(g)?;
    let runner = SystemRunner {
        path: world.path.clone(),
    };
    let done = world.target(&runner).uninstall()?;
    if out.json {
        let action = if done.installed { "uninstalled" } else { "not_installed" };
        let mut v = serde_json::to_value(&done).map_err(encode)?;
        let mut obj = serde_json::json!({"ok": true, "action": action});
        merge(&mut obj, &mut v);
        out.json(&obj);
        return Ok(0);
    }
    let mut s = if !done.installed {
        format!(
            "not installed: no unit from 'taskmux daemon install' with this TASKMUX_HOME ({} left as it is)\n",
            done.path.display()
        )
    } else if done.restored {
        format!(
            "uninstalled: {} is back as it was before install\n",
            done.path.display()
        )
    } else {
        format!("uninstalled: removed {}\n", done.path.display())
    };
    if let Some(kept) = &done.kept_changed {
        s.push_str(&format!(
            "the unit had been changed since install; that version is kept at {}\n",
            kept.display()
        ));
    }
    if !done.commands.is_empty() {
        s.push_str(&format!("ran: {}\n", joined(&done.commands)));
    }
    if let Some(why) = &done.manager_reason {
        s.push_str(&format!("the service manager was not asked: {why}\n"));
    }
    out.print(&s);
    Ok(0)
}

/// The places and names both commands need, from the environment of the invocation.
struct World {
    home: PathBuf,
    user_home: PathBuf,
    xdg_config_home: Option<PathBuf>,
    path: Option<String>,
    user: Option<String>,
}

impl World {
    fn new(g: &Globals) -> Result<World> {
        let ctx = context(g)?;
        let home = if ctx.home.is_absolute() {
            ctx.home.clone()
        } else {
            ctx.cwd.join(&ctx.home)
        };
        let user_home = ctx.user_home().map(Path::to_path_buf).ok_or_else(|| {
            Error::invalid("HOME is not set, and the service unit's place is under it").hint("set HOME")
        })?;
        Ok(World {
            home,
            user_home,
            xdg_config_home: ctx.var("XDG_CONFIG_HOME").map(PathBuf::from),
            path: ctx.var("PATH").map(str::to_string),
            user: ctx.var("USER").or_else(|| ctx.var("LOGNAME")).map(str::to_string),
        })
    }

    fn target<'a>(&self, runner: &'a SystemRunner) -> Target<'a> {
        let manager = Manager::native();
        Target {
            manager,
            unit_path: manager.unit_path(&self.user_home, self.xdg_config_home.as_deref()),
            home: self.home.clone(),
            uid: rustix::process::getuid().as_raw(),
            user: self.user.clone(),
            runner,
        }
    }
}

/// The `taskmuxd` beside the running `taskmux`; an error when it is not there.
fn daemon_path() -> Result<PathBuf> {
    let exe =
        std::env::current_exe().map_err(|e| Error::internal(format!("cannot find the running executable: {e}")))?;
    let path = exe.parent().unwrap_or(Path::new("/")).join("taskmuxd");
    if !path.is_file() {
        return Err(Error::io(
            "find the daemon",
            &path,
            std::io::Error::from(std::io::ErrorKind::NotFound),
        )
        .hint(
            "install taskmuxd in the same directory as taskmux (scripts/install does); the unit runs it from there",
        ));
    }
    Ok(path)
}

/// The flags of `daemon SUB`: only those in `allowed`, of the `daemon` table; no operands.
fn parse(sub: &str, args: Vec<OsString>, allowed: &[&str]) -> Result<Vec<String>> {
    let (names, set) = parse_args(args, flags::of("daemon"))?;
    if let Some(extra) = names.first() {
        return Err(Error::usage(format!("daemon {sub} takes no arguments, got {extra:?}")));
    }
    let mut given: Vec<String> = set.into_keys().collect();
    given.sort();
    if let Some(f) = given.iter().find(|f| !allowed.contains(&f.as_str())) {
        return Err(Error::usage(format!("--{f} is not a flag of 'daemon {sub}'")));
    }
    Ok(given)
}

/// A result as the `--json` object: `ok`, `action`, its fields, and `linger` with its hint.
fn with_ok<T: serde::Serialize>(
    action: &str,
    v: &T,
    linger: Option<bool>,
    manager: Manager,
    world: &World,
) -> Result<Value> {
    let mut v = serde_json::to_value(v).map_err(encode)?;
    let mut obj = serde_json::json!({"ok": true, "action": action});
    merge(&mut obj, &mut v);
    obj["linger"] = linger.into();
    if let Some(h) = unit::linger_hint(manager, linger, world.user.as_deref()) {
        obj["linger_hint"] = h.into();
    }
    Ok(obj)
}

fn merge(into: &mut Value, from: &mut Value) {
    if let (Some(a), Some(b)) = (into.as_object_mut(), from.as_object_mut()) {
        for (k, v) in std::mem::take(b) {
            a.entry(k).or_insert(v);
        }
    }
}

fn encode(e: serde_json::Error) -> Error {
    Error::internal(format!("cannot encode the result: {e}"))
}

/// Commands as a person would type them, joined by `&&`.
fn joined(commands: &[Vec<String>]) -> String {
    commands.iter().map(|c| c.join(" ")).collect::<Vec<_>>().join(" && ")
}
