//! The HTTP interface, described for the OpenAPI document. The functions are never called:
//! each one carries the description of one (method, path) that `agora-server` implements, and a
//! test in the server checks that every one of them reaches a route.
#![allow(dead_code)]

use crate::agent::{AgentRegistered, LogChunkInfo, RegisterAgent, StatusUpdates};
use crate::framework::{
    Accept, Acknowledge, Decline, Demand, FrameworkRegistered, Kill, Reconcile, Reconciled, RegisterFramework, Roles,
};
use crate::ids::{AgentId, FrameworkId, TaskId};
use crate::operator::{
    AcquireLease, AgentList, AgentView, AutoscalerEvent, ClusterView, CreateVolume, Diagnostics, DrainAgent,
    FrameworkList, FrameworkView, Lease, LogQuery, OfferList, ReleaseLease, ReserveResources, RoleConfig, RoleList,
    RoleView, TaskFilter, TaskList,
};
use crate::services::{
    DeploymentList, DeploymentStarted, Endpoints, Rollback, Scale, ServiceList, ServiceSpec, ServiceView,
};
use crate::types::ErrorBody;

/// One event of a `text/event-stream` answer, field by field as the stream carries it: a
/// placeholder for the path macros, which `TypedEvents` replaces by each stream's own union.
#[derive(utoipa::ToSchema)]
pub struct ServerSentEvent {
    /// The event's name; `message` when absent.
    pub event: Option<String>,
    /// The event's JSON payload, as text.
    pub data: String,
    /// The id to resume after, with `Last-Event-ID`.
    pub id: Option<String>,
}

macro_rules! sse_doc {
    () => {
        "A Server-Sent Events stream. Every event has an `id:`; reconnect with `Last-Event-ID` to resume."
    };
}

#[utoipa::path(get, path = "/healthz", tag = "system", responses((status = 200, description = "The process is up", body = String)))]
fn healthz() {}

#[utoipa::path(get, path = "/readyz", tag = "system", responses((status = 200, description = "The server can serve requests", body = String)))]
fn readyz() {}

#[utoipa::path(get, path = "/metrics", tag = "system", responses((status = 200, description = "Prometheus text exposition, made at most once a second", body = String, content_type = "text/plain"), (status = 401, description = "The server has `--metrics-token-file` and the request does not carry that token", body = ErrorBody)))]
fn metrics() {}

#[utoipa::path(get, path = "/openapi.json", tag = "system", responses((status = 200, description = "This document", body = Object)))]
fn openapi_json() {}

#[utoipa::path(post, path = "/v1/frameworks", tag = "frameworks", request_body = RegisterFramework, security(("bearer" = [])),
    responses((status = 200, description = "Registered", body = FrameworkRegistered),
              (status = 400, description = "Bad input", body = ErrorBody),
              (status = 401, description = "No valid token", body = ErrorBody),
              (status = 409, description = "The framework was torn down (`framework_removed`), or its id is another principal's (`framework_id_taken`)", body = ErrorBody)))]
fn register_framework() {}

#[utoipa::path(get, path = "/v1/frameworks", tag = "operators", security(("bearer" = [])),
    responses((status = 200, description = "All frameworks", body = FrameworkList), (status = 401, description = "No valid token", body = ErrorBody)))]
fn list_frameworks() {}

#[utoipa::path(get, path = "/v1/frameworks/{id}", tag = "operators", security(("bearer" = [])), params(("id" = FrameworkId, Path, description = "Framework id")),
    responses((status = 200, description = "One framework", body = FrameworkView), (status = 404, description = "Unknown framework", body = ErrorBody)))]
fn get_framework() {}

#[utoipa::path(delete, path = "/v1/frameworks/{id}", tag = "frameworks", security(("bearer" = [])), params(("id" = FrameworkId, Path, description = "Framework id")),
    description = "Kills the framework's tasks and forgets it; its id cannot register again. An operator may also tear down a framework that has not registered since a master restart, whose tasks agents still report.",
    responses((status = 204, description = "Torn down: its tasks are killed"), (status = 404, description = "Unknown framework", body = ErrorBody),
              (status = 409, description = "The framework is the master's own (`framework_reserved`): delete its services instead", body = ErrorBody)))]
fn teardown_framework() {}

