//! Operator views: what `agora agents`, `agora frameworks`, `agora tasks` and dashboards read.

use crate::ids::{AgentId, FrameworkId, OfferId, TaskId};
use crate::resources::Resources;
use crate::types::{TaskState, TaskStatus, Volume};
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
    /// The parts of `total` reserved to roles, statically and dynamically together.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reserved: BTreeMap<String, Resources>,
    /// The dynamic reservations among them, with their labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reservations: Vec<Reservation>,
    /// Persistent volumes, on reserved disk.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    /// Held by tasks.
    pub used: Resources,
    /// Held by outstanding offers.
    pub offered: Resources,
    pub tasks: usize,
    /// Seconds since the Unix epoch.
    pub registered_at: f64,
    pub last_seen: f64,
    /// An operator's hold on it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance: Option<Maintenance>,
    /// How it runs tasks: `process`, and `oci` or `docker` where it can run images.
    #[serde(default)]
    pub containerizers: Vec<crate::containers::Containerizer>,
    /// Draining, and no task of it is left running: it may be taken down.
    #[serde(default)]
    pub drained: bool,
}

/// An operator's hold on an agent: `POST /v1/agents/{id}/drain` or `/deactivate`, lifted by
/// `/reactivate`. Either way the agent is offered to no one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Maintenance {
    /// Its tasks run on.
    #[schema(title = "Deactivated")]
    Deactivated { since: f64 },
    /// The frameworks with tasks on it were sent an inverse offer; the tasks still there at
    /// `deadline` are killed (each with its own kill grace period).
    #[schema(title = "Draining")]
    Draining { since: f64, deadline: f64, inverse_offer_id: OfferId },
}

/// A dynamic reservation: part of an agent offered only to a role (and the roles below it),
/// made by `POST /v1/agents/{id}/reserve`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Reservation {
    pub role: String,
    pub resources: Resources,
    #[serde(default)]
    #[schema(value_type = crate::Labels)]
    pub labels: BTreeMap<String, String>,
    /// Who made it.
    #[serde(default)]
    pub principal: String,
}

/// `POST /v1/agents/{id}/volumes`: a persistent volume on a role's reserved, unused disk.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateVolume {
    #[schema(min_length = 1, max_length = 255)]
    pub role: String,
    /// Unique on the agent.
    pub id: String,
    /// MiB.
    pub disk: f64,
    /// Where it appears in a task's sandbox: a relative path.
    pub container_path: String,
}

/// `POST /v1/agents/{id}/reserve` and `/unreserve`: scalars only. Unreserving takes back the
/// newest dynamic reservations of the role first; labels are for reserving.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReserveResources {
    #[schema(min_length = 1, max_length = 255)]
    pub role: String,
    pub resources: Resources,
    #[serde(default)]
    #[schema(value_type = crate::Labels)]
    pub labels: BTreeMap<String, String>,
}

/// `POST /v1/agents/{id}/drain`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DrainAgent {
    /// Seconds the frameworks have to move their tasks before those still on the agent are
    /// killed (default 0: killed now).
    #[serde(default)]
    pub grace_period_secs: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FrameworkView {
    pub id: FrameworkId,
    pub name: String,
    /// The principal of the token that registered it.
    pub principal: String,
    pub roles: Vec<String>,
    /// The roles it suppressed offers for.
    #[serde(default)]
    pub suppressed_roles: Vec<String>,
    /// Whether its event stream is open.
    pub connected: bool,
    pub failover_timeout_secs: f64,
    pub used: Resources,
    pub offered: Resources,
    pub tasks: usize,
    pub registered_at: f64,
    /// The work it declared waiting for resources (`PUT /v1/frameworks/{id}/demand`), for an
    /// autoscaler to read; absent when it declared none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub demand: Vec<crate::framework::DemandTasks>,
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

/// Data of the operator stream's `agent_added`, `agent_unreachable` and `agent_removed` events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentEvent {
    pub agent_id: AgentId,
    pub hostname: String,
}

