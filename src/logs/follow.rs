//! `logs -f`: after what `read` shows, every new line of every task as it arrives, following
//! each task's file across rotations by identity (device and inode), without loss or
//! duplicates, and waiting for files that do not exist yet. When the writer rotates faster
//! than `-f` reads (a file made and rotated away between two looks), the lines it never saw
//! are counted with the task's line index ([`super::index`]) and reported in their place.

use super::files::{
    BLOCK, FileId, Opened, complete_len, file_id, for_each_line, open_file, open_rotated, open_set, read_at,
};
use super::filter::grep_matches;
use super::index::{count_lines, first_line, read_index};
use super::merge::merge;
use super::read::collect_source;
use super::types::{Line, Query, Source, lost_line, make_line};
use crate::error::{Error, Result};
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often `follow` looks at the files.
const POLL: Duration = Duration::from_millis(50);

/// What a followed file gives: a line, or the count of lines lost before it.
enum Item<'a> {
    Line(&'a [u8]),
    Lost(u64),
}

/// Where the sink of a followed task goes; false means stop.
type Sink<'s> = dyn FnMut(Item) -> bool + 's;

/// The newest file of a task being followed: what is read, and the unfinished last line.
struct Cur {
    path: PathBuf,
    file: File,
    id: FileId,
    pos: u64,
    partial: Vec<u8>,
    /// The number of its first line in the line index, when known.
    first: Option<u64>,
    /// Lines of it before `pos` (read or skipped).
    lines: u64,
}

impl Cur {
    fn at_end(o: Opened) -> Cur {
        Cur {
            path: o.path,
            file: o.file,
            id: o.id,
            pos: o.len,
            partial: Vec::new(),
            first: None,
            lines: 0,
        }
    }

    /// The number of the line after the last one read, when the index numbers this file.
    fn next_line(&self) -> Option<u64> {
        self.first.map(|f| f + self.lines)
    }

    /// Sends every new complete line to `sink`; `last` also sends an unfinished final line
    /// (the file has been rotated away and will not grow). False when the sink says stop.
    fn drain(&mut self, buf: &mut [u8], last: bool, sink: &mut Sink) -> Result<bool> {
        loop {
            let n = read_at(&self.file, buf, self.pos).map_err(|e| Error::io("read", &self.path, e))?;
            if n == 0 {
                break;
            }
            self.pos += n as u64;
            let mut start = 0;
            for i in (0..n).filter(|&i| buf[i] == b'\n') {
                self.lines += 1;
                let go = if self.partial.is_empty() {
                    sink(Item::Line(&buf[start..i]))
                } else {
                    self.partial.extend_from_slice(&buf[start..i]);
                    let line = std::mem::take(&mut self.partial);
                    sink(Item::Line(&line))
                };
                if !go {
                    return Ok(false);
                }
                start = i + 1;
            }
            self.partial.extend_from_slice(&buf[start..n]);
        }
        if last && !self.partial.is_empty() {
            self.lines += 1;
            let line = std::mem::take(&mut self.partial);
            return Ok(sink(Item::Line(&line)));
        }
        Ok(true)
    }
}

/// Reports the lines between `expect` (the number due next) and `first` (where the next file
/// read starts), when the index knows both. False when the sink says stop.
fn report_gap(expect: Option<u64>, first: Option<u64>, sink: &mut Sink) -> bool {
    match (expect, first) {
        (Some(e), Some(f)) if f > e => sink(Item::Lost(f - e)),
        _ => true,
    }
}

/// One followed task.
struct Watch<'a> {
    task: &'a str,
    base: &'a Path,
    index: Option<&'a Path>,
    cur: Option<Cur>,
}

