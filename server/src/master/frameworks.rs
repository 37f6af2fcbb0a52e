//! What frameworks do: register, subscribe, accept and decline offers, acknowledge, reconcile,
//! kill, tear down.

use super::records::{
    key, split_task_member, Filters, FrameworkConn, FrameworkRecord, Refusal, RemovedRecord, TaskRecord,
};
use super::*;
use agora_api::agent::{AcknowledgeCommand, KillCommand, LaunchCommand};
use agora_api::framework::{
    Accept, Acknowledge, Decline, Demand, FrameworkRegistered, Kill, Operation, Reconcile, Reconciled,
    RegisterFramework, Subscribed,
};
use agora_api::operator::{FrameworkEventData, OperatorEvent};
use agora_api::types::reason;
use agora_api::{Offer, OfferId, TaskId, Volume};
use std::collections::HashSet;

/// Framework ids the master's own schedulers use; no one else may register them.
const RESERVED_FRAMEWORK_PREFIX: &str = "agora-";

impl Master {
    /// Registers a framework, or a framework again after a failover (with its id). A framework
    /// token's framework may use only the roles the token names, and may not take the id of
    /// another principal's framework.
    pub async fn register_framework(
        &self,
        caller: &Caller,
        req: RegisterFramework,
    ) -> Result<FrameworkRegistered, ServerError> {
        if let Some(role) = req.roles.iter().find(|r| !caller.may_use_role(r)) {
            return Err(ServerError::Forbidden {
                message: format!("this token's frameworks may not register with role `{role}`"),
            });
        }
        if let Some(id) = &req.id {
            let scheduler =
                caller.kind == crate::auth::Kind::Operator && caller.principal == crate::services::PRINCIPAL;
            if id.as_str().starts_with(RESERVED_FRAMEWORK_PREFIX) && !scheduler {
                return Err(ServerError::Conflict {
                    code: "framework_id_taken",
                    message: format!("framework ids starting `{RESERVED_FRAMEWORK_PREFIX}` are the master's own"),
                });
            }
            // Ids are chosen by frameworks, so a taken one cannot pass for unknown.
            caller.check_acts_for_framework(id, self.framework_principal(id).await?.as_deref()).map_err(|_| {
                ServerError::Conflict {
                    code: "framework_id_taken",
                    message: format!("framework id {id} is taken: register without an id, or with another"),
                }
            })?;
        }
        let principal = caller.principal.as_str();
        check_name("name", &req.name)?;
        if req.roles.is_empty() || req.roles.len() > 64 {
            return Err(ServerError::bad("invalid_role", "a framework needs 1 to 64 roles"));
        }
        for role in &req.roles {
            check_role(role)?;
        }
        super::constraints::check_offer_settings(&req)?;
        if !req.failover_timeout_secs.is_finite() || req.failover_timeout_secs < 0.0 {
            return Err(ServerError::bad("invalid_timeout", "failover_timeout_secs must be a non-negative number"));
        }
        let id = match &req.id {
            Some(id) => {
                check_id("framework id", id.as_str())?;
                id.clone()
            }
            None => FrameworkId::random(),
        };
        let failover_timeout_secs = req.failover_timeout_secs.min(MAX_REFUSE_SECS);
        transact!(self, {
            let mut txn = Txn::default();
            if self.load::<RemovedRecord>(&key::removed(&id)).await?.is_some() {
                return Err(ServerError::Conflict {
                    code: "framework_removed",
                    message: format!("framework {id} was torn down; register without an id"),
                });
            }
            let existing = self.load::<FrameworkRecord>(&key::framework(&id)).await?;
            let record = match &existing {
                // Failover: same id, same tasks; the new settings apply from now on.
                Some(existing) => FrameworkRecord {
                    name: req.name.clone(),
                    roles: req.roles.clone(),
                    failover_timeout_secs,
                    capabilities: req.capabilities.clone(),
                    offer_constraints: req.offer_constraints.clone(),
                    offer_filters: req.offer_filters.clone(),
                    // Roles it no longer has are not suppressed any more.
                    suppressed_roles: existing
                        .value
                        .suppressed_roles
                        .iter()
                        .filter(|r| req.roles.contains(r))
                        .cloned()
                        .collect(),
                    // Likewise the demand it declared for roles it no longer has.
                    demand: existing
                        .value
                        .demand
                        .iter()
                        .filter(|d| d.role.as_ref().is_none_or(|r| req.roles.contains(r)))
                        .cloned()
                        .collect(),
                    ..existing.value.clone()
                },
                None => {
                    let added = FrameworkEventData { framework_id: id.clone(), name: req.name.clone() };
                    push_operator_event(&mut txn, &OperatorEvent::FrameworkAdded(added));
                    let conn = FrameworkConn { since: now_secs(), ..Default::default() };
                    txn.check(key::framework_conn(&id), 0).put(key::framework_conn(&id), encode(&conn));
                    txn.op(Op::SetAdd(key::FRAMEWORKS.to_string(), id.to_string()));
                    FrameworkRecord {
                        name: req.name.clone(),
                        roles: req.roles.clone(),
                        failover_timeout_secs,
                        capabilities: req.capabilities.clone(),
                        principal: principal.to_string(),
                        registered_at: now_secs(),
                        suppressed_roles: Default::default(),
                        offer_constraints: req.offer_constraints.clone(),
                        offer_filters: req.offer_filters.clone(),
                        came_back_at: req.id.is_some().then(now_secs),
                        demand: Vec::new(),
                    }
                }
            };
            txn.check(key::framework(&id), existing.map_or(0, |e| e.version));
            txn.check(key::removed(&id), 0);
            txn.put(key::framework(&id), encode(&record));
            Ok((txn, ()))
        })?;
        Ok(FrameworkRegistered {
            framework_id: id,
            heartbeat_interval_secs: self.config.heartbeat_interval.as_secs_f64(),
        })
    }

