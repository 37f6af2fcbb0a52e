//! The JSON shapes that clients in any language read and write (design.md section 5).

use crate::ids::{AgentId, FrameworkId, OfferId, TaskId, UpdateId};
use crate::resources::Resources;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// The role every framework and resource belongs to unless told otherwise.
pub const DEFAULT_ROLE: &str = "*";

/// A task's lifecycle state, as in Mesos (`TASK_STAGING` is `staging`, and so on).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    Staging,
    Starting,
    Running,
    Killing,
    Finished,
    Failed,
    Killed,
    Error,
    Lost,
    Dropped,
    Unreachable,
    Gone,
    Unknown,
}

impl TaskState {
    pub const ALL: [TaskState; 13] = [
        TaskState::Staging,
        TaskState::Starting,
        TaskState::Running,
        TaskState::Killing,
        TaskState::Finished,
        TaskState::Failed,
        TaskState::Killed,
        TaskState::Error,
        TaskState::Lost,
        TaskState::Dropped,
        TaskState::Unreachable,
        TaskState::Gone,
        TaskState::Unknown,
    ];

    /// Terminal states never change again and free the task's resources. `lost` and
    /// `unreachable` are not terminal: the agent may come back with the task still running.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Finished
                | TaskState::Failed
                | TaskState::Killed
                | TaskState::Error
                | TaskState::Dropped
                | TaskState::Gone
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Staging => "staging",
            TaskState::Starting => "starting",
            TaskState::Running => "running",
            TaskState::Killing => "killing",
            TaskState::Finished => "finished",
            TaskState::Failed => "failed",
            TaskState::Killed => "killed",
            TaskState::Error => "error",
            TaskState::Lost => "lost",
            TaskState::Dropped => "dropped",
            TaskState::Unreachable => "unreachable",
            TaskState::Gone => "gone",
            TaskState::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<TaskState> {
        TaskState::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// Reason codes carried by status updates (Mesos's `REASON_*`, in snake case).
pub mod reason {
    pub const COMMAND_EXITED: &str = "command_exited";
    pub const COMMAND_SIGNALED: &str = "command_signaled";
    pub const LAUNCH_FAILED: &str = "launch_failed";
    pub const KILLED_BY_FRAMEWORK: &str = "killed_by_framework";
    pub const FRAMEWORK_REMOVED: &str = "framework_removed";
    pub const AGENT_REMOVED: &str = "agent_removed";
    pub const AGENT_RESTARTED: &str = "agent_restarted";
    pub const RECONCILIATION: &str = "reconciliation";
    pub const TASK_UNKNOWN: &str = "task_unknown";
    /// The task went over its memory limit and the kernel killed it.
    pub const CONTAINER_LIMITATION_MEMORY: &str = "container_limitation_memory";
    /// A `running` update that says the task's health changed.
    pub const TASK_HEALTH_CHECK_STATUS_UPDATED: &str = "task_health_check_status_updated";
    /// The agent killed the task after too many failed health checks.
    pub const TASK_UNHEALTHY: &str = "task_unhealthy";
    /// The task's image could not be pulled (Mesos's `REASON_CONTAINER_LAUNCH_FAILED`).
    pub const IMAGE_PULL_FAILED: &str = "image_pull_failed";
    /// An artifact of the task's `fetch` could not be downloaded or checked.
    pub const FETCH_FAILED: &str = "fetch_failed";
}

/// The schema of labels: free-form pairs of strings, kept and shown, never interpreted. A
/// type of its own in the document, so that generated SDKs have one `Labels` model; in Rust,
/// labels are a `BTreeMap<String, String>`.
pub struct Labels;

impl utoipa::PartialSchema for Labels {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(AdditionalProperties::RefOr(
                ObjectBuilder::new().schema_type(Type::String).into(),
            )))
            .description(Some("Free-form pairs of strings, kept and shown, never interpreted."))
            .into()
    }
}

impl ToSchema for Labels {}

/// What a task runs: a shell line (`sh -c`) or an argument vector executed directly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    #[schema(title = "ShellCommand")]
    Shell(String),
    #[schema(title = "ArgvCommand")]
    Argv(Vec<String>),
}

