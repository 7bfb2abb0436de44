//! The log writer: where each task's log lives, the `pipe-pane` command that feeds it, and
//! the line writer that splits raw pane output into timestamped lines and rotates files
//! (the `__log` loop that feeds it is [`super::pane`]).
//!
//! Line rule: a line ends at LF (a CR LF pair is one end). A lone CR starts a redraw: the
//! text after it replaces the line so far, so a progress bar is logged once, in the state
//! it has when its line ends. A line with no end yet is written when the output pauses for
//! a second or the pane's pipe closes. A line longer than [`LINE_CAP`] is split at the cap.
//!
//! The writer never blocks the pane: when a write fails (disk full, directory gone) it
//! keeps taking input, drops what it cannot write (counted), cuts off any piece of a line
//! the failed write left, reports the failure ([`super::report`]), and starts again with a
//! whole line at the next write that works. A task's writer numbers its lines across
//! rotations in the line index ([`super::index`]).

use super::files::FileId;
use super::index;
use super::report::{Episode, TaskLog};
use crate::config::{Project, Task};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The longest line kept whole; longer output is split into lines of this size.
pub const LINE_CAP: usize = 64 * 1024;

/// The log file of a task: `log_file`, else `<state>/projects/<session>/logs/<task>.log`.
pub fn log_path(home: &Path, project: &Project, task: &Task) -> PathBuf {
    task.log_file.clone().unwrap_or_else(|| {
        crate::ctx::project_dir(home, &project.name)
            .join("logs")
            .join(format!("{}.log", task.name))
    })
}

/// A word for the shell, with `#` doubled because tmux expands formats in the command.
fn quoted(s: &str) -> String {
    crate::shell::quote(s).replace('#', "##")
}

/// The shell command `pipe-pane` runs: this very executable in `__log` mode, told its pane's
/// process (`#{pane_pid}`, expanded by tmux) so that it ends when the pane dies.
pub fn pipe_command(exe: &Path, path: &Path, max_size: u64, max_files: u32) -> String {
    format!(
        "exec {} __log {} {max_size} {max_files} --pane-pid #{{pane_pid}}",
        quoted(&exe.to_string_lossy()),
        quoted(&path.to_string_lossy())
    )
}

