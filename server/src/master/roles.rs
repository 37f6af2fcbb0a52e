//! Roles: the weights and quota operators set, and what each role holds now.

use super::leader::{RoleUsage, Snapshot};
use super::records::key;
use super::Caller;
use super::{check_role, encode, wake_allocator, Master};
use crate::allocator;
use crate::error::ServerError;
use crate::store::{Op, Txn};
use agora_api::operator::{AgentState, RoleConfig, RoleView};
use agora_api::resources::SCALAR_NAMES;
use agora_api::Resources;
use std::collections::{BTreeMap, BTreeSet};

/// The largest weight accepted: weights are ratios, and a larger one only loses precision.
const MAX_WEIGHT: f64 = 1e6;

impl Master {
    /// Sets a role's weight and quota (`PUT /v1/roles/{role}`), and wakes the allocator.
    pub async fn set_role(&self, caller: &Caller, role: &str, config: RoleConfig) -> Result<RoleView, ServerError> {
        caller.check_operates()?;
        check_role(role)?;
        check_config(&config)?;
        let mut txn = Txn::default();
        txn.put(key::role(role), encode(&config));
        txn.op(Op::SetAdd(key::ROLES.to_string(), role.to_string()));
        wake_allocator(&mut txn);
        self.store.commit(&txn).await?;
        let views = self.roles().await?;
        views.into_iter().find(|v| v.role == role).ok_or_else(|| ServerError::not_found("role", "unknown_role", role))
    }

    /// Every role configured or used by a framework, and the roles above them.
    pub async fn roles(&self) -> Result<Vec<RoleView>, ServerError> {
        Ok(self.snapshot().await?.role_views())
    }
}

fn check_config(config: &RoleConfig) -> Result<(), ServerError> {
    if !config.weight.is_finite() || config.weight <= 0.0 || config.weight > MAX_WEIGHT {
        return Err(ServerError::bad("invalid_weight", format!("a weight is a number above 0, at most {MAX_WEIGHT}")));
    }
    let quota = &config.quota;
    for (what, amounts) in [("guarantee", &quota.guarantee), ("limit", &quota.limit)] {
        for (name, amount) in amounts {
            if !SCALAR_NAMES.contains(&name.as_str()) {
                let names = SCALAR_NAMES.join(", ");
                return Err(ServerError::bad("invalid_quota", format!("a quota {what} names {names}; not `{name}`")));
            }
            if !amount.is_finite() || *amount < 0.0 {
                return Err(ServerError::bad(
                    "invalid_quota",
                    format!("a quota {what} needs finite amounts of 0 or more"),
                ));
            }
        }
    }
    for (name, guarantee) in &quota.guarantee {
        if quota.limit.get(name).is_some_and(|limit| guarantee > limit) {
            return Err(ServerError::bad("invalid_quota", format!("the {name} guarantee is above its limit")));
        }
    }
    Ok(())
}

impl Snapshot {
    /// The roles' settings as the allocator takes them.
    pub(crate) fn allocator_roles(&self) -> allocator::Roles {
        let mut roles = allocator::Roles::default();
        for (role, config) in &self.roles {
            if config.weight != 1.0 {
                roles.weights.insert(role.clone(), config.weight);
            }
            if config.quota.guarantee.values().any(|amount| *amount > 0.0) {
                let guarantee = SCALAR_NAMES.map(|name| config.quota.guarantee.get(name).copied().unwrap_or(0.0));
                roles.guarantees.insert(role.clone(), guarantee);
            }
            if !config.quota.limit.is_empty() {
                let limit = SCALAR_NAMES.map(|name| config.quota.limit.get(name).copied().unwrap_or(f64::INFINITY));
                roles.limits.insert(role.clone(), limit);
            }
        }
        roles.reserved = self.reserved_by_role().into_iter().map(|(role, r)| (role, r.scalars())).collect();
        roles
    }

    pub(crate) fn role_views(&self) -> Vec<RoleView> {
        let total = self
            .agents
            .iter()
            .filter(|(_, a)| a.value.state == AgentState::Active)
            .fold(Resources::default(), |t, (_, a)| t.plus(&a.value.total));
        // Every configured role, every framework's roles, and the roles above them.
        let mut names: BTreeSet<String> = self.roles.keys().cloned().collect();
        let mut frameworks: BTreeMap<String, usize> = BTreeMap::new();
        for entry in &self.frameworks {
            for role in &entry.record.value.roles {
                *frameworks.entry(role.clone()).or_default() += 1;
                names.insert(role.clone());
            }
        }
        // Per role and the roles below it: what is held, and the part of it on reservations.
        let mut allocated: BTreeMap<String, RoleUsage> = BTreeMap::new();
        for ((_, role), usage) in self.role_usage() {
            for node in allocator::role_path(&role) {
                let entry = allocated.entry(node.clone()).or_default();
                entry.held.add(&usage.held);
                entry.on_reservations.add(&usage.on_reservations);
                names.insert(node);
            }
        }
        let mut reserved: BTreeMap<String, Resources> = BTreeMap::new();
        for (role, resources) in self.reserved_by_role() {
            for node in allocator::role_path(&role) {
                reserved.entry(node.clone()).or_default().add(&resources);
                names.insert(node);
            }
        }
        let names: Vec<String> =
            names.into_iter().flat_map(|n| allocator::role_path(&n)).collect::<BTreeSet<_>>().into_iter().collect();
        names
            .into_iter()
            .map(|role| {
                let config = self.roles.get(&role).cloned().unwrap_or_default();
                let usage = allocated.remove(&role).unwrap_or_default();
                let reserved = reserved.remove(&role).unwrap_or_default();
                RoleView {
                    dominant_share: usage.held.dominant_share(&total),
                    consumed: usage.held.minus(&usage.on_reservations).plus(&reserved),
                    allocated: usage.held,
                    reserved,
                    frameworks: frameworks.get(&role).copied().unwrap_or(0),
                    weight: config.weight,
                    quota: config.quota,
                    role,
                }
            })
            .collect()
    }
}
