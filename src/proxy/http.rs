//! HTTP/1.x heads for the proxy (RFC 9112): request and response heads read with httparse;
//! the framing of each one's body, refusing any a second reader could take another way
//! (request smuggling); the name a request is for; and the heads the proxy writes on: the
//! upstream's (every header kept in order, `X-Forwarded-*` added) and, where the upstream's
//! own would mislead the client, the response's.

pub use super::body::{Body, Chunked};
use std::net::IpAddr;

/// The most header lines in a head.
const MAX_HEADERS: usize = 200;

/// Why a head cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// Past the size cap or [`MAX_HEADERS`]: 431.
    TooLarge,
    /// Not HTTP/1.x, or framing that cannot be trusted: 400 (502 from an upstream).
    Malformed(&'static str),
    /// A transfer coding besides chunked, which the proxy does not decode: 501.
    Unsupported(&'static str),
}

impl HeadError {
    /// The status a client gets for it.
    pub fn status(self) -> u16 {
        match self {
            HeadError::TooLarge => 431,
            HeadError::Malformed(_) => 400,
            HeadError::Unsupported(_) => 501,
        }
    }

    /// What is wrong, in words that follow "the request": "has both ...".
    pub fn why(self) -> &'static str {
        match self {
            HeadError::TooLarge => "has a head larger than the proxy takes (64 KiB, 200 header lines)",
            HeadError::Malformed(w) | HeadError::Unsupported(w) => w,
        }
    }
}

/// A request head, parsed.
#[derive(Debug, Clone)]
pub struct Request {
    /// Bytes the head took.
    pub len: usize,
    /// Its method.
    pub method: String,
    /// Its target as sent (origin-form, absolute-form, `*`).
    pub target: String,
    /// HTTP/1.0 (0) or 1.1 (1).
    pub version: u8,
    /// Every header, in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body's framing.
    pub body: Body,
    /// The name it is for: the authority of an absolute-form target, else `Host`; without
    /// its port and a trailing dot, lowercased. None for an HTTP/1.0 request without Host
    /// (or with an empty one).
    pub host: Option<String>,
    /// For an absolute-form target (`GET https://a.p.localhost/x`): its authority as sent
    /// and the origin-form target (`/x`), which the upstream gets with that authority as
    /// `Host` (RFC 9112 section 3.2.2).
    pub absolute: Option<(String, String)>,
}

