//! The scheduler's event stream, read as it moves, apart from the looks: every update is
//! acknowledged at once (agents wait for acknowledgements, and a burst larger than the
//! stream's retention must not age out unread while a long look runs), and the instance
//! failures that count for backoffs are kept for the next look.

use super::{Failure, LABEL_SERVICE, LABEL_VERSION};
use crate::error::ServerError;
use crate::master::records::{key, TaskRecord};
use crate::master::{Caller, Master, StreamKey, StreamRead};
use crate::store::StreamId;
use agora_api::framework::{Acknowledge, FrameworkEvent};
use agora_api::types::reason;
use agora_api::{FrameworkId, TaskState, TaskStatus};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Events read from the stream in one go.
const EVENTS_PER_READ: usize = 1_000;
/// A read that failed is tried again after this.
const RETRY_AFTER: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Shared {
    failures: Mutex<HashMap<String, Vec<Failure>>>,
    /// The stream ended (another connection took it over, or the framework is gone).
    ended: AtomicBool,
}

/// Reads one connection's stream until dropped.
pub(super) struct EventReader {
    task: tokio::task::JoinHandle<()>,
    shared: Arc<Shared>,
}

impl Drop for EventReader {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl EventReader {
    pub fn start(
        master: Arc<Master>,
        caller: Caller,
        framework_id: FrameworkId,
        generation: u64,
        position: Option<StreamId>,
    ) -> EventReader {
        let shared = Arc::new(Shared::default());
        let reader = Reader { master, caller, framework_id, generation, shared: shared.clone() };
        EventReader { task: tokio::spawn(reader.run(position)), shared }
    }

    /// The failures read since the last call, by service.
    pub fn take_failures(&self) -> HashMap<String, Vec<Failure>> {
        std::mem::take(&mut *self.shared.failures.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn ended(&self) -> bool {
        self.shared.ended.load(Ordering::SeqCst)
    }
}

struct Reader {
    master: Arc<Master>,
    caller: Caller,
    framework_id: FrameworkId,
    generation: u64,
    shared: Arc<Shared>,
}

impl Reader {
    async fn run(self, mut position: Option<StreamId>) {
        let stream = StreamKey::Framework(self.framework_id.clone());
        let notifier = self.master.stream_notifier(&stream);
        loop {
            // Listening before reading: what is appended meanwhile wakes the next read.
            let appended = notifier.notified();
            tokio::pin!(appended);
            appended.as_mut().enable();
            match self.master.read_stream(&stream, self.generation, position, EVENTS_PER_READ).await {
                Ok(StreamRead::Events(entries)) => {
                    if let Some(last) = entries.last() {
                        position = StreamId::parse(&last.id).or(position);
                    }
                    let full = entries.len() == EVENTS_PER_READ;
                    self.handle(&entries).await;
                    if full {
                        continue;
                    }
                }
                Ok(StreamRead::Ended { code, message }) => {
                    tracing::info!(code, %message, "the services scheduler's stream ended; it subscribes again");
                    self.shared.ended.store(true, Ordering::SeqCst);
                    return;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "could not read the services scheduler's stream");
                    tokio::time::sleep(RETRY_AFTER).await;
                    continue;
                }
            }
            tokio::select! {
                _ = appended => {}
                _ = tokio::time::sleep(RETRY_AFTER) => {}
            }
        }
    }

    /// Notes the failures among the updates, and acknowledges them all in one commit.
    async fn handle(&self, entries: &[crate::store::Entry]) {
        let mut acks = Vec::new();
        for entry in entries {
            let Ok(Some(FrameworkEvent::Update(update))) = FrameworkEvent::parse(&entry.name, &entry.data) else {
                continue;
            };
            let status = update.status;
            if status.state.is_terminal() || status.state == TaskState::Lost {
                match self.failure(&status).await {
                    Ok(Some((service, failure))) => {
                        let mut failures = self.shared.failures.lock().unwrap_or_else(|p| p.into_inner());
                        failures.entry(service).or_default().push(failure);
                    }
                    Ok(None) => {}
                    Err(e) => tracing::debug!(task = %status.task_id, error = %e, "could not read an ended instance"),
                }
            }
            if let Some(update_id) = status.update_id.clone() {
                acks.push(Acknowledge { task_id: status.task_id, agent_id: status.agent_id, update_id });
            }
        }
        if let Err(e) = self.master.acknowledge_all(&self.caller, &self.framework_id, &acks).await {
            tracing::debug!(updates = acks.len(), error = %e, "could not acknowledge; the agents send them again");
        }
    }

    /// An instance's end that counts for the backoff (as Marathon's: an exit or failure, not
    /// a kill, unless the agent killed it for failing its health checks), with its service
    /// and what to show of it.
    async fn failure(&self, status: &TaskStatus) -> Result<Option<(String, Failure)>, ServerError> {
        let killed = status.state == TaskState::Killed && status.reason.as_deref() != Some(reason::TASK_UNHEALTHY);
        if killed {
            return Ok(None);
        }
        let Some(task) = self.master.load::<TaskRecord>(&key::task(&self.framework_id, &status.task_id)).await? else {
            return Ok(None);
        };
        if task.value.kill_requested.is_some() {
            return Ok(None);
        }
        let labels = &task.value.info.labels;
        let Some(service) = labels.get(LABEL_SERVICE) else { return Ok(None) };
        let Some(version) = labels.get(LABEL_VERSION).and_then(|v| v.parse().ok()) else {
            return Ok(None);
        };
        let text = format!(
            "instance {} (version {version}) {}{}{}",
            status.task_id,
            status.state.as_str(),
            status.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default(),
            status.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default(),
        );
        Ok(Some((service.clone(), Failure { version, text })))
    }
}
