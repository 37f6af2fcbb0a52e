//! The role tree of one round, kept in fair order as it is charged.
//!
//! Every node keeps its children sorted by weighted dominant share (a role's own frameworks
//! are one more child, a leaf holding them sorted by their own share). Charging a grant
//! re-keys only the nodes on the framework's path: O(depth × log n), where re-sorting every
//! framework for every grant (as Mesos's sorter does when it is dirtied) would be O(n log n).

use super::{role_path, FrameworkSlot, Roles};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

/// Amounts of the scalar resources, in the order of `Resources::scalars`.
pub(super) type Scalars = [f64; 4];

/// The root of the tree: above every top-level role.
pub(super) const ROOT: usize = 0;

/// A place in a sorted set: roles at their limit last, then by weighted dominant share, then
/// a tie-break that keeps rounds deterministic (role name order for roles, index for
/// frameworks). Full roles last lets a walk stop at the first, instead of passing every
/// capped role for every agent.
#[derive(Clone, Copy, Debug)]
pub(super) struct Key {
    pub full: bool,
    share: f64,
    pub id: usize,
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        self.full.cmp(&other.full).then(self.share.total_cmp(&other.share)).then(self.id.cmp(&other.id))
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Key {}

/// A role, or the leaf of a role's own frameworks.
pub(super) struct Node {
    parent: usize,
    /// A leaf: its children are frameworks, not roles.
    pub leaf: bool,
    weight: f64,
    pub limit: Option<Scalars>,
    pub guarantee: Option<Scalars>,
    /// Guaranteed, with no guaranteed role above it: what it misses counts in
    /// `Tree::missing_total` (a guarantee inside another counts as part of that one).
    pub outermost_guarantee: bool,
    /// What the frameworks below hold, in tasks and offers: its fair share.
    pub held: Scalars,
    /// Its quota consumption: what is reserved to it and the roles below, and what the
    /// frameworks below hold unreserved. Limits and guarantees apply to it.
    pub consumed: Scalars,
    key: Key,
    /// Sorted: role nodes, or for a leaf, frameworks.
    pub children: BTreeSet<Key>,
    /// The children with a guarantee at or below them that misses something, sorted: all
    /// the guarantees stage needs to walk where no role above misses anything.
    pub needy_children: BTreeSet<Key>,
    /// Nodes at or below this one whose guarantee misses something.
    pub needy: usize,
}

impl Node {
    /// What its guarantee still misses, per scalar (nothing if it has none).
    pub fn missing(&self) -> Scalars {
        match &self.guarantee {
            Some(g) => std::array::from_fn(|i| (g[i] - self.consumed[i]).max(0.0)),
            None => [0.0; 4],
        }
    }
}

/// The dominant share of `held` in `total`, as `Resources::dominant_share` computes it.
fn dominant_share(held: &Scalars, total: &Scalars) -> f64 {
    held.iter().zip(total).filter(|(_, t)| **t > 1e-9).map(|(a, t)| a / t).fold(0.0, f64::max)
}

pub(super) struct Tree {
    total: Scalars,
    /// The least CPUs and memory worth offering: a role with less room under its limit is full.
    min: Scalars,
    pub nodes: Vec<Node>,
    /// Each framework's role nodes from the top (not the root), ending with its leaf.
    paths: Vec<Vec<usize>>,
    allocated: Vec<Scalars>,
    framework_keys: Vec<Key>,
    /// What the outermost guaranteed roles still miss, together.
    pub missing_total: Scalars,
    /// Node ids by role name.
    ids: std::collections::HashMap<String, usize>,
}

impl Tree {
    pub fn new(total: Scalars, min: Scalars, roles: &Roles, frameworks: &[FrameworkSlot]) -> Tree {
        // Node ids in name order, so that a smaller id is the tie-break among siblings.
        let leaves: Vec<String> = frameworks.iter().map(|f| format!("{}/.", f.role)).collect();
        let mut names: BTreeSet<String> = BTreeSet::from([String::new()]);
        for (framework, leaf) in frameworks.iter().zip(&leaves) {
            names.extend(role_path(&framework.role));
            names.insert(leaf.clone());
        }
        names.extend(roles.guarantees.keys().flat_map(|role| role_path(role)));
        let ids: BTreeMap<&str, usize> = names.iter().enumerate().map(|(id, name)| (name.as_str(), id)).collect();
        let leaf_names: BTreeSet<&str> = leaves.iter().map(String::as_str).collect();
        let mut nodes: Vec<Node> = names
            .iter()
            .map(|name| {
                let leaf = leaf_names.contains(name.as_str());
                let parent = name.rsplit_once('/').map_or(ROOT, |(above, _)| ids[above]);
                let guarantee = roles.guarantees.get(name).copied();
                Node {
                    parent,
                    leaf,
                    weight: if leaf { 1.0 } else { roles.weights.get(name).copied().unwrap_or(1.0) },
                    limit: roles.limits.get(name).copied(),
                    outermost_guarantee: guarantee.is_some()
                        && role_path(name).iter().rev().skip(1).all(|above| !roles.guarantees.contains_key(above)),
                    guarantee,
                    held: [0.0; 4],
                    consumed: [0.0; 4],
                    key: Key { full: false, share: 0.0, id: 0 },
                    children: BTreeSet::new(),
                    needy_children: BTreeSet::new(),
                    needy: 0,
                }
            })
            .collect();
        let paths: Vec<Vec<usize>> = frameworks
            .iter()
            .zip(&leaves)
            .map(|(f, leaf)| role_path(&f.role).iter().map(|n| ids[n.as_str()]).chain([ids[leaf.as_str()]]).collect())
            .collect();
        let allocated: Vec<Scalars> = frameworks.iter().map(|f| f.allocated.scalars()).collect();
        for ((path, held), framework) in paths.iter().zip(&allocated).zip(frameworks) {
            let unreserved = framework.allocated.minus(&framework.on_reservations).scalars();
            for &node in path {
                add(&mut nodes[node].held, held);
                add(&mut nodes[node].consumed, &unreserved);
            }
        }
        for (role, reserved) in &roles.reserved {
            for node in role_path(role).iter().filter_map(|name| ids.get(name.as_str())) {
                add(&mut nodes[*node].consumed, reserved);
            }
        }
        let ids = ids.into_iter().map(|(name, id)| (name.to_string(), id)).collect();
        let mut tree =
            Tree { total, min, nodes, paths, allocated, framework_keys: Vec::new(), missing_total: [0.0; 4], ids };
        for id in 1..tree.nodes.len() {
            if misses(&tree.nodes[id].missing(), &tree.min) {
                tree.change_needy(id, true);
            }
            if tree.nodes[id].outermost_guarantee {
                add(&mut tree.missing_total, &tree.nodes[id].missing());
            }
        }
        for id in 1..tree.nodes.len() {
            tree.nodes[id].key = tree.node_key(id);
            tree.attach(id);
        }
        for framework in 0..frameworks.len() {
            let key =
                Key { full: false, share: dominant_share(&tree.allocated[framework], &tree.total), id: framework };
            tree.framework_keys.push(key);
            let leaf = tree.leaf(framework);
            tree.nodes[leaf].children.insert(key);
        }
        tree
    }

