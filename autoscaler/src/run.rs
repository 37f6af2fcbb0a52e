//! The loop: hold the lease (one replica acts), read the cluster and EC2, plan, act, report.

use crate::config::Config;
use crate::demand;
use crate::ec2::{self, Attempt, Ec2, LaunchError};
use crate::error::Error;
use crate::metrics::{labels, Metrics};
use crate::plan::{self, Inputs, Launch, Plan, Size};
use agora_api::operator::{AcquireLease, AutoscalerEvent, DrainAgent, Maintenance};
use agora_api::AgentId;
use agora_client::Client;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The lease's name in the store: one per cluster's autoscaler.
pub const LEASE: &str = "agora-autoscaler";

pub struct Options {
    pub interval: Duration,
    pub lease_ttl: Duration,
    pub dry_run: bool,
    pub holder: String,
}

pub struct Autoscaler {
    config: Config,
    api: Client,
    ec2: Ec2,
    options: Options,
    metrics: Arc<Metrics>,
    /// Differs on every start, so that a client token is never reused for another launch.
    nonce: String,
    round: u64,
    sizes: HashMap<String, Size>,
    zones: HashMap<String, String>,
    /// What the acting replica remembers between rounds; forgotten when it loses the lease.
    idle_since: HashMap<AgentId, f64>,
    drains: HashSet<AgentId>,
    /// Kinds of launch backing off: until when, and their failures in a row (forgotten after
    /// a success, or an hour without a failure).
    backoff: HashMap<(String, String, String), (f64, u32, f64)>,
    /// Instances launched and not yet seen in DescribeInstances (EC2 shows new instances late):
    /// capacity all the same, until seen or past the join timeout.
    launched: Vec<plan::Instance>,
    /// The lease's epoch when last renewed: a different one means another replica acted between.
    epoch: Option<u64>,
    /// Standing decisions (unplaceable work, a skipped agent, a dry run's launch) reported in
    /// the last round, and those seen in this one: each is reported when it appears, again
    /// only if it went away and came back.
    reported: HashSet<String>,
    seen: HashSet<String>,
    renewed: Option<Instant>,
}

impl Autoscaler {
    pub fn new(config: Config, api: Client, ec2: Ec2, options: Options, metrics: Arc<Metrics>) -> Autoscaler {
        Autoscaler {
            config,
            api,
            ec2,
            options,
            metrics,
            nonce: uuid::Uuid::new_v4().to_string(),
            round: 0,
            sizes: HashMap::new(),
            zones: HashMap::new(),
            idle_since: HashMap::new(),
            drains: HashSet::new(),
            backoff: HashMap::new(),
            launched: Vec::new(),
            epoch: None,
            reported: HashSet::new(),
            seen: HashSet::new(),
            renewed: None,
        }
    }