#[utoipa::path(get, path = "/v1/frameworks/{id}/events", tag = "frameworks", security(("bearer" = [])), description = sse_doc!(),
    params(("id" = FrameworkId, Path, description = "Framework id"), ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event")),
    responses((status = 200, description = "Events: subscribed, offers, inverse_offers, rescind, update, failure, error, heartbeat", body = ServerSentEvent, content_type = "text/event-stream"),
              (status = 404, description = "Unknown framework", body = ErrorBody)))]
fn framework_events() {}

#[utoipa::path(get, path = "/v1/events", tag = "operators", security(("bearer" = [])), description = sse_doc!(),
    params(("Last-Event-ID" = Option<String>, Header, description = "Resume after this event")),
    responses((status = 200, description = "Events: agent_added, agent_unreachable, agent_removed, framework_added, framework_removed, task_updated, service_updated, deployment_started, deployment_step, deployment_finished, deployment_failed, endpoints_changed, autoscaler (data: AgentEvent, FrameworkEventData, TaskEvent, ServiceEvent, DeploymentEvent, EndpointsEvent, AutoscalerEvent), heartbeat", body = ServerSentEvent, content_type = "text/event-stream"),
              (status = 401, description = "No valid token", body = ErrorBody)))]
fn operator_events() {}

#[utoipa::path(post, path = "/v1/frameworks/{id}/accept", tag = "frameworks", request_body = Accept, security(("bearer" = [])), params(("id" = FrameworkId, Path, description = "Framework id")),
    responses((status = 202, description = "Applied: all operations or none"), (status = 400, description = "Bad input; nothing changed", body = ErrorBody), (status = 404, description = "Unknown framework", body = ErrorBody)))]
fn accept() {}

#[utoipa::path(post, path = "/v1/frameworks/{id}/decline", tag = "frameworks", request_body = Decline, security(("bearer" = [])), params(("id" = FrameworkId, Path, description = "Framework id")),
    responses((status = 202, description = "Declined"), (status = 400, description = "Bad input; nothing changed", body = ErrorBody), (status = 404, description = "Unknown framework", body = ErrorBody)))]
fn decline() {}

#[utoipa::path(post, path = "/v1/frameworks/{id}/revive", tag = "frameworks", request_body = Roles, security(("bearer" = [])), params(("id" = FrameworkId, Path, description = "Framework id")),
    responses((status = 202, description = "Filters cleared and roles unsuppressed"), (status = 404, description = "Unknown framework", body = ErrorBody)))]
fn revive() {}

#[utoipa::path(post, path = "/v1/frameworks/{id}/suppress", tag = "frameworks", request_body = Roles, security(("bearer" = [])), params(("id" = FrameworkId, Path, description = "Framework id")),
    responses((status = 202, description = "No more offers until revive"), (status = 404, description = "Unknown framework", body = ErrorBody)))]
fn suppress() {}

#[utoipa::path(post, path = "/v1/frameworks/{id}/acknowledge", tag = "frameworks", request_body = Acknowledge, security(("bearer" = [])), params(("id" = FrameworkId, Path, description = "Framework id")),
    responses((status = 202, description = "Acknowledged"), (status = 400, description = "Bad input", body = ErrorBody), (status = 404, description = "Unknown framework", body = ErrorBody), (status = 429, description = "Too many failed authentications from this address, or this token sends the agent too many acknowledgements and kills (`too_many_commands`)", body = ErrorBody, headers(("retry-after" = u64, description = "Seconds to wait")))))]
fn acknowledge() {}

#[utoipa::path(post, path = "/v1/frameworks/{id}/reconcile", tag = "frameworks", request_body = Reconcile, security(("bearer" = [])), params(("id" = FrameworkId, Path, description = "Framework id")),
    responses((status = 200, description = "Latest status of each task", body = Reconciled), (status = 404, description = "Unknown framework", body = ErrorBody)))]
fn reconcile() {}

#[utoipa::path(post, path = "/v1/frameworks/{id}/tasks/{task_id}/kill", tag = "frameworks", request_body = Kill, security(("bearer" = [])),
    params(("id" = FrameworkId, Path, description = "Framework id"), ("task_id" = TaskId, Path, description = "Task id")),
    responses((status = 202, description = "SIGTERM sent; SIGKILL follows after the grace period"), (status = 404, description = "Unknown framework or task", body = ErrorBody), (status = 429, description = "Too many failed authentications from this address, or this token sends the agent too many acknowledgements and kills (`too_many_commands`)", body = ErrorBody, headers(("retry-after" = u64, description = "Seconds to wait")))))]
