//! The managed block of the hosts file (`host_resolver = "etc_hosts"`): the lines between
//! `# BEGIN taskmux managed` and `# END taskmux managed`, two per registered host name.
//! Everything outside the block is kept byte for byte; the file is replaced atomically with
//! its mode and owner kept.

use crate::error::{Error, Kind, Result};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The line that opens the block.
pub const BEGIN: &str = "# BEGIN taskmux managed";
/// The line that closes it.
pub const END: &str = "# END taskmux managed";

/// The hosts file under `root` (`/` for the system's): `<root>/etc/hosts`.
pub fn path(root: &Path) -> PathBuf {
    root.join("etc/hosts")
}

/// The block for `names`: `127.0.0.1 name` and `::1 name` for each, between the marker
/// lines. Wildcards (`*.p.localhost`), which a hosts file cannot hold, are left out.
pub fn block(names: &[String]) -> String {
    let mut s = format!("{BEGIN}\n");
    for n in names.iter().filter(|n| !n.contains('*')) {
        s.push_str(&format!("127.0.0.1 {n}\n::1 {n}\n"));
    }
    s.push_str(END);
    s.push('\n');
    s
}

/// Refreshes the block of the hosts file under `root` with `names`, for the daemon when the
/// registered hosts change. Only a block that is there is rewritten (installing one is
/// `taskmux dns install`'s): false when there is none, or it already lists these names.
pub fn sync(root: &Path, names: &[String]) -> Result<bool> {
    let file = path(root);
    let Some(text) = read(&file)? else { return Ok(false) };
    if find(&text, &file)?.is_none() {
        return Ok(false);
    }
    let (new, _) = with_block(&text, &block(names), &file)?;
    if new == text {
        return Ok(false);
    }
    write_keeping(&file, &new, 0o644)?;
    Ok(true)
}

/// The names the block of the hosts file under `root` lists, or None when it has no block.
pub fn listed(root: &Path) -> Result<Option<Vec<String>>> {
    let file = path(root);
    let Some(text) = read(&file)? else { return Ok(None) };
    let Some((start, end)) = find(&text, &file)? else {
        return Ok(None);
    };
    let mut names: Vec<String> = String::from_utf8_lossy(&text[start..end])
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .collect();
    names.dedup();
    Ok(Some(names))
}

/// A file's bytes, or None when it is not there.
pub(super) fn read(file: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(file) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", file, e)),
    }
}

/// Whether `text` has the block (E645 when it is broken).
pub(super) fn has_block(text: &[u8], file: &Path) -> Result<bool> {
    Ok(find(text, file)?.is_some())
}

/// Where the block is in `text`: from the start of its BEGIN line to the end of its END
/// line (past its newline, when it has one). E645 for a BEGIN without END, an END without
/// BEGIN, or two blocks.
fn find(text: &[u8], file: &Path) -> Result<Option<(usize, usize)>> {
    let broken = |reason: &str| -> Error {
        Kind::HostsBlock {
            path: file.to_path_buf(),
            reason: reason.to_string(),
        }
        .into()
    };
    let (mut begin, mut span) = (None, None);
    let mut at = 0;
    while at < text.len() {
        let end = memchr::memchr(b'\n', &text[at..]).map_or(text.len(), |i| at + i + 1);
        let line = String::from_utf8_lossy(&text[at..end]);
        let line = line.trim_end();
        if line == BEGIN {
            if begin.is_some() || span.is_some() {
                return Err(broken("it has two BEGIN lines"));
            }
            begin = Some(at);
        } else if line == END {
            match begin.take() {
                Some(b) => span = Some((b, end)),
                None => return Err(broken("an END line without its BEGIN line")),
            }
        }
        at = end;
    }
    if begin.is_some() {
        return Err(broken("a BEGIN line without its END line"));
    }
    Ok(span)
}

/// `text` with `block` in place of its block, or appended (after a newline, when the text
/// does not end with one: the bool says it was added). A block that ended the file without a
/// newline is put back without one.
pub(super) fn with_block(text: &[u8], block: &str, file: &Path) -> Result<(Vec<u8>, bool)> {
    let mut out = Vec::with_capacity(text.len() + block.len() + 1);
    match find(text, file)? {
        Some((start, end)) => {
            let mut block = block.as_bytes();
            if end == text.len() && !text.ends_with(b"\n") {
                block = &block[..block.len() - 1];
            }
            out.extend_from_slice(&text[..start]);
            out.extend_from_slice(block);
            out.extend_from_slice(&text[end..]);
            Ok((out, false))
        }
        None => {
            let newline = !text.is_empty() && !text.ends_with(b"\n");
            out.extend_from_slice(text);
            if newline {
                out.push(b'\n');
            }
            out.extend_from_slice(block.as_bytes());
            Ok((out, newline))
        }
    }
}

/// `text` without its block (None when it has none). `added_newline`: install added a
/// newline before the block, which goes too when the block still ends the file.
pub(super) fn without_block(text: &[u8], added_newline: bool, file: &Path) -> Result<Option<Vec<u8>>> {
    let Some((mut start, end)) = find(text, file)? else {
        return Ok(None);
    };
    if added_newline && end == text.len() && start > 0 && text[start - 1] == b'\n' {
        start -= 1;
    }
    let mut out = text[..start].to_vec();
    out.extend_from_slice(&text[end..]);
    Ok(Some(out))
}

