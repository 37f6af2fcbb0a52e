//! The snapshot a round and the operator views read: agents, frameworks with their
//! connections and filters, offers, tasks and roles, read together from the store.

use super::*;

/// A framework as a snapshot holds it.
pub(crate) struct FrameworkEntry {
    pub id: FrameworkId,
    pub record: Loaded<FrameworkRecord>,
    pub conn: Option<Loaded<FrameworkConn>>,
    pub filters: Filters,
}

/// Replicas heard from recently, and when each was last heard from.
pub(crate) struct ReplicaLiveness {
    pub live: BTreeSet<String>,
    pub last_seen: HashMap<String, f64>,
}

/// A set's members, each with its record (if it has one).
type Members<T> = Vec<(String, Option<Loaded<T>>)>;

/// Everything an allocation round or a view needs, read atomically.
pub(crate) struct Snapshot {
    pub agents: Vec<(AgentId, Loaded<AgentRecord>)>,
    pub frameworks: Vec<FrameworkEntry>,
    pub offers: Vec<Offer>,
    pub tasks: Vec<Arc<TaskRecord>>,
    /// The roles an operator configured.
    pub roles: BTreeMap<String, RoleConfig>,
}

impl Snapshot {
    /// Per agent: resources used by tasks and held by offers.
    pub fn agent_usage(&self) -> HashMap<AgentId, (Resources, Resources, usize)> {
        let mut usage: HashMap<AgentId, (Resources, Resources, usize)> = HashMap::new();
        for task in &self.tasks {
            let entry = usage.entry(task.info.agent_id.clone()).or_default();
            entry.0.add(&task.info.resources);
            entry.2 += 1;
        }
        for offer in &self.offers {
            usage.entry(offer.agent_id.clone()).or_default().1.add(&offer.resources);
        }
        usage
    }

    /// Per framework: resources used by tasks and held by offers, and its task count.
    pub fn framework_usage(&self) -> HashMap<FrameworkId, (Resources, Resources, usize)> {
        let mut usage: HashMap<FrameworkId, (Resources, Resources, usize)> = HashMap::new();
        for task in &self.tasks {
            let entry = usage.entry(task.framework_id.clone()).or_default();
            entry.2 += 1;
            entry.0.add(&task.info.resources);
        }
        for offer in &self.offers {
            usage.entry(offer.framework_id.clone()).or_default().1.add(&offer.resources);
        }
        usage
    }
}

impl Snapshot {
    /// The persistent volumes a live task uses or an outstanding offer carries, by agent.
    pub fn busy_volumes(&self) -> HashSet<(AgentId, String)> {
        let used = self.tasks.iter().flat_map(|t| t.info.volumes.iter().map(|v| (t.info.agent_id.clone(), v.clone())));
        let offered = self.offers.iter().flat_map(|o| o.volumes.iter().map(|v| (o.agent_id.clone(), v.id.clone())));
        used.chain(offered).collect()
    }

    /// Per agent and pool (a reservation's role, or `None` for the unreserved rest): what
    /// tasks, offers and persistent volumes hold.
    pub fn pool_usage(&self) -> HashMap<(AgentId, Option<String>), Resources> {
        let mut usage: HashMap<(AgentId, Option<String>), Resources> = HashMap::new();
        for (id, agent) in &self.agents {
            for volume in &agent.value.volumes {
                let disk = Resources { disk: volume.disk, ..Default::default() };
                usage.entry((id.clone(), Some(volume.role.clone()))).or_default().add(&disk);
            }
        }
        for task in &self.tasks {
            usage.entry((task.info.agent_id.clone(), task.reservation.clone())).or_default().add(&task.info.resources);
        }
        for offer in &self.offers {
            usage.entry((offer.agent_id.clone(), offer.reservation.clone())).or_default().add(&offer.resources);
        }
        usage
    }

    /// What is reserved to each role on active agents, used or not: part of the role's quota
    /// consumption.
    pub fn reserved_by_role(&self) -> BTreeMap<String, Resources> {
        let mut reserved: BTreeMap<String, Resources> = BTreeMap::new();
        for (_, agent) in self.agents.iter().filter(|(_, a)| a.value.state == AgentState::Active) {
            for (role, resources) in agent.value.reservations() {
                reserved.entry(role).or_default().add(&resources);
            }
        }
        reserved
    }

