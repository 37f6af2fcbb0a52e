//! Prometheus metrics (`GET /metrics`), with the Prometheus project's own `prometheus-client`.
//! Counters and the round histogram are updated where things happen; gauges are set from a
//! snapshot of the state at scrape time, so they can never drift from it.

use agora_api::{Resources, TaskState};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

type Labels = Vec<(String, String)>;

/// Counts read off the state at scrape time.
#[derive(Default)]
pub struct Snapshot {
    pub agents_active: usize,
    pub agents_unreachable: usize,
    pub frameworks: usize,
    pub frameworks_connected: usize,
    pub offers: usize,
    pub tasks: BTreeMap<TaskState, usize>,
    pub total: Resources,
    pub used: Resources,
    pub offered: Resources,
    pub roles: Vec<agora_api::operator::RoleView>,
    /// Active offer filters (an agent a framework declined, until its time), by role.
    pub role_filters: BTreeMap<String, usize>,
    pub services: Vec<ServiceGauges>,
    /// Whether this replica holds the leader lease, and the epoch of the lease it last saw.
    pub leading: bool,
    pub epoch: Option<u64>,
}

/// One service's gauges.
#[derive(Default)]
pub struct ServiceGauges {
    pub id: String,
    pub desired: u32,
    /// Instances running (any version, not being killed).
    pub running: usize,
    /// Running and passing their health checks.
    pub healthy: usize,
    pub deploying: bool,
    /// Seconds until launches may go again (0 when not backing off), and the failures in a row.
    pub launch_delay: f64,
    pub failures: u32,
}

pub struct Metrics {
    registry: Registry,
    agents: Family<Labels, Gauge>,
    frameworks: Family<Labels, Gauge>,
    offers_outstanding: Gauge,
    tasks: Family<Labels, Gauge>,
    resources_total: Family<Labels, Gauge<f64, AtomicU64>>,
    resources_used: Family<Labels, Gauge<f64, AtomicU64>>,
    resources_offered: Family<Labels, Gauge<f64, AtomicU64>>,
    role_share: Family<Labels, Gauge<f64, AtomicU64>>,
    role_weight: Family<Labels, Gauge<f64, AtomicU64>>,
    role_allocated: Family<Labels, Gauge<f64, AtomicU64>>,
    role_guarantee: Family<Labels, Gauge<f64, AtomicU64>>,
    role_limit: Family<Labels, Gauge<f64, AtomicU64>>,
    role_consumed: Family<Labels, Gauge<f64, AtomicU64>>,
    role_filters: Family<Labels, Gauge>,
    service_instances: Family<Labels, Gauge>,
    service_deployments: Family<Labels, Gauge>,
    service_launch_delay: Family<Labels, Gauge<f64, AtomicU64>>,
    service_failures: Family<Labels, Gauge>,
    leader: Gauge,
    lease_epoch: Gauge,
    pub round_duration: Histogram,
    /// From the first change that asks for a round to the round's start.
    pub round_queue_delay: Histogram,
    pub offers_made: Counter,
    /// Offers rescinded after `--offer-timeout` without an answer.
    pub offers_timed_out: Counter,
    pub tasks_launched: Counter,
    pub status_updates: Counter,
    /// Store transactions that met a concurrent change and were tried again.
    pub store_conflicts: Counter,
}

