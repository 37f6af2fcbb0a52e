//! Fairness through the HTTP API, with frameworks that behave as real ones do: each has a
//! deep queue of tasks of its own shape, launches as many as fit on every offer (what it does
//! not use goes back to the pool) and declines offers too small for one. The allocator must bring them to
//! their weighted Dominant Resource Fairness shares, within 5 %, and a framework that declines
//! everything must not starve the others.

mod common;

use agora_server::Kind;
use common::cluster::{Client, Cluster};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A framework in the test: its id, and the CPUs and memory of each of its tasks.
#[derive(Clone)]
struct Queue {
    id: String,
    cpus: f64,
    mem: f64,
    launched: usize,
    /// Declines every offer instead.
    decliner: bool,
}

impl Queue {
    /// Its dominant share of a cluster of `cpus` and `mem`.
    fn share(&self, cpus: f64, mem: f64) -> f64 {
        let n = self.launched as f64;
        (n * self.cpus / cpus).max(n * self.mem / mem)
    }

    /// Answers the offers it holds now: as many of its tasks as fit on each (what is left goes
    /// back to the pool), a decline with no filter for offers too small for one. Returns
    /// whether it launched anything.
    async fn answer(&mut self, client: &Client) -> bool {
        let offers = client.get("/v1/offers").await;
        let mine = offers["offers"].as_array().expect("offers").iter().filter(|o| o["framework_id"] == self.id);
        let (mut launched, mut unusable) = (false, Vec::new());
        for offer in mine {
            let have = |what: &str, each: f64| (offer["resources"][what].as_f64().unwrap_or(0.0) / each + 1e-9).floor();
            let fit = have("cpus", self.cpus).min(have("mem", self.mem)) as usize;
            if fit == 0 || self.decliner {
                unusable.push(offer["id"].clone());
                continue;
            }
            let tasks: Vec<_> = (self.launched..self.launched + fit)
                .map(|n| {
                    json!({
                        "task_id": format!("t{n}"),
                        "agent_id": offer["agent_id"],
                        "resources": {"cpus": self.cpus, "mem": self.mem},
                        "command": {"shell": "sleep 600"}
                    })
                })
                .collect();
            let accept = json!({"offer_ids": [offer["id"]], "operations": [{"type": "launch", "tasks": tasks}]});
            let (status, body) = client.post(&format!("/v1/frameworks/{}/accept", self.id), accept).await;
            assert_eq!(status, 202, "{body}");
            self.launched += fit;
            launched = true;
        }
        if !unusable.is_empty() {
            let decline = json!({"offer_ids": unusable, "filters": {"refuse_secs": 0}});
            let (status, body) = client.post(&format!("/v1/frameworks/{}/decline", self.id), decline).await;
            assert!(status == 202 || body["code"] == "unknown_offer", "{body}");
        }
        launched
    }
}

/// Runs the frameworks side by side, as separate processes would, until the cluster is full:
/// no launch by any of them for half a second (a round follows a decline within
/// milliseconds). Bounded: at most 60 s.
async fn run_until_full(cluster: &Cluster, queues: &mut Vec<Queue>) {
    let started = tokio::time::Instant::now();
    let last_launch = Arc::new(AtomicU64::new(0));
    let mut running = Vec::new();
    for mut queue in queues.drain(..) {
        let client = Client::new(&cluster.server, Kind::Framework);
        let last_launch = last_launch.clone();
        running.push(tokio::spawn(async move {
            loop {
                let now = started.elapsed().as_millis() as u64;
                if queue.answer(&client).await {
                    last_launch.fetch_max(now, Ordering::SeqCst);
                } else if now.saturating_sub(last_launch.load(Ordering::SeqCst)) > 500 {
                    return queue;
                }
                assert!(now < 60_000, "the cluster did not fill within 60 s");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }));
    }
    for handle in running {
        queues.push(handle.await.expect("a framework ran"));
    }
}

/// A framework per `(role, cpus, mem)`, subscribed, then `agents` agents of 8 CPUs and 16 GiB.
async fn cluster_with(
    agents: usize,
    frameworks: &[(&str, f64, f64)],
    weights: &[(&str, f64)],
) -> (Cluster, Vec<Queue>) {
    let mut cluster = Cluster::empty().await;
    for (role, weight) in weights {
        cluster.set_role(role, json!({"weight": weight})).await;
    }
    let mut queues = Vec::new();
    for (role, cpus, mem) in frameworks {
        let id = cluster.subscribe(role).await;
        queues.push(Queue { id, cpus: *cpus, mem: *mem, launched: 0, decliner: false });
    }
    // The agents come last, so that no framework is offered the whole cluster alone.
    for i in 0..agents {
        cluster.add_agent_with(&format!("h{i}"), json!({}), json!({"cpus": 8, "mem": 16384})).await;
    }
    (cluster, queues)
}

fn within_5_percent(values: &[f64]) -> bool {
    let (lo, hi) = values.iter().fold((f64::MAX, 0.0f64), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    hi - lo <= 0.05 * hi
}

#[tokio::test]
async fn frameworks_with_different_shapes_converge_to_equal_dominant_shares() {
    // CPU-heavy and memory-heavy tasks.
    let (cluster, mut queues) = cluster_with(100, &[("a", 1.0, 256.0), ("b", 0.25, 2048.0)], &[]).await;
    run_until_full(&cluster, &mut queues).await;
    let shares: Vec<f64> = queues.iter().map(|q| q.share(800.0, 100.0 * 16384.0)).collect();
    assert!(within_5_percent(&shares), "dominant shares {shares:?}");
    assert!(shares.iter().all(|s| *s > 0.4), "the cluster is used: {shares:?}");
    cluster.stop();
}

#[tokio::test]
async fn three_roles_converge_to_shares_in_proportion_to_their_weights() {
    let frameworks = [("a", 1.0, 512.0), ("b", 0.5, 2048.0), ("c", 2.0, 256.0)];
    let (cluster, mut queues) = cluster_with(100, &frameworks, &[("b", 2.0)]).await;
    run_until_full(&cluster, &mut queues).await;
    let shares: Vec<f64> = queues.iter().map(|q| q.share(800.0, 100.0 * 16384.0)).collect();
    let weighted = [shares[0], shares[1] / 2.0, shares[2]];
    assert!(within_5_percent(&weighted), "shares {shares:?}, weighted {weighted:?}");
    cluster.stop();
}

#[tokio::test]
async fn a_framework_that_declines_everything_does_not_starve_the_others() {
    let (cluster, mut queues) = cluster_with(5, &[("lazy", 1.0, 128.0), ("busy", 1.0, 128.0)], &[]).await;
    queues[0].decliner = true;
    run_until_full(&cluster, &mut queues).await;
    assert_eq!(queues[0].launched, 0);
    assert_eq!(queues[1].launched, 40, "the busy framework fills the cluster: {}", queues[1].launched);
    cluster.stop();
}