    pub(crate) async fn framework_record(&self, id: &FrameworkId) -> Result<Loaded<FrameworkRecord>, ServerError> {
        self.load(&key::framework(id))
            .await?
            .ok_or_else(|| ServerError::not_found("framework", "unknown_framework", id))
    }

    /// Opens a framework stream: returns the `subscribed` event, the position to read after
    /// (`None`: from the stream's start) and the connection's generation. `last_event_id`
    /// resumes; otherwise the stream starts now.
    pub async fn open_framework_stream(
        &self,
        caller: &Caller,
        id: &FrameworkId,
        last_event_id: Option<StreamId>,
    ) -> Result<(FrameworkEvent, Option<StreamId>, u64), ServerError> {
        self.check_acts_for(caller, id).await?;
        let heartbeat_interval_secs = self.config.heartbeat_interval.as_secs_f64();
        let events = key::framework_events(id);
        // A new subscription starts at the stream's end as it was before the connection is
        // recorded, so that nothing made for the connection (the offers of the round it
        // triggers) can slip in between.
        let position = match last_event_id {
            Some(id) => Some(id),
            None => self.store.last_id(&events).await?,
        };
        let generation = transact!(self, {
            let framework = self.framework_record(id).await?;
            let conn = self.load::<FrameworkConn>(&key::framework_conn(id)).await?;
            let (version, old) = conn.map(|c| (c.version, c.value)).unwrap_or_default();
            let new = FrameworkConn {
                generation: old.generation + 1,
                connected: true,
                ever_connected: true,
                since: now_secs(),
                replica: self.replica.clone(),
            };
            let mut txn = Txn::default();
            txn.check(key::framework(id), framework.version);
            txn.check(key::framework_conn(id), version).put(key::framework_conn(id), encode(&new));
            // Tell a replaced stream, on whichever replica, to end.
            txn.op(Op::Wake(events.clone()));
            wake_allocator(&mut txn);
            Ok((txn, new.generation))
        })?;
        let subscribed = FrameworkEvent::Subscribed(Subscribed { framework_id: id.clone(), heartbeat_interval_secs });
        Ok((subscribed, position, generation))
    }

    /// Opens the operator stream: the position to read after, `last_event_id` to resume or the
    /// stream's end to start now.
    pub async fn open_operator_stream(&self, last_event_id: Option<StreamId>) -> Result<Option<StreamId>, ServerError> {
        match last_event_id {
            Some(id) => Ok(Some(id)),
            None => Ok(self.store.last_id(&StreamKey::Operator.store_key()).await?),
        }
    }

    /// What wakes a reader of `stream` when something is appended to it.
    pub fn stream_notifier(&self, stream: &StreamKey) -> Arc<tokio::sync::Notify> {
        self.store.watch(&stream.store_key())
    }

    /// Reads a stream after `after`, or tells the stream to end.
    pub async fn read_stream(
        &self,
        stream: &StreamKey,
        generation: u64,
        after: Option<StreamId>,
        max: usize,
    ) -> Result<StreamRead, ServerError> {
        let (owner, conn) = match stream {
            StreamKey::Framework(id) => (key::framework(id), key::framework_conn(id)),
            StreamKey::Agent(id) => (key::agent(id), key::agent_conn(id)),
            // Anyone allowed to read may hold as many operator streams as they like.
            StreamKey::Operator => {
                return Ok(StreamRead::Events(self.store.read_stream(key::EVENTS, after, max).await?));
            }
        };
        let removed = match stream {
            StreamKey::Framework(id) => key::removed(id),
            _ => owner.clone(), // agents are not removed for good
        };
        let records = self.store.get(&[owner, conn.clone(), removed]).await?;
        if records[0].is_none() {
            let (code, message) = match stream {
                StreamKey::Framework(id) if records[2].is_some() => {
                    ("framework_removed", format!("framework {id} was torn down"))
                }
                // The store lost it: the framework registers again with its id and reconciles.
                StreamKey::Framework(id) => {
                    ("unknown_framework", format!("framework {id} is unknown: register again with its id"))
                }
                StreamKey::Agent(id) => ("unknown_agent", format!("agent {id} is unknown")),
                StreamKey::Operator => ("unknown_stream", "no such stream".to_string()),
            };
            return Ok(StreamRead::Ended { code, message });
        }
        // Both connection records start with the generation.
        #[derive(serde::Deserialize)]
        struct Generation {
            generation: u64,
        }
        let current = decode::<Generation>(&conn, records[1].clone())?.map_or(0, |g| g.value.generation);
        if current != generation {
            return Ok(StreamRead::Ended {
                code: "superseded",
                message: "a newer connection took over this stream".into(),
            });
        }
        let events = self.store.read_stream(&stream.store_key(), after, max).await?;
        // A full batch means the reader is far behind: make sure nothing it has not read was
        // trimmed away. An agent that missed commands must register again (see
        // `check_commands_kept`); a framework reconciles, so its stream just goes on.
        if events.len() == max {
            if let StreamKey::Agent(id) = stream {
                self.check_commands_kept(id, after).await?;
            }
        }
        Ok(StreamRead::Events(events))
    }

    /// Fails if commands after `after` were trimmed from the agent's stream (it kept its newest
    /// entries while the agent was away or behind). The agent then gets 404 and registers
    /// again, reporting what it runs: a lost launch becomes `gone`, a lost kill is sent again.
    pub(crate) async fn check_commands_kept(&self, id: &AgentId, after: Option<StreamId>) -> Result<(), ServerError> {
        let Some(after) = after else { return Ok(()) };
        let first = self.store.read_stream(&key::agent_commands(id), None, 1).await?;
        match first.first().and_then(|e| StreamId::parse(&e.id)) {
            Some(first) if first > after && after != StreamId::default() => Err(ServerError::NotFound {
                what: "command stream position",
                code: "commands_trimmed",
                id: format!("{after} (commands after it were trimmed; register again)"),
            }),
            _ => Ok(()),
        }
    }