fn kill_task() {}

#[utoipa::path(put, path = "/v1/frameworks/{id}/demand", tag = "frameworks", request_body = Demand, security(("bearer" = [])), params(("id" = FrameworkId, Path, description = "Framework id")),
    description = "Declares the framework's work waiting for resources, replacing what it declared before (an empty list clears it), so that an autoscaler can see demand no agent has room for. `GET /v1/frameworks/{id}` shows it as `demand`; it goes with the framework. Offers do not depend on it. The framework's own token or an operator.",
    responses((status = 204, description = "Declared"), (status = 400, description = "Bad input: a count, resources, role or constraint that is not valid", body = ErrorBody), (status = 404, description = "Unknown framework", body = ErrorBody)))]
fn set_demand() {}

#[utoipa::path(post, path = "/v1/agents", tag = "agents", request_body = RegisterAgent, security(("bearer" = [])),
    responses((status = 200, description = "Registered", body = AgentRegistered), (status = 400, description = "Bad input", body = ErrorBody)))]
fn register_agent() {}

#[utoipa::path(get, path = "/v1/agents", tag = "operators", security(("bearer" = [])),
    responses((status = 200, description = "All agents", body = AgentList)))]
fn list_agents() {}

#[utoipa::path(get, path = "/v1/agents/{id}", tag = "operators", security(("bearer" = [])), params(("id" = AgentId, Path, description = "Agent id")),
    responses((status = 200, description = "One agent", body = AgentView), (status = 404, description = "Unknown agent", body = ErrorBody)))]
fn get_agent() {}

#[utoipa::path(get, path = "/v1/agents/{id}/commands", tag = "agents", security(("bearer" = [])), description = sse_doc!(),
    params(("id" = AgentId, Path, description = "Agent id"), ("Last-Event-ID" = Option<String>, Header, description = "Resume after this command")),
    responses((status = 200, description = "Commands: launch, kill, acknowledge, shutdown, ping", body = ServerSentEvent, content_type = "text/event-stream"),
              (status = 404, description = "Unknown agent", body = ErrorBody)))]
fn agent_commands() {}

#[utoipa::path(post, path = "/v1/agents/{id}/updates", tag = "agents", request_body = StatusUpdates, security(("bearer" = [])), params(("id" = AgentId, Path, description = "Agent id")),
    responses((status = 202, description = "Forwarded to the frameworks"), (status = 400, description = "Bad input", body = ErrorBody), (status = 404, description = "Unknown agent", body = ErrorBody)))]
fn agent_updates() {}

#[utoipa::path(post, path = "/v1/agents/{id}/heartbeat", tag = "agents", security(("bearer" = [])), params(("id" = AgentId, Path, description = "Agent id")),
    responses((status = 204, description = "Seen"), (status = 404, description = "Unknown agent: register again", body = ErrorBody)))]
fn agent_heartbeat() {}

#[utoipa::path(post, path = "/v1/agents/{id}/logs/{request_id}", tag = "agents", security(("bearer" = [])),
    params(("id" = AgentId, Path, description = "Agent id"), ("request_id" = String, Path, description = "From the read_log command"), LogChunkInfo),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The bytes read"),
    responses((status = 204, description = "Delivered to the waiting reader"), (status = 404, description = "No reader waits for this request", body = ErrorBody)))]
fn agent_log_chunk() {}

#[utoipa::path(get, path = "/v1/tasks/{task_id}/logs", tag = "operators", security(("bearer" = [])),
    description = "A task's stdout or stderr, read from its agent's sandbox. With `follow=true` the answer streams the output as it is written and ends when the task has ended. Without it, one chunk comes back: call again from `X-Agora-Next-Offset` (with `wait_secs` to wait for more) until `X-Agora-Task-Ended` is true and no bytes come back.",
    params(("task_id" = TaskId, Path, description = "Task id"), LogQuery),
    responses((status = 200, description = "The bytes; `X-Agora-Next-Offset` tells where to continue and `X-Agora-Task-Ended` whether more may come", body = Vec<u8>, content_type = "application/octet-stream"),
              (status = 404, description = "Unknown task", body = ErrorBody),
              (status = 409, description = "The agent has not opened its command stream (`agent_not_connected`), or refused to read the file because it is not a regular file of the task's user, such as a link or a FIFO the task put in its place (`log_refused`, with the reason)", body = ErrorBody),
              (status = 504, description = "The agent did not answer in time", body = ErrorBody)))]
