//! The `throughput` scenario: how many tasks per second go from accept to finished, end to
//! end, with many agents and frameworks at once, and what that costs the servers and the store.
//!
//! The run: start the servers; register every agent, then every framework; let offers and
//! launches flow for a warm-up that is not counted; measure for `--duration`; then stop
//! launching and wait until every task accepted has been seen ending (the drain), so that each
//! one is accounted for.

use crate::report::{round2, Phase, Report, ServerSample, Stats};
use crate::servers::{proc_sample, Cluster, CommandStats, ProcSample, RedisBaseline, StoreKind};
use crate::sim_agent::{self, Fleet};
use crate::sim_framework::{self, FrameworkConfig};
use crate::CommonArgs;
use agora_api::Resources;
use anyhow::{bail, Context as _};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// How long every agent and framework may take to register and subscribe.
const SETUP_DEADLINE: Duration = Duration::from_secs(60);
/// How long the drain may take beyond the tasks' own run time.
const DRAIN_DEADLINE: Duration = Duration::from_secs(30);
/// How long the agents may take, after the last task ended, to get the last acknowledgements.
const ACK_GRACE: Duration = Duration::from_secs(5);
/// How long the simulated clients may take to stop once told.
const STOP_DEADLINE: Duration = Duration::from_secs(30);
/// Redis commands listed by name in the report.
const TOP_COMMANDS: usize = 8;

#[derive(clap::Args, Clone, Debug)]
pub struct ThroughputArgs {
    /// Simulated agents, each offering --agent-cpus and 16 GiB.
    #[arg(long, default_value_t = 100)]
    pub agents: usize,
    /// CPUs each simulated agent offers: a bench task takes 0.1, so 8 holds 80 at once.
    #[arg(long, default_value_t = 8.0)]
    pub agent_cpus: f64,
    /// Simulated frameworks.
    #[arg(long, default_value_t = 10)]
    pub frameworks: usize,
    /// Seconds measured, after the warm-up.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of launching before the measured window, not counted.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// embedded, redis (a private redis-server), or redis://HOST:PORT[/DB] (a running Redis).
    #[arg(long, default_value = "embedded")]
    pub store: StoreKind,
    /// `agora server` replicas sharing the store (more than one needs --store redis).
    #[arg(long, default_value_t = 1)]
    pub replicas: usize,
    /// Calls (accepts, acknowledgements) each framework may have in flight at once.
    #[arg(long, default_value_t = 256)]
    pub in_flight: usize,
    /// Seconds each task runs between `running` and `finished` (0: it ends at once).
    #[arg(long, default_value_t = 0.0)]
    pub task_secs: f64,
    #[command(flatten)]
    pub common: CommonArgs,
    /// The name the report gives the run.
    #[arg(skip = "throughput")]
    pub scenario: &'static str,
    /// After the launches, run `redis-benchmark` this many times against the same Redis
    /// (the `efficiency` scenario); 0: no baseline.
    #[arg(skip = 0u64)]
    pub baseline_requests: u64,
}

