//! The log writer: where each task's log lives, the `pipe-pane` command that feeds it, and
//! the `__log` mode that splits raw pane output into timestamped lines and rotates files.
//!
//! Line rule: a line ends at LF (a CR LF pair is one end). A lone CR starts a redraw: the
//! text after it replaces the line so far, so a progress bar is logged once, in the state
//! it has when its line ends. A line with no end yet is written when the output pauses for
//! a second or the pane's pipe closes. A line longer than [`LINE_CAP`] is split at the cap.

use crate::config::{Project, Task};
use crate::time;
use rustix::event::{PollFd, PollFlags};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The longest line kept whole; longer output is split into lines of this size.
pub const LINE_CAP: usize = 64 * 1024;

/// How long a partial line may wait for its end before it is written as it is.
const IDLE_FLUSH: Duration = Duration::from_secs(1);

/// The log file of a task: `log_file`, else `<state>/projects/<session>/logs/<task>.log`.
pub fn log_path(home: &Path, project: &Project, task: &Task) -> PathBuf {
    task.log_file.clone().unwrap_or_else(|| {
        crate::ctx::project_dir(home, &project.name)
            .join("logs")
            .join(format!("{}.log", task.name))
    })
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The shell command `pipe-pane` runs for a task: this very executable in `__log` mode.
/// `#` is doubled because tmux expands formats in the command.
pub fn pipe_command(exe: &Path, path: &Path, max_size: u64, max_files: u32) -> String {
    let cmd = format!(
        "exec {} __log {} {max_size} {max_files}",
        shell_quote(&exe.to_string_lossy()),
        shell_quote(&path.to_string_lossy())
    );
    cmd.replace('#', "##")
}

/// `YYYY-MM-DDTHH:MM:SS.mmm ` for an epoch time in seconds: [`time::log_stamp`].
pub use crate::time::log_stamp as stamp;

/// The rotating, timestamping line writer behind one task's log.
pub struct Writer {
    path: PathBuf,
    max_size: u64,
    max_files: u32,
    file: Option<File>,
    inode: u64,
    size: u64,
    out: Vec<u8>,
    line: Vec<u8>,
    line_stamp: [u8; 24],
    /// A lone CR was seen: the next text replaces the line.
    overwrite: bool,
    cap: usize,
    /// When the path was last checked for removal or replacement, and how often to.
    checked: Option<std::time::Instant>,
    check_every: Duration,
}

impl Writer {
    /// A writer appending to `path`, rotating at `max_size` bytes and keeping `max_files`.
    pub fn new(path: PathBuf, max_size: u64, max_files: u32) -> Writer {
        // a line must fit in a file with its timestamp, so a file is never overfull
        let cap = LINE_CAP.min((max_size as usize).saturating_sub(25).max(1));
        Writer {
            path,
            max_size,
            max_files,
            file: None,
            inode: 0,
            size: 0,
            out: Vec::with_capacity(128 * 1024),
            line: Vec::new(),
            line_stamp: [b' '; 24],
            overwrite: false,
            cap,
            checked: None,
            // every write: they are batched under load, so this costs little, and a file
            // removed by logs-clean is noticed at the very next line
            check_every: Duration::ZERO,
        }
    }

    fn open(&mut self) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            crate::paths::create_private_dir(dir)?;
        }
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&self.path)?;
        let m = f.metadata()?;
        self.inode = m.ino();
        self.size = m.len();
        self.file = Some(f);
        Ok(())
    }

    /// Reopens the file when someone removed or replaced it (logs-clean, another rotation).
    /// A stat of the path per write (at most every `check_every`).
    fn check_file(&mut self) -> std::io::Result<()> {
        let due = self.checked.is_none_or(|t| t.elapsed() >= self.check_every);
        if self.file.is_some() && !due {
            return Ok(());
        }
        self.checked = Some(std::time::Instant::now());
        let same = std::fs::metadata(&self.path)
            .map(|m| m.ino() == self.inode)
            .unwrap_or(false);
        if self.file.is_none() || !same {
            self.open()?;
        }
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        self.file = None;
        let name = |n: u32| -> PathBuf {
            let mut p = self.path.clone().into_os_string();
            p.push(format!(".{n}"));
            PathBuf::from(p)
        };
        if self.max_files == 0 {
            let _ = std::fs::remove_file(&self.path);
        } else {
            let _ = std::fs::remove_file(name(self.max_files));
            for n in (1..self.max_files).rev() {
                let _ = std::fs::rename(name(n), name(n + 1));
            }
            let _ = std::fs::rename(&self.path, name(1));
        }
        self.open()
    }

    /// Writes what is buffered to the file.
    pub fn flush(&mut self) -> std::io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        self.check_file()?;
        if let Some(f) = self.file.as_mut() {
            f.write_all(&self.out)?;
        }
        self.size += self.out.len() as u64;
        self.out.clear();
        Ok(())
    }

    /// Ends the current line: it goes to the buffer, after a rotation when it would not fit.
    fn end_line(&mut self) -> std::io::Result<()> {
        let len = (self.line.len() + 25) as u64;
        if self.file.is_none() {
            self.check_file()?;
        }
        if self.size + self.out.len() as u64 + len > self.max_size && self.size + self.out.len() as u64 > 0 {
            self.flush()?;
            self.rotate()?;
        }
        self.out.extend_from_slice(&self.line_stamp);
        self.out.extend_from_slice(&self.line);
        self.out.push(b'\n');
        self.line.clear();
        self.overwrite = false;
        if self.out.len() >= 256 * 1024 {
            self.flush()?;
        }
        Ok(())
    }

    fn push(&mut self, mut text: &[u8], now: &[u8; 24]) -> std::io::Result<()> {
        while !text.is_empty() {
            if self.overwrite {
                self.line.clear();
                self.overwrite = false;
            }
            if self.line.is_empty() {
                self.line_stamp = *now;
            }
            let room = self.cap - self.line.len();
            let take = room.min(text.len());
            self.line.extend_from_slice(&text[..take]);
            text = &text[take..];
            if self.line.len() >= self.cap {
                self.end_line()?;
            }
        }
        Ok(())
    }

    /// Feeds raw pane output that arrived at `now`.
    pub fn feed(&mut self, data: &[u8], now: &[u8; 24]) -> std::io::Result<()> {
        let mut rest = data;
        while let Some(i) = memchr::memchr2(b'\n', b'\r', rest) {
            self.push(&rest[..i], now)?;
            if rest[i] == b'\n' {
                if self.line.is_empty() && !self.overwrite {
                    self.line_stamp = *now;
                }
                self.end_line()?;
            } else {
                self.overwrite = true;
            }
            rest = &rest[i + 1..];
        }
        self.push(rest, now)
    }

    /// Writes a partial line as it is (on a pause or at the end).
    pub fn flush_partial(&mut self) -> std::io::Result<()> {
        if !self.line.is_empty() {
            self.end_line()?;
        }
        self.overwrite = false;
        self.flush()
    }

    /// Whether finished lines wait in the buffer.
    pub fn has_buffered(&self) -> bool {
        !self.out.is_empty()
    }

    /// Whether a partial line is waiting for its end.
    pub fn has_partial(&self) -> bool {
        !self.line.is_empty()
    }
}

