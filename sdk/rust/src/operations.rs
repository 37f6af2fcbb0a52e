//! One typed method per operation of the API, named as the OpenAPI document names it
//! (`operationId`), so that no caller writes a `/v1/...` path. Requests and answers are the
//! `agora-api` types the server itself uses.

use crate::{ByteStream, Client, ClientError, EventStream};
use agora_api::agent::{AgentRegistered, LogChunkInfo, RegisterAgent, StatusUpdates};
use agora_api::framework::{
    Accept, Acknowledge, Decline, Demand, FrameworkRegistered, Kill, Reconcile, Reconciled, RegisterFramework, Roles,
};
use agora_api::operator::{
    AcquireLease, AgentList, AgentView, AutoscalerEvent, ClusterView, CreateVolume, Diagnostics, DrainAgent,
    FrameworkList, FrameworkView, Lease, LogQuery, OfferList, ReleaseLease, ReserveResources, RoleConfig, RoleList,
    RoleView, TaskFilter, TaskList,
};
use agora_api::services::{
    DeploymentList, DeploymentStarted, Endpoints, Rollback, Scale, ServiceList, ServiceSpec, ServiceView,
};
use agora_api::{AgentId, FrameworkId, TaskId};
use serde::Serialize;

/// A task's output as one read returns it.
#[derive(Clone, Debug, PartialEq)]
pub struct LogChunk {
    /// The bytes, from the offset asked for.
    pub data: bytes::Bytes,
    /// Where the next read should start.
    pub next_offset: u64,
    /// Whether the task has ended, so that nothing past `next_offset` will come.
    pub task_ended: bool,
}

/// `path`, with `query` after a `?` when it has any field.
fn with_query(path: String, query: &impl Serialize) -> Result<String, ClientError> {
    let query = serde_urlencoded::to_string(query).map_err(|e| ClientError::Query(e.to_string()))?;
    Ok(if query.is_empty() { path } else { format!("{path}?{query}") })
}

fn framework(id: &FrameworkId, verb: &str) -> String {
    format!("/v1/frameworks/{id}/{verb}")
}

fn agent(id: &AgentId, verb: &str) -> String {
    format!("/v1/agents/{id}/{verb}")
}

/// Frameworks: registration, offers, tasks and their updates.
impl Client {
    /// `POST /v1/frameworks`: registers a framework, or re-registers one under its id.
    pub async fn register_framework(&self, request: &RegisterFramework) -> Result<FrameworkRegistered, ClientError> {
        self.post("/v1/frameworks", request).await
    }

    /// `DELETE /v1/frameworks/{id}`: kills the framework's tasks and forgets it.
    pub async fn teardown_framework(&self, id: &FrameworkId) -> Result<(), ClientError> {
        self.delete(&format!("/v1/frameworks/{id}")).await
    }

    /// `GET /v1/frameworks/{id}/events`: the framework's event stream, from after
    /// `last_event_id` if given. It does not reconnect by itself.
    pub async fn framework_events(
        &self,
        id: &FrameworkId,
        last_event_id: Option<&str>,
    ) -> Result<EventStream, ClientError> {
        self.events(&framework(id, "events"), last_event_id).await
    }

    /// `POST /v1/frameworks/{id}/accept`: launches tasks on offers, or reserves and creates
    /// volumes with them.
    pub async fn accept(&self, id: &FrameworkId, request: &Accept) -> Result<(), ClientError> {
        self.post_no_content(&framework(id, "accept"), request).await
    }

    /// `POST /v1/frameworks/{id}/decline`.
    pub async fn decline(&self, id: &FrameworkId, request: &Decline) -> Result<(), ClientError> {
        self.post_no_content(&framework(id, "decline"), request).await
    }

    /// `POST /v1/frameworks/{id}/revive`: offers again for `roles` (all when empty), and
    /// their refuse filters cleared.
    pub async fn revive(&self, id: &FrameworkId, roles: &Roles) -> Result<(), ClientError> {
        self.post_no_content(&framework(id, "revive"), roles).await
    }

    /// `POST /v1/frameworks/{id}/suppress`: no more offers for `roles` (all when empty).
    pub async fn suppress(&self, id: &FrameworkId, roles: &Roles) -> Result<(), ClientError> {
        self.post_no_content(&framework(id, "suppress"), roles).await
    }