fn task_logs() {}

#[utoipa::path(get, path = "/v1/cluster", tag = "operators", security(("bearer" = [])),
    responses((status = 200, description = "Totals and counts", body = ClusterView)))]
fn cluster() {}

#[utoipa::path(get, path = "/v1/tasks", tag = "operators", security(("bearer" = [])),
    params(TaskFilter),
    responses((status = 200, description = "Active and recently completed tasks", body = TaskList), (status = 400, description = "Bad filter", body = ErrorBody)))]
fn list_tasks() {}

#[utoipa::path(get, path = "/v1/offers", tag = "operators", security(("bearer" = [])),
    responses((status = 200, description = "Outstanding offers", body = OfferList)))]
fn list_offers() {}

/// The OpenAPI document of Agora's native API.
#[utoipa::path(get, path = "/v1/roles", tag = "operators", security(("bearer" = [])),
    description = "Every role configured or used by a framework, with its weight, quota and what it holds.",
    responses((status = 200, description = "All roles", body = RoleList)))]
fn list_roles() {}

#[utoipa::path(put, path = "/v1/roles/{role}", tag = "operators", request_body = RoleConfig, security(("bearer" = [])),
    params(("role" = String, Path, description = "The role; a hierarchical role such as `eng/backend` is written as is (`/v1/roles/eng/backend`)")),
    description = "Sets a role's weight and quota, replacing what was set. Operators only.",
    responses((status = 200, description = "The role as set", body = RoleView),
              (status = 400, description = "Bad input: an invalid role, weight or quota", body = ErrorBody)))]
fn set_role() {}

#[utoipa::path(get, path = "/v1/frameworks/{id}/diagnostics", tag = "operators", security(("bearer" = [])), params(("id" = FrameworkId, Path, description = "Framework id")),
    description = "Why the framework is not offered more right now: not connected, suppressed, agents filtered after declines, a quota limit reached, resources kept for other roles' guarantees, no agents, nothing free (with the largest free slot), or offers waiting on it. `agora why FRAMEWORK` prints it.",
    responses((status = 200, description = "The reasons that apply", body = Diagnostics), (status = 404, description = "Unknown framework", body = ErrorBody)))]
fn framework_diagnostics() {}

#[utoipa::path(post, path = "/v1/agents/{id}/drain", tag = "operators", request_body = DrainAgent, security(("bearer" = [])), params(("id" = AgentId, Path, description = "Agent id")),
    description = "Drains an agent: it is offered to no one, its outstanding offers are rescinded, the frameworks with tasks on it get an `inverse_offers` event, and the tasks still on it after the grace period are killed. Operators only.",
    responses((status = 202, description = "Draining"), (status = 400, description = "Bad input", body = ErrorBody), (status = 404, description = "Unknown agent", body = ErrorBody)))]
fn drain_agent() {}

#[utoipa::path(post, path = "/v1/agents/{id}/deactivate", tag = "operators", security(("bearer" = [])), params(("id" = AgentId, Path, description = "Agent id")),
    description = "Deactivates an agent: it is offered to no one and its outstanding offers are rescinded; its tasks run on. Operators only.",
    responses((status = 202, description = "Deactivated"), (status = 404, description = "Unknown agent", body = ErrorBody)))]
fn deactivate_agent() {}

#[utoipa::path(post, path = "/v1/agents/{id}/reactivate", tag = "operators", security(("bearer" = [])), params(("id" = AgentId, Path, description = "Agent id")),
    description = "Lifts a drain or a deactivation: the agent is offered again, and the inverse offers of a drain are rescinded. Operators only.",
    responses((status = 202, description = "Active again"), (status = 404, description = "Unknown agent", body = ErrorBody)))]
fn reactivate_agent() {}

#[utoipa::path(post, path = "/v1/agents/{id}/reserve", tag = "operators", request_body = ReserveResources, security(("bearer" = [])), params(("id" = AgentId, Path, description = "Agent id")),
    description = "Reserves unreserved resources of an agent for a role, with labels: from then on they are offered only to that role and the roles below it. The agent's outstanding offers are rescinded. Operators only.",
    responses((status = 200, description = "The agent with its reservations", body = AgentView), (status = 400, description = "Bad input, or not that much unreserved and unused", body = ErrorBody), (status = 404, description = "Unknown agent", body = ErrorBody)))]
