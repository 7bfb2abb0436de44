//! Debian's store, changed through `update-ca-certificates` pointed at the system root, so
//! that it changes our certificate and nothing else, and its hooks (Java's keystore, by
//! ca-certificates-java) hear of exactly that.
//!
//! Two habits of the tool are worked around. It tells its hooks of a removal only for a
//! certificate deselected by a `!` line of its config whose link it then removes, so
//! uninstall leaves the link to it and runs it with a copy of the config that deselects
//! ours (`--fresh` would not do: it tells the hooks of every certificate as added and of
//! none as removed). And every run replaces each `/etc/ssl/certs/NAME.pem` of a certificate
//! it links that is not its own link to that certificate (a file copied there, a link made
//! by hand), and tells the hooks that certificate was added; so around each run such
//! entries are set aside, the tool's own link put in their place, and the entry put back.

use super::World;
use crate::error::{Error, Result};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Debian's files and directories under a root, as `update-ca-certificates` takes them.
pub struct Debian {
    conf: PathBuf,
    certs: PathBuf,
    local: PathBuf,
    /// `/etc/ssl/certs`: the links, the hash links, the bundle.
    pub etc_certs: PathBuf,
    hooks: PathBuf,
}

/// An entry of `/etc/ssl/certs` that a run would replace, for a certificate not ours.
struct Kept {
    /// The entry.
    pem: PathBuf,
    /// The certificate the tool links there.
    cert: PathBuf,
    /// What it was.
    was: Was,
}

enum Was {
    /// A file (or anything but a link), moved here for the run.
    Moved(PathBuf),
    /// A link to this target.
    Link(PathBuf),
}

/// How deep `find -L` is followed under the local directory.
const MAX_DEPTH: usize = 16;

impl Debian {
    /// The store under `root`.
    pub fn new(root: &Path) -> Debian {
        Debian {
            conf: root.join("etc/ca-certificates.conf"),
            certs: root.join("usr/share/ca-certificates"),
            local: root.join("usr/local/share/ca-certificates"),
            etc_certs: root.join("etc/ssl/certs"),
            hooks: root.join("etc/ca-certificates/update.d"),
        }
    }

    /// The tool's arguments, with `conf` as its config.
    fn args(&self, conf: &Path) -> Vec<OsString> {
        let mut args = Vec::new();
        for (flag, dir) in [
            ("--certsconf", conf),
            ("--certsdir", &self.certs),
            ("--localcertsdir", &self.local),
            ("--etccertsdir", &self.etc_certs),
            ("--hooksdir", &self.hooks),
        ] {
            args.push(flag.into());
            args.push(dir.into());
        }
        args
    }

    /// Runs the tool after our `name.crt` was added to (or, `removed`, taken from) the local
    /// directory; the command it ran, and the entries it would have replaced and did not.
    pub fn refresh(&self, w: &World, exe: &Path, name: &str, removed: bool) -> Result<(Vec<OsString>, Vec<PathBuf>)> {
        let conf = if removed {
            Some(self.deselecting(w, name)?)
        } else {
            None
        };
        let args = self.args(conf.as_deref().unwrap_or(&self.conf));
        let ours = self.etc_certs.join(format!("{name}.pem"));
        let done = self.keep(&ours).and_then(|kept| {
            let ran = w.run(exe, &args);
            let restored = self.restore(w, &kept);
            ran.and(restored).map(|_| kept.into_iter().map(|k| k.pem).collect())
        });
        if let Some(c) = &conf {
            let _ = std::fs::remove_file(c);
        }
        Ok((args, done?))
    }