    /// `POST /v1/frameworks/{id}/acknowledge`: the framework has an update; its agent may stop
    /// sending it.
    pub async fn acknowledge(&self, id: &FrameworkId, request: &Acknowledge) -> Result<(), ClientError> {
        self.post_no_content(&framework(id, "acknowledge"), request).await
    }

    /// `POST /v1/frameworks/{id}/reconcile`: the latest status of the tasks named, or of all.
    pub async fn reconcile(&self, id: &FrameworkId, request: &Reconcile) -> Result<Reconciled, ClientError> {
        self.post(&framework(id, "reconcile"), request).await
    }

    /// `POST /v1/frameworks/{id}/tasks/{task_id}/kill`.
    pub async fn kill_task(&self, id: &FrameworkId, task_id: &TaskId, request: &Kill) -> Result<(), ClientError> {
        self.post_no_content(&framework(id, &format!("tasks/{task_id}/kill")), request).await
    }

    /// `PUT /v1/frameworks/{id}/demand`: declares the framework's work waiting for resources,
    /// replacing what it declared before (an empty list clears it).
    pub async fn set_demand(&self, id: &FrameworkId, demand: &Demand) -> Result<(), ClientError> {
        self.put_no_content(&framework(id, "demand"), demand).await
    }
}

/// Agents: registration, commands, status updates and task output.
impl Client {
    /// `POST /v1/agents`: registers an agent, with the tasks it runs.
    pub async fn register_agent(&self, request: &RegisterAgent) -> Result<AgentRegistered, ClientError> {
        self.post("/v1/agents", request).await
    }

    /// `GET /v1/agents/{id}/commands`: the agent's command stream, from after `last_event_id`.
    pub async fn agent_commands(&self, id: &AgentId, last_event_id: Option<&str>) -> Result<EventStream, ClientError> {
        self.events(&agent(id, "commands"), last_event_id).await
    }

    /// `POST /v1/agents/{id}/heartbeat`.
    pub async fn agent_heartbeat(&self, id: &AgentId) -> Result<(), ClientError> {
        self.post_empty(&agent(id, "heartbeat")).await
    }

    /// `POST /v1/agents/{id}/updates`: task status updates, in order.
    pub async fn agent_updates(&self, id: &AgentId, request: &StatusUpdates) -> Result<(), ClientError> {
        self.post_no_content(&agent(id, "updates"), request).await
    }

    /// `POST /v1/agents/{id}/logs/{request_id}`: the answer to a log read the master asked for.
    pub async fn agent_log_chunk(
        &self,
        id: &AgentId,
        request_id: &str,
        info: &LogChunkInfo,
        data: Vec<u8>,
    ) -> Result<(), ClientError> {
        self.post_bytes(&with_query(agent(id, &format!("logs/{request_id}")), info)?, data).await
    }
}

/// Operators and dashboards: the cluster's state, roles and maintenance.
impl Client {
    /// `GET /v1/cluster`.
    pub async fn cluster(&self) -> Result<ClusterView, ClientError> {
        self.get("/v1/cluster").await
    }

    /// `GET /v1/agents`.
    pub async fn list_agents(&self) -> Result<AgentList, ClientError> {
        self.get("/v1/agents").await
    }

    /// `GET /v1/agents/{id}`.
    pub async fn get_agent(&self, id: &AgentId) -> Result<AgentView, ClientError> {
        self.get(&format!("/v1/agents/{id}")).await
    }

    /// `GET /v1/frameworks`: the frameworks the token may see.
    pub async fn list_frameworks(&self) -> Result<FrameworkList, ClientError> {
        self.get("/v1/frameworks").await
    }

    /// `GET /v1/frameworks/{id}`.
    pub async fn get_framework(&self, id: &FrameworkId) -> Result<FrameworkView, ClientError> {
        self.get(&format!("/v1/frameworks/{id}")).await
    }

    /// `GET /v1/frameworks/{id}/diagnostics`: why the framework is not offered more.
    pub async fn framework_diagnostics(&self, id: &FrameworkId) -> Result<Diagnostics, ClientError> {
        self.get(&framework(id, "diagnostics")).await
    }

    /// `GET /v1/tasks`: the tasks `filter` picks among those the token may see.
    pub async fn list_tasks(&self, filter: &TaskFilter) -> Result<TaskList, ClientError> {
        self.get(&with_query("/v1/tasks".to_string(), filter)?).await
    }

