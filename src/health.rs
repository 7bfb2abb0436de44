//! Health probes, in the seed's precedence: `health_url` (HTTP, no curl), `health_check`
//! (a shell command under `health_timeout`), TCP on `$PORT` when `host` is set, pane alive.

use crate::config::{Task, expand_vars};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Which probe a result came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// `health_url`.
    Http,
    /// `health_check`.
    Shell,
    /// TCP connect on `$PORT`.
    Tcp,
    /// The pane's process is alive.
    Proc,
}

impl Method {
    /// The spelling used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Http => "http",
            Method::Shell => "shell",
            Method::Tcp => "tcp",
            Method::Proc => "proc",
        }
    }
}

/// The outcome of one probe.
#[derive(Debug, Clone)]
pub struct Probe {
    /// Healthy or not.
    pub ok: bool,
    /// Which probe ran.
    pub method: Method,
    /// Why not healthy (None when healthy).
    pub reason: Option<String>,
}

/// The probe a task uses.
pub fn method_for(task: &Task) -> Method {
    if task.health_url.is_some() {
        Method::Http
    } else if task.health_check.is_some() {
        Method::Shell
    } else if task.host.is_some() {
        Method::Tcp
    } else {
        Method::Proc
    }
}

/// Probes a task. `running` is whether its process is alive: a task that is not running is
/// never healthy, whatever its probe would say. `env` is the task's full environment.
pub fn probe(task: &Task, running: bool, env: &[(String, String)]) -> Probe {
    let method = method_for(task);
    if !running {
        return Probe {
            ok: false,
            method,
            reason: Some("not running".into()),
        };
    }
    let timeout = Duration::try_from_secs_f64(task.health_timeout.max(0.05)).unwrap_or(Duration::from_secs(86_400));
    let result = match method {
        Method::Http => {
            let url = expand_vars(task.health_url.as_deref().unwrap_or(""), env);
            http_probe(
                &url,
                task.health_expected_status,
                task.health_expected_body.as_deref(),
                timeout,
            )
        }
        Method::Shell => shell_probe(
            &expand_vars(task.health_check.as_deref().unwrap_or(""), env),
            task,
            env,
            timeout,
        ),
        Method::Tcp => match env
            .iter()
            .rev()
            .find(|(k, _)| k == "PORT")
            .and_then(|(_, v)| v.parse::<u16>().ok())
        {
            Some(port) => tcp_probe(port, timeout),
            None => Err("no $PORT assigned".to_string()),
        },
        Method::Proc => Ok(()),
    };
    match result {
        Ok(()) => Probe {
            ok: true,
            method,
            reason: None,
        },
        Err(r) => Probe {
            ok: false,
            method,
            reason: Some(r),
        },
    }
}

/// The result for a probe whose thread panicked (a bug): unhealthy, never left out.
pub fn probe_crashed(task: &Task) -> Probe {
    Probe {
        ok: false,
        method: method_for(task),
        reason: Some("the probe failed internally (a bug in taskmux)".into()),
    }
}

fn tcp_probe(port: u16, timeout: Duration) -> Result<(), String> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, timeout)
        .map(|_| ())
        .map_err(|e| format!("127.0.0.1:{port}: {e}"))
}

/// Splits `http://host:port/path` into (host, port, path).
fn split_url(url: &str) -> Result<(String, u16, String), String> {
    if url.starts_with("https://") {
        return Err(format!(
            "{url}: https probes are not supported; probe the task's own http port"
        ));
    }
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: not an http:// URL"))?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
        let (h, p) = h.split_once(']').ok_or_else(|| format!("{url}: bad IPv6 host"))?;
        (h.to_string(), p.strip_prefix(':').unwrap_or("80"))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p),
            None => (hostport.to_string(), "80"),
        }
    };
    let port = port.parse::<u16>().map_err(|_| format!("{url}: bad port '{port}'"))?;
    if host.is_empty() {
        return Err(format!("{url}: no host"));
    }
    Ok((host, port, path))
}

