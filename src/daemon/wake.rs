//! [`Wake`]: an eventfd a thread sleeps on, alone or together with another fd (a task's
//! pidfd), so one `poll` waits for either without a polling loop.

use rustix::event::{EventfdFlags, PollFd, PollFlags, Timespec, eventfd, poll};
use rustix::fd::{AsFd, OwnedFd};
use std::time::Duration;

/// What ended a wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woke {
    /// The other fd became readable (the process exited).
    Fd,
    /// [`Wake::wake`] was called.
    Wake,
    /// The timeout passed.
    Timeout,
}

/// A wake-up flag made of an eventfd: [`Wake::wake`] from any thread ends a
/// [`Wake::wait`], and a wake that comes before the wait is not lost.
#[derive(Debug)]
pub struct Wake {
    fd: OwnedFd,
}

impl Wake {
    /// A new, unset flag.
    pub fn new() -> std::io::Result<Wake> {
        Ok(Wake {
            fd: eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?,
        })
    }

    /// Wakes the waiting thread (or the next wait).
    pub fn wake(&self) {
        let _ = rustix::io::write(&self.fd, &1u64.to_ne_bytes());
    }

    fn drain(&self) {
        let mut buf = [0u8; 8];
        let _ = rustix::io::read(&self.fd, &mut buf);
    }

    /// Waits until woken or `timeout` passes (None: no timeout). True when woken.
    pub fn wait(&self, timeout: Option<Duration>) -> bool {
        self.wait_fds(None, timeout) == Woke::Wake
    }

    /// Waits until woken, `other` is readable, or `timeout` passes.
    pub fn wait_or(&self, other: &impl AsFd, timeout: Option<Duration>) -> Woke {
        self.wait_fds(Some(other.as_fd()), timeout)
    }

    fn wait_fds(&self, other: Option<rustix::fd::BorrowedFd<'_>>, timeout: Option<Duration>) -> Woke {
        let ts = timeout.map(|d| Timespec {
            tv_sec: d.as_secs().min(i64::MAX as u64) as i64,
            tv_nsec: d.subsec_nanos() as _,
        });
        loop {
            let mut fds = vec![PollFd::new(&self.fd, PollFlags::IN)];
            if let Some(o) = other {
                fds.push(PollFd::from_borrowed_fd(o, PollFlags::IN));
            }
            match poll(&mut fds, ts.as_ref()) {
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) | Ok(0) => return Woke::Timeout,
                Ok(_) => {
                    let fd_ready = fds.get(1).is_some_and(|f| !f.revents().is_empty());
                    if !fds[0].revents().is_empty() {
                        self.drain();
                        if !fd_ready {
                            return Woke::Wake;
                        }
                    }
                    return if fd_ready { Woke::Fd } else { Woke::Timeout };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn wakes_times_out_and_sees_exits() {
        let w = std::sync::Arc::new(Wake::new().expect("eventfd"));
        let t = Instant::now();
        assert!(!w.wait(Some(Duration::from_millis(30))));
        assert!(t.elapsed() >= Duration::from_millis(30));
        w.wake();
        assert!(w.wait(Some(Duration::from_secs(5))), "a wake before the wait is kept");
        let w2 = w.clone();
        let h = std::thread::spawn(move || w2.wait(None));
        std::thread::sleep(Duration::from_millis(20));
        w.wake();
        assert!(h.join().expect("joins"));
        let mut child = std::process::Command::new("sleep").arg("0.05").spawn().expect("sleep");
        let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("pid");
        let fd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).expect("pidfd");
        assert_eq!(w.wait_or(&fd, Some(Duration::from_secs(5))), Woke::Fd);
        let _ = child.wait();
    }
}
