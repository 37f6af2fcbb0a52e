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
    let output = std::process::Command::new(program)
        .args(["--query-gpu=index,uuid,name", "--format=csv,noheader"])
        .stdin(std::process::Stdio::null())
        .output();
    match output {
        Ok(out) if out.status.success() => parse(&String::from_utf8_lossy(&out.stdout)),
        Ok(out) => {
            tracing::warn!(status = %out.status, stderr = %String::from_utf8_lossy(&out.stderr).trim(), "nvidia-smi failed; offering no GPUs");
            Vec::new()
        }
        // No nvidia-smi: no NVIDIA GPUs, the usual case.
        Err(_) => Vec::new(),
    }
}

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
}

impl Allocator {
    pub fn new(gpus: &[Gpu]) -> Allocator {
        let all: BTreeSet<u32> = gpus.iter().map(|g| g.index).collect();
        Allocator { free: all.clone(), all }
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

/// `CUDA_VISIBLE_DEVICES` for a task holding `gpus`: empty for none, so that a task that asked
/// for none sees none.
pub fn visible_devices(gpus: &[u32]) -> String {
    gpus.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
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
        let gpus = parse("0, a, x\n1, b, x\n2, c, x\n");
        let mut alloc = Allocator::new(&gpus);
        assert_eq!(alloc.take(2), Some(vec![0, 1]));
        assert_eq!(alloc.take(2), None);
        assert_eq!(alloc.others(&[0, 1]), vec![2]);
        alloc.give_back(&[0]);
        assert_eq!(alloc.take(2), Some(vec![0, 2]));
        assert_eq!(visible_devices(&[0, 2]), "0,2");
    }
}
