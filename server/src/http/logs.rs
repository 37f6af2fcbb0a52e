//! A task's output: read (`GET /v1/tasks/{id}/logs`) through warp, and followed
//! (`?follow=true`) outside it, since warp cannot stream such a body.

use super::*;

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

/// `GET /v1/tasks/{id}/logs` without `follow=true` (which `follow_logs` serves).
pub(super) async fn task_logs(ctx: &Ctx, auth: &Option<String>, task_id: TaskId, query: &str) -> Reply_ {
    let claims = ctx.authorize(auth, Area::Read)?;
    let query: LogQuery = parse_query(query)?;
    let request = log_request(&query)?;
    let framework_id = query.framework_id;
    let task = ctx.readable_task(&claims, framework_id.as_ref(), &task_id).await?;
    let _slot = ctx.logs.reader_slot(&reader_key(&claims))?;
    let stream = request.stream;
    // A long-polling reader must not hold up a shutdown.
    let mut shutdown = ctx.shutdown.clone();
    let chunk = tokio::select! {
        chunk = ctx.logs.read(&ctx.master, &task, &task_id, &request) => chunk?,
        _ = shutdown.wait_for(|stopping| *stopping) => {
            return Err(ServerError::Timeout { code: "shutting_down", message: "the server is shutting down".into() });
        }
    };
    if chunk.info.refused {
        return Err(refusal(&chunk.data));
    }
    if !chunk.info.found {
        return Err(ServerError::not_found("log file", "log_not_found", stream.as_str()));
    }
    let next = chunk.info.offset.saturating_add(chunk.data.len() as u64);
    let mut response = Response::new(chunk.data.into());
    let headers = response.headers_mut();
    headers.insert("content-type", warp::http::HeaderValue::from_static("application/octet-stream"));
    headers.insert("x-agora-offset", chunk.info.offset.into());
    headers.insert("x-agora-next-offset", next.into());
    headers.insert(
        "x-agora-task-ended",
        warp::http::HeaderValue::from_static(if chunk.info.task_ended { "true" } else { "false" }),
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
fn reader_key(claims: &Claims) -> String {
    format!("{:?}:{}", claims.kind, claims.sub)
}

/// How long each read of a followed log waits for new output before asking again.
const FOLLOW_WAIT_SECS: f64 = 10.0;

/// `GET /v1/tasks/{id}/logs?follow=true`: the task's output as it is written, until the task
/// ends. `None` for any other request. Served outside warp, which cannot stream such a body.
pub fn follow_logs(
    ctx: &Arc<Ctx>,
    request: &hyper::Request<hyper::body::Incoming>,
) -> Option<impl std::future::Future<Output = hyper::Response<crate::serve::Body>>> {
    if request.method() != warp::http::Method::GET {
        return None;
    }
    let task_id = request.uri().path().strip_prefix("/v1/tasks/")?.strip_suffix("/logs")?;
    if task_id.contains('/') {
        return None;
    }
    // A query that does not parse is left to the warp route, which says why.
    let query: LogQuery = serde_urlencoded::from_str(request.uri().query().unwrap_or("")).ok()?;
    if query.follow != Some(true) {
        return None;
    }
    let auth = request.headers().get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string);
    let (ctx, task_id) = (ctx.clone(), TaskId::from(task_id));
    Some(async move {
        let response = match start_follow(&ctx, &auth, task_id, &query).await {
            Ok(response) => return response,
            Err(e) => e.into_response(),
        };
        use http_body_util::BodyExt as _;
        response.map(|body| body.map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>).boxed())
    })
}

async fn start_follow(
    ctx: &Arc<Ctx>,
    auth: &Option<String>,
    task_id: TaskId,
    query: &LogQuery,
) -> Result<hyper::Response<crate::serve::Body>, ServerError> {
    use http_body_util::BodyExt as _;
    let claims = ctx.authorize(auth, Area::Read)?;
    let mut request = log_request(query)?;
    let framework_id = query.framework_id.clone();
    request.wait_secs = FOLLOW_WAIT_SECS;
    // Unknown tasks get a 404 now, rather than an empty stream. Every chunk below reads this
    // task, the one checked here, even if another of the same id starts meanwhile.
    let task = ctx.readable_task(&claims, framework_id.as_ref(), &task_id).await?;
    // Held as long as the follow goes on.
    let slot = ctx.logs.reader_slot(&reader_key(&claims))?;
    // A task per follower feeds a channel: the body stays `Sync` whatever the store's futures are.
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    let ctx = ctx.clone();
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
    let mut response = hyper::Response::new(body);
    response.headers_mut().insert("content-type", warp::http::HeaderValue::from_static("application/octet-stream"));
    Ok(response)
}
