//! Agora's node agent: registers with the master, follows its command stream, runs tasks as
//! local processes and reports their status until the framework acknowledges it.
//!
//! [`run`] is one loop that owns all task state. The network work of each registration (command
//! stream, heartbeats, update posts) runs in tokio tasks of its own, as does the watcher of each
//! task process; they report back over bounded channels, so the loop never waits on the network
//! or a process.

mod backoff;
pub mod cgroups;
mod checkpoint;
mod error;
#[doc(hidden)]
/// What the fuzz targets check; built for them (`--features fuzzing`) and for unit tests only.
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz_checks;
pub mod gc;
pub mod gpus;
mod health;
mod logs;
pub mod metrics;
mod process;
mod resources;
mod sandbox;
mod session;
mod state;
mod tasks;
mod updates;
pub mod users;
mod volumes;

pub use error::AgentError;
pub use resources::{apply_overrides, default_hostname, discover_resources};

use agora_api::agent::{
    AcknowledgeCommand, AgentCommand, AgentRegistered, KillCommand, LaunchCommand, ReadLogCommand, RegisterAgent,
    RunningTask, StatusUpdates,
};
use agora_api::{AgentId, Resources, TaskState, TaskStatus};
use agora_client::{Client, ClientError};
use backoff::Backoff;
use futures::future::BoxFuture;
use process::Exit;
use session::{Session, SessionEvent};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch, Semaphore};
use updates::{Acked, TaskKey, UpdateManager};

/// The status retry interval when the operator sets none.
pub const DEFAULT_STATUS_RETRY_SECS: f64 = 2.0;
/// The longest wait between resends of an unacknowledged status update.
const MAX_STATUS_RETRY: Duration = Duration::from_secs(60);
/// Registration attempts back off like stream reconnects.
const REGISTER_FIRST_RETRY: Duration = Duration::from_millis(100);
const REGISTER_MAX_RETRY: Duration = Duration::from_secs(5);
/// Commands read but not yet handled. When full, the stream reader stops reading, so the
/// master's socket buffers the rest.
const COMMAND_QUEUE: usize = 64;
/// Process exits not yet handled. When full, the watcher of an exited process waits.
const EXIT_QUEUE: usize = 64;
/// The most updates in one POST, keeping a batch well under the master's body limit.
const MAX_BATCH: usize = 256;
/// `read_log` commands answered at once; more are dropped (their readers time out), so a
/// flood of log readers cannot pile up tasks and open files on the agent.
const MAX_LOG_READS: usize = 64;
/// Ended tasks remembered so that replayed launches are ignored (about 100 bytes each).
const REMEMBERED_ENDED_TASKS: usize = 10_000;
/// Bounds on the heartbeat interval the master asks for.
const MIN_HEARTBEAT: Duration = Duration::from_millis(50);
const MAX_HEARTBEAT: Duration = Duration::from_secs(3600);
const FALLBACK_HEARTBEAT: Duration = Duration::from_secs(15);
/// When the agent stops, each task's kill grace is capped at this, so that stopping is bounded.
const MAX_STOP_GRACE: Duration = Duration::from_secs(30);
/// How long a stopping agent waits for its tasks beyond their grace periods.
const STOP_SLACK: Duration = Duration::from_secs(2);
/// The limit on the last, best-effort send of unacknowledged updates when stopping.
const FINAL_SEND_TIMEOUT: Duration = Duration::from_secs(2);

/// How to run an agent.
#[derive(Clone)]
pub struct AgentConfig {
    /// The master's base URL, e.g. `http://127.0.0.1:5050`, no trailing slash.
    pub master: String,
    pub token: String,
    /// Holds `agent_id` and the task sandboxes; created if missing.
    pub work_dir: PathBuf,
    pub resources: Resources,
    /// Static reservations: parts of `resources` offered only to a role, by role.
    pub reserved: BTreeMap<String, Resources>,
    pub attributes: BTreeMap<String, String>,
    pub hostname: String,
    /// The wait before the first resend of an unacknowledged status update.
    pub status_retry_secs: f64,
    /// How the master's certificate is checked, and the agent's client certificate if any.
    pub tls: agora_client::TlsOptions,
    /// Which OS users tasks run as.
    pub task_users: users::TaskUsers,
    /// Whether tasks get cgroups with their limits.
    pub isolation: Isolation,
    /// How long ended tasks' sandboxes are kept.
    pub sandbox_gc: gc::SandboxGc,
    /// The host's GPUs (`gpus::discover`); the first `resources.gpus` of them are handed to
    /// tasks.
    pub gpus: Vec<gpus::Gpu>,
    /// Where to serve `GET /metrics`; the address bound is written to
    /// `{work_dir}/metrics.address`.
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// How tasks are isolated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Isolation {
    /// cgroups when the host has them and the agent may make groups, else none (with a
    /// warning): what `agora dev` wants on any machine.
    #[default]
    Auto,
    /// cgroups, or the agent does not start.
    Cgroups,
    /// Plain processes: no limits.
    None,
}

