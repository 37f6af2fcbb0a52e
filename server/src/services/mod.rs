//! The services scheduler: Marathon, built in (`docs/services.md`).
//!
//! It is a framework of the master's own (`agora-services`), run by the replica that holds the
//! allocator lease: it registers, subscribes to its event stream, accepts offers with
//! launches, kills and acknowledges through the same master operations as any framework, so
//! the allocator shares resources with it as with any other. Its launches and kills commit
//! only under the lease's epoch, so a deposed leader changes nothing.
//!
//! Each look is level-triggered: it reads the services, the framework's live tasks (the
//! instances) and its outstanding offers, plans each service ([`plan`]), places new instances
//! ([`placement`]), and acts. Nothing of a deployment's progress is kept but the instances
//! themselves, so a new leader resumes a deployment where the old one left it, without losing
//! or doubling instances.

// Marathon's constraints live in agora-api: the autoscaler simulates placement with them too.
pub use agora_api::constraints;
mod events;
pub mod placement;
pub mod plan;

use crate::error::ServerError;
use crate::master::records::{key, AgentRecord, BackoffState, FrameworkRecord, ServiceRecord, TaskRecord};
use crate::master::{Caller, Master, StreamKey};
use crate::store::{Check, Committed, Op, Txn};
use agora_api::framework::{Accept, Capability, Decline, Filters, Operation, RegisterFramework};
use agora_api::operator::OperatorEvent;
use agora_api::services::{DeploymentEvent, Endpoint, Endpoints, EndpointsEvent, ServiceSpec, TaskTemplate};
use agora_api::types::now_secs;
use agora_api::{AgentId, Command, FrameworkId, TaskId, TaskInfo, TaskState};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// The scheduler's framework id, and the principal it acts as. Ids starting `agora-` are the
/// master's own: no token of a user may register one.
pub const FRAMEWORK_ID: &str = "agora-services";
pub const PRINCIPAL: &str = "agora-services";
/// Labels every instance carries.
pub const LABEL_SERVICE: &str = "agora.service";
pub const LABEL_VERSION: &str = "agora.version";
pub const LABEL_LAUNCHED: &str = "agora.launched_at";
/// Changes within this window are served by one look.
const LOOK_BATCH: Duration = Duration::from_millis(20);
/// A look at least this often while leading, whatever happens.
const IDLE_LOOK: Duration = Duration::from_secs(5);
/// Instances killed in one commit.
const KILL_BATCH: usize = 100;
/// How long declined offers are refused while the role still wants more, and when it does not.
const REFUSE_WANTING_SECS: f64 = 1.0;
const REFUSE_IDLE_SECS: f64 = 5.0;

/// Runs the scheduler until `shutdown`: it acts only while this replica leads.
pub async fn run(master: Arc<Master>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let services_wake = master.store.watch(key::SERVICES_WAKE);
    let events_wake = master.store.watch(&key::framework_events(FRAMEWORK_ID));
    let mut scheduler = Scheduler::new(master);
    loop {
        // Listening before looking: a change during the look wakes the next one.
        let changed = services_wake.notified();
        let event = events_wake.notified();
        tokio::pin!(changed, event);
        changed.as_mut().enable();
        event.as_mut().enable();
        let next = scheduler.step().await;
        tokio::select! {
            _ = changed => {}
            _ = event => {}
            _ = tokio::time::sleep(next) => {}
            _ = shutdown.changed() => break,
        }
        tokio::time::sleep(LOOK_BATCH).await;
    }
    scheduler.stop().await;
}

/// The framework's event stream as this leader holds it.
struct Session {
    epoch: u64,
    generation: u64,
    reader: events::EventReader,
}

struct Scheduler {
    master: Arc<Master>,
    caller: Caller,
    framework_id: FrameworkId,
    session: Option<Session>,
    /// Per role, the launches wanted and not placed at the last look: more than before means
    /// new demand, and filters from earlier declines are cleared (a revive).
    unplaced: BTreeMap<String, u32>,
    /// The endpoints last announced, per service.
    endpoints: HashMap<String, Endpoints>,
    /// Readiness probes: those under way, and when each instance was last probed.
    probing: Arc<std::sync::Mutex<HashSet<TaskId>>>,
    probed: HashMap<TaskId, std::time::Instant>,
    http: reqwest::Client,
}

