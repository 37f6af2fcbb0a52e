//! Maintenance: operators drain, deactivate and reactivate agents, and reserve parts of them
//! for roles.
//!
//! A held agent is offered to no one. Draining goes further: the frameworks with tasks on the
//! agent get an inverse offer (Mesos's word for "give these resources back") with a deadline,
//! and the tasks still there at the deadline are killed. Unlike Mesos's `DRAIN_AGENT`, which
//! kills at once, the grace period lets a service start replacements elsewhere first.

use super::frameworks::{request_kill, task_keys};
use super::records::{key, AgentRecord, TaskRecord};
use super::*;
use crate::store::Check;
use agora_api::framework::{Accept, Operation};
use agora_api::framework::{InverseOffer, InverseOffers, Rescind};
use agora_api::operator::{AgentView, DrainAgent, Maintenance, Reservation, ReserveResources};
use agora_api::Resources;
use agora_api::{Offer, OfferId, TaskId};
use std::collections::{BTreeMap, BTreeSet};

impl Master {
    pub async fn drain_agent(&self, id: &AgentId, req: DrainAgent) -> Result<(), ServerError> {
        check_id("agent id", id.as_str())?;
        let grace = req.grace_period_secs;
        if !grace.is_finite() || !(0.0..=MAX_REFUSE_SECS).contains(&grace) {
            return Err(ServerError::bad(
                "invalid_grace_period",
                format!("grace_period_secs must be between 0 and {MAX_REFUSE_SECS}"),
            ));
        }
        transact!(self, {
            let (agent, mut txn) = self.hold(id).await?;
            let now = now_secs();
            let deadline = now + grace;
            let inverse_offer_id = OfferId::random();
            let tasks = self.live_tasks(id).await?;
            let mut by_framework: BTreeMap<FrameworkId, Vec<TaskId>> = BTreeMap::new();
            for task in &tasks {
                by_framework.entry(task.value.framework_id.clone()).or_default().push(task.value.info.task_id.clone());
            }
            for (framework_id, tasks) in by_framework {
                let inverse = InverseOffer {
                    id: inverse_offer_id.clone(),
                    framework_id: framework_id.clone(),
                    agent_id: id.clone(),
                    hostname: agent.value.hostname.clone(),
                    deadline,
                    tasks,
                };
                let event = FrameworkEvent::InverseOffers(InverseOffers { inverse_offers: vec![inverse] });
                push_event(&mut txn, &framework_id, &event);
            }
            if grace == 0.0 {
                kill_all(&mut txn, &tasks);
            } else {
                txn.op(Op::ZAdd(key::AGENTS_DRAINING.to_string(), id.to_string(), deadline));
            }
            let maintenance = Maintenance::Draining { since: now, deadline, inverse_offer_id };
            txn.put(key::agent(id), encode(&AgentRecord { maintenance: Some(maintenance), ..agent.value.clone() }));
            Ok((txn, ()))
        })
    }

    /// Deactivates an agent; one that is draining stays draining.
    pub async fn deactivate_agent(&self, id: &AgentId) -> Result<(), ServerError> {
        check_id("agent id", id.as_str())?;
        transact!(self, {
            let (agent, mut txn) = self.hold(id).await?;
            if agent.value.maintenance.is_none() {
                let maintenance = Maintenance::Deactivated { since: now_secs() };
                txn.put(key::agent(id), encode(&AgentRecord { maintenance: Some(maintenance), ..agent.value.clone() }));
            }
            Ok((txn, ()))
        })
    }

    pub async fn reactivate_agent(&self, id: &AgentId) -> Result<(), ServerError> {
        check_id("agent id", id.as_str())?;
        transact!(self, {
            let agent = self.agent_record(id).await?;
            let mut txn = Txn::default();
            txn.check(key::agent(id), agent.version);
            if let Some(Maintenance::Draining { inverse_offer_id, .. }) = &agent.value.maintenance {
                let frameworks: BTreeSet<FrameworkId> =
                    self.live_tasks(id).await?.into_iter().map(|t| t.value.framework_id).collect();
                for framework_id in frameworks {
                    let event = FrameworkEvent::Rescind(Rescind { offer_id: inverse_offer_id.clone() });
                    push_event(&mut txn, &framework_id, &event);
                }
                txn.op(Op::ZRemove(key::AGENTS_DRAINING.to_string(), id.to_string()));
            }
            txn.put(key::agent(id), encode(&AgentRecord { maintenance: None, ..agent.value.clone() }));
            wake_allocator(&mut txn);
            Ok((txn, ()))
        })
    }