impl Watch<'_> {
    /// The line index of the task: empty without one.
    fn entries(&self) -> Vec<(FileId, u64)> {
        self.index.map(read_index).unwrap_or_default()
    }

    /// Reads what is new, following a rotation. False when the sink says stop.
    fn poll(&mut self, buf: &mut [u8], sink: &mut Sink) -> Result<bool> {
        if let Some(c) = &mut self.cur
            && !c.drain(buf, false, sink)?
        {
            return Ok(false);
        }
        let meta = match fs::metadata(self.base) {
            Ok(m) => m,
            // Missing: not created yet, or between the rename and the new file.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
            Err(e) => return Err(Error::io("read", self.base, e)),
        };
        if let Some(c) = &mut self.cur
            && c.id == file_id(&meta)
        {
            if meta.len() < c.pos {
                // Truncated in place: start over.
                c.pos = 0;
                c.lines = 0;
                c.partial.clear();
            }
            return Ok(true);
        }
        self.switch(buf, sink)
    }

    /// The base path is a new file: finish the old one, read any rotated files newer than it,
    /// then continue from the start of the new one. Lines of files rotated away unread are
    /// reported where they were.
    fn switch(&mut self, buf: &mut [u8], sink: &mut Sink) -> Result<bool> {
        let Some(new) = open_file(self.base)? else {
            return Ok(true);
        };
        // the index is read at once after each open, while the writer still lists the file
        // (it lists a file before it shows it, and the last few after they are gone)
        let new_first = first_line(&self.entries(), new.id);
        let old_id = self.cur.as_ref().map(|c| c.id);
        if old_id == Some(new.id) {
            return Ok(true);
        }
        // Kept open to the end: while it is open its inode cannot be reused.
        let mut old = self.cur.take();
        if let Some(c) = &mut old
            && !c.drain(buf, true, sink)?
        {
            return Ok(false);
        }
        // The rotated files newer than the old one (all of them if it is gone or we had none),
        // but not those rotated after `new` was opened: they come after it, at the next switch.
        let mut between: Vec<Opened> = open_rotated(self.base, old_id)?
            .into_iter()
            .take_while(|o| Some(o.id) != old_id)
            .collect();
        if let Some(p) = between.iter().position(|o| o.id == new.id) {
            between.drain(..=p);
        }
        let entries = self.entries();
        let first_of = |o: &Opened| first_line(&entries, o.id);
        if let Some(nf) = new_first
            && between.iter().all(|o| first_of(o).is_some())
        {
            // a scan racing rotations may have met files newer than `new` without meeting
            // `new` itself (already rotated away): those come after it, at the next switch
            between.retain(|o| first_of(o) < Some(nf));
            between.sort_by_key(|o| std::cmp::Reverse(first_of(o)));
        }
        let mut expect = old.as_ref().and_then(Cur::next_line);
        for o in between.iter().rev() {
            let first = first_of(o);
            if !report_gap(expect, first, sink) {
                return Ok(false);
            }
            let (mut go, mut count) = (true, 0);
            for_each_line(o, &mut |l| {
                count += 1;
                go = go && sink(Item::Line(l));
            })?;
            if !go {
                return Ok(false);
            }
            expect = first.map(|f| f + count);
        }
        let first = new_first;
        if !report_gap(expect, first, sink) {
            return Ok(false);
        }
        let mut cur = Cur::at_end(new);
        cur.pos = 0;
        cur.first = first;
        let go = cur.drain(buf, false, sink)?;
        self.cur = Some(cur);
        Ok(go)
    }
}

/// Emits what `read` returns for `q`, then every new complete line of every source (filtered by
/// `grep` and `since`) in arrival order, within 100 ms, across rotations, without duplicates.
/// Lines rotated away before they could be read are reported in their place, with their
/// count ([`Line::lost`]). Files not yet created are waited for. Returns when `emit` returns
/// false.
#[cfg(test)]
pub fn follow(sources: &[Source], q: &Query, emit: &mut dyn FnMut(&Line) -> bool) -> Result<()> {
    follow_while(sources, q, emit, &|| true)
}

