//! rustls through the `SniResolver`: a client trusting only the CA completes a handshake
//! for names under the TLD (minted on first SNI) and for an address (no SNI), and none for
//! other names.

use crate::certs::Ca;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;
use taskmux::certs::{Authority, SniResolver, provider};

/// A TLS server on 127.0.0.1 answering `hello` on each of `n` connections, its
/// certificates from the resolver.
fn serve(resolver: SniResolver, n: usize) -> u16 {
    let cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    let cfg = Arc::new(cfg);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    // ends with the test process; each connection has a timeout, so none hangs
    std::thread::spawn(move || {
        for stream in listener.incoming().take(n).flatten() {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let Ok(conn) = rustls::ServerConnection::new(cfg.clone()) else {
                continue;
            };
            let mut tls = rustls::StreamOwned::new(conn, stream);
            if tls.write_all(b"hello").is_ok() {
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
        }
    });
    port
}

fn fetch(cfg: &Arc<rustls::ClientConfig>, port: u16, name: ServerName<'static>) -> Result<String, String> {
    let stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let conn = rustls::ClientConnection::new(cfg.clone(), name).map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(conn, stream);
    let mut got = String::new();
    tls.read_to_string(&mut got).map_err(|e| e.to_string())?;
    Ok(got)
}

#[test]
fn rustls_handshakes_through_the_sni_resolver_for_names_under_the_tld_only() {
    let c = Ca::new("ca-rustls");
    let ca = Arc::new(Authority::load_or_create(&c.env.home, "localhost", None).expect("a CA"));
    let port = serve(SniResolver::new(ca.clone(), "localhost".into()), 4);
    let mut roots = rustls::RootCertStore::empty();
    let der = CertificateDer::from_pem_file(ca.cert_pem_path()).expect("ca.pem");
    roots.add(der).expect("a root");
    let cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let cfg = Arc::new(cfg);
    let name = |n: &str| ServerName::try_from(n.to_string()).expect("a name");
    assert_eq!(fetch(&cfg, port, name("api.p.localhost")).as_deref(), Ok("hello"));
    assert!(
        c.env.home.join("certs/api.p.localhost.pem").is_file(),
        "minted on first SNI"
    );
    let refused = fetch(&cfg, port, name("example.com"));
    assert!(refused.is_err(), "no certificate for example.com: {refused:?}");
    // no SNI (an address): the TLD's certificate, which names 127.0.0.1
    let ip = ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
    assert_eq!(fetch(&cfg, port, ip).as_deref(), Ok("hello"));
    assert_eq!(fetch(&cfg, port, name("web.p.localhost")).as_deref(), Ok("hello"));
}
