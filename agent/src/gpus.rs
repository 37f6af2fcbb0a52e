//! NVIDIA GPUs: found with `nvidia-smi`, offered as `gpus`, and handed to tasks whole. A task
//! sees only the GPUs it was given (`CUDA_VISIBLE_DEVICES`, `NVIDIA_VISIBLE_DEVICES`) and,
//! under cgroup v1, its cgroup denies it the device files of the others.

use std::collections::BTreeSet;
use std::path::Path;

/// One GPU of this host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gpu {
    /// `nvidia-smi`'s index, which is also the minor number of `/dev/nvidia{index}`.
    pub index: u32,
    pub uuid: String,
    pub name: String,
}

/// The character-device major number of NVIDIA GPUs (`/dev/nvidiaN`).
pub const NVIDIA_MAJOR: u32 = 195;

/// The GPUs `nvidia-smi` (the program at `program`) lists; none if it is missing or fails.
pub fn discover(program: &Path) -> Vec<Gpu> {
    use std::io::Read as _;
    let child = std::process::Command::new(program)
        .args(["--query-gpu=index,uuid,name", "--format=csv,noheader"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn();
    // No nvidia-smi: no NVIDIA GPUs, the usual case.
    let Ok(mut child) = child else { return Vec::new() };
    // A wedged driver must not keep the agent from starting. Its output is a few lines, well
    // within a pipe's buffer, so it is read once the program has ended.
    let deadline = std::time::Instant::now() + DISCOVERY_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let mut out = String::new();
    if let Some(stdout) = child.stdout.as_mut() {
        let _ = stdout.take(1 << 20).read_to_string(&mut out);
    }
    match status {
        Some(status) if status.success() => parse(&out),
        _ => {
            tracing::warn!(?status, "nvidia-smi failed or hung; offering no GPUs");
            Vec::new()
        }
    }
}

/// How long `nvidia-smi` may take to list the GPUs.
const DISCOVERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Reads `nvidia-smi --query-gpu=index,uuid,name --format=csv,noheader`: `0, GPU-..., NVIDIA H100`.
fn parse(text: &str) -> Vec<Gpu> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, ',').map(str::trim);
            let index = fields.next()?.parse().ok()?;
            let uuid = fields.next()?.to_string();
            let name = fields.next().unwrap_or_default().to_string();
            Some(Gpu { index, uuid, name })
        })
        .collect()
}

/// Which of the host's GPUs are free.
#[derive(Debug, Default)]
pub struct Allocator {
    free: BTreeSet<u32>,
    all: BTreeSet<u32>,
    uuids: std::collections::BTreeMap<u32, String>,
}

impl Allocator {
    /// `offered` of the host's GPUs are handed out; tasks are denied every one of `host`'s
    /// they were not given, offered or not.
    pub fn new(host: &[Gpu], offered: usize) -> Allocator {
        let all: BTreeSet<u32> = host.iter().map(|g| g.index).collect();
        let free = host.iter().take(offered).map(|g| g.index).collect();
        Allocator { free, all, uuids: host.iter().map(|g| (g.index, g.uuid.clone())).collect() }
    }

    /// What `CUDA_VISIBLE_DEVICES` names for a task holding `gpus`: their UUIDs, which mean
    /// the same GPUs whatever order CUDA enumerates them in; empty for none, so that a task
    /// that asked for none sees none.
    pub fn visible_devices(&self, gpus: &[u32]) -> String {
        let uuids = gpus.iter().filter_map(|g| self.uuids.get(g).cloned());
        uuids.collect::<Vec<_>>().join(",")
    }

    /// Whether the host has GPU devices to hand out at all.
    pub fn has_devices(&self) -> bool {
        !self.all.is_empty()
    }

    /// Takes `count` free GPUs, lowest first; `None` if fewer are free.
    pub fn take(&mut self, count: usize) -> Option<Vec<u32>> {
        if self.free.len() < count {
            return None;
        }
        let taken: Vec<u32> = self.free.iter().copied().take(count).collect();
        for index in &taken {
            self.free.remove(index);
        }
        Some(taken)
    }

    /// Marks GPUs as taken, for a task found again after a restart.
    pub fn claim(&mut self, gpus: &[u32]) {
        for index in gpus {
            self.free.remove(index);
        }
    }

    pub fn give_back(&mut self, gpus: &[u32]) {
        self.free.extend(gpus.iter().filter(|g| self.all.contains(g)));
    }

    /// The host's GPUs a task holding `mine` must not reach.
    pub fn others(&self, mine: &[u32]) -> Vec<u32> {
        self.all.iter().copied().filter(|g| !mine.contains(g)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nvidia_smi_output_is_read() {
        let text = "0, GPU-0f1e, NVIDIA H100 80GB HBM3\n1, GPU-aa2b, NVIDIA H100 80GB HBM3\nbad line\n";
        let gpus = parse(text);
        assert_eq!(gpus.len(), 2);
        assert_eq!(gpus[1], Gpu { index: 1, uuid: "GPU-aa2b".into(), name: "NVIDIA H100 80GB HBM3".into() });
    }

    #[test]
    fn a_missing_nvidia_smi_means_no_gpus() {
        assert!(discover(Path::new("/nonexistent/nvidia-smi")).is_empty());
    }

    #[test]
    fn gpus_are_handed_out_whole_and_given_back() {
        let gpus = parse("0, a, x\n1, b, x\n2, c, x\n3, d, x\n");
        // Three of the four offered: the fourth is never handed out, and always denied.
        let mut alloc = Allocator::new(&gpus, 3);
        assert_eq!(alloc.take(2), Some(vec![0, 1]));
        assert_eq!(alloc.take(2), None);
        assert_eq!(alloc.others(&[0, 1]), vec![2, 3]);
        alloc.give_back(&[0]);
        assert_eq!(alloc.take(2), Some(vec![0, 2]));
        assert_eq!(alloc.visible_devices(&[0, 2]), "a,c");
        assert_eq!(alloc.visible_devices(&[]), "");
    }
}
