//! What a run measured: the counters the simulated agents and frameworks bump while it runs
//! ([`Stats`]), and the [`Report`] built from them at the end, printed as a table and written
//! as JSON. Only what happens in the measured window counts toward rates and latencies; the
//! totals cover the whole run, so that every task accepted is accounted for.

use crate::servers::RedisBaseline;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;

/// Where a run is. Frameworks launch in `Warmup` and `Measure`, and only `Measure` counts;
/// in `Drain` they launch nothing and wait for their tasks to end; `Done` stops everything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Warmup,
    Measure,
    Drain,
    Done,
}

impl Phase {
    fn from_u8(v: u8) -> Phase {
        match v {
            0 => Phase::Warmup,
            1 => Phase::Measure,
            2 => Phase::Drain,
            _ => Phase::Done,
        }
    }
}

/// Counters shared by every simulated agent and framework of a run.
#[derive(Default)]
pub struct Stats {
    phase: AtomicU8,
    /// Tasks in accepts sent and not yet seen ending (or refused): the drain waits for zero.
    pub outstanding: AtomicI64,
    /// Tasks the simulated agents know and have updates of not yet acknowledged.
    pub agent_tasks: AtomicI64,
    /// Tasks in accepts the server took, over the whole run.
    pub accepted_total: AtomicU64,
    /// Of those, the ones whose accept was sent in the measured window.
    pub accepted_in_window: AtomicU64,
    /// Tasks seen reaching a terminal state, over the whole run.
    pub ended_total: AtomicU64,
    /// Tasks seen reaching a terminal state in the measured window.
    pub ended_in_window: AtomicU64,
    /// Tasks that ended in a state other than `finished`.
    pub ended_not_finished: AtomicU64,
    /// Accept calls the server took, over the whole run.
    pub accepts: AtomicU64,
    /// Accept to `running` seen, in milliseconds, for tasks accepted in the measured window.
    latencies_ms: Mutex<Vec<f64>>,
    /// An agent's update first sent to its acknowledgement reaching the agent, in
    /// milliseconds, for acknowledgements that arrive in the measured window.
    ack_ms: Mutex<Vec<f64>>,
    /// When each agent's resources were last freed (a terminal update sent) and not yet seen
    /// offered again, for the offer latency.
    freed_at: Mutex<std::collections::HashMap<agora_api::AgentId, std::time::Instant>>,
    /// Resources freed to the `offers` event that brings them, in milliseconds, for offers
    /// that arrive in the measured window.
    offer_ms: Mutex<Vec<f64>>,
    /// Heartbeats answered, over the whole run.
    pub heartbeats: AtomicU64,
    /// Heartbeat round trips in milliseconds, in the measured window.
    heartbeat_ms: Mutex<Vec<f64>>,
    /// Agent registration round trips (retries included) in milliseconds, over the whole run.
    register_ms: Mutex<Vec<f64>>,
    /// Failed calls and odd events, by a short description, so a report shows what went wrong.
    errors: Mutex<BTreeMap<String, u64>>,
}

impl Stats {
    pub fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::SeqCst))
    }

    pub fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::SeqCst);
    }

    pub fn measuring(&self) -> bool {
        self.phase() == Phase::Measure
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub fn record_latency_ms(&self, ms: f64) {
        lock(&self.latencies_ms).push(ms);
    }

    pub fn record_ack_ms(&self, ms: f64) {
        lock(&self.ack_ms).push(ms);
    }

    /// Notes that `agent` is sending a terminal update now, unless earlier freed resources of
    /// it are still waiting to be offered (the offer that brings those brings these too).
    pub fn resources_freed(&self, agent: &agora_api::AgentId) {
        lock(&self.freed_at).entry(agent.clone()).or_insert_with(std::time::Instant::now);
    }

    /// Notes an offer of `agent`'s resources: the time since they were freed, if they were.
    pub fn offer_seen(&self, agent: &agora_api::AgentId) {
        let Some(freed) = lock(&self.freed_at).remove(agent) else { return };
        if self.measuring() {
            lock(&self.offer_ms).push(freed.elapsed().as_secs_f64() * 1000.0);
        }
    }

    pub fn offer_latency(&self) -> LatencySummary {
        LatencySummary::of(std::mem::take(&mut *lock(&self.offer_ms)))
    }

    pub fn heartbeat_answered(&self, ms: f64) {
        Stats::add(&self.heartbeats, 1);
        if self.measuring() {
            lock(&self.heartbeat_ms).push(ms);
        }
    }

    pub fn heartbeat_latency(&self) -> LatencySummary {
        LatencySummary::of(std::mem::take(&mut *lock(&self.heartbeat_ms)))
    }

    pub fn record_register_ms(&self, ms: f64) {
        lock(&self.register_ms).push(ms);
    }

    pub fn register_latency(&self) -> LatencySummary {
        LatencySummary::of(std::mem::take(&mut *lock(&self.register_ms)))
    }

    /// Counts one occurrence of a failure described by `what`.
    pub fn error(&self, what: impl Into<String>) {
        *lock(&self.errors).entry(what.into()).or_insert(0) += 1;
    }

    pub fn errors(&self) -> BTreeMap<String, u64> {
        lock(&self.errors).clone()
    }

    pub fn latency(&self) -> LatencySummary {
        LatencySummary::of(std::mem::take(&mut *lock(&self.latencies_ms)))
    }

    pub fn ack_latency(&self) -> LatencySummary {
        LatencySummary::of(std::mem::take(&mut *lock(&self.ack_ms)))
    }
}