/// A service and what the look found of it.
struct Look {
    id: String,
    record: ServiceRecord,
    version: crate::store::Version,
    instances: Vec<(plan::Instance, Arc<TaskRecord>)>,
    plan: plan::Plan,
    placed: u32,
    failures: Vec<Failure>,
    ready: Ready,
}

/// An instance's end that counts for its service's backoff.
#[derive(Clone, Debug)]
struct Failure {
    version: u64,
    /// What happened, to show.
    text: String,
}

impl Scheduler {
    fn new(master: Arc<Master>) -> Scheduler {
        Scheduler {
            master,
            caller: Caller::operator(PRINCIPAL),
            framework_id: FrameworkId::from(FRAMEWORK_ID),
            session: None,
            unplaced: BTreeMap::new(),
            endpoints: HashMap::new(),
            probing: Default::default(),
            probed: HashMap::new(),
            // Readiness checks are answered by the instance itself: no redirects are followed.
            http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap_or_default(),
        }
    }

    /// One look if this replica leads; returns how long to wait at most before the next.
    async fn step(&mut self) -> Duration {
        let Some(epoch) = self.master.leading_epoch() else {
            if self.session.is_some() {
                self.stop().await;
            }
            return self.master.config.lease_ttl / 3;
        };
        match self.look(epoch).await {
            Ok(next) => next,
            Err(e) => {
                tracing::warn!(error = %e, "the services scheduler's look failed");
                Duration::from_secs(1)
            }
        }
    }

    /// Closes the stream, so another replica's scheduler is offered what this one held.
    async fn stop(&mut self) {
        if let Some(session) = self.session.take() {
            let stream = StreamKey::Framework(self.framework_id.clone());
            if let Err(e) = self.master.close_stream(&stream, session.generation).await {
                tracing::debug!(error = %e, "could not close the services scheduler's stream");
            }
        }
        self.endpoints.clear();
    }

    /// Registers the framework with the roles the services need, and opens its stream.
    async fn open(&mut self, epoch: u64, roles: Vec<String>) -> Result<(), ServerError> {
        self.register(roles).await?;
        let (_, position, generation) =
            self.master.open_framework_stream(&self.caller, &self.framework_id, None).await?;
        tracing::info!(epoch, "the services scheduler is subscribed");
        let reader = events::EventReader::start(
            self.master.clone(),
            self.caller.clone(),
            self.framework_id.clone(),
            generation,
            position,
        );
        self.session = Some(Session { epoch, generation, reader });
        self.endpoints.clear();
        Ok(())
    }

    async fn register(&self, roles: Vec<String>) -> Result<(), ServerError> {
        let registration = RegisterFramework {
            id: Some(self.framework_id.clone()),
            name: "services".to_string(),
            roles,
            // Its tasks outlive any gap between leaders.
            failover_timeout_secs: 31_536_000.0,
            capabilities: vec![Capability::PartitionAware, Capability::TaskKillingState],
            offer_constraints: Default::default(),
            offer_filters: Default::default(),
        };
        self.master.register_framework(&self.caller, registration).await?;
        Ok(())
    }

