//! The one error type of the suite: what went wrong as a typed [`Kind`] with its context,
//! its stable code, a message naming the cause, and a hint that says how to fix it.
//!
//! Codes (`E1xx` config, `E2xx` tmux and processes, `E3xx` sessions, registry and daemon,
//! `E4xx` hooks, `E5xx` arguments and requests, `E6xx` certificates, proxy and DNS, `E7xx`
//! permissions, `E9xx` bugs) are listed
//! with their meaning in `man taskmux(1)`, EXIT STATUS. A code means one thing.

mod kind;
mod words;

pub use kind::Kind;

use serde_json::Value;
use std::fmt;

/// Every failure a user can see: its [`Kind`], and where the site knows better than the
/// kind, its own hint and machine-readable details.
#[derive(Debug, Clone)]
pub struct Error {
    /// What went wrong.
    pub kind: Kind,
    /// How to fix it, when we know.
    pub hint: Option<String>,
    /// Extra machine-readable context for `--json`.
    pub details: Option<Value>,
}

/// The suite's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Kind> for Error {
    fn from(kind: Kind) -> Self {
        let hint = kind.default_hint();
        Error {
            kind,
            hint,
            details: None,
        }
    }
}

impl Error {
    /// The stable code, such as `E200`.
    pub fn code(&self) -> &str {
        self.kind.code()
    }

