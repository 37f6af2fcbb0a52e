//! Task logs relayed from agents. A reader's request becomes a `read_log` command on the
//! agent's stream; the agent posts the bytes back, and they reach the waiting reader through
//! a one-shot channel keyed by request id. Agents need no inbound port for this.
//!
//! With several replicas the agent may post to another replica than the reader's: that replica
//! passes the chunk on through the store (a stream named after the request, which the reader's
//! replica watches). The request's record in the store says the request is real, so an agent
//! cannot make a replica write to keys of its choosing, and names the agent asked, so that no
//! other agent can answer in its place.
//!
//! A read goes to the task whose framework the reader was checked against, resolved once by
//! the caller: a follow's every chunk reads that same task.

use crate::error::ServerError;
use crate::master::{Master, TaskLocation};
use crate::store::{Committed, Txn};
use agora_api::agent::{AgentCommand, LogChunkInfo, LogStream, ReadLogCommand};
use agora_api::{AgentId, TaskId};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
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
/// Log reads and follows one principal may have going at once. Each read is a command on an
/// agent's stream: without a bound per principal, one client could fill an agent's stream
/// with reads, pushing out the commands that matter, and use up every reader's place.
pub const MAX_READS_PER_PRINCIPAL: usize = 128;

pub struct Chunk {
    pub info: LogChunkInfo,
    pub data: Bytes,
}

#[derive(Default)]
pub struct LogRelay {
    /// Readers waiting here, by request id, with the agent whose answer they wait for.
    waiters: Mutex<HashMap<String, (AgentId, oneshot::Sender<Chunk>)>>,
    /// Reads and follows going on, by principal.
    readers: std::sync::Arc<Mutex<HashMap<String, usize>>>,
}

/// One principal's place among the log readers; it is given back when dropped.
pub struct ReaderSlot {
    readers: std::sync::Arc<Mutex<HashMap<String, usize>>>,
    principal: String,
}

impl Drop for ReaderSlot {
    fn drop(&mut self) {
        let mut readers = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = readers.get_mut(&self.principal) {
            *n -= 1;
            if *n == 0 {
                readers.remove(&self.principal);
            }
        }
    }
}

/// What a reader asks for of the task it was authorised to read.
#[derive(Clone)]
pub struct LogRequest {
    pub stream: LogStream,
    pub offset: u64,
    pub max_bytes: u64,
    pub wait_secs: f64,
}

impl LogRelay {
    fn waiters(&self) -> std::sync::MutexGuard<'_, HashMap<String, (AgentId, oneshot::Sender<Chunk>)>> {
        self.waiters.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes one of `principal`'s places among log readers, for a read or a whole follow.
    pub fn reader_slot(&self, principal: &str) -> Result<ReaderSlot, ServerError> {
        let mut readers = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        let n = readers.entry(principal.to_string()).or_insert(0);
        if *n >= MAX_READS_PER_PRINCIPAL {
            return Err(ServerError::TooMany {
                code: "too_many_log_reads",
                message: format!(
                    "this token has {MAX_READS_PER_PRINCIPAL} log reads and follows going on; retry when one ends"
                ),
                retry_after: None,
            });
        }
        *n += 1;
        Ok(ReaderSlot { readers: self.readers.clone(), principal: principal.to_string() })
    }

