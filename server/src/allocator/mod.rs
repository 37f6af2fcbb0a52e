//! The allocator: hierarchical Dominant Resource Fairness over roles and frameworks, as a pure
//! function of a snapshot. It does no I/O and holds no state, so it is unit-tested and
//! benchmarked on its own.
//!
//! Each round offers every agent's free resources, whole, to one framework (Mesos's
//! coarse-grained DRF), chosen by walking the role tree from the top: at each level the child
//! with the lowest weighted dominant share (allocation / cluster total, the largest over scalar
//! resources, divided by the role's weight) among those with a framework that may take this
//! agent; then, within the role, the framework with the lowest dominant share. Roles are
//! paths (`eng/backend`); a role's own frameworks compete with its child roles as one more
//! child of weight 1, as in Mesos. The one chosen is charged before the next agent.

mod tree;

use agora_api::Resources;
use std::collections::{BTreeSet, HashMap};
use tree::{Scalars, Tree, ROOT};

/// An agent that can be offered: active, with resources neither used by tasks nor offered.
#[derive(Clone, Debug)]
pub struct AgentSlot {
    /// Free and unreserved.
    pub available: Resources,
    /// Free and reserved, by role: offered only to frameworks in that role or below it.
    pub reserved: Vec<(String, Resources)>,
}

/// A framework that may receive offers.
#[derive(Clone, Debug)]
pub struct FrameworkSlot {
    /// The role its offers are for.
    pub role: String,
    /// Resources held by its tasks and outstanding offers.
    pub allocated: Resources,
    /// The part of `allocated` on reservations. It counts in fair shares but not in quota
    /// consumption, where the reservations themselves count (`Roles::reserved`).
    pub on_reservations: Resources,
    /// Indexes of agents this framework must not be offered now (refuse filters, offer
    /// constraints).
    pub filtered_agents: BTreeSet<usize>,
    /// The framework's own least offers for this role: an offer must hold at least one of
    /// them. Empty: any offer worth making.
    pub min_offers: Vec<Resources>,
}

impl FrameworkSlot {
    /// Whether `grant` is as large as the framework asked offers to be.
    fn takes(&self, grant: &Resources) -> bool {
        let have = grant.scalars();
        self.min_offers.is_empty()
            || self.min_offers.iter().any(|q| q.scalars().iter().zip(have).all(|(least, h)| at_least(h, *least)))
    }
}

/// One offer to make: framework index, agent index, resources.
#[derive(Clone, Debug, PartialEq)]
pub struct Grant {
    pub framework: usize,
    pub agent: usize,
    pub resources: Resources,
    /// The role the resources are reserved to, if they are.
    pub reservation: Option<String>,
}

/// The operators' settings for roles, by role path.
#[derive(Clone, Debug, Default)]
pub struct Roles {
    /// A role not named has weight 1.
    pub weights: HashMap<String, f64>,
    /// What a role and the roles below it may hold at most, in tasks and offers together: an
    /// amount per scalar resource, in the order of `Resources::scalars` (infinite: no limit).
    pub limits: HashMap<String, [f64; 4]>,
    /// What a role and the roles below it are guaranteed, per scalar resource (0: nothing).
    /// While a role holds less, what it misses is kept back from other roles, and its
    /// frameworks are offered resources first, up to it.
    pub guarantees: HashMap<String, [f64; 4]>,
    /// What is reserved to each role on active agents, used or not. A role's quota
    /// consumption, which its limit caps and its guarantee is measured against, is what is
    /// reserved to it and the roles below it plus what they hold unreserved (as in Mesos).
    pub reserved: HashMap<String, [f64; 4]>,
}

/// Mesos's default minimum: an offer smaller than this on both counts is not worth making.
pub fn min_allocatable() -> Resources {
    Resources::new(0.01, 32.0)
}

