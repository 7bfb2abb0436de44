//! `taskmux dns install` and `uninstall`: point the OS resolver at `taskmux-dns` for the
//! managed TLD (a systemd-resolved drop-in, or `/etc/resolver/<tld>` on macOS), or keep the
//! registered names in a block of `/etc/hosts`, and take it all back exactly.
//!
//! What install did is recorded in `$TASKMUX_HOME/dns-install.json`: the file it wrote, the
//! directories it created, and for the hosts file whether it created it and whether it added
//! a newline before the block. Uninstall undoes that record; without one, it removes what
//! carries taskmux's mark.

use super::hosts;
use super::system::{CommandRun, Os, System};
use crate::config::{GlobalConfig, HostResolver};
use crate::error::{Error, Kind, Result};
use crate::paths;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Said in the first line of every resolver file install writes.
const MARK: &str = "written by 'taskmux dns install'";
/// The record's file name in the state directory.
const RECORD: &str = "dns-install.json";
/// The systemd-resolved drop-in.
const DROP_IN: &str = "/etc/systemd/resolved.conf.d/taskmux.conf";
/// What tells that systemd-resolved runs.
const RESOLVED_RUN: &str = "/run/systemd/resolve";

/// What `dns install` did.
#[derive(Debug, Clone, Serialize)]
pub struct Installed {
    /// The resolver of the global config.
    pub resolver: HostResolver,
    /// Whose layout.
    pub os: Os,
    /// `installed`, `reinstalled` (a file of ours rewritten), `unchanged`, or
    /// `nothing_to_install` (`noop`).
    pub action: &'static str,
    /// The file written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// The names in the hosts block (`etc_hosts`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub names: Option<Vec<String>>,
    /// The reload commands.
    pub commands: Vec<CommandRun>,
    /// An install of another kind (another resolver, TLD or OS) undone first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced: Option<Uninstalled>,
    /// What a person should know.
    pub notes: Vec<String>,
}

/// What `dns uninstall` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Uninstalled {
    /// `uninstalled`, or `not_installed` when there was nothing of ours.
    pub action: &'static str,
    /// The resolver that was undone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolver: Option<HostResolver>,
    /// Files removed.
    pub removed: Vec<PathBuf>,
    /// Files our block was taken out of.
    pub edited: Vec<PathBuf>,
    /// Directories install had created, removed because they were empty.
    pub dirs_removed: Vec<PathBuf>,
    /// The reload commands.
    pub commands: Vec<CommandRun>,
    /// What a person should know.
    pub notes: Vec<String>,
}

/// `dns-install.json`: what install changed, so uninstall can take back exactly that.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Record {
    root: PathBuf,
    resolver: HostResolver,
    os: Os,
    tld: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    file: Option<PathBuf>,
    #[serde(default)]
    dirs: Vec<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hosts: Option<HostsRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct HostsRecord {
    path: PathBuf,
    created: bool,
    added_newline: bool,
}

impl Record {
    fn path(home: &Path) -> PathBuf {
        home.join(RECORD)
    }

    /// The record of an install under `root`; another root's record is not this one's.
    fn load(home: &Path, root: &Path) -> Result<Option<Record>> {
        let path = Record::path(home);
        let Some(bytes) = hosts::read(&path)? else {
            return Ok(None);
        };
        let rec: Record = serde_json::from_slice(&bytes).map_err(|e| {
            Error::from(Kind::CorruptState {
                path: path.clone(),
                reason: e.to_string(),
            })
            .hint("fix its JSON, or delete it: uninstall then removes only what carries taskmux's mark")
        })?;
        Ok((rec.root == root).then_some(rec))
    }

    fn save(&self, home: &Path) -> Result<()> {
        let text = serde_json::to_vec_pretty(self).map_err(|e| Error::internal(format!("cannot encode: {e}")))?;
        paths::write_atomic(&Record::path(home), &text, 0o600)
    }
}

/// The resolver file for `os` and `tld` under the system's root.
pub(super) fn resolver_file(sys: &System, os: Os, tld: &str) -> PathBuf {
    match os {
        Os::Linux => sys.path(DROP_IN),
        Os::Macos => sys.path(&format!("/etc/resolver/{tld}")),
    }
}

/// The resolver file's text: names under `tld` go to 127.0.0.1 on `port`.
pub(super) fn resolver_text(os: Os, tld: &str, port: u16) -> String {
    let head = format!(
        "# {MARK}: names under .{tld} are asked of taskmux-dns.\n\
         # 'taskmux dns uninstall' removes this file. See taskmux-dns(8).\n"
    );
    match os {
        Os::Linux => format!("{head}[Resolve]\nDNS=127.0.0.1:{port}\nDomains=~{tld}\n"),
        Os::Macos => format!("{head}nameserver 127.0.0.1\nport {port}\n"),
    }
}

/// Whether a file's first line carries taskmux's mark.
pub(super) fn is_ours(bytes: &[u8]) -> bool {
    let first = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    String::from_utf8_lossy(first).contains(MARK)
}

