//! `agora`: the one binary. `agora dev` runs a whole cluster in one process; `agora server` and
//! `agora agent` run the parts; the other verbs are the command-line client.

mod cluster;
mod lists;
mod logs;
mod output;
mod run;
mod services;
mod target;

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "agora", version, about = "Agora: a cluster manager in the line of Apache Mesos", after_help = output::EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the client verbs find the server and their token.
#[derive(clap::Args, Clone, Debug)]
pub struct Target {
    /// The server's URL, or several replicas' URLs separated by commas (default: the one
    /// `agora dev` wrote to its data directory).
    #[arg(long, env = "AGORA_ADDR", global = true)]
    addr: Option<String>,
    /// The bearer token (default: the admin token `agora dev` wrote to its data directory). As
    /// a flag it is visible to every user of the machine (`ps`): give it in AGORA_TOKEN or with
    /// --token-file instead.
    #[arg(long, env = "AGORA_TOKEN", global = true, hide_env_values = true)]
    token: Option<String>,
    /// A file holding the bearer token. Takes the place of --token and AGORA_TOKEN.
    #[arg(long, env = "AGORA_TOKEN_FILE", global = true)]
    token_file: Option<PathBuf>,
    /// The data directory of `agora dev` to read the URL and token from.
    #[arg(long, env = "AGORA_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    #[command(flatten)]
    tls: cluster::ClientTlsArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run a server on the embedded store and one agent, in this process.
    Dev(cluster::DevArgs),
    /// Run the master API tier.
    Server(cluster::ServerArgs),
    /// Run a node agent that registers with a master.
    Agent(cluster::AgentArgs),
    /// Run a command on the cluster, stream its output, and exit with its exit code.
    Run(run::RunArgs),
    /// Print a task's output (stdout, or stderr with --stderr); with -f, follow it until the
    /// task ends.
    Logs(logs::LogsArgs),
    /// List agents.
    Agents(lists::ListArgs),
    /// List frameworks.
    Frameworks(lists::ListArgs),
    /// List tasks.
    Tasks(lists::TaskListArgs),
    /// List roles: weights, quota, and what each holds.
    Roles(lists::ListArgs),
    /// Change a role's weight or quota.
    #[command(subcommand)]
    Role(RoleCommand),
    /// Long-running services: apply, list, show, scale, restart, roll back, delete, why.
    #[command(subcommand)]
    Service(ServiceCommand),
    /// Say why a framework is not offered more right now.
    Why(lists::WhyArgs),
    /// Hold agents for maintenance: drain, deactivate, reactivate.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Manage tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage the cluster keys that sign tokens.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Make TLS certificates for a cluster.
    #[command(subcommand)]
    Certs(CertsCommand),
    /// Run the EC2 autoscaler: `agora-autoscaler` (a separate binary, next to this one or on
    /// PATH) with these arguments (docs/autoscaling.md).
    #[command(disable_help_flag = true)]
    Autoscaler(AutoscalerArgs),
}

#[derive(clap::Args)]
struct AutoscalerArgs {
    /// Its arguments (`agora autoscaler --help` shows them).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    args: Vec<std::ffi::OsString>,
}

/// Replaces this process with `agora-autoscaler`: the one beside this binary, else on PATH.
fn exec_autoscaler(args: &[std::ffi::OsString]) -> ExitCode {
    use std::os::unix::process::CommandExt;
    let beside = std::env::current_exe().ok().map(|exe| exe.with_file_name("agora-autoscaler"));
    let binary = beside.filter(|b| b.is_file()).unwrap_or_else(|| "agora-autoscaler".into());
    let error = std::process::Command::new(&binary).args(args).exec();
    eprintln!("error: cannot start {}: {error} (install agora-autoscaler beside agora or on PATH)", binary.display());
    ExitCode::FAILURE
}

#[derive(Subcommand)]
enum ServiceCommand {
    /// Create or change a service from a JSON or YAML file, and follow its deployment.
    Apply(services::ApplyArgs),
    /// List services: status, version, healthy instances, deployment.
    List(services::ListArgs),
    /// Show a service: its deployment, instances and what they wait for.
    Show(services::ShowArgs),
    /// Change a service's instance count.
    Scale(services::ScaleArgs),
    /// Replace every instance, by the upgrade strategy.
    Restart(services::ChangeArgs),
    /// Go back to a kept version (by default the one before the current one).
    Rollback(services::RollbackArgs),
    /// Kill a service's instances and forget it.
    Delete(services::ChangeArgs),
    /// Say why a service's instances wait: constraints, resources, quota, backoff, health.
    Why(services::IdArgs),
}

#[derive(Subcommand)]
enum RoleCommand {
    /// Set a role's weight, guarantee or limit; what no flag names is kept.
    Set(lists::RoleSetArgs),
}

