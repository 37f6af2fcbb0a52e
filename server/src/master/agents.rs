//! What agents do: register (reporting what they run), open their command stream, heartbeat,
//! and report status updates.

use super::frameworks::{send_kill, task_keys};
use super::records::{key, AgentConn, AgentRecord, FrameworkRecord, TaskRecord};
use super::*;
use agora_api::agent::{AcknowledgeCommand, AgentRegistered, RegisterAgent, StatusUpdates};
use agora_api::operator::{AgentEvent, AgentState, OperatorEvent};
use agora_api::types::reason;
use agora_api::TaskId;
use std::collections::{BTreeMap, HashMap, HashSet};

type TaskKey = (FrameworkId, TaskId);

/// What is known about the frameworks a batch of tasks belongs to.
struct FrameworkFacts {
    exists: HashSet<FrameworkId>,
    removed: HashSet<FrameworkId>,
    /// When each framework that registered under an id the store did not know did so.
    came_back: HashMap<FrameworkId, f64>,
    /// The versions these facts were read at: of each framework's record, and of its removal.
    versions: Vec<(FrameworkId, Version, Version)>,
}

impl FrameworkFacts {
    /// Makes a transaction hold only while the facts do: an update must not recreate the
    /// event stream of a framework torn down meanwhile, nor miss a framework that came back.
    fn check(&self, txn: &mut Txn) {
        for (id, framework, removed) in &self.versions {
            txn.check(key::framework(id), *framework);
            txn.check(key::removed(id), *removed);
        }
    }
}

impl Master {
    /// Reads which of `ids` exist and which were torn down.
    async fn framework_facts(&self, ids: impl IntoIterator<Item = FrameworkId>) -> Result<FrameworkFacts, ServerError> {
        let ids: Vec<FrameworkId> = ids.into_iter().collect::<HashSet<_>>().into_iter().collect();
        let mut keys: Vec<String> = ids.iter().map(key::framework).collect();
        keys.extend(ids.iter().map(key::removed));
        let records = self.store.get(&keys).await?;
        let (live, removed) = records.split_at(ids.len());
        let version = |r: &Option<crate::store::Versioned>| r.as_ref().map_or(0, |r| r.version);
        let mut came_back = HashMap::new();
        for (id, record) in ids.iter().zip(live) {
            let record = decode::<FrameworkRecord>(&key::framework(id), record.clone())?;
            if let Some(at) = record.and_then(|r| r.value.came_back_at) {
                came_back.insert(id.clone(), at);
            }
        }
        Ok(FrameworkFacts {
            came_back,
            exists: ids.iter().zip(live).filter(|(_, r)| r.is_some()).map(|(id, _)| id.clone()).collect(),
            removed: ids.iter().zip(removed).filter(|(_, r)| r.is_some()).map(|(id, _)| id.clone()).collect(),
            versions: ids
                .iter()
                .zip(live.iter().zip(removed))
                .map(|(id, (l, r))| (id.clone(), version(l), version(r)))
                .collect(),
        })
    }

    async fn load_tasks(&self, keys: &[TaskKey]) -> Result<HashMap<TaskKey, Loaded<TaskRecord>>, ServerError> {
        let store_keys: Vec<String> = keys.iter().map(|(f, t)| key::task(f, t)).collect();
        let loaded = self.load_many::<TaskRecord>(&store_keys).await?;
        Ok(keys.iter().cloned().zip(loaded).filter_map(|(k, t)| Some((k, t?))).collect())
    }

