//! HTTP/1.1 framing for the proxy: request and response heads read with httparse, the head
//! the upstream gets (every header kept in order, `X-Forwarded-*` added), and where a body
//! ends (`Content-Length`, chunked framing scanned but passed through, or the close).

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
}

/// A request head, parsed.
#[derive(Debug, Clone)]
pub struct Request {
    /// Bytes the head took.
    pub len: usize,
    /// Its method.
    pub method: String,
    /// Its target (path and query).
    pub target: String,
    /// HTTP/1.0 (0) or 1.1 (1).
    pub version: u8,
    /// Every header, in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body's framing.
    pub body: Body,
}

impl Request {
    /// The first header of this name.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        header(&self.headers, name)
    }
    /// The host it is for: `Host` without its port, lowercased.
    pub fn host(&self) -> Option<String> {
        let h = std::str::from_utf8(self.header("host")?).ok()?.trim();
        Some(strip_port(h).trim_end_matches('.').to_ascii_lowercase())
    }
    /// Whether it asks for a protocol switch (WebSocket).
    pub fn is_upgrade(&self) -> bool {
        self.header("upgrade").is_some() && has_token(&self.headers, "connection", "upgrade")
    }
    /// Whether the client wants the connection closed after this exchange.
    pub fn wants_close(&self) -> bool {
        has_token(&self.headers, "connection", "close")
            || (self.version == 0 && !has_token(&self.headers, "connection", "keep-alive"))
    }
    /// The head the upstream gets: the same request line and headers, in order, plus
    /// `X-Forwarded-For` (appended to one the client sent), `-Proto` and `-Host`.
    pub fn upstream_head(&self, client: IpAddr, out: &mut Vec<u8>) {
        out.extend_from_slice(self.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.target.as_bytes());
        out.extend_from_slice(if self.version == 0 {
            b" HTTP/1.0\r\n"
        } else {
            b" HTTP/1.1\r\n"
        });
        let mut xff_done = false;
        for (k, v) in &self.headers {
            let lk = k.to_ascii_lowercase();
            if lk == "x-forwarded-proto" || lk == "x-forwarded-host" {
                continue;
            }
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            if lk == "x-forwarded-for" && !xff_done {
                out.extend_from_slice(format!(", {client}").as_bytes());
                xff_done = true;
            }
            out.extend_from_slice(b"\r\n");
        }
        if !xff_done {
            out.extend_from_slice(format!("X-Forwarded-For: {client}\r\n").as_bytes());
        }
        out.extend_from_slice(b"X-Forwarded-Proto: https\r\n");
        if let Some(h) = self.header("host") {
            out.extend_from_slice(b"X-Forwarded-Host: ");
            out.extend_from_slice(h);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// Reads a request head from the front of `buf`: None while it is incomplete.
pub fn parse_request(buf: &[u8]) -> Result<Option<Request>, HeadError> {
    let mut hs = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut r = httparse::Request::new(&mut hs);
    let len = match r.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(_) => return Err(HeadError::Malformed("not an HTTP/1.1 request")),
    };
    let headers: Vec<(String, Vec<u8>)> = r
        .headers
        .iter()
        .map(|h| (h.name.to_string(), h.value.to_vec()))
        .collect();
    let body = request_body(&headers)?;
    Ok(Some(Request {
        len,
        method: r.method.unwrap_or("GET").to_string(),
        target: r.path.unwrap_or("/").to_string(),
        version: r.version.unwrap_or(1),
        headers,
        body,
    }))
}

/// A response head, parsed.
#[derive(Debug, Clone)]
pub struct Response {
    /// Bytes the head took.
    pub len: usize,
    /// Its status.
    pub code: u16,
    /// Whether the upstream will close after it.
    pub close: bool,
    /// The body's framing (given the request's method).
    pub body: Body,
}

/// Reads a response head from the front of `buf`: None while incomplete.
pub fn parse_response(buf: &[u8], head_request: bool) -> Result<Option<Response>, HeadError> {
    let mut hs = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut r = httparse::Response::new(&mut hs);
    let len = match r.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(_) => return Err(HeadError::Malformed("not an HTTP/1.1 response")),
    };
    let code = r.code.unwrap_or(502);
    let headers: Vec<(String, Vec<u8>)> = r
        .headers
        .iter()
        .map(|h| (h.name.to_string(), h.value.to_vec()))
        .collect();
    let close = has_token(&headers, "connection", "close")
        || (r.version == Some(0) && !has_token(&headers, "connection", "keep-alive"));
    let body = if head_request || (100..200).contains(&code) || code == 204 || code == 304 {
        Body::Length(0)
    } else if has_token(&headers, "transfer-encoding", "chunked") {
        Body::Chunked(Chunked::default())
    } else if let Some(v) = header(&headers, "content-length") {
        Body::Length(content_length(v)?)
    } else {
        Body::UntilClose
    };
    Ok(Some(Response { len, code, close, body }))
}

