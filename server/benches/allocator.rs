//! The allocator on its own, at the sizes of Mesos's allocator benchmarks
//! (`hierarchical_allocator_benchmarks.cpp`; figures in BENCHMARKS.md):
//! - `decline_offers`: 10,000 agents and 1,000 frameworks that decline what they are offered
//!   (each filters the agents it declined), as Mesos's DeclineOffers: agents of 24 CPUs, 4 GB
//!   of memory, 4 GB of disk and 1,000 ports, 16 of the CPUs used by a framework's tasks.
//! - `quota_roles`: 3,000 agents and 3,000 roles, each with a quota guarantee and limit, as
//!   Mesos's LargeAndSmallQuota.
//! - `empty_round`: a round with nothing free, after which nothing changed, at both sizes.
//!
//! Run with `cargo bench -p agora-server --bench allocator`.

use agora_api::Resources;
use agora_server::allocator::{allocate, min_allocatable, AgentSlot, FrameworkSlot, Roles};
use criterion::{criterion_group, criterion_main, Criterion};
use std::collections::BTreeSet;
use std::hint::black_box;

fn agents(count: usize, free: Resources) -> Vec<AgentSlot> {
    (0..count).map(|_| AgentSlot { available: free.clone(), reserved: Vec::new() }).collect()
}

fn total(count: usize, agent: &Resources) -> Resources {
    let mut total = Resources::default();
    for _ in 0..count {
        total.add(agent);
    }
    total
}

/// `count` frameworks, each in `role(i)`, holding a little, each filtering the agents it
/// declined last round (every `count`-th agent).
fn frameworks(count: usize, agents: usize, role: impl Fn(usize) -> String) -> Vec<FrameworkSlot> {
    (0..count)
        .map(|i| FrameworkSlot {
            role: role(i),
            allocated: Resources::new(0.1 * (i % 7) as f64, 64.0 * (i % 5) as f64),
            on_reservations: Resources::default(),
            filtered_agents: (i..agents).step_by(count).collect::<BTreeSet<usize>>(),
            min_offers: Vec::new(),
        })
        .collect()
}

fn decline_offers(c: &mut Criterion) {
    let agent = Resources { disk: 4096.0, ports: vec![[31000, 32000]], ..Resources::new(24.0, 4096.0) };
    let free = Resources { cpus: 8.0, ..agent.clone() };
    let agents_ = agents(10_000, free);
    let mut frameworks = frameworks(1_000, 10_000, |_| "*".to_string());
    for framework in &mut frameworks {
        // Round-robin, each framework's tasks use 16 CPUs on ten agents.
        framework.allocated = Resources::new(160.0, 0.0);
    }
    let total = total(10_000, &agent);
    let mut group = c.benchmark_group("allocator");
    group.bench_function("decline_offers/10000_agents/1000_frameworks", |b| {
        b.iter(|| allocate(black_box(&total), &agents_, &frameworks, &Roles::default(), &min_allocatable()))
    });
    group.finish();
}

/// Mesos's LargeAndSmallQuota shape: 3,000 roles of one framework each, most with a small
/// guarantee, one in a hundred with a large one, and a limit on each.
fn quota_setup() -> (Resources, Vec<FrameworkSlot>, Roles) {
    let frameworks = frameworks(3_000, 3_000, |i| format!("role{i}"));
    let mut roles = Roles::default();
    for i in 0..3_000 {
        let guarantee = if i % 100 == 0 { 40.0 } else { 1.0 };
        roles.guarantees.insert(format!("role{i}"), [guarantee, 0.0, 0.0, 0.0]);
        roles.limits.insert(format!("role{i}"), [guarantee * 4.0, f64::INFINITY, f64::INFINITY, f64::INFINITY]);
    }
    (total(3_000, &Resources::new(8.0, 16384.0)), frameworks, roles)
}

fn quota_roles(c: &mut Criterion) {
    let (total, frameworks, roles) = quota_setup();
    let agents_ = agents(3_000, Resources::new(8.0, 16384.0));
    let mut group = c.benchmark_group("allocator");
    group.bench_function("quota_roles/3000_agents/3000_roles", |b| {
        b.iter(|| allocate(black_box(&total), &agents_, &frameworks, &roles, &min_allocatable()))
    });
    group.bench_function("empty_round/3000_agents/3000_roles", |b| {
        let full = agents(3_000, Resources::default());
        b.iter(|| allocate(black_box(&total), &full, &frameworks, &roles, &min_allocatable()))
    });
    group.finish();
}

fn empty_round(c: &mut Criterion) {
    let agents_ = agents(10_000, Resources::default());
    let frameworks = frameworks(1_000, 10_000, |_| "*".to_string());
    let total = total(10_000, &Resources::new(8.0, 16384.0));
    let mut group = c.benchmark_group("allocator");
    group.bench_function("empty_round/10000_agents/1000_frameworks", |b| {
        b.iter(|| allocate(black_box(&total), &agents_, &frameworks, &Roles::default(), &min_allocatable()))
    });
    group.finish();
}

criterion_group!(benches, decline_offers, quota_roles, empty_round);
criterion_main!(benches);
