//! Persistent volumes on this host: a directory per volume under `{work_dir}/volumes`, outside
//! every sandbox, linked into the sandbox of each task that uses it.
//!
//! A symbolic link rather than a bind mount: it needs no privilege and no mount namespace,
//! and the data stays where the agent keeps it whatever the task does to its sandbox.

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

/// Makes each volume's directory if it is new and links it at its `container_path` in the
/// sandbox. Returns the directories, for the caller to hand to the task's user.
pub fn link(work_dir: &Path, sandbox: &Path, volumes: &[Volume]) -> Result<Vec<PathBuf>, AgentError> {
    for (i, volume) in volumes.iter().enumerate() {
        // Checked before anything is made: a link made inside another volume's directory
        // would follow whatever an earlier task left there.
        if volumes[..i].iter().any(|v| Volume::paths_overlap(&v.container_path, &volume.container_path)) {
            return Err(AgentError::InvalidTask(format!(
                "volume {} would appear inside another of the task's volumes",
                volume.id
            )));
        }
    }
    let mut dirs = Vec::new();
    for volume in volumes {
        if !Volume::is_valid_path(&volume.container_path) {
            return Err(AgentError::InvalidTask(format!(
                "invalid container path `{}` for volume {}",
                volume.container_path.escape_debug(),
                volume.id
            )));
        }
        let dir = volume_dir(work_dir, &volume.id)?;
        std::fs::create_dir_all(&dir)
            .map_err(|e| AgentError::io(format!("cannot create volume {}", dir.display()), e))?;
        let dir = dir.canonicalize().map_err(|e| AgentError::io(format!("cannot resolve {}", dir.display()), e))?;
        let at = sandbox.join(&volume.container_path);
        if let Some(parent) = at.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| AgentError::io(format!("cannot create {}", parent.display()), e))?;
        }
        std::os::unix::fs::symlink(&dir, &at)
            .map_err(|e| AgentError::io(format!("cannot link volume {} at {}", volume.id, at.display()), e))?;
        dirs.push(dir);
    }
    Ok(dirs)
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

    fn volume(id: &str, path: &str) -> Volume {
        Volume { id: id.into(), role: "db".into(), disk: 10.0, container_path: path.into(), principal: String::new() }
    }

    #[test]
    fn a_volume_outlives_the_sandboxes_it_is_linked_into_until_destroyed() {
        let work = tempfile::tempdir().expect("dir");
        let first = work.path().join("sandboxes/fw/a");
        std::fs::create_dir_all(&first).expect("sandbox");
        link(work.path(), &first, &[volume("pg", "data/pg")]).expect("links");
        std::fs::write(first.join("data/pg/file"), "kept").expect("writes through the link");
        std::fs::remove_dir_all(&first).expect("sandbox removed");

        let second = work.path().join("sandboxes/fw/b");
        std::fs::create_dir_all(&second).expect("sandbox");
        link(work.path(), &second, &[volume("pg", "pg")]).expect("links again");
        assert_eq!(std::fs::read_to_string(second.join("pg/file")).expect("reads"), "kept");

        destroy(work.path(), "pg").expect("destroys");
        assert!(!work.path().join("volumes/pg").exists());
        destroy(work.path(), "pg").expect("destroying twice is fine");
    }

    #[test]
    fn bad_ids_and_paths_are_refused() {
        let work = tempfile::tempdir().expect("dir");
        let sandbox = work.path().join("s");
        std::fs::create_dir_all(&sandbox).expect("sandbox");
        for (id, path) in [("..", "data"), ("pg", "../escape"), ("pg", "/abs"), ("pg", "stdout"), ("pg", "a//b")] {
            assert!(link(work.path(), &sandbox, &[volume(id, path)]).is_err(), "{id} {path}");
        }
        assert!(link(work.path(), &sandbox, &[volume("a", "data"), volume("b", "data/b")]).is_err());
        assert!(link(work.path(), &sandbox, &[volume("a", "stdout/x")]).is_err());
        assert!(destroy(work.path(), "../sandboxes").is_err());
        assert!(!work.path().join("volumes").exists());
    }
}
