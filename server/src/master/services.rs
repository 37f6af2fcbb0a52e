//! Services as the API sees them: create, change, scale, restart, roll back and delete (each
//! a deployment the scheduler in `crate::services` carries out), and the views, with why
//! instances wait.

use super::leader::{free_slot, Snapshot};
use super::records::{key, BackoffState, DeploymentRecord, ServiceRecord, TaskRecord};
use super::*;
use crate::services::{self as scheduler, constraints, plan};
use agora_api::operator::{AgentState, OperatorEvent};
use agora_api::services::{
    DeploymentEvent, DeploymentList, DeploymentStarted, DeploymentStep, DeploymentView, Endpoints, InstanceView,
    Rollback, ServiceEvent, ServiceSpec, ServiceStatus, ServiceVersion, ServiceView, WaitingReason,
};
use std::collections::HashMap;

/// Versions kept per service, for rollbacks.
const VERSIONS_KEPT: usize = 10;
/// The most instances a service may ask for.
pub const MAX_INSTANCES: u32 = 10_000;
/// The longest backoff or unreachable time a spec may name: a week.
const MAX_SPEC_SECS: f64 = 604_800.0;

/// Whether `id` may name a service: a DNS label (lowercase letters, digits and `-`, neither
/// first nor last), so that it is a name in DNS as it is.
fn is_dns_label(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 63
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
        && !id.ends_with('-')
}

fn check_service_id(id: &str) -> Result<(), ServerError> {
    if is_dns_label(id) {
        Ok(())
    } else {
        Err(ServerError::bad(
            "invalid_id",
            format!(
                "service id `{}` must be a DNS label: 1 to 63 lowercase letters, digits and `-`, not first or last",
                id.escape_debug()
            ),
        ))
    }
}

fn invalid(message: String) -> ServerError {
    ServerError::bad("invalid_service", message)
}

/// Checks a spec whole, including the task its instances would run.
fn validate_spec(id: &str, spec: &ServiceSpec) -> Result<(), ServerError> {
    if spec.instances > MAX_INSTANCES {
        return Err(invalid(format!("instances must be at most {MAX_INSTANCES}")));
    }
    check_role(&spec.role)?;
    constraints::parse_all(&spec.constraints).map_err(|m| ServerError::bad("invalid_constraint", m))?;
    let u = &spec.upgrade_strategy;
    let share = |v: f64| v.is_finite() && (0.0..=1.0).contains(&v);
    if !share(u.minimum_health_capacity) || !share(u.maximum_over_capacity) {
        return Err(invalid("the upgrade strategy's capacities are shares between 0 and 1".into()));
    }
    if u.minimum_health_capacity >= 1.0 && u.maximum_over_capacity <= 0.0 {
        return Err(invalid(
            "minimum_health_capacity 1 with maximum_over_capacity 0 leaves no room to start a new instance".into(),
        ));
    }
    let b = &spec.backoff;
    let secs = |v: f64| v.is_finite() && (0.0..=MAX_SPEC_SECS).contains(&v);
    if !secs(b.seconds) || !secs(b.max_launch_delay_secs) || !b.factor.is_finite() || !(1.0..=100.0).contains(&b.factor)
    {
        return Err(invalid("the backoff's seconds are at most a week, and its factor between 1 and 100".into()));
    }
    let r = &spec.unreachable_strategy;
    if !secs(r.inactive_after_secs) || !secs(r.expunge_after_secs) || r.expunge_after_secs < r.inactive_after_secs {
        return Err(invalid(
            "the unreachable strategy's times are at most a week, and expunge_after_secs is not before inactive_after_secs"
                .into(),
        ));
    }
    let t = &spec.task;
    if !t.resources.ports.is_empty() {
        return Err(invalid("ask for ports with the task's `ports`, not in its resources".into()));
    }
    let mut names = std::collections::HashSet::new();
    for port in &t.ports {
        let label = is_dns_label(&port.name) && port.name.starts_with(|c: char| c.is_ascii_lowercase());
        if !label || !names.insert(&port.name) {
            return Err(invalid(format!(
                "port name `{}` must be a DNS label starting with a letter, once per service",
                port.name.escape_debug()
            )));
        }
    }
    if t.ports.len() > 16 {
        return Err(invalid("at most 16 ports".into()));
    }
    if let Some(check) = &spec.readiness_check {
        let bad = |m: &str| Err(ServerError::bad("invalid_readiness_check", m.to_string()));
        if !t.ports.iter().any(|p| p.name == check.port_name) {
            return bad("the readiness check's port_name must name one of the task's ports");
        }
        if !check.path.starts_with('/')
            || check.path.len() > 2048
            || check.path.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return bad("the readiness check's path must start with `/`, without spaces");
        }
        let secs = |v: f64| v.is_finite() && v > 0.0 && v <= 86_400.0;
        if !secs(check.timeout_secs) || !secs(check.interval_secs) || check.interval_secs < 0.1 {
            return bad("the readiness check's interval (at least 0.1 s) and timeout are seconds up to a day");
        }
        let codes = &check.http_status_codes_for_ready;
        if codes.is_empty() || codes.len() > 16 || codes.iter().any(|c| !(100..=599).contains(c)) {
            return bad("http_status_codes_for_ready takes 1 to 16 HTTP status codes");
        }
    }
    if t.command.is_none() && t.container.is_none() {
        return Err(invalid("the task needs a command, or a container whose image has one".into()));
    }
    if let Some(label) = t.labels.keys().find(|k| k.starts_with("agora.")) {
        return Err(invalid(format!("label `{}`: labels starting `agora.` are the scheduler's", label.escape_debug())));
    }
    // The task an instance would run, checked as any launch is.
    let sample = ServiceRecord {
        spec: spec.clone(),
        version: 1,
        next_version: 2,
        versions: Vec::new(),
        deployment: None,
        backoff: BackoffState::default(),
        deleting: false,
        unplaced: 0,
    };
    let ports: Vec<u16> = (0..t.ports.len() as u16).map(|i| 31_000 + i).collect();
    let task = scheduler::instance_task(id, &sample, &AgentId::from("sample"), &ports, 0.0);
    validate_task(&task)
}

