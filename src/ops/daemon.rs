//! The daemon's requests: what it says of itself (`daemon_status`, `daemon_list`,
//! `proxy_routes`), the registry's (`register`, `unregister`), and those only a running
//! daemon answers (`status_all` and the other `*_all`, `wake`). In the daemon they are
//! answered through the [`crate::supervision::Daemon`] in the [`Ctx`]; elsewhere they are
//! asked of the daemon over its socket, or answered from the files when none runs.

use super::{Ctx, Request, Response};
use crate::error::{Error, Kind, Result};
use crate::registry::{Desired, Registry};
use crate::supervision::{ConfigState, DaemonStatus, ProjectInfo, RouteInfo};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `daemon list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectList {
    /// Each registered project.
    pub projects: Vec<ProjectInfo>,
}

/// `register`: `{"ok": true, "name", "config_path", "desired": "up"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registered {
    /// Always true.
    pub ok: bool,
    /// The project.
    pub name: String,
    /// Its config.
    pub config_path: PathBuf,
    /// Up.
    pub desired: Desired,
}

/// Params of `register`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegisterParams {
    /// Take the name over from another config that has it.
    pub force: bool,
}

/// Params of `unregister`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnregisterParams {
    /// The project.
    pub name: String,
}

/// `unregister`: `{"ok": true, "name"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unregistered {
    /// Always true.
    pub ok: bool,
    /// The project.
    pub name: String,
}

/// `proxy_routes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Routes {
    /// Always true.
    pub ok: bool,
    /// Each route.
    pub routes: Vec<RouteInfo>,
}

/// `wake`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Woken {
    /// Always true.
    pub ok: bool,
    /// The projects woken.
    pub woken: Vec<String>,
}

/// Params of `wake`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WakeParams {
    /// One project, or every one.
    pub session: Option<String>,
}

/// `status_all`, `start_all`, `stop_all`, `restart_all`: each registered project's reply.
#[derive(Debug, Serialize, Deserialize)]
pub struct EachProject {
    /// Every project's request did all it was asked.
    pub ok: bool,
    /// Each project's response, by name, as the wire has it.
    #[serde(with = "wire_map")]
    pub projects: BTreeMap<String, Response>,
}

