//! Which offer each new instance goes on: the offers of one agent, role and reservation make a
//! slot; an instance goes on a slot it fits and whose agent its service's constraints allow,
//! the one with the fewest of its service's instances first.

use super::constraints::Constraint;
use agora_api::{AgentId, OfferId, Resources};
use std::collections::{BTreeMap, HashMap};

/// The offers of one agent for one role (and reservation): one accept.
#[derive(Clone, Debug)]
pub struct Slot {
    pub agent_id: AgentId,
    pub hostname: String,
    pub attributes: BTreeMap<String, String>,
    pub role: String,
    pub reservation: Option<String>,
    pub offer_ids: Vec<OfferId>,
    /// What is left of the offers, ports included.
    pub free: Resources,
}

/// New instances one service wants.
pub struct Demand<'a> {
    pub role: &'a str,
    /// Scalars only; `ports` says how many ports.
    pub resources: Resources,
    pub ports: usize,
    pub constraints: &'a [Constraint],
    pub count: u32,
    /// Where the service's instances are (hostname and attributes of each one's agent), new
    /// placements added as they are made.
    pub placed: Vec<(String, BTreeMap<String, String>)>,
}

/// One instance placed: on which slot, for which demand, with which ports.
#[derive(Debug, PartialEq)]
pub struct Placement {
    pub slot: usize,
    pub demand: usize,
    pub ports: Vec<u16>,
}

/// Places as many instances of each demand, in order, as the slots take. The counts the
/// choice needs (instances per host, per value of each constraint's field) are kept as it
/// goes, so that placing thousands stays linear in them.
pub fn place(demands: &mut [Demand], slots: &mut [Slot]) -> Vec<Placement> {
    let mut placements = Vec::new();
    for (d, demand) in demands.iter_mut().enumerate() {
        if demand.count == 0 {
            continue;
        }
        let placed: Vec<(&str, &BTreeMap<String, String>)> =
            demand.placed.iter().map(|(h, a)| (h.as_str(), a)).collect();
        let mut per_value: Vec<HashMap<String, u32>> = demand.constraints.iter().map(|c| c.count(&placed)).collect();
        let mut per_host: HashMap<String, usize> = HashMap::new();
        for (host, _) in &placed {
            *per_host.entry(host.to_string()).or_default() += 1;
        }
        drop(placed);
        for _ in 0..demand.count {
            let best = slots
                .iter()
                .enumerate()
                .filter(|(_, s)| s.role == demand.role && demand.resources.fits_in(&s.free))
                .filter(|(_, s)| count_ports(&s.free) >= demand.ports as u64)
                .filter(|(_, s)| {
                    let mut checks = demand.constraints.iter().zip(&per_value);
                    checks.all(|(c, counts)| c.allows_counted(&s.hostname, &s.attributes, counts))
                })
                .min_by(|(_, a), (_, b)| {
                    let here = |s: &Slot| per_host.get(&s.hostname).copied().unwrap_or(0);
                    here(a).cmp(&here(b)).then(b.free.cpus.total_cmp(&a.free.cpus))
                })
                .map(|(i, _)| i);
            let Some(i) = best else { break };
            let slot = &mut slots[i];
            let ports = take_ports(&mut slot.free.ports, demand.ports);
            slot.free.subtract(&demand.resources);
            *per_host.entry(slot.hostname.clone()).or_default() += 1;
            for (c, counts) in demand.constraints.iter().zip(per_value.iter_mut()) {
                if let Some(v) = c.value(&slot.hostname, &slot.attributes) {
                    *counts.entry(v.to_string()).or_default() += 1;
                }
            }
            demand.placed.push((slot.hostname.clone(), slot.attributes.clone()));
            placements.push(Placement { slot: i, demand: d, ports });
        }
    }
    placements
}

fn count_ports(r: &Resources) -> u64 {
    r.ports.iter().map(|[low, high]| u64::from(high.saturating_sub(*low)) + 1).sum()
}

/// Takes the first `count` ports of `ranges` (the caller checked there are that many).
fn take_ports(ranges: &mut Vec<[u16; 2]>, count: usize) -> Vec<u16> {
    let mut taken = Vec::with_capacity(count);
    while taken.len() < count {
        let Some(first) = ranges.first_mut() else { break };
        taken.push(first[0]);
        if first[0] == first[1] {
            ranges.remove(0);
        } else {
            first[0] += 1;
        }
    }
    taken
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(host: &str, rack: &str, cpus: f64) -> Slot {
        Slot {
            agent_id: AgentId::from(host),
            hostname: host.into(),
            attributes: [("rack".to_string(), rack.to_string())].into(),
            role: "*".into(),
            reservation: None,
            offer_ids: vec![],
            free: Resources { cpus, mem: 1024.0, ports: vec![[31000, 31001]], ..Default::default() },
        }
    }

    #[test]
    fn instances_spread_within_constraints_and_take_ports() {
        let unique = vec![Constraint::parse(&["hostname".into(), "UNIQUE".into()]).expect("valid")];
        let mut slots = vec![slot("a", "r1", 4.0), slot("b", "r1", 4.0)];
        let mut demands = vec![Demand {
            role: "*",
            resources: Resources::new(1.0, 64.0),
            ports: 1,
            constraints: &unique,
            count: 3,
            placed: vec![],
        }];
        let placements = place(&mut demands, &mut slots);
        assert_eq!(placements.len(), 2, "one per host");
        assert_ne!(placements[0].slot, placements[1].slot);
        assert_eq!(placements[0].ports, vec![31000]);
        assert_eq!(slots[placements[0].slot].free.ports, vec![[31001, 31001]]);

        let none: Vec<Constraint> = vec![];
        let mut slots = vec![slot("a", "r1", 1.5), slot("b", "r1", 4.0)];
        let mut demands = vec![Demand {
            role: "*",
            resources: Resources::new(1.0, 64.0),
            ports: 2,
            constraints: &none,
            count: 3,
            placed: vec![],
        }];
        let placements = place(&mut demands, &mut slots);
        assert_eq!(placements.len(), 2, "two ports per instance: each agent has room for one");
    }
}
