//! Persistent volumes on this host: a directory per volume under `{work_dir}/volumes`, outside
//! every sandbox, linked into the sandbox of each task that uses it.
//!
//! A symbolic link rather than a bind mount: it needs no privilege and no mount namespace,
//! and the data stays where the agent keeps it whatever the task does to its sandbox.

use crate::sandbox::Owner;
use crate::AgentError;
use agora_api::ids::is_valid_id;
use agora_api::Volume;
use std::path::{Path, PathBuf};

/// `{work_dir}/volumes/{id}`. The id is checked here too, because it becomes a path component.
pub fn volume_dir(work_dir: &Path, id: &str) -> Result<PathBuf, AgentError> {
    if !is_valid_id(id) {
        return Err(AgentError::InvalidTask(format!("invalid volume id `{}`", id.escape_debug())));
    }
    Ok(work_dir.join("volumes").join(id))
}

/// Checks a launch's volumes, makes each one's directory if it is new and gives it to
/// `owner`. Returns each directory with the path the sandbox links it at
/// ([`crate::sandbox::Sandbox::create`] makes the links).
pub fn prepare(work_dir: &Path, volumes: &[Volume], owner: Owner) -> Result<Vec<(PathBuf, String)>, AgentError> {
    for (i, volume) in volumes.iter().enumerate() {
        if !Volume::is_valid_path(&volume.container_path) {
            return Err(AgentError::InvalidTask(format!(
                "invalid container path `{}` for volume {}",
                volume.container_path.escape_debug(),
                volume.id
            )));
        }
        // A link made inside another volume's directory would follow whatever an earlier task
        // left there.
        if volumes[..i].iter().any(|v| Volume::paths_overlap(&v.container_path, &volume.container_path)) {
            return Err(AgentError::InvalidTask(format!(
                "volume {} would appear inside another of the task's volumes",
                volume.id
            )));
        }
    }
    let mut prepared = Vec::new();
    for volume in volumes {
        let dir = volume_dir(work_dir, &volume.id)?;
        crate::sandbox::create_dirs_traversable(&dir)?;
        let dir = dir.canonicalize().map_err(|e| AgentError::io(format!("cannot resolve {}", dir.display()), e))?;
        if let Some((uid, gid)) = owner {
            // `{work_dir}/volumes` is the agent's, so the volume's directory is what it made;
            // `lchown` all the same, never following a link.
            std::os::unix::fs::lchown(&dir, Some(uid), Some(gid))
                .map_err(|e| AgentError::io(format!("cannot give volume {} to uid {uid}", volume.id), e))?;
        }
        prepared.push((dir, volume.container_path.clone()));
    }
    Ok(prepared)
}

/// Deletes a volume's directory and everything in it; a volume never used has none.
pub fn destroy(work_dir: &Path, id: &str) -> Result<(), AgentError> {
    let dir = volume_dir(work_dir, id)?;
    match std::fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(AgentError::io(format!("cannot delete volume {}", dir.display()), e))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::Sandbox;
    use agora_api::{FrameworkId, TaskId};

    fn volume(id: &str, path: &str) -> Volume {
        Volume { id: id.into(), role: "db".into(), disk: 10.0, container_path: path.into(), principal: String::new() }
    }

    fn sandbox(work: &Path, task: &str, volumes: &[Volume]) -> Result<Sandbox, AgentError> {
        let prepared = prepare(work, volumes, None)?;
        Ok(Sandbox::create(work, &FrameworkId::from("fw"), &TaskId::from(task), None, &prepared)?.0)
    }

    #[test]
    fn a_volume_outlives_the_sandboxes_it_is_linked_into_until_destroyed() {
        let work = tempfile::tempdir().expect("dir");
        let first = sandbox(work.path(), "a", &[volume("pg", "data/pg")]).expect("links");
        std::fs::write(first.path().join("data/pg/file"), "kept").expect("writes through the link");
        std::fs::remove_dir_all(first.path()).expect("sandbox removed");

        let second = sandbox(work.path(), "b", &[volume("pg", "pg")]).expect("links again");
        assert_eq!(std::fs::read_to_string(second.path().join("pg/file")).expect("reads"), "kept");

        destroy(work.path(), "pg").expect("destroys");
        assert!(!work.path().join("volumes/pg").exists());
        destroy(work.path(), "pg").expect("destroying twice is fine");
    }

    #[test]
    fn bad_ids_and_paths_are_refused() {
        let work = tempfile::tempdir().expect("dir");
        for (id, path) in [("..", "data"), ("pg", "../escape"), ("pg", "/abs"), ("pg", "stdout"), ("pg", "a//b")] {
            assert!(prepare(work.path(), &[volume(id, path)], None).is_err(), "{id} {path}");
        }
        assert!(prepare(work.path(), &[volume("a", "data"), volume("b", "data/b")], None).is_err());
        assert!(prepare(work.path(), &[volume("a", "stdout/x")], None).is_err());
        assert!(destroy(work.path(), "../sandboxes").is_err());
        assert!(!work.path().join("volumes").exists());
    }
}
