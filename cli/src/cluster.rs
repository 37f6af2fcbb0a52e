//! The long-running verbs: `agora dev`, `agora server`, `agora agent`, and `agora token issue`.

use crate::output::{print_json, write_out, OutputArgs};
use crate::target::{self, ADDRESS_FILE, ADMIN_TOKEN_FILE};
use agora_server::store::{Store, StoreConfig};
use agora_server::{Keys, Kind, Master, MasterConfig};
use anyhow::{anyhow, bail, Context as _};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Tokens `agora dev` mints for itself live this long; it mints fresh ones at every start.
const DEV_TOKEN_TTL_SECS: u64 = 365 * 24 * 3600;
/// How long `agora dev` lets an offer go unanswered before it goes to other frameworks.
const DEV_OFFER_TIMEOUT_SECS: f64 = 10.0;
/// Where `agora dev` writes the address DNS answers at, in its data directory.
const DNS_ADDRESS_FILE: &str = "dns-address";
/// How long `agora dev` waits for its agent to register before it says the cluster is up.
const AGENT_REGISTRATION_WAIT: Duration = Duration::from_secs(30);

#[derive(clap::Args)]
pub struct MasterArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:5050", value_parser = crate::parse_listen)]
    listen: SocketAddr,
    /// Where the cluster key and tokens live (default: ~/.local/share/agora). Made owner-only
    /// (0700) at every start, and its key files, tokens and state 0600.
    #[arg(long, env = "AGORA_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Seconds of silence after which an agent is unreachable and its tasks lost.
    #[arg(long, default_value_t = 15.0)]
    agent_timeout: f64,
    /// Seconds an agent may stay unreachable before it is removed: its tasks become `gone`
    /// (services replace them), and it leaves the lists with its reservations and volumes. If
    /// it comes back, it registers as new and the tasks it still runs are killed. 0 keeps
    /// unreachable agents for ever.
    #[arg(long, default_value_t = 86_400.0)]
    agent_removal_timeout: f64,
    /// Seconds between heartbeats on event streams.
    #[arg(long, default_value_t = 15.0)]
    heartbeat_interval: f64,
    /// Where the cluster's state lives: `file:DIR` (embedded, default DATA_DIR/state),
    /// `memory:` (kept nowhere), or `redis://HOST:PORT/DB` (shared by every replica; add
    /// `?prefix=NAME` to share one Redis between clusters), `rediss://` for Redis over TLS, and
    /// `rediss://USER@HOST:PORT/DB` for an ACL user. Put no password in it: every user of the
    /// machine sees command lines. Give Redis's password with AGORA_STORE_PASSWORD or
    /// --store-password-file.
    #[arg(long, env = "AGORA_STORE")]
    store: Option<String>,
    /// A file holding the Redis password (AUTH) of --store; the environment variable
    /// AGORA_STORE_PASSWORD holds it instead. Either takes the place of a password in the URL.
    #[arg(long, env = "AGORA_STORE_PASSWORD_FILE")]
    store_password_file: Option<PathBuf>,
    /// A PEM file of the CA certificates that sign a `rediss://` store's certificate, trusted
    /// instead of the system's roots (a private CA; ElastiCache's are publicly signed).
    #[arg(long, env = "AGORA_STORE_CA")]
    store_ca: Option<PathBuf>,
    /// Seconds the allocator lease lasts without renewal: a new leader takes over within about
    /// twice this after the old one dies.
    #[arg(long, default_value_t = 3.0)]
    lease_ttl: f64,
    /// The least an offer holds: at least these CPUs or this memory in MiB (an offer cut by a
    /// quota needs both), as Mesos's `--min_allocatable_resources`.
    #[arg(long, default_value = "cpus:0.01,mem:32")]
    min_allocatable: String,
    /// Seconds after which an offer a framework has neither accepted nor declined is
    /// rescinded, as if declined with the default filter, so its resources go to other
    /// frameworks first. 0 keeps offers until answered: the default of `agora server`, as in
    /// Mesos; `agora dev` uses 10, so one idle framework cannot starve `agora run`.
    #[arg(long)]
    offer_timeout: Option<f64>,
    /// Ended tasks kept for listing, reconciliation and their logs, newest first, as Mesos's
    /// `--max_completed_tasks_per_framework`. An ended task's id can be used again once it is
    /// no longer kept.
    #[arg(long, default_value_t = agora_server::master::COMPLETED_TASKS_KEPT)]
    max_completed_tasks: usize,
    /// Acknowledgements and kills one token may send one agent a second through this server,
    /// and in a row; past that they get 429 `too_many_commands`.
    #[arg(long, default_value_t = agora_server::ratelimit::COMMANDS_PER_SEC)]
    agent_commands_per_sec: f64,
    /// Seconds a client has to send a request's headers once its connection is ready for one;
    /// a keep-alive connection idle this long is closed too.
    #[arg(long, default_value_t = 30.0)]
    header_timeout: f64,
    /// Connections one client address (an IPv6 /64) may hold at once; 0 for no limit. Every
    /// agent and event stream holds one.
    #[arg(long, default_value_t = 1024)]
    max_connections_per_address: usize,
    /// Proxies (addresses or CIDR ranges, comma-separated) whose `X-Forwarded-For` (or PROXY
    /// header) names the client for the limits on addresses; nobody else's is believed. Their
    /// own connections are not counted against an address.
    #[arg(long, default_value = "")]
    trusted_proxies: String,
    /// Connections from `--trusted-proxies` begin with a PROXY protocol header (v1 or v2), as
    /// TCP load balancers that pass TLS through send (HAProxy's `send-proxy`, AWS NLB).
    #[arg(long, requires = "trusted_proxies")]
    proxy_protocol: bool,
    /// A file holding a bearer token that `GET /metrics` then requires (default: open).
    #[arg(long)]
    metrics_token_file: Option<PathBuf>,
    /// Answer DNS queries for services' healthy instances on this address, over UDP and TCP
    /// (`A web.agora.`, `SRV _http._tcp.web.agora.`), as Mesos-DNS did; port 0 picks one.
    #[arg(long, value_parser = crate::parse_listen)]
    dns_listen: Option<SocketAddr>,
    /// The DNS zone the services' names are in.
    #[arg(long, default_value = "agora")]
    dns_domain: String,
    /// Web origins whose pages may call the API from a browser (CORS), comma-separated:
    /// `https://ui.example.com,http://localhost:3000`, or `*` for any (default: none).
    #[arg(long, default_value = "")]
    cors_origins: String,
}