    /// Asks the agent of `task` for a chunk and waits for it. `task` is where the caller
    /// checked the reader's right to read: it is not looked up again, so another framework's
    /// task of the same id, started or ended meanwhile, is never read instead.
    pub async fn read(
        &self,
        master: &Master,
        task: &TaskLocation,
        task_id: &TaskId,
        req: &LogRequest,
    ) -> Result<Chunk, ServerError> {
        if !req.wait_secs.is_finite() || req.wait_secs < 0.0 {
            return Err(ServerError::bad("invalid_wait", "wait_secs must be a non-negative number"));
        }
        let wait_secs = req.wait_secs.min(MAX_WAIT_SECS);
        let agent_id = &task.agent_id;
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
            waiters.insert(request_id.clone(), (agent_id.clone(), tx));
        }
        let command = AgentCommand::ReadLog(ReadLogCommand {
            request_id: request_id.clone(),
            framework_id: task.framework_id.clone(),
            task_id: task_id.clone(),
            stream: req.stream,
            offset: req.offset,
            max_bytes: req.max_bytes.clamp(1, MAX_CHUNK_BYTES),
            wait_secs,
        });
        let shared = master.store.is_shared();
        let sent = async {
            if shared {
                // The record names the agent asked: only its answer is passed on.
                let mut txn = Txn::default();
                txn.put(request_key(&request_id), agent_id.as_str().as_bytes().to_vec());
                master.store.commit(&txn).await?;
            }
            master.send_agent_command(agent_id, &command).await
        };
        if let Err(e) = sent.await {
            self.forget(master, &request_id, shared).await;
            return Err(e);
        }
        let deadline = Duration::from_secs_f64(wait_secs) + ANSWER_TIMEOUT;
        let answer = tokio::select! {
            local = rx => local.ok(),
            relayed = relayed_chunk(master, &request_id), if shared => relayed,
            _ = tokio::time::sleep(deadline) => None,
        };
        self.forget(master, &request_id, shared).await;
        answer.ok_or_else(|| ServerError::Timeout {
            code: "agent_timeout",
            message: format!("agent {agent_id} did not send the log in time"),
        })
    }

    /// Drops a finished request, here and in the store.
    async fn forget(&self, master: &Master, request_id: &str, shared: bool) {
        self.waiters().remove(request_id);
        if shared {
            let mut txn = Txn::default();
            txn.delete(request_key(request_id)).delete(chunks_key(request_id));
            if let Err(e) = master.store.commit(&txn).await {
                tracing::debug!(error = %e, "could not clean up a log request");
            }
        }
    }

    /// Delivers agent `agent_id`'s answer to the reader waiting here, or passes it on through
    /// the store to the replica where the reader waits; false when nobody waits for it from
    /// that agent.
    pub async fn deliver(
        &self,
        master: &Master,
        agent_id: &AgentId,
        request_id: &str,
        chunk: Chunk,
    ) -> Result<bool, ServerError> {
        {
            let mut waiters = self.waiters();
            if let Some((asked, _)) = waiters.get(request_id) {
                if asked != agent_id {
                    return Ok(false);
                }
                let Some((_, tx)) = waiters.remove(request_id) else { return Ok(false) };
                return Ok(tx.send(chunk).is_ok());
            }
        }
        if !master.store.is_shared() || !agora_api::ids::is_valid_id(request_id) {
            return Ok(false);
        }
        let Some(request) = master.store.get_one(&request_key(request_id)).await? else { return Ok(false) };
        if request.data != agent_id.as_str().as_bytes() {
            return Ok(false);
        }
        let relayed = Relayed { info: chunk.info, data: BASE64.encode(&chunk.data) };
        let data = serde_json::to_string(&relayed).map_err(|e| ServerError::Internal(e.to_string()))?;
        let mut txn = Txn::default();
        txn.check(request_key(request_id), request.version).append(chunks_key(request_id), "chunk", data);
        Ok(matches!(master.store.commit(&txn).await?, Committed::Done(_)))
    }
}

/// The store record that says a log request is waiting on some replica.
fn request_key(request_id: &str) -> String {
    format!("logreq:{request_id}")
}

/// The stream a chunk posted to another replica is passed on through.
fn chunks_key(request_id: &str) -> String {
    format!("logreq:{request_id}:chunks")
}

/// A chunk passed between replicas.
#[derive(serde::Serialize, serde::Deserialize)]
struct Relayed {
    info: LogChunkInfo,
    data: String,
}

/// Waits for a chunk passed on through the store by another replica.
async fn relayed_chunk(master: &Master, request_id: &str) -> Option<Chunk> {
    let notify = master.store.watch(&chunks_key(request_id));
    loop {
        let woken = notify.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        match master.store.read_stream(&chunks_key(request_id), None, 1).await {
            Ok(entries) => {
                if let Some(entry) = entries.into_iter().next() {
                    let relayed: Relayed = serde_json::from_str(&entry.data).ok()?;
                    let data = BASE64.decode(relayed.data).ok()?;
                    return Some(Chunk { info: relayed.info, data: data.into() });
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read a relayed log chunk"),
        }
        // Woken by the append, or look again in a while in case a wake-up was lost.
        let _ = tokio::time::timeout(Duration::from_secs(1), woken).await;
    }
}
