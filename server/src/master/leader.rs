//! The work of the one replica that holds the leader lease: allocation rounds and timers.
//!
//! Every replica runs [`Master::run_leader_loop`]: it heartbeats itself and tries to take or
//! renew the lease. The holder runs a round after each batch of triggers (the store's
//! [`key::ALLOCATOR`] wake-ups, from any replica) and once every allocation interval, and
//! marks silent agents unreachable and expired frameworks removed. Each of those writes
//! checks the lease's epoch in the same atomic commit, so a leader that was paused past its
//! lease and wakes up changes nothing (design.md invariant 5).

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

/// A framework as a snapshot holds it.
pub(crate) struct FrameworkEntry {
    pub id: FrameworkId,
    pub record: Loaded<FrameworkRecord>,
    pub conn: Option<Loaded<FrameworkConn>>,
    pub filters: Filters,
}

/// Replicas heard from recently, and when each was last heard from.
pub(crate) struct ReplicaLiveness {
    pub live: BTreeSet<String>,
    pub last_seen: HashMap<String, f64>,
}

/// A set's members, each with its record (if it has one).
type Members<T> = Vec<(String, Option<Loaded<T>>)>;

/// Everything an allocation round or a view needs, read atomically.
pub(crate) struct Snapshot {
    pub agents: Vec<(AgentId, Loaded<AgentRecord>)>,
    pub frameworks: Vec<FrameworkEntry>,
    pub offers: Vec<Offer>,
    pub tasks: Vec<Arc<TaskRecord>>,
    /// The roles an operator configured.
    pub roles: BTreeMap<String, RoleConfig>,
}

impl Snapshot {
    /// Per agent: resources used by tasks and held by offers.
    pub fn agent_usage(&self) -> HashMap<AgentId, (Resources, Resources, usize)> {
        let mut usage: HashMap<AgentId, (Resources, Resources, usize)> = HashMap::new();
        for task in &self.tasks {
            let entry = usage.entry(task.info.agent_id.clone()).or_default();
            entry.0.add(&task.info.resources);
            entry.2 += 1;
        }
        for offer in &self.offers {
            usage.entry(offer.agent_id.clone()).or_default().1.add(&offer.resources);
        }
        usage
    }

    /// Per framework: resources used by tasks and held by offers, and its task count.
    pub fn framework_usage(&self) -> HashMap<FrameworkId, (Resources, Resources, usize)> {
        let mut usage: HashMap<FrameworkId, (Resources, Resources, usize)> = HashMap::new();
        for task in &self.tasks {
            let entry = usage.entry(task.framework_id.clone()).or_default();
            entry.2 += 1;
            entry.0.add(&task.info.resources);
        }
        for offer in &self.offers {
            usage.entry(offer.framework_id.clone()).or_default().1.add(&offer.resources);
        }
        usage
    }
}

impl Snapshot {
    /// The persistent volumes a live task uses or an outstanding offer carries, by agent.
    pub fn busy_volumes(&self) -> HashSet<(AgentId, String)> {
        let used = self.tasks.iter().flat_map(|t| t.info.volumes.iter().map(|v| (t.info.agent_id.clone(), v.clone())));
        let offered = self.offers.iter().flat_map(|o| o.volumes.iter().map(|v| (o.agent_id.clone(), v.id.clone())));
        used.chain(offered).collect()
    }

    /// Per agent and pool (a reservation's role, or `None` for the unreserved rest): what
    /// tasks, offers and persistent volumes hold.
    pub fn pool_usage(&self) -> HashMap<(AgentId, Option<String>), Resources> {
        let mut usage: HashMap<(AgentId, Option<String>), Resources> = HashMap::new();
        for (id, agent) in &self.agents {
            for volume in &agent.value.volumes {
                let disk = Resources { disk: volume.disk, ..Default::default() };
                usage.entry((id.clone(), Some(volume.role.clone()))).or_default().add(&disk);
            }
        }
        for task in &self.tasks {
            usage.entry((task.info.agent_id.clone(), task.reservation.clone())).or_default().add(&task.info.resources);
        }
        for offer in &self.offers {
            usage.entry((offer.agent_id.clone(), offer.reservation.clone())).or_default().add(&offer.resources);
        }
        usage
    }