impl fmt::Debug for AgentConfig {
    // By hand, so that the token never reaches a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentConfig")
            .field("master", &self.master)
            .field("token", &"<redacted>")
            .field("work_dir", &self.work_dir)
            .field("resources", &self.resources)
            .field("reserved", &self.reserved)
            .field("attributes", &self.attributes)
            .field("hostname", &self.hostname)
            .field("status_retry_secs", &self.status_retry_secs)
            .field("tls", &self.tls)
            .field("task_users", &self.task_users)
            .field("isolation", &self.isolation)
            .field("sandbox_gc", &self.sandbox_gc)
            .field("gpus", &self.gpus)
            .field("metrics_listen", &self.metrics_listen)
            .finish()
    }
}

/// Where the host's cgroup filesystems are mounted.
const CGROUP_MOUNT: &str = "/sys/fs/cgroup";

/// Runs the agent until `shutdown` resolves, then kills its tasks, waits for them (bounded)
/// and returns. An unreachable master is retried forever; only a bad configuration or an
/// unusable work directory is an error.
pub async fn run(config: AgentConfig, shutdown: impl Future<Output = ()> + Send) -> Result<(), AgentError> {
    let client = Client::with_tls(&config.master, &config.token, &config.tls)?;
    let first_retry =
        Duration::try_from_secs_f64(config.status_retry_secs).ok().filter(|d| !d.is_zero()).ok_or_else(|| {
            AgentError::Config(format!("status_retry_secs must be positive, not {}", config.status_retry_secs))
        })?;
    if !config.resources.is_well_formed() {
        return Err(AgentError::Config("resources must be finite, non-negative, with ordered port ranges".to_string()));
    }
    std::fs::create_dir_all(&config.work_dir)
        .map_err(|e| AgentError::io(format!("cannot create work dir {}", config.work_dir.display()), e))?;
    let users = config.task_users.resolve()?;
    users.check_reachable(&config.work_dir)?;
    tracing::info!(user = %users.default_user().name, uid = users.default_user().uid, "tasks run as");
    let agent_id = state::load_agent_id(&config.work_dir)?;
    let cgroups = isolation(&config)?;
    let metrics = Arc::new(metrics::Metrics::new());
    if let Some(listen) = config.metrics_listen {
        let bound = metrics::serve(listen, metrics.clone())
            .await
            .map_err(|e| AgentError::io(format!("cannot serve metrics on {listen}"), e))?;
        let file = config.work_dir.join("metrics.address");
        std::fs::write(&file, format!("{bound}\n"))
            .map_err(|e| AgentError::io(format!("cannot write {}", file.display()), e))?;
        tracing::info!(address = %bound, "serving metrics");
    }
    let offered = config.resources.gpus.floor() as usize;
    if !config.gpus.is_empty() {
        let handed: Vec<&String> = config.gpus.iter().take(offered).map(|g| &g.uuid).collect();
        tracing::info!(gpus = ?handed, "GPUs handed to tasks");
    } else if offered > 0 {
        tracing::warn!(gpus = offered, "offering GPUs without devices: tasks that ask for them get none");
    }

    let (events_tx, events_rx) = mpsc::channel(COMMAND_QUEUE);
    let (exits_tx, exits_rx) = mpsc::channel(EXIT_QUEUE);
    let (health_tx, health_rx) = mpsc::channel(EXIT_QUEUE);
    let gpu_allocator = gpus::Allocator::new(&config.gpus, offered);
    let mut agent = Agent {
        config,
        client,
        agent_id,
        tasks: BTreeMap::new(),
        ended: tasks::RecentlyEnded::new(REMEMBERED_ENDED_TASKS),
        updates: UpdateManager::new(first_retry, MAX_STATUS_RETRY),
        session: None,
        generation: 0,
        events_tx,
        exits_tx,
        health_tx,
        log_reads: Arc::new(Semaphore::new(MAX_LOG_READS)),
        users,
        cgroups,
        gpus: gpu_allocator,
        metrics,
    };
    agent.recover();
    agent.refresh_metrics();
    agent.run(shutdown, events_rx, exits_rx, health_rx).await
}

/// A task's cgroup, below the agent's.
fn cgroup_name(key: &TaskKey) -> String {
    cgroups::task_group(&key.framework_id, &key.task_id)
}

/// A command health check's process: the task's user, sandbox and environment.
fn check_spec(line: &str, task: &process::ProcessSpec) -> process::ProcessSpec {
    process::ProcessSpec {
        program: "/bin/sh".to_string(),
        args: vec!["-c".to_string(), line.to_string()],
        // Not the task's: a check's end must not pass for the task's.
        exit_file: None,
        ..task.clone()
    }
}