/// A map of responses in their wire form (tagged, so each reads back as itself).
mod wire_map {
    use super::Response;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use serde_json::Value;
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer>(m: &BTreeMap<String, Response>, s: S) -> Result<S::Ok, S::Error> {
        let v: BTreeMap<&String, Value> = m.iter().map(|(k, r)| (k, r.to_wire(None))).collect();
        v.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Response>, D::Error> {
        let v = BTreeMap::<String, Value>::deserialize(d)?;
        v.into_iter()
            .map(|(k, x)| {
                Response::from_wire(x)
                    .map(|(_, r)| (k, r))
                    .map_err(|e| serde::de::Error::custom(e.message()))
            })
            .collect()
    }
}

/// `daemon_status`: the daemon's own word when this is the daemon or it answers; else
/// that it does not run (or runs and does not answer, with why).
pub fn status(ctx: &Ctx) -> Result<DaemonStatus> {
    if let Some(d) = &ctx.daemon {
        return Ok(d.status());
    }
    let Some(pid) = crate::lock::running_pid(&ctx.home) else {
        return Ok(DaemonStatus {
            running: false,
            pid: None,
            live: None,
            warning: None,
        });
    };
    match super::ask_daemon(ctx, &Request::DaemonStatus) {
        Ok(Response::DaemonStatus(s)) => Ok(*s),
        Ok(other) => Err(unexpected(&other)),
        Err(e) => Ok(DaemonStatus {
            running: true,
            pid: Some(pid),
            live: None,
            warning: Some(e.message()),
        }),
    }
}

/// `daemon_list`: the daemon's view when it runs, else the registry and the configs.
pub fn list(ctx: &Ctx) -> Result<ProjectList> {
    if let Some(d) = &ctx.daemon {
        return Ok(ProjectList { projects: d.list() });
    }
    if crate::lock::running_pid(&ctx.home).is_some()
        && let Ok(Response::DaemonList(l)) = super::ask_daemon(ctx, &Request::DaemonList)
    {
        return Ok(l);
    }
    let projects = Registry::load(&ctx.home)?
        .projects
        .values()
        .map(|e| ProjectInfo {
            name: e.session.clone(),
            config_path: e.config_path.clone(),
            tmux_socket: e.tmux_socket.clone(),
            desired: e.desired,
            config: config_state(ctx, &e.config_path),
            supervised_by: crate::lock::holder(&crate::lock::supervise_lock(&ctx.home, &e.session)),
            tasks: 0,
        })
        .collect();
    Ok(ProjectList { projects })
}

/// What `daemon list` says of a config on disk.
pub fn config_state(ctx: &Ctx, path: &std::path::Path) -> ConfigState {
    if !path.is_file() {
        return ConfigState::ConfigMissing;
    }
    match crate::config::load_in(path, ctx.user_home()) {
        Ok(_) => ConfigState::Ok,
        Err(e) => ConfigState::Error {
            message: format!("error[{}]: {}", e.code(), e.message()),
        },
    }
}

/// `register`: the project of the context's config, kept up by the daemon.
pub fn register(ctx: &Ctx, p: RegisterParams) -> Result<Registered> {
    let path = super::config_path(ctx)?;
    let name = match crate::config::load_in(&path, ctx.user_home()) {
        Ok(p) => p.name,
        Err(e) => crate::config::project_name_of(&path).ok_or(e)?,
    };
    Registry::update(&ctx.home, |r| {
        r.register(&name, &path, ctx.tmux.socket.as_deref(), Desired::Up, p.force)
    })?;
    if let Some(d) = &ctx.daemon {
        d.follow_registry();
    }
    Ok(Registered {
        ok: true,
        name,
        config_path: path,
        desired: Desired::Up,
    })
}

/// `unregister`: E303 when the project is not registered. Its tasks keep running.
pub fn unregister(ctx: &Ctx, p: UnregisterParams) -> Result<Unregistered> {
    Registry::update(&ctx.home, |r| match r.projects.remove(&p.name) {
        Some(_) => Ok(()),
        None => Err(Error::from(Kind::NotRegistered(p.name.clone()))),
    })?;
    if let Some(d) = &ctx.daemon {
        d.follow_registry();
    }
    Ok(Unregistered { ok: true, name: p.name })
}

/// `proxy_routes`: the daemon's alone.
pub fn routes(ctx: &Ctx) -> Result<Routes> {
    match &ctx.daemon {
        Some(d) => Ok(Routes {
            ok: true,
            routes: d.routes(),
        }),
        None => match super::ask_daemon(ctx, &Request::ProxyRoutes)? {
            Response::ProxyRoutes(r) => Ok(r),
            other => Err(unexpected(&other)),
        },
    }
}

/// `wake`: the daemon's alone.
pub fn wake(ctx: &Ctx, p: WakeParams) -> Result<Woken> {
    match &ctx.daemon {
        Some(d) => Ok(Woken {
            ok: true,
            woken: d.wake(p.session.as_deref()),
        }),
        None => match super::ask_daemon(ctx, &Request::Wake(p))? {
            Response::Wake(r) => Ok(r),
            other => Err(unexpected(&other)),
        },
    }
}

/// `status_all` and its kin: one request for every supervised project, by the daemon.
pub fn each(ctx: &Ctx, req: Request) -> Result<EachProject> {
    let Some(d) = &ctx.daemon else {
        let whole = match &req {
            Request::Status => Request::StatusAll,
            Request::Start(_) => Request::StartAll,
            Request::Stop(_) => Request::StopAll,
            _ => Request::RestartAll,
        };
        return match super::ask_daemon(ctx, &whole)? {
            Response::EachProject(r) => Ok(r),
            other => Err(unexpected(&other)),
        };
    };
    let mut projects = BTreeMap::new();
    let mut ok = true;
    for (name, pctx) in d.projects() {
        let r = super::handle(&pctx, req.clone());
        ok &= r.ok();
        projects.insert(name, r);
    }
    Ok(EachProject { ok, projects })
}

fn unexpected(r: &Response) -> Error {
    Error::internal(format!("the daemon answered with a '{}' response", r.tag()))
}