    /// The node of `role`, if a framework is in it or below it.
    pub fn node(&self, role: &str) -> Option<usize> {
        self.ids.get(role).copied()
    }

    fn leaf(&self, framework: usize) -> usize {
        self.paths[framework].last().copied().unwrap_or(ROOT)
    }

    fn node_key(&self, id: usize) -> Key {
        let node = &self.nodes[id];
        let share = dominant_share(&node.held, &self.total) / node.weight.max(f64::MIN_POSITIVE);
        let full = node.limit.is_some_and(|limit| full(&limit, &node.consumed, &self.min));
        Key { full, share, id }
    }

    /// Counts `id` as needy or not any more, in it and every node above it. A node above
    /// that stops being needy leaves its parent's needy children (`id` itself is detached
    /// while it changes).
    fn change_needy(&mut self, id: usize, needy: bool) {
        let mut at = id;
        loop {
            let count = &mut self.nodes[at].needy;
            *count = if needy { *count + 1 } else { count.saturating_sub(1) };
            if at == ROOT {
                break;
            }
            let (parent, key, none_left) = (self.nodes[at].parent, self.nodes[at].key, self.nodes[at].needy == 0);
            if at != id && none_left {
                self.nodes[parent].needy_children.remove(&key);
            }
            at = parent;
        }
    }

    /// Puts node `id` in its place among its parent's children.
    fn attach(&mut self, id: usize) {
        let (parent, key, needy) = (self.nodes[id].parent, self.nodes[id].key, self.nodes[id].needy > 0);
        self.nodes[parent].children.insert(key);
        if needy {
            self.nodes[parent].needy_children.insert(key);
        }
    }

    fn detach(&mut self, id: usize) {
        let (parent, key) = (self.nodes[id].parent, self.nodes[id].key);
        self.nodes[parent].children.remove(&key);
        self.nodes[parent].needy_children.remove(&key);
    }

    /// Adds `grant` to what `framework` and its roles hold (and, unless it is of a
    /// reservation, to their consumption), and moves each to its new place.
    pub fn charge(&mut self, framework: usize, grant: &Scalars, reserved: bool) {
        add(&mut self.allocated[framework], grant);
        let leaf = self.leaf(framework);
        let old = self.framework_keys[framework];
        self.nodes[leaf].children.remove(&old);
        let key = Key { full: false, share: dominant_share(&self.allocated[framework], &self.total), id: framework };
        self.framework_keys[framework] = key;
        self.nodes[leaf].children.insert(key);
        for step in (0..self.paths[framework].len()).rev() {
            let id = self.paths[framework][step];
            let missed = self.nodes[id].missing();
            self.detach(id);
            add(&mut self.nodes[id].held, grant);
            if !reserved {
                add(&mut self.nodes[id].consumed, grant);
            }
            self.nodes[id].key = self.node_key(id);
            let missing = self.nodes[id].missing();
            if self.nodes[id].outermost_guarantee {
                for (total, (was, is)) in self.missing_total.iter_mut().zip(missed.iter().zip(missing)) {
                    *total -= was - is;
                }
            }
            if misses(&missed, &self.min) && !misses(&missing, &self.min) {
                self.change_needy(id, false);
            }
            self.attach(id);
        }
    }
}

/// Whether a guarantee that still misses `missing` misses enough to offer: at least the least
/// CPUs or memory worth offering, or any disk or GPUs (beyond rounding). A role missing
/// less has met its guarantee; else it would be walked to, and offered nothing, for every
/// agent in the guarantees stage.
pub(super) fn misses(missing: &Scalars, min: &Scalars) -> bool {
    super::at_least(missing[0], min[0]) || super::at_least(missing[1], min[1]) || missing[2..].iter().any(|m| *m > 1e-6)
}

/// Whether a role holding `held` under `limit` is full: it has room for less than the least
/// CPUs or the least memory worth offering, so that any offer cut to its room is too small.
pub(super) fn full(limit: &Scalars, held: &Scalars, min: &Scalars) -> bool {
    (0..2).any(|i| !super::at_least(limit[i] - held[i], min[i]))
}

pub(super) fn add(to: &mut Scalars, amount: &Scalars) {
    for (to, amount) in to.iter_mut().zip(amount) {
        *to += amount;
    }
}