/// A task to launch, as a framework sends it in a `launch` operation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskInfo {
    pub task_id: TaskId,
    #[serde(default)]
    #[schema(max_length = 255)]
    pub name: String,
    pub agent_id: AgentId,
    pub resources: Resources,
    pub command: Command,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Seconds between SIGTERM and SIGKILL when the task is killed; 5 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_grace_period_secs: Option<f64>,
    #[serde(default)]
    #[schema(value_type = crate::Labels)]
    pub labels: BTreeMap<String, String>,
    /// The OS user the task runs as. Absent: the agent's default task user (an unprivileged
    /// one). A framework token may name only the users it was issued with, and the agent only
    /// runs tasks as users on its own allow-list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Ids of persistent volumes the task uses, from its offers' `volumes`. Each appears at
    /// its `container_path` in the sandbox, and only one live task uses a volume at a time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<String>,
    /// A check the agent runs against the task while it runs; its results reach the
    /// framework as `running` updates with `healthy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    /// The image the task runs in; absent: a process in its sandbox on the agent's own root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<crate::containers::ContainerInfo>,
    /// Artifacts downloaded into the sandbox before the task starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 64)]
    pub fetch: Vec<crate::containers::FetchUri>,
}

impl TaskInfo {
    /// A task with the defaults for all but what it runs, where, and with what: no name,
    /// environment, labels or volumes, the agent's default user and kill grace period.
    pub fn new(task_id: &str, agent_id: AgentId, resources: Resources, command: Command) -> TaskInfo {
        TaskInfo {
            task_id: TaskId::from(task_id),
            name: String::new(),
            agent_id,
            resources,
            command,
            env: BTreeMap::new(),
            kill_grace_period_secs: None,
            labels: BTreeMap::new(),
            user: None,
            volumes: Vec::new(),
            health_check: None,
            container: None,
            fetch: Vec::new(),
        }
    }

    /// The task run in `container`.
    pub fn container(self, container: crate::containers::ContainerInfo) -> TaskInfo {
        TaskInfo { container: Some(container), ..self }
    }

    /// The task named `name`.
    pub fn name(self, name: &str) -> TaskInfo {
        TaskInfo { name: name.to_string(), ..self }
    }

    /// The task with `key=value` in its environment.
    pub fn env(mut self, key: &str, value: &str) -> TaskInfo {
        self.env.insert(key.to_string(), value.to_string());
        self
    }

    /// The task with the label `key=value`.
    pub fn label(mut self, key: &str, value: &str) -> TaskInfo {
        self.labels.insert(key.to_string(), value.to_string());
        self
    }

    /// The task run as the OS user `user`.
    pub fn user(self, user: &str) -> TaskInfo {
        TaskInfo { user: Some(user.to_string()), ..self }
    }

    /// The task with `secs` between SIGTERM and SIGKILL when killed.
    pub fn kill_grace(self, secs: f64) -> TaskInfo {
        TaskInfo { kill_grace_period_secs: Some(secs), ..self }
    }

    /// The task using the persistent volume `id` from its offer.
    pub fn volume(mut self, id: &str) -> TaskInfo {
        self.volumes.push(id.to_string());
        self
    }

    /// The task checked by `check` while it runs.
    pub fn health_check(self, check: HealthCheck) -> TaskInfo {
        TaskInfo { health_check: Some(check), ..self }
    }
}

/// A health check run by the task's agent, as Mesos-native checks are: a command in the
/// task's sandbox, an HTTP GET or a TCP connect on the agent's host. Failures during the grace
/// period after launch do not count until a check has passed; the task is killed after
/// `consecutive_failures` failures in a row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    pub check: Check,
    /// Seconds before the first check (Mesos's `delay_seconds`).
    #[serde(default = "defaults::delay")]
    pub delay_secs: f64,
    #[serde(default = "defaults::interval")]
    pub interval_secs: f64,
    /// A check that takes longer fails (a command is killed).
    #[serde(default = "defaults::timeout")]
    pub timeout_secs: f64,
    /// Seconds after launch during which failures are forgiven, until the first success.
    #[serde(default = "defaults::grace")]
    pub grace_period_secs: f64,
    #[serde(default = "defaults::failures")]
    pub consecutive_failures: u32,
}