/// Data of the operator stream's `framework_added` and `framework_removed` events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FrameworkEventData {
    pub framework_id: FrameworkId,
    pub name: String,
}

/// Data of the operator stream's `task_updated` event: the task's new status, as its framework
/// sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskEvent {
    pub status: TaskStatus,
}

/// One event of the operator stream (`GET /v1/events`), by its SSE event name: what changes in
/// the cluster, for dashboards and tools, as Mesos's operator `SUBSCRIBE` stream.
#[derive(Clone, Debug, PartialEq)]
pub enum OperatorEvent {
    AgentAdded(AgentEvent),
    AgentUnreachable(AgentEvent),
    AgentRemoved(AgentEvent),
    FrameworkAdded(FrameworkEventData),
    FrameworkRemoved(FrameworkEventData),
    TaskUpdated(TaskEvent),
    ServiceUpdated(crate::services::ServiceEvent),
    DeploymentStarted(crate::services::DeploymentEvent),
    DeploymentStep(crate::services::DeploymentEvent),
    DeploymentFinished(crate::services::DeploymentEvent),
    DeploymentFailed(crate::services::DeploymentEvent),
    EndpointsChanged(crate::services::EndpointsEvent),
    Autoscaler(AutoscalerEvent),
}

impl OperatorEvent {
    /// The SSE `event:` name.
    pub fn name(&self) -> &'static str {
        match self {
            OperatorEvent::AgentAdded(_) => "agent_added",
            OperatorEvent::AgentUnreachable(_) => "agent_unreachable",
            OperatorEvent::AgentRemoved(_) => "agent_removed",
            OperatorEvent::FrameworkAdded(_) => "framework_added",
            OperatorEvent::FrameworkRemoved(_) => "framework_removed",
            OperatorEvent::TaskUpdated(_) => "task_updated",
            OperatorEvent::ServiceUpdated(_) => "service_updated",
            OperatorEvent::DeploymentStarted(_) => "deployment_started",
            OperatorEvent::DeploymentStep(_) => "deployment_step",
            OperatorEvent::DeploymentFinished(_) => "deployment_finished",
            OperatorEvent::DeploymentFailed(_) => "deployment_failed",
            OperatorEvent::EndpointsChanged(_) => "endpoints_changed",
            OperatorEvent::Autoscaler(_) => "autoscaler",
        }
    }

    /// The SSE `data:` JSON.
    pub fn data(&self) -> String {
        let json = match self {
            OperatorEvent::AgentAdded(e) | OperatorEvent::AgentUnreachable(e) | OperatorEvent::AgentRemoved(e) => {
                serde_json::to_string(e)
            }
            OperatorEvent::FrameworkAdded(e) | OperatorEvent::FrameworkRemoved(e) => serde_json::to_string(e),
            OperatorEvent::TaskUpdated(e) => serde_json::to_string(e),
            OperatorEvent::ServiceUpdated(e) => serde_json::to_string(e),
            OperatorEvent::DeploymentStarted(e)
            | OperatorEvent::DeploymentStep(e)
            | OperatorEvent::DeploymentFinished(e)
            | OperatorEvent::DeploymentFailed(e) => serde_json::to_string(e),
            OperatorEvent::EndpointsChanged(e) => serde_json::to_string(e),
            OperatorEvent::Autoscaler(e) => serde_json::to_string(e),
        };
        json.unwrap_or_else(|_| "{}".to_string())
    }

    /// Reads an event from its SSE name and data; `None` for names this version does not know.
    pub fn parse(name: &str, data: &str) -> Result<Option<OperatorEvent>, serde_json::Error> {
        Ok(Some(match name {
            "agent_added" => OperatorEvent::AgentAdded(serde_json::from_str(data)?),
            "agent_unreachable" => OperatorEvent::AgentUnreachable(serde_json::from_str(data)?),
            "agent_removed" => OperatorEvent::AgentRemoved(serde_json::from_str(data)?),
            "framework_added" => OperatorEvent::FrameworkAdded(serde_json::from_str(data)?),
            "framework_removed" => OperatorEvent::FrameworkRemoved(serde_json::from_str(data)?),
            "task_updated" => OperatorEvent::TaskUpdated(serde_json::from_str(data)?),
            "service_updated" => OperatorEvent::ServiceUpdated(serde_json::from_str(data)?),
            "deployment_started" => OperatorEvent::DeploymentStarted(serde_json::from_str(data)?),
            "deployment_step" => OperatorEvent::DeploymentStep(serde_json::from_str(data)?),
            "deployment_finished" => OperatorEvent::DeploymentFinished(serde_json::from_str(data)?),
            "deployment_failed" => OperatorEvent::DeploymentFailed(serde_json::from_str(data)?),
            "endpoints_changed" => OperatorEvent::EndpointsChanged(serde_json::from_str(data)?),
            "autoscaler" => OperatorEvent::Autoscaler(serde_json::from_str(data)?),
            _ => return Ok(None),
        }))
    }
}

