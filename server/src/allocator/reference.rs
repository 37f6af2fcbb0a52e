//! The allocator as first written: the same policy, choosing each grant by comparing every
//! framework with every other. Kept as the model the incremental allocator is checked
//! against (`tests::the_incremental_allocator_makes_the_models_grants`).

use super::{cut, role_path, worth_offering, worth_offering_cut, AgentSlot, FrameworkSlot, Grant, Roles};
use agora_api::Resources;
use std::collections::HashMap;

/// The nodes of the role tree above a framework in `role`, from the top: each prefix of the
/// path, then the role's own frameworks as a leaf (`role/.`).
pub(super) fn role_nodes(role: &str) -> Vec<String> {
    let mut nodes = role_path(role);
    nodes.push(format!("{role}/."));
    nodes
}

/// The running state of one round: what each role node and framework holds.
struct Shares<'a> {
    total: &'a Resources,
    roles: &'a Roles,
    /// Resources held below each role node.
    nodes: HashMap<String, Resources>,
    /// Each framework's role nodes, from the top.
    paths: Vec<Vec<String>>,
    allocated: Vec<Resources>,
}

impl<'a> Shares<'a> {
    fn new(total: &'a Resources, roles: &'a Roles, frameworks: &[FrameworkSlot]) -> Shares<'a> {
        let paths: Vec<Vec<String>> = frameworks.iter().map(|f| role_nodes(&f.role)).collect();
        let mut nodes: HashMap<String, Resources> = HashMap::new();
        for (framework, path) in frameworks.iter().zip(&paths) {
            for node in path {
                nodes.entry(node.clone()).or_default().add(&framework.allocated);
            }
        }
        let allocated = frameworks.iter().map(|f| f.allocated.clone()).collect();
        Shares { total, roles, nodes, paths, allocated }
    }

    fn node_share(&self, node: &str) -> f64 {
        // The leaf of a role's own frameworks has weight 1 within the role.
        let weight = if node.ends_with("/.") { 1.0 } else { self.roles.weights.get(node).copied().unwrap_or(1.0) };
        let held = self.nodes.get(node).map_or(0.0, |r| r.dominant_share(self.total));
        held / weight.max(f64::MIN_POSITIVE)
    }

    /// Whether framework `a` comes before `b`: at the first level where their role nodes
    /// differ, the node with the lower weighted share; within one role, the framework with the
    /// lower share; then the lower index, so that rounds are deterministic.
    fn before(&self, a: usize, b: usize) -> bool {
        for (x, y) in self.paths[a].iter().zip(&self.paths[b]) {
            if x != y {
                let (sx, sy) = (self.node_share(x), self.node_share(y));
                if sx != sy {
                    return sx < sy;
                }
                return x < y;
            }
        }
        if self.paths[a].len() != self.paths[b].len() {
            return self.paths[a].len() < self.paths[b].len();
        }
        let (sa, sb) = (self.allocated[a].dominant_share(self.total), self.allocated[b].dominant_share(self.total));
        if sa != sb {
            return sa < sb;
        }
        a < b
    }

    /// How much of each scalar `framework` may still take without its role, or a role above
    /// it, going over its limit.
    fn limit_room(&self, framework: usize) -> [f64; 4] {
        let mut room = [f64::INFINITY; 4];
        for node in &self.paths[framework] {
            let Some(limit) = self.roles.limits.get(node) else { continue };
            let held = self.held(node);
            for i in 0..room.len() {
                room[i] = room[i].min((limit[i] - held[i]).max(0.0));
            }
        }
        room
    }

    /// Whether a role of `framework` is full: too little room under its limit to offer.
    fn full(&self, framework: usize, min: &Resources) -> bool {
        self.paths[framework].iter().any(|node| {
            self.roles.limits.get(node).is_some_and(|limit| super::tree::full(limit, &self.held(node), &min.scalars()))
        })
    }

    fn held(&self, node: &str) -> [f64; 4] {
        self.nodes.get(node).map(Resources::scalars).unwrap_or_default()
    }

    /// What a guaranteed role still misses of its guarantee, per scalar.
    fn missing(&self, node: &str) -> [f64; 4] {
        let Some(guarantee) = self.roles.guarantees.get(node) else { return [0.0; 4] };
        let held = self.held(node);
        std::array::from_fn(|i| (guarantee[i] - held[i]).max(0.0))
    }

    /// How much of each scalar `framework` may take towards the guarantees of its roles: of a
    /// resource its guarantees name, the most any of them misses; of another, the `headroom`
    /// other roles' guarantees leave. Nothing if none of its guaranteed roles misses anything.
    fn guarantee_room(&self, framework: usize, headroom: [f64; 4], min: &Resources) -> [f64; 4] {
        let guaranteed: Vec<&String> =
            self.paths[framework].iter().filter(|n| self.roles.guarantees.contains_key(*n)).collect();
        if !guaranteed.iter().any(|n| super::tree::misses(&self.missing(n), &min.scalars())) {
            return [0.0; 4];
        }
        let mut room = [f64::NEG_INFINITY; 4];
        for node in guaranteed {
            let (guarantee, missing) = (self.roles.guarantees[node], self.missing(node));
            for i in 0..room.len() {
                if guarantee[i] > 0.0 {
                    room[i] = room[i].max(missing[i]);
                }
            }
        }
        std::array::from_fn(|i| if room[i] == f64::NEG_INFINITY { headroom[i] } else { room[i] })
    }

    /// What the guaranteed roles outside `framework`'s roles still miss: kept back from it.
    /// A guarantee inside another guaranteed role counts as part of that one.
    fn headroom_for_others(&self, framework: usize) -> [f64; 4] {
        let mut kept = [0.0f64; 4];
        for node in self.roles.guarantees.keys() {
            let nested = role_path(node).iter().rev().skip(1).any(|above| self.roles.guarantees.contains_key(above));
            if nested || self.paths[framework].contains(node) {
                continue;
            }
            let missing = self.missing(node);
            for i in 0..kept.len() {
                kept[i] += missing[i];
            }
        }
        kept
    }

    fn charge(&mut self, framework: usize, resources: &Resources) {
        self.allocated[framework].add(resources);
        for node in &self.paths[framework] {
            self.nodes.entry(node.clone()).or_default().add(resources);
        }
    }
}

