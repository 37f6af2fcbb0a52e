//! "Why is my framework not offered anything?": the reasons, read off the same state the
//! allocator reads (`GET /v1/frameworks/{id}/diagnostics`, `agora why`).

use super::{check_id, Master};
use crate::allocator;
use crate::error::ServerError;
use agora_api::operator::{AgentState, Diagnostics, Reason};
use agora_api::types::now_secs;
use agora_api::{FrameworkId, Resources};

fn reason(code: &str, message: String) -> Reason {
    Reason { code: code.to_string(), message, until: None, largest_free: None }
}

/// `cpus:1.5 mem:512`, for messages.
fn short(r: &Resources) -> String {
    format!("cpus:{} mem:{}", (r.cpus * 100.0).round() / 100.0, r.mem.round())
}

impl Master {
    pub async fn diagnostics(&self, id: &FrameworkId) -> Result<Diagnostics, ServerError> {
        check_id("framework id", id.as_str())?;
        let snapshot = self.snapshot().await?;
        let replicas = self.live_replicas().await?;
        let entry = snapshot
            .frameworks
            .iter()
            .find(|f| &f.id == id)
            .ok_or_else(|| ServerError::not_found("framework", "unknown_framework", id))?;
        let role = entry.record.value.role();
        let now = now_secs();
        let min = allocator::min_allocatable();
        let mut reasons = Vec::new();

        if !Self::connection(entry.conn.as_ref().map(|c| &c.value), &replicas).0 {
            let message = "its event stream is not open: offers go only to frameworks subscribed to their events";
            reasons.push(reason("not_connected", message.into()));
        }
        if entry.record.value.suppressed {
            reasons.push(reason("suppressed", "it suppressed its offers: revive to get them again".into()));
        }

        // What each active agent has free, after tasks and every framework's offers.
        let usage = snapshot.agent_usage();
        let free: Vec<(&agora_api::AgentId, Resources)> = snapshot
            .agents
            .iter()
            .filter(|(_, a)| a.value.state == AgentState::Active)
            .map(|(id, a)| {
                let (used, offered, _) = usage.get(id).cloned().unwrap_or_default();
                (id, a.value.total.minus(&used).minus(&offered))
            })
            .collect();
        let usable = |r: &Resources| r.cpus >= min.cpus || r.mem >= min.mem;
        let filters: Vec<f64> = free
            .iter()
            .filter_map(|(agent, _)| entry.filters.until.get(*agent).copied().filter(|until| *until > now))
            .collect();
        if free.is_empty() {
            reasons.push(reason("no_agents", "no agent is active".into()));
        } else if !free.iter().any(|(_, r)| usable(r)) {
            let largest =
                free.iter().map(|(_, r)| r).max_by(|a, b| a.cpus.total_cmp(&b.cpus).then(a.mem.total_cmp(&b.mem)));
            let largest = largest.cloned().unwrap_or_default();
            let message = format!(
                "every agent's resources are held by tasks or offers; the largest free slot is {}",
                short(&largest)
            );
            reasons.push(Reason { largest_free: Some(largest), ..reason("no_free_resources", message) });
        } else if free
            .iter()
            .filter(|(_, r)| usable(r))
            .all(|(agent, _)| entry.filters.until.get(*agent).is_some_and(|u| *u > now))
        {
            let until = filters.iter().copied().fold(0.0, f64::max);
            let message =
                format!("every agent with free resources was declined by it, filtered for {:.0} s more", until - now);
            reasons.push(Reason { until: Some(until), ..reason("filtered", message) });
        }
        self.quota_reasons(&snapshot, &role, &free, &mut reasons);

        let mine: Vec<&agora_api::Offer> = snapshot.offers.iter().filter(|o| &o.framework_id == id).collect();
        let offered = mine.iter().fold(Resources::default(), |sum, o| sum.plus(&o.resources));
        if !mine.is_empty() {
            let message =
                format!("{} offer(s) with {} wait for it to accept or decline them", mine.len(), short(&offered));
            reasons.push(reason("offers_outstanding", message));
        }
        Ok(Diagnostics { framework_id: id.clone(), role, offered, reasons })
    }

    /// A quota limit the role (or one above it) has reached, and resources kept back for
    /// other roles' guarantees.
    fn quota_reasons(
        &self,
        snapshot: &super::leader::Snapshot,
        role: &str,
        free: &[(&agora_api::AgentId, Resources)],
        reasons: &mut Vec<Reason>,
    ) {
        let views = snapshot.role_views();
        let held = |node: &str| views.iter().find(|v| v.role == node).map(|v| v.allocated.clone()).unwrap_or_default();
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
                let message = format!("role {node} holds its quota limit of {}", reached.join(", "));
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
        let min = allocator::min_allocatable();
        if kept.scalars().iter().any(|v| *v > 0.0) && (left.cpus < min.cpus || left.mem < min.mem) {
            let message = format!("the free {} is kept for other roles' quota guarantees", short(&total_free));
            reasons.push(reason("kept_for_guarantees", message));
        }
    }
}