/// Installs the resolver the global config names: for `dns_server` the resolver file (on
/// Linux only where systemd-resolved runs: E644 otherwise; a file there that is not ours is
/// E646), for `etc_hosts` the block with `names`. An earlier install of another kind is
/// undone first.
pub fn install(sys: &System, home: &Path, global: &GlobalConfig, names: &[String]) -> Result<Installed> {
    let tld = global.dns_managed_tld.as_str();
    let mut done = Installed {
        resolver: global.host_resolver,
        os: sys.os,
        action: "installed",
        path: None,
        names: None,
        commands: Vec::new(),
        replaced: None,
        notes: Vec::new(),
    };
    let mut record = Record::load(home, &sys.root)?;
    if global.host_resolver == HostResolver::Noop {
        done.action = "nothing_to_install";
        if let Some(r) = &record {
            done.notes.push(format!(
                "an install for host_resolver = \"{}\" is still in place; 'taskmux dns uninstall' removes it",
                resolver_name(r.resolver)
            ));
        }
        return Ok(done);
    }
    if global.host_resolver == HostResolver::DnsServer && sys.os == Os::Linux {
        resolved_in_use(sys, global)?;
    }
    if let Some(r) = &record
        && (r.resolver != global.host_resolver || r.os != sys.os || r.tld != tld)
    {
        done.replaced = Some(undo(sys, home, r)?);
        record = None;
    }
    let mut rec = record.unwrap_or_else(|| Record {
        root: sys.root.clone(),
        resolver: global.host_resolver,
        os: sys.os,
        tld: tld.to_string(),
        file: None,
        dirs: Vec::new(),
        hosts: None,
    });
    match global.host_resolver {
        HostResolver::DnsServer => install_file(sys, global, &mut rec, &mut done)?,
        HostResolver::EtcHosts => install_hosts(sys, names, &mut rec, &mut done)?,
        HostResolver::Noop => {}
    }
    rec.save(home)?;
    Ok(done)
}

/// E644 unless systemd-resolved runs (its `/run/systemd/resolve` is there).
fn resolved_in_use(sys: &System, global: &GlobalConfig) -> Result<()> {
    if sys.path(RESOLVED_RUN).is_dir() {
        return Ok(());
    }
    let (tld, port) = (&global.dns_managed_tld, global.dns_server_port);
    Err(Error::from(Kind::ResolverAbsent(format!(
        "systemd-resolved is not in use here ({} is missing), so a drop-in would not be read",
        sys.path(RESOLVED_RUN).display()
    )))
    .hint(format!(
        "use the hosts file instead ('taskmux config set host_resolver etc_hosts', then 'taskmux dns install'), \
         or point the resolver you use at 127.0.0.1 port {port} for .{tld} (dnsmasq: server=/{tld}/127.0.0.1#{port})"
    )))
}

/// `dns_server`: the resolver file, and the reload on Linux.
fn install_file(sys: &System, global: &GlobalConfig, rec: &mut Record, done: &mut Installed) -> Result<()> {
    let tld = &global.dns_managed_tld;
    let file = resolver_file(sys, sys.os, tld);
    let text = resolver_text(sys.os, tld, global.dns_server_port);
    done.action = put_file(&file, text.as_bytes(), &sys.root, &mut rec.dirs)?;
    rec.file = Some(file.clone());
    done.path = Some(file);
    if sys.os == Os::Linux && done.action != "unchanged" {
        done.commands.push(reload_resolved(sys));
    }
    if sys.os == Os::Macos {
        done.notes
            .push("macOS reads /etc/resolver at once; 'taskmux dns flush' drops answers it cached".into());
    }
    Ok(())
}

/// `etc_hosts`: the block with `names`, replacing the one there or appended; the record
/// keeps what the first install found (a new file, a newline added).
fn install_hosts(sys: &System, names: &[String], rec: &mut Record, done: &mut Installed) -> Result<()> {
    let file = hosts::path(&sys.root);
    let before = hosts::read(&file)?;
    let (text, added) = hosts::with_block(before.as_deref().unwrap_or_default(), &hosts::block(names), &file)?;
    let had = match &before {
        Some(b) => hosts::has_block(b, &file)?,
        None => false,
    };
    rec.hosts = Some(match rec.hosts.clone().filter(|h| had && h.path == file) {
        Some(h) => h,
        None => HostsRecord {
            path: file.clone(),
            created: before.is_none(),
            added_newline: added,
        },
    });
    done.action = match &before {
        Some(b) if *b == text => "unchanged",
        _ if had => "reinstalled",
        _ => "installed",
    };
    if done.action != "unchanged" {
        hosts::write_keeping(&file, &text, 0o644)?;
    }
    done.names = Some(names.iter().filter(|n| !n.contains('*')).cloned().collect());
    done.path = Some(file);
    if names.iter().any(|n| n.contains('*')) {
        done.notes.push(
            "a hosts file cannot hold wildcard names (host = \"*\"): use host_resolver = \"dns_server\" for those"
                .into(),
        );
    }
    Ok(())
}

