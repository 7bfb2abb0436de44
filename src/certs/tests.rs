//! Unit tests of the CA, host certificates and the resolver, in a scratch state directory.

use super::*;
use std::os::unix::fs::PermissionsExt;

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("taskmux-certs-unit-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

use std::path::PathBuf;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).expect("stat").permissions().mode() & 0o777
}

const DAY: i64 = 86_400;

#[test]
fn the_ca_is_made_once_private_and_loaded_again() {
    let s = Scratch::new("ca");
    let ca = Authority::load_or_create(&s.0, "localhost", None).expect("a CA");
    assert!(ca.created());
    assert_eq!(ca.source(), Source::Ours);
    assert_eq!(mode(&s.0.join("ca")), 0o700);
    assert_eq!(mode(&s.0.join("ca/ca-key.pem")), 0o600);
    assert!(ca.subject().contains("taskmux development CA"), "{}", ca.subject());
    let again = Authority::load_or_create(&s.0, "localhost", None).expect("the same CA");
    assert!(!again.created());
    assert_eq!(again.fingerprint(), ca.fingerprint());
    // a mkcert root without its files is not mkcert's CA
    let empty = s.0.join("no-mkcert");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let third = Authority::load_or_create(&s.0, "localhost", Some(&empty)).expect("ours");
    assert_eq!((third.source(), third.fingerprint()), (Source::Ours, ca.fingerprint()));
}

#[test]
fn a_host_cert_is_reused_until_a_week_before_its_end() {
    let s = Scratch::new("reuse");
    let ca = Authority::load_or_create(&s.0, "localhost", None).expect("a CA");
    let now = crate::time::now_secs() as i64;
    let (first, _) = ca.material("api.p.localhost", now).expect("minted");
    assert!(first.minted);
    assert_eq!(mode(&first.key), 0o600);
    assert_eq!(mode(&s.0.join("certs")), 0o700);
    let days = (first.not_after - now) / DAY;
    assert!((394..=397).contains(&days), "about a year: {days} days");
    let pem = std::fs::read(&first.cert).expect("cert");
    let (second, _) = ca.material("API.p.localhost", now).expect("reused");
    assert!(!second.minted);
    assert_eq!(std::fs::read(&second.cert).expect("cert"), pem);
    // 8 days before its end it is still good; 6 days before, a new one is made
    let (late, _) = ca
        .material("api.p.localhost", first.not_after - 8 * DAY)
        .expect("reused");
    assert!(!late.minted);
    let (renewed, _) = ca
        .material("api.p.localhost", first.not_after - 6 * DAY)
        .expect("minted");
    assert!(renewed.minted);
    assert_ne!(std::fs::read(&renewed.cert).expect("cert"), pem);
}

#[test]
fn a_foreign_or_broken_cert_on_disk_is_minted_again() {
    let s = Scratch::new("foreign");
    let other = Scratch::new("foreign-other");
    let ca = Authority::load_or_create(&s.0, "localhost", None).expect("a CA");
    let theirs = Authority::load_or_create(&other.0, "localhost", None).expect("another CA");
    let now = crate::time::now_secs() as i64;
    let (foreign, _) = theirs.material("web.p.localhost", now).expect("minted by the other");
    let certs = s.0.join("certs");
    std::fs::create_dir_all(&certs).expect("mkdir");
    std::fs::copy(&foreign.cert, certs.join("web.p.localhost.pem")).expect("copy");
    std::fs::copy(&foreign.key, certs.join("web.p.localhost-key.pem")).expect("copy");
    let (ours, _) = ca.material("web.p.localhost", now).expect("minted");
    assert!(ours.minted, "a certificate of another CA is not ours");
    // a key that is not the certificate's
    let (db, _) = ca.material("db.p.localhost", now).expect("minted");
    std::fs::copy(&ours.key, &db.key).expect("copy");
    let (db2, _) = ca.material("db.p.localhost", now).expect("minted");
    assert!(db2.minted, "a pair whose key does not match");
    std::fs::write(&db2.cert, "garbage").expect("write");
    assert!(ca.material("db.p.localhost", now).expect("minted").0.minted);
}

#[test]
fn names_outside_the_tld_and_broken_cas_are_errors() {
    let s = Scratch::new("errors");
    let ca = Authority::load_or_create(&s.0, "localhost", None).expect("a CA");
    let e = ca.host_cert("example.com").expect_err("outside");
    assert_eq!(e.code(), "E600");
    assert!(e.message().contains("example.com"), "{e}");
    assert!(!s.0.join("certs/example.com.pem").exists());
    std::fs::write(
        s.0.join("ca/ca-key.pem"),
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .expect("write");
    let e = Authority::load_or_create(&s.0, "localhost", None).expect_err("corrupt");
    assert_eq!(e.code(), "E601", "{e}");
    assert!(e.message().contains("ca-key.pem"), "{e}");
    // a key of another CA
    let other = Scratch::new("errors-other");
    Authority::load_or_create(&other.0, "localhost", None).expect("another CA");
    std::fs::copy(other.0.join("ca/ca-key.pem"), s.0.join("ca/ca-key.pem")).expect("copy");
    let e = Authority::load_or_create(&s.0, "localhost", None).expect_err("mismatch");
    assert!(e.code() == "E601" && e.message().contains("not the key"), "{e}");
    std::fs::remove_file(s.0.join("ca/ca-key.pem")).expect("rm");
    let e = Authority::load_or_create(&s.0, "localhost", None).expect_err("missing key");
    assert!(e.code() == "E601" && e.message().contains("missing"), "{e}");
    // a CA past its end
    let old = Scratch::new("errors-old");
    Authority::load_or_create(&old.0, "localhost", None).expect("a CA");
    let later = crate::time::now_secs() as i64 + 11 * 366 * DAY;
    let e = Authority::load_or_create_at(&old.0, "localhost", None, later).expect_err("expired");
    assert!(e.code() == "E601" && e.message().contains("expired"), "{e}");
}

#[test]
fn the_resolver_caches_each_name_and_refuses_others() {
    let s = Scratch::new("resolver");
    let ca = std::sync::Arc::new(Authority::load_or_create(&s.0, "localhost", None).expect("a CA"));
    let r = SniResolver::new(ca, "localhost".into());
    let a = r.key_for("api.p.localhost").expect("a key");
    let b = r.key_for("api.p.localhost").expect("the same key");
    assert!(std::sync::Arc::ptr_eq(&a, &b), "cached in memory");
    assert!(r.key_for("example.com").is_none());
    assert!(r.key_for("localhost").is_some(), "the TLD itself");
    std::thread::scope(|sc| {
        for i in 0..8 {
            let r = &r;
            sc.spawn(move || assert!(r.key_for(&format!("t{i}.p.localhost")).is_some()));
        }
    });
    assert_eq!(r.cached(), 10);
    assert!(r.last_error().is_none());
}