    /// Per framework and role: resources used by tasks on reachable agents and held by
    /// offers. A task launched before tasks kept their role counts in its framework's first.
    pub fn role_usage(&self) -> HashMap<(FrameworkId, String), RoleUsage> {
        let unreachable: BTreeSet<&AgentId> =
            self.agents.iter().filter(|(_, a)| a.value.state != AgentState::Active).map(|(id, _)| id).collect();
        let first_roles: HashMap<&FrameworkId, String> =
            self.frameworks.iter().map(|f| (&f.id, f.record.value.role())).collect();
        let mut usage: HashMap<(FrameworkId, String), RoleUsage> = HashMap::new();
        // Tasks on unreachable agents are outside the cluster total, so they must not count
        // towards their role's share either, or it would be starved for as long as the agent
        // stays away.
        for task in self.tasks.iter().filter(|t| !unreachable.contains(&t.info.agent_id)) {
            let Some(role) = task.role.clone().or_else(|| first_roles.get(&task.framework_id).cloned()) else {
                continue;
            };
            let entry = usage.entry((task.framework_id.clone(), role)).or_default();
            entry.add(&task.info.resources, task.reservation.is_some());
        }
        for offer in &self.offers {
            let entry = usage.entry((offer.framework_id.clone(), offer.role.clone())).or_default();
            entry.add(&offer.resources, offer.reservation.is_some());
        }
        usage
    }
}

/// What a framework holds in one role, in tasks and offers.
#[derive(Clone, Debug, Default)]
pub(crate) struct RoleUsage {
    pub held: Resources,
    /// The part of `held` on reservations.
    pub on_reservations: Resources,
}

impl RoleUsage {
    fn add(&mut self, resources: &Resources, reserved: bool) {
        self.held.add(resources);
        if reserved {
            self.on_reservations.add(resources);
        }
    }
}

/// Decodes a snapshot's records, keeping each member.
fn typed<T: DeserializeOwned>(
    prefix: &str,
    entries: Vec<(String, Option<crate::store::Versioned>)>,
) -> Result<Members<T>, ServerError> {
    entries
        .into_iter()
        .map(|(member, record)| Ok((member.clone(), decode(&format!("{prefix}{member}"), record)?)))
        .collect()
}

impl Master {
    /// Reads agents, frameworks (with their connections and filters), offers and live tasks
    /// in one atomic read, for views: every task's latest status.
    pub(crate) async fn snapshot(&self) -> Result<Snapshot, ServerError> {
        self.read_snapshot(false).await
    }

    /// The same, for allocation rounds and timers: tasks come from this replica's cache, which
    /// holds each live task as first read (what a round needs, its framework, agent and
    /// resources, never changes), so a round reads only the tasks launched since the last one.
    pub(crate) async fn round_snapshot(&self) -> Result<Snapshot, ServerError> {
        self.read_snapshot(true).await
    }

