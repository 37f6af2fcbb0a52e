//! A simulated framework: one tokio task that registers, follows its event stream (resuming
//! with `Last-Event-ID`), fills every offer with as many small tasks as fit, and acknowledges
//! every update. It records when it sent each task's accept, so the run can measure accept to
//! `running`, and counts each task once when it ends.
//!
//! Calls (accepts, acknowledgements) go out concurrently, at most `in_flight` at a time, so
//! that a framework is limited by the server's answers and not by its own round trips: each
//! call waits on several store round trips, so a server needs many calls in flight to be busy.

use crate::report::{Phase, Stats};
use crate::sim_agent::describe;
use agora_api::framework::{
    Accept, Acknowledge, Decline, Filters, FrameworkEvent, FrameworkRegistered, Operation, RegisterFramework,
};
use agora_api::{Command, FrameworkId, Offer, Resources, TaskId, TaskInfo, TaskState, TaskStatus};
use agora_client::{Client, ClientError, EventStream, SseEvent};
use futures::StreamExt as _;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

pub const TASK_CPUS: f64 = 0.1;
pub const TASK_MEM: f64 = 32.0;
/// The server's limit on the tasks of one accept.
const MAX_TASKS_PER_ACCEPT: usize = 1000;
/// Tries of one acknowledgement before leaving it to the agent's resend.
const ACK_ATTEMPTS: usize = 3;
const RETRY_AFTER: Duration = Duration::from_millis(100);

pub struct FrameworkConfig {
    pub index: usize,
    /// Comma-separated replica URLs, this framework's first choice first.
    pub masters: String,
    pub token: String,
    /// Calls it may have in flight at once; its event loop waits for a free slot beyond that.
    pub in_flight: usize,
}

/// What the framework knows of one task it launched.
struct Track {
    accepted_at: Instant,
    /// Whether its accept was sent in the measured window: only those count for latency.
    in_window: bool,
    running_seen: bool,
    ended: bool,
}

type Tracks = Arc<Mutex<HashMap<TaskId, Track>>>;

pub struct SimFramework {
    index: usize,
    client: Client,
    id: FrameworkId,
    stats: Arc<Stats>,
    tracks: Tracks,
    next_task: u64,
    slots: Arc<Semaphore>,
    in_flight: u32,
    last_event_id: Option<String>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How many bench tasks fit in `resources`, within the server's limit per accept. The small
/// tolerance keeps 0.3 CPUs from holding only 2 tasks of 0.1 through rounding.
pub fn tasks_that_fit(resources: &Resources) -> usize {
    let by_cpus = (resources.cpus / TASK_CPUS + 1e-6).floor();
    let by_mem = (resources.mem / TASK_MEM + 1e-6).floor();
    (by_cpus.min(by_mem).max(0.0) as usize).min(MAX_TASKS_PER_ACCEPT)
}

/// Registers framework `config.index` as `bench-N`.
pub async fn register(config: FrameworkConfig, stats: Arc<Stats>) -> anyhow::Result<SimFramework> {
    let client = Client::new(&config.masters, &config.token)?;
    let in_flight = u32::try_from(config.in_flight.clamp(1, Semaphore::MAX_PERMITS)).unwrap_or(u32::MAX);
    let request = RegisterFramework {
        id: None,
        name: format!("bench-{}", config.index),
        roles: vec!["*".to_string()],
        failover_timeout_secs: 60.0,
        capabilities: Vec::new(),
        offer_constraints: Default::default(),
        offer_filters: Default::default(),
    };
    let registered: FrameworkRegistered = client
        .register_framework(&request)
        .await
        .map_err(|e| anyhow::anyhow!("framework bench-{} cannot register: {e}", config.index))?;
    Ok(SimFramework {
        index: config.index,
        client,
        id: registered.framework_id,
        stats,
        tracks: Arc::default(),
        next_task: 0,
        slots: Arc::new(Semaphore::new(in_flight as usize)),
        in_flight,
        last_event_id: None,
    })
}

impl SimFramework {
    /// Follows the event stream until `stop` turns true; sends on `subscribed` once, when the
    /// stream first opens, so the run starts the clock only once every framework listens.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>, subscribed: tokio::sync::mpsc::Sender<()>) {
        let mut subscribed = Some(subscribed);
        while !*stop.borrow() {
            let Some(mut stream) = self.open_stream(&mut stop).await else { break };
            loop {
                tokio::select! {
                    _ = stop.changed() => break,
                    event = stream.next() => match event {
                        Some(Ok(event)) => {
                            if !self.on_event(event, &mut subscribed).await {
                                break;
                            }
                        }
                        Some(Err(e)) => {
                            self.stats.error(format!("framework stream: {}", describe(&e)));
                            break;
                        }
                        None => break,
                    },
                }
            }
        }
        // Let the calls in flight finish, so that their outcome is counted.
        let _ = self.slots.acquire_many(self.in_flight).await;
    }

