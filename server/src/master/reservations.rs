//! Reservations and persistent volumes: parts of an agent kept for a role, made by operators
//! (`POST /v1/agents/{id}/reserve`, `/volumes`) or by frameworks with resource operations in an
//! accept (`reserve`, `unreserve`, `create_volume`, `destroy_volume`).
//!
//! A role's reservations on an agent form one pool; its volumes take disk of that pool for as
//! long as they exist, whether a task uses them or not.

use super::records::{key, AgentRecord};
use super::*;
use agora_api::agent::DestroyVolumeCommand;
use agora_api::framework::{Accept, Operation};
use agora_api::operator::{AgentView, CreateVolume, Reservation, ReserveResources};
use agora_api::{Offer, Resources, Volume};
use std::collections::{BTreeMap, BTreeSet};

impl Master {
    /// Reserves unreserved, unused resources of an agent for a role (an operator's dynamic
    /// reservation). The agent's offers are rescinded first, so that what they held counts
    /// as free.
    pub async fn reserve(
        &self,
        caller: &Caller,
        id: &AgentId,
        req: ReserveResources,
    ) -> Result<AgentView, ServerError> {
        caller.check_operates()?;
        let principal = &caller.principal;
        check_id("agent id", id.as_str())?;
        check_reservation(&req)?;
        check_labels(&req.labels)?;
        transact!(self, {
            let (agent, mut txn) = self.hold(id).await?;
            let mut record = agent.value.clone();
            let reserved = record.reservations().values().fold(Resources::default(), |sum, r| sum.plus(r));
            let used = self.pool_use(id, None).await?;
            let free = record.total.minus(&reserved).minus(&used);
            if !req.resources.fits_in(&free) {
                return Err(ServerError::bad(
                    "insufficient_resources",
                    format!("agent {id} has {} unreserved and unused", describe(&free)),
                ));
            }
            record.dynamic.push(Reservation {
                role: req.role.clone(),
                resources: req.resources.clone(),
                labels: req.labels.clone(),
                principal: principal.to_string(),
            });
            txn.put(key::agent(id), encode(&record));
            wake_allocator(&mut txn);
            Ok((txn, ()))
        })?;
        self.agent(id).await
    }

    /// Gives back dynamically reserved resources of a role, newest reservation first.
    pub async fn unreserve(
        &self,
        caller: &Caller,
        id: &AgentId,
        req: ReserveResources,
    ) -> Result<AgentView, ServerError> {
        caller.check_operates()?;
        check_id("agent id", id.as_str())?;
        check_reservation(&req)?;
        transact!(self, {
            let (agent, mut txn) = self.hold(id).await?;
            let mut record = agent.value.clone();
            let dynamic = dynamic_of(&record, &req.role, None);
            let unused = self.pool_free(&record, id, &req.role).await?;
            if !req.resources.fits_in(&dynamic) || !req.resources.fits_in(&unused) {
                return Err(ServerError::bad(
                    "insufficient_resources",
                    format!(
                        "role {} has {} reserved dynamically on agent {id}, {} of its reservations unused",
                        req.role,
                        describe(&dynamic),
                        describe(&unused)
                    ),
                ));
            }
            take_back(&mut record, &req.role, None, &req.resources);
            txn.put(key::agent(id), encode(&record));
            wake_allocator(&mut txn);
            Ok((txn, ()))
        })?;
        self.agent(id).await
    }

    /// Makes a persistent volume on a role's reserved disk that neither tasks nor other
    /// volumes use.
    pub async fn create_volume(
        &self,
        caller: &Caller,
        id: &AgentId,
        req: CreateVolume,
    ) -> Result<AgentView, ServerError> {
        caller.check_operates()?;
        let principal = &caller.principal;
        check_id("agent id", id.as_str())?;
        check_role(&req.role)?;
        check_volume(&req.id, req.disk, &req.container_path)?;
        transact!(self, {
            let (agent, mut txn) = self.hold(id).await?;
            let mut record = agent.value.clone();
            check_volume_id_free(&record, &req.id)?;
            let free = self.pool_free(&record, id, &req.role).await?;
            if req.disk > free.disk {
                return Err(ServerError::bad(
                    "insufficient_resources",
                    format!("role {} has disk:{} reserved and unused on agent {id}", req.role, free.disk),
                ));
            }
            forget_on_agent(&mut txn, id, &req.id);
            record.volumes.push(Volume {
                id: req.id.clone(),
                role: req.role.clone(),
                disk: req.disk,
                container_path: req.container_path.clone(),
                principal: principal.to_string(),
            });
            txn.put(key::agent(id), encode(&record));
            wake_allocator(&mut txn);
            Ok((txn, ()))
        })?;
        self.agent(id).await
    }

