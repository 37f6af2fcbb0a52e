//! The `scale` scenario: many agents connected to the servers at once, each registered, holding
//! its command stream and heartbeating, and no tasks. It measures how long registering takes,
//! what each connected agent costs a server in memory, and what each heartbeat costs in CPU.
//!
//! The run: start the servers and note their memory; register every agent (a bounded number at
//! once) and open its stream; wait a heartbeat interval for the registrations to settle; then
//! measure heartbeats for `--duration`.

use crate::report::{round2, LatencySummary, Phase, Stats};
use crate::servers::{proc_sample, Cluster, ProcSample, StoreKind};
use crate::sim_agent::{self, Fleet};
use crate::CommonArgs;
use agora_api::Resources;
use anyhow::bail;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How long every agent may take to register.
const SETUP_DEADLINE: Duration = Duration::from_secs(600);
/// How long the simulated agents may take to stop once told.
const STOP_DEADLINE: Duration = Duration::from_secs(60);
/// A run settles this long after the last registration before it is measured: the first
/// heartbeats (5 s apart) have spread out, and the registration burst is over.
const SETTLE: Duration = Duration::from_secs(6);

#[derive(clap::Args, Clone, Debug)]
pub struct ScaleArgs {
    /// Simulated agents, each offering cpus:8,mem:16384.
    #[arg(long, default_value_t = 10_000)]
    pub agents: usize,
    /// Seconds of heartbeats measured once every agent is connected.
    #[arg(long, default_value_t = 30.0)]
    pub duration: f64,
    /// embedded, redis (a private redis-server), or redis://HOST:PORT[/DB] (a running Redis).
    #[arg(long, default_value = "embedded")]
    pub store: StoreKind,
    /// `agora server` replicas sharing the store (more than one needs --store redis).
    #[arg(long, default_value_t = 1)]
    pub replicas: usize,
    /// Registrations in flight at once.
    #[arg(long, default_value_t = 128)]
    pub concurrency: usize,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Clone, Debug, Serialize)]
pub struct ScaleReport {
    pub scenario: &'static str,
    pub store: String,
    pub replicas: usize,
    pub agents: usize,
    /// From the first registration sent to every agent registered.
    pub register_secs: f64,
    pub registrations_per_sec: f64,
    pub register_latency_ms: LatencySummary,
    /// The measured window, as it really lasted.
    pub duration_secs: f64,
    pub heartbeats: u64,
    pub heartbeats_per_sec: f64,
    pub heartbeat_latency_ms: LatencySummary,
    /// Server CPU time in the window, summed over the replicas.
    pub server_cpu_secs: f64,
    /// Server CPU time per heartbeat answered in the window, in microseconds. It includes what
    /// else the servers did meanwhile (their own timers, the idle streams' keep-alives).
    pub server_cpu_us_per_heartbeat: Option<f64>,
    /// Resident memory of the servers (summed) before any agent, and with every agent connected.
    pub server_rss_before_bytes: u64,
    pub server_rss_after_bytes: u64,
    /// The difference, per agent.
    pub server_memory_per_agent_bytes: f64,
    pub server_peak_rss_bytes: u64,
    /// Redis's resident memory with every agent connected, where Redis is used.
    pub redis_rss_bytes: Option<u64>,
    pub bench_cpu_secs: f64,
    /// Not measured by this scenario (no tasks); present so that every report has the fields.
    pub launches_per_sec: Option<f64>,
    pub offer_latency_ms: Option<LatencySummary>,
    pub launch_latency_ms: Option<LatencySummary>,
    pub redis_commands_per_launch: Option<f64>,
    pub errors: BTreeMap<String, u64>,
}

