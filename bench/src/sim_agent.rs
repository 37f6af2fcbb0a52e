//! A simulated agent: one tokio task in this process that speaks the real agent protocol and
//! runs nothing. It registers, follows its command stream (resuming with `Last-Event-ID`),
//! heartbeats, and answers each `launch` with status updates under the real stop-and-wait
//! rule: a task's next update goes out only once the framework has acknowledged the previous
//! one. Updates that are ready together go out in one POST, a few milliseconds after the first.

use crate::report::Stats;
use agora_api::agent::{
    AcknowledgeCommand, AgentCommand, AgentRegistered, KillCommand, LaunchCommand, RegisterAgent, StatusUpdates,
};
use agora_api::types::{now_secs, reason};
use agora_api::{AgentId, FrameworkId, Resources, TaskId, TaskState, TaskStatus, UpdateId};
use agora_client::{Client, ClientError, EventStream, SseEvent};
use futures::StreamExt as _;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// How long ready updates wait for others to share their POST.
const BATCH_WINDOW: Duration = Duration::from_millis(5);
/// The most updates in one POST, far under the server's body limit.
const MAX_BATCH: usize = 500;
/// An update unacknowledged this long is sent again (same update id). Longer than a real
/// agent's first retry, so that a slow server is measured rather than flooded with resends.
const RESEND_AFTER: Duration = Duration::from_secs(10);
/// The wait before posting again after a failed POST, and before reopening a broken stream.
const RETRY_AFTER: Duration = Duration::from_millis(100);
/// Registration attempts before the agent gives up (the run then fails).
const REGISTER_ATTEMPTS: usize = 20;

type TaskKey = (FrameworkId, TaskId);

pub struct AgentConfig {
    pub index: usize,
    /// The client for the replicas, this agent's first choice first. Agents share clients, and
    /// so connection pools: each command stream holds a connection of its own, while heartbeats
    /// and updates reuse idle ones, as a real agent's would (one stream, one pooled connection).
    pub client: Client,
    pub resources: Resources,
    /// How long a task "runs" between `running` and `finished`.
    pub task_secs: f64,
}

/// An update sent and not yet acknowledged.
struct InFlight {
    status: TaskStatus,
    /// When it was first sent, for the time to its acknowledgement.
    first_sent: Instant,
    /// When it was last sent, for resending.
    last_sent: Instant,
}

/// One task's updates: at most one in flight, the rest queued behind it.
#[derive(Default)]
struct TaskUpdates {
    in_flight: Option<InFlight>,
    /// Later updates in order, each with the instant it may go out.
    queued: VecDeque<(Instant, TaskStatus)>,
}

pub struct SimAgent {
    client: Client,
    id: AgentId,
    heartbeat: Duration,
    task_secs: Duration,
    stats: Arc<Stats>,
    tasks: HashMap<TaskKey, TaskUpdates>,
    /// Updates to post, in order.
    outbox: Vec<TaskStatus>,
    /// When a queued update becomes sendable (for tasks that run a while).
    timers: BinaryHeap<Reverse<(Instant, TaskKey)>>,
    /// When the outbox is posted; `None` while it is empty.
    flush_at: Option<Instant>,
    next_resend_check: Instant,
    last_event_id: Option<String>,
}

/// Registers agent `config.index` as `sim-N`, trying again while the server refuses.
pub async fn register(config: AgentConfig, stats: Arc<Stats>) -> anyhow::Result<SimAgent> {
    let client = config.client;
    let request = RegisterAgent {
        agent_id: None,
        hostname: format!("sim-{}", config.index),
        resources: config.resources,
        reserved: BTreeMap::new(),
        attributes: BTreeMap::new(),
        tasks: Vec::new(),
        containerizers: vec![agora_api::Containerizer::Process],
    };
    let mut attempt = 0;
    let started = Instant::now();
    let registered: AgentRegistered = loop {
        match client.register_agent(&request).await {
            Ok(r) => break r,
            Err(e) if attempt + 1 < REGISTER_ATTEMPTS => {
                stats.error(format!("agent register: {}", describe(&e)));
                attempt += 1;
                tokio::time::sleep(RETRY_AFTER * attempt as u32).await;
            }
            Err(e) => return Err(anyhow::anyhow!("agent sim-{} cannot register: {e}", config.index)),
        }
    };
    stats.record_register_ms(started.elapsed().as_secs_f64() * 1000.0);
    let heartbeat = Duration::from_secs_f64(registered.heartbeat_interval_secs.clamp(0.1, 3600.0));
    Ok(SimAgent {
        client,
        id: registered.agent_id,
        heartbeat,
        task_secs: Duration::from_secs_f64(config.task_secs.max(0.0)),
        stats,
        tasks: HashMap::new(),
        outbox: Vec::new(),
        timers: BinaryHeap::new(),
        flush_at: None,
        next_resend_check: Instant::now() + RESEND_AFTER,
        last_event_id: None,
    })
}