#[derive(clap::Args)]
pub struct DevArgs {
    #[command(flatten)]
    master: MasterArgs,
    /// What the built-in agent offers, e.g. `cpus:2,mem:1024` (default: the host's own).
    #[arg(long)]
    resources: Option<String>,
    /// Where the built-in agent keeps its sandboxes (default: DATA_DIR/agent, or, when the task
    /// user cannot reach the data directory, a directory of its own under /tmp). The task user
    /// must be able to enter it.
    #[arg(long)]
    agent_work_dir: Option<PathBuf>,
    #[command(flatten)]
    users: TaskUserArgs,
    #[command(flatten)]
    containers: ContainerArgs,
}

/// How an agent runs images.
#[derive(clap::Args, Clone, Debug)]
pub struct ContainerArgs {
    /// How the agent runs tasks, comma-separated: `process`, `oci` (images run by runc; the
    /// agent must be root). Default: `process`, and `oci` where this host supports it.
    #[arg(long)]
    containerizers: Option<String>,
    /// The runc binary the `oci` containerizer runs.
    #[arg(long, default_value = "runc")]
    runc: PathBuf,
    /// A Docker-style `config.json` holding registry credentials (`auths`).
    #[arg(long)]
    registry_config: Option<PathBuf>,
    /// Registries reached over plain HTTP, `host:port` comma-separated (HTTPS otherwise).
    #[arg(long, default_value = "")]
    insecure_registries: String,
    /// MiB the image cache may take; the least recently used images not in use go first.
    #[arg(long, default_value_t = 10 * 1024)]
    image_cache_mb: u64,
    /// Host directories containers may mount as volumes, comma-separated (default: none).
    #[arg(long, default_value = "")]
    host_volumes: String,
    /// Let tasks ask for privileged containers (every capability and device of the host).
    #[arg(long)]
    allow_privileged: bool,
    /// Where the CNI plugins are (`bridge`, `host-local`, `portmap`, `loopback`), for
    /// containers on the bridge network.
    #[arg(long, default_value = "/usr/lib/cni")]
    cni_path: PathBuf,
    /// The addresses of containers on the bridge network (shared by the agents of one host).
    #[arg(long, default_value = "10.88.0.0/16")]
    bridge_subnet: String,
    /// Directories `file://` artifacts may be fetched from, comma-separated (default: none).
    #[arg(long, default_value = "")]
    fetch_roots: String,
    /// MiB the cache of fetched artifacts may take.
    #[arg(long, default_value_t = 2 * 1024)]
    fetch_cache_mb: u64,
    /// The Docker daemon's socket, for the `docker` containerizer (on by default where a
    /// daemon answers there).
    #[arg(long, default_value = "/var/run/docker.sock")]
    docker_socket: PathBuf,
}