/// Whether going from `before` to `after` needs new instances: a change to what they run or
/// where, not to how many or how they are rolled.
fn needs_new_version(before: &ServiceSpec, after: &ServiceSpec) -> bool {
    before.task != after.task || before.role != after.role || before.constraints != after.constraints
}

/// A deployment's view, with its progress: healthy new instances, and instances left to stop.
pub(crate) fn deployment_view(service_id: &str, d: &DeploymentRecord, progress: (u32, u32)) -> DeploymentView {
    let (healthy, left) = progress;
    let stop = d.stop_target.unwrap_or(left);
    DeploymentView {
        id: d.id.clone(),
        service_id: service_id.to_string(),
        from_version: d.from_version,
        from_instances: d.from_instances,
        to_version: d.to_version,
        to_instances: d.to_instances,
        started_at: d.started_at,
        steps: vec![
            DeploymentStep {
                action: "start_instances".into(),
                target: d.to_instances,
                done: healthy.min(d.to_instances),
            },
            DeploymentStep { action: "stop_instances".into(), target: stop, done: stop.saturating_sub(left) },
        ],
    }
}

/// What a change did, for the `service_updated` event.
type Change = &'static str;

impl Master {
    /// The services, with their records' versions.
    pub(crate) async fn load_services(&self) -> Result<Vec<(String, Loaded<ServiceRecord>)>, ServerError> {
        let mut ids = self.store.members(key::SERVICES).await?;
        ids.sort();
        let keys: Vec<String> = ids.iter().map(key::service).collect();
        let records = self.load_many::<ServiceRecord>(&keys).await?;
        Ok(ids.into_iter().zip(records).filter_map(|(id, r)| r.map(|r| (id, r))).collect())
    }

    async fn service_record(&self, id: &str) -> Result<Loaded<ServiceRecord>, ServerError> {
        check_service_id(id)?;
        self.load(&key::service(id)).await?.ok_or_else(|| ServerError::not_found("service", "unknown_service", id))
    }

