//! A task's log files on disk as the readers see them: the current `<task>.log` and its
//! rotations `.1` (newest) … `.N`, opened by identity so a rotation during a scan is seen
//! once; reading them backwards in blocks (for `-n`) or line by line; and `logs-clean`.

use super::types::Source;
use crate::error::{Error, Result};
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Block size for reading files backwards and for draining followed files.
pub(super) const BLOCK: usize = 64 * 1024;

/// What a file is, whatever its name: (device, inode).
pub(super) type FileId = (u64, u64);

/// The [`FileId`] of a file from its metadata.
pub(super) fn file_id(m: &fs::Metadata) -> FileId {
    (m.dev(), m.ino())
}

/// An open log file, read up to `len`.
pub(super) struct Opened {
    pub(super) path: PathBuf,
    pub(super) file: File,
    pub(super) id: FileId,
    pub(super) len: u64,
}

#[cfg(test)]
thread_local! {
    pub(super) static BYTES_READ: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

fn count_read(_n: usize) {
    #[cfg(test)]
    BYTES_READ.with(|c| c.set(c.get() + _n as u64));
}

pub(super) fn read_at(file: &File, buf: &mut [u8], pos: u64) -> io::Result<usize> {
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
pub(super) fn open_file(path: &Path) -> Result<Option<Opened>> {
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
pub(super) fn open_rotated(base: &Path, stop_at: Option<FileId>) -> Result<Vec<Opened>> {
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
pub(super) fn open_set(base: &Path) -> Result<(Option<Opened>, Vec<Opened>)> {
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
pub(super) fn complete_len(o: &Opened) -> Result<u64> {
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
pub(super) fn tail_file(o: &Opened, k: usize) -> Result<Vec<Vec<u8>>> {
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
pub(super) fn for_each_line(o: &Opened, f: &mut dyn FnMut(&[u8])) -> Result<()> {
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
    use crate::logs::testutil::*;

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
}
