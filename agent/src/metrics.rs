//! The agent's Prometheus metrics, served on `GET /metrics` at `--metrics-listen`: resources
//! total and used, tasks by state, container launch errors and recovery errors.

use agora_api::resources::SCALAR_NAMES;
use agora_api::{Resources, TaskState};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

type Labels = Vec<(String, String)>;

pub struct Metrics {
    registry: Registry,
    resources_total: Family<Labels, Gauge<f64, AtomicU64>>,
    resources_used: Family<Labels, Gauge<f64, AtomicU64>>,
    tasks: Family<Labels, Gauge>,
    /// Launches that failed before the task's process ran (a sandbox, a user, a cgroup, a GPU).
    pub launch_errors: Counter,
    /// Checkpointed tasks that could not be read, or whose end a restarted agent cannot know.
    pub recovery_errors: Counter,
    /// Running tasks a restarted agent found again.
    pub recovered: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::with_prefix("agora_agent"),
            resources_total: Family::default(),
            resources_used: Family::default(),
            tasks: Family::default(),
            launch_errors: Counter::default(),
            recovery_errors: Counter::default(),
            recovered: Counter::default(),
        };
        let r = &mut m.registry;
        r.register("resources_total", "Resources this agent offers, by resource name", m.resources_total.clone());
        r.register("resources_used", "Resources held by running tasks, by resource name", m.resources_used.clone());
        r.register("tasks", "Tasks this agent knows, by their latest state", m.tasks.clone());
        r.register("container_launch_errors", "Launches that failed before the task ran", m.launch_errors.clone());
        r.register(
            "recovery_errors",
            "Tasks a restarted agent could not read back or account for",
            m.recovery_errors.clone(),
        );
        r.register("tasks_recovered", "Running tasks a restarted agent found again", m.recovered.clone());
        m
    }

    /// Sets the gauges from the agent's state.
    pub fn refresh<'a>(&self, total: &Resources, tasks: impl Iterator<Item = (TaskState, bool, &'a Resources)>) {
        let mut used = Resources::default();
        let mut by_state = [0i64; TaskState::ALL.len()];
        for (state, running, resources) in tasks {
            if running {
                used.add(resources);
            }
            if let Some(i) = TaskState::ALL.iter().position(|s| *s == state) {
                by_state[i] += 1;
            }
        }
        for ((name, t), u) in SCALAR_NAMES.iter().zip(total.scalars()).zip(used.scalars()) {
            self.resources_total.get_or_create(&label("resource", name)).set(t);
            self.resources_used.get_or_create(&label("resource", name)).set(u);
        }
        for (state, count) in TaskState::ALL.iter().zip(by_state) {
            self.tasks.get_or_create(&label("state", state.as_str())).set(count);
        }
    }

    pub fn render(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}

fn label(name: &str, value: &str) -> Labels {
    vec![(name.to_string(), value.to_string())]
}

/// How long a metrics client has to send a request's headers (and how long a keep-alive
/// connection may idle): a slow client is cut off rather than held.
const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Connections one address may hold on the metrics listener: a scraper needs one or two.
const MAX_CONNECTIONS_PER_ADDRESS: usize = 16;

/// Serves `GET /metrics` (and nothing else) on `listen` until the process ends; returns the
/// address it listens on.
pub async fn serve(listen: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<SocketAddr> {
    serve_with(listen, metrics, HEADER_TIMEOUT).await
}

async fn serve_with(
    listen: SocketAddr,
    metrics: Arc<Metrics>,
    header_timeout: std::time::Duration,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let bound = listener.local_addr()?;
    let open: Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>> = Arc::default();
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                // Out of file descriptors, say: wait rather than spin.
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            };
            {
                let mut open = open.lock().unwrap_or_else(|p| p.into_inner());
                let count = open.entry(peer.ip()).or_insert(0);
                if *count >= MAX_CONNECTIONS_PER_ADDRESS {
                    continue;
                }
                *count += 1;
            }
            let (metrics, open) = (metrics.clone(), open.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let metrics = metrics.clone();
                    async move {
                        let (status, body) = if request.uri().path() == "/metrics" {
                            (200, metrics.render())
                        } else {
                            (404, "not found\n".to_string())
                        };
                        hyper::Response::builder()
                            .status(status)
                            .header("content-type", "text/plain; version=0.0.4")
                            .body(http_body_util::Full::new(bytes::Bytes::from(body)))
                    }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let mut builder = hyper::server::conn::http1::Builder::new();
                builder.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(header_timeout);
                // A client that goes away mid-request is no concern of the agent's.
                let _ = builder.serve_connection(io, service).await;
                let mut open = open.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(count) = open.get_mut(&peer.ip()) {
                    *count -= 1;
                    if *count == 0 {
                        open.remove(&peer.ip());
                    }
                }
            });
        }
    });
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// Whether the server closes `socket` within `within` (reading until it does).
    async fn closed_within(socket: &mut tokio::net::TcpStream, within: std::time::Duration) -> bool {
        let mut buf = [0u8; 1024];
        let until = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(until, socket.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => continue,
                Err(_) => return false,
            }
        }
    }

    #[tokio::test]
    async fn slow_and_piled_up_clients_are_cut_off() {
        let timeout = std::time::Duration::from_millis(300);
        let listen: SocketAddr = "127.0.0.1:0".parse().expect("address");
        let bound = serve_with(listen, Arc::new(Metrics::new()), timeout).await.expect("serves");
        // A client that never finishes its headers is cut off.
        let mut slow = tokio::net::TcpStream::connect(bound).await.expect("connects");
        slow.write_all(b"GET /metrics HTTP/1.1\r\n").await.expect("writes");
        assert!(closed_within(&mut slow, std::time::Duration::from_secs(20)).await, "a slow client was kept");
        // One address holds at most so many connections: the next is closed at once.
        let mut held = Vec::new();
        for _ in 0..MAX_CONNECTIONS_PER_ADDRESS {
            held.push(tokio::net::TcpStream::connect(bound).await.expect("connects"));
        }
        let mut extra = tokio::net::TcpStream::connect(bound).await.expect("connects");
        assert!(closed_within(&mut extra, std::time::Duration::from_secs(20)).await, "over the cap, yet kept");
        // Once they go (the server notices in its own time), a scraper is served again.
        drop(held);
        let until = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let mut scraper = tokio::net::TcpStream::connect(bound).await.expect("connects");
            let request = b"GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
            let mut answer = String::new();
            let answered =
                scraper.write_all(request).await.is_ok() && scraper.read_to_string(&mut answer).await.is_ok();
            if answered && answer.starts_with("HTTP/1.1 200") {
                break;
            }
            assert!(tokio::time::Instant::now() < until, "never served again: {answer}");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    #[test]
    fn gauges_follow_the_tasks() {
        let metrics = Metrics::new();
        let (half, quarter) = (Resources::new(0.5, 64.0), Resources::new(0.25, 32.0));
        let tasks = [(TaskState::Running, true, &half), (TaskState::Finished, false, &quarter)];
        metrics.refresh(&Resources::new(2.0, 1024.0), tasks.into_iter());
        metrics.launch_errors.inc();
        let text = metrics.render();
        for line in [
            "agora_agent_resources_total{resource=\"cpus\"} 2.0",
            "agora_agent_resources_used{resource=\"cpus\"} 0.5",
            "agora_agent_resources_used{resource=\"mem\"} 64.0",
            "agora_agent_tasks{state=\"running\"} 1",
            "agora_agent_tasks{state=\"finished\"} 1",
            "agora_agent_container_launch_errors_total 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }
}
