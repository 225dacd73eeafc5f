//! Matching-ID guessing, throttled per client network and per EID.
//!
//! A matching ID is the one secret of an activation code (100 bits, [`crate::orders`]), and an
//! order bound to an EID must not be probed from another eUICC. Failed lookups in
//! authenticateClient (an unknown matching ID, or an order for another EID) are counted per
//! client network (an IPv4 address, an IPv6 /64: one host holds a whole /64) and per EID (only
//! once its chain and signature verified, so nobody can lock out an EID they do not hold).
//! Past the limit within the window, every authenticateClient naming a matching ID from that
//! network or EID is refused before the lookup, so a right guess cannot be told from a wrong
//! one, until the window ends.
//!
//! SGP.22 has no code for this: 8.2.6 (Matching ID) with reason 6.4 ("maximum number of
//! retries exceeded", SGP.22 5.1.6.4), as 8.2.7/6.4 is for confirmation codes.
//!
//! Counts live in the node's memory, bounded by [`MAX_TRACKED`]: behind N nodes a client gets
//! up to N times the limit, and a restart forgets them (the secret's entropy is the defence;
//! this makes guessing slow and visible).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use rsp_asn1::ids::Eid;

/// Failed lookups tolerated per client network and per EID within a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuessLimit {
    pub failures: u32,
    pub window: Duration,
}

impl Default for GuessLimit {
    fn default() -> Self {
        Self {
            failures: 10,
            window: Duration::from_secs(300),
        }
    }
}

impl std::str::FromStr for GuessLimit {
    type Err = String;

    /// `FAILURES/SECONDS` (`10/300`), or `FAILURES` in the default window.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("matching-ID guess limit {s:?}: FAILURES[/SECONDS], e.g. 10/300");
        let (n, secs) = match s.split_once('/') {
            Some((n, w)) => (n, Some(w)),
            None => (s, None),
        };
        let failures: u32 = n.trim().parse().map_err(|_| bad())?;
        let window = match secs {
            Some(w) => Duration::from_secs(w.trim().parse().map_err(|_| bad())?),
            None => Self::default().window,
        };
        if failures == 0 || window.is_zero() {
            return Err(bad());
        }
        Ok(Self { failures, window })
    }
}

/// Who is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Guesser {
    /// A client's IPv4 address or IPv6 /64.
    Network(IpAddr),
    Eid(Eid),
}

impl Guesser {
    pub fn network(ip: IpAddr) -> Self {
        Self::Network(match ip.to_canonical() {
            IpAddr::V6(v6) => {
                let mut o = v6.octets();
                o[8..].fill(0);
                IpAddr::from(o)
            }
            v4 => v4,
        })
    }
}

impl std::fmt::Display for Guesser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Network(IpAddr::V6(a)) => write!(f, "client {a}/64"),
            Self::Network(a) => write!(f, "client {a}"),
            Self::Eid(e) => write!(f, "EID {e}"),
        }
    }
}

/// Guessers tracked at once; beyond it, expired windows are dropped, and if none has expired
/// a new guesser is not tracked (and logged): memory stays bounded under an address spray.
pub const MAX_TRACKED: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Window {
    start: i64,
    failures: u32,
}

/// Counts of one node since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GuessStats {
    /// Lookups that failed (unknown matching ID, order for another EID).
    pub failed: u64,
    /// authenticateClient calls refused for being over the limit.
    pub refused: u64,
    /// Guessers with a live window.
    pub tracked: usize,
}

#[derive(Debug, Default)]
pub struct Guesses {
    windows: Mutex<HashMap<Guesser, Window>>,
    failed: AtomicU64,
    refused: AtomicU64,
}

impl Guesses {
    /// The first of `who` over `limit` at `now` (Unix seconds), counted as refused.
    pub fn over(&self, limit: &GuessLimit, who: &[Guesser], now: i64) -> Option<Guesser> {
        let windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let window = limit.window.as_secs() as i64;
        let hit = who.iter().copied().find(|g| {
            windows
                .get(g)
                .is_some_and(|w| now - w.start < window && w.failures >= limit.failures)
        })?;
        self.refused.fetch_add(1, Ordering::Relaxed);
        Some(hit)
    }

