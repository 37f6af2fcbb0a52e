//! HTTP routes, by audience: `frameworks`, `agents`, `operators` (with the agent maintenance,
//! reservation and volume routes), `leases` (an autoscaler's leases and events), `system` (health, metrics, the document), `logs` (task output,
//! read and followed) and `streams` (Server-Sent Events). [`router`] holds the one list of
//! routes and admits callers by the policy's rules; this module holds what handlers share: the
//! context, parsing, and the mapping of results to answers. A handler parses, calls one master
//! operation with its [`Caller`] and maps the result.

mod agents;
pub mod cors;
mod frameworks;
mod leases;
mod logs;
mod operators;
pub mod router;
mod services;
mod streams;
mod system;

use crate::auth::Keys;
use crate::error::{error_response, ServerError};
use crate::logs::LogRelay;
use crate::master::policy::Caller;
use crate::master::Master;
use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::BodyExt as _;
use router::{route, Call, Route, Router};
use serde::de::DeserializeOwned;
use std::sync::Arc;
use tokio::sync::watch;
use warp::Reply as _;

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

/// What every answer is: a status, headers and a body (whole, or a stream).
pub type Response = hyper::Response<crate::serve::Body>;

type Reply_ = Result<Response, ServerError>;

/// An answer warp made (JSON, event streams), as this server's answer.
fn from_warp(response: warp::reply::Response) -> Response {
    response.map(|body| body.map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>).boxed())
}

fn error(e: ServerError) -> Response {
    from_warp(e.into_response())
}

fn error_reply(status: StatusCode, code: &str, message: &str) -> Response {
    from_warp(error_response(status, code, message))
}

fn status(status: StatusCode) -> Reply_ {
    Ok(from_warp(status.into_response()))
}

fn accepted() -> Reply_ {
    status(StatusCode::ACCEPTED)
}

fn json<T: serde::Serialize>(value: &T) -> Reply_ {
    Ok(from_warp(warp::reply::json(value).into_response()))
}

/// Parses a JSON body.
fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ServerError> {
    serde_json::from_slice(body).map_err(|e| {
        let code = if e.is_syntax() || e.is_eof() { "malformed_json" } else { "invalid_body" };
        ServerError::bad(code, format!("the request body is not valid: {e}"))
    })
}

/// Parses a query into its declared type: a value that does not fit is a 400 `invalid_query`
/// that says which.
fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ServerError> {
    serde_urlencoded::from_str(query)
        .map_err(|e| ServerError::bad("invalid_query", format!("the query is not valid: {e}")))
}

