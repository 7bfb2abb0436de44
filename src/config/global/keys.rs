//! The global config's keys and the type of each: the table `config show`, `config set`
//! and `config unset` work from, and the hints of a bad global config name.

/// What a key's value is: how a `config set` VALUE is read, and what an error says it
/// should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// A number of seconds, 0.1 to 86400.
    Seconds,
    /// A number of seconds, 0.1 to 86400, or 0 for no limit.
    SecondsOrNone,
    /// A port, 1 to 65535.
    Port,
    /// A port, or 0 for off.
    PortOrOff,
    /// `true` or `false`.
    Bool,
    /// An address to listen on.
    Address,
    /// A domain of dot-separated labels.
    Domain,
    /// A list of browser origins.
    Origins,
    /// One of the [`super::HostResolver`] spellings.
    Resolver,
    /// A program and its options, split as a shell splits words.
    Command,
    /// The `[hosts]` table, set one host at a time (`hosts.NAME`).
    Hosts,
}

impl ValueType {
    /// What a value of this type is, in the words an error uses.
    pub fn expected(self) -> &'static str {
        match self {
            ValueType::Seconds => "a number of seconds from 0.1 to 86400",
            ValueType::SecondsOrNone => "a number of seconds from 0.1 to 86400, or 0 for no limit",
            ValueType::Port => "a port from 1 to 65535",
            ValueType::PortOrOff => "a port from 1 to 65535, or 0 for off",
            ValueType::Bool => "true or false",
            ValueType::Address => "an address such as 127.0.0.1",
            ValueType::Domain => "a domain such as localhost (labels of a-z, 0-9 and -)",
            ValueType::Origins => {
                "a list of origins: a TOML array such as '[\"http://localhost:3000\"]', or origins separated by commas ('' for none)"
            }
            ValueType::Resolver => "etc_hosts, dns_server or noop",
            ValueType::Command => "a program and its options, such as 'ssh -F ~/.ssh/work_config'",
            ValueType::Hosts => "set one host at a time: hosts.NAME DEST (an ssh destination), hosts.NAME.taskmux PATH",
        }
    }
}

/// One key of the global config.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// The key as written in the file.
    pub name: &'static str,
    /// Its type.
    pub ty: ValueType,
}

/// Every key of the global config, in the order of taskmux(1) `config` (and of
/// [`GlobalConfig`](super::GlobalConfig)'s fields, which a unit test holds it to).
pub const KEYS: &[Key] = &[
    k("health_check_interval", ValueType::Seconds),
    k("api_bind", ValueType::Address),
    k("api_port", ValueType::Port),
    k("api_allowed_origins", ValueType::Origins),
    k("proxy_enabled", ValueType::Bool),
    k("proxy_bind", ValueType::Address),
    k("proxy_https_port", ValueType::Port),
    k("proxy_http_port", ValueType::PortOrOff),
    k("host_resolver", ValueType::Resolver),
    k("dns_server_port", ValueType::Port),
    k("dns_managed_tld", ValueType::Domain),
    k("proxy_upstream_timeout", ValueType::SecondsOrNone),
    k("ssh_command", ValueType::Command),
    k("hosts", ValueType::Hosts),
];

const fn k(name: &'static str, ty: ValueType) -> Key {
    Key { name, ty }
}

/// The names of [`KEYS`], comma-separated, for hints.
pub fn key_list() -> String {
    KEYS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
}
