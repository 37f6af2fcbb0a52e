//! Server-Sent Events: a stream read from the store after `Last-Event-ID`, then live.

use super::*;
use crate::master::{StreamKey, StreamRead};
use crate::store::{Entry, StreamId};
use std::convert::Infallible;

/// Events read from a log per wake-up, and buffered per stream: a slow reader holds back
/// only its own stream (the writer waits), never the master.
const STREAM_BATCH: usize = 256;

/// Where a stream resumes: its `Last-Event-ID` header, if any.
pub(super) fn last_event_id(call: &Call) -> Result<Option<StreamId>, ServerError> {
    match call.header("last-event-id")?.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => crate::master::parse_event_id(v).map(Some),
    }
}

/// Ends the stream's bookkeeping when its connection task stops, however it stops.
struct StreamGuard {
    master: Arc<Master>,
    key: StreamKey,
    generation: u64,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let (master, key, generation) = (self.master.clone(), self.key.clone(), self.generation);
        // Drop cannot wait: the bookkeeping runs on, if the runtime still does.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                // Tried again for a while if the store is away (a Redis restart): a framework
                // that stays marked connected would never start its failover timeout.
                for attempt in 0..60 {
                    match master.close_stream(&key, generation).await {
                        Ok(()) => return,
                        Err(e) if attempt == 59 => tracing::warn!(error = %e, "could not record a stream's end"),
                        Err(_) => tokio::time::sleep(std::time::Duration::from_secs(1)).await,
                    }
                }
            });
        }
    }
}

/// Serves a stream as Server-Sent Events: `first` (if any), then every event after
/// `position`, then new events as they come, with a heartbeat each interval. The response body
/// is the stream itself: no task or channel per connection, since with 10,000 subscribers
/// those cost more than the events. When the client goes away hyper drops the body, and the
/// stream's guard records the end. While idle the stream waits on the store's notifier for
/// its key, holding no store connection.
pub(super) fn event_stream(
    ctx: Arc<Ctx>,
    key: StreamKey,
    generation: u64,
    position: Option<StreamId>,
    first: Option<(&'static str, String)>,
) -> Response {
    let period = ctx.master.config.heartbeat_interval;
    let feed = Feed {
        guard: StreamGuard { master: ctx.master.clone(), key: key.clone(), generation },
        notify: ctx.master.stream_notifier(&key),
        heartbeat: tokio::time::interval_at(tokio::time::Instant::now() + period, period),
        shutdown: ctx.shutdown.clone(),
        ctx,
        after: position,
        first,
        pending: None,
        ended: false,
    };
    let events = futures::stream::unfold(feed, |mut feed| async move {
        let event = feed.next().await?;
        Some((Ok::<_, Infallible>(sse(event)), feed))
    });
    // warp wants a `Sync` body; the store's futures need not be. Only the body's owner polls it.
    from_warp(warp::sse::reply(sync_wrapper::SyncStream::new(Box::pin(events))).into_response())
}

/// An event as Server-Sent Events carry it. The feed knows nothing of its transport: a
/// RecordIO encoder (the Mesos v1 API's) would take the same events.
fn sse(event: Entry) -> warp::sse::Event {
    warp::sse::Event::default().id(event.id).event(event.name).data(event.data)
}

/// The state of one event stream between the events it yields: what its store stream holds
/// after a position, then heartbeats, then an `error` event if the stream is ended for it.
struct Feed {
    ctx: Arc<Ctx>,
    guard: StreamGuard,
    notify: Arc<tokio::sync::Notify>,
    heartbeat: tokio::time::Interval,
    shutdown: watch::Receiver<bool>,
    /// The id of the last event yielded.
    after: Option<StreamId>,
    first: Option<(&'static str, String)>,
    /// Events read and not yet yielded (at most one batch).
    pending: Option<std::vec::IntoIter<crate::store::Entry>>,
    ended: bool,
}

impl Feed {
    /// The next event: one read, or a heartbeat, or an `error` event that ends the stream.
    /// `None` when the stream has ended or the server is shutting down.
    async fn next(&mut self) -> Option<Entry> {
        if self.ended {
            return None;
        }
        if let Some((name, data)) = self.first.take() {
            return Some(self.event(name, &data));
        }
        loop {
            if let Some(entry) = self.pending.as_mut().and_then(Iterator::next) {
                self.after = StreamId::parse(&entry.id).or(self.after);
                return Some(entry);
            }
            self.pending = None;
            // Register for the wake-up before reading, so an event appended in between is not
            // missed.
            let notify = self.notify.clone();
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (key, generation) = (&self.guard.key, self.guard.generation);
            match self.ctx.master.read_stream(key, generation, self.after, STREAM_BATCH).await {
                Ok(StreamRead::Events(events)) if events.is_empty() => {}
                Ok(StreamRead::Events(events)) => {
                    self.pending = Some(events.into_iter());
                    continue;
                }
                Ok(StreamRead::Ended { code, message }) => {
                    return Some(self.end(&serde_json::json!({"code": code, "message": message})));
                }
                Err(e) => {
                    // The store failed: end the stream; the client reconnects and resumes.
                    tracing::warn!(error = %e, "an event stream ended: the store failed");
                    return Some(self.end(&serde_json::json!({"code": e.code(), "message": e.to_string()})));
                }
            }
            let beat = tokio::select! {
                _ = &mut notified => false,
                _ = self.heartbeat.tick() => true,
                _ = self.shutdown.wait_for(|stopping| *stopping) => return None,
            };
            if beat {
                let name = match self.guard.key {
                    StreamKey::Framework(_) | StreamKey::Operator => "heartbeat",
                    StreamKey::Agent(_) => "ping",
                };
                return Some(self.event(name, "{}"));
            }
        }
    }

    /// An event not from the store, carrying the position reached as its id.
    fn event(&self, name: &str, data: &str) -> Entry {
        let id = self.after.map(|a| a.to_string()).unwrap_or_else(|| "0-0".to_string());
        Entry { id, name: name.to_string(), data: data.to_string() }
    }

    /// The `error` event that ends the stream.
    fn end(&mut self, error: &serde_json::Value) -> Entry {
        self.ended = true;
        self.event("error", &error.to_string())
    }
}
