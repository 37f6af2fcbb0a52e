//! Authentication failures are rate-limited per source address, so that a flood of requests
//! with bad tokens costs the server a map lookup each, not a signature check, and clients with
//! good tokens from other addresses are not starved. Each address may fail [`BURST`] times,
//! refilled at [`REFILL_PER_SEC`]; once its budget is spent, its requests get 429 until it
//! refills.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Failures an address may make in a row.
pub const BURST: f64 = 20.0;
/// Failures forgiven per second.
pub const REFILL_PER_SEC: f64 = 5.0;
/// Addresses tracked before full buckets are dropped.
const MAX_TRACKED: usize = 100_000;

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
