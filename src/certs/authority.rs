//! The CA in use, ours (`$TASKMUX_HOME/ca/ca.pem` + `ca-key.pem`, made on first use) or
//! mkcert's, and the host certificates it issues: read back from `$TASKMUX_HOME/certs/` while
//! they are good for more than a week, else minted and written atomically.

use super::mint::{self, Minted};
use super::{RENEW_BEFORE_SECS, adopt, host_name, provider, sha256_hex};
use crate::error::{Error, Kind, Result};
use crate::paths::{ensure_dir, lock_in, write_atomic};
use rcgen::{Issuer, KeyPair};
use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Whose CA signs the host certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// taskmux's own, under `$TASKMUX_HOME/ca/`.
    Ours,
    /// mkcert's (`mkcert -CAROOT`), used when it is there, so one trusted CA serves both.
    Mkcert,
}

/// A host certificate on disk.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostCert {
    /// The host name it certifies.
    pub host: String,
    /// `$TASKMUX_HOME/certs/<host>.pem`.
    pub cert: PathBuf,
    /// `$TASKMUX_HOME/certs/<host>-key.pem` (0600).
    pub key: PathBuf,
    /// When it expires, in seconds since the epoch.
    pub not_after: i64,
    /// Whether it was minted now (false: the one on disk was good).
    pub minted: bool,
}

/// The CA in use: its certificate, its key, and a verifier that trusts only it, which tells
/// whether a certificate on disk is still one this CA issued.
pub struct Authority {
    home: PathBuf,
    tld: String,
    source: Source,
    cert_path: PathBuf,
    key_path: PathBuf,
    cert_pem: String,
    subject: String,
    not_after: i64,
    fingerprint: String,
    created: bool,
    issuer: Issuer<'static, KeyPair>,
    verifier: Arc<WebPkiServerVerifier>,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority")
            .field("source", &self.source)
            .field("cert", &self.cert_path)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// The directory of our CA in a state directory.
pub fn ca_dir(home: &Path) -> PathBuf {
    home.join("ca")
}

impl Authority {
    /// Ours under `$TASKMUX_HOME/ca/` (ca.pem, ca-key.pem 0600, dir 0700), created on first
    /// use; or mkcert's when `mkcert_root` (the `mkcert -CAROOT` directory, found by the
    /// front) holds rootCA.pem and rootCA-key.pem. A CA whose files cannot be used is E601,
    /// never replaced behind the user's back (browsers trust the one they were given).
    pub fn load_or_create(home: &Path, tld: &str, mkcert_root: Option<&Path>) -> Result<Authority> {
        Self::load_or_create_at(home, tld, mkcert_root, crate::time::now_secs() as i64)
    }

    pub(super) fn load_or_create_at(home: &Path, tld: &str, mkcert_root: Option<&Path>, now: i64) -> Result<Authority> {
        let tld = host_name(tld, tld)?;
        if let Some(root) = mkcert_root {
            let (cert, key) = (root.join("rootCA.pem"), root.join("rootCA-key.pem"));
            if cert.is_file() && key.is_file() {
                return Self::load(home, &tld, Source::Mkcert, cert, key, false, now).map_err(|e| {
                    e.hint(format!(
                        "fix or remove mkcert's CA in {} (mkcert -install makes one), or point CAROOT elsewhere to use taskmux's own",
                        root.display()
                    ))
                });
            }
        }
        let dir = ca_dir(home);
        let (cert, key) = (dir.join("ca.pem"), dir.join("ca-key.pem"));
        let _lock = lock_in(home, "ca")?;
        let mut created = false;
        if !cert.exists() && !key.exists() {
            ensure_dir(&dir)?;
            adopt(home, &dir);
            let Minted { cert_pem, key_pem } = mint::new_ca(&owner(), &tld, now)?;
            // the key first: a cert without its key is never left for another reader
            write_atomic(&key, key_pem.as_bytes(), 0o600)?;
            write_atomic(&cert, cert_pem.as_bytes(), 0o644)?;
            adopt(home, &key);
            adopt(home, &cert);
            created = true;
        }
        Self::load(home, &tld, Source::Ours, cert, key, created, now)
    }

