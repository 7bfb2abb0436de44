//! The proxy's own answers: 503 for a host no task serves (listing the ones that exist and
//! how to add one), 502 for a task that is down (naming it, its state and its logs), 504
//! for one that did not answer in time, 421 for a request on a connection made for another
//! name, the 308 of the plain-HTTP port, and 400/408/431/501. HTML for a browser, plain
//! text otherwise.

/// A complete response: status line, headers and body.
pub fn response(code: u16, reason: &str, html: bool, title: &str, lines: &[String], close: bool) -> Vec<u8> {
    let body = if html {
        let items: String = lines.iter().map(|l| format!("<p>{}</p>\n", escape(l))).collect();
        format!(
            "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{code} {t}</title></head>\n\
             <body style=\"font-family: system-ui, sans-serif; max-width: 46em; margin: 3em auto\">\n\
             <h1>{code} {t}</h1>\n{items}<hr><p><small>taskmux proxy</small></p></body></html>\n",
            t = escape(title)
        )
    } else {
        let mut s = format!("{code} {title}\n\n");
        for l in lines {
            s.push_str(l);
            s.push('\n');
        }
        s
    };
    let kind = if html { "text/html" } else { "text/plain" };
    let mut out = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {kind}; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nX-Served-By: taskmux\r\n",
        body.len()
    );
    if close {
        out.push_str("Connection: close\r\n");
    }
    out.push_str("\r\n");
    out.push_str(&body);
    out.into_bytes()
}

/// 503: nothing serves `host`. It says what is true of it: whether the project the name
/// is under is registered with the daemon, and started; the projects that are; the URLs
/// that are served; and what makes a task served here.
pub fn unknown_host(
    host: &str,
    project: Option<&str>,
    hosts: &[String],
    registered: &[(String, bool)],
    html: bool,
    close: bool,
) -> Vec<u8> {
    let state = |started: bool| if started { "started" } else { "stopped" };
    let mut lines = Vec::new();
    match project {
        Some(p) => {
            let started = registered.iter().find(|(n, _)| n == p).is_none_or(|(_, s)| *s);
            lines.push(format!(
                "No task of project '{p}' serves {host}. The project is registered with the daemon, and {}.",
                state(started)
            ));
            lines.push(match hosts.is_empty() {
                true => "None of its tasks has a host, so it serves no URL.".to_string(),
                false => format!("Its URLs: {}", hosts.join(", ")),
            });
            lines.push(format!(
                "To serve a task here: give it host = \"NAME\" under [tasks.<task>] in the project's taskmux.toml, \
                 then run 'taskmux -p {p} restart <task>' (a task gets its $PORT when it starts)."
            ));
        }
        None => {
            lines.push(format!("No registered project serves {host}."));
            lines.push(match registered.is_empty() {
                true => "No project is registered with the daemon yet.".to_string(),
                false => format!(
                    "The registered projects: {}.",
                    registered
                        .iter()
                        .map(|(n, s)| format!("{n} ({})", state(*s)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
            if !hosts.is_empty() {
                lines.push(format!("The URLs served: {}", hosts.join(", ")));
            }
            lines.push(
                "A project is registered, and its tasks started, by 'taskmux start' in its directory; a task with \
                 host = \"NAME\" in its taskmux.toml is then served at https://NAME.<project>.localhost."
                    .into(),
            );
        }
    }
    response(
        503,
        "Service Unavailable",
        html,
        "no task serves this host",
        &lines,
        close,
    )
}

/// 502: the task behind `host` does not answer.
pub fn task_down(host: &str, session: &str, task: &str, state: &str, why: &str, html: bool, close: bool) -> Vec<u8> {
    let lines = vec![
        format!("{host} is served by task '{task}' of project '{session}', which is {state}: {why}."),
        format!("See what it said: taskmux -p {session} logs {task}"),
        format!("Start it: taskmux -p {session} start {task}"),
    ];
    response(
        502,
        "Bad Gateway",
        html,
        &format!("task '{task}' is {state}"),
        &lines,
        close,
    )
}

/// 308 to the https URL, keeping path and query.
pub fn redirect(host: &str, https_port: u16, target: &str) -> Vec<u8> {
    let port = if https_port == 443 {
        String::new()
    } else {
        format!(":{https_port}")
    };
    let target = if target.starts_with('/') { target } else { "/" };
    let loc = format!("https://{host}{port}{target}");
    let body = format!("Moved to {loc}\n");
    format!(
        "HTTP/1.1 308 Permanent Redirect\r\nLocation: {loc}\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// 504: the task took the request and did not begin its answer within `secs` seconds.
pub fn timed_out(host: &str, session: &str, task: &str, secs: f64, html: bool) -> Vec<u8> {
    let lines = vec![
        format!(
            "{host} is served by task '{task}' of project '{session}', which took the request and did not begin its answer within {secs} s (proxy_upstream_timeout)."
        ),
        format!("See what it is doing: taskmux -p {session} logs {task}"),
        "If it needs longer: taskmux config set proxy_upstream_timeout 300 (0 = no limit), then taskmux daemon restart."
            .to_string(),
    ];
    response(
        504,
        "Gateway Timeout",
        html,
        &format!("task '{task}' did not answer in time"),
        &lines,
        true,
    )
}

/// 421: the request names `host`, and the TLS connection was made for `sni`.
pub fn misdirected(host: &str, sni: &str, html: bool, close: bool) -> Vec<u8> {
    let lines = vec![
        format!("This connection was made for {sni} (TLS server name), and the request is for {host}."),
        format!(
            "Open a new connection for {host}: a browser does this by itself; with curl, ask for https://{host}/ rather than setting a Host header."
        ),
    ];
    response(
        421,
        "Misdirected Request",
        html,
        "this connection is for another host",
        &lines,
        close,
    )
}

/// 400 (or 501, for a transfer coding the proxy does not decode): the request `why`
/// ("has both Content-Length and Transfer-Encoding"); it is not sent on, and the
/// connection closes.
pub fn refused(code: u16, why: &str) -> Vec<u8> {
    let reason = if code == 501 { "Not Implemented" } else { "Bad Request" };
    let lines = vec![format!("The request {why}; it was not sent on.")];
    response(code, reason, false, reason, &lines, true)
}

/// 400, 408 or 431, closing the connection.
pub fn simple(code: u16) -> Vec<u8> {
    let (reason, line) = match code {
        408 => ("Request Timeout", "The request head did not arrive in time."),
        431 => (
            "Request Header Fields Too Large",
            "The request head is larger than the proxy takes (64 KiB).",
        ),
        _ => ("Bad Request", "The request is not HTTP/1.1 the proxy can read."),
    };
    response(code, reason, false, reason, &[line.to_string()], true)
}

/// Whether a request's `Accept` asks for HTML.
pub fn wants_html(accept: Option<&[u8]>) -> bool {
    accept.is_some_and(|a| a.windows(9).any(|w| w.eq_ignore_ascii_case(b"text/html")))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