/// Mesos's defaults for health checks.
mod defaults {
    pub fn delay() -> f64 {
        15.0
    }
    pub fn interval() -> f64 {
        10.0
    }
    pub fn timeout() -> f64 {
        20.0
    }
    pub fn grace() -> f64 {
        10.0
    }
    pub fn failures() -> u32 {
        3
    }
}

/// What a health check does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Check {
    /// A shell line run in the task's sandbox, as the task's user, with its environment:
    /// healthy if it exits 0.
    #[schema(title = "CommandCheck")]
    Command(String),
    /// `GET http://127.0.0.1:{port}{path}`: healthy on a 2xx or 3xx answer.
    #[schema(title = "HttpCheck")]
    Http(HttpProbe),
    /// Healthy if a TCP connection to `127.0.0.1:{port}` opens.
    #[schema(title = "TcpCheck")]
    Tcp(TcpProbe),
}

// The probes are types of their own, not inline objects, so that code generators name them
// (openapi-python-client cannot make a model of an object nested in a `oneOf` variant).

/// `GET http://127.0.0.1:{port}{path}`: healthy on a 2xx or 3xx answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpProbe {
    pub port: u16,
    #[serde(default = "root_path")]
    pub path: String,
}

/// Healthy if a TCP connection to `127.0.0.1:{port}` opens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TcpProbe {
    pub port: u16,
}

fn root_path() -> String {
    "/".to_string()
}

/// A persistent volume: reserved disk of one agent, kept in a directory outside task
/// sandboxes, that outlives the tasks using it. Made by the `create_volume` operation (or
/// `POST /v1/agents/{id}/volumes`) and offered again to its role whenever no task uses it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    /// Unique on its agent.
    pub id: String,
    /// The role whose reservation holds its disk.
    pub role: String,
    /// MiB of the reservation's disk it takes.
    pub disk: f64,
    /// Where it appears in the sandbox of a task that uses it: a relative path.
    pub container_path: String,
    /// Who made it.
    #[serde(default)]
    pub principal: String,
}

impl Volume {
    /// Whether `path` may be a volume's `container_path`: relative, each part an id-like name
    /// (so no `..`), and not the sandbox's own `stdout` or `stderr`.
    pub fn is_valid_path(path: &str) -> bool {
        path.len() <= 255
            && !matches!(path.split('/').next(), Some("stdout" | "stderr" | ".agora-exit"))
            && path.split('/').all(crate::ids::is_valid_id)
    }

    /// Whether two volumes of one task would collide: the same path, or one inside the other
    /// (a link inside another volume's directory would outlive the task).
    pub fn paths_overlap(a: &str, b: &str) -> bool {
        a.split('/').zip(b.split('/')).all(|(x, y)| x == y)
    }
}

/// A task's status, as carried by `update` events and reported by agents.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskStatus {
    pub task_id: TaskId,
    pub framework_id: FrameworkId,
    pub agent_id: AgentId,
    pub state: TaskState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
    /// Present when the update must be acknowledged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_id: Option<UpdateId>,
    /// Seconds since the Unix epoch.
    pub timestamp: f64,
    /// Set by agents only, on an update that later ones wait behind: the task's newest state.
    /// It lets the master free a finished task's resources before the framework has
    /// acknowledged its way to the terminal update (Mesos's `latest_state`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_state: Option<TaskState>,
}

/// Resources of one agent offered to one framework.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Offer {
    pub id: OfferId,
    pub framework_id: FrameworkId,
    pub agent_id: AgentId,
    pub hostname: String,
    pub role: String,
    pub resources: Resources,
    pub attributes: BTreeMap<String, String>,
    /// Set when the resources are reserved on the agent to this role (or a role above it):
    /// tasks launched on them use the reservation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation: Option<String>,
    /// Persistent volumes of the reservation that no task uses: a task launched on the offer
    /// may name them. Their disk is not in `resources`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
}

/// The error body of every 4xx and 5xx answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// A stable, machine-readable code such as `unknown_offer`.
    pub code: String,
    /// A sentence for humans.
    pub message: String,
}

/// Seconds since the Unix epoch, as timestamps are written on the wire.
pub fn now_secs() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}
