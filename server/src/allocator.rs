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

use agora_api::Resources;
use std::collections::{BTreeSet, HashMap};

/// An agent that can be offered: active, with resources neither used by tasks nor offered.
#[derive(Clone, Debug)]
pub struct AgentSlot {
    pub available: Resources,
}

/// A framework that may receive offers.
#[derive(Clone, Debug)]
pub struct FrameworkSlot {
    /// The role its offers are for.
    pub role: String,
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
}

/// Mesos's default minimum: an offer smaller than this on both counts is not worth making.
pub fn min_allocatable() -> Resources {
    Resources::new(0.01, 32.0)
}

/// Whether `r` is big enough to offer: at least the minimum CPUs or the minimum memory.
fn worth_offering(r: &Resources, min: &Resources) -> bool {
    r.cpus >= min.cpus || r.mem >= min.mem
}

/// Whether `grant`, cut from `available` by quota, is worth offering. A cut offer
/// needs both the minimum CPUs and the minimum memory: a role at its CPU limit offered an
/// agent's memory alone could launch nothing, and would hold that memory back from every
/// other role until it declined (Mesos makes such offers).
fn worth_offering_cut(grant: &Resources, available: &Resources, min: &Resources) -> bool {
    if grant.scalars() == available.scalars() {
        return worth_offering(grant, min);
    }
    grant.cpus >= min.cpus && grant.mem >= min.mem
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

/// The nodes of the role tree above a framework in `role`, from the top: each prefix of the
/// path, then the role's own frameworks as a leaf (`role/.`).
fn role_nodes(role: &str) -> Vec<String> {
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

    fn held(&self, node: &str) -> [f64; 4] {
        self.nodes.get(node).map(Resources::scalars).unwrap_or_default()
    }

    /// What a guaranteed role still misses of its guarantee, per scalar.
    fn missing(&self, node: &str) -> [f64; 4] {
        let Some(guarantee) = self.roles.guarantees.get(node) else { return [0.0; 4] };
        let held = self.held(node);
        std::array::from_fn(|i| (guarantee[i] - held[i]).max(0.0))
    }

    /// How much of each scalar `framework` may take towards the guarantees of its roles: the
    /// most any of its guaranteed roles misses. Zero if it has none that misses anything.
    fn guarantee_room(&self, framework: usize) -> [f64; 4] {
        let mut room = [0.0f64; 4];
        for node in self.paths[framework].iter().filter(|n| self.roles.guarantees.contains_key(*n)) {
            let missing = self.missing(node);
            for i in 0..room.len() {
                room[i] = room[i].max(missing[i]);
            }
        }
        room
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

/// Cuts `available` down to `room`: every scalar in the proportion of the scarcest, so that
/// the rest of the agent is left in a shape others can use (a role at its CPU limit does not
/// take all of an agent's memory). Ports go with it whole.
fn cut(available: &Resources, room: [f64; 4]) -> Resources {
    let have = available.scalars();
    let fraction = (0..have.len()).filter(|&i| have[i] > 0.0).map(|i| room[i] / have[i]).fold(1.0f64, f64::min);
    let part = |i: usize| room[i].min(have[i] * fraction.max(0.0));
    Resources { cpus: part(0), mem: part(1), disk: part(2), gpus: part(3), ports: available.ports.clone() }
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
            self.grants.push(Grant { framework, agent, resources: grant });
        }
    }

    /// The framework first in fair order that may be offered some of `agent` now, and what.
    fn choose(&self, agent: usize, stage: Stage) -> Option<(usize, Resources)> {
        let available = &self.available[agent];
        let mut chosen: Option<(usize, Resources)> = None;
        for (i, framework) in self.frameworks.iter().enumerate() {
            if framework.filtered_agents.contains(&agent) || self.offered[agent].contains(&i) {
                continue;
            }
            if chosen.as_ref().is_some_and(|(c, _)| !self.shares.before(i, *c)) {
                continue;
            }
            let mut room = self.shares.limit_room(i);
            let bound = match stage {
                Stage::Guarantees => self.shares.guarantee_room(i),
                Stage::Fair => {
                    let kept = self.shares.headroom_for_others(i);
                    std::array::from_fn(|r| (self.free[r] - kept[r]).max(0.0))
                }
            };
            for (room, bound) in room.iter_mut().zip(bound) {
                *room = room.min(bound);
            }
            let grant = cut(available, room);
            if worth_offering_cut(&grant, available, self.min) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(cpus: f64, mem: f64) -> AgentSlot {
        AgentSlot { available: Resources::new(cpus, mem) }
    }

    fn framework(cpus: f64, mem: f64) -> FrameworkSlot {
        in_role("*", cpus, mem)
    }

    fn in_role(role: &str, cpus: f64, mem: f64) -> FrameworkSlot {
        FrameworkSlot { role: role.into(), allocated: Resources::new(cpus, mem), filtered_agents: BTreeSet::new() }
    }

    fn none() -> Roles {
        Roles::default()
    }

    fn weighted(weights: &[(&str, f64)]) -> Roles {
        Roles { weights: weights.iter().map(|(r, w)| (r.to_string(), *w)).collect(), ..Roles::default() }
    }

    /// Runs rounds over `agents` identical agents, each framework taking tasks of its own
    /// `shape` from every offer until nothing fits, as real frameworks do; returns each
    /// framework's holdings.
    fn saturate(
        agents: usize,
        agent: (f64, f64),
        frameworks: &[(&str, (f64, f64))],
        roles: &Roles,
    ) -> (Resources, Vec<Resources>) {
        let total = Resources::new(agent.0 * agents as f64, agent.1 * agents as f64);
        let mut free: Vec<Resources> = vec![Resources::new(agent.0, agent.1); agents];
        let mut held: Vec<Resources> = vec![Resources::default(); frameworks.len()];
        // Each round offers every agent; a framework launches one task of its shape on each
        // offer where it fits, and declines the rest (without a filter), as a framework with
        // a queue of such tasks would.
        loop {
            let slots: Vec<FrameworkSlot> = frameworks
                .iter()
                .zip(&held)
                .map(|((role, _), h)| FrameworkSlot {
                    role: role.to_string(),
                    allocated: h.clone(),
                    filtered_agents: BTreeSet::new(),
                })
                .collect();
            let offered: Vec<AgentSlot> = free.iter().map(|r| AgentSlot { available: r.clone() }).collect();
            let mut launched = false;
            for grant in allocate(&total, &offered, &slots, roles, &min_allocatable()) {
                let (cpus, mem) = frameworks[grant.framework].1;
                let task = Resources::new(cpus, mem);
                if task.fits_in(&grant.resources) {
                    free[grant.agent] = free[grant.agent].minus(&task);
                    held[grant.framework].add(&task);
                    launched = true;
                }
            }
            if !launched {
                return (total, held);
            }
        }
    }

    #[test]
    fn lowest_dominant_share_goes_first() {
        let total = Resources::new(10.0, 1000.0);
        // Framework 0 holds half the memory; framework 1 holds a tenth of the CPUs.
        let frameworks = [framework(0.0, 500.0), framework(1.0, 0.0)];
        let grants = allocate(&total, &[agent(2.0, 100.0)], &frameworks, &none(), &min_allocatable());
        assert_eq!(grants.len(), 1);
        assert_eq!(grants[0].framework, 1);
    }

    #[test]
    fn shares_are_charged_between_agents() {
        let total = Resources::new(4.0, 400.0);
        let agents = [agent(1.0, 100.0), agent(1.0, 100.0), agent(1.0, 100.0), agent(1.0, 100.0)];
        let frameworks = [framework(0.0, 0.0), framework(0.0, 0.0)];
        let grants = allocate(&total, &agents, &frameworks, &none(), &min_allocatable());
        let to_zero = grants.iter().filter(|g| g.framework == 0).count();
        assert_eq!((grants.len(), to_zero), (4, 2));
    }

    #[test]
    fn filters_and_small_leftovers_are_respected() {
        let total = Resources::new(2.0, 200.0);
        let mut picky = framework(0.0, 0.0);
        picky.filtered_agents.insert(0);
        let grants = allocate(&total, &[agent(1.0, 100.0), agent(0.001, 1.0)], &[picky], &none(), &min_allocatable());
        assert!(grants.is_empty());
        let other = framework(1.0, 100.0);
        let mut picky = framework(0.0, 0.0);
        picky.filtered_agents.insert(0);
        let grants = allocate(&total, &[agent(1.0, 100.0)], &[picky, other], &none(), &min_allocatable());
        assert_eq!(grants, vec![Grant { framework: 1, agent: 0, resources: Resources::new(1.0, 100.0) }]);
    }

    #[test]
    fn roles_take_turns_by_weighted_share_before_frameworks_do() {
        let total = Resources::new(10.0, 1000.0);
        // Role a has two frameworks holding 2 CPUs in all; role b one holding 3 CPUs.
        let frameworks = [in_role("a", 1.0, 0.0), in_role("a", 1.0, 0.0), in_role("b", 3.0, 0.0)];
        let grants = allocate(&total, &[agent(1.0, 10.0)], &frameworks, &none(), &min_allocatable());
        assert_eq!(grants[0].framework, 0, "role a is further below its share");
        // With weight 2, role b's 3 CPUs count as 1.5: b goes first.
        let grants = allocate(&total, &[agent(1.0, 10.0)], &frameworks, &weighted(&[("b", 2.0)]), &min_allocatable());
        assert_eq!(grants[0].framework, 2);
    }

    #[test]
    fn a_role_nodes_are_its_prefixes_and_its_own_leaf() {
        assert_eq!(role_nodes("*"), vec!["*", "*/."]);
        assert_eq!(role_nodes("eng/backend/db"), vec!["eng", "eng/backend", "eng/backend/db", "eng/backend/db/."]);
    }

    /// Within 5% of the weighted DRF allocation, frameworks with different task shapes end
    /// with equal weighted dominant shares.
    #[test]
    fn frameworks_with_different_shapes_converge_to_weighted_drf_shares() {
        // A CPU-heavy and a memory-heavy framework, equal weights: equal dominant shares.
        let (total, held) = saturate(20, (8.0, 16384.0), &[("a", (1.0, 256.0)), ("b", (0.25, 2048.0))], &none());
        let (a, b) = (held[0].dominant_share(&total), held[1].dominant_share(&total));
        assert!((a - b).abs() <= 0.05 * a.max(b), "shares {a:.3} and {b:.3}");
        assert!(a > 0.4 && b > 0.4, "the cluster is used: {a:.3} {b:.3}");

        // Three roles, weights 1, 2 and 1: shares in proportion 1:2:1.
        let shapes = [("a", (1.0, 512.0)), ("b", (0.5, 2048.0)), ("c", (2.0, 256.0))];
        let (total, held) = saturate(30, (8.0, 16384.0), &shapes, &weighted(&[("b", 2.0)]));
        let s: Vec<f64> = held.iter().map(|h| h.dominant_share(&total)).collect();
        let weighted = [s[0], s[1] / 2.0, s[2]];
        let (lo, hi) = weighted.iter().fold((f64::MAX, 0.0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        assert!(hi - lo <= 0.05 * hi, "weighted shares {weighted:?}");
    }

    /// Fair share is delegated down the tree: `eng` (weight 3) against `ops` (weight 1), and
    /// `eng`'s share split evenly between `eng/a` and `eng/b`.
    #[test]
    fn hierarchical_roles_split_their_parents_share() {
        let shapes = [("eng/a", (1.0, 256.0)), ("eng/b", (1.0, 256.0)), ("ops", (1.0, 256.0))];
        let (total, held) = saturate(16, (4.0, 4096.0), &shapes, &weighted(&[("eng", 3.0)]));
        let s: Vec<f64> = held.iter().map(|h| h.dominant_share(&total)).collect();
        let (eng, ops) = (s[0] + s[1], s[2]);
        assert!((eng / 3.0 - ops).abs() <= 0.05 * ops, "eng {eng:.3} is three times ops {ops:.3}");
        assert!((s[0] - s[1]).abs() <= 0.05 * s[0], "eng/a {:.3} and eng/b {:.3} split eng", s[0], s[1]);
    }

    #[test]
    fn a_declining_framework_does_not_starve_the_others() {
        let total = Resources::new(4.0, 400.0);
        let agents = [agent(1.0, 100.0), agent(1.0, 100.0), agent(1.0, 100.0), agent(1.0, 100.0)];
        // Framework 0 declined every agent (it is filtered on all); framework 1 gets them.
        let mut decliner = in_role("a", 0.0, 0.0);
        decliner.filtered_agents.extend(0..4);
        let grants = allocate(&total, &agents, &[decliner, in_role("b", 2.0, 200.0)], &none(), &min_allocatable());
        assert_eq!(grants.iter().filter(|g| g.framework == 1).count(), 4);
    }

    /// A limit caps what a role's frameworks are offered, across agents and rounds, and for
    /// a parent role across its children; what is left of an agent goes to others.
    #[test]
    fn a_quota_limit_is_never_exceeded_and_the_rest_goes_to_others() {
        let mut roles = Roles::default();
        roles.limits.insert("eng".into(), [3.0, f64::INFINITY, f64::INFINITY, f64::INFINITY]);
        let shapes = [("eng/a", (1.0, 256.0)), ("eng/b", (0.5, 256.0)), ("ops", (1.0, 256.0))];
        let (_, held) = saturate(4, (4.0, 4096.0), &shapes, &roles);
        let eng = held[0].plus(&held[1]);
        assert!(eng.cpus <= 3.0 + 1e-9, "eng holds {} CPUs, over its limit of 3", eng.cpus);
        assert!(eng.cpus >= 2.5, "eng gets up to its limit: {}", eng.cpus);
        assert!((held[2].cpus - 13.0).abs() < 1e-9, "ops gets everything else: {}", held[2].cpus);

        // Within one round: the agent is split, eng's share capped and the rest to ops.
        let total = Resources::new(4.0, 4096.0);
        let frameworks = [in_role("eng/a", 0.0, 0.0), in_role("ops", 1.0, 0.0)];
        let grants = allocate(&total, &[agent(4.0, 4096.0)], &frameworks, &roles, &min_allocatable());
        assert_eq!(grants.len(), 2, "{grants:?}");
        assert_eq!((grants[0].framework, grants[0].resources.cpus, grants[0].resources.mem), (0, 3.0, 3072.0));
        assert_eq!((grants[1].framework, grants[1].resources.cpus, grants[1].resources.mem), (1, 1.0, 1024.0));
    }

    /// A guarantee is met whenever the cluster can meet it: its role is served first, and what
    /// it still misses is kept from other roles, even from one with a lower share.
    #[test]
    fn a_guarantee_is_met_first_and_kept_back_from_others() {
        let total = Resources::new(8.0, 8192.0);
        let mut roles = Roles::default();
        roles.guarantees.insert("prod".into(), [6.0, 0.0, 0.0, 0.0]);
        // prod holds 5 CPUs already, batch nothing: by fair share batch would go first.
        let frameworks = [in_role("batch", 0.0, 0.0), in_role("prod", 5.0, 1024.0)];
        let agents = [agent(1.5, 3072.0), agent(1.5, 3072.0)];
        let grants = allocate(&total, &agents, &frameworks, &roles, &min_allocatable());
        let to = |f: usize| grants.iter().filter(|g| g.framework == f).map(|g| g.resources.cpus).sum::<f64>();
        assert!((to(1) - 1.0).abs() < 1e-9, "prod is offered the 1 CPU it misses: {grants:?}");
        assert!((to(0) - 2.0).abs() < 1e-9, "batch gets the rest: {grants:?}");

        // With prod's framework filtering every agent (it declined), the CPU it misses is
        // still kept free: batch gets 2 of the 3.
        let mut picky = in_role("prod", 5.0, 1024.0);
        picky.filtered_agents.extend([0, 1]);
        let grants = allocate(&total, &agents, &[in_role("batch", 0.0, 0.0), picky], &roles, &min_allocatable());
        let batch: f64 = grants.iter().map(|g| g.resources.cpus).sum();
        assert!((batch - 2.0).abs() < 1e-9, "one CPU is kept back for prod: {grants:?}");
    }

    /// Over many rounds, a guaranteed role reaches its guarantee although its tasks are
    /// smaller than the others' and its weight is the same.
    #[test]
    fn a_guarantee_is_reached_under_contention() {
        let mut roles = Roles::default();
        roles.guarantees.insert("prod".into(), [20.0, 0.0, 0.0, 0.0]);
        let shapes = [("prod", (0.5, 128.0)), ("batch", (1.0, 128.0)), ("dev", (1.0, 128.0))];
        let (_, held) = saturate(8, (4.0, 8192.0), &shapes, &roles);
        assert!(held[0].cpus >= 20.0 - 1e-9, "prod holds {} CPUs of its 20 guaranteed", held[0].cpus);
        // Without the guarantee, fair shares give it about a third.
        let (_, fair) = saturate(8, (4.0, 8192.0), &shapes, &none());
        assert!(fair[0].cpus < 12.0, "without it prod holds {}", fair[0].cpus);
    }
}