/// [`pipe_command`] for a task's log: the writer also reports write failures for the task
/// and keeps the log's line index.
pub fn task_pipe_command(exe: &Path, path: &Path, max_size: u64, max_files: u32, task: &TaskLog) -> String {
    format!(
        "{} --home {} --session {} --task {}",
        pipe_command(exe, path, max_size, max_files),
        quoted(&task.home.to_string_lossy()),
        quoted(&task.session),
        quoted(&task.task)
    )
}

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
    /// Lines in `out`.
    out_lines: u64,
    /// The number of the next line written, counted across rotations (the line index).
    seq: u64,
    /// The task written for: reports and the line index go with it.
    task: Option<TaskLog>,
    /// The line index, newest file first; read from disk at the first open.
    index: Option<Vec<(FileId, u64)>>,
    /// Writing fails: since when, why, and what was dropped.
    failing: Option<Episode>,
    /// A failed write left part of a line in the file: the length to cut it back to.
    torn: Option<u64>,
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
            out_lines: 0,
            seq: 0,
            task: None,
            index: None,
            failing: None,
            torn: None,
        }
    }

    /// The writer of a task's log: it reports failures and keeps the line index.
    pub fn for_task(mut self, task: TaskLog) -> Writer {
        self.task = Some(task);
        self
    }

    fn open(&mut self) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // never through a symlink someone put at the path (O_NOFOLLOW fails with ELOOP);
        // a new file is private
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&self.path)?;
        let m = f.metadata()?;
        self.inode = m.ino();
        self.size = m.len();
        self.file = Some(f);
        Ok(())
    }

    /// Opens the file (its directory made private when missing), then numbers its lines.
    fn reopen(&mut self) -> std::io::Result<()> {
        self.torn = None;
        if let Some(dir) = self.path.parent() {
            crate::paths::create_private_dir(dir)?;
        }
        self.open()?;
        self.opened();
        Ok(())
    }

    /// A file was opened: where its lines are numbered from, for a task's log. A file the
    /// index does not know (the first one, or one someone replaced) continues the count.
    fn opened(&mut self) {
        if self.task.is_none() {
            return;
        }
        let Some(m) = self.file.as_ref().and_then(|f| f.metadata().ok()) else {
            return;
        };
        let id = (m.dev(), m.ino());
        let at = self.task.as_ref().map(TaskLog::index_path).unwrap_or_default();
        let index = self.index.get_or_insert_with(|| index::read_index(&at));
        let lines = match &self.file {
            Some(f) if m.len() > 0 => index::count_lines(f, u64::MAX).unwrap_or(0),
            _ => 0,
        };
        match index::first_line(index, id) {
            Some(first) => self.seq = first + lines,
            None => {
                let first = self.seq;
                self.seq = first + lines;
                self.register(id, first);
            }
        }
    }

    /// Enters a file in the line index: its first line is number `first`.
    fn register(&mut self, id: FileId, first: u64) {
        // the files there are, plus a few gone already: a reader that opened one just
        // before it went still finds its number
        let keep = self.max_files as usize + 10;
        let index = self.index.get_or_insert_with(Vec::new);
        index.retain(|(i, _)| *i != id);
        index.insert(0, (id, first));
        index.truncate(keep);
        if let Some(t) = &self.task {
            let _ = index::write_index(&t.index_path(), index);
        }
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
            self.reopen()?;
        }
        Ok(())
    }

    /// `<path>.<n>`.
    fn numbered(&self, n: u32) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(format!(".{n}"));
        PathBuf::from(p)
    }

    /// Moves the current file to `.1` (and each `.N` up one, the oldest removed) and starts a
    /// new one. For a task, the new file is made first under a temporary name and entered in
    /// the line index, so a reader that finds it under the log's name knows its first line.
    fn rotate(&mut self) -> std::io::Result<()> {
        self.file = None;
        self.torn = None;
        let next = if self.task.is_some() { self.make_next() } else { None };
        if self.max_files == 0 {
            let _ = std::fs::remove_file(&self.path);
        } else {
            let _ = std::fs::remove_file(self.numbered(self.max_files));
            for n in (1..self.max_files).rev() {
                let _ = std::fs::rename(self.numbered(n), self.numbered(n + 1));
            }
            let _ = std::fs::rename(&self.path, self.numbered(1));
        }
        if let Some((tmp, f)) = next {
            if std::fs::rename(&tmp, &self.path).is_ok() {
                self.inode = f.metadata()?.ino();
                self.size = 0;
                self.file = Some(f);
                return Ok(());
            }
            let _ = std::fs::remove_file(&tmp);
        }
        self.reopen()
    }

    /// The next file of a task's log, made under a temporary name and entered in the index.
    fn make_next(&mut self) -> Option<(PathBuf, File)> {
        let name = self.path.file_name()?.to_string_lossy().into_owned();
        let tmp = self.path.with_file_name(format!(".{name}.next"));
        let _ = std::fs::remove_file(&tmp);
        let f = OpenOptions::new()
            .append(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&tmp)
            .ok()?;
        let m = f.metadata().ok()?;
        let seq = self.seq;
        self.register((m.dev(), m.ino()), seq);
        Some((tmp, f))
    }

    /// Writes what is buffered to the file. When that fails, it is dropped and counted.
    pub fn flush(&mut self) {
        if self.out.is_empty() {
            return;
        }
        match self.write_out() {
            Ok(()) => {
                self.size += self.out.len() as u64;
                self.seq += self.out_lines;
                if let Some(ep) = self.failing.take()
                    && let Some(t) = &self.task
                {
                    ep.end(t, &self.path);
                }
            }
            Err(e) => self.fail(&e, self.out.len() as u64),
        }
        self.out.clear();
        self.out_lines = 0;
    }

    /// One attempt to append `out`: after a failure, first cut off what it left.
    fn write_out(&mut self) -> std::io::Result<()> {
        self.check_file()?;
        let Some(f) = self.file.as_mut() else {
            return Err(std::io::Error::other("the log file is not open"));
        };
        if let Some(len) = self.torn {
            if f.set_len(len).is_err() {
                // cannot cut it off: end it, so what follows is a line of its own
                f.write_all(b"\n")?;
                self.seq += 1;
            }
            self.size = f.metadata()?.len();
            self.torn = None;
        }
        let mut done = 0;
        while done < self.out.len() {
            match f.write(&self.out[done..]) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    if done > 0 {
                        // part of a line may have landed: cut the file back to before it
                        let len = f.metadata().map(|m| m.len().saturating_sub(done as u64));
                        match len {
                            Ok(len) if f.set_len(len).is_ok() => {}
                            Ok(len) => self.torn = Some(len),
                            Err(_) => self.torn = Some(self.size),
                        }
                    }
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// A write failed: `dropped` bytes are lost. Reported once per episode, then now and then.
    fn fail(&mut self, e: &std::io::Error, dropped: u64) {
        let ep = self.failing.get_or_insert_with(|| Episode::new(e.to_string()));
        ep.error = e.to_string();
        ep.dropped += dropped;
        if let Some(t) = &self.task {
            ep.report(t, &self.path);
        }
    }

    /// What the writer could not write since writing started to fail: (error, bytes).
    #[cfg(test)]
    pub fn failure(&self) -> Option<(&str, u64)> {
        self.failing.as_ref().map(|e| (e.error.as_str(), e.dropped))
    }

    /// Ends the current line: it goes to the buffer, after a rotation when it would not fit.
    fn end_line(&mut self) {
        let len = (self.line.len() + 25) as u64;
        if self.file.is_none() {
            // a failure here shows at the flush
            let _ = self.check_file();
        }
        let pending = self.size + self.out.len() as u64;
        if pending + len > self.max_size && pending > 0 {
            self.flush();
            if let Err(e) = self.rotate() {
                self.fail(&e, 0);
            }
        }
        self.out.extend_from_slice(&self.line_stamp);
        self.out.extend_from_slice(&self.line);
        self.out.push(b'\n');
        self.out_lines += 1;
        self.line.clear();
        self.overwrite = false;
        if self.out.len() >= 256 * 1024 {
            self.flush();
        }
    }

    fn push(&mut self, mut text: &[u8], now: &[u8; 24]) {
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
                self.end_line();
            }
        }
    }

    /// Feeds raw pane output that arrived at `now`.
    pub fn feed(&mut self, data: &[u8], now: &[u8; 24]) {
        let mut rest = data;
        while let Some(i) = memchr::memchr2(b'\n', b'\r', rest) {
            self.push(&rest[..i], now);
            if rest[i] == b'\n' {
                if self.line.is_empty() && !self.overwrite {
                    self.line_stamp = *now;
                }
                self.end_line();
            } else {
                self.overwrite = true;
            }
            rest = &rest[i + 1..];
        }
        self.push(rest, now)
    }

    /// Writes a partial line as it is (on a pause or at the end).
    pub fn flush_partial(&mut self) {
        if !self.line.is_empty() {
            self.end_line();
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
        w.feed(b"one\r\ntwo\n10%\r50%\r100%\r\nx\r\r\n\r\n", &T);
        w.feed(b"tail", &T);
        w.flush_partial();
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
            w.feed(format!("line {i:05} {}\n", "x".repeat(i % 70)).as_bytes(), &T);
            w.flush();
        }
        w.flush_partial();
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
            w.feed(chunk, &T);
        }
        w.flush_partial();
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
        w.feed(b"before\n", &T);
        w.flush();
        std::fs::remove_file(&p).unwrap();
        w.feed(b"after\n", &T);
        w.flush();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "2024-01-01T14:00:00.123 after\n");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_failing_write_is_dropped_counted_and_writing_resumes() {
        let d = tmp("fail");
        let sub = d.join("sub");
        let p = sub.join("a.log");
        let mut w = Writer::new(p.clone(), 1 << 20, 1);
        w.feed(b"one\n", &T);
        w.flush();
        assert_eq!(w.failure(), None);
        // the directory becomes a file: the log cannot be opened
        std::fs::remove_dir_all(&sub).unwrap();
        std::fs::write(&sub, "").unwrap();
        w.feed(b"two\n", &T);
        w.flush();
        let (err, dropped) = w.failure().expect("the failure is kept");
        assert!(!err.is_empty());
        assert_eq!(dropped, 24 + 4, "the stamped line was dropped");
        w.feed(b"three\n", &T);
        w.flush();
        assert_eq!(w.failure().map(|f| f.1), Some(24 + 4 + 24 + 6));
        std::fs::remove_file(&sub).unwrap();
        w.feed(b"four\n", &T);
        w.flush();
        assert_eq!(w.failure(), None, "writing works again");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "2024-01-01T14:00:00.123 four\n");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn pipe_command_quotes_and_escapes() {
        let c = pipe_command(Path::new("/opt/t m/taskmux"), Path::new("/l/it's #1.log"), 10, 3);
        assert_eq!(
            c,
            "exec '/opt/t m/taskmux' __log '/l/it'\\''s ##1.log' 10 3 --pane-pid #{pane_pid}"
        );
    }
}