/// A short, stable description of a failed call, to count failures by kind.
pub fn describe(e: &ClientError) -> String {
    match e {
        ClientError::Api { status, code, .. } => format!("{status} {code}"),
        e if e.is_timeout() => "timeout".to_string(),
        e if e.is_connect() => "cannot connect".to_string(),
        ClientError::Http(_) => "connection failed".to_string(),
        other => other.to_string(),
    }
}

impl SimAgent {
    /// Runs until `stop` turns true: heartbeats on a task of their own, commands here.
    pub async fn run(mut self, stop: watch::Receiver<bool>) {
        let heartbeats = tokio::spawn(heartbeat_loop(
            self.client.clone(),
            self.id.clone(),
            self.heartbeat,
            self.stats.clone(),
            stop.clone(),
        ));
        self.command_loop(stop).await;
        let _ = heartbeats.await;
    }

    async fn command_loop(&mut self, mut stop: watch::Receiver<bool>) {
        while !*stop.borrow() {
            let Some(mut stream) = self.open_stream(&mut stop).await else { return };
            loop {
                let wake = self.next_wake();
                tokio::select! {
                    _ = stop.changed() => return,
                    event = stream.next() => match event {
                        Some(Ok(event)) => self.on_event(event),
                        Some(Err(e)) => {
                            self.stats.error(format!("agent stream: {}", describe(&e)));
                            break;
                        }
                        None => break,
                    },
                    _ = tokio::time::sleep_until(wake) => self.on_timer().await,
                }
            }
        }
    }

    /// Opens the command stream after the last command seen; `None` once told to stop.
    async fn open_stream(&mut self, stop: &mut watch::Receiver<bool>) -> Option<EventStream> {
        loop {
            match self.client.agent_commands(&self.id, self.last_event_id.as_deref()).await {
                Ok(stream) => return Some(stream),
                Err(e) => self.stats.error(format!("agent stream open: {}", describe(&e))),
            }
            tokio::select! {
                _ = stop.changed() => return None,
                _ = tokio::time::sleep(RETRY_AFTER) => {}
            }
        }
    }

    fn next_wake(&self) -> Instant {
        let mut wake = self.next_resend_check;
        if let Some(flush) = self.flush_at {
            wake = wake.min(flush);
        }
        if let Some(Reverse((due, _))) = self.timers.peek() {
            wake = wake.min(*due);
        }
        wake
    }

    fn on_event(&mut self, event: SseEvent) {
        if !event.id.is_empty() {
            self.last_event_id = Some(event.id.clone());
        }
        match AgentCommand::parse(&event.event, &event.data) {
            Ok(Some(AgentCommand::Launch(launch))) => self.on_launch(launch),
            Ok(Some(AgentCommand::Acknowledge(ack))) => self.on_ack(ack),
            Ok(Some(AgentCommand::Kill(kill))) => self.on_kill(kill),
            Ok(Some(AgentCommand::Shutdown)) => self.stats.error("agent: told to shut down"),
            Ok(Some(AgentCommand::ReadLog(_) | AgentCommand::DestroyVolume(_) | AgentCommand::Ping) | None) => {}
            Err(_) => self.stats.error(format!("agent: malformed `{}` command", event.event)),
        }
    }