    /// Changes a service (or makes it, where `change` takes `None`) in one transaction: the
    /// new record, a deployment if its version or count changed, and the events.
    async fn change_service<F>(&self, id: &str, change: F) -> Result<DeploymentStarted, ServerError>
    where
        F: Fn(Option<&ServiceRecord>) -> Result<(ServiceRecord, Change), ServerError> + Send + Sync,
    {
        check_service_id(id)?;
        transact!(self, {
            let loaded = self.load::<ServiceRecord>(&key::service(id)).await?;
            let before = loaded.as_ref().map(|l| &l.value);
            if before.is_some_and(|b| b.deleting) {
                return Err(ServerError::Conflict {
                    code: "service_deleting",
                    message: format!("service {id} is being deleted; wait until it is gone"),
                });
            }
            let (mut record, what) = change(before)?;
            let mut txn = Txn::default();
            txn.check(key::service(id), loaded.as_ref().map_or(0, |l| l.version));
            let target = |r: &ServiceRecord| (r.version, if r.deleting { 0 } else { r.spec.instances });
            let deployment_id = if before.map(target) != Some(target(&record)) {
                if let Some(old) = before.and_then(|b| b.deployment.as_ref()) {
                    let view = deployment_view(id, old, old.announced);
                    let reason = Some("replaced by a newer deployment before it finished".to_string());
                    push_operator_event(
                        &mut txn,
                        &OperatorEvent::DeploymentFailed(DeploymentEvent { deployment: view, reason }),
                    );
                }
                let deployment = DeploymentRecord {
                    id: agora_api::UpdateId::random().0,
                    from_version: before.map(|b| b.version),
                    from_instances: before.map_or(0, |b| b.spec.instances),
                    to_version: record.version,
                    to_instances: target(&record).1,
                    started_at: now_secs(),
                    stop_target: None,
                    announced: (0, 0),
                };
                let view = deployment_view(id, &deployment, (0, 0));
                push_operator_event(
                    &mut txn,
                    &OperatorEvent::DeploymentStarted(DeploymentEvent { deployment: view, reason: None }),
                );
                let deployment_id = deployment.id.clone();
                record.deployment = Some(deployment);
                Some(deployment_id)
            } else {
                record.deployment = before.and_then(|b| b.deployment.clone());
                None
            };
            let event = ServiceEvent { service_id: id.to_string(), version: record.version, change: what.to_string() };
            push_operator_event(&mut txn, &OperatorEvent::ServiceUpdated(event));
            txn.put(key::service(id), encode(&record));
            txn.op(Op::SetAdd(key::SERVICES.to_string(), id.to_string()));
            txn.op(Op::Wake(key::SERVICES_WAKE.to_string()));
            let started = DeploymentStarted { service_id: id.to_string(), version: record.version, deployment_id };
            Ok((txn, started))
        })
    }

    /// `PUT /v1/services/{id}`.
    pub async fn put_service(&self, id: &str, spec: ServiceSpec) -> Result<DeploymentStarted, ServerError> {
        check_service_id(id)?;
        validate_spec(id, &spec)?;
        self.change_service(id, |before| {
            let now = now_secs();
            let Some(before) = before else {
                let version = ServiceVersion { version: 1, created_at: now, spec: spec.clone() };
                let record = ServiceRecord {
                    spec: spec.clone(),
                    version: 1,
                    next_version: 2,
                    versions: vec![version],
                    deployment: None,
                    backoff: BackoffState::default(),
                    deleting: false,
                    unplaced: 0,
                };
                return Ok((record, "created"));
            };
            let mut record = before.clone();
            record.spec = spec.clone();
            if needs_new_version(&before.spec, &spec) {
                new_version(&mut record, now);
                return Ok((record, "updated"));
            }
            if let Some(current) = record.versions.iter_mut().find(|v| v.version == record.version) {
                current.spec = spec.clone();
            }
            Ok((record, if before.spec.instances != spec.instances { "scaled" } else { "updated" }))
        })
        .await
    }

    /// `POST /v1/services/{id}/scale`.
    pub async fn scale_service(&self, id: &str, instances: u32) -> Result<DeploymentStarted, ServerError> {
        if instances > MAX_INSTANCES {
            return Err(invalid(format!("instances must be at most {MAX_INSTANCES}")));
        }
        self.change_service(id, |before| {
            let mut record = before.cloned().ok_or_else(|| ServerError::not_found("service", "unknown_service", id))?;
            record.spec.instances = instances;
            if let Some(current) = record.versions.iter_mut().find(|v| v.version == record.version) {
                current.spec.instances = instances;
            }
            Ok((record, "scaled"))
        })
        .await
    }

