//! The master: every operation the API performs on frameworks, agents, offers and tasks, as
//! optimistic transactions on the [`Store`] (design.md section 2).
//!
//! Each operation reads the records it needs with their versions, validates everything, then
//! commits one transaction that checks those versions: all its changes or none, and a
//! concurrent change on any replica makes it retry rather than over-commit (design.md
//! invariants 1, 2 and 7). Nothing is cached between requests, so any replica answers any
//! request. The allocator and the timers run on the one replica holding the leader lease, and
//! each of their writes checks the lease's epoch (invariant 5); see [`leader`].

/// Runs `$attempt` (read, validate, build a transaction; it evaluates to
/// `Result<(Txn, T), ServerError>`) and commits its transaction, again from the start whenever
/// a concurrent change got there first. Errors from the attempt (bad input) return at once,
/// with nothing written. A macro rather than a method taking a closure, so that the future
/// stays `Send` for the HTTP server.
macro_rules! transact {
    ($master:expr, $attempt:expr) => {{
        let mut attempt = 0u32;
        loop {
            let result: Result<(crate::store::Txn, _), crate::error::ServerError> = async { $attempt }.await;
            let (txn, value) = match result {
                Ok(built) => built,
                Err(e) => break Err(e),
            };
            if txn.ops.is_empty() {
                break Ok(value);
            }
            match $master.store.commit(&txn).await {
                Ok(crate::store::Committed::Done(_)) => break Ok(value),
                Ok(crate::store::Committed::Conflict) => {
                    if !$master.after_conflict(attempt).await {
                        break Err(crate::error::ServerError::Conflict {
                            code: "contended",
                            message: "the change kept meeting concurrent changes; try again".to_string(),
                        });
                    }
                    attempt += 1;
                }
                Err(e) => break Err(e.into()),
            }
        }
    }};
}

/// Test-only pause points: a test holds an operation between its reads and commit, runs another
/// operation in the gap, and proves that the checks catch it. Each master has its own, so tests
/// running at the same time cannot take each other's. Compiled out of real builds.
#[cfg(test)]
pub(crate) mod pause {
    use std::sync::Mutex;
    use tokio::sync::oneshot;