    fn load(
        home: &Path,
        tld: &str,
        source: Source,
        cert_path: PathBuf,
        key_path: PathBuf,
        created: bool,
        now: i64,
    ) -> Result<Authority> {
        let bad = |path: &Path, reason: String| -> Error {
            Kind::CaFiles {
                path: path.to_path_buf(),
                reason,
            }
            .into()
        };
        let cert_pem = read(&cert_path)?;
        let der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|e| bad(&cert_path, format!("it holds no PEM certificate ({e})")))?;
        let (_, x509) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| bad(&cert_path, format!("the certificate does not parse: {e}")))?;
        if !x509.is_ca() {
            return Err(bad(&cert_path, "it is not a CA certificate (CA:true)".into()));
        }
        let not_after = x509.validity().not_after.timestamp();
        if not_after <= now {
            return Err(bad(
                &cert_path,
                format!("the CA expired on {}", crate::time::iso_time(not_after as f64)),
            ));
        }
        let subject = x509.subject().to_string();
        let key_pem = read(&key_path)?;
        let key = KeyPair::from_pem(&key_pem).map_err(|e| {
            bad(
                &key_path,
                format!(
                    "it holds no unencrypted PKCS#8 private key of ECDSA P-256/P-384, Ed25519 or RSA ({e}); a PKCS#1 or SEC1 key converts with 'openssl pkcs8 -topk8 -nocrypt'"
                ),
            )
        })?;
        use rcgen::PublicKeyData;
        if key.der_bytes() != x509.public_key().subject_public_key.data.as_ref() {
            return Err(bad(
                &key_path,
                format!("the key is not the key of {}", cert_path.display()),
            ));
        }
        let issuer = Issuer::from_ca_cert_der(&der, key)
            .map_err(|e| bad(&cert_path, format!("its subject cannot sign certificates here: {e}")))?;
        let mut roots = RootCertStore::empty();
        roots
            .add(der.clone())
            .map_err(|e| bad(&cert_path, format!("it is no usable trust anchor: {e}")))?;
        let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| bad(&cert_path, format!("it is no usable trust anchor: {e}")))?;
        Ok(Authority {
            home: home.to_path_buf(),
            tld: tld.to_string(),
            source,
            cert_path,
            key_path,
            fingerprint: sha256_hex(&der),
            cert_pem,
            subject,
            not_after,
            created,
            issuer,
            verifier,
        })
    }

    /// The CA certificate (PEM), to trust or to hand to clients.
    pub fn cert_pem_path(&self) -> &Path {
        &self.cert_path
    }

    /// The CA's private key.
    pub fn key_path(&self) -> &Path {
        &self.key_path
    }

    /// The CA certificate's text (PEM).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Ours or mkcert's.
    pub fn source(&self) -> Source {
        self.source
    }

    /// The CA's subject, as `openssl x509 -subject` would show it.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The SHA-256 of the CA certificate (DER), lowercase hex.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// A short id of this CA (the fingerprint's first 16 hex digits): its name in the
    /// trust stores is `taskmux-<id>`.
    pub fn id(&self) -> &str {
        &self.fingerprint[..16]
    }

    /// When the CA expires, in seconds since the epoch.
    pub fn not_after(&self) -> i64 {
        self.not_after
    }

    /// Whether this call made the CA (it did not exist before).
    pub fn created(&self) -> bool {
        self.created
    }

    /// The managed TLD it certifies names under.
    pub fn tld(&self) -> &str {
        &self.tld
    }

    /// A certificate for one host name, from `$TASKMUX_HOME/certs/<host>.pem` +
    /// `<host>-key.pem` (0600) when present, valid for more than 7 more days, issued by
    /// this CA and matching its key; else minted (and written atomically). Names not under
    /// the managed TLD are E600 (the TLD itself is fine).
    pub fn host_cert(&self, host: &str) -> Result<HostCert> {
        Ok(self.material(host, crate::time::now_secs() as i64)?.0)
    }

    /// The host's certificate and key, ready for rustls (see [`Authority::host_cert`]).
    pub fn certified_key(&self, host: &str) -> Result<Arc<CertifiedKey>> {
        Ok(self.material(host, crate::time::now_secs() as i64)?.1)
    }

    /// The host's certificate on disk, checked without minting (for `doctor`): None when
    /// there is none yet, its end when it verifies now, else why it does not.
    pub fn check_host(&self, host: &str) -> Result<Option<i64>> {
        let name = host_name(host, &self.tld)?;
        let dir = self.home.join("certs");
        let cert = dir.join(format!("{name}.pem"));
        let key = dir.join(format!("{name}-key.pem"));
        let (Ok(cert_pem), Ok(key_pem)) = (std::fs::read(&cert), std::fs::read(&key)) else {
            return Ok(None);
        };
        let now = crate::time::now_secs() as i64;
        Ok(Some(self.parse_pair(&name, &cert_pem, &key_pem, now)?.0))
    }

    /// [`Authority::host_cert`] and [`Authority::certified_key`] of one read or mint.
    pub(super) fn material(&self, host: &str, now: i64) -> Result<(HostCert, Arc<CertifiedKey>)> {
        let name = host_name(host, &self.tld)?;
        let dir = self.home.join("certs");
        let cert = dir.join(format!("{name}.pem"));
        let key = dir.join(format!("{name}-key.pem"));
        // one process at a time writes a name's two files, so none reads a half-made pair
        let _lock = lock_in(&self.home, &format!("cert-{name}"))?;
        if let Some((not_after, ck)) = self.reusable(&name, &cert, &key, now) {
            let hc = HostCert {
                host: name,
                cert,
                key,
                not_after,
                minted: false,
            };
            return Ok((hc, ck));
        }
        let Minted { cert_pem, key_pem } = mint::host_cert(&name, name == self.tld, &self.issuer, self.not_after, now)?;
        let (not_after, ck) = self.parse_pair(&name, cert_pem.as_bytes(), key_pem.as_bytes(), now)?;
        ensure_dir(&dir)?;
        adopt(&self.home, &dir);
        write_atomic(&key, key_pem.as_bytes(), 0o600)?;
        write_atomic(&cert, cert_pem.as_bytes(), 0o644)?;
        adopt(&self.home, &key);
        adopt(&self.home, &cert);
        let hc = HostCert {
            host: name,
            cert,
            key,
            not_after,
            minted: true,
        };
        Ok((hc, ck))
    }

    /// The pair on disk when it is good for more than [`RENEW_BEFORE_SECS`]: issued by this
    /// CA for `name`, for servers, its key matching. None when it is not (or not there).
    fn reusable(&self, name: &str, cert: &Path, key: &Path, now: i64) -> Option<(i64, Arc<CertifiedKey>)> {
        let cert_pem = std::fs::read(cert).ok()?;
        let key_pem = std::fs::read(key).ok()?;
        self.parse_pair(name, &cert_pem, &key_pem, now + RENEW_BEFORE_SECS).ok()
    }

    /// A certificate and key (PEM) as rustls takes them, checked as a client trusting only
    /// this CA would at time `at`; with the certificate's end.
    fn parse_pair(&self, name: &str, cert_pem: &[u8], key_pem: &[u8], at: i64) -> Result<(i64, Arc<CertifiedKey>)> {
        let bad = |what: String| Error::from(Kind::Mint(format!("the certificate for {name} {what}")));
        let der = CertificateDer::from_pem_slice(cert_pem).map_err(|e| bad(format!("is no PEM certificate: {e}")))?;
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| bad(format!("has no PEM key: {e}")))?;
        let server_name = ServerName::try_from(name.to_string()).map_err(|e| bad(format!("has a bad name: {e}")))?;
        let time = UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(at).unwrap_or(0)));
        self.verifier
            .verify_server_cert(&der, &[], &server_name, &[], time)
            .map_err(|e| bad(format!("does not verify: {e}")))?;
        let (_, x509) = x509_parser::parse_x509_certificate(&der).map_err(|e| bad(format!("does not parse: {e}")))?;
        let not_after = x509.validity().not_after.timestamp();
        let ck = CertifiedKey::from_der(vec![der.clone()], key, &provider())
            .map_err(|e| bad(format!("and its key do not go together: {e}")))?;
        Ok((not_after, Arc::new(ck)))
    }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidData => Kind::CaFiles {
            path: path.to_path_buf(),
            reason: "it is not text (PEM)".into(),
        }
        .into(),
        std::io::ErrorKind::NotFound => Kind::CaFiles {
            path: path.to_path_buf(),
            reason: "it is missing (the CA's certificate and key go together)".into(),
        }
        .into(),
        _ => Error::io("read", path, e),
    })
}

/// `user@host` of this process, for the CA's subject.
fn owner() -> String {
    let uid = rustix::process::getuid().as_raw();
    let user = std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                (f.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_string())
            })
        })
        .unwrap_or_else(|| format!("uid{uid}"));
    let host = rustix::system::uname().nodename().to_string_lossy().into_owned();
    let clean = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_ascii_graphic() && *c != '@')
            .take(64)
            .collect()
    };
    format!("{}@{}", clean(&user), clean(&host))
}
