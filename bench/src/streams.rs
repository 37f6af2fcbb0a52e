//! The `streams` scenario: many Server-Sent Events subscribers on one replica. It opens
//! `--streams` operator event streams (`GET /v1/events`), each on a connection of its own,
//! measures what each costs the server in memory while idle, then registers frameworks one at a
//! time and measures how long each `framework_added` event takes to reach every subscriber.

use crate::report::{round2, LatencySummary};
use crate::servers::{Cluster, StoreKind};
use crate::CommonArgs;
use agora_api::framework::RegisterFramework;
use agora_client::{Client, EventStream};
use anyhow::{bail, Context as _};
use futures::StreamExt as _;
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Semaphore};

/// How long every stream may take to open, and each event to reach every stream.
const DEADLINE: Duration = Duration::from_secs(120);

#[derive(clap::Args, Clone, Debug)]
pub struct StreamsArgs {
    /// Event streams held open at once.
    #[arg(long, default_value_t = 10_000)]
    pub streams: usize,
    /// Events sent to every stream, one at a time, for the fan-out latency.
    #[arg(long, default_value_t = 5)]
    pub events: usize,
    /// embedded, redis (a private redis-server), or redis://HOST:PORT[/DB] (a running Redis).
    #[arg(long, default_value = "embedded")]
    pub store: StoreKind,
    /// Streams being opened at once.
    #[arg(long, default_value_t = 128)]
    pub concurrency: usize,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Clone, Debug, Serialize)]
pub struct StreamsReport {
    pub scenario: &'static str,
    pub store: String,
    pub streams: usize,
    pub open_secs: f64,
    /// The server's resident memory before the first stream and with all open, and the
    /// difference per stream.
    pub server_rss_before_bytes: u64,
    pub server_rss_after_bytes: u64,
    pub server_memory_per_stream_bytes: f64,
    pub server_peak_rss_bytes: u64,
    /// From registering a framework to its `framework_added` event reaching each stream.
    pub fanout_latency_ms: LatencySummary,
    /// The server's CPU time while the events went out, per event delivered.
    pub server_cpu_us_per_delivery: Option<f64>,
    pub server_cpu_secs: f64,
    /// Not measured by this scenario; present so that every report has the fields.
    pub launches_per_sec: Option<f64>,
    pub offer_latency_ms: Option<LatencySummary>,
    pub launch_latency_ms: Option<LatencySummary>,
    pub redis_commands_per_launch: Option<f64>,
}

