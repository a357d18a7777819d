//! Clients as the per-address limits see them.

use std::net::{IpAddr, Ipv6Addr};

/// The key of a client's per-address budgets: an IPv4 address as it is, an IPv6 address
/// as its network of `v6_prefix_len` bits (`2001:db8:7:7::/64`). One subscriber usually
/// holds a whole /64 and may use any address in it, so keyed by address each of them
/// would bring a fresh budget. An IPv4 address mapped into IPv6 (`::ffff:1.2.3.4`, from
/// a dual-stack socket or a proxy) is the IPv4 address.
pub fn ip_bucket(ip: IpAddr, v6_prefix_len: u8) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let len = u32::from(v6_prefix_len.min(128));
            let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
            format!("{}/{len}", Ipv6Addr::from(u128::from(v6) & mask))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_network_and_ipv4_by_address() {
        assert_eq!(ip_bucket(ip("2001:db8:7:7::1"), 64), "2001:db8:7:7::/64");
        assert_eq!(
            ip_bucket(ip("2001:db8:7:7:ffff:ffff:ffff:ffff"), 64),
            "2001:db8:7:7::/64"
        );
        assert_eq!(ip_bucket(ip("2001:db8:7:8::1"), 64), "2001:db8:7:8::/64");
        assert_eq!(ip_bucket(ip("2001:db8:7:7::1"), 48), "2001:db8:7::/48");
        assert_eq!(ip_bucket(ip("2001:db8::1"), 128), "2001:db8::1/128");
        assert_eq!(ip_bucket(ip("2001:db8::1"), 0), "::/0");
        assert_eq!(ip_bucket(ip("203.0.113.7"), 64), "203.0.113.7");
        assert_eq!(ip_bucket(ip("::ffff:203.0.113.7"), 64), "203.0.113.7");
    }
}
