//! Runs each scenario briefly against the debug `agora` binary (on the embedded store, or on a
//! private Redis for efficiency): the smoke runs that keep the harness working. Each test checks
//! what its report says. The big runs are manual (BENCHMARKS.md).

use std::path::PathBuf;
use std::process::Command;

/// `agora` in the same target directory and profile as this test: the test runs from
/// `TARGET/PROFILE/deps/`, and the binary lives in `TARGET/PROFILE/`. Another crate's binary
/// has no `CARGO_BIN_EXE_` variable here; `cargo test --workspace` builds it, because the
/// `agora` package has integration tests of its own.
fn agora_binary() -> PathBuf {
    let me = std::env::current_exe().expect("the test executable's path");
    let profile_dir = me.parent().and_then(|deps| deps.parent()).expect("TARGET/PROFILE/deps/TEST");
    let agora = profile_dir.join("agora");
    assert!(
        agora.is_file(),
        "{} is missing: build it first with `cargo build -p agora` (or run `cargo test --workspace`)",
        agora.display()
    );
    agora
}

/// Runs `agora-bench` with `args` against the debug `agora`, and returns its table and its
/// JSON report (parsed, and as text for failure messages).
fn run_bench(args: &[&str]) -> (String, serde_json::Value, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("report.json");
    let out = Command::new(env!("CARGO_BIN_EXE_agora-bench"))
        .args(args)
        .arg("--agora")
        .arg(agora_binary())
        .arg("--json")
        .arg(&json)
        .output()
        .expect("agora-bench runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "agora-bench failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&json).expect("the JSON report is written");
    let report = serde_json::from_str(&text).expect("the report is JSON");
    (stdout, report, text)
}

#[test]
fn throughput_on_the_embedded_store_finishes_tasks_and_writes_the_report() {
    let (stdout, report, text) = run_bench(&[
        "throughput",
        "--duration",
        "3",
        "--warmup",
        "1",
        "--agents",
        "5",
        "--frameworks",
        "2",
        "--store",
        "embedded",
    ]);
    assert!(stdout.contains("launches/s"), "the table is printed: {stdout}");

    for field in [
        "scenario",
        "store",
        "replicas",
        "agents",
        "frameworks",
        "duration_secs",
        "tasks_launched",
        "tasks_finished",
        "launches_per_sec",
        "launch_latency_ms",
        "offer_latency_ms",
        "server_cpu_secs",
        "servers",
        "server_peak_rss_bytes",
        "redis_commands_per_launch",
        "redis_evalsha_per_launch",
    ] {
        assert!(report.get(field).is_some(), "the report has `{field}`: {text}");
    }
    assert_eq!(report["scenario"], "throughput");
    assert_eq!(report["store"], "embedded");
    assert!(report["tasks_finished"].as_u64().is_some_and(|n| n > 0), "tasks finished: {text}");
    assert_eq!(report["tasks_unaccounted"], 0, "every task accepted ended: {text}");
    assert!(report["launch_latency_ms"]["p50"].as_f64().is_some(), "latencies were measured: {text}");
    assert!(report["server_cpu_secs"].as_f64().is_some_and(|s| s > 0.0), "server CPU was sampled: {text}");
    assert!(report["redis_commands_per_launch"].is_null(), "no Redis, no Redis figures: {text}");
}

#[test]
fn scale_connects_two_hundred_agents_and_measures_their_heartbeats() {
    let (stdout, report, text) = run_bench(&["scale", "--agents", "200", "--duration", "5"]);
    assert!(stdout.contains("server memory / agent"), "the table is printed: {stdout}");
    assert_eq!(report["scenario"], "scale");
    assert_eq!(report["agents"], 200);
    // Agents heartbeat every 5 s: a 5 s window sees about one from each.
    assert!(report["heartbeats"].as_u64().is_some_and(|n| n >= 100), "heartbeats were answered: {text}");
    assert!(report["heartbeat_latency_ms"]["p99"].as_f64().is_some(), "heartbeats were timed: {text}");
    assert!(report["server_rss_after_bytes"].as_u64() > report["server_rss_before_bytes"].as_u64(), "{text}");
    assert!(report["server_cpu_us_per_heartbeat"].as_f64().is_some_and(|us| us > 0.0), "{text}");
    assert_eq!(report["errors"], serde_json::json!({}), "no call failed: {text}");
    for field in
        ["launches_per_sec", "offer_latency_ms", "launch_latency_ms", "server_cpu_secs", "server_peak_rss_bytes"]
    {
        assert!(report.get(field).is_some(), "the report has `{field}`: {text}");
    }
}

#[test]
fn latency_measures_offers_and_launches_one_task_per_agent() {
    let (stdout, report, text) = run_bench(&["latency", "--duration", "3", "--agents", "3"]);
    assert!(stdout.contains("offer latency"), "the table is printed: {stdout}");
    assert_eq!(report["scenario"], "latency");
    assert_eq!(report["tasks_unaccounted"], 0, "every task accepted ended: {text}");
    for figure in ["offer_latency_ms", "launch_latency_ms"] {
        for stat in ["p50", "p99", "max"] {
            assert!(report[figure][stat].as_f64().is_some_and(|ms| ms > 0.0), "{figure}.{stat}: {text}");
        }
    }
}

