//! A task's output: read (`GET /v1/tasks/{id}/logs`), or followed as it is written
//! (`?follow=true`).

use super::*;
use crate::logs::LogRequest;
use agora_api::agent::LogStream;
use agora_api::operator::LogQuery;
use agora_api::TaskId;
use tokio::sync::mpsc;

/// What a task log read asks for, with the defaults filled in.
fn log_request(query: &LogQuery) -> Result<LogRequest, ServerError> {
    let wait_secs = query.wait_secs.unwrap_or(0.0);
    if !wait_secs.is_finite() || wait_secs < 0.0 {
        return Err(ServerError::bad("invalid_query", "wait_secs must be a non-negative number"));
    }
    Ok(LogRequest {
        stream: query.stream.unwrap_or(LogStream::Stdout),
        offset: query.offset.unwrap_or(0),
        max_bytes: query.max_bytes.unwrap_or(crate::logs::MAX_CHUNK_BYTES),
        wait_secs,
    })
}

/// `GET /v1/tasks/{id}/logs`: a chunk of a task's output, or with `follow=true` the output as
/// it is written, until the task ends.
pub(super) async fn task_logs(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    let caller = call.caller()?;
    let task_id: TaskId = call.param("task_id")?;
    let query: LogQuery = call.query()?;
    let mut request = log_request(&query)?;
    // The read is bound to the task found here: nothing looks it up again.
    let task = ctx.master.readable_task(caller, query.framework_id.as_ref(), &task_id).await?;
    let slot = ctx.logs.reader_slot(&reader_key(caller))?;
    if query.follow == Some(true) {
        request.wait_secs = FOLLOW_WAIT_SECS;
        return Ok(follow(ctx, task, task_id, request, slot));
    }
    let stream = request.stream;
    // A long-polling reader must not hold up a shutdown.
    let mut shutdown = ctx.shutdown.clone();
    let chunk = tokio::select! {
        chunk = ctx.logs.read(&ctx.master, &task, &task_id, &request) => chunk?,
        _ = shutdown.wait_for(|stopping| *stopping) => {
            return Err(ServerError::Timeout { code: "shutting_down", message: "the server is shutting down".into() });
        }
    };
    drop(slot);
    if chunk.info.refused {
        return Err(refusal(&chunk.data));
    }
    if !chunk.info.found {
        return Err(ServerError::not_found("log file", "log_not_found", stream.as_str()));
    }
    let next = chunk.info.offset.saturating_add(chunk.data.len() as u64);
    let mut response = Response::new(http_body_util::Full::new(chunk.data).map_err(|never| match never {}).boxed());
    let headers = response.headers_mut();
    headers.insert("content-type", http::HeaderValue::from_static("application/octet-stream"));
    headers.insert("x-agora-offset", chunk.info.offset.into());
    headers.insert("x-agora-next-offset", next.into());
    headers.insert(
        "x-agora-task-ended",
        http::HeaderValue::from_static(if chunk.info.task_ended { "true" } else { "false" }),
    );
    Ok(response)
}

/// The agent would not read the file (its task may have planted a link or a FIFO there); the
/// agent's reason is the chunk's body.
fn refusal(reason: &[u8]) -> ServerError {
    let reason = String::from_utf8_lossy(&reason[..reason.len().min(1024)]);
    ServerError::Conflict { code: "log_refused", message: format!("the agent refused to read the log: {reason}") }
}

/// Whose log reads count together: one principal of one kind of token.
fn reader_key(caller: &Caller) -> String {
    format!("{:?}:{}", caller.kind, caller.principal)
}

/// How long each read of a followed log waits for new output before asking again.
const FOLLOW_WAIT_SECS: f64 = 10.0;

/// The body of a followed log: each chunk as the agent sends it, until the task ends, the
/// agent or the file is gone, the reader leaves or the server stops.
fn follow(
    ctx: Arc<Ctx>,
    task: crate::master::TaskLocation,
    task_id: TaskId,
    mut request: LogRequest,
    slot: crate::logs::ReaderSlot,
) -> Response {
    // A task per follower feeds a channel: the body stays `Sync` whatever the store's futures are.
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    tokio::spawn(async move {
        let _slot = slot;
        let mut shutdown = ctx.shutdown.clone();
        loop {
            let chunk = tokio::select! {
                chunk = ctx.logs.read(&ctx.master, &task, &task_id, &request) => chunk,
                _ = shutdown.wait_for(|stopping| *stopping) => return,
                _ = tx.closed() => return,
            };
            let chunk = match chunk {
                Ok(chunk) if chunk.info.found && !chunk.info.refused => chunk,
                // The agent is gone or the file is: the stream ends, and the reader can ask again.
                _ => return,
            };
            if !chunk.data.is_empty() {
                request.offset = chunk.info.offset.saturating_add(chunk.data.len() as u64);
                if tx.send(chunk.data).await.is_err() {
                    return;
                }
            } else if chunk.info.task_ended {
                return;
            }
        }
    });
    let chunks = futures::StreamExt::map(tokio_stream::wrappers::ReceiverStream::new(rx), |data| {
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(hyper::body::Frame::data(data))
    });
    let body = http_body_util::StreamBody::new(chunks).boxed();
    let mut response = Response::new(body);
    response.headers_mut().insert("content-type", http::HeaderValue::from_static("application/octet-stream"));
    response
}