    /// Called when a framework's stream connection ends: it is disconnected, and its offers go
    /// back to the pool, since it cannot use them.
    pub async fn close_stream(&self, stream: &StreamKey, generation: u64) -> Result<(), ServerError> {
        let StreamKey::Framework(id) = stream else { return Ok(()) };
        transact!(self, {
            let Some(conn) = self.load::<FrameworkConn>(&key::framework_conn(id)).await? else {
                return Ok((Txn::default(), ()));
            };
            if conn.value.generation != generation || !conn.value.connected {
                return Ok((Txn::default(), ()));
            }
            let mut txn = Txn::default();
            let new = FrameworkConn { connected: false, since: now_secs(), ..conn.value.clone() };
            txn.check(key::framework_conn(id), conn.version).put(key::framework_conn(id), encode(&new));
            for offer in self.framework_offers(id).await? {
                rescind_offer(&mut txn, &offer);
            }
            wake_allocator(&mut txn);
            Ok((txn, ()))
        })
    }

    /// The outstanding offers of a framework.
    pub(crate) async fn framework_offers(&self, id: &FrameworkId) -> Result<Vec<Loaded<Offer>>, ServerError> {
        let ids = self.store.members(&key::framework_offers(id)).await?;
        self.load_offers(&ids).await
    }

    pub(crate) async fn load_offers(&self, ids: &[String]) -> Result<Vec<Loaded<Offer>>, ServerError> {
        let keys: Vec<String> = ids.iter().map(key::offer).collect();
        Ok(self.load_many::<Offer>(&keys).await?.into_iter().flatten().collect())
    }

    /// Loads the offers named, checking each is outstanding and this framework's.
    pub(super) async fn load_own_offers(
        &self,
        framework_id: &FrameworkId,
        offer_ids: &[OfferId],
    ) -> Result<Vec<Loaded<Offer>>, ServerError> {
        let mut seen = HashSet::new();
        for offer_id in offer_ids {
            check_id("offer id", offer_id.as_str())?;
            if !seen.insert(offer_id) {
                return Err(ServerError::bad("duplicate_offer", format!("offer {offer_id} is listed twice")));
            }
        }
        let keys: Vec<String> = offer_ids.iter().map(key::offer).collect();
        let loaded = self.load_many::<Offer>(&keys).await?;
        offer_ids
            .iter()
            .zip(loaded)
            .map(|(offer_id, offer)| {
                offer.filter(|o| &o.value.framework_id == framework_id).ok_or_else(|| {
                    ServerError::bad(
                        "unknown_offer",
                        format!(
                            "offer {offer_id} is not outstanding for this framework: it was used, declined or rescinded"
                        ),
                    )
                })
            })
            .collect()
    }

    fn refuse_until(refuse_secs: Option<f64>) -> Result<Option<f64>, ServerError> {
        match refuse_secs {
            None => Ok(None),
            Some(s) if !s.is_finite() => Err(ServerError::bad("invalid_filter", "refuse_secs must be a finite number")),
            // Negative means the default, as in Mesos.
            Some(s) => {
                let secs = if s < 0.0 { DEFAULT_REFUSE_SECS } else { s.min(MAX_REFUSE_SECS) };
                Ok(Some(now_secs() + secs))
            }
        }
    }

    /// Adds refuse filters for `(role, agent)` pairs to a transaction.
    pub(super) async fn add_filters(
        &self,
        txn: &mut Txn,
        framework_id: &FrameworkId,
        until: Option<f64>,
        refused: impl IntoIterator<Item = (String, AgentId)>,
    ) -> Result<(), ServerError> {
        let Some(until) = until else { return Ok(()) };
        let loaded = self.load::<Filters>(&key::filters(framework_id)).await?;
        let (version, mut filters) = loaded.map(|l| (l.version, l.value)).unwrap_or_default();
        let now = now_secs();
        for agents in filters.roles.values_mut() {
            // Expired a while ago: every round since has seen it expired.
            agents.retain(|_, refusal| refusal.until > now - MAX_ROUND_GAP_SECS);
        }
        filters.roles.retain(|_, agents| !agents.is_empty());
        for (role, agent) in refused {
            filters.roles.entry(role).or_default().insert(agent, Refusal { until, since: now });
        }
        txn.check(key::filters(framework_id), version).put(key::filters(framework_id), encode(&filters));
        Ok(())
    }

    /// Fails unless the caller may act for the framework (see [`Caller::check_acts_for_framework`]).
    async fn check_acts_for(&self, caller: &Caller, id: &FrameworkId) -> Result<(), ServerError> {
        caller.check_acts_for_framework(id, self.framework_principal(id).await?.as_deref())
    }

    pub async fn accept(&self, caller: &Caller, framework_id: &FrameworkId, req: Accept) -> Result<(), ServerError> {
        self.accept_fenced(caller, framework_id, req, None).await
    }