/// `POST /v1/autoscaler/events`, and the data of the operator stream's `autoscaler` event: a
/// decision an autoscaler made (or, with `dry_run`, would have made), for operators to follow
/// on the same stream as what it acted on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoscalerEvent {
    /// What it decided: `launch`, `launch_failed`, `drain`, `reactivate`, `terminate`,
    /// `unplaceable`, `scale_in_skipped`, ...: 1 to 64 characters, no control characters.
    #[schema(min_length = 1, max_length = 64)]
    pub action: String,
    /// Why, for people: at most 4096 characters.
    #[schema(max_length = 4096)]
    pub reason: String,
    /// The replica of the autoscaler that decided (the holder of its lease): at most 255
    /// characters, no control characters.
    #[schema(max_length = 255)]
    pub holder: String,
    /// Decided but not done: the autoscaler runs in dry-run mode.
    #[serde(default)]
    pub dry_run: bool,
    /// The pool of instances it concerns (at most 255 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 255)]
    pub pool: Option<String>,
    /// The instance type it launched or would launch (at most 255 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 255)]
    pub instance_type: Option<String>,
    /// The cloud's ids of the instances concerned: at most 1000, each at most 255 characters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 1000)]
    pub instance_ids: Vec<String>,
    /// The agent concerned (drained, reactivated, terminated), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    /// How many: instances launched, tasks that cannot be placed, ...
    #[serde(default)]
    pub count: u32,
}

/// `PUT /v1/leases/{name}`: takes or renews a named lease, so that of several replicas of a
/// tool (an autoscaler) one acts at a time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcquireLease {
    /// Who takes it: 1 to 255 characters, no control characters. The same holder renews it.
    #[schema(min_length = 1, max_length = 255)]
    pub holder: String,
    /// How long it lasts without renewal, in seconds from now by the server's clock: more
    /// than 0, at most 3600.
    #[schema(exclusive_minimum = 0, maximum = 3600)]
    pub ttl_secs: f64,
}

/// A named lease, as `PUT` and `GET /v1/leases/{name}` answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Lease {
    pub name: String,
    /// Who holds it, or held it last; empty once released.
    pub holder: String,
    /// Rises by one each time the lease is taken (not when it is renewed): a holder that sees
    /// its epoch change lost the lease in between.
    pub epoch: u64,
    /// When it expires unless renewed, in seconds since the Unix epoch, by the server's clock;
    /// in the past once expired or released.
    pub expires_at: f64,
}

/// The query of `DELETE /v1/leases/{name}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReleaseLease {
    /// The holder giving it up: the lease is released only if this holder has it.
    pub holder: String,
}

fn one() -> f64 {
    1.0
}

