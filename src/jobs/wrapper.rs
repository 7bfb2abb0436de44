//! `taskmux __job SPEC`: the wrapper that is a job window's own process. It runs the job,
//! ends it with its pane, records its exit and closes or keeps the window.

use super::*;
use crate::tmux::Tmux;
use crate::{cmd, events, paths};
use std::path::Path;

/// `taskmux __job SPEC`: runs the job's argv as a child, and when it ends records the exit
/// code, signals waiters, writes `[exited N]` on failure, and lets its pane close unless
/// kept. When its pane goes away under it (SIGHUP: `kill-window`, `kill-server`, a lost
/// tty), it ends the job first (SIGHUP, then SIGTERM, then SIGKILL) and records that end.
pub fn job_main(spec_path: &str, pane: &crate::task::PaneEnv, out: &mut dyn std::io::Write) -> std::process::ExitCode {
    let spec: run::JobSpec = match std::fs::read(spec_path).map(|b| serde_json::from_slice(&b)) {
        Ok(Ok(v)) => v,
        _ => {
            let _ = writeln!(out, "taskmux: cannot read job spec {spec_path}");
            return std::process::ExitCode::from(127);
        }
    };
    let _ = std::fs::remove_file(spec_path);
    let signals = JobSignals::register();
    let argv0 = spec.command.argv.first().cloned().unwrap_or_default();
    let mut c = crate::task::spec_command(&spec.command, pane).unwrap_or_else(|| std::process::Command::new("true"));
    let code = match c.spawn() {
        Ok(child) => run_job(child, &signals, pane),
        Err(e) => {
            let _ = writeln!(out, "taskmux-run: cannot run {argv0}: {e}");
            127
        }
    };
    let id = spec.id.clone();
    // the state directory is the caller's: the one the spec was written in (this process
    // has the tmux server's environment, whose TASKMUX_HOME may be another one or none)
    let home = Path::new(spec_path)
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."));
    let exit = exit_file(home, &id);
    let _ = paths::write_replace(&exit, format!("{code}\n").as_bytes(), 0o600);
    // after the caller's job_started (it holds this lock until it has written it)
    let started = started_lock(home, &id);
    let finished = events::Event::JobFinished {
        tag: spec.tag.clone(),
        exit_code: code,
        id: id.clone(),
    };
    events::EventLog::new(home, events::Limits::default()).emit(&spec.session, None, finished);
    drop(started);
    let _ = std::fs::remove_file(started_lock_path(home, &id));
    let tmux = Tmux::new(spec.socket.clone(), pane.path.clone(), None);
    let keep = if code == 0 {
        spec.keep_on_success
    } else {
        spec.keep_on_failure
    };
    if signals.hung_up() {
        // the pane is gone: nothing to print into, no window to close
        let _ = tmux.exec(&[cmd!["wait-for", "-S", channel(&id)]]);
    } else if keep {
        if code != 0 {
            let _ = writeln!(out, "[exited {code}]");
            let _ = out.flush();
        }
        let _ = tmux.exec(&[cmd!["wait-for", "-S", channel(&id)]]);
    } else if let Some(pane) = pane.pane.as_ref().and_then(|p| p.to_str()) {
        // not kill-pane: that drops output tmux has not read or piped to the log yet.
        // With remain-on-exit off, tmux closes the pane itself once this process has
        // exited and all of its output is read and handed to the log's pipe
        let _ = tmux.exec(&[
            cmd!["wait-for", "-S", channel(&id)],
            cmd!["set-option", "-p", "-t", pane, "remain-on-exit", "off"],
        ]);
    }
    std::process::ExitCode::from(code.clamp(0, 255) as u8)
}

/// The wrapper's signals: it outlives the job's INT and TERM (a handler, unlike SIG_IGN,
/// is not inherited), and a SIGHUP (its pane closed) or a SIGCHLD wakes it.
pub(super) struct JobSignals {
    /// None when they could not be handled: then it only sleeps in short steps.
    heard: Option<std::sync::mpsc::Receiver<i32>>,
    hup: std::cell::Cell<bool>,
}

impl JobSignals {
    fn register() -> JobSignals {
        use crate::signals::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};
        JobSignals {
            heard: crate::signals::channel(&[SIGINT, SIGTERM, SIGHUP, SIGCHLD]).ok(),
            hup: std::cell::Cell::new(false),
        }
    }

    fn hung_up(&self) -> bool {
        self.take(None);
        self.hup.get()
    }

    /// Sleeps until a signal came (or `max` passed).
    fn sleep(&self, max: std::time::Duration) {
        if self.heard.is_none() {
            std::thread::sleep(max.min(std::time::Duration::from_millis(50)));
        }
        self.take(Some(max));
    }

    /// Takes the signals that came (waiting up to `wait` for one), noting a SIGHUP.
    fn take(&self, wait: Option<std::time::Duration>) {
        let Some(rx) = &self.heard else { return };
        let mut next = wait.map_or_else(|| rx.try_recv().ok(), |w| rx.recv_timeout(w).ok());
        while let Some(sig) = next {
            if sig == crate::signals::SIGHUP {
                self.hup.set(true);
            }
            next = rx.try_recv().ok();
        }
    }
}

/// Waits for the job; when the pane hangs up, ends it: SIGHUP to the wrapper's group (the
/// job's, the wrapper survives its own), a second for the job to go, then
/// [`crate::proc::terminate`] on what is left of the pane's processes (its group and
/// session, their descendants, whatever carries the pane in its environment): SIGTERM,
/// and SIGKILL 2 s later. The code is the job's own (129 for the SIGHUP, …).
pub(super) fn run_job(mut child: std::process::Child, signals: &JobSignals, pane: &crate::task::PaneEnv) -> i32 {
    use std::time::{Duration, Instant};
    let status = |st: std::io::Result<std::process::ExitStatus>| st.map_or(127, crate::proc::status_code);
    loop {
        match child.try_wait() {
            Ok(Some(st)) if !signals.hung_up() => return crate::proc::status_code(st),
            Ok(_) if !signals.hung_up() => signals.sleep(Duration::from_secs(3600)),
            Err(_) => return status(child.wait()),
            _ => break,
        }
    }
    let me = std::process::id() as i32;
    crate::proc::signal_group(me, rustix::process::Signal::HUP);
    let until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < until && matches!(child.try_wait(), Ok(None)) {
        signals.sleep(Duration::from_millis(50));
    }
    let server = pane
        .tmux
        .as_ref()
        .and_then(|t| t.to_str())
        .and_then(|t| t.split(',').next())
        .unwrap_or("")
        .to_string();
    let target = crate::proc::Target {
        id: crate::proc::TaskIdentity {
            pane_pid: me,
            tty_nr: None,
            marker: String::new(),
            server,
        },
        pane: pane.pane.as_ref().map(|p| p.to_string_lossy().into_owned()),
        spare_leader: true,
        grace: Duration::ZERO,
    };
    let opts = crate::proc::Terminate {
        kill_after: Duration::from_secs(2),
        ..crate::proc::Terminate::default()
    };
    let _ = crate::proc::terminate(&[target], &opts, &crate::proc::Cancel::new(), || {});
    status(child.wait())
}