    /// The code's name, such as `unknown_task`: the API's `error` field.
    pub fn name(&self) -> &'static str {
        name_of(self.code())
    }

    /// What went wrong, naming the thing it went wrong with.
    pub fn message(&self) -> String {
        self.kind.message()
    }

    /// Replaces the hint: the line that tells the user how to fix it.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds machine-readable details, shown under `details` in `--json`: a typed value
    /// (a struct, a [`Value`]) serialised as the object it is.
    pub fn details(mut self, details: impl serde::Serialize) -> Self {
        self.details = serde_json::to_value(details).ok();
        self
    }

    /// The process exit code for this error: 2 for usage and invalid config (E1xx, the
    /// dependency errors E210-E213 found in the config, E500-E503), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        let code = self.code();
        if code.starts_with("E1")
            || matches!(
                code,
                "E210" | "E211" | "E212" | "E213" | "E500" | "E501" | "E502" | "E503" | "E504" | "E505"
            )
        {
            2
        } else {
            1
        }
    }

    /// A usage error (E500).
    pub fn usage(message: impl Into<String>) -> Self {
        Kind::Usage(message.into()).into()
    }

    /// A validation error (E104) naming the key.
    pub fn invalid(message: impl Into<String>) -> Self {
        Kind::Invalid(message.into()).into()
    }

    /// An internal error: a bug, with where to report it.
    pub fn internal(message: impl Into<String>) -> Self {
        Kind::Internal(message.into()).into()
    }

    /// An I/O failure on a path, with the path named.
    pub fn io(action: &str, path: &std::path::Path, err: std::io::Error) -> Self {
        if err.kind() == std::io::ErrorKind::PermissionDenied {
            return Kind::Permission {
                action: action.to_string(),
                path: path.to_path_buf(),
                reason: err.to_string(),
            }
            .into();
        }
        Error {
            kind: Kind::Io {
                action: action.to_string(),
                path: path.to_path_buf(),
                reason: err.to_string(),
            },
            hint: None,
            details: None,
        }
    }

    /// The error as the CLI prints it with `--json` (taskmux(1), JSON OUTPUT):
    /// `{"ok": false, "code": "E200", "error": "Task 'ghost' not found in config"}`.
    pub fn to_json(&self) -> Value {
        let mut v = serde_json::json!({"ok": false, "code": self.code(), "error": self.message()});
        self.add_context(&mut v);
        v
    }

    /// The error as the API replies with it (taskmuxd(8), API): `{"ok": false, "error":
    /// "unknown_task", "code": "E200", "message": "Task 'ghost' not found in config"}`.
    pub fn to_api_json(&self) -> Value {
        let mut v =
            serde_json::json!({"ok": false, "error": self.name(), "code": self.code(), "message": self.message()});
        self.add_context(&mut v);
        v
    }

    fn add_context(&self, v: &mut Value) {
        if let Some(h) = &self.hint {
            v["hint"] = h.clone().into();
        }
        if let Some(d) = &self.details {
            v["details"] = d.clone();
        }
    }

    /// Reads an error in either shape ([`Error::to_json`], [`Error::to_api_json`]); None
    /// when `v` is not one (no `code`, or `ok` not false).
    pub fn from_json(v: &Value) -> Option<Error> {
        if v.get("ok") != Some(&Value::Bool(false)) {
            return None;
        }
        let code = v.get("code")?.as_str()?.to_string();
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let message = text("message").or_else(|| text("error")).unwrap_or_default();
        Some(Error {
            kind: Kind::Received { code, message },
            hint: text("hint"),
            details: v.get("details").cloned(),
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error[{}]: {}", self.code(), self.message())?;
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

impl serde::Serialize for Error {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Error {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Error, D::Error> {
        let v = Value::deserialize(d)?;
        Error::from_json(&v)
            .ok_or_else(|| serde::de::Error::custom("not an error: it needs \"ok\": false and \"code\""))
    }
}

/// Every code and its name, the one table both error shapes come from: the CLI's `code`
/// and the API's `error` (taskmuxd(8) CONTROL SOCKET, taskmux(1) DIAGNOSTICS).
pub const CODES: &[(&str, &str)] = &[
    ("E100", "config_not_found"),
    ("E101", "invalid_toml"),
    ("E102", "invalid_task"),
    ("E103", "unknown_key"),
    ("E104", "invalid_value"),
    ("E105", "config_exists"),
    ("E106", "task_exists"),
    ("E108", "agent_file"),
    ("E109", "invalid_workspace"),
    ("E200", "unknown_task"),
    ("E202", "not_running"),
    ("E203", "tmux_missing"),
    ("E204", "tmux_failed"),
    ("E205", "port_busy"),
    ("E206", "processes_left"),
    ("E207", "tmuxp_failed"),
    ("E210", "unknown_dependency"),
    ("E211", "self_dependency"),
    ("E212", "dependency_cycle"),
    ("E213", "cwd_missing"),
    ("E214", "not_healthy"),
    ("E220", "unknown_job"),
    ("E221", "job_lost"),
    ("E222", "unknown_window"),
    ("E300", "session_not_running"),
    ("E302", "already_supervised"),
    ("E303", "unknown_session"),
    ("E304", "daemon_not_running"),
    ("E305", "name_collision"),
    ("E306", "corrupt_state"),
    ("E307", "no_service_manager"),
    ("E308", "daemon_unresponsive"),
    ("E309", "daemon_lost"),
    ("E310", "host_unreachable"),
    ("E311", "remote_failed"),
    ("E312", "remote_taskmux_missing"),
    ("E400", "hook_failed"),
    ("E401", "hook_timeout"),
    ("E500", "invalid_params"),
    ("E501", "unknown_command"),
    ("E502", "invalid_json"),
    ("E503", "no_terminal"),
    ("E504", "too_large"),
    ("E505", "missing_session"),
    ("E506", "version_mismatch"),
    ("E600", "certificate_name"),
    ("E601", "ca_files"),
    ("E602", "mint_failed"),
    ("E603", "trust_tool_failed"),
    ("E604", "unknown_trust_store"),
    ("E640", "dns_port_in_use"),
    ("E641", "dns_not_loopback"),
    ("E642", "dns_bind_failed"),
    ("E643", "dns_no_answer"),
    ("E644", "resolver_absent"),
    ("E645", "hosts_block"),
    ("E646", "resolver_file_taken"),
    ("E700", "permission_denied"),
    ("E701", "io_failed"),
    ("E702", "unauthorized"),
    ("E900", "internal"),
];

/// The name of a code (`failed` for one this version does not know).
pub fn name_of(code: &str) -> &'static str {
    CODES.iter().find(|(c, _)| *c == code).map_or("failed", |(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_messages_and_exit_codes() {
        let e: Error = Kind::TaskNotFound {
            task: "ghost".into(),
            path: Some("/p/taskmux.toml".into()),
            known: vec!["a".into(), "b".into()],
        }
        .into();
        assert_eq!((e.code(), e.exit_code()), ("E200", 1));
        assert_eq!(e.message(), "Task 'ghost' not found in config");
        assert_eq!(e.hint.as_deref(), Some("tasks in /p/taskmux.toml: a, b"));
        let v = e.to_json();
        assert_eq!((v["ok"].clone(), v["code"].clone()), (false.into(), "E200".into()));
        assert_eq!(Error::usage("x").exit_code(), 2);
        assert_eq!(Error::from(Kind::Cycle("a -> a".into())).exit_code(), 2);
        let denied = Error::io("read", "/x".as_ref(), std::io::ErrorKind::PermissionDenied.into());
        assert_eq!(denied.code(), "E700");
        let eio = Error::io("read", "/x".as_ref(), std::io::Error::from_raw_os_error(5));
        assert_eq!(eio.code(), "E701", "an I/O error is not a bug");
        assert!(eio.message().starts_with("cannot read /x: "), "{}", eio.message());
    }
}
