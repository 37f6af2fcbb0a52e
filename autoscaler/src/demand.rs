//! What waits for capacity: services' unplaced instances and frameworks' declared demand,
//! each as a group of identical tasks with their shape and placement constraints.

use agora_api::constraints::{self, Constraint};
use agora_api::operator::{AgentView, FrameworkView};
use agora_api::services::{ServiceStatus, ServiceView};
use agora_api::{AgentId, Resources};
use std::collections::{BTreeMap, HashMap};

/// Identical tasks that wait.
#[derive(Clone, Debug)]
pub struct Group {
    /// `service/NAME` or `framework/ID`, for events and logs.
    pub name: String,
    pub role: String,
    /// Scalars only; `ports` says how many ports each needs.
    pub resources: Resources,
    pub ports: u64,
    pub constraints: Vec<Constraint>,
    pub count: u32,
    /// Where the group's siblings already run (hostname and attributes of each one's agent):
    /// what UNIQUE, MAX_PER and GROUP_BY count.
    pub placed: Vec<(String, BTreeMap<String, String>)>,
}

/// The waiting reasons of instances the services scheduler could not place on its last look
/// (each carries that count); backoff, health and readiness are not about capacity.
const PLACEMENT: [&str; 5] =
    ["no_agents", "agents_in_maintenance", "constraint_unmet", "no_free_resources", "waiting_for_offers"];
/// The one under which more agents would not help.
const QUOTA: &str = "quota_limit";

/// A service's instances the scheduler could not place, unless more agents would not help.
/// (Not `instances` less those running: a deleted service's and a replaced version's
/// instances are killed first and would look unplaced while they still hold their agents.)
pub fn from_services(services: &[ServiceView], agents: &[AgentView]) -> (Vec<Group>, Vec<(String, String)>) {
    let by_id: HashMap<&AgentId, &AgentView> = agents.iter().map(|a| (&a.id, a)).collect();
    let mut groups = Vec::new();
    let mut ignored = Vec::new();
    for service in services.iter().filter(|s| s.status != ServiceStatus::Deleting) {
        let waiting =
            service.waiting_reasons.iter().filter(|r| PLACEMENT.contains(&r.code.as_str()) || r.code == QUOTA);
        let unplaced = waiting.map(|r| r.instances).max().unwrap_or(0);
        if unplaced == 0 {
            continue;
        }
        let name = format!("service/{}", service.id);
        if let Some(r) = service.waiting_reasons.iter().find(|r| r.code == QUOTA) {
            ignored.push((name, format!("{}: {}", r.code, r.message)));
            continue;
        }
        let live: Vec<_> = service.instances.iter().filter(|i| !i.killing && !i.state.is_terminal()).collect();
        let parsed = match constraints::parse_all(&service.spec.constraints) {
            Ok(parsed) => parsed,
            Err(message) => {
                ignored.push((name, message));
                continue;
            }
        };
        let placed = live
            .iter()
            .filter_map(|i| by_id.get(&i.agent_id))
            .map(|a| (a.hostname.clone(), a.attributes.clone()))
            .collect();
        groups.push(Group {
            name,
            role: service.spec.role.clone(),
            resources: service.spec.task.resources.without_ports(),
            ports: service.spec.task.ports.len() as u64,
            constraints: parsed,
            count: unplaced,
            placed,
        });
    }
    (groups, ignored)
}

/// What frameworks declared they wait for (`PUT /v1/frameworks/{id}/demand`).
pub fn from_frameworks(frameworks: &[FrameworkView]) -> (Vec<Group>, Vec<(String, String)>) {
    let mut groups = Vec::new();
    let mut ignored = Vec::new();
    // A framework that is not connected is failing over or gone: what it declared waits for it.
    for framework in frameworks.iter().filter(|f| f.connected) {
        for (i, entry) in framework.demand.iter().enumerate() {
            let name = format!("framework/{}#{i}", framework.id);
            match constraints::parse_all(&entry.constraints) {
                Ok(parsed) => groups.push(Group {
                    name,
                    role: entry.role.clone().or_else(|| framework.roles.first().cloned()).unwrap_or_else(|| "*".into()),
                    resources: entry.resources.without_ports(),
                    ports: entry.resources.port_count(),
                    constraints: parsed,
                    count: entry.count,
                    placed: Vec::new(),
                }),
                Err(message) => ignored.push((name, message)),
            }
        }
    }
    (groups, ignored)
}