/// The host's cgroups, as `config.isolation` asks.
fn isolation(config: &AgentConfig) -> Result<Option<Arc<dyn cgroups::Cgroups>>, AgentError> {
    if config.isolation == Isolation::None {
        tracing::warn!("tasks run without isolation: no CPU, memory or pids limits");
        return Ok(None);
    }
    let mount = std::path::Path::new(CGROUP_MOUNT);
    match cgroups::detect(mount, &cgroups::agent_root(&config.work_dir)) {
        Ok(Some(found)) => {
            tracing::info!(driver = ?found, "tasks run in cgroups");
            Ok(Some(found))
        }
        Ok(None) if config.isolation == Isolation::Auto => {
            tracing::warn!(mount = CGROUP_MOUNT, "no cgroups on this host: tasks run without limits");
            Ok(None)
        }
        Err(e) if config.isolation == Isolation::Auto => {
            tracing::warn!(error = %e, "cannot use cgroups (not root?): tasks run without limits");
            Ok(None)
        }
        Ok(None) => Err(AgentError::Config(format!("no cgroups under {CGROUP_MOUNT}"))),
        Err(e) => Err(e),
    }
}

/// A task the agent knows: running, or ended with its terminal update not yet acknowledged.
struct Task {
    launch: LaunchCommand,
    /// The last update created for it; its `agent_id` is the one further updates carry.
    latest: TaskStatus,
    /// Kill requests (grace periods) for the process watcher; `None` once the process ended
    /// or if it never started.
    kill: Option<watch::Sender<Option<Duration>>>,
    /// Set when the master shut this agent down: the process is being killed and nobody is
    /// told how it ends.
    discarded: bool,
    /// Its health, if it has a health check.
    health: Option<health::Tracker>,
    /// Killed by the agent for failing its health checks.
    unhealthy: bool,
    /// The supervising shell's pid and start time, for a restarted agent to find it again.
    process: Option<(i32, u64)>,
    /// The GPUs it holds, by index.
    gpus: Vec<u32>,
}

impl Task {
    fn is_running(&self) -> bool {
        self.kill.is_some()
    }
}

struct Agent {
    config: AgentConfig,
    client: Client,
    agent_id: Option<AgentId>,
    tasks: BTreeMap<TaskKey, Task>,
    /// Tasks forgotten after their terminal update was acknowledged.
    ended: tasks::RecentlyEnded,
    updates: UpdateManager,
    /// Present while registered.
    session: Option<Session>,
    generation: u64,
    events_tx: mpsc::Sender<SessionEvent>,
    exits_tx: mpsc::Sender<(TaskKey, Exit)>,
    /// Health check results, from each checked task's checker.
    health_tx: mpsc::Sender<(TaskKey, bool)>,
    log_reads: Arc<Semaphore>,
    /// Which OS user each task runs as.
    users: users::Users,
    /// The host's cgroups, if tasks are isolated.
    cgroups: Option<Arc<dyn cgroups::Cgroups>>,
    /// Which GPUs are free.
    gpus: gpus::Allocator,
    metrics: Arc<metrics::Metrics>,
}

type Registration = BoxFuture<'static, Result<AgentRegistered, ClientError>>;