    /// `POST /v1/services/{id}/restart`: the same spec under a new version.
    pub async fn restart_service(&self, id: &str) -> Result<DeploymentStarted, ServerError> {
        self.change_service(id, |before| {
            let mut record = before.cloned().ok_or_else(|| ServerError::not_found("service", "unknown_service", id))?;
            new_version(&mut record, now_secs());
            Ok((record, "restarted"))
        })
        .await
    }

    /// `POST /v1/services/{id}/rollback`: a kept version's spec, under its own number.
    pub async fn rollback_service(&self, id: &str, req: Rollback) -> Result<DeploymentStarted, ServerError> {
        self.change_service(id, |before| {
            let mut record = before.cloned().ok_or_else(|| ServerError::not_found("service", "unknown_service", id))?;
            let target =
                match req.version {
                    Some(v) => record.versions.iter().find(|k| k.version == v).cloned().ok_or_else(|| {
                        ServerError::bad("unknown_version", format!("service {id} keeps no version {v}"))
                    })?,
                    None => record.versions.iter().find(|k| k.version != record.version).cloned().ok_or_else(|| {
                        ServerError::bad(
                            "unknown_version",
                            format!("service {id} keeps no version before {}", record.version),
                        )
                    })?,
                };
            rolled_back_to(&mut record, &target);
            Ok((record, "rolled_back"))
        })
        .await
    }

    /// `DELETE /v1/services/{id}`: its instances are killed, then it is forgotten.
    pub async fn delete_service(&self, id: &str) -> Result<DeploymentStarted, ServerError> {
        // Deleting again answers with the deletion under way.
        let record = self.service_record(id).await?.value;
        if record.deleting {
            let deployment_id = record.deployment.map(|d| d.id);
            return Ok(DeploymentStarted { service_id: id.to_string(), version: record.version, deployment_id });
        }
        self.change_service(id, |before| {
            let mut record = before.cloned().ok_or_else(|| ServerError::not_found("service", "unknown_service", id))?;
            record.deleting = true;
            Ok((record, "deleting"))
        })
        .await
    }

    /// `DELETE /v1/deployments/{id}`: back to where the deployment started.
    pub async fn cancel_deployment(&self, deployment_id: &str) -> Result<DeploymentStarted, ServerError> {
        let services = self.load_services().await?;
        let found = services
            .iter()
            .find(|(_, s)| s.value.deployment.as_ref().is_some_and(|d| d.id == deployment_id))
            .ok_or_else(|| ServerError::not_found("deployment", "unknown_deployment", deployment_id))?;
        let (service_id, from) = (found.0.clone(), found.1.value.deployment.clone());
        let Some(from) = from else {
            return Err(ServerError::not_found("deployment", "unknown_deployment", deployment_id));
        };
        let Some(from_version) = from.from_version else {
            return self.delete_service(&service_id).await;
        };
        self.change_service(&service_id, |before| {
            let mut record =
                before.cloned().ok_or_else(|| ServerError::not_found("service", "unknown_service", &service_id))?;
            if record.deployment.as_ref().map(|d| d.id.as_str()) != Some(deployment_id) {
                return Err(ServerError::not_found("deployment", "unknown_deployment", deployment_id));
            }
            if let Some(target) = record.versions.iter().find(|v| v.version == from_version).cloned() {
                rolled_back_to(&mut record, &target);
            }
            record.spec.instances = from.from_instances;
            Ok((record, "rolled_back"))
        })
        .await
    }

    /// `GET /v1/services`.
    pub async fn services(&self) -> Result<Vec<ServiceView>, ServerError> {
        let services = self.load_services().await?;
        let snapshot = self.snapshot().await?;
        let mut views = Vec::new();
        for (id, record) in services {
            let ready = scheduler::load_ready(self, &id, &record.value.spec).await?;
            views.push(self.service_view(&id, &record.value, &snapshot, &ready));
        }
        Ok(views)
    }

