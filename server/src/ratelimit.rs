//! Authentication failures are rate-limited per source address, so that a flood of requests
//! with bad tokens costs the server a map lookup each, not a signature check, and clients with
//! good tokens from other addresses are not starved. Each address may fail [`BURST`] times,
//! refilled at [`REFILL_PER_SEC`]; once its budget is spent, its requests get 429 until it
//! refills.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::Instant;

/// Failures an address may make in a row.
pub const BURST: f64 = 20.0;
/// Failures forgiven per second.
pub const REFILL_PER_SEC: f64 = 5.0;
/// Addresses tracked before full buckets are dropped.
const MAX_TRACKED: usize = 100_000;

/// What limits count by for `address`: itself for IPv4, its /64 for IPv6, since one host
/// usually holds a whole /64 and could otherwise take a fresh address for every request.
pub fn client_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
    }
}

/// The client's address: the peer's, unless the peer is one of `trusted` proxies, in which case
/// the last address in `X-Forwarded-For` that is not itself a trusted proxy (proxies append the
/// address they saw, so earlier entries are whatever the client claimed).
pub fn client_address(peer: IpAddr, headers: &http::HeaderMap, trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |a: &IpAddr| trusted.iter().any(|net| net.contains(a));
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        .collect::<Vec<_>>();
    forwarded.into_iter().rev().find(|a| !is_trusted(a)).unwrap_or(peer)
}

struct Bucket {
    budget: f64,
    updated: Instant,
}

impl Bucket {
    fn refill(&mut self, now: Instant) {
        let earned = now.duration_since(self.updated).as_secs_f64() * REFILL_PER_SEC;
        self.budget = (self.budget + earned).min(BURST);
        self.updated = now;
    }
}

#[derive(Default)]
pub struct AuthFailures {
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl AuthFailures {
    fn buckets(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Bucket>> {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `address` may make a request now; if not, the seconds until it may.
    pub fn check(&self, address: IpAddr) -> Result<(), f64> {
        let address = client_key(address);
        let mut buckets = self.buckets();
        let Some(bucket) = buckets.get_mut(&address) else { return Ok(()) };
        bucket.refill(Instant::now());
        if bucket.budget >= 1.0 {
            Ok(())
        } else {
            Err((1.0 - bucket.budget) / REFILL_PER_SEC)
        }
    }

    /// Counts one failed authentication from `address`.
    pub fn failed(&self, address: IpAddr) {
        let address = client_key(address);
        let now = Instant::now();
        let mut buckets = self.buckets();
        if buckets.len() >= MAX_TRACKED {
            buckets.retain(|_, b| {
                b.refill(now);
                b.budget < BURST
            });
        }
        let bucket = buckets.entry(address).or_insert(Bucket { budget: BURST, updated: now });
        bucket.refill(now);
        bucket.budget = (bucket.budget - 1.0).max(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_count_by_their_64_and_proxies_are_believed_only_when_trusted() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("address");
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().expect("address");
        let other: IpAddr = "2001:db8:1:3::1".parse().expect("address");
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(other));
        let limiter = AuthFailures::default();
        for _ in 0..BURST as usize {
            limiter.failed(a);
        }
        assert!(limiter.check(b).is_err(), "the same /64 is the same client");
        assert!(limiter.check(other).is_ok());

        let proxy: IpAddr = "10.0.0.5".parse().expect("address");
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/24".parse().expect("net")];
        let mut headers = http::HeaderMap::new();
        headers.insert("x-forwarded-for", "6.6.6.6, 192.0.2.7, 10.0.0.9".parse().expect("header"));
        // From a trusted proxy: the last address that is not a proxy; what came before it is
        // whatever the client wrote.
        assert_eq!(client_address(proxy, &headers, &trusted), "192.0.2.7".parse::<IpAddr>().expect("address"));
        // From anyone else, the header is the client's own claim and is ignored.
        let stranger: IpAddr = "192.0.2.1".parse().expect("address");
        assert_eq!(client_address(stranger, &headers, &trusted), stranger);
        assert_eq!(client_address(proxy, &http::HeaderMap::new(), &trusted), proxy);
    }

    #[test]
    fn an_address_that_keeps_failing_is_held_back_and_others_are_not() {
        let limiter = AuthFailures::default();
        let (bad, good) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
        for _ in 0..BURST as usize {
            assert!(limiter.check(bad).is_ok());
            limiter.failed(bad);
        }
        let wait = limiter.check(bad).expect_err("the budget is spent");
        assert!(wait > 0.0 && wait <= 1.0 / REFILL_PER_SEC + 1e-9);
        assert!(limiter.check(good).is_ok());
    }
}
