//! What operators read: the cluster, agents, frameworks, tasks and offers, and the gauges of
//! `GET /metrics`. Each view is computed from one atomic snapshot of the store.

use super::leader::Snapshot;
use super::records::{key, split_task_member, AgentRecord, FrameworkRecord, TaskRecord};
use super::*;
use agora_api::operator::{AgentState, AgentView, ClusterView, FrameworkView, Maintenance, TaskFilter, TaskView};
use agora_api::{Offer, TaskId};
use std::collections::{HashMap, HashSet};

/// Where a task runs, as the store has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskLocation {
    pub framework_id: FrameworkId,
    pub agent_id: AgentId,
}

impl Master {
    pub async fn cluster(&self) -> Result<ClusterView, ServerError> {
        let snapshot = self.snapshot().await?;
        let lease = self.store.lease().await?;
        let usage = snapshot.agent_usage();
        let mut view = ClusterView {
            version: env!("CARGO_PKG_VERSION").to_string(),
            leader: lease.as_ref().map(|l| l.holder.clone()).unwrap_or_default(),
            epoch: lease.map_or(0, |l| l.epoch),
            store: self.store.kind().to_string(),
            replica: self.replica.clone(),
            total: Resources::default(),
            used: Resources::default(),
            offered: Resources::default(),
            agents: snapshot.agents.len(),
            frameworks: snapshot.frameworks.len(),
            tasks: snapshot.tasks.len(),
        };
        for (id, agent) in snapshot.agents.iter().filter(|(_, a)| a.value.state == AgentState::Active) {
            view.total.add(&agent.value.total);
            if let Some((used, offered, _)) = usage.get(id) {
                view.used.add(used);
                view.offered.add(offered);
            }
        }
        Ok(view)
    }

    fn agent_views(snapshot: &Snapshot, seen: &HashMap<String, f64>) -> Vec<AgentView> {
        let usage = snapshot.agent_usage();
        let mut views: Vec<AgentView> = snapshot
            .agents
            .iter()
            .map(|(id, a)| {
                let (used, offered, tasks) = usage.get(id).cloned().unwrap_or_default();
                agent_view(id, &a.value, used, offered, tasks, seen.get(id.as_str()).copied().unwrap_or(0.0))
            })
            .collect();
        views.sort_by(|a, b| (&a.hostname, &a.id).cmp(&(&b.hostname, &b.id)));
        views
    }

    /// When each agent, active or not, was last heard from.
    async fn seen(&self) -> Result<HashMap<String, f64>, ServerError> {
        let mut seen: HashMap<String, f64> =
            self.store.zrange_below(key::AGENTS_AWAY, f64::MAX).await?.into_iter().collect();
        seen.extend(self.store.zrange_below(key::AGENTS_SEEN, f64::MAX).await?);
        Ok(seen)
    }

    pub async fn agents(&self) -> Result<Vec<AgentView>, ServerError> {
        let snapshot = self.snapshot().await?;
        Ok(Self::agent_views(&snapshot, &self.seen().await?))
    }

    pub async fn agent(&self, id: &AgentId) -> Result<AgentView, ServerError> {
        check_id("agent id", id.as_str())?;
        let agents = self.agents().await?;
        agents.into_iter().find(|a| &a.id == id).ok_or_else(|| ServerError::not_found("agent", "unknown_agent", id))
    }

    /// The frameworks the caller may read.
    pub async fn frameworks(&self, caller: &Caller) -> Result<Vec<FrameworkView>, ServerError> {
        let mut frameworks = self.all_frameworks().await?;
        frameworks.retain(|f| caller.reads_framework_of(&f.principal));
        Ok(frameworks)
    }

    async fn all_frameworks(&self) -> Result<Vec<FrameworkView>, ServerError> {
        let snapshot = self.snapshot().await?;
        let replicas = self.live_replicas().await?;
        let usage = snapshot.framework_usage();
        let mut views: Vec<FrameworkView> = snapshot
            .frameworks
            .iter()
            .map(|f| {
                let (connected, _) = Self::connection(f.conn.as_ref().map(|c| &c.value), &replicas);
                let (used, offered, tasks) = usage.get(&f.id).cloned().unwrap_or_default();
                framework_view(&f.id, &f.record.value, connected, used, offered, tasks)
            })
            .collect();
        views.sort_by(|a, b| a.registered_at.total_cmp(&b.registered_at));
        Ok(views)
    }

