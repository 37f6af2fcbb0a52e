//! What the master keeps in the store, and under which keys.
//!
//! Records are JSON. Aggregates that many writers would touch at once (what an agent or a
//! framework uses) are not stored: they are summed from tasks and offers when needed, so
//! launches and status updates on one agent do not conflict with each other.

use agora_api::framework::{Capability, OfferConstraint, OfferFilters};
use agora_api::operator::{AgentState, Maintenance, Reservation};
use agora_api::{AgentId, FrameworkId, Resources, TaskId, TaskInfo, TaskStatus, Volume};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Store keys. `F` is a framework id, `A` an agent id, `T` a task id, `O` an offer id.
pub mod key {
    use std::fmt::Display;

    /// Set of agent ids.
    pub const AGENTS: &str = "agents";
    /// Sorted set: active agent id scored by when it was last heard from (Unix seconds).
    pub const AGENTS_SEEN: &str = "agents:seen";
    /// Sorted set: unreachable agent id scored by when it was last heard from. Kept apart, so
    /// that the timer looks only at agents that may have just gone silent.
    pub const AGENTS_AWAY: &str = "agents:away";
    /// Set of framework ids.
    pub const FRAMEWORKS: &str = "frameworks";
    /// Sorted set of torn-down framework ids, by when; the newest are kept.
    pub const REMOVED: &str = "frameworks:removed";
    /// Set of outstanding offer ids.
    pub const OFFERS: &str = "offers";
    /// Draining agents by the deadline after which their tasks are killed.
    pub const AGENTS_DRAINING: &str = "agents:draining";
    /// Offer ids by when they were made, kept while `--offer-timeout` is set; an entry
    /// outlives its offer until it comes due.
    pub const OFFERS_MADE: &str = "offers:made";
    /// Set of `F/T` for tasks that have not ended.
    pub const TASKS: &str = "tasks";
    /// Sorted set of `F/T` for ended tasks, by when they ended; the newest are kept.
    pub const TASKS_DONE: &str = "tasks:done";
    /// Sorted set of replica names, scored by their latest heartbeat (Unix seconds).
    pub const REPLICAS: &str = "replicas";
    /// Woken when an allocation round may find something new to offer.
    pub const ALLOCATOR: &str = "allocator";
    /// Stream: the operator events (`GET /v1/events`).
    pub const EVENTS: &str = "events";
    /// Set of roles an operator configured (`PUT /v1/roles/{role}`).
    pub const ROLES: &str = "roles";
    /// Set of service ids.
    pub const SERVICES: &str = "services";
    /// Woken when a service changes: the services scheduler looks again.
    pub const SERVICES_WAKE: &str = "services:wake";

    pub const AGENT_PREFIX: &str = "agent:";
    pub const FRAMEWORK_PREFIX: &str = "framework:";
    pub const FRAMEWORK_CONN_PREFIX: &str = "fwconn:";
    pub const FILTERS_PREFIX: &str = "filters:";
    pub const OFFER_PREFIX: &str = "offer:";
    pub const TASK_PREFIX: &str = "task:";
    pub const REMOVED_PREFIX: &str = "removed:";
    pub const ROLE_PREFIX: &str = "role:";
    pub const SERVICE_PREFIX: &str = "service:";
    pub const LEASE_PREFIX: &str = "lease:";

    /// A named lease of the operators' tools (`LeaseRecord`); not the allocator's lease, which
    /// the store keeps apart.
    pub fn lease(name: impl Display) -> String {
        format!("{LEASE_PREFIX}{name}")
    }

    /// A service (`ServiceRecord`).
    pub fn service(s: impl Display) -> String {
        format!("{SERVICE_PREFIX}{s}")
    }
    /// Set of the ids of a service's instances that passed its readiness check.
    pub fn service_ready(s: impl Display) -> String {
        format!("{SERVICE_PREFIX}{s}:ready")
    }

    /// A role's settings (`RoleConfig`).
    pub fn role(r: impl Display) -> String {
        format!("{ROLE_PREFIX}{r}")
    }