    /// What is reserved to each role on active agents, used or not: part of the role's quota
    /// consumption.
    pub fn reserved_by_role(&self) -> BTreeMap<String, Resources> {
        let mut reserved: BTreeMap<String, Resources> = BTreeMap::new();
        for (_, agent) in self.agents.iter().filter(|(_, a)| a.value.state == AgentState::Active) {
            for (role, resources) in agent.value.reservations() {
                reserved.entry(role).or_default().add(&resources);
            }
        }
        reserved
    }

    /// Per framework and role: resources used by tasks on reachable agents and held by
    /// offers. A task launched before tasks kept their role counts in its framework's first.
    pub fn role_usage(&self) -> HashMap<(FrameworkId, String), RoleUsage> {
        let unreachable: BTreeSet<&AgentId> =
            self.agents.iter().filter(|(_, a)| a.value.state != AgentState::Active).map(|(id, _)| id).collect();
        let first_roles: HashMap<&FrameworkId, String> =
            self.frameworks.iter().map(|f| (&f.id, f.record.value.role())).collect();
        let mut usage: HashMap<(FrameworkId, String), RoleUsage> = HashMap::new();
        // Tasks on unreachable agents are outside the cluster total, so they must not count
        // towards their role's share either, or it would be starved for as long as the agent
        // stays away.
        for task in self.tasks.iter().filter(|t| !unreachable.contains(&t.info.agent_id)) {
            let Some(role) = task.role.clone().or_else(|| first_roles.get(&task.framework_id).cloned()) else {
                continue;
            };
            let entry = usage.entry((task.framework_id.clone(), role)).or_default();
            entry.add(&task.info.resources, task.reservation.is_some());
        }
        for offer in &self.offers {
            let entry = usage.entry((offer.framework_id.clone(), offer.role.clone())).or_default();
            entry.add(&offer.resources, offer.reservation.is_some());
        }
        usage
    }
}

/// What a framework holds in one role, in tasks and offers.
#[derive(Clone, Debug, Default)]
pub(crate) struct RoleUsage {
    pub held: Resources,
    /// The part of `held` on reservations.
    pub on_reservations: Resources,
}

impl RoleUsage {
    fn add(&mut self, resources: &Resources, reserved: bool) {
        self.held.add(resources);
        if reserved {
            self.on_reservations.add(resources);
        }
    }
}

/// Decodes a snapshot's records, keeping each member.
fn typed<T: DeserializeOwned>(
    prefix: &str,
    entries: Vec<(String, Option<crate::store::Versioned>)>,
) -> Result<Members<T>, ServerError> {
    entries
        .into_iter()
        .map(|(member, record)| Ok((member.clone(), decode(&format!("{prefix}{member}"), record)?)))
        .collect()
}

impl Master {
    /// Reads agents, frameworks (with their connections and filters), offers and live tasks
    /// in one atomic read, for views: every task's latest status.
    pub(crate) async fn snapshot(&self) -> Result<Snapshot, ServerError> {
        self.read_snapshot(false).await
    }

    /// The same, for allocation rounds and timers: tasks come from this replica's cache, which
    /// holds each live task as first read (what a round needs, its framework, agent and
    /// resources, never changes), so a round reads only the tasks launched since the last one.
    pub(crate) async fn round_snapshot(&self) -> Result<Snapshot, ServerError> {
        self.read_snapshot(true).await
    }