fn http_probe(url: &str, want: u16, body_re: Option<&str>, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let (host, port, path) = split_url(url)?;
    let addrs: Vec<_> = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| format!("{url}: cannot resolve {host}: {e}"))?
        .collect();
    let mut last = format!("{url}: no address");
    let mut stream = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = format!("{url}: {e}"),
        }
    }
    let mut s = stream.ok_or(last)?;
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(10));
    let _ = s.set_read_timeout(Some(left));
    let _ = s.set_write_timeout(Some(left));
    let hosthdr = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {hosthdr}\r\nUser-Agent: taskmux-health\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).map_err(|e| format!("{url}: {e}"))?;
    let (status, body) = read_response(&mut s, deadline).map_err(|e| match e {
        ReadError::TimedOut => format!("{url}: timed out after {:.1}s", timeout.as_secs_f64()),
        ReadError::Io(e) => format!("{url}: {e}"),
        ReadError::NotHttp => format!("{url}: not an HTTP response"),
    })?;
    if status != want {
        return Err(format!("{url}: status {status}, expected {want}"));
    }
    if let Some(re) = body_re {
        let body = String::from_utf8_lossy(&body);
        let re = regex::Regex::new(re).map_err(|e| format!("health_expected_body: {e}"))?;
        if !re.is_match(&body) {
            return Err(format!("{url}: body does not match /{}/", re.as_str()));
        }
    }
    Ok(())
}

/// Why no response was read.
enum ReadError {
    /// The deadline passed.
    TimedOut,
    /// Nothing could be read.
    Io(std::io::Error),
    /// What came is not an HTTP response head.
    NotHttp,
}

/// The most of a response read.
const MAX_RESPONSE: usize = 1 << 20;

/// Reads a response: its head with the proxy's parser (httparse), its body decoded by the
/// proxy's framing (a chunked body without its framing), until the body ends, the server
/// closes, or 1 MiB came. Returns the status and the body.
fn read_response(s: &mut impl Read, deadline: Instant) -> Result<(u16, Vec<u8>), ReadError> {
    use crate::proxy::http::{Response, parse_response};
    let mut buf = Vec::new();
    let mut head: Option<Response> = None;
    let mut fed = 0;
    let mut body = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if Instant::now() >= deadline {
            return Err(ReadError::TimedOut);
        }
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return Err(ReadError::TimedOut);
            }
            Err(e) if buf.is_empty() => return Err(ReadError::Io(e)),
            Err(_) => break,
        }
        if head.is_none() {
            match parse_response(&buf, false) {
                Ok(Some(r)) => {
                    fed = r.len;
                    head = Some(r);
                }
                Ok(None) if buf.len() <= MAX_RESPONSE => continue,
                Ok(None) | Err(_) => return Err(ReadError::NotHttp),
            }
        }
        let Some(r) = head.as_mut() else { continue };
        // broken framing: the body is what was decoded before it
        let (used, done) = r.body.decode(&buf[fed..], &mut body).unwrap_or((buf.len() - fed, true));
        fed += used;
        if done || buf.len() > MAX_RESPONSE {
            break;
        }
    }
    let r = head.ok_or(ReadError::NotHttp)?;
    Ok((r.code, body))
}

