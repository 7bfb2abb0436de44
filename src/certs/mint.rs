//! What the certificates say: the parameters of our CA (ECDSA P-256, ten years, CA:true with
//! path length 0, name-constrained to the managed TLD and loopback) and of a host
//! certificate (one name, serverAuth, about a year, a random serial).

use super::{hex, random};
use crate::error::{Error, Kind, Result};
use crate::time::civil_from_days;
use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
    GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose, NameConstraints, SanType, SerialNumber,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Days a host certificate is valid: browsers refuse more than 398.
pub const HOST_DAYS: i64 = 397;
/// Days our CA is valid: ten years.
pub const CA_DAYS: i64 = 3653;
const DAY: i64 = 86_400;

/// A certificate and its new key, both PEM.
pub struct Minted {
    /// The certificate.
    pub cert_pem: String,
    /// Its private key (PKCS#8).
    pub key_pem: String,
}

fn mint_err(what: &str, e: rcgen::Error) -> Error {
    Kind::Mint(format!("cannot make {what}: {e}")).into()
}

/// Midnight UTC of the day before `now`, as rcgen takes it, and that day's number: every
/// validity starts a day back, so a clock a little behind does not refuse a fresh certificate.
fn day_before(now: i64) -> i64 {
    now.div_euclid(DAY) - 1
}

/// Sets the validity of `params`: from midnight UTC of day `start` to that of day `end`
/// (days since 1970-01-01).
fn set_validity(params: &mut CertificateParams, start: i64, end: i64) -> Result<()> {
    let ymd = |day: i64| -> Result<(i32, u8, u8)> {
        let (y, m, d) = civil_from_days(day);
        let y = i32::try_from(y).map_err(|_| Error::from(Kind::Mint(format!("the year {y} is out of range"))))?;
        Ok((y, m as u8, d as u8))
    };
    let (y, m, d) = ymd(start)?;
    params.not_before = rcgen::date_time_ymd(y, m, d);
    let (y, m, d) = ymd(end)?;
    params.not_after = rcgen::date_time_ymd(y, m, d);
    Ok(())
}

/// A positive random serial of 16 bytes.
fn serial() -> Result<SerialNumber> {
    let mut bytes = random::<16>()?;
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    Ok(SerialNumber::from_slice(&bytes))
}

/// A new CA for `tld`, its subject naming `owner` (`user@host`) and a random id, so two
/// machines' (or two installs') CAs never look alike in a trust store.
pub fn new_ca(owner: &str, tld: &str, now: i64) -> Result<Minted> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| mint_err("the CA key", e))?;
    let mut params = CertificateParams::default();
    let id = hex(&random::<4>()?);
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "taskmux development CA");
    dn.push(DnType::OrganizationalUnitName, owner);
    dn.push(DnType::CommonName, format!("taskmux {owner} {id}"));
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.name_constraints = Some(NameConstraints {
        permitted_subtrees: vec![
            GeneralSubtree::DnsName(tld.to_string()),
            GeneralSubtree::IpAddress(CidrSubnet::from_v4_prefix([127, 0, 0, 1], 32)),
            GeneralSubtree::IpAddress(CidrSubnet::from_v6_prefix(Ipv6Addr::LOCALHOST.octets(), 128)),
        ],
        excluded_subtrees: Vec::new(),
    });
    let start = day_before(now);
    set_validity(&mut params, start, start + CA_DAYS)?;
    params.serial_number = Some(serial()?);
    let cert = params
        .self_signed(&key)
        .map_err(|e| mint_err("the CA certificate", e))?;
    Ok(Minted {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// A certificate for `host`, signed by `issuer`, valid from yesterday for [`HOST_DAYS`] and
/// never past the CA's own end (`ca_not_after`). The TLD's own certificate (`with_loopback`)
/// also names 127.0.0.1 and ::1: it is the one served when a client sends no name, as a
/// client that connects to an address does.
pub fn host_cert(
    host: &str,
    with_loopback: bool,
    issuer: &Issuer<'_, KeyPair>,
    ca_not_after: i64,
    now: i64,
) -> Result<Minted> {
    let what = format!("a certificate for {host}");
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| mint_err(&what, e))?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "taskmux development certificate");
    dn.push(DnType::CommonName, host);
    params.distinguished_name = dn;
    let name = host.to_string().try_into().map_err(|e| mint_err(&what, e))?;
    params.subject_alt_names = vec![SanType::DnsName(name)];
    if with_loopback {
        params.subject_alt_names.extend([
            SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            SanType::IpAddress(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        ]);
    }
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let start = day_before(now);
    let end = (start + HOST_DAYS).min(ca_not_after.div_euclid(DAY));
    if end <= now.div_euclid(DAY) {
        return Err(Kind::Mint(format!(
            "cannot make {what}: the CA expires within a day, on {}",
            crate::time::iso_time(ca_not_after as f64)
        ))
        .into());
    }
    set_validity(&mut params, start, end)?;
    params.serial_number = Some(serial()?);
    let cert = params.signed_by(&key, issuer).map_err(|e| mint_err(&what, e))?;
    Ok(Minted {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}