pub async fn run(args: &ScaleArgs) -> anyhow::Result<ScaleReport> {
    if args.agents == 0 || args.concurrency == 0 {
        bail!("--agents and --concurrency must be at least 1");
    }
    if !args.duration.is_finite() || args.duration <= 0.0 {
        bail!("--duration must be a positive number of seconds");
    }
    let agora = args.common.agora_path()?;
    let mut cluster = Cluster::start(&agora, &args.store, args.replicas).await?;
    let rss_before: u64 = cluster.server_samples().iter().map(|s| s.rss_bytes).sum();
    let stats = Arc::new(Stats::default());
    let (stop, stop_rx) = watch::channel(false);

    let started = Instant::now();
    let fleet = Fleet {
        count: args.agents,
        resources: Resources::new(8.0, 16384.0),
        task_secs: 0.0,
        concurrency: args.concurrency,
        deadline: SETUP_DEADLINE,
    };
    let handles = sim_agent::start_fleet(&cluster.agent_clients()?, &fleet, &stats, &stop_rx).await?;
    let register_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(SETTLE).await;

    let before = (cluster.server_samples(), bench_cpu(), Stats::get(&stats.heartbeats));
    stats.set_phase(Phase::Measure);
    let window_start = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(args.duration)).await;
    stats.set_phase(Phase::Done);
    let window = window_start.elapsed().as_secs_f64();
    let after = (cluster.server_samples(), bench_cpu(), Stats::get(&stats.heartbeats));
    let redis_rss_bytes = cluster.redis_sample().map(|s| s.rss_bytes);

    let _ = stop.send(true);
    if tokio::time::timeout(STOP_DEADLINE, futures::future::join_all(handles)).await.is_err() {
        eprintln!("warning: some simulated agents did not stop within {STOP_DEADLINE:?}");
    }
    cluster.stop();

    let sum = |samples: &[ProcSample], f: fn(&ProcSample) -> f64| samples.iter().map(f).sum::<f64>();
    let cpu = sum(&after.0, |s| s.cpu_secs) - sum(&before.0, |s| s.cpu_secs);
    let heartbeats = after.2 - before.2;
    let rss_after: u64 = after.0.iter().map(|s| s.rss_bytes).sum();
    Ok(ScaleReport {
        scenario: "scale",
        store: args.store.name(),
        replicas: args.replicas,
        agents: args.agents,
        register_secs: round2(register_secs),
        registrations_per_sec: round2(args.agents as f64 / register_secs),
        register_latency_ms: stats.register_latency().rounded(),
        duration_secs: round2(window),
        heartbeats,
        heartbeats_per_sec: round2(heartbeats as f64 / window),
        heartbeat_latency_ms: stats.heartbeat_latency().rounded(),
        server_cpu_secs: round2(cpu),
        server_cpu_us_per_heartbeat: (heartbeats > 0).then(|| round2(cpu * 1e6 / heartbeats as f64)),
        server_rss_before_bytes: rss_before,
        server_rss_after_bytes: rss_after,
        server_memory_per_agent_bytes: round2(rss_after.saturating_sub(rss_before) as f64 / args.agents as f64),
        server_peak_rss_bytes: after.0.iter().map(|s| s.peak_rss_bytes).max().unwrap_or(0),
        redis_rss_bytes,
        bench_cpu_secs: round2(after.1 - before.1),
        launches_per_sec: None,
        offer_latency_ms: None,
        launch_latency_ms: None,
        redis_commands_per_launch: None,
        errors: stats.errors(),
    })
}

fn bench_cpu() -> f64 {
    proc_sample(std::process::id()).map(|s| s.cpu_secs).unwrap_or(0.0)
}

impl ScaleReport {
    /// The report as a two-column table for a terminal.
    pub fn table(&self) -> String {
        let l = |s: &LatencySummary| format!("{} / {} / {} ms", opt(s.p50), opt(s.p99), opt(s.max));
        let mib = |b: u64| format!("{:.1} MiB", b as f64 / 1048576.0);
        let mut rows: Vec<(String, String)> = vec![
            ("scenario".into(), self.scenario.into()),
            ("store".into(), format!("{} x{} replica(s)", self.store, self.replicas)),
            ("agents".into(), self.agents.to_string()),
            ("registered in".into(), format!("{:.1} s ({:.0}/s)", self.register_secs, self.registrations_per_sec)),
            ("register p50/p99/max".into(), l(&self.register_latency_ms)),
            ("window".into(), format!("{:.1} s", self.duration_secs)),
            ("heartbeats".into(), format!("{} ({:.0}/s)", self.heartbeats, self.heartbeats_per_sec)),
            ("heartbeat p50/p99/max".into(), l(&self.heartbeat_latency_ms)),
            ("server cpu (window)".into(), format!("{:.2} s", self.server_cpu_secs)),
            ("server cpu / heartbeat".into(), format!("{} us", opt(self.server_cpu_us_per_heartbeat))),
            (
                "server rss before / after".into(),
                format!("{} / {}", mib(self.server_rss_before_bytes), mib(self.server_rss_after_bytes)),
            ),
            ("server memory / agent".into(), format!("{:.0} bytes", self.server_memory_per_agent_bytes)),
            ("server peak rss".into(), mib(self.server_peak_rss_bytes)),
            ("redis rss".into(), self.redis_rss_bytes.map_or("-".into(), mib)),
            ("bench cpu (window)".into(), format!("{:.2} s", self.bench_cpu_secs)),
        ];
        for (what, n) in &self.errors {
            rows.push((format!("error: {what}"), n.to_string()));
        }
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        rows.iter().map(|(k, v)| format!("{k:<width$}  {v}\n")).collect()
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.1}"))
}