/// The two passes of a round, as in Mesos.
#[derive(Clone, Copy, PartialEq)]
enum Stage {
    /// Roles below their guarantee are offered up to it, before anyone else.
    Guarantees,
    /// Everyone, by fair share, leaving free what guaranteed roles still miss.
    Fair,
}

/// One round in progress.
struct Round<'a> {
    shares: Shares<'a>,
    frameworks: &'a [FrameworkSlot],
    min: &'a Resources,
    /// What is left of each agent.
    available: Vec<Resources>,
    /// The scalars left on all agents together.
    free: [f64; 4],
    /// The frameworks each agent was offered to this round.
    offered: Vec<Vec<usize>>,
    grants: Vec<Grant>,
}

impl Round<'_> {
    /// Offers what is left of `agent`, one framework after another, until nothing worth
    /// offering is left or no framework may take it.
    fn offer_agent(&mut self, agent: usize, stage: Stage) {
        while worth_offering(&self.available[agent], self.min) {
            let Some((framework, grant)) = self.choose(agent, stage) else { return };
            self.shares.charge(framework, &grant);
            for (free, given) in self.free.iter_mut().zip(grant.scalars()) {
                *free = (*free - given).max(0.0);
            }
            let mut rest = self.available[agent].minus(&grant);
            // The ports went with the first offer.
            rest.ports.clear();
            self.available[agent] = rest;
            self.offered[agent].push(framework);
            self.grants.push(Grant { framework, agent, resources: grant, reservation: None });
        }
    }

    /// The framework first in fair order that may be offered some of `agent` now, and what.
    fn choose(&self, agent: usize, stage: Stage) -> Option<(usize, Resources)> {
        let available = &self.available[agent];
        let mut chosen: Option<(usize, Resources)> = None;
        for (i, framework) in self.frameworks.iter().enumerate() {
            if framework.filtered_agents.contains(&agent)
                || self.offered[agent].contains(&i)
                || self.shares.full(i, self.min)
            {
                continue;
            }
            if chosen.as_ref().is_some_and(|(c, _)| !self.shares.before(i, *c)) {
                continue;
            }
            let mut room = self.shares.limit_room(i);
            let kept = self.shares.headroom_for_others(i);
            let headroom = std::array::from_fn(|r| (self.free[r] - kept[r]).max(0.0));
            let bound = match stage {
                Stage::Guarantees => self.shares.guarantee_room(i, headroom, self.min),
                Stage::Fair => headroom,
            };
            for (room, bound) in room.iter_mut().zip(bound) {
                *room = room.min(bound);
            }
            let grant = cut(available, room);
            if worth_offering_cut(&grant, available, self.min) && framework.takes(&grant) {
                chosen = Some((i, grant));
            }
        }
        chosen
    }
}

/// Runs one round. `agents` should already be in the order to visit them (shuffled by the caller).
///
/// An agent goes whole to the framework chosen, unless a quota limit, or resources kept back
/// for another role's guarantee, cap what that framework may take: then what is left of the
/// agent goes to the next framework chosen, and so on. A framework gets at most one offer per
/// agent per round. Roles below their guarantee are served first, in a pass of their own.
pub fn allocate(
    total: &Resources,
    agents: &[AgentSlot],
    frameworks: &[FrameworkSlot],
    roles: &Roles,
    min: &Resources,
) -> Vec<Grant> {
    let available: Vec<Resources> = agents.iter().map(|a| a.available.clone()).collect();
    let free = available.iter().fold([0.0; 4], |mut sum, r| {
        for (s, v) in sum.iter_mut().zip(r.scalars()) {
            *s += v;
        }
        sum
    });
    let mut round = Round {
        shares: Shares::new(total, roles, frameworks),
        frameworks,
        min,
        offered: vec![Vec::new(); agents.len()],
        available,
        free,
        grants: Vec::new(),
    };
    if !roles.guarantees.is_empty() {
        for agent in 0..agents.len() {
            round.offer_agent(agent, Stage::Guarantees);
        }
    }
    for agent in 0..agents.len() {
        round.offer_agent(agent, Stage::Fair);
    }
    round.grants
}
