//! What this host offers: resource discovery from the OS, operator overrides, and the hostname.

use crate::AgentError;
use agora_api::resources::parse_reservations;
use agora_api::Resources;
use std::collections::BTreeMap;
use std::path::Path;

const MIB: u64 = 1024 * 1024;
/// Memory kept for the OS and the agent: 1 GiB, or half of a smaller machine.
const MEM_RESERVE_MIB: f64 = 1024.0;
/// Disk kept free on the work directory's filesystem: 5 GiB, or half of a smaller one.
const DISK_RESERVE_MIB: f64 = 5.0 * 1024.0;
/// Ports handed to tasks when the operator names none, as in Mesos.
const DEFAULT_PORTS: [u16; 2] = [31000, 32000];

/// The resources of this machine, less reserves for the system. A value that cannot be read
/// is logged and reported as zero, so a partial picture still lets the agent start.
pub fn discover_resources(work_dir: &Path) -> Resources {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64;
    let mem = match std::fs::read_to_string("/proc/meminfo").ok().as_deref().and_then(mem_total_mib) {
        Some(total) => less_reserve(total, MEM_RESERVE_MIB),
        None => {
            tracing::warn!("cannot read MemTotal from /proc/meminfo; offering no memory");
            0.0
        }
    };
    let disk = match free_disk_mib(work_dir) {
        Ok(free) => less_reserve(free, DISK_RESERVE_MIB),
        Err(e) => {
            tracing::warn!(work_dir = %work_dir.display(), error = %e, "cannot read free disk space; offering no disk");
            0.0
        }
    };
    Resources { cpus, mem, disk, gpus: 0.0, ports: vec![DEFAULT_PORTS] }
}

/// Replaces each resource named in `flag` (`cpus:2,mem:1024,ports:[31000-31999]`, the syntax of
/// [`Resources::parse`]) and keeps the discovered value of every other one. Entries with a
/// role (`cpus(analytics):4`) are static reservations, carved out of the total: returned
/// apart, by role.
pub fn apply_overrides(
    discovered: Resources,
    flag: &str,
) -> Result<(Resources, BTreeMap<String, Resources>), AgentError> {
    // Parsing the whole flag first reports syntax errors with the flag's own wording.
    let (given, reserved) = parse_reservations(flag).map_err(AgentError::Resources)?;
    let mut out = discovered;
    for name in named_resources(flag).into_iter().filter(|n| !n.contains('(')) {
        match name {
            "cpus" => out.cpus = given.cpus,
            "mem" => out.mem = given.mem,
            "disk" => out.disk = given.disk,
            "gpus" => out.gpus = given.gpus,
            "ports" => out.ports = given.ports.clone(),
            other => return Err(AgentError::Resources(format!("unknown resource `{other}`"))),
        }
    }
    let all = reserved.values().fold(Resources::default(), |sum, r| sum.plus(r));
    if !all.fits_in(&out) {
        return Err(AgentError::Resources(format!(
            "the reservations ({}) are more than the agent has (cpus:{},mem:{},disk:{},gpus:{})",
            flag, out.cpus, out.mem, out.disk, out.gpus
        )));
    }
    Ok((out, reserved))
}

/// This machine's hostname, or `localhost` if it has none that is valid UTF-8.
pub fn default_hostname() -> String {
    hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// The names in a resource flag, skipping commas inside `[...]` port lists.
fn named_resources(flag: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    // A comma appended at the end closes the last part like the others.
    for (i, c) in flag.char_indices().chain(std::iter::once((flag.len(), ','))) {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                let part = flag[start..i].trim();
                if let Some((name, _)) = part.split_once(':') {
                    names.push(name.trim());
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    names
}

fn less_reserve(total: f64, reserve: f64) -> f64 {
    (total - reserve.min(total / 2.0)).floor().max(0.0)
}

fn mem_total_mib(meminfo: &str) -> Option<f64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.trim_start_matches("MemTotal:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some((kib / 1024) as f64)
}

fn free_disk_mib(work_dir: &Path) -> nix::Result<f64> {
    // The work directory may not exist yet; its nearest existing ancestor is on the same
    // filesystem unless a mount point is created in between, which we do not expect.
    let existing = work_dir.ancestors().find(|p| p.exists()).unwrap_or(Path::new("/"));
    let stat = nix::sys::statvfs::statvfs(existing)?;
    // The field types are narrower than u64 on some 32-bit targets.
    #[allow(clippy::useless_conversion)]
    let bytes = u64::from(stat.blocks_available()).saturating_mul(u64::from(stat.fragment_size()));
    Ok((bytes / MIB) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn discovered() -> Resources {
        Resources { cpus: 8.0, mem: 15000.0, disk: 90000.0, gpus: 0.0, ports: vec![[31000, 32000]] }
    }

    #[test]
    fn overrides_replace_only_the_names_given() {
        let (r, reserved) = apply_overrides(discovered(), "cpus:2,mem:1024").expect("valid flag");
        assert!(reserved.is_empty());
        assert_eq!((r.cpus, r.mem), (2.0, 1024.0));
        assert_eq!(r.disk, 90000.0);
        assert_eq!(r.ports, vec![[31000, 32000]]);

        let (r, _) = apply_overrides(discovered(), "ports:[1000-1001,2000-2000],gpus:1").expect("valid flag");
        assert_eq!(r.ports, vec![[1000, 1001], [2000, 2000]]);
        assert_eq!((r.cpus, r.mem, r.gpus), (8.0, 15000.0, 1.0));

        assert_eq!(apply_overrides(discovered(), "").expect("empty flag").0, discovered());
        assert!(apply_overrides(discovered(), "cpus:-1").is_err());
        assert!(apply_overrides(discovered(), "bogus:1").is_err());
    }

    #[test]
    fn reservations_are_carved_out_of_the_total() {
        let (r, reserved) = apply_overrides(discovered(), "cpus(analytics):4,mem(analytics):2048").expect("valid");
        assert_eq!(r, discovered(), "the total stays what was discovered");
        assert_eq!((reserved["analytics"].cpus, reserved["analytics"].mem), (4.0, 2048.0));
        assert!(apply_overrides(discovered(), "cpus:2,cpus(analytics):4").is_err(), "more than the agent has");
    }

    #[test]
    fn reserves_are_capped_at_half() {
        assert_eq!(less_reserve(16384.0, MEM_RESERVE_MIB), 15360.0);
        assert_eq!(less_reserve(1000.0, MEM_RESERVE_MIB), 500.0);
        assert_eq!(less_reserve(0.0, DISK_RESERVE_MIB), 0.0);
    }

    #[test]
    fn meminfo_is_read_in_mib() {
        let text = "MemTotal:       16318212 kB\nMemFree:         1234 kB\n";
        assert_eq!(mem_total_mib(text), Some(15935.0));
        assert_eq!(mem_total_mib("nothing"), None);
    }

    #[test]
    fn discovery_finds_this_machine() {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = discover_resources(&dir.path().join("not-yet-created"));
        assert!(r.cpus >= 1.0);
        assert!(r.mem > 0.0);
        assert_eq!(r.ports, vec![[31000, 32000]]);
        assert!(r.is_well_formed());
    }
}