    /// A framework, if the caller may read it: another principal's is unknown to it.
    pub async fn framework(&self, caller: &Caller, id: &FrameworkId) -> Result<FrameworkView, ServerError> {
        check_id("framework id", id.as_str())?;
        let frameworks = self.frameworks(caller).await?;
        frameworks
            .into_iter()
            .find(|f| &f.id == id)
            .ok_or_else(|| ServerError::not_found("framework", "unknown_framework", id))
    }

    /// The principal that registered a framework.
    pub async fn framework_principal(&self, id: &FrameworkId) -> Result<Option<String>, ServerError> {
        Ok(self.load::<FrameworkRecord>(&key::framework(id)).await?.map(|f| f.value.principal))
    }

    /// Ended tasks, newest first.
    async fn completed_tasks(&self) -> Result<Vec<TaskRecord>, ServerError> {
        let mut done = self.store.zrange_below(key::TASKS_DONE, f64::MAX).await?;
        done.reverse();
        let keys: Vec<String> = done.iter().map(|(m, _)| format!("{}{m}", key::TASK_PREFIX)).collect();
        Ok(self.load_many::<TaskRecord>(&keys).await?.into_iter().flatten().map(|t| t.value).collect())
    }

    /// Active tasks, then recently ended ones, filtered, of the frameworks the caller may read.
    pub async fn tasks(&self, caller: &Caller, filter: &TaskFilter) -> Result<Vec<TaskView>, ServerError> {
        let readable = self.readable_frameworks(caller).await?;
        let keep = |t: &TaskRecord| {
            filter.framework_id.as_ref().is_none_or(|f| &t.framework_id == f)
                && filter.agent_id.as_ref().is_none_or(|a| &t.info.agent_id == a)
                && filter.state.is_none_or(|s| t.status.state == s)
                && readable.as_ref().is_none_or(|r| r.contains(&t.framework_id))
        };
        let snapshot = self.snapshot().await?;
        let mut views: Vec<TaskView> = snapshot.tasks.iter().filter(|t| keep(t)).map(|t| t.view()).collect();
        views.sort_by(|a, b| a.status.timestamp.total_cmp(&b.status.timestamp));
        // A task that ended after the snapshot may appear in both lists: keep the first.
        let active: std::collections::HashSet<(FrameworkId, TaskId)> =
            views.iter().map(|v| (v.framework_id.clone(), v.task_id.clone())).collect();
        views.extend(
            self.completed_tasks()
                .await?
                .iter()
                .filter(|t| keep(t) && !active.contains(&(t.framework_id.clone(), t.info.task_id.clone())))
                .map(TaskRecord::view),
        );
        Ok(views)
    }

    /// The frameworks whose tasks, offers and logs the caller may read: `None` for all.
    async fn readable_frameworks(&self, caller: &Caller) -> Result<Option<HashSet<FrameworkId>>, ServerError> {
        if caller.reads_every_framework() {
            return Ok(None);
        }
        let frameworks = self.all_frameworks().await?;
        Ok(Some(frameworks.into_iter().filter(|f| caller.reads_framework_of(&f.principal)).map(|f| f.id).collect()))
    }

    /// Where a task the caller may read runs. With `framework_id`, that framework's task;
    /// without, the one task of that id (live, or else the newest ended) among the frameworks
    /// the caller may read, so that a reader is never pointed at a task it may not read.
    /// Another principal's task is unknown to it, as is its framework.
    pub async fn readable_task(
        &self,
        caller: &Caller,
        framework_id: Option<&FrameworkId>,
        task_id: &TaskId,
    ) -> Result<TaskLocation, ServerError> {
        check_id("task id", task_id.as_str())?;
        let task = match framework_id {
            Some(f) => {
                check_id("framework id", f.as_str())?;
                self.load::<TaskRecord>(&key::task(f, task_id)).await?.map(|t| t.value)
            }
            None => self.find_task(task_id, self.readable_frameworks(caller).await?.as_ref()).await?,
        };
        let unknown = || ServerError::not_found("task", "unknown_task", task_id);
        let task = task.ok_or_else(unknown)?;
        let owner = self.framework_principal(&task.framework_id).await?;
        caller.check_reads_framework(&task.framework_id, owner.as_deref()).map_err(|_| unknown())?;
        Ok(TaskLocation { framework_id: task.framework_id, agent_id: task.info.agent_id })
    }

