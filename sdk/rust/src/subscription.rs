//! A framework's event stream as a framework wants it: typed events, resumed with
//! `Last-Event-ID` after any break (on another replica if this one is gone), the framework
//! registered again under its id if the server lost it, and updates acknowledged once handled.

use crate::{Client, ClientError, EventStream};
use agora_api::framework::{Acknowledge, FrameworkEvent, RegisterFramework};
use agora_api::{ErrorBody, FrameworkId};
use futures::StreamExt as _;
use std::time::Duration;

/// How a [`Subscription`] behaves.
#[derive(Clone, Debug)]
pub struct SubscribeOptions {
    /// Acknowledge each update with an update id once it has been handled: when the next
    /// event is asked for. An update is then never lost to a crash, and may be seen twice (as
    /// it is when an acknowledgement fails: the agent sends the update again).
    pub acknowledge: bool,
    /// Breaks in a row after which [`Subscription::next`] gives up with the last error; a
    /// second apart at most, so the default rides out about a minute of outage.
    pub max_reconnects: u32,
}

impl Default for SubscribeOptions {
    fn default() -> Self {
        SubscribeOptions { acknowledge: false, max_reconnects: 60 }
    }
}

/// A registered framework and its event stream. See [`Client::subscribe`].
pub struct Subscription {
    client: Client,
    registration: RegisterFramework,
    framework_id: FrameworkId,
    options: SubscribeOptions,
    stream: Option<EventStream>,
    /// The id of the last event read, to resume after.
    last_event_id: Option<String>,
    /// An update handed out and not yet acknowledged.
    unacknowledged: Option<Acknowledge>,
    reconnects: u32,
}

impl Client {
    /// Registers a framework (again, under `registration.id` if it has one) and opens its
    /// event stream. The subscription reads typed events with [`Subscription::next`].
    pub async fn subscribe(
        &self,
        registration: RegisterFramework,
        options: SubscribeOptions,
    ) -> Result<Subscription, ClientError> {
        let registered = self.register_framework(&registration).await?;
        let framework_id = registered.framework_id;
        let stream = self.framework_events(&framework_id, None).await?;
        Ok(Subscription {
            client: self.clone(),
            registration: RegisterFramework { id: Some(framework_id.clone()), ..registration },
            framework_id,
            options,
            stream: Some(stream),
            last_event_id: None,
            unacknowledged: None,
            reconnects: 0,
        })
    }
}

/// Whether the server ended the stream in a way a framework recovers from by resuming: the
/// store was briefly unavailable, or it lost the framework, which registers again.
fn resumable(code: &str) -> bool {
    matches!(code, "unknown_framework" | "store_unavailable")
}

impl Subscription {
    /// The framework's id.
    pub fn framework_id(&self) -> &FrameworkId {
        &self.framework_id
    }

    /// The client the subscription calls with, for accepts, declines and kills.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The next event, or an error once the stream could not be resumed within
    /// [`SubscribeOptions::max_reconnects`], or when the server ended it for good (an `error`
    /// event of another kind: the framework was torn down, or another connection took over).
    /// Safe to cancel: an event is handed out once, and nothing read is lost.
    pub async fn next(&mut self) -> Result<FrameworkEvent, ClientError> {
        if let Some(ack) = self.unacknowledged.take() {
            if let Err(e) = self.client.acknowledge(&self.framework_id, &ack).await {
                // Not fatal: the agent sends the update again, and it is acknowledged then.
                tracing::warn!(error = %e, task_id = %ack.task_id, "cannot acknowledge an update; it will come again");
            }
        }
        loop {
            let broke = match self.read().await {
                Err(ClientError::Ended { code, message }) if !resumable(&code) => {
                    self.stream = None;
                    return Err(ClientError::Ended { code, message });
                }
                Ok(Some(event)) => {
                    self.reconnects = 0;
                    if let (FrameworkEvent::Update(update), true) = (&event, self.options.acknowledge) {
                        let status = &update.status;
                        self.unacknowledged = status.update_id.clone().map(|update_id| Acknowledge {
                            task_id: status.task_id.clone(),
                            agent_id: status.agent_id.clone(),
                            update_id,
                        });
                    }
                    return Ok(event);
                }
                Ok(None) => ClientError::Sse("the event stream ended".into()),
                Err(e) => e,
            };
            self.stream = None;
            self.reconnects += 1;
            if self.reconnects > self.options.max_reconnects {
                return Err(broke);
            }
            tracing::debug!(error = %broke, attempt = self.reconnects, "resuming the event stream");
            tokio::time::sleep(Duration::from_millis(100 * u64::from(self.reconnects.min(10)))).await;
            if let Err(e) = self.reopen().await {
                tracing::debug!(error = %e, "cannot resume the event stream yet");
            }
        }
    }

    /// The next event of the open stream; `None` when it ended, an error when it broke, and
    /// [`ClientError::Ended`] for the server's `error` event.
    async fn read(&mut self) -> Result<Option<FrameworkEvent>, ClientError> {
        let Some(stream) = self.stream.as_mut() else { return Ok(None) };
        loop {
            let Some(event) = stream.next().await.transpose()? else { return Ok(None) };
            let Some(parsed) = FrameworkEvent::parse(&event.event, &event.data).map_err(ClientError::Decode)? else {
                continue; // An event this version does not know.
            };
            if let FrameworkEvent::Error(ErrorBody { code, message }) = parsed {
                return Err(ClientError::Ended { code, message });
            }
            if !event.id.is_empty() {
                self.last_event_id = Some(event.id);
            }
            return Ok(Some(parsed));
        }
    }

    /// Opens the stream again after the last event read. A server that lost the framework
    /// gets it registered again under its id, and the stream starts afresh.
    async fn reopen(&mut self) -> Result<(), ClientError> {
        let resumed = self.client.framework_events(&self.framework_id, self.last_event_id.as_deref()).await;
        self.stream = Some(match resumed {
            Err(e) if e.is_not_found() => {
                self.client.register_framework(&self.registration).await?;
                self.last_event_id = None;
                self.client.framework_events(&self.framework_id, None).await?
            }
            other => other?,
        });
        Ok(())
    }

    /// Tears the framework down: its tasks are killed and it is forgotten.
    pub async fn teardown(self) -> Result<(), ClientError> {
        self.client.teardown_framework(&self.framework_id).await
    }
}
