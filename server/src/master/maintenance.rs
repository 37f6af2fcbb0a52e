//! Maintenance: operators drain, deactivate and reactivate agents.
//!
//! A held agent is offered to no one. Draining goes further: the frameworks with tasks on the
//! agent get an inverse offer (Mesos's word for "give these resources back") with a deadline,
//! and the tasks still there at the deadline are killed. Unlike Mesos's `DRAIN_AGENT`, which
//! kills at once, the grace period lets a service start replacements elsewhere first.

use super::frameworks::{request_kill, task_keys};
use super::records::{key, AgentRecord, TaskRecord};
use super::*;
use crate::store::Check;
use agora_api::framework::{InverseOffer, InverseOffers, Rescind};
use agora_api::operator::{DrainAgent, Maintenance};
use agora_api::{OfferId, TaskId};
use std::collections::{BTreeMap, BTreeSet};

impl Master {
    pub async fn drain_agent(&self, caller: &Caller, id: &AgentId, req: DrainAgent) -> Result<(), ServerError> {
        caller.check_operates()?;
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
    pub async fn deactivate_agent(&self, caller: &Caller, id: &AgentId) -> Result<(), ServerError> {
        caller.check_operates()?;
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

    pub async fn reactivate_agent(&self, caller: &Caller, id: &AgentId) -> Result<(), ServerError> {
        caller.check_operates()?;
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

    pub(super) async fn agent_record(&self, id: &AgentId) -> Result<Loaded<AgentRecord>, ServerError> {
        self.load::<AgentRecord>(&key::agent(id))
            .await?
            .ok_or_else(|| ServerError::not_found("agent", "unknown_agent", id))
    }

    /// Starts a transaction that holds an agent: checked against its record, with its
    /// outstanding offers rescinded.
    pub(super) async fn hold(&self, id: &AgentId) -> Result<(Loaded<AgentRecord>, Txn), ServerError> {
        let agent = self.agent_record(id).await?;
        let mut txn = Txn::default();
        txn.check(key::agent(id), agent.version);
        for offer in self.load_offers(&self.store.members(&key::agent_offers(id)).await?).await? {
            rescind_offer(&mut txn, &offer);
        }
        Ok((agent, txn))
    }

    /// The tasks on an agent that have not ended.
    pub(super) async fn live_tasks(&self, id: &AgentId) -> Result<Vec<Loaded<TaskRecord>>, ServerError> {
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
