//! The global config, `$TASKMUX_HOME/config.toml`: the daemon's API, proxy and name
//! resolution settings, every key optional, unknown keys refused.

use crate::error::{Error, Kind, Result};
use serde::{Deserialize, Serialize};
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

/// `$TASKMUX_HOME/config.toml` with every default filled in (REFERENCE section 6).
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
                super::global_edit::key_list()
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
        if !valid_domain(&c.dns_managed_tld) {
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

/// A domain of dot-separated labels of `a-z`, `0-9` and `-` (not at either end of a label).
pub fn valid_domain(d: &str) -> bool {
    d.len() <= 253
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
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
}