    /// [`Master::accept`], committed only while the leader lease's epoch is `fence`: the
    /// master's own schedulers launch nothing once deposed.
    pub(crate) async fn accept_fenced(
        &self,
        caller: &Caller,
        framework_id: &FrameworkId,
        req: Accept,
        fence: Option<u64>,
    ) -> Result<(), ServerError> {
        self.check_acts_for(caller, framework_id).await?;
        caller.check_task_users(&req)?;
        if req.offer_ids.is_empty() {
            return Err(ServerError::bad("no_offers", "offer_ids must name at least one offer"));
        }
        let launches = req.operations.iter().filter(|op| matches!(op, Operation::Launch { .. })).count();
        if launches < req.operations.len() {
            if launches > 0 {
                return Err(ServerError::bad(
                    "mixed_operations",
                    "reserve, unreserve, create_volume and destroy_volume go in an accept of their own, without launches",
                ));
            }
            return self.apply_operations(framework_id, req).await;
        }
        let tasks: Vec<TaskInfo> = req
            .operations
            .into_iter()
            .flat_map(|op| match op {
                Operation::Launch { tasks } => tasks,
                _ => Vec::new(),
            })
            .collect();
        if tasks.len() > MAX_LAUNCH_BATCH {
            return Err(ServerError::bad(
                "too_many_tasks",
                format!("one accept launches at most {MAX_LAUNCH_BATCH} tasks"),
            ));
        }
        let refuse_until = Self::refuse_until(req.filters.refuse_secs)?;
        // Validate every task before reading anything: all or nothing.
        let mut wanted = Resources::default();
        let mut ids = HashSet::new();
        let mut volumes = HashSet::new();
        for task in &tasks {
            check_id("task id", task.task_id.as_str())?;
            check_id("agent id", task.agent_id.as_str())?;
            check_name("task name", &task.name)?;
            if !ids.insert(&task.task_id) {
                return Err(ServerError::bad("duplicate_task", format!("task id {} is already in use", task.task_id)));
            }
            validate_task(task)?;
            // Resources add ports as a set, so a port asked for twice would count once.
            if wanted.plus(&task.resources).port_count() != wanted.port_count() + task.resources.port_count() {
                return Err(ServerError::bad(
                    "duplicate_port",
                    format!("task {} asks for a port another task of this accept asks for", task.task_id),
                ));
            }
            wanted.add(&task.resources);
            for volume in &task.volumes {
                check_id("volume id", volume)?;
                if !volumes.insert(volume) {
                    return Err(ServerError::bad(
                        "volume_in_use",
                        format!("volume {volume} is named twice; one task at a time uses a volume"),
                    ));
                }
            }
        }
        let launched = tasks.len();
        transact!(self, {
            let framework = self.framework_record(framework_id).await?;
            let offers = self.load_own_offers(framework_id, &req.offer_ids).await?;
            let (agent_id, role) = (offers[0].value.agent_id.clone(), offers[0].value.role.clone());
            if offers.iter().any(|o| o.value.agent_id != agent_id) {
                return Err(ServerError::bad("offers_span_agents", "all offers of one accept must be on one agent"));
            }
            if offers.iter().any(|o| o.value.role != role) {
                return Err(ServerError::bad("offers_span_roles", "all offers of one accept must be for one role"));
            }
            let reservation = offers[0].value.reservation.clone();
            if offers.iter().any(|o| o.value.reservation != reservation) {
                return Err(ServerError::bad(
                    "offers_span_reservations",
                    "the offers of one accept must all be reserved to the same role, or all unreserved",
                ));
            }
            let mut offered = Resources::default();
            for offer in &offers {
                offered.add(&offer.value.resources);
            }
            let task_keys: Vec<String> = tasks.iter().map(|t| key::task(framework_id, &t.task_id)).collect();
            for (task, existing) in tasks.iter().zip(self.store.get(&task_keys).await?) {
                if existing.is_some() {
                    return Err(ServerError::bad(
                        "duplicate_task",
                        format!("task id {} is in use, or belonged to a task that ended; use a new id", task.task_id),
                    ));
                }
                if task.agent_id != agent_id {
                    return Err(ServerError::bad(
                        "wrong_agent",
                        format!("task {} names an agent the offers are not on", task.task_id),
                    ));
                }
            }
            self.check_containerizers(&agent_id, &tasks).await?;
            let offered_volumes: Vec<&Volume> = offers.iter().flat_map(|o| &o.value.volumes).collect();
            let mut mounts = Vec::new();
            for task in &tasks {
                mounts.push(volumes_of(task, &offered_volumes)?);
            }
            if !wanted.fits_in(&offered) {
                return Err(ServerError::bad(
                    "insufficient_resources",
                    format!("the tasks need {} but the offers hold {}", describe(&wanted), describe(&offered)),
                ));
            }
            let mut txn = Txn::default();
            // A teardown meanwhile must not leave tasks behind.
            txn.check(key::framework(framework_id), framework.version);
            for offer in &offers {
                drop_offer(&mut txn, offer);
            }
            for ((task, task_key), volumes) in tasks.iter().zip(&task_keys).zip(mounts) {
                txn.check(task_key.clone(), 0);
                let placement = Placement { role: &role, reservation: reservation.as_ref(), volumes };
                launch(&mut txn, framework_id, task.clone(), placement);
            }
            self.add_filters(&mut txn, framework_id, refuse_until, [(role, agent_id)]).await?;
            // What the tasks left unused goes back to the pool.
            wake_allocator(&mut txn);
            txn.checks.extend(fence.map(crate::store::Check::Epoch));
            Ok((txn, ()))
        })?;
        self.metrics.tasks_launched.inc_by(launched as u64);
        Ok(())
    }

    /// Refuses tasks whose container the agent cannot run, before they reach it.
    async fn check_containerizers(&self, agent_id: &AgentId, tasks: &[TaskInfo]) -> Result<(), ServerError> {
        if tasks.iter().all(|t| t.container.is_none()) {
            return Ok(());
        }
        let agent = self.load::<super::records::AgentRecord>(&key::agent(agent_id)).await?;
        let offered = agent.map(|a| a.value.containerizers).unwrap_or_default();
        for task in tasks {
            let wanted = task.container.as_ref().map_or(agora_api::Containerizer::Process, |c| c.kind);
            if !offered.contains(&wanted) {
                return Err(ServerError::bad(
                    "unsupported_container",
                    format!("task {}: agent {agent_id} has no {} containerizer", task.task_id, wanted.as_str()),
                ));
            }
        }
        Ok(())
    }

