//! The decisions of one round, as a pure function of what the API and EC2 said: where waiting
//! work would go (agents' free room, instances still joining, agents being drained, then new
//! instances of the pools' types), what to launch for the rest, and which idle agents to drain
//! and which drained ones to terminate.

use crate::config::{Config, Pool};
use crate::demand::Group;
use agora_api::operator::{AgentState, AgentView, Maintenance};
use agora_api::{AgentId, Resources};
use std::collections::{BTreeMap, HashMap, HashSet};

/// An instance the autoscaler launched (tagged as its own), as EC2 describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    pub id: String,
    pub pool: String,
    pub instance_type: String,
    pub subnet: String,
    pub zone: String,
    /// Seconds since the Unix epoch.
    pub launched_at: f64,
}

/// An instance type's size, from EC2's DescribeInstanceTypes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Size {
    pub vcpus: f64,
    pub mem_mib: f64,
}

/// Everything one round looks at.
pub struct Inputs<'a> {
    pub config: &'a Config,
    pub agents: &'a [AgentView],
    /// Service instances per agent (the rest of an agent's tasks are other frameworks').
    pub service_tasks: &'a HashMap<AgentId, usize>,
    pub demand: &'a [Group],
    /// What the autoscaler launched and EC2 still runs (pending or running).
    pub instances: &'a [Instance],
    pub sizes: &'a HashMap<String, Size>,
    /// The zone of each configured subnet.
    pub zones: &'a HashMap<String, String>,
    /// (pool, type, subnet) that failed to launch lately: skipped until their backoff ends.
    pub backed_off: &'a HashSet<(String, String, String)>,
    /// Agents drained by this autoscaler (it reactivates only those).
    pub drains: &'a HashSet<AgentId>,
    /// Since when each agent has been idle, as the caller keeps it from round to round.
    pub idle_since: &'a HashMap<AgentId, f64>,
    pub now: f64,
}

/// New instances of one kind.
#[derive(Clone, Debug, PartialEq)]
pub struct Launch {
    pub pool: String,
    pub instance_type: String,
    pub subnet: String,
    pub count: u32,
    /// Which waiting work they are for.
    pub reason: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    pub launches: Vec<Launch>,
    pub reactivate: Vec<AgentId>,
    /// Agents to drain, with the instance under each.
    pub drain: Vec<(AgentId, String)>,
    /// Instances to terminate, and why.
    pub terminate: Vec<(String, String)>,
    /// Waiting work no instance type of any pool could place, and why: reported, not chased.
    pub unplaceable: Vec<(String, u32, String)>,
    /// Waiting work the pools could place but may not now (at their max, or backing off).
    pub capped: Vec<(String, u32, String)>,
    /// Agents left alone though under-used, and why.
    pub skipped: Vec<(AgentId, String)>,
    /// The idle clocks for the next round: agents idle now, since when.
    pub idle_since: HashMap<AgentId, f64>,
    pub pending: u32,
    pub desired: u32,
}

/// Where simulated work goes.
#[derive(Clone, Debug)]
struct Bin {
    hostname: String,
    attributes: BTreeMap<String, String>,
    free: Resources,
    ports: u64,
    kind: Kind,
    /// Whether the simulation put anything on it.
    used: bool,
}

#[derive(Clone, Debug, PartialEq)]
enum Kind {
    Agent,
    Draining(AgentId),
    Joining,
    New,
}

/// A new instance that might be bought.
struct Candidate {
    pool: usize,
    instance_type: String,
    subnet: String,
    weight: f64,
    bin: Bin,
}