    pub fn agent(a: impl Display) -> String {
        format!("{AGENT_PREFIX}{a}")
    }
    /// The agent's command stream's connection generation.
    pub fn agent_conn(a: impl Display) -> String {
        format!("agentconn:{a}")
    }
    /// Set of `F/T` running on the agent.
    pub fn agent_tasks(a: impl Display) -> String {
        format!("agent:{a}:tasks")
    }
    /// Set of offer ids on the agent.
    pub fn agent_offers(a: impl Display) -> String {
        format!("agent:{a}:offers")
    }
    /// Stream: the agent's commands.
    pub fn agent_commands(a: impl Display) -> String {
        format!("agent:{a}:commands")
    }
    pub fn framework(f: impl Display) -> String {
        format!("{FRAMEWORK_PREFIX}{f}")
    }
    pub fn framework_conn(f: impl Display) -> String {
        format!("{FRAMEWORK_CONN_PREFIX}{f}")
    }
    pub fn filters(f: impl Display) -> String {
        format!("{FILTERS_PREFIX}{f}")
    }
    /// Set of the framework's task ids that have not ended.
    pub fn framework_tasks(f: impl Display) -> String {
        format!("framework:{f}:tasks")
    }
    /// Set of the framework's outstanding offer ids.
    pub fn framework_offers(f: impl Display) -> String {
        format!("framework:{f}:offers")
    }
    /// Stream: the framework's events.
    pub fn framework_events(f: impl Display) -> String {
        format!("framework:{f}:events")
    }
    pub fn removed(f: impl Display) -> String {
        format!("{REMOVED_PREFIX}{f}")
    }
    pub fn offer(o: impl Display) -> String {
        format!("{OFFER_PREFIX}{o}")
    }
    /// The member of [`TASKS`] and the sets of tasks for a framework's task.
    pub fn task_member(f: impl Display, t: impl Display) -> String {
        format!("{f}/{t}")
    }
    pub fn task(f: impl Display, t: impl Display) -> String {
        format!("{TASK_PREFIX}{f}/{t}")
    }
}

/// Splits a `F/T` task member.
/// What an agent record without `containerizers` (written before 0.3) could run.
fn process_only() -> Vec<agora_api::Containerizer> {
    vec![agora_api::Containerizer::Process]
}

pub fn split_task_member(member: &str) -> Option<(FrameworkId, TaskId)> {
    let (f, t) = member.split_once('/')?;
    Some((FrameworkId::from(f), TaskId::from(t)))
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AgentRecord {
    pub hostname: String,
    pub attributes: BTreeMap<String, String>,
    pub total: Resources,
    /// Static reservations: the parts of `total` offered only to a role and those below it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reserved: BTreeMap<String, Resources>,
    /// Dynamic reservations, oldest first: kept across the agent's registrations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dynamic: Vec<Reservation>,
    /// Persistent volumes, each taking disk of its role's reservation; kept across the
    /// agent's registrations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    pub state: AgentState,
    pub registered_at: f64,
    /// The command stream's newest entry when the agent last registered: a stream opened
    /// without `Last-Event-ID` starts after it, so old commands are not sent again.
    pub registered_after: Option<String>,
    /// The principal of the agent token that registered it (empty when an operator did): only
    /// that principal may act as this agent.
    #[serde(default)]
    pub principal: String,
    /// An operator's drain or deactivation: the agent is offered to no one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance: Option<Maintenance>,
    /// How it runs tasks, as it said when it last registered.
    #[serde(default = "process_only")]
    pub containerizers: Vec<agora_api::Containerizer>,
    /// The address it registered from (behind a trusted proxy, the one the proxy named): what
    /// DNS answers for its tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<std::net::IpAddr>,
}

impl AgentRecord {
    /// What is reserved to each role, statically and dynamically.
    pub fn reservations(&self) -> BTreeMap<String, Resources> {
        let mut all = self.reserved.clone();
        for r in &self.dynamic {
            all.entry(r.role.clone()).or_default().add(&r.resources);
        }
        all
    }

    /// The disk a role's persistent volumes take of its reservation.
    pub fn volume_disk(&self, role: &str) -> Resources {
        let disk = self.volumes.iter().filter(|v| v.role == role).map(|v| v.disk).sum();
        Resources { disk, ..Default::default() }
    }
}

/// Which connection owns an agent's command stream.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct AgentConn {
    pub generation: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FrameworkRecord {
    pub name: String,
    pub roles: Vec<String>,
    pub failover_timeout_secs: f64,
    pub capabilities: Vec<Capability>,
    pub principal: String,
    pub registered_at: f64,
    /// The roles it suppressed offers for.
    #[serde(default)]
    pub suppressed_roles: BTreeSet<String>,
    #[serde(default)]
    pub offer_constraints: BTreeMap<String, Vec<Vec<OfferConstraint>>>,
    #[serde(default)]
    pub offer_filters: BTreeMap<String, OfferFilters>,
    /// When it registered under an id the store did not know: it came back after the store
    /// lost it (or chose its id itself). For a while after that, agents coming back from the
    /// same loss may report its tasks (see `Master::registration`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub came_back_at: Option<f64>,
    /// The work it declared waiting for resources (`PUT /v1/frameworks/{id}/demand`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub demand: Vec<agora_api::framework::DemandTasks>,
}

impl FrameworkRecord {
    pub fn role(&self) -> String {
        self.roles.first().cloned().unwrap_or_else(|| agora_api::types::DEFAULT_ROLE.to_string())
    }

    pub fn is_partition_aware(&self) -> bool {
        self.capabilities.contains(&Capability::PartitionAware)
    }
}

/// A framework's event stream connection: which replica holds it, and since when it is (dis)connected.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct FrameworkConn {
    /// Bumped by each new connection, so an older one (on any replica) knows it was replaced.
    pub generation: u64,
    pub connected: bool,
    pub ever_connected: bool,
    /// When it last connected or disconnected (Unix seconds).
    pub since: f64,
    /// The replica serving the connection; if that replica stops heartbeating, the framework
    /// counts as disconnected from the replica's last heartbeat.
    pub replica: String,
}

