//! HTTP routes (warp), by audience: `frameworks`, `agents`, `operators` (with the agent
//! maintenance, reservation and volume routes), `system` (health, metrics, the document),
//! `logs` (task output, read and followed) and `streams` (Server-Sent Events). This module holds
//! what they share: the handler context, authentication, body limits and JSON parsing, and the
//! mapping of rejections to `{"code","message"}` errors. A handler authenticates, parses, calls
//! one master operation and maps its result.

mod agents;
mod frameworks;
mod logs;
mod operators;
mod streams;
mod system;

pub use logs::follow_logs;
use logs::task_logs;
use streams::{event_stream, parse_last_event_id};

use crate::auth::{Area, Claims, Keys, Kind};
use crate::error::{error_response, ServerError};
use crate::logs::{Chunk, LogRelay, LogRequest};
use crate::master::{Master, StreamKey, StreamRead, TaskLocation};
use crate::store::StreamId;
use agora_api::agent::{LogChunkInfo, LogStream, RegisterAgent, StatusUpdates};
use agora_api::framework::{Accept, Acknowledge, Decline, Kill, Reconcile, RegisterFramework, Roles};
use agora_api::operator::{
    AgentList, CreateVolume, DrainAgent, FrameworkList, LogQuery, OfferList, ReserveResources, RoleConfig, RoleList,
    TaskFilter, TaskList,
};
use agora_api::{AgentId, FrameworkId, TaskId};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

/// The largest request body accepted: a launch of 1,000 tasks fits comfortably.
pub const MAX_BODY_BYTES: u64 = 4 * 1024 * 1024;

/// What every handler needs.
pub struct Ctx {
    pub master: Arc<Master>,
    pub keys: Arc<Keys>,
    pub shutdown: watch::Receiver<bool>,
    pub logs: LogRelay,
    pub auth_failures: crate::ratelimit::AuthFailures,
    pub edge: crate::serve::EdgeConfig,
    /// The last `/metrics` exposition and when it was made: scrapes within a second share it.
    pub metrics_cache: tokio::sync::Mutex<Option<(tokio::time::Instant, String)>>,
}

type Reply_ = Result<Response, ServerError>;

fn respond(result: Reply_) -> Response {
    result.unwrap_or_else(Reply::into_response)
}

fn accepted() -> Reply_ {
    Ok(StatusCode::ACCEPTED.into_response())
}

fn json<T: serde::Serialize>(value: &T) -> Reply_ {
    Ok(warp::reply::json(value).into_response())
}

/// Parses a JSON body.
fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ServerError> {
    serde_json::from_slice(body).map_err(|e| {
        let code = if e.is_syntax() || e.is_eof() { "malformed_json" } else { "invalid_body" };
        ServerError::bad(code, format!("the request body is not valid: {e}"))
    })
}

/// Parses a JSON body; an empty body means the type's default.
fn parse_or_default<T: DeserializeOwned + Default>(body: &Bytes) -> Result<T, ServerError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        parse(body)
    }
}

/// The raw query string, empty when the request has none.
fn raw_query() -> impl Filter<Extract = (String,), Error = Infallible> + Clone {
    warp::query::raw().or(warp::any().map(String::new)).unify()
}

/// Parses a query into its declared type (`TaskFilter`, `LogQuery`, ...): a value that does not
/// fit is a 400 `invalid_query` that says which.
fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ServerError> {
    serde_urlencoded::from_str(query)
        .map_err(|e| ServerError::bad("invalid_query", format!("the query is not valid: {e}")))
}

fn with_ctx(ctx: Arc<Ctx>) -> impl Filter<Extract = (Arc<Ctx>,), Error = Infallible> + Clone {
    warp::any().map(move || ctx.clone())
}

fn authorization() -> impl Filter<Extract = (Option<String>,), Error = Infallible> + Clone {
    warp::header::optional::<String>("authorization").or(warp::any().map(|| None)).unify()
}

/// The request body, at most [`MAX_BODY_BYTES`], whether or not the client sent a length.
fn body() -> impl Filter<Extract = (Bytes,), Error = Rejection> + Clone {
    warp::header::optional::<u64>("content-length").and(warp::body::stream()).and_then(
        |length: Option<u64>, stream| async move {
            if length.is_some_and(|l| l > MAX_BODY_BYTES) {
                return Err(warp::reject::custom(BodyTooLarge));
            }
            collect_body(stream).await
        },
    )
}

async fn collect_body<B: bytes::Buf>(
    stream: impl futures::Stream<Item = Result<B, warp::Error>>,
) -> Result<Bytes, Rejection> {
    use futures::StreamExt as _;
    let mut stream = std::pin::pin!(stream);
    let mut collected = bytes::BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let mut chunk = chunk.map_err(|_| warp::reject::custom(BodyUnreadable))?;
        if collected.len() + chunk.remaining() > MAX_BODY_BYTES as usize {
            return Err(warp::reject::custom(BodyTooLarge));
        }
        while chunk.has_remaining() {
            let n = chunk.chunk().len();
            collected.extend_from_slice(chunk.chunk());
            chunk.advance(n);
        }
    }
    Ok(collected.freeze())
}