pub fn plan(inputs: &Inputs) -> Plan {
    let config = inputs.config;
    let mut plan = Plan::default();
    let owned: HashMap<&str, &Instance> = inputs.instances.iter().map(|i| (i.id.as_str(), i)).collect();
    // The agent on each instance, in whatever state: an unreachable one may come back with its
    // tasks, so its instance is neither capacity nor an instance that never joined.
    let agent_of: HashMap<&str, &AgentView> = inputs
        .agents
        .iter()
        .filter(|a| a.attributes.get("cluster") == Some(&config.cluster))
        .filter_map(|a| a.attributes.get("instance_id").map(|id| (id.as_str(), a)))
        .collect();

    // The bins work could go on now, in the order it should: agents with room, instances still
    // joining, then agents this autoscaler is draining (reactivated if work lands on them).
    let mut bins: Vec<Bin> = Vec::new();
    for agent in inputs.agents.iter().filter(|a| a.state == AgentState::Active && a.maintenance.is_none()) {
        bins.push(agent_bin(agent, Kind::Agent));
    }
    let agents_end = bins.len();
    let mut joining = 0;
    for instance in inputs.instances {
        if agent_of.contains_key(instance.id.as_str()) {
            continue;
        }
        if inputs.now - instance.launched_at > config.join_timeout_secs {
            let why = format!("its agent did not join within {} s of the launch", config.join_timeout_secs);
            plan.terminate.push((instance.id.clone(), why));
            continue;
        }
        joining += 1;
        if let Some(bin) =
            new_bin(config, inputs, &instance.pool, &instance.instance_type, &instance.subnet, &instance.id)
        {
            bins.push(Bin { kind: Kind::Joining, ..bin });
        }
    }
    let joining_end = bins.len();
    for agent in inputs.agents.iter().filter(|a| a.state == AgentState::Active) {
        if let Some(Maintenance::Draining { .. }) = agent.maintenance {
            if inputs.drains.contains(&agent.id) && !agent.drained {
                bins.push(agent_bin(agent, Kind::Draining(agent.id.clone())));
            }
        }
    }
    plan.pending = joining;

    let mut remaining: Vec<Waiting> = inputs.demand.iter().map(Waiting::new).collect();
    // Tier by tier: a draining agent takes only what the others could not.
    for waiting in &mut remaining {
        waiting.fill(&mut bins[..agents_end]);
        waiting.fill(&mut bins[agents_end..joining_end]);
        waiting.fill(&mut bins[joining_end..]);
    }
    for bin in bins.iter().filter(|b| b.used) {
        if let Kind::Draining(id) = &bin.kind {
            plan.reactivate.push(id.clone());
        }
    }

    // What is left needs new instances: first the work no pool could ever place, reported.
    let candidates = candidates(config, inputs);
    remaining.retain(|w| {
        if w.count == 0 {
            return false;
        }
        match why_unplaceable(w.group, &candidates) {
            Some(why) => {
                plan.unplaceable.push((w.group.name.clone(), w.count, why));
                false
            }
            None => true,
        }
    });

    // Then, one instance at a time, the candidate that places the most per unit of weight.
    // What each pool keeps: its instances but those terminated as failed and those whose agent
    // is being drained (unless brought back now), before anything is bought or drained.
    let reactivated: HashSet<&AgentId> = plan.reactivate.iter().collect();
    let leaving = |i: &Instance| {
        plan.terminate.iter().any(|(id, _)| id == &i.id)
            || agent_of.get(i.id.as_str()).is_some_and(|a| {
                matches!(a.maintenance, Some(Maintenance::Draining { .. })) && !reactivated.contains(&a.id)
            })
    };
    let mut per_pool: Vec<u32> = config
        .pools
        .iter()
        .map(|p| inputs.instances.iter().filter(|i| i.pool == p.name && !leaving(i)).count() as u32)
        .collect();
    let mut bought: Vec<(usize, String, String, Vec<String>)> = Vec::new();
    let open = candidates_open(inputs, &candidates);
    while remaining.iter().any(|w| w.count > 0) {
        let hostname = format!("new-{}", bought.len());
        let mut best: Option<(f64, usize)> = None;
        for (i, c) in candidates.iter().enumerate() {
            if !open[i] || per_pool[c.pool] >= config.pools[c.pool].max {
                continue;
            }
            let bin = Bin { hostname: hostname.clone(), ..c.bin.clone() };
            let placed = try_one(&mut remaining, bin);
            let score = f64::from(placed) / c.weight;
            if placed > 0 && best.is_none_or(|(s, _)| score > s) {
                best = Some((score, i));
            }
        }
        let Some((_, i)) = best else { break };
        let c = &candidates[i];
        let mut bin = Bin { hostname, ..c.bin.clone() };
        let mut served = Vec::new();
        for w in remaining.iter_mut() {
            if w.place_on(&mut bin) > 0 {
                served.push(w.group.name.clone());
            }
        }
        per_pool[c.pool] += 1;
        bought.push((c.pool, c.instance_type.clone(), c.subnet.clone(), served));
    }
    for w in remaining.iter().filter(|w| w.count > 0) {
        let why = "every pool that could place it is at its max or backing off after a failed launch".to_string();
        plan.capped.push((w.group.name.clone(), w.count, why));
    }

    // Pools below their min.
    for (p, pool) in config.pools.iter().enumerate() {
        let have = per_pool[p];
        if have < pool.min {
            if let Some(c) = candidates.iter().enumerate().find(|(i, c)| c.pool == p && open[*i]).map(|(_, c)| c) {
                for _ in have..pool.min {
                    bought.push((
                        p,
                        c.instance_type.clone(),
                        c.subnet.clone(),
                        vec![format!("pool {} min", pool.name)],
                    ));
                }
                per_pool[p] = pool.min;
            }
        }
    }
    plan.launches = group_launches(config, bought);

    scale_in(inputs, &agent_of, &owned, &bins, &mut per_pool, &mut plan);
    plan.desired = per_pool.iter().sum::<u32>();
    plan
}