    /// `GET /v1/services/{id}`.
    pub async fn service(&self, id: &str) -> Result<ServiceView, ServerError> {
        let record = self.service_record(id).await?;
        let snapshot = self.snapshot().await?;
        let ready = scheduler::load_ready(self, id, &record.value.spec).await?;
        Ok(self.service_view(id, &record.value, &snapshot, &ready))
    }

    /// `GET /v1/services/{id}/endpoints`.
    pub async fn service_endpoints(&self, id: &str) -> Result<Endpoints, ServerError> {
        let record = self.service_record(id).await?;
        let snapshot = self.snapshot().await?;
        let agents = snapshot.agents.iter().map(|(id, a)| (id.clone(), a.value.clone())).collect();
        let tasks = service_tasks(&snapshot, id);
        let ready = scheduler::load_ready(self, id, &record.value.spec).await?;
        Ok(scheduler::endpoints_of(id, &record.value.spec, tasks.into_iter(), &agents, &ready))
    }

    /// `GET /v1/deployments`.
    pub async fn deployments(&self) -> Result<DeploymentList, ServerError> {
        let deployments = self.services().await?.into_iter().filter_map(|s| s.deployment).collect();
        Ok(DeploymentList { deployments })
    }

    /// Each service's gauges, for `/metrics`.
    pub(crate) async fn service_gauges(
        &self,
        snapshot: &Snapshot,
        now: f64,
    ) -> Result<Vec<crate::metrics::ServiceGauges>, ServerError> {
        let services = self.load_services().await?;
        let mut gauges = Vec::new();
        for (id, record) in services {
            let record = record.value;
            let ready = scheduler::load_ready(self, &id, &record.spec).await?;
            let tasks = service_tasks(snapshot, &id);
            let live = tasks.iter().filter(|t| t.kill_requested.is_none());
            gauges.push(crate::metrics::ServiceGauges {
                desired: if record.deleting { 0 } else { record.spec.instances },
                running: live.filter(|t| t.status.state == TaskState::Running).count(),
                healthy: tasks.iter().filter(|t| scheduler::counts(t, &ready)).count(),
                deploying: record.deployment.is_some(),
                launch_delay: (record.backoff.until - now).max(0.0),
                failures: record.backoff.failures,
                id,
            });
        }
        Ok(gauges)
    }

    fn service_view(
        &self,
        id: &str,
        record: &ServiceRecord,
        snapshot: &Snapshot,
        ready: &scheduler::Ready,
    ) -> ServiceView {
        let now = now_secs();
        let tasks = service_tasks(snapshot, id);
        let hostnames: HashMap<&AgentId, &str> =
            snapshot.agents.iter().map(|(id, a)| (id, a.value.hostname.as_str())).collect();
        let mut instances = Vec::new();
        let mut planned = Vec::new();
        for task in &tasks {
            let Some((_, instance)) = scheduler::instance_of(task, ready) else { continue };
            instances.push(InstanceView {
                task_id: task.info.task_id.clone(),
                agent_id: task.info.agent_id.clone(),
                hostname: hostnames.get(&task.info.agent_id).map(|h| h.to_string()).unwrap_or_default(),
                ports: scheduler::host_ports(&task.info).collect(),
                state: task.status.state,
                healthy: task.status.healthy,
                ready: instance.healthy,
                version: instance.version,
                launched_at: instance.launched_at,
                killing: instance.killing,
            });
            planned.push(instance);
        }
        instances.sort_by(|a, b| a.launched_at.total_cmp(&b.launched_at).then(a.task_id.cmp(&b.task_id)));
        let plan = plan::plan(&record.spec, record.version, record.deleting, record.backoff.until, &planned, now);
        let deployment =
            record.deployment.as_ref().map(|d| deployment_view(id, d, (plan.new_healthy, plan.left_to_stop)));
        let waiting_reasons = self.waiting_reasons(record, &instances, &plan, snapshot, now);
        let status = if record.deleting {
            ServiceStatus::Deleting
        } else if record.spec.instances == 0 && instances.is_empty() {
            ServiceStatus::Suspended
        } else if plan.delayed > 0 {
            ServiceStatus::Delayed
        } else if record.unplaced > 0 {
            ServiceStatus::Waiting
        } else if record.deployment.is_some() || !plan.done {
            ServiceStatus::Deploying
        } else {
            ServiceStatus::Running
        };
        let backoff = (record.backoff.failures > 0).then_some(agora_api::services::BackoffView {
            failures: record.backoff.failures,
            delay_secs: record.backoff.delay_secs,
            until: record.backoff.until,
        });
        ServiceView {
            id: id.to_string(),
            spec: record.spec.clone(),
            version: record.version,
            versions: record.versions.clone(),
            status,
            healthy: plan.new_healthy,
            instances,
            deployment,
            waiting_reasons,
            backoff,
        }
    }

