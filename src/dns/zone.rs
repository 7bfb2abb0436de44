//! The zone the DNS responder answers for: a top-level domain and, optionally, the host
//! names known under it. Shared by `Arc` between the server's threads and whoever keeps it
//! current (the daemon, the standalone server's config watch), and changed in place.

use crate::error::{Error, Result};
use std::collections::HashSet;
use std::sync::RwLock;

/// The names the responder answers: the TLD itself and the names under it, with loopback.
///
/// With no known hosts (the default) every name under the TLD exists, as RFC 6761 has it for
/// `localhost`. With known hosts, the TLD, those names (a `*.` entry stands for every name
/// under what follows it) and the names between them and the TLD exist; any other name under
/// the TLD is NXDOMAIN. Either can be changed while the server runs.
#[derive(Debug)]
pub struct Zone {
    inner: RwLock<Names>,
}

#[derive(Debug, Clone)]
struct Names {
    /// The TLD as given, lowercase, without a trailing dot.
    tld: String,
    /// The TLD in wire format, lowercase.
    wire: Vec<u8>,
    /// The known hosts, when the zone is not open.
    hosts: Option<Hosts>,
}

#[derive(Debug, Clone, Default)]
struct Hosts {
    /// The names as given (for [`Zone::hosts`]).
    listed: Vec<String>,
    /// Names that exist, in lowercase wire format.
    exact: HashSet<Vec<u8>>,
    /// `*.x`: every name under x exists (x in wire format).
    wild: HashSet<Vec<u8>>,
    /// Names between a known name and the TLD: they exist, with no records of their own.
    between: HashSet<Vec<u8>>,
}

/// What the zone says of a name in a question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lookup {
    /// Not under the TLD: refused.
    Outside,
    /// The name exists and has the loopback addresses. `tld_at` is where the TLD starts in
    /// the name; `apex` says the name is the TLD itself.
    Host {
        /// Offset of the TLD in the name's wire format.
        tld_at: usize,
        /// The name is the TLD.
        apex: bool,
    },
    /// The name exists but has no records (it lies between a known host and the TLD).
    Empty {
        /// Offset of the TLD in the name's wire format.
        tld_at: usize,
    },
    /// Under the TLD, but not a known host: NXDOMAIN.
    Missing {
        /// Offset of the TLD in the name's wire format.
        tld_at: usize,
    },
}

impl Zone {
    /// The open zone of `tld`: the TLD and every name under it.
    pub fn new(tld: &str) -> Result<Zone> {
        Ok(Zone {
            inner: RwLock::new(Names {
                wire: wire_name(&normal(tld)?),
                tld: normal(tld)?,
                hosts: None,
            }),
        })
    }

    /// The zone of `tld` with only these names (and the TLD) answered; names not under the
    /// TLD, or not names, are left out.
    #[cfg(test)]
    pub fn with_hosts(tld: &str, hosts: &[String]) -> Result<Zone> {
        let zone = Zone::new(tld)?;
        zone.set_hosts(Some(hosts));
        Ok(zone)
    }

    /// The TLD, lowercase, without a trailing dot.
    pub fn tld(&self) -> String {
        crate::sync::read(&self.inner).tld.clone()
    }

    /// Moves the zone to another TLD (keeping the known hosts that are under it); says
    /// whether it changed. An invalid TLD is E104 and changes nothing.
    pub fn set_tld(&self, tld: &str) -> Result<bool> {
        let tld = normal(tld)?;
        let mut w = crate::sync::write(&self.inner);
        if w.tld == tld {
            return Ok(false);
        }
        let listed = w.hosts.as_ref().map(|h| h.listed.clone());
        w.wire = wire_name(&tld);
        w.tld = tld;
        w.hosts = listed.map(|l| hosts_of(&w.wire, &l));
        Ok(true)
    }

    /// Sets the known hosts; None opens the zone (every name under the TLD).
    #[cfg(test)]
    pub fn set_hosts(&self, hosts: Option<&[String]>) {
        let mut w = crate::sync::write(&self.inner);
        w.hosts = hosts.map(|l| hosts_of(&w.wire, l));
    }

    /// What the zone says of `name`, a valid uncompressed name in wire format (as in a
    /// question), compared without regard to ASCII case.
    pub(super) fn lookup(&self, name: &[u8]) -> Lookup {
        if name.is_empty() || name.len() > 255 {
            return Lookup::Outside;
        }
        let z = crate::sync::read(&self.inner);
        let Some(tld_at) = suffix_at(name, &z.wire) else {
            return Lookup::Outside;
        };
        let apex = tld_at == 0;
        let Some(hosts) = &z.hosts else {
            return Lookup::Host { tld_at, apex };
        };
        if apex {
            return Lookup::Host { tld_at, apex };
        }
        let mut buf = [0u8; 256];
        let lower = &mut buf[..name.len()];
        lower.copy_from_slice(name);
        lower.make_ascii_lowercase();
        if hosts.exact.contains(&lower[..]) {
            return Lookup::Host { tld_at, apex };
        }
        let mut pos = lower[0] as usize + 1;
        while pos <= tld_at {
            if hosts.wild.contains(&lower[pos..]) {
                return Lookup::Host { tld_at, apex };
            }
            pos += lower.get(pos).map_or(name.len(), |l| *l as usize + 1);
        }
        if hosts.between.contains(&lower[..]) {
            return Lookup::Empty { tld_at };
        }
        Lookup::Missing { tld_at }
    }
}

