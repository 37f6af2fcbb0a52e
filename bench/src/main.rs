//! `agora-bench`: measures Agora over its real HTTP protocol. It starts the servers it
//! measures (and Redis), simulates agents and frameworks as tasks in this process, and reports
//! rates, latencies and what they cost the servers and the store. One subcommand per scenario.

mod containers;
mod report;
mod scale;
mod servers;
mod services;
mod sim_agent;
mod sim_framework;
mod streams;
mod throughput;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "agora-bench", version, about = "Load generator for Agora: simulated agents and frameworks")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Tasks launched and finished per second, end to end, with many agents and frameworks.
    Throughput(throughput::ThroughputArgs),
    /// Many agents connected at once: registration, memory per agent, CPU per heartbeat.
    Scale(scale::ScaleArgs),
    /// Offer and launch latency, lightly loaded: one task per agent at a time.
    Latency(throughput::LatencyArgs),
    /// Many event stream subscribers on one replica: memory per stream, fan-out latency.
    Streams(streams::StreamsArgs),
    /// Redis commands per launch, and launches against redis-benchmark on the same Redis.
    Efficiency(throughput::EfficiencyArgs),
    /// Image tasks against process tasks on a real agent: accept to running (cold and warm
    /// image cache), launch rate, memory per container. Needs root, runc and docker-registry.
    Containers(containers::ContainersArgs),
    /// The services scheduler on simulated agents: deploy, rolling restart, steady-state CPU.
    Services(services::ServicesArgs),
}

/// Options every scenario takes.
#[derive(clap::Args, Clone, Debug)]
pub struct CommonArgs {
    /// The `agora` binary to run (default: the one next to this executable).
    #[arg(long)]
    pub agora: Option<PathBuf>,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

impl CommonArgs {
    pub fn agora_path(&self) -> anyhow::Result<PathBuf> {
        if let Some(path) = &self.agora {
            return Ok(path.clone());
        }
        let me = std::env::current_exe().context("finding this executable")?;
        Ok(me.with_file_name("agora"))
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.scenario {
        Scenario::Throughput(args) => launches(&args).await,
        Scenario::Latency(args) => launches(&args.as_throughput()).await,
        Scenario::Efficiency(args) => launches(&args.as_throughput()).await,
        Scenario::Scale(args) => {
            let report = scale::run(&args).await?;
            emit(&report.table(), &report, args.common.json.as_deref())
        }
        Scenario::Containers(args) => {
            let report = containers::run(&args).await?;
            emit(&report.table(), &report, args.common.json.as_deref())
        }
        Scenario::Services(args) => {
            let report = services::run(&args).await?;
            emit(&report.table(), &report, args.common.json.as_deref())
        }
        Scenario::Streams(args) => {
            let report = streams::run(&args).await?;
            emit(&report.table(), &report, args.common.json.as_deref())
        }
    }
}

/// Prints a report's table and writes its JSON where asked.
fn emit(table: &str, report: &impl serde::Serialize, json: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    print!("{table}");
    if let Some(path) = json {
        report::write_json(report, path)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs a scenario that launches tasks, and fails if any accepted task was never seen ending.
async fn launches(args: &throughput::ThroughputArgs) -> anyhow::Result<ExitCode> {
    let report = throughput::run(args).await?;
    emit(&report.table(), &report, args.common.json.as_deref())?;
    if report.tasks_unaccounted != 0 {
        eprintln!("error: {} accepted task(s) were never seen ending", report.tasks_unaccounted);
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Thousands of simulated agents hold a connection each.
    if let Err(e) = agora_server::raise_open_file_limit() {
        eprintln!("warning: could not raise the open files limit: {e}");
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        tokio::select! {
            result = run(cli) => result,
            // Dropping the run kills the servers it started.
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        }
    });
    // The simulated clients may still hold connections; do not wait for them.
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