    /// Registers an agent: an agent id registered by one principal cannot be taken over by
    /// another.
    pub async fn register_agent(&self, caller: &Caller, req: RegisterAgent) -> Result<AgentRegistered, ServerError> {
        if req.hostname.is_empty() {
            return Err(ServerError::bad("invalid_name", "hostname must not be empty"));
        }
        check_name("hostname", &req.hostname)?;
        if !req.resources.is_well_formed() {
            return Err(ServerError::bad("invalid_resources", "resources must be finite and non-negative"));
        }
        let mut reserved = Resources::default();
        for (role, part) in &req.reserved {
            check_role(role)?;
            if !part.is_well_formed() || !part.ports.is_empty() {
                return Err(ServerError::bad("invalid_resources", "a reservation takes finite, non-negative scalars"));
            }
            reserved.add(part);
        }
        if !reserved.fits_in(&req.resources) {
            return Err(ServerError::bad("invalid_resources", "the reservations are more than the agent's resources"));
        }
        for (k, v) in &req.attributes {
            check_name("attribute", k)?;
            check_name("attribute", v)?;
        }
        // What an agent reports must fit in it: a task of a billion CPUs, or tasks that hold
        // more together than the agent has, would inflate their frameworks' shares.
        let mut running = Resources::default();
        for t in &req.tasks {
            check_id("task id", t.task.task_id.as_str())?;
            check_id("framework id", t.framework_id.as_str())?;
            if !t.task.resources.is_well_formed() {
                return Err(ServerError::bad("invalid_resources", "task resources must be finite and non-negative"));
            }
            if !t.task.resources.fits_in(&req.resources) {
                return Err(ServerError::bad(
                    "invalid_resources",
                    format!("task {} needs more than the agent's resources", t.task.task_id),
                ));
            }
            if !t.status.state.is_terminal() {
                running.add(&t.task.resources);
            }
        }
        if !running.fits_in(&req.resources) {
            return Err(ServerError::bad(
                "invalid_resources",
                "the tasks the agent reports running need more than the agent's resources",
            ));
        }
        let id = match &req.agent_id {
            Some(id) => {
                check_id("agent id", id.as_str())?;
                id.clone()
            }
            None => AgentId::random(),
        };
        let hostname = req.hostname.clone();
        let refused = transact!(self, self.registration(&id, &req, caller).await)?;
        self.store.zadd(key::AGENTS_SEEN, id.as_str(), now_secs()).await?;
        tracing::info!(agent = %id, %hostname, "agent registered");
        for ((framework, task), why) in refused {
            tracing::warn!(agent = %id, %hostname, %framework, %task, "refused a task the agent reported: {why}; told it to kill it");
        }
        Ok(AgentRegistered { agent_id: id, heartbeat_interval_secs: self.agent_heartbeat_interval().as_secs_f64() })
    }

