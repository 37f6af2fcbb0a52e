//! `agora-autoscaler`: adds EC2 agents when work waits and removes idle ones through drains
//! (docs/autoscaling.md).

use agora_autoscaler::config::Config;
use agora_autoscaler::ec2::Ec2;
use agora_autoscaler::metrics::{self, Metrics};
use agora_autoscaler::run::{Autoscaler, Options};
use anyhow::{bail, Context};
use clap::Parser;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "agora-autoscaler",
    version,
    about = "Adds EC2 agents when work waits; drains and terminates idle ones"
)]
struct Args {
    /// The configuration file (YAML): the cluster's name, its pools, the scale-in policy.
    #[arg(long, env = "AGORA_AUTOSCALER_CONFIG")]
    config: PathBuf,
    /// The master's URL, or several replicas' separated by commas.
    #[arg(long, env = "AGORA_MASTER")]
    master: String,
    /// A file holding an operator token (it drains agents and reads services).
    #[arg(long, env = "AGORA_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    #[arg(long, env = "AGORA_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The CA that signed the servers' certificates (default: the system's roots).
    #[arg(long, env = "AGORA_CA")]
    ca: Option<PathBuf>,
    /// Seconds between rounds.
    #[arg(long, default_value_t = 10.0)]
    interval_secs: f64,
    /// Seconds an agent must hold nothing before it is drained (default: the file's
    /// scale_in.idle_secs, else 300).
    #[arg(long)]
    scale_in_idle_secs: Option<f64>,
    /// Seconds the lease lasts unrenewed: how long a standby waits for a replica that died
    /// (more than twice --interval-secs).
    #[arg(long, default_value_t = 30.0)]
    lease_ttl_secs: f64,
    /// Print the decisions (as JSON lines, also on the operator stream with dry_run set) and
    /// take none: no launch, drain or termination, no lease.
    #[arg(long)]
    dry_run: bool,
    /// This replica's name in the lease and its events (default: hostname and pid).
    #[arg(long)]
    holder: Option<String>,
    /// Serve Prometheus metrics (`GET /metrics`) at this address.
    #[arg(long)]
    metrics_listen: Option<std::net::SocketAddr>,
    /// EC2's endpoint, for an emulator (default: the region's).
    #[arg(long, env = "AGORA_EC2_ENDPOINT")]
    ec2_endpoint: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("AGORA_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut config = Config::load(&args.config)?;
    if let Some(idle) = args.scale_in_idle_secs {
        config.scale_in.idle_secs = idle;
        config.check().map_err(anyhow::Error::msg)?;
    }
    if !(args.interval_secs > 0.0 && args.lease_ttl_secs > 2.0 * args.interval_secs && args.lease_ttl_secs <= 3600.0) {
        bail!("--lease-ttl-secs must be more than twice --interval-secs (which must be above 0) and at most 3600");
    }
    let token = match (&args.token_file, &args.token) {
        (Some(file), _) => std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?,
        (None, Some(token)) => token.clone(),
        (None, None) => bail!("give an operator token with --token-file or AGORA_TOKEN"),
    };
    let tls = agora_client::TlsOptions { ca: args.ca.clone(), identity: None };
    let api = agora_client::Client::with_tls(&args.master, token.trim(), &tls)?;
    let ec2 = Ec2::connect(&config.cluster, config.region.as_deref(), args.ec2_endpoint.as_deref()).await;
    let metrics = Arc::new(Metrics::new());
    if let Some(listen) = args.metrics_listen {
        let bound = metrics::serve(listen, metrics.clone()).await?;
        tracing::info!(%bound, "serving metrics");
    }
    let holder = args.holder.unwrap_or_else(|| {
        let host = hostname::get().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default();
        // A random part too: replicas in containers often share a pid (1) and may share a name.
        let random = uuid::Uuid::new_v4().simple().to_string();
        format!("{host}-{}-{}", std::process::id(), &random[..8])
    });
    let options = Options {
        interval: Duration::from_secs_f64(args.interval_secs),
        lease_ttl: Duration::from_secs_f64(args.lease_ttl_secs),
        dry_run: args.dry_run,
        holder,
    };
    tracing::info!(cluster = %config.cluster, pools = config.pools.len(), dry_run = args.dry_run, "autoscaler starting");
    let mut autoscaler = Autoscaler::new(config, api, ec2, options, metrics);
    autoscaler.prepare().await?;
    autoscaler.run(stop_signal()).await;
    Ok(())
}

async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).ok();
    let term = async {
        match term.as_mut() {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