fn request_body(headers: &[(String, Vec<u8>)]) -> Result<Body, HeadError> {
    if header(headers, "transfer-encoding").is_some() {
        if has_token(headers, "transfer-encoding", "chunked") {
            return Ok(Body::Chunked(Chunked::default()));
        }
        return Err(HeadError::Malformed("a transfer-encoding other than chunked"));
    }
    let lengths: Vec<&[u8]> = headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.as_slice())
        .collect();
    match lengths.as_slice() {
        [] => Ok(Body::Length(0)),
        [v, rest @ ..] if rest.iter().all(|r| r == v) => Ok(Body::Length(content_length(v)?)),
        _ => Err(HeadError::Malformed("conflicting content-length headers")),
    }
}

fn content_length(v: &[u8]) -> Result<u64, HeadError> {
    std::str::from_utf8(v)
        .ok()
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
        .ok_or(HeadError::Malformed("a bad content-length"))
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

/// `host:port` → `host`; `[::1]:443` → `[::1]`.
pub fn strip_port(h: &str) -> &str {
    if h.starts_with('[') {
        return h.find(']').map_or(h, |i| &h[..=i]);
    }
    h.rsplit_once(':')
        .map_or(h, |(a, p)| if p.bytes().all(|b| b.is_ascii_digit()) { a } else { h })
}

/// Where a body ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// This many bytes are left.
    Length(u64),
    /// Chunked: the framing passes through; the scanner finds its end.
    Chunked(Chunked),
    /// Until the sender closes.
    UntilClose,
}

impl Body {
    /// Of the next bytes `data`, how many belong to the body, and whether it ends with them.
    pub fn scan(&mut self, data: &[u8]) -> Result<(usize, bool), HeadError> {
        match self {
            Body::Length(left) => {
                let n = (*left).min(data.len() as u64);
                *left -= n;
                Ok((n as usize, *left == 0))
            }
            Body::Chunked(c) => c.scan(data),
            Body::UntilClose => Ok((data.len(), false)),
        }
    }
    /// Whether the body has ended.
    pub fn done(&self) -> bool {
        match self {
            Body::Length(n) => *n == 0,
            Body::Chunked(c) => c.state == Chunk::Done,
            Body::UntilClose => false,
        }
    }
}

/// The chunked framing's state, fed bytes in pieces of any size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunked {
    state: Chunk,
    /// Bytes of the current line (size, extension or trailer), against a cap.
    line: usize,
}