/// Agents whose resources a framework refuses, per role.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Filters {
    #[serde(default)]
    pub roles: BTreeMap<String, BTreeMap<AgentId, Refusal>>,
}

/// One agent refused for one role: until when, and since when (Unix seconds).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Refusal {
    pub until: f64,
    pub since: f64,
}

impl Refusal {
    /// Whether it holds in a round that starts at `now`, the round before having started at
    /// `last_round`. It holds for at least the first round after it was made, however short:
    /// else a decline with `refuse_secs` 0 would be offered the same agent straight back.
    pub fn holds(&self, now: f64, last_round: f64) -> bool {
        self.until > now || self.since >= last_round
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TaskRecord {
    pub framework_id: FrameworkId,
    pub info: TaskInfo,
    pub status: TaskStatus,
    /// The grace period of a kill asked for, so the kill is sent again if the agent
    /// re-registers before it acted on it.
    pub kill_requested: Option<f64>,
    /// The role of the offers it was launched from (absent in records from before roles:
    /// the framework's first role).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The reservation its resources come from (by role), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation: Option<String>,
}

impl TaskRecord {
    pub fn view(&self) -> agora_api::operator::TaskView {
        agora_api::operator::TaskView {
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

/// A named lease (`PUT /v1/leases/{name}`). Kept once released (with no holder), so that its
/// epoch keeps rising across holders.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LeaseRecord {
    /// Empty once released.
    pub holder: String,
    pub epoch: u64,
    /// Unix seconds, by the clock of the replica that wrote it.
    pub expires_at: f64,
}

impl LeaseRecord {
    /// Whether anyone holds it at `now`: taken, not released and not expired.
    pub fn is_held(&self, now: f64) -> bool {
        !self.holder.is_empty() && self.expires_at > now
    }
}

/// A torn-down framework: it cannot register again, and its tasks' updates are acknowledged
/// for it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RemovedRecord {
    pub removed_at: f64,
}

/// A service: its spec, the versions kept, the deployment under way, and its restart backoff.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ServiceRecord {
    pub spec: agora_api::services::ServiceSpec,
    /// The version its instances are brought to.
    pub version: u64,
    /// The number the next new version takes.
    pub next_version: u64,
    /// Kept versions, newest first.
    pub versions: Vec<agora_api::services::ServiceVersion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<DeploymentRecord>,
    #[serde(default)]
    pub backoff: BackoffState,
    /// Deleted: its instances are killed, then the record goes.
    #[serde(default)]
    pub deleting: bool,
    /// Instances the scheduler wanted to launch and found no offer for, at its last look.
    #[serde(default)]
    pub unplaced: u32,
}

/// A deployment under way.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeploymentRecord {
    pub id: String,
    pub from_version: Option<u64>,
    pub from_instances: u32,
    pub to_version: u64,
    pub to_instances: u32,
    pub started_at: f64,
    /// Instances to stop, counted by the scheduler when it first saw the deployment.
    #[serde(default)]
    pub stop_target: Option<u32>,
    /// The progress last announced (`deployment_step`): healthy new, and left to stop.
    #[serde(default)]
    pub announced: (u32, u32),
}

/// A service's restart backoff.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct BackoffState {
    /// Failures in a row; 0 when not backing off.
    pub failures: u32,
    pub delay_secs: f64,
    /// No launch before this (Unix seconds).
    pub until: f64,
    /// The last failure's reason and message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<String>,
}
