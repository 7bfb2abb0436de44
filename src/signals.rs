//! Signals as messages: a process that runs until a signal (the daemon, `start -m`,
//! `watch`, `dns serve`, a job's wrapper) hears them on a channel, from one thread that
//! waits for them, so its main loop can wait for a signal and its other wake-ups at once,
//! with a timeout.

use crate::error::{Error, Result};
use std::sync::mpsc::{Receiver, Sender};

pub use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGPIPE, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};

/// Sends each of `signals` to `tx`, as `wrap(number)`, as it arrives; their default action
/// (ending the process) no longer happens. The thread that waits for them ends when `tx`'s
/// receiver is gone and the next one arrives.
pub fn forward<T: Send + 'static>(signals: &[i32], tx: Sender<T>, wrap: fn(i32) -> T) -> Result<()> {
    let fail = |e: std::io::Error| Error::internal(format!("cannot handle signals: {e}"));
    let mut it = signal_hook::iterator::Signals::new(signals).map_err(fail)?;
    std::thread::Builder::new()
        .name("signals".into())
        .stack_size(128 * 1024)
        .spawn(move || {
            for s in it.forever() {
                if tx.send(wrap(s)).is_err() {
                    return;
                }
            }
        })
        .map_err(fail)?;
    Ok(())
}

/// The numbers of `signals`, as they arrive (see [`forward`]).
pub fn channel(signals: &[i32]) -> Result<Receiver<i32>> {
    let (tx, rx) = std::sync::mpsc::channel();
    forward(signals, tx, |s| s)?;
    Ok(rx)
}

/// SIGPIPE ignored: a write to a client or pipe that went away fails with `EPIPE` instead
/// of ending the process.
pub fn ignore_broken_pipe() {
    let _ = signal_hook::flag::register(SIGPIPE, std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_signal_arrives_as_a_message() {
        let rx = channel(&[SIGUSR2]).expect("handles SIGUSR2");
        signal_hook::low_level::raise(SIGUSR2).expect("raises");
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(SIGUSR2));
    }
}