    pub async fn decline(&self, caller: &Caller, framework_id: &FrameworkId, req: Decline) -> Result<(), ServerError> {
        self.check_acts_for(caller, framework_id).await?;
        let until = Self::refuse_until(Some(req.filters.refuse_secs.unwrap_or(DEFAULT_REFUSE_SECS)))?;
        transact!(self, {
            self.framework_record(framework_id).await?;
            let offers = self.load_own_offers(framework_id, &req.offer_ids).await?;
            let mut txn = Txn::default();
            for offer in &offers {
                drop_offer(&mut txn, offer);
            }
            let refused = offers.iter().map(|o| (o.value.role.clone(), o.value.agent_id.clone()));
            self.add_filters(&mut txn, framework_id, until, refused).await?;
            wake_allocator(&mut txn);
            Ok((txn, ()))
        })
    }

    /// Sets whether a framework wants offers for `roles` (all of its roles when empty);
    /// reviving also clears the roles' refuse filters, as in Mesos.
    async fn set_suppressed(
        &self,
        framework_id: &FrameworkId,
        roles: &[String],
        suppressed: bool,
    ) -> Result<(), ServerError> {
        transact!(self, {
            let framework = self.framework_record(framework_id).await?;
            let named: Vec<String> = if roles.is_empty() { framework.value.roles.clone() } else { roles.to_vec() };
            if let Some(role) = named.iter().find(|r| !framework.value.roles.contains(r)) {
                return Err(ServerError::bad(
                    "invalid_role",
                    format!("the framework is not registered with role {}", role.escape_debug()),
                ));
            }
            let mut record = framework.value.clone();
            let mut txn = Txn::default();
            if suppressed {
                record.suppressed_roles.extend(named);
            } else {
                record.suppressed_roles.retain(|r| !named.contains(r));
                let filters = self.load::<Filters>(&key::filters(framework_id)).await?;
                if let Some(filters) = filters {
                    let mut kept = filters.value.clone();
                    kept.roles.retain(|role, _| !named.contains(role));
                    txn.check(key::filters(framework_id), filters.version);
                    txn.put(key::filters(framework_id), encode(&kept));
                }
                wake_allocator(&mut txn);
            }
            txn.check(key::framework(framework_id), framework.version);
            txn.put(key::framework(framework_id), encode(&record));
            Ok((txn, ()))
        })
    }

    pub async fn revive(
        &self,
        caller: &Caller,
        framework_id: &FrameworkId,
        roles: &[String],
    ) -> Result<(), ServerError> {
        self.check_acts_for(caller, framework_id).await?;
        self.set_suppressed(framework_id, roles, false).await
    }

    pub async fn suppress(
        &self,
        caller: &Caller,
        framework_id: &FrameworkId,
        roles: &[String],
    ) -> Result<(), ServerError> {
        self.check_acts_for(caller, framework_id).await?;
        self.set_suppressed(framework_id, roles, true).await
    }

    /// Replaces the work the framework declared waiting for resources (an empty list clears
    /// it). Kept on its record, so it goes with the framework.
    pub async fn set_demand(
        &self,
        caller: &Caller,
        framework_id: &FrameworkId,
        demand: Demand,
    ) -> Result<(), ServerError> {
        check_id("framework id", framework_id.as_str())?;
        self.check_acts_for(caller, framework_id).await?;
        check_demand(&demand)?;
        transact!(self, {
            let framework = self.framework_record(framework_id).await?;
            let roles = &framework.value.roles;
            if let Some(role) = demand.tasks.iter().filter_map(|d| d.role.as_ref()).find(|r| !roles.contains(r)) {
                return Err(ServerError::bad(
                    "invalid_role",
                    format!("the framework is not registered with role {}", role.escape_debug()),
                ));
            }
            let mut txn = Txn::default();
            // Declared again as it was: nothing to write (and no allocation round disturbed).
            if framework.value.demand == demand.tasks {
                return Ok((txn, ()));
            }
            let record = FrameworkRecord { demand: demand.tasks.clone(), ..framework.value.clone() };
            txn.check(key::framework(framework_id), framework.version);
            txn.put(key::framework(framework_id), encode(&record));
            Ok((txn, ()))
        })
    }

    pub async fn acknowledge(
        &self,
        caller: &Caller,
        framework_id: &FrameworkId,
        ack: Acknowledge,
    ) -> Result<(), ServerError> {
        self.check_acts_for(caller, framework_id).await?;
        check_id("task id", ack.task_id.as_str())?;
        check_id("agent id", ack.agent_id.as_str())?;
        check_id("update id", ack.update_id.as_str())?;
        let framework = self.framework_record(framework_id).await?;
        // A task the store no longer keeps (ended long ago, or lost) may still have an update the
        // agent resends until it is acknowledged: pass the acknowledgement on. The agent drops
        // it unless this framework's task on it sent that update.
        let task = self.load::<TaskRecord>(&key::task(framework_id, &ack.task_id)).await?;
        if task.is_some_and(|t| t.value.info.agent_id != ack.agent_id) {
            return Err(ServerError::not_found(
                "task",
                "unknown_task",
                format!("{} on agent {}", ack.task_id, ack.agent_id),
            ));
        }
        if self.store.get_one(&key::agent(&ack.agent_id)).await?.is_none() {
            return Err(ServerError::not_found("agent", "unknown_agent", &ack.agent_id));
        }
        self.command_budget.take(&framework.value.principal, &ack.agent_id)?;
        // The agent drops acknowledgements for updates it did not send (the master's own).
        let command = AgentCommand::Acknowledge(AcknowledgeCommand {
            framework_id: framework_id.clone(),
            task_id: ack.task_id,
            update_id: ack.update_id,
        });
        let mut txn = Txn::default();
        push_command(&mut txn, &ack.agent_id, &command);
        self.store.commit(&txn).await?;
        Ok(())
    }