    async fn read_snapshot(&self, cached_tasks: bool) -> Result<Snapshot, ServerError> {
        let task_prefix = if cached_tasks { "" } else { key::TASK_PREFIX };
        let sets = [
            (key::AGENTS, key::AGENT_PREFIX),
            (key::FRAMEWORKS, key::FRAMEWORK_PREFIX),
            (key::FRAMEWORKS, key::FRAMEWORK_CONN_PREFIX),
            (key::FRAMEWORKS, key::FILTERS_PREFIX),
            (key::OFFERS, key::OFFER_PREFIX),
            (key::TASKS, task_prefix),
            (key::ROLES, key::ROLE_PREFIX),
        ]
        .map(|(s, p)| (s.to_string(), p.to_string()));
        let mut read = self.store.snapshot(&sets).await?.into_iter();
        let mut next = || read.next().unwrap_or_default();
        let (agents, frameworks, conns, filters, offers, tasks) = (next(), next(), next(), next(), next(), next());
        let roles = typed::<RoleConfig>(key::ROLE_PREFIX, next())?
            .into_iter()
            .filter_map(|(role, config)| Some((role, config?.value)))
            .collect();
        let agents = typed(key::AGENT_PREFIX, agents)?
            .into_iter()
            .filter_map(|(id, a)| Some((AgentId::from(id.as_str()), a?)))
            .collect();
        let conns: Members<FrameworkConn> = typed(key::FRAMEWORK_CONN_PREFIX, conns)?;
        let filters: Members<Filters> = typed(key::FILTERS_PREFIX, filters)?;
        let mut conns: HashMap<String, Loaded<FrameworkConn>> =
            conns.into_iter().filter_map(|(id, c)| Some((id, c?))).collect();
        let mut filters: HashMap<String, Filters> =
            filters.into_iter().filter_map(|(id, f)| Some((id, f?.value))).collect();
        let frameworks = typed(key::FRAMEWORK_PREFIX, frameworks)?
            .into_iter()
            .filter_map(|(id, f)| {
                let (conn, filter) = (conns.remove(&id), filters.remove(&id).unwrap_or_default());
                Some(FrameworkEntry { id: FrameworkId::from(id.as_str()), record: f?, conn, filters: filter })
            })
            .collect();
        let offers = typed(key::OFFER_PREFIX, offers)?.into_iter().filter_map(|(_, o)| Some(o?.value)).collect();
        let tasks = if cached_tasks {
            self.cached_tasks(tasks.into_iter().map(|(member, _)| member).collect()).await?
        } else {
            typed(key::TASK_PREFIX, tasks)?.into_iter().filter_map(|(_, t)| Some(Arc::new(t?.value))).collect()
        };
        Ok(Snapshot { agents, frameworks, offers, tasks, roles })
    }

    /// The live tasks named by `members`, reading only those not cached yet.
    async fn cached_tasks(&self, members: Vec<String>) -> Result<Vec<Arc<TaskRecord>>, ServerError> {
        let missing: Vec<String> = {
            let cache = self.task_cache.lock().unwrap_or_else(|p| p.into_inner());
            members.iter().filter(|m| !cache.1.contains_key(*m)).cloned().collect()
        };
        let keys: Vec<String> = missing.iter().map(|m| format!("{}{m}", key::TASK_PREFIX)).collect();
        let loaded = self.load_many::<TaskRecord>(&keys).await?;
        let mut cache = self.task_cache.lock().unwrap_or_else(|p| p.into_inner());
        let cache = &mut cache.1;
        for (member, task) in missing.into_iter().zip(loaded) {
            // Gone meanwhile: it ended, and its resources are free.
            if let Some(task) = task {
                cache.insert(member, Arc::new(task.value));
            }
        }
        let live: std::collections::HashSet<&String> = members.iter().collect();
        cache.retain(|member, _| live.contains(member));
        Ok(members.iter().filter_map(|m| cache.get(m).cloned()).collect())
    }