#[test]
fn streams_holds_two_hundred_subscribers_and_times_the_fan_out() {
    let (stdout, report, text) = run_bench(&["streams", "--streams", "200", "--events", "2"]);
    assert!(stdout.contains("server memory / stream"), "the table is printed: {stdout}");
    assert_eq!(report["scenario"], "streams");
    // Every subscriber saw both events: 400 deliveries timed.
    assert_eq!(report["fanout_latency_ms"]["count"], 400, "{text}");
    assert!(report["server_memory_per_stream_bytes"].as_f64().is_some_and(|b| b > 0.0), "{text}");
}

#[test]
fn efficiency_counts_redis_commands_and_runs_redis_benchmark_on_the_same_redis() {
    let (stdout, report, text) = run_bench(&[
        "efficiency",
        "--duration",
        "3",
        "--agents",
        "5",
        "--frameworks",
        "2",
        "--baseline-requests",
        "5000",
    ]);
    assert!(stdout.contains("launches / baseline scripts"), "the table is printed: {stdout}");
    assert_eq!(report["scenario"], "efficiency");
    assert_eq!(report["store"], "redis");
    assert_eq!(report["tasks_unaccounted"], 0, "every task accepted ended: {text}");
    // Every launch goes through Redis: accept, updates, acknowledgements.
    assert!(report["redis_commands_per_launch"].as_f64().is_some_and(|n| n >= 1.0), "{text}");
    assert!(report["redis_baseline"]["scripts_per_sec"].as_f64().is_some_and(|r| r > 0.0), "{text}");
    let fraction = report["launch_fraction_of_baseline"].as_f64().expect("the fraction is reported");
    let expected = report["launches_per_sec"].as_f64().expect("a rate")
        / report["redis_baseline"]["scripts_per_sec"].as_f64().expect("a rate");
    assert!((fraction - expected).abs() < 1e-9 && fraction > 0.0, "{text}");
}

#[test]
fn a_running_redis_can_be_the_store_and_is_left_running() {
    let dir = tempfile::tempdir().expect("tempdir");
    let redis = agora_server::store::redis_server::RedisServer::start(dir.path(), false).expect("a redis-server");
    let store = format!("redis://127.0.0.1:{}/0", redis.port());
    let (_, report, text) = run_bench(&[
        "throughput",
        "--duration",
        "2",
        "--warmup",
        "1",
        "--agents",
        "3",
        "--frameworks",
        "1",
        "--store",
        &store,
    ]);
    assert_eq!(report["store"], store.as_str(), "{text}");
    assert_eq!(report["tasks_unaccounted"], 0, "every task accepted ended: {text}");
    assert!(report["redis_commands_per_launch"].as_f64().is_some_and(|n| n >= 1.0), "{text}");
    // The bench found the Redis process through INFO, and read its CPU time.
    assert!(report["redis_cpu_secs"].as_f64().is_some(), "{text}");
    // The Redis is still there, holding the run's keys under a prefix of its own.
    let keys = std::process::Command::new("redis-cli")
        .args(["-p", &redis.port().to_string(), "--scan", "--pattern", "bench-*"])
        .output()
        .expect("redis-cli runs");
    assert!(keys.status.success() && !keys.stdout.is_empty(), "the run's keys are kept under bench-*");
}

#[test]
fn containers_times_image_tasks_against_process_tasks() {
    let runc = Command::new("runc").arg("--version").output().is_ok_and(|o| o.status.success());
    let registry = std::path::Path::new("/usr/bin/docker-registry").exists();
    if !nix::unistd::Uid::effective().is_root() || !runc || !registry || !std::path::Path::new("/bin/busybox").exists()
    {
        eprintln!("skipped: the containers scenario needs root, runc, docker-registry and /bin/busybox");
        return;
    }
    let (stdout, report, text) =
        run_bench(&["containers", "--samples", "2", "--image-mb", "1", "--burst", "5", "--resident", "2"]);
    assert!(stdout.contains("image task, warm cache"), "the table is printed: {stdout}");
    for kind in ["process", "image_cold", "image_warm"] {
        assert_eq!(report[kind]["samples"], 2, "{text}");
        assert!(report[kind]["p50_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{text}");
    }
    assert!(report["burst_launches_per_sec"].as_f64().is_some_and(|r| r > 0.0), "{text}");
    assert!(report["host_processes_kib_per_container"].as_f64().is_some_and(|k| k > 0.0), "{text}");
}

#[test]
fn services_deploys_restarts_and_measures_the_steady_state() {
    let (stdout, report, text) =
        run_bench(&["services", "--agents", "3", "--instances", "20", "--steady-instances", "40", "--window", "1"]);
    assert!(stdout.contains("rolling restart"), "the table is printed: {stdout}");
    assert_eq!(report["scenario"], "services", "{text}");
    assert_eq!(report["instances"], 20, "{text}");
    assert!(report["deploy_secs"].as_f64().is_some_and(|s| s > 0.0), "{text}");
    assert!(report["restart_secs"].as_f64().is_some_and(|s| s > 0.0), "{text}");
    assert!(report["scale_secs"].as_f64().is_some_and(|s| s > 0.0), "{text}");
    assert!(report["server_cpu_steady_secs"].as_f64().is_some(), "{text}");
}