/// Runs `sh -c cmd` in its own process group with the task's env and cwd; kills the group
/// when it passes the timeout.
fn shell_probe(cmd: &str, task: &Task, env: &[(String, String)], timeout: Duration) -> Result<(), String> {
    let mut c = Command::new("/bin/sh");
    c.arg("-c").arg(cmd).env_clear().envs(env.iter().map(|(k, v)| (k, v)));
    c.current_dir(&task.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c.process_group(0);
    let (status, stderr) = run_with_timeout(c, timeout).map_err(|e| format!("{cmd}: {e}"))?;
    match status {
        Some(0) => Ok(()),
        Some(code) => {
            let tail = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
            if tail.is_empty() {
                Err(format!("'{cmd}' exited {code}"))
            } else {
                Err(format!("'{cmd}' exited {code}: {tail}"))
            }
        }
        None => Err(format!("'{cmd}' timed out after {:.1}s", timeout.as_secs_f64())),
    }
}

/// Runs a command (already in its own process group) and waits up to `timeout`. Returns the
/// exit code (128+N for signal N), or None on timeout (the group is killed), and stderr.
pub fn run_with_timeout(mut c: Command, timeout: Duration) -> std::io::Result<(Option<i32>, String)> {
    let mut child = c.spawn()?;
    let pid = child.id() as i32;
    let err_pipe = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        if let Some(mut p) = err_pipe {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = p.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                if s.len() < 64 * 1024 {
                    s.extend_from_slice(&chunk[..n]);
                }
            }
        }
        String::from_utf8_lossy(&s).into_owned()
    });
    // SIGKILL to its group when the time is up
    let kill = crate::proc::Escalation {
        term_after: None,
        kill_after: Some(timeout),
        give_up: timeout,
        step: Duration::from_millis(20),
        groups: true,
    };
    let mut status = None;
    let mut failed = None;
    let waited = crate::proc::signal_until(
        &kill,
        || vec![pid],
        || match child.try_wait() {
            Ok(st) => {
                status = st;
                st.is_some()
            }
            Err(e) => {
                failed = Some(e);
                true
            }
        },
    );
    if let Some(e) = failed {
        return Err(e);
    }
    if waited.is_err() {
        let _ = child.kill();
        let _ = child.wait();
        status = None;
    }
    // anything the command left in its group goes with it
    crate::proc::signal_group(pid, rustix::process::Signal::KILL);
    let stderr = if status.is_some() {
        reader.join().unwrap_or_default()
    } else {
        String::new()
    };
    Ok((status.map(crate::proc::status_code), stderr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            split_url("http://127.0.0.1:8000/health").ok(),
            Some(("127.0.0.1".into(), 8000, "/health".into()))
        );
        assert_eq!(
            split_url("http://localhost").ok(),
            Some(("localhost".into(), 80, "/".into()))
        );
        assert_eq!(split_url("http://[::1]:9/x").ok(), Some(("::1".into(), 9, "/x".into())));
        assert!(split_url("http://h:notaport/").is_err());
        assert_eq!(dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), b"abcde");
        // a chunk boundary inside a UTF-8 character
        assert_eq!(
            String::from_utf8_lossy(&dechunk(b"1\r\n\xc3\r\n3\r\n\xa9ok\r\n0\r\n\r\n")),
            "\u{e9}ok"
        );
    }

    /// A chunked response's body, as the probe reads it.
    fn dechunk(body: &[u8]) -> Vec<u8> {
        let mut r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        r.extend_from_slice(body);
        let (code, body) = read(&r).ok().expect("a response");
        assert_eq!(code, 200);
        body
    }

    fn read(r: &[u8]) -> Result<(u16, Vec<u8>), ReadError> {
        read_response(&mut &r[..], Instant::now() + Duration::from_secs(5))
    }

    #[test]
    fn responses() {
        let ok = read(b"HTTP/1.1 503 Busy\r\nContent-Length: 2\r\n\r\nnoTRAILING").ok();
        assert_eq!(
            ok.map(|(c, b)| (c, String::from_utf8_lossy(&b).into_owned())),
            Some((503, "no".into()))
        );
        let close = read(b"HTTP/1.0 200 OK\r\n\r\nto the end").ok();
        assert_eq!(close.map(|(_, b)| b), Some(b"to the end".to_vec()));
        let mut te = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        te.extend_from_slice(b"4;x=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-T: a\r\n\r\nafter");
        assert_eq!(read(&te).ok().map(|(_, b)| b), Some(b"Wikipedia".to_vec()));
        assert!(matches!(read(b"SSH-2.0-OpenSSH\r\n\r\n"), Err(ReadError::NotHttp)));
        assert!(matches!(read(b""), Err(ReadError::NotHttp)));
    }
}