pub async fn run(args: &StreamsArgs) -> anyhow::Result<StreamsReport> {
    if args.streams == 0 || args.concurrency == 0 || args.events == 0 {
        bail!("--streams, --events and --concurrency must be at least 1");
    }
    let agora = args.common.agora_path()?;
    let mut cluster = Cluster::start(&agora, &args.store, 1).await?;
    let server = || cluster.server_samples().first().copied().unwrap_or_default();
    let rss_before = server().rss_bytes;
    let client = Client::new(&cluster.urls()[0], &cluster.tokens.operator)?;

    let started = Instant::now();
    let streams = open_streams(&client, args).await?;
    let open_secs = started.elapsed().as_secs_f64();
    let rss_after = server().rss_bytes;

    // Each stream reports when it sees each framework's `framework_added` event.
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel::<(String, Instant)>();
    let readers: Vec<_> = streams
        .into_iter()
        .map(|mut stream| {
            let seen = seen_tx.clone();
            tokio::spawn(async move {
                while let Some(Ok(event)) = stream.next().await {
                    if event.event == "framework_added" {
                        let _ = seen.send((event.data, Instant::now()));
                    }
                }
            })
        })
        .collect();
    drop(seen_tx);

    let framework_client = Client::new(&cluster.urls()[0], &cluster.tokens.framework)?;
    let cpu_before = server().cpu_secs;
    let mut latencies = Vec::with_capacity(args.streams * args.events);
    for n in 0..args.events {
        let registration = RegisterFramework {
            id: None,
            name: format!("fanout-{n}"),
            roles: vec!["*".into()],
            failover_timeout_secs: 0.0,
            capabilities: vec![],
            offer_constraints: Default::default(),
            offer_filters: Default::default(),
        };
        let sent = Instant::now();
        framework_client.register_framework(&registration).await.context("registering a framework")?;
        let name = format!("\"fanout-{n}\"");
        let mut delivered = 0;
        while delivered < args.streams {
            let (data, at) = tokio::time::timeout(DEADLINE, seen_rx.recv())
                .await
                .context("an event did not reach every stream in time")?
                .context("every stream ended")?;
            if data.contains(&name) {
                latencies.push(at.duration_since(sent).as_secs_f64() * 1000.0);
                delivered += 1;
            }
        }
    }
    let cpu = server().cpu_secs - cpu_before;
    let peak = server().peak_rss_bytes;
    for reader in readers {
        reader.abort();
    }
    cluster.stop();
    let deliveries = (args.streams * args.events) as f64;
    Ok(StreamsReport {
        scenario: "streams",
        store: args.store.name(),
        streams: args.streams,
        open_secs: round2(open_secs),
        server_rss_before_bytes: rss_before,
        server_rss_after_bytes: rss_after,
        server_memory_per_stream_bytes: round2(rss_after.saturating_sub(rss_before) as f64 / args.streams as f64),
        server_peak_rss_bytes: peak,
        fanout_latency_ms: LatencySummary::of(latencies).rounded(),
        server_cpu_us_per_delivery: Some(round2(cpu * 1e6 / deliveries)),
        server_cpu_secs: round2(cpu),
        launches_per_sec: None,
        offer_latency_ms: None,
        launch_latency_ms: None,
        redis_commands_per_launch: None,
    })
}

/// Opens `args.streams` operator event streams, `args.concurrency` at a time.
async fn open_streams(client: &Client, args: &StreamsArgs) -> anyhow::Result<Vec<EventStream>> {
    let slots = Arc::new(Semaphore::new(args.concurrency));
    let opened = Arc::new(Mutex::new(Vec::with_capacity(args.streams)));
    let mut tasks = Vec::with_capacity(args.streams);
    for _ in 0..args.streams {
        let (client, slots, opened) = (client.clone(), slots.clone(), opened.clone());
        tasks.push(tokio::spawn(async move {
            let _slot = slots.acquire().await;
            let stream = client.operator_events(None).await?;
            opened.lock().unwrap_or_else(|p| p.into_inner()).push(stream);
            anyhow::Ok(())
        }));
    }
    let all = futures::future::try_join_all(tasks);
    for result in tokio::time::timeout(DEADLINE, all).await.context("streams did not all open in time")?? {
        result.context("opening an event stream")?;
    }
    let streams = std::mem::take(&mut *opened.lock().unwrap_or_else(|p| p.into_inner()));
    Ok(streams)
}

impl StreamsReport {
    pub fn table(&self) -> String {
        let l = &self.fanout_latency_ms;
        let opt = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.1}"));
        let mib = |b: u64| format!("{:.1} MiB", b as f64 / 1048576.0);
        let rows: Vec<(String, String)> = vec![
            ("scenario".into(), self.scenario.into()),
            ("store".into(), self.store.clone()),
            ("streams".into(), format!("{} (opened in {:.1} s)", self.streams, self.open_secs)),
            (
                "server rss before / after".into(),
                format!("{} / {}", mib(self.server_rss_before_bytes), mib(self.server_rss_after_bytes)),
            ),
            ("server memory / stream".into(), format!("{:.0} bytes", self.server_memory_per_stream_bytes)),
            ("fan-out p50/p99/max".into(), format!("{} / {} / {} ms", opt(l.p50), opt(l.p99), opt(l.max))),
            ("server cpu / delivery".into(), format!("{} us", opt(self.server_cpu_us_per_delivery))),
        ];
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        rows.iter().map(|(k, v)| format!("{k:<width$}  {v}\n")).collect()
    }
}
