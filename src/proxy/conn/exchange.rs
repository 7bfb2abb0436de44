//! One exchange on a client connection: the request head read and checked (its framing,
//! its host against the TLS session's), routed to its task's upstream or answered here
//! (421, 502, 503, 400, 431), and the upstream's response head forwarded, rewritten where
//! the client must not see it as it is (an HTTP/1.0 client, Content-Length beside
//! Transfer-Encoding), or replaced by a 504 when it does not begin in time.

use super::{Conn, Req, Resp, Up};
use crate::proxy::{Route, http, pages};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

impl Conn<'_> {
    /// Reads the next request head and sends it on (or answers it here).
    pub(super) fn next_request(&mut self) -> Result<(), ()> {
        if self.cin.is_empty() {
            return Ok(());
        }
        let r = match http::parse_request(&self.cin) {
            Ok(Some(r)) => r,
            // incomplete at the limit: it is longer than that
            Ok(None) if self.cin.len() >= self.s.opts.max_head_bytes => {
                return self.answer_close(pages::simple(431));
            }
            Ok(None) => return Ok(()),
            Err(http::HeadError::TooLarge) => return self.answer_close(pages::simple(431)),
            Err(e) => return self.answer_close(pages::refused(e.status(), e.why())),
        };
        if r.len > self.s.opts.max_head_bytes {
            return self.answer_close(pages::simple(431));
        }
        self.head_start = None;
        self.html = pages::wants_html(r.header("accept"));
        self.close_after = r.wants_close();
        self.http10 = r.version == 0;
        // rustls gives the server name lowercased; a client sends none for an address
        let sni = self.tls.server_name().map(|n| n.trim_end_matches('.').to_string());
        let host = r.host.clone().or_else(|| sni.clone()).unwrap_or_default();
        let has_body = r.body != http::Body::Length(0);
        let misdirected = sni.as_deref().is_some_and(|sni| sni != host);
        let route = if misdirected {
            None
        } else {
            Some(self.s.router.route(&host))
        };
        let page = match route {
            None => Some(pages::misdirected(
                &host,
                sni.as_deref().unwrap_or_default(),
                self.html,
                has_body || self.close_after,
            )),
            Some(route) => self.route(route, &host, &r, has_body),
        };
        if let Some(p) = page {
            self.cin.drain(..r.len);
            self.cout.extend_from_slice(&p);
            if has_body || self.close_after {
                self.closing = true;
            }
            return Ok(());
        }
        let at = self.uout.len();
        r.upstream_head(self.peer, &mut self.uout);
        if let Some((_, head)) = &mut self.retry {
            head.extend_from_slice(&self.uout[at..]);
        }
        self.cin.drain(..r.len);
        self.head_request = r.method.eq_ignore_ascii_case("HEAD");
        self.resp_started = false;
        self.sent_at = None;
        self.req = if has_body { Req::Body(r.body) } else { Req::Done };
        self.resp = Resp::Head;
        Ok(())
    }

    /// Connects a request to its route's upstream (None), or the page that answers it.
    fn route(&mut self, route: Route, host: &str, r: &http::Request, has_body: bool) -> Option<Vec<u8>> {
        match route {
            Route::Unknown { project, hosts } => Some(pages::unknown_host(
                host,
                project.as_deref(),
                &hosts,
                self.html,
                has_body || self.close_after,
            )),
            Route::Down { session, task, state } => Some(pages::task_down(
                host,
                &session,
                &task,
                &state,
                "it has no port yet",
                self.html,
                has_body || self.close_after,
            )),
            Route::Upstream {
                port,
                addr,
                session,
                task,
            } => match self.connect((addr, port)) {
                Ok(reused) => {
                    self.current = Some((host.to_string(), session, task));
                    let idempotent = ["GET", "HEAD", "OPTIONS"]
                        .iter()
                        .any(|m| r.method.eq_ignore_ascii_case(m));
                    self.retry = (reused && idempotent && !has_body).then(|| ((addr, port), Vec::new()));
                    None
                }
                Err(e) => {
                    let state = self.s.router.state(&session, &task);
                    let why = format!("nothing accepts connections on port {port} ({e})");
                    Some(pages::task_down(
                        host,
                        &session,
                        &task,
                        &state,
                        &why,
                        self.html,
                        has_body || self.close_after,
                    ))
                }
            },
        }
    }

    /// The request body's framing broke (a chunk size past 64 bits, a bad line): 400 when
    /// no answer has begun, else the end of the connection. The upstream holds a partial
    /// request, so it goes.
    pub(super) fn bad_request_body(&mut self, e: http::HeadError) -> Result<(), ()> {
        self.up = None;
        self.retry = None;
        self.uout.clear();
        self.uin.clear();
        if self.resp_started || self.resp != Resp::Head {
            return Err(());
        }
        self.resp = Resp::Idle;
        self.req = Req::Done;
        self.answer_close(pages::refused(e.status(), e.why()))
    }

    /// The upstream took the whole request and did not begin its answer within `limit`:
    /// 504 naming the task, and the connection ends (the upstream's may still answer).
    pub(super) fn upstream_timed_out(&mut self, limit: Duration) {
        let (host, session, task) = self.current.clone().unwrap_or_default();
        let secs = limit.as_secs_f64();
        (self.s.log)(&format!(
            "{host}: task '{task}' of project '{session}' did not begin its answer within {secs} s: 504"
        ));
        self.up = None;
        self.retry = None;
        self.sent_at = None;
        self.uin.clear();
        self.uout.clear();
        self.cout
            .extend_from_slice(&pages::timed_out(&host, &session, &task, secs, self.html));
        self.resp = Resp::Idle;
        self.closing = true;
        self.flush_cout();
    }

    fn answer_close(&mut self, page: Vec<u8>) -> Result<(), ()> {
        self.cin.clear();
        self.cout.extend_from_slice(&page);
        self.closing = true;
        Ok(())
    }

    /// The upstream for `port`: the open one when it is for that port (Ok(true)), else a
    /// new one (127.0.0.1, then ::1).
    fn connect(&mut self, to: super::Upstream) -> std::io::Result<bool> {
        if let Some(up) = &self.up
            && up.to == to
            && !up.eof
        {
            return Ok(true);
        }
        self.up = None;
        self.uin.clear();
        self.uout.clear();
        let t = Duration::from_secs(2);
        let (addr, port) = to;
        let sock = match addr {
            Some(ip) => TcpStream::connect_timeout(&SocketAddr::new(ip, port), t)?,
            None => match TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), t) {
                Ok(s) => s,
                Err(e) => TcpStream::connect_timeout(&SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port), t)
                    .map_err(|_| e)?,
            },
        };
        let _ = sock.set_nodelay(true);
        sock.set_nonblocking(true)?;
        self.up = Some(Up { sock, to, eof: false });
        Ok(false)
    }

    /// The upstream's response head: forwarded as it is; 1xx heads and a 101 handled.
    pub(super) fn response_head(&mut self) -> Result<(), ()> {
        let up_eof = self.up.as_ref().is_none_or(|u| u.eof);
        if up_eof
            && self.uin.is_empty()
            && let Some((to, head)) = self.retry.take()
        {
            // closed unanswered on a reused connection: once more, on a new one
            self.up = None;
            if self.connect(to).is_ok() {
                self.uout = head;
                self.sent_at = None;
                return Ok(());
            }
        }
        match http::parse_response(&self.uin, self.head_request) {
            Ok(Some(r)) => {
                self.retry = None;
                let interim = (100..200).contains(&r.code) && r.code != 101;
                if interim {
                    // 100 Continue and friends: the real head follows. Never to an HTTP/1.0
                    // client (RFC 9110 section 15.2); the clock starts again, as the
                    // upstream is answering
                    if !self.http10 {
                        self.cout.extend_from_slice(&self.uin[..r.len]);
                        self.resp_started = true;
                    }
                    self.uin.drain(..r.len);
                    self.sent_at = None;
                    return Ok(());
                }
                self.forward_head(&r);
                self.uin.drain(..r.len);
                self.resp_started = true;
                if r.code == 101 {
                    self.upgraded = true;
                    self.resp = Resp::Idle;
                    self.req = Req::Done;
                } else {
                    self.close_after |= r.close;
                    if r.body.done() {
                        if r.close {
                            self.up = None;
                        }
                        self.finish_exchange();
                    } else {
                        self.resp = Resp::Body(r.body);
                    }
                }
                Ok(())
            }
            Ok(None) if self.uin.len() <= self.s.opts.max_head_bytes && !up_eof => Ok(()),
            other => {
                let why = match other {
                    Ok(None) if up_eof => "it closed the connection without an answer".to_string(),
                    _ => "its answer is not HTTP/1.1".to_string(),
                };
                self.up = None;
                if self.resp_started {
                    return Err(());
                }
                let (host, session, task) = self.current.clone().unwrap_or_default();
                let state = self.s.router.state(&session, &task);
                let page = pages::task_down(&host, &session, &task, &state, &why, self.html, true);
                self.cout.extend_from_slice(&page);
                self.resp = Resp::Idle;
                self.closing = true;
                Ok(())
            }
        }
    }

    /// Queues a final (or 101) response head for the client: as the upstream wrote it, but
    /// without Content-Length beside Transfer-Encoding (RFC 9112 section 6.3) and, for an
    /// HTTP/1.0 client, without Transfer-Encoding (a chunked body is decoded and ended by
    /// the close) and with a Connection of its own: `keep-alive` only when the client asked
    /// and the body has a length.
    fn forward_head(&mut self, r: &http::Response) {
        self.dechunk = false;
        if !self.http10 || r.code == 101 {
            if r.has_both_lengths() {
                self.cout.extend_from_slice(&r.head_without(&["content-length"], &[]));
            } else {
                self.cout.extend_from_slice(&self.uin[..r.len]);
            }
            return;
        }
        let keep = !(self.close_after || r.close) && matches!(r.body, http::Body::Length(_));
        let mut drop = vec!["connection", "keep-alive", "transfer-encoding"];
        if r.has_transfer_encoding() {
            drop.push("content-length");
        }
        let connection = if keep {
            "Connection: keep-alive"
        } else {
            "Connection: close"
        };
        self.cout.extend_from_slice(&r.head_without(&drop, &[connection]));
        self.dechunk = matches!(r.body, http::Body::Chunked(_));
        self.close_after |= !keep;
    }

    /// The response is out: the next request, or the end.
    pub(super) fn finish_exchange(&mut self) {
        self.resp = Resp::Idle;
        if self.req != Req::Done {
            // answered before the request body ended: the rest cannot be told apart
            self.close_after = true;
        }
        if self.close_after {
            self.closing = true;
            self.up = None;
        } else {
            self.req = Req::Head;
            self.last = Instant::now();
        }
    }
}
