//! Services: long-running applications the master's own scheduler keeps at their instance
//! count, placed by constraints and rolled out version by version (Marathon's apps,
//! `docs/services.md`).

use crate::containers::{ContainerInfo, FetchUri};
use crate::ids::{AgentId, TaskId};
use crate::types::{Command, HealthCheck, TaskState};
use crate::Resources;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// `PUT /v1/services/{id}`: what a service runs, how many, where and how it is rolled out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// How many instances to keep running. Default 1.
    #[serde(default = "defaults::instances")]
    #[schema(maximum = 10000)]
    pub instances: u32,
    /// The role its instances' resources are offered to. Default `*`.
    #[serde(default = "defaults::role")]
    pub role: String,
    /// What each instance runs.
    pub task: TaskTemplate,
    /// An HTTP check the scheduler sends each new instance once it runs and is healthy: it
    /// counts (replaces an old instance, serves as an endpoint) only once it answers ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness_check: Option<ReadinessCheck>,
    /// Marathon's constraints: `[field, OPERATOR]` or `[field, OPERATOR, value]`. The field is
    /// `hostname` (or `@hostname`) or an agent attribute; the operators are `UNIQUE`,
    /// `CLUSTER`, `GROUP_BY`, `MAX_PER`, `LIKE`, `UNLIKE` and `IS`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 16)]
    pub constraints: Vec<Vec<String>>,
    #[serde(default)]
    pub upgrade_strategy: UpgradeStrategy,
    #[serde(default)]
    pub backoff: Backoff,
    #[serde(default)]
    pub unreachable_strategy: UnreachableStrategy,
    #[serde(default)]
    pub kill_selection: KillSelection,
}

/// The task each instance runs: a launch's task without the parts the scheduler fills in
/// (id, agent, ports).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskTemplate {
    /// `cpus`, `mem`, `disk`, `gpus`; ports are asked for with `ports`.
    pub resources: Resources,
    /// What it runs; absent: the container image's own command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Command>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerInfo>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fetch: Vec<FetchUri>,
    /// Run by the agent; an instance counts as healthy only once it passes. Without one, a
    /// running instance is healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_grace_period_secs: Option<f64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = crate::Labels)]
    pub labels: BTreeMap<String, String>,
    /// Host ports each instance gets, from its agent's offered ranges, in order: the task sees
    /// them as `$PORT0`, `$PORT1`, ...; a bridged container's port mappings without a host
    /// port take them in order. DNS names each one by its name (SRV `_NAME._tcp`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 16)]
    pub ports: Vec<ServicePort>,
    /// The OS user the instances run as; absent: the agent's default task user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// Marathon's readiness check: `GET http://AGENT:PORT{path}` from the scheduler, every
/// `interval_secs` until the instance answers with one of `http_status_codes_for_ready`; from
/// then on it is ready for good.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadinessCheck {
    /// The name of one of the task's `ports`.
    pub port_name: String,
    #[serde(default = "defaults::path")]
    #[schema(max_length = 2048)]
    pub path: String,
    #[serde(default = "defaults::one")]
    pub interval_secs: f64,
    #[serde(default = "defaults::readiness_timeout")]
    pub timeout_secs: f64,
    #[serde(default = "defaults::ready_codes")]
    #[schema(max_items = 16)]
    pub http_status_codes_for_ready: Vec<u16>,
}

/// A host port an instance gets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServicePort {
    /// A DNS label: lowercase letters, digits and `-`.
    #[schema(min_length = 1, max_length = 63)]
    pub name: String,
}

/// How a new version replaces the old (Marathon's `upgradeStrategy`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpgradeStrategy {
    /// The share of `instances` (rounded up) kept healthy while a deployment runs: an old
    /// instance is killed only while that many stay healthy. 0 to 1, default 1.
    #[serde(default = "defaults::one")]
    pub minimum_health_capacity: f64,
    /// The share of `instances` (rounded up) that may run on top of `instances` during a
    /// deployment. 0 to 1, default 1.
    #[serde(default = "defaults::one")]
    pub maximum_over_capacity: f64,
}

impl Default for UpgradeStrategy {
    fn default() -> Self {
        UpgradeStrategy { minimum_health_capacity: 1.0, maximum_over_capacity: 1.0 }
    }
}

/// The delay before an instance replaces one that failed or exited: `seconds`, then times
/// `factor` for each further failure, up to `max_launch_delay_secs`. It resets with a new
/// version, and after a quiet spell of the delay plus `max_launch_delay_secs`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Backoff {
    #[serde(default = "defaults::one")]
    pub seconds: f64,
    #[serde(default = "defaults::factor")]
    pub factor: f64,
    #[serde(default = "defaults::max_launch_delay")]
    pub max_launch_delay_secs: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { seconds: 1.0, factor: defaults::factor(), max_launch_delay_secs: defaults::max_launch_delay() }
    }
}

/// What happens to an instance whose agent is unreachable: it is replaced after
/// `inactive_after_secs`, and forgotten (killed if its agent comes back) after
/// `expunge_after_secs`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnreachableStrategy {
    #[serde(default)]
    pub inactive_after_secs: f64,
    #[serde(default)]
    pub expunge_after_secs: f64,
}

/// Which instances go first when a service scales down.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KillSelection {
    #[default]
    YoungestFirst,
    OldestFirst,
}

mod defaults {
    pub fn instances() -> u32 {
        1
    }
    pub fn role() -> String {
        crate::types::DEFAULT_ROLE.to_string()
    }
    pub fn one() -> f64 {
        1.0
    }
    pub fn factor() -> f64 {
        1.15
    }
    pub fn max_launch_delay() -> f64 {
        300.0
    }
    pub fn path() -> String {
        "/".to_string()
    }
    pub fn readiness_timeout() -> f64 {
        5.0
    }
    pub fn ready_codes() -> Vec<u16> {
        vec![200]
    }
}