    /// The one task, live or else recently ended, with this id in any of the `readable`
    /// frameworks (`None`: all).
    async fn find_task(
        &self,
        task_id: &TaskId,
        readable: Option<&HashSet<FrameworkId>>,
    ) -> Result<Option<TaskRecord>, ServerError> {
        let matching = |members: Vec<String>| -> Vec<String> {
            members
                .into_iter()
                .filter(|m| {
                    split_task_member(m).is_some_and(|(f, t)| &t == task_id && readable.is_none_or(|r| r.contains(&f)))
                })
                .map(|m| format!("{}{m}", key::TASK_PREFIX))
                .collect()
        };
        let mut keys = matching(self.store.members(key::TASKS).await?);
        if keys.is_empty() {
            let mut done = self.store.zrange_below(key::TASKS_DONE, f64::MAX).await?;
            done.reverse();
            keys = matching(done.into_iter().map(|(m, _)| m).collect());
            keys.truncate(1); // the newest
        }
        if keys.len() > 1 {
            return Err(ServerError::bad(
                "ambiguous_task",
                format!("several frameworks have a task {task_id}: give framework_id"),
            ));
        }
        Ok(self.load_many::<TaskRecord>(&keys).await?.into_iter().flatten().next().map(|t| t.value))
    }

    /// The offers outstanding to the frameworks the caller may read.
    pub async fn offers(&self, caller: &Caller) -> Result<Vec<Offer>, ServerError> {
        let readable = self.readable_frameworks(caller).await?;
        let mut offers = self.snapshot().await?.offers;
        offers.retain(|o| readable.as_ref().is_none_or(|r| r.contains(&o.framework_id)));
        Ok(offers)
    }

    /// Counts for the metrics endpoint, from one snapshot.
    pub async fn gauges(&self) -> Result<crate::metrics::Snapshot, ServerError> {
        let snapshot = self.snapshot().await?;
        let replicas = self.live_replicas().await?;
        let is_active = |a: &AgentRecord| a.state == AgentState::Active;
        let mut gauges = crate::metrics::Snapshot {
            agents_active: snapshot.agents.iter().filter(|(_, a)| is_active(&a.value)).count(),
            agents_unreachable: snapshot.agents.iter().filter(|(_, a)| !is_active(&a.value)).count(),
            frameworks_connected: snapshot
                .frameworks
                .iter()
                .filter(|f| Self::connection(f.conn.as_ref().map(|c| &c.value), &replicas).0)
                .count(),
            frameworks: snapshot.frameworks.len(),
            offers: snapshot.offers.len(),
            leading: self.leading_epoch().is_some(),
            epoch: self.known_lease().map(|l| l.epoch),
            ..Default::default()
        };
        for task in &snapshot.tasks {
            *gauges.tasks.entry(task.status.state).or_default() += 1;
        }
        gauges.roles = snapshot.role_views();
        let now = agora_api::types::now_secs();
        gauges.services = self.service_gauges(&snapshot, now).await?;
        for entry in &snapshot.frameworks {
            for (role, agents) in &entry.filters.roles {
                let active = agents.values().filter(|refusal| refusal.until > now).count();
                *gauges.role_filters.entry(role.clone()).or_default() += active;
            }
        }
        let usage = snapshot.agent_usage();
        for (id, agent) in snapshot.agents.iter().filter(|(_, a)| is_active(&a.value)) {
            gauges.total.add(&agent.value.total);
            if let Some((used, offered, _)) = usage.get(id) {
                gauges.used.add(used);
                gauges.offered.add(offered);
            }
        }
        Ok(gauges)
    }
}

fn agent_view(
    id: &AgentId,
    a: &AgentRecord,
    used: Resources,
    offered: Resources,
    tasks: usize,
    last_seen: f64,
) -> AgentView {
    AgentView {
        id: id.clone(),
        hostname: a.hostname.clone(),
        state: a.state,
        attributes: a.attributes.clone(),
        total: a.total.clone(),
        reserved: a.reservations(),
        reservations: a.dynamic.clone(),
        volumes: a.volumes.clone(),
        used,
        offered,
        tasks,
        registered_at: a.registered_at,
        last_seen,
        drained: matches!(a.maintenance, Some(Maintenance::Draining { .. })) && tasks == 0,
        maintenance: a.maintenance.clone(),
        containerizers: a.containerizers.clone(),
    }
}

fn framework_view(
    id: &FrameworkId,
    f: &FrameworkRecord,
    connected: bool,
    used: Resources,
    offered: Resources,
    tasks: usize,
) -> FrameworkView {
    FrameworkView {
        id: id.clone(),
        name: f.name.clone(),
        principal: f.principal.clone(),
        roles: f.roles.clone(),
        suppressed_roles: f.suppressed_roles.iter().cloned().collect(),
        connected,
        failover_timeout_secs: f.failover_timeout_secs,
        used,
        offered,
        tasks,
        registered_at: f.registered_at,
        demand: f.demand.clone(),
    }
}