/// Every route of the API. The OpenAPI document lists the same operations: a test compares
/// the two, both ways.
pub fn routes() -> Vec<Route> {
    use Method as M;
    vec![
        route(M::GET, "/healthz", "healthz", system::healthz),
        route(M::GET, "/readyz", "readyz", system::readyz),
        route(M::GET, "/metrics", "metrics", system::metrics),
        route(M::GET, "/openapi.json", "openapi_json", system::openapi_json),
        route(M::POST, "/v1/frameworks", "register_framework", frameworks::register),
        route(M::DELETE, "/v1/frameworks/{id}", "teardown_framework", frameworks::teardown),
        route(M::GET, "/v1/frameworks/{id}/events", "framework_events", frameworks::events),
        route(M::POST, "/v1/frameworks/{id}/accept", "accept", frameworks::accept),
        route(M::POST, "/v1/frameworks/{id}/decline", "decline", frameworks::decline),
        route(M::POST, "/v1/frameworks/{id}/revive", "revive", frameworks::revive),
        route(M::POST, "/v1/frameworks/{id}/suppress", "suppress", frameworks::suppress),
        route(M::POST, "/v1/frameworks/{id}/acknowledge", "acknowledge", frameworks::acknowledge),
        route(M::POST, "/v1/frameworks/{id}/reconcile", "reconcile", frameworks::reconcile),
        route(M::POST, "/v1/frameworks/{id}/tasks/{task_id}/kill", "kill_task", frameworks::kill),
        route(M::PUT, "/v1/frameworks/{id}/demand", "set_demand", frameworks::set_demand),
        route(M::POST, "/v1/agents", "register_agent", agents::register),
        route(M::GET, "/v1/agents/{id}/commands", "agent_commands", agents::commands),
        route(M::POST, "/v1/agents/{id}/updates", "agent_updates", agents::updates),
        route(M::POST, "/v1/agents/{id}/heartbeat", "agent_heartbeat", agents::heartbeat),
        route(M::POST, "/v1/agents/{id}/logs/{request_id}", "agent_log_chunk", agents::log_chunk),
        route(M::GET, "/v1/cluster", "cluster", operators::cluster),
        route(M::GET, "/v1/agents", "list_agents", operators::agents),
        route(M::GET, "/v1/agents/{id}", "get_agent", operators::agent),
        route(M::GET, "/v1/frameworks", "list_frameworks", operators::frameworks),
        route(M::GET, "/v1/frameworks/{id}", "get_framework", operators::framework),
        route(M::GET, "/v1/frameworks/{id}/diagnostics", "framework_diagnostics", operators::diagnostics),
        route(M::GET, "/v1/tasks", "list_tasks", operators::tasks),
        route(M::GET, "/v1/tasks/{task_id}/logs", "task_logs", logs::task_logs),
        route(M::GET, "/v1/offers", "list_offers", operators::offers),
        route(M::GET, "/v1/events", "operator_events", operators::events),
        route(M::GET, "/v1/roles", "list_roles", operators::roles),
        // The rest of the path is the role: `eng/backend` is written as is.
        route(M::PUT, "/v1/roles/{*role}", "set_role", operators::set_role),
        route(M::POST, "/v1/agents/{id}/drain", "drain_agent", operators::drain),
        route(M::POST, "/v1/agents/{id}/deactivate", "deactivate_agent", operators::deactivate),
        route(M::POST, "/v1/agents/{id}/reactivate", "reactivate_agent", operators::reactivate),
        route(M::POST, "/v1/agents/{id}/reserve", "reserve_resources", operators::reserve),
        route(M::POST, "/v1/agents/{id}/unreserve", "unreserve_resources", operators::unreserve),
        route(M::POST, "/v1/agents/{id}/volumes", "create_volume", operators::create_volume),
        route(M::DELETE, "/v1/agents/{id}/volumes/{volume_id}", "destroy_volume", operators::destroy_volume),
        route(M::PUT, "/v1/leases/{name}", "acquire_lease", leases::acquire),
        route(M::GET, "/v1/leases/{name}", "get_lease", leases::get),
        route(M::DELETE, "/v1/leases/{name}", "release_lease", leases::release),
        route(M::POST, "/v1/autoscaler/events", "autoscaler_event", leases::autoscaler_event),
        route(M::GET, "/v1/services", "list_services", services::list),
        route(M::PUT, "/v1/services/{id}", "put_service", services::put),
        route(M::GET, "/v1/services/{id}", "get_service", services::get),
        route(M::DELETE, "/v1/services/{id}", "delete_service", services::delete),
        route(M::POST, "/v1/services/{id}/scale", "scale_service", services::scale),
        route(M::POST, "/v1/services/{id}/restart", "restart_service", services::restart),
        route(M::POST, "/v1/services/{id}/rollback", "rollback_service", services::rollback),
        route(M::GET, "/v1/services/{id}/endpoints", "service_endpoints", services::endpoints),
        route(M::GET, "/v1/deployments", "list_deployments", services::deployments),
        route(M::DELETE, "/v1/deployments/{id}", "cancel_deployment", services::cancel_deployment),
    ]
}

/// The router of [`routes`].
pub fn router() -> Router {
    Router::new(routes())
}