    /// Kills the tasks left on agents whose drain deadline passed, as the leader of `epoch`.
    pub(super) async fn reap_drains(&self, epoch: u64) -> Result<(), ServerError> {
        for (agent_id, _) in self.store.zrange_below(key::AGENTS_DRAINING, now_secs()).await? {
            let agent_id = AgentId::from(agent_id.as_str());
            let killed = transact!(self, {
                let mut txn = Txn::default();
                txn.checks.push(Check::Epoch(epoch));
                txn.op(Op::ZRemove(key::AGENTS_DRAINING.to_string(), agent_id.to_string()));
                let agent = self.load::<AgentRecord>(&key::agent(&agent_id)).await?;
                // Reactivated (or drained again, later) meanwhile: nothing to do now.
                let due = agent.as_ref().is_some_and(|a| {
                    matches!(a.value.maintenance, Some(Maintenance::Draining { deadline, .. }) if deadline <= now_secs())
                });
                if let Some(agent) = agent.filter(|_| due) {
                    txn.check(key::agent(&agent_id), agent.version);
                    kill_all(&mut txn, &self.live_tasks(&agent_id).await?);
                }
                Ok((txn, ()))
            });
            if let Err(e) = killed {
                tracing::warn!(agent = %agent_id, error = %e, "could not kill a drained agent's tasks");
            }
        }
        Ok(())
    }

    async fn agent_record(&self, id: &AgentId) -> Result<Loaded<AgentRecord>, ServerError> {
        self.load::<AgentRecord>(&key::agent(id))
            .await?
            .ok_or_else(|| ServerError::not_found("agent", "unknown_agent", id))
    }

    /// Starts a transaction that holds an agent: checked against its record, with its
    /// outstanding offers rescinded.
    async fn hold(&self, id: &AgentId) -> Result<(Loaded<AgentRecord>, Txn), ServerError> {
        let agent = self.agent_record(id).await?;
        let mut txn = Txn::default();
        txn.check(key::agent(id), agent.version);
        for offer in self.load_offers(&self.store.members(&key::agent_offers(id)).await?).await? {
            rescind_offer(&mut txn, &offer);
        }
        Ok((agent, txn))
    }

    /// The tasks on an agent that have not ended.
    async fn live_tasks(&self, id: &AgentId) -> Result<Vec<Loaded<TaskRecord>>, ServerError> {
        let keys: Vec<String> =
            task_keys(&self.store.members(&key::agent_tasks(id)).await?).iter().map(|(f, t)| key::task(f, t)).collect();
        let tasks = self.load_many::<TaskRecord>(&keys).await?.into_iter().flatten();
        Ok(tasks.filter(|t| !t.value.status.state.is_terminal()).collect())
    }
}

/// Kills every task not already being killed, each with its own grace period.
fn kill_all(txn: &mut Txn, tasks: &[Loaded<TaskRecord>]) {
    for task in tasks.iter().filter(|t| t.value.kill_requested.is_none()) {
        request_kill(txn, task, task.value.info.kill_grace_period_secs.unwrap_or(DEFAULT_KILL_GRACE_SECS));
    }
}

impl Master {
    /// Reserves unreserved, unused resources of an agent for a role (an operator's dynamic
    /// reservation). The agent's offers are rescinded first, so that what they held counts
    /// as free.
    pub async fn reserve(
        &self,
        id: &AgentId,
        req: ReserveResources,
        principal: &str,
    ) -> Result<AgentView, ServerError> {
        check_id("agent id", id.as_str())?;
        check_reservation(&req)?;
        for (k, v) in &req.labels {
            check_name("label", k)?;
            check_name("label", v)?;
        }
        transact!(self, {
            let (agent, mut txn) = self.hold(id).await?;
            let mut record = agent.value.clone();
            let reserved = record.reservations().values().fold(Resources::default(), |sum, r| sum.plus(r));
            let used = self.pool_use(id, None).await?;
            let free = record.total.minus(&reserved).minus(&used);
            if !req.resources.fits_in(&free) {
                return Err(ServerError::bad(
                    "insufficient_resources",
                    format!("agent {id} has {} unreserved and unused", describe(&free)),
                ));
            }
            record.dynamic.push(Reservation {
                role: req.role.clone(),
                resources: req.resources.clone(),
                labels: req.labels.clone(),
                principal: principal.to_string(),
            });
            txn.put(key::agent(id), encode(&record));
            wake_allocator(&mut txn);
            Ok((txn, ()))
        })?;
        self.agent(id).await
    }

    /// Gives back dynamically reserved resources of a role, newest reservation first.
    pub async fn unreserve(&self, id: &AgentId, req: ReserveResources) -> Result<AgentView, ServerError> {
        check_id("agent id", id.as_str())?;
        check_reservation(&req)?;
        transact!(self, {
            let (agent, mut txn) = self.hold(id).await?;
            let mut record = agent.value.clone();
            let dynamic = record
                .dynamic
                .iter()
                .filter(|r| r.role == req.role)
                .fold(Resources::default(), |s, r| s.plus(&r.resources));
            let pool = record.reservations().remove(&req.role).unwrap_or_default();
            let unused = pool.minus(&self.pool_use(id, Some(&req.role)).await?);
            if !req.resources.fits_in(&dynamic) || !req.resources.fits_in(&unused) {
                return Err(ServerError::bad(
                    "insufficient_resources",
                    format!(
                        "role {} has {} reserved dynamically on agent {id}, {} of it unused",
                        req.role,
                        describe(&dynamic),
                        describe(&unused)
                    ),
                ));
            }
            take_back(&mut record, &req.role, &req.resources);
            txn.put(key::agent(id), encode(&record));
            wake_allocator(&mut txn);
            Ok((txn, ()))
        })?;
        self.agent(id).await
    }