    async fn open_stream(&mut self, stop: &mut watch::Receiver<bool>) -> Option<EventStream> {
        loop {
            match self.client.framework_events(&self.id, self.last_event_id.as_deref()).await {
                Ok(stream) => return Some(stream),
                Err(e) => self.stats.error(format!("framework stream open: {}", describe(&e))),
            }
            tokio::select! {
                _ = stop.changed() => return None,
                _ = tokio::time::sleep(RETRY_AFTER) => {}
            }
        }
    }

    /// Handles one event; false when the stream must be opened again.
    async fn on_event(&mut self, event: SseEvent, subscribed: &mut Option<tokio::sync::mpsc::Sender<()>>) -> bool {
        if !event.id.is_empty() {
            self.last_event_id = Some(event.id.clone());
        }
        match FrameworkEvent::parse(&event.event, &event.data) {
            Ok(Some(FrameworkEvent::Subscribed(_))) => {
                if let Some(tx) = subscribed.take() {
                    let _ = tx.send(()).await;
                }
            }
            Ok(Some(FrameworkEvent::Offers(offers))) => self.on_offers(offers.offers).await,
            Ok(Some(FrameworkEvent::Update(update))) => self.on_update(update.status).await,
            Ok(Some(FrameworkEvent::Error(e))) => {
                self.stats.error(format!("framework stream ended: {}", e.code));
                return false;
            }
            Ok(Some(FrameworkEvent::Failure(_))) => self.stats.error("framework: an agent was removed"),
            // Offers this framework holds may be rescinded; it forgets nothing it needs.
            // Nothing is drained during a bench.
            Ok(
                Some(FrameworkEvent::Rescind(_) | FrameworkEvent::InverseOffers(_) | FrameworkEvent::Heartbeat) | None,
            ) => {}
            Err(_) => self.stats.error(format!("framework: malformed `{}` event", event.event)),
        }
        true
    }

    /// Fills each offer with tasks. An offer too small for one task (what is left of an agent
    /// whose CPUs are taken) is kept, neither used nor declined: declining would filter the
    /// whole agent for this framework, and declining without a filter would only bring the
    /// same crumbs straight back. Once the window closes, nothing more is launched.
    async fn on_offers(&mut self, offers: Vec<Offer>) {
        for offer in &offers {
            self.stats.offer_seen(&offer.agent_id);
        }
        for offer in offers {
            if self.stats.phase() >= Phase::Drain {
                return;
            }
            let count = tasks_that_fit(&offer.resources);
            if count > 0 {
                self.launch(offer, count).await;
            }
        }
    }

    async fn launch(&mut self, offer: Offer, count: usize) {
        let tasks: Vec<TaskInfo> = (0..count).map(|_| self.task(&offer)).collect();
        let ids: Vec<TaskId> = tasks.iter().map(|t| t.task_id.clone()).collect();
        let in_window = self.stats.measuring();
        let accepted_at = Instant::now();
        {
            // Tracked before the accept is sent: its updates may come before its answer.
            let mut tracks = lock(&self.tracks);
            for id in &ids {
                tracks.insert(id.clone(), Track { accepted_at, in_window, running_seen: false, ended: false });
            }
        }
        self.stats.outstanding.fetch_add(count as i64, Ordering::SeqCst);
        let accept = Accept {
            offer_ids: vec![offer.id.clone()],
            operations: vec![Operation::Launch { tasks }],
            filters: Filters::default(),
        };
        let call = AcceptCall {
            client: self.client.clone(),
            framework: self.id.clone(),
            stats: self.stats.clone(),
            tracks: self.tracks.clone(),
        };
        let permit = self.slot().await;
        tokio::spawn(async move {
            call.send(accept, ids, in_window).await;
            drop(permit);
        });
    }

    fn task(&mut self, offer: &Offer) -> TaskInfo {
        self.next_task += 1;
        let id = format!("f{}-t{}", self.index, self.next_task);
        let resources = Resources::new(TASK_CPUS, TASK_MEM);
        TaskInfo::new(&id, offer.agent_id.clone(), resources, Command::Shell("true".to_string())).name("bench")
    }

    async fn slot(&self) -> Option<OwnedSemaphorePermit> {
        self.slots.clone().acquire_owned().await.ok()
    }

