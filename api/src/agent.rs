//! The agent protocol: registration, the command stream `GET /v1/agents/{id}/commands`, and
//! status updates.

use crate::ids::{AgentId, FrameworkId, TaskId, UpdateId};
use crate::resources::Resources;
use crate::types::{TaskInfo, TaskStatus, Volume};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// `POST /v1/agents`: register, or re-register with `agent_id` and the tasks the agent runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterAgent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    #[schema(min_length = 1, max_length = 255)]
    pub hostname: String,
    pub resources: Resources,
    /// Static reservations: parts of `resources` that only a role (and the roles below it)
    /// is offered, by role (`--resources cpus(analytics):4`). Scalars only.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reserved: BTreeMap<String, Resources>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// The tasks the agent runs now, with their resources, so the master can account for them.
    #[serde(default)]
    pub tasks: Vec<RunningTask>,
    /// How it can run tasks; absent (an agent before 0.3): processes only.
    #[serde(default = "process_only")]
    pub containerizers: Vec<crate::containers::Containerizer>,
}

fn process_only() -> Vec<crate::containers::Containerizer> {
    vec![crate::containers::Containerizer::Process]
}

/// A task an agent reports at re-registration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunningTask {
    pub framework_id: FrameworkId,
    pub task: TaskInfo,
    pub status: TaskStatus,
}

/// The answer to an agent's registration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentRegistered {
    pub agent_id: AgentId,
    /// How often the agent must call `POST /v1/agents/{id}/heartbeat`.
    pub heartbeat_interval_secs: f64,
}

/// `POST /v1/agents/{id}/updates`: task status updates, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusUpdates {
    pub updates: Vec<TaskStatus>,
}

/// Data of the `launch` command.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LaunchCommand {
    pub framework_id: FrameworkId,
    pub task: TaskInfo,
    /// The persistent volumes the task names, to link into its sandbox.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
}

/// Data of the `destroy_volume` command: delete a persistent volume's directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DestroyVolumeCommand {
    pub id: String,
}

/// Data of the `kill` command.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct KillCommand {
    pub framework_id: FrameworkId,
    pub task_id: TaskId,
    /// Seconds between SIGTERM and SIGKILL.
    pub grace_period_secs: f64,
}

/// Data of the `acknowledge` command: the framework has the update, send the next one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AcknowledgeCommand {
    pub framework_id: FrameworkId,
    pub task_id: TaskId,
    pub update_id: UpdateId,
}

/// Which of a task's output files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogStream {
    Stdout,
    Stderr,
}

impl LogStream {
    pub fn as_str(self) -> &'static str {
        match self {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
        }
    }
}

/// Data of the `read_log` command: send bytes of a task's sandbox file to
/// `POST /v1/agents/{id}/logs/{request_id}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReadLogCommand {
    pub request_id: String,
    pub framework_id: FrameworkId,
    pub task_id: TaskId,
    pub stream: LogStream,
    /// Byte offset to read from.
    pub offset: u64,
    /// The most bytes to send.
    pub max_bytes: u64,
    /// If the file has nothing past `offset` and the task still runs, wait up to this long for
    /// more before answering.
    pub wait_secs: f64,
}

/// Query of `POST /v1/agents/{id}/logs/{request_id}`; the body is the bytes read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogChunkInfo {
    /// The offset the bytes start at.
    pub offset: u64,
    /// Whether the file exists at all.
    pub found: bool,
    /// Whether the task has ended, so no more bytes will come.
    pub task_ended: bool,
    /// Whether the agent refused to read the file (a link, a FIFO, a device, or a file that
    /// is not the task's user's, which the task may have planted): the body then says why.
    #[serde(default)]
    pub refused: bool,
}

/// One command of an agent's stream, by its SSE event name.
// Commands are handled one at a time as they arrive, never stored in bulk: boxing the launch
// would cost an allocation per launch for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum AgentCommand {
    Launch(LaunchCommand),
    Kill(KillCommand),
    Acknowledge(AcknowledgeCommand),
    ReadLog(ReadLogCommand),
    DestroyVolume(DestroyVolumeCommand),
    /// The master no longer knows this agent: kill everything and register afresh.
    Shutdown,
    Ping,
}

impl AgentCommand {
    pub fn name(&self) -> &'static str {
        match self {
            AgentCommand::Launch(_) => "launch",
            AgentCommand::Kill(_) => "kill",
            AgentCommand::Acknowledge(_) => "acknowledge",
            AgentCommand::ReadLog(_) => "read_log",
            AgentCommand::DestroyVolume(_) => "destroy_volume",
            AgentCommand::Shutdown => "shutdown",
            AgentCommand::Ping => "ping",
        }
    }

    pub fn data(&self) -> String {
        let json = match self {
            AgentCommand::Launch(c) => serde_json::to_string(c),
            AgentCommand::Kill(c) => serde_json::to_string(c),
            AgentCommand::Acknowledge(c) => serde_json::to_string(c),
            AgentCommand::ReadLog(c) => serde_json::to_string(c),
            AgentCommand::DestroyVolume(c) => serde_json::to_string(c),
            AgentCommand::Shutdown | AgentCommand::Ping => Ok("{}".to_string()),
        };
        json.unwrap_or_else(|_| "{}".to_string())
    }

    /// Reads a command from its SSE name and data; `None` for names this version does not know.
    pub fn parse(name: &str, data: &str) -> Result<Option<AgentCommand>, serde_json::Error> {
        Ok(Some(match name {
            "launch" => AgentCommand::Launch(serde_json::from_str(data)?),
            "kill" => AgentCommand::Kill(serde_json::from_str(data)?),
            "acknowledge" => AgentCommand::Acknowledge(serde_json::from_str(data)?),
            "read_log" => AgentCommand::ReadLog(serde_json::from_str(data)?),
            "destroy_volume" => AgentCommand::DestroyVolume(serde_json::from_str(data)?),
            "shutdown" => AgentCommand::Shutdown,
            "ping" => AgentCommand::Ping,
            _ => return Ok(None),
        }))
    }
}