    /// What the live tasks of one pool of an agent use (`None`: the unreserved rest).
    async fn pool_use(&self, id: &AgentId, pool: Option<&String>) -> Result<Resources, ServerError> {
        let tasks = self.live_tasks(id).await?;
        let used = tasks.iter().filter(|t| t.value.reservation.as_ref() == pool);
        Ok(used.fold(Resources::default(), |sum, t| sum.plus(&t.value.info.resources)))
    }
}

/// Takes `resources` back from `role`'s dynamic reservations on an agent, newest first.
fn take_back(record: &mut AgentRecord, role: &str, resources: &Resources) {
    let mut left = resources.clone();
    for reservation in record.dynamic.iter_mut().rev().filter(|r| r.role == role) {
        let taken = Resources {
            cpus: left.cpus.min(reservation.resources.cpus),
            mem: left.mem.min(reservation.resources.mem),
            disk: left.disk.min(reservation.resources.disk),
            gpus: left.gpus.min(reservation.resources.gpus),
            ports: Vec::new(),
        };
        reservation.resources.subtract(&taken);
        left.subtract(&taken);
    }
    record.dynamic.retain(|r| !r.resources.is_empty());
}

impl Master {
    /// An accept whose operations reserve or unreserve: the offers' resources go back to the
    /// pool, and what the operations name is reserved to the offers' role or given back.
    pub(super) async fn change_reservations(&self, framework_id: &FrameworkId, req: Accept) -> Result<(), ServerError> {
        transact!(self, {
            let framework = self.framework_record(framework_id).await?;
            let offers = self.load_own_offers(framework_id, &req.offer_ids).await?;
            let first = &offers[0].value;
            let same = |o: &Loaded<Offer>| o.value.agent_id == first.agent_id && o.value.role == first.role;
            if !offers.iter().all(|o| same(o) && o.value.reservation == first.reservation) {
                return Err(ServerError::bad(
                    "offers_span_agents",
                    "the offers of one accept must be on one agent, for one role and one reservation",
                ));
            }
            let agent = self.agent_record(&first.agent_id).await?;
            let mut record = agent.value.clone();
            let mut left = offers.iter().fold(Resources::default(), |sum, o| sum.plus(&o.value.resources));
            for op in &req.operations {
                let (resources, reserving) = match op {
                    Operation::Reserve { resources, .. } => (resources, true),
                    Operation::Unreserve { resources } => (resources, false),
                    Operation::Launch { .. } => continue,
                };
                let request = ReserveResources {
                    role: first.role.clone(),
                    resources: resources.clone(),
                    labels: BTreeMap::new(),
                };
                check_reservation(&request)?;
                if reserving != first.reservation.is_none() {
                    let (verb, wanted) = if reserving { ("reserve", "unreserved") } else { ("unreserve", "reserved") };
                    return Err(ServerError::bad("invalid_operation", format!("{verb} takes {wanted} offers")));
                }
                if !reserving {
                    let dynamic = record
                        .dynamic
                        .iter()
                        .filter(|r| r.role == first.role)
                        .fold(Resources::default(), |sum, r| sum.plus(&r.resources));
                    if !resources.fits_in(&dynamic) {
                        return Err(ServerError::bad(
                            "insufficient_resources",
                            format!("role {} has {} reserved dynamically there", first.role, describe(&dynamic)),
                        ));
                    }
                }
                if !resources.fits_in(&left) {
                    return Err(ServerError::bad(
                        "insufficient_resources",
                        format!("the operations need more than the offers hold ({})", describe(&left)),
                    ));
                }
                left = left.minus(resources);
                if let Operation::Reserve { labels, .. } = op {
                    record.dynamic.push(Reservation {
                        role: first.role.clone(),
                        resources: resources.clone(),
                        labels: labels.clone(),
                        principal: framework.value.principal.clone(),
                    });
                } else {
                    take_back(&mut record, &first.role, resources);
                }
            }
            let mut txn = Txn::default();
            txn.check(key::framework(framework_id), framework.version);
            txn.check(key::agent(&first.agent_id), agent.version).put(key::agent(&first.agent_id), encode(&record));
            for offer in &offers {
                drop_offer(&mut txn, offer);
            }
            wake_allocator(&mut txn);
            Ok((txn, ()))
        })
    }
}

fn check_reservation(req: &ReserveResources) -> Result<(), ServerError> {
    check_role(&req.role)?;
    let r = &req.resources;
    if !r.is_well_formed() || !r.ports.is_empty() || r.is_empty() {
        return Err(ServerError::bad(
            "invalid_resources",
            "a reservation takes finite, non-negative scalars, not none",
        ));
    }
    Ok(())
}
