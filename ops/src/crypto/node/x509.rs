//! node:crypto's X509Certificate on the x509-cert crate (parsing only; nothing here decides trust):
//! the fields Node shows, in Node's (OpenSSL's) text forms, a certificate's signature checked
//! against a public key, and the host, email and IP checks of OpenSSL's X509_check_host/email/ip.
//!
//! X509Parse(der) -> [subject, issuer, validFrom, validTo, serialNumber, SPKI DER, ca (1 byte),
//! extended key usage OIDs ("\n"-joined; an empty field with a 0 flag byte when absent),
//! subjectAltName text, infoAccess text]; X509Verify(der, spki) -> whether the certificate's
//! signature (RSASSA-PKCS1-v1_5 with SHA-1/256/384/512, ECDSA with SHA-1/256/384/512 on P-256/384/
//! 521, Ed25519) verifies with that key; X509Check(der, kind, name, flags) -> the matching name
//! (empty: none): kind 0 host (the certificate's name that matched; flags: 1 no wildcards, 2
//! always the subject, 4 never the subject), 1 email, 2 IP (a text address; for these two the
//! answer is the name given, as Node's).
//!
//! Cost: linear in the certificate (16 MiB cap) plus one signature check (RSA at most 4096 bits).
//! Text forms: x509_text.rs.
//! Trusts: x509-cert and der (parsing), the crypto family modules (signatures).

use std::fmt::Write as _;
use std::net::IpAddr;

use pkcs8::der::{Decode, Encode};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AuthorityInfoAccessSyntax, BasicConstraints, ExtendedKeyUsage, SubjectAltName,
};
use x509_cert::Certificate;

use super::super::hash::Hash;
use super::super::{ec, okp, rsa, Family};
use super::x509_text::{general_name_text, name_text, name_values, time_text};
use crate::{fields, OpError, OpResult};

fn bad_cert() -> OpError {
    OpError::data("not a valid X.509 certificate")
}

fn cert(der: &[u8]) -> OpResult<Certificate> {
    Certificate::from_der(der).map_err(|_| bad_cert())
}

fn san(c: &Certificate) -> Vec<GeneralName> {
    match c.tbs_certificate().get_extension::<SubjectAltName>() {
        Ok(Some((_, SubjectAltName(names)))) => names,
        _ => Vec::new(),
    }
}