    /// One attempt at registering an agent. The agent is the source of truth for what runs on
    /// it, but speaks only for its own tasks (see [`may_report`]): the others are refused, and
    /// the agent is told to kill them. Returns the tasks refused, and why.
    async fn registration(
        &self,
        id: &AgentId,
        req: &RegisterAgent,
        caller: &Caller,
    ) -> Result<(Txn, Vec<(TaskKey, String)>), ServerError> {
        let previous = self.load::<AgentRecord>(&key::agent(id)).await?;
        let owner = previous.as_ref().map(|p| p.value.principal.as_str()).unwrap_or("");
        caller.check_acts_for_agent(id, Some(owner))?;
        let principal = caller.agent_owner(owner);
        // Offers first: an accept that commits after this read deletes one of them, and the
        // check on its version below makes this attempt start again (with the accept's task
        // and launch command in view). Read after the tasks, such a task would be missed.
        let offers = self.load_offers(&self.store.members(&key::agent_offers(id)).await?).await?;
        let placed = task_keys(&self.store.members(&key::agent_tasks(id)).await?);
        #[cfg(test)]
        self.pauses.point("registration: tasks read").await;
        let mut reported: BTreeMap<TaskKey, &agora_api::agent::RunningTask> = BTreeMap::new();
        for running in &req.tasks {
            reported.entry((running.framework_id.clone(), running.task.task_id.clone())).or_insert(running);
        }
        let mut all: Vec<TaskKey> = placed.clone();
        all.extend(reported.keys().cloned());
        let known = self.load_tasks(&all).await?;
        let facts = self.framework_facts(all.iter().map(|(f, _)| f.clone())).await?;
        let registered_after = self.store.last_id(&key::agent_commands(id)).await?.map(|i| i.to_string());

        let mut txn = Txn::default();
        txn.check(key::agent(id), previous.as_ref().map_or(0, |p| p.version));
        facts.check(&mut txn);
        // Resources and offers may have changed: withdraw what was offered from this agent.
        for offer in &offers {
            rescind_offer(&mut txn, offer);
        }
        let record = AgentRecord {
            hostname: req.hostname.clone(),
            attributes: req.attributes.clone(),
            total: req.resources.clone(),
            reserved: req.reserved.clone(),
            dynamic: previous.as_ref().map(|p| p.value.dynamic.clone()).unwrap_or_default(),
            volumes: previous.as_ref().map(|p| p.value.volumes.clone()).unwrap_or_default(),
            state: AgentState::Active,
            registered_at: previous.as_ref().map_or_else(now_secs, |p| p.value.registered_at),
            registered_after,
            principal,
            // A drain or deactivation outlasts the agent's restarts.
            maintenance: previous.as_ref().and_then(|p| p.value.maintenance.clone()),
            address: caller.address.or_else(|| previous.as_ref().and_then(|p| p.value.address)),
            containerizers: req
                .containerizers
                .iter()
                .copied()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect(),
        };
        txn.put(key::agent(id), encode(&record));
        txn.op(Op::SetAdd(key::AGENTS.to_string(), id.to_string()));
        txn.op(Op::ZRemove(key::AGENTS_AWAY.to_string(), id.to_string()));
        let added = AgentEvent { agent_id: id.clone(), hostname: req.hostname.clone() };
        push_operator_event(&mut txn, &OperatorEvent::AgentAdded(added));
        // Tasks the master placed here that the agent no longer runs are gone.
        for task_key in placed.iter().filter(|k| !reported.contains_key(k)) {
            if let Some(task) = known.get(task_key).filter(|t| !t.value.status.state.is_terminal()) {
                let gone = status(
                    &task.value.info,
                    &task_key.0,
                    TaskState::Gone,
                    reason::AGENT_RESTARTED,
                    "the agent no longer runs this task".into(),
                );
                finish_task(&mut txn, task, gone.clone(), self.config.completed_tasks_kept);
                push_update(&mut txn, &gone, facts.exists.contains(&task_key.0));
            }
        }
        let placed_here: HashSet<&FrameworkId> = placed.iter().map(|(f, _)| f).collect();
        let came_back_since = now_secs() - self.came_back_window().as_secs_f64();
        let mut refused = Vec::new();
        for (task_key, running) in &reported {
            let known = known.get(task_key);
            if let Err(why) = may_report(id, task_key, known, &placed_here, &facts, came_back_since) {
                // Nothing of it is recorded, so it counts in nobody's share; it must not run on.
                if !running.status.state.is_terminal() {
                    send_kill(&mut txn, id, &task_key.0, &task_key.1, kill_grace(running));
                }
                refused.push((task_key.clone(), why));
                continue;
            }
            adopt(&mut txn, id, task_key, running, known, &facts, self.config.completed_tasks_kept);
        }
        wake_allocator(&mut txn);
        Ok((txn, refused))
    }

    /// How long after a framework came back under an id the store had lost agents may still
    /// report its tasks without the store knowing of any on them: agents learn of the same
    /// loss within a heartbeat (a third of the agent timeout) and register again.
    fn came_back_window(&self) -> Duration {
        self.config.agent_timeout * 2
    }

    /// Opens an agent's command stream; returns the position to read after and the generation.
    pub async fn open_agent_stream(
        &self,
        caller: &Caller,
        id: &AgentId,
        last_event_id: Option<StreamId>,
    ) -> Result<(Option<StreamId>, u64), ServerError> {
        let commands = key::agent_commands(id);
        transact!(self, {
            let agent = self.owned_agent(caller, id).await?;
            self.check_commands_kept(id, last_event_id).await?;
            let conn = self.load::<AgentConn>(&key::agent_conn(id)).await?;
            let (version, old) = conn.map(|c| (c.version, c.value)).unwrap_or_default();
            let generation = old.generation + 1;
            let mut txn = Txn::default();
            txn.check(key::agent_conn(id), version).put(key::agent_conn(id), encode(&AgentConn { generation }));
            txn.op(Op::Wake(commands.clone()));
            // A new connection without Last-Event-ID gets the commands queued since registration.
            let position = last_event_id.or_else(|| agent.value.registered_after.as_deref().and_then(StreamId::parse));
            Ok((txn, (position, generation)))
        })
    }