    /// Destroys a persistent volume that no live task uses, and has the agent delete its files.
    pub async fn destroy_volume(
        &self,
        caller: &Caller,
        id: &AgentId,
        volume_id: &str,
    ) -> Result<AgentView, ServerError> {
        caller.check_operates()?;
        check_id("agent id", id.as_str())?;
        transact!(self, {
            let (agent, mut txn) = self.hold(id).await?;
            let mut record = agent.value.clone();
            if !record.volumes.iter().any(|v| v.id == volume_id) {
                return Err(ServerError::not_found("volume", "unknown_volume", volume_id));
            }
            if let Some(task) =
                self.live_tasks(id).await?.iter().find(|t| t.value.info.volumes.iter().any(|v| v == volume_id))
            {
                return Err(ServerError::bad(
                    "volume_in_use",
                    format!("task {} uses volume {volume_id}; kill it first", task.value.info.task_id),
                ));
            }
            record.volumes.retain(|v| v.id != volume_id);
            destroy_on_agent(&mut txn, id, volume_id);
            txn.put(key::agent(id), encode(&record));
            wake_allocator(&mut txn);
            Ok((txn, ()))
        })?;
        self.agent(id).await
    }

    /// What the live tasks of one pool of an agent use (`None`: the unreserved rest).
    async fn pool_use(&self, id: &AgentId, pool: Option<&String>) -> Result<Resources, ServerError> {
        let tasks = self.live_tasks(id).await?;
        let used = tasks.iter().filter(|t| t.value.reservation.as_ref() == pool);
        Ok(used.fold(Resources::default(), |sum, t| sum.plus(&t.value.info.resources)))
    }

    /// What of a role's reservations on an agent neither live tasks nor volumes take.
    async fn pool_free(&self, record: &AgentRecord, id: &AgentId, role: &str) -> Result<Resources, ServerError> {
        let pool = record.reservations().remove(role).unwrap_or_default();
        let used = self.pool_use(id, Some(&role.to_string())).await?;
        Ok(pool.minus(&used).minus(&record.volume_disk(role)))
    }
}

/// What a role has reserved dynamically on an agent: what it may unreserve.
/// What `role` has reserved dynamically on an agent, of the reservations `by` may give back.
fn dynamic_of(record: &AgentRecord, role: &str, by: Option<&str>) -> Resources {
    record
        .dynamic
        .iter()
        .filter(|r| r.role == role && super::policy::may_give_back(&r.principal, by))
        .fold(Resources::default(), |sum, r| sum.plus(&r.resources))
}

/// Takes `resources` back from `role`'s dynamic reservations on an agent that `by` may give
/// back, newest first.
fn take_back(record: &mut AgentRecord, role: &str, by: Option<&str>, resources: &Resources) {
    let mut left = resources.clone();
    for reservation in
        record.dynamic.iter_mut().rev().filter(|r| r.role == role && super::policy::may_give_back(&r.principal, by))
    {
        let taken = Resources {
            cpus: left.cpus.min(reservation.resources.cpus),
            mem: left.mem.min(reservation.resources.mem),
            disk: left.disk.min(reservation.resources.disk),
            gpus: left.gpus.min(reservation.resources.gpus),
            ports: Vec::new(),
        };
        reservation.resources.subtract(&taken);
        left.subtract(&taken);
    }
    record.dynamic.retain(|r| !r.resources.is_empty());
}

fn destroy_on_agent(txn: &mut Txn, agent_id: &AgentId, volume_id: &str) {
    let command = AgentCommand::DestroyVolume(DestroyVolumeCommand { id: volume_id.to_string() });
    push_command(txn, agent_id, &command);
}

/// Has the agent delete any directory left under a new volume's id, before any task can use
/// the volume: one of an earlier volume whose `destroy_volume` command the agent missed (its
/// command stream was trimmed) must not show in the new one.
fn forget_on_agent(txn: &mut Txn, agent_id: &AgentId, volume_id: &str) {
    destroy_on_agent(txn, agent_id, volume_id);
}