/// Writes a resolver file: new (creating its missing directories, recorded in `dirs`), or
/// replacing one of ours; a file there that is not ours is E646. Returns the action.
fn put_file(file: &Path, text: &[u8], root: &Path, dirs: &mut Vec<PathBuf>) -> Result<&'static str> {
    let action = match hosts::read(file)? {
        Some(b) if b == text => return Ok("unchanged"),
        Some(b) if is_ours(&b) => "reinstalled",
        Some(_) => {
            return Err(Kind::ResolverFileTaken {
                path: file.to_path_buf(),
            }
            .into());
        }
        None => "installed",
    };
    if let Some(parent) = file.parent() {
        for d in make_dirs(root, parent)? {
            if !dirs.contains(&d) {
                dirs.push(d);
            }
        }
    }
    hosts::write_keeping(file, text, 0o644)?;
    Ok(action)
}

/// Creates `dir` and its missing parents below `root` (0755, as system directories are);
/// returns those it created.
fn make_dirs(root: &Path, dir: &Path) -> Result<Vec<PathBuf>> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let mut missing: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|a| a.starts_with(root) && *a != root)
        .filter(|a| !a.exists())
        .map(Path::to_path_buf)
        .collect();
    missing.reverse();
    for d in &missing {
        std::fs::DirBuilder::new()
            .mode(0o755)
            .create(d)
            .and_then(|()| std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)))
            .map_err(|e| Error::io("create directory", d, e))?;
    }
    Ok(missing)
}

/// `systemctl reload-or-restart systemd-resolved.service`: it re-reads its drop-ins.
fn reload_resolved(sys: &System) -> CommandRun {
    sys.run(&["systemctl", "reload-or-restart", "systemd-resolved.service"])
}

/// Takes back what install did under the system's root: the record's changes, or without
/// a record, whatever carries taskmux's mark for the current TLD.
pub fn uninstall(sys: &System, home: &Path, global: &GlobalConfig) -> Result<Uninstalled> {
    if let Some(r) = Record::load(home, &sys.root)? {
        return undo(sys, home, &r);
    }
    let mut done = Uninstalled {
        action: "not_installed",
        ..Uninstalled::default()
    };
    let file = resolver_file(sys, sys.os, &global.dns_managed_tld);
    if hosts::read(&file)?.is_some_and(|b| is_ours(&b)) {
        remove_file(&file, &mut done)?;
        done.resolver = Some(HostResolver::DnsServer);
        if sys.os == Os::Linux {
            done.commands.push(reload_resolved(sys));
        }
    }
    let hosts_file = hosts::path(&sys.root);
    if let Some(text) = hosts::read(&hosts_file)?
        && let Some(out) = hosts::without_block(&text, false, &hosts_file)?
    {
        hosts::write_keeping(&hosts_file, &out, 0o644)?;
        done.edited.push(hosts_file);
        done.resolver.get_or_insert(HostResolver::EtcHosts);
    }
    if done.resolver.is_some() {
        done.action = "uninstalled";
    }
    Ok(done)
}

/// Undoes one record, then deletes it.
fn undo(sys: &System, home: &Path, r: &Record) -> Result<Uninstalled> {
    let mut done = Uninstalled {
        action: "uninstalled",
        resolver: Some(r.resolver),
        ..Uninstalled::default()
    };
    if let Some(file) = &r.file {
        match hosts::read(file)? {
            Some(b) if is_ours(&b) => remove_file(file, &mut done)?,
            Some(_) => done.notes.push(format!(
                "{} was changed and no longer carries taskmux's mark: left as it is",
                file.display()
            )),
            None => {}
        }
        if r.resolver == HostResolver::DnsServer && r.os == Os::Linux {
            done.commands.push(reload_resolved(sys));
        }
    }
    if let Some(h) = &r.hosts
        && let Some(text) = hosts::read(&h.path)?
        && let Some(out) = hosts::without_block(&text, h.added_newline, &h.path)?
    {
        if h.created && out.is_empty() {
            remove_file(&h.path, &mut done)?;
        } else {
            hosts::write_keeping(&h.path, &out, 0o644)?;
            done.edited.push(h.path.clone());
        }
    }
    let mut dirs = r.dirs.clone();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for d in dirs {
        if std::fs::remove_dir(&d).is_ok() {
            done.dirs_removed.push(d);
        }
    }
    let path = Record::path(home);
    std::fs::remove_file(&path)
        .or_else(not_found)
        .map_err(|e| Error::io("remove", &path, e))?;
    Ok(done)
}

fn remove_file(file: &Path, done: &mut Uninstalled) -> Result<()> {
    std::fs::remove_file(file)
        .or_else(not_found)
        .map_err(|e| Error::io("remove", file, e))?;
    done.removed.push(file.to_path_buf());
    Ok(())
}

fn not_found(e: std::io::Error) -> std::io::Result<()> {
    if e.kind() == std::io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(e)
    }
}

/// The config's word for a resolver.
pub(super) fn resolver_name(r: HostResolver) -> &'static str {
    match r {
        HostResolver::EtcHosts => "etc_hosts",
        HostResolver::DnsServer => "dns_server",
        HostResolver::Noop => "noop",
    }
}
