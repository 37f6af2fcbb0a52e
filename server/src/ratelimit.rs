//! Authentication failures are rate-limited per source address, so that a flood of requests
//! with bad tokens costs the server a map lookup each, not a signature check, and clients with
//! good tokens from other addresses are not starved. Each address may fail [`BURST`] times,
//! refilled at [`REFILL_PER_SEC`]; once its budget is spent, its requests get 429 until it
//! refills. The same buckets bound what each principal appends to agents' command streams
//! ([`CommandBudget`]).

use agora_api::AgentId;
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

/// A token bucket's size and refill rate.
#[derive(Clone, Copy, Debug)]
pub struct Limit {
    /// What may be spent in a row.
    pub burst: f64,
    /// What is earned back per second.
    pub per_sec: f64,
}

struct Bucket {
    budget: f64,
    updated: Instant,
}

impl Bucket {
    fn refill(&mut self, limit: Limit, now: Instant) {
        let earned = now.duration_since(self.updated).as_secs_f64() * limit.per_sec;
        self.budget = (self.budget + earned).min(limit.burst);
        self.updated = now;
    }
}

/// Token buckets by key: a key that spends faster than its limit refills is held back, and
/// other keys are not. Full buckets are forgotten once too many keys are tracked.
struct Buckets<K> {
    limit: Limit,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: std::hash::Hash + Eq> Buckets<K> {
    fn new(limit: Limit) -> Self {
        Buckets { limit, buckets: Mutex::new(HashMap::new()) }
    }

    fn buckets(&self) -> std::sync::MutexGuard<'_, HashMap<K, Bucket>> {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `key` has budget left; if not, the seconds until it has.
    fn check(&self, key: &K, now: Instant) -> Result<(), f64> {
        let mut buckets = self.buckets();
        let Some(bucket) = buckets.get_mut(key) else { return Ok(()) };
        bucket.refill(self.limit, now);
        if bucket.budget >= 1.0 {
            Ok(())
        } else {
            Err((1.0 - bucket.budget) / self.limit.per_sec)
        }
    }

    /// Spends one unit of `key`'s budget (none is left to spend below zero).
    fn spend(&self, key: K, now: Instant) {
        Self::spend_in(&mut self.buckets(), self.limit, key, now);
    }

    fn spend_in(buckets: &mut HashMap<K, Bucket>, limit: Limit, key: K, now: Instant) {
        if buckets.len() >= MAX_TRACKED {
            buckets.retain(|_, b| {
                b.refill(limit, now);
                b.budget < limit.burst
            });
        }
        let bucket = buckets.entry(key).or_insert(Bucket { budget: limit.burst, updated: now });
        bucket.refill(limit, now);
        bucket.budget = (bucket.budget - 1.0).max(0.0);
    }

    /// Spends one unit of `key`'s budget if it has one; if not, the seconds until it has.
    fn take(&self, key: K, now: Instant) -> Result<(), f64> {
        // One lock for both, so that two callers cannot both spend the last unit.
        let mut buckets = self.buckets();
        if let Some(bucket) = buckets.get_mut(&key) {
            bucket.refill(self.limit, now);
            if bucket.budget < 1.0 {
                return Err((1.0 - bucket.budget) / self.limit.per_sec);
            }
        }
        Self::spend_in(&mut buckets, self.limit, key, now);
        Ok(())
    }
}

/// Failed authentications by client address (see the module's comment).
pub struct AuthFailures(Buckets<IpAddr>);

impl Default for AuthFailures {
    fn default() -> Self {
        AuthFailures(Buckets::new(Limit { burst: BURST, per_sec: REFILL_PER_SEC }))
    }
}

impl AuthFailures {
    /// Whether `address` may make a request now; if not, the seconds until it may.
    pub fn check(&self, address: IpAddr) -> Result<(), f64> {
        self.0.check(&client_key(address), Instant::now())
    }

    /// Counts one failed authentication from `address`.
    pub fn failed(&self, address: IpAddr) {
        self.0.spend(client_key(address), Instant::now())
    }
}

/// Acknowledgements and kills a principal may send one agent a second through one replica
/// (`--agent-commands-per-sec`), and in a row: half an agent's command stream, so that with a
/// full launch batch it is still within what the stream keeps. An agent reads its stream far
/// faster.
pub const COMMANDS_PER_SEC: f64 = 1_000.0;

/// What each principal may append to each agent's command stream, on this replica. An agent's
/// stream keeps a bounded history, and an agent that falls behind it registers again; without
/// this, one token's flood of acknowledgements or kills could push other principals' launches
/// and kills out of the stream before the agent read them. Launches need offers, and log reads
/// have their own bound ([`crate::logs::LogRelay`]).
pub struct CommandBudget(Buckets<(String, AgentId)>);

impl CommandBudget {
    /// `per_sec` commands a second for each principal and agent, and as many in a row.
    pub fn new(per_sec: f64) -> CommandBudget {
        CommandBudget(Buckets::new(Limit { burst: per_sec.max(1.0), per_sec: per_sec.max(1.0) }))
    }
}

impl CommandBudget {
    /// Spends one of `principal`'s commands to `agent`, or refuses with 429 `too_many_commands`.
    pub fn take(&self, principal: &str, agent: &AgentId) -> Result<(), crate::error::ServerError> {
        self.take_at(principal, agent, Instant::now())
    }

    fn take_at(&self, principal: &str, agent: &AgentId, now: Instant) -> Result<(), crate::error::ServerError> {
        self.0.take((principal.to_string(), agent.clone()), now).map_err(|wait| crate::error::ServerError::TooMany {
            code: "too_many_commands",
            message: format!(
                "this token sends agent {agent} more than {} acknowledgements and kills a second; retry in \
                 {wait:.3} s",
                self.0.limit.per_sec
            ),
            retry_after: Some(wait.ceil() as u64),
        })
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

    #[test]
    fn a_principal_that_floods_agents_with_commands_is_held_back_and_others_are_not() {
        let budget = CommandBudget::new(COMMANDS_PER_SEC);
        let (agent, other_agent): (AgentId, AgentId) = ("a1".parse().expect("id"), "a2".parse().expect("id"));
        // All at one instant, so that nothing is earned back meanwhile.
        let now = Instant::now();
        for _ in 0..COMMANDS_PER_SEC as usize {
            budget.take_at("flooder", &agent, now).expect("within the burst");
        }
        let refused = budget.take_at("flooder", &agent, now).expect_err("the burst is spent");
        assert_eq!(refused.code(), "too_many_commands");
        assert_eq!(refused.status().as_u16(), 429);
        let response = warp::Reply::into_response(refused);
        assert_eq!(response.headers().get("retry-after").map(|v| v.as_bytes()), Some(&b"1"[..]));
        budget.take_at("neighbour", &agent, now).expect("another principal has its own budget");
        budget.take_at("flooder", &other_agent, now).expect("another agent's stream has its own budget");
        let later = now + std::time::Duration::from_millis(10);
        budget.take_at("flooder", &agent, later).expect("a hundredth of a second earns ten back");
    }
}
