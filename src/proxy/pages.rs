//! The proxy's own answers: 503 for a host no task serves (listing the ones that exist and
//! how to add one), 502 for a task that is down (naming it, its state and its logs), the
//! 308 of the plain-HTTP port, and 400/408/431. HTML for a browser, plain text otherwise.

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

/// 503: nothing serves `host`.
pub fn unknown_host(host: &str, project: Option<&str>, hosts: &[String], html: bool, close: bool) -> Vec<u8> {
    let mut lines = vec![match project {
        Some(p) => format!("No task of project '{p}' serves {host}."),
        None => format!("No registered project serves {host}."),
    }];
    if hosts.is_empty() {
        lines.push("No task has a host yet.".into());
    } else {
        lines.push(format!("Known hosts: {}", hosts.join(", ")));
    }
    lines.push(
        "To serve a task here, add host = \"NAME\" under [tasks.<task>] in its taskmux.toml; \
         the URL works as soon as the file is saved (or run 'taskmux start' in that project)."
            .into(),
    );
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
        format!("See what it said: taskmux logs {task} (in that project, or taskmux -s {session} logs {task})."),
        format!("Start it: taskmux start {task}"),
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
