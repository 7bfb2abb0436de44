//! One exchange on a client connection: the request head read, routed to its task's
//! upstream or answered here (502, 503, 400, 431), and the upstream's response head
//! forwarded.

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
            Ok(None) if self.cin.len() > self.s.opts.max_head_bytes => return self.answer_close(pages::simple(431)),
            Ok(None) => return Ok(()),
            Err(http::HeadError::TooLarge) => return self.answer_close(pages::simple(431)),
            Err(_) => return self.answer_close(pages::simple(400)),
        };
        if r.len > self.s.opts.max_head_bytes {
            return self.answer_close(pages::simple(431));
        }
        self.head_start = None;
        self.html = pages::wants_html(r.header("accept"));
        self.close_after = r.wants_close();
        let host = r
            .host()
            .filter(|h| !h.is_empty())
            .or_else(|| self.tls.server_name().map(str::to_ascii_lowercase))
            .unwrap_or_default();
        let has_body = r.body != http::Body::Length(0);
        let page = match self.s.router.route(&host) {
            Route::Unknown { project, hosts } => Some(pages::unknown_host(
                &host,
                project.as_deref(),
                &hosts,
                self.html,
                has_body || self.close_after,
            )),
            Route::Down { session, task, state } => Some(pages::task_down(
                &host,
                &session,
                &task,
                &state,
                "it has no port yet",
                self.html,
                has_body || self.close_after,
            )),
            Route::Upstream { port, session, task } => match self.connect(port) {
                Ok(reused) => {
                    self.current = Some((host.clone(), session, task));
                    let idempotent = ["GET", "HEAD", "OPTIONS"]
                        .iter()
                        .any(|m| r.method.eq_ignore_ascii_case(m));
                    self.retry = (reused && idempotent && !has_body).then(|| (port, Vec::new()));
                    None
                }
                Err(e) => {
                    let state = self.s.router.state(&session, &task);
                    let why = format!("nothing accepts connections on port {port} ({e})");
                    Some(pages::task_down(
                        &host,
                        &session,
                        &task,
                        &state,
                        &why,
                        self.html,
                        has_body || self.close_after,
                    ))
                }
            },
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
        self.req = if has_body { Req::Body(r.body) } else { Req::Done };
        self.resp = Resp::Head;
        Ok(())
    }

    fn answer_close(&mut self, page: Vec<u8>) -> Result<(), ()> {
        self.cin.clear();
        self.cout.extend_from_slice(&page);
        self.closing = true;
        Ok(())
    }

    /// The upstream for `port`: the open one when it is for that port (Ok(true)), else a
    /// new one (127.0.0.1, then ::1).
    fn connect(&mut self, port: u16) -> std::io::Result<bool> {
        if let Some(up) = &self.up
            && up.port == port
            && !up.eof
        {
            return Ok(true);
        }
        self.up = None;
        self.uin.clear();
        self.uout.clear();
        let t = Duration::from_secs(2);
        let v4 = SocketAddr::from(([127, 0, 0, 1], port));
        let sock = match TcpStream::connect_timeout(&v4, t) {
            Ok(s) => s,
            Err(e) => {
                TcpStream::connect_timeout(&SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port), t).map_err(|_| e)?
            }
        };
        let _ = sock.set_nodelay(true);
        sock.set_nonblocking(true)?;
        self.up = Some(Up { sock, port, eof: false });
        Ok(false)
    }

    /// The upstream's response head: forwarded as it is; 1xx heads and a 101 handled.
    pub(super) fn response_head(&mut self) -> Result<(), ()> {
        let up_eof = self.up.as_ref().is_none_or(|u| u.eof);
        if up_eof
            && self.uin.is_empty()
            && let Some((port, head)) = self.retry.take()
        {
            // closed unanswered on a reused connection: once more, on a new one
            self.up = None;
            if self.connect(port).is_ok() {
                self.uout = head;
                return Ok(());
            }
        }
        match http::parse_response(&self.uin, self.head_request) {
            Ok(Some(r)) => {
                self.retry = None;
                self.cout.extend_from_slice(&self.uin[..r.len]);
                self.uin.drain(..r.len);
                self.resp_started = true;
                if r.code == 101 {
                    self.upgraded = true;
                    self.resp = Resp::Idle;
                    self.req = Req::Done;
                } else if (100..200).contains(&r.code) {
                    // 100 Continue and friends: the real head follows
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
