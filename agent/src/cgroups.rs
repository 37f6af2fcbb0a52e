//! Task isolation with Linux control groups: each task gets a cgroup with a CPU share, a CFS
//! quota, a memory limit and a pids limit. Both layouts work: cgroup v1 (a hierarchy per
//! controller under `/sys/fs/cgroup/{cpu,cpuacct,memory,pids}`) and cgroup v2 (one unified
//! hierarchy); which one the host has is detected at start.
//!
//! The OS effects are behind [`Cgroups`]; [`Recording`] stands in for it in unit tests, and
//! the real drivers are proven against the kernel by the agent's tests.

use crate::AgentError;
use agora_api::{FrameworkId, TaskId};
use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The pids limit every task gets: enough for any sane service, and a fork bomb stops there.
pub const DEFAULT_PIDS_MAX: u64 = 4096;
/// The CFS period; the quota is the task's CPUs times this.
const CFS_PERIOD_US: u64 = 100_000;

/// What a task may use.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    pub cpus: f64,
    /// MiB; 0 means no memory limit.
    pub mem_mib: f64,
    pub pids: u64,
    /// Character devices (major, minor) the task must not open: the GPUs it was not given.
    pub deny_devices: Vec<(u32, u32)>,
}

impl Limits {
    fn cfs_quota_us(&self) -> u64 {
        // The kernel refuses quotas under 1 ms.
        ((self.cpus * CFS_PERIOD_US as f64).round() as u64).max(1000)
    }

    /// cgroup v1 `cpu.shares`: 1024 per CPU, as Mesos sets it (at least the kernel's 2).
    fn shares(&self) -> u64 {
        ((self.cpus * 1024.0).round() as u64).max(2)
    }

    fn mem_bytes(&self) -> Option<u64> {
        (self.mem_mib > 0.0).then(|| (self.mem_mib * 1024.0 * 1024.0).round() as u64)
    }
}

/// One host's cgroups, as the agent uses them. `name` is a task's group below the agent's own.
pub trait Cgroups: Send + Sync + Debug {
    /// Makes the task's group and sets its limits.
    fn create(&self, name: &str, limits: &Limits) -> Result<(), AgentError>;
    /// Moves a process into the group; what it starts afterwards stays there.
    fn add(&self, name: &str, pid: i32) -> Result<(), AgentError>;
    /// The processes in the group now.
    fn procs(&self, name: &str) -> Vec<i32>;
    /// Whether the kernel killed a process of the group for going over its memory limit.
    fn oom_killed(&self, name: &str) -> bool;
    /// CPU time the group used, from the cgroup's own accounting.
    fn cpu_usage(&self, name: &str) -> Option<Duration>;
    /// Removes the group, which must be empty.
    fn remove(&self, name: &str) -> Result<(), AgentError>;
    /// The task groups below the agent's.
    fn children(&self) -> Vec<String>;
}

fn child_dirs(path: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(path) else { return Vec::new() };
    let dirs = entries.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir()));
    dirs.filter_map(|e| e.file_name().to_str().map(str::to_string)).collect()
}

/// Finds the host's cgroups under `mount` (`/sys/fs/cgroup`) and makes the agent's group
/// `root` in them. `None` if the host has neither layout.
pub fn detect(mount: &Path, root: &str) -> Result<Option<Arc<dyn Cgroups>>, AgentError> {
    let driver: Arc<dyn Cgroups> = if mount.join("cgroup.controllers").exists() {
        Arc::new(V2::new(mount, root)?)
    } else if mount.join("memory").is_dir() && mount.join("cpu").is_dir() {
        Arc::new(V1::new(mount, root)?)
    } else {
        return Ok(None);
    };
    Ok(Some(driver))
}