    /// Loads an agent the caller may act as: 404 if it is unknown, 403 if another principal
    /// registered it.
    async fn owned_agent(&self, caller: &Caller, id: &AgentId) -> Result<Loaded<AgentRecord>, ServerError> {
        let agent = self.load::<AgentRecord>(&key::agent(id)).await?;
        caller.check_acts_for_agent(id, agent.as_ref().map(|a| a.value.principal.as_str()))?;
        agent.ok_or_else(|| ServerError::not_found("agent", "unknown_agent", id))
    }

    /// Fails unless the caller may act as the agent. Unknown agents pass: the operation that
    /// follows answers 404.
    pub async fn check_agent_owner(&self, caller: &Caller, id: &AgentId) -> Result<(), ServerError> {
        let agent = self.load::<AgentRecord>(&key::agent(id)).await?;
        caller.check_acts_for_agent(id, agent.as_ref().map(|a| a.value.principal.as_str()))
    }

    pub async fn agent_heartbeat(&self, caller: &Caller, agent_id: &AgentId) -> Result<(), ServerError> {
        let agent = self.owned_agent(caller, agent_id).await?;
        if agent.value.state == AgentState::Unreachable {
            // It must register again to report what it runs; until then it gets no work.
            return Err(ServerError::not_found("agent", "unknown_agent", agent_id));
        }
        self.store.zadd(key::AGENTS_SEEN, agent_id.as_str(), now_secs()).await?;
        Ok(())
    }

    pub async fn agent_updates(
        &self,
        caller: &Caller,
        agent_id: &AgentId,
        req: StatusUpdates,
    ) -> Result<(), ServerError> {
        transact!(self, self.apply_updates(caller, agent_id, &req).await)?;
        self.metrics.status_updates.inc_by(req.updates.len() as u64);
        self.store.zadd(key::AGENTS_SEEN, agent_id.as_str(), now_secs()).await?;
        Ok(())
    }