    async fn look(&mut self, epoch: u64) -> Result<Duration, ServerError> {
        let services = self.master.load_services().await?;
        // Registered only once a service is made: a cluster without services has no
        // framework of the master's own in its lists and metrics.
        if services.is_empty() && self.session.is_none() {
            let registered = self.master.load::<FrameworkRecord>(&key::framework(FRAMEWORK_ID)).await?;
            if registered.is_none() {
                return Ok(IDLE_LOOK);
            }
        }
        let mut roles: Vec<String> = services.iter().map(|(_, s)| s.value.spec.role.clone()).collect();
        roles.push(agora_api::types::DEFAULT_ROLE.to_string());
        roles.sort();
        roles.dedup();
        if self.session.as_ref().is_some_and(|s| s.reader.ended()) {
            self.session = None;
        }
        if self.session.as_ref().is_none_or(|s| s.epoch != epoch) {
            self.open(epoch, roles.clone()).await?;
        }
        let framework: FrameworkRecord = self.master.framework_record(&self.framework_id).await?.value;
        if framework.principal != PRINCIPAL {
            return Err(ServerError::Internal(format!(
                "framework {FRAMEWORK_ID} belongs to principal {}, not the services scheduler",
                framework.principal
            )));
        }
        if framework.roles != roles {
            self.register(roles).await?;
        }
        let failures = self.session.as_ref().map(|s| s.reader.take_failures()).unwrap_or_default();
        let now = now_secs();

        // The instances, by service.
        let mut ready: HashMap<String, Ready> = HashMap::new();
        for (id, service) in &services {
            ready.insert(id.clone(), load_ready(&self.master, id, &service.value.spec).await?);
        }
        let tasks = self.master.framework_tasks(&self.framework_id).await?;
        let mut by_service: HashMap<String, Vec<(plan::Instance, Arc<TaskRecord>)>> = HashMap::new();
        for task in tasks {
            let record = Arc::new(task.value);
            let service = record.info.labels.get(LABEL_SERVICE);
            let ready = service.and_then(|s| ready.get(s)).unwrap_or(&None);
            if let Some((service, instance)) = instance_of(&record, ready) {
                by_service.entry(service).or_default().push((instance, record));
            }
        }
        let mut looks: Vec<Look> = services
            .into_iter()
            .map(|(id, loaded)| {
                let instances = by_service.remove(&id).unwrap_or_default();
                let failures = failures.get(&id).cloned().unwrap_or_default();
                let ready = ready.remove(&id).unwrap_or_default();
                Look {
                    id,
                    record: loaded.value,
                    version: loaded.version,
                    instances,
                    plan: Default::default(),
                    placed: 0,
                    failures,
                    ready,
                }
            })
            .collect();
        // Instances of a service that is no longer there.
        let strays: Vec<TaskId> =
            by_service.into_values().flatten().filter(|(i, _)| !i.killing).map(|(i, _)| i.task_id).collect();

        let mut next_due: Option<f64> = None;
        for look in &mut looks {
            let failures = std::mem::take(&mut look.failures);
            note_failures(&mut look.record, &failures, now);
            let instances: Vec<plan::Instance> = look.instances.iter().map(|(i, _)| i.clone()).collect();
            let r = &look.record;
            look.plan = plan::plan(&r.spec, r.version, r.deleting, r.backoff.until, &instances, now);
            look.failures = failures;
            if let Some(due) = look.plan.next_due {
                next_due = Some(next_due.map_or(due, |d: f64| d.min(due)));
            }
        }

        let kills: Vec<TaskId> = looks.iter().flat_map(|l| l.plan.kill.iter()).chain(&strays).cloned().collect();
        // In batches: one commit each, small enough not to keep meeting the agents' updates.
        for batch in kills.chunks(KILL_BATCH) {
            if let Err(e) = self.master.kill_all_fenced(&self.caller, &self.framework_id, batch, epoch).await {
                tracing::debug!(tasks = batch.len(), error = %e, "could not kill instances");
            }
        }
        let agents = self.instance_agents(&looks).await?;
        self.launch(epoch, &mut looks, &agents).await?;
        if let Some(interval) = self.probe(epoch, &looks, &agents) {
            next_due = Some(next_due.map_or(now + interval, |d| d.min(now + interval)));
        }
        self.announce(epoch, &mut looks, &agents, now).await?;
        let wait = next_due.map_or(IDLE_LOOK, |due| Duration::from_secs_f64((due - now).clamp(0.05, 5.0)));
        Ok(wait)
    }