/// The `latency` scenario: the same run, lightly loaded. Each agent holds one bench task at a
/// time, and one framework keeps every agent busy, so that each figure is one trip through the
/// system rather than a wait in a queue: a task ends, its resources are offered again, the
/// framework launches the next one there.
#[derive(clap::Args, Clone, Debug)]
pub struct LatencyArgs {
    /// Simulated agents, each holding one bench task at a time.
    #[arg(long, default_value_t = 10)]
    pub agents: usize,
    #[arg(long, default_value_t = 1)]
    pub frameworks: usize,
    /// Seconds measured, after the warm-up.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// embedded, redis (a private redis-server), or redis://HOST:PORT[/DB] (a running Redis).
    #[arg(long, default_value = "embedded")]
    pub store: StoreKind,
    #[arg(long, default_value_t = 1)]
    pub replicas: usize,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// The `efficiency` scenario: the throughput run on Redis, then `redis-benchmark` against the
/// same Redis with a small Lua script. It reports Redis commands per launch and the launch rate
/// as a fraction of the script rate: how close the store's work per launch comes to the
/// physical limit of one round trip and one small script.
#[derive(clap::Args, Clone, Debug)]
pub struct EfficiencyArgs {
    #[arg(long, default_value_t = 100)]
    pub agents: usize,
    #[arg(long, default_value_t = 10)]
    pub frameworks: usize,
    /// Seconds measured, after the warm-up.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// redis (a private redis-server) or redis://HOST:PORT[/DB] (a running Redis).
    #[arg(long, default_value = "redis")]
    pub store: StoreKind,
    #[arg(long, default_value_t = 1)]
    pub replicas: usize,
    /// Scripts `redis-benchmark` runs for the baseline.
    #[arg(long, default_value_t = 200_000)]
    pub baseline_requests: u64,
    #[command(flatten)]
    pub common: CommonArgs,
}

impl EfficiencyArgs {
    pub fn as_throughput(&self) -> ThroughputArgs {
        ThroughputArgs {
            agents: self.agents,
            agent_cpus: 8.0,
            frameworks: self.frameworks,
            duration: self.duration,
            warmup: 2.0,
            store: self.store.clone(),
            replicas: self.replicas,
            in_flight: 256,
            task_secs: 0.0,
            common: self.common.clone(),
            scenario: "efficiency",
            baseline_requests: self.baseline_requests.max(1),
        }
    }
}

impl LatencyArgs {
    pub fn as_throughput(&self) -> ThroughputArgs {
        ThroughputArgs {
            agents: self.agents,
            agent_cpus: sim_framework::TASK_CPUS,
            frameworks: self.frameworks,
            duration: self.duration,
            warmup: 1.0,
            store: self.store.clone(),
            replicas: self.replicas,
            in_flight: 256,
            task_secs: 0.0,
            common: self.common.clone(),
            scenario: "latency",
            baseline_requests: 0,
        }
    }
}

/// What the servers, Redis and this process had done at one instant.
struct Snapshot {
    servers: Vec<ProcSample>,
    redis: Option<ProcSample>,
    commands: Option<CommandStats>,
    conflicts: u64,
    bench_cpu_secs: f64,
}

/// Which end of the measured window a snapshot is taken at.
#[derive(Clone, Copy, PartialEq)]
enum Edge {
    Opening,
    Closing,
}

impl Snapshot {
    /// Reads the CPU times of every process at one instant, as close to the window's edge as
    /// can be: the calls to Redis and to the servers' metrics may take seconds on a saturated
    /// machine, so they come before that instant when opening the window, after it when closing.
    async fn take(cluster: &Cluster, edge: Edge) -> anyhow::Result<Snapshot> {
        let mut calls = (None, 0);
        if edge == Edge::Opening {
            calls = Snapshot::calls(cluster).await?;
        }
        let servers = cluster.server_samples();
        let redis = cluster.redis_sample();
        let bench_cpu_secs = proc_sample(std::process::id()).map(|s| s.cpu_secs).unwrap_or(0.0);
        if edge == Edge::Closing {
            calls = Snapshot::calls(cluster).await?;
        }
        let (commands, conflicts) = calls;
        Ok(Snapshot { servers, redis, commands, conflicts, bench_cpu_secs })
    }