    fn on_launch(&mut self, launch: LaunchCommand) {
        let key = (launch.framework_id, launch.task.task_id);
        // A command delivered twice must not start the task twice.
        if self.tasks.contains_key(&key) {
            return;
        }
        let now = Instant::now();
        let running = self.status(&key, TaskState::Running, None, None);
        let finished = self.status(&key, TaskState::Finished, Some(reason::COMMAND_EXITED), Some(0));
        let queued = VecDeque::from([(now, running), (now + self.task_secs, finished)]);
        self.tasks.insert(key.clone(), TaskUpdates { in_flight: None, queued });
        self.stats.agent_tasks.fetch_add(1, Ordering::SeqCst);
        self.advance(&key, now);
    }

    fn on_kill(&mut self, kill: KillCommand) {
        let key = (kill.framework_id, kill.task_id);
        if !self.tasks.contains_key(&key) {
            return;
        }
        let killed = self.status(&key, TaskState::Killed, Some(reason::KILLED_BY_FRAMEWORK), None);
        let now = Instant::now();
        if let Some(task) = self.tasks.get_mut(&key) {
            // What it had yet to report never happens: it ends now.
            task.queued = VecDeque::from([(now, killed)]);
        }
        self.advance(&key, now);
    }

    fn on_ack(&mut self, ack: AcknowledgeCommand) {
        let key = (ack.framework_id, ack.task_id);
        let Some(task) = self.tasks.get_mut(&key) else { return };
        // Acknowledgements of updates the master made (such as `staging`) match nothing here.
        let matches = task.in_flight.as_ref().is_some_and(|f| f.status.update_id.as_ref() == Some(&ack.update_id));
        if !matches {
            return;
        }
        let Some(acked) = task.in_flight.take() else { return };
        if self.stats.measuring() {
            self.stats.record_ack_ms(acked.first_sent.elapsed().as_secs_f64() * 1000.0);
        }
        if acked.status.state.is_terminal() {
            self.tasks.remove(&key);
            self.stats.agent_tasks.fetch_sub(1, Ordering::SeqCst);
        } else {
            self.advance(&key, Instant::now());
        }
    }

    /// Moves the task's next update to the outbox if nothing of it is in flight and it is
    /// due; if it is due later, sets a timer.
    fn advance(&mut self, key: &TaskKey, now: Instant) {
        let Some(task) = self.tasks.get_mut(key) else { return };
        if task.in_flight.is_some() {
            return;
        }
        match task.queued.front() {
            Some((due, _)) if *due > now => self.timers.push(Reverse((*due, key.clone()))),
            Some(_) => {
                if let Some((_, status)) = task.queued.pop_front() {
                    task.in_flight = Some(InFlight { status: status.clone(), first_sent: now, last_sent: now });
                    self.outbox.push(status);
                    self.flush_at.get_or_insert(now + BATCH_WINDOW);
                }
            }
            None => {}
        }
    }

    async fn on_timer(&mut self) {
        let now = Instant::now();
        while let Some(Reverse((due, _))) = self.timers.peek() {
            if *due > now {
                break;
            }
            if let Some(Reverse((_, key))) = self.timers.pop() {
                self.advance(&key, now);
            }
        }
        if now >= self.next_resend_check {
            self.resend_stale(now);
        }
        if self.flush_at.is_some_and(|at| at <= now) {
            self.flush().await;
        }
    }

    /// Sends again what has waited too long for its acknowledgement: delivery is at least once.
    fn resend_stale(&mut self, now: Instant) {
        self.next_resend_check = now + RESEND_AFTER / 4;
        for sent in self.tasks.values_mut().filter_map(|t| t.in_flight.as_mut()) {
            if now.duration_since(sent.last_sent) >= RESEND_AFTER {
                sent.last_sent = now;
                self.outbox.push(sent.status.clone());
                self.stats.error("agent: update resent, no acknowledgement in time");
            }
        }
        if !self.outbox.is_empty() {
            self.flush_at.get_or_insert(now);
        }
    }

