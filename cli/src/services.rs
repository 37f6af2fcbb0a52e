//! `agora service ...`: apply a service from a file, list, show, scale, restart, roll back,
//! delete, and say why instances wait. The verbs that start a deployment follow it until it
//! ends (or return at once with `--detach`).

use crate::output::{print_json, write_out, OutputArgs};
use crate::target;
use crate::Target;
use agora_api::services::{DeploymentStarted, ServiceSpec, ServiceView, WaitingReason};
use agora_client::Client;
use anyhow::Context as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// How often a followed deployment is looked at.
const FOLLOW_EVERY: Duration = Duration::from_millis(500);

#[derive(clap::Args)]
pub struct FollowArgs {
    /// Return once the change is accepted, without following its deployment.
    #[arg(long)]
    detach: bool,
}

#[derive(clap::Args)]
pub struct ApplyArgs {
    /// The service file, JSON or YAML: the spec, with the service's `id`.
    #[arg(long, short = 'f')]
    file: PathBuf,
    /// The service's id, if the file has none (or to apply it under another).
    #[arg(long)]
    id: Option<String>,
    #[command(flatten)]
    follow: FollowArgs,
    #[command(flatten)]
    target: Target,
}

#[derive(clap::Args)]
pub struct IdArgs {
    /// The service's id.
    id: String,
    #[command(flatten)]
    target: Target,
}

#[derive(clap::Args)]
pub struct ShowArgs {
    /// The service's id.
    id: String,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    target: Target,
}

#[derive(clap::Args)]
pub struct ChangeArgs {
    /// The service's id.
    id: String,
    #[command(flatten)]
    follow: FollowArgs,
    #[command(flatten)]
    target: Target,
}

#[derive(clap::Args)]
pub struct ScaleArgs {
    /// The service's id.
    id: String,
    /// The new instance count.
    instances: u32,
    #[command(flatten)]
    follow: FollowArgs,
    #[command(flatten)]
    target: Target,
}

#[derive(clap::Args)]
pub struct RollbackArgs {
    /// The service's id.
    id: String,
    /// The version to go back to (default: the one before the current one).
    #[arg(long)]
    version: Option<u64>,
    #[command(flatten)]
    follow: FollowArgs,
    #[command(flatten)]
    target: Target,
}

#[derive(clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    target: Target,
}

/// Reads a service file: JSON or YAML (JSON is YAML, but its errors read better as JSON's).
fn read_spec(path: &PathBuf, id: Option<String>) -> anyhow::Result<(String, ServiceSpec)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut value: serde_json::Value = if text.trim_start().starts_with('{') {
        serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))?
    } else {
        serde_norway::from_str(&text).with_context(|| format!("{} is not valid YAML", path.display()))?
    };
    let from_file = value.as_object_mut().and_then(|o| o.remove("id"));
    let id = match (id, from_file) {
        (Some(id), _) => id,
        (None, Some(serde_json::Value::String(id))) => id,
        (None, Some(_)) => anyhow::bail!("{}: `id` must be a string", path.display()),
        (None, None) => anyhow::bail!("{} has no `id`: add one, or give --id", path.display()),
    };
    let spec: ServiceSpec =
        serde_json::from_value(value).with_context(|| format!("{} is not a service spec", path.display()))?;
    Ok((id, spec))
}

pub async fn apply(args: ApplyArgs) -> anyhow::Result<ExitCode> {
    let (id, spec) = read_spec(&args.file, args.id)?;
    let client = target::client(&args.target)?;
    let started = client.put_service(&id, &spec).await?;
    follow(&client, &started, args.follow.detach).await
}

pub async fn scale(args: ScaleArgs) -> anyhow::Result<ExitCode> {
    let client = target::client(&args.target)?;
    let started = client.scale_service(&args.id, args.instances).await?;
    follow(&client, &started, args.follow.detach).await
}

pub async fn restart(args: ChangeArgs) -> anyhow::Result<ExitCode> {
    let client = target::client(&args.target)?;
    let started = client.restart_service(&args.id).await?;
    follow(&client, &started, args.follow.detach).await
}

pub async fn rollback(args: RollbackArgs) -> anyhow::Result<ExitCode> {
    let client = target::client(&args.target)?;
    let started = client.rollback_service(&args.id, args.version).await?;
    follow(&client, &started, args.follow.detach).await
}

pub async fn delete(args: ChangeArgs) -> anyhow::Result<ExitCode> {
    let client = target::client(&args.target)?;
    let started = client.delete_service(&args.id).await?;
    follow(&client, &started, args.follow.detach).await
}