    async fn apply_updates(
        &self,
        caller: &Caller,
        agent_id: &AgentId,
        req: &StatusUpdates,
    ) -> Result<(Txn, ()), ServerError> {
        // In this order: another principal's agent (403), bad input (400), an unknown agent (404).
        let agent = self.load::<AgentRecord>(&key::agent(agent_id)).await?;
        caller.check_acts_for_agent(agent_id, agent.as_ref().map(|a| a.value.principal.as_str()))?;
        for update in &req.updates {
            check_id("task id", update.task_id.as_str())?;
            check_id("framework id", update.framework_id.as_str())?;
            if &update.agent_id != agent_id {
                return Err(ServerError::bad("wrong_agent", "an agent reports only its own tasks"));
            }
            if update.update_id.is_none() {
                return Err(ServerError::bad("missing_update_id", "agent updates must carry an update_id"));
            }
        }
        if agent.is_none() {
            return Err(ServerError::not_found("agent", "unknown_agent", agent_id));
        }
        let keys: Vec<TaskKey> = req.updates.iter().map(|u| (u.framework_id.clone(), u.task_id.clone())).collect();
        let mut tasks = self.load_tasks(&keys).await?;
        let facts = self.framework_facts(keys.iter().map(|(f, _)| f.clone())).await?;
        // Who may send updates for tasks the store has no record of, as at registration.
        let unknown_ended = keys.iter().zip(&req.updates).any(|(k, u)| u.state.is_terminal() && !tasks.contains_key(k));
        let placed =
            if unknown_ended { task_keys(&self.store.members(&key::agent_tasks(agent_id)).await?) } else { vec![] };
        let placed_here: HashSet<&FrameworkId> = placed.iter().map(|(f, _)| f).collect();
        let came_back_since = now_secs() - self.came_back_window().as_secs_f64();
        let mut txn = Txn::default();
        facts.check(&mut txn);
        for (task_key, update) in keys.iter().zip(&req.updates) {
            let mut update = update.clone();
            let latest = update.latest_state.take();
            if let Some(task) = tasks.get(task_key).filter(|t| &t.value.info.agent_id != agent_id) {
                // The store has this task on another agent (an id launched again elsewhere after
                // the store lost the first): this one is a duplicate. It is stopped and its
                // update acknowledged here, so it cannot hold up the agent's other updates.
                txn.check(key::task(&task_key.0, &task_key.1), task.version);
                if !update.state.is_terminal() {
                    send_kill(&mut txn, agent_id, &task_key.0, &task_key.1, DEFAULT_KILL_GRACE_SECS);
                }
                ack_orphan_update(&mut txn, agent_id, &update);
                continue;
            }
            match tasks.get_mut(task_key) {
                Some(task) if !task.value.status.state.is_terminal() => {
                    if update.state.is_terminal() {
                        finish_task(&mut txn, task, update.clone(), self.config.completed_tasks_kept);
                        task.value.status = update.clone();
                    } else if let Some(ended) = latest.filter(|s| s.is_terminal()) {
                        // Ended, though the framework has yet to acknowledge its way to the end:
                        // free the resources now; the terminal update follows.
                        let mut ended_status = update.clone();
                        ended_status.state = ended;
                        ended_status.message = Some("ended; its final update follows the earlier ones".into());
                        finish_task(&mut txn, task, ended_status.clone(), self.config.completed_tasks_kept);
                        task.value.status = ended_status;
                    } else {
                        task.value.status = update.clone();
                        let task_key = key::task(&task_key.0, &task_key.1);
                        txn.check(task_key.clone(), task.version).put(task_key, encode(&task.value));
                    }
                }
                // The final update of a task already freed by `latest_state`: keep its details.
                Some(task) if update.state.is_terminal() => {
                    task.value.status = update.clone();
                    let task_key = key::task(&task_key.0, &task_key.1);
                    txn.check(task_key.clone(), task.version).put(task_key, encode(&task.value));
                }
                // A resend of an update for a task that has ended: deliver it again below.
                Some(_) => {}
                // Still running, but the store does not know it (it lost recent writes): the
                // agent registers again, reporting what it runs, and the task is adopted rather
                // than killed. Agents are the source of truth for what runs on them.
                None if !update.state.is_terminal() => {
                    return Err(ServerError::not_found(
                        "task",
                        "unknown_task",
                        format!("{}/{}: register again with the tasks this agent runs", task_key.0, task_key.1),
                    ));
                }
                // Ended, and unknown: an update sent again after its task's record was let go,
                // or one of a task the store lost. Only an agent that may speak for the
                // framework's tasks is believed; anything else is acknowledged and dropped.
                None => {
                    if let Err(why) = may_report(agent_id, task_key, None, &placed_here, &facts, came_back_since) {
                        let (framework, task) = task_key;
                        tracing::warn!(agent = %agent_id, %framework, %task, "dropped an update for an unknown task: {why}");
                        ack_orphan_update(&mut txn, agent_id, &update);
                        continue;
                    }
                }
            }
            push_update(&mut txn, &update, facts.exists.contains(&task_key.0));
            if facts.removed.contains(&task_key.0) {
                ack_orphan_update(&mut txn, agent_id, &update);
            }
            // Otherwise the framework is unknown but may register again (after the store was
            // lost): the agent keeps the update and sends it again until it does.
        }
        Ok((txn, ()))
    }

    /// Queues a command on an agent's stream.
    pub async fn send_agent_command(&self, agent_id: &AgentId, command: &AgentCommand) -> Result<(), ServerError> {
        let agent = self
            .load::<AgentRecord>(&key::agent(agent_id))
            .await?
            .ok_or_else(|| ServerError::not_found("agent", "unknown_agent", agent_id))?;
        if agent.value.state != AgentState::Active {
            return Err(ServerError::Timeout {
                code: "agent_unreachable",
                message: format!("agent {agent_id} is unreachable"),
            });
        }
        // An agent that never opened its command stream would never answer: say so now rather
        // than after a timeout.
        if self.load::<AgentConn>(&key::agent_conn(agent_id)).await?.is_none() {
            return Err(ServerError::Conflict {
                code: "agent_not_connected",
                message: format!("agent {agent_id} has not opened its command stream"),
            });
        }
        let mut txn = Txn::default();
        push_command(&mut txn, agent_id, command);
        self.store.commit(&txn).await?;
        Ok(())
    }
}