fn reserve_resources() {}

#[utoipa::path(post, path = "/v1/agents/{id}/unreserve", tag = "operators", request_body = ReserveResources, security(("bearer" = [])), params(("id" = AgentId, Path, description = "Agent id")),
    description = "Gives back dynamically reserved resources of a role, newest reservation first; what tasks use cannot be given back. Operators only.",
    responses((status = 200, description = "The agent with its reservations", body = AgentView), (status = 400, description = "Bad input, or not that much reserved and unused", body = ErrorBody), (status = 404, description = "Unknown agent", body = ErrorBody)))]
fn unreserve_resources() {}

#[utoipa::path(post, path = "/v1/agents/{id}/volumes", tag = "operators", request_body = CreateVolume, security(("bearer" = [])), params(("id" = AgentId, Path, description = "Agent id")),
    description = "Makes a persistent volume on a role's reserved disk that no task and no other volume uses. It is offered to the role, in offers of its reservation, whenever no task uses it. Operators only.",
    responses((status = 200, description = "The agent with its volumes", body = AgentView), (status = 400, description = "Bad input, a volume of that id exists, or not that much reserved disk unused", body = ErrorBody), (status = 404, description = "Unknown agent", body = ErrorBody)))]
fn create_volume() {}

#[utoipa::path(delete, path = "/v1/agents/{id}/volumes/{volume_id}", tag = "operators", security(("bearer" = [])), params(("id" = AgentId, Path, description = "Agent id"), ("volume_id" = String, Path, description = "Volume id")),
    description = "Destroys a persistent volume that no live task uses: the agent deletes its files, and its disk goes back to the reservation. Operators only.",
    responses((status = 200, description = "The agent with its volumes", body = AgentView), (status = 400, description = "A live task uses the volume", body = ErrorBody), (status = 404, description = "Unknown agent or volume", body = ErrorBody)))]
fn destroy_volume() {}

#[utoipa::path(put, path = "/v1/leases/{name}", tag = "operators", request_body = AcquireLease, security(("bearer" = [])),
    params(("name" = String, Path, description = "The lease's name: 1 to 128 characters of `A-Z a-z 0-9 . _ -`, not `.` or `..`")),
    description = "Takes or renews a named lease, so that of several replicas of a tool (such as an autoscaler) one acts at a time. A lease that is free, expired, released or already the holder's is given to the holder for `ttl_secs` from now, by the server's clock; taking it (rather than renewing it unexpired) raises its epoch. These leases are the operators' own: they have nothing to do with the allocator's. Operators only.",
    responses((status = 200, description = "Taken or renewed: the lease as it now is", body = Lease),
              (status = 400, description = "A bad name, holder or `ttl_secs`", body = ErrorBody),
              (status = 409, description = "Another holder has it, unexpired (`lease_held`); the message names the holder and when the lease expires", body = ErrorBody)))]
fn acquire_lease() {}

#[utoipa::path(get, path = "/v1/leases/{name}", tag = "operators", security(("bearer" = [])),
    params(("name" = String, Path, description = "The lease's name")),
    responses((status = 200, description = "The lease: its holder, epoch and expiry (in the past once it expired or was released)", body = Lease),
              (status = 404, description = "No lease of that name was ever taken (`unknown_lease`)", body = ErrorBody)))]
fn get_lease() {}

#[utoipa::path(delete, path = "/v1/leases/{name}", tag = "operators", security(("bearer" = [])),
    params(("name" = String, Path, description = "The lease's name"), ReleaseLease),
    description = "Gives the lease up if `holder` has it, so that another holder may take it at once. Releasing a lease the holder does not have changes nothing. Operators only.",
    responses((status = 204, description = "Released, or not the holder's")))]
fn release_lease() {}

#[utoipa::path(post, path = "/v1/autoscaler/events", tag = "operators", request_body = AutoscalerEvent, security(("bearer" = [])),
    description = "Appends an autoscaler's decision to the operator stream (`GET /v1/events`) as an `autoscaler` event, so that operators follow what it did beside what the cluster did. Operators only.",
    responses((status = 204, description = "Appended"), (status = 400, description = "Bad input", body = ErrorBody)))]
fn autoscaler_event() {}