    /// `GET /v1/tasks/{task_id}/logs`: one read of a task's output.
    pub async fn task_logs(&self, task_id: &TaskId, query: &LogQuery) -> Result<LogChunk, ClientError> {
        let (data, headers) = self.get_bytes(&with_query(format!("/v1/tasks/{task_id}/logs"), query)?).await?;
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let next_offset = header("x-agora-next-offset")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| query.offset.unwrap_or(0) + data.len() as u64);
        Ok(LogChunk { data, next_offset, task_ended: header("x-agora-task-ended").as_deref() == Some("true") })
    }

    /// `GET /v1/tasks/{task_id}/logs?follow=true`: a task's output as it is written, until it
    /// ends or the answer breaks.
    pub async fn follow_task_logs(&self, task_id: &TaskId, query: &LogQuery) -> Result<ByteStream, ClientError> {
        let query = LogQuery { follow: Some(true), ..query.clone() };
        self.get_stream(&with_query(format!("/v1/tasks/{task_id}/logs"), &query)?).await
    }

    /// `GET /v1/offers`: the offers outstanding that the token may see.
    pub async fn list_offers(&self) -> Result<OfferList, ClientError> {
        self.get("/v1/offers").await
    }

    /// `GET /v1/events`: the operator event stream, from after `last_event_id`.
    pub async fn operator_events(&self, last_event_id: Option<&str>) -> Result<EventStream, ClientError> {
        self.events("/v1/events", last_event_id).await
    }

    /// `GET /v1/roles`.
    pub async fn list_roles(&self) -> Result<RoleList, ClientError> {
        self.get("/v1/roles").await
    }

    /// `PUT /v1/roles/{role}`: a role's weight and quota.
    pub async fn set_role(&self, role: &str, config: &RoleConfig) -> Result<RoleView, ClientError> {
        self.put(&format!("/v1/roles/{role}"), config).await
    }

    /// `POST /v1/agents/{id}/drain`: offers it to no one, asks its tasks' frameworks to move
    /// them, and kills what is left after the grace period.
    pub async fn drain_agent(&self, id: &AgentId, request: &DrainAgent) -> Result<(), ClientError> {
        self.post_no_content(&agent(id, "drain"), request).await
    }

    /// `POST /v1/agents/{id}/deactivate`: offers it to no one; its tasks run on.
    pub async fn deactivate_agent(&self, id: &AgentId) -> Result<(), ClientError> {
        self.post_no_content(&agent(id, "deactivate"), &serde_json::json!({})).await
    }

    /// `POST /v1/agents/{id}/reactivate`: lifts a drain or a deactivation.
    pub async fn reactivate_agent(&self, id: &AgentId) -> Result<(), ClientError> {
        self.post_no_content(&agent(id, "reactivate"), &serde_json::json!({})).await
    }

    /// `POST /v1/agents/{id}/reserve`: reserves part of the agent for a role.
    pub async fn reserve_resources(&self, id: &AgentId, request: &ReserveResources) -> Result<AgentView, ClientError> {
        self.post(&agent(id, "reserve"), request).await
    }

    /// `POST /v1/agents/{id}/unreserve`.
    pub async fn unreserve_resources(
        &self,
        id: &AgentId,
        request: &ReserveResources,
    ) -> Result<AgentView, ClientError> {
        self.post(&agent(id, "unreserve"), request).await
    }

    /// `POST /v1/agents/{id}/volumes`: a persistent volume on reserved disk.
    pub async fn create_volume(&self, id: &AgentId, request: &CreateVolume) -> Result<AgentView, ClientError> {
        self.post(&agent(id, "volumes"), request).await
    }

    /// `DELETE /v1/agents/{id}/volumes/{volume_id}`.
    pub async fn destroy_volume(&self, id: &AgentId, volume_id: &str) -> Result<(), ClientError> {
        self.delete(&agent(id, &format!("volumes/{volume_id}"))).await
    }
}

/// Operators' tools, such as an autoscaler: named leases, and the decisions they report.
impl Client {
    /// `PUT /v1/leases/{name}`: takes or renews the lease for `request.holder`. Another
    /// holder's unexpired lease is an error of status 409 and code `lease_held`
    /// ([`ClientError::status`], [`ClientError::code`]).
    pub async fn acquire_lease(&self, name: &str, request: &AcquireLease) -> Result<Lease, ClientError> {
        self.put(&format!("/v1/leases/{name}"), request).await
    }

