//! Every response shown to people: one match from a [`Response`] to its command's renderer,
//! so a response computed here and one received from the daemon (or another machine)
//! print the same.

use super::render::Out;
use super::{View, alias, authoring, ca, config, daemon, dns, doctor, fleet, jobs, lifecycle, logs, observe};
use crate::error::Result;
use crate::ops::Response;

/// Shows a response for people. An error response is returned as the error.
pub fn human(out: &Out, view: &View, resp: &Response) -> Result<()> {
    match resp {
        Response::Start(r) => lifecycle::show_start(out, r),
        Response::Stop(r) => lifecycle::show_stop(out, r),
        Response::Restart(r) => lifecycle::show_restart(out, r),
        Response::Kill(r) => lifecycle::show_kill(out, r),
        Response::Remove(r) => authoring::show_remove(out, r),
        Response::Status(r) => observe::show_status(out, r),
        Response::Health(r) => observe::show_health(out, view, r),
        Response::Inspect(r) => observe::show_inspect(out, r),
        Response::Send(r) => observe::show_send(out, r),
        Response::Logs(r) => logs::show_logs(out, r),
        Response::LogsClean(r) => logs::show_logs_clean(out, r),
        Response::Events(r) => logs::show_events(out, view, r),
        Response::Url(r) => authoring::show_url(out, r),
        Response::Jobs(r) => jobs::show_jobs(out, r),
        Response::JobsKill(r) => jobs::show_jobs_kill(out, r),
        Response::Init(r) => authoring::show_init(out, r),
        Response::Add(r) => authoring::show_add(out, r),
        Response::Check(r) => authoring::show_check(out, r),
        Response::Doctor(r) => doctor::show_doctor(out, r),
        Response::ConfigShow(r) => config::show_config(out, r),
        Response::ConfigSet(r) | Response::ConfigUnset(r) => config::show_config_edited(out, r),
        Response::ConfigPath(r) => config::show_path(out, r),
        Response::DaemonStatus(r) => daemon::show_status(out, r),
        Response::DaemonList(r) => daemon::show_list(out, r),
        Response::Register(r) => daemon::show_registered(out, r),
        Response::Unregister(r) => daemon::show_unregistered(out, r),
        Response::CaPath(r) => ca::show_path(out, r),
        Response::CaMint(r) => ca::show_minted(out, r),
        Response::DnsStatus(r) => dns::show_status(out, r),
        Response::DnsQuery(r) => dns::show_query(out, r),
        Response::Fleet(r) => fleet::show_fleet(out, r),
        Response::Alias(r) => alias::show_done(out, r),
        Response::AliasList(r) => alias::show_list(out, r),
        Response::Pong(p) => {
            out.line(&format!("pong: taskmux {} (protocol {})", p.version, p.v));
            Ok(())
        }
        // a JobRef is JSON for people too; a reload is what `watch` prints as a line
        Response::Run(_)
        | Response::JobsWait(_)
        | Response::Reload(_)
        | Response::ProxyRoutes(_)
        | Response::Wake(_)
        | Response::EachProject(_)
        | Response::Summary(_)
        | Response::Followed(_) => {
            out.json(&serde_json::to_value(resp).unwrap_or_default());
            Ok(())
        }
        Response::Error(e) => Err(e.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::render::capture;
    use serde_json::{Value, json};

    /// A response of each kind the CLI prints, as `--json` prints it (taken from real runs).
    fn samples() -> Vec<(&'static str, Value)> {
        let cfg = json!({"health_check_interval": 30.0, "api_bind": "127.0.0.1", "api_port": 8765,
            "api_allowed_origins": [], "proxy_enabled": true, "proxy_bind": "127.0.0.1",
            "proxy_https_port": 443, "proxy_http_port": 80, "host_resolver": "etc_hosts",
            "dns_server_port": 5454, "dns_managed_tld": "localhost", "proxy_upstream_timeout": 60.0,
            "ssh_command": "ssh", "hosts": {"a": "me@a", "b": {"dest": "b.example.org", "taskmux": "~/.cargo/bin/taskmux"}}});
        let task = json!({"name": "api", "running": true, "healthy": null, "state": "starting",
            "command": "sleep 1000\u{1b}[31m", "auto_start": true, "host": "api",
            "url": "https://api.smp.localhost", "port": 33549, "restart_policy": "on-failure",
            "cwd": null, "depends_on": ["db"], "pid": 4333, "command_pid": 4336,
            "started_at": "2026-12-06T19:11:32.320000+00:00", "restarts": 2,
            "next_restart_at": null, "exit_code": null, "stale": false, "last_health": null,
            "log_error": {"error": "No space left on device", "dropped": 12, "since": "2026-12-06T19:11:33.000000+00:00",
                "path": "/h/projects/smp/logs/api.log"}});
        let exited = json!({"name": "db", "running": false, "healthy": false, "state": "exited",
            "command": "false", "auto_start": true, "host": null, "url": null, "port": null,
            "restart_policy": "no", "cwd": "db", "depends_on": [], "pid": null, "command_pid": null,
            "started_at": "2026-12-06T19:11:32.291000+00:00", "restarts": 0, "next_restart_at": null,
            "exit_code": 3, "stale": false,
            "last_health": {"ok": false, "method": "shell", "reason": "exit 1", "at": "2026-12-06T19:11:32.316000+00:00"},
            "log_error": null});
        let failure =
            json!({"ok": false, "code": "E214", "error": "Task 'db' is not healthy", "hint": "see logs", "task": "db"});
        let job = json!({"session": "smp", "window_id": "@7", "pane_id": "%9", "window_name": "job:t:20261206-191132",
            "tag": "t", "log_file": null});
        let mut waited = job.clone();
        waited["exit_code"] = json!(3);
        let mut listed = job.clone();
        listed["dead"] = json!(true);
        listed["exit_code"] = json!(3);
        listed["started_at"] = json!("2026-12-06T19:11:32.000000+00:00");
        let pong = json!({"command": "ping", "ok": true, "v": 2, "versions": [2], "version": "0.1.0"});
        let cert = json!({"host": "x.localhost", "action": "minted", "cert": "/h/certs/x.pem",
            "key": "/h/certs/x-key.pem", "not_after": "2028-01-06T00:00:00.000000+00:00"});
        let live = json!({"running": true, "pid": 42, "started_at": "2026-12-06T19:00:00.000000+00:00",
            "uptime_secs": 3725, "projects": 2, "supervised_tasks": 5,
            "last_heal": {"at": "2026-12-06T19:01:00.000000+00:00", "session": "smp", "reason": "session missing", "tasks": ["db", "api"]},
            "socket": "/h/daemon.sock", "log": "/h/daemon.log", "version": "0.1.0",
            "api": {"websocket": null, "error": "cannot listen on 127.0.0.1:8765: in use"},
            "proxy": {"state": "down", "error": "cannot bind :443: permission denied", "fix": "sudo taskmux daemon restart"},
            "dns": {"state": "up", "listen": ["udp://127.0.0.1:5454", "tcp://127.0.0.1:5454"]}});
        vec![
            (
                "start",
                json!({"ok": false, "session": "smp", "action": "started", "tasks": ["db"], "already_running": ["web"],
                "skipped": [{"task": "api", "reason": "Dependency 'db' not healthy after 30s"}], "failed": [failure.clone()],
                "warnings": ["hook failed"], "auto_daemon": true}),
            ),
            (
                "start",
                json!({"ok": true, "task": "bad", "action": "started", "warnings": ["w", {"code": "W101", "task": "bad",
                "message": "command 'pyhton3' not found on PATH", "hint": "install it"}], "session": "smp"}),
            ),
            (
                "start",
                json!({"ok": false, "session": "smp", "results": [{"ok": true, "task": "a", "action": "already_running"},
                failure.clone()], "warnings": ["w"]}),
            ),
            (
                "stop",
                json!({"ok": true, "session": "smp", "action": "stopped", "tasks": ["db", "api"], "warnings": ["after_stop failed"]}),
            ),
            (
                "stop",
                json!({"ok": true, "session": "smp", "results": [{"ok": true, "task": "db", "action": "stopped"},
                {"ok": true, "task": "api", "action": "already_stopped"}]}),
            ),
            (
                "stop",
                json!({"ok": true, "task": "db", "action": "already_stopped", "session": "smp"}),
            ),
            (
                "stop",
                json!({"ok": true, "task": "db", "action": "restart_cancelled", "session": "smp"}),
            ),
            (
                "stop",
                json!({"ok": true, "session": "smp", "action": "stopped", "tasks": ["api"], "restart_cancelled": ["db"]}),
            ),
            (
                "restart",
                json!({"ok": false, "session": "smp", "action": "restarted", "tasks": ["db"],
                "skipped": [{"task": "api", "reason": "why"}], "failed": [failure.clone()]}),
            ),
            (
                "restart",
                json!({"ok": true, "task": "db", "action": "restarted", "session": "smp"}),
            ),
            ("kill", json!({"ok": true, "task": "db", "action": "killed"})),
            (
                "remove",
                json!({"ok": true, "task": "api", "action": "removed", "stopped": true, "config_path": "/p/taskmux.toml",
                "warnings": ["AGENTS.md: read-only"]}),
            ),
            (
                "status",
                json!({"session": "smp", "running": true, "active_tasks": 1,
                "daemon": {"running": true, "pid": 42, "supervisor_pid": 42}, "tasks": [task.clone(), exited.clone()],
                "warnings": ["the global config is broken"]}),
            ),
            (
                "health",
                json!({"healthy_count": 1, "total_count": 2, "tasks": [{"name": "db", "healthy": true, "method": "shell", "reason": null},
                {"name": "api", "healthy": false, "method": "tcp", "reason": "refused"}]}),
            ),
            ("inspect", {
                let mut v = task.clone();
                for (k, x) in [
                    ("health_check", json!(null)),
                    ("health_url", json!("http://127.0.0.1:$PORT/")),
                    ("log_file", json!("/h/api.log")),
                    ("window_id", json!("@1")),
                    ("pane_id", json!("%1")),
                    ("pane_current_command", json!("sh")),
                    ("pane_current_path", json!("/p")),
                    ("env", json!(["HOME", "PORT"])),
                ] {
                    v[k] = x;
                }
                v
            }),
            ("send", json!({"ok": true, "task": "api", "action": "sent"})),
            (
                "logs",
                json!({"lines": [{"task": "api", "line": "2026-12-06T19:11:32.332 hello"}, {"task": "db", "line": "2026-12-06T19:11:32.413 x"}]}),
            ),
            (
                "logs",
                json!({"task": "api", "lines": ["2026-12-06T19:11:32.332 hello", "not a stamp"]}),
            ),
            ("logs_clean", json!({"ok": true, "deleted": 1})),
            (
                "events",
                json!({"events": [{"ts": "2026-12-06T19:11:32.570292+00:00", "event": "task_exited", "session": "smp",
                "task": "db", "exit_code": 3}], "count": 1}),
            ),
            (
                "url",
                json!({"ok": true, "task": "api", "url": "https://api.smp.localhost"}),
            ),
            ("run", job.clone()),
            ("jobs", json!({"session": "smp", "jobs": [listed]})),
            ("jobs_kill", json!({"ok": true, "action": "killed", "jobs": ["@7"]})),
            ("jobs_wait", waited),
            (
                "init",
                json!({"ok": true, "session": "smp", "config_path": "/p/taskmux.toml", "agent_files": ["/p/AGENTS.md"],
                "warnings": ["CLAUDE.md: skipped"]}),
            ),
            (
                "add",
                json!({"ok": true, "task": "api", "command": "sleep 100", "action": "replaced", "config_path": "/p/taskmux.toml"}),
            ),
            (
                "check",
                json!({"ok": false, "config": "/p/taskmux.toml", "errors": [{"code": "E213", "task": "api",
                "message": "working directory /x does not exist", "hint": "create it"}],
                "warnings": [{"code": "W101", "task": null, "message": "pyhton3 is not on PATH"}], "tasks": 3}),
            ),
            (
                "check",
                json!({"ok": false, "config": "/p/taskmux.toml", "errors": [{"code": "E101", "task": null,
                "message": "invalid TOML"}], "warnings": [], "tasks": null}),
            ),
            (
                "reload",
                json!({"ok": true, "session": "smp", "added": ["x"], "removed": [], "changed": ["api"],
                "started": ["x"], "killed": [], "stale": ["api"], "errors": [failure.clone()]}),
            ),
            (
                "doctor",
                json!({"ok": false, "checks": [{"check": "tmux", "status": "ok", "message": "tmux 3.3a"},
                {"check": "daemon", "status": "fail", "message": "not running", "fix": "taskmux daemon start"}],
                "summary": {"ok": 1, "warn": 0, "fail": 1}}),
            ),
            ("ping", pong),
            (
                "config_show",
                json!({"path": "/h/config.toml", "exists": true, "config": cfg.clone(), "from_file": ["api_port"]}),
            ),
            (
                "config_set",
                json!({"ok": true, "path": "/h/config.toml", "key": "api_port", "value": 8766, "action": "set", "config": cfg.clone()}),
            ),
            (
                "config_unset",
                json!({"ok": true, "path": "/h/config.toml", "key": "api_port", "value": 8765, "action": "unchanged", "config": cfg}),
            ),
            ("config_path", json!({"path": "/h/config.toml", "exists": false})),
            ("daemon_status", json!({"running": false, "pid": null})),
            (
                "daemon_status",
                json!({"running": true, "pid": 42, "warning": "no answer within 5s"}),
            ),
            ("daemon_status", live),
            (
                "daemon_list",
                json!({"projects": [{"name": "smp", "config_path": "/p/taskmux.toml", "tmux_socket": "smp",
                "desired": "down", "state": "error", "message": "error[E101]: bad", "supervised_by": null, "tasks": 0},
                {"name": "b", "config_path": "/b/taskmux.toml", "tmux_socket": null, "desired": "up", "state": "ok",
                "supervised_by": 42, "tasks": 3}]}),
            ),
            (
                "register",
                json!({"ok": true, "name": "smp", "config_path": "/p/taskmux.toml", "desired": "up"}),
            ),
            ("unregister", json!({"ok": true, "name": "smp"})),
            (
                "ca_path",
                json!({"ok": true, "path": "/h/ca/ca.pem", "source": "mkcert", "subject": "O=x", "fingerprint_sha256": "3d",
                "not_after": "2036-12-05T00:00:00.000000+00:00", "created": false}),
            ),
            ("ca_mint", {
                let mut v = json!({"ok": true, "ca": "/h/ca/ca.pem", "ca_source": "ours", "ca_created": true});
                for (k, x) in cert.as_object().into_iter().flatten() {
                    v[k] = x.clone();
                }
                v
            }),
            (
                "ca_mint",
                json!({"ok": true, "ca": "/h/ca/ca.pem", "ca_source": "ours", "ca_created": false, "certs": [cert],
                "config_path": "/p/taskmux.toml"}),
            ),
            (
                "dns_status",
                json!({"ok": false, "resolver": "etc_hosts", "os": "linux", "tld": "localhost", "port": 5454,
                "installed": false, "checks": [{"name": "installed", "status": "fail", "detail": "no block", "fix": "sudo taskmux dns install"}]}),
            ),
            (
                "dns_query",
                json!({"ok": true, "server": "127.0.0.1:5454", "name": "a.localhost", "type": "A", "rcode": "NOERROR",
                "authoritative": true, "truncated": false, "answers": [{"name": "a.localhost", "type": "A", "ttl": 0, "data": "127.0.0.1"}],
                "authority": [], "time_ms": 0.4}),
            ),
            (
                "proxy_routes",
                json!({"ok": true, "routes": [{"session": "smp", "task": "api", "host": "api", "name": "api.smp.localhost",
                "url": "https://api.smp.localhost", "port": 33549}]}),
            ),
            ("wake", json!({"ok": true, "woken": ["smp"]})),
            (
                "alias",
                json!({"ok": true, "action": "added", "alias": "db", "target": "127.0.0.1:5432",
                "url": "https://db.localhost"}),
            ),
            (
                "alias_list",
                json!({"aliases": [{"alias": "db", "target": "[::1]:5432", "url": "https://db.localhost:8443"}]}),
            ),
            (
                "each_project",
                json!({"ok": true, "projects": {"smp": {"ok": true, "task": "db", "action": "killed", "response": "kill"}}}),
            ),
            (
                "summary",
                json!({"version": "0.1.0", "versions": [2], "daemon": {"running": true, "pid": 42},
                "projects": [{"name": "smp", "running": 2, "total": 3, "unhealthy": 1, "failed": 0},
                {"name": "gone", "running": 0, "total": 0, "unhealthy": 0, "failed": 0, "error": "Config not found: /p/taskmux.toml"}]}),
            ),
            (
                "fleet",
                json!({"ok": false, "hosts": [
                {"host": "box", "local": true, "reachable": true, "version": "0.1.0", "daemon": {"running": false, "pid": null},
                "projects": []},
                {"host": "a", "dest": "me@a", "reachable": true, "version": "0.1.0", "daemon": {"running": true, "pid": 7},
                "projects": [{"name": "smp", "running": 1, "total": 2, "unhealthy": 0, "failed": 1},
                {"name": "gone", "running": 0, "total": 0, "unhealthy": 0, "failed": 0, "error": "Config not found"}]},
                {"host": "c", "dest": "127.0.0.1", "reachable": false,
                "error": "cannot reach c: ssh: connect to host 127.0.0.1 port 22: Connection refused",
                "code": "E310", "hint": "is sshd running there?"}]}),
            ),
            ("followed", json!({"ok": true, "items": 12})),
            (
                "error",
                json!({"ok": false, "code": "E303", "error": "Project 'x' is not registered with the daemon",
                "hint": "list the registered projects with 'taskmux daemon list'", "details": {"name": "x"}}),
            ),
        ]
    }

    /// What the CLI shows of a response, for people (`--json` off) and as JSON, and its
    /// exit code.
    fn shown(r: &Response) -> (String, Value, u8) {
        let out = Out {
            json: false,
            color: false,
        };
        let human = capture(|| {
            if let Err(e) = human(&out, &View::default(), r) {
                crate::cli::render::print_error(&out, "taskmux", &e);
            }
        });
        (human, serde_json::to_value(r).expect("encodes"), r.exit_code())
    }

    #[test]
    fn every_response_reads_back_from_its_json_and_shows_the_same() {
        let mut seen = std::collections::BTreeSet::new();
        for (tag, json) in samples() {
            let here = Response::from_wire({
                let mut v = json.clone();
                v["response"] = tag.into();
                v
            })
            .unwrap_or_else(|e| panic!("{tag}: the sample does not read: {e}: {json}"))
            .1;
            assert_eq!(here.tag(), tag);
            // what --json prints reads back as the same JSON
            assert_eq!(
                serde_json::to_value(&here).expect("encodes"),
                json,
                "{tag}: --json is lossless"
            );
            // on the wire and back: the same JSON, the same lines for people, the same exit
            let (id, there) = Response::from_wire(here.to_wire(Some(&json!(7)))).expect("reads back");
            assert_eq!(id, Some(json!(7)));
            let (a, b) = (shown(&here), shown(&there));
            assert_eq!(a, b, "{tag}: shown the same after the wire");
            assert!(!a.0.is_empty(), "{tag}: something is shown");
            seen.insert(tag);
        }
        let all: std::collections::BTreeSet<&str> = Response::TAGS.iter().copied().collect();
        assert_eq!(seen, all, "a sample of every kind of response");
    }

    #[test]
    fn replies_that_do_not_read_are_errors_naming_why() {
        let bad = |v: Value| Response::from_wire(v).expect_err("refused").message();
        assert!(bad(json!([1])).contains("JSON object"));
        assert!(bad(json!({"ok": true})).contains("\"response\""));
        assert!(bad(json!({"response": "frobnicate", "ok": true})).contains("'frobnicate'"));
        assert!(bad(json!({"response": "status", "tasks": 3})).contains("'status' reply"));
        // an error reply in either shape reads as that error
        for e in [
            json!({"ok": false, "error": "unknown_task", "code": "E200", "message": "Task 'x' not found in config"}),
            json!({"ok": false, "code": "E200", "error": "Task 'x' not found in config"}),
        ] {
            let (_, r) = Response::from_wire(e).expect("reads");
            let Response::Error(e) = r else { panic!("an error") };
            assert_eq!(
                (e.code(), e.message().as_str(), e.exit_code()),
                ("E200", "Task 'x' not found in config", 1)
            );
        }
    }
}