/// [`follow`] that also returns, between two looks at the files, once `keep_going` says
/// false: for a follower whose reader may go away while nothing is written.
pub fn follow_while(
    sources: &[Source],
    q: &Query,
    emit: &mut dyn FnMut(&Line) -> bool,
    keep_going: &dyn Fn() -> bool,
) -> Result<()> {
    let mut watches = Vec::with_capacity(sources.len());
    let mut per = Vec::with_capacity(sources.len());
    for s in sources {
        let (base, rot) = open_set(&s.path)?;
        let base = match base {
            Some(mut b) => {
                // An unfinished last line is emitted when it completes.
                b.len = complete_len(&b)?;
                Some(b)
            }
            None => None,
        };
        let entries = s.index.as_deref().map(read_index).unwrap_or_default();
        let files: Vec<&Opened> = base.iter().chain(rot.iter()).collect();
        per.push(collect_source(&s.task, &files, q)?);
        let mut cur = base.or_else(|| rot.into_iter().next()).map(Cur::at_end);
        if let Some(c) = &mut cur {
            c.first = first_line(&entries, c.id);
            if c.first.is_some() {
                c.lines = count_lines(&c.file, c.pos).map_err(|e| Error::io("read", &c.path, e))?;
            }
        }
        watches.push(Watch {
            task: &s.task,
            base: &s.path,
            index: s.index.as_deref(),
            cur,
        });
    }
    for line in merge(per, q.tail) {
        if !emit(&line) {
            return Ok(());
        }
    }
    let mut buf = vec![0u8; BLOCK];
    loop {
        for w in &mut watches {
            let task = w.task;
            let mut sink = |item: Item| {
                let b = match item {
                    Item::Lost(n) => return emit(&lost_line(task, n)),
                    Item::Line(b) => b,
                };
                if let Some(re) = &q.grep
                    && !grep_matches(re, b)
                {
                    return true;
                }
                let line = make_line(task, b);
                if let Some(since) = q.since
                    && line.ts < since
                {
                    return true;
                }
                emit(&line)
            };
            if !w.poll(&mut buf, &mut sink)? {
                return Ok(());
            }
        }
        if !keep_going() {
            return Ok(());
        }
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::testutil::*;
    use std::io::Write;
    use std::sync::mpsc;
    use std::time::Instant;

    /// Runs `follow` in a thread until it has seen `want` lines; fails after 20 s.
    fn follow_collect(s: Vec<Source>, q: Query, want: usize) -> mpsc::Receiver<Vec<Line>> {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            let r = follow(&s, &q, &mut |l| {
                seen.push(l.clone());
                seen.len() < want
            });
            r.unwrap();
            let _ = tx.send(seen);
        });
        rx
    }

    fn append(path: &Path, text: &[u8]) {
        let mut f = fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
        f.write_all(text).unwrap();
    }

    fn rotate(base: &Path, keep: usize) {
        let name = |n: usize| PathBuf::from(format!("{}.{n}", base.display()));
        let _ = fs::remove_file(name(keep));
        for n in (1..keep).rev() {
            if name(n).exists() {
                fs::rename(name(n), name(n + 1)).unwrap();
            }
        }
        fs::rename(base, name(1)).unwrap();
        File::create(base).unwrap();
    }

    fn line_at(i: usize) -> String {
        format!("{} n{i}\n", stamp(T0 + i as f64))
    }

    #[test]
    fn follow_across_rotations() {
        let d = TempDir::new("follow");
        let base = d.path("f.log");
        // Two lines exist already; follow starts with the last one (tail 1), and a partial
        // line that completes later must be emitted once.
        append(&base, format!("{}{}", line_at(0), line_at(1)).as_bytes());
        let partial = line_at(2);
        append(&base, &partial.as_bytes()[..10]);
        let total = 60;
        let q = Query {
            tail: Some(1),
            ..Query::default()
        };
        let rx = follow_collect(vec![src("f", base.clone())], q, total - 1);
        let writer = {
            let base = base.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(120));
                append(&base, &partial.as_bytes()[10..]);
                let mut i = 3;
                for round in 0..6 {
                    for _ in 0..5 {
                        append(&base, line_at(i).as_bytes());
                        i += 1;
                    }
                    // Lines written just before the rename are drained from the old file.
                    rotate(&base, 2);
                    if round % 2 == 0 {
                        // Sometimes two rotations between polls.
                        append(&base, line_at(i).as_bytes());
                        i += 1;
                        rotate(&base, 2);
                    }
                    for _ in 0..3 {
                        append(&base, line_at(i).as_bytes());
                        i += 1;
                    }
                    std::thread::sleep(Duration::from_millis(if round % 2 == 0 { 5 } else { 130 }));
                }
                while i < total {
                    append(&base, line_at(i).as_bytes());
                    i += 1;
                }
            })
        };
        let seen = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("follow did not finish in time");
        writer.join().unwrap();
        let want: Vec<String> = (1..total).map(|i| format!("n{i}")).collect();
        assert_eq!(texts(&seen), want);
    }

    #[test]
    fn follow_waits_for_files_and_filters() {
        let d = TempDir::new("followwait");
        let a = d.path("a.log");
        let b = d.path("b.log");
        let q = Query {
            tail: Some(10),
            grep: re("keep"),
            ..Query::default()
        };
        let rx = follow_collect(vec![src("a", a.clone()), src("b", b.clone())], q, 3);
        std::thread::sleep(Duration::from_millis(120));
        let started = Instant::now();
        append(&a, format!("{} keep a1\n{} drop a2\n", stamp(T0), stamp(T0)).as_bytes());
        append(&b, format!("{} KEEP \x1b[1mb1\x1b[0m\n", stamp(T0)).as_bytes());
        append(&a, format!("{} keep a3\n", stamp(T0)).as_bytes());
        let seen = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("follow did not finish in time");
        assert!(started.elapsed() < Duration::from_millis(1000));
        let got: Vec<(String, String)> = seen
            .iter()
            .map(|l| (l.task.clone(), texts(std::slice::from_ref(l))[0].clone()))
            .collect();
        assert_eq!(
            got,
            [
                ("a".to_owned(), "keep a1".to_owned()),
                ("a".to_owned(), "keep a3".to_owned()),
                ("b".to_owned(), "KEEP \x1b[1mb1\x1b[0m".to_owned()),
            ]
        );
    }

    #[test]
    fn follow_many_fast_rotations() {
        // A rotation every ~2 KB, often several between two polls; some lines written in pieces.
        let d = TempDir::new("stress");
        let base = d.path("s.log");
        let total = 12_000;
        let (tx, rx) = mpsc::channel();
        {
            let base = base.clone();
            std::thread::spawn(move || {
                let s = vec![src("s", base)];
                let mut count = 0;
                let _ = follow(&s, &Query::default(), &mut |l| {
                    count += 1;
                    tx.send(l.clone()).is_ok() && count < total
                });
            });
        }
        let writer = {
            let base = base.clone();
            std::thread::spawn(move || {
                let open = || fs::OpenOptions::new().create(true).append(true).open(&base).unwrap();
                let mut f = open();
                let mut size = 0;
                for i in 0..total {
                    let l = line_at(i);
                    if i % 7 == 0 {
                        f.write_all(&l.as_bytes()[..5]).unwrap();
                        f.write_all(&l.as_bytes()[5..]).unwrap();
                    } else {
                        f.write_all(l.as_bytes()).unwrap();
                    }
                    size += l.len();
                    if size > 2048 {
                        rotate(&base, 400);
                        f = open();
                        size = 0;
                    }
                    if i % 200 == 0 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            })
        };
        let mut seen = Vec::new();
        while seen.len() < total {
            match rx.recv_timeout(Duration::from_secs(5)) {
                Ok(l) => seen.push(l),
                Err(_) => break,
            }
        }
        writer.join().unwrap();
        let got = texts(&seen);
        let first_bad = got.iter().enumerate().find(|(k, t)| **t != format!("n{k}"));
        assert!(
            first_bad.is_none() && got.len() == total,
            "{} lines, first wrong: {first_bad:?}",
            got.len()
        );
    }
}