impl Default for Chunked {
    fn default() -> Self {
        Chunked {
            state: Chunk::Size(0, 0),
            line: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Size digits: value and count.
    Size(u64, u8),
    /// After the size, up to CR: an extension.
    Ext(u64),
    /// The LF of the size line.
    SizeLf(u64),
    /// Data bytes left.
    Data(u64),
    /// CR, then LF, after the data.
    DataCr,
    DataLf,
    /// At the start of a trailer line or the last empty line.
    LineStart,
    /// In a trailer line, then its LF.
    Trailer,
    TrailerLf,
    /// The LF of the last line.
    EndLf,
    /// Ended.
    Done,
}

/// The longest size, extension or trailer line.
const MAX_LINE: usize = 8192;

impl Chunked {
    fn scan(&mut self, data: &[u8]) -> Result<(usize, bool), HeadError> {
        const BAD: HeadError = HeadError::Malformed("bad chunked framing");
        let mut i = 0;
        while i < data.len() {
            if let Chunk::Data(left) = self.state {
                let n = left.min((data.len() - i) as u64);
                i += n as usize;
                self.state = if n == left {
                    Chunk::DataCr
                } else {
                    Chunk::Data(left - n)
                };
                continue;
            }
            if self.state == Chunk::Done {
                break;
            }
            let b = data[i];
            i += 1;
            self.line += 1;
            if self.line > MAX_LINE {
                return Err(BAD);
            }
            self.state = match (self.state, b) {
                (Chunk::Size(v, n), _) if b.is_ascii_hexdigit() => {
                    if n >= 15 {
                        return Err(HeadError::Malformed("chunk size too large"));
                    }
                    let d = (b as char).to_digit(16).unwrap_or(0) as u64;
                    Chunk::Size(v << 4 | d, n + 1)
                }
                (Chunk::Size(_, 0), _) => return Err(BAD),
                (Chunk::Size(v, _), b'\r') | (Chunk::Ext(v), b'\r') => Chunk::SizeLf(v),
                (Chunk::Size(v, _), b';' | b' ' | b'\t') => Chunk::Ext(v),
                (Chunk::Ext(_), b'\n') => return Err(BAD),
                (Chunk::Ext(v), _) => Chunk::Ext(v),
                (Chunk::SizeLf(v), b'\n') => {
                    self.line = 0;
                    if v == 0 { Chunk::LineStart } else { Chunk::Data(v) }
                }
                (Chunk::DataCr, b'\r') => Chunk::DataLf,
                (Chunk::DataLf, b'\n') => {
                    self.line = 0;
                    Chunk::Size(0, 0)
                }
                (Chunk::LineStart, b'\r') => Chunk::EndLf,
                (Chunk::LineStart, b'\n') => return Err(BAD),
                (Chunk::LineStart, _) | (Chunk::Trailer, _) if b != b'\r' => Chunk::Trailer,
                (Chunk::Trailer, b'\r') => Chunk::TrailerLf,
                (Chunk::TrailerLf, b'\n') => {
                    self.line = 0;
                    Chunk::LineStart
                }
                (Chunk::EndLf, b'\n') => Chunk::Done,
                _ => return Err(BAD),
            };
        }
        Ok((i, self.state == Chunk::Done))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_end_where_they_end_fed_in_any_pieces() {
        let body = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Trailer: a\r\n\r\nNEXT";
        for step in 1..body.len() {
            let mut b = Body::Chunked(Chunked::default());
            let mut used = 0;
            let mut done = false;
            for piece in body.chunks(step) {
                if done {
                    break;
                }
                let (n, d) = b.scan(piece).expect("valid");
                used += n;
                done = d;
            }
            assert!(done, "step {step}");
            assert_eq!(used, body.len() - 4, "step {step}");
        }
        let mut b = Body::Chunked(Chunked::default());
        assert!(b.scan(b"zz\r\n").is_err());
        let mut b = Body::Chunked(Chunked::default());
        assert!(b.scan(b"ffffffffffffffffff\r\n").is_err());
    }

    #[test]
    fn heads_keep_every_header_and_get_forwarded_ones() {
        let raw = b"GET /a?b=1 HTTP/1.1\r\nHost: Api.P.localhost:8443\r\nCookie: a=1\r\nCookie: b=2\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: http\r\n\r\n";
        let r = parse_request(raw).expect("valid").expect("complete");
        assert_eq!(r.len, raw.len());
        assert_eq!(r.host().as_deref(), Some("api.p.localhost"));
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
        let two = b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n";
        assert!(parse_request(two).is_err());
    }

    #[test]
    fn response_framing_follows_the_status_and_the_method() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false)
            .expect("ok")
            .expect("complete");
        assert_eq!(r.body, Body::Length(5));
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true)
            .expect("ok")
            .expect("complete");
        assert_eq!(r.body, Body::Length(0));
        let r = parse_response(b"HTTP/1.1 200 OK\r\n\r\n", false)
            .expect("ok")
            .expect("complete");
        assert_eq!(r.body, Body::UntilClose);
        let r = parse_response(b"HTTP/1.1 101 Switching\r\nUpgrade: websocket\r\n\r\n", false)
            .expect("ok")
            .expect("c");
        assert_eq!((r.code, r.body.done()), (101, true));
        assert_eq!(strip_port("[::1]:443"), "[::1]");
        assert_eq!(strip_port("a.localhost:8443"), "a.localhost");
    }
}