    /// `GET /v1/leases/{name}`: the lease as it is (404 `unknown_lease` if never taken).
    pub async fn get_lease(&self, name: &str) -> Result<Lease, ClientError> {
        self.get(&format!("/v1/leases/{name}")).await
    }

    /// `DELETE /v1/leases/{name}?holder=H`: gives the lease up if `holder` has it.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), ClientError> {
        let query = ReleaseLease { holder: holder.to_string() };
        self.delete(&with_query(format!("/v1/leases/{name}"), &query)?).await
    }

    /// `POST /v1/autoscaler/events`: appends a decision to the operator stream, as an
    /// `autoscaler` event.
    pub async fn autoscaler_event(&self, event: &AutoscalerEvent) -> Result<(), ClientError> {
        self.post_no_content("/v1/autoscaler/events", event).await
    }
}

/// The process itself.
impl Client {
    /// `GET /healthz`: whether the process is up.
    pub async fn healthz(&self) -> Result<(), ClientError> {
        self.get_bytes("/healthz").await.map(drop)
    }

    /// `GET /readyz`: whether the server can serve requests (its store answers).
    pub async fn readyz(&self) -> Result<(), ClientError> {
        self.get_bytes("/readyz").await.map(drop)
    }

    /// `GET /metrics`: the Prometheus text exposition.
    pub async fn metrics(&self) -> Result<String, ClientError> {
        let (body, _) = self.get_bytes("/metrics").await?;
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    /// `PUT /v1/services/{id}`: creates or changes a service; returns the deployment started.
    pub async fn put_service(&self, id: &str, spec: &ServiceSpec) -> Result<DeploymentStarted, ClientError> {
        self.put(&format!("/v1/services/{id}"), spec).await
    }

    /// `GET /v1/services`.
    pub async fn list_services(&self) -> Result<ServiceList, ClientError> {
        self.get("/v1/services").await
    }

    /// `GET /v1/services/{id}`: spec, versions, instances, deployment and waiting reasons.
    pub async fn get_service(&self, id: &str) -> Result<ServiceView, ClientError> {
        self.get(&format!("/v1/services/{id}")).await
    }

    /// `DELETE /v1/services/{id}`: kills its instances, then forgets it.
    pub async fn delete_service(&self, id: &str) -> Result<DeploymentStarted, ClientError> {
        self.delete_json(&format!("/v1/services/{id}")).await
    }

    /// `POST /v1/services/{id}/scale`.
    pub async fn scale_service(&self, id: &str, instances: u32) -> Result<DeploymentStarted, ClientError> {
        self.post(&format!("/v1/services/{id}/scale"), &Scale { instances }).await
    }

    /// `POST /v1/services/{id}/restart`: replaces every instance, by the upgrade strategy.
    pub async fn restart_service(&self, id: &str) -> Result<DeploymentStarted, ClientError> {
        self.post(&format!("/v1/services/{id}/restart"), &serde_json::json!({})).await
    }

    /// `POST /v1/services/{id}/rollback`: to `version`, or the one before the current one.
    pub async fn rollback_service(&self, id: &str, version: Option<u64>) -> Result<DeploymentStarted, ClientError> {
        self.post(&format!("/v1/services/{id}/rollback"), &Rollback { version }).await
    }

    /// `GET /v1/services/{id}/endpoints`: its running, healthy instances.
    pub async fn service_endpoints(&self, id: &str) -> Result<Endpoints, ClientError> {
        self.get(&format!("/v1/services/{id}/endpoints")).await
    }

    /// `GET /v1/deployments`.
    pub async fn list_deployments(&self) -> Result<DeploymentList, ClientError> {
        self.get("/v1/deployments").await
    }

    /// `DELETE /v1/deployments/{id}`: rolls the deployment back.
    pub async fn cancel_deployment(&self, id: &str) -> Result<DeploymentStarted, ClientError> {
        self.delete_json(&format!("/v1/deployments/{id}")).await
    }

    /// `GET /openapi.json`: the document that describes every operation here.
    pub async fn openapi_json(&self) -> Result<serde_json::Value, ClientError> {
        self.get("/openapi.json").await
    }
}
