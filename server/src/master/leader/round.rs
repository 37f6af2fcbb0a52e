//! The allocation round: from a snapshot, what each framework is offered, written with the
//! lease's epoch checked.

use super::*;

impl Master {
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
