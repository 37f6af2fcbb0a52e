//! "Why is my framework not offered anything?": the reasons, read off the same state the
//! allocator reads (`GET /v1/frameworks/{id}/diagnostics`, `agora why`).

use super::constraints::{min_offers, RoleConstraints};
use super::leader::{free_slot, FrameworkEntry, Snapshot};
use super::records::AgentRecord;
use super::Caller;
use super::{check_id, Master};
use crate::allocator;
use crate::error::ServerError;
use agora_api::operator::{AgentState, Diagnostics, Reason, RoleDiagnostics};
use agora_api::types::now_secs;
use agora_api::{AgentId, FrameworkId, Resources};

/// An active agent and what it has free: unreserved, and in each role's reservation.
struct Free<'a> {
    id: &'a AgentId,
    record: &'a AgentRecord,
    unreserved: Resources,
    reserved: Vec<(String, Resources)>,
}

impl Free<'_> {
    /// What `role` may be offered: the unreserved rest, and the reservations to it or to a
    /// role above it.
    fn for_role(&self, role: &str) -> Resources {
        let path = allocator::role_path(role);
        let mine = self.reserved.iter().filter(|(r, _)| path.contains(r));
        mine.fold(self.unreserved.clone(), |sum, (_, r)| sum.plus(r))
    }

    /// What is free in other roles' reservations, and which roles those are.
    fn reserved_to_others(&self, role: &str) -> impl Iterator<Item = &(String, Resources)> {
        let path = allocator::role_path(role);
        self.reserved.iter().filter(move |(r, res)| !path.contains(r) && !res.is_empty())
    }
}

fn reason(code: &str, message: String) -> Reason {
    Reason { code: code.to_string(), message, until: None, largest_free: None }
}

/// `cpus:1.5 mem:512`, for messages.
fn short(r: &Resources) -> String {
    format!("cpus:{} mem:{}", (r.cpus * 100.0).round() / 100.0, r.mem.round())
}

impl Master {
    /// Why a framework gets no offers. Another principal's framework is unknown to a framework
    /// token.
    pub async fn diagnostics(&self, caller: &Caller, id: &FrameworkId) -> Result<Diagnostics, ServerError> {
        check_id("framework id", id.as_str())?;
        let snapshot = self.snapshot().await?;
        let replicas = self.live_replicas().await?;
        let entry = snapshot
            .frameworks
            .iter()
            .find(|f| &f.id == id)
            .ok_or_else(|| ServerError::not_found("framework", "unknown_framework", id))?;
        caller.check_reads_framework(id, Some(&entry.record.value.principal))?;
        let mut reasons = Vec::new();
        if !Self::connection(entry.conn.as_ref().map(|c| &c.value), &replicas).0 {
            let message = "its event stream is not open: offers go only to frameworks subscribed to their events";
            reasons.push(reason("not_connected", message.into()));
        }
        let mine: Vec<&agora_api::Offer> = snapshot.offers.iter().filter(|o| &o.framework_id == id).collect();
        let offered = mine.iter().fold(Resources::default(), |sum, o| sum.plus(&o.resources));
        if !mine.is_empty() {
            let message =
                format!("{} offer(s) with {} wait for it to accept or decline them", mine.len(), short(&offered));
            reasons.push(reason("offers_outstanding", message));
        }

        // What each active agent has free in each pool, after tasks, volumes and every
        // framework's offers.
        let pools = snapshot.pool_usage();
        let free: Vec<Free> = snapshot
            .agents
            .iter()
            .filter(|(_, a)| a.value.state == AgentState::Active && a.value.maintenance.is_none())
            .map(|(id, a)| {
                let slot = free_slot(&pools, id, &a.value);
                Free { id, record: &a.value, unreserved: slot.available, reserved: slot.reserved }
            })
            .collect();
        let roles = entry
            .record
            .value
            .roles
            .iter()
            .map(|role| RoleDiagnostics {
                role: role.clone(),
                reasons: self.role_reasons(&snapshot, entry, role, &free),
            })
            .collect();
        Ok(Diagnostics { framework_id: id.clone(), offered, reasons, roles })
    }

