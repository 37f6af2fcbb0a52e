//! What a service needs next, from where its instances are: which to kill and how many to
//! launch. A pure function of the service and its instances, run on every look, so that a
//! new leader picks up a deployment exactly where the old one left it (nothing of a
//! deployment's progress lives anywhere but in the instances themselves).

use agora_api::services::{KillSelection, ServiceSpec};
use agora_api::{TaskId, TaskState};

/// One instance as the plan sees it.
#[derive(Clone, Debug)]
pub struct Instance {
    pub task_id: TaskId,
    pub version: u64,
    pub state: TaskState,
    /// Running, and passing its health check if it has one.
    pub healthy: bool,
    /// A kill was asked for: it no longer counts, though it may hold resources a while.
    pub killing: bool,
    /// When its agent went silent, if it is unreachable.
    pub unreachable_since: Option<f64>,
    pub launched_at: f64,
}

#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    pub kill: Vec<TaskId>,
    /// New instances of the current version to place.
    pub launch: u32,
    /// Instances of the current version that are healthy.
    pub new_healthy: u32,
    /// Instances still to stop: of other versions, over the count, or being killed.
    pub left_to_stop: u32,
    /// The service is at its target: its count of healthy instances of its version, nothing
    /// else left.
    pub done: bool,
    /// When time alone changes the plan: the backoff ends, an unreachable instance is replaced
    /// or forgotten.
    pub next_due: Option<f64>,
    /// Launches held back by the backoff.
    pub delayed: u32,
}

/// Plans one look at a service whose target is `spec` at `version` (nothing if `deleting`).
pub fn plan(
    spec: &ServiceSpec,
    version: u64,
    deleting: bool,
    backoff_until: f64,
    instances: &[Instance],
    now: f64,
) -> Plan {
    let n = if deleting { 0 } else { spec.instances as usize };
    let strategy = &spec.upgrade_strategy;
    let min_healthy = ((n as f64 * strategy.minimum_health_capacity).ceil() as usize).min(n);
    let max_total = n + (n as f64 * strategy.maximum_over_capacity).ceil() as usize;
    let unreachable = &spec.unreachable_strategy;
    let mut plan = Plan::default();
    let mut due = |at: f64| plan_due(&mut plan.next_due, at);

    let mut killing = 0usize;
    let mut new: Vec<&Instance> = Vec::new();
    let mut old: Vec<&Instance> = Vec::new();
    let mut kill: Vec<TaskId> = Vec::new();
    for i in instances {
        if i.killing {
            // An unreachable one being killed waits for its agent: it holds nothing back.
            if i.unreachable_since.is_none() {
                killing += 1;
            }
            continue;
        }
        if let Some(since) = i.unreachable_since {
            if now >= since + unreachable.expunge_after_secs {
                kill.push(i.task_id.clone());
                continue;
            }
            due(since + unreachable.expunge_after_secs);
            if now >= since + unreachable.inactive_after_secs {
                // Inactive: replaced, but kept until expunged in case its agent comes back.
                continue;
            }
            due(since + unreachable.inactive_after_secs);
        }
        if i.version == version {
            new.push(i);
        } else {
            old.push(i);
        }
    }

    // Over the count: the least useful first, then by the kill selection.
    let by_selection = |a: &&Instance, b: &&Instance| {
        let usefulness = |i: &Instance| (i.healthy, i.state == TaskState::Running);
        let age = match spec.kill_selection {
            KillSelection::YoungestFirst => b.launched_at.total_cmp(&a.launched_at),
            KillSelection::OldestFirst => a.launched_at.total_cmp(&b.launched_at),
        };
        usefulness(a).cmp(&usefulness(b)).then(age)
    };
    new.sort_by(by_selection);
    let excess = new.len().saturating_sub(n);
    kill.extend(new.drain(..excess).map(|i| i.task_id.clone()));
    let new_healthy = new.iter().filter(|i| i.healthy).count();

    // Old versions: those not healthy go freely; healthy ones only while enough stay
    // healthy, and only when they are not needed or stand in the way of new ones.
    old.sort_by(by_selection);
    let launch_wanted = n - new.len();
    let keep_old = n.saturating_sub(new_healthy);
    let extra = old.len().saturating_sub(keep_old);
    let room = max_total.saturating_sub(old.len() + new.len() + killing);
    let room_needed = launch_wanted.saturating_sub(room + killing);
    let to_kill = extra.max(room_needed).min(old.len());
    let old_healthy = old.iter().filter(|i| i.healthy).count();
    let mut healthy_budget = (new_healthy + old_healthy).saturating_sub(min_healthy);
    let mut killed_old = 0;
    for i in &old {
        if killed_old == to_kill {
            break;
        }
        if i.healthy {
            if healthy_budget == 0 {
                continue;
            }
            healthy_budget -= 1;
        }
        kill.push(i.task_id.clone());
        killed_old += 1;
    }
    // What was just asked to die still holds its place until it has.
    let counted = old.len() + new.len() + killing + excess;
    let mut launch = launch_wanted.min(max_total.saturating_sub(counted));
    if launch > 0 && backoff_until > now {
        due(backoff_until);
        plan.delayed = launch as u32;
        launch = 0;
    }
    plan.left_to_stop = (old.len() + killing + excess) as u32;
    plan.done = old.is_empty() && killing == 0 && kill.is_empty() && new.len() == n && new_healthy == n;
    plan.kill = kill;
    plan.launch = launch as u32;
    plan.new_healthy = new_healthy as u32;
    plan
}

