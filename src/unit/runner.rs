//! The one door to the service manager: [`Runner`] runs `systemctl`, `launchctl` and
//! `loginctl`, so a test can put a fake one in its place.

/// What a service-manager command did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// It ran and exited 0.
    pub ok: bool,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error, or why it could not run.
    pub stderr: String,
}

/// Runs `systemctl`, `launchctl` and `loginctl`: the one door to the service manager, so a
/// test can put a fake one in its place.
pub trait Runner {
    /// Runs `program` with `args` and waits for it.
    fn run(&self, program: &str, args: &[String]) -> Outcome;
}

/// The real runner: programs found in `path` (the front's PATH), stdin closed.
#[derive(Debug, Clone, Default)]
pub struct SystemRunner {
    /// The PATH to search.
    pub path: Option<String>,
}

impl Runner for SystemRunner {
    fn run(&self, program: &str, args: &[String]) -> Outcome {
        let mut c = std::process::Command::new(program);
        c.args(args).stdin(std::process::Stdio::null());
        if let Some(p) = &self.path {
            c.env("PATH", p);
        }
        match c.output() {
            Ok(o) => Outcome {
                ok: o.status.success(),
                stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            },
            Err(e) => Outcome {
                ok: false,
                stdout: String::new(),
                stderr: format!("cannot run {program}: {e}"),
            },
        }
    }
}