/// Replaces `file` with `data` atomically (a temp file beside it, fsync, rename), keeping
/// its mode and owner (`mode` for a new file); a symlink is followed, so it stays a link.
/// Where the file cannot be renamed over (a bind mount, as a container's `/etc/hosts`), it
/// is rewritten in place.
pub(super) fn write_keeping(file: &Path, data: &[u8], mode: u32) -> Result<()> {
    let target = match fs::symlink_metadata(file) {
        Ok(m) if m.file_type().is_symlink() => fs::canonicalize(file).map_err(|e| Error::io("resolve", file, e))?,
        _ => file.to_path_buf(),
    };
    let meta = fs::metadata(&target).ok();
    let dir = target.parent().unwrap_or(Path::new("/"));
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.taskmux.{}.{seq}", std::process::id()));
    let res = (|| -> std::io::Result<()> {
        let mut f = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        f.write_all(data)?;
        let mode = meta.as_ref().map_or(mode, |m| m.permissions().mode() & 0o7777);
        if let Some(m) = &meta {
            let mine = f.metadata()?;
            if (m.uid(), m.gid()) != (mine.uid(), mine.gid()) {
                std::os::unix::fs::fchown(&f, Some(m.uid()), Some(m.gid()))?;
            }
        }
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.sync_all()?;
        fs::rename(&tmp, &target)
    })();
    let Err(e) = res else { return Ok(()) };
    let _ = fs::remove_file(&tmp);
    let busy = [rustix::io::Errno::BUSY, rustix::io::Errno::XDEV].map(|e| e.raw_os_error());
    if meta.is_some() && e.raw_os_error().is_some_and(|c| busy.contains(&c)) {
        let mut f = OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&target)
            .map_err(|e| Error::io("write", &target, e))?;
        return f.write_all(data).map_err(|e| Error::io("write", &target, e));
    }
    Err(Error::io("write", &target, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        vec!["api.p.localhost".into(), "*.p.localhost".into()]
    }

    #[test]
    fn the_block_goes_in_and_out_leaving_every_other_byte() {
        let f = Path::new("/x/hosts");
        let b = block(&names());
        assert_eq!(
            b,
            "# BEGIN taskmux managed\n127.0.0.1 api.p.localhost\n::1 api.p.localhost\n# END taskmux managed\n"
        );
        for text in ["", "127.0.0.1 localhost\n", "127.0.0.1 localhost", "a\n\n# mine\nb\n"] {
            let (with, added) = with_block(text.as_bytes(), &b, f).expect("fits");
            assert_eq!(added, !text.is_empty() && !text.ends_with('\n'), "{text:?}");
            assert!(with.starts_with(text.as_bytes()));
            // a second install replaces the block in place
            let (again, _) = with_block(&with, &block(&["web.q.localhost".into()]), f).expect("fits");
            assert_eq!(String::from_utf8_lossy(&again).matches(BEGIN).count(), 1);
            let back = without_block(&again, added, f).expect("parses").expect("a block");
            assert_eq!(String::from_utf8_lossy(&back), text, "byte-identical after removal");
        }
        // the block in the middle, with the user's lines after it
        let text = format!("before\n{b}after\n");
        let (replaced, added) = with_block(text.as_bytes(), &block(&[]), f).expect("fits");
        assert!(!added);
        assert_eq!(
            String::from_utf8_lossy(&replaced),
            format!("before\n{BEGIN}\n{END}\nafter\n")
        );
        assert_eq!(
            without_block(&replaced, true, f).expect("ok").expect("block"),
            b"before\nafter\n"
        );
        assert_eq!(without_block(b"x\n", false, f).expect("ok"), None);
    }

    #[test]
    fn a_broken_block_is_e645() {
        let f = Path::new("/x/hosts");
        for text in [
            format!("{BEGIN}\nx\n"),
            format!("{END}\n"),
            format!("{BEGIN}\n{END}\n{BEGIN}\n{END}\n"),
        ] {
            let e = with_block(text.as_bytes(), "", f).expect_err(&text);
            assert_eq!(e.code(), "E645", "{text:?}");
        }
    }

    #[test]
    fn sync_rewrites_only_a_block_that_is_there() {
        let root = std::env::temp_dir().join(format!("taskmux-hosts-unit-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("etc")).expect("mkdir");
        let file = path(&root);
        fs::write(&file, "127.0.0.1 localhost\n").expect("write");
        fs::set_permissions(&file, fs::Permissions::from_mode(0o640)).expect("chmod");
        assert!(!sync(&root, &names()).expect("ok"), "no block: nothing written");
        let (with, _) = with_block(b"127.0.0.1 localhost\n", &block(&[]), &file).expect("fits");
        fs::write(&file, &with).expect("write");
        assert!(sync(&root, &names()).expect("ok"));
        assert!(!sync(&root, &names()).expect("ok"), "unchanged: not written again");
        assert_eq!(listed(&root).expect("ok"), Some(vec!["api.p.localhost".to_string()]));
        let meta = fs::metadata(&file).expect("there");
        assert_eq!(meta.permissions().mode() & 0o777, 0o640, "the mode is kept");
        let left: Vec<_> = fs::read_dir(root.join("etc")).expect("dir").flatten().collect();
        assert_eq!(left.len(), 1, "no temp file is left");
        let _ = fs::remove_dir_all(&root);
    }
}