    /// Places the launches the plans want on the outstanding offers, accepts them, declines
    /// the rest, and suppresses or revives roles by what is still wanted.
    async fn launch(
        &mut self,
        epoch: u64,
        looks: &mut [Look],
        agents: &HashMap<AgentId, AgentRecord>,
    ) -> Result<(), ServerError> {
        let offers = self.master.framework_offers(&self.framework_id).await?;
        let mut slots: Vec<placement::Slot> = Vec::new();
        for offer in offers {
            let o = offer.value;
            let existing = slots
                .iter_mut()
                .find(|s| s.agent_id == o.agent_id && s.role == o.role && s.reservation == o.reservation);
            match existing {
                Some(slot) => {
                    slot.free.add(&o.resources);
                    slot.offer_ids.push(o.id);
                }
                None => slots.push(placement::Slot {
                    agent_id: o.agent_id,
                    hostname: o.hostname,
                    attributes: o.attributes,
                    role: o.role,
                    reservation: o.reservation,
                    offer_ids: vec![o.id],
                    free: o.resources,
                }),
            }
        }
        let parsed: Vec<Vec<constraints::Constraint>> =
            looks.iter().map(|l| constraints::parse_all(&l.record.spec.constraints).unwrap_or_default()).collect();
        let mut demands: Vec<placement::Demand> = looks
            .iter()
            .zip(&parsed)
            .map(|(l, constraints)| placement::Demand {
                role: &l.record.spec.role,
                resources: l.record.spec.task.resources.without_ports(),
                ports: l.record.spec.task.ports.len(),
                constraints,
                count: l.plan.launch,
                placed: l
                    .instances
                    .iter()
                    .filter(|(i, _)| !i.killing)
                    .filter_map(|(_, t)| agents.get(&t.info.agent_id))
                    .map(|a| (a.hostname.clone(), a.attributes.clone()))
                    .collect(),
            })
            .collect();
        let placements = placement::place(&mut demands, &mut slots);
        drop(demands);

        // One accept per slot used.
        let mut launches: BTreeMap<usize, Vec<TaskInfo>> = BTreeMap::new();
        let now = now_secs();
        for p in &placements {
            let look = &looks[p.demand];
            let task = instance_task(&look.id, &look.record, &slots[p.slot].agent_id, &p.ports, now);
            launches.entry(p.slot).or_default().push(task);
        }
        let mut placed = vec![0u32; looks.len()];
        for p in &placements {
            placed[p.demand] += 1;
        }
        for (slot, tasks) in launches {
            let accept = Accept {
                offer_ids: slots[slot].offer_ids.clone(),
                operations: vec![Operation::Launch { tasks }],
                filters: Filters { refuse_secs: Some(0.0) },
            };
            if let Err(e) = self.master.accept_fenced(&self.caller, &self.framework_id, accept, Some(epoch)).await {
                tracing::info!(agent = %slots[slot].agent_id, error = %e, "could not launch instances");
                for p in placements.iter().filter(|p| p.slot == slot) {
                    placed[p.demand] -= 1;
                }
            }
        }
        let mut wanted: BTreeMap<String, u32> = BTreeMap::new();
        for (look, placed) in looks.iter_mut().zip(placed) {
            look.placed = placed;
            let left = look.plan.launch - placed;
            *wanted.entry(look.record.spec.role.clone()).or_default() += left;
        }
        let used: BTreeSet<usize> = placements.iter().map(|p| p.slot).collect();
        for (i, slot) in slots.iter().enumerate().filter(|(i, _)| !used.contains(i)) {
            let wanting = wanted.get(&slot.role).is_some_and(|n| *n > 0);
            let refuse_secs = if wanting { REFUSE_WANTING_SECS } else { REFUSE_IDLE_SECS };
            let decline =
                Decline { offer_ids: slot.offer_ids.clone(), filters: Filters { refuse_secs: Some(refuse_secs) } };
            if let Err(e) = self.master.decline(&self.caller, &self.framework_id, decline).await {
                tracing::debug!(slot = i, error = %e, "could not decline offers");
            }
        }
        self.suppress_or_revive(&wanted).await
    }