#[utoipa::path(put, path = "/v1/services/{id}", tag = "services", request_body = ServiceSpec, security(("bearer" = [])), params(("id" = String, Path, description = "Service id: a DNS label (lowercase letters, digits, `-`)")),
    description = "Creates or updates a service. A change to its task, role or constraints makes a new version, rolled out by its upgrade strategy; a change of `instances` alone scales it. A deployment under way is replaced by the new one, which starts from where the service is. Operators only.",
    responses((status = 200, description = "The version and the deployment started (none when nothing changed)", body = DeploymentStarted), (status = 400, description = "Bad spec", body = ErrorBody), (status = 409, description = "The service is being deleted", body = ErrorBody)))]
fn put_service() {}

#[utoipa::path(get, path = "/v1/services", tag = "services", security(("bearer" = [])),
    responses((status = 200, description = "Every service", body = ServiceList)))]
fn list_services() {}

#[utoipa::path(get, path = "/v1/services/{id}", tag = "services", security(("bearer" = [])), params(("id" = String, Path, description = "Service id")),
    responses((status = 200, description = "The service: spec, versions, instances, deployment, and why instances wait", body = ServiceView), (status = 404, description = "Unknown service", body = ErrorBody)))]
fn get_service() {}

#[utoipa::path(delete, path = "/v1/services/{id}", tag = "services", security(("bearer" = [])), params(("id" = String, Path, description = "Service id")),
    description = "Kills the service's instances, then forgets it. Operators only.",
    responses((status = 200, description = "The deployment that stops it", body = DeploymentStarted), (status = 404, description = "Unknown service", body = ErrorBody)))]
fn delete_service() {}

#[utoipa::path(post, path = "/v1/services/{id}/scale", tag = "services", request_body = Scale, security(("bearer" = [])), params(("id" = String, Path, description = "Service id")),
    description = "Changes the instance count only. Operators only.",
    responses((status = 200, description = "The deployment started", body = DeploymentStarted), (status = 404, description = "Unknown service", body = ErrorBody), (status = 409, description = "The service is being deleted", body = ErrorBody)))]
fn scale_service() {}

#[utoipa::path(post, path = "/v1/services/{id}/restart", tag = "services", security(("bearer" = [])), params(("id" = String, Path, description = "Service id")),
    description = "Replaces every instance by the upgrade strategy, with the same spec under a new version. Operators only.",
    responses((status = 200, description = "The deployment started", body = DeploymentStarted), (status = 404, description = "Unknown service", body = ErrorBody), (status = 409, description = "The service is being deleted", body = ErrorBody)))]
fn restart_service() {}

#[utoipa::path(post, path = "/v1/services/{id}/rollback", tag = "services", request_body = Rollback, security(("bearer" = [])), params(("id" = String, Path, description = "Service id")),
    description = "Goes back to a kept version (by default the one before the current one): its spec, under its own version number, so that its instances still running are kept. Operators only.",
    responses((status = 200, description = "The deployment started", body = DeploymentStarted), (status = 400, description = "No such version kept, or none before the current one", body = ErrorBody), (status = 404, description = "Unknown service", body = ErrorBody), (status = 409, description = "The service is being deleted", body = ErrorBody)))]
fn rollback_service() {}

#[utoipa::path(get, path = "/v1/services/{id}/endpoints", tag = "services", security(("bearer" = [])), params(("id" = String, Path, description = "Service id")),
    description = "The instances that are running and healthy, with their host and ports: what DNS answers for the service.",
    responses((status = 200, description = "The endpoints", body = Endpoints), (status = 404, description = "Unknown service", body = ErrorBody)))]
fn service_endpoints() {}

#[utoipa::path(get, path = "/v1/deployments", tag = "services", security(("bearer" = [])),
    responses((status = 200, description = "The deployments under way", body = DeploymentList)))]
fn list_deployments() {}

#[utoipa::path(delete, path = "/v1/deployments/{id}", tag = "services", security(("bearer" = [])), params(("id" = String, Path, description = "Deployment id")),
    description = "Cancels a deployment by rolling its service back to the version and instance count it started from (a new service is deleted). Operators only.",
    responses((status = 200, description = "The deployment that rolls it back", body = DeploymentStarted), (status = 404, description = "No such deployment under way", body = ErrorBody), (status = 409, description = "Its service is being deleted", body = ErrorBody)))]
