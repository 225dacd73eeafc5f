//! Where the server may send requests of its own (status callbacks today): the defence
//! against server-side request forgery. A URL an API client hands us is refused, at creation
//! and again at each delivery (DNS may answer differently by then), when its host is or
//! resolves to an address no operator means to reach from an SM-DP+:
//!
//! - never: unspecified (`0.0.0.0/8`, `::`), multicast, broadcast and reserved (`240/4`),
//!   link-local (`169.254/16`, `fe80::/10`), and the cloud metadata services
//!   (`169.254.169.254`, `fd00:ec2::254`, `100.100.100.200`), whatever `--callback-allow` says;
//! - by default: private networks (`10/8`, `172.16/12`, `192.168/16`, `100.64/10`,
//!   `198.18/15`, `fc00::/7`), unless a `--callback-allow` CIDR names them;
//! - always allowed: loopback (test harnesses run beside the server) and public addresses.
//!
//! IPv4 addresses inside IPv6 (`::ffff:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`) are judged as the
//! IPv4 address they carry. Only `http` and `https` URLs are taken. Delivery connects to the
//! checked addresses themselves (never resolving the name a second time) and follows no
//! redirects: a 3xx is a failed attempt like any other non-2xx.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;

pub use ipnet::IpNet;

/// Turns a host name into addresses: the system's resolver, or a test's.
pub trait Resolve: Send + Sync {
    fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<IpAddr>>;
}

/// getaddrinfo, as the standard library calls it.
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<IpAddr>> {
        Ok((host, port).to_socket_addrs()?.map(|a| a.ip()).collect())
    }
}

/// Resolves nothing (fuzzing: no DNS query per input); names are then accepted at creation
/// and refused at delivery.
pub struct NoResolver;

impl Resolve for NoResolver {
    fn resolve(&self, host: &str, _: u16) -> std::io::Result<Vec<IpAddr>> {
        Err(std::io::Error::other(format!(
            "{host}: names are not resolved here"
        )))
    }
}

/// What kind of address a host is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Loopback,
    Public,
    /// Allowed only when a `--callback-allow` CIDR holds it.
    Private,
    /// Never a destination.
    Never(&'static str),
}

/// Classifies `ip` (see the module docs).
pub fn classify(ip: IpAddr) -> Class {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return classify_v4(v4);
            }
            let s = v6.segments();
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return classify_v4(Ipv4Addr::new(a, b, c, d));
            }
            if v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
                Class::Never("a cloud metadata address")
            } else if v6.is_unspecified() {
                Class::Never("the unspecified address")
            } else if v6.is_loopback() {
                Class::Loopback
            } else if v6.is_multicast() {
                Class::Never("a multicast address")
            } else if v6.is_unicast_link_local() {
                Class::Never("a link-local address")
            } else if v6.is_unique_local() {
                Class::Private
            } else {
                Class::Public
            }
        }
    }
}

fn classify_v4(ip: Ipv4Addr) -> Class {
    let [a, b, ..] = ip.octets();
    if ip == Ipv4Addr::new(169, 254, 169, 254) || ip == Ipv4Addr::new(100, 100, 100, 200) {
        Class::Never("a cloud metadata address")
    } else if a == 0 {
        Class::Never("the unspecified address (0.0.0.0/8)")
    } else if ip.is_loopback() {
        Class::Loopback
    } else if ip.is_link_local() {
        Class::Never("a link-local address")
    } else if ip.is_multicast() {
        Class::Never("a multicast address")
    } else if a >= 240 {
        Class::Never("a broadcast or reserved address")
    } else if ip.is_private()
        || (a == 100 && (64..128).contains(&b))
        || (a == 198 && b & 0xFE == 18)
    {
        Class::Private
    } else {
        Class::Public
    }
}

/// Why a URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// The egress policy: the `--callback-allow` networks and a resolver.
#[derive(Clone)]
pub struct EgressPolicy {
    allow: Vec<IpNet>,
    resolver: Arc<dyn Resolve>,
}

impl Default for EgressPolicy {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            resolver: Arc::new(SystemResolver),
        }
    }
}

impl std::fmt::Debug for EgressPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EgressPolicy")
            .field("allow", &self.allow)
            .finish()
    }
}

impl EgressPolicy {
    /// Private networks in `allow` become destinations; a network holding an address that
    /// is never one (link-local, metadata, multicast, unspecified) is refused.
    pub fn new(allow: Vec<IpNet>) -> Result<Self, Refused> {
        for net in &allow {
            for ip in [net.network(), net.broadcast()] {
                if let Class::Never(what) = classify(ip) {
                    return Err(Refused(format!(
                        "--callback-allow {net}: holds {ip}, {what}, which is never a callback destination"
                    )));
                }
            }
            let hosts_metadata = ["169.254.169.254", "100.100.100.200", "fd00:ec2::254"]
                .iter()
                .any(|m| net.contains(&m.parse::<IpAddr>().expect("literal")));
            if hosts_metadata {
                return Err(Refused(format!(
                    "--callback-allow {net}: holds a cloud metadata address"
                )));
            }
        }
        Ok(Self {
            allow,
            resolver: Arc::new(SystemResolver),
        })
    }

