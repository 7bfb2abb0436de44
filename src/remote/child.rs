//! The ssh child of one exchange: a watchdog that kills it when its time is up, the tail
//! of what it said on stderr, and its reaping.

use super::Ended;
use crate::error::Result;
use std::io::Read;
use std::process::{Child, ChildStdin};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Waits for `child` on a thread of its own, so it is reaped without anyone waiting.
pub(super) fn reap_later(mut child: Child) {
    let (tx, rx) = std::sync::mpsc::channel::<Child>();
    let spawned = std::thread::Builder::new()
        .name("ssh reaper".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            if let Ok(mut c) = rx.recv() {
                let _ = c.wait();
            }
        });
    match spawned {
        Ok(_) => {
            if let Err(std::sync::mpsc::SendError(mut c)) = tx.send(child) {
                let _ = c.wait();
            }
        }
        Err(_) => {
            let _ = child.wait();
        }
    }
}

/// Ends the ssh child after its output ended or its reader left: its input closed (the
/// remote loop then ends), and reaped; one that has not ended within a few seconds, or
/// whose reader left, is killed. Its exit status.
pub(super) fn finish(
    child: &mut Child,
    input: Option<ChildStdin>,
    read: &Result<Ended>,
) -> Option<std::process::ExitStatus> {
    drop(input);
    if !matches!(read, Ok(Ended::Eof)) {
        let _ = child.kill();
        return child.wait().ok();
    }
    let grace = Watchdog::start(child.id(), Duration::from_secs(5));
    let status = child.wait().ok();
    grace.stop();
    status
}

/// Kills a process once its time is up, unless stopped first.
pub(super) struct Watchdog {
    state: Arc<(Mutex<Option<bool>>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    pub(super) fn start(pid: u32, after: Duration) -> Watchdog {
        let state = Arc::new((Mutex::new(None::<bool>), Condvar::new()));
        let theirs = state.clone();
        let thread = std::thread::Builder::new()
            .name("ssh watchdog".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                let (lock, cv) = &*theirs;
                let Ok(guard) = lock.lock() else { return };
                let Ok((mut guard, _)) = cv.wait_timeout_while(guard, after, |s| s.is_none()) else {
                    return;
                };
                if guard.is_none() {
                    // the child is not reaped until stop() returns: the pid is still its
                    if let Some(p) = rustix::process::Pid::from_raw(pid as i32) {
                        let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
                    }
                    *guard = Some(true);
                }
            })
            .ok();
        Watchdog { state, thread }
    }

    /// Stops it; whether it had fired.
    pub(super) fn stop(mut self) -> bool {
        let (lock, cv) = &*self.state;
        let fired = match lock.lock() {
            Ok(mut g) => {
                let fired = *g == Some(true);
                g.get_or_insert(false);
                fired
            }
            Err(_) => false,
        };
        cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        fired
    }
}

/// The end of what ssh and the remote shell said on stderr, read on a thread of its own.
pub(super) struct Tail {
    text: Arc<Mutex<Vec<u8>>>,
    done: std::sync::mpsc::Receiver<()>,
}

/// How much of stderr is kept: its last bytes.
const TAIL_BYTES: usize = 16 * 1024;

impl Tail {
    pub(super) fn collect(stderr: Option<std::process::ChildStderr>) -> Tail {
        let text = Arc::new(Mutex::new(Vec::new()));
        let (tx, done) = std::sync::mpsc::channel();
        if let Some(mut err) = stderr {
            let theirs = text.clone();
            let _ = std::thread::Builder::new()
                .name("ssh stderr".into())
                .stack_size(64 * 1024)
                .spawn(move || {
                    let mut chunk = [0u8; 4096];
                    loop {
                        match err.read(&mut chunk) {
                            Ok(0) => break,
                            Ok(n) => {
                                if let Ok(mut t) = theirs.lock() {
                                    t.extend_from_slice(&chunk[..n]);
                                    let extra = t.len().saturating_sub(TAIL_BYTES);
                                    t.drain(..extra);
                                }
                            }
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                            Err(_) => break,
                        }
                    }
                    let _ = tx.send(());
                });
        }
        Tail { text, done }
    }

    /// What was said; waits a moment for its end (a process ssh left behind may hold the
    /// pipe open, so never for long).
    pub(super) fn text(&self) -> String {
        let _ = self.done.recv_timeout(Duration::from_millis(500));
        self.text
            .lock()
            .map(|t| String::from_utf8_lossy(&t).into_owned())
            .unwrap_or_default()
    }
}
