//! The framework API: request bodies and the events of `GET /v1/frameworks/{id}/events`.

use crate::ids::{AgentId, FrameworkId, OfferId, TaskId, UpdateId};
use crate::resources::Resources;
use crate::types::{ErrorBody, Offer, TaskInfo, TaskStatus, DEFAULT_ROLE};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Optional behaviours a framework opts in to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// Receive `unreachable` instead of `lost` when an agent goes silent.
    PartitionAware,
    /// Receive a `killing` update when a kill starts.
    TaskKillingState,
}

fn default_roles() -> Vec<String> {
    vec![DEFAULT_ROLE.to_string()]
}

/// `POST /v1/frameworks`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterFramework {
    /// Set to re-register after a disconnect, within `failover_timeout_secs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<FrameworkId>,
    #[schema(max_length = 255)]
    pub name: String,
    /// One to 64 roles; by default `["*"]`.
    #[serde(default = "default_roles")]
    #[schema(min_items = 1, max_items = 64)]
    pub roles: Vec<String>,
    /// How long the framework may stay disconnected before it is torn down with its tasks.
    #[serde(default)]
    pub failover_timeout_secs: f64,
    #[serde(default)]
    pub capabilities: Vec<Capability>,
    /// Per role: offers for the role come only from agents that match one of these groups, a
    /// group matching when all its constraints do (Mesos 1.11's offer constraints). A role
    /// not named is offered every agent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub offer_constraints: BTreeMap<String, Vec<Vec<OfferConstraint>>>,
    /// Per role: filters on the offers it is made.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub offer_filters: BTreeMap<String, OfferFilters>,
}

impl RegisterFramework {
    /// A framework named `name` in the default role `*`, torn down with its tasks as soon as
    /// it disconnects (a failover timeout of 0), with no capabilities, constraints or filters.
    pub fn new(name: &str) -> RegisterFramework {
        RegisterFramework {
            id: None,
            name: name.to_string(),
            roles: default_roles(),
            failover_timeout_secs: 0.0,
            capabilities: Vec::new(),
            offer_constraints: BTreeMap::new(),
            offer_filters: BTreeMap::new(),
        }
    }

    /// The framework in `roles` instead.
    pub fn roles(self, roles: &[&str]) -> RegisterFramework {
        RegisterFramework { roles: roles.iter().map(|r| r.to_string()).collect(), ..self }
    }

    /// The framework's tasks outlive a disconnection by `secs`, for it to come back.
    pub fn failover_timeout(self, secs: f64) -> RegisterFramework {
        RegisterFramework { failover_timeout_secs: secs, ..self }
    }

    /// The framework with capability `capability`.
    pub fn capability(mut self, capability: Capability) -> RegisterFramework {
        self.capabilities.push(capability);
        self
    }
}

/// One test an agent must pass for a role's offers to come from it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferConstraint {
    pub selector: Selector,
    pub predicate: Predicate,
}

/// What of the agent a constraint tests.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Selector {
    /// The agent's hostname.
    Hostname,
    /// One of the agent's attributes (`--attributes rack:r1`), by name.
    #[schema(title = "AttributeSelector")]
    Attribute(String),
}

/// The test. `equals` and `not_equals` compare text; `matches` is a regular expression (Rust
/// `regex` syntax) that must match the whole value. A missing attribute fails every test but
/// `not_exists` and `not_equals`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Predicate {
    Exists,
    NotExists,
    Equals(String),
    NotEquals(String),
    Matches(String),
}

/// Filters on the offers made to one role of a framework.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferFilters {
    /// An offer is made only if it holds at least one of these amounts (by scalar name:
    /// `{"cpus": 1, "mem": 512}`), as Mesos's `min_allocatable_resources`. Empty: the
    /// cluster's minimum (`--min-allocatable`).
    #[serde(default)]
    pub min_allocatable_resources: Vec<BTreeMap<String, f64>>,
}