impl ContainerArgs {
    fn config(&self) -> anyhow::Result<agora_agent::containers::ContainerConfig> {
        let wanted = match &self.containerizers {
            Some(list) => Some(
                split_list(list)
                    .iter()
                    .map(|k| k.parse().map_err(|e: String| anyhow!("--containerizers: {e}")))
                    .collect::<anyhow::Result<Vec<_>>>()?,
            ),
            None => None,
        };
        Ok(agora_agent::containers::ContainerConfig {
            wanted,
            runc: self.runc.clone(),
            registry_config: self.registry_config.clone(),
            insecure_registries: split_list(&self.insecure_registries),
            image_cache_bytes: self.image_cache_mb.saturating_mul(1 << 20),
            host_volumes: split_list(&self.host_volumes).into_iter().map(PathBuf::from).collect(),
            allow_privileged: self.allow_privileged,
            cni_plugins: self.cni_path.clone(),
            bridge_subnet: self.bridge_subnet.clone(),
            fetch: agora_agent::fetch::FetchConfig {
                roots: split_list(&self.fetch_roots).into_iter().map(PathBuf::from).collect(),
                cache_bytes: self.fetch_cache_mb.saturating_mul(1 << 20),
            },
            docker_socket: self.docker_socket.clone(),
        })
    }
}

/// Which OS users an agent runs tasks as.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct TaskUserArgs {
    /// The user tasks run as when they name none (default: `nobody` when the agent runs as
    /// root, else the agent's own user).
    #[arg(long)]
    task_user: Option<String>,
    /// Other users a task may ask to run as, comma-separated. Its framework's token must allow
    /// the user too (`agora token issue --users`).
    #[arg(long, default_value = "")]
    task_users: String,
    /// Allow root as --task-user or in --task-users. Without it, no task runs as root.
    #[arg(long)]
    allow_root_tasks: bool,
}

impl TaskUserArgs {
    fn config(&self) -> agora_agent::users::TaskUsers {
        agora_agent::users::TaskUsers {
            default: self.task_user.clone(),
            allowed: split_list(&self.task_users).into_iter().collect(),
            allow_root: self.allow_root_tasks,
        }
    }
}

#[derive(clap::Args)]
pub struct ServerArgs {
    #[command(flatten)]
    master: MasterArgs,
    /// The server's certificate chain (PEM), such as `server.pem` from `agora certs create`:
    /// the API is served over HTTPS.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Require every client to present a certificate signed by this CA (PEM), on top of its
    /// token. Agents then need --cert and --key, and so does the CLI.
    #[arg(long, requires = "tls_cert")]
    client_ca: Option<PathBuf>,
    /// Serve plain HTTP on a non-loopback address. Tokens then cross the network in clear text:
    /// only behind a proxy that terminates TLS.
    #[arg(long, conflicts_with = "tls_cert")]
    insecure_http: bool,
}

/// How a client (the CLI or an agent) checks the server and proves itself beyond its token.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ClientTlsArgs {
    /// The CA that signed the servers' certificates (PEM), such as `ca.pem` from `agora certs
    /// create` (default: the system's trusted roots).
    #[arg(long, env = "AGORA_CA", global = true)]
    pub ca: Option<PathBuf>,
    /// A client certificate (PEM), for servers started with --client-ca.
    #[arg(long, env = "AGORA_CERT", global = true, requires = "key")]
    pub cert: Option<PathBuf>,
    /// The private key of --cert (PEM).
    #[arg(long, env = "AGORA_KEY", global = true, requires = "cert")]
    pub key: Option<PathBuf>,
}

impl ClientTlsArgs {
    pub fn options(&self) -> agora_client::TlsOptions {
        agora_client::TlsOptions { ca: self.ca.clone(), identity: self.cert.clone().zip(self.key.clone()) }
    }
}

#[derive(clap::Args)]
pub struct AgentArgs {
    /// The master's URL, or the URLs of several server replicas separated by commas: the agent
    /// moves to the next one when the one it uses cannot be reached.
    #[arg(long, env = "AGORA_MASTER")]
    master: String,
    /// A file holding the agent token: the way to give it. Takes the place of --token and
    /// AGORA_TOKEN (a user's shell may export one of its own).
    #[arg(long, env = "AGORA_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// The agent token. As a flag it is visible to every user of the machine (`ps`): give it in
    /// AGORA_TOKEN or with --token-file instead.
    #[arg(long, env = "AGORA_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// What this agent offers, e.g. `cpus:2,mem:1024` (default: the host's own).
    #[arg(long)]
    resources: Option<String>,
    /// Attributes shown in offers, e.g. `rack:r1,zone:a`.
    #[arg(long)]
    attributes: Option<String>,
    /// Where sandboxes and the agent id live.
    #[arg(long, default_value = "/var/lib/agora/agent")]
    work_dir: PathBuf,
    /// The hostname to report (default: this machine's).
    #[arg(long)]
    hostname: Option<String>,
    #[command(flatten)]
    tls: ClientTlsArgs,
    #[command(flatten)]
    users: TaskUserArgs,
    /// How tasks are isolated: `cgroups` (CPU, memory and pids limits; the agent must be
    /// root), `none`, or `auto`: cgroups when the host has them and the agent may use them.
    #[arg(long, value_enum, default_value = "auto")]
    isolation: IsolationArg,
    /// Seconds an ended task's sandbox (its logs) is kept after its last write (a week).
    #[arg(long, default_value_t = 7 * 24 * 3600)]
    sandbox_max_age_secs: u64,
    /// MiB the ended tasks' sandboxes may take together; the oldest go first past it.
    #[arg(long, default_value_t = 10 * 1024)]
    sandbox_budget_mb: u64,
    /// The `nvidia-smi` that lists the host's GPUs, offered as `gpus` (none if it is missing).
    #[arg(long, default_value = NVIDIA_SMI)]
    nvidia_smi: PathBuf,
    /// Serve Prometheus metrics (`GET /metrics`) at this address, e.g. `0.0.0.0:5051`.
    #[arg(long)]
    metrics_listen: Option<std::net::SocketAddr>,
    /// Kill the tasks when the agent stops (SIGTERM or Ctrl-C). By default they keep running,
    /// and an agent started again on the same work directory (say, a new version) takes them
    /// over; to move tasks off a machine, drain it first (`agora node drain`).
    #[arg(long)]
    kill_tasks_on_exit: bool,
    #[command(flatten)]
    containers: ContainerArgs,
}