/// X509Parse: see the module comment.
pub(crate) fn parse(der: &[u8]) -> OpResult<Vec<u8>> {
    let c = cert(der)?;
    let tbs = c.tbs_certificate();
    let mut serial = String::new();
    for b in tbs.serial_number().as_bytes() {
        let _ = write!(serial, "{b:02X}");
    }
    let spki = tbs
        .subject_public_key_info()
        .to_der()
        .map_err(|_| bad_cert())?;
    let ca = matches!(tbs.get_extension::<BasicConstraints>(), Ok(Some((_, b))) if b.ca);
    let (eku_present, eku) = match tbs.get_extension::<ExtendedKeyUsage>() {
        Ok(Some((_, ExtendedKeyUsage(oids)))) => (
            1u8,
            oids.iter()
                .map(|o| o.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        _ => (0u8, String::new()),
    };
    let alt = san(&c)
        .iter()
        .map(general_name_text)
        .collect::<Vec<_>>()
        .join(", ");
    let info = match tbs.get_extension::<AuthorityInfoAccessSyntax>() {
        Ok(Some((_, AuthorityInfoAccessSyntax(list)))) => list
            .iter()
            .map(|a| {
                let method = match a.access_method.to_string().as_str() {
                    "1.3.6.1.5.5.7.48.1" => "OCSP".to_string(),
                    "1.3.6.1.5.5.7.48.2" => "CA Issuers".to_string(),
                    other => other.to_string(),
                };
                format!("{method} - {}\n", general_name_text(&a.access_location))
            })
            .collect::<String>(),
        _ => String::new(),
    };
    Ok(fields::encode(&[
        name_text(tbs.subject()).as_bytes(),
        name_text(tbs.issuer()).as_bytes(),
        time_text(&tbs.validity().not_before).as_bytes(),
        time_text(&tbs.validity().not_after).as_bytes(),
        serial.as_bytes(),
        &spki,
        &[u8::from(ca)],
        &[eku_present],
        eku.as_bytes(),
        alt.as_bytes(),
        info.as_bytes(),
    ]))
}

/// The TBSCertificate's bytes as signed: the first element of the outer SEQUENCE.
fn tbs_bytes(der: &[u8]) -> OpResult<&[u8]> {
    fn header(d: &[u8], at: usize) -> OpResult<(usize, usize)> {
        let len0 = *d.get(at + 1).ok_or_else(bad_cert)?;
        if len0 < 0x80 {
            return Ok((2, usize::from(len0)));
        }
        let n = usize::from(len0 & 0x7f);
        if n == 0 || n > 4 {
            return Err(bad_cert());
        }
        let mut len = 0usize;
        for i in 0..n {
            len = len << 8 | usize::from(*d.get(at + 2 + i).ok_or_else(bad_cert)?);
        }
        Ok((2 + n, len))
    }
    let (outer, _) = header(der, 0)?;
    let (h, len) = header(der, outer)?;
    der.get(outer..outer + h + len).ok_or_else(bad_cert)
}

/// A DER ECDSA signature as r || s of `n` bytes each.
fn ecdsa_raw(sig: &[u8], n: usize) -> Option<Vec<u8>> {
    // SEQUENCE { r INTEGER, s INTEGER }, read as a SEQUENCE OF two unsigned integers.
    let parts = Vec::<pkcs8::der::asn1::UintRef<'_>>::from_der(sig).ok()?;
    let [r, s] = parts.as_slice() else {
        return None;
    };
    let mut out = vec![0u8; 2 * n];
    for (i, part) in [r.as_bytes(), s.as_bytes()].iter().enumerate() {
        if part.len() > n {
            return None;
        }
        out[i * n + n - part.len()..(i + 1) * n].copy_from_slice(part);
    }
    Some(out)
}

/// X509Verify: see the module comment.
pub(crate) fn verify(der: &[u8], spki: &[u8]) -> OpResult<bool> {
    let c = cert(der)?;
    let tbs = tbs_bytes(der)?;
    let sig = c.signature().as_bytes().ok_or_else(bad_cert)?;
    let alg = c.signature_algorithm().oid.to_string();
    let rsa_hash = match alg.as_str() {
        "1.2.840.113549.1.1.5" => Some(Hash::Sha1),
        "1.2.840.113549.1.1.11" => Some(Hash::Sha256),
        "1.2.840.113549.1.1.12" => Some(Hash::Sha384),
        "1.2.840.113549.1.1.13" => Some(Hash::Sha512),
        _ => None,
    };
    if let Some(hash) = rsa_hash {
        return Ok(rsa::verify(0, hash, spki, 0, tbs, sig).unwrap_or(false));
    }
    let ec_hash = match alg.as_str() {
        "1.2.840.10045.4.1" => Some(Hash::Sha1),
        "1.2.840.10045.4.3.2" => Some(Hash::Sha256),
        "1.2.840.10045.4.3.3" => Some(Hash::Sha384),
        "1.2.840.10045.4.3.4" => Some(Hash::Sha512),
        _ => None,
    };
    if let Some(hash) = ec_hash {
        for (family, n) in [(Family::P256, 32), (Family::P384, 48), (Family::P521, 66)] {
            let Some(raw) = ecdsa_raw(sig, n) else {
                continue;
            };
            if let Ok(ok) = ec::verify(family, hash, spki, tbs, &raw) {
                return Ok(ok);
            }
        }
        return Ok(false);
    }
    if alg == "1.3.101.112" {
        return Ok(okp::verify(spki, tbs, sig).unwrap_or(false));
    }
    Err(OpError::not_supported(format!(
        "certificate signature algorithm {alg} is not supported"
    )))
}

/// `pattern` (a certificate's DNS name) matches `host` (lower case), with OpenSSL's default
/// wildcard rule: a `*` as the whole leftmost label, matching one label, not on a public suffix
/// of fewer than two labels.
fn host_matches(pattern: &str, host: &str, wildcards: bool) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    let host = host.strip_suffix('.').unwrap_or(host);
    if pattern == host {
        return true;
    }
    let Some(rest) = pattern.strip_prefix("*.") else {
        return false;
    };
    if !wildcards || rest.split('.').count() < 2 {
        return false;
    }
    match host.split_once('.') {
        Some((label, tail)) => !label.is_empty() && tail == rest,
        None => false,
    }
}

/// X509Check: see the module comment.
pub(crate) fn check(der: &[u8], kind: u32, name: &[u8], flags: u32) -> OpResult<Vec<u8>> {
    let c = cert(der)?;
    let name = std::str::from_utf8(name).map_err(|_| OpError::type_error("not a valid name"))?;
    let names = san(&c);
    let subject = c.tbs_certificate().subject();
    let always = flags & 2 != 0;
    let never = flags & 4 != 0;
    let found = match kind {
        0 => {
            let host = name.to_ascii_lowercase();
            let wildcards = flags & 1 == 0;
            let dns: Vec<&str> = names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DnsName(s) => Some(s.as_str()),
                    _ => None,
                })
                .collect();
            let by_san = dns.iter().find(|p| host_matches(p, &host, wildcards));
            match by_san {
                Some(p) => Some(p.to_string()),
                None if !never && (always || dns.is_empty()) => name_values(subject, "2.5.4.3")
                    .into_iter()
                    .find(|cn| cn.eq_ignore_ascii_case(&host)),
                None => None,
            }
        }
        1 => {
            let same = |cert_email: &str| match (cert_email.rsplit_once('@'), name.rsplit_once('@'))
            {
                (Some((l1, d1)), Some((l2, d2))) => l1 == l2 && d1.eq_ignore_ascii_case(d2),
                _ => false,
            };
            let emails: Vec<&str> = names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::Rfc822Name(s) => Some(s.as_str()),
                    _ => None,
                })
                .collect();
            let by_subject = || {
                !never
                    && (always || emails.is_empty())
                    && name_values(subject, "1.2.840.113549.1.9.1")
                        .iter()
                        .any(|e| same(e))
            };
            // Node answers with the address it was given.
            (emails.iter().any(|e| same(e)) || by_subject()).then(|| name.to_string())
        }
        2 => {
            let ip: IpAddr = name
                .parse()
                .map_err(|_| OpError::type_error("Invalid IP"))?;
            let want = match ip {
                IpAddr::V4(v4) => v4.octets().to_vec(),
                IpAddr::V6(v6) => v6.octets().to_vec(),
            };
            names
                .iter()
                .any(|n| matches!(n, GeneralName::IpAddress(o) if o.as_bytes() == want))
                .then(|| name.to_string())
        }
        _ => return Err(OpError::type_error("unknown check")),
    };
    Ok(found.unwrap_or_default().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_follow_openssl() {
        assert!(host_matches("*.example.org", "a.example.org", true));
        assert!(!host_matches("*.example.org", "a.example.org", false));
        assert!(!host_matches("*.example.org", "b.a.example.org", true));
        assert!(!host_matches("*.example.org", "example.org", true));
        assert!(!host_matches("*.org", "example.org", true));
        assert!(host_matches("Example.com", "example.com", true));
    }
}
