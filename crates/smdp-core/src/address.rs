//! The one SM-DP+ address (SGP.22 4.1: the activation code's SM-DP+ address, which LPAs send
//! as smdpAddress).

/// Splits `host[:port]` (`[v6]:port` too); the port is `None` when absent.
pub fn split_host_port(a: &str) -> (&str, Option<&str>) {
    if let Some(rest) = a.strip_prefix('[') {
        if let Some((h, tail)) = rest.split_once(']') {
            return (h, tail.strip_prefix(':'));
        }
    }
    match a.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, Some(p)),
        _ => (a, None),
    }
}

/// The configured host with the ES9+ listener's port unless that is 443, so that an
/// activation code made from it reaches this server. A configured `host:port` (a proxy in
/// front) is kept as given, `:443` dropped. Derived once at startup and used for every
/// activation code, QR code, REST field, callback, log line and the ES9+ address check.
pub fn smdp_address(configured: &str, listen_port: u16) -> String {
    let (host, port) = split_host_port(configured);
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    match port {
        Some("443") => host,
        Some(p) => format!("{host}:{p}"),
        None if listen_port == 443 => host,
        None => format!("{host}:{listen_port}"),
    }
}

/// Digest §1.5 initiateAuthentication step 1 (SGP.22 5.6.1): `given` names `ours`. The host
/// compares case-insensitively; a port, when given, must be ours (lpac `-s localhost:8443`
/// and activation codes made from our address send it). A bare host is accepted too: the LPA
/// reached us, through a forwarder on 443.
pub fn is_address(given: &str, ours: &str) -> bool {
    let (host, port) = split_host_port(given);
    let (our_host, our_port) = split_host_port(ours);
    host.eq_ignore_ascii_case(our_host)
        && match port {
            None => true,
            Some(p) => p == our_port.unwrap_or("443"),
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_once_from_host_and_port() {
        assert_eq!(smdp_address("smdp.example.com", 443), "smdp.example.com");
        assert_eq!(
            smdp_address("smdp.example.com", 8443),
            "smdp.example.com:8443"
        );
        assert_eq!(
            smdp_address("proxy.example.com:443", 8443),
            "proxy.example.com"
        );
        assert_eq!(
            smdp_address("proxy.example.com:9443", 8443),
            "proxy.example.com:9443"
        );
        assert_eq!(smdp_address("::1", 8443), "[::1]:8443");
        assert!(is_address("LOCALHOST:8443", "localhost:8443"));
        assert!(is_address("localhost", "localhost:8443"));
        assert!(!is_address("localhost:8444", "localhost:8443"));
        assert!(!is_address("localhost:x", "localhost:8443"));
        assert!(is_address("smdp.example.com:443", "smdp.example.com"));
        assert!(!is_address("other.example.com", "smdp.example.com"));
    }
}