/// The answer to a registration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FrameworkRegistered {
    pub framework_id: FrameworkId,
    pub heartbeat_interval_secs: f64,
}

/// Offer filters set by accept and decline.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    /// How long this agent's resources are kept from the framework (decline default: 5 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refuse_secs: Option<f64>,
}

/// An operation applied to the resources of accepted offers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Operation {
    /// Launch tasks on the offers' agent.
    #[schema(title = "LaunchOperation")]
    Launch { tasks: Vec<TaskInfo> },
    /// Reserve part of unreserved offers for the offers' role (a dynamic reservation, with
    /// labels): it is offered again, reserved. Not in the same accept as a launch.
    #[schema(title = "ReserveOperation")]
    Reserve {
        resources: Resources,
        #[serde(default)]
        #[schema(value_type = crate::Labels)]
        labels: BTreeMap<String, String>,
    },
    /// Give back part of reserved offers' dynamic reservation. Not in the same accept as a
    /// launch.
    #[schema(title = "UnreserveOperation")]
    Unreserve { resources: Resources },
    /// Make a persistent volume of `disk` MiB from the reserved disk of the offers (or of a
    /// `reserve` before it in the same accept). Not in the same accept as a launch.
    #[schema(title = "CreateVolumeOperation")]
    CreateVolume { id: String, disk: f64, container_path: String },
    /// Destroy a persistent volume the offers carry, with its files: its disk goes back to
    /// the reservation. Not in the same accept as a launch.
    #[schema(title = "DestroyVolumeOperation")]
    DestroyVolume { id: String },
}

/// `POST /v1/frameworks/{id}/accept`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Accept {
    pub offer_ids: Vec<OfferId>,
    pub operations: Vec<Operation>,
    #[serde(default)]
    pub filters: Filters,
}

/// `POST /v1/frameworks/{id}/decline`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decline {
    pub offer_ids: Vec<OfferId>,
    #[serde(default)]
    pub filters: Filters,
}

/// `POST /v1/frameworks/{id}/revive` and `/suppress`: the roles concerned, all when empty.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Roles {
    #[serde(default)]
    pub roles: Vec<String>,
}

/// `POST /v1/frameworks/{id}/acknowledge`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Acknowledge {
    pub task_id: TaskId,
    pub agent_id: AgentId,
    pub update_id: UpdateId,
}

/// One task named in a reconcile request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconcileTask {
    pub task_id: TaskId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
}

/// `POST /v1/frameworks/{id}/reconcile`: the named tasks, or all of the framework's when empty.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reconcile {
    #[serde(default)]
    pub tasks: Vec<ReconcileTask>,
}

/// The latest status of each task asked about; unknown tasks come back `unknown`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Reconciled {
    pub statuses: Vec<TaskStatus>,
}

/// `POST /v1/frameworks/{id}/tasks/{task_id}/kill`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Kill {
    /// Overrides the task's grace period between SIGTERM and SIGKILL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period_secs: Option<f64>,
}

/// `PUT /v1/frameworks/{id}/demand`: the work a framework has waiting for resources, declared so
/// that an autoscaler can see what no agent has room (or the attributes) for. It replaces what
/// the framework declared before; an empty list clears it. The master only keeps it: offers do
/// not depend on it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Demand {
    /// At most 1000 entries.
    #[schema(max_items = 1000)]
    pub tasks: Vec<DemandTasks>,
}

/// Tasks of one shape waiting to be launched.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DemandTasks {
    /// How many such tasks wait: 1 to 100000.
    #[schema(minimum = 1, maximum = 100000)]
    pub count: u32,
    /// What each of them needs.
    pub resources: Resources,
    /// The role they would run in, one of the framework's roles; absent when it does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Where they may run, as Marathon's constraints: `[field, OPERATOR]` or
    /// `[field, OPERATOR, value]` (such as `["zone", "IS", "a"]`), kept as given. At most 16,
    /// each of 2 or 3 strings of at most 255 characters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 16)]
    pub constraints: Vec<Vec<String>>,
}

