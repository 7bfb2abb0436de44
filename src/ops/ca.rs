//! `ca_path` and `ca_mint`: the local CA's certificate, and host certificates minted from
//! it. The CA is mkcert's when the environment holds one, else ours (made on first use);
//! trusting it (`ca install`) changes the system and stays the CLI's.

use super::{Ctx, load_project};
use crate::certs::{self, Authority, HostCert, Source};
use crate::config::GlobalConfig;
use crate::error::Result;
use serde::{Deserialize, Serialize};
use std::ffi::OsStr;
use std::path::PathBuf;

/// Params of `ca_mint`: one host, or (none) every host of the project's tasks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MintParams {
    /// The host name.
    pub host: Option<String>,
}

/// The CA in use: `ca_path`'s answer, and what `ca_mint` says of the CA it used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaInfo {
    /// Always true.
    pub ok: bool,
    /// Its certificate (PEM).
    pub path: PathBuf,
    /// Whose CA it is.
    pub source: Source,
    /// Its subject.
    pub subject: String,
    /// Its SHA-256 fingerprint.
    pub fingerprint_sha256: String,
    /// When it expires (ISO-8601).
    pub not_after: String,
    /// It was made by this request.
    pub created: bool,
}

/// One host certificate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CertInfo {
    /// The host it certifies.
    pub host: String,
    /// `minted` now, or `reused` from disk.
    pub action: String,
    /// The certificate.
    pub cert: PathBuf,
    /// Its key (0600).
    pub key: PathBuf,
    /// When it expires (ISO-8601).
    pub not_after: String,
}

/// `ca_mint`: `{"ok", "ca", …one certificate's fields}` for a host, `{"ok", "ca",
/// "certs": […]}` for the project's hosts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Minted {
    /// Always true.
    pub ok: bool,
    /// The CA's certificate.
    pub ca: PathBuf,
    /// Whose CA it is.
    pub ca_source: Source,
    /// The CA was made by this request.
    pub ca_created: bool,
    /// The one host's certificate.
    #[serde(flatten)]
    pub one: Option<CertInfo>,
    /// The project's certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certs: Option<Vec<CertInfo>>,
    /// The project's config, when its hosts were minted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_path: Option<PathBuf>,
}

/// The CA in use for the context's environment: mkcert's when `CAROOT` (or `mkcert
/// -CAROOT`, mkcert on PATH) holds one, else ours, made on first use. The daemon's proxy
/// builds its certificate resolver from the same.
pub fn authority(ctx: &Ctx) -> Result<Authority> {
    let home = absolute_home(ctx);
    let tld = GlobalConfig::load(&home)?.dns_managed_tld;
    let mkcert = certs::mkcert_root(ctx.var("CAROOT").map(OsStr::new), ctx.var("PATH").map(OsStr::new));
    Authority::load_or_create(&home, &tld, mkcert.as_deref())
}

/// The state directory of `ctx`, absolute (it is written into files and hints).
pub fn absolute_home(ctx: &Ctx) -> PathBuf {
    if ctx.home.is_absolute() {
        ctx.home.clone()
    } else {
        ctx.cwd.join(&ctx.home)
    }
}

/// What `ca_path` says of a CA.
pub fn info(ca: &Authority) -> CaInfo {
    CaInfo {
        ok: true,
        path: ca.cert_pem_path().to_path_buf(),
        source: ca.source(),
        subject: ca.subject().to_string(),
        fingerprint_sha256: ca.fingerprint().to_string(),
        not_after: crate::time::iso_time(ca.not_after() as f64),
        created: ca.created(),
    }
}

/// `ca_path`: the CA's certificate, the CA made when there is none.
pub fn path(ctx: &Ctx) -> Result<CaInfo> {
    Ok(info(&authority(ctx)?))
}

fn cert_info(c: &HostCert) -> CertInfo {
    CertInfo {
        host: c.host.clone(),
        action: if c.minted { "minted" } else { "reused" }.into(),
        cert: c.cert.clone(),
        key: c.key.clone(),
        not_after: crate::time::iso_time(c.not_after as f64),
    }
}

/// `ca_mint`: a host's certificate, or one for each host of the project's tasks (a `*`
/// host is left out: its names are minted as they are asked for).
pub fn mint(ctx: &Ctx, p: MintParams) -> Result<Minted> {
    let ca = authority(ctx)?;
    let mut m = Minted {
        ok: true,
        ca: ca.cert_pem_path().to_path_buf(),
        ca_source: ca.source(),
        ca_created: ca.created(),
        one: None,
        certs: None,
        config_path: None,
    };
    if let Some(host) = p.host {
        m.one = Some(cert_info(&ca.host_cert(&host)?));
        return Ok(m);
    }
    let project = load_project(ctx)?;
    let tld = ca.tld().to_string();
    let names: Vec<String> = project
        .tasks
        .iter()
        .filter_map(|t| t.host.as_deref())
        .filter(|h| *h != "*")
        .map(|h| match h {
            "@" => format!("{}.{tld}", project.name),
            h => format!("{h}.{}.{tld}", project.name),
        })
        .collect();
    let certs = names.iter().map(|n| ca.host_cert(n)).collect::<Result<Vec<_>>>()?;
    m.certs = Some(certs.iter().map(cert_info).collect());
    m.config_path = Some(project.path.clone());
    Ok(m)
}
