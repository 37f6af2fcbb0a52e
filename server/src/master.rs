//! The master's state machine on the embedded (in-process) store: frameworks, agents, offers
//! and tasks, and every operation the API performs on them.
//!
//! All state sits behind one mutex, and every operation validates fully before it changes
//! anything, so an accept applies all its operations or none and concurrent accepts cannot
//! over-commit an agent (design.md invariants 1, 2 and 7). Nothing here awaits while holding
//! the lock; streams wait on the event logs' `Notify` outside it.

use crate::allocator::{self, AgentSlot, FrameworkSlot};
use crate::error::ServerError;
use crate::events::{EventLog, Read};
use crate::metrics::Metrics;
use agora_api::agent::{
    AcknowledgeCommand, AgentCommand, AgentRegistered, KillCommand, LaunchCommand, RegisterAgent, StatusUpdates,
};
use agora_api::framework::{
    Accept, Acknowledge, Capability, Decline, Failure, FrameworkEvent, FrameworkRegistered, Kill, Offers, Operation,
    Reconcile, Reconciled, RegisterFramework, Rescind, Subscribed, Update,
};
use agora_api::operator::{AgentState, AgentView, ClusterView, FrameworkView, TaskView};
use agora_api::types::{now_secs, reason};
use agora_api::{AgentId, FrameworkId, Offer, OfferId, Resources, TaskId, TaskInfo, TaskState, TaskStatus, UpdateId};
use rand::seq::SliceRandom as _;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Grace period between SIGTERM and SIGKILL when neither the task nor the kill names one.
pub const DEFAULT_KILL_GRACE_SECS: f64 = 5.0;
/// Decline's default refuse filter, as in Mesos.
pub const DEFAULT_REFUSE_SECS: f64 = 5.0;
/// Refuse filters are capped at a year, as in Mesos.
const MAX_REFUSE_SECS: f64 = 31_536_000.0;
/// The most tasks one reconcile may name.
pub const MAX_RECONCILE_TASKS: usize = 10_000;
/// The smallest CPU share a task may ask for, as Mesos's `MIN_CPUS`.
pub const MIN_TASK_CPUS: f64 = 0.01;
/// Limits on a task's environment and labels.
const MAX_TASK_PAIRS: usize = 256;
const MAX_TASK_VALUE_BYTES: usize = 32 * 1024;
/// The most tasks one accept may launch.
pub const MAX_LAUNCH_BATCH: usize = 1_000;
/// How long a newly registered framework has to open its event stream before its failover
/// timeout starts to count, so that `failover_timeout_secs: 0` does not tear it down at once.
const FIRST_CONNECT_GRACE: Duration = Duration::from_secs(30);
/// Terminal tasks kept for `GET /v1/tasks` and reconciliation.
const COMPLETED_TASKS_KEPT: usize = 10_000;
/// Torn-down framework ids remembered, so that they cannot register again.
const REMOVED_FRAMEWORKS_KEPT: usize = 10_000;
/// The longest accepted name, hostname, role or label.
const MAX_NAME_LEN: usize = 255;

#[derive(Clone, Debug)]
pub struct MasterConfig {
    /// How often streams carry a heartbeat, so both sides notice a dead peer.
    pub heartbeat_interval: Duration,
    /// An agent silent for this long is unreachable.
    pub agent_timeout: Duration,
    /// Events that trigger a round are batched over this window.
    pub batch_window: Duration,
    /// A round also runs this often, so expired filters are noticed.
    pub allocation_interval: Duration,
    /// This replica's name, shown as the allocator leader.
    pub replica_name: String,
}

impl Default for MasterConfig {
    fn default() -> Self {
        MasterConfig {
            heartbeat_interval: Duration::from_secs(15),
            agent_timeout: Duration::from_secs(15),
            batch_window: Duration::from_millis(2),
            allocation_interval: Duration::from_secs(1),
            replica_name: "embedded".to_string(),
        }
    }
}

/// Which event log a stream reads.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum StreamKey {
    Framework(FrameworkId),
    Agent(AgentId),
}

/// What a stream finds when it reads its log.
pub enum StreamRead {
    Events(Read),
    /// The framework or agent is gone; the stream ends with this error event.
    Ended {
        code: &'static str,
        message: String,
    },
}

struct AgentEntry {
    hostname: String,
    attributes: BTreeMap<String, String>,
    total: Resources,
    /// Sum of the resources of its non-terminal tasks.
    used: Resources,
    /// Sum of its outstanding offers.
    offered: Resources,
    state: AgentState,
    registered_at: f64,
    last_seen: Instant,
    last_seen_wall: f64,
    commands: EventLog,
    /// The command log's position at the agent's latest registration: a stream opened without
    /// `Last-Event-ID` starts here, so a re-registered agent is not sent old commands again.
    registered_at_command: u64,
    /// Bumped by each new command stream, so an older connection knows it was replaced.
    stream_generation: u64,
    tasks: HashSet<(FrameworkId, TaskId)>,
}

struct FrameworkEntry {
    name: String,
    roles: Vec<String>,
    failover_timeout: Duration,
    capabilities: Vec<Capability>,
    principal: String,
    registered_at: f64,
    /// Open event streams; the framework is connected while this is 1.
    connected: bool,
    stream_generation: u64,
    ever_connected: bool,
    disconnected_since: Instant,
    events: EventLog,
    /// Agents whose resources are refused until the instant given.
    filters: HashMap<AgentId, Instant>,
    suppressed: bool,
    used: Resources,
    offered: Resources,
    tasks: HashSet<TaskId>,
}

impl FrameworkEntry {
    fn role(&self) -> String {
        self.roles.first().cloned().unwrap_or_else(|| agora_api::types::DEFAULT_ROLE.to_string())
    }

    fn is_partition_aware(&self) -> bool {
        self.capabilities.contains(&Capability::PartitionAware)
    }

    fn push(&mut self, event: &FrameworkEvent) {
        self.events.append(event.name(), event.data());
    }
}

type TaskKey = (FrameworkId, TaskId);

#[derive(Clone)]
struct TaskEntry {
    framework_id: FrameworkId,
    info: TaskInfo,
    status: TaskStatus,
    /// The grace period of a kill asked for, so the kill is sent again if the agent
    /// re-registers before it acted on it.
    kill_requested: Option<f64>,
}

/// Terminal tasks, kept for views, reconciliation and resent updates; the oldest go first.
#[derive(Default)]
struct Completed {
    order: VecDeque<TaskKey>,
    tasks: HashMap<TaskKey, TaskEntry>,
}

impl Completed {
    fn push(&mut self, key: TaskKey, task: TaskEntry) {
        if self.tasks.insert(key.clone(), task).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > COMPLETED_TASKS_KEPT {
            if let Some(oldest) = self.order.pop_front() {
                self.tasks.remove(&oldest);
            }
        }
    }

    fn get(&self, key: &TaskKey) -> Option<&TaskEntry> {
        self.tasks.get(key)
    }

    fn set_status(&mut self, key: &TaskKey, status: TaskStatus) {
        if let Some(task) = self.tasks.get_mut(key) {
            task.status = status;
        }
    }

    fn contains(&self, key: &TaskKey) -> bool {
        self.tasks.contains_key(key)
    }

    fn newest_first(&self) -> impl Iterator<Item = &TaskEntry> {
        self.order.iter().rev().filter_map(|k| self.tasks.get(k))
    }
}

impl TaskEntry {
    fn view(&self) -> TaskView {
        TaskView {
            task_id: self.info.task_id.clone(),
            framework_id: self.framework_id.clone(),
            agent_id: self.info.agent_id.clone(),
            name: self.info.name.clone(),
            state: self.status.state,
            resources: self.info.resources.clone(),
            status: self.status.clone(),
        }
    }
}

#[derive(Default)]
struct State {
    agents: HashMap<AgentId, AgentEntry>,
    frameworks: HashMap<FrameworkId, FrameworkEntry>,
    offers: HashMap<OfferId, Offer>,
    /// Non-terminal tasks, and tasks whose framework is gone but whose agent still runs them.
    tasks: HashMap<(FrameworkId, TaskId), TaskEntry>,
    completed: Completed,
    removed_frameworks: VecDeque<FrameworkId>,
}

/// The master: state, the allocator's wake-up, metrics.
pub struct Master {
    pub config: MasterConfig,
    state: Mutex<State>,
    wake_allocator: Notify,
    pub metrics: Metrics,
}

fn status(task: &TaskInfo, framework_id: &FrameworkId, state: TaskState, reason: &str, message: String) -> TaskStatus {
    TaskStatus {
        task_id: task.task_id.clone(),
        framework_id: framework_id.clone(),
        agent_id: task.agent_id.clone(),
        state,
        reason: Some(reason.to_string()),
        message: Some(message),
        exit_code: None,
        healthy: None,
        update_id: Some(UpdateId::random()),
        timestamp: now_secs(),
        latest_state: None,
    }
}