/// Found on the PATH, where the NVIDIA driver installs it.
const NVIDIA_SMI: &str = "nvidia-smi";

#[derive(Clone, Copy, clap::ValueEnum)]
enum IsolationArg {
    Auto,
    Cgroups,
    None,
}

impl From<IsolationArg> for agora_agent::Isolation {
    fn from(arg: IsolationArg) -> Self {
        match arg {
            IsolationArg::Auto => agora_agent::Isolation::Auto,
            IsolationArg::Cgroups => agora_agent::Isolation::Cgroups,
            IsolationArg::None => agora_agent::Isolation::None,
        }
    }
}

#[derive(clap::Args)]
pub struct TokenIssueArgs {
    /// operator, viewer, framework or agent.
    #[arg(long)]
    kind: String,
    /// The principal's name.
    #[arg(long)]
    name: String,
    /// The data directory holding the cluster key.
    #[arg(long, env = "AGORA_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 30 * 24 * 3600)]
    ttl_secs: u64,
    /// For framework tokens: the roles its frameworks may register with, comma-separated
    /// (default: only the default role `*`; `*any*` allows every role).
    #[arg(long)]
    roles: Option<String>,
    /// For framework tokens: the OS users its tasks may ask to run as, comma-separated
    /// (default: none; tasks run as each agent's default task user).
    #[arg(long)]
    users: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
}

fn master_config(args: &MasterArgs) -> anyhow::Result<MasterConfig> {
    let secs = |name: &str, v: f64| -> anyhow::Result<Duration> {
        if !v.is_finite() || v <= 0.0 {
            bail!("--{name} must be a positive number of seconds");
        }
        Ok(Duration::from_secs_f64(v))
    };
    let positive = |name: &str, v: f64| -> anyhow::Result<f64> {
        if !v.is_finite() || v < 1.0 {
            bail!("--{name} must be a number of at least 1");
        }
        Ok(v)
    };
    Ok(MasterConfig {
        agent_timeout: secs("agent-timeout", args.agent_timeout)?,
        heartbeat_interval: secs("heartbeat-interval", args.heartbeat_interval)?,
        lease_ttl: secs("lease-ttl", args.lease_ttl)?,
        min_allocatable: min_allocatable(&args.min_allocatable)?,
        offer_timeout: args.offer_timeout.filter(|t| *t != 0.0).map(|t| secs("offer-timeout", t)).transpose()?,
        completed_tasks_kept: args.max_completed_tasks,
        agent_commands_per_sec: positive("agent-commands-per-sec", args.agent_commands_per_sec)?,
        agent_removal_timeout: (args.agent_removal_timeout != 0.0)
            .then(|| secs("agent-removal-timeout", args.agent_removal_timeout))
            .transpose()?,
        ..MasterConfig::default()
    })
}

