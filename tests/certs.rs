//! `taskmux ca …` and the certificates library with real tools: openssl verifies what is
//! minted (and refuses what breaks the name constraints, as NSS's certutil does), mkcert's CA
//! is used from `CAROOT`, and a python3 client trusts a host through `ca env`. Each test
//! has its own TASKMUX_HOME, HOME and system root; `ca install` and `ca uninstall` are in
//! `certs_trust`, rustls through the `SniResolver` in `certs_tls`.

use crate::harness::{Env, free_port, require, show, wait_for};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// A scratch world: the harness's, plus a user home and a system root of its own.
pub(crate) struct Ca {
    pub(crate) env: Env,
    pub(crate) user: PathBuf,
    pub(crate) root: PathBuf,
}

impl Ca {
    pub(crate) fn new(name: &str) -> Ca {
        let env = Env::new(name);
        let user = env.root.join("user");
        let root = env.root.join("sysroot");
        std::fs::create_dir_all(&user).expect("mkdir");
        std::fs::create_dir_all(&root).expect("mkdir");
        Ca { env, user, root }
    }

    /// taskmux with the scratch HOME and system root, and no mkcert CA unless given.
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut c = self.env.command(args);
        self.apply(&mut c);
        c
    }

    /// This world's environment on any command.
    pub(crate) fn apply(&self, c: &mut Command) {
        c.current_dir(&self.env.project)
            .env("TASKMUX_HOME", &self.env.home)
            .env("HOME", &self.user)
            .env("TASKMUX_SYSTEM_ROOT", &self.root)
            .env("NO_COLOR", "1")
            .env_remove("CAROOT")
            .stdin(Stdio::null());
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("taskmux runs")
    }

    pub(crate) fn json_of(c: &mut Command) -> (Value, i32) {
        let o = c.output().expect("taskmux runs");
        let v = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", show(&o)));
        (v, o.status.code().unwrap_or(-1))
    }

    pub(crate) fn json(&self, args: &[&str]) -> (Value, i32) {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        Self::json_of(&mut self.command(&a))
    }

    pub(crate) fn ca_pem(&self) -> PathBuf {
        self.env.home.join("ca/ca.pem")
    }

    /// `ca mint HOST --json`, which must succeed.
    pub(crate) fn mint(&self, host: &str) -> Value {
        let (v, rc) = self.json(&["ca", "mint", host]);
        assert_eq!((rc, v["ok"].as_bool()), (0, Some(true)), "{v}");
        v
    }
}

pub(crate) fn have_openssl() -> bool {
    require("openssl", &["openssl", "version"])
}

pub(crate) fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"))
}

pub(crate) fn openssl(args: &[&str]) -> Output {
    run("openssl", args)
}

pub(crate) fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub(crate) fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).expect("stat").permissions().mode() & 0o777
}

pub(crate) fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// One path of a tree: its mode, and the link's target or the file's bytes.
pub(crate) type Node = (PathBuf, u32, Option<PathBuf>, Option<Vec<u8>>);

/// Every path under `dir`, sorted.
pub(crate) fn tree(dir: &Path) -> Vec<Node> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            let meta = std::fs::symlink_metadata(&p).expect("stat");
            let m = meta.permissions().mode();
            if meta.file_type().is_symlink() {
                out.push((p.clone(), m, std::fs::read_link(&p).ok(), None));
            } else if meta.is_dir() {
                stack.push(p.clone());
                out.push((p, m, None, None));
            } else {
                out.push((p.clone(), m, None, std::fs::read(&p).ok()));
            }
        }
    }
    out.sort();
    out
}

