//! The agent's identity on disk: `{work_dir}/agent_id`, written after the first registration so
//! that a restarted agent comes back under the same id.

use crate::AgentError;
use agora_api::AgentId;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

fn id_path(work_dir: &Path) -> PathBuf {
    work_dir.join("agent_id")
}

/// The saved agent id, if any. A file holding something that is not an id is ignored (and
/// replaced at the next registration) rather than sent to the master.
pub fn load_agent_id(work_dir: &Path) -> Result<Option<AgentId>, AgentError> {
    let path = id_path(work_dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let id = AgentId::from(text.trim());
            if id.is_valid() {
                Ok(Some(id))
            } else {
                tracing::warn!(path = %path.display(), "ignoring a saved agent id that is not a valid id");
                Ok(None)
            }
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(AgentError::io(format!("cannot read {}", path.display()), e)),
    }
}

/// Saves `id`, replacing the file in one rename so that a crash never leaves half an id.
pub fn save_agent_id(work_dir: &Path, id: &AgentId) -> Result<(), AgentError> {
    let path = id_path(work_dir);
    let tmp = work_dir.join("agent_id.tmp");
    std::fs::write(&tmp, format!("{id}\n"))
        .map_err(|e| AgentError::io(format!("cannot write {}", tmp.display()), e))?;
    std::fs::rename(&tmp, &path).map_err(|e| AgentError::io(format!("cannot write {}", path.display()), e))
}

pub fn forget_agent_id(work_dir: &Path) -> Result<(), AgentError> {
    let path = id_path(work_dir);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != ErrorKind::NotFound => {
            Err(AgentError::io(format!("cannot remove {}", path.display()), e))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_survives_a_restart_and_can_be_forgotten() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(load_agent_id(dir.path()).expect("reads"), None);
        let id = AgentId::from("agent-7");
        save_agent_id(dir.path(), &id).expect("saves");
        assert_eq!(load_agent_id(dir.path()).expect("reads"), Some(id));
        forget_agent_id(dir.path()).expect("forgets");
        forget_agent_id(dir.path()).expect("forgetting twice is fine");
        assert_eq!(load_agent_id(dir.path()).expect("reads"), None);
        std::fs::write(dir.path().join("agent_id"), "../../etc\n").expect("writes");
        assert_eq!(load_agent_id(dir.path()).expect("reads"), None);
    }
}