    /// Offers only for roles with launches waiting; a role whose wait grew gets its filters
    /// cleared, so that agents declined a moment ago are offered again at once.
    async fn suppress_or_revive(&mut self, wanted: &BTreeMap<String, u32>) -> Result<(), ServerError> {
        let framework = self.master.framework_record(&self.framework_id).await?.value;
        for role in &framework.roles {
            let now = wanted.get(role).copied().unwrap_or(0);
            let before = self.unplaced.get(role).copied().unwrap_or(0);
            let suppressed = framework.suppressed_roles.contains(role);
            let roles = std::slice::from_ref(role);
            if now > 0 && (suppressed || now > before) {
                self.master.revive(&self.caller, &self.framework_id, roles).await?;
            } else if now == 0 && !suppressed {
                self.master.suppress(&self.caller, &self.framework_id, roles).await?;
            }
        }
        self.unplaced = wanted.clone();
        Ok(())
    }

    /// Starts the readiness probes that are due: each running, healthy instance that has not
    /// answered ready yet, once per interval. A probe that finds it ready marks it so in the
    /// store (under the lease's epoch) and wakes the next look. Returns the shortest interval
    /// of a probe still wanted, to look again then.
    fn probe(&mut self, epoch: u64, looks: &[Look], agents: &HashMap<AgentId, AgentRecord>) -> Option<f64> {
        let wanted = looks.iter().any(|l| {
            l.record.spec.readiness_check.is_some()
                && l.instances.iter().any(|(i, t)| !i.killing && !i.healthy && is_ready(t))
        });
        if !wanted {
            self.probed.clear();
            return None;
        }
        let now = std::time::Instant::now();
        let mut again: Option<f64> = None;
        let mut still_wanted = HashSet::new();
        for look in looks {
            let (Some(check), Some(ready)) = (&look.record.spec.readiness_check, &look.ready) else { continue };
            let Some(index) = look.record.spec.task.ports.iter().position(|p| p.name == check.port_name) else {
                continue;
            };
            for (instance, task) in &look.instances {
                let id = &instance.task_id;
                if instance.killing || ready.contains(id.as_str()) || !is_ready(task) {
                    continue;
                }
                still_wanted.insert(id.clone());
                again = Some(again.map_or(check.interval_secs, |a| a.min(check.interval_secs)));
                let recent =
                    self.probed.get(id).is_some_and(|at| now.duration_since(*at).as_secs_f64() < check.interval_secs);
                if recent || self.probing.lock().unwrap_or_else(|p| p.into_inner()).contains(id) {
                    continue;
                }
                let Some(port) = host_ports(&task.info).nth(index) else { continue };
                // Only the address the agent connected from: never the hostname it names itself,
                // which would let an agent token point the master's requests anywhere.
                let Some(address) = agents.get(&task.info.agent_id).and_then(|a| a.address) else { continue };
                let host = match address {
                    std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                    ip => ip.to_string(),
                };
                let url = format!("http://{host}:{port}{}", check.path);
                self.probed.insert(id.clone(), now);
                self.probing.lock().unwrap_or_else(|p| p.into_inner()).insert(id.clone());
                let probe = Probe {
                    master: self.master.clone(),
                    http: self.http.clone(),
                    probing: self.probing.clone(),
                    ready_key: key::service_ready(&look.id),
                    task_id: id.clone(),
                    url,
                    timeout: Duration::from_secs_f64(check.timeout_secs),
                    codes: check.http_status_codes_for_ready.clone(),
                    epoch,
                };
                tokio::spawn(probe.run());
            }
        }
        self.probed.retain(|id, _| still_wanted.contains(id));
        again
    }

