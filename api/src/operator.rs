//! Operator views: what `agora agents`, `agora frameworks`, `agora tasks` and dashboards read.

use crate::ids::{AgentId, FrameworkId, TaskId};
use crate::resources::Resources;
use crate::types::{TaskState, TaskStatus};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Whether an agent is usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    /// Heard from within the agent timeout; its resources are offered.
    Active,
    /// Silent past the agent timeout; its tasks were reported unreachable or lost.
    Unreachable,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentView {
    pub id: AgentId,
    pub hostname: String,
    pub state: AgentState,
    pub attributes: BTreeMap<String, String>,
    pub total: Resources,
    /// Held by tasks.
    pub used: Resources,
    /// Held by outstanding offers.
    pub offered: Resources,
    pub tasks: usize,
    /// Seconds since the Unix epoch.
    pub registered_at: f64,
    pub last_seen: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FrameworkView {
    pub id: FrameworkId,
    pub name: String,
    pub roles: Vec<String>,
    /// Whether its event stream is open.
    pub connected: bool,
    pub failover_timeout_secs: f64,
    pub used: Resources,
    pub offered: Resources,
    pub tasks: usize,
    pub registered_at: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskView {
    pub task_id: TaskId,
    pub framework_id: FrameworkId,
    pub agent_id: AgentId,
    pub name: String,
    pub state: TaskState,
    pub resources: Resources,
    /// The latest status.
    pub status: TaskStatus,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentList {
    pub agents: Vec<AgentView>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FrameworkList {
    pub frameworks: Vec<FrameworkView>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskList {
    pub tasks: Vec<TaskView>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OfferList {
    pub offers: Vec<crate::types::Offer>,
}

/// `GET /v1/cluster`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClusterView {
    pub version: String,
    /// The replica that holds the allocator lease (empty while none does).
    pub leader: String,
    /// The lease's epoch: it rises each time a replica takes the lease, and every allocator
    /// write checks it, so a deposed leader changes nothing.
    pub epoch: u64,
    /// The state store: `embedded` or `redis`.
    pub store: String,
    /// The replica that answered this request.
    pub replica: String,
    pub total: Resources,
    pub used: Resources,
    pub offered: Resources,
    pub agents: usize,
    pub frameworks: usize,
    pub tasks: usize,
}