    async fn read_snapshot(&self, cached_tasks: bool) -> Result<Snapshot, ServerError> {
        let task_prefix = if cached_tasks { "" } else { key::TASK_PREFIX };
        let sets = [
            (key::AGENTS, key::AGENT_PREFIX),
            (key::FRAMEWORKS, key::FRAMEWORK_PREFIX),
            (key::FRAMEWORKS, key::FRAMEWORK_CONN_PREFIX),
            (key::FRAMEWORKS, key::FILTERS_PREFIX),
            (key::OFFERS, key::OFFER_PREFIX),
            (key::TASKS, task_prefix),
            (key::ROLES, key::ROLE_PREFIX),
        ]
        .map(|(s, p)| (s.to_string(), p.to_string()));
        let mut read = self.store.snapshot(&sets).await?.into_iter();
        let mut next = || read.next().unwrap_or_default();
        let (agents, frameworks, conns, filters, offers, tasks) = (next(), next(), next(), next(), next(), next());
        let roles = typed::<RoleConfig>(key::ROLE_PREFIX, next())?
            .into_iter()
            .filter_map(|(role, config)| Some((role, config?.value)))
            .collect();
        let agents = typed(key::AGENT_PREFIX, agents)?
            .into_iter()
            .filter_map(|(id, a)| Some((AgentId::from(id.as_str()), a?)))
            .collect();
        let conns: Members<FrameworkConn> = typed(key::FRAMEWORK_CONN_PREFIX, conns)?;
        let filters: Members<Filters> = typed(key::FILTERS_PREFIX, filters)?;
        let mut conns: HashMap<String, Loaded<FrameworkConn>> =
            conns.into_iter().filter_map(|(id, c)| Some((id, c?))).collect();
        let mut filters: HashMap<String, Filters> =
            filters.into_iter().filter_map(|(id, f)| Some((id, f?.value))).collect();
        let frameworks = typed(key::FRAMEWORK_PREFIX, frameworks)?
            .into_iter()
            .filter_map(|(id, f)| {
                let (conn, filter) = (conns.remove(&id), filters.remove(&id).unwrap_or_default());
                Some(FrameworkEntry { id: FrameworkId::from(id.as_str()), record: f?, conn, filters: filter })
            })
            .collect();
        let offers = typed(key::OFFER_PREFIX, offers)?.into_iter().filter_map(|(_, o)| Some(o?.value)).collect();
        let tasks = if cached_tasks {
            self.cached_tasks(tasks.into_iter().map(|(member, _)| member).collect()).await?
        } else {
            typed(key::TASK_PREFIX, tasks)?.into_iter().filter_map(|(_, t)| Some(Arc::new(t?.value))).collect()
        };
        Ok(Snapshot { agents, frameworks, offers, tasks, roles })
    }

    /// The live tasks named by `members`, reading only those not cached yet.
    async fn cached_tasks(&self, members: Vec<String>) -> Result<Vec<Arc<TaskRecord>>, ServerError> {
        let missing: Vec<String> = {
            let cache = self.task_cache.lock().unwrap_or_else(|p| p.into_inner());
            members.iter().filter(|m| !cache.1.contains_key(*m)).cloned().collect()
        };
        let keys: Vec<String> = missing.iter().map(|m| format!("{}{m}", key::TASK_PREFIX)).collect();
        let loaded = self.load_many::<TaskRecord>(&keys).await?;
        let mut cache = self.task_cache.lock().unwrap_or_else(|p| p.into_inner());
        let cache = &mut cache.1;
        for (member, task) in missing.into_iter().zip(loaded) {
            // Gone meanwhile: it ended, and its resources are free.
            if let Some(task) = task {
                cache.insert(member, Arc::new(task.value));
            }
        }
        let live: std::collections::HashSet<&String> = members.iter().collect();
        cache.retain(|member, _| live.contains(member));
        Ok(members.iter().filter_map(|m| cache.get(m).cloned()).collect())
    }

    /// Replicas heard from recently, by name.
    pub(crate) async fn live_replicas(&self) -> Result<ReplicaLiveness, ServerError> {
        let cutoff = now_secs() - (self.config.lease_ttl * REPLICA_TIMEOUT_TTLS).as_secs_f64();
        let all = self.store.zrange_below(key::REPLICAS, f64::MAX).await?;
        let live = all.iter().filter(|(_, seen)| *seen >= cutoff).map(|(r, _)| r.clone()).collect();
        Ok(ReplicaLiveness { live, last_seen: all.into_iter().collect() })
    }

    /// Whether a framework's stream is open on a live replica, and since when it is not.
    pub(crate) fn connection(conn: Option<&FrameworkConn>, replicas: &ReplicaLiveness) -> (bool, f64) {
        match conn {
            None => (false, 0.0),
            Some(c) if c.connected && !replicas.live.contains(&c.replica) => {
                (false, replicas.last_seen.get(&c.replica).copied().unwrap_or(c.since).max(c.since))
            }
            Some(c) => (c.connected, c.since),
        }
    }
}