    /// Why one role of a framework is not offered more.
    fn role_reasons(&self, snapshot: &Snapshot, entry: &FrameworkEntry, role: &str, free: &[Free]) -> Vec<Reason> {
        let framework = &entry.record.value;
        let now = now_secs();
        let min = &self.config.min_allocatable;
        let usable = |r: &Resources| r.cpus >= min.cpus || r.mem >= min.mem;
        let mut reasons = Vec::new();
        if framework.suppressed_roles.contains(role) {
            let message = format!("it suppressed offers for role {role}: revive the role to get them again");
            reasons.push(reason("suppressed", message));
        }
        let constraints =
            framework.offer_constraints.get(role).filter(|g| !g.is_empty()).map(|g| RoleConstraints::new(g));
        let matching: Vec<&Free> = free
            .iter()
            .filter(|f| constraints.as_ref().is_none_or(|c| c.matches(&f.record.hostname, &f.record.attributes)))
            .collect();
        let refusals = entry.filters.roles.get(role);
        let refused_until = |f: &Free| refusals.and_then(|r| r.get(f.id)).map(|r| r.until).filter(|u| *u > now);
        let free_for = |f: &Free| f.for_role(role);
        let others: Vec<&(String, Resources)> = matching.iter().flat_map(|f| f.reserved_to_others(role)).collect();
        let reserved_to_others = others.iter().fold(Resources::default(), |sum, (_, r)| sum.plus(r));
        let min_offers = min_offers(framework.offer_filters.get(role));
        let held = snapshot.agents.iter().filter(|(_, a)| a.value.maintenance.is_some()).count();
        if free.is_empty() && held > 0 {
            let message = format!("every active agent is draining or deactivated ({held} held by operators)");
            reasons.push(reason("agents_in_maintenance", message));
        } else if free.is_empty() {
            reasons.push(reason("no_agents", "no agent is active".into()));
        } else if matching.is_empty() {
            let message = format!("no active agent matches its offer constraints for role {role}");
            reasons.push(reason("no_matching_agents", message));
        } else if !matching.iter().any(|f| usable(&free_for(f))) && usable(&reserved_to_others) {
            let roles: std::collections::BTreeSet<&str> = others.iter().map(|(r, _)| r.as_str()).collect();
            let message = format!(
                "what matching agents have free ({}) is reserved to other roles: {}",
                short(&reserved_to_others),
                roles.into_iter().collect::<Vec<_>>().join(", ")
            );
            reasons.push(reason("reserved_for_other_roles", message));
        } else if !matching.iter().any(|f| usable(&free_for(f))) {
            let largest = matching
                .iter()
                .map(|f| free_for(f))
                .max_by(|a, b| a.cpus.total_cmp(&b.cpus).then(a.mem.total_cmp(&b.mem)))
                .unwrap_or_default();
            let message = format!(
                "every matching agent's resources are held by tasks or offers; the largest free slot is {}",
                short(&largest)
            );
            reasons.push(Reason { largest_free: Some(largest), ..reason("no_free_resources", message) });
        } else if matching.iter().filter(|f| usable(&free_for(f))).all(|f| refused_until(f).is_some()) {
            let until = matching.iter().filter_map(|f| refused_until(f)).fold(0.0, f64::max);
            let message =
                format!("every agent with free resources was declined by it, filtered for {:.0} s more", until - now);
            reasons.push(Reason { until: Some(until), ..reason("filtered", message) });
        } else if !min_offers.is_empty()
            && !matching
                .iter()
                .filter(|f| refused_until(f).is_none())
                .any(|f| min_offers.iter().any(|m| m.fits_in(&free_for(f))))
        {
            let message = format!(
                "no agent has free as much as its offer filters for role {role} ask: {}",
                min_offers.iter().map(short).collect::<Vec<_>>().join(" or ")
            );
            reasons.push(reason("below_min_allocatable", message));
        }
        // Quota and guarantees bound only what is offered unreserved.
        let free_resources: Vec<(&AgentId, Resources)> =
            matching.iter().map(|f| (f.id, f.unreserved.clone())).collect();
        self.quota_reasons(snapshot, role, &free_resources, &mut reasons);
        reasons
    }

    /// A quota limit the role (or one above it) has reached, and resources kept back for
    /// other roles' guarantees.
    pub(super) fn quota_reasons(
        &self,
        snapshot: &Snapshot,
        role: &str,
        free: &[(&AgentId, Resources)],
        reasons: &mut Vec<Reason>,
    ) {
        let views = snapshot.role_views();
        // Quota applies to consumption: reservations and what is held unreserved.
        let held = |node: &str| views.iter().find(|v| v.role == node).map(|v| v.consumed.clone()).unwrap_or_default();
        let path = allocator::role_path(role);
        for node in &path {
            let Some(limit) = snapshot.roles.get(node).map(|c| &c.quota.limit).filter(|l| !l.is_empty()) else {
                continue;
            };
            let holds = held(node);
            let reached: Vec<String> = limit
                .iter()
                .filter(|(name, amount)| {
                    let have =
                        agora_api::resources::SCALAR_NAMES.iter().position(|n| n == name).map(|i| holds.scalars()[i]);
                    have.is_some_and(|have| have >= **amount - 1e-9)
                })
                .map(|(name, amount)| format!("{name} {amount}"))
                .collect();
            if !reached.is_empty() {
                let message = format!(
                    "role {node} consumes its quota limit of {} (in reservations and what it holds unreserved)",
                    reached.join(", ")
                );
                reasons.push(reason("quota_limit", message));
            }
        }
        let mut kept = Resources::default();
        for (other, config) in &snapshot.roles {
            if path.contains(other) || config.quota.guarantee.is_empty() {
                continue;
            }
            let holds = held(other).scalars();
            let missing: Vec<f64> = agora_api::resources::SCALAR_NAMES
                .iter()
                .enumerate()
                .map(|(i, name)| (config.quota.guarantee.get(*name).copied().unwrap_or(0.0) - holds[i]).max(0.0))
                .collect();
            kept.add(&Resources {
                cpus: missing[0],
                mem: missing[1],
                disk: missing[2],
                gpus: missing[3],
                ports: vec![],
            });
        }
        let total_free = free.iter().fold(Resources::default(), |sum, (_, r)| sum.plus(r));
        let left = total_free.minus(&kept);
        // An offer cut for guarantees needs the minimum CPUs and memory both.
        let min = &self.config.min_allocatable;
        if kept.scalars().iter().any(|v| *v > 0.0) && (left.cpus < min.cpus || left.mem < min.mem) {
            let message = format!("the free {} is kept for other roles' quota guarantees", short(&total_free));
            reasons.push(reason("kept_for_guarantees", message));
        }
    }
}
