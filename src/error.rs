//! The one error type of the suite: a stable code, a message naming the cause, and a hint.

use std::fmt;

/// Every failure a user can see. Each carries a stable code (`E1xx` config, `E2xx`
/// tmux/process, `E3xx` registry/daemon, `E4xx` hooks, `E5xx` arguments, `E9xx` bugs),
/// a message that names the cause, and where there is one, a hint that says how to fix it.
#[derive(Debug, Clone)]
pub struct Error {
    /// Stable code, such as `E200`.
    pub code: &'static str,
    /// What went wrong, naming the thing it went wrong with.
    pub message: String,
    /// How to fix it, when we know.
    pub hint: Option<String>,
    /// Extra machine-readable context for `--json`.
    pub details: Option<serde_json::Value>,
}

/// The suite's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error with a code and message.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
            hint: None,
            details: None,
        }
    }

    /// Adds the line that tells the user how to fix it.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds machine-readable details, shown under `details` in `--json`.
    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    /// The process exit code for this error: 2 for usage and invalid config (E1xx, the
    /// dependency errors E210-E213 found in the config, E500, E501), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        if self.code.starts_with("E1") || matches!(self.code, "E210" | "E211" | "E212" | "E213" | "E500" | "E501") {
            2
        } else {
            1
        }
    }

    /// An internal error: a bug, with where to report it.
    pub fn internal(message: impl Into<String>) -> Self {
        Error::new("E900", message).hint("this is a bug in taskmux; please report it with the command you ran")
    }

    /// An I/O failure on a path, with the path named.
    pub fn io(action: &str, path: &std::path::Path, err: std::io::Error) -> Self {
        let code = if err.kind() == std::io::ErrorKind::PermissionDenied {
            "E700"
        } else {
            "E900"
        };
        let e = Error::new(code, format!("cannot {action} {}: {err}", path.display()));
        if code == "E700" {
            e.hint("check the permissions of that path, or set TASKMUX_HOME to a directory you own")
        } else {
            e
        }
    }

    /// The error as the JSON object of REFERENCE section 1.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({"ok": false, "code": self.code, "error": self.message});
        if let Some(h) = &self.hint {
            v["hint"] = h.clone().into();
        }
        if let Some(d) = &self.details {
            v["details"] = d.clone();
        }
        v
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error[{}]: {}", self.code, self.message)?;
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
