//! What an agent is told: the master, its token and TLS, its resources, work directory,
//! task users and isolation.

use super::*;

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
    /// How images are run.
    pub containers: containers::ContainerConfig,
    /// Told each time the agent registers with the master (`agora dev` waits for it before it
    /// says the cluster is up).
    pub registered: Option<Arc<tokio::sync::Notify>>,
    /// Whether stopping the agent kills its tasks. When not (an upgrade or a restart), they
    /// keep running and the next agent on this work directory takes them over, as Mesos's
    /// agent recovery does.
    pub kill_tasks_on_exit: bool,
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
            .field("containers", &self.containers)
            .field("registered", &self.registered.is_some())
            .field("kill_tasks_on_exit", &self.kill_tasks_on_exit)
            .finish()
    }
}
