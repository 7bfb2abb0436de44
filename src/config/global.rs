//! The global config, `$TASKMUX_HOME/config.toml`: the daemon's API, proxy and name
//! resolution settings, the machines `-H` reaches (`[hosts]`, `ssh_command`), every key
//! optional, unknown keys refused.

pub mod keys;

use crate::error::{Error, Kind, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The global config's file name in the state directory.
pub const FILE_NAME: &str = "config.toml";

/// How `*.localhost` names reach the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostResolver {
    /// A managed block in `/etc/hosts`.
    EtcHosts,
    /// `taskmux-dns` plus the OS resolver's drop-in.
    DnsServer,
    /// Nothing: the user resolves names themselves.
    Noop,
}

/// `$TASKMUX_HOME/config.toml` with every default filled in (taskmux(1) `config`; taskmuxd(8) THE GLOBAL CONFIG).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GlobalConfig {
    /// Seconds between the daemon's health probes when a task sets none.
    pub health_check_interval: f64,
    /// Address of the WebSocket API.
    pub api_bind: String,
    /// Port of the WebSocket API.
    pub api_port: u16,
    /// Browser origins allowed to use the WebSocket API.
    pub api_allowed_origins: Vec<String>,
    /// Whether the daemon serves the HTTPS proxy.
    pub proxy_enabled: bool,
    /// Address of the proxy.
    pub proxy_bind: String,
    /// The proxy's https port; URLs carry it when it is not 443.
    pub proxy_https_port: u16,
    /// The proxy's plain-HTTP port (redirects); 0 turns it off.
    pub proxy_http_port: u16,
    /// How host names are resolved.
    pub host_resolver: HostResolver,
    /// Port of `taskmux-dns`.
    pub dns_server_port: u16,
    /// The top-level domain the proxy and DNS server answer for.
    pub dns_managed_tld: String,
    /// Seconds the proxy waits for a task to begin its answer once it has the whole
    /// request, then 504; 0 waits for ever. A response that has begun is never cut.
    pub proxy_upstream_timeout: f64,
    /// The ssh program and its options for `-H` and `fleet` (the environment's
    /// `TASKMUX_SSH_COMMAND` wins), split as a shell splits words.
    pub ssh_command: String,
    /// The machines `-H NAME` and `fleet` reach, by name.
    pub hosts: BTreeMap<String, HostEntry>,
}

/// One machine of `[hosts]`: `a = "user@a"`, or `a = { dest = "user@a", taskmux =
/// "~/.cargo/bin/taskmux" }` where taskmux is not on a non-interactive PATH.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum HostEntry {
    /// An ssh destination: `user@host`, a `Host` of ~/.ssh/config, `ssh://user@host:port`.
    Dest(String),
    /// A destination and the path of taskmux there.
    Full {
        /// The ssh destination.
        dest: String,
        /// The taskmux to run there (default `taskmux`, found on its PATH).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        taskmux: Option<String>,
    },
}

impl HostEntry {
    /// The ssh destination.
    pub fn dest(&self) -> &str {
        match self {
            HostEntry::Dest(d) | HostEntry::Full { dest: d, .. } => d,
        }
    }

    /// The taskmux program to run there, when one is named.
    pub fn taskmux(&self) -> Option<&str> {
        match self {
            HostEntry::Dest(_) => None,
            HostEntry::Full { taskmux, .. } => taskmux.as_deref(),
        }
    }
}

/// Why a host name is not one `[hosts]` takes (letters, digits, `.`, `_` and `-`, starting
/// with a letter or digit); None when it is.
pub fn bad_host_name(name: &str) -> Option<&'static str> {
    if name.is_empty() || name.len() > 64 {
        return Some("it must be 1 to 64 characters long");
    }
    let ok = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    (!ok).then_some("use letters, digits, '.', '_' and '-', starting with a letter or digit")
}

/// Why an ssh destination is not usable; None when it is. One that starts with `-` would
/// be read by ssh as an option; whitespace and control characters are never part of one.
pub fn bad_dest(dest: &str) -> Option<&'static str> {
    if dest.is_empty() {
        Some("it is empty")
    } else if dest.starts_with('-') {
        Some("it starts with '-', which ssh would read as an option")
    } else if dest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("it contains whitespace or a control character")
    } else {
        None
    }
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            health_check_interval: 30.0,
            api_bind: "127.0.0.1".into(),
            api_port: 8765,
            api_allowed_origins: Vec::new(),
            proxy_enabled: true,
            proxy_bind: "127.0.0.1".into(),
            proxy_https_port: 443,
            proxy_http_port: 80,
            host_resolver: HostResolver::EtcHosts,
            dns_server_port: 5454,
            dns_managed_tld: "localhost".into(),
            proxy_upstream_timeout: 60.0,
            ssh_command: "ssh".into(),
            hosts: BTreeMap::new(),
        }
    }
}

impl GlobalConfig {
    /// The global config file of a state directory: `<home>/config.toml`.
    pub fn path(home: &Path) -> PathBuf {
        home.join(FILE_NAME)
    }