    /// Posts the outbox, a batch at a time. A batch that fails goes back to the front of the
    /// outbox and is tried again shortly: the updates keep their ids, so a repeat is harmless.
    async fn flush(&mut self) {
        self.flush_at = None;
        while !self.outbox.is_empty() {
            let rest = self.outbox.split_off(self.outbox.len().min(MAX_BATCH));
            let batch = StatusUpdates { updates: std::mem::replace(&mut self.outbox, rest) };
            // A terminal update frees the task's resources: the clock of the offer latency
            // starts as it goes out.
            if batch.updates.iter().any(|u| u.state.is_terminal()) {
                self.stats.resources_freed(&self.id);
            }
            if let Err(e) = self.client.agent_updates(&self.id, &batch).await {
                self.stats.error(format!("agent updates: {}", describe(&e)));
                let mut again = batch.updates;
                again.append(&mut self.outbox);
                self.outbox = again;
                self.flush_at = Some(Instant::now() + RETRY_AFTER);
                return;
            }
        }
    }

    fn status(&self, key: &TaskKey, state: TaskState, reason: Option<&str>, exit_code: Option<i32>) -> TaskStatus {
        TaskStatus {
            task_id: key.1.clone(),
            framework_id: key.0.clone(),
            agent_id: self.id.clone(),
            state,
            reason: reason.map(str::to_string),
            message: None,
            exit_code,
            healthy: None,
            update_id: Some(UpdateId::random()),
            timestamp: now_secs(),
            latest_state: None,
        }
    }
}

async fn heartbeat_loop(
    client: Client,
    id: AgentId,
    every: Duration,
    stats: Arc<Stats>,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = ticks.tick() => {
                let sent = Instant::now();
                match client.agent_heartbeat(&id).await {
                    Ok(()) => stats.heartbeat_answered(sent.elapsed().as_secs_f64() * 1000.0),
                    Err(e) => stats.error(format!("agent heartbeat: {}", describe(&e))),
                }
            }
        }
    }
}

/// The simulated agents of a run: how many, what each offers, and how they start.
pub struct Fleet {
    pub count: usize,
    pub resources: Resources,
    pub task_secs: f64,
    /// Registrations in flight at once.
    pub concurrency: usize,
    /// How long every agent may take to register.
    pub deadline: Duration,
}

/// Registers `fleet.count` agents, spread over `clients`, and starts each once registered;
/// returns their tasks once every one has registered, or fails if one cannot in time.
pub async fn start_fleet(
    clients: &[Client],
    fleet: &Fleet,
    stats: &Arc<Stats>,
    stop: &watch::Receiver<bool>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let slots = Arc::new(tokio::sync::Semaphore::new(fleet.concurrency));
    let (tx, mut rx) = tokio::sync::mpsc::channel::<anyhow::Result<()>>(fleet.count);
    let mut handles = Vec::with_capacity(fleet.count);
    for index in 0..fleet.count {
        let config = AgentConfig {
            index,
            client: clients[index % clients.len()].clone(),
            resources: fleet.resources.clone(),
            task_secs: fleet.task_secs,
        };
        let (stats, stop, tx, slots) = (stats.clone(), stop.clone(), tx.clone(), slots.clone());
        handles.push(tokio::spawn(async move {
            let registered = {
                let _slot = slots.acquire().await;
                register(config, stats).await
            };
            match registered {
                Ok(agent) => {
                    let _ = tx.send(Ok(())).await;
                    agent.run(stop).await;
                }
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                }
            }
        }));
    }
    wait_ready(&mut rx, fleet.count, "agents to register", fleet.deadline).await?;
    Ok(handles)
}

/// Waits for `count` clients to report that they are ready, failing on the first that cannot
/// be or when `deadline` passes.
pub async fn wait_ready(
    rx: &mut tokio::sync::mpsc::Receiver<anyhow::Result<()>>,
    count: usize,
    what: &str,
    deadline: Duration,
) -> anyhow::Result<()> {
    let until = Instant::now() + deadline;
    for done in 0..count {
        match tokio::time::timeout_at(until, rx.recv()).await {
            Ok(Some(Ok(()))) => {}
            Ok(Some(Err(e))) => return Err(e),
            Ok(None) => anyhow::bail!("waiting for {what}: the clients stopped ({done} of {count} ready)"),
            Err(_) => anyhow::bail!("timed out waiting for {what} ({done} of {count} ready in {deadline:?})"),
        }
    }
    Ok(())
}