/// What a new instance of each (pool, type, subnet) would offer (none for a type EC2 did not
/// describe).
fn candidates(config: &Config, inputs: &Inputs) -> Vec<Candidate> {
    let mut out = Vec::new();
    for (p, pool) in config.pools.iter().enumerate() {
        for choice in &pool.instance_types {
            for subnet in &pool.subnets {
                let Some(bin) = new_bin(config, inputs, &pool.name, &choice.name, subnet, "new") else { continue };
                out.push(Candidate {
                    pool: p,
                    instance_type: choice.name.clone(),
                    subnet: subnet.clone(),
                    weight: choice.weight,
                    bin: Bin { kind: Kind::New, ..bin },
                });
            }
        }
    }
    out
}

/// Which candidates may be launched now: not backing off after a failure.
fn candidates_open(inputs: &Inputs, candidates: &[Candidate]) -> Vec<bool> {
    let name = |c: &Candidate| inputs.config.pools[c.pool].name.clone();
    candidates
        .iter()
        .map(|c| !inputs.backed_off.contains(&(name(c), c.instance_type.clone(), c.subnet.clone())))
        .collect()
}

/// The agent an instance of this kind would run, as the launch template starts it.
fn new_bin(config: &Config, inputs: &Inputs, pool: &str, instance_type: &str, subnet: &str, id: &str) -> Option<Bin> {
    let pool: &Pool = config.pools.iter().find(|p| p.name == pool)?;
    let size = inputs.sizes.get(instance_type)?;
    // An agent of this type that joined already says what the type really offers.
    let seen = inputs.agents.iter().find(|a| {
        a.attributes.get("instance_type").map(String::as_str) == Some(instance_type) && a.reserved.is_empty()
    });
    let total = match seen {
        Some(agent) => agent.total.clone(),
        None => pool.agent_resources(size.vcpus, size.mem_mib),
    };
    let zone = inputs.zones.get(subnet).cloned().unwrap_or_default();
    let mut attributes = pool.attributes.clone();
    attributes.insert("zone".into(), zone);
    attributes.insert("instance_type".into(), instance_type.into());
    attributes.insert("instance_id".into(), id.into());
    attributes.insert("cluster".into(), config.cluster.clone());
    Some(Bin {
        hostname: format!("{id}.{subnet}"),
        attributes,
        ports: total.port_count(),
        free: total.without_ports(),
        kind: Kind::Agent,
        used: false,
    })
}

fn agent_bin(agent: &AgentView, kind: Kind) -> Bin {
    // What tasks hold and what is reserved to roles is not free (reservations are counted as
    // taken for every role: conservative, it may buy where a reservation had room).
    let mut free = agent.total.minus(&agent.used);
    for reserved in agent.reserved.values() {
        free.subtract(&reserved.without_ports());
    }
    let ports = agent.total.port_count().saturating_sub(agent.used.port_count());
    Bin {
        hostname: agent.hostname.clone(),
        attributes: agent.attributes.clone(),
        free: free.without_ports(),
        ports,
        kind,
        used: false,
    }
}

/// A group's tasks not placed yet, and how many of its tasks each value of each constraint's
/// field holds: kept up to date as tasks are placed, so that placing thousands stays linear.
struct Waiting<'a> {
    group: &'a Group,
    count: u32,
    counts: Vec<HashMap<String, u32>>,
}