fn write(path: &Path, value: impl ToString) -> Result<(), AgentError> {
    std::fs::write(path, value.to_string()).map_err(|e| AgentError::io(format!("cannot write {}", path.display()), e))
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn make_dir(path: &Path) -> Result<(), AgentError> {
    std::fs::create_dir_all(path).map_err(|e| AgentError::io(format!("cannot create cgroup {}", path.display()), e))
}

/// Reads `key value` lines, as in `memory.oom_control` and `memory.events`.
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

fn pids_of(path: &Path) -> Vec<i32> {
    read(&path.join("cgroup.procs"))
        .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// Removes a cgroup directory (its files go with it); one already gone is fine.
fn remove_dir(path: &Path) -> Result<(), AgentError> {
    match std::fs::remove_dir(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(AgentError::io(format!("cannot remove cgroup {}", path.display()), e))
        }
        _ => Ok(()),
    }
}

/// cgroup v1: a hierarchy per controller. `cpu` and `cpuacct` may be one mount (`cpu,cpuacct`)
/// or two; each distinct hierarchy gets the group once.
#[derive(Debug)]
pub struct V1 {
    cpu: PathBuf,
    cpuacct: PathBuf,
    memory: PathBuf,
    pids: Option<PathBuf>,
    devices: Option<PathBuf>,
}

impl V1 {
    pub fn new(mount: &Path, root: &str) -> Result<V1, AgentError> {
        let dir = |controller: &str| mount.join(controller).join(root);
        let pids = mount.join("pids").is_dir().then(|| dir("pids"));
        let devices = mount.join("devices").is_dir().then(|| dir("devices"));
        let v1 = V1 { cpu: dir("cpu"), cpuacct: dir("cpuacct"), memory: dir("memory"), pids, devices };
        for path in v1.hierarchies() {
            make_dir(&path)?;
        }
        Ok(v1)
    }

    /// The agent's group in each distinct hierarchy.
    fn hierarchies(&self) -> Vec<PathBuf> {
        let mut all: Vec<PathBuf> = Vec::new();
        let mut seen: Vec<PathBuf> = Vec::new();
        let controllers =
            [Some(&self.cpu), Some(&self.cpuacct), Some(&self.memory), self.pids.as_ref(), self.devices.as_ref()];
        for path in controllers.into_iter().flatten() {
            let real = path.canonicalize().unwrap_or_else(|_| path.clone());
            if !seen.contains(&real) {
                seen.push(real);
                all.push(path.clone());
            }
        }
        all
    }
}

impl Cgroups for V1 {
    fn create(&self, name: &str, limits: &Limits) -> Result<(), AgentError> {
        for path in self.hierarchies() {
            make_dir(&path.join(name))?;
        }
        let cpu = self.cpu.join(name);
        write(&cpu.join("cpu.shares"), limits.shares())?;
        write(&cpu.join("cpu.cfs_period_us"), CFS_PERIOD_US)?;
        write(&cpu.join("cpu.cfs_quota_us"), limits.cfs_quota_us())?;
        if let Some(bytes) = limits.mem_bytes() {
            let memory = self.memory.join(name);
            write(&memory.join("memory.limit_in_bytes"), bytes)?;
            // Without swap accounting the file is missing, and there is nothing to cap.
            let swap = memory.join("memory.memsw.limit_in_bytes");
            if swap.exists() {
                write(&swap, bytes)?;
            }
        }
        if let Some(pids) = &self.pids {
            write(&pids.join(name).join("pids.max"), limits.pids)?;
        }
        if !limits.deny_devices.is_empty() {
            let Some(devices) = &self.devices else {
                return Err(AgentError::Config("GPUs need the devices cgroup controller to be isolated".into()));
            };
            // One rule per write: the kernel takes a single rule at a time.
            for (major, minor) in &limits.deny_devices {
                write(&devices.join(name).join("devices.deny"), format!("c {major}:{minor} rwm"))?;
            }
        }
        Ok(())
    }

    fn add(&self, name: &str, pid: i32) -> Result<(), AgentError> {
        for path in self.hierarchies() {
            write(&path.join(name).join("cgroup.procs"), pid)?;
        }
        Ok(())
    }

    fn procs(&self, name: &str) -> Vec<i32> {
        let mut all: Vec<i32> = self.hierarchies().iter().flat_map(|p| pids_of(&p.join(name))).collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    fn oom_killed(&self, name: &str) -> bool {
        let memory = self.memory.join(name);
        // Kernels before 4.13 have no `oom_kill` line: there a kill is not told from reclaim,
        // and the task is reported by how it ended.
        read(&memory.join("memory.oom_control")).and_then(|t| keyed(&t, "oom_kill")).is_some_and(|k| k > 0)
    }

    fn cpu_usage(&self, name: &str) -> Option<Duration> {
        let ns: u64 = read(&self.cpuacct.join(name).join("cpuacct.usage"))?.trim().parse().ok()?;
        Some(Duration::from_nanos(ns))
    }

    fn remove(&self, name: &str) -> Result<(), AgentError> {
        for path in self.hierarchies() {
            remove_dir(&path.join(name))?;
        }
        Ok(())
    }

    fn children(&self) -> Vec<String> {
        let mut all: Vec<String> = self.hierarchies().iter().flat_map(|p| child_dirs(p)).collect();
        all.sort();
        all.dedup();
        all
    }
}

/// cgroup v2: one unified hierarchy. The agent's group delegates `cpu`, `memory` and `pids`
/// to the task groups below it.
#[derive(Debug)]
pub struct V2 {
    root: PathBuf,
}

impl V2 {
    pub fn new(mount: &Path, root: &str) -> Result<V2, AgentError> {
        let path = mount.join(root);
        make_dir(&path)?;
        // Each level from the mount down must hand the controllers on to the next.
        let mut at = mount.to_path_buf();
        for part in Path::new(root).components() {
            write(&at.join("cgroup.subtree_control"), "+cpu +memory +pids")?;
            at = at.join(part);
        }
        write(&path.join("cgroup.subtree_control"), "+cpu +memory +pids")?;
        Ok(V2 { root: path })
    }
}

impl Cgroups for V2 {
    fn create(&self, name: &str, limits: &Limits) -> Result<(), AgentError> {
        if !limits.deny_devices.is_empty() {
            // v2 controls devices with eBPF programs only, which the agent does not load yet:
            // there the GPUs a task was not given are hidden from CUDA, not from the kernel.
            tracing::debug!(cgroup = name, "cgroup v2: device rules are not enforced");
        }
        let path = self.root.join(name);
        make_dir(&path)?;
        // The v1 shares mapped onto v2 weights, as runc and systemd map them.
        let weight = 1 + ((limits.shares().clamp(2, 262_144) - 2) * 9999) / 262_142;
        write(&path.join("cpu.weight"), weight)?;
        write(&path.join("cpu.max"), format!("{} {CFS_PERIOD_US}", limits.cfs_quota_us()))?;
        if let Some(bytes) = limits.mem_bytes() {
            write(&path.join("memory.max"), bytes)?;
            let swap = path.join("memory.swap.max");
            if swap.exists() {
                write(&swap, 0)?;
            }
        }
        write(&path.join("pids.max"), limits.pids)
    }

    fn add(&self, name: &str, pid: i32) -> Result<(), AgentError> {
        write(&self.root.join(name).join("cgroup.procs"), pid)
    }

    fn procs(&self, name: &str) -> Vec<i32> {
        pids_of(&self.root.join(name))
    }

    fn oom_killed(&self, name: &str) -> bool {
        read(&self.root.join(name).join("memory.events")).and_then(|t| keyed(&t, "oom_kill")).is_some_and(|k| k > 0)
    }

    fn cpu_usage(&self, name: &str) -> Option<Duration> {
        let usec = read(&self.root.join(name).join("cpu.stat")).and_then(|t| keyed(&t, "usage_usec"))?;
        Some(Duration::from_micros(usec))
    }

    fn remove(&self, name: &str) -> Result<(), AgentError> {
        remove_dir(&self.root.join(name))
    }

    fn children(&self) -> Vec<String> {
        child_dirs(&self.root)
    }
}

/// A stand-in for unit tests: records every call, and holds the processes added.
#[cfg(test)]
#[derive(Debug, Default)]
pub struct Recording {
    pub calls: std::sync::Mutex<Vec<String>>,
    pub procs: std::sync::Mutex<Vec<i32>>,
    pub oom: std::sync::atomic::AtomicBool,
}

#[cfg(test)]
impl Recording {
    fn record(&self, call: String) {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).push(call);
    }
}

#[cfg(test)]
impl Cgroups for Recording {
    fn create(&self, name: &str, limits: &Limits) -> Result<(), AgentError> {
        self.record(format!(
            "create {name} cpus={} mem={} pids={} deny={:?}",
            limits.cpus, limits.mem_mib, limits.pids, limits.deny_devices
        ));
        Ok(())
    }

    fn add(&self, name: &str, pid: i32) -> Result<(), AgentError> {
        self.record(format!("add {name}"));
        self.procs.lock().unwrap_or_else(|p| p.into_inner()).push(pid);
        Ok(())
    }

    fn procs(&self, _name: &str) -> Vec<i32> {
        // Only those still alive: a real cgroup forgets a process when it is reaped.
        let procs = self.procs.lock().unwrap_or_else(|p| p.into_inner());
        procs.iter().copied().filter(|pid| Path::new(&format!("/proc/{pid}")).exists()).collect()
    }

    fn oom_killed(&self, _name: &str) -> bool {
        self.oom.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn cpu_usage(&self, _name: &str) -> Option<Duration> {
        None
    }

    fn remove(&self, name: &str) -> Result<(), AgentError> {
        self.record(format!("remove {name}"));
        Ok(())
    }

    fn children(&self) -> Vec<String> {
        Vec::new()
    }
}

/// One task's group.
#[derive(Clone, Debug)]
pub struct TaskCgroup {
    pub cgroups: Arc<dyn Cgroups>,
    pub name: String,
}

impl TaskCgroup {
    /// Sends `signal` to every process in the group.
    pub fn signal_all(&self, signal: nix::sys::signal::Signal) {
        for pid in self.cgroups.procs(&self.name) {
            // Gone meanwhile: nothing to do.
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal);
        }
    }

    /// Kills what is left in the group and removes it. Bounded: a process stuck in the kernel
    /// leaves the group behind, which is logged.
    pub async fn destroy(&self) {
        for _ in 0..100 {
            if self.cgroups.procs(&self.name).is_empty() {
                break;
            }
            self.signal_all(nix::sys::signal::Signal::SIGKILL);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if let Err(e) = self.cgroups.remove(&self.name) {
            tracing::warn!(cgroup = %self.name, error = %e, "cannot remove a task's cgroup");
        }
    }
}

/// A task's group name below the agent's: `{framework_id}:{task_id}`. Ids never hold a `:`
/// (letters, digits, `.`, `_` and `-` only), so two tasks never share a group, whatever ids
/// their frameworks choose (with `.`, framework `V.web`'s task `1` and framework `V`'s task
/// `web.1` would), and no group can be named like the kernel's own `cgroup.*` files.
pub fn task_group(framework_id: &FrameworkId, task_id: &TaskId) -> String {
    format!("{framework_id}:{task_id}")
}

/// The agent's own group name below the cgroup mount, the same for every run on one work
/// directory: `agora/` and a hash of the directory's path (FNV-1a), so that two agents on one
/// host never share groups.
pub fn agent_root(work_dir: &Path) -> String {
    let path = work_dir.canonicalize().unwrap_or_else(|_| work_dir.to_path_buf());
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in path.as_os_str().as_encoded_bytes() {
        hash = (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("agora/{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits { cpus: 0.5, mem_mib: 64.0, pids: 100, deny_devices: Vec::new() }
    }

    /// The files a v2 driver writes, checked in a directory laid out like a v2 mount.
    #[test]
    fn v2_writes_weight_quota_memory_and_pids() {
        let mount = tempfile::tempdir().expect("dir");
        std::fs::write(mount.path().join("cgroup.controllers"), "cpu memory pids").expect("file");
        let driver = detect(mount.path(), "agora/x").expect("detects").expect("v2");
        driver.create("t1", &limits()).expect("creates");
        let file = |name: &str| std::fs::read_to_string(mount.path().join("agora/x/t1").join(name)).expect(name);
        assert_eq!(file("cpu.max"), "50000 100000");
        assert_eq!(file("cpu.weight"), "20");
        assert_eq!(file("memory.max"), (64 * 1024 * 1024).to_string());
        assert_eq!(file("pids.max"), "100");
        let delegated = std::fs::read_to_string(mount.path().join("agora/cgroup.subtree_control")).expect("delegated");
        assert_eq!(delegated, "+cpu +memory +pids");
        std::fs::write(mount.path().join("agora/x/t1/memory.events"), "low 0\noom 1\noom_kill 1\n").expect("file");
        assert!(driver.oom_killed("t1"));
        std::fs::write(mount.path().join("agora/x/t1/cpu.stat"), "usage_usec 1500000\nuser_usec 1\n").expect("file");
        assert_eq!(driver.cpu_usage("t1"), Some(Duration::from_millis(1500)));
    }

    /// The files a v1 driver writes, in a directory laid out like v1 mounts.
    #[test]
    fn v1_writes_limits_and_denies_the_gpus_of_others() {
        let mount = tempfile::tempdir().expect("dir");
        for controller in ["cpu", "cpuacct", "memory", "pids", "devices"] {
            std::fs::create_dir(mount.path().join(controller)).expect("hierarchy");
        }
        let driver = detect(mount.path(), "agora/x").expect("detects").expect("v1");
        let limits = Limits { deny_devices: vec![(195, 1)], ..limits() };
        driver.create("t1", &limits).expect("creates");
        let file =
            |c: &str, f: &str| std::fs::read_to_string(mount.path().join(c).join("agora/x/t1").join(f)).expect(f);
        assert_eq!(file("cpu", "cpu.cfs_quota_us"), "50000");
        assert_eq!(file("cpu", "cpu.shares"), "512");
        assert_eq!(file("memory", "memory.limit_in_bytes"), (64 * 1024 * 1024).to_string());
        assert_eq!(file("pids", "pids.max"), "100");
        assert_eq!(file("devices", "devices.deny"), "c 195:1 rwm");
    }

    #[test]
    fn shares_and_quotas_have_floors() {
        let tiny = Limits { cpus: 0.001, mem_mib: 0.0, pids: 1, deny_devices: Vec::new() };
        assert_eq!((tiny.shares(), tiny.cfs_quota_us(), tiny.mem_bytes()), (2, 1000, None));
        assert_eq!((limits().shares(), limits().cfs_quota_us()), (512, 50_000));
    }

    #[test]
    fn a_host_without_cgroups_has_no_driver() {
        let mount = tempfile::tempdir().expect("dir");
        assert!(detect(mount.path(), "agora/x").expect("no error").is_none());
    }

    #[test]
    fn agent_roots_differ_by_work_dir_and_stay_put() {
        let (a, b) = (agent_root(Path::new("/var/lib/agora/a")), agent_root(Path::new("/var/lib/agora/b")));
        assert_ne!(a, b);
        assert_eq!(a, agent_root(Path::new("/var/lib/agora/a")));
        assert!(a.starts_with("agora/") && a.len() == "agora/".len() + 16);
    }
}
