//! The `services` scenario: the services scheduler at scale, on simulated agents whose tasks
//! run until killed. It measures how long a service of `--instances` takes to deploy (PUT to
//! every instance running, the deployment finished), how long a rolling restart of it takes
//! (default upgrade strategy: a whole new set, then the old one killed), and what the server's
//! CPU is at steady state with `--steady-instances` running, against the same cluster idle.

use crate::report::{round2, Stats};
use crate::servers::{Cluster, ProcSample, StoreKind};
use crate::sim_agent::{self, Fleet};
use crate::CommonArgs;
use agora_api::services::{ServiceSpec, ServiceView};
use agora_api::Resources;
use agora_client::Client;
use anyhow::{bail, Context as _};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How long each phase may take.
const PHASE_DEADLINE: Duration = Duration::from_secs(900);
/// How often a phase's end is looked for, per 1,000 instances: each look is a view of every
/// instance, which costs the server too (so the bigger the service, the rarer the look).
const POLL_PER_THOUSAND: Duration = Duration::from_millis(100);
/// Simulated tasks run this long unless killed: for ever, for this scenario.
const TASK_SECS: f64 = 1e7;
/// A pause before a CPU window, for the last updates and acknowledgements to settle.
const SETTLE: Duration = Duration::from_secs(5);
const SERVICE: &str = "bench";

#[derive(clap::Args, Clone, Debug)]
pub struct ServicesArgs {
    /// Simulated agents, each offering cpus:16,mem:32768.
    #[arg(long, default_value_t = 100)]
    pub agents: usize,
    /// Instances deployed, then restarted (each cpus:0.1,mem:16).
    #[arg(long, default_value_t = 1_000)]
    pub instances: u32,
    /// Instances the service is then scaled to for the steady-state CPU window (0: skip).
    #[arg(long, default_value_t = 10_000)]
    pub steady_instances: u32,
    /// Seconds of each CPU window (idle, and at steady state).
    #[arg(long, default_value_t = 30.0)]
    pub window: f64,
    /// embedded, redis (a private redis-server), or redis://HOST:PORT[/DB] (a running Redis).
    #[arg(long, default_value = "embedded")]
    pub store: StoreKind,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Clone, Debug, Serialize)]
pub struct ServicesReport {
    pub scenario: &'static str,
    pub store: String,
    pub agents: usize,
    pub instances: u32,
    /// From the PUT to every instance running and the deployment finished.
    pub deploy_secs: f64,
    pub deploy_instances_per_sec: f64,
    /// From `restart` to every instance of the new version running, the old ones killed.
    pub restart_secs: f64,
    pub steady_instances: u32,
    /// From `scale` to the steady count running.
    pub scale_secs: Option<f64>,
    pub window_secs: f64,
    /// Server CPU in a window with the agents connected and no service, and at steady state.
    pub server_cpu_idle_secs: f64,
    pub server_cpu_steady_secs: Option<f64>,
    /// The difference as a share of one core: what keeping the instances costs.
    pub scheduler_cpu_share: Option<f64>,
    pub server_rss_steady_bytes: Option<u64>,
    pub errors: BTreeMap<String, u64>,
}

fn spec(instances: u32) -> anyhow::Result<ServiceSpec> {
    Ok(serde_json::from_value(serde_json::json!({
        "instances": instances,
        "task": {"resources": {"cpus": 0.1, "mem": 16}, "command": {"shell": "sleep 1000000"}},
    }))?)
}

/// Polls the service of `instances` until `done`; returns the seconds since `since`.
async fn wait(
    client: &Client,
    instances: u32,
    since: Instant,
    what: &str,
    done: impl Fn(&ServiceView) -> bool,
) -> anyhow::Result<f64> {
    let until = since + PHASE_DEADLINE;
    let poll = POLL_PER_THOUSAND * instances.div_ceil(1000).max(1);
    loop {
        if let Ok(view) = client.get_service(SERVICE).await {
            if done(&view) {
                return Ok(since.elapsed().as_secs_f64());
            }
            if Instant::now() > until {
                bail!("{what}: not done in {PHASE_DEADLINE:?} ({} of {} healthy)", view.healthy, view.spec.instances);
            }
        }
        tokio::time::sleep(poll).await;
    }
}

/// Server CPU seconds over one window.
async fn cpu_window(cluster: &Cluster, window: Duration) -> f64 {
    let cpu = |samples: Vec<ProcSample>| samples.iter().map(|s| s.cpu_secs).sum::<f64>();
    let before = cpu(cluster.server_samples());
    tokio::time::sleep(window).await;
    cpu(cluster.server_samples()) - before
}

