//! What the agent keeps on disk about each task it knows, so that an agent that was killed
//! finds its tasks again when it starts: `{work_dir}/meta/{framework_id}/{task_id}.json`
//! holds the launch, the supervising shell's pid and start time, the task's latest status and
//! its unacknowledged updates, in order. Written whole through a rename, so a crash leaves the
//! old version or the new one.

use crate::updates::TaskKey;
use crate::AgentError;
use agora_api::agent::LaunchCommand;
use agora_api::TaskStatus;
use serde::{Deserialize, Serialize};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

/// One task, as checkpointed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Saved {
    pub launch: LaunchCommand,
    /// The supervising shell, if the task started: its pid and start time.
    pub process: Option<(i32, u64)>,
    /// The GPUs it holds, by index.
    #[serde(default)]
    pub gpus: Vec<u32>,
    pub latest: TaskStatus,
    /// Updates the framework has not acknowledged yet, head first.
    pub updates: Vec<TaskStatus>,
}

fn root(work_dir: &Path) -> PathBuf {
    work_dir.join("meta")
}

fn path(work_dir: &Path, key: &TaskKey) -> Result<PathBuf, AgentError> {
    // The ids become path components: the sandbox's own checks apply.
    let sandbox = crate::tasks::sandbox_dir(work_dir, &key.framework_id, &key.task_id)?;
    let task = sandbox.file_name().map(|t| format!("{}.json", t.to_string_lossy())).unwrap_or_default();
    Ok(root(work_dir).join(key.framework_id.as_str()).join(task))
}

pub fn save(work_dir: &Path, saved: &Saved) -> Result<(), AgentError> {
    let key = TaskKey::new(&saved.launch.framework_id, &saved.launch.task.task_id);
    let path = path(work_dir, &key)?;
    let dir = path.parent().unwrap_or(work_dir);
    // The work directory is open to tasks (they must reach their sandboxes): checkpoints,
    // which hold every task's environment, are the agent's alone.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| AgentError::io(format!("cannot create {}", dir.display()), e))?;
    let tmp = path.with_extension("json.tmp");
    let json =
        serde_json::to_vec(saved).map_err(|e| AgentError::InvalidTask(format!("cannot encode a checkpoint: {e}")))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| AgentError::io(format!("cannot write {}", tmp.display()), e))?;
    file.write_all(&json).map_err(|e| AgentError::io(format!("cannot write {}", tmp.display()), e))?;
    std::fs::rename(&tmp, &path).map_err(|e| AgentError::io(format!("cannot write {}", path.display()), e))
}

/// Forgets a task: its end was acknowledged, or the master forgot this agent.
pub fn forget(work_dir: &Path, key: &TaskKey) {
    if let Ok(path) = path(work_dir, key) {
        let _ = std::fs::remove_file(&path);
        if let Some(dir) = path.parent() {
            // Fails harmlessly while the framework has other tasks here.
            let _ = std::fs::remove_dir(dir);
        }
    }
}

pub fn forget_all(work_dir: &Path) {
    let _ = std::fs::remove_dir_all(root(work_dir));
}

/// Every task checkpointed. A file that does not decode is set aside (renamed `.bad`) and
/// logged, so one damaged file cannot stop the agent.
pub fn load_all(work_dir: &Path) -> (Vec<Saved>, usize) {
    let mut all = Vec::new();
    let mut bad = 0;
    let Ok(frameworks) = std::fs::read_dir(root(work_dir)) else { return (all, bad) };
    for file in frameworks.flatten().flat_map(|f| std::fs::read_dir(f.path()).into_iter().flatten().flatten()) {
        let path = file.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let decoded = std::fs::read(&path).ok().and_then(|bytes| serde_json::from_slice::<Saved>(&bytes).ok());
        match decoded {
            Some(saved) => all.push(saved),
            None => {
                bad += 1;
                tracing::error!(path = %path.display(), "cannot read a task checkpoint; setting it aside");
                let _ = std::fs::rename(&path, path.with_extension("bad"));
            }
        }
    }
    (all, bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_api::{AgentId, Command, FrameworkId, Resources, TaskId, TaskInfo, TaskState};

    fn saved(task: &str) -> Saved {
        let launch = LaunchCommand {
            framework_id: FrameworkId::from("fw"),
            task: TaskInfo::new(task, AgentId::from("a"), Resources::new(0.1, 32.0), Command::Shell("sleep 1".into())),
            volumes: Vec::new(),
        };
        let latest = crate::tasks::status(&launch, &AgentId::from("a"), TaskState::Running);
        Saved { launch, process: Some((42, 7)), gpus: vec![1], updates: vec![latest.clone()], latest }
    }

    #[test]
    fn checkpoints_round_trip_and_bad_ones_are_set_aside() {
        let work = tempfile::tempdir().expect("dir");
        let (a, b) = (saved("a"), saved("b"));
        save(work.path(), &a).expect("saves");
        save(work.path(), &b).expect("saves");
        std::fs::write(work.path().join("meta/fw/c.json"), "{not json").expect("damaged");
        let (mut loaded, bad) = load_all(work.path());
        assert_eq!(bad, 1);
        loaded.sort_by(|x, y| x.launch.task.task_id.as_str().cmp(y.launch.task.task_id.as_str()));
        assert_eq!(loaded, vec![a, b]);
        assert!(work.path().join("meta/fw/c.bad").exists());

        forget(work.path(), &TaskKey::new(&FrameworkId::from("fw"), &TaskId::from("a")));
        assert_eq!(load_all(work.path()).0.len(), 1);
        forget_all(work.path());
        assert!(load_all(work.path()).0.is_empty());
    }
}
