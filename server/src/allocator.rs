//! The allocator: Dominant Resource Fairness over frameworks, as a pure function of a snapshot.
//! It does no I/O and holds no state, so it is unit-tested and benchmarked on its own.
//!
//! Each round offers every agent's free resources, whole, to the eligible framework with the
//! lowest dominant share (allocation / cluster total, the largest over scalar resources),
//! then charges that framework before the next agent: Mesos's coarse-grained DRF.

use agora_api::Resources;
use std::collections::BTreeSet;

/// An agent that can be offered: active, with resources neither used by tasks nor offered.
#[derive(Clone, Debug)]
pub struct AgentSlot {
    pub available: Resources,
}

/// A framework that may receive offers.
#[derive(Clone, Debug)]
pub struct FrameworkSlot {
    /// Resources held by its tasks and outstanding offers.
    pub allocated: Resources,
    /// Indexes of agents this framework must not be offered now (refuse filters).
    pub filtered_agents: BTreeSet<usize>,
}

/// One offer to make: framework index, agent index, resources.
#[derive(Clone, Debug, PartialEq)]
pub struct Grant {
    pub framework: usize,
    pub agent: usize,
    pub resources: Resources,
}

/// Mesos's default minimum: an offer smaller than this on both counts is not worth making.
pub fn min_allocatable() -> Resources {
    Resources::new(0.01, 32.0)
}

/// Whether `r` is big enough to offer: at least the minimum CPUs or the minimum memory.
fn worth_offering(r: &Resources, min: &Resources) -> bool {
    r.cpus >= min.cpus || r.mem >= min.mem
}

/// Runs one round. `agents` should already be in the order to visit them (shuffled by the caller).
pub fn allocate(total: &Resources, agents: &[AgentSlot], frameworks: &[FrameworkSlot], min: &Resources) -> Vec<Grant> {
    // Frameworks ordered by dominant share; f64 shares are non-negative, so their bit patterns
    // sort like the numbers and the set needs no float wrapper.
    let mut shares: Vec<f64> = frameworks.iter().map(|f| f.allocated.dominant_share(total)).collect();
    let mut order: BTreeSet<(u64, usize)> = shares.iter().enumerate().map(|(i, s)| (s.to_bits(), i)).collect();
    let mut allocated: Vec<Resources> = frameworks.iter().map(|f| f.allocated.clone()).collect();
    let mut grants = Vec::new();
    for (agent_index, agent) in agents.iter().enumerate() {
        if !worth_offering(&agent.available, min) {
            continue;
        }
        let chosen = order.iter().map(|&(_, i)| i).find(|&i| !frameworks[i].filtered_agents.contains(&agent_index));
        let Some(framework) = chosen else { continue };
        order.remove(&(shares[framework].to_bits(), framework));
        allocated[framework].add(&agent.available);
        shares[framework] = allocated[framework].dominant_share(total);
        order.insert((shares[framework].to_bits(), framework));
        grants.push(Grant { framework, agent: agent_index, resources: agent.available.clone() });
    }
    grants
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(cpus: f64, mem: f64) -> AgentSlot {
        AgentSlot { available: Resources::new(cpus, mem) }
    }

    fn framework(cpus: f64, mem: f64) -> FrameworkSlot {
        FrameworkSlot { allocated: Resources::new(cpus, mem), filtered_agents: BTreeSet::new() }
    }

    #[test]
    fn lowest_dominant_share_goes_first() {
        let total = Resources::new(10.0, 1000.0);
        // Framework 0 holds half the memory; framework 1 holds a tenth of the CPUs.
        let frameworks = [framework(0.0, 500.0), framework(1.0, 0.0)];
        let grants = allocate(&total, &[agent(2.0, 100.0)], &frameworks, &min_allocatable());
        assert_eq!(grants.len(), 1);
        assert_eq!(grants[0].framework, 1);
    }

    #[test]
    fn shares_are_charged_between_agents() {
        let total = Resources::new(4.0, 400.0);
        let agents = [agent(1.0, 100.0), agent(1.0, 100.0), agent(1.0, 100.0), agent(1.0, 100.0)];
        let frameworks = [framework(0.0, 0.0), framework(0.0, 0.0)];
        let grants = allocate(&total, &agents, &frameworks, &min_allocatable());
        let to_zero = grants.iter().filter(|g| g.framework == 0).count();
        assert_eq!((grants.len(), to_zero), (4, 2));
    }

    #[test]
    fn filters_and_small_leftovers_are_respected() {
        let total = Resources::new(2.0, 200.0);
        let mut picky = framework(0.0, 0.0);
        picky.filtered_agents.insert(0);
        let grants = allocate(&total, &[agent(1.0, 100.0), agent(0.001, 1.0)], &[picky], &min_allocatable());
        assert!(grants.is_empty());
        let other = framework(1.0, 100.0);
        let mut picky = framework(0.0, 0.0);
        picky.filtered_agents.insert(0);
        let grants = allocate(&total, &[agent(1.0, 100.0)], &[picky, other], &min_allocatable());
        assert_eq!(grants, vec![Grant { framework: 1, agent: 0, resources: Resources::new(1.0, 100.0) }]);
    }
}
