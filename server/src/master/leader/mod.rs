//! The work of the one replica that holds the leader lease: allocation rounds and timers.
//!
//! Every replica runs [`Master::run_leader_loop`]: it heartbeats itself and tries to take or
//! renew the lease. The holder runs a round after each batch of triggers (the store's
//! [`key::ALLOCATOR`] wake-ups, from any replica) and once every allocation interval, and
//! marks silent agents unreachable and expired frameworks removed. Each of those writes
//! checks the lease's epoch in the same atomic commit, so a leader that was paused past its
//! lease and wakes up changes nothing (design.md invariant 5).
//!
//! This module holds the lease loop; `snapshot` the state a round reads, `round` the round
//! itself, and `timers` what the leader reaps.

mod round;
mod snapshot;
mod timers;

pub(crate) use round::free_slot;
pub(crate) use snapshot::{FrameworkEntry, ReplicaLiveness, RoleUsage, Snapshot};

use super::constraints::{min_offers, RoleConstraints};
use super::frameworks::{remove_framework, task_keys};
use super::records::{key, AgentRecord, Filters, FrameworkConn, FrameworkRecord, TaskRecord};
use super::*;
use crate::allocator::{self, AgentSlot, FrameworkSlot};
use crate::store::Check;
use agora_api::framework::{Failure, Offers};
use agora_api::operator::{AgentEvent, AgentState, OperatorEvent, RoleConfig};
use agora_api::types::reason;
use agora_api::{Offer, OfferId};
use rand::seq::SliceRandom as _;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Instant;

/// A replica silent for this many lease TTLs is dead: the streams it held are disconnected.
const REPLICA_TIMEOUT_TTLS: u32 = 2;

/// Changes that ask for a round, as the leader loop takes them: a wake-up, and when the
/// first one since the last round arrived (for the queueing-delay metric).
#[derive(Default)]
struct Triggers {
    first: std::sync::Mutex<Option<Instant>>,
    /// Holds a permit: a change during a round is not lost.
    wake: tokio::sync::Notify,
}

impl Triggers {
    /// Passes on the store's wake-ups for `key::ALLOCATOR`, noting when each batch began.
    async fn watch(self: Arc<Self>, store_wake: Arc<tokio::sync::Notify>) {
        let mut notified = Box::pin(store_wake.notified());
        notified.as_mut().enable();
        loop {
            notified.as_mut().await;
            // Listening again before anything else: the store wakes only those listening.
            notified = Box::pin(store_wake.notified());
            notified.as_mut().enable();
            self.first.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert_with(Instant::now);
            self.wake.notify_one();
        }
    }

    fn take_first(&self) -> Option<Instant> {
        self.first.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

impl Master {
    /// Takes or renews the lease, heartbeats this replica, and returns the epoch it leads
    /// with, if it leads.
    async fn renew(&self) -> Option<u64> {
        if let Err(e) = self.store.zadd(key::REPLICAS, &self.replica, now_secs()).await {
            tracing::warn!(error = %e, "the store is unreachable");
            return None;
        }
        if let Err(e) = self.forget_old_replicas().await {
            tracing::debug!(error = %e, "could not forget old replicas");
        }
        match self.store.acquire_lease(&self.replica, self.config.lease_ttl).await {
            Ok(lease) => {
                let epoch = lease.as_ref().filter(|l| l.holder == self.replica).map(|l| l.epoch);
                let before = self.known_lease();
                if lease != before {
                    if let Some(l) = &lease {
                        tracing::info!(leader = %l.holder, epoch = l.epoch, me = %self.replica, "allocator leader");
                    }
                }
                self.set_known_lease(lease);
                epoch
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot renew the allocator lease");
                None
            }
        }
    }

    /// The epoch this replica leads with, as it last saw the lease; `None` if it does not
    /// lead. What it then writes as the leader still checks the epoch.
    pub fn leading_epoch(&self) -> Option<u64> {
        self.known_lease().filter(|l| l.holder == self.replica).map(|l| l.epoch)
    }

    /// Forgets replicas not heard from for a day: every process start adds a name.
    async fn forget_old_replicas(&self) -> Result<(), ServerError> {
        let old = self.store.zrange_below(key::REPLICAS, now_secs() - 86_400.0).await?;
        if old.is_empty() {
            return Ok(());
        }
        let mut txn = Txn::default();
        for (replica, _) in old {
            txn.op(Op::ZRemove(key::REPLICAS.to_string(), replica));
        }
        self.store.commit(&txn).await?;
        Ok(())
    }

    /// The leader loop: renew the lease every third of its TTL; while leading, a round after
    /// each batch of triggers and one, with the timers, every allocation interval.
    pub async fn run_leader_loop(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let triggers = Arc::new(Triggers::default());
        let watcher = tokio::spawn(triggers.clone().watch(self.store.watch(key::ALLOCATOR)));
        let renew_every = self.config.lease_ttl / 3;
        let mut next_renew = tokio::time::Instant::now();
        let mut next_tick = tokio::time::Instant::now();
        let mut leading: Option<(u64, tokio::time::Instant)> = None;
        // The epoch this replica leads and when it began to. For the agent timeout after it
        // began, no agent is marked unreachable: the times agents were last seen may be older
        // than the takeover (the embedded store keeps heartbeats in memory only; a new leader
        // may have been a while coming), and every agent deserves a whole timeout to be heard
        // by the new leader, as Mesos gives agents time to re-register after a failover.
        let mut led_since: Option<(u64, tokio::time::Instant)> = None;
        let mut last_round = tokio::time::Instant::now();
        loop {
            let now = tokio::time::Instant::now();
            if now >= next_renew {
                leading = self.renew().await.map(|epoch| (epoch, now));
                next_renew = now + renew_every;
            }
            // A lease not renewed for its whole TTL may be another's by now.
            let epoch = leading.filter(|(_, at)| at.elapsed() < self.config.lease_ttl).map(|(e, _)| e);
            if let Some(epoch) = epoch {
                let since = match led_since {
                    Some((led, since)) if led == epoch => since,
                    _ => led_since.insert((epoch, now)).1,
                };
                if now >= next_tick {
                    next_tick = now + self.config.allocation_interval;
                    let reaped = if since.elapsed() >= self.config.agent_timeout {
                        self.reap(epoch).await
                    } else {
                        self.reap_offers_and_frameworks(epoch).await
                    };
                    if let Err(e) = reaped {
                        tracing::warn!(error = %e, "timers failed");
                    }
                }
                last_round = tokio::time::Instant::now();
                // This round serves every change since the first that asked for one.
                if let Some(first) = triggers.take_first() {
                    self.metrics.round_queue_delay.observe(first.elapsed().as_secs_f64());
                }
                if let Err(e) = self.allocate(epoch).await {
                    tracing::warn!(error = %e, "allocation round failed");
                }
            }
            let until = if epoch.is_some() { next_renew.min(next_tick) } else { next_renew };
            tokio::select! {
                // Rounds start at least a batch window apart: a burst of changes is served by
                // one round, and a change on an idle cluster by a round at once.
                _ = triggers.wake.notified() => tokio::time::sleep_until(last_round + self.config.batch_window).await,
                _ = tokio::time::sleep_until(until) => {}
                _ = shutdown.changed() => break,
            }
        }
        watcher.abort();
        if let Err(e) = self.store.release_lease(&self.replica).await {
            tracing::debug!(error = %e, "could not release the lease");
        }
    }
}