#[derive(Subcommand)]
enum NodeCommand {
    /// Offer the agent to no one, tell its tasks' frameworks to move them (inverse offers),
    /// and kill what is left after the grace period.
    Drain(lists::DrainArgs),
    /// Offer the agent to no one; its tasks run on.
    Deactivate(lists::NodeArgs),
    /// Lift a drain or a deactivation.
    Reactivate(lists::NodeArgs),
}

#[derive(Subcommand)]
enum CertsCommand {
    /// Make a CA (or reuse the one in --dir), a server certificate and agent client certificates.
    Create(cluster::CertsCreateArgs),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Make a new active key; the old one still verifies the tokens it signed until removed.
    Rotate(cluster::KeysArgs),
    /// List the keys: the active one, then the retired ones.
    List(cluster::KeysArgs),
    /// Remove a retired key, revoking every token it signed (servers notice within seconds).
    Remove(cluster::KeysRemoveArgs),
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Print a token signed with the cluster key.
    Issue(cluster::TokenIssueArgs),
}

/// Parses `127.0.0.1:5050` or a bare port.
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    s.parse().map_err(|e| format!("`{s}` is not HOST:PORT: {e}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AGORA_LOG")
                .unwrap_or_else(|_| "info,hyper=warn,warp=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if matches!(cli.command, Command::Dev(_) | Command::Server(_) | Command::Agent(_)) {
        match agora_server::raise_open_file_limit() {
            Ok((before, after)) if before != after => tracing::debug!(before, after, "raised the open files limit"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not raise the open files limit"),
        }
    }
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Dev(args) => cluster::dev(args).await.map(|_| ExitCode::SUCCESS),
            Command::Server(args) => cluster::server(args).await.map(|_| ExitCode::SUCCESS),
            Command::Agent(args) => cluster::agent(args).await.map(|_| ExitCode::SUCCESS),
            Command::Token(TokenCommand::Issue(args)) => cluster::token_issue(args).map(|_| ExitCode::SUCCESS),
            Command::Keys(KeysCommand::Rotate(args)) => cluster::keys_rotate(args).map(|_| ExitCode::SUCCESS),
            Command::Keys(KeysCommand::List(args)) => cluster::keys_list(args).map(|_| ExitCode::SUCCESS),
            Command::Keys(KeysCommand::Remove(args)) => cluster::keys_remove(args).map(|_| ExitCode::SUCCESS),
            Command::Certs(CertsCommand::Create(args)) => cluster::certs_create(args).map(|_| ExitCode::SUCCESS),
            Command::Run(args) => run::run(args).await,
            Command::Logs(args) => logs::logs(args).await,
            Command::Agents(args) => lists::agents(args).await.map(|_| ExitCode::SUCCESS),
            Command::Frameworks(args) => lists::frameworks(args).await.map(|_| ExitCode::SUCCESS),
            Command::Tasks(args) => lists::tasks(args).await.map(|_| ExitCode::SUCCESS),
            Command::Roles(args) => lists::roles(args).await.map(|_| ExitCode::SUCCESS),
            Command::Why(args) => lists::why(args).await.map(|_| ExitCode::SUCCESS),
            Command::Node(NodeCommand::Drain(args)) => lists::drain(args).await.map(|_| ExitCode::SUCCESS),
            Command::Node(NodeCommand::Deactivate(args)) => {
                lists::hold(args, "deactivate").await.map(|_| ExitCode::SUCCESS)
            }
            Command::Node(NodeCommand::Reactivate(args)) => {
                lists::hold(args, "reactivate").await.map(|_| ExitCode::SUCCESS)
            }
            Command::Autoscaler(args) => Ok(exec_autoscaler(&args.args)),
            Command::Role(RoleCommand::Set(args)) => lists::role_set(args).await.map(|_| ExitCode::SUCCESS),
            Command::Service(command) => match command {
                ServiceCommand::Apply(args) => services::apply(args).await,
                ServiceCommand::List(args) => services::list(args).await.map(|_| ExitCode::SUCCESS),
                ServiceCommand::Show(args) => services::show(args).await.map(|_| ExitCode::SUCCESS),
                ServiceCommand::Scale(args) => services::scale(args).await,
                ServiceCommand::Restart(args) => services::restart(args).await,
                ServiceCommand::Rollback(args) => services::rollback(args).await,
                ServiceCommand::Delete(args) => services::delete(args).await,
                ServiceCommand::Why(args) => services::why(args).await.map(|_| ExitCode::SUCCESS),
            },
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            match e.downcast_ref::<agora_client::ClientError>() {
                Some(client_error) if client_error.is_connect() => {
                    eprintln!("error: cannot reach the server: {}", client_error.root_cause());
                    eprintln!("(is `agora dev` running? For an HTTPS server, give its CA with --ca)");
                }
                _ => eprintln!("error: {e:#}"),
            }
            ExitCode::FAILURE
        }
    }
}
