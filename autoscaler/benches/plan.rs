//! The decision time of one round: 10,000 waiting instances on 1,000 agents (BENCHMARKS.md).
//! `cargo bench -p agora-autoscaler --bench plan`

use agora_api::constraints::parse_all;
use agora_api::operator::{AgentState, AgentView};
use agora_api::{AgentId, Resources};
use agora_autoscaler::config::{Config, InstanceTypeChoice, LaunchTemplate, Market, Pool, ScaleIn};
use agora_autoscaler::demand::Group;
use agora_autoscaler::plan::{plan, Inputs, Size};
use criterion::{criterion_group, criterion_main, Criterion};
use std::collections::{BTreeMap, HashMap, HashSet};

fn config() -> Config {
    Config {
        cluster: "bench".into(),
        region: None,
        pools: vec![Pool {
            name: "general".into(),
            instance_types: vec![
                InstanceTypeChoice { name: "m5.xlarge".into(), weight: 1.0 },
                InstanceTypeChoice { name: "m5.4xlarge".into(), weight: 4.0 },
            ],
            subnets: vec!["subnet-a".into(), "subnet-b".into()],
            launch_template: Some(LaunchTemplate { id: "lt-1".into(), version: "$Latest".into() }),
            image_id: None,
            user_data_file: None,
            tags: BTreeMap::new(),
            attributes: BTreeMap::new(),
            min: 0,
            max: 5000,
            market: Market::OnDemand,
            disk_mb: 15360.0,
            mem_reserve_mb: 1024.0,
        }],
        scale_in: ScaleIn::default(),
        join_timeout_secs: 600.0,
    }
}

/// 1,000 agents of 16 CPUs and 64 GiB over 4 zones, with `used` CPUs in use.
fn agents(used: f64) -> Vec<AgentView> {
    (0..1000)
        .map(|i| AgentView {
            id: AgentId::from(format!("agent-{i}").as_str()),
            hostname: format!("host-{i}"),
            state: AgentState::Active,
            attributes: [("zone".to_string(), format!("z{}", i % 4)), ("rack".to_string(), format!("r{}", i % 40))]
                .into(),
            total: Resources { cpus: 16.0, mem: 65536.0, disk: 100_000.0, gpus: 0.0, ports: vec![[31000, 32000]] },
            reserved: BTreeMap::new(),
            reservations: vec![],
            volumes: vec![],
            used: Resources::new(used, used * 4096.0),
            offered: Resources::default(),
            tasks: used as usize,
            registered_at: 0.0,
            last_seen: 0.0,
            maintenance: None,
            containerizers: vec![],
            drained: false,
        })
        .collect()
}

/// 100 services of 100 waiting instances each (0.5 CPU, 512 MiB): a fifth spread one per
/// host, a fifth over zones, a fifth at most 5 per rack, the rest unconstrained.
fn demand() -> Vec<Group> {
    (0..100)
        .map(|i| {
            let raw: Vec<Vec<String>> = match i % 5 {
                0 => vec![vec!["hostname".into(), "UNIQUE".into()]],
                1 => vec![vec!["zone".into(), "GROUP_BY".into()]],
                2 => vec![vec!["rack".into(), "MAX_PER".into(), "5".into()]],
                _ => vec![],
            };
            Group {
                name: format!("service/s{i}"),
                role: "*".into(),
                resources: Resources::new(0.5, 512.0),
                ports: 1,
                constraints: parse_all(&raw).expect("valid"),
                count: 100,
                placed: vec![],
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let config = config();
    let sizes: HashMap<String, Size> = [
        ("m5.xlarge".to_string(), Size { vcpus: 4.0, mem_mib: 16384.0 }),
        ("m5.4xlarge".to_string(), Size { vcpus: 16.0, mem_mib: 65536.0 }),
    ]
    .into();
    let zones: HashMap<String, String> = [("subnet-a".into(), "z0".into()), ("subnet-b".into(), "z1".into())].into();
    let demand = demand();
    let (service_tasks, backed_off, drains, idle) = (HashMap::new(), HashSet::new(), HashSet::new(), HashMap::new());
    for (name, used) in [("fits_on_the_agents", 8.0), ("needs_new_instances", 15.0)] {
        let agents = agents(used);
        let inputs = Inputs {
            config: &config,
            agents: &agents,
            service_tasks: &service_tasks,
            demand: &demand,
            instances: &[],
            sizes: &sizes,
            zones: &zones,
            backed_off: &backed_off,
            drains: &drains,
            idle_since: &idle,
            now: 0.0,
        };
        let once = plan(&inputs);
        eprintln!(
            "{name}: {} launch(es) of {} instance(s), {} capped, {} unplaceable",
            once.launches.len(),
            once.launches.iter().map(|l| l.count).sum::<u32>(),
            once.capped.len(),
            once.unplaceable.len()
        );
        c.bench_function(&format!("plan/10000_waiting_on_1000_agents/{name}"), |b| b.iter(|| plan(&inputs)));
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