/// A process killed and reaped when dropped, even when the test panics.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `openssl s_server -www` with a certificate on a free port, once it accepts connections.
fn s_server(cert: &str, key: &str) -> (Guard, u16) {
    let port = free_port();
    let child = Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-cert", cert, "-key", key, "-accept"])
        .arg(port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_server starts");
    let guard = Guard(child);
    wait_for(10.0, "openssl s_server to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    (guard, port)
}

/// A self-signed CA made by openssl (the kind mkcert has, of an `rsa` or `ec` key):
/// certificate and PKCS#8 key.
pub(crate) fn openssl_ca(dir: &Path, cert: &str, key: &str, kind: &str) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let opt = if kind == "ec" {
        "ec_paramgen_curve:P-256"
    } else {
        "rsa_keygen_bits:2048"
    };
    let o = openssl(&[
        "req",
        "-x509",
        "-newkey",
        kind,
        "-pkeyopt",
        opt,
        "-nodes",
        "-days",
        "30",
        "-subj",
        "/O=mkcert development CA/CN=fake mkcert",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout",
        s(&dir.join(key)),
        "-out",
        s(&dir.join(cert)),
    ]);
    assert!(o.status.success(), "openssl req: {}", text(&o));
}

/// A certificate for `name` signed by `ca`/`ca_key` with openssl, valid `days`.
pub(crate) fn openssl_leaf(dir: &Path, name: &str, ca: &Path, ca_key: &Path, days: &str) -> (PathBuf, PathBuf) {
    let (cert, key, csr, ext) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}-key.pem")),
        dir.join(format!("{name}.csr")),
        dir.join(format!("{name}.ext")),
    );
    std::fs::write(
        &ext,
        format!("subjectAltName=DNS:{name}\nextendedKeyUsage=serverAuth\n"),
    )
    .expect("write");
    let o = openssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        &format!("/CN={name}"),
        "-keyout",
        s(&key),
        "-out",
        s(&csr),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = openssl(&[
        "x509",
        "-req",
        "-in",
        s(&csr),
        "-CA",
        s(ca),
        "-CAkey",
        s(ca_key),
        "-days",
        days,
        "-extfile",
        s(&ext),
        "-out",
        s(&cert),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    (cert, key)
}

#[test]
fn the_ca_is_private_name_constrained_and_its_host_certs_verify() {
    if !have_openssl() {
        return;
    }
    let c = Ca::new("ca-verify");
    let (v, rc) = c.json(&["ca", "path"]);
    assert_eq!(
        (rc, v["source"].as_str(), v["created"].as_bool()),
        (0, Some("ours"), Some(true)),
        "{v}"
    );
    assert_eq!(v["path"].as_str(), Some(s(&c.ca_pem())));
    let o = c.run(&["ca", "path"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        s(&c.ca_pem()),
        "{}",
        show(&o)
    );
    assert_eq!(mode(&c.env.home.join("ca")), 0o700);
    assert_eq!(mode(&c.env.home.join("ca/ca-key.pem")), 0o600);

    let ca_text = text(&openssl(&["x509", "-noout", "-text", "-in", s(&c.ca_pem())]));
    for want in [
        "CA:TRUE, pathlen:0",
        "Name Constraints: critical",
        "DNS:localhost",
        "IP:127.0.0.1/255.255.255.255",
        "Certificate Sign, CRL Sign",
        "OU = ",
    ] {
        assert!(ca_text.contains(want), "{want} missing:\n{ca_text}");
    }
    let v = c.mint("api.p.localhost");
    assert_eq!(v["action"], "minted", "{v}");
    let (cert, key) = (v["cert"].as_str().expect("cert"), v["key"].as_str().expect("key"));
    assert_eq!(mode(Path::new(key)), 0o600);
    assert_eq!(mode(&c.env.home.join("certs")), 0o700);
    let o = openssl(&[
        "verify",
        "-CAfile",
        s(&c.ca_pem()),
        "-verify_hostname",
        "api.p.localhost",
        cert,
    ]);
    assert!(o.status.success(), "openssl verify: {}", text(&o));
    let host_text = text(&openssl(&["x509", "-noout", "-text", "-in", cert]));
    for want in ["DNS:api.p.localhost", "TLS Web Server Authentication", "CA:FALSE"] {
        assert!(host_text.contains(want), "{want} missing:\n{host_text}");
    }
    assert!(!host_text.contains("*."), "no wildcard: {host_text}");

    // the constraints hold: a certificate the CA's key signs for another name is refused
    let (evil, _) = openssl_leaf(
        &c.env.root,
        "evil.example.com",
        &c.ca_pem(),
        &c.env.home.join("ca/ca-key.pem"),
        "30",
    );
    let o = openssl(&["verify", "-CAfile", s(&c.ca_pem()), s(&evil)]);
    assert!(
        !o.status.success() && text(&o).contains("permitted subtree violation"),
        "{}",
        text(&o)
    );

    // NSS (what Chromium and Firefox verify with) agrees on both
    if !have_certutil() {
        return;
    }
    let db = c.env.root.join("nssdb");
    std::fs::create_dir_all(&db).expect("mkdir");
    let sql = format!("sql:{}", db.display());
    let certutil = |args: &[&str]| run("certutil", &[&["-d", &sql][..], args].concat());
    assert!(certutil(&["-N", "--empty-password"]).status.success());
    assert!(
        certutil(&["-A", "-t", "C,,", "-n", "ca", "-i", s(&c.ca_pem())])
            .status
            .success()
    );
    assert!(certutil(&["-A", "-t", ",,", "-n", "host", "-i", cert]).status.success());
    assert!(
        certutil(&["-A", "-t", ",,", "-n", "evil", "-i", s(&evil)])
            .status
            .success()
    );
    let o = certutil(&["-V", "-u", "V", "-n", "host"]);
    assert!(o.status.success() && text(&o).contains("is valid"), "{}", text(&o));
    let o = certutil(&["-V", "-u", "V", "-n", "evil"]);
    assert!(
        !o.status.success() && text(&o).contains("not permitted"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_second_mint_reuses_and_an_expiring_or_foreign_cert_is_minted_again() {
    if !have_openssl() {
        return;
    }
    let c = Ca::new("ca-reuse");
    let first = c.mint("web.p.localhost");
    let cert = PathBuf::from(first["cert"].as_str().expect("cert"));
    let bytes = std::fs::read(&cert).expect("cert");
    let again = c.mint("WEB.p.localhost.");
    assert_eq!(
        (again["action"].as_str(), again["host"].as_str()),
        (Some("reused"), Some("web.p.localhost"))
    );
    assert_eq!(std::fs::read(&cert).expect("cert"), bytes, "the same certificate");
    let o = c.run(&["ca", "mint", "web.p.localhost"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("reused web.p.localhost\n"),
        "{}",
        show(&o)
    );

    // good for 3 more days only (signed by the CA itself): replaced
    let scratch = c.env.root.join("leafs");
    std::fs::create_dir_all(&scratch).expect("mkdir");
    let (short, short_key) = openssl_leaf(
        &scratch,
        "web.p.localhost",
        &c.ca_pem(),
        &c.env.home.join("ca/ca-key.pem"),
        "3",
    );
    std::fs::copy(&short, &cert).expect("copy");
    std::fs::copy(&short_key, cert.with_file_name("web.p.localhost-key.pem")).expect("copy");
    let v = c.mint("web.p.localhost");
    assert_eq!(v["action"], "minted", "a certificate ending within a week: {v}");
    assert_ne!(
        std::fs::read(&cert).expect("cert"),
        std::fs::read(&short).expect("short")
    );

    // signed by another CA: replaced
    let other = c.env.root.join("other");
    openssl_ca(&other, "ca.pem", "ca-key.pem", "rsa");
    let (foreign, foreign_key) = openssl_leaf(
        &scratch,
        "web.p.localhost",
        &other.join("ca.pem"),
        &other.join("ca-key.pem"),
        "300",
    );
    std::fs::copy(&foreign, &cert).expect("copy");
    std::fs::copy(&foreign_key, cert.with_file_name("web.p.localhost-key.pem")).expect("copy");
    assert_eq!(c.mint("web.p.localhost")["action"], "minted", "a foreign certificate");
    let o = openssl(&["verify", "-CAfile", s(&c.ca_pem()), s(&cert)]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn names_outside_the_tld_bad_words_and_a_corrupt_key_are_clear_errors() {
    let c = Ca::new("ca-errors");
    let (v, rc) = c.json(&["ca", "mint", "example.com"]);
    assert_eq!((rc, v["code"].as_str()), (1, Some("E600")), "{v}");
    assert!(v["error"].as_str().is_some_and(|e| e.contains("example.com")), "{v}");
    let (v, _) = c.json(&["ca", "mint", "*.p.localhost"]);
    assert_eq!(v["code"], "E600", "{v}");
    assert!(!c.env.home.join("certs/example.com.pem").exists());
    for args in [
        &["ca"][..],
        &["ca", "nosuch"],
        &["ca", "path", "extra"],
        &["ca", "mint", "a.localhost", "b.localhost"],
        &["ca", "install", "--force"],
    ] {
        let (v, rc) = c.json(args);
        assert_eq!((rc, v["code"].as_str()), (2, Some("E500")), "{args:?}: {v}");
    }
    // a corrupt key: E601 naming the file and the fix, no panic, nothing replaced
    c.mint("api.p.localhost");
    let key = c.env.home.join("ca/ca-key.pem");
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n",
    )
    .expect("write");
    let o = c.run(&["ca", "mint", "api.p.localhost"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        err.contains("error[E601]") && err.contains("ca-key.pem") && err.contains("hint:"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    let (v, rc) = c.json(&["ca", "path"]);
    assert_eq!((rc, v["code"].as_str()), (1, Some("E601")), "{v}");
    assert!(
        std::fs::read_to_string(&key).expect("key").contains("bm90IGEga2V5"),
        "never replaced"
    );
}

#[test]
fn mint_without_a_host_mints_the_projects_hosts_and_parallel_first_uses_make_one_ca() {
    if !have_openssl() {
        return;
    }
    let c = Ca::new("ca-project");
    c.env.config(
        "name = \"shop\"\n[tasks.api]\ncommand = \"true\"\nhost = \"api\"\n[tasks.web]\ncommand = \"true\"\nhost = \"@\"\n[tasks.any]\ncommand = \"true\"\nhost = \"*\"\n[tasks.db]\ncommand = \"true\"\n",
    );
    // four first uses at once: one CA, and every certificate verifies against it
    let children: Vec<_> = ["a", "b", "c", "d"]
        .iter()
        .map(|n| {
            c.command(&["--json", "ca", "mint", &format!("{n}.shop.localhost")])
                .stdout(Stdio::piped())
                .spawn()
                .expect("taskmux starts")
        })
        .collect();
    for child in children {
        let o = child.wait_with_output().expect("taskmux ends");
        assert_eq!(o.status.code(), Some(0), "{}", show(&o));
        let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
        let o = openssl(&["verify", "-CAfile", s(&c.ca_pem()), v["cert"].as_str().expect("cert")]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let (v, rc) = c.json(&["ca", "mint"]);
    assert_eq!(rc, 0, "{v}");
    let hosts: Vec<&str> = v["certs"]
        .as_array()
        .expect("certs")
        .iter()
        .filter_map(|c| c["host"].as_str())
        .collect();
    assert_eq!(hosts, ["api.shop.localhost", "shop.localhost"], "{v}");
    let (v, rc) = c.json(&["-c", "/nonexistent/taskmux.toml", "ca", "mint"]);
    assert_eq!((rc, v["code"].as_str()), (2, Some("E100")), "{v}");
    let (v, rc) = Ca::json_of(
        c.command(&["--json", "ca", "env"])
            .env("TASKMUX_SYSTEM_ROOT", "/nonexistent"),
    );
    assert_eq!((rc, v["code"].as_str()), (2, Some("E104")), "{v}");
}

#[test]
fn mkcerts_ca_is_used_when_caroot_holds_one() {
    if !have_openssl() {
        return;
    }
    let c = Ca::new("ca-mkcert");
    let caroot = c.env.root.join("mkcert");
    openssl_ca(&caroot, "rootCA.pem", "rootCA-key.pem", "rsa");
    let (v, rc) = Ca::json_of(c.command(&["--json", "ca", "path"]).env("CAROOT", &caroot));
    assert_eq!((rc, v["source"].as_str()), (0, Some("mkcert")), "{v}");
    assert_eq!(v["path"].as_str(), Some(s(&caroot.join("rootCA.pem"))));
    let (v, rc) = Ca::json_of(
        c.command(&["--json", "ca", "mint", "api.p.localhost"])
            .env("CAROOT", &caroot),
    );
    assert_eq!(rc, 0, "{v}");
    let o = openssl(&[
        "verify",
        "-CAfile",
        s(&caroot.join("rootCA.pem")),
        v["cert"].as_str().expect("cert"),
    ]);
    assert!(o.status.success(), "issued by mkcert's CA: {}", text(&o));
    assert!(!c.env.home.join("ca/ca-key.pem").exists(), "no CA of our own was made");
    // a CAROOT without a CA: ours; a broken one: E601 naming mkcert's file
    let (v, _) = Ca::json_of(
        c.command(&["--json", "ca", "path"])
            .env("CAROOT", c.env.root.join("none")),
    );
    assert_eq!(v["source"], "ours", "{v}");
    std::fs::write(caroot.join("rootCA-key.pem"), "junk").expect("write");
    let (v, rc) = Ca::json_of(c.command(&["--json", "ca", "path"]).env("CAROOT", &caroot));
    assert_eq!((rc, v["code"].as_str()), (1, Some("E601")), "{v}");
    assert!(v["hint"].as_str().is_some_and(|h| h.contains("mkcert")), "{v}");
}

pub(crate) fn have_certutil() -> bool {
    require("certutil", &["sh", "-c", "command -v certutil"])
}

#[test]
fn ca_env_makes_python_trust_a_host_that_openssl_serves() {
    if !have_openssl() || !require("python3", &["python3", "--version"]) {
        return;
    }
    let c = Ca::new("ca-env");
    let seed = c.env.root.join("seed");
    openssl_ca(&seed, "system.pem", "system-key.pem", "ec");
    let system = c.root.join("etc/ssl/certs/ca-certificates.crt");
    std::fs::create_dir_all(system.parent().expect("dir")).expect("mkdir");
    std::fs::copy(seed.join("system.pem"), &system).expect("copy");
    let host = c.mint("api.p.localhost");

    let (v, rc) = c.json(&["ca", "env"]);
    assert_eq!((rc, v["rebuilt"].as_bool()), (0, Some(true)), "{v}");
    let bundle = c.env.home.join("ca/bundle.pem");
    assert_eq!(v["env"]["NODE_EXTRA_CA_CERTS"].as_str(), Some(s(&c.ca_pem())), "{v}");
    for var in ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"] {
        assert_eq!(v["env"][var].as_str(), Some(s(&bundle)), "{v}");
    }
    assert_eq!(v["system_roots"].as_str(), Some(s(&system)), "{v}");
    let text_of = |p: &Path| std::fs::read_to_string(p).expect("read");
    let b = text_of(&bundle);
    assert!(
        b.starts_with(&text_of(&system)) && b.contains(&text_of(&c.ca_pem())),
        "{b}"
    );
    assert_eq!(c.json(&["ca", "env"]).0["rebuilt"], false, "a fresh bundle is kept");
    std::fs::write(&system, text_of(&seed.join("system.pem")).repeat(2)).expect("write");
    assert_eq!(c.json(&["ca", "env"]).0["rebuilt"], true, "a stale one is rebuilt");
    let o = c.run(&["ca", "env"]);
    let lines = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(lines.lines().all(|l| l.starts_with("export ")), "{lines}");

    let (_server, port) = s_server(host["cert"].as_str().expect("cert"), host["key"].as_str().expect("key"));
    let client = "import socket, ssl, sys\n\
        ctx = ssl.create_default_context()\n\
        with socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=10) as s:\n\
        \x20   with ctx.wrap_socket(s, server_hostname=sys.argv[2]) as t:\n\
        \x20       print('OK', t.version())\n";
    let empty = c.env.root.join("no-cert-dir");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let python = |setup: &str, name: &str| -> Output {
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            &format!("{setup} exec python3 -c \"$0\" \"$@\""),
            client,
            &port.to_string(),
            name,
        ]);
        c.apply(&mut cmd);
        let dir = Path::new(crate::harness::bin()).parent().expect("dir");
        cmd.env(
            "PATH",
            format!("{}:{}", dir.display(), std::env::var("PATH").unwrap_or_default()),
        )
        .env("SSL_CERT_DIR", &empty)
        .env_remove("SSL_CERT_FILE");
        cmd.output().expect("sh runs")
    };
    let o = python("eval \"$(taskmux ca env)\" &&", "api.p.localhost");
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("OK TLS"), "{}", show(&o));
    // without the CA, and for a name the certificate does not have, python refuses
    let o = python(&format!("SSL_CERT_FILE={} ", s(&system)), "api.p.localhost");
    assert!(
        !o.status.success() && text(&o).contains("CERTIFICATE_VERIFY_FAILED"),
        "{}",
        show(&o)
    );
    let o = python("eval \"$(taskmux ca env)\" &&", "web.p.localhost");
    assert!(
        !o.status.success() && text(&o).contains("CERTIFICATE_VERIFY_FAILED"),
        "{}",
        show(&o)
    );
}