    /// Acknowledges a burst of one framework's updates in one commit, with the checks of
    /// [`Master::acknowledge`]: for the master's own schedulers, whose updates come by the
    /// thousand. One that fails a check (its task moved, its agent is unknown, the agent's
    /// command budget is spent) is left out: its agent sends the update again.
    pub(crate) async fn acknowledge_all(
        &self,
        caller: &Caller,
        framework_id: &FrameworkId,
        acks: &[Acknowledge],
    ) -> Result<usize, ServerError> {
        self.check_acts_for(caller, framework_id).await?;
        let framework = self.framework_record(framework_id).await?;
        let valid = |a: &&Acknowledge| {
            agora_api::ids::is_valid_id(a.task_id.as_str())
                && agora_api::ids::is_valid_id(a.agent_id.as_str())
                && agora_api::ids::is_valid_id(a.update_id.as_str())
        };
        let acks: Vec<&Acknowledge> = acks.iter().filter(valid).collect();
        let task_keys: Vec<String> = acks.iter().map(|a| key::task(framework_id, &a.task_id)).collect();
        let tasks = self.load_many::<TaskRecord>(&task_keys).await?;
        let agent_ids: Vec<&AgentId> =
            acks.iter().map(|a| &a.agent_id).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
        let agent_keys: Vec<String> = agent_ids.iter().map(key::agent).collect();
        let known: HashSet<&AgentId> = agent_ids
            .iter()
            .zip(self.store.get(&agent_keys).await?)
            .filter(|(_, a)| a.is_some())
            .map(|(id, _)| *id)
            .collect();
        let mut txn = Txn::default();
        let mut sent = 0;
        for (ack, task) in acks.iter().zip(tasks) {
            let moved = task.is_some_and(|t| t.value.info.agent_id != ack.agent_id);
            if moved || !known.contains(&ack.agent_id) {
                continue;
            }
            if self.command_budget.take(&framework.value.principal, &ack.agent_id).is_err() {
                continue;
            }
            let command = AgentCommand::Acknowledge(AcknowledgeCommand {
                framework_id: framework_id.clone(),
                task_id: ack.task_id.clone(),
                update_id: ack.update_id.clone(),
            });
            push_command(&mut txn, &ack.agent_id, &command);
            sent += 1;
        }
        if sent > 0 {
            self.store.commit(&txn).await?;
        }
        Ok(sent)
    }

    pub async fn reconcile(
        &self,
        caller: &Caller,
        framework_id: &FrameworkId,
        req: Reconcile,
    ) -> Result<Reconciled, ServerError> {
        self.check_acts_for(caller, framework_id).await?;
        if req.tasks.len() > MAX_RECONCILE_TASKS {
            return Err(ServerError::bad(
                "too_many_tasks",
                format!("reconcile at most {MAX_RECONCILE_TASKS} tasks at once"),
            ));
        }
        for wanted in &req.tasks {
            check_id("task id", wanted.task_id.as_str())?;
            if let Some(agent_id) = &wanted.agent_id {
                check_id("agent id", agent_id.as_str())?;
            }
        }
        self.framework_record(framework_id).await?;
        let mut statuses = Vec::new();
        if req.tasks.is_empty() {
            let mut ids = self.store.members(&key::framework_tasks(framework_id)).await?;
            ids.sort();
            let keys: Vec<String> = ids.iter().map(|t| key::task(framework_id, t)).collect();
            statuses.extend(self.load_many::<TaskRecord>(&keys).await?.into_iter().flatten().map(|t| t.value.status));
        } else {
            let keys: Vec<String> = req.tasks.iter().map(|t| key::task(framework_id, &t.task_id)).collect();
            let loaded = self.load_many::<TaskRecord>(&keys).await?;
            for (wanted, task) in req.tasks.iter().zip(loaded) {
                statuses.push(match task {
                    Some(task) => task.value.status,
                    None => TaskStatus {
                        task_id: wanted.task_id.clone(),
                        framework_id: framework_id.clone(),
                        agent_id: wanted.agent_id.clone().unwrap_or_else(|| AgentId::from("unknown")),
                        state: TaskState::Unknown,
                        reason: Some(reason::RECONCILIATION.to_string()),
                        message: Some("the master knows no such task".to_string()),
                        exit_code: None,
                        healthy: None,
                        update_id: None,
                        timestamp: now_secs(),
                        latest_state: None,
                    },
                });
            }
        }
        for s in &mut statuses {
            s.reason = Some(reason::RECONCILIATION.to_string());
            s.update_id = None; // reconciliation answers are not acknowledged
        }
        Ok(Reconciled { statuses })
    }

    pub async fn kill(
        &self,
        caller: &Caller,
        framework_id: &FrameworkId,
        task_id: &TaskId,
        req: Kill,
    ) -> Result<(), ServerError> {
        self.check_acts_for(caller, framework_id).await?;
        if let Some(g) = req.grace_period_secs {
            if !g.is_finite() || g < 0.0 {
                return Err(ServerError::bad("invalid_grace", "grace_period_secs must be a non-negative number"));
            }
        }
        transact!(self, {
            let framework = self.framework_record(framework_id).await?;
            let task = self
                .load::<TaskRecord>(&key::task(framework_id, task_id))
                .await?
                .filter(|t| !t.value.status.state.is_terminal())
                .ok_or_else(|| ServerError::not_found("task", "unknown_task", task_id))?;
            self.command_budget.take(&framework.value.principal, &task.value.info.agent_id)?;
            let grace =
                req.grace_period_secs.or(task.value.info.kill_grace_period_secs).unwrap_or(DEFAULT_KILL_GRACE_SECS);
            let mut txn = Txn::default();
            request_kill(&mut txn, &task, grace);
            Ok((txn, ()))
        })
    }