fn label(name: &str, value: &str) -> Labels {
    vec![(name.to_string(), value.to_string())]
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut m = Metrics {
            agents: Family::default(),
            frameworks: Family::default(),
            offers_outstanding: Gauge::default(),
            tasks: Family::default(),
            resources_total: Family::default(),
            resources_used: Family::default(),
            resources_offered: Family::default(),
            role_share: Family::default(),
            role_weight: Family::default(),
            role_allocated: Family::default(),
            role_guarantee: Family::default(),
            role_limit: Family::default(),
            role_consumed: Family::default(),
            role_filters: Family::default(),
            service_instances: Family::default(),
            service_deployments: Family::default(),
            service_launch_delay: Family::default(),
            service_failures: Family::default(),
            leader: Gauge::default(),
            lease_epoch: Gauge::default(),
            // 10 µs to about 5 s.
            round_duration: Histogram::new(exponential_buckets(0.00001, 2.0, 20)),
            round_queue_delay: Histogram::new(exponential_buckets(0.00001, 2.0, 20)),
            offers_made: Counter::default(),
            offers_timed_out: Counter::default(),
            tasks_launched: Counter::default(),
            status_updates: Counter::default(),
            store_conflicts: Counter::default(),
            registry: Registry::with_prefix("agora"),
        };
        let registry = &mut m.registry;
        registry.register("agents", "Agents by state (active, unreachable)", m.agents.clone());
        registry.register("frameworks", "Frameworks by connection (connected, disconnected)", m.frameworks.clone());
        registry.register(
            "offers_outstanding",
            "Offers sent and not yet used, declined or rescinded",
            m.offers_outstanding.clone(),
        );
        registry.register("tasks", "Known tasks by state", m.tasks.clone());
        registry.register("resources_total", "Resources of active agents, by resource name", m.resources_total.clone());
        registry.register("resources_used", "Resources held by tasks, by resource name", m.resources_used.clone());
        registry.register(
            "resources_offered",
            "Resources held by outstanding offers, by resource name",
            m.resources_offered.clone(),
        );
        registry.register(
            "role_dominant_share",
            "What a role and the roles below it hold, over the cluster's total: the largest fraction over resources",
            m.role_share.clone(),
        );
        registry.register("role_weight", "A role's weight in fair sharing", m.role_weight.clone());
        registry.register(
            "role_allocated",
            "Resources held by a role's tasks and offers (and the roles below it), by resource name",
            m.role_allocated.clone(),
        );
        registry.register(
            "role_quota_guarantee",
            "A role's quota guarantee, by resource name",
            m.role_guarantee.clone(),
        );
        registry.register("role_quota_limit", "A role's quota limit, by resource name", m.role_limit.clone());
        registry.register(
            "role_quota_consumed",
            "A role's quota consumption (reserved to it and the roles below it, plus what they hold unreserved), by resource name",
            m.role_consumed.clone(),
        );
        registry.register(
            "role_offer_filters",
            "Active offer filters (agents declined until a time) of a role's frameworks",
            m.role_filters.clone(),
        );
        registry.register(
            "service_instances",
            "A service's instances: desired, running, and healthy (running and passing their health checks)",
            m.service_instances.clone(),
        );
        registry.register(
            "service_deployments_in_flight",
            "Deployments under way, by service (0 or 1)",
            m.service_deployments.clone(),
        );
        registry.register(
            "service_launch_delay_seconds",
            "Seconds until a backing-off service may launch again (0 when it is not backing off)",
            m.service_launch_delay.clone(),
        );
        registry.register(
            "service_backoff_failures",
            "Failures in a row of a service's current version, counted by its backoff",
            m.service_failures.clone(),
        );
        registry.register("allocation_round_duration_seconds", "Time one offer round takes", m.round_duration.clone());
        registry.register(
            "allocation_queue_delay_seconds",
            "Time from the first change that asks for a round (a decline, a task ending, an agent or framework arriving) to the start of that round",
            m.round_queue_delay.clone(),
        );
        registry.register("offers", "Offers sent", m.offers_made.clone());
        registry.register(
            "offers_timed_out",
            "Offers rescinded because their framework neither accepted nor declined them within --offer-timeout",
            m.offers_timed_out.clone(),
        );
        registry.register("tasks_launched", "Tasks launched through accepts", m.tasks_launched.clone());
        registry.register("status_updates", "Task status updates received from agents", m.status_updates.clone());
        registry.register(
            "store_conflicts",
            "Store transactions that met a concurrent change and were tried again",
            m.store_conflicts.clone(),
        );
        registry.register(
            "leader",
            "1 on the replica that holds the leader lease (runs offer rounds), else 0",
            m.leader.clone(),
        );
        registry.register(
            "lease_epoch",
            "The epoch of the leader lease as this replica last saw it: it rises at each change of leader",
            m.lease_epoch.clone(),
        );
        let store = &crate::store::STORE_METRICS;
        registry.register(
            "store_operation_duration_seconds",
            "Time each store operation (Redis round trip or embedded call) took, by operation",
            store.latency.clone(),
        );
        registry.register("store_errors", "Store operations that failed, by operation", store.errors.clone());
        m
    }

    /// Sets the gauges from `snapshot` and renders the text exposition format.
    pub fn render(&self, snapshot: &Snapshot) -> String {
        self.agents.get_or_create(&label("state", "active")).set(snapshot.agents_active as i64);
        self.agents.get_or_create(&label("state", "unreachable")).set(snapshot.agents_unreachable as i64);
        self.frameworks.get_or_create(&label("state", "connected")).set(snapshot.frameworks_connected as i64);
        let disconnected = snapshot.frameworks.saturating_sub(snapshot.frameworks_connected);
        self.frameworks.get_or_create(&label("state", "disconnected")).set(disconnected as i64);
        self.offers_outstanding.set(snapshot.offers as i64);
        self.leader.set(i64::from(snapshot.leading));
        self.lease_epoch.set(snapshot.epoch.map_or(0, |e| i64::try_from(e).unwrap_or(i64::MAX)));
        for state in TaskState::ALL {
            let count = snapshot.tasks.get(&state).copied().unwrap_or(0);
            self.tasks.get_or_create(&label("state", state.as_str())).set(count as i64);
        }
        for (family, resources) in [
            (&self.resources_total, &snapshot.total),
            (&self.resources_used, &snapshot.used),
            (&self.resources_offered, &snapshot.offered),
        ] {
            for (name, value) in agora_api::resources::SCALAR_NAMES.iter().zip(resources.scalars()) {
                family.get_or_create(&label("resource", name)).set(value);
            }
            family.get_or_create(&label("resource", "ports")).set(resources.port_count() as f64);
        }
        self.render_roles(snapshot);
        self.render_services(snapshot);
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}