/// `POST /v1/services/{id}/scale`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Scale {
    #[schema(maximum = 10000)]
    pub instances: u32,
}

/// `POST /v1/services/{id}/rollback`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rollback {
    /// The version to go back to; absent: the one before the current one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}

/// What a service is doing, as `agora service list` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServiceStatus {
    /// At its instance count, every instance of its version.
    Running,
    /// A deployment is under way.
    Deploying,
    /// Some instances cannot be placed: see `waiting_reasons`.
    Waiting,
    /// Scaled to 0 instances.
    Suspended,
    /// Launches wait for the restart backoff: see `backoff`.
    Delayed,
    /// Deleted: its instances are being killed.
    Deleting,
}

impl ServiceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceStatus::Running => "running",
            ServiceStatus::Deploying => "deploying",
            ServiceStatus::Waiting => "waiting",
            ServiceStatus::Suspended => "suspended",
            ServiceStatus::Delayed => "delayed",
            ServiceStatus::Deleting => "deleting",
        }
    }
}

/// `GET /v1/services/{id}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceView {
    pub id: String,
    pub spec: ServiceSpec,
    /// The version its instances are being brought to.
    pub version: u64,
    /// The versions kept, newest first: what `rollback` can go back to.
    pub versions: Vec<ServiceVersion>,
    pub status: ServiceStatus,
    pub instances: Vec<InstanceView>,
    /// Instances of the current version that are healthy.
    pub healthy: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<DeploymentView>,
    /// Why instances are not placed or not healthy yet; empty when nothing waits.
    pub waiting_reasons: Vec<WaitingReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<BackoffView>,
}

/// One kept version of a service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceVersion {
    pub version: u64,
    /// When it was made (Unix seconds).
    pub created_at: f64,
    pub spec: ServiceSpec,
}

/// One instance: a task of the service's scheduler.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InstanceView {
    pub task_id: TaskId,
    pub agent_id: AgentId,
    pub hostname: String,
    /// Its host ports, in the order of the spec's `ports`.
    pub ports: Vec<u16>,
    pub state: TaskState,
    /// The agent's health check's last result; absent before the first, or without a check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
    /// Running, healthy where the service has a health check, and ready where it has a
    /// readiness check: it serves, and is an endpoint.
    pub ready: bool,
    pub version: u64,
    /// When it was launched (Unix seconds).
    pub launched_at: f64,
    /// Set when the scheduler asked for it to be killed.
    #[serde(default)]
    pub killing: bool,
}

/// A deployment: bringing a service to a version and an instance count.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeploymentView {
    pub id: String,
    pub service_id: String,
    /// The version the service was at when it began (absent for a new service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_version: Option<u64>,
    pub from_instances: u32,
    pub to_version: u64,
    pub to_instances: u32,
    /// When it began (Unix seconds).
    pub started_at: f64,
    pub steps: Vec<DeploymentStep>,
}

/// One step of a deployment and how far it got.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeploymentStep {
    /// `start_instances` (of the new version, until healthy) or `stop_instances` (of the
    /// versions before, and those over the count).
    pub action: String,
    pub target: u32,
    pub done: u32,
}

/// `GET /v1/deployments`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeploymentList {
    pub deployments: Vec<DeploymentView>,
}

/// Why some of a service's instances wait, in the vocabulary of framework diagnostics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WaitingReason {
    /// How many instances this holds for.
    pub instances: u32,
    /// `constraint_unmet`, `no_free_resources`, `no_agents`, `agents_in_maintenance`,
    /// `quota_limit`, `waiting_for_offers`, `backoff`, `starting`, `unhealthy`, `not_ready`.
    pub code: String,
    pub message: String,
    /// For `backoff`: when the next launch may go (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<f64>,
    /// For `no_free_resources`: the largest free slot of any agent that meets the constraints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub largest_free: Option<Resources>,
}

/// A service's restart backoff while it holds launches back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BackoffView {
    /// Failures in a row of the current version's instances.
    pub failures: u32,
    pub delay_secs: f64,
    /// When the next launch may go (Unix seconds).
    pub until: f64,
}

/// `GET /v1/services`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceList {
    pub services: Vec<ServiceView>,
}

/// What `PUT`, `scale`, `restart`, `rollback` and `DELETE` start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeploymentStarted {
    pub service_id: String,
    pub version: u64,
    /// Absent when nothing changed: no deployment was needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
}

/// `GET /v1/services/{id}/endpoints`: the instances that are running and healthy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Endpoints {
    pub service_id: String,
    pub endpoints: Vec<Endpoint>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Endpoint {
    pub task_id: TaskId,
    pub agent_id: AgentId,
    pub hostname: String,
    /// The port names of the spec, with this instance's host port for each.
    pub ports: BTreeMap<String, u16>,
}

/// Data of the operator stream's `service_updated` event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceEvent {
    pub service_id: String,
    pub version: u64,
    /// `created`, `updated`, `scaled`, `restarted`, `rolled_back`, `deleting` or `deleted`.
    pub change: String,
}

/// Data of `deployment_started`, `deployment_step`, `deployment_finished` and
/// `deployment_failed` events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeploymentEvent {
    pub deployment: DeploymentView,
    /// For `deployment_failed`: why it ended without reaching its target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Data of the `endpoints_changed` event: what changed of a service's endpoints since the last
/// such event. A new leader's first one lists them all as added; a reader that starts late
/// reads `GET /v1/services/{id}/endpoints` first, then applies the changes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EndpointsEvent {
    pub service_id: String,
    pub added: Vec<Endpoint>,
    pub removed: Vec<Endpoint>,
}
