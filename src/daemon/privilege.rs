//! Dropping root: a daemon started by root through sudo binds the proxy's privileged ports,
//! then becomes the invoking user before it touches tmux or any state. Linux keeps
//! credentials per thread, so this runs while the process has one thread, and every thread
//! made after it inherits the user.

use rustix::process::{Gid, Uid};
use std::io;

/// Who to become: the user sudo ran us for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct User {
    /// Their uid.
    pub uid: u32,
    /// Their primary gid.
    pub gid: u32,
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Becomes `user` for good: supplementary groups, then real, effective and saved gid and uid
/// (in that order: after the uid no gid can be changed). Checks that root cannot be regained.
pub fn drop_to(user: User) -> io::Result<()> {
    if user.uid == 0 {
        return Err(io::Error::other("refusing to 'drop' to root"));
    }
    let gid = Gid::from_raw_unchecked(user.gid);
    let uid = Uid::from_raw_unchecked(user.uid);
    rustix::thread::set_thread_groups(&[gid])?;
    rustix::thread::set_thread_res_gid(gid, gid, gid)?;
    rustix::thread::set_thread_res_uid(uid, uid, uid)?;
    if rustix::thread::set_thread_res_uid(Uid::ROOT, Uid::ROOT, Uid::ROOT).is_ok() {
        return Err(io::Error::other("root could be regained after dropping it"));
    }
    Ok(())
}

/// The home directory of a uid, from `passwd` text (`/etc/passwd`'s format).
pub fn home_of(passwd: &str, uid: u32) -> Option<std::path::PathBuf> {
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 7 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[5].into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_home_is_found_by_uid() {
        let p = "root:x:0:0:root:/root:/bin/bash\nann:x:1000:1000:Ann,,,:/home/ann:/bin/zsh\n";
        assert_eq!(home_of(p, 1000), Some("/home/ann".into()));
        assert_eq!(home_of(p, 0), Some("/root".into()));
        assert_eq!(home_of(p, 7), None);
        assert_eq!(home_of("broken line\n", 7), None);
    }

    #[test]
    fn dropping_to_root_is_refused() {
        assert!(drop_to(User { uid: 0, gid: 0 }).is_err());
    }
}