impl Agent {
    async fn run(
        mut self,
        shutdown: impl Future<Output = ()> + Send,
        mut events: mpsc::Receiver<SessionEvent>,
        mut exits: mpsc::Receiver<(TaskKey, Exit)>,
        mut health: mpsc::Receiver<(TaskKey, bool)>,
    ) -> Result<(), AgentError> {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut backoff = Backoff::new(REGISTER_FIRST_RETRY, REGISTER_MAX_RETRY);
        let mut registering: Option<Registration> = Some(self.register(Duration::ZERO));
        let mut gc_at = Instant::now() + self.config.sandbox_gc.interval();
        let mut collecting: Option<tokio::task::JoinHandle<()>> = None;
        loop {
            let resend_at = if self.session.is_some() { self.updates.next_due() } else { None };
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                Some((key, exit)) = exits.recv() => self.on_exit(key, exit),
                Some((key, passed)) = health.recv() => self.on_health(key, passed),
                Some(event) = events.recv() => {
                    if matches!(event, SessionEvent::Command(_)) {
                        // Commands flowing show the session works; later trouble starts
                        // its backoff afresh.
                        backoff.reset();
                    }
                    self.on_session_event(event);
                }
                result = poll_option(&mut registering) => {
                    registering = None;
                    match result.map_err(AgentError::from).and_then(|r| self.on_registered(r)) {
                        Ok(()) => {}
                        // A refused token will not be accepted on a retry: stop and say so.
                        Err(AgentError::Client(e)) if matches!(e.status(), Some(401 | 403)) => {
                            self.stop(&mut exits).await;
                            return Err(AgentError::Config(format!("the master refused the agent token: {e}")));
                        }
                        Err(e) => {
                            let delay = backoff.next_delay();
                            tracing::warn!(error = %e, retry_in = ?delay, master = %self.client.base(), "cannot register");
                            registering = Some(self.register(delay));
                        }
                    }
                }
                () = sleep_until(resend_at), if resend_at.is_some() => {}
                () = sleep_until(Some(gc_at)) => {
                    gc_at = Instant::now() + self.config.sandbox_gc.interval();
                    if collecting.as_ref().is_none_or(|c| c.is_finished()) {
                        collecting = Some(self.collect_sandboxes());
                    }
                }
            }
            if self.session.is_none() && registering.is_none() {
                registering = Some(self.register(backoff.next_delay()));
            }
            self.send_due_updates();
        }
        drop(registering);
        self.stop(&mut exits).await;
        Ok(())
    }

    /// A registration attempt after `delay`, reporting the tasks that run now.
    fn register(&self, delay: Duration) -> Registration {
        // Ended tasks whose last update is not yet acknowledged are reported too, with that
        // update as their status, so the master does not mistake them for gone.
        let running = self.tasks.values().filter(|t| !t.discarded);
        let body = RegisterAgent {
            agent_id: self.agent_id.clone(),
            hostname: self.config.hostname.clone(),
            resources: self.config.resources.clone(),
            reserved: self.config.reserved.clone(),
            attributes: self.config.attributes.clone(),
            tasks: running
                .map(|t| RunningTask {
                    framework_id: t.launch.framework_id.clone(),
                    task: t.launch.task.clone(),
                    status: t.latest.clone(),
                })
                .collect(),
        };
        let client = self.client.clone();
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            client.register_agent(&body).await
        })
    }

    fn on_registered(&mut self, registered: AgentRegistered) -> Result<(), AgentError> {
        let id = registered.agent_id;
        if !id.is_valid() {
            return Err(AgentError::Config(format!("the master gave an invalid agent id `{id}`")));
        }
        if self.agent_id.as_ref() != Some(&id) {
            if let Some(old) = &self.agent_id {
                tracing::warn!(old = %old, new = %id, "the master gave this agent a new id");
            }
            if let Err(e) = state::save_agent_id(&self.config.work_dir, &id) {
                // The agent still works; it will only come back under a new id after a restart.
                tracing::error!(error = %e, "cannot save the agent id");
            }
            self.updates.reassign(&id);
            for task in self.tasks.values_mut() {
                task.latest.agent_id = id.clone();
            }
            let keys: Vec<TaskKey> = self.tasks.keys().cloned().collect();
            for key in &keys {
                self.save(key);
            }
        }
        let heartbeat = Duration::try_from_secs_f64(registered.heartbeat_interval_secs)
            .unwrap_or(FALLBACK_HEARTBEAT)
            .clamp(MIN_HEARTBEAT, MAX_HEARTBEAT);
        self.generation += 1;
        self.session = Some(Session::start(&self.client, &id, self.generation, heartbeat, &self.events_tx));
        tracing::info!(agent_id = %id, ?heartbeat, tasks = self.tasks.len(), "registered with the master");
        self.agent_id = Some(id);
        // The master may have missed earlier sends while it did not know us.
        self.updates.resend_all(Instant::now());
        Ok(())
    }

    fn on_session_event(&mut self, event: SessionEvent) {
        match event {
            // Commands of a replaced session are still facts from the master, so they are
            // handled like any other.
            SessionEvent::Command(command) => self.on_command(*command),
            SessionEvent::Forgotten { generation, during } => {
                if self.session.as_ref().is_some_and(|s| s.generation == generation) {
                    tracing::info!(during, "registering again");
                    self.session = None;
                }
            }
        }
    }

    fn on_command(&mut self, command: AgentCommand) {
        match command {
            AgentCommand::Launch(launch) => self.launch(launch),
            AgentCommand::Kill(kill) => self.kill(kill),
            AgentCommand::Acknowledge(ack) => self.acknowledge(ack),
            AgentCommand::ReadLog(read) => self.read_log(read),
            AgentCommand::DestroyVolume(destroy) => match volumes::destroy(&self.config.work_dir, &destroy.id) {
                Ok(()) => tracing::info!(volume = %destroy.id, "persistent volume destroyed"),
                Err(e) => tracing::error!(volume = %destroy.id, error = %e, "cannot destroy a persistent volume"),
            },
            AgentCommand::Shutdown => self.shutdown_command(),
            AgentCommand::Ping => tracing::trace!("ping"),
        }
    }

    fn launch(&mut self, launch: LaunchCommand) {
        let key = TaskKey::new(&launch.framework_id, &launch.task.task_id);
        if self.tasks.contains_key(&key) || self.ended.contains(&key) {
            tracing::debug!(task_id = %key.task_id, "ignoring a launch of a known task");
            return;
        }
        let Some(agent_id) = self.agent_id.clone() else {
            tracing::warn!(task_id = %key.task_id, "ignoring a launch while unregistered");
            return;
        };
        let (started, gpus) = match self.take_gpus(&launch) {
            Ok(gpus) => match self.start_process(&launch, &agent_id, &gpus) {
                Ok(started) => (Ok(started), gpus),
                Err(e) => {
                    self.gpus.give_back(&gpus);
                    (Err(e), Vec::new())
                }
            },
            Err(e) => (Err(e), Vec::new()),
        };
        let mut tracker = None;
        let mut process = None;
        let (status, kill) = match started {
            Ok((started, check_command)) => {
                let pid = started.pid();
                process = process::start_time(pid).map(|start| (pid, start));
                tracing::info!(framework_id = %key.framework_id, task_id = %key.task_id, pid, "task started");
                let running = process::Running::Child(started);
                let (kill, health) = self.watch(&key, &launch, running, check_command, &cgroup_name(&key));
                tracker = health;
                (tasks::status(&launch, &agent_id, TaskState::Running), Some(kill))
            }
            Err(e) => {
                self.metrics.launch_errors.inc();
                tracing::warn!(framework_id = %key.framework_id, task_id = %key.task_id, error = %e, "launch failed");
                (tasks::launch_failed_status(&launch, &agent_id, &e), None)
            }
        };
        self.updates.push(status.clone(), Instant::now());
        self.tasks.insert(
            key.clone(),
            Task { launch, latest: status, kill, discarded: false, health: tracker, unhealthy: false, process, gpus },
        );
        self.save(&key);
        self.refresh_metrics();
    }

    /// Watches a running task's process for its end, and runs its health check; returns the
    /// sender of kill requests and the health tracker.
    fn watch(
        &self,
        key: &TaskKey,
        launch: &LaunchCommand,
        running: process::Running,
        check_command: Option<process::ProcessSpec>,
        group: &str,
    ) -> (watch::Sender<Option<Duration>>, Option<health::Tracker>) {
        let (kill, kill_rx) = watch::channel(None);
        let mut tracker = None;
        if let Some(check) = launch.task.health_check.clone() {
            tracker = Some(health::Tracker::new(&check, Instant::now()));
            let alive = kill.subscribe();
            let group =
                self.cgroups.as_ref().map(|c| cgroups::TaskCgroup { cgroups: c.clone(), name: group.to_string() });
            tokio::spawn(health::run(key.clone(), check, check_command, group, alive, self.health_tx.clone()));
        }
        let exits = self.exits_tx.clone();
        let watched = key.clone();
        tokio::spawn(async move {
            let exit = running.supervise(kill_rx).await;
            // Fails only once the agent loop has returned, when nobody needs to know.
            let _ = exits.send((watched, exit)).await;
        });
        (kill, tracker)
    }

    /// Finds again the tasks an earlier run of the agent checkpointed: those still running are
    /// watched again, those that ended meanwhile are reported with how they ended (from the
    /// supervising shell's exit file), and unacknowledged updates are queued again.
    fn recover(&mut self) {
        let (saved, unreadable) = checkpoint::load_all(&self.config.work_dir);
        self.metrics.recovery_errors.inc_by(unreadable as u64);
        // Groups no checkpoint names hold tasks the agent died before it recorded (or that it
        // was told to forget): nobody will ever be told of them, so they end.
        let children: std::collections::HashSet<String> =
            self.cgroups.as_ref().map(|c| c.children().into_iter().collect()).unwrap_or_default();
        let groups: HashMap<TaskKey, String> = saved
            .iter()
            .map(|t| {
                let key = TaskKey::new(&t.launch.framework_id, &t.launch.task.task_id);
                // Agents before 0.2 named groups `framework.task`: a task started by one keeps
                // its group across the upgrade.
                let legacy = format!("{}.{}", key.framework_id, key.task_id);
                let name = if !children.contains(&cgroup_name(&key)) && children.contains(&legacy) {
                    legacy
                } else {
                    cgroup_name(&key)
                };
                (key, name)
            })
            .collect();
        if let Some(cgroups) = &self.cgroups {
            let known: std::collections::HashSet<&String> = groups.values().collect();
            for name in children.iter().filter(|n| !known.contains(n)) {
                tracing::warn!(cgroup = %name, "ending processes of a task the agent has no record of");
                let group = cgroups::TaskCgroup { cgroups: cgroups.clone(), name: name.clone() };
                tokio::spawn(async move { group.destroy().await });
            }
        }
        let now = Instant::now();
        for task in saved {
            let key = TaskKey::new(&task.launch.framework_id, &task.launch.task.task_id);
            for update in task.updates.clone() {
                self.updates.push(update, now);
            }
            let sandbox = tasks::sandbox_dir(&self.config.work_dir, &key.framework_id, &key.task_id);
            let alive = task.process.filter(|(pid, start)| process::start_time(*pid) == Some(*start));
            let mut recovered = Task {
                launch: task.launch,
                latest: task.latest,
                kill: None,
                discarded: false,
                health: None,
                unhealthy: false,
                process: task.process,
                gpus: task.gpus,
            };
            match (alive, sandbox) {
                (Some((pid, start_time)), Ok(sandbox)) => {
                    self.gpus.claim(&recovered.gpus);
                    tracing::info!(framework_id = %key.framework_id, task_id = %key.task_id, pid, "re-attached to a running task");
                    let name = groups.get(&key).cloned().unwrap_or_else(|| cgroup_name(&key));
                    let cgroup =
                        self.cgroups.as_ref().map(|c| cgroups::TaskCgroup { cgroups: c.clone(), name: name.clone() });
                    let adopted = process::AdoptedProcess { pid, start_time, sandbox, cgroup };
                    self.metrics.recovered.inc();
                    let check = self.check_command(&recovered.launch);
                    let running = process::Running::Adopted(adopted);
                    let (kill, health) = self.watch(&key, &recovered.launch, running, check, &name);
                    recovered.kill = Some(kill);
                    recovered.health = health;
                }
                (_, sandbox) if !recovered.latest.state.is_terminal() => {
                    let sandbox = sandbox.ok().and_then(|s| sandbox::Sandbox::open(&s).ok().flatten());
                    let ended = sandbox.and_then(|s| s.read_exit()).unwrap_or_else(|| {
                        self.metrics.recovery_errors.inc();
                        process::Ended::WaitFailed("it ended while the agent was away, and how is unknown".into())
                    });
                    let exit = Exit { ended, killed: false, oom: false };
                    let status = tasks::exit_status(&recovered.launch, &recovered.latest.agent_id, &exit);
                    tracing::info!(framework_id = %key.framework_id, task_id = %key.task_id, state = status.state.as_str(), "a task ended while the agent was away");
                    recovered.latest = status.clone();
                    self.updates.push(status, now);
                    // What the task left running in its cgroup ends with it, as it would have.
                    if let Some(cgroups) = &self.cgroups {
                        let name = groups.get(&key).cloned().unwrap_or_else(|| cgroup_name(&key));
                        let group = cgroups::TaskCgroup { cgroups: cgroups.clone(), name };
                        tokio::spawn(async move { group.destroy().await });
                    }
                }
                _ => {}
            }
            self.tasks.insert(key.clone(), recovered);
            self.save(&key);
        }
    }

    /// What a task's command health check runs, if it has one.
    fn check_command(&self, launch: &LaunchCommand) -> Option<process::ProcessSpec> {
        let agora_api::Check::Command(line) = &launch.task.health_check.as_ref()?.check else { return None };
        let user = self.users.for_task(launch.task.user.as_deref()).ok()?;
        let sandbox = tasks::sandbox_dir(&self.config.work_dir, &launch.framework_id, &launch.task.task_id).ok()?;
        let switch_to = self.users.must_switch(&user).then_some(&user);
        let agent_id = self.agent_id.clone().unwrap_or_else(|| launch.task.agent_id.clone());
        let spec = tasks::process_spec(launch, &agent_id, &sandbox, switch_to).ok()?;
        Some(check_spec(line, &spec))
    }

    /// Makes the task's sandbox, owned by the user it runs as, and starts its process. Returns
    /// it with what its command health check runs, if it has one.
    /// The GPUs a launch asks for, taken from the free ones (none when the host has no GPU
    /// devices to hand out).
    fn take_gpus(&mut self, launch: &LaunchCommand) -> Result<Vec<u32>, AgentError> {
        let wanted = launch.task.resources.gpus;
        if !self.gpus.has_devices() || wanted == 0.0 {
            return Ok(Vec::new());
        }
        if wanted.fract() != 0.0 {
            return Err(AgentError::InvalidTask(format!("GPUs are handed out whole, not {wanted}")));
        }
        self.gpus
            .take(wanted as usize)
            .ok_or_else(|| AgentError::InvalidTask(format!("{wanted} GPUs asked for, fewer are free on this agent")))
    }

    fn start_process(
        &self,
        launch: &LaunchCommand,
        agent_id: &AgentId,
        gpus: &[u32],
    ) -> Result<(process::TaskProcess, Option<process::ProcessSpec>), AgentError> {
        let user = self.users.for_task(launch.task.user.as_deref())?;
        let owner = self.users.must_switch(&user).then_some((user.uid, user.gid));
        let volumes = volumes::prepare(&self.config.work_dir, &launch.volumes, owner)?;
        let (fw, task) = (&launch.framework_id, &launch.task.task_id);
        let (sandbox, output) = sandbox::Sandbox::create(&self.config.work_dir, fw, task, owner, &volumes)?;
        let switch_to = self.users.must_switch(&user).then_some(&user);
        let mut spec = tasks::process_spec(launch, agent_id, sandbox.path(), switch_to)?;
        if self.gpus.has_devices() {
            // What CUDA may see: the task's GPUs only, none for a task that asked for none.
            let visible = self.gpus.visible_devices(gpus);
            spec.env.retain(|(k, _)| k != "CUDA_VISIBLE_DEVICES" && k != "NVIDIA_VISIBLE_DEVICES");
            spec.env.push(("CUDA_VISIBLE_DEVICES".into(), visible.clone().into()));
            spec.env.push(("NVIDIA_VISIBLE_DEVICES".into(), visible.into()));
        }
        let check = launch.task.health_check.as_ref().and_then(|h| match &h.check {
            agora_api::Check::Command(line) => Some(check_spec(line, &spec)),
            _ => None,
        });
        let Some(cgroups) = &self.cgroups else { return Ok((process::spawn(&spec, Some(output), None)?, check)) };
        let group = cgroups::TaskCgroup {
            cgroups: cgroups.clone(),
            name: cgroup_name(&TaskKey::new(&launch.framework_id, &launch.task.task_id)),
        };
        let resources = &launch.task.resources;
        let deny_devices = self.gpus.others(gpus).into_iter().map(|minor| (gpus::NVIDIA_MAJOR, minor)).collect();
        let limits = cgroups::Limits {
            cpus: resources.cpus,
            mem_mib: resources.mem,
            pids: cgroups::DEFAULT_PIDS_MAX,
            deny_devices,
        };
        let started = cgroups
            .create(&group.name, &limits)
            .and_then(|()| process::spawn(&spec, Some(output), Some(group.clone())));
        if started.is_err() {
            // The process never got in, or was killed when it could not: wait for it to go.
            tokio::spawn(async move { group.destroy().await });
        }
        Ok((started?, check))
    }

    /// Deletes old sandboxes of tasks the agent no longer knows, off the agent loop.
    fn collect_sandboxes(&self) -> tokio::task::JoinHandle<()> {
        let live: std::collections::HashSet<TaskKey> = self.tasks.keys().cloned().collect();
        let (work_dir, policy) = (self.config.work_dir.clone(), self.config.sandbox_gc.clone());
        tokio::task::spawn_blocking(move || {
            let deleted = gc::collect(&work_dir, &live, &policy, std::time::SystemTime::now());
            if deleted > 0 {
                tracing::info!(deleted, "deleted the sandboxes of ended tasks");
            }
        })
    }

    /// A health check result: reports a change of health, and kills a task that failed too
    /// many in a row.
    fn on_health(&mut self, key: TaskKey, passed: bool) {
        let Some(task) = self.tasks.get_mut(&key).filter(|t| t.is_running() && !t.discarded) else { return };
        let Some(tracker) = &mut task.health else { return };
        let verdict = tracker.record(passed, Instant::now());
        if let Some(healthy) = verdict.report {
            let mut status = tasks::status(&task.launch, &task.latest.agent_id, TaskState::Running);
            status.healthy = Some(healthy);
            status.reason = Some(agora_api::types::reason::TASK_HEALTH_CHECK_STATUS_UPDATED.to_string());
            status.message = Some(if healthy { "health check passed" } else { "health check failed" }.to_string());
            tracing::info!(framework_id = %key.framework_id, task_id = %key.task_id, healthy, "task health changed");
            task.latest = status.clone();
            self.updates.push(status, Instant::now());
            self.save(&key);
        }
        let Some(task) = self.tasks.get_mut(&key) else { return };
        if verdict.kill && !task.unhealthy {
            tracing::warn!(framework_id = %key.framework_id, task_id = %key.task_id, "killing a task that failed its health checks");
            task.unhealthy = true;
            if let Some(kill) = &task.kill {
                kill.send_replace(Some(tasks::kill_grace(&task.launch)));
            }
        }
    }

    fn kill(&mut self, kill: KillCommand) {
        let key = TaskKey::new(&kill.framework_id, &kill.task_id);
        match self.tasks.get(&key) {
            Some(Task { kill: Some(sender), discarded: false, .. }) => {
                let grace = tasks::grace_from_secs(kill.grace_period_secs);
                tracing::info!(framework_id = %key.framework_id, task_id = %key.task_id, ?grace, "killing task");
                sender.send_replace(Some(grace));
            }
            _ => tracing::debug!(task_id = %key.task_id, "ignoring a kill of an unknown or ended task"),
        }
    }

    fn acknowledge(&mut self, ack: AcknowledgeCommand) {
        let key = TaskKey::new(&ack.framework_id, &ack.task_id);
        match self.updates.acknowledge(&key, &ack.update_id, Instant::now()) {
            Acked::Finished => {
                if self.tasks.get(&key).is_some_and(|t| !t.is_running()) {
                    self.tasks.remove(&key);
                    checkpoint::forget(&self.config.work_dir, &key);
                    self.ended.insert(key);
                    self.refresh_metrics();
                }
            }
            Acked::Popped => self.save(&key),
            Acked::Ignored => {
                tracing::debug!(task_id = %key.task_id, update_id = %ack.update_id, "ignoring an unknown ack")
            }
        }
    }

    /// Answers from a separate tokio task, as an answer may wait for output for a while.
    fn read_log(&mut self, command: ReadLogCommand) {
        let Some(agent_id) = self.agent_id.clone() else {
            return;
        };
        let Ok(permit) = self.log_reads.clone().try_acquire_owned() else {
            tracing::warn!(task_id = %command.task_id, "too many log reads at once; dropping one");
            return;
        };
        let key = TaskKey::new(&command.framework_id, &command.task_id);
        // The kill channel closes when the process ends, which is what a follower waits for.
        let liveness = self.tasks.get(&key).and_then(|t| t.kill.as_ref()).map(watch::Sender::subscribe);
        let sandbox = tasks::sandbox_dir(&self.config.work_dir, &command.framework_id, &command.task_id).ok();
        let client = self.client.clone();
        tokio::spawn(async move {
            let running = move || liveness.as_ref().is_some_and(|rx| rx.has_changed().is_ok());
            logs::answer(client, agent_id, sandbox, command, running).await;
            drop(permit);
        });
    }

    /// The master no longer wants this agent: kill everything, forget the id and register as a
    /// new agent. The tasks' ends are not reported, as the master has already written them off.
    fn shutdown_command(&mut self) {
        tracing::warn!(tasks = self.tasks.len(), "the master shut this agent down; registering afresh");
        self.session = None;
        for task in self.tasks.values_mut() {
            task.discarded = true;
            if let Some(kill) = &task.kill {
                kill.send_replace(Some(tasks::kill_grace(&task.launch)));
            }
        }
        self.tasks.retain(|_, t| t.is_running());
        self.updates.clear();
        // A new agent gets a new command log, so nothing old can be replayed to it.
        self.ended.clear();
        self.agent_id = None;
        checkpoint::forget_all(&self.config.work_dir);
        if let Err(e) = state::forget_agent_id(&self.config.work_dir) {
            tracing::error!(error = %e, "cannot forget the agent id");
        }
    }

    fn on_exit(&mut self, key: TaskKey, exit: Exit) {
        let Some(task) = self.tasks.get_mut(&key) else {
            return;
        };
        task.kill = None;
        self.gpus.give_back(&std::mem::take(&mut task.gpus));
        if task.discarded {
            self.tasks.remove(&key);
            return;
        }
        let mut status = tasks::exit_status(&task.launch, &task.latest.agent_id, &exit);
        if task.unhealthy && status.state == TaskState::Killed {
            status.reason = Some(agora_api::types::reason::TASK_UNHEALTHY.to_string());
            status.healthy = Some(false);
            status.message =
                Some(format!("killed after failing its health checks; {}", status.message.unwrap_or_default()));
        }
        tracing::info!(framework_id = %key.framework_id, task_id = %key.task_id, state = status.state.as_str(), message = status.message.as_deref().unwrap_or(""), "task ended");
        task.latest = status.clone();
        self.updates.push(status, Instant::now());
        self.save(&key);
        self.refresh_metrics();
    }

    /// Sets the metrics' gauges from the tasks the agent knows.
    fn refresh_metrics(&self) {
        let tasks = self.tasks.values().map(|t| (t.latest.state, t.is_running(), &t.launch.task.resources));
        self.metrics.refresh(&self.config.resources, tasks);
    }

    /// Checkpoints what the agent knows of a task, so that a restarted agent finds it again.
    fn save(&self, key: &TaskKey) {
        let Some(task) = self.tasks.get(key).filter(|t| !t.discarded) else { return };
        let saved = checkpoint::Saved {
            launch: task.launch.clone(),
            process: task.process,
            gpus: task.gpus.clone(),
            latest: task.latest.clone(),
            updates: self.updates.pending(key),
        };
        if let Err(e) = checkpoint::save(&self.config.work_dir, &saved) {
            tracing::error!(task_id = %key.task_id, error = %e, "cannot checkpoint a task; a restart of the agent would lose it");
        }
    }

    /// Hands the updates that are due to the session's sender. A batch that does not fit is
    /// dropped; those updates are already scheduled for a resend.
    fn send_due_updates(&mut self) {
        let Some(session) = &self.session else {
            return;
        };
        let due = self.updates.due(Instant::now());
        for batch in due.chunks(MAX_BATCH) {
            if !session.send_updates(batch.to_vec()) {
                tracing::debug!(count = batch.len(), "update sender busy; the batch will be retried");
            }
        }
    }

    /// Kills every task (SIGTERM, then SIGKILL after its grace), waits for them within a bound,
    /// and makes one short attempt to tell the master how they ended.
    async fn stop(&mut self, exits: &mut mpsc::Receiver<(TaskKey, Exit)>) {
        let mut longest = Duration::ZERO;
        for task in self.tasks.values() {
            if let Some(kill) = &task.kill {
                let grace = tasks::kill_grace(&task.launch).min(MAX_STOP_GRACE);
                longest = longest.max(grace);
                kill.send_replace(Some(grace));
            }
        }
        let running = self.tasks.values().filter(|t| t.is_running()).count();
        tracing::info!(running, "stopping: killing tasks");
        let deadline = Instant::now() + longest + STOP_SLACK;
        while self.tasks.values().any(Task::is_running) {
            tokio::select! {
                Some((key, exit)) = exits.recv() => self.on_exit(key, exit),
                () = sleep_until(Some(deadline)) => {
                    let left = self.tasks.values().filter(|t| t.is_running()).count();
                    tracing::warn!(left, "tasks still running when the agent stopped");
                    break;
                }
            }
        }
        if let (Some(_), Some(agent_id)) = (&self.session, &self.agent_id) {
            let updates = self.updates.all_pending();
            if !updates.is_empty() {
                let body = StatusUpdates { updates };
                let send = self.client.agent_updates(agent_id, &body);
                match tokio::time::timeout(FINAL_SEND_TIMEOUT, send).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "cannot send the last status updates"),
                    Err(_) => tracing::warn!("timed out sending the last status updates"),
                }
            }
        }
        self.session = None;
        tracing::info!("agent stopped");
    }
}

/// Waits for the future in `slot`, or forever if there is none.
async fn poll_option<F: Future + Unpin>(slot: &mut Option<F>) -> F::Output {
    match slot {
        Some(future) => future.await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}