/// `PUT /v1/roles/{role}`: a role's weight and quota. Quota counts scalar resources only
/// (`cpus`, `mem`, `disk`, `gpus`), held by the role and every role below it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    /// The role's weight in fair sharing: a role of weight 2 gets twice the share. Default 1.
    #[serde(default = "one")]
    pub weight: f64,
    #[serde(default)]
    pub quota: Quota,
}

impl Default for RoleConfig {
    fn default() -> Self {
        RoleConfig { weight: 1.0, quota: Quota::default() }
    }
}

/// Amounts by scalar resource name (`cpus`, `mem` in MiB, `disk` in MiB, `gpus`); a resource
/// not named is not constrained.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    /// Held back for the role while the cluster is contended: other roles are not offered
    /// what the role still needs to reach it.
    #[serde(default)]
    pub guarantee: BTreeMap<String, f64>,
    /// Never exceeded by what the role's tasks and offers hold.
    #[serde(default)]
    pub limit: BTreeMap<String, f64>,
}

/// A role: its settings and what its frameworks hold now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RoleView {
    pub role: String,
    pub weight: f64,
    pub quota: Quota,
    /// Held by the tasks and offers of the role and of the roles below it.
    pub allocated: Resources,
    /// Reserved to the role and the roles below it on active agents, used or not.
    #[serde(default)]
    pub reserved: Resources,
    /// Quota consumption, which the limit caps and the guarantee is measured against:
    /// `reserved`, plus what of `allocated` is not on reservations (as in Mesos).
    #[serde(default)]
    pub consumed: Resources,
    /// `allocated` over the cluster's total, the largest over scalar resources.
    pub dominant_share: f64,
    /// Frameworks registered in the role itself.
    pub frameworks: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RoleList {
    pub roles: Vec<RoleView>,
}

/// `GET /v1/frameworks/{id}/diagnostics`: why the framework is not being offered more right
/// now, as of the latest state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Diagnostics {
    pub framework_id: FrameworkId,
    /// Resources held by its outstanding offers, waiting for it to accept or decline them.
    pub offered: Resources,
    /// Reasons that hold for all its roles (`not_connected`, `offers_outstanding`).
    pub reasons: Vec<Reason>,
    /// Per role it is registered with, the reasons that hold for that role.
    pub roles: Vec<RoleDiagnostics>,
}

/// Why one role of a framework is not offered more.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RoleDiagnostics {
    pub role: String,
    /// Every reason that applies, most blocking first; empty when resources are free for it
    /// and the next round will offer them.
    pub reasons: Vec<Reason>,
}

/// One reason a framework is not offered resources.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Reason {
    /// `not_connected`, `suppressed`, `filtered`, `quota_limit`, `kept_for_guarantees`,
    /// `no_agents`, `agents_in_maintenance` (draining or deactivated), `no_matching_agents`
    /// (offer constraints), `below_min_allocatable`,
    /// `no_free_resources`, `offers_outstanding`.
    pub code: String,
    pub message: String,
    /// For `filtered`: when the last of its filters expires (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<f64>,
    /// For `no_free_resources`: the largest free slot of any agent (after tasks and offers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub largest_free: Option<Resources>,
}

/// The query of `GET /v1/tasks`: which tasks to list (all the token may read when empty).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskFilter {
    /// Only this framework's tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework_id: Option<FrameworkId>,
    /// Only tasks on this agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    /// Only tasks in this state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<TaskState>,
}

/// The query of `GET /v1/tasks/{task_id}/logs`: which of a task's output files, and where in it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// The task's framework, when tasks of several frameworks share the id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework_id: Option<FrameworkId>,
    /// `stdout` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<crate::agent::LogStream>,
    /// The byte to start from; 0 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// The most bytes to return (the server's cap, 1 MiB, when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    /// If nothing is past `offset` and the task runs, how long to wait for more (cap 30 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_secs: Option<f64>,
    /// Stream the output as it is written, until the task ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow: Option<bool>,
}
