//! The plain-HTTP port: every request gets a 308 to its https URL, path and query kept.

use super::{Shared, http, pages};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

/// Answers one connection's first request, then closes it.
pub fn serve(mut c: TcpStream, s: &Shared) {
    let deadline = Instant::now() + s.opts.head_timeout;
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 4096];
    let reply = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break pages::simple(408);
        }
        let _ = c.set_read_timeout(Some(left));
        match c.read(&mut chunk) {
            // a signal ended the wait (Linux does not restart a read with a timeout)
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Ok(0) | Err(_) if buf.is_empty() => return,
            Ok(0) => break pages::simple(400),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => break pages::simple(408),
        }
        match http::parse_request(&buf) {
            Ok(Some(r)) => {
                let Some(host) = r.host().filter(|h| !h.is_empty()) else {
                    break pages::simple(400);
                };
                break pages::redirect(&host, s.opts.https_port, &r.target);
            }
            Ok(None) if buf.len() > s.opts.max_head_bytes => break pages::simple(431),
            Ok(None) => {}
            Err(http::HeadError::TooLarge) => break pages::simple(431),
            Err(_) => break pages::simple(400),
        }
    };
    let _ = c.write_all(&reply);
    super::linger(&mut c);
}