    type Armed = (&'static str, oneshot::Sender<()>, oneshot::Receiver<()>);

    #[derive(Default)]
    pub struct Points(Mutex<Vec<Armed>>);

    impl Points {
        /// Arms `name` once: returns (reached, release).
        pub fn arm(&self, name: &'static str) -> (oneshot::Receiver<()>, oneshot::Sender<()>) {
            let (reached_tx, reached_rx) = oneshot::channel();
            let (release_tx, release_rx) = oneshot::channel();
            self.0.lock().unwrap_or_else(|p| p.into_inner()).push((name, reached_tx, release_rx));
            (reached_rx, release_tx)
        }

        /// Waits here if a test armed `name`.
        pub async fn point(&self, name: &'static str) {
            let armed = {
                let mut points = self.0.lock().unwrap_or_else(|p| p.into_inner());
                points.iter().position(|(n, _, _)| *n == name).map(|i| points.remove(i))
            };
            if let Some((_, reached, release)) = armed {
                let _ = reached.send(());
                let _ = release.await;
            }
        }
    }
}

mod agents;
mod constraints;
mod diagnostics;
mod frameworks;
pub mod leader;
mod leases;
mod maintenance;
pub mod policy;
pub mod records;
mod reservations;
mod roles;
mod services;
#[cfg(test)]
mod tests;
mod views;

use crate::error::ServerError;
use crate::metrics::Metrics;
use crate::store::{Committed, Lease, Op, Store, StreamId, Txn, Version, Versioned};
use agora_api::agent::AgentCommand;
use agora_api::framework::FrameworkEvent;
use agora_api::types::now_secs;
use agora_api::{AgentId, FrameworkId, Resources, TaskInfo, TaskState, TaskStatus, UpdateId};
use records::key;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use policy::Caller;
pub use records::TaskRecord;
pub(crate) use services::deployment_view;
pub use views::TaskLocation;

/// Grace period between SIGTERM and SIGKILL when neither the task nor the kill names one.
pub const DEFAULT_KILL_GRACE_SECS: f64 = 5.0;
/// Decline's default refuse filter, as in Mesos.
pub const DEFAULT_REFUSE_SECS: f64 = 5.0;
/// Refusals that expired longer ago than this are dropped: rounds have run since.
pub const MAX_ROUND_GAP_SECS: f64 = 60.0;
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
const FIRST_CONNECT_GRACE_SECS: f64 = 30.0;
/// Ended tasks kept for `GET /v1/tasks`, reconciliation and resent updates, by default.
pub const COMPLETED_TASKS_KEPT: usize = 10_000;
/// Torn-down framework ids remembered, so that they cannot register again.
const REMOVED_FRAMEWORKS_KEPT: usize = 10_000;
/// The longest accepted name, hostname, role or label.
const MAX_NAME_LEN: usize = 255;
/// Entries kept in each agent's command stream.
const AGENT_COMMANDS_KEPT: usize = 2 * MAX_LAUNCH_BATCH;
/// How long an agent may stay unreachable before it is removed, by default: a day.
pub const DEFAULT_AGENT_REMOVAL_TIMEOUT: Duration = Duration::from_secs(86_400);
/// How often a transaction that keeps meeting concurrent changes is tried before giving up.
const MAX_ATTEMPTS: u32 = 64;

#[derive(Clone, Debug)]
pub struct MasterConfig {
    /// How often streams carry a heartbeat, so both sides notice a dead peer.
    pub heartbeat_interval: Duration,
    /// An agent silent for this long is unreachable.
    pub agent_timeout: Duration,
    /// Rounds start at least this far apart: events that trigger a round within it are
    /// served by one round, and an event after a quiet spell by a round at once.
    pub batch_window: Duration,
    /// A round also runs this often, so expired filters and timeouts are noticed.
    pub allocation_interval: Duration,
    /// This replica's name, shown as the allocator leader; a random suffix makes it unique.
    pub replica_name: String,
    /// How long the allocator lease lasts without renewal. A new leader takes over within
    /// about twice this after the old one dies.
    pub lease_ttl: Duration,
    /// The least an offer holds: these CPUs or this memory (a cut offer needs both).
    pub min_allocatable: Resources,
    /// Offers not answered for this long are rescinded; `None`: they are kept until used.
    pub offer_timeout: Option<Duration>,
    /// Ended tasks kept, newest first (Mesos's `--max_completed_tasks_per_framework`, for the
    /// whole cluster). An ended task's id may be used again once it is no longer kept.
    pub completed_tasks_kept: usize,
    /// Acknowledgements and kills each principal may send each agent a second, through this
    /// replica (and as many in a row).
    pub agent_commands_per_sec: f64,
    /// An agent unreachable this long is removed, its tasks `gone`; `None`: kept for ever.
    pub agent_removal_timeout: Option<Duration>,
}

impl Default for MasterConfig {
    fn default() -> Self {
        MasterConfig {
            heartbeat_interval: Duration::from_secs(15),
            agent_timeout: Duration::from_secs(15),
            batch_window: Duration::from_millis(2),
            allocation_interval: Duration::from_secs(1),
            replica_name: "embedded".to_string(),
            lease_ttl: Duration::from_secs(3),
            min_allocatable: crate::allocator::min_allocatable(),
            offer_timeout: None,
            completed_tasks_kept: COMPLETED_TASKS_KEPT,
            agent_commands_per_sec: crate::ratelimit::COMMANDS_PER_SEC,
            agent_removal_timeout: Some(DEFAULT_AGENT_REMOVAL_TIMEOUT),
        }
    }
}

/// Which stream an event stream reads.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum StreamKey {
    Framework(FrameworkId),
    Agent(AgentId),
    Operator,
}

impl StreamKey {
    /// The stream's key in the store.
    pub fn store_key(&self) -> String {
        match self {
            StreamKey::Framework(id) => key::framework_events(id),
            StreamKey::Agent(id) => key::agent_commands(id),
            StreamKey::Operator => key::EVENTS.to_string(),
        }
    }
}

/// What a stream finds when it reads its log.
pub enum StreamRead {
    Events(Vec<crate::store::Entry>),
    /// The framework or agent is gone, or a newer connection took over; the stream ends with
    /// this error event.
    Ended {
        code: &'static str,
        message: String,
    },
}

/// The master of one replica. Holds no cluster state of its own; it is all in the store.
pub struct Master {
    pub config: MasterConfig,
    pub store: Store,
    pub metrics: Metrics,
    /// This replica's unique name: the lease holder's name when it leads.
    pub replica: String,
    /// The lease as this replica last saw it, to log when it changes hands.
    lease: Mutex<Option<Lease>>,
    /// Live tasks as first read, by `F/T` member, for allocation rounds (see
    /// [`Master::round_snapshot`]), and the epoch they were read under.
    task_cache: Mutex<(u64, std::collections::HashMap<String, Arc<TaskRecord>>)>,
    /// When this replica's last allocation round began (Unix seconds).
    last_round: Mutex<f64>,
    /// What each principal may append to each agent's command stream through this replica.
    command_budget: crate::ratelimit::CommandBudget,
    #[cfg(test)]
    pub(crate) pauses: pause::Points,
}