pub async fn run(args: &ServicesArgs) -> anyhow::Result<ServicesReport> {
    if args.agents == 0 || args.instances == 0 {
        bail!("--agents and --instances must be at least 1");
    }
    if !args.window.is_finite() || args.window <= 0.0 {
        bail!("--window must be a positive number of seconds");
    }
    let agora = args.common.agora_path()?;
    let mut cluster = Cluster::start(&agora, &args.store, 1).await?;
    let stats = Arc::new(Stats::default());
    let (stop, stop_rx) = watch::channel(false);
    let fleet = Fleet {
        count: args.agents,
        resources: Resources::new(16.0, 32768.0),
        task_secs: TASK_SECS,
        concurrency: 64,
        deadline: PHASE_DEADLINE,
    };
    let handles = sim_agent::start_fleet(&cluster.agent_clients()?, &fleet, &stats, &stop_rx).await?;
    let client = Client::new(&cluster.urls().join(","), &cluster.tokens.operator)?;
    let window = Duration::from_secs_f64(args.window);
    tokio::time::sleep(SETTLE).await;
    let server_cpu_idle_secs = cpu_window(&cluster, window).await;

    let n = args.instances;
    let started = Instant::now();
    client.put_service(SERVICE, &spec(n)?).await.context("PUT the service")?;
    let deploy_secs =
        wait(&client, n, started, "the deployment", |v| v.healthy == n && v.deployment.is_none() && v.version == 1)
            .await?;
    let started = Instant::now();
    client.restart_service(SERVICE).await.context("restart")?;
    let restart_secs = wait(&client, n, started, "the rolling restart", |v| {
        v.version == 2 && v.healthy == n && v.deployment.is_none() && v.instances.len() == n as usize
    })
    .await?;

    let (mut scale_secs, mut server_cpu_steady_secs, mut server_rss_steady_bytes) = (None, None, None);
    if args.steady_instances > 0 {
        let steady = args.steady_instances;
        let started = Instant::now();
        client.scale_service(SERVICE, steady).await.context("scale")?;
        let scaled = wait(&client, steady, started, "the scale-up", |v| v.healthy == steady && v.deployment.is_none());
        scale_secs = Some(scaled.await?);
        tokio::time::sleep(SETTLE).await;
        server_cpu_steady_secs = Some(cpu_window(&cluster, window).await);
        server_rss_steady_bytes = Some(cluster.server_samples().iter().map(|s| s.rss_bytes).sum());
    }
    let _ = stop.send(true);
    if tokio::time::timeout(Duration::from_secs(60), futures::future::join_all(handles)).await.is_err() {
        eprintln!("warning: some simulated agents did not stop in time");
    }
    cluster.stop();
    let share =
        server_cpu_steady_secs.map(|steady| round2((steady - server_cpu_idle_secs) / args.window * 100.0) / 100.0);
    Ok(ServicesReport {
        scenario: "services",
        store: args.store.name(),
        agents: args.agents,
        instances: n,
        deploy_secs: round2(deploy_secs),
        deploy_instances_per_sec: round2(f64::from(n) / deploy_secs),
        restart_secs: round2(restart_secs),
        steady_instances: args.steady_instances,
        scale_secs: scale_secs.map(round2),
        window_secs: args.window,
        server_cpu_idle_secs: round2(server_cpu_idle_secs),
        server_cpu_steady_secs: server_cpu_steady_secs.map(round2),
        scheduler_cpu_share: share,
        server_rss_steady_bytes,
        errors: stats.errors(),
    })
}

impl ServicesReport {
    /// The report as a two-column table for a terminal.
    pub fn table(&self) -> String {
        let opt = |v: Option<f64>, unit: &str| v.map_or_else(|| "-".to_string(), |v| format!("{v:.2}{unit}"));
        let mut rows: Vec<(String, String)> = vec![
            ("scenario".into(), self.scenario.into()),
            ("store".into(), self.store.clone()),
            ("agents".into(), self.agents.to_string()),
            ("instances".into(), self.instances.to_string()),
            ("deploy".into(), format!("{:.2} s ({:.0} instances/s)", self.deploy_secs, self.deploy_instances_per_sec)),
            ("rolling restart".into(), format!("{:.2} s", self.restart_secs)),
            ("steady instances".into(), self.steady_instances.to_string()),
            ("scale to steady".into(), opt(self.scale_secs, " s")),
            ("cpu window".into(), format!("{:.0} s", self.window_secs)),
            ("server cpu idle".into(), format!("{:.2} s", self.server_cpu_idle_secs)),
            ("server cpu steady".into(), opt(self.server_cpu_steady_secs, " s")),
            ("scheduler cpu (share of a core)".into(), opt(self.scheduler_cpu_share, "")),
            (
                "server rss steady".into(),
                self.server_rss_steady_bytes.map_or("-".into(), |b| format!("{:.1} MiB", b as f64 / 1048576.0)),
            ),
        ];
        for (what, n) in &self.errors {
            rows.push((format!("error: {what}"), n.to_string()));
        }
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        rows.iter().map(|(k, v)| format!("{k:<width$}  {v}\n")).collect()
    }
}
