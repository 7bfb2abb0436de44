//! `taskmux ca env`: the variables that make Node, Python, OpenSSL and curl trust the CA,
//! and the bundle they point at, `$TASKMUX_HOME/ca/bundle.pem` = the system's roots + the CA.

use super::{Authority, adopt};
use crate::error::{Error, Result};
use crate::paths::{ensure_dir, write_atomic};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The system's root bundles, under the system root, the first one present wins: Debian and
/// its kin, Fedora and its kin, macOS and the BSDs.
pub const SYSTEM_BUNDLES: [&str; 3] = [
    "etc/ssl/certs/ca-certificates.crt",
    "etc/pki/tls/certs/ca-bundle.crt",
    "etc/ssl/cert.pem",
];

/// What `ca env` prints: the variables in order, and where their bundle came from.
#[derive(Debug, Clone, Serialize)]
pub struct CaEnv {
    /// `NODE_EXTRA_CA_CERTS` (the CA alone: Node adds it to its own roots), `SSL_CERT_FILE`,
    /// `REQUESTS_CA_BUNDLE` and `CURL_CA_BUNDLE` (the bundle: they replace the roots).
    pub vars: Vec<(String, PathBuf)>,
    /// `$TASKMUX_HOME/ca/bundle.pem`.
    pub bundle: PathBuf,
    /// The system bundle it starts with; None when the system has none of
    /// [`SYSTEM_BUNDLES`] (then the bundle holds the CA alone, and other sites fail).
    pub system_roots: Option<PathBuf>,
    /// Whether the bundle was written now (it was missing or stale).
    pub rebuilt: bool,
}

/// The variables of `ca env` for `ca`, the bundle rebuilt when it is not the system's
/// roots (under `root`, `/` but in tests) followed by the CA.
pub fn ca_env(ca: &Authority, home: &Path, root: &Path) -> Result<CaEnv> {
    let system_roots = SYSTEM_BUNDLES.iter().map(|b| root.join(b)).find(|p| p.is_file());
    let mut text = match &system_roots {
        Some(p) => std::fs::read(p).map_err(|e| Error::io("read", p, e))?,
        None => Vec::new(),
    };
    if !text.is_empty() && !text.ends_with(b"\n") {
        text.push(b'\n');
    }
    text.extend_from_slice(format!("# taskmux CA: {}\n", ca.subject()).as_bytes());
    text.extend_from_slice(ca.cert_pem().as_bytes());
    if !text.ends_with(b"\n") {
        text.push(b'\n');
    }
    let dir = super::authority::ca_dir(home);
    let bundle = dir.join("bundle.pem");
    let rebuilt = std::fs::read(&bundle).ok().as_deref() != Some(&text[..]);
    if rebuilt {
        ensure_dir(&dir)?;
        write_atomic(&bundle, &text, 0o644)?;
        adopt(home, &bundle);
    }
    let ca_pem = ca.cert_pem_path().to_path_buf();
    let vars = vec![
        ("NODE_EXTRA_CA_CERTS".to_string(), ca_pem),
        ("SSL_CERT_FILE".to_string(), bundle.clone()),
        ("REQUESTS_CA_BUNDLE".to_string(), bundle.clone()),
        ("CURL_CA_BUNDLE".to_string(), bundle.clone()),
    ];
    Ok(CaEnv {
        vars,
        bundle,
        system_roots,
        rebuilt,
    })
}