/// Prints a deployment's progress as it goes, and what its instances wait for, until it ends:
/// 0 when it reached its target, 1 when another deployment replaced it.
async fn follow(client: &Client, started: &DeploymentStarted, detach: bool) -> anyhow::Result<ExitCode> {
    let id = &started.service_id;
    let Some(deployment_id) = &started.deployment_id else {
        write_out(&format!("service {id}: version {} unchanged; nothing to deploy\n", started.version))?;
        return Ok(ExitCode::SUCCESS);
    };
    write_out(&format!("service {id}: deployment {deployment_id} to version {} started\n", started.version))?;
    if detach {
        return Ok(ExitCode::SUCCESS);
    }
    let mut last_progress = String::new();
    let mut last_reasons = String::new();
    loop {
        let view = match client.get_service(id).await {
            Ok(view) => view,
            Err(e) if e.code() == Some("unknown_service") => {
                write_out(&format!("service {id}: deleted\n"))?;
                return Ok(ExitCode::SUCCESS);
            }
            Err(e) => return Err(e.into()),
        };
        match &view.deployment {
            Some(d) if &d.id == deployment_id => {
                let progress = d
                    .steps
                    .iter()
                    .map(|s| format!("{} {}/{}", s.action.replace('_', " "), s.done, s.target))
                    .collect::<Vec<_>>()
                    .join(", ");
                if progress != last_progress {
                    write_out(&format!("  {progress}\n"))?;
                    last_progress = progress;
                }
            }
            Some(d) => {
                write_out(&format!("service {id}: deployment {} replaced this one\n", d.id))?;
                return Ok(ExitCode::FAILURE);
            }
            None if view.version == started.version || view.status == agora_api::services::ServiceStatus::Deleting => {
                write_out(&format!(
                    "service {id}: deployment finished: {} healthy at version {}\n",
                    view.healthy, view.version
                ))?;
                return Ok(ExitCode::SUCCESS);
            }
            None => {
                write_out(&format!(
                    "service {id}: now at version {}: another change replaced this one\n",
                    view.version
                ))?;
                return Ok(ExitCode::FAILURE);
            }
        }
        let reasons = reasons_text(&view.waiting_reasons);
        if reasons != last_reasons {
            write_out(&reasons)?;
            last_reasons = reasons;
        }
        tokio::time::sleep(FOLLOW_EVERY).await;
    }
}

fn reasons_text(reasons: &[WaitingReason]) -> String {
    reasons.iter().map(|r| format!("  waiting ({}, {} instance(s)): {}\n", r.code, r.instances, r.message)).collect()
}

pub async fn list(args: ListArgs) -> anyhow::Result<()> {
    let list = target::client(&args.target)?.list_services().await?;
    if args.output.is_json() {
        return print_json(&list);
    }
    let rows: Vec<Vec<String>> = list
        .services
        .iter()
        .map(|s| {
            vec![
                s.id.clone(),
                s.status.as_str().to_string(),
                s.version.to_string(),
                format!("{}/{}", s.healthy, s.spec.instances),
                s.instances.len().to_string(),
                s.deployment.as_ref().map_or("-".to_string(), |d| d.id.clone()),
            ]
        })
        .collect();
    crate::lists::print_table(&["ID", "STATUS", "VERSION", "HEALTHY", "INSTANCES", "DEPLOYMENT"], &rows)
}

pub async fn show(args: ShowArgs) -> anyhow::Result<()> {
    let view = target::client(&args.target)?.get_service(&args.id).await?;
    if args.output.is_json() {
        return print_json(&view);
    }
    write_out(&summary(&view))?;
    let rows: Vec<Vec<String>> = view
        .instances
        .iter()
        .map(|i| {
            vec![
                i.task_id.to_string(),
                i.hostname.clone(),
                i.ports.iter().map(u16::to_string).collect::<Vec<_>>().join(","),
                if i.killing { "killing".to_string() } else { i.state.as_str().to_string() },
                i.healthy.map_or("-".to_string(), |h| h.to_string()),
                i.ready.to_string(),
                i.version.to_string(),
            ]
        })
        .collect();
    write_out("\n")?;
    crate::lists::print_table(&["TASK", "HOST", "PORTS", "STATE", "HEALTHY", "READY", "VERSION"], &rows)?;
    if !view.waiting_reasons.is_empty() {
        write_out(&format!("\n{}", reasons_text(&view.waiting_reasons)))?;
    }
    Ok(())
}

fn summary(view: &ServiceView) -> String {
    let mut text = format!(
        "service {}: {}, version {} (kept: {}), {}/{} healthy\n",
        view.id,
        view.status.as_str(),
        view.version,
        view.versions.iter().map(|v| v.version.to_string()).collect::<Vec<_>>().join(", "),
        view.healthy,
        view.spec.instances
    );
    if let Some(d) = &view.deployment {
        let steps: Vec<String> =
            d.steps.iter().map(|s| format!("{} {}/{}", s.action.replace('_', " "), s.done, s.target)).collect();
        text.push_str(&format!("deployment {} to version {}: {}\n", d.id, d.to_version, steps.join(", ")));
    }
    if let Some(b) = &view.backoff {
        text.push_str(&format!("backoff: {} failure(s) in a row, delay {:.1} s\n", b.failures, b.delay_secs));
    }
    text
}

/// `agora service why ID`: why instances wait.
pub async fn why(args: IdArgs) -> anyhow::Result<()> {
    let view = target::client(&args.target)?.get_service(&args.id).await?;
    if view.waiting_reasons.is_empty() {
        return write_out(&format!(
            "service {}: nothing waits ({}/{} healthy, {})\n",
            view.id,
            view.healthy,
            view.spec.instances,
            view.status.as_str()
        ));
    }
    write_out(&format!("service {}: {}\n{}", view.id, view.status.as_str(), reasons_text(&view.waiting_reasons)))
}
