//! doctor's checks of trust and names: the CA, its trust in the system and NSS stores,
//! each host's certificate, and each host's name through the OS resolver and our server.

use super::{Check, World};
use crate::certs::trust::{self, Store};
use crate::certs::{Authority, Source};
use std::ffi::OsStr;

/// The CA, certificate and name checks for these host names.
pub fn checks(w: &World, hosts: &[String]) -> Vec<Check> {
    let mut out = Vec::new();
    match authority(w) {
        Ok(None) => out.push(Check::warn(
            "ca",
            "no local CA yet: it is made the first time the proxy serves a host",
            "taskmux ca path (makes it now), then taskmux ca install",
        )),
        Err(e) => out.push(Check::fail(
            "ca",
            e.message(),
            e.hint.unwrap_or_else(|| "taskmux ca path".into()),
        )),
        Ok(Some(ca)) => {
            out.push(ca_check(&ca));
            out.extend(trust_checks(w, &ca));
            for h in hosts.iter().filter(|h| !h.starts_with("*.")) {
                out.push(host_cert(&ca, h));
            }
        }
    }
    for h in hosts {
        out.push(super::resolve::check(w, h));
    }
    out
}

/// The CA in use, when there is one (doctor does not make it).
fn authority(w: &World) -> crate::error::Result<Option<Authority>> {
    let ctx = w.ctx;
    let mkcert = crate::certs::mkcert_root(ctx.var("CAROOT").map(OsStr::new), ctx.var("PATH").map(OsStr::new));
    let ours = crate::certs::ca_dir(&ctx.home).join("ca.pem");
    if mkcert.is_none() && !ours.exists() {
        return Ok(None);
    }
    Authority::load_or_create(&ctx.home, &w.global.dns_managed_tld, mkcert.as_deref()).map(Some)
}

fn ca_check(ca: &Authority) -> Check {
    let now = crate::time::now_secs() as i64;
    let days = (ca.not_after() - now) / 86_400;
    let source = match ca.source() {
        Source::Mkcert => "mkcert's CA",
        Source::Ours => "the local CA",
    };
    let msg = format!(
        "{source} {} ({}), valid {days} more days",
        ca.cert_pem_path().display(),
        ca.subject()
    );
    if days < 30 {
        Check::warn(
            "ca",
            msg,
            "remove the ca/ directory and run 'taskmux ca path' then 'taskmux ca install'",
        )
    } else {
        Check::ok("ca", msg)
    }
}

fn trust_world(w: &World) -> trust::World {
    trust::World {
        root: w.root.clone(),
        home: w.ctx.home.clone(),
        user_home: w.ctx.user_home().map(|p| p.to_path_buf()),
        path: w.ctx.var("PATH").map(Into::into),
    }
}

/// Whether install put the CA in the system store and the NSS databases, and it is still
/// there.
fn trust_checks(w: &World, ca: &Authority) -> Vec<Check> {
    let tw = trust_world(w);
    let entries = trust::installed_for(ca, &tw).unwrap_or_default();
    let system = entries.iter().find(|e| e.store != Store::Nss);
    let sys = match system {
        Some(e) if e.store == Store::Macos || e.place.exists() => Check::ok(
            "ca trust: system",
            format!("trusted ({}: {})", e.store.name(), e.place.display()),
        ),
        Some(e) => Check::fail(
            "ca trust: system",
            format!("installed once, but {} is gone", e.place.display()),
            "sudo taskmux ca install",
        ),
        None => Check::warn(
            "ca trust: system",
            "not trusted by the system store: curl, Node and Python refuse the proxy's certificates",
            "sudo taskmux ca install (or eval \"$(taskmux ca env)\" per shell)",
        ),
    };
    let nss: Vec<_> = entries.iter().filter(|e| e.store == Store::Nss).collect();
    let has_certutil = crate::tmux::find_in_path("certutil", w.ctx.var("PATH").map(OsStr::new)).is_some();
    let browsers = if !nss.is_empty() {
        let places: Vec<String> = nss.iter().map(|e| e.place.display().to_string()).collect();
        Check::ok("ca trust: browsers", format!("trusted in NSS: {}", places.join(", ")))
    } else if !has_certutil {
        Check::warn(
            "ca trust: browsers",
            "certutil is not installed: Chromium and Firefox do not trust the CA",
            "install certutil (Debian: apt-get install libnss3-tools), then taskmux ca install",
        )
    } else {
        Check::warn(
            "ca trust: browsers",
            "not in the NSS databases Chromium and Firefox read",
            "taskmux ca install",
        )
    };
    vec![sys, browsers]
}

/// A host's certificate on disk: none yet (minted on first use), valid, or broken.
fn host_cert(ca: &Authority, host: &str) -> Check {
    let name = format!("cert {host}");
    match ca.check_host(host) {
        Ok(None) => Check::ok(name, "not minted yet: the proxy mints it on the first request"),
        Ok(Some(end)) => {
            let days = (end - crate::time::now_secs() as i64) / 86_400;
            Check::ok(name, format!("valid, {days} more days"))
        }
        Err(e) => Check::fail(
            name,
            e.message(),
            format!(
                "taskmux ca mint {host} (mints a new one; the daemon serves it within a week, or at once after 'taskmux daemon restart')"
            ),
        ),
    }
}