impl Metrics {
    /// Sets the per-role gauges; roles that are gone disappear from the exposition.
    fn render_roles(&self, snapshot: &Snapshot) {
        for family in [
            &self.role_share,
            &self.role_weight,
            &self.role_allocated,
            &self.role_guarantee,
            &self.role_limit,
            &self.role_consumed,
        ] {
            family.clear();
        }
        self.role_filters.clear();
        let with = |role: &str, resource: &str| {
            vec![("role".to_string(), role.to_string()), ("resource".to_string(), resource.to_string())]
        };
        for view in &snapshot.roles {
            let role = label("role", &view.role);
            self.role_share.get_or_create(&role).set(view.dominant_share);
            self.role_weight.get_or_create(&role).set(view.weight);
            for (name, value) in agora_api::resources::SCALAR_NAMES.iter().zip(view.allocated.scalars()) {
                self.role_allocated.get_or_create(&with(&view.role, name)).set(value);
            }
            for (name, value) in agora_api::resources::SCALAR_NAMES.iter().zip(view.consumed.scalars()) {
                self.role_consumed.get_or_create(&with(&view.role, name)).set(value);
            }
            for (name, value) in &view.quota.guarantee {
                self.role_guarantee.get_or_create(&with(&view.role, name)).set(*value);
            }
            for (name, value) in &view.quota.limit {
                self.role_limit.get_or_create(&with(&view.role, name)).set(*value);
            }
            let filters = snapshot.role_filters.get(&view.role).copied().unwrap_or(0);
            self.role_filters.get_or_create(&role).set(filters as i64);
        }
    }
}

impl Metrics {
    /// Sets the per-service gauges; services that are gone disappear from the exposition.
    fn render_services(&self, snapshot: &Snapshot) {
        self.service_instances.clear();
        self.service_deployments.clear();
        self.service_launch_delay.clear();
        self.service_failures.clear();
        for s in &snapshot.services {
            let service = label("service", &s.id);
            let state =
                |state: &str| vec![("service".to_string(), s.id.clone()), ("state".to_string(), state.to_string())];
            self.service_instances.get_or_create(&state("desired")).set(i64::from(s.desired));
            self.service_instances.get_or_create(&state("running")).set(s.running as i64);
            self.service_instances.get_or_create(&state("healthy")).set(s.healthy as i64);
            self.service_deployments.get_or_create(&service).set(i64::from(s.deploying));
            self.service_launch_delay.get_or_create(&service).set(s.launch_delay);
            self.service_failures.get_or_create(&service).set(i64::from(s.failures));
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