    /// Replicas heard from recently, by name.
    pub(crate) async fn live_replicas(&self) -> Result<ReplicaLiveness, ServerError> {
        let cutoff = now_secs() - (self.config.lease_ttl * REPLICA_TIMEOUT_TTLS).as_secs_f64();
        let all = self.store.zrange_below(key::REPLICAS, f64::MAX).await?;
        let live = all.iter().filter(|(_, seen)| *seen >= cutoff).map(|(r, _)| r.clone()).collect();
        Ok(ReplicaLiveness { live, last_seen: all.into_iter().collect() })
    }

    /// Whether a framework's stream is open on a live replica, and since when it is not.
    pub(crate) fn connection(conn: Option<&FrameworkConn>, replicas: &ReplicaLiveness) -> (bool, f64) {
        match conn {
            None => (false, 0.0),
            Some(c) if c.connected && !replicas.live.contains(&c.replica) => {
                (false, replicas.last_seen.get(&c.replica).copied().unwrap_or(c.since).max(c.since))
            }
            Some(c) => (c.connected, c.since),
        }
    }

    /// Runs one allocation round as the leader of `epoch` and sends the offers it makes.
    pub async fn allocate(&self, epoch: u64) -> Result<(), ServerError> {
        let started = Instant::now();
        {
            // What was cached while another replica led may be stale (a task id reused after
            // its record was trimmed): a new epoch starts from a clean cache.
            let mut cache = self.task_cache.lock().unwrap_or_else(|p| p.into_inner());
            if cache.0 != epoch {
                *cache = (epoch, Default::default());
            }
        }
        let mut offered = 0;
        // When the round before began: refusals made since hold in this round, however short.
        let last_round = {
            let mut last = self.last_round.lock().unwrap_or_else(|p| p.into_inner());
            std::mem::replace(&mut *last, now_secs())
        };
        for attempt in 0..3 {
            let snapshot = self.round_snapshot().await?;
            let replicas = self.live_replicas().await?;
            let Some(txn) = self.round(epoch, &snapshot, &replicas, last_round, &mut offered) else { break };
            match self.store.commit(&txn).await? {
                Committed::Done(_) => break,
                Committed::Conflict => {
                    offered = 0;
                    self.metrics.store_conflicts.inc();
                    backoff(attempt).await;
                }
            }
        }
        self.metrics.offers_made.inc_by(offered as u64);
        self.metrics.round_duration.observe(started.elapsed().as_secs_f64());
        Ok(())
    }

