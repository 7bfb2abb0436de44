//! The certificate resolver the HTTPS proxy serves with: the certificate for the name a
//! client asks for (SNI), read or minted on first use and then kept in memory.
//!
//! Names not under the managed TLD get none, so their handshake fails. A client that sends
//! no name (it connected to an address: `https://127.0.0.1`) gets the TLD's own certificate,
//! which also names 127.0.0.1 and ::1: it verifies for those addresses, and for anything else
//! the client says which name it expected instead of seeing a bare handshake failure.

use super::{Authority, RENEW_BEFORE_SECS, host_name};
use crate::error::Error;
use crate::sync::guard;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Names kept in memory at most; past it the cache starts over (the certificates stay on
/// disk, so a name that comes back costs a read, not a mint).
const MAX_CACHED: usize = 4096;

/// One name's certificate, once read or minted, and when it ends.
type Slot = Mutex<Option<(Arc<CertifiedKey>, i64)>>;

/// Serves each name under the TLD its own certificate, minted on first use and cached.
/// Thread-safe: a mint holds up only the handshakes of that same name.
pub struct SniResolver {
    ca: Arc<Authority>,
    tld: String,
    slots: Mutex<HashMap<String, Arc<Slot>>>,
    last_error: Mutex<Option<Error>>,
}

impl std::fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SniResolver")
            .field("ca", &self.ca)
            .field("tld", &self.tld)
            .finish_non_exhaustive()
    }
}

impl SniResolver {
    /// A resolver issuing from `ca` for names under `tld`.
    pub fn new(ca: Arc<Authority>, tld: String) -> Self {
        SniResolver {
            ca,
            tld,
            slots: Mutex::new(HashMap::new()),
            last_error: Mutex::new(None),
        }
    }

    /// The certificate for `name`: from memory, else from disk or minted. None for a name
    /// not under the TLD, or when it cannot be made (see [`SniResolver::last_error`]).
    pub fn key_for(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        let name = host_name(name, &self.tld).ok()?;
        let slot = {
            let mut slots = guard(&self.slots);
            if slots.len() >= MAX_CACHED && !slots.contains_key(&name) {
                slots.clear();
            }
            slots.entry(name.clone()).or_default().clone()
        };
        // the map is free again: other names go on while this one is read or minted
        let mut held = guard(&slot);
        let now = crate::time::now_secs() as i64;
        if let Some((key, not_after)) = held.as_ref()
            && now + RENEW_BEFORE_SECS < *not_after
        {
            return Some(key.clone());
        }
        match self.ca.material(&name, now) {
            Ok((cert, key)) => {
                *held = Some((key.clone(), cert.not_after));
                Some(key)
            }
            Err(e) => {
                *guard(&self.last_error) = Some(e);
                None
            }
        }
    }

    /// The last failure to read or mint a certificate, for the proxy's status: a handshake
    /// that got no certificate cannot say why.
    pub fn last_error(&self) -> Option<Error> {
        guard(&self.last_error).clone()
    }

    /// How many names have a certificate in memory.
    pub fn cached(&self) -> usize {
        guard(&self.slots).values().filter(|s| guard(s).is_some()).count()
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = client_hello.server_name().unwrap_or(&self.tld).to_string();
        self.key_for(&name)
    }
}
