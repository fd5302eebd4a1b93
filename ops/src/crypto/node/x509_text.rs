//! X.509's text forms as Node (OpenSSL) shows them, for x509.rs: names one "type=value" line per
//! RDN with OpenSSL's short names and RFC 2253 escaping, ASN1_TIME_print's dates, and the
//! subjectAltName / infoAccess entries ("DNS:", "IP Address:", "email:", "URI:").
//!
//! Trusts: x509-cert and der (the parsed values).

use std::fmt::Write as _;

use pkcs8::der::asn1::ObjectIdentifier as Oid;
use pkcs8::der::{Encode, Tag, Tagged};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::name::Name;

/// OpenSSL's short name of an attribute type, or the dotted OID.
fn short_name(oid: &Oid) -> String {
    let name = match oid.to_string().as_str() {
        "2.5.4.3" => "CN",
        "2.5.4.4" => "SN",
        "2.5.4.5" => "serialNumber",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "street",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.12" => "title",
        "2.5.4.17" => "postalCode",
        "2.5.4.42" => "GN",
        "1.2.840.113549.1.9.1" => "emailAddress",
        "0.9.2342.19200300.100.1.1" => "UID",
        "0.9.2342.19200300.100.1.25" => "DC",
        other => return other.to_string(),
    };
    name.to_string()
}

/// An attribute value's text (the string types; anything else as OpenSSL shows unknown DER: #hex).
fn value_text(v: &pkcs8::der::Any) -> String {
    let bytes = v.value();
    match v.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::VisibleString => {
            String::from_utf8_lossy(bytes).into_owned()
        }
        Tag::TeletexString => bytes.iter().map(|b| char::from(*b)).collect(),
        Tag::BmpString => {
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        _ => {
            let mut s = String::from("#");
            for b in v.to_der().unwrap_or_default() {
                let _ = write!(s, "{b:02X}");
            }
            s
        }
    }
}

/// RFC 2253 escaping as OpenSSL's ASN1_STRFLGS_ESC_2253 | ESC_CTRL does it.
fn escaped(text: &str) -> String {
    let mut out = String::new();
    let last = text.chars().count().saturating_sub(1);
    for (i, c) in text.chars().enumerate() {
        let edge_space = c == ' ' && (i == 0 || i == last);
        if matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || edge_space
            || (c == '#' && i == 0)
        {
            out.push('\\');
            out.push(c);
        } else if (c as u32) < 0x20 || c as u32 == 0x7f {
            let _ = write!(out, "\\{:02X}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// A name as Node shows it: one "type=value" line per RDN, in the certificate's order.
pub(super) fn name_text(name: &Name) -> String {
    let mut lines = Vec::new();
    for rdn in name.iter_rdn() {
        let parts: Vec<String> = rdn
            .iter()
            .map(|atv| {
                format!(
                    "{}={}",
                    short_name(&atv.oid),
                    escaped(&value_text(&atv.value))
                )
            })
            .collect();
        lines.push(parts.join(" + "));
    }
    lines.join("\n")
}

/// The values of attribute `oid` in a name.
pub(super) fn name_values(name: &Name, oid: &str) -> Vec<String> {
    name.iter()
        .filter(|atv| atv.oid.to_string() == oid)
        .map(|atv| value_text(&atv.value))
        .collect()
}

/// OpenSSL's ASN1_TIME_print: "Jan  1 00:00:00 2024 GMT".
pub(super) fn time_text(t: &x509_cert::time::Time) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let d = t.to_date_time();
    format!(
        "{} {:>2} {:02}:{:02}:{:02} {} GMT",
        MONTHS[usize::from(d.month().clamp(1, 12) - 1)],
        d.day(),
        d.hour(),
        d.minutes(),
        d.seconds(),
        d.year()
    )
}

fn ip_text(bytes: &[u8]) -> String {
    match bytes.len() {
        4 => format!("{}.{}.{}.{}", bytes[0], bytes[1], bytes[2], bytes[3]),
        16 => bytes
            .chunks_exact(2)
            .map(|c| format!("{:X}", u16::from_be_bytes([c[0], c[1]])))
            .collect::<Vec<_>>()
            .join(":"),
        _ => "<invalid>".to_string(),
    }
}

pub(super) fn general_name_text(n: &GeneralName) -> String {
    match n {
        GeneralName::DnsName(s) => format!("DNS:{}", s.as_str()),
        GeneralName::Rfc822Name(s) => format!("email:{}", s.as_str()),
        GeneralName::UniformResourceIdentifier(s) => format!("URI:{}", s.as_str()),
        GeneralName::IpAddress(o) => format!("IP Address:{}", ip_text(o.as_bytes())),
        GeneralName::DirectoryName(name) => {
            format!("DirName:{}", name_text(name).replace('\n', "/"))
        }
        GeneralName::RegisteredId(oid) => format!("Registered ID:{oid}"),
        _ => "othername:<unsupported>".to_string(),
    }
}
