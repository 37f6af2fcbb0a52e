//! The leader's timers: offers past their timeout, silent agents, drains past their deadline,
//! and frameworks past their failover timeout.

use super::*;

impl Master {
    /// Marks silent agents unreachable, disconnects frameworks whose replica died and removes
    /// frameworks past their failover timeout, each checked against `epoch`.
    pub async fn reap(&self, epoch: u64) -> Result<(), ServerError> {
        self.reap_agents(epoch).await?;
        self.remove_lost_agents(epoch).await?;
        self.reap_offers_and_frameworks(epoch).await
    }

    /// The timers that run from the start of a leadership: offers, drains and frameworks.
    pub(super) async fn reap_offers_and_frameworks(&self, epoch: u64) -> Result<(), ServerError> {
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

    /// Removes agents unreachable past `--agent-removal-timeout`.
    async fn remove_lost_agents(&self, epoch: u64) -> Result<(), ServerError> {
        let Some(timeout) = self.config.agent_removal_timeout else { return Ok(()) };
        let cutoff = now_secs() - timeout.as_secs_f64();
        for (agent_id, _) in self.store.zrange_below(key::AGENTS_AWAY, cutoff).await? {
            let agent_id = AgentId::from(agent_id.as_str());
            if let Err(e) = transact!(self, self.remove_agent(epoch, &agent_id, timeout).await) {
                tracing::warn!(agent = %agent_id, error = %e, "could not remove an agent unreachable for too long");
            }
        }
        Ok(())
    }

    /// One attempt at removing an unreachable agent: its tasks are `gone` (their frameworks
    /// replace them), and it leaves the lists and the cluster's capacity, with its
    /// reservations and volumes. If it comes back it registers as if new, and the tasks it
    /// still runs are killed: they ended for their frameworks.
    async fn remove_agent(&self, epoch: u64, agent_id: &AgentId, timeout: Duration) -> Result<(Txn, ()), ServerError> {
        let mut txn = Txn::default();
        txn.checks.push(Check::Epoch(epoch));
        let Some(agent) = self.load::<AgentRecord>(&key::agent(agent_id)).await? else {
            txn.op(Op::ZRemove(key::AGENTS_AWAY.to_string(), agent_id.to_string()));
            return Ok((txn, ()));
        };
        if agent.value.state != AgentState::Unreachable {
            return Ok((Txn::default(), ()));
        }
        tracing::warn!(agent = %agent_id, hostname = %agent.value.hostname, "agent unreachable past the removal timeout: removed");
        txn.check(key::agent(agent_id), agent.version);
        txn.delete(key::agent(agent_id));
        txn.op(Op::SetRemove(key::AGENTS.to_string(), agent_id.to_string()));
        txn.op(Op::ZRemove(key::AGENTS_AWAY.to_string(), agent_id.to_string()));
        for offer in self.load_offers(&self.store.members(&key::agent_offers(agent_id)).await?).await? {
            rescind_offer(&mut txn, &offer);
        }
        let members = self.store.members(&key::agent_tasks(agent_id)).await?;
        let keys = task_keys(&members);
        let store_keys: Vec<String> = keys.iter().map(|(f, t)| key::task(f, t)).collect();
        let message = format!("the agent was removed after {:.0} s unreachable", timeout.as_secs_f64());
        for task in self.load_many::<TaskRecord>(&store_keys).await?.into_iter().flatten() {
            let framework_id = task.value.framework_id.clone();
            let gone = status(&task.value.info, &framework_id, TaskState::Gone, reason::AGENT_REMOVED, message.clone());
            let framework = self.load::<FrameworkRecord>(&key::framework(&framework_id)).await?;
            finish_task(&mut txn, &task, gone.clone(), self.config.completed_tasks_kept);
            push_update(&mut txn, &gone, framework.is_some());
        }
        txn.delete(key::agent_tasks(agent_id));
        let event = AgentEvent { agent_id: agent_id.clone(), hostname: agent.value.hostname.clone() };
        push_operator_event(&mut txn, &OperatorEvent::AgentRemoved(event));
        Ok((txn, ()))
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
}