    /// Acknowledges the update (all that carry an id, the master's `staging` included, as a
    /// real framework does) and counts the task's progress.
    async fn on_update(&mut self, status: TaskStatus) {
        if let Some(update_id) = status.update_id.clone() {
            let ack = Acknowledge { task_id: status.task_id.clone(), agent_id: status.agent_id.clone(), update_id };
            let (client, framework, stats) = (self.client.clone(), self.id.clone(), self.stats.clone());
            let state = status.state;
            let permit = self.slot().await;
            tokio::spawn(async move {
                acknowledge(&client, &framework, &ack, state, &stats).await;
                drop(permit);
            });
        }
        self.record(&status);
    }

    fn record(&self, status: &TaskStatus) {
        let mut tracks = lock(&self.tracks);
        let Some(track) = tracks.get_mut(&status.task_id) else {
            self.stats.error("framework: update for a task it did not launch");
            return;
        };
        // Delivery is at least once: a repeated update changes nothing.
        if track.ended {
            return;
        }
        if status.state == TaskState::Running && !track.running_seen {
            track.running_seen = true;
            if track.in_window {
                self.stats.record_latency_ms(track.accepted_at.elapsed().as_secs_f64() * 1000.0);
            }
        }
        if status.state.is_terminal() {
            track.ended = true;
            self.stats.outstanding.fetch_sub(1, Ordering::SeqCst);
            Stats::add(&self.stats.ended_total, 1);
            if self.stats.measuring() {
                Stats::add(&self.stats.ended_in_window, 1);
            }
            if status.state != TaskState::Finished {
                Stats::add(&self.stats.ended_not_finished, 1);
            }
        }
    }
}

/// One accept, sent off the event loop.
struct AcceptCall {
    client: Client,
    framework: FrameworkId,
    stats: Arc<Stats>,
    tracks: Tracks,
}

impl AcceptCall {
    async fn send(self, accept: Accept, ids: Vec<TaskId>, in_window: bool) {
        let offer_ids = accept.offer_ids.clone();
        match self.client.accept(&self.framework, &accept).await {
            Ok(()) => {
                Stats::add(&self.stats.accepts, 1);
                Stats::add(&self.stats.accepted_total, ids.len() as u64);
                if in_window {
                    Stats::add(&self.stats.accepted_in_window, ids.len() as u64);
                }
            }
            Err(e) => self.refused(e, offer_ids, &ids).await,
        }
    }

    /// Forgets the tasks of a refused accept and hands its offer back, in case it is still
    /// outstanding (a contended or timed-out accept): otherwise its resources stay offered to
    /// a framework that no longer thinks it holds them.
    async fn refused(self, e: ClientError, offer_ids: Vec<agora_api::OfferId>, ids: &[TaskId]) {
        self.stats.error(format!("accept: {}", describe(&e)));
        {
            let mut tracks = lock(&self.tracks);
            for id in ids {
                tracks.remove(id);
            }
        }
        self.stats.outstanding.fetch_sub(ids.len() as i64, Ordering::SeqCst);
        let gone = matches!(&e, ClientError::Api { code, .. } if code == "unknown_offer");
        if !gone {
            let decline = Decline { offer_ids, filters: Filters { refuse_secs: Some(0.0) } };
            if let Err(e) = self.client.decline(&self.framework, &decline).await {
                self.stats.error(format!("decline: {}", describe(&e)));
            }
        }
    }
}

/// Acknowledges an update, trying again a few times; past that the agent sends it again.
/// Failures are counted with the update's state, which tells where in a task's life they hit.
async fn acknowledge(client: &Client, framework: &FrameworkId, ack: &Acknowledge, state: TaskState, stats: &Stats) {
    for attempt in 1..=ACK_ATTEMPTS {
        match client.acknowledge(framework, ack).await {
            Ok(()) => return,
            Err(e) => {
                stats.error(format!("acknowledge {}: {}", state.as_str(), describe(&e)));
                if attempt < ACK_ATTEMPTS {
                    tokio::time::sleep(RETRY_AFTER).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_fit_by_the_scarcer_resource_and_the_accept_limit() {
        assert_eq!(tasks_that_fit(&Resources::new(8.0, 16384.0)), 80);
        assert_eq!(tasks_that_fit(&Resources::new(0.3, 1000.0)), 3);
        assert_eq!(tasks_that_fit(&Resources::new(8.0, 64.0)), 2);
        assert_eq!(tasks_that_fit(&Resources::new(0.0, 13824.0)), 0);
        assert_eq!(tasks_that_fit(&Resources::new(1000.0, 1e9)), 1000);
    }
}