/// A record read from the store, with the version to check when writing it back.
pub(crate) struct Loaded<T> {
    pub version: Version,
    pub value: T,
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // The records are plain structs with string keys: serializing them cannot fail.
    serde_json::to_vec(value).expect("records serialize to JSON")
}

fn decode<T: DeserializeOwned>(key: &str, record: Option<Versioned>) -> Result<Option<Loaded<T>>, ServerError> {
    let Some(record) = record else { return Ok(None) };
    let value = serde_json::from_slice(&record.data)
        .map_err(|e| ServerError::Internal(format!("the store's record {key} is unreadable: {e}")))?;
    Ok(Some(Loaded { version: record.version, value }))
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

/// Appends a framework event to a transaction.
fn push_event(txn: &mut Txn, framework_id: &FrameworkId, event: &FrameworkEvent) {
    txn.append(key::framework_events(framework_id), event.name(), event.data());
}

/// Appends an operator event to a transaction.
fn push_operator_event(txn: &mut Txn, event: &agora_api::operator::OperatorEvent) {
    txn.append(key::EVENTS, event.name(), event.data());
}

/// Appends a task's new status to a transaction: to its framework's stream if `to_framework`,
/// and to the operator stream.
fn push_update(txn: &mut Txn, status: &TaskStatus, to_framework: bool) {
    if to_framework {
        let update = agora_api::framework::Update { status: status.clone() };
        push_event(txn, &status.framework_id, &FrameworkEvent::Update(update));
    }
    let event = agora_api::operator::TaskEvent { status: status.clone() };
    push_operator_event(txn, &agora_api::operator::OperatorEvent::TaskUpdated(event));
}

/// Appends an agent command to a transaction. A command stream keeps less history than other
/// streams (it exists for each agent): twice the largest launch batch, so one accept never
/// trims what the agent has yet to read. An agent that falls further behind registers again
/// (see `check_commands_kept`).
fn push_command(txn: &mut Txn, agent_id: &AgentId, command: &AgentCommand) {
    txn.append_capped(key::agent_commands(agent_id), command.name(), command.data(), AGENT_COMMANDS_KEPT);
}

/// Asks the leader for an allocation round (batched with other triggers).
fn wake_allocator(txn: &mut Txn) {
    txn.op(Op::Wake(key::ALLOCATOR.to_string()));
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
            format!("{what} must be at most 255 bytes of UTF-8, no control characters"),
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

/// Parses a `Last-Event-ID`: an entry id of the stream, `MS-SEQ`.
pub fn parse_event_id(value: &str) -> Result<StreamId, ServerError> {
    StreamId::parse(value.trim())
        .ok_or_else(|| ServerError::bad("invalid_last_event_id", "Last-Event-ID must be an event id from this stream"))
}

impl Master {
    pub fn new(config: MasterConfig, store: Store) -> Arc<Master> {
        let replica = format!("{}-{}", config.replica_name, &UpdateId::random().0[..8]);
        let command_budget = crate::ratelimit::CommandBudget::new(config.agent_commands_per_sec);
        Arc::new(Master {
            config,
            store,
            metrics: Metrics::new(),
            replica,
            lease: Mutex::new(None),
            task_cache: Mutex::new(Default::default()),
            last_round: Mutex::new(0.0),
            command_budget,
            #[cfg(test)]
            pauses: Default::default(),
        })
    }

    /// A master on a fresh in-memory store (tests and tools).
    pub fn in_memory(config: MasterConfig) -> Arc<Master> {
        let store = Store::Embedded(Arc::new(crate::store::embedded::Embedded::in_memory(Default::default())));
        Master::new(config, store)
    }

    fn agent_heartbeat_interval(&self) -> Duration {
        // min then max, not clamp: clamp panics when a small heartbeat interval inverts the bounds.
        (self.config.agent_timeout / 3).min(self.config.heartbeat_interval).max(Duration::from_millis(200))
    }

    /// Reads one record.
    pub(crate) async fn load<T: DeserializeOwned>(&self, key: &str) -> Result<Option<Loaded<T>>, ServerError> {
        decode(key, self.store.get_one(key).await?)
    }

    /// Reads records of one type, in the order of `keys`.
    pub(crate) async fn load_many<T: DeserializeOwned>(
        &self,
        keys: &[String],
    ) -> Result<Vec<Option<Loaded<T>>>, ServerError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let records = self.store.get(keys).await?;
        keys.iter().zip(records).map(|(k, r)| decode(k, r)).collect()
    }

    /// Counts a conflict and pauses before the next attempt; `false` once attempts run out.
    pub(crate) async fn after_conflict(&self, attempt: u32) -> bool {
        self.metrics.store_conflicts.inc();
        if attempt + 1 >= MAX_ATTEMPTS {
            return false;
        }
        backoff(attempt).await;
        true
    }

    /// The leader lease as this replica last saw it.
    fn known_lease(&self) -> Option<Lease> {
        self.lease.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set_known_lease(&self, lease: Option<Lease>) {
        *self.lease.lock().unwrap_or_else(|p| p.into_inner()) = lease;
    }
}

/// A short random pause between attempts, growing with each, so contenders spread out.
async fn backoff(attempt: u32) {
    use rand::Rng as _;
    let cap_us = 100u64 << attempt.min(7);
    let pause = rand::thread_rng().gen_range(0..=cap_us);
    tokio::time::sleep(Duration::from_micros(pause)).await;
}

/// Moves a task to the ended ones: writes its final status and releases its resources (they
/// are summed from the sets it leaves).
fn finish_task(txn: &mut Txn, task: &Loaded<TaskRecord>, final_status: TaskStatus, kept: usize) {
    let mut record = task.value.clone();
    record.status = final_status;
    let (f, t) = (&record.framework_id, &record.info.task_id);
    let member = key::task_member(f, t);
    txn.check(key::task(f, t), task.version);
    txn.put(key::task(f, t), encode(&record));
    txn.op(Op::SetRemove(key::TASKS.to_string(), member.clone()));
    txn.op(Op::SetRemove(key::framework_tasks(f), t.to_string()));
    txn.op(Op::SetRemove(key::agent_tasks(&record.info.agent_id), member.clone()));
    txn.op(Op::ZAdd(key::TASKS_DONE.to_string(), member, now_secs()));
    txn.op(Op::ZTrim { zset: key::TASKS_DONE.to_string(), keep: kept, record_prefix: key::TASK_PREFIX.to_string() });
    wake_allocator(txn);
}

/// Withdraws an offer: deletes it and releases what it held, checking it is still there.
fn drop_offer(txn: &mut Txn, offer: &Loaded<agora_api::Offer>) {
    let o = &offer.value;
    txn.check(key::offer(&o.id), offer.version);
    txn.delete(key::offer(&o.id));
    txn.op(Op::SetRemove(key::OFFERS.to_string(), o.id.to_string()));
    txn.op(Op::SetRemove(key::framework_offers(&o.framework_id), o.id.to_string()));
    txn.op(Op::SetRemove(key::agent_offers(&o.agent_id), o.id.to_string()));
}

/// Withdraws an offer and tells its framework.
fn rescind_offer(txn: &mut Txn, offer: &Loaded<agora_api::Offer>) {
    drop_offer(txn, offer);
    let event = FrameworkEvent::Rescind(agora_api::framework::Rescind { offer_id: offer.value.id.clone() });
    push_event(txn, &offer.value.framework_id, &event);
    wake_allocator(txn);
}

/// The longest time a health check setting may name.
const MAX_CHECK_SECS: f64 = 86_400.0;

fn validate_health_check(task: &TaskInfo, check: &agora_api::HealthCheck) -> Result<(), ServerError> {
    let bad =
        |message: &str| Err(ServerError::bad("invalid_health_check", format!("task {}: {message}", task.task_id)));
    let secs = [check.delay_secs, check.interval_secs, check.timeout_secs, check.grace_period_secs];
    if secs.iter().any(|s| !s.is_finite() || *s < 0.0 || *s > MAX_CHECK_SECS) {
        return bad("the health check's times must be seconds between 0 and a day");
    }
    if check.interval_secs < 0.1 || check.timeout_secs <= 0.0 {
        return bad("a health check's interval must be at least 0.1 s, and its timeout positive");
    }
    if check.consecutive_failures == 0 {
        return bad("consecutive_failures must be at least 1");
    }
    match &check.check {
        agora_api::Check::Command(line) if line.trim().is_empty() || line.len() > MAX_TASK_VALUE_BYTES => {
            bad("the health check's command must be a non-empty line of at most 32 KiB")
        }
        agora_api::Check::Http(agora_api::HttpProbe { path, .. })
            if !path.starts_with('/') || path.len() > 2048 || path.chars().any(char::is_control) =>
        {
            bad("the health check's path must start with `/`")
        }
        agora_api::Check::Http(agora_api::HttpProbe { port: 0, .. })
        | agora_api::Check::Tcp(agora_api::TcpProbe { port: 0 }) => bad("the health check needs a port"),
        _ => Ok(()),
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
    if let Some(user) = &task.user {
        let valid = !user.is_empty()
            && user.len() <= 32
            && !user.starts_with('-')
            && user.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !valid {
            return bad("invalid_user", format!("task {}: `{user}` is not a user name", task.task_id));
        }
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
        // An empty argv runs a container's image as it is.
        agora_api::Command::Argv(argv) if argv.is_empty() && task.container.is_some() => {}
        agora_api::Command::Argv(argv) if argv.first().is_none_or(|a| a.is_empty()) => {
            return bad("invalid_command", format!("task {}: argv is empty", task.task_id))
        }
        _ => {}
    }
    if let Some(check) = &task.health_check {
        validate_health_check(task, check)?;
    }
    if let Some(container) = &task.container {
        validate_container(task, container)?;
    }
    validate_fetch(task)?;
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

/// Whether `path` is absolute, without `.` or `..` parts, NUL or other control characters.
fn is_clean_absolute_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.chars().any(char::is_control)
        && path.split('/').skip(1).all(|part| part != "." && part != "..")
}

fn validate_container(task: &TaskInfo, c: &agora_api::ContainerInfo) -> Result<(), ServerError> {
    use agora_api::containers::NetworkMode;
    let bad = |message: String| Err(ServerError::bad("invalid_container", format!("task {}: {message}", task.task_id)));
    if c.image.is_empty() || c.image.len() > 1024 || c.image.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
        return bad("the image must be a reference such as registry/name:tag, without spaces".to_string());
    }
    if c.network == NetworkMode::Host && !c.port_mappings.is_empty() {
        return bad("port mappings need the bridge network; on the host network the task binds its ports".to_string());
    }
    let offered: Vec<u16> = task.resources.ports.iter().flat_map(|&[low, high]| low..=high).collect();
    let named: Vec<u16> = c.port_mappings.iter().filter_map(|m| m.host_port).collect();
    if let Some(port) = named.iter().find(|p| !offered.contains(p)) {
        return bad(format!("host port {port} is not one of the task's ports"));
    }
    let unnamed = c.port_mappings.iter().filter(|m| m.host_port.is_none()).count();
    if named.iter().collect::<std::collections::HashSet<_>>().len() < named.len()
        || named.len() + unnamed > offered.len()
    {
        return bad("each port mapping needs a port of the task's own, and a port maps once".to_string());
    }
    if c.port_mappings.iter().any(|m| m.container_port == 0) {
        return bad("a port mapping needs a container port".to_string());
    }
    // No `:` either: docker takes a bind as `source:destination:mode`.
    for v in &c.volumes {
        let path = &v.container_path;
        if !is_clean_absolute_path(path) || path == "/" || path.len() > 1024 || path.contains(':') {
            return bad(format!("volume path `{}` must be absolute, without `..` or `:`", path.escape_debug()));
        }
        if !is_clean_absolute_path(&v.host_path) || v.host_path.len() > 1024 || v.host_path.contains(':') {
            return bad(format!("host path `{}` must be absolute, without `..` or `:`", v.host_path.escape_debug()));
        }
    }
    Ok(())
}

/// The most artifacts one task fetches.
const MAX_FETCH: usize = 64;

fn validate_fetch(task: &TaskInfo) -> Result<(), ServerError> {
    let bad = |message: String| Err(ServerError::bad("invalid_fetch", format!("task {}: {message}", task.task_id)));
    if task.fetch.len() > MAX_FETCH {
        return bad(format!("at most {MAX_FETCH} artifacts"));
    }
    for f in &task.fetch {
        let scheme_ok = ["http://", "https://", "file:///"].iter().any(|s| f.uri.starts_with(s));
        if !scheme_ok || f.uri.len() > 4096 || f.uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return bad(format!("`{}` is not an http, https or file:/// URI", f.uri.escape_debug()));
        }
        if f.file_name().is_none() {
            return bad(format!("`{}` names no file", f.uri.escape_debug()));
        }
        if let Some(digest) = &f.sha256 {
            if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
                return bad(format!("sha256 of `{}` must be 64 lowercase hex digits", f.uri.escape_debug()));
            }
        } else if f.cache {
            return bad(format!("`{}` is cached by its sha256, and names none", f.uri.escape_debug()));
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
