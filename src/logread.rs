//! Reading task logs: `logs` (`-n`, `-g`/`-C`, `--since`, interleaving by time), `logs -f` across
//! rotations, and `logs-clean`. Works on the files alone, so logs outlive the tmux session.

use crate::error::{Error, Result};
use crate::time;
use regex::Regex;
use std::borrow::Cow;
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Block size for reading files backwards and for draining followed files.
const BLOCK: usize = 64 * 1024;
/// How often `follow` looks at the files.
const POLL: Duration = Duration::from_millis(50);

/// One task's log: its name and the base `.log` path (rotated files are `<path>.1` … `<path>.N`).
#[derive(Debug, Clone)]
pub struct Source {
    /// The task the lines belong to.
    pub task: String,
    /// The current log file; `.1` (newest rotated) to `.N` (oldest) sit next to it.
    pub path: PathBuf,
}

/// One log line.
#[derive(Debug, Clone)]
pub struct Line {
    /// The task it came from.
    pub task: String,
    /// Its timestamp in seconds since the epoch, NaN when the prefix does not parse.
    pub ts: f64,
    /// The whole line without its newline, timestamp included, escape codes kept, lossy UTF-8.
    pub raw: String,
}

/// What to read.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Only the last N lines (after the other filters).
    pub tail: Option<usize>,
    /// Keep lines whose visible text (after the timestamp, escape codes removed) matches.
    pub grep: Option<Regex>,
    /// With `grep`: also keep up to this many lines before and after each match.
    pub context: usize,
    /// Keep lines stamped at or after this time (epoch seconds).
    pub since: Option<f64>,
}

const SINCE_FORMS: &str = "a duration such as 30s, 5m, 1h30m or 2d (units s, m, h, d, w), or an ISO time such as \
2024-01-01T14:00, 2024-01-01T14:00:00, 2024-01-01 14:00:00 or 2024-01-01 (UTC unless it ends in Z or +HH:MM)";

/// Parses a `--since` value: a duration back from `now` (`30s`, `5m`, `1h30m`, `1h 30m`, `2d`)
/// or an ISO time (zone-less means UTC). A bad value is E500 naming it and the accepted forms.
pub fn parse_since(s: &str, now: f64) -> Result<f64> {
    let t = s.trim();
    if let Some(d) = parse_duration(t) {
        return Ok(now - d);
    }
    if let Some(ts) = time::parse_iso(t) {
        return Ok(ts);
    }
    Err(
        Error::new("E500", format!("invalid --since value '{s}': expected {SINCE_FORMS}"))
            .hint("try --since 10m or --since 2024-01-01T14:00"),
    )
}

/// A sum of `<number><unit>` terms, spaces allowed between them.
fn parse_duration(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut total = 0.0;
    let mut terms = 0;
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == b.len() {
            break;
        }
        let start = i;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
            i += 1;
        }
        let num: f64 = s.get(start..i)?.parse().ok()?;
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        let ustart = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = s.get(ustart..i)?.to_ascii_lowercase();
        let mult = match unit.as_str() {
            "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
            "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3600.0,
            "d" | "day" | "days" => 86_400.0,
            "w" | "week" | "weeks" => 604_800.0,
            _ => return None,
        };
        total += num * mult;
        terms += 1;
    }
    (terms > 0 && total.is_finite()).then_some(total)
}

/// The timestamp prefix of a log line (`YYYY-MM-DDTHH:MM:SS.mmm `) in epoch seconds.
pub fn parse_ts(line: &[u8]) -> Option<f64> {
    time::parse_log_stamp(line).map(|(ts, _)| ts)
}

fn is_dropped_control(c: char) -> bool {
    (c < ' ' && c != '\t') || c == '\x7f' || ('\u{80}'..='\u{9f}').contains(&c)
}