    /// The agents the instances run on, for their hostnames and attributes.
    async fn instance_agents(&self, looks: &[Look]) -> Result<HashMap<AgentId, AgentRecord>, ServerError> {
        let ids: BTreeSet<&AgentId> =
            looks.iter().flat_map(|l| l.instances.iter().map(|(_, t)| &t.info.agent_id)).collect();
        let ids: Vec<&AgentId> = ids.into_iter().collect();
        let keys: Vec<String> = ids.iter().map(key::agent).collect();
        let records = self.master.load_many::<AgentRecord>(&keys).await?;
        Ok(ids.into_iter().zip(records).filter_map(|(id, r)| r.map(|r| (id.clone(), r.value))).collect())
    }

    /// Writes what changed of each service: its backoff, what waits, its deployment's
    /// progress or end, its removal once deleted; and the endpoints that changed.
    async fn announce(
        &mut self,
        epoch: u64,
        looks: &mut [Look],
        agents: &HashMap<AgentId, AgentRecord>,
        now: f64,
    ) -> Result<(), ServerError> {
        for look in looks.iter_mut() {
            let mut txn = Txn::default();
            txn.checks.push(Check::Epoch(epoch));
            let before = look.record.clone();
            let record = &mut look.record;
            let unplaced = look.plan.launch - look.placed;
            let mut changed = !look.failures.is_empty() || record.unplaced != unplaced;
            record.unplaced = unplaced;
            if record.backoff.failures > 0
                && now > record.backoff.until + record.spec.backoff.max_launch_delay_secs
                && look.failures.is_empty()
            {
                record.backoff = BackoffState::default();
                changed = true;
            }
            let mut removed = false;
            if let Some(deployment) = record.deployment.as_mut() {
                let stop_target = *deployment.stop_target.get_or_insert(look.plan.left_to_stop);
                let progress = (look.plan.new_healthy, look.plan.left_to_stop.min(stop_target));
                if look.plan.done
                    || progress != deployment.announced
                    || before.deployment.as_ref().is_some_and(|d| d.stop_target.is_none())
                {
                    changed = true;
                }
                if progress != deployment.announced {
                    deployment.announced = progress;
                    let view = crate::master::deployment_view(&look.id, deployment, progress);
                    let event = OperatorEvent::DeploymentStep(DeploymentEvent { deployment: view, reason: None });
                    txn.append(key::EVENTS, event.name(), event.data());
                }
            }
            if look.plan.done {
                if let Some(deployment) = record.deployment.take() {
                    let view = crate::master::deployment_view(&look.id, &deployment, deployment.announced);
                    let event = OperatorEvent::DeploymentFinished(DeploymentEvent { deployment: view, reason: None });
                    txn.append(key::EVENTS, event.name(), event.data());
                    tracing::info!(service = %look.id, version = record.version, "deployment finished");
                }
                if record.deleting {
                    removed = true;
                    let event = OperatorEvent::ServiceUpdated(agora_api::services::ServiceEvent {
                        service_id: look.id.clone(),
                        version: record.version,
                        change: "deleted".into(),
                    });
                    txn.append(key::EVENTS, event.name(), event.data());
                }
            }
            if changed || removed {
                txn.check(key::service(&look.id), look.version);
                if removed {
                    txn.delete(key::service(&look.id));
                    txn.delete(key::service_ready(&look.id));
                    txn.op(Op::SetRemove(key::SERVICES.to_string(), look.id.clone()));
                } else {
                    txn.put(
                        key::service(&look.id),
                        serde_json::to_vec(&*record).map_err(|e| ServerError::Internal(e.to_string()))?,
                    );
                }
            }
            // Endpoints: the ready instances, announced when they change.
            let tasks = look.instances.iter().map(|(_, t)| t.as_ref());
            let endpoints = endpoints_of(&look.id, &record.spec, tasks, agents, &look.ready);
            // Readiness of instances that ended is forgotten.
            if let Some(ready) = &look.ready {
                let live: HashSet<&str> = look.instances.iter().map(|(i, _)| i.task_id.as_str()).collect();
                for stale in ready.iter().filter(|t| !live.contains(t.as_str())) {
                    txn.op(Op::SetRemove(key::service_ready(&look.id), stale.clone()));
                }
            }
            let announced = self.endpoints.get(&look.id).map_or(&[][..], |e| &e.endpoints[..]);
            let by_task = |list: &[Endpoint]| -> HashMap<TaskId, Endpoint> {
                list.iter().map(|e| (e.task_id.clone(), e.clone())).collect()
            };
            let (before, after) = (by_task(announced), by_task(&endpoints.endpoints));
            let changed = |from: &HashMap<TaskId, Endpoint>, to: &HashMap<TaskId, Endpoint>| -> Vec<Endpoint> {
                to.values().filter(|e| from.get(&e.task_id) != Some(*e)).cloned().collect()
            };
            let (added, gone) = (changed(&before, &after), changed(&after, &before));
            if !added.is_empty() || !gone.is_empty() {
                let change = EndpointsEvent { service_id: look.id.clone(), added, removed: gone };
                let event = OperatorEvent::EndpointsChanged(change);
                txn.append(key::EVENTS, event.name(), event.data());
            }
            if txn.ops.is_empty() {
                continue;
            }
            match self.master.store.commit(&txn).await? {
                Committed::Done(_) => {
                    if removed {
                        self.endpoints.remove(&look.id);
                    } else {
                        self.endpoints.insert(look.id.clone(), endpoints);
                    }
                }
                // A change by the API meanwhile: it woke the next look, which starts again.
                Committed::Conflict => tracing::debug!(service = %look.id, "the service changed meanwhile"),
            }
        }
        Ok(())
    }
}