/// Whether `r` is big enough to offer: at least the minimum CPUs or the minimum memory.
fn worth_offering(r: &Resources, min: &Resources) -> bool {
    at_least(r.cpus, min.cpus) || at_least(r.mem, min.mem)
}

/// `amount >= least`, to rounding: amounts cut in proportion are rarely exact.
fn at_least(amount: f64, least: f64) -> bool {
    amount >= least - 1e-9 * least.max(1.0)
}

/// Whether `grant`, cut from `available` by quota, is worth offering. A cut offer
/// needs both the minimum CPUs and the minimum memory: a role at its CPU limit offered an
/// agent's memory alone could launch nothing, and would hold that memory back from every
/// other role until it declined (Mesos makes such offers).
fn worth_offering_cut(grant: &Resources, available: &Resources, min: &Resources) -> bool {
    worth_offering_scalars(&grant.scalars(), &available.scalars(), min)
}

fn worth_offering_scalars(grant: &Scalars, available: &Scalars, min: &Resources) -> bool {
    // Uncut, to rounding: the bounds are sums and differences of many amounts.
    if grant.iter().zip(available).all(|(g, a)| at_least(*g, *a)) {
        return at_least(grant[0], min.cpus) || at_least(grant[1], min.mem);
    }
    at_least(grant[0], min.cpus) && at_least(grant[1], min.mem)
}

/// Whether any of `available` cut down to `room` is worth offering (without building it).
fn offerable(available: &Resources, room: &Scalars, min: &Resources) -> bool {
    let have = available.scalars();
    worth_offering_scalars(&cut_scalars(&have, room), &have, min)
}

/// A role and the roles above it, from the top: `eng/backend` → `eng`, `eng/backend`.
pub fn role_path(role: &str) -> Vec<String> {
    let mut nodes: Vec<String> = Vec::new();
    for part in role.split('/') {
        let node = nodes.last().map_or_else(|| part.to_string(), |parent| format!("{parent}/{part}"));
        nodes.push(node);
    }
    nodes
}

/// Cuts `available` down to `room`: every scalar in the proportion of the scarcest, so that
/// the rest of the agent is left in a shape others can use (a role at its CPU limit does not
/// take all of an agent's memory). Ports go with it whole.
fn cut(available: &Resources, room: [f64; 4]) -> Resources {
    let [cpus, mem, disk, gpus] = cut_scalars(&available.scalars(), &room);
    Resources { cpus, mem, disk, gpus, ports: available.ports.clone() }
}

fn cut_scalars(have: &Scalars, room: &Scalars) -> Scalars {
    let fraction = (0..have.len()).filter(|&i| have[i] > 0.0).map(|i| room[i] / have[i]).fold(1.0f64, f64::min);
    std::array::from_fn(|i| room[i].min(have[i] * fraction.max(0.0)))
}

/// The two passes of a round, as in Mesos.
#[derive(Clone, Copy, PartialEq)]
enum Stage {
    /// Roles below their guarantee are offered up to it, before anyone else.
    Guarantees,
    /// Everyone, by fair share, leaving free what guaranteed roles still miss.
    Fair,
    /// An agent's resources reserved to a role, to that role and the roles below it, by fair
    /// share among them: nothing is kept back for others' guarantees.
    Reserved,
}

/// One round in progress.
struct Round<'a> {
    tree: Tree,
    frameworks: &'a [FrameworkSlot],
    min: &'a Resources,
    /// What is left of each agent.
    available: Vec<Resources>,
    /// The scalars left on all agents together.
    free: Scalars,
    /// The frameworks each agent was offered to this round.
    offered: Vec<Vec<usize>>,
    /// How many frameworks filter each agent: an agent that every framework filters or was
    /// offered to is skipped without a walk.
    filtered_by: Vec<usize>,
    grants: Vec<Grant>,
}