/// Where `suffix` (lowercase wire format) starts in `name` (wire format) on a label
/// boundary, compared without regard to ASCII case; None when `name` is not under it.
/// (Length bytes are below 64, so ASCII case folding leaves them be.)
fn suffix_at(name: &[u8], suffix: &[u8]) -> Option<usize> {
    if name.len() < suffix.len() {
        return None;
    }
    let want = name.len() - suffix.len();
    let mut pos = 0;
    while pos < want {
        pos += *name.get(pos)? as usize + 1;
    }
    (pos == want && name[want..].eq_ignore_ascii_case(suffix)).then_some(want)
}

/// A TLD as the zone keeps it: lowercase, no trailing dot, labels of a-z, 0-9 and `-`.
fn normal(tld: &str) -> Result<String> {
    let t = tld.strip_suffix('.').unwrap_or(tld).to_ascii_lowercase();
    if crate::domain::is_domain(&t, crate::domain::Chars::Host) {
        Ok(t)
    } else {
        Err(Error::invalid(format!(
            "the DNS zone must be a domain such as \"localhost\" (labels of a-z, 0-9 and -), not {tld:?}"
        )))
    }
}

/// A valid name in lowercase wire format: length-prefixed labels and the root's zero.
fn wire_name(name: &str) -> Vec<u8> {
    let mut w = Vec::with_capacity(name.len() + 2);
    for label in name.split('.') {
        w.push(label.len() as u8);
        w.extend(label.bytes().map(|b| b.to_ascii_lowercase()));
    }
    w.push(0);
    w
}

/// The known-host sets of `listed` under the TLD `tld` (wire format).
fn hosts_of(tld: &[u8], listed: &[String]) -> Hosts {
    let mut h = Hosts {
        listed: listed.to_vec(),
        ..Hosts::default()
    };
    for name in listed {
        let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
        let (wild, base) = match name.strip_prefix("*.") {
            Some(rest) => (true, rest.to_string()),
            None => (false, name),
        };
        if !crate::domain::is_domain(&base, crate::domain::Chars::Host) {
            continue;
        }
        let w = wire_name(&base);
        let Some(tld_at) = suffix_at(&w, tld) else { continue };
        if tld_at == 0 && !wild {
            continue;
        }
        // every name between this one and the TLD exists, empty
        let mut pos = if wild { 0 } else { w[0] as usize + 1 };
        while pos < tld_at {
            h.between.insert(w[pos..].to_vec());
            pos += w[pos] as usize + 1;
        }
        if wild {
            h.wild.insert(w);
        } else {
            h.exact.insert(w);
        }
    }
    // a name that is itself known is no longer merely between
    let exact = h.exact.clone();
    h.between.retain(|n| !exact.contains(n));
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(name: &str) -> Vec<u8> {
        let mut v = Vec::new();
        for l in name.split('.') {
            v.push(l.len() as u8);
            v.extend(l.bytes());
        }
        v.push(0);
        v
    }

    #[test]
    fn open_zone_answers_the_tld_and_everything_under_it() {
        let z = Zone::new("Localhost.").expect("valid");
        assert_eq!(z.tld(), "localhost");
        assert_eq!(z.lookup(&w("localhost")), Lookup::Host { tld_at: 0, apex: true });
        assert_eq!(z.lookup(&w("API.p.LocalHost")), Lookup::Host { tld_at: 6, apex: false });
        assert_eq!(z.lookup(&w("example.com")), Lookup::Outside);
        assert_eq!(z.lookup(&w("notlocalhost")), Lookup::Outside);
        assert_eq!(z.lookup(&[0]), Lookup::Outside, "the root");
        assert!(Zone::new("bad tld").is_err());
        assert!(Zone::new("").is_err());
    }

    #[test]
    fn known_hosts_close_the_zone_and_follow_changes() {
        let z = Zone::with_hosts(
            "localhost",
            &[
                "api.p.localhost".into(),
                "*.w.q.localhost".into(),
                "elsewhere.com".into(),
            ],
        )
        .expect("valid");
        assert!(matches!(z.lookup(&w("api.p.localhost")), Lookup::Host { .. }));
        assert!(matches!(z.lookup(&w("x.y.w.q.localhost")), Lookup::Host { .. }));
        assert_eq!(z.lookup(&w("p.localhost")), Lookup::Empty { tld_at: 2 });
        assert_eq!(z.lookup(&w("w.q.localhost")), Lookup::Empty { tld_at: 4 });
        assert_eq!(z.lookup(&w("web.p.localhost")), Lookup::Missing { tld_at: 6 });
        assert!(matches!(z.lookup(&w("localhost")), Lookup::Host { apex: true, .. }));
        assert_eq!(z.lookup(&w("elsewhere.com")), Lookup::Outside);
        z.set_hosts(None);
        assert!(matches!(z.lookup(&w("web.p.localhost")), Lookup::Host { .. }));
        assert!(z.set_tld("test").expect("valid"));
        assert_eq!(z.lookup(&w("api.p.localhost")), Lookup::Outside);
        assert!(matches!(z.lookup(&w("a.test")), Lookup::Host { .. }));
        assert!(!z.set_tld("test").expect("valid"));
        assert!(z.set_tld("no way").is_err());
        assert_eq!(z.tld(), "test");
    }
}