/// Removes terminal escape sequences: CSI (`ESC [` … final byte), OSC/DCS/APC/PM/SOS strings
/// (ended by BEL or `ESC \`), other ESC sequences, and every other control character but TAB.
pub fn strip_ansi(s: &str) -> String {
    if !s.chars().any(is_dropped_control) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        let kind = match c {
            '\x1b' => match it.next() {
                Some('[') => '[',
                Some(']' | 'P' | 'X' | '^' | '_') => ']',
                Some(' '..='/') => {
                    // nF: intermediates, then one final byte.
                    while it.next_if(|d| (' '..='/').contains(d)).is_some() {}
                    it.next_if(|d| ('0'..='~').contains(d));
                    continue;
                }
                _ => continue,
            },
            '\u{9b}' => '[',
            '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => ']',
            c if is_dropped_control(c) => continue,
            c => {
                out.push(c);
                continue;
            }
        };
        if kind == '[' {
            while it.next_if(|d| (' '..='?').contains(d)).is_some() {}
            it.next_if(|d| ('@'..='~').contains(d));
        } else {
            while let Some(d) = it.next() {
                match d {
                    '\x07' | '\u{9c}' => break,
                    '\x1b' => {
                        it.next_if_eq(&'\\');
                        break;
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

/// The text a person sees: after the timestamp, escape codes removed.
fn visible(raw: &str) -> Cow<'_, str> {
    let text = match time::parse_log_stamp(raw.as_bytes()) {
        Some((_, off)) => raw.get(off..).unwrap_or(raw),
        None => raw,
    };
    if text.chars().any(is_dropped_control) {
        Cow::Owned(strip_ansi(text))
    } else {
        Cow::Borrowed(text)
    }
}

fn grep_matches(re: &Regex, bytes: &[u8]) -> bool {
    re.is_match(&visible(&String::from_utf8_lossy(bytes)))
}

fn make_line(task: &str, bytes: &[u8]) -> Line {
    Line {
        task: task.to_owned(),
        ts: parse_ts(bytes).unwrap_or(f64::NAN),
        raw: String::from_utf8_lossy(bytes).into_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// Files

type FileId = (u64, u64);

fn file_id(m: &fs::Metadata) -> FileId {
    (m.dev(), m.ino())
}

/// An open log file, read up to `len`.
struct Opened {
    path: PathBuf,
    file: File,
    id: FileId,
    len: u64,
}

#[cfg(test)]
thread_local! {
    static BYTES_READ: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

fn count_read(_n: usize) {
    #[cfg(test)]
    BYTES_READ.with(|c| c.set(c.get() + _n as u64));
}

fn read_at(file: &File, buf: &mut [u8], pos: u64) -> io::Result<usize> {
    loop {
        match file.read_at(buf, pos) {
            Ok(n) => {
                count_read(n);
                return Ok(n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Opens a log file; `None` when it does not exist (or is not a regular file).
fn open_file(path: &Path) -> Result<Option<Opened>> {
    match File::open(path) {
        Ok(file) => {
            let m = file.metadata().map_err(|e| Error::io("read", path, e))?;
            if !m.is_file() {
                return Ok(None);
            }
            Ok(Some(Opened {
                path: path.to_path_buf(),
                id: file_id(&m),
                len: m.len(),
                file,
            }))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("open", path, e)),
    }
}

/// The rotated files of a base path with their numbers, newest first (`.1`, `.2`, …).
fn rotated_paths(base: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let Some(name) = base.file_name() else {
        return Ok(Vec::new());
    };
    let dir = match base.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("list", dir, e)),
    };
    let prefix = name.as_bytes();
    let mut found: Vec<(u64, PathBuf)> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list", dir, e))?;
        let fname = entry.file_name();
        let fb = fname.as_bytes();
        let Some(rest) = fb.strip_prefix(prefix).and_then(|r| r.strip_prefix(b".")) else {
            continue;
        };
        if rest.is_empty() || rest.len() > 9 || rest[0] == b'0' || !rest.iter().all(u8::is_ascii_digit) {
            continue;
        }
        let n = rest.iter().fold(0u64, |acc, &c| acc * 10 + u64::from(c - b'0'));
        found.push((n, dir.join(&fname)));
    }
    found.sort_by_key(|(n, _)| *n);
    Ok(found)
}

/// `<base>.<n>`.
fn numbered(base: &Path, n: u64) -> PathBuf {
    let mut s = base.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// Opens the rotated files newest first, up to and including `stop_at` when met. A rotation
/// moves every file up one number, so a scan racing it may meet a file twice (kept once), may
/// have listed the directory with a number missing, and must look past the highest number it
/// listed until a number is missing. So every number from 1 up is tried (plus any listed ones
/// beyond a dense run, such as a stray `.log.500`).
fn open_rotated(base: &Path, stop_at: Option<FileId>) -> Result<Vec<Opened>> {
    let listed = rotated_paths(base)?;
    let dense = listed.len() as u64 + 8;
    let mut numbers: Vec<u64> = (1..=dense).chain(listed.iter().map(|(n, _)| *n)).collect();
    numbers.sort_unstable();
    numbers.dedup();
    let mut out: Vec<Opened> = Vec::new();
    let mut n = 0;
    let mut numbers = numbers.into_iter();
    loop {
        // Past the last candidate, probe upwards until a number is missing.
        let probing = match numbers.next() {
            Some(next) => {
                n = next;
                false
            }
            None => {
                n += 1;
                true
            }
        };
        let Some(o) = open_file(&numbered(base, n))? else {
            if probing {
                return Ok(out);
            }
            continue;
        };
        if out.iter().any(|x| x.id == o.id) {
            continue;
        }
        let stop = Some(o.id) == stop_at;
        out.push(o);
        if stop {
            return Ok(out);
        }
    }
}

/// Opens the base file first, then the rotated ones newest first, skipping any file already
/// opened (a rotation during the scan shows the same file under two names).
fn open_set(base: &Path) -> Result<(Option<Opened>, Vec<Opened>)> {
    let b = open_file(base)?;
    let mut rot = open_rotated(base, None)?;
    if let Some(b) = &b {
        rot.retain(|o| o.id != b.id);
    }
    Ok((b, rot))
}

/// Reads `[start, start+len)`, shorter if the file ends first.
fn read_region(o: &Opened, start: u64, len: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let mut got = 0;
    while got < len {
        let n = read_at(&o.file, &mut buf[got..], start + got as u64).map_err(|e| Error::io("read", &o.path, e))?;
        if n == 0 {
            break;
        }
        got += n;
    }
    buf.truncate(got);
    Ok(buf)
}

/// The offset just past the last newline within `o.len` (0 if none).
fn complete_len(o: &Opened) -> Result<u64> {
    let mut end = o.len;
    while end > 0 {
        let start = end.saturating_sub(BLOCK as u64);
        let chunk = read_region(o, start, (end - start) as usize)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// The last `k` lines of a file (a final line without newline counts), reading backwards in blocks.
fn tail_file(o: &Opened, k: usize) -> Result<Vec<Vec<u8>>> {
    if k == 0 || o.len == 0 {
        return Ok(Vec::new());
    }
    let mut start = o.len;
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    let mut newlines = 0usize;
    let mut ends_nl = None;
    while start > 0 {
        let s = start.saturating_sub(BLOCK as u64);
        let block = read_region(o, s, (start - s) as usize)?;
        let ends = *ends_nl.get_or_insert(block.last() == Some(&b'\n'));
        newlines += block.iter().filter(|&&b| b == b'\n').count();
        blocks.push(block);
        start = s;
        if newlines >= k + usize::from(ends) {
            break;
        }
    }
    let data: Vec<u8> = blocks.iter().rev().flatten().copied().collect();
    let mut body: &[u8] = &data;
    if start > 0 {
        // The region starts inside a line: skip that partial line.
        match body.iter().position(|&b| b == b'\n') {
            Some(i) => body = &body[i + 1..],
            None => return Ok(Vec::new()),
        }
    }
    if let Some(stripped) = body.strip_suffix(b"\n") {
        body = stripped;
    }
    let lines: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
    Ok(lines[lines.len().saturating_sub(k)..]
        .iter()
        .map(|l| l.to_vec())
        .collect())
}

/// Calls `f` with every line of the file within `o.len`, a final line without newline included.
fn for_each_line(o: &Opened, f: &mut dyn FnMut(&[u8])) -> Result<()> {
    struct At<'a> {
        o: &'a Opened,
        pos: u64,
    }
    impl Read for At<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let left = self.o.len.saturating_sub(self.pos);
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            if want == 0 {
                return Ok(0);
            }
            let n = read_at(&self.o.file, &mut buf[..want], self.pos)?;
            self.pos += n as u64;
            Ok(n)
        }
    }
    let mut r = BufReader::with_capacity(BLOCK, At { o, pos: 0 });
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = r
            .read_until(b'\n', &mut buf)
            .map_err(|e| Error::io("read", &o.path, e))?;
        if n == 0 {
            return Ok(());
        }
        if buf.last() == Some(&b'\n') {
            buf.pop();
        }
        f(&buf);
    }
}

// ---------------------------------------------------------------------------------------------
// Reading

/// A line with the time used to order it: its own, or the last one seen before it in its file.
struct Entry {
    eff: f64,
    line: Line,
}

/// Applies `since`, `grep` with context and `tail` to one task's lines, in file order.
struct Collector<'a> {
    task: &'a str,
    q: &'a Query,
    last_ts: f64,
    before: VecDeque<Entry>,
    after: usize,
    out: VecDeque<Entry>,
}

impl<'a> Collector<'a> {
    fn new(task: &'a str, q: &'a Query) -> Self {
        Collector {
            task,
            q,
            last_ts: f64::NEG_INFINITY,
            before: VecDeque::new(),
            after: 0,
            out: VecDeque::new(),
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        let ts = parse_ts(bytes);
        let eff = match ts {
            Some(t) => {
                self.last_ts = t;
                t
            }
            None => self.last_ts,
        };
        if let Some(since) = self.q.since
            && eff < since
        {
            return;
        }
        let Some(re) = &self.q.grep else {
            self.keep(Entry {
                eff,
                line: make_line(self.task, bytes),
            });
            return;
        };
        if grep_matches(re, bytes) {
            while let Some(e) = self.before.pop_front() {
                self.keep(e);
            }
            self.keep(Entry {
                eff,
                line: make_line(self.task, bytes),
            });
            self.after = self.q.context;
        } else if self.after > 0 {
            self.after -= 1;
            self.keep(Entry {
                eff,
                line: make_line(self.task, bytes),
            });
        } else if self.q.context > 0 {
            if self.before.len() == self.q.context {
                self.before.pop_front();
            }
            self.before.push_back(Entry {
                eff,
                line: make_line(self.task, bytes),
            });
        }
    }

    fn keep(&mut self, e: Entry) {
        self.out.push_back(e);
        if let Some(n) = self.q.tail
            && self.out.len() > n
        {
            self.out.pop_front();
        }
    }
}

/// Leading lines with no known time take the first time that follows them.
fn backfill(entries: &mut VecDeque<Entry>) {
    if let Some(first) = entries.iter().map(|e| e.eff).find(|t| t.is_finite()) {
        for e in entries.iter_mut().take_while(|e| !e.eff.is_finite()) {
            e.eff = first;
        }
    }
}

/// One task's lines for a query; `newest_first` is the base file then `.1`, `.2`, ….
fn collect_source(task: &str, newest_first: &[&Opened], q: &Query) -> Result<VecDeque<Entry>> {
    let mut out = match (q.tail, &q.grep, q.since) {
        (Some(n), None, None) => {
            // Fast path: read backwards, only as far as needed.
            let mut chunks = Vec::new();
            let mut have = 0;
            for o in newest_first {
                if have >= n {
                    break;
                }
                let lines = tail_file(o, n - have)?;
                have += lines.len();
                chunks.push(lines);
            }
            let mut last = f64::NEG_INFINITY;
            chunks
                .iter()
                .rev()
                .flatten()
                .map(|b| {
                    let line = make_line(task, b);
                    if line.ts.is_finite() {
                        last = line.ts;
                    }
                    Entry { eff: last, line }
                })
                .collect()
        }
        _ => {
            let mut col = Collector::new(task, q);
            for o in newest_first.iter().rev() {
                if let Some(since) = q.since {
                    // A file whose last line is older than `since` holds nothing to show.
                    if let Some(ts) = tail_file(o, 1)?.first().and_then(|l| parse_ts(l))
                        && ts < since
                    {
                        col.last_ts = ts;
                        continue;
                    }
                }
                for_each_line(o, &mut |l| col.push(l))?;
            }
            col.out
        }
    };
    backfill(&mut out);
    Ok(out)
}

#[derive(PartialEq)]
struct Head {
    eff: f64,
    src: usize,
}

impl Eq for Head {}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Head {
    fn cmp(&self, other: &Self) -> Ordering {
        self.eff.total_cmp(&other.eff).then(self.src.cmp(&other.src))
    }
}

/// Stable k-way merge by time (ties: source order; each source keeps its own order), then tail.
fn merge(mut per: Vec<VecDeque<Entry>>, tail: Option<usize>) -> Vec<Line> {
    let total: usize = per.iter().map(VecDeque::len).sum();
    let mut out = Vec::with_capacity(total);
    if per.len() == 1 {
        out.extend(per.iter_mut().flat_map(|d| d.drain(..)).map(|e| e.line));
    } else {
        let mut heap: BinaryHeap<Reverse<Head>> = per
            .iter()
            .enumerate()
            .filter_map(|(src, d)| d.front().map(|e| Reverse(Head { eff: e.eff, src })))
            .collect();
        while let Some(Reverse(Head { src, .. })) = heap.pop() {
            if let Some(e) = per[src].pop_front() {
                out.push(e.line);
            }
            if let Some(e) = per[src].front() {
                heap.push(Reverse(Head { eff: e.eff, src }));
            }
        }
    }
    if let Some(n) = tail
        && out.len() > n
    {
        out.drain(..out.len() - n);
    }
    out
}

/// Reads the logs of `sources` (rotated files too, oldest first), filtered by `q`; several
/// sources interleave by timestamp. With only `tail` set, files are read from the end.
pub fn read(sources: &[Source], q: &Query) -> Result<Vec<Line>> {
    let mut per = Vec::with_capacity(sources.len());
    for s in sources {
        let (base, rot) = open_set(&s.path)?;
        let files: Vec<&Opened> = base.iter().chain(rot.iter()).collect();
        per.push(collect_source(&s.task, &files, q)?);
    }
    Ok(merge(per, q.tail))
}

// ---------------------------------------------------------------------------------------------
// Following

/// The newest file of a task being followed: what is read, and the unfinished last line.
struct Cur {
    path: PathBuf,
    file: File,
    id: FileId,
    pos: u64,
    partial: Vec<u8>,
}

impl Cur {
    fn at_end(o: Opened) -> Cur {
        Cur {
            path: o.path,
            file: o.file,
            id: o.id,
            pos: o.len,
            partial: Vec::new(),
        }
    }

    /// Sends every new complete line to `sink`; `last` also sends an unfinished final line
    /// (the file has been rotated away and will not grow). False when the sink says stop.
    fn drain(&mut self, buf: &mut [u8], last: bool, sink: &mut dyn FnMut(&[u8]) -> bool) -> Result<bool> {
        loop {
            let n = read_at(&self.file, buf, self.pos).map_err(|e| Error::io("read", &self.path, e))?;
            if n == 0 {
                break;
            }
            self.pos += n as u64;
            let mut start = 0;
            for i in (0..n).filter(|&i| buf[i] == b'\n') {
                let go = if self.partial.is_empty() {
                    sink(&buf[start..i])
                } else {
                    self.partial.extend_from_slice(&buf[start..i]);
                    let line = std::mem::take(&mut self.partial);
                    sink(&line)
                };
                if !go {
                    return Ok(false);
                }
                start = i + 1;
            }
            self.partial.extend_from_slice(&buf[start..n]);
        }
        if last && !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            return Ok(sink(&line));
        }
        Ok(true)
    }
}

/// One followed task.
struct Watch<'a> {
    task: &'a str,
    base: &'a Path,
    cur: Option<Cur>,
}

impl Watch<'_> {
    /// Reads what is new, following a rotation. False when the sink says stop.
    fn poll(&mut self, buf: &mut [u8], sink: &mut dyn FnMut(&[u8]) -> bool) -> Result<bool> {
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
                c.partial.clear();
            }
            return Ok(true);
        }
        self.switch(buf, sink)
    }

    /// The base path is a new file: finish the old one, read any rotated files newer than it,
    /// then continue from the start of the new one.
    fn switch(&mut self, buf: &mut [u8], sink: &mut dyn FnMut(&[u8]) -> bool) -> Result<bool> {
        let Some(new) = open_file(self.base)? else {
            return Ok(true);
        };
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
        for o in between.iter().rev() {
            let mut go = true;
            for_each_line(o, &mut |l| go = go && sink(l))?;
            if !go {
                return Ok(false);
            }
        }
        let mut cur = Cur::at_end(new);
        cur.pos = 0;
        let go = cur.drain(buf, false, sink)?;
        self.cur = Some(cur);
        Ok(go)
    }
}

/// Emits what `read` returns for `q`, then every new complete line of every source (filtered by
/// `grep` and `since`) in arrival order, within 100 ms, across rotations, without loss or
/// duplicates. Files not yet created are waited for. Returns when `emit` returns false.
pub fn follow(sources: &[Source], q: &Query, emit: &mut dyn FnMut(&Line) -> bool) -> Result<()> {
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
        let files: Vec<&Opened> = base.iter().chain(rot.iter()).collect();
        per.push(collect_source(&s.task, &files, q)?);
        let cur = base.or_else(|| rot.into_iter().next()).map(Cur::at_end);
        watches.push(Watch {
            task: &s.task,
            base: &s.path,
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
            let mut sink = |b: &[u8]| {
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
        std::thread::sleep(POLL);
    }
}

/// Deletes every log file of `sources` (`.log` and each `.log.N`); returns how many it deleted.
pub fn clean(sources: &[Source]) -> Result<usize> {
    let mut deleted = 0;
    for s in sources {
        let mut paths = vec![s.path.clone()];
        paths.extend(rotated_paths(&s.path)?.into_iter().map(|(_, p)| p));
        for p in paths {
            match fs::remove_file(&p) {
                Ok(()) => deleted += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("delete", &p, e)),
            }
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::iso_time;
    use std::io::Write;
    use std::sync::mpsc;
    use std::time::Instant;

    /// 2024-01-01T14:00:00 UTC.
    const T0: f64 = 1_704_117_600.0;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let p = std::env::temp_dir().join(format!("taskmux-logread-{name}-{}-{nanos}", std::process::id()));
            fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
        fn path(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn stamp(t: f64) -> String {
        iso_time(t)[..23].to_owned()
    }

    /// Lines `<ts> <prefix><i>` for each (time, i).
    fn lines_text(prefix: &str, items: impl IntoIterator<Item = (f64, usize)>) -> String {
        items
            .into_iter()
            .map(|(t, i)| format!("{} {prefix}{i}\n", stamp(t)))
            .collect()
    }

    fn write(path: &Path, text: &str) {
        fs::write(path, text).unwrap();
    }

    fn src(task: &str, path: PathBuf) -> Source {
        Source {
            task: task.to_owned(),
            path,
        }
    }

    fn texts(lines: &[Line]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.raw.get(24..).unwrap_or(&l.raw).to_owned())
            .collect()
    }

    fn re(p: &str) -> Option<Regex> {
        Some(Regex::new(&format!("(?i){p}")).unwrap())
    }

    #[test]
    fn parse_since_durations() {
        let now = 10_000_000.0;
        assert_eq!(parse_since("30s", now).unwrap(), now - 30.0);
        assert_eq!(parse_since("5m", now).unwrap(), now - 300.0);
        assert_eq!(parse_since("1h30m", now).unwrap(), now - 5400.0);
        assert_eq!(parse_since("1h 30m", now).unwrap(), now - 5400.0);
        assert_eq!(parse_since("2d", now).unwrap(), now - 172_800.0);
        assert_eq!(parse_since("1d2h3m4s", now).unwrap(), now - 93_784.0);
        assert_eq!(parse_since(" 10 min ", now).unwrap(), now - 600.0);
    }

    #[test]
    fn parse_since_iso() {
        let now = 0.0;
        assert_eq!(parse_since("2024-01-01T14:00", now).unwrap(), T0);
        assert_eq!(parse_since("2024-01-01T14:00:00", now).unwrap(), T0);
        assert_eq!(parse_since("2024-01-01 14:00:00", now).unwrap(), T0);
        assert_eq!(parse_since("2024-01-01", now).unwrap(), T0 - 14.0 * 3600.0);
        assert_eq!(parse_since("2024-01-01T14:00:00Z", now).unwrap(), T0);
        assert_eq!(parse_since("2024-01-01T14:00:00+00:00", now).unwrap(), T0);
        assert_eq!(parse_since("2024-01-01T15:00:00+01:00", now).unwrap(), T0);
        assert_eq!(parse_since("2024-01-01T13:30:00-00:30", now).unwrap(), T0);
        assert_eq!(parse_since("2024-01-01T14:00:00.5", now).unwrap(), T0 + 0.5);
        assert_eq!(parse_since("2024-01-01T14:00:00.250000+00:00", now).unwrap(), T0 + 0.25);
        assert_eq!(
            parse_since("2024-02-29", now).unwrap(),
            T0 - 14.0 * 3600.0 + 59.0 * 86_400.0
        );
    }

    #[test]
    fn parse_since_errors() {
        for bad in [
            "",
            "abc",
            "5x",
            "30",
            "m5",
            "1h30",
            "2024-13-01",
            "2023-02-29",
            "2024-01-01T25:00",
            "2024-01-01T14",
            "2024-01-01T14:00:00+",
            "yesterday",
        ] {
            let e = parse_since(bad, 0.0).unwrap_err();
            assert_eq!(e.code, "E500", "{bad}");
            assert!(e.message.contains(&format!("'{bad}'")), "{}", e.message);
            for form in ["30s", "5m", "1h30m", "2d", "2024-01-01T14:00"] {
                assert!(e.message.contains(form), "{}", e.message);
            }
        }
    }

    #[test]
    fn parse_ts_prefix() {
        assert_eq!(parse_ts(b"2024-01-01T14:00:00.123 hello"), Some(T0 + 0.123));
        assert_eq!(parse_ts(b"2024-01-01T14:00:00.000 "), Some(T0));
        assert_eq!(parse_ts(b"2024-01-01T14:00:00.000"), Some(T0));
        assert_eq!(parse_ts(b"2024-01-01T14:00:00 x"), Some(T0));
        assert_eq!(parse_ts(b"2024-01-01T14:00:00.123x"), None);
        assert_eq!(parse_ts(b"hello"), None);
        assert_eq!(parse_ts(b""), None);
        assert_eq!(parse_ts(b"2024-01-01 14:00:00.123 x"), None);
        assert_eq!(parse_ts(b"2024-13-01T14:00:00.123 x"), None);
        assert_eq!(parse_ts(b"\xff\xfe-01-01T14:00:00.123 x"), None);
    }

    #[test]
    fn strip_ansi_sequences() {
        assert_eq!(strip_ansi("plain text"), "plain text");
        assert_eq!(strip_ansi("\x1b[31mERROR\x1b[0m boom"), "ERROR boom");
        assert_eq!(strip_ansi("\x1b[1;38;5;208mx\x1b[m"), "x");
        assert_eq!(strip_ansi("\x1b[2K\x1b[1Gprogress 50%"), "progress 50%");
        assert_eq!(strip_ansi("\x1b[?25lhidden\x1b[?25h"), "hidden");
        assert_eq!(strip_ansi("\x1b]0;my title\x07after"), "after");
        assert_eq!(strip_ansi("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\"), "link");
        assert_eq!(strip_ansi("\x1b(Bascii\x1b=\x1b>"), "ascii");
        assert_eq!(strip_ansi("a\tb\rc\x00d\x07e\x7f"), "a\tbcde");
        assert_eq!(strip_ansi("\u{9b}31mred"), "red");
        assert_eq!(strip_ansi("ünï\x1b[0mcödé ✓"), "ünïcödé ✓");
        assert_eq!(strip_ansi("trailing\x1b"), "trailing");
        assert_eq!(strip_ansi("trailing\x1b["), "trailing");
    }

    /// `.log.2` holds 0-2, `.log.1` 3-5, `.log` 6-8, one second apart.
    fn rotated_set(d: &TempDir) -> PathBuf {
        let base = d.path("api.log");
        let item = |i: usize| (T0 + i as f64, i);
        write(&d.path("api.log.2"), &lines_text("line", (0..3).map(item)));
        write(&d.path("api.log.1"), &lines_text("line", (3..6).map(item)));
        write(&base, &lines_text("line", (6..9).map(item)));
        base
    }

    fn numbered(range: std::ops::Range<usize>) -> Vec<String> {
        range.map(|i| format!("line{i}")).collect()
    }

    #[test]
    fn read_rotation_order_and_tail() {
        let d = TempDir::new("rot");
        let base = rotated_set(&d);
        // A stray file that is not a rotation.
        write(&d.path("api.log.old"), "nope\n");
        let s = [src("api", base.clone())];
        let all = read(&s, &Query::default()).unwrap();
        assert_eq!(texts(&all), numbered(0..9));
        assert!(all.iter().all(|l| l.task == "api"));
        assert_eq!(all[0].ts, T0);
        for (n, want) in [(0, 9..9), (2, 7..9), (3, 6..9), (4, 5..9), (7, 2..9), (100, 0..9)] {
            let q = Query {
                tail: Some(n),
                ..Query::default()
            };
            assert_eq!(texts(&read(&s, &q).unwrap()), numbered(want), "tail {n}");
        }
        // Missing files are skipped.
        fs::remove_file(&base).unwrap();
        assert_eq!(texts(&read(&s, &Query::default()).unwrap()), numbered(0..6));
        fs::remove_file(d.path("api.log.1")).unwrap();
        let q = Query {
            tail: Some(2),
            ..Query::default()
        };
        assert_eq!(texts(&read(&s, &q).unwrap()), numbered(1..3));
        let none = [src("x", d.path("nothing.log")), src("y", d.path("no/such/dir.log"))];
        assert!(read(&none, &Query::default()).unwrap().is_empty());
    }

    #[test]
    fn read_keeps_partial_last_line_and_bad_bytes() {
        let d = TempDir::new("partial");
        let base = d.path("w.log");
        let mut text = lines_text("a", [(T0, 0)]).into_bytes();
        text.extend_from_slice(b"2024-01-01T14:00:01.000 bad \xff\xfe bytes \x1b[31mred\x1b[0m\n");
        text.extend_from_slice(b"no timestamp here\n");
        text.extend_from_slice(b"2024-01-01T14:00:02.000 unfinished");
        fs::write(&base, &text).unwrap();
        let s = [src("w", base)];
        let all = read(&s, &Query::default()).unwrap();
        assert_eq!(all.len(), 4);
        assert!(all[1].raw.contains("bad \u{fffd}\u{fffd} bytes \x1b[31mred"));
        assert!(all[2].ts.is_nan());
        assert_eq!(all[2].raw, "no timestamp here");
        assert_eq!(all[3].raw, "2024-01-01T14:00:02.000 unfinished");
        for n in 1..=4 {
            let q = Query {
                tail: Some(n),
                ..Query::default()
            };
            let got = read(&s, &q).unwrap();
            let want: Vec<&str> = all[4 - n..].iter().map(|l| l.raw.as_str()).collect();
            assert_eq!(got.iter().map(|l| l.raw.as_str()).collect::<Vec<_>>(), want);
        }
    }

    #[test]
    fn grep_with_context_across_files() {
        let d = TempDir::new("grep");
        let base = d.path("g.log");
        let mk = |i: usize| {
            let t = format!("{} ", stamp(T0 + i as f64));
            match i {
                5 | 7 => format!("{t}\x1b[31mERROR\x1b[0m boom {i}\n"),
                15 => format!("{t}Error: boom {i}\n"),
                _ => format!("{t}ok {i}\n"),
            }
        };
        // 0-9 rotated, 10-19 current: context crosses the file boundary around 10? (no match
        // there), and the match at 15 has context 14 and 16.
        write(&d.path("g.log.1"), &(0..10).map(mk).collect::<String>());
        write(&base, &(10..20).map(mk).collect::<String>());
        let s = [src("g", base)];
        let nums = |lines: Vec<Line>| -> Vec<usize> {
            lines
                .iter()
                .map(|l| l.raw.rsplit(' ').next().unwrap().parse().unwrap())
                .collect()
        };
        let q = Query {
            grep: re("error boom"),
            ..Query::default()
        };
        assert_eq!(nums(read(&s, &q).unwrap()), vec![5, 7]);
        let q = Query {
            grep: re("error:? boom"),
            context: 1,
            ..Query::default()
        };
        assert_eq!(nums(read(&s, &q).unwrap()), vec![4, 5, 6, 7, 8, 14, 15, 16]);
        let q = Query {
            grep: re("boom 7|ok 11"),
            context: 3,
            ..Query::default()
        };
        assert_eq!(nums(read(&s, &q).unwrap()), (4..15).collect::<Vec<_>>());
        // The timestamp is not searched; escape codes are kept in the output.
        let q = Query {
            grep: re("2024|31m"),
            ..Query::default()
        };
        assert!(read(&s, &q).unwrap().is_empty());
        let q = Query {
            grep: re("boom"),
            context: 2,
            tail: Some(3),
            ..Query::default()
        };
        let got = read(&s, &q).unwrap();
        assert_eq!(nums(got), vec![15, 16, 17]);
        let q = Query {
            grep: re("boom 5"),
            ..Query::default()
        };
        assert!(read(&s, &q).unwrap()[0].raw.contains("\x1b[31mERROR"));
    }

    #[test]
    fn since_filters_and_skips_old_files() {
        let d = TempDir::new("since");
        let base = rotated_set(&d);
        let s = [src("api", base)];
        let q = |since: f64, tail: Option<usize>| Query {
            since: Some(since),
            tail,
            ..Query::default()
        };
        assert_eq!(texts(&read(&s, &q(T0 + 4.0, None)).unwrap()), numbered(4..9));
        assert_eq!(texts(&read(&s, &q(T0 + 3.5, None)).unwrap()), numbered(4..9));
        assert_eq!(texts(&read(&s, &q(T0 + 4.0, Some(2))).unwrap()), numbered(7..9));
        assert_eq!(texts(&read(&s, &q(T0 - 1.0, None)).unwrap()), numbered(0..9));
        assert!(read(&s, &q(T0 + 100.0, None)).unwrap().is_empty());
        // An old rotated file is not read line by line: only its last block.
        let big = d.path("big.log");
        write(
            &PathBuf::from(format!("{}.1", big.display())),
            &lines_text("old", (0..20_000).map(|i| (T0 + i as f64 / 1000.0, i))),
        );
        write(&big, &lines_text("new", [(T0 + 100.0, 0)]));
        let old_len = fs::metadata(format!("{}.1", big.display())).unwrap().len();
        BYTES_READ.with(|c| c.set(0));
        let got = read(&[src("big", big)], &q(T0 + 50.0, None)).unwrap();
        assert_eq!(texts(&got), ["new0"]);
        let bytes = BYTES_READ.with(|c| c.get());
        assert!(bytes <= BLOCK as u64 + 1000 && bytes < old_len, "{bytes} of {old_len}");
    }

    #[test]
    fn interleaves_tasks_by_time() {
        let d = TempDir::new("merge");
        let a = d.path("a.log");
        let b = d.path("b.log");
        // a: 0 2 4 4 (+ an unstamped line after 2); b: 1 3 4 5.
        let mut at = lines_text("a", [(T0, 0), (T0 + 2.0, 2)]);
        at.push_str("a-unstamped\n");
        at.push_str(&lines_text("a", [(T0 + 4.0, 4), (T0 + 4.0, 44)]));
        write(&a, &at);
        write(
            &b,
            &lines_text("b", [(T0 + 1.0, 1), (T0 + 3.0, 3), (T0 + 4.0, 4), (T0 + 5.0, 5)]),
        );
        let s = [src("a", a), src("b", b)];
        let got = read(&s, &Query::default()).unwrap();
        let names: Vec<String> = got
            .iter()
            .map(|l| l.raw.rsplit(' ').next().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["a0", "b1", "a2", "a-unstamped", "b3", "a4", "a44", "b4", "b5"]);
        let tasks: Vec<&str> = got.iter().map(|l| l.task.as_str()).collect();
        assert_eq!(tasks, ["a", "b", "a", "a", "b", "a", "a", "b", "b"]);
        for n in [1, 3, 5, 9, 20] {
            let q = Query {
                tail: Some(n),
                ..Query::default()
            };
            let t = read(&s, &q).unwrap();
            let want = &got[got.len().saturating_sub(n)..];
            assert_eq!(
                t.iter().map(|l| &l.raw).collect::<Vec<_>>(),
                want.iter().map(|l| &l.raw).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn tail_of_a_big_file_reads_only_its_end() {
        let d = TempDir::new("big");
        let base = d.path("big.log");
        {
            let mut w = io::BufWriter::new(File::create(&base).unwrap());
            for i in 0..130_000usize {
                writeln!(w, "{} line {i:08} {}", stamp(T0 + i as f64 / 1000.0), "x".repeat(50)).unwrap();
            }
            w.flush().unwrap();
        }
        let size = fs::metadata(&base).unwrap().len();
        assert!(size > 10_000_000);
        let s = [src("big", base)];
        let q = Query {
            tail: Some(100),
            ..Query::default()
        };
        BYTES_READ.with(|c| c.set(0));
        let started = Instant::now();
        let got = read(&s, &q).unwrap();
        let took = started.elapsed();
        assert_eq!(got.len(), 100);
        for (k, l) in got.iter().enumerate() {
            assert!(l.raw.contains(&format!("line {:08} ", 129_900 + k)), "{}", l.raw);
        }
        let bytes = BYTES_READ.with(|c| c.get());
        assert!(bytes <= 2 * BLOCK as u64, "read {bytes} bytes of {size}");
        assert!(took < Duration::from_millis(200), "{took:?}");
    }

    #[test]
    fn clean_deletes_every_file() {
        let d = TempDir::new("clean");
        let base = rotated_set(&d);
        write(&d.path("other.log"), "keep\n");
        let s = [src("api", base.clone()), src("gone", d.path("gone.log"))];
        assert_eq!(clean(&s).unwrap(), 3);
        assert!(!base.exists() && !d.path("api.log.1").exists() && !d.path("api.log.2").exists());
        assert!(d.path("other.log").exists());
        assert_eq!(clean(&s).unwrap(), 0);
    }

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