    /// Computes a round's offers as a transaction, `None` if there is nothing to offer.
    fn round(
        &self,
        epoch: u64,
        snapshot: &Snapshot,
        replicas: &ReplicaLiveness,
        last_round: f64,
        offered: &mut usize,
    ) -> Option<Txn> {
        let now = now_secs();
        let mut active: Vec<&(AgentId, Loaded<AgentRecord>)> =
            snapshot.agents.iter().filter(|(_, a)| a.value.state == AgentState::Active).collect();
        active.shuffle(&mut rand::thread_rng());
        let agent_index: HashMap<&AgentId, usize> = active.iter().enumerate().map(|(i, (id, _))| (id, i)).collect();
        let pools = snapshot.pool_usage();
        let mut total = Resources::default();
        let agents: Vec<AgentSlot> = active
            .iter()
            .map(|(id, a)| {
                total.add(&a.value.total);
                // Held for maintenance: in the total (its tasks count), offered to no one.
                if a.value.maintenance.is_some() {
                    return AgentSlot { available: Resources::default(), reserved: Vec::new() };
                }
                free_slot(&pools, id, &a.value)
            })
            .collect();
        let usage = snapshot.role_usage();
        // One slot per framework and role it wants offers for.
        let mut eligible = Vec::new();
        let mut slots = Vec::new();
        for FrameworkEntry { id, record: framework, conn, filters } in &snapshot.frameworks {
            let (connected, _) = Self::connection(conn.as_ref().map(|c| &c.value), replicas);
            if !connected {
                continue;
            }
            for role in framework.value.roles.iter().filter(|r| !framework.value.suppressed_roles.contains(*r)) {
                let mut filtered_agents: BTreeSet<usize> = filters
                    .roles
                    .get(role)
                    .into_iter()
                    .flatten()
                    .filter(|(_, refusal)| refusal.holds(now, last_round))
                    .filter_map(|(a, _)| agent_index.get(a).copied())
                    .collect();
                if let Some(groups) = framework.value.offer_constraints.get(role).filter(|g| !g.is_empty()) {
                    let constraints = RoleConstraints::new(groups);
                    let unmatched = active
                        .iter()
                        .enumerate()
                        .filter(|(_, (_, agent))| !constraints.matches(&agent.value.hostname, &agent.value.attributes));
                    filtered_agents.extend(unmatched.map(|(i, _)| i));
                }
                eligible.push((id, framework, conn, role));
                let used = usage.get(&(id.clone(), role.clone())).cloned().unwrap_or_default();
                slots.push(FrameworkSlot {
                    role: role.clone(),
                    allocated: used.held,
                    on_reservations: used.on_reservations,
                    filtered_agents,
                    min_offers: min_offers(framework.value.offer_filters.get(role)),
                });
            }
        }
        let grants =
            allocator::allocate(&total, &agents, &slots, &snapshot.allocator_roles(), &self.config.min_allocatable);
        if grants.is_empty() {
            return None;
        }
        let mut txn = Txn::default();
        txn.checks.push(Check::Epoch(epoch));
        // One `offers` event per framework, whatever its roles.
        let mut batches: BTreeMap<&FrameworkId, (usize, Vec<Offer>)> = BTreeMap::new();
        let mut touched_agents = HashSet::new();
        // Most clusters have no volumes: then no round walks the tasks for them.
        let any_volumes = snapshot.agents.iter().any(|(_, a)| !a.value.volumes.is_empty());
        let mut busy_volumes = if any_volumes { snapshot.busy_volumes() } else { HashSet::new() };
        for grant in grants {
            let (agent_id, agent) = active[grant.agent];
            let (framework_id, _, _, role) = eligible[grant.framework];
            // The agent re-registering (new resources, adopted tasks) or the framework changing
            // meanwhile makes the round start again. Writing the agent's record back bumps its
            // version in turn, so a registration that read the agent's offers before this
            // commit must read them again (and withdraw this offer).
            if touched_agents.insert(agent_id.clone()) {
                txn.check(key::agent(agent_id), agent.version);
                txn.put(key::agent(agent_id), encode(&agent.value));
            }
            let offer = Offer {
                id: OfferId::random(),
                framework_id: framework_id.clone(),
                agent_id: agent_id.clone(),
                hostname: agent.value.hostname.clone(),
                role: role.clone(),
                resources: grant.resources,
                attributes: agent.value.attributes.clone(),
                volumes: free_volumes(agent_id, &agent.value, grant.reservation.as_ref(), &mut busy_volumes),
                reservation: grant.reservation,
            };
            txn.put(key::offer(&offer.id), encode(&offer));
            txn.op(Op::SetAdd(key::OFFERS.to_string(), offer.id.to_string()));
            if self.config.offer_timeout.is_some() {
                txn.op(Op::ZAdd(key::OFFERS_MADE.to_string(), offer.id.to_string(), now));
            }
            txn.op(Op::SetAdd(key::framework_offers(framework_id), offer.id.to_string()));
            txn.op(Op::SetAdd(key::agent_offers(agent_id), offer.id.to_string()));
            batches.entry(framework_id).or_insert_with(|| (grant.framework, Vec::new())).1.push(offer);
        }
        for (framework_id, (index, offers)) in batches {
            let (_, framework, conn, _) = eligible[index];
            txn.check(key::framework(framework_id), framework.version);
            // Likewise, a disconnect or a teardown that read the framework's offers before this
            // commit conflicts with it, and reads them again.
            if let Some(conn) = conn {
                txn.check(key::framework_conn(framework_id), conn.version);
                txn.put(key::framework_conn(framework_id), encode(&conn.value));
            }
            *offered += offers.len();
            push_event(&mut txn, framework_id, &FrameworkEvent::Offers(Offers { offers }));
        }
        Some(txn)
    }

