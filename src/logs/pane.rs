//! The `__log` mode: the loop that reads a pane's raw output from `pipe-pane` and feeds the
//! [`Writer`], watching the pane's process (a pidfd on Linux, /proc elsewhere) so that it
//! ends once the pane is dead and its output is written: tmux keeps the pipe of a dead pane
//! open until its window goes.

use super::report::TaskLog;
use super::writer::Writer;
use crate::time;
use rustix::event::{PollFd, PollFlags};
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

/// How long a partial line may wait for its end before it is written as it is.
const IDLE_FLUSH: Duration = Duration::from_secs(1);

/// How long the pipe must be quiet after the pane's process is gone before the writer ends:
/// tmux may still be passing on the pane's last output.
const PANE_GONE_QUIET: Duration = Duration::from_secs(1);

/// What `__log` is told besides its file: its pane's process, and the task it writes for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriterOptions {
    /// The pane's process: the writer ends once it is gone and the pipe is quiet.
    pub pane_pid: Option<i32>,
    /// The task, for reports and the line index (none for a job's `--log-file`).
    pub task: Option<TaskLog>,
}

/// The log writer of one pane (`taskmux __log PATH MAX_SIZE MAX_FILES [OPTIONS]`): reads the
/// pane's raw output on stdin until it closes (or the pane's process is gone and it is
/// quiet), and writes timestamped lines to `path`, rotated at `max_size` bytes keeping
/// `max_files`.
pub fn write_pane_log(path: &Path, max_size: u64, max_files: u32, opts: WriterOptions) -> std::io::Result<()> {
    let mut w = Writer::new(path.to_path_buf(), max_size.max(1024), max_files);
    if let Some(t) = opts.task {
        w = w.for_task(t);
    }
    let pane = opts.pane_pid.map(Pane::watch);
    run_writer(&mut w, pane)
}

/// The pane's process, watched through a pidfd (polled through /proc where there is none).
struct Pane {
    pid: i32,
    fd: Option<OwnedFd>,
    gone: bool,
}

impl Pane {
    fn watch(pid: i32) -> Pane {
        let mut p = Pane {
            pid,
            fd: None,
            gone: false,
        };
        #[cfg(target_os = "linux")]
        match rustix::process::Pid::from_raw(pid) {
            Some(raw) => match rustix::process::pidfd_open(raw, rustix::process::PidfdFlags::empty()) {
                Ok(fd) => p.fd = Some(fd),
                Err(rustix::io::Errno::SRCH) => p.gone = true,
                Err(_) => {}
            },
            None => p.gone = true,
        }
        p.gone = p.gone || !crate::proc::alive(pid);
        p
    }

    /// Whether it must be looked at now and then (no pidfd).
    fn polled(&self) -> bool {
        !self.gone && self.fd.is_none()
    }
}

/// What woke the writer.
enum Woke {
    Input,
    PaneGone,
    Timeout,
    Interrupted,
}

fn wait(input: &impl AsFd, pane: Option<&Pane>, timeout: Option<Duration>) -> std::io::Result<Woke> {
    let ts = timeout.and_then(|d| rustix::event::Timespec::try_from(d).ok());
    let mut fds = vec![PollFd::new(input, PollFlags::IN)];
    if let Some(fd) = pane.and_then(|p| p.fd.as_ref()) {
        fds.push(PollFd::new(fd, PollFlags::IN));
    }
    match rustix::event::poll(&mut fds, ts.as_ref()) {
        Ok(0) => Ok(Woke::Timeout),
        Ok(_) if !fds[0].revents().is_empty() => Ok(Woke::Input),
        Ok(_) => Ok(Woke::PaneGone),
        Err(rustix::io::Errno::INTR) => Ok(Woke::Interrupted),
        Err(e) => Err(e.into()),
    }
}

fn run_writer(w: &mut Writer, mut pane: Option<Pane>) -> std::io::Result<()> {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut buf = vec![0u8; 128 * 1024];
    let zero = Duration::ZERO;
    loop {
        if w.has_buffered() && matches!(wait(&stdin, None, Some(zero))?, Woke::Timeout) {
            // lines held back after a full read go out as soon as nothing more is waiting
            w.flush();
        }
        let gone = pane.as_ref().is_some_and(|p| p.gone);
        let timeout = if gone {
            Some(PANE_GONE_QUIET)
        } else if w.has_partial() || pane.as_ref().is_some_and(Pane::polled) {
            Some(IDLE_FLUSH)
        } else {
            None
        };
        match wait(&stdin, pane.as_ref(), timeout)? {
            Woke::Input => {}
            Woke::Interrupted => continue,
            Woke::PaneGone => {
                if let Some(p) = &mut pane {
                    p.gone = true;
                    p.fd = None;
                }
                continue;
            }
            Woke::Timeout => {
                if gone {
                    break;
                }
                if let Some(p) = &mut pane
                    && p.polled()
                {
                    p.gone = !crate::proc::alive(p.pid);
                }
                if w.has_partial() {
                    w.flush_partial();
                }
                continue;
            }
        }
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let now = time::log_stamp(time::now_secs());
        w.feed(&buf[..n], &now);
        // a full read means more is waiting: write in larger pieces then; a short read
        // means the pane is quiet for now, so readers see its lines at once
        if n < buf.len() {
            w.flush();
        }
    }
    w.flush_partial();
    Ok(())
}
