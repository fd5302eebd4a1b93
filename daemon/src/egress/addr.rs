//! Which addresses the gateway may connect to: the public internet, and whatever the operator's
//! `[egress] allow_private` covers.
//!
//! Guarantees: an address is refused when it is unspecified, `0.0.0.0/8`, loopback, private
//! (10/8, 172.16/12, 192.168/16, fc00::/7), link-local (169.254/16, fe80::/10, so the cloud
//! metadata address 169.254.169.254), shared CGNAT space (100.64/10), multicast, broadcast,
//! reserved (240/4), IETF or documentation space, benchmarking space, site-local IPv6, or an IPv6
//! form that carries one of those IPv4 addresses (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible
//! `::a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`), unless an `allow_private` network
//! contains the address or the IPv4 address it carries. `fd00:ec2::254` (a metadata address) is
//! in fc00::/7.
//!
//! Trusts: the operator's `allow_private` list (validated at config load).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Why an address may not be reached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("address {address} is {class} and not allowed")]
pub struct Refused {
    pub address: IpAddr,
    pub class: &'static str,
}

/// The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4), if any.
pub fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(low),
        // IPv4-compatible, but not :: and ::1 (themselves classified as IPv6).
        [0, 0, 0, 0, 0, 0, _, _] if u32::from(low) > 1 => Some(low),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        [0x2002, a, b, ..] => Some(Ipv4Addr::new(
            (a >> 8) as u8,
            a as u8,
            (b >> 8) as u8,
            b as u8,
        )),
        _ => None,
    }
}

/// Why `ip` is not a public unicast IPv4 address, or `None` when it is.
fn v4_class(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_broadcast() => "broadcast",
        _ if ip.is_unspecified() => "unspecified",
        (0, _, _) => "in 0.0.0.0/8",
        (127, _, _) => "loopback",
        (10, _, _) => "private",
        (172, 16..=31, _) => "private",
        (192, 168, _) => "private",
        (169, 254, _) => "link-local (cloud metadata lives here)",
        (100, 64..=127, _) => "shared address space (CGNAT)",
        (224..=239, _, _) => "multicast",
        (240..=255, _, _) => "reserved",
        (192, 0, 0) => "IETF protocol assignment space",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation space",
        (198, 18..=19, _) => "benchmarking space",
        _ => return None,
    })
}

/// Why `ip` is not a public unicast address, or `None` when it is.
pub fn class(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_class(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_v4(v6) {
                return v4_class(v4);
            }
            let s = v6.segments();
            Some(match s[0] {
                _ if v6.is_unspecified() => "unspecified",
                _ if v6.is_loopback() => "loopback",
                0xfc00..=0xfdff => "private (unique local; fd00:ec2::254 is cloud metadata)",
                0xfe80..=0xfebf => "link-local",
                0xfec0..=0xfeff => "site-local",
                0xff00..=0xffff => "multicast",
                0x2001 if s[1] == 0x0db8 => "documentation space",
                0x0100 if s[1..4] == [0, 0, 0] => "discard space",
                _ => return None,
            })
        }
    }
}

/// The addresses the gateway may reach.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    allow_private: Vec<IpNet>,
}

impl AddressPolicy {
    pub fn new(allow_private: Vec<IpNet>) -> AddressPolicy {
        AddressPolicy { allow_private }
    }

    /// `Ok` when `ip` may be connected to.
    pub fn check(&self, ip: IpAddr) -> Result<(), Refused> {
        let Some(class) = class(ip) else {
            return Ok(());
        };
        let carried = match ip {
            IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        let allowed = self
            .allow_private
            .iter()
            .any(|net| net.contains(&ip) || carried.is_some_and(|v4| net.contains(&v4)));
        if allowed {
            Ok(())
        } else {
            Err(Refused { address: ip, class })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn special_addresses_are_refused_and_public_ones_allowed() {
        let none = AddressPolicy::default();
        for bad in [
            "127.0.0.1",
            "127.255.1.2",
            "0.0.0.0",
            "0.1.2.3",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "::",
            "::1",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
            "2001:db8::1",
        ] {
            assert!(none.check(ip(bad)).is_err(), "{bad} refused");
        }
        for good in [
            "1.1.1.1",
            "8.8.8.8",
            "172.15.0.1",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.0",
            "169.253.1.1",
            "2606:4700::1111",
            "::ffff:1.1.1.1",
            "64:ff9b::101:101",
            "2002:101:101::",
        ] {
            assert_eq!(none.check(ip(good)), Ok(()), "{good} allowed");
        }
    }

    #[test]
    fn allow_private_covers_an_address_and_its_ipv6_forms_only() {
        let policy = AddressPolicy::new(vec!["127.0.0.0/8".parse().expect("net")]);
        assert_eq!(policy.check(ip("127.0.0.1")), Ok(()));
        assert_eq!(policy.check(ip("::ffff:127.0.0.1")), Ok(()));
        for still_bad in ["::1", "10.0.0.1", "169.254.169.254", "fd00:ec2::254"] {
            assert!(policy.check(ip(still_bad)).is_err(), "{still_bad}");
        }
        let refused = policy.check(ip("10.0.0.1")).expect_err("private");
        assert_eq!(
            refused.to_string(),
            "address 10.0.0.1 is private and not allowed"
        );
    }
}
