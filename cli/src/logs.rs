//! `agora logs TASK`: what a task wrote to its stdout (or, with `--stderr`, its stderr); with
//! `-f`, what it writes next, until it ends. `agora run` streams its task's output the same way.

use crate::target;
use crate::Target;
use agora_api::agent::LogStream;
use agora_api::operator::LogQuery;
use agora_api::{FrameworkId, TaskId};
use agora_client::{Client, ClientError};
use anyhow::bail;
use futures::StreamExt as _;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args)]
pub struct LogsArgs {
    /// The task's id.
    task: String,
    /// Keep printing what the task writes, until it ends.
    #[arg(long, short)]
    follow: bool,
    /// Print the task's stderr instead of its stdout.
    #[arg(long)]
    stderr: bool,
    /// The task's framework, when tasks of several frameworks share the id (default: the one
    /// the token may read).
    #[arg(long)]
    framework: Option<String>,
    #[command(flatten)]
    target: Target,
}

pub async fn logs(args: LogsArgs) -> anyhow::Result<ExitCode> {
    for (what, id) in [("task id", Some(&args.task)), ("framework id", args.framework.as_ref())] {
        if let Some(id) = id.filter(|id| !agora_api::ids::is_valid_id(id)) {
            bail!("`{}` is not a {what}: ids are 1 to 128 characters of A-Z a-z 0-9 . _ -", id.escape_debug());
        }
    }
    let client = target::client(&args.target)?;
    let task = TaskId::from(args.task.as_str());
    let query = LogQuery {
        framework_id: args.framework.as_deref().map(FrameworkId::from),
        stream: Some(if args.stderr { LogStream::Stderr } else { LogStream::Stdout }),
        ..LogQuery::default()
    };
    let copied = if args.follow {
        copy_log(&client, &task, query, !args.stderr).await?
    } else {
        print_log(&client, &task, query).await?
    };
    Ok(match copied {
        Copied::All => ExitCode::SUCCESS,
        // As a shell reports a pipe closed under it (`agora logs T | head`).
        Copied::OutputClosed => ExitCode::from(141),
    })
}

pub enum Copied {
    All,
    /// Our own output is closed (a pipe to `head`, say).
    OutputClosed,
}

/// Prints what the log holds now, chunk by chunk, to stdout.
async fn print_log(client: &Client, task: &TaskId, mut query: LogQuery) -> Result<Copied, ClientError> {
    loop {
        let chunk = client.task_logs(task, &query).await?;
        if chunk.data.is_empty() {
            return Ok(Copied::All);
        }
        query.offset = Some(chunk.next_offset);
        if write_out(&chunk.data, true).is_err() {
            return Ok(Copied::OutputClosed);
        }
    }
}

/// Copies a task's output file to ours as it is written, until the task ends. A follow that
/// breaks (the server restarting, say) is resumed from the bytes already copied.
pub async fn copy_log(
    client: &Client,
    task: &TaskId,
    mut query: LogQuery,
    to_stdout: bool,
) -> Result<Copied, ClientError> {
    let mut offset = query.offset.unwrap_or(0);
    // Between attempts after a break: short at first, a second at most while the server is away.
    let mut pause = Duration::from_millis(20);
    loop {
        query.offset = Some(offset);
        match client.follow_task_logs(task, &query).await {
            Ok(mut body) => {
                pause = Duration::from_millis(20);
                while let Some(chunk) = body.next().await {
                    let Ok(chunk) = chunk else { break };
                    offset += chunk.len() as u64;
                    if write_out(&chunk, to_stdout).is_err() {
                        return Ok(Copied::OutputClosed);
                    }
                }
            }
            // Not there yet (the server restarted and the agent has not reported back), or
            // the server is away: try again below.
            Err(e) if e.is_not_found() || e.status().is_none_or(|status| status >= 500) => {}
            Err(e) => return Err(e),
        }
        // The follow ended: because the task did, or because it broke. One plain read tells.
        query.offset = Some(offset);
        match client.task_logs(task, &query).await {
            Ok(chunk) => {
                offset = chunk.next_offset;
                if write_out(&chunk.data, to_stdout).is_err() {
                    return Ok(Copied::OutputClosed);
                }
                if chunk.task_ended && chunk.data.is_empty() {
                    return Ok(Copied::All);
                }
            }
            Err(e) if e.is_not_found() || e.status().is_none_or(|status| status >= 500) => {}
            Err(e) => return Err(e),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

fn write_out(chunk: &[u8], to_stdout: bool) -> std::io::Result<()> {
    if to_stdout {
        let mut out = std::io::stdout().lock();
        out.write_all(chunk).and_then(|_| out.flush())
    } else {
        let mut err = std::io::stderr().lock();
        err.write_all(chunk).and_then(|_| err.flush())
    }
}