/// One readiness probe of one instance.
struct Probe {
    master: Arc<Master>,
    http: reqwest::Client,
    probing: Arc<std::sync::Mutex<HashSet<TaskId>>>,
    ready_key: String,
    task_id: TaskId,
    url: String,
    timeout: Duration,
    codes: Vec<u16>,
    epoch: u64,
}

impl Probe {
    async fn run(self) {
        let answer = self.http.get(&self.url).timeout(self.timeout).send().await;
        let ready = answer.as_ref().is_ok_and(|r| self.codes.contains(&r.status().as_u16()));
        tracing::debug!(task = %self.task_id, url = %self.url, ready, "readiness probe");
        if ready {
            let mut txn = Txn::default();
            txn.checks.push(Check::Epoch(self.epoch));
            txn.op(Op::SetAdd(self.ready_key.clone(), self.task_id.to_string()));
            txn.op(Op::Wake(key::SERVICES_WAKE.to_string()));
            if let Err(e) = self.master.store.commit(&txn).await {
                tracing::debug!(task = %self.task_id, error = %e, "could not mark an instance ready");
            }
        }
        self.probing.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.task_id);
    }
}

/// Counts failures of the current version in the backoff.
fn note_failures(record: &mut ServiceRecord, failures: &[Failure], now: f64) {
    for failure in failures {
        if failure.version != record.version || record.deleting {
            continue;
        }
        let b = &mut record.backoff;
        let policy = &record.spec.backoff;
        b.delay_secs = if b.failures == 0 {
            policy.seconds
        } else {
            (b.delay_secs * policy.factor).min(policy.max_launch_delay_secs)
        };
        b.failures += 1;
        b.until = now + b.delay_secs;
        b.last_failure = Some(failure.text.clone());
    }
}

/// The host ports a task was given, in order.
pub(crate) fn host_ports(task: &TaskInfo) -> impl Iterator<Item = u16> + '_ {
    task.resources.ports.iter().flat_map(|[low, high]| *low..=*high)
}

/// The instances of a service that passed its readiness check (task ids); `None` when it
/// has no readiness check.
pub(crate) type Ready = Option<HashSet<String>>;

/// The ready instances of a service, from the store.
pub(crate) async fn load_ready(master: &Master, id: &str, spec: &ServiceSpec) -> Result<Ready, ServerError> {
    if spec.readiness_check.is_none() {
        return Ok(None);
    }
    Ok(Some(master.store.members(&key::service_ready(id)).await?.into_iter().collect()))
}

