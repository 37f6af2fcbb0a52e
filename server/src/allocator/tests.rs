use super::*;

fn agent(cpus: f64, mem: f64) -> AgentSlot {
    AgentSlot { available: Resources::new(cpus, mem), reserved: Vec::new() }
}

fn framework(cpus: f64, mem: f64) -> FrameworkSlot {
    in_role("*", cpus, mem)
}

fn in_role(role: &str, cpus: f64, mem: f64) -> FrameworkSlot {
    FrameworkSlot {
        role: role.into(),
        allocated: Resources::new(cpus, mem),
        on_reservations: Resources::default(),
        filtered_agents: BTreeSet::new(),
        min_offers: Vec::new(),
    }
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
                on_reservations: Resources::default(),
                filtered_agents: BTreeSet::new(),
                min_offers: Vec::new(),
            })
            .collect();
        let offered: Vec<AgentSlot> =
            free.iter().map(|r| AgentSlot { available: r.clone(), reserved: Vec::new() }).collect();
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
    assert_eq!(
        grants,
        vec![Grant { framework: 1, agent: 0, resources: Resources::new(1.0, 100.0), reservation: None }]
    );
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
    assert_eq!(reference::role_nodes("*"), vec!["*", "*/."]);
    assert_eq!(
        reference::role_nodes("eng/backend/db"),
        vec!["eng", "eng/backend", "eng/backend/db", "eng/backend/db/."]
    );
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

/// The incremental allocator makes exactly the grants of the model it replaced (which
/// compares every framework with every other for each grant), over random clusters with
/// nested roles, weights, limits, guarantees and filters: the same offers, in the same order,
/// with amounts equal to rounding (cut offers are fractions, and the two sum what guaranteed
/// roles miss in different orders).
#[test]
fn the_incremental_allocator_makes_the_models_grants() {
    use rand::{rngs::StdRng, Rng, SeedableRng};
    let mut rng = StdRng::seed_from_u64(6);
    let names = ["*", "a", "a/x", "a/y", "a/x/deep", "b", "b/z/w"];
    let quarter = |rng: &mut StdRng, most: u32| f64::from(rng.gen_range(0..=most * 4)) / 4.0;
    for case in 0..3000 {
        let agents: Vec<AgentSlot> = (0..rng.gen_range(1..12))
            .map(|_| AgentSlot {
                available: Resources::new(quarter(&mut rng, 8), 32.0 * quarter(&mut rng, 64)),
                reserved: Vec::new(),
            })
            .collect();
        let total = agents.iter().fold(Resources::new(16.0, 4096.0), |sum, a| sum.plus(&a.available));
        let frameworks: Vec<FrameworkSlot> = (0..rng.gen_range(1..8))
            .map(|_| FrameworkSlot {
                role: names[rng.gen_range(0..names.len())].to_string(),
                allocated: Resources::new(quarter(&mut rng, 4), 32.0 * quarter(&mut rng, 8)),
                on_reservations: Resources::default(),
                filtered_agents: (0..agents.len()).filter(|_| rng.gen_bool(0.2)).collect(),
                min_offers: if rng.gen_bool(0.2) { vec![Resources::new(quarter(&mut rng, 4), 0.0)] } else { vec![] },
            })
            .collect();
        let mut roles = Roles::default();
        for name in names {
            if rng.gen_bool(0.3) {
                roles.weights.insert(name.to_string(), [0.5, 2.0, 3.0][rng.gen_range(0..3)]);
            }
            if rng.gen_bool(0.2) {
                let limit = [quarter(&mut rng, 12), 32.0 * quarter(&mut rng, 64), f64::INFINITY, f64::INFINITY];
                roles.limits.insert(name.to_string(), limit);
            }
            if rng.gen_bool(0.2) {
                roles
                    .guarantees
                    .insert(name.to_string(), [quarter(&mut rng, 8), 32.0 * quarter(&mut rng, 16), 0.0, 0.0]);
            }
        }
        let min = min_allocatable();
        let fast = allocate(&total, &agents, &frameworks, &roles, &min);
        let model = reference::allocate(&total, &agents, &frameworks, &roles, &min);
        let same = fast.len() == model.len()
            && fast.iter().zip(&model).all(|(f, m)| {
                (f.framework, f.agent) == (m.framework, m.agent)
                    && f.resources.scalars().iter().zip(m.resources.scalars()).all(|(a, b)| (a - b).abs() < 1e-9)
            });
        assert!(same, "case {case}: {fast:?} != {model:?} for {agents:?} {frameworks:?} {roles:?}");
    }
}

/// A framework's own least offer: agents with less free are left to others.
#[test]
fn a_framework_is_offered_only_agents_with_its_minimum_free() {
    let total = Resources::new(6.0, 6144.0);
    let agents = [agent(1.0, 1024.0), agent(4.0, 4096.0), agent(1.0, 1024.0)];
    let mut big = framework(0.0, 0.0);
    big.min_offers = vec![Resources::new(2.0, 0.0), Resources { gpus: 1.0, ..Resources::default() }];
    let grants = allocate(&total, &agents, &[big.clone()], &none(), &min_allocatable());
    assert_eq!(grants.iter().map(|g| g.agent).collect::<Vec<_>>(), vec![1]);
    let grants = allocate(&total, &agents, &[big, framework(3.0, 0.0)], &none(), &min_allocatable());
    let to = |f: usize| grants.iter().filter(|g| g.framework == f).map(|g| g.agent).collect::<Vec<_>>();
    assert_eq!((to(0), to(1)), (vec![1], vec![0, 2]));
}