impl<'a> Waiting<'a> {
    fn new(group: &'a Group) -> Waiting<'a> {
        let placed: Vec<(&str, &BTreeMap<String, String>)> =
            group.placed.iter().map(|(h, a)| (h.as_str(), a)).collect();
        let counts = group.constraints.iter().map(|c| c.count(&placed)).collect();
        Waiting { group, count: group.count, counts }
    }

    fn fits(&self, bin: &Bin) -> bool {
        self.group.resources.fits_in(&bin.free) && bin.ports >= self.group.ports
    }

    fn allowed(&self, bin: &Bin) -> bool {
        let mut checks = self.group.constraints.iter().zip(&self.counts);
        checks.all(|(c, n)| c.allows_counted(&bin.hostname, &bin.attributes, n))
    }

    /// Places as many as `bin` takes; how many.
    fn place_on(&mut self, bin: &mut Bin) -> u32 {
        let mut placed = 0;
        while self.count > 0 && self.fits(bin) && self.allowed(bin) {
            self.take(bin);
            placed += 1;
        }
        placed
    }

    /// Puts one on `bin`.
    fn take(&mut self, bin: &mut Bin) {
        bin.free.subtract(&self.group.resources);
        bin.ports -= self.group.ports;
        bin.used = true;
        self.shift(bin, 1);
        self.count -= 1;
    }

    /// Counts `n` more (or fewer) tasks on `bin`'s values.
    fn shift(&mut self, bin: &Bin, n: i64) {
        for (c, counts) in self.group.constraints.iter().zip(self.counts.iter_mut()) {
            if let Some(v) = c.value(&bin.hostname, &bin.attributes) {
                let count = counts.entry(v.to_string()).or_default();
                *count = (i64::from(*count) + n).max(0) as u32;
            }
        }
    }

    /// Places what fits on `bins`, in passes over them until one places nothing (a GROUP_BY
    /// may refuse a bin now and take it once the others have their share).
    fn fill(&mut self, bins: &mut [Bin]) {
        // A bin this shape did not fit stays too small: resources only shrink.
        let mut too_small = vec![false; bins.len()];
        while self.count > 0 {
            let mut any = false;
            for (i, bin) in bins.iter_mut().enumerate() {
                if too_small[i] || self.count == 0 {
                    continue;
                }
                if !self.fits(bin) {
                    too_small[i] = true;
                    continue;
                }
                // One per bin per pass, so that a spreading constraint sees every bin in turn.
                if self.allowed(bin) {
                    self.take(bin);
                    any = true;
                }
            }
            if !any {
                break;
            }
        }
    }
}

/// How many of `remaining` one new `bin` would take, leaving `remaining` as it was.
fn try_one(remaining: &mut [Waiting], mut bin: Bin) -> u32 {
    let mut taken = Vec::with_capacity(remaining.len());
    for w in remaining.iter_mut() {
        taken.push(w.place_on(&mut bin));
    }
    for (w, n) in remaining.iter_mut().zip(&taken) {
        w.shift(&bin, -i64::from(*n));
        w.count += n;
    }
    taken.iter().sum()
}

/// Why no new instance of any pool could take one of `group`, if none could.
fn why_unplaceable(group: &Group, candidates: &[Candidate]) -> Option<String> {
    if candidates.is_empty() {
        return Some("no pool has an instance type EC2 describes".into());
    }
    let fits = |c: &&Candidate| group.resources.fits_in(&c.bin.free) && c.bin.ports >= group.ports;
    let big_enough: Vec<&Candidate> = candidates.iter().filter(fits).collect();
    if big_enough.is_empty() {
        let largest = candidates
            .iter()
            .map(|c| &c.bin.free)
            .max_by(|a, b| a.cpus.total_cmp(&b.cpus).then(a.mem.total_cmp(&b.mem)))
            .cloned()
            .unwrap_or_default();
        return Some(format!(
            "needs cpus:{} mem:{} disk:{} gpus:{}{}, more than an agent of any pool's instance types offers (the largest: cpus:{} mem:{} disk:{})",
            group.resources.cpus,
            group.resources.mem,
            group.resources.disk,
            group.resources.gpus,
            if group.ports > 0 { format!(" and {} port(s)", group.ports) } else { String::new() },
            largest.cpus,
            largest.mem,
            largest.disk
        ));
    }
    let admitted =
        big_enough.iter().any(|c| group.constraints.iter().all(|k| k.admits_agent(&c.bin.hostname, &c.bin.attributes)));
    if !admitted {
        let texts: Vec<&str> = group.constraints.iter().map(|c| c.text.as_str()).collect();
        return Some(format!(
            "no instance type of any pool would have an agent that meets the constraints {}",
            texts.join(", ")
        ));
    }
    // Placed where its siblings are, it might still be barred (CLUSTER on an agent it is
    // already tied to): try one on each.
    let mut one = Waiting::new(group);
    let placeable = big_enough.iter().any(|c| {
        one.count = 1;
        let mut bin = c.bin.clone();
        one.place_on(&mut bin) == 1 && {
            one.shift(&bin, -1);
            true
        }
    });
    if !placeable {
        let texts: Vec<&str> = group.constraints.iter().map(|c| c.text.as_str()).collect();
        return Some(format!(
            "the constraints {}, given where its other instances run, allow no new agent of any pool to take it",
            texts.join(", ")
        ));
    }
    None
}

/// The instances to buy, as one launch per (pool, type, subnet).
fn group_launches(config: &Config, bought: Vec<(usize, String, String, Vec<String>)>) -> Vec<Launch> {
    let mut launches: Vec<Launch> = Vec::new();
    for (pool, instance_type, subnet, served) in bought {
        let pool = config.pools[pool].name.clone();
        match launches.iter_mut().find(|l| l.pool == pool && l.instance_type == instance_type && l.subnet == subnet) {
            Some(l) => {
                l.count += 1;
                for s in served {
                    if !l.reason.split(", ").any(|r| r == s) {
                        l.reason = format!("{}, {s}", l.reason);
                    }
                }
            }
            None => launches.push(Launch { pool, instance_type, subnet, count: 1, reason: served.join(", ") }),
        }
    }
    launches
}

/// Which agents to drain, which drained ones to terminate, and who stays and why.
fn scale_in(
    inputs: &Inputs,
    agent_of: &HashMap<&str, &AgentView>,
    owned: &HashMap<&str, &Instance>,
    bins: &[Bin],
    per_pool: &mut [u32],
    plan: &mut Plan,
) {
    let config = inputs.config;
    let wanted: HashSet<&str> = bins.iter().filter(|b| b.used).map(|b| b.hostname.as_str()).collect();
    let reactivated: HashSet<&AgentId> = plan.reactivate.iter().collect();

    // What the open agents have free once the waiting work is on them: what movable agents'
    // tasks would go to, less each agent drained as the loop goes.
    let mut room = Resources::default();
    for bin in bins.iter().filter(|b| b.kind == Kind::Agent) {
        room.add(&bin.free);
    }
    let mut ids: Vec<&&str> = agent_of.keys().collect();
    ids.sort();
    for id in ids {
        let agent = agent_of[*id];
        if agent.state != AgentState::Active {
            continue;
        }
        let Some(instance) = owned.get(*id) else { continue };
        let Some(p) = config.pools.iter().position(|p| p.name == instance.pool) else { continue };
        match &agent.maintenance {
            // Counted out of its pool already; terminated once its drain has ended.
            Some(Maintenance::Draining { .. }) => {
                if agent.drained && !reactivated.contains(&agent.id) {
                    plan.terminate.push((instance.id.clone(), format!("agent {} is drained", agent.id)));
                }
                continue;
            }
            // An operator's hold: theirs to lift.
            Some(Maintenance::Deactivated { .. }) => continue,
            None => {}
        }
        let service = inputs.service_tasks.get(&agent.id).copied().unwrap_or(0);
        let other = agent.tasks.saturating_sub(service);
        let wanted_here = wanted.contains(agent.hostname.as_str());
        // Its disk holds what a role keeps there: never taken away by the autoscaler.
        if !agent.volumes.is_empty() || !agent.reservations.is_empty() {
            if agent.tasks == 0 && !wanted_here {
                plan.skipped.push((agent.id.clone(), "holds persistent volumes or dynamic reservations".into()));
            }
            continue;
        }
        let idle = agent.tasks == 0 && !wanted_here;
        let movable = agent.tasks > 0
            && !wanted_here
            && (service == 0 || config.scale_in.move_services)
            && (other == 0 || config.scale_in.kill_batch);
        if !(idle || movable) {
            // Said of agents that have had time to fill up, and that no waiting work is headed for.
            let settled = inputs.now - agent.registered_at >= config.scale_in.idle_secs;
            let filling = wanted.contains(agent.hostname.as_str());
            if agent.tasks > 0 && settled && !filling && agent.used.dominant_share(&agent.total) < 0.5 {
                let what = match (service, other) {
                    (s, 0) => format!("{s} service instance(s), which move only with scale_in.move_services"),
                    (0, o) => format!("{o} task(s) of other frameworks, killed only with scale_in.kill_batch"),
                    (s, o) => format!("{s} service instance(s) and {o} other task(s)"),
                };
                plan.skipped.push((agent.id.clone(), format!("under half used but runs {what}")));
            }
            continue;
        }
        let since = inputs.idle_since.get(&agent.id).copied().unwrap_or(inputs.now);
        plan.idle_since.insert(agent.id.clone(), since);
        if inputs.now - since < config.scale_in.idle_secs || per_pool[p] <= config.pools[p].min {
            continue;
        }
        if movable {
            // The room of the others: without this agent's own, less what it holds.
            let own = bins.iter().find(|b| b.kind == Kind::Agent && b.hostname == agent.hostname);
            let without = own.map_or(room.clone(), |b| room.minus(&b.free));
            let holds = agent.used.without_ports();
            if !holds.fits_in(&without) {
                plan.skipped.push((agent.id.clone(), "the rest of the cluster has no room for what it runs".into()));
                continue;
            }
            room = without.minus(&holds);
        }
        per_pool[p] -= 1;
        plan.drain.push((agent.id.clone(), instance.id.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{InstanceTypeChoice, LaunchTemplate, Market, ScaleIn};
    use agora_api::constraints::parse_all;

    fn pool(types: &[(&str, f64)], subnets: &[&str], min: u32, max: u32) -> Pool {
        Pool {
            name: "general".into(),
            instance_types: types.iter().map(|(t, w)| InstanceTypeChoice { name: t.to_string(), weight: *w }).collect(),
            subnets: subnets.iter().map(|s| s.to_string()).collect(),
            launch_template: Some(LaunchTemplate { id: "lt-1".into(), version: "$Latest".into() }),
            image_id: None,
            user_data_file: None,
            tags: BTreeMap::new(),
            attributes: [("pool".to_string(), "general".to_string())].into(),
            min,
            max,
            market: Market::OnDemand,
            disk_mb: 15360.0,
            mem_reserve_mb: 1024.0,
        }
    }

    fn config(pools: Vec<Pool>) -> Config {
        Config {
            cluster: "test".into(),
            region: None,
            pools,
            scale_in: ScaleIn { idle_secs: 60.0, ..ScaleIn::default() },
            join_timeout_secs: 600.0,
        }
    }

    fn agent(id: &str, cpus: f64, used: f64, instance: Option<&str>) -> AgentView {
        let mut attributes: BTreeMap<String, String> = BTreeMap::new();
        if let Some(i) = instance {
            attributes.insert("instance_id".into(), i.into());
            attributes.insert("cluster".into(), "test".into());
            attributes.insert("instance_type".into(), "m5.large".into());
        }
        AgentView {
            id: AgentId::from(id),
            hostname: id.into(),
            state: AgentState::Active,
            attributes,
            total: Resources { cpus, mem: 7168.0, disk: 15360.0, gpus: 0.0, ports: vec![[31000, 32000]] },
            reserved: BTreeMap::new(),
            reservations: vec![],
            volumes: vec![],
            used: Resources::new(used, 0.0),
            offered: Resources::default(),
            tasks: if used > 0.0 { 1 } else { 0 },
            registered_at: 0.0,
            last_seen: 0.0,
            maintenance: None,
            containerizers: vec![],
            drained: false,
        }
    }

    fn group(name: &str, cpus: f64, count: u32, constraints: &[&[&str]]) -> Group {
        let raw: Vec<Vec<String>> = constraints.iter().map(|c| c.iter().map(|s| s.to_string()).collect()).collect();
        Group {
            name: name.into(),
            role: "*".into(),
            resources: Resources::new(cpus, 256.0),
            ports: 0,
            constraints: parse_all(&raw).expect("valid"),
            count,
            placed: vec![],
        }
    }

    fn instance(id: &str, launched_at: f64) -> Instance {
        Instance {
            id: id.into(),
            pool: "general".into(),
            instance_type: "m5.large".into(),
            subnet: "subnet-a".into(),
            zone: "us-east-1a".into(),
            launched_at,
        }
    }

    struct World {
        config: Config,
        agents: Vec<AgentView>,
        service_tasks: HashMap<AgentId, usize>,
        demand: Vec<Group>,
        instances: Vec<Instance>,
        sizes: HashMap<String, Size>,
        zones: HashMap<String, String>,
        backed_off: HashSet<(String, String, String)>,
        drains: HashSet<AgentId>,
        idle_since: HashMap<AgentId, f64>,
    }

    impl World {
        fn new(pools: Vec<Pool>) -> World {
            World {
                config: config(pools),
                agents: vec![agent("dev", 1.0, 0.0, None)],
                service_tasks: HashMap::new(),
                demand: vec![],
                instances: vec![],
                sizes: [
                    ("m5.large".to_string(), Size { vcpus: 2.0, mem_mib: 8192.0 }),
                    ("c5.xlarge".to_string(), Size { vcpus: 4.0, mem_mib: 8192.0 }),
                ]
                .into(),
                zones: [("subnet-a".to_string(), "us-east-1a".to_string()), ("subnet-b".into(), "us-east-1b".into())]
                    .into(),
                backed_off: HashSet::new(),
                drains: HashSet::new(),
                idle_since: HashMap::new(),
            }
        }

        fn plan(&self, now: f64) -> Plan {
            plan(&Inputs {
                config: &self.config,
                agents: &self.agents,
                service_tasks: &self.service_tasks,
                demand: &self.demand,
                instances: &self.instances,
                sizes: &self.sizes,
                zones: &self.zones,
                backed_off: &self.backed_off,
                drains: &self.drains,
                idle_since: &self.idle_since,
                now,
            })
        }
    }

    fn launched(plan: &Plan) -> u32 {
        plan.launches.iter().map(|l| l.count).sum()
    }

    #[test]
    fn it_buys_exactly_what_places_the_waiting_work() {
        let mut world = World::new(vec![pool(&[("m5.large", 1.0)], &["subnet-a", "subnet-b"], 0, 10)]);
        world.demand = vec![group("service/web", 0.5, 8, &[])];
        let plan = world.plan(1000.0);
        // Two fit on the agent there is (1 cpu); six of 0.5 cpu take two agents of 2 cpus.
        assert_eq!(launched(&plan), 2, "{plan:?}");
        assert_eq!(plan.launches[0].subnet, "subnet-a");
        assert!(plan.launches[0].reason.contains("service/web"));
        assert!(plan.unplaceable.is_empty() && plan.capped.is_empty());
        assert_eq!(plan.desired, 2);

        // Launched and not joined yet, they count as capacity: nothing more is bought.
        world.instances = vec![instance("i-1", 1000.0), instance("i-2", 1000.0)];
        let plan = world.plan(1010.0);
        assert_eq!(launched(&plan), 0, "{plan:?}");
        assert_eq!(plan.pending, 2);
        // Until they fail to join in time: then they are terminated and bought again.
        let plan = world.plan(1000.0 + 601.0);
        assert_eq!(plan.terminate.len(), 2);
        assert_eq!(launched(&plan), 2);
    }

    #[test]
    fn the_type_that_places_most_per_weight_wins() {
        let mut world = World::new(vec![pool(&[("m5.large", 1.0), ("c5.xlarge", 1.5)], &["subnet-a"], 0, 10)]);
        world.agents.clear();
        world.demand = vec![group("service/web", 1.0, 8, &[])];
        let plan = world.plan(0.0);
        assert_eq!(plan.launches.len(), 1, "{plan:?}");
        assert_eq!(plan.launches[0].instance_type, "c5.xlarge", "4 per 1.5 beats 2 per 1");
        assert_eq!(plan.launches[0].count, 2);
    }

    #[test]
    fn constraints_shape_what_is_bought_and_impossible_work_is_reported_not_chased() {
        let mut world = World::new(vec![pool(&[("m5.large", 1.0)], &["subnet-a", "subnet-b"], 0, 10)]);
        world.agents.clear();
        world.demand = vec![
            group("service/unique", 0.1, 3, &[&["hostname", "UNIQUE"]]),
            group("service/rack", 0.1, 2, &[&["rack", "IS", "r9"]]),
            group("service/huge", 64.0, 1, &[]),
            group("service/zones", 0.1, 2, &[&["zone", "GROUP_BY", "2"]]),
        ];
        let plan = world.plan(0.0);
        assert_eq!(launched(&plan), 3, "one per instance of the UNIQUE service, the others share them: {plan:?}");
        let zones: HashSet<&str> = plan.launches.iter().map(|l| l.subnet.as_str()).collect();
        assert_eq!(zones.len(), 2, "GROUP_BY zone spreads over both subnets' zones: {plan:?}");
        let why: HashMap<&str, &str> = plan.unplaceable.iter().map(|(n, _, w)| (n.as_str(), w.as_str())).collect();
        assert!(why["service/rack"].contains("[\"rack\", \"IS\", \"r9\"]"), "{why:?}");
        assert!(why["service/huge"].contains("more than an agent"), "{why:?}");
        assert_eq!(why.len(), 2);
    }

    #[test]
    fn a_pool_at_its_max_or_backing_off_is_passed_over() {
        let mut world = World::new(vec![pool(&[("m5.large", 1.0)], &["subnet-a", "subnet-b"], 0, 1)]);
        world.agents.clear();
        world.demand = vec![group("service/web", 2.0, 3, &[])];
        let plan = world.plan(0.0);
        assert_eq!(launched(&plan), 1);
        assert_eq!(plan.capped, vec![("service/web".to_string(), 2, plan.capped[0].2.clone())]);

        world.config.pools[0].max = 5;
        world.backed_off.insert(("general".into(), "m5.large".into(), "subnet-a".into()));
        let plan = world.plan(0.0);
        assert_eq!(launched(&plan), 3);
        assert!(plan.launches.iter().all(|l| l.subnet == "subnet-b"), "{plan:?}");
        assert_eq!(plan.desired, 3);
    }

    #[test]
    fn idle_agents_are_drained_then_terminated_and_busy_ones_skipped() {
        let mut world = World::new(vec![pool(&[("m5.large", 1.0)], &["subnet-a"], 1, 10)]);
        world.instances = vec![instance("i-1", 0.0), instance("i-2", 0.0), instance("i-3", 0.0)];
        world.agents.push(agent("a1", 2.0, 0.0, Some("i-1")));
        world.agents.push(agent("a2", 2.0, 0.0, Some("i-2")));
        world.agents.push(agent("a3", 2.0, 0.5, Some("i-3")));
        world.service_tasks.insert(AgentId::from("a3"), 1);
        // Idle clocks start now: nothing is drained before idle_secs.
        let plan = world.plan(100.0);
        assert!(plan.drain.is_empty());
        assert_eq!(plan.idle_since.len(), 2);
        assert!(plan.skipped.iter().any(|(a, why)| a.as_str() == "a3" && why.contains("move_services")), "{plan:?}");
        world.idle_since = plan.idle_since;
        let plan = world.plan(161.0);
        // Both idle ones, down to the pool's min of 1 counting the busy one.
        assert_eq!(plan.drain.len(), 2, "{plan:?}");
        assert_eq!(plan.desired, 1);

        // Drained: terminated. Still draining and ours: left to finish.
        world.agents[1].maintenance =
            Some(Maintenance::Draining { since: 161.0, deadline: 170.0, inverse_offer_id: "o".into() });
        world.agents[1].drained = true;
        world.agents[2].maintenance = world.agents[1].maintenance.clone();
        world.drains = [AgentId::from("a1"), AgentId::from("a2")].into();
        let plan = world.plan(162.0);
        assert_eq!(plan.terminate, vec![("i-1".to_string(), "agent a1 is drained".to_string())]);
        assert!(plan.drain.is_empty());

        // New work that fits on the agent still draining brings it back instead of buying.
        world.demand = vec![group("service/web", 2.0, 1, &[])];
        world.agents[0].used = Resources::new(1.0, 0.0);
        let plan = world.plan(163.0);
        assert_eq!(plan.reactivate, vec![AgentId::from("a2")], "{plan:?}");
        assert_eq!(launched(&plan), 0);
    }

    #[test]
    fn with_move_services_an_agent_of_service_instances_is_drained_when_others_have_room() {
        let mut world = World::new(vec![pool(&[("m5.large", 1.0)], &["subnet-a"], 0, 10)]);
        world.config.scale_in.move_services = true;
        world.instances = vec![instance("i-1", 0.0)];
        world.agents.push(agent("a1", 2.0, 0.5, Some("i-1")));
        world.service_tasks.insert(AgentId::from("a1"), 1);
        world.idle_since.insert(AgentId::from("a1"), 0.0);
        let plan = world.plan(100.0);
        assert_eq!(plan.drain, vec![(AgentId::from("a1"), "i-1".to_string())], "the dev agent has 1 cpu free");
        world.agents[0].used = Resources::new(1.0, 0.0);
        let plan = world.plan(100.0);
        assert!(plan.drain.is_empty() && plan.skipped.iter().any(|(_, w)| w.contains("no room")), "{plan:?}");
    }

    #[test]
    fn a_drain_in_progress_does_not_hold_up_buying_for_work_it_cannot_take() {
        let mut world = World::new(vec![pool(&[("m5.large", 1.0)], &["subnet-a"], 0, 10)]);
        world.instances = vec![instance("i-1", 0.0)];
        world.agents.push(agent("a1", 2.0, 1.5, Some("i-1")));
        world.agents[1].maintenance =
            Some(Maintenance::Draining { since: 0.0, deadline: 60.0, inverse_offer_id: "o".into() });
        world.drains = [AgentId::from("a1")].into();
        world.demand = vec![group("service/web", 2.0, 1, &[])];
        let plan = world.plan(1.0);
        assert!(plan.reactivate.is_empty(), "half a cpu free on it: {plan:?}");
        assert_eq!(launched(&plan), 1, "{plan:?}");
        assert_eq!(plan.desired, 1, "the draining one is counted out, the new one in");
    }

    #[test]
    fn an_agent_being_drained_counts_out_of_its_pool_before_another_is_chosen() {
        let mut world = World::new(vec![pool(&[("m5.large", 1.0)], &["subnet-a"], 1, 10)]);
        world.instances = vec![instance("i-1", 0.0), instance("i-2", 0.0)];
        world.agents.push(agent("a1", 2.0, 0.0, Some("i-1")));
        world.agents.push(agent("a2", 2.0, 0.0, Some("i-2")));
        world.agents[2].maintenance =
            Some(Maintenance::Draining { since: 0.0, deadline: 1.0, inverse_offer_id: "o".into() });
        world.agents[2].drained = true;
        world.idle_since.insert(AgentId::from("a1"), 0.0);
        let plan = world.plan(100.0);
        assert_eq!(plan.terminate, vec![("i-2".to_string(), "agent a2 is drained".to_string())]);
        assert!(plan.drain.is_empty(), "a1 is all the pool's min of 1 has left: {plan:?}");
        assert_eq!(launched(&plan), 0);
        assert_eq!(plan.desired, 1);
    }

    #[test]
    fn an_unreachable_agents_instance_is_neither_capacity_nor_terminated() {
        let mut world = World::new(vec![pool(&[("m5.large", 1.0)], &["subnet-a"], 0, 10)]);
        world.instances = vec![instance("i-1", 0.0)];
        world.agents.push(agent("a1", 2.0, 1.0, Some("i-1")));
        world.agents[1].state = AgentState::Unreachable;
        world.demand = vec![group("service/web", 1.5, 1, &[])];
        let plan = world.plan(10_000.0);
        assert!(plan.terminate.is_empty(), "{plan:?}");
        assert!(plan.drain.is_empty());
        assert_eq!(plan.pending, 0);
        assert_eq!(launched(&plan), 1, "its room is not counted on: {plan:?}");
    }

    #[test]
    fn an_idle_agent_with_a_volume_is_kept() {
        let mut world = World::new(vec![pool(&[("m5.large", 1.0)], &["subnet-a"], 0, 10)]);
        world.instances = vec![instance("i-1", 0.0)];
        world.agents.push(agent("a1", 2.0, 0.0, Some("i-1")));
        world.agents[1].reservations = vec![agora_api::operator::Reservation {
            role: "db".into(),
            resources: Resources { disk: 100.0, ..Resources::default() },
            labels: BTreeMap::new(),
            principal: "op".into(),
        }];
        world.idle_since.insert(AgentId::from("a1"), 0.0);
        let plan = world.plan(1000.0);
        assert!(plan.drain.is_empty(), "{plan:?}");
        assert!(plan.skipped.iter().any(|(a, why)| a.as_str() == "a1" && why.contains("reservations")));
    }

    #[test]
    fn pools_are_kept_at_their_min() {
        let mut world = World::new(vec![pool(&[("m5.large", 1.0)], &["subnet-a"], 2, 10)]);
        world.agents.clear();
        let plan = world.plan(0.0);
        assert_eq!(launched(&plan), 2);
        assert!(plan.launches[0].reason.contains("min"));
    }
}