/// The server's defences against floods, from its flags.
fn edge_config(args: &MasterArgs) -> anyhow::Result<agora_server::EdgeConfig> {
    if !args.header_timeout.is_finite() || args.header_timeout <= 0.0 {
        bail!("--header-timeout must be a positive number of seconds");
    }
    let trusted_proxies = split_list(&args.trusted_proxies)
        .iter()
        .map(|p| {
            p.parse::<ipnet::IpNet>()
                .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| anyhow!("--trusted-proxies: `{p}` is not an address or a CIDR range"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let metrics_token = match &args.metrics_token_file {
        Some(path) => {
            let token = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let token = token.trim().to_string();
            if token.is_empty() {
                bail!("{} is empty: --metrics-token-file needs a token", path.display());
            }
            Some(token)
        }
        None => None,
    };
    let cors = agora_server::http::cors::Cors::new(split_list(&args.cors_origins))
        .map_err(|e| anyhow!("--cors-origins: {e}"))?;
    Ok(agora_server::EdgeConfig {
        cors,
        header_timeout: Duration::from_secs_f64(args.header_timeout),
        max_connections_per_address: args.max_connections_per_address,
        trusted_proxies,
        proxy_protocol: args.proxy_protocol,
        metrics_token,
    })
}

/// `--min-allocatable`: CPUs and memory, both above zero.
fn min_allocatable(text: &str) -> anyhow::Result<agora_api::Resources> {
    let min = agora_api::Resources::parse(text).map_err(|e| anyhow!("--min-allocatable: {e}"))?;
    if min.disk > 0.0 || min.gpus > 0.0 || !min.ports.is_empty() || min.cpus <= 0.0 || min.mem <= 0.0 {
        bail!("--min-allocatable takes cpus and mem above zero, e.g. cpus:0.01,mem:32");
    }
    Ok(min)
}

/// Resolves when the process gets SIGINT or SIGTERM.
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).ok();
    let term = async {
        match term.as_mut() {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

struct Started {
    url: String,
    keys: Arc<Keys>,
    store: Store,
    server: tokio::task::JoinHandle<()>,
    stop: tokio::sync::watch::Sender<bool>,
    /// Where DNS answers, and its task.
    dns: Option<(SocketAddr, tokio::task::JoinHandle<()>)>,
}

impl Started {
    /// Stops serving, then writes out what the store still holds.
    async fn stop(self) {
        if let Some((_, dns)) = &self.dns {
            dns.abort();
        }
        let _ = self.stop.send(true);
        let _ = self.server.await;
        self.store.close().await;
    }
}

async fn start_master(
    args: &MasterArgs,
    data_dir: &Path,
    tls: Option<Arc<agora_server::tls::ServerConfig>>,
) -> anyhow::Result<Started> {
    let config = master_config(args)?;
    let keys = Arc::new(Keys::load_or_create(data_dir)?);
    let listener =
        tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let url = format!("{}://{addr}", if tls.is_some() { "https" } else { "http" });
    // Named after where it listens, as bound (port 0 picks one).
    let config =
        MasterConfig { replica_name: format!("{}:{}", agora_agent::default_hostname(), addr.port()), ..config };
    let address = match &args.store {
        Some(address) => address.clone(),
        None => format!("file:{}", data_dir.join("state").display()),
    };
    let password = store_password(args.store_password_file.as_deref())?;
    let ca = match &args.store_ca {
        Some(file) => Some(std::fs::read(file).with_context(|| format!("reading --store-ca {}", file.display()))?),
        None => None,
    };
    let store = Store::open(&address, StoreConfig { password, ca, ..StoreConfig::default() })
        .await
        .with_context(|| "opening the state store")?;
    tracing::info!(store = store.kind(), "state store open");
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let master = Master::new(config, store.clone());
    let edge = edge_config(args)?;
    let dns = match args.dns_listen {
        Some(listen) => {
            let (udp, tcp) = bind_dns(listen).await?;
            let addr = udp.local_addr()?;
            tracing::info!(%addr, domain = %args.dns_domain, "answering DNS for services");
            let domain = args.dns_domain.clone();
            let master = master.clone();
            Some((addr, tokio::spawn(async move { agora_server::dns::serve(master, &domain, udp, tcp).await })))
        }
        None => None,
    };
    let server = tokio::spawn(agora_server::serve(listener, tls, master, keys.clone(), edge, async move {
        let _ = stopped.changed().await;
    }));
    Ok(Started { url, keys, store, server, stop, dns })
}

/// A UDP socket and a TCP listener on one address; with port 0, on one port picked for both.
async fn bind_dns(listen: SocketAddr) -> anyhow::Result<(tokio::net::UdpSocket, tokio::net::TcpListener)> {
    let bind = |addr: SocketAddr| async move {
        let udp = tokio::net::UdpSocket::bind(addr).await?;
        let tcp = tokio::net::TcpListener::bind(udp.local_addr()?).await?;
        Ok::<_, std::io::Error>((udp, tcp))
    };
    let tries = if listen.port() == 0 { 20 } else { 1 };
    let mut last = None;
    for _ in 0..tries {
        match bind(listen).await {
            Ok(bound) => return Ok(bound),
            Err(e) => last = Some(e),
        }
    }
    let e = last.map_or_else(|| "no attempt".to_string(), |e| e.to_string());
    bail!("cannot listen for DNS on {listen} (UDP and TCP): {e}")
}

/// The environment variable that holds the store's password.
const STORE_PASSWORD_ENV: &str = "AGORA_STORE_PASSWORD";

/// The Redis password: read from --store-password-file, else AGORA_STORE_PASSWORD; none if
/// neither is given or the variable is empty. A trailing newline in the file is not part of it.
fn store_password(file: Option<&Path>) -> anyhow::Result<Option<String>> {
    if let Some(file) = file {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let password = text.trim_end_matches(['\n', '\r']);
        if password.is_empty() {
            bail!("{} is empty: it should hold the store's password", file.display());
        }
        return Ok(Some(password.to_string()));
    }
    Ok(std::env::var(STORE_PASSWORD_ENV).ok().filter(|p| !p.is_empty()))
}

pub async fn dev(mut args: DevArgs) -> anyhow::Result<()> {
    args.master.offer_timeout.get_or_insert(DEV_OFFER_TIMEOUT_SECS);
    if !args.master.listen.ip().is_loopback() {
        bail!(
            "agora dev serves plain HTTP on loopback only, not on {}: run `agora server` with --tls-cert for a network",
            args.master.listen
        );
    }
    let data_dir = target::data_dir(args.master.data_dir.as_deref());
    let started = start_master(&args.master, &data_dir, None).await?;
    let admin = started.keys.issue(Kind::Operator, "admin", DEV_TOKEN_TTL_SECS)?;
    agora_server::auth::write_private(&data_dir.join(ADMIN_TOKEN_FILE), &format!("{admin}\n"))?;
    let agent_token = started.keys.issue(Kind::Agent, "dev-agent", DEV_TOKEN_TTL_SECS)?;
    let task_users = args.users.config();
    let work_dir = match &args.agent_work_dir {
        Some(dir) => {
            agora_agent::create_dirs_traversable(dir)?;
            println!("Sandboxes are in {}", dir.display());
            dir.clone()
        }
        None => dev_work_dir(&data_dir, &task_users)?,
    };
    let gpus = agora_agent::gpus::discover(Path::new(NVIDIA_SMI));
    let (resources, reserved) = agent_resources(&work_dir, args.resources.as_deref(), &gpus)?;
    let registered = Arc::new(tokio::sync::Notify::new());
    let agent_config = agora_agent::AgentConfig {
        master: started.url.clone(),
        token: agent_token,
        work_dir,
        resources,
        reserved,
        attributes: BTreeMap::new(),
        hostname: agora_agent::default_hostname(),
        status_retry_secs: 2.0,
        tls: Default::default(),
        task_users,
        isolation: agora_agent::Isolation::Auto,
        sandbox_gc: Default::default(),
        gpus,
        metrics_listen: None,
        containers: args.containers.config()?,
        registered: Some(registered.clone()),
        // `agora dev` is one process for one machine: stopping it stops everything.
        kill_tasks_on_exit: true,
    };
    let (agent_stop_tx, agent_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let agent = tokio::spawn(agora_agent::run(agent_config, async move {
        let _ = agent_stop_rx.await;
    }));
    // Once the agent has registered: before, the master would offer the agent it remembers
    // from the last run, and a task launched there would be gone when the agent registers.
    if tokio::time::timeout(AGENT_REGISTRATION_WAIT, registered.notified()).await.is_err() {
        eprintln!("warning: the agent has not registered yet; tasks may wait for it");
    }
    // The address file is written last: once it exists, the cluster answers.
    std::fs::write(data_dir.join(ADDRESS_FILE), format!("{}\n", started.url))
        .with_context(|| format!("writing {}", data_dir.join(ADDRESS_FILE).display()))?;
    println!("Agora is running at {}", started.url);
    if let Some((dns, _)) = &started.dns {
        std::fs::write(data_dir.join(DNS_ADDRESS_FILE), format!("{dns}\n"))
            .with_context(|| format!("writing {}", data_dir.join(DNS_ADDRESS_FILE).display()))?;
        println!(
            "DNS answers for services at {dns} (try: dig @{} -p {} SERVICE.{})",
            dns.ip(),
            dns.port(),
            args.master.dns_domain
        );
    }
    println!("Admin token (also in {}):", data_dir.join(ADMIN_TOKEN_FILE).display());
    println!("{admin}");
    println!("Try: agora run --cpus 0.1 --mem 32 -- echo hello");
    stop_signal().await;
    eprintln!("stopping: killing tasks and closing streams");
    let _ = agent_stop_tx.send(());
    match agent.await {
        Ok(Err(e)) => eprintln!("agent: {e}"),
        Err(e) => eprintln!("agent: {e}"),
        Ok(Ok(())) => {}
    }
    let _ = std::fs::remove_file(data_dir.join(ADDRESS_FILE));
    started.stop().await;
    Ok(())
}

/// The built-in agent's work directory: `DATA_DIR/agent`, unless the task user cannot reach it
/// (root's home is closed to `nobody`); then a directory of its own under the system's temp
/// directory, named after the data directory so that a restart finds it again.
///
/// The data directory is owner-only (0700), so an `agora dev` run as root, whose tasks run as
/// `nobody`, always takes the second.
fn dev_work_dir(data_dir: &Path, task_users: &agora_agent::users::TaskUsers) -> anyhow::Result<PathBuf> {
    let preferred = data_dir.join("agent");
    let existed = preferred.exists();
    std::fs::create_dir_all(&preferred).with_context(|| format!("creating {}", preferred.display()))?;
    let users = task_users.resolve()?;
    if users.check_reachable(&preferred).is_ok() {
        println!("Sandboxes are in {}", preferred.display());
        return Ok(preferred);
    }
    if !existed {
        // Made only to be tried: leave no empty directory behind.
        let _ = std::fs::remove_dir(&preferred);
    }
    use std::hash::{Hash as _, Hasher as _};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    data_dir.canonicalize().unwrap_or_else(|_| data_dir.to_path_buf()).hash(&mut hasher);
    let fallback = std::env::temp_dir().join(format!("agora-dev-{:016x}", hasher.finish()));
    agora_agent::create_dirs_traversable(&fallback)?;
    // The temp directory is shared: use only a directory this user made, not one planted there.
    let meta = std::fs::symlink_metadata(&fallback).with_context(|| format!("reading {}", fallback.display()))?;
    if !meta.is_dir() || std::os::unix::fs::MetadataExt::uid(&meta) != nix::unistd::Uid::effective().as_raw() {
        bail!("{} is not a directory of this user: remove it, or give --data-dir", fallback.display());
    }
    println!(
        "Tasks run as `{}`, who cannot reach {}: their sandboxes are in {}",
        users.default_user().name,
        data_dir.display(),
        fallback.display()
    );
    Ok(fallback)
}

pub async fn server(args: ServerArgs) -> anyhow::Result<()> {
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(agora_server::tls::server_config(cert, key, args.client_ca.as_deref())?),
        _ => None,
    };
    if tls.is_none() && !args.master.listen.ip().is_loopback() && !args.insecure_http {
        bail!(
            "refusing to serve plain HTTP on {}: tokens would cross the network in clear text. Give --tls-cert and \
             --tls-key (`agora certs create` makes them), listen on loopback, or add --insecure-http behind a \
             TLS-terminating proxy",
            args.master.listen
        );
    }
    let data_dir = target::data_dir(args.master.data_dir.as_deref());
    let started = start_master(&args.master, &data_dir, tls).await?;
    println!("Agora server listening at {}", started.url);
    stop_signal().await;
    started.stop().await;
    Ok(())
}

/// What the agent offers, and its static reservations by role.
type AgentResources = (agora_api::Resources, BTreeMap<String, agora_api::Resources>);

fn agent_resources(
    work_dir: &Path,
    flag: Option<&str>,
    gpus: &[agora_agent::gpus::Gpu],
) -> anyhow::Result<AgentResources> {
    let mut discovered = agora_agent::discover_resources(work_dir);
    discovered.gpus = gpus.len() as f64;
    match flag {
        Some(flag) => Ok(agora_agent::apply_overrides(discovered, flag)?),
        None => Ok((discovered, BTreeMap::new())),
    }
}

fn parse_attributes(text: &str) -> anyhow::Result<BTreeMap<String, String>> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once(':').ok_or_else(|| anyhow!("attribute `{pair}` is not NAME:VALUE"))?;
            Ok((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

pub async fn agent(args: AgentArgs) -> anyhow::Result<()> {
    let token = match (&args.token, &args.token_file) {
        (_, Some(file)) => {
            let token = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
            if token.trim().is_empty() {
                bail!("{} is empty: it should hold the agent token", file.display());
            }
            token.trim().to_string()
        }
        (Some(token), None) => token.clone(),
        (None, None) => bail!("give the agent token with --token-file or AGORA_TOKEN"),
    };
    agora_agent::create_dirs_traversable(&args.work_dir)?;
    let gpus = agora_agent::gpus::discover(&args.nvidia_smi);
    let (resources, reserved) = agent_resources(&args.work_dir, args.resources.as_deref(), &gpus)?;
    let config = agora_agent::AgentConfig {
        master: args.master.trim_end_matches('/').to_string(),
        token,
        resources,
        reserved,
        attributes: parse_attributes(args.attributes.as_deref().unwrap_or(""))?,
        work_dir: args.work_dir,
        hostname: args.hostname.unwrap_or_else(agora_agent::default_hostname),
        status_retry_secs: 2.0,
        tls: args.tls.options(),
        task_users: args.users.config(),
        isolation: args.isolation.into(),
        sandbox_gc: agora_agent::gc::SandboxGc {
            max_age: std::time::Duration::from_secs(args.sandbox_max_age_secs),
            budget_bytes: args.sandbox_budget_mb.saturating_mul(1 << 20),
        },
        gpus,
        metrics_listen: args.metrics_listen,
        containers: args.containers.config()?,
        registered: None,
        kill_tasks_on_exit: args.kill_tasks_on_exit,
    };
    agora_agent::run(config, stop_signal()).await?;
    Ok(())
}

pub fn token_issue(args: TokenIssueArgs) -> anyhow::Result<()> {
    let kind = Kind::parse(&args.kind).ok_or_else(|| anyhow!("--kind must be operator, viewer, framework or agent"))?;
    if args.ttl_secs == 0 {
        bail!("--ttl-secs must be at least 1: a token with no lifetime is expired when issued");
    }
    let data_dir = target::data_dir(args.data_dir.as_deref());
    if !data_dir.join(agora_server::auth::KEY_FILE).exists() {
        bail!("no cluster key in {}: start `agora dev` or `agora server` there first", data_dir.display());
    }
    let scope = agora_server::auth::Scope {
        roles: args.roles.as_deref().map(split_list),
        users: args.users.as_deref().map(split_list),
    };
    if (scope.roles.is_some() || scope.users.is_some()) && kind != Kind::Framework {
        bail!("--roles and --users apply to framework tokens only");
    }
    let keys = Keys::load_or_create(&data_dir)?;
    let token = keys.issue_scoped(kind, &args.name, args.ttl_secs, scope.clone())?;
    if args.output.is_json() {
        return print_json(&serde_json::json!({
            "token": token, "kind": args.kind, "name": args.name, "ttl_secs": args.ttl_secs,
            "roles": scope.roles, "users": scope.users,
        }));
    }
    write_out(&format!("{token}\n"))
}

#[derive(clap::Args)]
pub struct KeysArgs {
    /// The data directory holding the cluster keys.
    #[arg(long, env = "AGORA_DATA_DIR")]
    data_dir: Option<PathBuf>,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(clap::Args)]
pub struct KeysRemoveArgs {
    /// The id of the key to remove, as `agora keys list` prints it.
    kid: String,
    #[command(flatten)]
    keys: KeysArgs,
}

/// The data directory of a keys command, which must hold a cluster key already.
fn keys_dir(args: &KeysArgs) -> anyhow::Result<PathBuf> {
    let data_dir = target::data_dir(args.data_dir.as_deref());
    if !data_dir.join(agora_server::auth::KEY_FILE).exists() {
        bail!("no cluster key in {}: start `agora dev` or `agora server` there first", data_dir.display());
    }
    Ok(data_dir)
}

pub fn keys_rotate(args: KeysArgs) -> anyhow::Result<()> {
    let kid = Keys::rotate(&keys_dir(&args)?)?;
    if args.output.is_json() {
        return print_json(&serde_json::json!({ "kid": kid, "active": true }));
    }
    write_out(&format!("{kid}\n"))
}

pub fn keys_list(args: KeysArgs) -> anyhow::Result<()> {
    let keys = Keys::list(&keys_dir(&args)?)?;
    if args.output.is_json() {
        let keys: Vec<_> = keys.iter().map(|k| serde_json::json!({ "kid": k.kid, "active": k.active })).collect();
        return print_json(&keys);
    }
    let lines: String =
        keys.iter().map(|k| format!("{}  {}\n", k.kid, if k.active { "active" } else { "retired" })).collect();
    write_out(&lines)
}

pub fn keys_remove(args: KeysRemoveArgs) -> anyhow::Result<()> {
    Keys::remove(&keys_dir(&args.keys)?, &args.kid)?;
    if args.keys.output.is_json() {
        return print_json(&serde_json::json!({ "kid": args.kid, "removed": true }));
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct CertsCreateArgs {
    /// Where the certificates go; a CA already there (`ca.pem`, `ca.key`) signs the new ones.
    #[arg(long, default_value = "agora-certs")]
    dir: PathBuf,
    /// The names and addresses clients reach the servers by, comma-separated; they all go in
    /// one server certificate (default: this host's name, localhost and 127.0.0.1).
    #[arg(long)]
    server: Option<String>,
    /// Agent names to make client certificates for, comma-separated (`agent-NAME.pem`).
    #[arg(long, default_value = "")]
    agents: String,
    /// How long the server and agent certificates are valid, in days.
    #[arg(long, default_value_t = 365)]
    days: u64,
    #[command(flatten)]
    output: OutputArgs,
}

fn split_list(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

pub fn certs_create(args: CertsCreateArgs) -> anyhow::Result<()> {
    if args.days == 0 {
        bail!("--days must be at least 1");
    }
    let servers = match &args.server {
        Some(list) => split_list(list),
        None => vec![agora_agent::default_hostname(), "localhost".to_string(), "127.0.0.1".to_string()],
    };
    let agents = split_list(&args.agents);
    let lifetime = Duration::from_secs(args.days.saturating_mul(24 * 3600));
    let created = agora_server::tls::create_certs(&args.dir, &servers, &agents, lifetime)?;
    if args.output.is_json() {
        return print_json(&serde_json::json!({
            "dir": args.dir, "new_ca": created.new_ca, "files": created.files,
        }));
    }
    if created.new_ca {
        println!(
            "made a new CA in {}: keep ca.key secret, and give ca.pem to agents and clients (--ca)",
            args.dir.display()
        );
    }
    for file in &created.files {
        println!("{}", file.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::min_allocatable;

    #[test]
    fn min_allocatable_takes_cpus_and_memory_above_zero() {
        let min = min_allocatable("cpus:0.5,mem:256").expect("valid");
        assert_eq!((min.cpus, min.mem), (0.5, 256.0));
        for bad in ["cpus:1", "mem:32", "cpus:0,mem:32", "cpus:1,mem:32,gpus:1", "cpus:x", ""] {
            assert!(min_allocatable(bad).is_err(), "{bad}");
        }
    }
}