    /// Runs rounds until `stop` resolves, then gives the lease up.
    pub async fn run(mut self, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            let mut next = self.options.interval;
            if self.hold_lease().await {
                match self.round().await {
                    Ok(again_soon) if again_soon => next = Duration::from_secs(1).min(next),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "round failed; trying again next round"),
                }
            }
            tokio::select! {
                _ = &mut stop => break,
                _ = tokio::time::sleep(next) => {}
            }
        }
        if !self.options.dry_run && self.renewed.is_some() {
            let _ = self.api.release_lease(LEASE, &self.options.holder).await;
        }
    }

    /// Takes or renews the lease; `false` on a standby (whose memory is then forgotten). A
    /// dry run acts on nothing and needs no lease.
    async fn hold_lease(&mut self) -> bool {
        if self.options.dry_run {
            return true;
        }
        let request =
            AcquireLease { holder: self.options.holder.clone(), ttl_secs: self.options.lease_ttl.as_secs_f64() };
        // Counted from before the request: the lease may have been granted at any moment of it.
        let asked = Instant::now();
        match self.api.acquire_lease(LEASE, &request).await {
            Ok(lease) => {
                if self.epoch.is_some_and(|e| e != lease.epoch) {
                    // Another replica held it in between: what this one remembers may be stale.
                    tracing::warn!(epoch = lease.epoch, "the lease changed hands since this replica last held it");
                    self.standby();
                }
                if self.renewed.is_none() {
                    tracing::info!(holder = %lease.holder, epoch = lease.epoch, "acting: holding the autoscaler lease");
                }
                self.epoch = Some(lease.epoch);
                self.renewed = Some(asked);
                self.metrics.leader.set(1);
                true
            }
            Err(e) => {
                if e.status() == Some(409) {
                    if self.renewed.is_some() {
                        tracing::warn!("lost the autoscaler lease; standing by");
                    }
                } else {
                    tracing::warn!(error = %e, "cannot reach the lease; standing by");
                }
                self.standby();
                false
            }
        }
    }

    fn standby(&mut self) {
        self.renewed = None;
        self.epoch = None;
        self.metrics.leader.set(0);
        self.idle_since.clear();
        self.drains.clear();
        self.reported.clear();
    }

    /// Whether the lease is surely still held: renewed within half its time to live. Every
    /// action asks first, so that a replica cut off from the API stops acting before another
    /// can take over.
    fn still_holding(&self) -> bool {
        self.options.dry_run || self.renewed.is_some_and(|t| t.elapsed() < self.options.lease_ttl / 2)
    }

    /// One round; `true` when something failed that the next round should retry soon.
    async fn round(&mut self) -> Result<bool, Error> {
        let started = Instant::now();
        self.round += 1;
        // Agents before what runs on them: a task placed between the reads then counts neither as
        // used nor as waiting (this round may buy a little less, never twice for it).
        let agents = self.api.list_agents().await?;
        let (services, frameworks) = tokio::try_join!(self.api.list_services(), self.api.list_frameworks())?;
        let instances = self.ec2.owned().await?;
        self.learn_sizes().await?;
        let now = unix_now();
        self.backoff.retain(|_, (_, _, last)| now - *last < 3600.0);
        let instances = self.with_launched(instances, now);
        // Drains that ended or were lifted by someone else are no longer ours to track.
        self.drains.retain(|id| {
            agents.agents.iter().any(|a| &a.id == id && matches!(a.maintenance, Some(Maintenance::Draining { .. })))
        });

        let (mut groups, mut ignored) = demand::from_services(&services.services, &agents.agents);
        let (framework_groups, framework_ignored) = demand::from_frameworks(&frameworks.frameworks);
        groups.extend(framework_groups);
        ignored.extend(framework_ignored);
        let mut service_tasks: HashMap<AgentId, usize> = HashMap::new();
        for service in &services.services {
            for instance in service.instances.iter().filter(|i| !i.state.is_terminal()) {
                *service_tasks.entry(instance.agent_id.clone()).or_default() += 1;
            }
        }
        let backed_off =
            self.backoff.iter().filter(|(_, (until, _, _))| *until > now).map(|(k, _)| k.clone()).collect();
        let plan = plan::plan(&Inputs {
            config: &self.config,
            agents: &agents.agents,
            service_tasks: &service_tasks,
            demand: &groups,
            instances: &instances,
            sizes: &self.sizes,
            zones: &self.zones,
            backed_off: &backed_off,
            drains: &self.drains,
            idle_since: &self.idle_since,
            now,
        });
        self.metrics.decision_seconds.observe(started.elapsed().as_secs_f64());
        self.idle_since = plan.idle_since.clone();
        self.metrics.desired.set(i64::from(plan.desired));
        self.metrics.pending.set(i64::from(plan.pending));
        self.metrics.idle.set(plan.idle_since.len() as i64);
        self.metrics.unplaceable.set(plan.unplaceable.iter().map(|(_, n, _)| i64::from(*n)).sum());
        for (name, why) in ignored {
            self.report_once(event("ignored", format!("{name}: {why}")), &format!("ignored {name} {why}")).await;
        }
        let failed = self.act(plan).await;
        self.metrics.draining.set(self.drains.len() as i64);
        self.reported = std::mem::take(&mut self.seen);
        Ok(failed)
    }

    /// Asks EC2 for the sizes of the configured instance types and the zones of the subnets,
    /// and fails naming any it does not know: a round without them could place nothing.
    pub async fn prepare(&mut self) -> Result<(), Error> {
        self.learn_sizes().await?;
        for pool in &self.config.pools {
            let unknown: Vec<&str> = pool
                .instance_types
                .iter()
                .map(|t| t.name.as_str())
                .filter(|t| !self.sizes.contains_key(*t))
                .chain(pool.subnets.iter().map(String::as_str).filter(|s| !self.zones.contains_key(*s)))
                .collect();
            if !unknown.is_empty() {
                return Err(Error::Config(format!("pool {}: EC2 does not know {}", pool.name, unknown.join(", "))));
            }
        }
        Ok(())
    }

    /// The sizes of the configured instance types and the zones of the subnets, asked once.
    async fn learn_sizes(&mut self) -> Result<(), Error> {
        let types: Vec<String> = self
            .config
            .pools
            .iter()
            .flat_map(|p| p.instance_types.iter().map(|t| t.name.clone()))
            .filter(|t| !self.sizes.contains_key(t))
            .collect();
        if !types.is_empty() {
            self.sizes.extend(self.ec2.sizes(&types).await?);
        }
        let subnets: Vec<String> =
            self.config.pools.iter().flat_map(|p| p.subnets.clone()).filter(|s| !self.zones.contains_key(s)).collect();
        if !subnets.is_empty() {
            self.zones.extend(self.ec2.zones(&subnets).await?);
        }
        Ok(())
    }

    async fn act(&mut self, plan: Plan) -> bool {
        let mut failed = false;
        for (name, count, why) in &plan.unplaceable {
            let e = AutoscalerEvent { count: *count, ..event("unplaceable", format!("{name}: {why}")) };
            self.report_once(e, &format!("unplaceable {name} {why}")).await;
        }
        for (name, count, why) in &plan.capped {
            let e = AutoscalerEvent { count: *count, ..event("capped", format!("{name}: {why}")) };
            self.report_once(e, &format!("capped {name}")).await;
        }
        for (agent, why) in &plan.skipped {
            let e = AutoscalerEvent { agent_id: Some(agent.clone()), ..event("scale_in_skipped", why.clone()) };
            self.report_once(e, &format!("skipped {agent} {why}")).await;
        }
        for agent in &plan.reactivate {
            let e = AutoscalerEvent {
                agent_id: Some(agent.clone()),
                ..event("reactivate", "work waits that fits on it".into())
            };
            if self.dry_run_report(&e, &format!("reactivate {agent}")).await {
                continue;
            }
            if !self.still_holding() {
                tracing::info!(action = %e.action, "not done this round: the lease is not surely held");
                continue;
            }
            match self.api.reactivate_agent(agent).await {
                Ok(()) => {
                    self.drains.remove(agent);
                    self.report(e).await;
                }
                Err(err) => tracing::warn!(%agent, error = %err, "reactivating failed"),
            }
        }
        for launch in &plan.launches {
            failed |= !self.launch(launch).await;
        }
        for (agent, instance) in &plan.drain {
            let e = AutoscalerEvent {
                agent_id: Some(agent.clone()),
                instance_ids: vec![instance.clone()],
                ..event("drain", format!("idle for {} s", self.config.scale_in.idle_secs))
            };
            if self.dry_run_report(&e, &format!("drain {agent}")).await {
                continue;
            }
            if !self.still_holding() {
                tracing::info!(action = %e.action, "not done this round: the lease is not surely held");
                continue;
            }
            let request = DrainAgent { grace_period_secs: self.config.scale_in.drain_grace_secs };
            match self.api.drain_agent(agent, &request).await {
                Ok(()) => {
                    self.drains.insert(agent.clone());
                    self.report(e).await;
                }
                Err(err) => tracing::warn!(%agent, error = %err, "draining failed"),
            }
        }
        self.terminate(&plan.terminate).await;
        failed
    }

    /// Terminates the plan's instances in one call (which first checks each is this cluster's),
    /// and reports each one terminated.
    async fn terminate(&mut self, instances: &[(String, String)]) {
        let mut events = Vec::new();
        for (instance, why) in instances {
            let e = AutoscalerEvent { instance_ids: vec![instance.clone()], ..event("terminate", why.clone()) };
            if !self.dry_run_report(&e, &format!("terminate {instance}")).await {
                events.push(e);
            }
        }
        if events.is_empty() {
            return;
        }
        if !self.still_holding() {
            tracing::info!(action = "terminate", "not done this round: the lease is not surely held");
            return;
        }
        let ids: Vec<String> = events.iter().flat_map(|e| e.instance_ids.clone()).collect();
        match self.ec2.terminate(&ids).await {
            Ok(done) => {
                for e in events.into_iter().filter(|e| done.contains(&e.instance_ids[0])) {
                    self.metrics.terminated.get_or_create(&labels(&[])).inc();
                    self.report(e).await;
                }
            }
            Err(err) => tracing::warn!(instances = ?ids, error = %err, "terminating failed"),
        }
    }

    /// Launches one plan's instances, trying the pool's markets in turn; `false` on failure
    /// (the kind of launch then backs off, and the next round plans around it).
    async fn launch(&mut self, launch: &Launch) -> bool {
        let Some(pool) = self.config.pools.iter().find(|p| p.name == launch.pool).cloned() else { return true };
        let what = format!("{} x {} in {} ({})", launch.count, launch.instance_type, launch.subnet, launch.pool);
        let base = AutoscalerEvent {
            pool: Some(launch.pool.clone()),
            instance_type: Some(launch.instance_type.clone()),
            count: launch.count,
            ..event("launch", format!("{what} for {}", launch.reason))
        };
        if self.dry_run_report(&base, &format!("launch {what} {}", launch.reason)).await {
            return true;
        }
        let mut last = String::new();
        for market in ec2::markets(pool.market) {
            let token = self.client_token(launch, market.is_some());
            let started = Instant::now();
            let Some(result) = self.launch_with_retries(&pool, launch, &token, market).await else { return true };
            self.metrics.launch_seconds.observe(started.elapsed().as_secs_f64());
            match result {
                Ok(ids) => {
                    self.backoff.remove(&(launch.pool.clone(), launch.instance_type.clone(), launch.subnet.clone()));
                    self.remember(launch, &ids);
                    self.metrics.launched.get_or_create(&labels(&[("pool", &launch.pool)])).inc_by(ids.len() as u64);
                    self.report(AutoscalerEvent { instance_ids: ids, ..base.clone() }).await;
                    return true;
                }
                Err(e) => {
                    let (reason, text) = match &e {
                        LaunchError::Capacity(m) => ("capacity", m),
                        LaunchError::Throttled(m) => ("throttled", m),
                        LaunchError::Failed(m) => ("error", m),
                    };
                    self.metrics.failed.get_or_create(&labels(&[("pool", &launch.pool), ("reason", reason)])).inc();
                    last = text.clone();
                    // Only a refusal for capacity says nothing was launched: after anything
                    // else (a lost answer, say), another market could launch a second time.
                    if !matches!(e, LaunchError::Capacity(_)) {
                        break;
                    }
                }
            }
        }
        let key = (launch.pool.clone(), launch.instance_type.clone(), launch.subnet.clone());
        let failures = self.backoff.get(&key).map_or(0, |(_, n, _)| *n) + 1;
        let delay = (10.0 * 2f64.powi(failures.min(16) as i32 - 1)).min(600.0);
        let now = unix_now();
        self.backoff.insert(key, (now + delay, failures, now));
        let why = format!("{what}: {last}; backing off {delay} s and trying another type, zone or pool");
        self.report(AutoscalerEvent { action: "launch_failed".into(), reason: why, ..base }).await;
        false
    }

    /// Keeps what a launch returned as capacity until DescribeInstances shows it.
    fn remember(&mut self, launch: &Launch, ids: &[String]) {
        for id in ids {
            self.launched.push(plan::Instance {
                id: id.clone(),
                pool: launch.pool.clone(),
                instance_type: launch.instance_type.clone(),
                subnet: launch.subnet.clone(),
                zone: self.zones.get(&launch.subnet).cloned().unwrap_or_default(),
                launched_at: unix_now(),
            });
        }
    }

    /// EC2's instances and those launched that it does not show yet (forgotten once it does,
    /// or past the join timeout, when it should have for long).
    fn with_launched(&mut self, mut instances: Vec<plan::Instance>, now: f64) -> Vec<plan::Instance> {
        let timeout = self.config.join_timeout_secs;
        self.launched.retain(|l| !instances.iter().any(|i| i.id == l.id) && now - l.launched_at < timeout);
        instances.extend(self.launched.iter().cloned());
        instances
    }

    /// Tries a launch until it is answered, with backoff, while this replica holds the lease
    /// (renewed between tries when the last renewal is getting old); `None` once it does not.
    async fn launch_with_retries(
        &mut self,
        pool: &crate::config::Pool,
        launch: &Launch,
        token: &str,
        market: Option<aws_sdk_ec2::types::MarketType>,
    ) -> Option<Result<Vec<String>, LaunchError>> {
        let mut delay = Duration::from_millis(500);
        let mut last = String::new();
        for attempt in 0..ec2::TRIES {
            if attempt > 0 {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            if !self.still_holding() && !self.hold_lease().await {
                return None;
            }
            match self.ec2.try_launch(pool, launch, token, market.clone(), attempt > 0).await {
                Ok(ids) => return Some(Ok(ids)),
                Err(Attempt::Final(e)) => return Some(Err(e)),
                Err(Attempt::Again(why)) => {
                    tracing::warn!(%token, %why, "launch answer lost or throttled; trying again");
                    last = why;
                }
            }
        }
        // The last try's answer may have been lost too.
        if let Ok(ids) = self.ec2.launched_with(token).await {
            if !ids.is_empty() {
                return Some(Ok(ids));
            }
        }
        Some(Err(LaunchError::Throttled(format!("{last} ({} tries, token {token})", ec2::TRIES))))
    }

    /// A token unique to this launch of this process, the same on every retry of it.
    fn client_token(&self, launch: &Launch, spot: bool) -> String {
        let mut hash = Sha256::new();
        for part in [&self.nonce, &self.round.to_string(), &launch.pool, &launch.instance_type, &launch.subnet] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        hash.update([u8::from(spot)]);
        let digest = hash.finalize();
        digest.iter().take(20).map(|b| format!("{b:02x}")).collect()
    }

    /// In a dry run, prints the decision (once) and says so: nothing more is to be done.
    async fn dry_run_report(&mut self, e: &AutoscalerEvent, key: &str) -> bool {
        if !self.options.dry_run {
            return false;
        }
        self.report_once(e.clone(), key).await;
        true
    }

    /// Reports a decision that would otherwise repeat every round only when it first appears.
    async fn report_once(&mut self, e: AutoscalerEvent, key: &str) {
        if self.seen.insert(key.to_string()) && !self.reported.contains(key) {
            self.report(e).await;
        }
    }

    /// Logs a decision, prints it in a dry run, and appends it to the operator stream.
    async fn report(&self, mut e: AutoscalerEvent) {
        e.holder = self.options.holder.clone();
        e.dry_run = self.options.dry_run;
        tracing::info!(action = %e.action, reason = %e.reason, instances = ?e.instance_ids, agent = ?e.agent_id, "decision");
        if self.options.dry_run {
            println!("{}", serde_json::to_string(&e).unwrap_or_default());
        }
        if let Err(err) = self.api.autoscaler_event(&e).await {
            tracing::warn!(error = %err, "could not append the decision to the operator stream");
        }
    }
}

fn event(action: &str, reason: String) -> AutoscalerEvent {
    AutoscalerEvent {
        action: action.to_string(),
        reason,
        holder: String::new(),
        dry_run: false,
        pool: None,
        instance_type: None,
        instance_ids: Vec::new(),
        agent_id: None,
        count: 0,
    }
}

pub fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}