/// Adds one task an agent reports at registration to the transaction.
fn adopt(
    txn: &mut Txn,
    agent_id: &AgentId,
    task_key: &TaskKey,
    running: &agora_api::agent::RunningTask,
    known: Option<&Loaded<TaskRecord>>,
    facts: &FrameworkFacts,
    kept: usize,
) {
    let (framework_id, task_id) = task_key;
    let mut reported = running.status.clone();
    (reported.agent_id, reported.framework_id, reported.task_id) =
        (agent_id.clone(), framework_id.clone(), task_id.clone());
    let record_key = key::task(framework_id, task_id);
    let member = key::task_member(framework_id, task_id);
    if let Some(task) = known.filter(|k| &k.value.info.agent_id != agent_id) {
        // The store has it on another agent: this copy is a duplicate and must not run on.
        txn.check(record_key, task.version);
        if !reported.state.is_terminal() {
            send_kill(txn, agent_id, framework_id, task_id, kill_grace(running));
        }
        return;
    }
    let ended_before = known.is_some_and(|k| k.value.status.state.is_terminal());
    if reported.state.is_terminal() {
        // Ended, its last update not yet acknowledged: the agent sends that update again.
        // Remember the task even if the store never knew it, so that its logs can be read and
        // its update acknowledged.
        match known {
            Some(task) if !ended_before => finish_task(txn, task, reported, kept),
            Some(_) => {}
            None => {
                let record = adopted(running, agent_id, reported);
                txn.check(record_key.clone(), 0).put(record_key, encode(&record));
                txn.op(Op::ZAdd(key::TASKS_DONE.to_string(), member, now_secs()));
            }
        }
        return;
    }
    let record = match known {
        Some(task) if !ended_before => {
            let was_away = matches!(task.value.status.state, TaskState::Unreachable | TaskState::Lost);
            if let Some(grace) = task.value.kill_requested {
                send_kill(txn, agent_id, framework_id, task_id, grace);
            }
            if was_away {
                push_update(txn, &reported, facts.exists.contains(framework_id));
            }
            txn.check(record_key.clone(), task.version);
            TaskRecord { status: reported, ..task.value.clone() }
        }
        _ => {
            // A task already reported ended, or whose framework was torn down, must not run on;
            // it holds its resources until it has stopped.
            if ended_before || facts.removed.contains(framework_id) {
                send_kill(txn, agent_id, framework_id, task_id, kill_grace(running));
            }
            txn.check(record_key.clone(), known.map_or(0, |k| k.version));
            if !facts.removed.contains(framework_id) {
                // A teardown meanwhile would leave this task running unkilled: start again.
                txn.check(key::removed(framework_id), 0);
            }
            if ended_before {
                // Live again: it must not be trimmed away with the ended tasks.
                txn.op(Op::ZRemove(key::TASKS_DONE.to_string(), member.clone()));
            }
            let mut record = adopted(running, agent_id, reported);
            if let Some(task) = known {
                // What the master launched, not what the agent says it was.
                record.info = task.value.info.clone();
            }
            record
        }
    };
    txn.put(record_key, encode(&record));
    txn.op(Op::SetAdd(key::TASKS.to_string(), member.clone()));
    txn.op(Op::SetAdd(key::framework_tasks(framework_id), task_id.to_string()));
    txn.op(Op::SetAdd(key::agent_tasks(agent_id), member));
}

/// Whether agent `agent_id` may report `task_key` at registration. An agent token speaks only
/// for its own tasks: a task the store has on this agent, or one of a framework the master
/// placed tasks on it. Otherwise a framework's share would grow by a task any agent claims.
///
/// After the store lost its state, it knows neither: the agent is then the only witness, as
/// in Mesos. Its report is taken for a framework the store has no record of (nobody's share
/// can change until the framework registers again), and for a framework that came back under
/// its id since `came_back_since` (the agents that lost it with the store come back then too).
fn may_report(
    agent_id: &AgentId,
    task_key: &TaskKey,
    known: Option<&Loaded<TaskRecord>>,
    placed_here: &HashSet<&FrameworkId>,
    facts: &FrameworkFacts,
    came_back_since: f64,
) -> Result<(), String> {
    let framework = &task_key.0;
    let known_here = known.is_some_and(|k| &k.value.info.agent_id == agent_id);
    let came_back = facts.came_back.get(framework).is_some_and(|at| *at >= came_back_since);
    if known_here || placed_here.contains(framework) || !facts.exists.contains(framework) || came_back {
        return Ok(());
    }
    Err(format!("framework {framework} has no task on this agent"))
}