    /// Reads the global config of a state directory; a missing file is the defaults.
    pub fn load(home: &Path) -> Result<GlobalConfig> {
        let path = GlobalConfig::path(home);
        match read_text(&path)? {
            Some(text) => GlobalConfig::parse(&text, &path),
            None => Ok(GlobalConfig::default()),
        }
    }

    /// Parses global config text from `path` and checks every value's range.
    pub fn parse(text: &str, path: &Path) -> Result<GlobalConfig> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let (l, c) = e.span().map_or((1, 1), |s| super::line_col(text, s.start));
            Error::from(Kind::InvalidToml(format!(
                "Invalid TOML in {} at line {l}, column {c}: {}",
                path.display(),
                e.message().trim()
            )))
            .hint("fix the syntax of the global config at that line")
            .details(serde_json::json!({"path": path.display().to_string(), "line": l, "column": c}))
        })?;
        let c: GlobalConfig = toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| {
            Error::from(Kind::Invalid(format!(
                "Invalid global config {}: {}",
                path.display(),
                e.message().trim()
            )))
            .hint(format!(
                "fix it in the file, or take a key back to its default with 'taskmux config unset KEY'; the keys: {}",
                keys::key_list()
            ))
        })?;
        for (key, port) in [
            ("proxy_https_port", c.proxy_https_port),
            ("api_port", c.api_port),
            ("dns_server_port", c.dns_server_port),
        ] {
            if port == 0 {
                return Err(Error::from(Kind::Invalid(format!(
                    "{key} in {} must be between 1 and 65535, not 0",
                    path.display()
                ))));
            }
        }
        let t = c.proxy_upstream_timeout;
        if !(t.is_finite() && (t == 0.0 || (0.1..=86_400.0).contains(&t))) {
            return Err(Error::from(Kind::Invalid(format!(
                "proxy_upstream_timeout in {} must be a number of seconds from 0.1 to 86400, or 0 for no limit, not {t}",
                path.display()
            )))
            .hint("for example: taskmux config set proxy_upstream_timeout 120"));
        }
        if !(c.health_check_interval.is_finite() && (0.1..=86_400.0).contains(&c.health_check_interval)) {
            return Err(Error::from(Kind::Invalid(format!(
                "health_check_interval in {} must be between 0.1 and 86400 seconds",
                path.display()
            ))));
        }
        for (key, addr) in [("api_bind", &c.api_bind), ("proxy_bind", &c.proxy_bind)] {
            if addr.is_empty() || addr.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
                return Err(Error::from(Kind::Invalid(format!(
                    "{key} in {} must be an address such as \"127.0.0.1\", not {addr:?}",
                    path.display()
                ))));
            }
        }
        if !crate::domain::is_domain(&c.dns_managed_tld, crate::domain::Chars::Lower) {
            return Err(Error::from(Kind::Invalid(format!(
                "dns_managed_tld in {} must be a domain such as \"localhost\" (labels of a-z, 0-9 and -), not {:?}",
                path.display(),
                c.dns_managed_tld
            ))));
        }
        if let Some(o) = c
            .api_allowed_origins
            .iter()
            .find(|o| o.is_empty() || o.chars().any(|ch| ch.is_whitespace() || ch.is_control() || ch == ','))
        {
            return Err(Error::from(Kind::Invalid(format!(
                "api_allowed_origins in {} must hold origins such as \"http://localhost:3000\", not {o:?}",
                path.display()
            ))));
        }
        check_ssh(&c, path)?;
        Ok(c)
    }

    /// How long the proxy waits for a task's answer to begin: None for no limit (0).
    pub fn upstream_timeout(&self) -> Option<std::time::Duration> {
        (self.proxy_upstream_timeout > 0.0).then(|| std::time::Duration::from_secs_f64(self.proxy_upstream_timeout))
    }

    /// The https URL a task with `host` is served at: `{host}.{project}.{tld}`, the apex for
    /// `@`, with the proxy's port when it is not 443.
    pub fn task_url(&self, project: &str, host: &str) -> String {
        let name = match host {
            "@" => format!("{project}.{}", self.dns_managed_tld),
            h => format!("{h}.{project}.{}", self.dns_managed_tld),
        };
        self.url_of(&name)
    }

    /// The URL of an alias: `https://NAME.localhost` (with the port when not 443).
    pub fn alias_url(&self, alias: &str) -> String {
        self.url_of(&format!("{alias}.{}", self.dns_managed_tld))
    }

    fn url_of(&self, name: &str) -> String {
        match self.proxy_https_port {
            443 => format!("https://{name}"),
            port => format!("https://{name}:{port}"),
        }
    }
}