/// Whether an instance counts: running, healthy, and ready where its service checks readiness.
pub(crate) fn counts(task: &TaskRecord, ready: &Ready) -> bool {
    is_ready(task) && ready.as_ref().is_none_or(|r| r.contains(task.info.task_id.as_str()))
}

/// An instance, as the plan sees it, from its task; `None` for a task that is not one.
pub(crate) fn instance_of(task: &TaskRecord, ready: &Ready) -> Option<(String, plan::Instance)> {
    let labels = &task.info.labels;
    let service = labels.get(LABEL_SERVICE)?.clone();
    let version = labels.get(LABEL_VERSION)?.parse().ok()?;
    let launched_at = labels.get(LABEL_LAUNCHED).and_then(|t| t.parse().ok()).unwrap_or(0.0);
    let state = task.status.state;
    let instance = plan::Instance {
        task_id: task.info.task_id.clone(),
        version,
        state,
        healthy: counts(task, ready),
        killing: task.kill_requested.is_some() || state == TaskState::Killing,
        unreachable_since: matches!(state, TaskState::Unreachable | TaskState::Lost).then_some(task.status.timestamp),
        launched_at,
    };
    Some((service, instance))
}

/// Running, and passing its health check if it has one.
pub(crate) fn is_ready(task: &TaskRecord) -> bool {
    task.status.state == TaskState::Running
        && task.kill_requested.is_none()
        && (task.info.health_check.is_none() || task.status.healthy == Some(true))
}

/// The task of a new instance of `service` on `agent_id`, with `ports`.
pub(crate) fn instance_task(
    service: &str,
    record: &ServiceRecord,
    agent_id: &AgentId,
    ports: &[u16],
    now: f64,
) -> TaskInfo {
    let template: &TaskTemplate = &record.spec.task;
    let short = &agora_api::TaskId::random().0[..13];
    let mut resources = template.resources.without_ports();
    resources.ports = ports.iter().map(|p| [*p, *p]).collect();
    let command = template.command.clone().unwrap_or(Command::Argv(Vec::new()));
    let mut task =
        TaskInfo::new(&format!("{service}.{}", short.replace('-', "")), agent_id.clone(), resources, command)
            .name(service);
    task.env = template.env.clone();
    task.env.insert("AGORA_SERVICE".into(), service.to_string());
    task.env.insert("AGORA_SERVICE_VERSION".into(), record.version.to_string());
    for (port, value) in template.ports.iter().zip(ports) {
        task.env.insert(format!("PORT_{}", port.name.to_ascii_uppercase().replace('-', "_")), value.to_string());
    }
    task.labels = template.labels.clone();
    task.labels.insert(LABEL_SERVICE.into(), service.to_string());
    task.labels.insert(LABEL_VERSION.into(), record.version.to_string());
    task.labels.insert(LABEL_LAUNCHED.into(), format!("{now:.3}"));
    task.kill_grace_period_secs = template.kill_grace_period_secs;
    task.user = template.user.clone();
    task.health_check = template.health_check.clone();
    task.container = template.container.clone();
    task.fetch = template.fetch.clone();
    task
}

/// A service's endpoints: its ready instances of any version, with their ports by name.
pub(crate) fn endpoints_of<'a>(
    id: &str,
    spec: &ServiceSpec,
    tasks: impl Iterator<Item = &'a TaskRecord>,
    agents: &HashMap<AgentId, AgentRecord>,
    ready: &Ready,
) -> Endpoints {
    let mut endpoints: Vec<Endpoint> = tasks
        .filter(|t| counts(t, ready))
        .map(|t| Endpoint {
            task_id: t.info.task_id.clone(),
            agent_id: t.info.agent_id.clone(),
            hostname: agents.get(&t.info.agent_id).map(|a| a.hostname.clone()).unwrap_or_default(),
            ports: spec.task.ports.iter().map(|p| p.name.clone()).zip(host_ports(&t.info)).collect(),
        })
        .collect();
    endpoints.sort_by(|a, b| a.task_id.cmp(&b.task_id));
    Endpoints { service_id: id.to_string(), endpoints }
}
