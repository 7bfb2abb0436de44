//! Jobs: fire-and-forget commands in tagged tmux windows (`job:<tag>:<timestamp>`): what a
//! job is and where its records live. Starting one ([`run`]), the `__job` wrapper that runs
//! it ([`wrapper`]), waiting ([`wait`]), listing and killing ([`list`]), reading tmuxp
//! workspaces ([`workspace`]) and loading them ([`tmuxp`]) each have a file.

mod list;
mod run;
mod tmuxp;
mod wait;
mod workspace;
mod wrapper;

pub use list::{JobInfo, kill, list};
pub use run::run;
pub use wait::wait;
pub use workspace::{workspace_cwd, workspace_session};
pub use wrapper::job_main;

use crate::error::Result;
use crate::paths;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// What happens to a job's window when the job ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cleanup {
    /// Keep the window after success.
    pub keep_on_success: bool,
    /// Keep the window after failure (with `[exited N]`).
    pub keep_on_failure: bool,
}

/// Everything `taskmux-run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The session to run in.
    pub session: String,
    /// How to create the session when it is missing: a tmuxp workspace file, else a plain
    /// session whose first window is the job.
    pub workspace: Option<PathBuf>,
    /// The tag (defaults to the command's basename).
    pub tag: String,
    /// The command, as argv.
    pub argv: Vec<String>,
    /// Working directory.
    pub cwd: PathBuf,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// Log the output to this file through the log writer.
    pub log_file: Option<PathBuf>,
    /// Run in this existing window (a new pane) instead of a new window.
    pub window: Option<String>,
    /// Window cleanup.
    pub cleanup: Cleanup,
}

/// A started job, as printed (the JobRef).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct JobRef {
    /// Session.
    pub session: String,
    /// `@N`.
    pub window_id: String,
    /// `%N`.
    pub pane_id: String,
    /// `job:<tag>:<stamp>` (or the existing window's name with `--window`).
    pub window_name: String,
    /// The tag.
    pub tag: String,
    /// The log file, if any.
    pub log_file: Option<PathBuf>,
    /// The id the wrapper reports the end under (not in JSON).
    #[serde(skip)]
    pub id: String,
    /// The job's exit code, once it has ended and someone waited for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
}

impl JobRef {
    /// The JobRef JSON of taskmux-run(1) OUTPUT.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Makes a tag safe for a window name: no `:`, `.`, spaces or control characters.
pub fn clean_tag(s: &str) -> String {
    let t: String = s
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let t = t.trim_matches('-').to_string();
    if t.is_empty() { "job".into() } else { t }
}

/// The default tag: the command's basename.
pub fn default_tag(argv: &[String]) -> String {
    clean_tag(argv.first().map(|a| a.rsplit('/').next().unwrap_or(a)).unwrap_or("job"))
}

/// Where job specs and exit records live: `<home>/jobs`. The wrapper finds the state
/// directory from its spec's path, so the spec needs to carry none.
pub(super) fn jobs_dir(home: &Path) -> PathBuf {
    home.join("jobs")
}

/// The file the wrapper writes the job's exit code to.
pub(super) fn exit_file(home: &Path, id: &str) -> PathBuf {
    jobs_dir(home).join(format!("{id}.exit"))
}

/// The lock that orders a job's events: see [`run`].
pub(super) fn started_lock_path(home: &Path, id: &str) -> PathBuf {
    home.join("locks").join(format!("job-{id}.lock"))
}

pub(super) fn started_lock(home: &Path, id: &str) -> Result<paths::Lock> {
    paths::lock_in(home, &format!("job-{id}"))
}

/// The tmux channel the wrapper signals when the job ends.
pub(super) fn channel(id: &str) -> String {
    format!("taskmux-job-{id}")
}

/// The variable in the environment of a job's log writer: the job's id.
pub(super) const LOG_MARK: &str = "TASKMUX_LOG_JOB";

pub(super) fn read_exit(home: &Path, id: &str) -> Option<i32> {
    std::fs::read_to_string(exit_file(home, id)).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_safe() {
        assert_eq!(default_tag(&["/usr/bin/make".into(), "test".into()]), "make");
        assert_eq!(clean_tag("a:b.c d"), "a-b-c-d");
        assert_eq!(clean_tag(":::"), "job");
    }

    #[test]
    fn a_job_spec_is_the_json_it_always_was_and_reads_back() {
        let spec = run::JobSpec {
            command: crate::task::LaunchSpec {
                argv: vec!["make".into(), "test".into()],
                cwd: "/src".into(),
                env: vec![("K".into(), "v".into())],
                banner: None,
            },
            id: "i".into(),
            session: "p".into(),
            tag: "make".into(),
            socket: None,
            keep_on_success: false,
            keep_on_failure: true,
        };
        let text = serde_json::to_string(&spec).unwrap();
        assert_eq!(
            text,
            r#"{"argv":["make","test"],"cwd":"/src","env":[["K","v"]],"id":"i","session":"p","tag":"make","socket":null,"keep_on_success":false,"keep_on_failure":true}"#
        );
        assert_eq!(serde_json::from_str::<run::JobSpec>(&text).unwrap(), spec);
        let task = crate::task::LaunchSpec {
            banner: Some("[taskmux] serving".into()),
            ..spec.command.clone()
        };
        let text = serde_json::to_string(&task).unwrap();
        assert_eq!(
            text,
            r#"{"argv":["make","test"],"cwd":"/src","env":[["K","v"]],"banner":"[taskmux] serving"}"#
        );
        assert_eq!(serde_json::from_str::<crate::task::LaunchSpec>(&text).unwrap(), task);
    }

    #[test]
    fn workspace_session_name() {
        let d = std::env::temp_dir().join(format!("tmx-ws-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join(".tmuxp.yaml"),
            "session_name: 'dev' # mine\nwindows:\n  - window_name: x\n",
        )
        .unwrap();
        assert_eq!(workspace_session(&d, &[]).unwrap().1, "dev");
        std::fs::write(d.join("w.json"), "{\"session_name\": \"js\", \"windows\": []}").unwrap();
        assert_eq!(workspace_session(&d.join("w.json"), &[]).unwrap().1, "js");
        std::fs::write(d.join("none.yaml"), "windows: []\n").unwrap();
        assert_eq!(workspace_session(&d.join("none.yaml"), &[]).unwrap_err().code(), "E109");
        std::fs::write(d.join("bad.yaml"), "session_name: [unclosed\n").unwrap();
        let e = workspace_session(&d.join("bad.yaml"), &[]).unwrap_err();
        assert_eq!(e.code(), "E109", "{}", e.message());
        std::fs::write(d.join("var.yaml"), "session_name: a ${NOPE_X}\n").unwrap();
        let e = workspace_session(&d.join("var.yaml"), &[]).unwrap_err();
        assert!(e.message().contains("NOPE_X is not set"), "{}", e.message());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