/// E104 unless `ssh_command` splits into words and each host has a usable name,
/// destination and program.
fn check_ssh(c: &GlobalConfig, path: &Path) -> Result<()> {
    if ssh_words(&c.ssh_command).is_none() {
        return Err(Error::from(Kind::Invalid(format!(
            "ssh_command in {} must be a program and its options, as a shell would split them, not {:?}",
            path.display(),
            c.ssh_command
        )))
        .hint("for example: taskmux config set ssh_command 'ssh -F ~/.ssh/work_config'"));
    }
    for (name, entry) in &c.hosts {
        let bad = |what: String| {
            Err(
                Error::from(Kind::Invalid(format!("hosts.{what} in {}", path.display())))
                    .hint("for example: taskmux config set hosts.build me@build.example.org"),
            )
        };
        if let Some(why) = bad_host_name(name) {
            return bad(format!("{name:?} is not a host name: {why}"));
        }
        if let Some(why) = bad_dest(entry.dest()) {
            return bad(format!("{name} = {:?} is not an ssh destination: {why}", entry.dest()));
        }
        if let Some(t) = entry.taskmux()
            && (t.trim().is_empty() || t.chars().any(char::is_control))
        {
            return bad(format!("{name}.taskmux = {t:?} is not a program path"));
        }
    }
    Ok(())
}

/// `ssh_command` as words (`ssh -F "/my config"` is `ssh`, `-F`, `/my config`); None
/// when it does not split (an open quote) or is empty.
pub fn ssh_words(command: &str) -> Option<Vec<String>> {
    shlex::split(command).filter(|w| !w.is_empty())
}

/// The text of the global config file, or None when there is none. A file that is not
/// UTF-8 is E101, like any other file that is not TOML.
pub fn read_text(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Err(Error::from(Kind::InvalidToml(format!(
            "Invalid TOML in {}: the file is not UTF-8",
            path.display()
        )))
        .hint("fix the file, or delete it to go back to the defaults")),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_ranges() {
        let p = Path::new("/x/config.toml");
        let c = GlobalConfig::parse("", p).expect("empty is the defaults");
        assert_eq!(c, GlobalConfig::default());
        assert_eq!(c.task_url("p", "api"), "https://api.p.localhost");
        assert_eq!(c.task_url("p", "@"), "https://p.localhost");
        let c = GlobalConfig::parse("proxy_https_port = 8443\nhost_resolver = \"noop\"\n", p).expect("valid");
        assert_eq!(c.task_url("p", "api"), "https://api.p.localhost:8443");
        assert_eq!(c.host_resolver, HostResolver::Noop);
        for bad in [
            "proxy_https_port = 0",
            "proxy_https_port = 70000",
            "proxy_https_port = \"x\"",
            "bogus = 1",
            "host_resolver = \"dns\"",
            "api_bind = \"\"",
            "dns_managed_tld = \"Local Host\"",
            "dns_managed_tld = \".localhost\"",
            "api_allowed_origins = [\"a b\"]",
            "proxy_upstream_timeout = -1",
            "proxy_upstream_timeout = 0.05",
            "proxy_upstream_timeout = 86401",
            "proxy_upstream_timeout = nan",
            "proxy_upstream_timeout = \"60\"",
        ] {
            let e = GlobalConfig::parse(bad, p).expect_err(bad);
            assert_eq!(e.code(), "E104", "{bad}: {e}");
        }
        assert_eq!(GlobalConfig::parse("a = [", p).expect_err("toml").code(), "E101");
        let e = GlobalConfig::parse("proxy_upstream_timeout = -1", p).expect_err("range");
        assert!(e.message().contains("proxy_upstream_timeout"), "{e}");
        assert_eq!(c.upstream_timeout(), Some(std::time::Duration::from_secs(60)));
        let c = GlobalConfig::parse("proxy_upstream_timeout = 0", p).expect("0 is no limit");
        assert_eq!(c.upstream_timeout(), None);
        let c = GlobalConfig::parse("proxy_upstream_timeout = 1.5", p).expect("fractions");
        assert_eq!(c.upstream_timeout(), Some(std::time::Duration::from_millis(1500)));
    }

    #[test]
    fn hosts_and_ssh_command() {
        let p = Path::new("/x/config.toml");
        let c = GlobalConfig::parse(
            "ssh_command = 'ssh -F \"/my dir/cfg\"'\n[hosts]\na = \"me@a\"\nb = { dest = \"ssh://me@b:2222\", taskmux = \"~/.cargo/bin/taskmux\" }\n",
            p,
        )
        .expect("valid");
        assert_eq!(ssh_words(&c.ssh_command).expect("splits"), ["ssh", "-F", "/my dir/cfg"]);
        assert_eq!((c.hosts["a"].dest(), c.hosts["a"].taskmux()), ("me@a", None));
        assert_eq!(
            (c.hosts["b"].dest(), c.hosts["b"].taskmux()),
            ("ssh://me@b:2222", Some("~/.cargo/bin/taskmux"))
        );
        for bad in [
            "ssh_command = ''",
            "ssh_command = 'ssh -F \"open'",
            "[hosts]\na = \"-oProxyCommand=x\"",
            "[hosts]\na = \"me@a b\"",
            "[hosts]\na = \"\"",
            "[hosts]\n\"a b\" = \"me@a\"",
            "[hosts]\na = { dest = \"me@a\", taskmux = \"\" }",
            "[hosts]\na = { taskmux = \"x\" }",
            "[hosts]\na = 3",
        ] {
            let e = GlobalConfig::parse(bad, p).expect_err(bad);
            assert_eq!(e.code(), "E104", "{bad}: {e}");
        }
    }
}