/// An agent's reservation goes only to frameworks in its role or below it, before and apart
/// from the unreserved rest, which is shared as usual.
#[test]
fn a_reservation_is_offered_only_to_its_role_and_those_below() {
    let total = Resources::new(8.0, 8192.0);
    let agents = [AgentSlot {
        available: Resources::new(4.0, 4096.0),
        reserved: vec![("analytics".to_string(), Resources::new(4.0, 4096.0))],
    }];
    // `web` has the lowest share, yet never gets the reserved half.
    let frameworks = [in_role("web", 0.0, 0.0), in_role("analytics/etl", 1.0, 0.0)];
    let grants = allocate(&total, &agents, &frameworks, &none(), &min_allocatable());
    let reserved: Vec<&Grant> = grants.iter().filter(|g| g.reservation.is_some()).collect();
    assert_eq!(reserved.len(), 1, "{grants:?}");
    assert_eq!((reserved[0].framework, reserved[0].resources.cpus), (1, 4.0));
    assert_eq!(reserved[0].reservation.as_deref(), Some("analytics"));
    let unreserved: Vec<&Grant> = grants.iter().filter(|g| g.reservation.is_none()).collect();
    assert_eq!(unreserved.iter().map(|g| (g.framework, g.resources.cpus)).collect::<Vec<_>>(), vec![(0, 4.0)]);
    // With no framework in the role, the reservation is offered to no one.
    let grants = allocate(&total, &agents, &[in_role("web", 0.0, 0.0)], &none(), &min_allocatable());
    assert!(grants.iter().all(|g| g.reservation.is_none() && g.resources.cpus == 4.0), "{grants:?}");
}

/// Reservations count in their role's quota consumption, as in Mesos: a limit caps
/// reservations and unreserved holdings together, a reservation is offered whole whatever the
/// limit, and a reservation meets a guarantee (nothing is kept back for it).
#[test]
fn reservations_count_in_quota_consumption() {
    let total = Resources::new(12.0, 12288.0);
    let agents = [
        AgentSlot {
            available: Resources::new(4.0, 4096.0),
            reserved: vec![("analytics".to_string(), Resources::new(3.0, 3072.0))],
        },
        agent(4.0, 4096.0),
    ];
    let mut roles = Roles {
        limits: [("analytics".to_string(), [4.0, f64::INFINITY, f64::INFINITY, f64::INFINITY])].into(),
        reserved: [("analytics".to_string(), [4.0, 4096.0, 0.0, 0.0])].into(),
        ..Roles::default()
    };
    // One more CPU of it is reserved on an agent whose reservation a task already uses.
    let mut analytics = in_role("analytics", 1.0, 1024.0);
    analytics.on_reservations = Resources::new(1.0, 1024.0);
    let grants = allocate(&total, &agents, &[analytics.clone()], &roles, &min_allocatable());
    let reserved: Vec<&Grant> = grants.iter().filter(|g| g.reservation.is_some()).collect();
    assert_eq!(reserved.len(), 1, "{grants:?}");
    assert_eq!(reserved[0].resources.cpus, 3.0, "{grants:?}");
    // Reserved 4 of a limit of 4: no unreserved CPU on top.
    assert!(grants.iter().all(|g| g.reservation.is_some()), "{grants:?}");
    // The same when nothing of the reservations is held: they count all the same.
    let idle = in_role("analytics", 0.0, 0.0);
    let grants = allocate(&total, &[agent(4.0, 4096.0)], &[idle], &roles, &min_allocatable());
    assert!(grants.is_empty(), "{grants:?}");

    // A limit of 6: 2 unreserved CPUs on top of the 4 reserved.
    roles.limits.insert("analytics".into(), [6.0, f64::INFINITY, f64::INFINITY, f64::INFINITY]);
    let grants = allocate(&total, &agents, &[analytics.clone()], &roles, &min_allocatable());
    let unreserved: f64 = grants.iter().filter(|g| g.reservation.is_none()).map(|g| g.resources.cpus).sum();
    assert!((unreserved - 2.0).abs() < 1e-9, "{grants:?}");

    // A guarantee of 4 CPUs is met by the reservations: nothing unreserved is kept back for
    // it from `web`, while `analytics` has no framework to take it.
    roles.limits.clear();
    roles.guarantees.insert("analytics".into(), [4.0, 0.0, 0.0, 0.0]);
    let web = [in_role("web", 0.0, 0.0)];
    let unreserved = [agent(4.0, 4096.0), agent(4.0, 4096.0)];
    let offered = |roles: &Roles| -> f64 {
        allocate(&total, &unreserved, &web, roles, &min_allocatable()).iter().map(|g| g.resources.cpus).sum()
    };
    assert_eq!(offered(&roles), 8.0);
    // Without the reservations, 4 unreserved CPUs would be kept for the guarantee.
    roles.reserved.clear();
    assert_eq!(offered(&roles), 4.0);
}
