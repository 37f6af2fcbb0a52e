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
mod config;
pub mod containers;
mod docker;
mod error;
pub mod fetch;
#[doc(hidden)]
/// What the fuzz targets check; built for them (`--features fuzzing`) and for unit tests only.
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz_checks;
pub mod gc;
pub mod gpus;
mod health;
pub mod images;
mod launch;
mod logs;
pub mod metrics;
mod network;
mod process;
mod recovery;
mod resources;
mod sandbox;
pub use sandbox::create_dirs_traversable;
mod session;
mod staging;
mod state;
mod supervisor;
mod tasks;
#[cfg(feature = "test-support")]
pub mod testing;
mod updates;
pub mod users;
mod volumes;

pub use config::{AgentConfig, Isolation};
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
/// How soon updates that found the update sender busy are tried again.
const SENDER_BUSY_RETRY: Duration = Duration::from_millis(20);
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
    sandbox::create_dirs_traversable(&config.work_dir)?;
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
    let (prepared_tx, prepared_rx) = mpsc::channel(EXIT_QUEUE);
    let mut containerizers = containers::detect(&config.containers)?;
    let docker = docker_runtime(&config, &mut containerizers).await?;
    let oci = match containerizers.contains(&agora_api::Containerizer::Oci) {
        true => Some(Arc::new(containers::Oci::new(&config.containers, &config.work_dir)?)),
        false => None,
    };
    let fetcher = Some(Arc::new(fetch::Fetcher::new(&config.containers.fetch, &config.work_dir)?));
    let names: Vec<&str> = containerizers.iter().map(|c| c.as_str()).collect();
    tracing::info!(containerizers = %names.join(","), "tasks run as");
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
        prepared_tx,
        containerizers,
        oci,
        docker,
        fetcher,
        log_reads: Arc::new(Semaphore::new(MAX_LOG_READS)),
        users,
        cgroups,
        gpus: gpu_allocator,
        metrics,
    };
    agent.recover();
    agent.refresh_metrics();
    agent.run(shutdown, events_rx, exits_rx, health_rx, prepared_rx).await
}

/// The Docker daemon, when `--containerizers` names `docker` (it must answer), or names
/// nothing and one answers at `--docker-socket`; adds `docker` to `containerizers` then.
async fn docker_runtime(
    config: &AgentConfig,
    containerizers: &mut Vec<agora_api::Containerizer>,
) -> Result<Option<docker::DockerRuntime>, AgentError> {
    let named = config.containers.wanted.as_ref().map(|w| w.contains(&agora_api::Containerizer::Docker));
    if named == Some(false) {
        return Ok(None);
    }
    match docker::DockerRuntime::connect(&config.containers.docker_socket, &config.work_dir, &config.containers).await {
        Ok(runtime) => {
            if !containerizers.contains(&agora_api::Containerizer::Docker) {
                containerizers.push(agora_api::Containerizer::Docker);
            }
            Ok(Some(runtime))
        }
        Err(why) if named == Some(true) => Err(AgentError::Config(format!("--containerizers names docker, but {why}"))),
        Err(why) => {
            tracing::info!(why = %why, "the docker containerizer is off");
            Ok(None)
        }
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
    /// Its image is being pulled: it has no process yet.
    preparing: bool,
}

impl Task {
    fn new(
        launch: LaunchCommand,
        latest: TaskStatus,
        kill: Option<watch::Sender<Option<Duration>>>,
        gpus: Vec<u32>,
    ) -> Task {
        Task {
            launch,
            latest,
            kill,
            discarded: false,
            health: None,
            unhealthy: false,
            process: None,
            gpus,
            preparing: false,
        }
    }

    fn preparing(self) -> Task {
        Task { preparing: true, ..self }
    }

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
    /// Preparations ended (images pulled, or not).
    prepared_tx: mpsc::Sender<(TaskKey, staging::Prepared)>,
    /// How this agent runs tasks.
    containerizers: Vec<agora_api::Containerizer>,
    /// The `oci` containerizer, when the agent offers it.
    oci: Option<containers::SharedOci>,
    /// The `docker` containerizer, when the agent offers it.
    docker: Option<docker::DockerRuntime>,
    /// Downloads what tasks list in `fetch`.
    fetcher: Option<Arc<fetch::Fetcher>>,
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