    async fn calls(cluster: &Cluster) -> anyhow::Result<(Option<CommandStats>, u64)> {
        let commands = cluster.redis_commands().await.context("reading INFO commandstats")?;
        Ok((commands, cluster.store_conflicts().await))
    }
}

/// What the orchestrator saw of the run, besides the counters in [`Stats`].
struct Measured {
    window: Duration,
    /// Tasks seen ending in each second of the window.
    timeline: Vec<u64>,
    before: Snapshot,
    after: Snapshot,
    /// The servers at the end of the run, for peak memory and total CPU.
    end: Vec<ProcSample>,
    /// Warning and error lines in the server logs: their count and a few samples.
    logs: (usize, Vec<String>),
    baseline: Option<RedisBaseline>,
}

/// The simulated clients of a run and the switch that stops them.
struct Clients {
    stop: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
}

impl Clients {
    async fn stop(self) {
        let _ = self.stop.send(true);
        let all = futures::future::join_all(self.handles);
        if tokio::time::timeout(STOP_DEADLINE, all).await.is_err() {
            eprintln!("warning: some simulated clients did not stop within {STOP_DEADLINE:?}");
        }
    }
}

pub async fn run(args: &ThroughputArgs) -> anyhow::Result<Report> {
    check(args)?;
    let agora = args.common.agora_path()?;
    let mut cluster = Cluster::start(&agora, &args.store, args.replicas).await?;
    let stats = Arc::new(Stats::default());
    let (stop, stop_rx) = watch::channel(false);
    let mut clients = Clients { stop, handles: Vec::new() };
    let fleet = Fleet {
        count: args.agents,
        resources: Resources::new(args.agent_cpus, 16384.0),
        task_secs: args.task_secs,
        // All at once: a few hundred agents register in well under a second.
        concurrency: args.agents,
        deadline: SETUP_DEADLINE,
    };
    clients.handles = sim_agent::start_fleet(&cluster.agent_clients()?, &fleet, &stats, &stop_rx).await?;
    start_frameworks(&cluster, args, &stats, &stop_rx, &mut clients.handles).await?;

    tokio::time::sleep(Duration::from_secs_f64(args.warmup)).await;
    let before = Snapshot::take(&cluster, Edge::Opening).await?;
    stats.set_phase(Phase::Measure);
    let started = Instant::now();
    let timeline = measure(&stats, Duration::from_secs_f64(args.duration)).await;
    stats.set_phase(Phase::Drain);
    let window = started.elapsed();
    let after = Snapshot::take(&cluster, Edge::Closing).await?;

    drain(&stats, DRAIN_DEADLINE + Duration::from_secs_f64(args.task_secs * 2.0)).await;
    stats.set_phase(Phase::Done);
    clients.stop().await;
    let end = cluster.server_samples();
    let logs = cluster.log_warnings();
    // Same Redis, same machine, nothing else running: the ceiling the launches are held to.
    let baseline = match args.baseline_requests {
        0 => None,
        requests => Some(cluster.redis_baseline(requests).await?),
    };
    cluster.stop();
    let measured = Measured { window, timeline, before, after, end, logs, baseline };
    Ok(report(args, &cluster, &stats, &measured))
}

/// Sleeps through the measured window, noting the tasks seen ending in each second of it, so
/// that a report shows whether the rate was steady or came in waves.
async fn measure(stats: &Stats, window: Duration) -> Vec<u64> {
    let start = tokio::time::Instant::now();
    let seconds = window.as_secs_f64().ceil() as u32;
    let mut timeline = Vec::new();
    let mut last = Stats::get(&stats.ended_total);
    // The last entry covers less than a second when the window is not whole seconds.
    for second in 1..=seconds {
        tokio::time::sleep_until(start + (Duration::from_secs(1) * second).min(window)).await;
        let now = Stats::get(&stats.ended_total);
        timeline.push(now - last);
        last = now;
    }
    timeline
}

fn check(args: &ThroughputArgs) -> anyhow::Result<()> {
    if args.baseline_requests > 0 && args.store == StoreKind::Embedded {
        bail!("the efficiency scenario measures Redis: --store must be redis or redis://HOST:PORT");
    }
    if args.agents == 0 || args.frameworks == 0 || args.in_flight == 0 {
        bail!("--agents, --frameworks and --in-flight must be at least 1");
    }
    if !args.agent_cpus.is_finite() || args.agent_cpus < sim_framework::TASK_CPUS {
        bail!("--agent-cpus must hold at least one bench task ({} CPUs)", sim_framework::TASK_CPUS);
    }
    for (name, v) in [("duration", args.duration), ("warmup", args.warmup), ("task-secs", args.task_secs)] {
        if !v.is_finite() || v < 0.0 {
            bail!("--{name} must be a non-negative number of seconds");
        }
    }
    if args.duration == 0.0 {
        bail!("--duration must be more than 0");
    }
    Ok(())
}

/// Registers every framework (concurrently) and waits until each has its stream open.
async fn start_frameworks(
    cluster: &Cluster,
    args: &ThroughputArgs,
    stats: &Arc<Stats>,
    stop: &watch::Receiver<bool>,
    handles: &mut Vec<JoinHandle<()>>,
) -> anyhow::Result<()> {
    let (tx, mut rx) = mpsc::channel::<anyhow::Result<()>>(args.frameworks);
    for index in 0..args.frameworks {
        let config = FrameworkConfig {
            index,
            masters: cluster.urls_from(index),
            token: cluster.tokens.framework.clone(),
            in_flight: args.in_flight,
        };
        let (stats, stop, tx) = (stats.clone(), stop.clone(), tx.clone());
        handles.push(tokio::spawn(async move {
            let framework = match sim_framework::register(config, stats).await {
                Ok(framework) => framework,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            let (subscribed, mut on_subscribed) = mpsc::channel(1);
            let forward = async move {
                if on_subscribed.recv().await.is_some() {
                    let _ = tx.send(Ok(())).await;
                }
            };
            tokio::join!(framework.run(stop, subscribed), forward);
        }));
    }
    sim_agent::wait_ready(&mut rx, args.frameworks, "frameworks to subscribe", SETUP_DEADLINE).await
}

/// Waits for `count` reports on `rx`, failing on the first error or after the deadline.
/// Waits until every task accepted has been seen ending, or the deadline passes.
/// Then waits a little for the agents to get the acknowledgements of the last updates.
async fn drain(stats: &Stats, within: Duration) {
    wait_until_zero(&stats.outstanding, within).await;
    wait_until_zero(&stats.agent_tasks, ACK_GRACE).await;
}

async fn wait_until_zero(counter: &AtomicI64, within: Duration) {
    let until = Instant::now() + within;
    while counter.load(Ordering::SeqCst) > 0 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn report(args: &ThroughputArgs, cluster: &Cluster, stats: &Stats, measured: &Measured) -> Report {
    let Measured { window, timeline, before, after, end, logs, baseline } = measured;
    let secs = window.as_secs_f64();
    let launched = Stats::get(&stats.accepted_in_window);
    let finished = Stats::get(&stats.ended_in_window);
    let servers: Vec<ServerSample> = cluster
        .urls()
        .into_iter()
        .enumerate()
        .map(|(i, url)| {
            let at = |s: &[ProcSample]| s.get(i).copied().unwrap_or_default();
            ServerSample {
                url,
                cpu_secs: round2(at(&after.servers).cpu_secs - at(&before.servers).cpu_secs),
                cpu_secs_total: round2(at(end).cpu_secs),
                peak_rss_bytes: at(end).peak_rss_bytes,
            }
        })
        .collect();
    let redis = RedisDelta::between(before, after, launched);
    let launches_per_sec = round2(finished as f64 / secs);
    Report {
        scenario: args.scenario,
        store: args.store.name(),
        replicas: args.replicas,
        agents: args.agents,
        frameworks: args.frameworks,
        task_secs: args.task_secs,
        duration_secs: secs,
        tasks_launched: launched,
        tasks_finished: finished,
        launches_per_sec,
        finished_per_sec: timeline.clone(),
        launch_latency_ms: stats.latency().rounded(),
        offer_latency_ms: stats.offer_latency().rounded(),
        update_ack_ms: stats.ack_latency().rounded(),
        accepts: Stats::get(&stats.accepts),
        tasks_accepted_total: Stats::get(&stats.accepted_total),
        tasks_ended_total: Stats::get(&stats.ended_total),
        tasks_ended_not_finished: Stats::get(&stats.ended_not_finished),
        tasks_unaccounted: stats.outstanding.load(Ordering::SeqCst),
        agent_updates_unacknowledged: stats.agent_tasks.load(Ordering::SeqCst),
        server_cpu_secs: round2(servers.iter().map(|s| s.cpu_secs).sum()),
        server_peak_rss_bytes: servers.iter().map(|s| s.peak_rss_bytes).max().unwrap_or(0),
        servers,
        redis_commands_per_launch: redis.per_launch,
        redis_evalsha_per_launch: redis.evalsha_per_launch,
        redis_top_commands_per_launch: redis.top,
        redis_cpu_secs: after.redis.zip(before.redis).map(|(a, b)| round2(a.cpu_secs - b.cpu_secs)),
        store_conflicts: after.conflicts.saturating_sub(before.conflicts),
        bench_cpu_secs: round2(after.bench_cpu_secs - before.bench_cpu_secs),
        errors: stats.errors(),
        server_log_warnings: logs.0,
        server_log_samples: logs.1.clone(),
        launch_fraction_of_baseline: baseline.as_ref().map(|b| launches_per_sec / b.scripts_per_sec),
        redis_baseline: baseline.clone(),
    }
}

/// Redis's work in the window, per task launched in it.
struct RedisDelta {
    per_launch: Option<f64>,
    evalsha_per_launch: Option<f64>,
    top: BTreeMap<String, f64>,
}

impl RedisDelta {
    fn between(before: &Snapshot, after: &Snapshot, launched: u64) -> RedisDelta {
        let (Some(b), Some(a)) = (&before.commands, &after.commands) else {
            return RedisDelta { per_launch: None, evalsha_per_launch: None, top: BTreeMap::new() };
        };
        let calls = a.since(b);
        let per = |n: u64| if launched == 0 { None } else { Some(round2(n as f64 / launched as f64)) };
        let mut by_count: Vec<(&String, &u64)> = calls.iter().collect();
        by_count.sort_by(|x, y| y.1.cmp(x.1));
        RedisDelta {
            per_launch: per(calls.values().sum()),
            evalsha_per_launch: per(calls.get("evalsha").copied().unwrap_or(0)),
            top: by_count.into_iter().take(TOP_COMMANDS).filter_map(|(k, n)| Some((k.clone(), per(*n)?))).collect(),
        }
    }
}
