//! One registration's network work, as three tokio tasks: reading the command stream (with
//! reconnects that resume from the last event id), heartbeats, and posting status update batches.
//! They report to the agent loop over a channel; dropping the [`Session`] stops them all.

use crate::backoff::Backoff;
use agora_api::agent::{AgentCommand, StatusUpdates};
use agora_api::{AgentId, TaskStatus};
use agora_client::Client;
use futures::StreamExt;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The command stream's reconnect waits.
const STREAM_FIRST_RETRY: Duration = Duration::from_millis(100);
const STREAM_MAX_RETRY: Duration = Duration::from_secs(5);
/// Update batches waiting for the sender. When full, a batch is dropped: the update manager
/// resends every unacknowledged update after its retry interval anyway.
const BATCH_QUEUE: usize = 8;

/// What a session tells the agent loop.
#[derive(Debug)]
pub enum SessionEvent {
    /// Boxed: a launch is large, and the queue holds many events.
    Command(Box<AgentCommand>),
    /// The master answered 404 for this agent: it must register again.
    Forgotten { generation: u64, during: &'static str },
}

/// The tasks of one registration. `generation` tells its events apart from those of a session
/// that has already been replaced.
#[derive(Debug)]
pub struct Session {
    pub generation: u64,
    batches: mpsc::Sender<Vec<TaskStatus>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Session {
    /// Starts the stream reader, the heartbeat and the update sender for `agent_id`. `events`
    /// is bounded: a reader that finds it full waits, which leaves unread commands in the socket.
    pub fn start(
        client: &Client,
        agent_id: &AgentId,
        generation: u64,
        heartbeat: Duration,
        events: &mpsc::Sender<SessionEvent>,
    ) -> Session {
        let (batches, batch_rx) = mpsc::channel(BATCH_QUEUE);
        let link = Link { client: client.clone(), agent_id: agent_id.clone(), generation, events: events.clone() };
        let tasks = vec![
            tokio::spawn(link.clone().read_commands()),
            tokio::spawn(link.clone().heartbeat(heartbeat)),
            tokio::spawn(link.send_updates(batch_rx)),
        ];
        Session { generation, batches, tasks }
    }

    /// Hands a batch to the sender. Returns false if it was dropped because the sender is busy.
    pub fn send_updates(&self, batch: Vec<TaskStatus>) -> bool {
        self.batches.try_send(batch).is_ok()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// What each session task needs to talk to the master as this agent.
#[derive(Clone)]
struct Link {
    client: Client,
    agent_id: AgentId,
    generation: u64,
    events: mpsc::Sender<SessionEvent>,
}

impl Link {
    async fn forgotten(&self, during: &'static str) {
        tracing::warn!(agent_id = %self.agent_id, during, "the master does not know this agent");
        // A closed channel means the agent loop is gone, and with it any need to tell it.
        let _ = self.events.send(SessionEvent::Forgotten { generation: self.generation, during }).await;
    }

    /// Reads commands until the master forgets the agent, reconnecting with `Last-Event-ID`
    /// after any break so that no command is lost or repeated.
    async fn read_commands(self) {
        let mut last_id: Option<String> = None;
        let mut backoff = Backoff::new(STREAM_FIRST_RETRY, STREAM_MAX_RETRY);
        loop {
            match self.client.agent_commands(&self.agent_id, last_id.as_deref()).await {
                Ok(mut stream) => {
                    tracing::info!(agent_id = %self.agent_id, resume_after = ?last_id, "command stream open");
                    while let Some(item) = stream.next().await {
                        let event = match item {
                            Ok(event) => event,
                            Err(e) => {
                                tracing::warn!(error = %e, "command stream broke");
                                break;
                            }
                        };
                        backoff.reset();
                        match AgentCommand::parse(&event.event, &event.data) {
                            Ok(Some(command)) => {
                                if self.events.send(SessionEvent::Command(Box::new(command))).await.is_err() {
                                    return;
                                }
                            }
                            Ok(None) => tracing::debug!(event = %event.event, "ignoring an unknown command"),
                            // Asking for it again would bring the same bytes, so skip it.
                            Err(e) => {
                                tracing::warn!(event = %event.event, id = %event.id, error = %e, "skipping a malformed command")
                            }
                        }
                        if !event.id.is_empty() {
                            last_id = Some(event.id);
                        }
                    }
                    tracing::info!("command stream ended");
                }
                Err(e) if e.is_not_found() => return self.forgotten("command stream").await,
                Err(e) => tracing::warn!(error = %e, "cannot open the command stream"),
            }
            let delay = backoff.next_delay();
            tracing::debug!(?delay, "reconnecting to the command stream");
            tokio::time::sleep(delay).await;
        }
    }

    async fn heartbeat(self, interval: Duration) {
        // A heartbeat that takes longer than the interval is late anyway; give up on it.
        let client = self.client.clone().with_request_timeout(interval.max(Duration::from_secs(1)));
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate, and registering has just shown the master we are alive.
        ticker.tick().await;
        loop {
            ticker.tick().await;
            match client.agent_heartbeat(&self.agent_id).await {
                Ok(()) => tracing::trace!("heartbeat"),
                Err(e) if e.is_not_found() => return self.forgotten("heartbeat").await,
                Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
            }
        }
    }

    /// Posts batches one at a time, so that updates of a task reach the master in order.
    async fn send_updates(self, mut batches: mpsc::Receiver<Vec<TaskStatus>>) {
        while let Some(updates) = batches.recv().await {
            let count = updates.len();
            match self.client.agent_updates(&self.agent_id, &StatusUpdates { updates }).await {
                Ok(()) => tracing::debug!(count, "sent status updates"),
                Err(e) if e.is_not_found() => return self.forgotten("status updates").await,
                Err(e) => tracing::warn!(count, error = %e, "cannot send status updates; they will be retried"),
            }
        }
    }
}