/// The log writer of one pane (`taskmux __log PATH MAX_SIZE MAX_FILES`): reads the pane's
/// raw output on stdin until it closes, and writes timestamped lines to `path`, rotated at
/// `max_size` bytes keeping `max_files`.
pub fn write_pane_log(path: &Path, max_size: u64, max_files: u32) -> std::io::Result<()> {
    let mut w = Writer::new(path.to_path_buf(), max_size.max(1024), max_files);
    run_writer(&mut w)
}

fn run_writer(w: &mut Writer) -> std::io::Result<()> {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut buf = vec![0u8; 128 * 1024];
    loop {
        if w.has_buffered() {
            // lines held back after a full read go out as soon as nothing more is waiting
            let fd = std::io::stdin();
            let mut fds = [PollFd::new(&fd, PollFlags::IN)];
            let zero = rustix::event::Timespec { tv_sec: 0, tv_nsec: 0 };
            if matches!(rustix::event::poll(&mut fds, Some(&zero)), Ok(0)) {
                w.flush()?;
            }
        }
        if w.has_partial() {
            let fd = std::io::stdin();
            let mut fds = [PollFd::new(&fd, PollFlags::IN)];
            let timeout = rustix::event::Timespec::try_from(IDLE_FLUSH).ok();
            match rustix::event::poll(&mut fds, timeout.as_ref()) {
                Ok(0) => {
                    w.flush_partial()?;
                    continue;
                }
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let now = time::log_stamp(time::now_secs());
        w.feed(&buf[..n], &now)?;
        // a full read means more is waiting: write in larger pieces then; a short read
        // means the pane is quiet for now, so readers see its lines at once
        if n < buf.len() {
            w.flush()?;
        }
    }
    w.flush_partial()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tmx-logs-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    const T: [u8; 24] = *b"2024-01-01T14:00:00.123 ";

    #[test]
    fn splits_crlf_and_keeps_the_last_redraw() {
        let d = tmp("split");
        let p = d.join("a.log");
        let mut w = Writer::new(p.clone(), 1 << 20, 3);
        w.feed(b"one\r\ntwo\n10%\r50%\r100%\r\nx\r\r\n\r\n", &T).unwrap();
        w.feed(b"tail", &T).unwrap();
        w.flush_partial().unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<&str> = text.lines().map(|l| &l[24..]).collect();
        assert_eq!(lines, vec!["one", "two", "100%", "x", "", "tail"]);
        assert!(text.starts_with("2024-01-01T14:00:00.123 one\n"));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn rotates_without_splitting_lines() {
        let d = tmp("rotate");
        let p = d.join("a.log");
        let mut w = Writer::new(p.clone(), 2048, 2);
        for i in 0..500 {
            w.feed(format!("line {i:05} {}\n", "x".repeat(i % 70)).as_bytes(), &T)
                .unwrap();
            w.flush().unwrap();
        }
        w.flush_partial().unwrap();
        let mut names: Vec<String> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, vec!["a.log", "a.log.1", "a.log.2"]);
        for n in &names {
            let t = std::fs::read(d.join(n)).unwrap();
            assert!(t.len() <= 2048, "{n} is {} bytes", t.len());
            assert!(t.ends_with(b"\n"));
            for l in t.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                assert!(
                    l.starts_with(b"2024-") && l[24..].starts_with(b"line "),
                    "{:?}",
                    String::from_utf8_lossy(l)
                );
            }
        }
        let last = std::fs::read_to_string(&p).unwrap();
        assert!(
            last.trim_end()
                .ends_with(&format!("line 00499 {}", "x".repeat(499 % 70)))
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn long_lines_are_split_at_the_cap() {
        let d = tmp("long");
        let p = d.join("a.log");
        let mut w = Writer::new(p.clone(), 1 << 30, 1);
        let big = vec![b'y'; LINE_CAP * 3 + 10];
        for chunk in big.chunks(7000) {
            w.feed(chunk, &T).unwrap();
        }
        w.flush_partial().unwrap();
        let text = std::fs::read(&p).unwrap();
        let lines: Vec<&[u8]> = text.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0].len(), 24 + LINE_CAP);
        assert_eq!(lines[3].len(), 24 + 10);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn reopens_a_removed_file() {
        let d = tmp("reopen");
        let p = d.join("a.log");
        let mut w = Writer::new(p.clone(), 1 << 20, 1);
        w.check_every = Duration::ZERO;
        w.feed(b"before\n", &T).unwrap();
        w.flush().unwrap();
        std::fs::remove_file(&p).unwrap();
        w.feed(b"after\n", &T).unwrap();
        w.flush().unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "2024-01-01T14:00:00.123 after\n");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn pipe_command_quotes_and_escapes() {
        let c = pipe_command(Path::new("/opt/t m/taskmux"), Path::new("/l/it's #1.log"), 10, 3);
        assert_eq!(c, "exec '/opt/t m/taskmux' __log '/l/it'\\''s ##1.log' 10 3");
    }
}
