//! `aliases.json`: URLs for servers taskmux does not run (a container, a database UI, a
//! server started by hand): `alias add db 5432` gives `https://db.localhost`, served by the
//! daemon's proxy like a task's host. Typed, written atomically (0600) under a lock.

use crate::error::{Error, Kind, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

/// One alias.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alias {
    /// Where it leads: a loopback address and port.
    pub target: SocketAddr,
    /// When it was added (ISO-8601).
    pub added_at: String,
}

/// The aliases file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Aliases {
    /// Aliases by name.
    #[serde(default)]
    pub aliases: BTreeMap<String, Alias>,
}

impl Aliases {
    /// Where the aliases of the state directory `home` live.
    pub fn path(home: &Path) -> PathBuf {
        home.join("aliases.json")
    }

    /// Reads the aliases; a missing file is none, one that does not read is E306.
    pub fn load(home: &Path) -> Result<Aliases> {
        let path = Aliases::path(home);
        let Some(bytes) = crate::state::read_file(&path)? else {
            return Ok(Aliases::default());
        };
        serde_json::from_slice(&bytes).map_err(|e| {
            Kind::CorruptState {
                path: path.clone(),
                reason: e.to_string(),
            }
            .into()
        })
    }

    /// Changes the aliases under their lock and writes them atomically when something changed.
    pub fn update<T>(home: &Path, f: impl FnOnce(&mut Aliases) -> Result<T>) -> Result<T> {
        let file = crate::state::StateFile {
            home,
            lock: "aliases",
            path: &Aliases::path(home),
            create: false,
        };
        file.update(|| Aliases::load(home), f)
    }
}

/// E104 unless `name` can be an alias: one DNS label of lowercase letters, digits and `-`.
pub fn check_name(name: &str) -> Result<()> {
    if crate::config::valid_project_name(name) {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "alias name {name:?} is not a DNS label: use a-z, 0-9 and -, starting and ending with a letter or digit"
    ))
    .hint("for example: taskmux alias add db 5432"))
}

/// Reads a target: `PORT` (on 127.0.0.1) or `HOST:PORT` on loopback (`127.0.0.2:8080`,
/// `[::1]:8080`, `localhost:8080`). E104 for anything else: the proxy only forwards to
/// this machine's loopback.
pub fn parse_target(t: &str) -> Result<SocketAddr> {
    let bad = |why: &str| {
        Error::invalid(format!("alias target {t:?} {why}"))
            .hint("give a port (5432) or a loopback HOST:PORT (127.0.0.1:5432, [::1]:5432)")
    };
    let port = |p: &str| match p.parse::<u16>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(bad("has no port from 1 to 65535")),
    };
    if !t.contains(':') {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port(t)?)));
    }
    if let Ok(a) = t.parse::<SocketAddr>() {
        port(&a.port().to_string())?;
        return match a.ip().is_loopback() {
            true => Ok(a),
            false => Err(bad("is not on loopback: the proxy forwards only to this machine")),
        };
    }
    match t.rsplit_once(':') {
        Some(("localhost", p)) => Ok(SocketAddr::from(([127, 0, 0, 1], port(p)?))),
        Some((h, p)) if h.parse::<IpAddr>().is_err() => {
            port(p)?;
            Err(bad("names a host that is not loopback"))
        }
        _ => Err(bad("is neither PORT nor HOST:PORT")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_ports_or_loopback_addresses() {
        let ok = |t: &str| parse_target(t).map(|a| a.to_string()).expect("reads");
        assert_eq!(ok("5432"), "127.0.0.1:5432");
        assert_eq!(ok("127.0.0.2:8080"), "127.0.0.2:8080");
        assert_eq!(ok("[::1]:8080"), "[::1]:8080");
        assert_eq!(ok("localhost:3000"), "127.0.0.1:3000");
        for bad in [
            "0",
            "70000",
            "x",
            "10.0.0.1:80",
            "example.com:80",
            ":",
            "127.0.0.1:0",
            "",
        ] {
            assert_eq!(
                parse_target(bad).map_err(|e| e.code().to_string()),
                Err("E104".into()),
                "{bad}"
            );
        }
        assert!(check_name("db").is_ok() && check_name("Db").is_err() && check_name("a.b").is_err());
    }
}