impl Request {
    /// The first header of this name.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        header(&self.headers, name)
    }
    /// The target in origin-form: the path and query (`*` stays `*`).
    pub fn path(&self) -> &str {
        self.absolute.as_ref().map_or(&self.target, |(_, p)| p)
    }
    /// Whether the client wants the connection closed after this exchange: HTTP/1.1 unless
    /// it says `close`, HTTP/1.0 unless it says `keep-alive` (RFC 9112 section 9.3).
    pub fn wants_close(&self) -> bool {
        has_token(&self.headers, "connection", "close")
            || (self.version == 0 && !has_token(&self.headers, "connection", "keep-alive"))
    }
    /// The head the upstream gets: the same request line and headers, in order, plus
    /// `X-Forwarded-For` (appended to one the client sent), `-Proto` and `-Host`. An
    /// absolute-form target goes as origin-form, its authority as `Host`.
    pub fn upstream_head(&self, client: IpAddr, out: &mut Vec<u8>) {
        out.extend_from_slice(self.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.path().as_bytes());
        out.extend_from_slice(if self.version == 0 {
            b" HTTP/1.0\r\n"
        } else {
            b" HTTP/1.1\r\n"
        });
        let authority = self.absolute.as_ref().map(|(a, _)| a.as_bytes());
        let mut xff_done = false;
        let mut host_done = false;
        for (k, v) in &self.headers {
            let lk = k.to_ascii_lowercase();
            if lk == "x-forwarded-proto" || lk == "x-forwarded-host" {
                continue;
            }
            let v = match authority {
                Some(a) if lk == "host" => a,
                _ => v.as_slice(),
            };
            host_done |= lk == "host";
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            if lk == "x-forwarded-for" && !xff_done {
                out.extend_from_slice(format!(", {client}").as_bytes());
                xff_done = true;
            }
            out.extend_from_slice(b"\r\n");
        }
        if let (Some(a), false) = (authority, host_done) {
            out.extend_from_slice(b"Host: ");
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        if !xff_done {
            out.extend_from_slice(format!("X-Forwarded-For: {client}\r\n").as_bytes());
        }
        out.extend_from_slice(b"X-Forwarded-Proto: https\r\n");
        if let Some(h) = authority.or_else(|| self.header("host")) {
            out.extend_from_slice(b"X-Forwarded-Host: ");
            out.extend_from_slice(h);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// Reads a request head from the front of `buf`: None while it is incomplete. A head whose
/// body could be read two ways, or whose name is missing or not one, is an error.
pub fn parse_request(buf: &[u8]) -> Result<Option<Request>, HeadError> {
    let mut hs = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut r = httparse::Request::new(&mut hs);
    let len = match r.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(_) => return Err(HeadError::Malformed("is not HTTP/1.1")),
    };
    let headers: Vec<(String, Vec<u8>)> = r
        .headers
        .iter()
        .map(|h| (h.name.to_string(), h.value.to_vec()))
        .collect();
    let version = r.version.unwrap_or(1);
    let target = r.path.unwrap_or("/").to_string();
    let body = request_body(&headers, version)?;
    let absolute = absolute_form(&target)?;
    let host = request_host(&headers, version, absolute.as_ref().map(|(a, _)| a.as_str()))?;
    Ok(Some(Request {
        len,
        method: r.method.unwrap_or("GET").to_string(),
        target,
        version,
        headers,
        body,
        host,
        absolute,
    }))
}

/// The authority and origin-form of an absolute-form target; None for any other form.
fn absolute_form(target: &str) -> Result<Option<(String, String)>, HeadError> {
    let lower = target.get(..8).unwrap_or(target).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &target[8..]
    } else if lower.starts_with("http://") {
        &target[7..]
    } else {
        return Ok(None);
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.contains('@') || host_name(authority).is_none_or(|h| h.is_empty()) {
        return Err(HeadError::Malformed("has a target URL without a valid host"));
    }
    let path = match path.split('#').next().unwrap_or("") {
        "" => "/".to_string(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_string(),
    };
    Ok(Some((authority.to_string(), path)))
}

/// The name a request is for (RFC 9112 section 3.2): an absolute-form target's authority
/// wins; else the one `Host`, which HTTP/1.1 must send.
fn request_host(
    headers: &[(String, Vec<u8>)],
    version: u8,
    authority: Option<&str>,
) -> Result<Option<String>, HeadError> {
    let hosts: Vec<&[u8]> = headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("host"))
        .map(|(_, v)| v.as_slice())
        .collect();
    if hosts.len() > 1 {
        return Err(HeadError::Malformed("has more than one Host header"));
    }
    let sent = match hosts.first() {
        Some(v) => Some(
            std::str::from_utf8(v)
                .ok()
                .and_then(host_name)
                .ok_or(HeadError::Malformed("has a Host header that is not a host name"))?,
        ),
        None if version >= 1 && authority.is_none() => {
            return Err(HeadError::Malformed("has no Host header, which HTTP/1.1 requires"));
        }
        None => None,
    };
    Ok(match authority {
        Some(a) => host_name(a),
        None => sent.filter(|h| !h.is_empty()),
    })
}

/// The name in a `Host` value or an authority: without its port and a trailing dot,
/// lowercased; "" for an empty value. None when it is not a DNS name (letters, digits, `-`,
/// `_`, `.`), an IPv4 address or a bracketed IPv6 address, or its port is not digits.
pub fn host_name(h: &str) -> Option<String> {
    let h = h.trim();
    let (name, port) = if let Some(rest) = h.strip_prefix('[') {
        let close = rest.find(']')?;
        rest[..close].parse::<std::net::Ipv6Addr>().ok()?;
        (&h[..close + 2], &rest[close + 1..])
    } else {
        h.find(':').map_or((h, ""), |i| h.split_at(i))
    };
    let port_ok = match port.strip_prefix(':') {
        Some(digits) => digits.bytes().all(|b| b.is_ascii_digit()),
        None => port.is_empty(),
    };
    if !port_ok {
        return None;
    }
    if name.starts_with('[') {
        return Some(name.to_ascii_lowercase());
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    let ok = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    (ok && !name.starts_with('.') && !name.contains("..")).then(|| name.to_ascii_lowercase())
}

/// A response head, parsed.
#[derive(Debug, Clone)]
pub struct Response {
    /// Bytes the head took.
    pub len: usize,
    /// Its status.
    pub code: u16,
    /// Its reason phrase.
    pub reason: String,
    /// Whether the upstream will close after it.
    pub close: bool,
    /// The body's framing (given the request's method).
    pub body: Body,
    /// Every header, in order.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Response {
    /// Whether it has Transfer-Encoding.
    pub fn has_transfer_encoding(&self) -> bool {
        header(&self.headers, "transfer-encoding").is_some()
    }

    /// Whether it has both Content-Length and Transfer-Encoding: forwarded, the client could
    /// frame its body by the one the proxy did not (RFC 9112 section 6.3), so the head goes
    /// on without Content-Length.
    pub fn has_both_lengths(&self) -> bool {
        header(&self.headers, "transfer-encoding").is_some() && header(&self.headers, "content-length").is_some()
    }

    /// The head rewritten: the same status and headers in order, less those `drop` names
    /// (lowercase), plus `extra` lines.
    pub fn head_without(&self, drop: &[&str], extra: &[&str]) -> Vec<u8> {
        let mut out = format!("HTTP/1.1 {} {}\r\n", self.code, self.reason).into_bytes();
        for (k, v) in &self.headers {
            if drop.iter().any(|d| k.eq_ignore_ascii_case(d)) {
                continue;
            }
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
        for line in extra {
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }
}

/// Reads a response head from the front of `buf`: None while incomplete.
pub fn parse_response(buf: &[u8], head_request: bool) -> Result<Option<Response>, HeadError> {
    let mut hs = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut r = httparse::Response::new(&mut hs);
    let len = match r.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(_) => return Err(HeadError::Malformed("is not HTTP/1.1")),
    };
    let code = r.code.unwrap_or(502);
    let headers: Vec<(String, Vec<u8>)> = r
        .headers
        .iter()
        .map(|h| (h.name.to_string(), h.value.to_vec()))
        .collect();
    let close = has_token(&headers, "connection", "close")
        || (r.version == Some(0) && !has_token(&headers, "connection", "keep-alive"));
    let codings = codings(&headers);
    let body = if head_request || (100..200).contains(&code) || code == 204 || code == 304 {
        Body::Length(0)
    } else if codings.last().is_some_and(|c| c == "chunked") {
        Body::Chunked(Chunked::default())
    } else if !codings.is_empty() {
        // a coding other than chunked last: the body runs to the close (section 6.3)
        Body::UntilClose
    } else if let Some(v) = header(&headers, "content-length") {
        Body::Length(content_length(v)?)
    } else {
        Body::UntilClose
    };
    Ok(Some(Response {
        len,
        code,
        reason: r.reason.unwrap_or("").to_string(),
        close,
        body,
        headers,
    }))
}

/// The transfer codings of every Transfer-Encoding line, in order, lowercased, without
/// their parameters.
fn codings(headers: &[(String, Vec<u8>)]) -> Vec<String> {
    headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("transfer-encoding"))
        .flat_map(|(_, v)| v.split(|b| *b == b','))
        .map(|c| {
            let c = c.split(|b| *b == b';').next().unwrap_or(c);
            String::from_utf8_lossy(c.trim_ascii()).to_ascii_lowercase()
        })
        .filter(|c| !c.is_empty())
        .collect()
}

/// A request body's framing (RFC 9112 section 6): Transfer-Encoding must be chunked alone,
/// never with Content-Length, never in HTTP/1.0; Content-Length lines must agree.
fn request_body(headers: &[(String, Vec<u8>)], version: u8) -> Result<Body, HeadError> {
    let has_te = header(headers, "transfer-encoding").is_some();
    let lengths: Vec<&[u8]> = headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.as_slice())
        .collect();
    if has_te {
        if !lengths.is_empty() {
            return Err(HeadError::Malformed("has both Content-Length and Transfer-Encoding"));
        }
        if version == 0 {
            return Err(HeadError::Malformed(
                "has Transfer-Encoding, which HTTP/1.0 does not have",
            ));
        }
        let codings = codings(headers);
        let chunked = codings.iter().filter(|c| *c == "chunked").count();
        return match (codings.last().map(String::as_str), chunked, codings.len()) {
            (Some("chunked"), 1, 1) => Ok(Body::Chunked(Chunked::default())),
            (Some("chunked"), 1, _) => Err(HeadError::Unsupported(
                "has a transfer coding besides chunked, which the proxy does not decode",
            )),
            (Some("chunked"), _, _) => Err(HeadError::Malformed("has the chunked transfer coding twice")),
            _ => Err(HeadError::Malformed(
                "has a Transfer-Encoding whose last coding is not chunked, so where its body ends is unknown",
            )),
        };
    }
    match lengths.as_slice() {
        [] => Ok(Body::Length(0)),
        [v, rest @ ..] if rest.iter().all(|r| r == v) => Ok(Body::Length(content_length(v)?)),
        _ => Err(HeadError::Malformed("has Content-Length headers that disagree")),
    }
}

fn content_length(v: &[u8]) -> Result<u64, HeadError> {
    std::str::from_utf8(v)
        .ok()
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
        .ok_or(HeadError::Malformed("has a Content-Length that is not a number"))
}

fn header<'a>(headers: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
}

/// Whether any header `name` lists `token` (comma-separated, any case).
fn has_token(headers: &[(String, Vec<u8>)], name: &str, token: &str) -> bool {
    headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .any(|(_, v)| {
            v.split(|b| *b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(raw: &str) -> Result<Request, HeadError> {
        parse_request(raw.as_bytes()).map(|r| r.expect("complete"))
    }

    #[test]
    fn heads_keep_every_header_and_get_forwarded_ones() {
        let raw = "GET /a?b=1 HTTP/1.1\r\nHost: Api.P.localhost:8443\r\nCookie: a=1\r\nCookie: b=2\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: http\r\n\r\n";
        let r = request(raw).expect("valid");
        assert_eq!(r.len, raw.len());
        assert_eq!(r.host.as_deref(), Some("api.p.localhost"));
        let mut out = Vec::new();
        r.upstream_head("127.0.0.1".parse().expect("ip"), &mut out);
        let s = String::from_utf8(out).expect("utf8");
        assert!(
            s.starts_with("GET /a?b=1 HTTP/1.1\r\nHost: Api.P.localhost:8443\r\nCookie: a=1\r\nCookie: b=2\r\n"),
            "{s}"
        );
        assert!(s.contains("X-Forwarded-For: 10.0.0.1, 127.0.0.1\r\n"), "{s}");
        assert_eq!(s.matches("X-Forwarded-Proto").count(), 1, "{s}");
        assert!(
            s.ends_with("X-Forwarded-Proto: https\r\nX-Forwarded-Host: Api.P.localhost:8443\r\n\r\n"),
            "{s}"
        );
        assert!(parse_request(b"GET / HTTP/1.1\r\nHost: x").expect("partial").is_none());
        assert!(parse_request(b"\x16\x03\x01garbage\r\n\r\n").is_err());
    }

    #[test]
    fn a_body_that_could_be_read_two_ways_is_refused() {
        let h = "POST / HTTP/1.1\r\nHost: a.p.localhost\r\n";
        let status = |extra: &str| {
            request(&format!("{h}{extra}\r\n"))
                .map(|r| r.body)
                .map_err(HeadError::status)
        };
        assert_eq!(status("Content-Length: 4\r\n"), Ok(Body::Length(4)));
        assert_eq!(
            status("Content-Length: 4\r\ncontent-length: 4\r\n"),
            Ok(Body::Length(4))
        );
        assert_eq!(
            status("Transfer-Encoding: chunked\r\n"),
            Ok(Body::Chunked(Chunked::default()))
        );
        assert_eq!(
            status("Transfer-Encoding: Chunked ; x=1\r\n"),
            Ok(Body::Chunked(Chunked::default()))
        );
        for (extra, code) in [
            ("Content-Length: 3\r\nContent-Length: 4\r\n", 400),
            ("Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", 400),
            ("Transfer-Encoding: chunked\r\nContent-Length: 4\r\n", 400),
            ("Transfer-Encoding: chunked, identity\r\n", 400),
            ("Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n", 400),
            ("Transfer-Encoding: chunked, chunked\r\n", 400),
            ("Transfer-Encoding: identity\r\n", 400),
            ("Transfer-Encoding: gzip, chunked\r\n", 501),
            ("Content-Length: -1\r\n", 400),
        ] {
            assert_eq!(status(extra), Err(code), "{extra:?}");
        }
        let old = "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(request(old).map_err(HeadError::status).err(), Some(400), "HTTP/1.0");
    }

    #[test]
    fn the_name_is_hosts_or_the_absolute_targets_and_must_be_one() {
        let host = |raw: &str| request(raw).map(|r| r.host);
        let get = |h: &str| host(&format!("GET / HTTP/1.1\r\n{h}\r\n"));
        assert_eq!(
            get("Host: Web.P.localhost.:8443\r\n"),
            Ok(Some("web.p.localhost".into()))
        );
        assert_eq!(get("Host: [::1]:8443\r\n"), Ok(Some("[::1]".into())));
        assert_eq!(get("Host: 127.0.0.1\r\n"), Ok(Some("127.0.0.1".into())));
        for bad in [
            "",
            "Host: a\r\nHost: b\r\n",
            "Host: a b\r\n",
            "Host: a:x\r\n",
            "Host: a/b\r\n",
            "Host: [zz]:1\r\n",
            "Host: a@b\r\n",
        ] {
            assert!(get(bad).is_err(), "{bad:?}");
        }
        assert_eq!(host("GET / HTTP/1.0\r\n\r\n"), Ok(None), "HTTP/1.0 may leave Host out");
        let r =
            request("GET HTTPS://Web.P.localhost:8443?q=1 HTTP/1.1\r\nHost: other.p.localhost\r\n\r\n").expect("valid");
        assert_eq!(r.host.as_deref(), Some("web.p.localhost"));
        assert_eq!(r.path(), "/?q=1");
        let mut out = Vec::new();
        r.upstream_head("127.0.0.1".parse().expect("ip"), &mut out);
        let s = String::from_utf8(out).expect("utf8");
        assert!(
            s.starts_with("GET /?q=1 HTTP/1.1\r\nHost: Web.P.localhost:8443\r\n"),
            "{s}"
        );
        assert!(!s.contains("other"), "{s}");
        assert!(request("GET http://a@b/ HTTP/1.1\r\nHost: b\r\n\r\n").is_err());
    }

    #[test]
    fn response_framing_follows_the_status_the_method_and_the_last_coding() {
        let parse = |raw: &str, head: bool| parse_response(raw.as_bytes(), head).expect("ok").expect("complete");
        assert_eq!(
            parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false).body,
            Body::Length(5)
        );
        assert_eq!(
            parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true).body,
            Body::Length(0)
        );
        assert_eq!(parse("HTTP/1.1 200 OK\r\n\r\n", false).body, Body::UntilClose);
        let r = parse("HTTP/1.1 101 Switching\r\nUpgrade: websocket\r\n\r\n", false);
        assert_eq!((r.code, r.body.done()), (101, true));
        let r = parse(
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            false,
        );
        assert_eq!(r.body, Body::Chunked(Chunked::default()));
        assert!(r.has_both_lengths());
        assert_eq!(
            String::from_utf8(r.head_without(&["content-length"], &["Connection: close"])).expect("utf8"),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        );
        let r = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", false);
        assert_eq!(r.body, Body::UntilClose, "chunked not last: until the close");
    }
}