/// What a walk down the tree carries: the bounds set by the roles above.
#[derive(Clone, Copy)]
struct Bounds {
    /// What the limits above allow.
    room: Scalars,
    /// Of each resource a guaranteed role above names, the most any of them misses
    /// (`NEG_INFINITY`: none names it).
    owed: Scalars,
    /// Whether a guaranteed role above misses anything.
    needy: bool,
    /// What other roles' guarantees keep back.
    kept: Scalars,
}

impl Round<'_> {
    /// Offers what is left of `agent`, one framework after another, until nothing worth
    /// offering is left or no framework may take it.
    fn offer_agent(&mut self, agent: usize, stage: Stage) {
        while worth_offering(&self.available[agent], self.min)
            && self.filtered_by[agent] + self.offered[agent].len() < self.frameworks.len()
            // With no guarantee missing anything, the guarantees stage has nothing to offer.
            && (stage == Stage::Fair || self.tree.nodes[ROOT].needy > 0)
        {
            let bounds = Bounds {
                room: [f64::INFINITY; 4],
                owed: [f64::NEG_INFINITY; 4],
                needy: false,
                kept: self.tree.missing_total,
            };
            let available = self.available[agent].clone();
            let Some((framework, grant)) = self.visit(ROOT, bounds, agent, &available, stage) else { return };
            let given = grant.scalars();
            self.tree.charge(framework, &given, false);
            for (free, given) in self.free.iter_mut().zip(given) {
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

    /// Offers what is left of `agent`'s reservation for `role` to the frameworks in that role
    /// and below it, one after another. A framework gets at most one offer per reservation
    /// per round; it may get an unreserved offer of the same agent too.
    fn offer_reservation(&mut self, agent: usize, role: &str, mut left: Resources) {
        let Some(node) = self.tree.node(role) else { return };
        let mut offered: Vec<usize> = Vec::new();
        while worth_offering(&left, self.min) {
            let bounds =
                Bounds { room: [f64::INFINITY; 4], owed: [f64::NEG_INFINITY; 4], needy: false, kept: [0.0; 4] };
            let found = self.visit_excluding(node, bounds, agent, &left, &offered);
            let Some((framework, grant)) = found else { return };
            self.tree.charge(framework, &grant.scalars(), true);
            left = left.minus(&grant);
            left.ports.clear();
            offered.push(framework);
            self.grants.push(Grant { framework, agent, resources: grant, reservation: Some(role.to_string()) });
        }
    }

    /// [`Round::visit`] in the reserved stage, leaving out the frameworks in `offered`
    /// (counted in `self.offered` only for unreserved offers).
    fn visit_excluding(
        &mut self,
        node: usize,
        bounds: Bounds,
        agent: usize,
        available: &Resources,
        offered: &[usize],
    ) -> Option<(usize, Resources)> {
        let unreserved = std::mem::replace(&mut self.offered[agent], offered.to_vec());
        let found = self.visit(node, bounds, agent, available, Stage::Reserved);
        self.offered[agent] = unreserved;
        found
    }

    /// The framework first in fair order below `node` that may be offered some of `agent`
    /// now, and what: a walk down the sorted tree that stops at the first that may, and skips
    /// roles whose limits (or, in the guarantees stage, whose guarantees) leave nothing.
    fn visit(
        &self,
        node: usize,
        bounds: Bounds,
        agent: usize,
        available: &Resources,
        stage: Stage,
    ) -> Option<(usize, Resources)> {
        let parent = &self.tree.nodes[node];
        // In the guarantees stage, below no role that misses anything, only the way to one
        // that does is worth walking.
        let children =
            if stage == Stage::Guarantees && !bounds.needy { &parent.needy_children } else { &parent.children };
        for key in children {
            if parent.leaf {
                let framework = key.id;
                if self.frameworks[framework].filtered_agents.contains(&agent)
                    || self.offered[agent].contains(&framework)
                {
                    continue;
                }
                let headroom: Scalars = std::array::from_fn(|r| (self.free[r] - bounds.kept[r]).max(0.0));
                let bound = match stage {
                    // Up to what its guarantees miss of what they name, and of the rest what
                    // other roles' guarantees leave.
                    Stage::Guarantees => std::array::from_fn(|r| {
                        if bounds.owed[r] == f64::NEG_INFINITY {
                            headroom[r]
                        } else {
                            bounds.owed[r]
                        }
                    }),
                    Stage::Fair => headroom,
                    Stage::Reserved => [f64::INFINITY; 4],
                };
                let grant = cut(available, std::array::from_fn(|r| bounds.room[r].min(bound[r])));
                if (stage != Stage::Guarantees || bounds.needy)
                    && worth_offering_cut(&grant, available, self.min)
                    && self.frameworks[framework].takes(&grant)
                {
                    return Some((framework, grant));
                }
                continue;
            }
            // A reservation counts in its roles' quota consumption already: what is offered of
            // it is bounded by no limit.
            let limited = stage != Stage::Reserved;
            if key.full && limited {
                // Full roles come last: none after it may be offered anything.
                break;
            }
            let child = &self.tree.nodes[key.id];
            let mut inner = bounds;
            if let Some(limit) = child.limit.as_ref().filter(|_| limited) {
                inner.room = std::array::from_fn(|r| inner.room[r].min((limit[r] - child.consumed[r]).max(0.0)));
            }
            // Limits only shrink further down: what they leave here is the most below.
            if !offerable(available, &inner.room, self.min) {
                continue;
            }
            let missing = child.missing();
            if let Some(guarantee) = &child.guarantee {
                inner.needy |= tree::misses(&missing, &self.min.scalars());
                for r in 0..guarantee.len() {
                    if guarantee[r] > 0.0 {
                        inner.owed[r] = inner.owed[r].max(missing[r]);
                    }
                }
            }
            // In the guarantees stage, only roles with a guarantee that misses something, or
            // roles below them, are offered.
            if stage == Stage::Guarantees && !inner.needy && child.needy == 0 {
                continue;
            }
            if child.outermost_guarantee {
                inner.kept = std::array::from_fn(|r| self.tree.missing_total[r] - missing[r]);
            }
            if let Some(found) = self.visit(key.id, inner, agent, available, stage) {
                return Some(found);
            }
        }
        None
    }
}

/// Runs one round. `agents` should already be in the order to visit them (shuffled by the caller).
///
/// An agent goes whole to the framework chosen, unless a quota limit, or resources kept back
/// for another role's guarantee, cap what that framework may take: then what is left of the
/// agent goes to the next framework chosen, and so on. A framework gets at most one offer per
/// agent per round. Roles below their guarantee are served first, in a pass of their own.
///
/// A round with nothing worth offering costs one pass over the agents.
pub fn allocate(
    total: &Resources,
    agents: &[AgentSlot],
    frameworks: &[FrameworkSlot],
    roles: &Roles,
    min: &Resources,
) -> Vec<Grant> {
    let any_free = agents
        .iter()
        .any(|a| worth_offering(&a.available, min) || a.reserved.iter().any(|(_, r)| worth_offering(r, min)));
    if frameworks.is_empty() || !any_free {
        return Vec::new();
    }
    let available: Vec<Resources> = agents.iter().map(|a| a.available.clone()).collect();
    let mut free = [0.0; 4];
    for agent in &available {
        tree::add(&mut free, &agent.scalars());
    }
    let mut filtered_by = vec![0; agents.len()];
    for framework in frameworks {
        for &agent in framework.filtered_agents.range(..agents.len()) {
            filtered_by[agent] += 1;
        }
    }
    let mut round = Round {
        tree: Tree::new(total.scalars(), min.scalars(), roles, frameworks),
        frameworks,
        min,
        offered: vec![Vec::new(); agents.len()],
        available,
        free,
        filtered_by,
        grants: Vec::new(),
    };
    for (agent, slot) in agents.iter().enumerate() {
        for (role, left) in &slot.reserved {
            round.offer_reservation(agent, role, left.clone());
        }
    }
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

#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;