/// Locks a mutex even if a thread panicked while holding it: counters stay usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Percentiles of a set of latencies; `None` when there were none.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LatencySummary {
    pub count: usize,
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

impl LatencySummary {
    /// The same, to hundredths of a millisecond.
    pub fn rounded(self) -> LatencySummary {
        let r = |v: Option<f64>| v.map(round2);
        LatencySummary { count: self.count, p50: r(self.p50), p99: r(self.p99), max: r(self.max) }
    }

    pub fn of(mut samples: Vec<f64>) -> LatencySummary {
        samples.sort_by(f64::total_cmp);
        LatencySummary {
            count: samples.len(),
            p50: percentile(&samples, 0.50),
            p99: percentile(&samples, 0.99),
            max: samples.last().copied(),
        }
    }
}

/// The nearest-rank percentile of sorted samples.
fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.saturating_sub(1).min(sorted.len() - 1)).copied()
}

/// One server process: its CPU time in the measured window and over its life, and its peak
/// resident memory.
#[derive(Clone, Debug, Serialize)]
pub struct ServerSample {
    pub url: String,
    pub cpu_secs: f64,
    pub cpu_secs_total: f64,
    pub peak_rss_bytes: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub scenario: &'static str,
    pub store: String,
    pub replicas: usize,
    pub agents: usize,
    pub frameworks: usize,
    pub task_secs: f64,
    /// The measured window, as it really lasted.
    pub duration_secs: f64,
    /// Tasks whose accept was sent in the window and taken.
    pub tasks_launched: u64,
    /// Tasks seen ending in the window.
    pub tasks_finished: u64,
    /// `tasks_finished` per second of the window: launched, run and ended, end to end.
    pub launches_per_sec: f64,
    /// Tasks seen ending in each second of the window: steady, or in waves?
    pub finished_per_sec: Vec<u64>,
    /// From sending the accept to the framework seeing `running`.
    pub launch_latency_ms: LatencySummary,
    /// From an agent sending a terminal update (resources freed) to a framework seeing the
    /// `offers` event that offers them again.
    pub offer_latency_ms: LatencySummary,
    /// From an agent first sending a status update to the framework's acknowledgement
    /// reaching it: the stop-and-wait round trip each task pays twice.
    pub update_ack_ms: LatencySummary,
    pub accepts: u64,
    pub tasks_accepted_total: u64,
    pub tasks_ended_total: u64,
    pub tasks_ended_not_finished: u64,
    /// Accepted tasks never seen ending, after the drain: zero unless something was lost.
    pub tasks_unaccounted: i64,
    /// Tasks whose agent still waited for an acknowledgement when the run ended (after a short
    /// grace): their updates would be resent forever.
    pub agent_updates_unacknowledged: i64,
    /// Server CPU time in the window, summed over the replicas.
    pub server_cpu_secs: f64,
    pub server_peak_rss_bytes: u64,
    pub servers: Vec<ServerSample>,
    /// Redis commands run in the window (those inside scripts included, INFO excluded) per
    /// task launched in it.
    pub redis_commands_per_launch: Option<f64>,
    pub redis_evalsha_per_launch: Option<f64>,
    /// The commands Redis ran most in the window, per task launched.
    pub redis_top_commands_per_launch: BTreeMap<String, f64>,
    pub redis_cpu_secs: Option<f64>,
    /// Store transactions the servers retried after meeting a concurrent change, in the window.
    pub store_conflicts: u64,
    /// This process's own CPU time in the window: the load generator competes for the cores.
    pub bench_cpu_secs: f64,
    pub errors: BTreeMap<String, u64>,
    pub server_log_warnings: usize,
    pub server_log_samples: Vec<String>,
    /// `redis-benchmark` on the same Redis after the launches (the `efficiency` scenario).
    pub redis_baseline: Option<RedisBaseline>,
    /// `launches_per_sec` over the baseline's scripts per second: 1.0 would mean a launch
    /// costs the store what one small script costs.
    pub launch_fraction_of_baseline: Option<f64>,
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.digits$}"))
}

