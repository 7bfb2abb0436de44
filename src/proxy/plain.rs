//! The plain-HTTP port: a request for a name the proxy serves (a task's host) gets a 308 to
//! its https URL, path and query kept; any other name gets the 503 page here, so the port
//! never sends a browser on to a name it was merely given (`Host: evil.com`).

use super::{Route, Shared, http, pages};
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
            Ok(Some(r)) => break answer(&r, s),
            Ok(None) if buf.len() >= s.opts.max_head_bytes => break pages::simple(431),
            Ok(None) => {}
            Err(http::HeadError::TooLarge) => break pages::simple(431),
            Err(e) => break pages::refused(e.status(), e.why()),
        }
    };
    let _ = c.write_all(&reply);
    super::linger(&mut c);
}

/// The 308 for a name with a route, the 503 page for any other.
fn answer(r: &http::Request, s: &Shared) -> Vec<u8> {
    let Some(host) = r.host.as_deref().filter(|h| !h.is_empty()) else {
        return pages::refused(400, "names no host, so there is no https URL to send it to");
    };
    match s.router.route(host) {
        Route::Unknown {
            project,
            hosts,
            registered,
        } => {
            let html = pages::wants_html(r.header("accept"));
            pages::unknown_host(host, project.as_deref(), &hosts, &registered, html, true)
        }
        Route::Upstream { .. } | Route::Down { .. } => pages::redirect(host, s.opts.https_port, r.path()),
    }
}