    /// The same policy with another resolver (tests: names that resolve without DNS).
    pub fn with_resolver(mut self, resolver: Arc<dyn Resolve>) -> Self {
        self.resolver = resolver;
        self
    }

    /// Parses `--callback-allow` values: CIDRs, or single addresses.
    pub fn parse_allow(values: &[String]) -> Result<Vec<IpNet>, Refused> {
        values
            .iter()
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.parse::<IpNet>()
                    .or_else(|_| v.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        Refused(format!("--callback-allow {v:?}: not a CIDR or an address"))
                    })
            })
            .collect()
    }

    /// Whether `ip` may be sent to.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Refused> {
        match classify(ip) {
            Class::Loopback | Class::Public => Ok(()),
            Class::Private if self.allow.iter().any(|n| n.contains(&ip)) => Ok(()),
            Class::Private => Err(Refused(format!(
                "{ip} is a private address; callbacks go to public or loopback addresses unless --callback-allow names its network"
            ))),
            Class::Never(what) => Err(Refused(format!("{ip} is {what}, never a callback destination"))),
        }
    }

    /// Checks a URL as given by a client: scheme, host and every address the host resolves
    /// to. A name that does not resolve now is accepted (it is checked again at delivery).
    pub fn check_url(&self, url: &str) -> Result<(), Refused> {
        let target = Target::parse(url)?;
        match target.literal {
            Some(ip) => self.check_ip(ip),
            None => match self.resolver.resolve(&target.host, target.port) {
                Ok(ips) => ips.into_iter().try_for_each(|ip| self.check_ip(ip)),
                Err(_) => Ok(()),
            },
        }
    }

    /// The URL's target and the addresses to connect to at delivery: every one the host
    /// resolves to must pass (one refused address refuses the lot, as at creation).
    pub fn resolve_checked(&self, url: &str) -> Result<(Target, Vec<SocketAddr>), Refused> {
        let target = Target::parse(url)?;
        let ips = match target.literal {
            Some(ip) => vec![ip],
            None => self
                .resolver
                .resolve(&target.host, target.port)
                .map_err(|e| Refused(format!("resolving {}: {e}", target.host)))?,
        };
        if ips.is_empty() {
            return Err(Refused(format!("{} resolves to no address", target.host)));
        }
        ips.iter().try_for_each(|ip| self.check_ip(*ip))?;
        let addrs = ips
            .into_iter()
            .map(|ip| SocketAddr::new(ip, target.port))
            .collect();
        Ok((target, addrs))
    }
}

/// A URL's scheme, host and port.
#[derive(Debug)]
pub struct Target {
    pub https: bool,
    /// Bare (an IPv6 literal without its brackets).
    pub host: String,
    pub port: u16,
    pub literal: Option<IpAddr>,
}