    /// Kills many of a framework's tasks in one commit, with the grace period each was
    /// launched with, under the lease's epoch `fence`: for the master's own schedulers. Tasks
    /// that ended meanwhile are left out.
    pub(crate) async fn kill_all_fenced(
        &self,
        caller: &Caller,
        framework_id: &FrameworkId,
        task_ids: &[TaskId],
        fence: u64,
    ) -> Result<(), ServerError> {
        self.check_acts_for(caller, framework_id).await?;
        let keys: Vec<String> = task_ids.iter().map(|t| key::task(framework_id, t)).collect();
        transact!(self, {
            let framework = self.framework_record(framework_id).await?;
            let tasks = self.load_many::<TaskRecord>(&keys).await?;
            let mut txn = Txn::default();
            txn.checks.push(crate::store::Check::Epoch(fence));
            for task in tasks.into_iter().flatten().filter(|t| !t.value.status.state.is_terminal()) {
                if self.command_budget.take(&framework.value.principal, &task.value.info.agent_id).is_err() {
                    continue;
                }
                let grace = task.value.info.kill_grace_period_secs.unwrap_or(DEFAULT_KILL_GRACE_SECS);
                request_kill(&mut txn, &task, grace);
            }
            if txn.ops.is_empty() {
                txn.checks.clear();
            }
            Ok((txn, ()))
        })
    }

    /// Tears a framework down: kills its tasks, withdraws its offers and forgets it. A
    /// framework whose record is gone but whose tasks its agents report (after the store was
    /// lost) can be torn down too, so that its tasks need not run on for ever.
    /// Only an operator may tear down a framework that is not registered.
    pub async fn teardown(&self, caller: &Caller, framework_id: &FrameworkId) -> Result<(), ServerError> {
        if framework_id.as_str().starts_with(RESERVED_FRAMEWORK_PREFIX) {
            return Err(ServerError::Conflict {
                code: "framework_reserved",
                message: format!("framework {framework_id} is the master's own: delete its services instead"),
            });
        }
        let owner = self.framework_principal(framework_id).await?;
        caller.check_acts_for_framework(framework_id, owner.as_deref())?;
        if owner.is_none() && caller.kind != crate::auth::Kind::Operator {
            return Err(ServerError::not_found("framework", "unknown_framework", framework_id));
        }
        transact!(self, {
            let framework = self.load::<FrameworkRecord>(&key::framework(framework_id)).await?;
            // Offers before tasks: an accept that commits after this read deletes one of them,
            // and the check on its version makes this attempt start again with the new task.
            let offers = self.framework_offers(framework_id).await?;
            let tasks = self.framework_tasks(framework_id).await?;
            #[cfg(test)]
            self.pauses.point("teardown: tasks read").await;
            if framework.is_none() && tasks.is_empty() {
                return Err(ServerError::not_found("framework", "unknown_framework", framework_id));
            }
            // The connection's version too: the allocator bumps it with each offer it makes, so
            // an offer made after the read below makes this attempt start again.
            let conn = self.store.get_one(&key::framework_conn(framework_id)).await?;
            let mut txn = Txn::default();
            txn.check(key::framework(framework_id), framework.as_ref().map_or(0, |f| f.version));
            txn.check(key::framework_conn(framework_id), conn.map_or(0, |c| c.version));
            let name = framework.map(|f| f.value.name).unwrap_or_default();
            remove_framework(&mut txn, framework_id, &name, &offers, &tasks);
            Ok((txn, (name, tasks.len())))
        })
        .map(|(name, tasks)| tracing::info!(framework = %framework_id, %name, tasks, "framework removed"))
    }

    /// The framework's tasks that have not ended.
    pub(crate) async fn framework_tasks(&self, id: &FrameworkId) -> Result<Vec<Loaded<TaskRecord>>, ServerError> {
        let ids = self.store.members(&key::framework_tasks(id)).await?;
        let keys: Vec<String> = ids.iter().map(|t| key::task(id, t)).collect();
        Ok(self.load_many::<TaskRecord>(&keys).await?.into_iter().flatten().collect())
    }
}

/// Adds a framework's removal to a transaction. The caller checks the versions of the
/// framework's record and of its connection (which every offer made to it bumps), and read
/// `offers` before `tasks`.
pub(crate) fn remove_framework(
    txn: &mut Txn,
    framework_id: &FrameworkId,
    name: &str,
    offers: &[Loaded<Offer>],
    tasks: &[Loaded<TaskRecord>],
) {
    let removed = FrameworkEventData { framework_id: framework_id.clone(), name: name.to_string() };
    push_operator_event(txn, &OperatorEvent::FrameworkRemoved(removed));
    for offer in offers {
        drop_offer(txn, offer);
    }
    for task in tasks {
        let grace = task.value.info.kill_grace_period_secs.unwrap_or(DEFAULT_KILL_GRACE_SECS);
        request_kill(txn, task, grace);
    }
    txn.delete(key::framework(framework_id));
    txn.delete(key::framework_conn(framework_id));
    txn.delete(key::filters(framework_id));
    txn.delete(key::framework_offers(framework_id));
    txn.op(Op::SetRemove(key::FRAMEWORKS.to_string(), framework_id.to_string()));
    txn.put(key::removed(framework_id), encode(&RemovedRecord { removed_at: now_secs() }));
    txn.op(Op::ZAdd(key::REMOVED.to_string(), framework_id.to_string(), now_secs()));
    txn.op(Op::ZTrim {
        zset: key::REMOVED.to_string(),
        keep: REMOVED_FRAMEWORKS_KEPT,
        record_prefix: key::REMOVED_PREFIX.to_string(),
    });
    // Its streams end: they find the framework gone when woken.
    txn.delete(key::framework_events(framework_id));
    txn.op(Op::Wake(key::framework_events(framework_id)));
    wake_allocator(txn);
}