fn plan_due(due: &mut Option<f64>, at: f64) {
    *due = Some(due.map_or(at, |d| d.min(at)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_api::services::{TaskTemplate, UpgradeStrategy};

    fn spec(instances: u32, min: f64, over: f64) -> ServiceSpec {
        ServiceSpec {
            instances,
            role: "*".into(),
            task: TaskTemplate {
                resources: agora_api::Resources::new(0.1, 16.0),
                command: None,
                container: None,
                env: Default::default(),
                fetch: vec![],
                health_check: None,
                kill_grace_period_secs: None,
                labels: Default::default(),
                ports: vec![],
                user: None,
            },
            readiness_check: None,
            constraints: vec![],
            upgrade_strategy: UpgradeStrategy { minimum_health_capacity: min, maximum_over_capacity: over },
            backoff: Default::default(),
            unreachable_strategy: Default::default(),
            kill_selection: Default::default(),
        }
    }

    fn instance(id: &str, version: u64, healthy: bool) -> Instance {
        Instance {
            task_id: TaskId::from(id),
            version,
            state: if healthy { TaskState::Running } else { TaskState::Staging },
            healthy,
            killing: false,
            unreachable_since: None,
            launched_at: 0.0,
        }
    }

    /// Plays a deployment to its end: each step applies the plan (kills end at once, launches
    /// start unhealthy, then become healthy one look later) and checks the healthy floor.
    fn roll(n: u32, min: f64, over: f64) -> usize {
        let spec = spec(n, min, over);
        let mut instances: Vec<Instance> = (0..n).map(|i| instance(&format!("old{i}"), 1, true)).collect();
        let floor = ((n as f64) * min).ceil() as usize;
        let max = n as usize + ((n as f64) * over).ceil() as usize;
        for look in 0..100 {
            let plan = plan(&spec, 2, false, 0.0, &instances, 0.0);
            if plan.done {
                return look;
            }
            instances.retain(|i| !plan.kill.contains(&i.task_id));
            assert!(instances.iter().filter(|i| i.healthy).count() >= floor, "below the floor at look {look}");
            // Time passes: what was launched becomes healthy.
            for i in instances.iter_mut() {
                i.healthy = true;
                i.state = TaskState::Running;
            }
            for k in 0..plan.launch {
                instances.push(instance(&format!("new{look}-{k}"), 2, false));
            }
            assert!(instances.len() <= max, "over capacity at look {look}");
        }
        panic!("the deployment did not finish");
    }

    #[test]
    fn a_rolling_deploy_keeps_the_healthy_floor_and_finishes() {
        for (n, min, over) in [(6, 0.5, 0.0), (3, 1.0, 1.0), (6, 0.5, 1.0), (4, 0.0, 0.0), (5, 0.8, 0.2), (1, 1.0, 0.1)]
        {
            roll(n, min, over);
        }
    }

    #[test]
    fn scaling_down_kills_the_least_useful_then_the_youngest() {
        let mut instances: Vec<Instance> =
            (0..4).map(|i| Instance { launched_at: i as f64, ..instance(&format!("t{i}"), 1, true) }).collect();
        instances[1].healthy = false;
        let p = plan(&spec(2, 1.0, 1.0), 1, false, 0.0, &instances, 10.0);
        assert_eq!(p.kill, vec![TaskId::from("t1"), TaskId::from("t3")]);
        assert_eq!(p.launch, 0);
    }

    #[test]
    fn backoff_holds_launches_and_says_until_when() {
        let p = plan(&spec(2, 1.0, 1.0), 1, false, 50.0, &[], 10.0);
        assert_eq!((p.launch, p.delayed, p.next_due), (0, 2, Some(50.0)));
        let p = plan(&spec(2, 1.0, 1.0), 1, false, 50.0, &[], 60.0);
        assert_eq!(p.launch, 2);
    }

    #[test]
    fn unreachable_instances_are_replaced_then_forgotten() {
        let mut s = spec(1, 1.0, 1.0);
        s.unreachable_strategy.inactive_after_secs = 10.0;
        s.unreachable_strategy.expunge_after_secs = 20.0;
        let away = Instance { unreachable_since: Some(100.0), ..instance("t", 1, false) };
        let p = plan(&s, 1, false, 0.0, std::slice::from_ref(&away), 105.0);
        assert_eq!((p.launch, p.next_due), (0, Some(110.0)));
        let p = plan(&s, 1, false, 0.0, std::slice::from_ref(&away), 112.0);
        assert_eq!((p.launch, p.next_due), (1, Some(120.0)));
        let p = plan(&s, 1, false, 0.0, std::slice::from_ref(&away), 121.0);
        assert_eq!((p.launch, p.kill), (1, vec![TaskId::from("t")]));
    }

    #[test]
    fn deleting_kills_everything() {
        let instances = [instance("a", 1, true), instance("b", 2, true)];
        let p = plan(&spec(2, 1.0, 1.0), 2, true, 0.0, &instances, 0.0);
        assert_eq!(p.kill.len(), 2);
        assert!(!p.done);
        assert!(plan(&spec(2, 1.0, 1.0), 2, true, 0.0, &[], 0.0).done);
    }
}
