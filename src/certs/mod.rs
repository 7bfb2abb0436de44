//! The local certificate authority and what hangs off it: our CA under `$TASKMUX_HOME/ca/`
//! (or mkcert's when it is there), one certificate per host name minted from it and kept in
//! `$TASKMUX_HOME/certs/`, the SNI resolver the HTTPS proxy serves them with, the CA bundle
//! of `taskmux ca env`, and the trust-store changes of `ca install` and `ca uninstall`.
//!
//! Nothing here reads the process environment: the front passes the state directory, the
//! managed TLD, mkcert's CA root, `PATH`, `HOME` and the system root.

mod authority;
mod bundle;
mod mint;
mod mkcert;
mod resolver;
pub mod trust;

pub use authority::{Authority, HostCert, Source, ca_dir};
pub use bundle::{CaEnv, SYSTEM_BUNDLES, ca_env};
pub use mkcert::mkcert_root;
pub use resolver::SniResolver;

use crate::error::{Error, Kind, Result};
use rustls::crypto::CryptoProvider;
use std::path::Path;
use std::sync::Arc;

/// A host certificate on disk is used again while it is valid for more than this many seconds.
pub const RENEW_BEFORE_SECS: i64 = 7 * 86_400;

/// The crypto provider every certificate check and TLS config of the suite uses: ring.
/// rustls 0.23.48 deprecates ring's provider for its lack of post-quantum key exchange,
/// which the aws-lc-rs provider has; the suite is built on ring alone, by choice of its
/// stack, so this is the one place that takes ring's provider, knowingly.
#[allow(deprecated)]
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A host name the local CA certifies, normalised (lowercase, no trailing dot): the TLD
/// itself or a name under it, of LDH labels. Anything else is E600, naming why.
pub fn host_name(host: &str, tld: &str) -> Result<String> {
    let name = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    let refuse = |reason: String| -> Result<String> {
        Err(Kind::CertName {
            host: host.to_string(),
            tld: tld.to_string(),
            reason,
        }
        .into())
    };
    if name.starts_with("*.") || name == "*" {
        return refuse(
            "it is a wildcard, which browsers refuse under a top-level domain; each name gets its own certificate"
                .into(),
        );
    }
    if !crate::domain::is_domain(&name, crate::domain::Chars::Lower) {
        return refuse(
            "it is not a DNS name: dot-separated labels of a-z, 0-9 and - (not at either end), at most 253 characters"
                .into(),
        );
    }
    if name != tld && !name.ends_with(&format!(".{tld}")) {
        return refuse(format!("only names under .{tld} are certified by the local CA"));
    }
    Ok(name)
}

/// The SHA-256 of some bytes, as lowercase hex.
fn sha256_hex(data: &[u8]) -> String {
    let suite = rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256;
    let hash = suite
        .tls13()
        .expect("TLS13_AES_128_GCM_SHA256 is a TLS 1.3 suite")
        .common
        .hash_provider
        .hash(data);
    hex(hash.as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Random bytes from the provider's secure source.
fn random<const N: usize>() -> Result<[u8; N]> {
    let mut buf = [0u8; N];
    provider()
        .secure_random
        .fill(&mut buf)
        .map_err(|_| Error::from(Kind::Mint("the system's random source failed".into())))?;
    Ok(buf)
}

/// When the process runs as root on files in a state directory another user owns (`sudo
/// taskmux ca install`), gives a file it made back to that user, so their own taskmux can
/// still read and rewrite it. Elsewhere, nothing.
fn adopt(home: &Path, path: &Path) {
    use std::os::unix::fs::MetadataExt;
    if !rustix::process::geteuid().is_root() {
        return;
    }
    let Ok(owner) = std::fs::metadata(home) else { return };
    if owner.uid() == 0 {
        return;
    }
    let uid = rustix::fs::Uid::from_raw(owner.uid());
    let gid = rustix::fs::Gid::from_raw(owner.gid());
    let _ = rustix::fs::chown(path, Some(uid), Some(gid));
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod name_tests {
    use super::*;

    #[test]
    fn host_names_under_the_tld_only() {
        assert_eq!(
            host_name("API.p.localhost.", "localhost").ok().as_deref(),
            Some("api.p.localhost")
        );
        assert_eq!(host_name("localhost", "localhost").ok().as_deref(), Some("localhost"));
        for bad in [
            "example.com",
            "evillocalhost",
            "*.p.localhost",
            "a..localhost",
            "-a.localhost",
            "a_b.localhost",
            "",
            "a/../b.localhost",
        ] {
            let e = host_name(bad, "localhost").expect_err(bad);
            assert_eq!(e.code(), "E600", "{bad}: {e}");
        }
        let long = format!("{}.localhost", vec!["a".repeat(63); 4].join("."));
        assert_eq!(
            host_name(&long, "localhost").map_err(|e| e.code().to_string()),
            Err("E600".to_string())
        );
    }

    #[test]
    fn sha256_is_sha256() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
