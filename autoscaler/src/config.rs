//! The autoscaler's configuration file (YAML): the cluster it serves, its instance pools and
//! its scale-in policy. Read once at start; every value checked before anything runs.

use crate::error::Error;
use agora_api::Resources;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The cluster's name: the value of the `agora:autoscaler` and `agora:cluster` tags on
    /// what it launches (the Terraform module's `name`), and of the agents' `cluster` attribute.
    pub cluster: String,
    /// The AWS region (default: the SDK's, from the environment or the instance).
    #[serde(default)]
    pub region: Option<String>,
    /// Instance pools, in order of preference.
    pub pools: Vec<Pool>,
    #[serde(default)]
    pub scale_in: ScaleIn,
    /// Seconds a launched instance counts as capacity before its agent joins; past it, it is
    /// terminated as failed.
    #[serde(default = "default_join_timeout")]
    pub join_timeout_secs: f64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    pub name: String,
    /// Candidate instance types, with the weight of each: its cost in any unit (default 1).
    /// A new instance is of the type that places the most waiting work per unit of weight.
    pub instance_types: Vec<InstanceTypeChoice>,
    /// Subnets to launch into, tried in order; a capacity failure moves to the next one.
    pub subnets: Vec<String>,
    /// The launch template (the Terraform module's `agent_launch_template_id`), or...
    #[serde(default)]
    pub launch_template: Option<LaunchTemplate>,
    /// ...an AMI whose user data joins the agent (`user_data_file`).
    #[serde(default)]
    pub image_id: Option<String>,
    #[serde(default)]
    pub user_data_file: Option<std::path::PathBuf>,
    /// Extra tags on its instances (the autoscaler's own are always added).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Attributes its agents report beyond `zone`, `instance_type`, `instance_id` and
    /// `cluster` (the launch template's `extra_attributes`), for placement constraints.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    #[serde(default)]
    pub min: u32,
    pub max: u32,
    /// `on_demand` (default), `spot`, or `spot_then_on_demand`: spot, and on-demand where
    /// spot has no capacity.
    #[serde(default)]
    pub market: Market,
    /// Disk (MiB) an agent of this pool offers: its root volume less the system's share.
    #[serde(default = "default_disk")]
    pub disk_mb: f64,
    /// Memory (MiB) an agent keeps for the system, as `agora agent` does.
    #[serde(default = "default_mem_reserve")]
    pub mem_reserve_mb: f64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceTypeChoice {
    #[serde(rename = "type")]
    pub name: String,
    #[serde(default = "one")]
    pub weight: f64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaunchTemplate {
    pub id: String,
    #[serde(default = "latest")]
    pub version: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Market {
    #[default]
    OnDemand,
    Spot,
    SpotThenOnDemand,
}

/// When agents are taken away.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleIn {
    /// Seconds an agent must hold nothing before it is drained.
    #[serde(default = "default_idle")]
    pub idle_secs: f64,
    /// Seconds a drain gives the frameworks to move what runs on the agent.
    #[serde(default = "default_drain_grace")]
    pub drain_grace_secs: f64,
    /// Drain agents whose only tasks are service instances, when the rest of the cluster has
    /// room for them: the services scheduler moves them. Off by default.
    #[serde(default)]
    pub move_services: bool,
    /// Drain agents that run other frameworks' tasks (batch work), which the drain's deadline
    /// kills. Off by default.
    #[serde(default)]
    pub kill_batch: bool,
}

impl Default for ScaleIn {
    fn default() -> Self {
        ScaleIn {
            idle_secs: default_idle(),
            drain_grace_secs: default_drain_grace(),
            move_services: false,
            kill_batch: false,
        }
    }
}

fn one() -> f64 {
    1.0
}
fn latest() -> String {
    "$Latest".to_string()
}
fn default_join_timeout() -> f64 {
    600.0
}
fn default_disk() -> f64 {
    15.0 * 1024.0
}
fn default_mem_reserve() -> f64 {
    1024.0
}
fn default_idle() -> f64 {
    300.0
}
fn default_drain_grace() -> f64 {
    60.0
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, Error> {
        let text =
            std::fs::read_to_string(path).map_err(|e| Error::Config(format!("reading {}: {e}", path.display())))?;
        let config: Config =
            serde_norway::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        config.check().map_err(|m| Error::Config(format!("{}: {m}", path.display())))?;
        Ok(config)
    }

    /// What a file could say that would make no sense to act on.
    pub fn check(&self) -> Result<(), String> {
        if self.cluster.is_empty() || self.cluster.len() > 128 {
            return Err("cluster must be 1 to 128 characters".into());
        }
        if self.pools.is_empty() {
            return Err("at least one pool is needed".into());
        }
        let mut names = std::collections::BTreeSet::new();
        for pool in &self.pools {
            let p = &pool.name;
            if !names.insert(p.as_str()) {
                return Err(format!("two pools are named {p}"));
            }
            if pool.instance_types.is_empty() || pool.subnets.is_empty() {
                return Err(format!("pool {p} needs at least one instance type and one subnet"));
            }
            if pool.instance_types.iter().any(|t| !(t.weight.is_finite() && t.weight > 0.0)) {
                return Err(format!("pool {p}: weights must be above 0"));
            }
            if pool.min > pool.max {
                return Err(format!("pool {p}: min {} is above max {}", pool.min, pool.max));
            }
            if pool.launch_template.is_none() == pool.image_id.is_none() {
                return Err(format!("pool {p} needs a launch_template or an image_id, not both"));
            }
            if pool.user_data_file.is_some() && pool.image_id.is_none() {
                return Err(format!("pool {p}: user_data_file goes with image_id (a launch template has its own)"));
            }
            for (k, v) in &pool.attributes {
                if k.contains([',', ':']) || v.contains([',', ':']) {
                    return Err(format!("pool {p}: attribute {k}:{v} cannot hold ',' or ':'"));
                }
            }
            if !(pool.disk_mb >= 0.0 && pool.mem_reserve_mb >= 0.0) {
                return Err(format!("pool {p}: disk_mb and mem_reserve_mb must be 0 or more"));
            }
        }
        let s = &self.scale_in;
        if !(s.idle_secs >= 0.0 && s.drain_grace_secs >= 0.0 && self.join_timeout_secs > 0.0) {
            return Err("idle_secs, drain_grace_secs and join_timeout_secs must be positive".into());
        }
        Ok(())
    }
}

impl Pool {
    /// What an agent on an instance of `vcpus` and `mem_mib` offers, as `agora agent` discovers it.
    pub fn agent_resources(&self, vcpus: f64, mem_mib: f64) -> Resources {
        let mem_reserve = self.mem_reserve_mb.min(mem_mib / 2.0);
        Resources {
            cpus: vcpus,
            mem: mem_mib - mem_reserve,
            disk: self.disk_mb,
            gpus: 0.0,
            ports: vec![[31000, 32000]],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_with_what_cannot_work_is_refused_with_why() {
        let good = "cluster: prod\npools:\n- name: general\n  instance_types: [{type: m5.large}, {type: c5.xlarge, weight: 2}]\n  subnets: [subnet-1]\n  launch_template: {id: lt-1}\n  max: 3\n";
        let config: Config = serde_norway::from_str(good).expect("parses");
        config.check().expect("valid");
        assert_eq!(config.pools[0].instance_types[1].weight, 2.0);
        assert_eq!(config.pools[0].launch_template.as_ref().map(|t| t.version.as_str()), Some("$Latest"));
        assert_eq!(config.scale_in.idle_secs, 300.0);
        let bad = |text: &str| serde_norway::from_str::<Config>(text).expect("parses").check().expect_err("refused");
        assert!(bad(&good.replace("max: 3", "max: 3\n  min: 4")).contains("min 4 is above max 3"));
        assert!(bad(&good.replace("  launch_template: {id: lt-1}\n", "")).contains("launch_template or an image_id"));
        assert!(bad(&good.replace("weight: 2", "weight: 0")).contains("weights"));
        assert!(serde_norway::from_str::<Config>(&good.replace("max: 3", "max: 3\n  maxx: 4")).is_err());
    }
}