fn check_id(kind: &'static str, id: &str) -> Result<(), ServerError> {
    if agora_api::ids::is_valid_id(id) {
        Ok(())
    } else {
        Err(ServerError::bad(
            "invalid_id",
            format!("{kind} `{}` must be 1 to 128 characters of A-Z a-z 0-9 . _ -", id.escape_debug()),
        ))
    }
}

fn check_name(what: &str, name: &str) -> Result<(), ServerError> {
    if name.len() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(ServerError::bad(
            "invalid_name",
            format!("{what} must be at most 255 characters, no control characters"),
        ));
    }
    Ok(())
}

fn check_role(role: &str) -> Result<(), ServerError> {
    let valid = !role.is_empty()
        && role.len() <= MAX_NAME_LEN
        && !role.starts_with('-')
        && role.split('/').all(|part| !part.is_empty() && part != "." && part != "..")
        && !role.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(())
    } else {
        Err(ServerError::bad("invalid_role", format!("`{}` is not a valid role name", role.escape_debug())))
    }
}

impl Master {
    pub fn new(config: MasterConfig) -> Arc<Master> {
        Arc::new(Master {
            config,
            state: Mutex::new(State::default()),
            wake_allocator: Notify::new(),
            metrics: Metrics::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock would leave the state mid-change; every change validates
        // before it writes, so the state is still consistent and serving on is the right call.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Asks for an allocation round soon (batched with other triggers).
    fn trigger_allocation(&self) {
        self.wake_allocator.notify_one();
    }

    fn agent_heartbeat_interval(&self) -> Duration {
        // min then max, not clamp: clamp panics when a small heartbeat interval inverts the bounds.
        (self.config.agent_timeout / 3).min(self.config.heartbeat_interval).max(Duration::from_millis(200))
    }

    // ----- frameworks -----

    pub fn register_framework(
        &self,
        req: RegisterFramework,
        principal: &str,
    ) -> Result<FrameworkRegistered, ServerError> {
        check_name("name", &req.name)?;
        if req.roles.is_empty() || req.roles.len() > 64 {
            return Err(ServerError::bad("invalid_role", "a framework needs 1 to 64 roles"));
        }
        for role in &req.roles {
            check_role(role)?;
        }
        if !req.failover_timeout_secs.is_finite() || req.failover_timeout_secs < 0.0 {
            return Err(ServerError::bad("invalid_timeout", "failover_timeout_secs must be a non-negative number"));
        }
        let failover_timeout = Duration::from_secs_f64(req.failover_timeout_secs.min(MAX_REFUSE_SECS));
        let mut state = self.lock();
        let id = match req.id {
            Some(id) => {
                check_id("framework id", id.as_str())?;
                if state.removed_frameworks.contains(&id) {
                    return Err(ServerError::Conflict {
                        code: "framework_removed",
                        message: format!("framework {id} was torn down; register without an id"),
                    });
                }
                id
            }
            None => FrameworkId::random(),
        };
        match state.frameworks.get_mut(&id) {
            Some(existing) => {
                // Failover: same id, same tasks; the new settings apply from now on.
                existing.name = req.name;
                existing.roles = req.roles;
                existing.failover_timeout = failover_timeout;
                existing.capabilities = req.capabilities;
            }
            None => {
                // Tasks its agents reported before it came back (after a master restart) are its own.
                let mut used = Resources::default();
                let mut tasks = HashSet::new();
                for ((framework_id, task_id), task) in &state.tasks {
                    if framework_id == &id {
                        used.add(&task.info.resources);
                        tasks.insert(task_id.clone());
                    }
                }
                state.frameworks.insert(
                    id.clone(),
                    FrameworkEntry {
                        name: req.name,
                        roles: req.roles,
                        failover_timeout,
                        capabilities: req.capabilities,
                        principal: principal.to_string(),
                        registered_at: now_secs(),
                        connected: false,
                        stream_generation: 0,
                        ever_connected: false,
                        disconnected_since: Instant::now(),
                        events: EventLog::default(),
                        filters: HashMap::new(),
                        suppressed: false,
                        used,
                        offered: Resources::default(),
                        tasks,
                    },
                );
            }
        }
        Ok(FrameworkRegistered {
            framework_id: id,
            heartbeat_interval_secs: self.config.heartbeat_interval.as_secs_f64(),
        })
    }

    fn framework_mut<'a>(state: &'a mut State, id: &FrameworkId) -> Result<&'a mut FrameworkEntry, ServerError> {
        state.frameworks.get_mut(id).ok_or_else(|| ServerError::not_found("framework", "unknown_framework", id))
    }

    /// Opens a framework stream: returns the `subscribed` event, the position to read after,
    /// and the stream's generation. `last_event_id` resumes; otherwise the stream starts now.
    pub fn open_framework_stream(
        &self,
        id: &FrameworkId,
        last_event_id: Option<u64>,
    ) -> Result<(FrameworkEvent, u64, u64), ServerError> {
        let heartbeat_interval_secs = self.config.heartbeat_interval.as_secs_f64();
        let mut state = self.lock();
        let framework = Self::framework_mut(&mut state, id)?;
        // An id that is not of this log (from before a restart) cannot be resumed from: start
        // at the end, as a new subscription does.
        let position = framework.events.resume_point(last_event_id).unwrap_or(framework.events.last_id());
        framework.stream_generation += 1;
        framework.connected = true;
        framework.ever_connected = true;
        framework.events.wake(); // tell a replaced stream to end
        let subscribed = FrameworkEvent::Subscribed(Subscribed { framework_id: id.clone(), heartbeat_interval_secs });
        let generation = framework.stream_generation;
        drop(state);
        self.trigger_allocation();
        Ok((subscribed, position, generation))
    }

    /// Opens an agent's command stream; returns the position to read after and the generation.
    pub fn open_agent_stream(&self, id: &AgentId, last_event_id: Option<u64>) -> Result<(u64, u64), ServerError> {
        let mut state = self.lock();
        let agent = state.agents.get_mut(id).ok_or_else(|| ServerError::not_found("agent", "unknown_agent", id))?;
        // A new connection without Last-Event-ID gets the commands queued since registration.
        let position = agent.commands.resume_point(last_event_id).unwrap_or(agent.registered_at_command);
        agent.stream_generation += 1;
        agent.commands.wake();
        Ok((position, agent.stream_generation))
    }

    /// Reads a stream's log after `after`, or tells the stream to end.
    pub fn read_stream(
        &self,
        key: &StreamKey,
        generation: u64,
        after: u64,
        max: usize,
    ) -> (StreamRead, Option<Arc<Notify>>) {
        let state = self.lock();
        let (log, current) = match key {
            StreamKey::Framework(id) => match state.frameworks.get(id) {
                Some(f) => (&f.events, f.stream_generation),
                None => {
                    return (
                        StreamRead::Ended {
                            code: "framework_removed",
                            message: format!("framework {id} was torn down"),
                        },
                        None,
                    )
                }
            },
            StreamKey::Agent(id) => match state.agents.get(id) {
                Some(a) => (&a.commands, a.stream_generation),
                None => {
                    return (
                        StreamRead::Ended { code: "unknown_agent", message: format!("agent {id} is unknown") },
                        None,
                    )
                }
            },
        };
        if current != generation {
            return (
                StreamRead::Ended { code: "superseded", message: "a newer connection took over this stream".into() },
                None,
            );
        }
        (StreamRead::Events(log.read_after(after, max)), Some(log.notify()))
    }

    /// Called when a stream's connection ends.
    pub fn close_stream(&self, key: &StreamKey, generation: u64) {
        let StreamKey::Framework(id) = key else { return };
        let mut state = self.lock();
        let Some(framework) = state.frameworks.get_mut(id) else { return };
        if framework.stream_generation != generation {
            return;
        }
        framework.connected = false;
        framework.disconnected_since = Instant::now();
        // A disconnected framework cannot use offers: give their resources to others.
        let offer_ids: Vec<OfferId> =
            state.offers.values().filter(|o| &o.framework_id == id).map(|o| o.id.clone()).collect();
        for offer_id in offer_ids {
            Self::rescind(&mut state, &offer_id);
        }
        drop(state);
        self.trigger_allocation();
    }

    /// Removes an outstanding offer, returns its resources and tells its framework.
    fn rescind(state: &mut State, offer_id: &OfferId) {
        let Some(offer) = Self::take_offer(state, offer_id) else { return };
        if let Some(framework) = state.frameworks.get_mut(&offer.framework_id) {
            framework.push(&FrameworkEvent::Rescind(Rescind { offer_id: offer.id.clone() }));
        }
    }

    /// Removes an offer and releases what it held, without telling anyone.
    fn take_offer(state: &mut State, offer_id: &OfferId) -> Option<Offer> {
        let offer = state.offers.remove(offer_id)?;
        if let Some(agent) = state.agents.get_mut(&offer.agent_id) {
            agent.offered.subtract(&offer.resources);
        }
        if let Some(framework) = state.frameworks.get_mut(&offer.framework_id) {
            framework.offered.subtract(&offer.resources);
        }
        Some(offer)
    }

    /// Checks that every offer id is outstanding, this framework's, and on one agent.
    fn check_offers(
        state: &State,
        framework_id: &FrameworkId,
        offer_ids: &[OfferId],
    ) -> Result<Option<AgentId>, ServerError> {
        let mut seen = HashSet::new();
        let mut agent: Option<AgentId> = None;
        for offer_id in offer_ids {
            if !seen.insert(offer_id) {
                return Err(ServerError::bad("duplicate_offer", format!("offer {offer_id} is listed twice")));
            }
            let offer = state.offers.get(offer_id).filter(|o| &o.framework_id == framework_id).ok_or_else(|| {
                ServerError::bad(
                    "unknown_offer",
                    format!(
                        "offer {offer_id} is not outstanding for this framework: it was used, declined or rescinded"
                    ),
                )
            })?;
            match &agent {
                Some(a) if a != &offer.agent_id => {
                    return Err(ServerError::bad("offers_span_agents", "all offers of one accept must be on one agent"))
                }
                _ => agent = Some(offer.agent_id.clone()),
            }
        }
        Ok(agent)
    }

    fn refuse_until(refuse_secs: Option<f64>) -> Result<Option<Instant>, ServerError> {
        match refuse_secs {
            None => Ok(None),
            Some(s) if !s.is_finite() => Err(ServerError::bad("invalid_filter", "refuse_secs must be a finite number")),
            // Negative means the default, as in Mesos.
            Some(s) => {
                let secs = if s < 0.0 { DEFAULT_REFUSE_SECS } else { s.min(MAX_REFUSE_SECS) };
                Ok(Some(Instant::now() + Duration::from_secs_f64(secs)))
            }
        }
    }

    pub fn accept(&self, framework_id: &FrameworkId, req: Accept) -> Result<(), ServerError> {
        let tasks: Vec<TaskInfo> = req
            .operations
            .into_iter()
            .flat_map(|op| match op {
                Operation::Launch { tasks } => tasks,
            })
            .collect();
        if req.offer_ids.is_empty() {
            return Err(ServerError::bad("no_offers", "offer_ids must name at least one offer"));
        }
        if tasks.len() > MAX_LAUNCH_BATCH {
            return Err(ServerError::bad(
                "too_many_tasks",
                format!("one accept launches at most {MAX_LAUNCH_BATCH} tasks"),
            ));
        }
        let refuse_until = Self::refuse_until(req.filters.refuse_secs)?;
        let mut state = self.lock();
        let framework = state
            .frameworks
            .get(framework_id)
            .ok_or_else(|| ServerError::not_found("framework", "unknown_framework", framework_id))?;
        let Some(agent_id) = Self::check_offers(&state, framework_id, &req.offer_ids)? else {
            return Err(ServerError::bad("no_offers", "offer_ids must name at least one offer"));
        };
        let mut offered = Resources::default();
        for offer_id in &req.offer_ids {
            if let Some(offer) = state.offers.get(offer_id) {
                offered.add(&offer.resources);
            }
        }
        // Validate every task before changing anything: all or nothing.
        let mut wanted = Resources::default();
        let mut ids = HashSet::new();
        for task in &tasks {
            check_id("task id", task.task_id.as_str())?;
            check_name("task name", &task.name)?;
            if !ids.insert(&task.task_id) || framework.tasks.contains(&task.task_id) {
                return Err(ServerError::bad("duplicate_task", format!("task id {} is already in use", task.task_id)));
            }
            if state.completed.contains(&(framework_id.clone(), task.task_id.clone())) {
                return Err(ServerError::bad(
                    "duplicate_task",
                    format!("task id {} belonged to a task that ended; use a new id", task.task_id),
                ));
            }
            if task.agent_id != agent_id {
                return Err(ServerError::bad(
                    "wrong_agent",
                    format!("task {} names an agent the offers are not on", task.task_id),
                ));
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
        }
        if !wanted.fits_in(&offered) {
            return Err(ServerError::bad(
                "insufficient_resources",
                format!("the tasks need {} but the offers hold {}", describe(&wanted), describe(&offered)),
            ));
        }
        // Apply.
        for offer_id in &req.offer_ids {
            Self::take_offer(&mut state, offer_id);
        }
        let launched = tasks.len();
        for task in tasks {
            self.launch(&mut state, framework_id, task);
        }
        if let (Some(until), Some(framework)) = (refuse_until, state.frameworks.get_mut(framework_id)) {
            framework.filters.insert(agent_id, until);
        }
        drop(state);
        self.metrics.tasks_launched.inc_by(launched as u64);
        // What the tasks left unused goes back to the pool.
        self.trigger_allocation();
        Ok(())
    }

    fn launch(&self, state: &mut State, framework_id: &FrameworkId, task: TaskInfo) {
        let staging =
            status(&task, framework_id, TaskState::Staging, "launch", "the master sent the task to its agent".into());
        let key = (framework_id.clone(), task.task_id.clone());
        if let Some(agent) = state.agents.get_mut(&task.agent_id) {
            agent.used.add(&task.resources);
            agent.tasks.insert(key.clone());
            let command =
                AgentCommand::Launch(LaunchCommand { framework_id: framework_id.clone(), task: task.clone() });
            agent.commands.append(command.name(), command.data());
        }
        if let Some(framework) = state.frameworks.get_mut(framework_id) {
            framework.used.add(&task.resources);
            framework.tasks.insert(task.task_id.clone());
            framework.push(&FrameworkEvent::Update(Update { status: staging.clone() }));
        }
        state.tasks.insert(
            key,
            TaskEntry { framework_id: framework_id.clone(), info: task, status: staging, kill_requested: None },
        );
    }

    pub fn decline(&self, framework_id: &FrameworkId, req: Decline) -> Result<(), ServerError> {
        let until = Self::refuse_until(Some(req.filters.refuse_secs.unwrap_or(DEFAULT_REFUSE_SECS)))?;
        let mut state = self.lock();
        Self::framework_mut(&mut state, framework_id)?;
        Self::check_offers_any_agent(&state, framework_id, &req.offer_ids)?;
        for offer_id in &req.offer_ids {
            if let Some(offer) = Self::take_offer(&mut state, offer_id) {
                if let (Some(until), Some(framework)) = (until, state.frameworks.get_mut(framework_id)) {
                    framework.filters.insert(offer.agent_id, until);
                }
            }
        }
        drop(state);
        self.trigger_allocation();
        Ok(())
    }

    fn check_offers_any_agent(
        state: &State,
        framework_id: &FrameworkId,
        offer_ids: &[OfferId],
    ) -> Result<(), ServerError> {
        for offer_id in offer_ids {
            if state.offers.get(offer_id).is_none_or(|o| &o.framework_id != framework_id) {
                return Err(ServerError::bad(
                    "unknown_offer",
                    format!(
                        "offer {offer_id} is not outstanding for this framework: it was used, declined or rescinded"
                    ),
                ));
            }
        }
        Ok(())
    }

    pub fn revive(&self, framework_id: &FrameworkId) -> Result<(), ServerError> {
        let mut state = self.lock();
        let framework = Self::framework_mut(&mut state, framework_id)?;
        framework.filters.clear();
        framework.suppressed = false;
        drop(state);
        self.trigger_allocation();
        Ok(())
    }

    pub fn suppress(&self, framework_id: &FrameworkId) -> Result<(), ServerError> {
        let mut state = self.lock();
        Self::framework_mut(&mut state, framework_id)?.suppressed = true;
        Ok(())
    }

    pub fn acknowledge(&self, framework_id: &FrameworkId, ack: Acknowledge) -> Result<(), ServerError> {
        check_id("task id", ack.task_id.as_str())?;
        check_id("update id", ack.update_id.as_str())?;
        let mut state = self.lock();
        Self::framework_mut(&mut state, framework_id)?;
        let key = (framework_id.clone(), ack.task_id.clone());
        let on_agent =
            state.tasks.get(&key).or_else(|| state.completed.get(&key)).map(|t| t.info.agent_id == ack.agent_id);
        if on_agent != Some(true) {
            return Err(ServerError::not_found(
                "task",
                "unknown_task",
                format!("{} on agent {}", ack.task_id, ack.agent_id),
            ));
        }
        let agent = state
            .agents
            .get_mut(&ack.agent_id)
            .ok_or_else(|| ServerError::not_found("agent", "unknown_agent", &ack.agent_id))?;
        // The agent drops acknowledgements for updates it did not send (the master's own).
        let command = AgentCommand::Acknowledge(AcknowledgeCommand {
            framework_id: framework_id.clone(),
            task_id: ack.task_id,
            update_id: ack.update_id,
        });
        agent.commands.append(command.name(), command.data());
        Ok(())
    }

    pub fn reconcile(&self, framework_id: &FrameworkId, req: Reconcile) -> Result<Reconciled, ServerError> {
        if req.tasks.len() > MAX_RECONCILE_TASKS {
            return Err(ServerError::bad(
                "too_many_tasks",
                format!("reconcile at most {MAX_RECONCILE_TASKS} tasks at once"),
            ));
        }
        let state = self.lock();
        let framework = state
            .frameworks
            .get(framework_id)
            .ok_or_else(|| ServerError::not_found("framework", "unknown_framework", framework_id))?;
        let latest = |task_id: &TaskId| -> Option<TaskStatus> {
            let key = (framework_id.clone(), task_id.clone());
            state.tasks.get(&key).or_else(|| state.completed.get(&key)).map(|t| t.status.clone())
        };
        let mut statuses = Vec::new();
        if req.tasks.is_empty() {
            let mut ids: Vec<&TaskId> = framework.tasks.iter().collect();
            ids.sort();
            statuses.extend(ids.into_iter().filter_map(latest));
        } else {
            for wanted in &req.tasks {
                statuses.push(latest(&wanted.task_id).unwrap_or_else(|| TaskStatus {
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
                }));
            }
        }
        for s in &mut statuses {
            s.reason = Some(reason::RECONCILIATION.to_string());
            s.update_id = None; // reconciliation answers are not acknowledged
        }
        Ok(Reconciled { statuses })
    }

    pub fn kill(&self, framework_id: &FrameworkId, task_id: &TaskId, req: Kill) -> Result<(), ServerError> {
        if let Some(g) = req.grace_period_secs {
            if !g.is_finite() || g < 0.0 {
                return Err(ServerError::bad("invalid_grace", "grace_period_secs must be a non-negative number"));
            }
        }
        let mut state = self.lock();
        Self::framework_mut(&mut state, framework_id)?;
        let key = (framework_id.clone(), task_id.clone());
        let task = state.tasks.get_mut(&key).ok_or_else(|| ServerError::not_found("task", "unknown_task", task_id))?;
        let grace = req.grace_period_secs.or(task.info.kill_grace_period_secs).unwrap_or(DEFAULT_KILL_GRACE_SECS);
        task.kill_requested = Some(grace);
        let agent_id = task.info.agent_id.clone();
        Self::send_kill(&mut state, &agent_id, framework_id, task_id, grace);
        Ok(())
    }

    fn send_kill(state: &mut State, agent_id: &AgentId, framework_id: &FrameworkId, task_id: &TaskId, grace: f64) {
        if let Some(agent) = state.agents.get_mut(agent_id) {
            let command = AgentCommand::Kill(KillCommand {
                framework_id: framework_id.clone(),
                task_id: task_id.clone(),
                grace_period_secs: grace,
            });
            agent.commands.append(command.name(), command.data());
        }
    }

    /// Kills the framework's tasks, withdraws its offers and forgets it.
    /// Tears a framework down. A framework this master does not know but whose tasks its agents
    /// report (it has not registered again since a master restart) can be torn down too, so
    /// that its tasks need not run on for ever.
    pub fn teardown(&self, framework_id: &FrameworkId) -> Result<(), ServerError> {
        let mut state = self.lock();
        let has_orphans = state.tasks.keys().any(|(f, _)| f == framework_id);
        if !state.frameworks.contains_key(framework_id) && !has_orphans {
            return Err(ServerError::not_found("framework", "unknown_framework", framework_id));
        }
        Self::remove_framework(&mut state, framework_id);
        drop(state);
        self.trigger_allocation();
        Ok(())
    }

    fn remove_framework(state: &mut State, framework_id: &FrameworkId) {
        let offer_ids: Vec<OfferId> =
            state.offers.values().filter(|o| &o.framework_id == framework_id).map(|o| o.id.clone()).collect();
        for offer_id in offer_ids {
            Self::take_offer(state, &offer_id);
        }
        let framework = state.frameworks.remove(framework_id);
        let task_ids: Vec<TaskId> =
            state.tasks.keys().filter(|(f, _)| f == framework_id).map(|(_, t)| t.clone()).collect();
        for task_id in &task_ids {
            let key = (framework_id.clone(), task_id.clone());
            if let Some(task) = state.tasks.get_mut(&key) {
                let grace = task.info.kill_grace_period_secs.unwrap_or(DEFAULT_KILL_GRACE_SECS);
                task.kill_requested = Some(grace);
                let agent_id = task.info.agent_id.clone();
                Self::send_kill(state, &agent_id, framework_id, task_id, grace);
            }
        }
        if let Some(framework) = &framework {
            // Wake its streams so they end now.
            framework.events.wake();
        }
        if state.removed_frameworks.len() == REMOVED_FRAMEWORKS_KEPT {
            state.removed_frameworks.pop_front();
        }
        state.removed_frameworks.push_back(framework_id.clone());
        let name = framework.map(|f| f.name).unwrap_or_default();
        tracing::info!(framework = %framework_id, %name, tasks = task_ids.len(), "framework removed");
    }

    // ----- agents -----

    pub fn register_agent(&self, req: RegisterAgent) -> Result<AgentRegistered, ServerError> {
        if req.hostname.is_empty() {
            return Err(ServerError::bad("invalid_name", "hostname must not be empty"));
        }
        check_name("hostname", &req.hostname)?;
        if !req.resources.is_well_formed() {
            return Err(ServerError::bad("invalid_resources", "resources must be finite and non-negative"));
        }
        for (k, v) in &req.attributes {
            check_name("attribute", k)?;
            check_name("attribute", v)?;
        }
        for t in &req.tasks {
            check_id("task id", t.task.task_id.as_str())?;
            check_id("framework id", t.framework_id.as_str())?;
            if !t.task.resources.is_well_formed() {
                return Err(ServerError::bad("invalid_resources", "task resources must be finite and non-negative"));
            }
        }
        let id = match req.agent_id {
            Some(id) => {
                check_id("agent id", id.as_str())?;
                id
            }
            None => AgentId::random(),
        };
        let mut state = self.lock();
        // Resources and offers may have changed: withdraw what was offered from this agent.
        let offer_ids: Vec<OfferId> =
            state.offers.values().filter(|o| o.agent_id == id).map(|o| o.id.clone()).collect();
        for offer_id in offer_ids {
            Self::rescind(&mut state, &offer_id);
        }
        let reported: HashSet<(FrameworkId, TaskId)> =
            req.tasks.iter().map(|t| (t.framework_id.clone(), t.task.task_id.clone())).collect();
        let previous = state.agents.remove(&id);
        let mut entry = AgentEntry {
            hostname: req.hostname,
            attributes: req.attributes,
            total: req.resources,
            used: Resources::default(),
            offered: Resources::default(),
            state: AgentState::Active,
            registered_at: now_secs(),
            last_seen: Instant::now(),
            last_seen_wall: now_secs(),
            commands: EventLog::default(),
            registered_at_command: 0, // set below, from the log this entry keeps
            stream_generation: 0,
            tasks: HashSet::new(),
        };
        entry.registered_at_command = entry.commands.start();
        if let Some(previous) = previous {
            // Keep the command log, so a stream that resumes misses nothing.
            entry.registered_at_command = previous.commands.last_id();
            entry.commands = previous.commands;
            entry.stream_generation = previous.stream_generation;
            entry.registered_at = previous.registered_at;
            // Tasks the master placed here that the agent no longer runs are gone.
            for key in previous.tasks.difference(&reported) {
                Self::finish_task(
                    &mut state,
                    key,
                    TaskState::Gone,
                    reason::AGENT_RESTARTED,
                    "the agent no longer runs this task",
                );
            }
        }
        // The agent is the source of truth for what runs on it.
        let mut kills: Vec<(TaskKey, f64)> = Vec::new();
        for running in req.tasks {
            let key = (running.framework_id.clone(), running.task.task_id.clone());
            if entry.tasks.contains(&key) {
                continue; // reported twice: count it once
            }
            let mut status = running.status;
            (status.agent_id, status.framework_id, status.task_id) = (id.clone(), key.0.clone(), key.1.clone());
            if status.state.is_terminal() {
                // Ended, its last update not yet acknowledged: the agent sends that update again.
                // Remember the task even if this master never knew it (it restarted), so that
                // its logs can be read and its update acknowledged.
                if state.tasks.contains_key(&key) {
                    Self::finish_task_with(&mut state, &key, status);
                } else if !state.completed.contains(&key) {
                    let mut task = running.task;
                    task.agent_id = id.clone();
                    let ended = TaskEntry { framework_id: key.0.clone(), info: task, status, kill_requested: None };
                    state.completed.push(key, ended);
                }
                continue;
            }
            let resources = match state.tasks.get_mut(&key) {
                Some(known) => {
                    let was_unreachable = matches!(known.status.state, TaskState::Unreachable | TaskState::Lost);
                    known.status = status.clone();
                    if let Some(grace) = known.kill_requested {
                        kills.push((key.clone(), grace));
                    }
                    let resources = known.info.resources.clone();
                    if was_unreachable {
                        if let Some(framework) = state.frameworks.get_mut(&key.0) {
                            framework.push(&FrameworkEvent::Update(Update { status }));
                        }
                    }
                    resources
                }
                None => {
                    let mut task = running.task;
                    task.agent_id = id.clone();
                    // A task already reported ended, or whose framework was torn down, must not run on.
                    if state.completed.contains(&key) || state.removed_frameworks.contains(&key.0) {
                        kills.push((key.clone(), task.kill_grace_period_secs.unwrap_or(DEFAULT_KILL_GRACE_SECS)));
                    }
                    if let Some(framework) = state.frameworks.get_mut(&key.0) {
                        framework.used.add(&task.resources);
                        framework.tasks.insert(key.1.clone());
                    }
                    let resources = task.resources.clone();
                    let entry = TaskEntry { framework_id: key.0.clone(), info: task, status, kill_requested: None };
                    state.tasks.insert(key.clone(), entry);
                    resources
                }
            };
            entry.used.add(&resources);
            entry.tasks.insert(key);
        }
        tracing::info!(agent = %id, hostname = %entry.hostname, "agent registered");
        state.agents.insert(id.clone(), entry);
        for ((framework_id, task_id), grace) in kills {
            Self::send_kill(&mut state, &id, &framework_id, &task_id, grace);
        }
        drop(state);
        self.trigger_allocation();
        Ok(AgentRegistered { agent_id: id, heartbeat_interval_secs: self.agent_heartbeat_interval().as_secs_f64() })
    }

    pub fn agent_heartbeat(&self, agent_id: &AgentId) -> Result<(), ServerError> {
        let mut state = self.lock();
        let agent =
            state.agents.get_mut(agent_id).ok_or_else(|| ServerError::not_found("agent", "unknown_agent", agent_id))?;
        agent.last_seen = Instant::now();
        agent.last_seen_wall = now_secs();
        if agent.state == AgentState::Unreachable {
            // It must register again to report what it runs; until then it gets no work.
            return Err(ServerError::not_found("agent", "unknown_agent", agent_id));
        }
        Ok(())
    }

    pub fn agent_updates(&self, agent_id: &AgentId, req: StatusUpdates) -> Result<(), ServerError> {
        let mut state = self.lock();
        let agent =
            state.agents.get_mut(agent_id).ok_or_else(|| ServerError::not_found("agent", "unknown_agent", agent_id))?;
        agent.last_seen = Instant::now();
        agent.last_seen_wall = now_secs();
        for update in &req.updates {
            let elsewhere = state
                .tasks
                .get(&(update.framework_id.clone(), update.task_id.clone()))
                .is_some_and(|t| &t.info.agent_id != agent_id);
            if &update.agent_id != agent_id || elsewhere {
                return Err(ServerError::bad("wrong_agent", "an agent reports only its own tasks"));
            }
            if update.update_id.is_none() {
                return Err(ServerError::bad("missing_update_id", "agent updates must carry an update_id"));
            }
        }
        let mut freed = false;
        for update in req.updates {
            self.metrics.status_updates.inc();
            let key = (update.framework_id.clone(), update.task_id.clone());
            let ended_before = state.completed.contains(&key);
            let mut update = update;
            let latest = update.latest_state.take();
            match state.tasks.get_mut(&key) {
                Some(task) => {
                    task.status = update.clone();
                    if update.state.is_terminal() {
                        freed = true;
                        Self::finish_task_with(&mut state, &key, update.clone());
                    } else if let Some(ended) = latest.filter(|s| s.is_terminal()) {
                        // Ended, though the framework has yet to acknowledge its way to the end:
                        // free the resources now; the terminal update follows.
                        let mut status = update.clone();
                        status.state = ended;
                        status.message = Some("ended; its final update follows the earlier ones".into());
                        freed = true;
                        Self::finish_task_with(&mut state, &key, status);
                    }
                }
                // The final update of a task already freed by `latest_state`: keep its details.
                None if ended_before && update.state.is_terminal() => state.completed.set_status(&key, update.clone()),
                // Neither running nor recently ended: this master never placed it. Kill it, as
                // Mesos does, so it cannot hold resources nobody accounts for.
                None if !ended_before && !update.state.is_terminal() => {
                    Self::send_kill(&mut state, agent_id, &key.0, &key.1, DEFAULT_KILL_GRACE_SECS);
                }
                // A resend of an update for a task that has ended: deliver it again below.
                None => {}
            }
            if let Some(framework) = state.frameworks.get_mut(&update.framework_id) {
                framework.push(&FrameworkEvent::Update(Update { status: update }));
            } else if state.removed_frameworks.contains(&update.framework_id) {
                Self::ack_orphan_update(&mut state, agent_id, &update);
            }
            // Otherwise the framework is unknown but may register again (after a master
            // restart): the agent keeps the update and sends it again until it does.
        }
        drop(state);
        if freed {
            self.trigger_allocation();
        }
        Ok(())
    }

    /// An update nobody will acknowledge (its framework is gone): acknowledge it for them, so
    /// the agent stops retrying.
    fn ack_orphan_update(state: &mut State, agent_id: &AgentId, update: &TaskStatus) {
        let (Some(update_id), Some(agent)) = (update.update_id.clone(), state.agents.get_mut(agent_id)) else { return };
        let command = AgentCommand::Acknowledge(AcknowledgeCommand {
            framework_id: update.framework_id.clone(),
            task_id: update.task_id.clone(),
            update_id,
        });
        agent.commands.append(command.name(), command.data());
    }

    /// Ends a task with a status the master makes itself, and tells its framework.
    fn finish_task(state: &mut State, key: &(FrameworkId, TaskId), task_state: TaskState, why: &str, message: &str) {
        let Some(task) = state.tasks.get(key) else { return };
        let final_status = status(&task.info, &key.0, task_state, why, message.to_string());
        Self::finish_task_with(state, key, final_status.clone());
        if let Some(framework) = state.frameworks.get_mut(&key.0) {
            framework.push(&FrameworkEvent::Update(Update { status: final_status }));
        }
    }

    /// Moves a task to the completed list and releases its resources.
    fn finish_task_with(state: &mut State, key: &(FrameworkId, TaskId), final_status: TaskStatus) {
        let Some(mut task) = state.tasks.remove(key) else { return };
        task.status = final_status;
        if let Some(agent) = state.agents.get_mut(&task.info.agent_id) {
            agent.used.subtract(&task.info.resources);
            agent.tasks.remove(key);
        }
        if let Some(framework) = state.frameworks.get_mut(&key.0) {
            framework.used.subtract(&task.info.resources);
            framework.tasks.remove(&key.1);
        }
        state.completed.push(key.clone(), task);
    }

    // ----- timers -----

    /// Marks silent agents unreachable and tears down frameworks past their failover timeout.
    pub fn reap(&self) {
        let now = Instant::now();
        let mut state = self.lock();
        let silent: Vec<AgentId> = state
            .agents
            .iter()
            .filter(|(_, a)| {
                a.state == AgentState::Active && now.duration_since(a.last_seen) > self.config.agent_timeout
            })
            .map(|(id, _)| id.clone())
            .collect();
        for agent_id in &silent {
            Self::mark_unreachable(&mut state, agent_id);
        }
        let expired: Vec<FrameworkId> = state
            .frameworks
            .iter()
            .filter(|(_, f)| {
                let timeout =
                    if f.ever_connected { f.failover_timeout } else { f.failover_timeout.max(FIRST_CONNECT_GRACE) };
                !f.connected && now.duration_since(f.disconnected_since) > timeout
            })
            .map(|(id, _)| id.clone())
            .collect();
        for framework_id in &expired {
            tracing::info!(framework = %framework_id, "failover timeout passed: tearing the framework down");
            Self::remove_framework(&mut state, framework_id);
        }
        drop(state);
        if !expired.is_empty() {
            self.trigger_allocation();
        }
    }

    fn mark_unreachable(state: &mut State, agent_id: &AgentId) {
        tracing::warn!(agent = %agent_id, "agent silent past the agent timeout: unreachable");
        let offer_ids: Vec<OfferId> =
            state.offers.values().filter(|o| &o.agent_id == agent_id).map(|o| o.id.clone()).collect();
        for offer_id in offer_ids {
            Self::rescind(state, &offer_id);
        }
        let Some(agent) = state.agents.get_mut(agent_id) else { return };
        agent.state = AgentState::Unreachable;
        let keys: Vec<(FrameworkId, TaskId)> = agent.tasks.iter().cloned().collect();
        let mut told = HashSet::new();
        for key in keys {
            let Some(task) = state.tasks.get_mut(&key) else { continue };
            let Some(framework) = state.frameworks.get_mut(&key.0) else { continue };
            let task_state = if framework.is_partition_aware() { TaskState::Unreachable } else { TaskState::Lost };
            let new_status =
                status(&task.info, &key.0, task_state, reason::AGENT_REMOVED, "the agent stopped answering".into());
            task.status = new_status.clone();
            framework.push(&FrameworkEvent::Update(Update { status: new_status }));
            if told.insert(key.0.clone()) {
                framework.push(&FrameworkEvent::Failure(Failure { agent_id: agent_id.clone() }));
            }
        }
    }

    /// Runs one allocation round and sends the offers it makes.
    pub fn allocate(&self) {
        let started = Instant::now();
        let now = started;
        let mut state = self.lock();
        let mut agent_ids: Vec<AgentId> =
            state.agents.iter().filter(|(_, a)| a.state == AgentState::Active).map(|(id, _)| id.clone()).collect();
        agent_ids.shuffle(&mut rand::thread_rng());
        let agent_index: HashMap<&AgentId, usize> = agent_ids.iter().enumerate().map(|(i, id)| (id, i)).collect();
        let mut total = Resources::default();
        let agents: Vec<AgentSlot> = agent_ids
            .iter()
            .filter_map(|id| state.agents.get(id))
            .map(|a| {
                total.add(&a.total);
                AgentSlot { available: a.total.minus(&a.used).minus(&a.offered) }
            })
            .collect();
        // Tasks on unreachable agents are outside the cluster total, so they must not count
        // towards their framework's share either, or it would be starved for as long as the
        // agent stays away.
        let mut unreachable: HashMap<FrameworkId, Resources> = HashMap::new();
        for agent in state.agents.values().filter(|a| a.state == AgentState::Unreachable) {
            for key in &agent.tasks {
                if let Some(task) = state.tasks.get(key) {
                    unreachable.entry(key.0.clone()).or_default().add(&task.info.resources);
                }
            }
        }
        let mut framework_ids: Vec<FrameworkId> = Vec::new();
        let mut frameworks: Vec<FrameworkSlot> = Vec::new();
        for (id, f) in state.frameworks.iter_mut() {
            f.filters.retain(|_, until| *until > now);
            if !f.connected || f.suppressed {
                continue;
            }
            let filtered_agents: BTreeSet<usize> =
                f.filters.keys().filter_map(|a| agent_index.get(a).copied()).collect();
            framework_ids.push(id.clone());
            let mut allocated = f.used.plus(&f.offered);
            if let Some(away) = unreachable.get(id) {
                allocated.subtract(away);
            }
            frameworks.push(FrameworkSlot { allocated, filtered_agents });
        }
        let grants = allocator::allocate(&total, &agents, &frameworks, &allocator::min_allocatable());
        let mut batches: HashMap<usize, Vec<Offer>> = HashMap::new();
        for grant in grants {
            let agent_id = &agent_ids[grant.agent];
            let framework_id = &framework_ids[grant.framework];
            let Some(agent) = state.agents.get_mut(agent_id) else { continue };
            agent.offered.add(&grant.resources);
            let offer = Offer {
                id: OfferId::random(),
                framework_id: framework_id.clone(),
                agent_id: agent_id.clone(),
                hostname: agent.hostname.clone(),
                role: String::new(),
                resources: grant.resources,
                attributes: agent.attributes.clone(),
            };
            batches.entry(grant.framework).or_default().push(offer);
        }
        let mut offered = 0;
        for (index, mut offers) in batches {
            let Some(framework) = state.frameworks.get_mut(&framework_ids[index]) else { continue };
            let role = framework.role();
            for offer in &mut offers {
                offer.role = role.clone();
                framework.offered.add(&offer.resources);
            }
            offered += offers.len();
            for offer in &offers {
                state.offers.insert(offer.id.clone(), offer.clone());
            }
            if let Some(framework) = state.frameworks.get_mut(&framework_ids[index]) {
                framework.push(&FrameworkEvent::Offers(Offers { offers }));
            }
        }
        drop(state);
        self.metrics.offers_made.inc_by(offered as u64);
        self.metrics.round_duration.observe(started.elapsed().as_secs_f64());
    }

    /// The allocation loop: a round after each batch of triggers, and one every interval.
    pub async fn run_allocator(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(self.config.allocation_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = self.wake_allocator.notified() => tokio::time::sleep(self.config.batch_window).await,
                _ = tick.tick() => self.reap(),
                _ = shutdown.changed() => return,
            }
            self.allocate();
        }
    }

    // ----- views -----

    pub fn cluster(&self) -> ClusterView {
        let state = self.lock();
        let mut view = ClusterView {
            version: env!("CARGO_PKG_VERSION").to_string(),
            leader: self.config.replica_name.clone(),
            total: Resources::default(),
            used: Resources::default(),
            offered: Resources::default(),
            agents: state.agents.len(),
            frameworks: state.frameworks.len(),
            tasks: state.tasks.len(),
        };
        for agent in state.agents.values().filter(|a| a.state == AgentState::Active) {
            view.total.add(&agent.total);
            view.used.add(&agent.used);
            view.offered.add(&agent.offered);
        }
        view
    }

    fn agent_view(id: &AgentId, a: &AgentEntry) -> AgentView {
        AgentView {
            id: id.clone(),
            hostname: a.hostname.clone(),
            state: a.state,
            attributes: a.attributes.clone(),
            total: a.total.clone(),
            used: a.used.clone(),
            offered: a.offered.clone(),
            tasks: a.tasks.len(),
            registered_at: a.registered_at,
            last_seen: a.last_seen_wall,
        }
    }

    pub fn agents(&self) -> Vec<AgentView> {
        let state = self.lock();
        let mut views: Vec<AgentView> = state.agents.iter().map(|(id, a)| Self::agent_view(id, a)).collect();
        views.sort_by(|a, b| (&a.hostname, &a.id).cmp(&(&b.hostname, &b.id)));
        views
    }

    pub fn agent(&self, id: &AgentId) -> Result<AgentView, ServerError> {
        let state = self.lock();
        state
            .agents
            .get(id)
            .map(|a| Self::agent_view(id, a))
            .ok_or_else(|| ServerError::not_found("agent", "unknown_agent", id))
    }

    fn framework_view(id: &FrameworkId, f: &FrameworkEntry) -> FrameworkView {
        FrameworkView {
            id: id.clone(),
            name: f.name.clone(),
            roles: f.roles.clone(),
            connected: f.connected,
            failover_timeout_secs: f.failover_timeout.as_secs_f64(),
            used: f.used.clone(),
            offered: f.offered.clone(),
            tasks: f.tasks.len(),
            registered_at: f.registered_at,
        }
    }

    pub fn frameworks(&self) -> Vec<FrameworkView> {
        let state = self.lock();
        let mut views: Vec<FrameworkView> =
            state.frameworks.iter().map(|(id, f)| Self::framework_view(id, f)).collect();
        views.sort_by(|a, b| a.registered_at.total_cmp(&b.registered_at));
        views
    }

    pub fn framework(&self, id: &FrameworkId) -> Result<FrameworkView, ServerError> {
        let state = self.lock();
        state
            .frameworks
            .get(id)
            .map(|f| Self::framework_view(id, f))
            .ok_or_else(|| ServerError::not_found("framework", "unknown_framework", id))
    }

    /// The principal that registered a framework.
    pub fn framework_principal(&self, id: &FrameworkId) -> Option<String> {
        self.lock().frameworks.get(id).map(|f| f.principal.clone())
    }

    /// Active tasks, then recently completed ones, filtered.
    pub fn tasks(
        &self,
        framework_id: Option<&FrameworkId>,
        agent_id: Option<&AgentId>,
        task_state: Option<TaskState>,
    ) -> Vec<TaskView> {
        let state = self.lock();
        let keep = |t: &&TaskEntry| {
            framework_id.is_none_or(|f| &t.framework_id == f)
                && agent_id.is_none_or(|a| &t.info.agent_id == a)
                && task_state.is_none_or(|s| t.status.state == s)
        };
        let mut active: Vec<TaskView> = state.tasks.values().filter(keep).map(TaskEntry::view).collect();
        active.sort_by(|a, b| a.status.timestamp.total_cmp(&b.status.timestamp));
        active.extend(state.completed.newest_first().filter(keep).map(TaskEntry::view));
        active
    }

    /// Where a task runs: its framework, its agent, and whether it has ended. Without a
    /// framework id the task id must name one task only.
    pub fn task_location(
        &self,
        framework_id: Option<&FrameworkId>,
        task_id: &TaskId,
    ) -> Result<(FrameworkId, AgentId, bool), ServerError> {
        let state = self.lock();
        let matches = |t: &&TaskEntry| &t.info.task_id == task_id && framework_id.is_none_or(|f| &t.framework_id == f);
        let active: Vec<&TaskEntry> = state.tasks.values().filter(matches).collect();
        let found = match active.as_slice() {
            [one] => Some((*one, false)),
            [] => state.completed.newest_first().find(matches).map(|t| (t, true)),
            _ => {
                return Err(ServerError::bad(
                    "ambiguous_task",
                    format!("several frameworks have a task {task_id}: give framework_id"),
                ))
            }
        };
        let (task, ended) = found.ok_or_else(|| ServerError::not_found("task", "unknown_task", task_id))?;
        Ok((task.framework_id.clone(), task.info.agent_id.clone(), ended || task.status.state.is_terminal()))
    }

    /// Queues a command on an agent's stream.
    pub fn send_agent_command(&self, agent_id: &AgentId, command: &AgentCommand) -> Result<(), ServerError> {
        let mut state = self.lock();
        let agent =
            state.agents.get_mut(agent_id).ok_or_else(|| ServerError::not_found("agent", "unknown_agent", agent_id))?;
        if agent.state != AgentState::Active {
            return Err(ServerError::Timeout {
                code: "agent_unreachable",
                message: format!("agent {agent_id} is unreachable"),
            });
        }
        agent.commands.append(command.name(), command.data());
        Ok(())
    }

    pub fn offers(&self) -> Vec<Offer> {
        self.lock().offers.values().cloned().collect()
    }

    /// Counts for the metrics endpoint, taken under one lock.
    pub fn gauges(&self) -> crate::metrics::Snapshot {
        let state = self.lock();
        let mut snapshot = crate::metrics::Snapshot {
            agents_active: state.agents.values().filter(|a| a.state == AgentState::Active).count(),
            agents_unreachable: state.agents.values().filter(|a| a.state == AgentState::Unreachable).count(),
            frameworks_connected: state.frameworks.values().filter(|f| f.connected).count(),
            frameworks: state.frameworks.len(),
            offers: state.offers.len(),
            ..Default::default()
        };
        for task in state.tasks.values() {
            *snapshot.tasks.entry(task.status.state).or_default() += 1;
        }
        for agent in state.agents.values().filter(|a| a.state == AgentState::Active) {
            snapshot.total.add(&agent.total);
            snapshot.used.add(&agent.used);
            snapshot.offered.add(&agent.offered);
        }
        snapshot
    }
}

fn validate_task(task: &TaskInfo) -> Result<(), ServerError> {
    let bad = |code, message: String| Err(ServerError::bad(code, message));
    if !task.resources.is_well_formed() {
        return bad("invalid_resources", format!("task {}: resources must be finite and non-negative", task.task_id));
    }
    if task.resources.cpus < MIN_TASK_CPUS {
        return bad("invalid_resources", format!("task {}: a task needs at least {MIN_TASK_CPUS} cpus", task.task_id));
    }
    if task.env.len() > MAX_TASK_PAIRS || task.labels.len() > MAX_TASK_PAIRS {
        return bad("invalid_env", format!("task {}: at most {MAX_TASK_PAIRS} env entries and labels", task.task_id));
    }
    let command_bytes = match &task.command {
        agora_api::Command::Shell(line) => line.len(),
        agora_api::Command::Argv(argv) => argv.iter().map(String::len).sum(),
    };
    let too_long = task.env.iter().chain(task.labels.iter()).any(|(k, v)| k.len() + v.len() > MAX_TASK_VALUE_BYTES);
    if too_long || command_bytes > MAX_TASK_VALUE_BYTES {
        return bad("invalid_env", format!("task {}: a command, env entry or label is over 32 KiB", task.task_id));
    }
    match &task.command {
        agora_api::Command::Shell(line) if line.trim().is_empty() => {
            return bad("invalid_command", format!("task {}: the shell command is empty", task.task_id))
        }
        agora_api::Command::Argv(argv) if argv.first().is_none_or(|a| a.is_empty()) => {
            return bad("invalid_command", format!("task {}: argv is empty", task.task_id))
        }
        _ => {}
    }
    if let Some(g) = task.kill_grace_period_secs {
        if !g.is_finite() || g < 0.0 {
            return bad("invalid_grace", format!("task {}: kill_grace_period_secs must be non-negative", task.task_id));
        }
    }
    for (k, v) in task.env.iter().chain(task.labels.iter()) {
        if k.is_empty() || k.contains('=') || k.contains('\0') || v.contains('\0') {
            return bad(
                "invalid_env",
                format!("task {}: env and label names must be non-empty, without = or NUL", task.task_id),
            );
        }
    }
    Ok(())
}

fn describe(r: &Resources) -> String {
    let mut parts = vec![format!("cpus:{}", r.cpus), format!("mem:{}", r.mem)];
    if r.disk > 0.0 {
        parts.push(format!("disk:{}", r.disk));
    }
    if r.gpus > 0.0 {
        parts.push(format!("gpus:{}", r.gpus));
    }
    if !r.ports.is_empty() {
        parts.push(format!("ports:{}", r.port_count()));
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_api::agent::RunningTask;
    use agora_api::framework::Operation;

    fn registration() -> RegisterFramework {
        RegisterFramework {
            id: None,
            name: "t".into(),
            roles: vec!["*".into()],
            failover_timeout_secs: 60.0,
            capabilities: vec![],
        }
    }

    fn agent_registration(id: Option<AgentId>, tasks: Vec<RunningTask>) -> RegisterAgent {
        RegisterAgent {
            agent_id: id,
            hostname: "h".into(),
            resources: Resources::parse("cpus:4,mem:4096,ports:[31000-31010]").expect("resources"),
            attributes: BTreeMap::new(),
            tasks,
        }
    }

    /// A master with one agent and one connected framework holding an offer for all of it.
    fn setup() -> (Arc<Master>, AgentId, FrameworkId, Offer) {
        let master = Master::new(MasterConfig::default());
        let agent = master.register_agent(agent_registration(None, vec![])).expect("agent").agent_id;
        let framework = master.register_framework(registration(), "p").expect("framework").framework_id;
        master.open_framework_stream(&framework, None).expect("stream");
        master.allocate();
        let offer = master.offers().pop().expect("an offer");
        (master, agent, framework, offer)
    }

    fn task(agent: &AgentId, id: &str, ports: Vec<[u16; 2]>) -> TaskInfo {
        TaskInfo {
            task_id: TaskId::from(id),
            name: id.into(),
            agent_id: agent.clone(),
            resources: Resources { cpus: 0.1, mem: 32.0, ports, ..Default::default() },
            command: agora_api::Command::Shell("true".into()),
            env: BTreeMap::new(),
            kill_grace_period_secs: None,
            labels: BTreeMap::new(),
        }
    }

    fn launch(offer: &Offer, tasks: Vec<TaskInfo>) -> Accept {
        Accept {
            offer_ids: vec![offer.id.clone()],
            operations: vec![Operation::Launch { tasks }],
            filters: Default::default(),
        }
    }

    fn events(master: &Master, key: StreamKey) -> Vec<(&'static str, String)> {
        let generation = match &key {
            StreamKey::Framework(id) => master.lock().frameworks.get(id).map(|f| f.stream_generation),
            StreamKey::Agent(id) => master.lock().agents.get(id).map(|a| a.stream_generation),
        };
        match master.read_stream(&key, generation.unwrap_or(0), 0, usize::MAX).0 {
            StreamRead::Events(read) => read.events.into_iter().map(|e| (e.name, e.data.to_string())).collect(),
            StreamRead::Ended { .. } => Vec::new(),
        }
    }

    fn status(task: &TaskInfo, framework: &FrameworkId, state: TaskState, update: &str) -> TaskStatus {
        TaskStatus {
            task_id: task.task_id.clone(),
            framework_id: framework.clone(),
            agent_id: task.agent_id.clone(),
            state,
            reason: None,
            message: None,
            exit_code: None,
            healthy: None,
            update_id: Some(UpdateId::from(update)),
            timestamp: 0.0,
            latest_state: None,
        }
    }

    #[test]
    fn a_port_is_given_to_one_task_only() {
        let (master, agent, framework, offer) = setup();
        let both =
            launch(&offer, vec![task(&agent, "a", vec![[31000, 31005]]), task(&agent, "b", vec![[31003, 31008]])]);
        let err = master.accept(&framework, both).expect_err("overlapping ports");
        assert_eq!(err.code(), "duplicate_port");
        let apart =
            launch(&offer, vec![task(&agent, "a", vec![[31000, 31001]]), task(&agent, "b", vec![[31002, 31003]])]);
        master.accept(&framework, apart).expect("distinct ports");
    }

    #[test]
    fn a_resent_terminal_update_reaches_the_framework_again_and_ids_are_not_reused() {
        let (master, agent, framework, offer) = setup();
        let t = task(&agent, "t", vec![]);
        master.accept(&framework, launch(&offer, vec![t.clone()])).expect("launch");
        let finished = status(&t, &framework, TaskState::Finished, "u1");
        for _ in 0..2 {
            master.agent_updates(&agent, StatusUpdates { updates: vec![finished.clone()] }).expect("update");
        }
        let delivered = events(&master, StreamKey::Framework(framework.clone()))
            .into_iter()
            .filter(|(name, data)| *name == "update" && data.contains("\"u1\""))
            .count();
        assert_eq!(delivered, 2, "the resend is delivered, not acknowledged by the master");
        let commands = events(&master, StreamKey::Agent(agent.clone()));
        assert!(!commands.iter().any(|(name, _)| *name == "acknowledge"));
        master.allocate();
        let offer = master.offers().pop().expect("an offer");
        let err = master.accept(&framework, launch(&offer, vec![t])).expect_err("reused id");
        assert_eq!(err.code(), "duplicate_task");
    }

    #[test]
    fn a_kill_asked_for_is_sent_again_when_the_agent_registers_again() {
        let (master, agent, framework, offer) = setup();
        let t = task(&agent, "t", vec![]);
        master.accept(&framework, launch(&offer, vec![t.clone()])).expect("launch");
        master.kill(&framework, &t.task_id, Kill::default()).expect("kill");
        let running = RunningTask {
            framework_id: framework.clone(),
            task: t.clone(),
            status: status(&t, &framework, TaskState::Running, "u1"),
        };
        master.register_agent(agent_registration(Some(agent.clone()), vec![running])).expect("re-register");
        let after = master.lock().agents.get(&agent).map(|a| a.registered_at_command).unwrap_or(0);
        let generation = master.open_agent_stream(&agent, None).expect("stream").1;
        let StreamRead::Events(read) = master.read_stream(&StreamKey::Agent(agent.clone()), generation, after, 100).0
        else {
            panic!("the stream is open");
        };
        assert!(read.events.iter().any(|e| e.name == "kill"), "the kill is queued after the registration");
        // Used resources are the task's, counted once.
        assert_eq!(master.agent(&agent).expect("agent").used.cpus, 0.1);
    }

    #[test]
    fn a_framework_that_registers_after_its_agents_gets_its_tasks_back() {
        let master = Master::new(MasterConfig::default());
        let framework = FrameworkId::from("fw-1");
        let agent = AgentId::from("agent-1");
        let t = task(&agent, "t", vec![]);
        let running = RunningTask {
            framework_id: framework.clone(),
            task: t.clone(),
            status: status(&t, &framework, TaskState::Running, "u"),
        };
        master.register_agent(agent_registration(Some(agent.clone()), vec![running])).expect("agent");
        let again = RegisterFramework { id: Some(framework.clone()), ..registration() };
        master.register_framework(again, "p").expect("framework");
        let view = master.framework(&framework).expect("view");
        assert_eq!((view.tasks, view.used.cpus), (1, 0.1));
    }

    #[test]
    fn tasks_on_an_unreachable_agent_do_not_count_against_their_framework() {
        let (master, first_agent, holder, offer) = setup();
        // `holder` runs a big task on the first agent, which then goes silent.
        let mut big = task(&first_agent, "big", vec![]);
        big.resources.cpus = 3.9;
        master.accept(&holder, launch(&offer, vec![big])).expect("launch");
        suppress_all(&master);
        Master::mark_unreachable(&mut master.lock(), &first_agent);
        // A second framework runs a small task on a second agent.
        let second_agent =
            master.register_agent(RegisterAgent { hostname: "h2".into(), ..agent_registration(None, vec![]) });
        let second_agent = second_agent.expect("agent").agent_id;
        let other = master.register_framework(registration(), "p").expect("framework").framework_id;
        master.open_framework_stream(&other, None).expect("stream");
        master.revive(&other).expect("revive");
        master.allocate();
        let offer = master.offers().into_iter().find(|o| o.framework_id == other).expect("an offer");
        master.accept(&other, launch(&offer, vec![task(&second_agent, "small", vec![])])).expect("launch");
        // The rest of the second agent goes to `holder`, whose share in the reachable cluster is 0.
        master.revive(&holder).expect("revive");
        master.allocate();
        let offers = master.offers();
        assert_eq!(offers.len(), 1);
        assert_eq!(offers[0].framework_id, holder);
    }

    /// Stops every framework from receiving offers, so a test decides who gets what.
    fn suppress_all(master: &Master) {
        let ids: Vec<FrameworkId> = master.lock().frameworks.keys().cloned().collect();
        for id in ids {
            let _ = master.suppress(&id);
        }
    }

    #[test]
    fn latest_state_frees_a_finished_tasks_resources_before_the_acknowledgements() {
        let (master, agent, framework, offer) = setup();
        let t = task(&agent, "t", vec![]);
        master.accept(&framework, launch(&offer, vec![t.clone()])).expect("launch");
        // `running` was never acknowledged; its resend says the task has since finished.
        let mut running = status(&t, &framework, TaskState::Running, "u1");
        running.latest_state = Some(TaskState::Finished);
        master.agent_updates(&agent, StatusUpdates { updates: vec![running] }).expect("update");
        assert_eq!(master.agent(&agent).expect("agent").used.cpus, 0.0);
        let forwarded = events(&master, StreamKey::Framework(framework.clone()));
        assert!(forwarded.iter().all(|(_, data)| !data.contains("latest_state")), "frameworks get plain statuses");
        // The final update, once it comes, is what the views and reconciliation show.
        let mut finished = status(&t, &framework, TaskState::Finished, "u2");
        finished.exit_code = Some(0);
        master.agent_updates(&agent, StatusUpdates { updates: vec![finished] }).expect("update");
        let reconciled = master.reconcile(&framework, Reconcile::default()).expect("reconcile");
        assert!(reconciled.statuses.is_empty());
        let task_view = master.tasks(Some(&framework), None, None).pop().expect("the task");
        assert_eq!((task_view.state, task_view.status.exit_code), (TaskState::Finished, Some(0)));
    }

    #[test]
    fn an_event_id_from_before_a_restart_is_not_resumed_from() {
        let (master, _agent, framework, _offer) = setup();
        let end = master.lock().frameworks.get(&framework).map(|f| f.events.last_id()).unwrap_or(0);
        // A client of the previous master saw events numbered from 1; it starts afresh here.
        let (_, position, _) = master.open_framework_stream(&framework, Some(3)).expect("stream");
        assert_eq!(position, end);
        let (_, position, _) = master.open_framework_stream(&framework, Some(end)).expect("stream");
        assert_eq!(position, end);
    }

    #[test]
    fn tasks_of_a_framework_that_never_came_back_can_be_torn_down() {
        let master = Master::new(MasterConfig::default());
        let (framework, agent) = (FrameworkId::from("gone-fw"), AgentId::from("agent-1"));
        let t = task(&agent, "t", vec![]);
        let running = RunningTask {
            framework_id: framework.clone(),
            task: t.clone(),
            status: status(&t, &framework, TaskState::Running, "u"),
        };
        master.register_agent(agent_registration(Some(agent.clone()), vec![running])).expect("agent");
        master.teardown(&framework).expect("teardown of an orphaned framework");
        let commands = events(&master, StreamKey::Agent(agent));
        assert!(commands.iter().any(|(name, data)| *name == "kill" && data.contains("gone-fw")));
        let again = RegisterFramework { id: Some(framework.clone()), ..registration() };
        assert_eq!(master.register_framework(again, "p").expect_err("removed").code(), "framework_removed");
        assert_eq!(master.teardown(&FrameworkId::from("never-seen")).expect_err("unknown").code(), "unknown_framework");
    }
}
