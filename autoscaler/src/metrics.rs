//! The autoscaler's Prometheus metrics, served on `GET /metrics` at `--metrics-listen`.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::Arc;

type Labels = Vec<(String, String)>;

pub struct Metrics {
    registry: Registry,
    pub leader: Gauge,
    pub desired: Gauge,
    pub pending: Gauge,
    pub idle: Gauge,
    pub draining: Gauge,
    pub unplaceable: Gauge,
    pub launched: Family<Labels, Counter>,
    pub terminated: Family<Labels, Counter>,
    pub failed: Family<Labels, Counter>,
    pub decision_seconds: Histogram,
    pub launch_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("agora_autoscaler");
        let m = Metrics {
            leader: Gauge::default(),
            desired: Gauge::default(),
            pending: Gauge::default(),
            idle: Gauge::default(),
            draining: Gauge::default(),
            unplaceable: Gauge::default(),
            launched: Family::default(),
            terminated: Family::default(),
            failed: Family::default(),
            decision_seconds: Histogram::new([0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0]),
            launch_seconds: Histogram::new([0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0]),
            registry: Registry::default(),
        };
        registry.register("leader", "1 on the replica that acts, 0 on standbys", m.leader.clone());
        registry.register("desired_instances", "Instances of the pools wanted after the last round", m.desired.clone());
        registry.register("pending_instances", "Launched instances whose agent has not joined yet", m.pending.clone());
        registry.register("idle_agents", "Agents of the pools that hold nothing", m.idle.clone());
        registry.register("draining_agents", "Agents this autoscaler is draining", m.draining.clone());
        registry.register("unplaceable_instances", "Waiting tasks no instance type could place", m.unplaceable.clone());
        registry.register("launched", "Instances launched, by pool", m.launched.clone());
        registry.register("terminated", "Instances terminated, by pool", m.terminated.clone());
        registry.register("failed", "Launches that failed, by pool and reason", m.failed.clone());
        registry.register(
            "decision_seconds",
            "Time to read the cluster and EC2 and plan a round",
            m.decision_seconds.clone(),
        );
        registry.register(
            "launch_seconds",
            "Time of a launch's EC2 calls, from the first RunInstances to the instances' ids (retries included)",
            m.launch_seconds.clone(),
        );
        Metrics { registry, ..m }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Serves `GET /metrics` on `listen` until the process ends; returns the address it listens on.
pub async fn serve(listen: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let body = (request.uri().path() == "/metrics").then(|| metrics.render());
                    async move {
                        hyper::Response::builder()
                            .status(if body.is_some() { 200 } else { 404 })
                            .header("content-type", "text/plain; version=0.0.4")
                            .body(http_body_util::Full::new(bytes::Bytes::from(body.unwrap_or_default())))
                    }
                });
                let mut builder = hyper::server::conn::http1::Builder::new();
                builder
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(std::time::Duration::from_secs(10));
                let _ = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service).await;
            });
        }
    });
    Ok(bound)
}