    /// A copy of the config (in the state directory) with `!name.crt` added: the tool then
    /// removes our link and tells its hooks `-…/name.pem`.
    fn deselecting(&self, w: &World, name: &str) -> Result<PathBuf> {
        let mut text = match std::fs::read_to_string(&self.conf) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(Error::io("read", &self.conf, e)),
        };
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&format!("!{name}.crt\n"));
        let dir = crate::certs::authority::ca_dir(&w.home);
        crate::paths::ensure_dir(&dir)?;
        let path = dir.join(format!(".uninstall-{name}.conf"));
        crate::paths::write_atomic(&path, text.as_bytes(), 0o600)?;
        Ok(path)
    }

    /// The certificates the tool links, in its order: those the config lists that exist
    /// under the shared directory, then every `*.crt` under the local one (links followed).
    fn sources(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for line in std::fs::read_to_string(&self.conf).unwrap_or_default().lines() {
            let crt = line.trim();
            if line.is_empty() || crt.is_empty() || crt.starts_with('#') || line.starts_with('!') {
                continue;
            }
            let cert = self.certs.join(crt);
            if cert.is_file() {
                out.push(cert);
            }
        }
        let mut local = Vec::new();
        walk(&self.local, 0, &mut local);
        local.sort();
        out.extend(local);
        out
    }

    /// Where the tool links `cert`: its name without `.crt`, spaces and commas as `_`,
    /// parentheses as `=`, and `.pem`.
    fn pem_for(&self, cert: &Path) -> PathBuf {
        let base = cert
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stem = base.strip_suffix(".crt").unwrap_or(&base);
        let name: String = stem
            .chars()
            .map(|c| match c {
                ' ' | ',' => '_',
                '(' | ')' => '=',
                c => c,
            })
            .collect();
        self.etc_certs.join(format!("{name}.pem"))
    }

    /// Sets aside each entry the tool would replace for a certificate other than `ours`, and
    /// puts its link there instead: then the tool finds nothing to do for it.
    fn keep(&self, ours: &Path) -> Result<Vec<Kept>> {
        let mut kept: Vec<Kept> = Vec::new();
        for cert in self.sources() {
            let pem = self.pem_for(&cert);
            if pem == ours || kept.iter().any(|k| k.pem == pem) {
                continue;
            }
            let Ok(meta) = std::fs::symlink_metadata(&pem) else {
                continue; // not there: the tool adds it, as any run would
            };
            let was = if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&pem).map_err(|e| Error::io("read the link", &pem, e))?;
                if target == cert {
                    continue;
                }
                std::fs::remove_file(&pem).map_err(|e| Error::io("remove", &pem, e))?;
                Was::Link(target)
            } else {
                let aside = aside_of(&pem);
                std::fs::rename(&pem, &aside).map_err(|e| Error::io("set aside", &pem, e))?;
                Was::Moved(aside)
            };
            let k = Kept { pem, cert, was };
            if let Err(e) = std::os::unix::fs::symlink(&k.cert, &k.pem) {
                let _ = put_back(&k);
                return Err(Error::io("link", &k.pem, e));
            }
            kept.push(k);
        }
        Ok(kept)
    }

    /// Puts back what [`Debian::keep`] set aside; when a file comes back whose certificate
    /// is not the one the tool linked, the hash links are made again from what is there.
    fn restore(&self, w: &World, kept: &[Kept]) -> Result<()> {
        let mut first = None;
        let mut rehash = false;
        for k in kept {
            if let Was::Moved(_) = k.was {
                rehash |= std::fs::read(&k.cert).ok() != read_aside(k);
            }
            if let Err(e) = put_back(k) {
                first.get_or_insert(e);
            }
        }
        if rehash && let Some(openssl) = w.tool("openssl") {
            let mut args: Vec<OsString> = vec!["rehash".into()];
            args.push(self.etc_certs.clone().into());
            if let Err(e) = w.run(&openssl, &args) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

/// Where an entry waits during a run: a hidden name that `openssl rehash` skips.
fn aside_of(pem: &Path) -> PathBuf {
    let name = pem
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    pem.with_file_name(format!(".{name}.taskmux-kept"))
}

fn read_aside(k: &Kept) -> Option<Vec<u8>> {
    match &k.was {
        Was::Moved(aside) => std::fs::read(aside).ok(),
        Was::Link(_) => None,
    }
}

/// Puts one entry back as it was, over the link made for the run.
fn put_back(k: &Kept) -> Result<()> {
    match &k.was {
        Was::Moved(aside) => std::fs::rename(aside, &k.pem).map_err(|e| Error::io("put back", &k.pem, e)),
        Was::Link(target) => {
            let tmp = aside_of(&k.pem);
            let _ = std::fs::remove_file(&tmp);
            std::os::unix::fs::symlink(target, &tmp)
                .and_then(|()| std::fs::rename(&tmp, &k.pem))
                .map_err(|e| Error::io("put back the link", &k.pem, e))
        }
    }
}

/// Every `*.crt` file under `dir`, links followed, as `find -L DIR -type f -name '*.crt'`.
fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        let Ok(meta) = std::fs::metadata(&p) else { continue };
        if meta.is_dir() && depth < MAX_DEPTH {
            walk(&p, depth + 1, out);
        } else if meta.is_file() && p.extension().is_some_and(|x| x == "crt") {
            out.push(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_the_tool_would_replace_are_set_aside_and_come_back_as_they_were() {
        let root = std::env::temp_dir().join(format!("taskmux-debian-keep-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let d = Debian::new(&root);
        for dir in [&d.certs, &d.local.join("sub"), &d.etc_certs] {
            std::fs::create_dir_all(dir).expect("mkdir");
        }
        std::fs::write(
            &d.conf,
            "# listed\nmozilla/A.crt\n!mozilla/Gone.crt\n\nmozilla/Missing.crt\n",
        )
        .expect("conf");
        std::fs::create_dir_all(d.certs.join("mozilla")).expect("mkdir");
        std::fs::write(d.certs.join("mozilla/A.crt"), "a").expect("write");
        std::fs::write(d.local.join("sub/My CA (2),x.crt"), "b").expect("write");
        std::fs::write(d.local.join("ours.crt"), "o").expect("write");
        std::fs::write(d.local.join("notes.txt"), "").expect("write");
        let b = d.local.join("sub/My CA (2),x.crt");
        assert_eq!(
            d.sources(),
            vec![d.certs.join("mozilla/A.crt"), d.local.join("ours.crt"), b.clone()]
        );
        assert_eq!(d.pem_for(&b), d.etc_certs.join("My_CA_=2=_x.pem"));
        // A.pem a file, My_CA…pem a link elsewhere, ours.pem anything: only the first two
        let a_pem = d.etc_certs.join("A.pem");
        let b_pem = d.etc_certs.join("My_CA_=2=_x.pem");
        std::fs::write(&a_pem, "a copy").expect("write");
        std::os::unix::fs::symlink("elsewhere.crt", &b_pem).expect("link");
        std::fs::write(d.etc_certs.join("ours.pem"), "x").expect("write");
        let kept = d.keep(&d.etc_certs.join("ours.pem")).expect("kept");
        assert_eq!(
            kept.iter().map(|k| k.pem.clone()).collect::<Vec<_>>(),
            vec![a_pem.clone(), b_pem.clone()]
        );
        assert_eq!(
            std::fs::read_link(&a_pem).expect("a link for the run"),
            d.certs.join("mozilla/A.crt")
        );
        assert_eq!(std::fs::read_link(&b_pem).expect("a link for the run"), b);
        for k in &kept {
            put_back(k).expect("put back");
        }
        assert_eq!(std::fs::read_to_string(&a_pem).expect("the file again"), "a copy");
        assert_eq!(
            std::fs::read_link(&b_pem).expect("the link again"),
            Path::new("elsewhere.crt")
        );
        let names: Vec<String> = std::fs::read_dir(&d.etc_certs)
            .expect("dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 3, "nothing left aside: {names:?}");
        let _ = std::fs::remove_dir_all(&root);
    }
}