#[derive(Debug)]
struct BodyTooLarge;
impl warp::reject::Reject for BodyTooLarge {}

#[derive(Debug)]
struct BodyUnreadable;
impl warp::reject::Reject for BodyUnreadable {}

impl Ctx {
    fn authorize(&self, header: &Option<String>, area: Area) -> Result<Claims, ServerError> {
        self.keys.authorize(header.as_deref(), area)
    }

    /// Authorizes a call of the agent API; returns the agent token's principal, `None` for an
    /// operator. The master checks that the principal registered the agent it acts as.
    fn authorize_agent_api(&self, header: &Option<String>) -> Result<Option<String>, ServerError> {
        let claims = self.authorize(header, Area::AgentApi)?;
        Ok((claims.kind == Kind::Agent).then_some(claims.sub))
    }

    /// The frameworks whose tasks, offers and logs a token may read: `None` for all (operators
    /// and viewers), else those its framework principal registered.
    async fn readable_frameworks(&self, claims: &Claims) -> Result<Option<HashSet<FrameworkId>>, ServerError> {
        if claims.kind != Kind::Framework {
            return Ok(None);
        }
        let frameworks = self.master.frameworks().await?;
        Ok(Some(frameworks.into_iter().filter(|f| f.principal == claims.sub).map(|f| f.id).collect()))
    }

    /// Fails unless the token may read `framework`'s tasks and logs. Another principal's
    /// framework gets the 404 of an unknown one: its id is not confirmed to a stranger.
    async fn may_read_framework(&self, claims: &Claims, framework: &FrameworkId) -> Result<(), ServerError> {
        if claims.kind == Kind::Framework
            && self.master.framework_principal(framework).await? != Some(claims.sub.clone())
        {
            return Err(unknown_framework(framework));
        }
        Ok(())
    }

    /// Finds the task a log request names among those the token may read, and checks that it
    /// may. The read is bound to what this returns: nothing looks the task up again.
    async fn readable_task(
        &self,
        claims: &Claims,
        framework_id: Option<&FrameworkId>,
        task_id: &TaskId,
    ) -> Result<TaskLocation, ServerError> {
        // Without a framework, only the token's own frameworks are searched: another
        // principal's task of the same id, live or not, is not the one asked for.
        let readable = match framework_id {
            Some(_) => None,
            None => self.readable_frameworks(claims).await?,
        };
        let task = self.master.task_location(framework_id, task_id, readable.as_ref()).await?;
        // As if there were no such task: a stranger learns nothing of the framework.
        let unknown_task = |_| ServerError::not_found("task", "unknown_task", task_id);
        self.may_read_framework(claims, &task.framework_id).await.map_err(unknown_task)?;
        Ok(task)
    }

    /// A framework token acts only on frameworks its principal registered; another
    /// principal's framework gets the 404 of an unknown one.
    async fn authorize_framework(&self, header: &Option<String>, id: &FrameworkId) -> Result<Claims, ServerError> {
        let claims = self.authorize(header, Area::FrameworkApi)?;
        if claims.kind == Kind::Framework {
            match self.master.framework_principal(id).await? {
                Some(principal) if principal != claims.sub => return Err(unknown_framework(id)),
                _ => {}
            }
        }
        Ok(claims)
    }
}

/// The answer about a framework a token may not see: the same as for one that does not exist.
fn unknown_framework(id: &FrameworkId) -> ServerError {
    ServerError::not_found("framework", "unknown_framework", id)
}

/// All routes, with rejections turned into JSON errors.
pub fn routes(ctx: Arc<Ctx>) -> BoxedFilter<(Response,)> {
    let system = system::routes(ctx.clone());
    let frameworks = frameworks::routes(ctx.clone());
    let agents = agents::routes(ctx.clone());
    let operators = operators::routes(ctx);
    system.or(frameworks).unify().or(agents).unify().or(operators).unify().recover(handle_rejection).unify().boxed()
}

async fn handle_rejection(rejection: Rejection) -> Result<Response, Infallible> {
    let (status, code, message) = if rejection.is_not_found() {
        (StatusCode::NOT_FOUND, "not_found", "no such path".to_string())
    } else if rejection.find::<BodyTooLarge>().is_some() {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("request bodies are limited to {MAX_BODY_BYTES} bytes"),
        )
    } else if rejection.find::<BodyUnreadable>().is_some() {
        (StatusCode::BAD_REQUEST, "body_unreadable", "the request body could not be read".to_string())
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this path does not take that method".to_string())
    } else if let Some(e) = rejection.find::<warp::reject::InvalidQuery>() {
        (StatusCode::BAD_REQUEST, "invalid_query", e.to_string())
    } else if let Some(e) = rejection.find::<warp::reject::InvalidHeader>() {
        (StatusCode::BAD_REQUEST, "invalid_header", e.to_string())
    } else {
        (StatusCode::BAD_REQUEST, "bad_request", format!("{rejection:?}"))
    };
    Ok(error_response(status, code, &message))
}