    /// Marks silent agents unreachable, disconnects frameworks whose replica died and removes
    /// frameworks past their failover timeout, each checked against `epoch`.
    pub async fn reap(&self, epoch: u64) -> Result<(), ServerError> {
        self.reap_agents(epoch).await?;
        self.reap_offers_and_frameworks(epoch).await
    }

    /// The timers that run from the start of a leadership: offers, drains and frameworks.
    async fn reap_offers_and_frameworks(&self, epoch: u64) -> Result<(), ServerError> {
        self.reap_offers(epoch).await?;
        self.reap_drains(epoch).await?;
        self.reap_frameworks(epoch).await
    }

    /// Rescinds offers older than `--offer-timeout` (Mesos's `--offer_timeout`): a framework
    /// that holds offers without answering does not keep their resources from others. As in
    /// Mesos, a timed-out offer counts as declined with the default filter: its resources go
    /// to the other frameworks first, not straight back to the one that let it lapse.
    async fn reap_offers(&self, epoch: u64) -> Result<(), ServerError> {
        let Some(timeout) = self.config.offer_timeout else { return Ok(()) };
        let due = self.store.zrange_below(key::OFFERS_MADE, now_secs() - timeout.as_secs_f64()).await?;
        if due.is_empty() {
            return Ok(());
        }
        // A bounded batch per tick; the rest come next tick.
        let ids: Vec<String> = due.into_iter().take(1000).map(|(id, _)| id).collect();
        let offers = self.load_offers(&ids).await?;
        let mut txn = Txn::default();
        txn.checks.push(Check::Epoch(epoch));
        let mut refused: BTreeMap<&FrameworkId, Vec<(String, AgentId)>> = BTreeMap::new();
        for offer in &offers {
            rescind_offer(&mut txn, offer);
            let agent = (offer.value.role.clone(), offer.value.agent_id.clone());
            refused.entry(&offer.value.framework_id).or_default().push(agent);
        }
        let until = Some(now_secs() + DEFAULT_REFUSE_SECS);
        for (framework_id, agents) in refused {
            self.add_filters(&mut txn, framework_id, until, agents).await?;
        }
        // Entries of offers accepted or declined meanwhile go too.
        for id in ids {
            txn.op(Op::ZRemove(key::OFFERS_MADE.to_string(), id));
        }
        // A conflict (an offer accepted meanwhile) is tried again next tick.
        if let Committed::Done(_) = self.store.commit(&txn).await? {
            self.metrics.offers_timed_out.inc_by(offers.len() as u64);
        }
        Ok(())
    }

    /// Marks agents not seen for the agent timeout unreachable.
    async fn reap_agents(&self, epoch: u64) -> Result<(), ServerError> {
        let cutoff = now_secs() - self.config.agent_timeout.as_secs_f64();
        for (agent_id, seen) in self.store.zrange_below(key::AGENTS_SEEN, cutoff).await? {
            let agent_id = AgentId::from(agent_id.as_str());
            // One agent that cannot be marked does not hold up the others.
            if let Err(e) = transact!(self, self.mark_unreachable(epoch, &agent_id, seen).await) {
                tracing::warn!(agent = %agent_id, error = %e, "could not mark a silent agent unreachable");
            }
        }
        Ok(())
    }