fn cancel_deployment() {}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "Agora", description = "Agora's native API: frameworks, agents and operators.", license(name = "Apache-2.0")),
    modifiers(&BearerAuth, &CommonResponses, &TypedEvents),
    paths(
        healthz, readyz, metrics, openapi_json,
        register_framework, list_frameworks, get_framework, teardown_framework, framework_events, operator_events,
        accept, decline, revive, suppress, acknowledge, reconcile, kill_task, set_demand,
        register_agent, list_agents, get_agent, agent_commands, agent_updates, agent_heartbeat, agent_log_chunk,
        cluster, list_tasks, list_offers, task_logs, list_roles, set_role, framework_diagnostics,
        drain_agent, deactivate_agent, reactivate_agent, reserve_resources, unreserve_resources,
        create_volume, destroy_volume, acquire_lease, get_lease, release_lease, autoscaler_event,
        put_service, list_services, get_service, delete_service, scale_service, restart_service, rollback_service,
        service_endpoints, list_deployments, cancel_deployment,
    ),
    components(schemas(
        crate::framework::Subscribed, crate::framework::Offers, crate::framework::InverseOffers, crate::framework::Rescind, crate::framework::Update,
        crate::framework::Failure, crate::agent::LaunchCommand, crate::agent::KillCommand, crate::agent::AcknowledgeCommand, crate::agent::ReadLogCommand, crate::agent::DestroyVolumeCommand,
        crate::operator::AgentEvent, crate::operator::FrameworkEventData, crate::operator::TaskEvent,
        crate::services::ServiceEvent, crate::services::DeploymentEvent, crate::services::EndpointsEvent,
        crate::operator::AutoscalerEvent,
    ))
)]
pub struct ApiDoc;

struct BearerAuth;

/// The streams' answers, typed: each is `oneOf` its events with a discriminator on `event`
/// (see `crate::streams`), in place of the generic [`ServerSentEvent`].
struct TypedEvents;

impl utoipa::Modify for TypedEvents {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (_, stream) in &crate::streams::STREAMS {
            components.schemas.extend(crate::streams::schemas(stream));
        }
        for (path, stream) in &crate::streams::STREAMS {
            let Some(item) = openapi.paths.paths.get_mut(*path) else { continue };
            let Some(get) = item.get.as_mut() else { continue };
            let Some(utoipa::openapi::RefOr::T(ok)) = get.responses.responses.get_mut("200") else { continue };
            if let Some(content) = ok.content.get_mut("text/event-stream") {
                content.schema = Some(utoipa::openapi::Ref::from_schema_name(stream.union).into());
            }
        }
        // The placeholder the path macros name, replaced above by each stream's union.
        if let Some(components) = openapi.components.as_mut() {
            components.schemas.remove("ServerSentEvent");
        }
    }
}

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

/// The answers any operation can give besides its own, added to every operation so that clients
/// (and schemathesis) know them: 429 from the per-address limit on failed authentications; for
/// authenticated operations 401, 403 and 503 (the state store did not answer); and 400 where a
/// body or a path parameter can be malformed.
struct CommonResponses;

impl utoipa::Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::ParameterIn;
        use utoipa::openapi::{ContentBuilder, HeaderBuilder, Ref, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new().description(description).content(
                "application/json",
                ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build(),
            )
        };
        let too_many = error("Too many failed authentications from this address")
            .header(
                "retry-after",
                HeaderBuilder::new()
                    .schema(utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::Type::Integer))
                    .description(Some("Seconds to wait"))
                    .build(),
            )
            .build();
        for item in openapi.paths.paths.values_mut() {
            let operations = [&mut item.get, &mut item.post, &mut item.put, &mut item.delete];
            for operation in operations.into_iter().flatten() {
                let authenticated = operation.security.is_some();
                let has_input = operation.request_body.is_some()
                    || operation.parameters.iter().flatten().any(|p| {
                        matches!(p.parameter_in, ParameterIn::Path | ParameterIn::Query | ParameterIn::Header)
                    });
                let responses = &mut operation.responses.responses;
                let mut add = |status: &str, response: utoipa::openapi::Response| {
                    responses.entry(status.to_string()).or_insert(response.into());
                };
                if has_input {
                    add("400", error("Bad input; nothing changed").build());
                }
                if authenticated {
                    add("401", error("No valid token").build());
                    add("403", error("The token may not do this").build());
                    add("503", error("The state store did not answer; try again").build());
                }
                add("429", too_many.clone());
            }
        }
    }
}