/// The grace period of a kill for a task an agent reports, as it was launched with.
fn kill_grace(running: &agora_api::agent::RunningTask) -> f64 {
    running.task.kill_grace_period_secs.filter(|g| g.is_finite() && *g >= 0.0).unwrap_or(DEFAULT_KILL_GRACE_SECS)
}

/// An update nobody will acknowledge (its framework is gone): acknowledge it for them, so the
/// agent stops retrying.
fn ack_orphan_update(txn: &mut Txn, agent_id: &AgentId, update: &TaskStatus) {
    let Some(update_id) = update.update_id.clone() else { return };
    let command = AgentCommand::Acknowledge(AcknowledgeCommand {
        framework_id: update.framework_id.clone(),
        task_id: update.task_id.clone(),
        update_id,
    });
    push_command(txn, agent_id, &command);
}

/// The record of a task the store did not know, as its agent reports it. Its role and
/// reservation are not reported: it counts in its framework's first role, unreserved.
fn adopted(running: &agora_api::agent::RunningTask, agent_id: &AgentId, status: TaskStatus) -> TaskRecord {
    let mut info = running.task.clone();
    info.agent_id = agent_id.clone();
    TaskRecord {
        framework_id: running.framework_id.clone(),
        info,
        status,
        kill_requested: None,
        role: None,
        reservation: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_api::{Command, TaskInfo};

    fn record(framework: &str, task: &str, agent: &str) -> Loaded<TaskRecord> {
        let info = TaskInfo::new(task, AgentId::from(agent), Resources::new(1.0, 64.0), Command::Shell("true".into()));
        let framework_id = FrameworkId::from(framework);
        let status = status(&info, &framework_id, TaskState::Running, "", String::new());
        let value = TaskRecord { framework_id, info, status, kill_requested: None, role: None, reservation: None };
        Loaded { version: 1, value }
    }

    #[test]
    fn an_agent_may_report_only_its_own_tasks_or_those_of_frameworks_the_store_lost() {
        let here = AgentId::from("here");
        let (placed, lost, back_lately, back_long_ago, other) = (
            FrameworkId::from("placed"),
            FrameworkId::from("lost"),
            FrameworkId::from("back-lately"),
            FrameworkId::from("back-long-ago"),
            FrameworkId::from("other"),
        );
        let facts = FrameworkFacts {
            exists: [&placed, &back_lately, &back_long_ago, &other].into_iter().cloned().collect(),
            removed: HashSet::new(),
            came_back: [(back_lately.clone(), 1_000.0), (back_long_ago.clone(), 10.0)].into(),
            versions: Vec::new(),
        };
        let placed_here: HashSet<&FrameworkId> = [&placed].into();
        let check = |framework: &FrameworkId, known: Option<&Loaded<TaskRecord>>| {
            let task_key = (framework.clone(), TaskId::from("t"));
            may_report(&here, &task_key, known, &placed_here, &facts, 900.0)
        };
        assert_eq!(check(&placed, None), Ok(()), "a framework the master placed tasks on this agent");
        assert_eq!(check(&other, Some(&record("other", "t", "here"))), Ok(()), "a task the store has here");
        assert_eq!(check(&lost, None), Ok(()), "a framework the store has no record of");
        assert_eq!(check(&back_lately, None), Ok(()), "a framework back under its id within the window");
        let refused = "has no task on this agent";
        assert!(check(&back_long_ago, None).is_err_and(|e| e.contains(refused)), "back before the window");
        assert!(check(&other, None).is_err_and(|e| e.contains(refused)), "another framework's task");
        let elsewhere = record("other", "t", "there");
        assert!(check(&other, Some(&elsewhere)).is_err_and(|e| e.contains(refused)), "a task the store has elsewhere");
    }
}