    /// Disconnects frameworks whose replica died and removes those past their failover timeout.
    async fn reap_frameworks(&self, epoch: u64) -> Result<(), ServerError> {
        let replicas = self.live_replicas().await?;
        let snapshot = self.round_snapshot().await?;
        let now = now_secs();
        for FrameworkEntry { id, record: framework, conn, .. } in &snapshot.frameworks {
            let conn_value = conn.as_ref().map(|c| &c.value);
            let (connected, since) = Self::connection(conn_value, &replicas);
            if connected {
                continue;
            }
            if conn_value.is_some_and(|c| c.connected) {
                // Its replica died holding the stream: its offers go back to the pool.
                if let Err(e) = transact!(self, self.disconnect(epoch, id, since).await) {
                    tracing::warn!(framework = %id, error = %e, "could not disconnect a framework");
                }
            }
            let timeout = framework.value.failover_timeout_secs;
            let ever = conn_value.is_some_and(|c| c.ever_connected);
            let timeout = if ever { timeout } else { timeout.max(FIRST_CONNECT_GRACE_SECS) };
            if now - since > timeout {
                tracing::info!(framework = %id, "failover timeout passed: tearing the framework down");
                let generation = conn_value.map_or(0, |c| c.generation);
                let removed = transact!(self, self.expire(epoch, id, generation).await);
                if let Err(e) = removed {
                    tracing::warn!(framework = %id, error = %e, "could not remove a framework past its failover timeout");
                }
            }
        }
        Ok(())
    }

    /// One attempt at removing a framework past its failover timeout, unless it connected
    /// again (a new generation) meanwhile.
    async fn expire(&self, epoch: u64, id: &FrameworkId, generation: u64) -> Result<(Txn, ()), ServerError> {
        let (Some(framework), Some(conn)) = (
            self.load::<FrameworkRecord>(&key::framework(id)).await?,
            self.load::<FrameworkConn>(&key::framework_conn(id)).await?,
        ) else {
            return Ok((Txn::default(), ()));
        };
        if conn.value.generation != generation {
            return Ok((Txn::default(), ()));
        }
        // Offers before tasks, as in a teardown.
        let offers = self.framework_offers(id).await?;
        let tasks = self.framework_tasks(id).await?;
        let mut txn = Txn::default();
        txn.checks.push(Check::Epoch(epoch));
        txn.check(key::framework_conn(id), conn.version);
        txn.check(key::framework(id), framework.version);
        remove_framework(&mut txn, id, &framework.value.name, &offers, &tasks);
        Ok((txn, ()))
    }

    /// Marks a framework disconnected because the replica holding its stream died.
    async fn disconnect(&self, epoch: u64, id: &FrameworkId, since: f64) -> Result<(Txn, ()), ServerError> {
        let Some(conn) = self.load::<FrameworkConn>(&key::framework_conn(id)).await? else {
            return Ok((Txn::default(), ()));
        };
        let mut txn = Txn::default();
        txn.checks.push(Check::Epoch(epoch));
        let new = FrameworkConn { connected: false, since, ..conn.value.clone() };
        txn.check(key::framework_conn(id), conn.version).put(key::framework_conn(id), encode(&new));
        for offer in self.framework_offers(id).await? {
            rescind_offer(&mut txn, &offer);
        }
        Ok((txn, ()))
    }