    /// Why instances of a service are not placed, or not healthy yet.
    fn waiting_reasons(
        &self,
        record: &ServiceRecord,
        instances: &[InstanceView],
        plan: &plan::Plan,
        snapshot: &Snapshot,
        now: f64,
    ) -> Vec<WaitingReason> {
        let reason = |instances: u32, code: &str, message: String| WaitingReason {
            instances,
            code: code.to_string(),
            message,
            until: None,
            largest_free: None,
        };
        let mut reasons = Vec::new();
        let last = record.backoff.last_failure.as_deref().map(|f| format!("; the last: {f}")).unwrap_or_default();
        if plan.delayed > 0 {
            let message = format!(
                "launches wait {:.0} s more: {} failure(s) in a row{last}",
                (record.backoff.until - now).max(0.0),
                record.backoff.failures
            );
            reasons
                .push(WaitingReason { until: Some(record.backoff.until), ..reason(plan.delayed, "backoff", message) });
        }
        if record.unplaced > 0 && !record.deleting {
            reasons.extend(self.placement_reasons(record, snapshot));
        }
        let current = instances.iter().filter(|i| i.version == record.version && !i.killing);
        let (mut starting, mut unhealthy, mut not_ready) = (0, 0, 0);
        for i in current {
            // Instances of the current version have its health check, if any.
            let healthy = i.healthy == Some(true) || (i.healthy.is_none() && record.spec.task.health_check.is_none());
            match i.state {
                TaskState::Staging | TaskState::Starting => starting += 1,
                TaskState::Running if !healthy => unhealthy += 1,
                TaskState::Running if !i.ready => not_ready += 1,
                _ => {}
            }
        }
        if let (Some(check), true) = (&record.spec.readiness_check, not_ready > 0) {
            let message = format!(
                "{not_ready} instance(s) of version {} do not answer ready yet (GET on port {}, {})",
                record.version, check.port_name, check.path
            );
            reasons.push(reason(not_ready, "not_ready", message));
        }
        if starting > 0 {
            let message = format!("{starting} instance(s) of version {} are starting", record.version);
            reasons.push(reason(starting, "starting", message));
        }
        if unhealthy > 0 {
            let message = format!(
                "{unhealthy} instance(s) of version {} run but do not pass their health check{last}",
                record.version
            );
            reasons.push(reason(unhealthy, "unhealthy", message));
        }
        reasons
    }