impl Report {
    /// The report as a two-column table for a terminal.
    pub fn table(&self) -> String {
        let l = &self.launch_latency_ms;
        let mut rows: Vec<(String, String)> = vec![
            ("scenario".into(), self.scenario.into()),
            ("store".into(), format!("{} x{} replica(s)", self.store, self.replicas)),
            ("agents / frameworks".into(), format!("{} / {}", self.agents, self.frameworks)),
            ("window".into(), format!("{:.1} s (tasks run {} s)", self.duration_secs, self.task_secs)),
            ("tasks launched / finished".into(), format!("{} / {}", self.tasks_launched, self.tasks_finished)),
            ("launches/s".into(), format!("{:.0}", self.launches_per_sec)),
            ("finished per second".into(), format!("{:?}", self.finished_per_sec)),
            ("offer latency p50/p99/max".into(), {
                let o = &self.offer_latency_ms;
                format!("{} / {} / {} ms", opt(o.p50, 1), opt(o.p99, 1), opt(o.max, 1))
            }),
            (
                "launch latency p50/p99/max".into(),
                format!("{} / {} / {} ms", opt(l.p50, 1), opt(l.p99, 1), opt(l.max, 1)),
            ),
            ("update to ack p50/p99/max".into(), {
                let a = &self.update_ack_ms;
                format!("{} / {} / {} ms", opt(a.p50, 1), opt(a.p99, 1), opt(a.max, 1))
            }),
            ("accepts (whole run)".into(), self.accepts.to_string()),
            ("tasks unaccounted".into(), self.tasks_unaccounted.to_string()),
            ("agent updates unacknowledged".into(), self.agent_updates_unacknowledged.to_string()),
            ("ended not finished".into(), self.tasks_ended_not_finished.to_string()),
            ("server cpu (window)".into(), format!("{:.2} s", self.server_cpu_secs)),
            ("server peak rss".into(), format!("{:.0} MiB", self.server_peak_rss_bytes as f64 / 1048576.0)),
            ("redis commands / launch".into(), opt(self.redis_commands_per_launch, 1)),
            ("redis evalsha / launch".into(), opt(self.redis_evalsha_per_launch, 2)),
            ("redis cpu (window)".into(), opt(self.redis_cpu_secs, 2).to_string()),
            ("store conflicts".into(), self.store_conflicts.to_string()),
            ("bench cpu (window)".into(), format!("{:.2} s", self.bench_cpu_secs)),
            ("server log warnings".into(), self.server_log_warnings.to_string()),
        ];
        if let Some(baseline) = &self.redis_baseline {
            rows.push(("redis-benchmark (small script)".into(), format!("{:.0} scripts/s", baseline.scripts_per_sec)));
        }
        if let Some(fraction) = self.launch_fraction_of_baseline {
            let per =
                if fraction > 0.0 { format!(" (a launch costs {:.1} scripts)", 1.0 / fraction) } else { String::new() };
            rows.push(("launches / baseline scripts".into(), format!("{:.2}%{per}", fraction * 100.0)));
        }
        for (what, n) in &self.errors {
            rows.push((format!("error: {what}"), n.to_string()));
        }
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        rows.iter().map(|(k, v)| format!("{k:<width$}  {v}\n")).collect()
    }
}

/// `v` to hundredths: reports need no more.
pub fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// Writes a report as pretty JSON.
pub fn write_json(report: &impl Serialize, path: &Path) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(report)?;
    text.push('\n');
    std::fs::write(path, text).map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let s = LatencySummary::of((1..=100).rev().map(f64::from).collect());
        assert_eq!((s.count, s.p50, s.p99, s.max), (100, Some(50.0), Some(99.0), Some(100.0)));
        let one = LatencySummary::of(vec![7.0]);
        assert_eq!((one.p50, one.p99, one.max), (Some(7.0), Some(7.0), Some(7.0)));
        assert_eq!(LatencySummary::of(Vec::new()).p50, None);
    }

    #[test]
    fn phases_round_trip() {
        let stats = Stats::default();
        assert_eq!(stats.phase(), Phase::Warmup);
        for phase in [Phase::Measure, Phase::Drain, Phase::Done] {
            stats.set_phase(phase);
            assert_eq!(stats.phase(), phase);
        }
    }
}