impl Target {
    pub fn parse(url: &str) -> Result<Self, Refused> {
        let uri: http::Uri = url
            .parse()
            .map_err(|e| Refused(format!("not a URL: {e}")))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(Refused("only http and https URLs are called".into())),
        };
        let host = uri
            .host()
            .ok_or_else(|| Refused("the URL has no host".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let literal = host.parse::<IpAddr>().ok().or_else(|| legacy_v4(&host));
        Ok(Self {
            https,
            host,
            port,
            literal,
        })
    }
}

/// inet_aton's other spellings of an IPv4 address (`2130706433`, `0x7f.1`, `127.1`), which
/// getaddrinfo accepts and an attacker uses to slip past a check of dotted quads. Judged as
/// the address they are; a name of digits, dots and hex is never sent to the resolver.
fn legacy_v4(host: &str) -> Option<IpAddr> {
    let parts: Vec<&str> = host.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let nums: Vec<u64> = parts
        .iter()
        .map(|p| {
            let p = p.to_ascii_lowercase();
            if let Some(h) = p.strip_prefix("0x") {
                u64::from_str_radix(h, 16).ok()
            } else if p.len() > 1 && p.starts_with('0') {
                u64::from_str_radix(&p[1..], 8).ok()
            } else {
                p.parse().ok()
            }
        })
        .collect::<Option<_>>()?;
    let (last, head) = nums.split_last()?;
    let shift = 8 * (4 - nums.len() as u32);
    if head.iter().any(|n| *n > 255) || *last >= 1u64 << (shift + 8).min(32) {
        return None;
    }
    let v = head
        .iter()
        .enumerate()
        .fold(0u64, |acc, (i, n)| acc | n << (24 - 8 * i as u32))
        | last;
    Some(IpAddr::V4(Ipv4Addr::from(u32::try_from(v).ok()?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Vec<IpAddr>);
    impl Resolve for Fixed {
        fn resolve(&self, _: &str, _: u16) -> std::io::Result<Vec<IpAddr>> {
            Ok(self.0.clone())
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn classes() {
        for (a, c) in [
            ("127.0.0.1", Class::Loopback),
            ("::1", Class::Loopback),
            ("8.8.8.8", Class::Public),
            ("2001:4860::8888", Class::Public),
            ("10.0.0.1", Class::Private),
            ("172.31.255.255", Class::Private),
            ("192.168.1.1", Class::Private),
            ("100.64.0.1", Class::Private),
            ("198.19.0.1", Class::Private),
            ("fd12::1", Class::Private),
            ("::ffff:10.0.0.1", Class::Private),
            ("64:ff9b::a00:1", Class::Private),
            ("::ffff:127.0.0.1", Class::Loopback),
        ] {
            assert_eq!(classify(ip(a)), c, "{a}");
        }
        for a in [
            "169.254.169.254",
            "169.254.1.1",
            "100.100.100.200",
            "fd00:ec2::254",
            "0.0.0.0",
            "0.1.2.3",
            "::",
            "224.0.0.1",
            "239.255.255.250",
            "ff02::1",
            "fe80::1",
            "255.255.255.255",
            "240.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(matches!(classify(ip(a)), Class::Never(_)), "{a}");
        }
    }

    #[test]
    fn urls_as_an_attacker_writes_them() {
        let p = EgressPolicy::default().with_resolver(Arc::new(Fixed(vec![])));
        for u in [
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.1/",
            "http://[::ffff:a9fe:a9fe]/",
            "http://[fe80::1]:8080/",
            "http://2852039166/", // 169.254.169.254 as one number
            "http://0xa9.0xfe.0xa9.0xfe/",
            "http://0251.0376.0251.0376/",
            "http://169.254.43518/",
            "http://10.1/",
            "http://0/",
            "https://[::]/",
            "http://224.0.0.251:5353/",
            "ftp://127.0.0.1/",
            "gopher://127.0.0.1:6379/_",
            "file:///etc/passwd",
        ] {
            assert!(p.check_url(u).is_err(), "{u}");
        }
        for u in [
            "http://127.0.0.1:9/cb",
            "https://[::1]/cb",
            "http://2130706433/",
            "http://8.8.8.8/",
        ] {
            p.check_url(u).unwrap();
        }
        assert_eq!(
            p.resolve_checked("http://2130706433:81/x").unwrap().1,
            vec!["127.0.0.1:81".parse().unwrap()]
        );
    }

    #[test]
    fn names_are_judged_by_what_they_resolve_to() {
        let rebind = EgressPolicy::default()
            .with_resolver(Arc::new(Fixed(vec![ip("127.0.0.1"), ip("10.0.0.1")])));
        assert!(rebind.check_url("http://rebind.test/").is_err());
        assert!(rebind.resolve_checked("http://rebind.test/").is_err());
        let meta =
            EgressPolicy::default().with_resolver(Arc::new(Fixed(vec![ip("169.254.169.254")])));
        assert!(meta.check_url("http://metadata.google.internal/").is_err());
        let fine = EgressPolicy::default().with_resolver(Arc::new(Fixed(vec![ip("::1")])));
        assert_eq!(
            fine.resolve_checked("https://hooks.test:8443/").unwrap().1,
            vec!["[::1]:8443".parse().unwrap()]
        );
    }

    #[test]
    fn allow_widens_private_networks_only() {
        let nets =
            EgressPolicy::parse_allow(&["10.0.0.0/8".into(), " 192.168.7.7 ".into()]).unwrap();
        let p = EgressPolicy::new(nets).unwrap();
        p.check_ip(ip("10.1.2.3")).unwrap();
        p.check_ip(ip("192.168.7.7")).unwrap();
        assert!(p.check_ip(ip("192.168.7.8")).is_err());
        assert!(p.check_ip(ip("172.16.0.1")).is_err());
        for bad in [
            "169.254.0.0/16",
            "0.0.0.0/0",
            "::/0",
            "100.64.0.0/10",
            "224.0.0.0/4",
            "fe80::/64",
        ] {
            let nets = EgressPolicy::parse_allow(&[bad.into()]).unwrap();
            assert!(EgressPolicy::new(nets).is_err(), "{bad}");
        }
        assert!(EgressPolicy::parse_allow(&["10.0.0.0/33".into()]).is_err());
        assert!(EgressPolicy::parse_allow(&["lab".into()]).is_err());
    }
}
