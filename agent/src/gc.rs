//! Garbage collection of the sandboxes of ended tasks: kept for `max_age` after their last
//! write (so their logs can be read), and fewer while together they take more than `budget`
//! bytes, oldest first. Mesos's `--gc_delay` and `--gc_disk_headroom`, by age and bytes.

use crate::updates::TaskKey;
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};
use std::collections::HashSet;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// How long ended tasks' sandboxes are kept.
#[derive(Clone, Debug, PartialEq)]
pub struct SandboxGc {
    pub max_age: Duration,
    /// Bytes the ended tasks' sandboxes may take together.
    pub budget_bytes: u64,
}

impl Default for SandboxGc {
    fn default() -> Self {
        // A week, as Mesos's `--gc_delay`, and 10 GiB.
        SandboxGc { max_age: Duration::from_secs(7 * 24 * 3600), budget_bytes: 10 << 30 }
    }
}

impl SandboxGc {
    /// How often to look: often enough that a sandbox outlives its age by at most a quarter of
    /// it, at most once a second and at least once a minute.
    pub fn interval(&self) -> Duration {
        (self.max_age / 4).clamp(Duration::from_secs(1), Duration::from_secs(60))
    }
}

/// An ended task's sandbox.
#[derive(Clone, Debug, PartialEq)]
pub struct Sandbox {
    pub path: PathBuf,
    /// The newest modification time of anything in it.
    pub last_used: SystemTime,
    pub bytes: u64,
}

/// The sandboxes to delete: those older than the age limit, then the oldest until the rest fit
/// in the budget.
pub fn plan(mut sandboxes: Vec<Sandbox>, now: SystemTime, policy: &SandboxGc) -> Vec<PathBuf> {
    sandboxes.sort_by_key(|s| s.last_used);
    let mut total: u64 = sandboxes.iter().map(|s| s.bytes).sum();
    let mut doomed = Vec::new();
    for sandbox in sandboxes {
        let age = now.duration_since(sandbox.last_used).unwrap_or(Duration::ZERO);
        if age >= policy.max_age || total > policy.budget_bytes {
            total -= sandbox.bytes;
            doomed.push(sandbox.path);
        }
    }
    doomed
}

/// Deletes the sandboxes `plan` picks among those in `{work_dir}/sandboxes` whose tasks the
/// agent does not know (`live`: running, or with updates not yet acknowledged). Returns how
/// many it deleted. Blocking: run it off the agent loop.
pub fn collect(work_dir: &Path, live: &HashSet<TaskKey>, policy: &SandboxGc, now: SystemTime) -> usize {
    let ended = scan(&work_dir.join("sandboxes"), live);
    let mut deleted = 0;
    for path in plan(ended, now, policy) {
        match std::fs::remove_dir_all(&path) {
            Ok(()) => deleted += 1,
            Err(e) => tracing::warn!(sandbox = %path.display(), error = %e, "cannot delete a sandbox"),
        }
    }
    // Frameworks left with no sandbox: their directories go too (fails harmlessly if not empty).
    for framework in dirs(&work_dir.join("sandboxes")) {
        let _ = std::fs::remove_dir(framework);
    }
    deleted
}

fn dirs(path: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(path) else { return Vec::new() };
    entries.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).map(|e| e.path()).collect()
}

/// The sandboxes under `root` (`{framework}/{task}`) of tasks not in `live`.
fn scan(root: &Path, live: &HashSet<TaskKey>) -> Vec<Sandbox> {
    let mut found = Vec::new();
    for framework in dirs(root) {
        for task in dirs(&framework) {
            let (Some(f), Some(t)) = (framework.file_name(), task.file_name()) else { continue };
            let key = TaskKey::new(&f.to_string_lossy().as_ref().into(), &t.to_string_lossy().as_ref().into());
            if live.contains(&key) {
                continue;
            }
            let (last_used, bytes) = usage(&task);
            found.push(Sandbox { path: task, last_used, bytes });
        }
    }
    found
}

/// How deep [`usage`] looks into a sandbox; deeper files are not counted.
const MAX_DEPTH: usize = 128;

/// The newest modification time and the bytes of everything in the sandbox at `path`. A task
/// may swap any directory in it for a link at any moment, so the walk goes through directory
/// handles and never follows a link (a volume's link is not the sandbox's either).
fn usage(path: &Path) -> (SystemTime, u64) {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let Ok(dir) = rfs::open(path, flags, Mode::empty()) else { return (SystemTime::UNIX_EPOCH, 0) };
    let Ok(stat) = rfs::fstat(&dir) else { return (SystemTime::UNIX_EPOCH, 0) };
    let (newest, bytes) = usage_in(&dir, 0);
    (newest.max(modified(&stat)), bytes + blocks(&stat))
}