/// The most entries a declared demand has.
const MAX_DEMAND_ENTRIES: usize = 1_000;
/// The most tasks one entry of a demand counts.
const MAX_DEMAND_COUNT: u32 = 100_000;
/// The most constraints one entry of a demand names.
const MAX_DEMAND_CONSTRAINTS: usize = 16;

/// Checks a declared demand's shape: counts, resources, roles and constraints (which are kept
/// as given, not parsed).
fn check_demand(demand: &Demand) -> Result<(), ServerError> {
    let bad = |code, message: String| Err(ServerError::bad(code, message));
    if demand.tasks.len() > MAX_DEMAND_ENTRIES {
        return bad("invalid_demand", format!("a demand has at most {MAX_DEMAND_ENTRIES} entries"));
    }
    for (i, entry) in demand.tasks.iter().enumerate() {
        if !(1..=MAX_DEMAND_COUNT).contains(&entry.count) {
            return bad("invalid_demand", format!("entry {i}: count must be 1 to {MAX_DEMAND_COUNT}"));
        }
        if !entry.resources.is_well_formed() {
            return bad("invalid_resources", format!("entry {i}: resources must be finite and non-negative"));
        }
        if let Some(role) = &entry.role {
            check_role(role)?;
        }
        if entry.constraints.len() > MAX_DEMAND_CONSTRAINTS {
            return bad("invalid_constraint", format!("entry {i}: at most {MAX_DEMAND_CONSTRAINTS} constraints"));
        }
        for constraint in &entry.constraints {
            let parts_ok =
                constraint.iter().all(|p| p.chars().count() <= MAX_NAME_LEN && !p.chars().any(char::is_control));
            if !(2..=3).contains(&constraint.len()) || !parts_ok {
                return bad(
                    "invalid_constraint",
                    format!(
                        "entry {i}: a constraint is [field, OPERATOR] or [field, OPERATOR, value], each at most \
                         {MAX_NAME_LEN} characters"
                    ),
                );
            }
        }
    }
    Ok(())
}

/// The volumes a task names, from those its offers carry.
fn volumes_of(task: &TaskInfo, offered: &[&Volume]) -> Result<Vec<Volume>, ServerError> {
    let find = |id: &String| offered.iter().find(|v| &v.id == id).map(|v| (*v).clone());
    let volumes = task
        .volumes
        .iter()
        .map(|id| {
            find(id).ok_or_else(|| {
                ServerError::bad(
                    "unknown_volume",
                    format!("task {} names volume {id}, which the offers do not carry", task.task_id),
                )
            })
        })
        .collect::<Result<Vec<Volume>, ServerError>>()?;
    for (i, volume) in volumes.iter().enumerate() {
        let overlapping =
            volumes[..i].iter().find(|v| Volume::paths_overlap(&v.container_path, &volume.container_path));
        if let Some(other) = overlapping {
            return Err(ServerError::bad(
                "invalid_volume",
                format!(
                    "task {}: volumes {} and {} would appear one inside the other ({} and {})",
                    task.task_id, other.id, volume.id, other.container_path, volume.container_path
                ),
            ));
        }
    }
    Ok(volumes)
}

/// Where a launched task's resources come from.
struct Placement<'a> {
    role: &'a str,
    reservation: Option<&'a String>,
    volumes: Vec<Volume>,
}

/// Adds a task's launch to a transaction: its record, its sets, the agent's command and the
/// framework's `staging` update.
fn launch(txn: &mut Txn, framework_id: &FrameworkId, task: TaskInfo, placement: Placement) {
    let staging =
        status(&task, framework_id, TaskState::Staging, "launch", "the master sent the task to its agent".into());
    let member = key::task_member(framework_id, &task.task_id);
    let command = AgentCommand::Launch(LaunchCommand {
        framework_id: framework_id.clone(),
        task: task.clone(),
        volumes: placement.volumes,
    });
    push_command(txn, &task.agent_id, &command);
    push_update(txn, &staging, true);
    txn.op(Op::SetAdd(key::TASKS.to_string(), member.clone()));
    txn.op(Op::SetAdd(key::framework_tasks(framework_id), task.task_id.to_string()));
    txn.op(Op::SetAdd(key::agent_tasks(&task.agent_id), member));
    let task_key = key::task(framework_id, &task.task_id);
    let record = TaskRecord {
        framework_id: framework_id.clone(),
        info: task,
        status: staging,
        kill_requested: None,
        role: Some(placement.role.to_string()),
        reservation: placement.reservation.cloned(),
    };
    txn.put(task_key, encode(&record));
}

/// Adds a kill to a transaction: remembered on the task (sent again if the agent registers
/// again before acting on it) and sent to the agent.
pub(crate) fn request_kill(txn: &mut Txn, task: &Loaded<TaskRecord>, grace: f64) {
    let mut record = task.value.clone();
    record.kill_requested = Some(grace);
    let task_key = key::task(&record.framework_id, &record.info.task_id);
    txn.check(task_key.clone(), task.version).put(task_key, encode(&record));
    send_kill(txn, &record.info.agent_id, &record.framework_id, &record.info.task_id, grace);
}

pub(crate) fn send_kill(txn: &mut Txn, agent_id: &AgentId, framework_id: &FrameworkId, task_id: &TaskId, grace: f64) {
    let command = AgentCommand::Kill(KillCommand {
        framework_id: framework_id.clone(),
        task_id: task_id.clone(),
        grace_period_secs: grace,
    });
    push_command(txn, agent_id, &command);
}

/// A task member's framework and task ids, skipping malformed members.
pub(crate) fn task_keys(members: &[String]) -> Vec<(FrameworkId, TaskId)> {
    members.iter().filter_map(|m| split_task_member(m)).collect()
}