    /// One attempt at marking an agent unreachable: its offers are rescinded and its tasks
    /// reported unreachable (or lost, to frameworks that are not partition-aware).
    async fn mark_unreachable(&self, epoch: u64, agent_id: &AgentId, seen: f64) -> Result<(Txn, ()), ServerError> {
        let Some(agent) = self.load::<AgentRecord>(&key::agent(agent_id)).await? else {
            // Forgotten (the store was lost): stop looking at it.
            let mut txn = Txn::default();
            txn.checks.push(Check::Epoch(epoch));
            txn.op(Op::ZRemove(key::AGENTS_SEEN.to_string(), agent_id.to_string()));
            return Ok((txn, ()));
        };
        if agent.value.state != AgentState::Active {
            return Ok((Txn::default(), ()));
        }
        tracing::warn!(agent = %agent_id, "agent silent past the agent timeout: unreachable");
        let mut txn = Txn::default();
        txn.checks.push(Check::Epoch(epoch));
        txn.check(key::agent(agent_id), agent.version);
        txn.put(key::agent(agent_id), encode(&AgentRecord { state: AgentState::Unreachable, ..agent.value.clone() }));
        // Moved out of the timer's sight; registering again moves it back. (A heartbeat that
        // lands between the timer's read and this commit is not seen: the agent's next one then
        // gets 404 and it registers again, as after any partition.)
        txn.op(Op::ZRemove(key::AGENTS_SEEN.to_string(), agent_id.to_string()));
        txn.op(Op::ZAdd(key::AGENTS_AWAY.to_string(), agent_id.to_string(), seen));
        let event = AgentEvent { agent_id: agent_id.clone(), hostname: agent.value.hostname.clone() };
        push_operator_event(&mut txn, &OperatorEvent::AgentUnreachable(event));
        for offer in self.load_offers(&self.store.members(&key::agent_offers(agent_id)).await?).await? {
            rescind_offer(&mut txn, &offer);
        }
        let members = self.store.members(&key::agent_tasks(agent_id)).await?;
        let keys = task_keys(&members);
        let store_keys: Vec<String> = keys.iter().map(|(f, t)| key::task(f, t)).collect();
        let tasks = self.load_many::<TaskRecord>(&store_keys).await?;
        let mut told = BTreeSet::new();
        for task in tasks.into_iter().flatten() {
            let framework_id = task.value.framework_id.clone();
            let Some(framework) = self.load::<FrameworkRecord>(&key::framework(&framework_id)).await? else { continue };
            let state = if framework.value.is_partition_aware() { TaskState::Unreachable } else { TaskState::Lost };
            let new_status = status(
                &task.value.info,
                &framework_id,
                state,
                reason::AGENT_REMOVED,
                "the agent stopped answering".into(),
            );
            let record = TaskRecord { status: new_status.clone(), ..task.value.clone() };
            let task_key = key::task(&framework_id, &record.info.task_id);
            txn.check(task_key.clone(), task.version).put(task_key, encode(&record));
            push_update(&mut txn, &new_status, true);
            if told.insert(framework_id.clone()) {
                push_event(&mut txn, &framework_id, &FrameworkEvent::Failure(Failure { agent_id: agent_id.clone() }));
            }
        }
        Ok((txn, ()))
    }

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

/// What an agent has free, unreserved and in each role's reservation, given what each of its
/// pools holds (`Snapshot::pool_usage`).
pub(crate) fn free_slot(
    pools: &HashMap<(AgentId, Option<String>), Resources>,
    id: &AgentId,
    agent: &AgentRecord,
) -> AgentSlot {
    let held = |pool: Option<&String>| pools.get(&(id.clone(), pool.cloned())).cloned().unwrap_or_default();
    let reservations = agent.reservations();
    let reserved_all = reservations.values().fold(Resources::default(), |sum, r| sum.plus(r));
    AgentSlot {
        available: agent.total.minus(&reserved_all).minus(&held(None)),
        reserved: reservations.iter().map(|(role, r)| (role.clone(), r.minus(&held(Some(role))))).collect(),
    }
}

/// The persistent volumes of a reservation that are neither used nor offered, marked busy as
/// they go into an offer: each is in at most one offer.
fn free_volumes(
    agent_id: &AgentId,
    agent: &AgentRecord,
    reservation: Option<&String>,
    busy: &mut HashSet<(AgentId, String)>,
) -> Vec<agora_api::Volume> {
    let Some(pool) = reservation else { return Vec::new() };
    let mine = agent.volumes.iter().filter(|v| &v.role == pool);
    mine.filter(|v| busy.insert((agent_id.clone(), v.id.clone()))).cloned().collect()
}
