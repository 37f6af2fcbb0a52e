//! Task logs relayed from agents. A reader's request becomes a `read_log` command on the
//! agent's stream; the agent posts the bytes back, and they reach the waiting reader through
//! a one-shot channel keyed by request id. Agents need no inbound port for this.

use crate::error::ServerError;
use crate::master::Master;
use agora_api::agent::{AgentCommand, LogChunkInfo, LogStream, ReadLogCommand};
use agora_api::{FrameworkId, TaskId};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::oneshot;

/// The most bytes one read returns.
pub const MAX_CHUNK_BYTES: u64 = 1024 * 1024;
/// The longest a reader may ask the agent to wait for new output.
pub const MAX_WAIT_SECS: f64 = 30.0;
/// How long beyond its wait an agent has to answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// Readers waiting at once; more get 503-like errors rather than unbounded memory.
const MAX_WAITERS: usize = 10_000;

pub struct Chunk {
    pub info: LogChunkInfo,
    pub data: Bytes,
}

#[derive(Default)]
pub struct LogRelay {
    waiters: Mutex<HashMap<String, oneshot::Sender<Chunk>>>,
}

/// What a reader asks for.
#[derive(Clone)]
pub struct LogRequest {
    pub framework_id: Option<FrameworkId>,
    pub task_id: TaskId,
    pub stream: LogStream,
    pub offset: u64,
    pub max_bytes: u64,
    pub wait_secs: f64,
}

impl LogRelay {
    fn waiters(&self) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<Chunk>>> {
        self.waiters.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks the task's agent for a chunk and waits for it.
    pub async fn read(&self, master: &Master, req: LogRequest) -> Result<Chunk, ServerError> {
        if !req.wait_secs.is_finite() || req.wait_secs < 0.0 {
            return Err(ServerError::bad("invalid_wait", "wait_secs must be a non-negative number"));
        }
        let wait_secs = req.wait_secs.min(MAX_WAIT_SECS);
        let (framework_id, agent_id, _) = master.task_location(req.framework_id.as_ref(), &req.task_id).await?;
        let request_id = agora_api::UpdateId::random().0;
        let (tx, rx) = oneshot::channel();
        {
            let mut waiters = self.waiters();
            if waiters.len() >= MAX_WAITERS {
                return Err(ServerError::Timeout {
                    code: "too_many_readers",
                    message: "too many log readers; retry".into(),
                });
            }
            waiters.insert(request_id.clone(), tx);
        }
        let command = AgentCommand::ReadLog(ReadLogCommand {
            request_id: request_id.clone(),
            framework_id,
            task_id: req.task_id,
            stream: req.stream,
            offset: req.offset,
            max_bytes: req.max_bytes.clamp(1, MAX_CHUNK_BYTES),
            wait_secs,
        });
        if let Err(e) = master.send_agent_command(&agent_id, &command).await {
            self.waiters().remove(&request_id);
            return Err(e);
        }
        let deadline = Duration::from_secs_f64(wait_secs) + ANSWER_TIMEOUT;
        match tokio::time::timeout(deadline, rx).await {
            Ok(Ok(chunk)) => Ok(chunk),
            _ => {
                self.waiters().remove(&request_id);
                Err(ServerError::Timeout {
                    code: "agent_timeout",
                    message: format!("agent {agent_id} did not send the log in time"),
                })
            }
        }
    }

    /// Delivers an agent's answer; false when nobody waits for it any more.
    pub fn deliver(&self, request_id: &str, chunk: Chunk) -> bool {
        match self.waiters().remove(request_id) {
            Some(tx) => tx.send(chunk).is_ok(),
            None => false,
        }
    }
}
