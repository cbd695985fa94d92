//! Who the client is when Keyward sits behind reverse proxies. `X-Forwarded-For` is believed
//! only from the peers named in `KEYWARD_TRUSTED_PROXIES`: walking it from the right, the first
//! address that is not a trusted proxy is the client. From any other peer the header is
//! ignored, so a client cannot pick its own address for the sign-in throttle or the audit trail.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::domain::Invalid;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// A comma- or space-separated list of addresses and CIDR blocks; empty means none.
    pub fn parse(list: &str) -> Result<Self, Invalid> {
        list.split([',', ' '])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        Invalid::new(format!("\"{s}\" is not an IP address or CIDR block."))
                    })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    pub fn trusts(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        self.0.iter().any(|net| net.contains(&addr))
    }

    /// The client behind `peer`, given the request's `X-Forwarded-For` values in header order.
    pub fn client<'a>(&self, peer: IpAddr, forwarded_for: impl Iterator<Item = &'a str>) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<&str> = forwarded_for.flat_map(|v| v.split(',')).collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Ok(addr) = hop.trim().parse::<IpAddr>() else {
                // Garbage in the chain: the last proxy we trust is all we know.
                break;
            };
            client = canonical(addr);
            if !self.trusts(client) {
                break;
            }
        }
        client
    }
}

impl TrustedProxies {
    /// The client behind `peer`: from `X-Forwarded-For` when the request has one, else from
    /// `X-Real-IP` (the one address a proxy such as nginx may set instead), each believed
    /// only from a trusted peer.
    pub fn client_behind<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl Iterator<Item = &'a str>,
        real_ip: Option<&str>,
    ) -> IpAddr {
        let mut forwarded_for = forwarded_for.peekable();
        if forwarded_for.peek().is_none()
            && self.trusts(peer)
            && let Some(addr) = real_ip.and_then(|v| v.trim().parse::<IpAddr>().ok())
        {
            return canonical(addr);
        }
        self.client(peer, forwarded_for)
    }
}

/// IPv4 written as IPv6 (`::ffff:10.0.0.1`) is the IPv4 address.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_header_is_believed_only_from_trusted_peers() {
        let none = TrustedProxies::default();
        assert_eq!(
            none.client(ip("10.0.0.5"), ["1.2.3.4"].into_iter()),
            ip("10.0.0.5")
        );
        let proxies = TrustedProxies::parse("10.0.0.0/8, 192.168.1.1").unwrap();
        assert_eq!(
            proxies.client(ip("203.0.113.9"), ["1.2.3.4"].into_iter()),
            ip("203.0.113.9")
        );
        assert_eq!(
            proxies.client(ip("10.0.0.5"), ["1.2.3.4"].into_iter()),
            ip("1.2.3.4")
        );
    }

    #[test]
    fn the_rightmost_untrusted_address_is_the_client() {
        let proxies = TrustedProxies::parse("10.0.0.0/8 192.168.1.1").unwrap();
        // A client-supplied first entry cannot win: the proxies append what they saw.
        let chain = ["6.6.6.6, 1.2.3.4", "192.168.1.1"];
        assert_eq!(
            proxies.client(ip("10.0.0.5"), chain.into_iter()),
            ip("1.2.3.4")
        );
        // Every hop trusted: the leftmost is as far as we can see.
        assert_eq!(
            proxies.client(ip("10.0.0.5"), ["10.1.1.1"].into_iter()),
            ip("10.1.1.1")
        );
        // Garbage stops the walk at the last trusted hop.
        assert_eq!(
            proxies.client(ip("10.0.0.5"), ["1.2.3.4, junk"].into_iter()),
            ip("10.0.0.5")
        );
        assert_eq!(
            proxies.client(ip("::ffff:10.0.0.5"), ["::1"].into_iter()),
            ip("::1")
        );
    }

    #[test]
    fn x_real_ip_counts_only_from_a_trusted_peer_and_only_without_x_forwarded_for() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let none = std::iter::empty();
        assert_eq!(
            proxies.client_behind(ip("10.0.0.5"), none, Some("1.2.3.4")),
            ip("1.2.3.4")
        );
        assert_eq!(
            proxies.client_behind(ip("203.0.113.9"), std::iter::empty(), Some("1.2.3.4")),
            ip("203.0.113.9")
        );
        assert_eq!(
            proxies.client_behind(ip("10.0.0.5"), ["5.6.7.8"].into_iter(), Some("1.2.3.4")),
            ip("5.6.7.8")
        );
        assert_eq!(
            proxies.client_behind(ip("10.0.0.5"), std::iter::empty(), Some("junk")),
            ip("10.0.0.5")
        );
    }

    #[test]
    fn malformed_lists_are_refused() {
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("proxy.local").is_err());
        assert_eq!(
            TrustedProxies::parse(" ").unwrap(),
            TrustedProxies::default()
        );
    }
}