/// The resources an accept's resource operations work on, as each operation changes them.
struct Ledger {
    /// The role whose reservation the offers are, or that `reserve` reserves to.
    pool: String,
    unreserved: Resources,
    reserved: Resources,
    /// Volumes that may be destroyed: those the offers carry, and those made in this accept.
    destroyable: BTreeSet<String>,
    /// The offers are of a reservation to a role above the framework's: it may use the
    /// reservation, but not give it back or destroy its volumes.
    borrowed: bool,
}

impl Ledger {
    fn new(offers: &[Loaded<Offer>]) -> Ledger {
        let first = &offers[0].value;
        let held = offers.iter().fold(Resources::default(), |sum, o| sum.plus(&o.value.resources));
        let (unreserved, reserved) =
            if first.reservation.is_some() { (Resources::default(), held) } else { (held, Resources::default()) };
        Ledger {
            pool: first.reservation.clone().unwrap_or_else(|| first.role.clone()),
            unreserved,
            reserved,
            destroyable: offers.iter().flat_map(|o| o.value.volumes.iter().map(|v| v.id.clone())).collect(),
            borrowed: first.reservation.as_ref().is_some_and(|r| r != &first.role),
        }
    }

    /// Takes `wanted` out of `from` for operation `op`, or says what was there.
    fn take(from: &mut Resources, wanted: &Resources, op: &str, kind: &str) -> Result<(), ServerError> {
        if from.is_empty() {
            return Err(ServerError::bad(
                "invalid_operation",
                format!("{op} takes {kind} resources, and the offers hold none"),
            ));
        }
        if !wanted.fits_in(from) {
            return Err(ServerError::bad(
                "insufficient_resources",
                format!(
                    "{op} needs {} {kind}, and the offers hold {} {kind} after the operations before it",
                    describe(wanted),
                    describe(from)
                ),
            ));
        }
        from.subtract(wanted);
        Ok(())
    }

    /// Applies one operation to the agent's record; commands for the agent go in `txn`.
    fn apply(
        &mut self,
        op: &Operation,
        record: &mut AgentRecord,
        principal: &str,
        txn: &mut Txn,
        agent_id: &AgentId,
    ) -> Result<(), ServerError> {
        if self.borrowed && matches!(op, Operation::Unreserve { .. } | Operation::DestroyVolume { .. }) {
            return Err(ServerError::bad(
                "invalid_operation",
                format!(
                    "the offers are of role {}'s reservation: only that role's frameworks may unreserve it or destroy its volumes",
                    self.pool
                ),
            ));
        }
        match op {
            Operation::Launch { .. } => {}
            Operation::Reserve { resources, labels } => {
                check_reservation(&ReserveResources {
                    role: self.pool.clone(),
                    resources: resources.clone(),
                    labels: labels.clone(),
                })?;
                check_labels(labels)?;
                Self::take(&mut self.unreserved, resources, "reserve", "unreserved")?;
                self.reserved.add(resources);
                record.dynamic.push(Reservation {
                    role: self.pool.clone(),
                    resources: resources.clone(),
                    labels: labels.clone(),
                    principal: principal.to_string(),
                });
            }
            Operation::Unreserve { resources } => {
                check_reservation(&ReserveResources {
                    role: self.pool.clone(),
                    resources: resources.clone(),
                    labels: BTreeMap::new(),
                })?;
                // Only what this framework's principal reserved: another principal's frameworks
                // of the same role use a reservation, but do not give it away.
                let (own, all) =
                    (dynamic_of(record, &self.pool, Some(principal)), dynamic_of(record, &self.pool, None));
                if !resources.fits_in(&own) && resources.fits_in(&all) {
                    return Err(ServerError::bad(
                        "not_owner",
                        format!(
                            "of role {}'s reservations there, principal {principal} made {}: only a reservation's principal, or an operator, may unreserve it",
                            self.pool,
                            describe(&own)
                        ),
                    ));
                }
                if !resources.fits_in(&own) {
                    return Err(ServerError::bad(
                        "insufficient_resources",
                        format!("role {} has {} reserved dynamically there", self.pool, describe(&all)),
                    ));
                }
                Self::take(&mut self.reserved, resources, "unreserve", "reserved")?;
                self.unreserved.add(resources);
                take_back(record, &self.pool, Some(principal), resources);
            }
            Operation::CreateVolume { id, disk, container_path } => {
                check_volume(id, *disk, container_path)?;
                check_volume_id_free(record, id)?;
                Self::take(
                    &mut self.reserved,
                    &Resources { disk: *disk, ..Default::default() },
                    "create_volume",
                    "reserved",
                )?;
                forget_on_agent(txn, agent_id, id);
                record.volumes.push(Volume {
                    id: id.clone(),
                    role: self.pool.clone(),
                    disk: *disk,
                    container_path: container_path.clone(),
                    principal: principal.to_string(),
                });
                self.destroyable.insert(id.clone());
            }
            Operation::DestroyVolume { id } => {
                if !self.destroyable.contains(id) {
                    return Err(ServerError::bad(
                        "unknown_volume",
                        format!("volume `{}` is not in the offers", id.escape_debug()),
                    ));
                }
                if record
                    .volumes
                    .iter()
                    .any(|v| &v.id == id && !super::policy::may_give_back(&v.principal, Some(principal)))
                {
                    return Err(ServerError::bad(
                        "not_owner",
                        format!("volume {id} was made by another principal: only it, or an operator, may destroy it"),
                    ));
                }
                self.destroyable.remove(id);
                let disk: f64 = record.volumes.iter().filter(|v| &v.id == id).map(|v| v.disk).sum();
                record.volumes.retain(|v| &v.id != id);
                self.reserved.add(&Resources { disk, ..Default::default() });
                destroy_on_agent(txn, agent_id, id);
            }
        }
        Ok(())
    }
}