    /// Counts one failed lookup against each of `who`; returns the highest count in its window.
    pub fn fail(&self, limit: &GuessLimit, who: &[Guesser], now: i64) -> u32 {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let window = limit.window.as_secs() as i64;
        let mut highest = 0;
        for g in who {
            if !windows.contains_key(g) && windows.len() >= MAX_TRACKED {
                windows.retain(|_, w| now - w.start < window);
                if windows.len() >= MAX_TRACKED {
                    tracing::warn!(guesser = %g, "matching-ID guessers: table full, not tracked");
                    continue;
                }
            }
            let w = windows.entry(*g).or_insert(Window {
                start: now,
                failures: 0,
            });
            if now - w.start >= window {
                *w = Window {
                    start: now,
                    failures: 0,
                };
            }
            w.failures = w.failures.saturating_add(1);
            highest = highest.max(w.failures);
        }
        highest
    }

    pub fn stats(&self, limit: &GuessLimit, now: i64) -> GuessStats {
        let windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let window = limit.window.as_secs() as i64;
        GuessStats {
            failed: self.failed.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            tracked: windows.values().filter(|w| now - w.start < window).count(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eid(n: u8) -> Eid {
        // The check digits do not matter to the table.
        Eid::parse_unchecked(&format!("890490320000000000000000000000{n:02}")).unwrap()
    }

    #[test]
    fn a_guesser_is_refused_past_the_limit_until_its_window_ends() {
        let limit: GuessLimit = "3/60".parse().unwrap();
        let g = Guesses::default();
        let a = Guesser::network("192.0.2.1".parse().unwrap());
        let e = Guesser::Eid(eid(1));
        for n in 1..=3 {
            assert_eq!(g.over(&limit, &[a, e], 100), None);
            assert_eq!(g.fail(&limit, &[a, e], 100), n);
        }
        assert_eq!(g.over(&limit, &[a, e], 159), Some(a));
        // Another address with the same EID is refused for the EID.
        let b = Guesser::network("192.0.2.2".parse().unwrap());
        assert_eq!(g.over(&limit, &[b, e], 159), Some(e));
        assert_eq!(g.over(&limit, &[b, Guesser::Eid(eid(2))], 159), None);
        // The window ends: a fresh count.
        assert_eq!(g.over(&limit, &[a, e], 160), None);
        assert_eq!(g.fail(&limit, &[a, e], 160), 1);
        let s = g.stats(&limit, 160);
        assert_eq!((s.failed, s.refused, s.tracked), (4, 2, 2));
    }

    #[test]
    fn ipv6_clients_are_counted_per_64_and_mapped_ipv4_as_ipv4() {
        let one = Guesser::network("2001:db8:1:2:aaaa::1".parse().unwrap());
        let other = Guesser::network("2001:db8:1:2:bbbb::2".parse().unwrap());
        let next = Guesser::network("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(one, other);
        assert_ne!(one, next);
        assert_eq!(
            Guesser::network("::ffff:192.0.2.1".parse().unwrap()),
            Guesser::network("192.0.2.1".parse().unwrap())
        );
    }

    #[test]
    fn the_table_stays_bounded() {
        let limit: GuessLimit = "1/10".parse().unwrap();
        let g = Guesses::default();
        for i in 0..MAX_TRACKED as u32 + 10 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000u32 + i));
            g.fail(&limit, &[Guesser::network(ip)], 0);
        }
        assert_eq!(g.stats(&limit, 0).tracked, MAX_TRACKED);
        // Expired windows make room.
        g.fail(
            &limit,
            &[Guesser::network("192.0.2.9".parse().unwrap())],
            10,
        );
        assert_eq!(g.stats(&limit, 10).tracked, 1);
    }

    #[test]
    fn limits_parse() {
        assert_eq!(
            "5".parse::<GuessLimit>().unwrap(),
            GuessLimit {
                failures: 5,
                window: Duration::from_secs(300)
            }
        );
        for bad in ["", "0/10", "5/0", "x/10", "5/x", "-1"] {
            assert!(bad.parse::<GuessLimit>().is_err(), "{bad}");
        }
    }
}