/// Data of the `subscribed` event, the first on every connection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Subscribed {
    pub framework_id: FrameworkId,
    pub heartbeat_interval_secs: f64,
}

/// Data of the `offers` event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Offers {
    pub offers: Vec<Offer>,
}

/// Data of the `inverse_offers` event: an operator is draining agents this framework has tasks
/// on. Move them before the deadline; a `rescind` with the same id means the agent was
/// reactivated and the tasks may stay.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InverseOffers {
    pub inverse_offers: Vec<InverseOffer>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InverseOffer {
    pub id: OfferId,
    pub framework_id: FrameworkId,
    pub agent_id: AgentId,
    pub hostname: String,
    /// When the tasks still on the agent are killed (Unix seconds).
    pub deadline: f64,
    /// This framework's tasks on the agent.
    pub tasks: Vec<TaskId>,
}

/// Data of the `rescind` event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Rescind {
    pub offer_id: OfferId,
}

/// Data of the `update` event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Update {
    pub status: TaskStatus,
}

/// Data of the `failure` event: an agent was removed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Failure {
    pub agent_id: AgentId,
}

/// One event of a framework's stream, by its SSE event name.
#[derive(Clone, Debug, PartialEq)]
pub enum FrameworkEvent {
    Subscribed(Subscribed),
    Offers(Offers),
    InverseOffers(InverseOffers),
    Rescind(Rescind),
    Update(Update),
    Failure(Failure),
    Error(ErrorBody),
    Heartbeat,
}

impl FrameworkEvent {
    /// The SSE `event:` name.
    pub fn name(&self) -> &'static str {
        match self {
            FrameworkEvent::Subscribed(_) => "subscribed",
            FrameworkEvent::Offers(_) => "offers",
            FrameworkEvent::InverseOffers(_) => "inverse_offers",
            FrameworkEvent::Rescind(_) => "rescind",
            FrameworkEvent::Update(_) => "update",
            FrameworkEvent::Failure(_) => "failure",
            FrameworkEvent::Error(_) => "error",
            FrameworkEvent::Heartbeat => "heartbeat",
        }
    }

    /// The SSE `data:` JSON.
    pub fn data(&self) -> String {
        let json = match self {
            FrameworkEvent::Subscribed(e) => serde_json::to_string(e),
            FrameworkEvent::Offers(e) => serde_json::to_string(e),
            FrameworkEvent::InverseOffers(e) => serde_json::to_string(e),
            FrameworkEvent::Rescind(e) => serde_json::to_string(e),
            FrameworkEvent::Update(e) => serde_json::to_string(e),
            FrameworkEvent::Failure(e) => serde_json::to_string(e),
            FrameworkEvent::Error(e) => serde_json::to_string(e),
            FrameworkEvent::Heartbeat => Ok("{}".to_string()),
        };
        json.unwrap_or_else(|_| "{}".to_string())
    }

    /// Reads an event from its SSE name and data; `None` for names this version does not know.
    pub fn parse(name: &str, data: &str) -> Result<Option<FrameworkEvent>, serde_json::Error> {
        Ok(Some(match name {
            "subscribed" => FrameworkEvent::Subscribed(serde_json::from_str(data)?),
            "offers" => FrameworkEvent::Offers(serde_json::from_str(data)?),
            "inverse_offers" => FrameworkEvent::InverseOffers(serde_json::from_str(data)?),
            "rescind" => FrameworkEvent::Rescind(serde_json::from_str(data)?),
            "update" => FrameworkEvent::Update(serde_json::from_str(data)?),
            "failure" => FrameworkEvent::Failure(serde_json::from_str(data)?),
            "error" => FrameworkEvent::Error(serde_json::from_str(data)?),
            "heartbeat" => FrameworkEvent::Heartbeat,
            _ => return Ok(None),
        }))
    }
}