impl Master {
    /// An accept of resource operations (reserve, unreserve, create and destroy volumes): they
    /// apply in order to the offers' resources, and what is left goes back to the pool.
    pub(super) async fn apply_operations(&self, framework_id: &FrameworkId, req: Accept) -> Result<(), ServerError> {
        transact!(self, {
            let framework = self.framework_record(framework_id).await?;
            let offers = self.load_own_offers(framework_id, &req.offer_ids).await?;
            let first = &offers[0].value;
            let same = |o: &Loaded<Offer>| o.value.agent_id == first.agent_id && o.value.role == first.role;
            if !offers.iter().all(|o| same(o) && o.value.reservation == first.reservation) {
                return Err(ServerError::bad(
                    "offers_span_agents",
                    "the offers of one accept must be on one agent, for one role and one reservation",
                ));
            }
            let agent = self.agent_record(&first.agent_id).await?;
            let mut record = agent.value.clone();
            let mut ledger = Ledger::new(&offers);
            let mut txn = Txn::default();
            for op in &req.operations {
                ledger.apply(op, &mut record, &framework.value.principal, &mut txn, &first.agent_id)?;
            }
            txn.check(key::framework(framework_id), framework.version);
            txn.check(key::agent(&first.agent_id), agent.version).put(key::agent(&first.agent_id), encode(&record));
            for offer in &offers {
                drop_offer(&mut txn, offer);
            }
            wake_allocator(&mut txn);
            Ok((txn, ()))
        })
    }
}

fn check_reservation(req: &ReserveResources) -> Result<(), ServerError> {
    check_role(&req.role)?;
    let r = &req.resources;
    if !r.is_well_formed() || !r.ports.is_empty() || r.is_empty() {
        return Err(ServerError::bad(
            "invalid_resources",
            "a reservation takes finite, non-negative scalars, not none",
        ));
    }
    Ok(())
}

fn check_labels(labels: &BTreeMap<String, String>) -> Result<(), ServerError> {
    for (k, v) in labels {
        check_name("label", k)?;
        check_name("label", v)?;
    }
    Ok(())
}

fn check_volume(id: &str, disk: f64, container_path: &str) -> Result<(), ServerError> {
    check_id("volume id", id)?;
    if !disk.is_finite() || disk <= 0.0 {
        return Err(ServerError::bad("invalid_resources", "a volume's disk must be a positive number of MiB"));
    }
    if !Volume::is_valid_path(container_path) {
        return Err(ServerError::bad(
            "invalid_volume",
            format!(
                "container_path `{}` must be a relative path of names of A-Z a-z 0-9 . _ -, other than stdout and stderr",
                container_path.escape_debug()
            ),
        ));
    }
    Ok(())
}

fn check_volume_id_free(record: &AgentRecord, id: &str) -> Result<(), ServerError> {
    if record.volumes.iter().any(|v| v.id == id) {
        return Err(ServerError::bad("volume_exists", format!("the agent already has a volume {id}")));
    }
    Ok(())
}