fn usage_in(dir: &OwnedFd, depth: usize) -> (SystemTime, u64) {
    let (mut newest, mut bytes) = (SystemTime::UNIX_EPOCH, 0);
    let Ok(mut entries) = rfs::Dir::read_from(dir) else { return (newest, bytes) };
    while let Some(Ok(entry)) = entries.read() {
        let name = entry.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        let Ok(stat) = rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) else { continue };
        newest = newest.max(modified(&stat));
        bytes += blocks(&stat);
        if FileType::from_raw_mode(stat.st_mode) == FileType::Directory && depth < MAX_DEPTH {
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            if let Ok(sub) = rfs::openat(dir, name, flags, Mode::empty()) {
                let (m, b) = usage_in(&sub, depth + 1);
                newest = newest.max(m);
                bytes += b;
            }
        }
    }
    (newest, bytes)
}

/// When a file was last written. A time in the future (a task may set any) counts as now, so
/// that the sandbox still ages.
fn modified(stat: &rfs::Stat) -> SystemTime {
    let secs = u64::try_from(stat.st_mtime).unwrap_or(0);
    (SystemTime::UNIX_EPOCH + Duration::from_secs(secs)).min(SystemTime::now())
}

/// Blocks on disk, not the apparent size: a sparse file takes no budget it does not use.
fn blocks(stat: &rfs::Stat) -> u64 {
    u64::try_from(stat.st_blocks).unwrap_or(0).saturating_mul(512)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox(name: &str, age_secs: u64, bytes: u64, now: SystemTime) -> Sandbox {
        Sandbox { path: PathBuf::from(name), last_used: now - Duration::from_secs(age_secs), bytes }
    }

    #[test]
    fn old_sandboxes_go_then_the_oldest_until_the_rest_fit() {
        let now = SystemTime::now();
        let policy = SandboxGc { max_age: Duration::from_secs(100), budget_bytes: 50 };
        let all = vec![
            sandbox("young-big", 1, 40, now),
            sandbox("old", 200, 10, now),
            sandbox("middle", 50, 30, now),
            sandbox("newest", 0, 5, now),
        ];
        // `old` is past the age; then 75 bytes are left for a budget of 50: `middle` goes.
        assert_eq!(plan(all, now, &policy), vec![PathBuf::from("old"), PathBuf::from("middle")]);
    }

    #[test]
    fn collect_deletes_ended_sandboxes_only() {
        let work = tempfile::tempdir().expect("dir");
        let root = work.path().join("sandboxes");
        for task in ["ended", "running"] {
            std::fs::create_dir_all(root.join("fw").join(task)).expect("sandbox");
            std::fs::write(root.join("fw").join(task).join("stdout"), "out").expect("file");
        }
        let live = HashSet::from([TaskKey::new(&"fw".into(), &"running".into())]);
        let policy = SandboxGc { max_age: Duration::ZERO, budget_bytes: u64::MAX };
        assert_eq!(collect(work.path(), &live, &policy, SystemTime::now()), 1);
        assert!(!root.join("fw/ended").exists());
        assert!(root.join("fw/running/stdout").exists());
        // Nothing old and a budget of everything: nothing goes.
        assert_eq!(collect(work.path(), &HashSet::new(), &SandboxGc::default(), SystemTime::now()), 0);
        assert!(root.join("fw/running").exists());
    }

    #[test]
    fn usage_counts_the_sandbox_and_not_what_its_links_reach() {
        let work = tempfile::tempdir().expect("dir");
        let (sandbox, elsewhere) = (work.path().join("sandbox"), work.path().join("elsewhere"));
        std::fs::create_dir_all(sandbox.join("sub")).expect("sandbox");
        std::fs::write(sandbox.join("sub/file"), vec![1u8; 64 << 10]).expect("file");
        std::fs::create_dir_all(&elsewhere).expect("dir");
        std::fs::write(elsewhere.join("big"), vec![1u8; 4 << 20]).expect("file");
        std::os::unix::fs::symlink(&elsewhere, sandbox.join("link")).expect("link");
        let (_, bytes) = usage(&sandbox);
        assert!((64 << 10..1 << 20).contains(&bytes), "{bytes}");
        assert_eq!(usage(&sandbox.join("link")).1, 0, "a sandbox that is a link is not walked");
    }

    #[test]
    fn the_interval_follows_the_age_within_bounds() {
        let gc = |secs| SandboxGc { max_age: Duration::from_secs(secs), budget_bytes: 0 }.interval();
        assert_eq!(
            (gc(0), gc(20), gc(7 * 24 * 3600)),
            (Duration::from_secs(1), Duration::from_secs(5), Duration::from_secs(60))
        );
    }
}