    /// Why the scheduler found no offer for instances: the agents that meet the constraints,
    /// what they have free, and the role's quota.
    fn placement_reasons(&self, record: &ServiceRecord, snapshot: &Snapshot) -> Vec<WaitingReason> {
        let unplaced = record.unplaced;
        let reason = |code: &str, message: String| WaitingReason {
            instances: unplaced,
            code: code.to_string(),
            message,
            until: None,
            largest_free: None,
        };
        let spec = &record.spec;
        let parsed = constraints::parse_all(&spec.constraints).unwrap_or_default();
        let active: Vec<&(AgentId, Loaded<super::records::AgentRecord>)> =
            snapshot.agents.iter().filter(|(_, a)| a.value.state == AgentState::Active).collect();
        let open: Vec<_> = active.iter().filter(|(_, a)| a.value.maintenance.is_none()).collect();
        if active.is_empty() {
            return vec![reason("no_agents", "no agent is active".into())];
        }
        if open.is_empty() {
            return vec![reason("agents_in_maintenance", "every active agent is draining or deactivated".into())];
        }
        let meeting: Vec<_> = open
            .iter()
            .filter(|(_, a)| parsed.iter().all(|c| c.admits_agent(&a.value.hostname, &a.value.attributes)))
            .collect();
        if meeting.is_empty() {
            let texts: Vec<&str> = parsed.iter().map(|c| c.text.as_str()).collect();
            return vec![reason(
                "constraint_unmet",
                format!("no active agent meets the constraints {}", texts.join(", ")),
            )];
        }
        for c in &parsed {
            let hosts = meeting.iter().map(|(_, a)| (a.value.hostname.as_str(), &a.value.attributes));
            if let Some(capacity) = c.capacity(hosts) {
                if capacity < u64::from(spec.instances) {
                    return vec![reason(
                        "constraint_unmet",
                        format!(
                            "constraint {}: the {} agent(s) that meet the constraints hold at most {capacity} instance(s); {} wanted",
                            c.text,
                            meeting.len(),
                            spec.instances
                        ),
                    )];
                }
            }
        }
        // What each agent has free for the role, counting the scheduler's own offers as free.
        let pools = snapshot.pool_usage();
        let own: Vec<&agora_api::Offer> =
            snapshot.offers.iter().filter(|o| o.framework_id.as_str() == scheduler::FRAMEWORK_ID).collect();
        let path = crate::allocator::role_path(&spec.role);
        let wanted = spec.task.resources.without_ports();
        let mut largest = Resources::default();
        let mut fits = false;
        for (id, agent) in &meeting {
            let slot = free_slot(&pools, id, &agent.value);
            let mut free =
                slot.reserved.iter().filter(|(r, _)| path.contains(r)).fold(slot.available, |s, (_, r)| s.plus(r));
            for o in own.iter().filter(|o| &o.agent_id == id && o.role == spec.role) {
                free.add(&o.resources);
            }
            let ports = free.port_count();
            if wanted.fits_in(&free) && ports >= spec.task.ports.len() as u64 {
                fits = true;
            }
            if free.cpus > largest.cpus || (free.cpus == largest.cpus && free.mem > largest.mem) {
                largest = free;
            }
        }
        let mut reasons = Vec::new();
        if !fits {
            let message = format!(
                "no agent that meets the constraints has cpus:{} mem:{} free{}; the largest free slot is cpus:{} mem:{}",
                wanted.cpus,
                wanted.mem,
                if spec.task.ports.is_empty() { String::new() } else { format!(" with {} port(s)", spec.task.ports.len()) },
                (largest.cpus * 100.0).round() / 100.0,
                largest.mem.round()
            );
            reasons.push(WaitingReason { largest_free: Some(largest), ..reason("no_free_resources", message) });
        }
        let mut quota = Vec::new();
        let free: Vec<(&AgentId, Resources)> = Vec::new();
        self.quota_reasons(snapshot, &spec.role, &free, &mut quota);
        reasons.extend(quota.into_iter().filter(|q| q.code == "quota_limit").map(|q| reason(&q.code, q.message)));
        if reasons.is_empty() {
            let message = format!(
                "waiting for offers of role {} from the agents that meet the constraints: more instances than the last offers held",
                spec.role
            );
            reasons.push(reason("waiting_for_offers", message));
        }
        reasons
    }
}

/// A new version of the record's current spec: numbered, kept, and with a fresh backoff.
fn new_version(record: &mut ServiceRecord, now: f64) {
    record.version = record.next_version;
    record.next_version += 1;
    record.versions.insert(0, ServiceVersion { version: record.version, created_at: now, spec: record.spec.clone() });
    record.versions.truncate(VERSIONS_KEPT);
    record.backoff = BackoffState::default();
}

/// The record back at a kept version: its spec, under its own number.
fn rolled_back_to(record: &mut ServiceRecord, target: &ServiceVersion) {
    record.spec = target.spec.clone();
    record.version = target.version;
    record.backoff = BackoffState::default();
}

/// The live tasks of a service, from a snapshot.
fn service_tasks<'a>(snapshot: &'a Snapshot, id: &str) -> Vec<&'a TaskRecord> {
    snapshot
        .tasks
        .iter()
        .filter(|t| t.framework_id.as_str() == scheduler::FRAMEWORK_ID)
        .filter(|t| t.info.labels.get(scheduler::LABEL_SERVICE).map(String::as_str) == Some(id))
        .map(|t| t.as_ref())
        .collect()
}
