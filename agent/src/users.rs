//! Which OS user a task runs as. An agent running as root runs tasks as an unprivileged user
//! (`nobody` unless configured), never as root unless told to with `allow_root`; a task may name
//! another user only from the agent's allow-list. An agent that is not root cannot switch users,
//! so its tasks run as the agent's own user.

use crate::AgentError;
use nix::unistd::{Gid, Uid, User};
use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

/// The user tasks run as when the agent runs as root and nothing else is configured.
pub const DEFAULT_TASK_USER: &str = "nobody";

/// The agent's configuration of task users.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskUsers {
    /// The user of tasks that name none. `None`: [`DEFAULT_TASK_USER`] when the agent runs as
    /// root, else the agent's own user.
    pub default: Option<String>,
    /// Users a task may name besides the default one.
    pub allowed: BTreeSet<String>,
    /// Whether `root` (uid 0) may be the default or an allowed user.
    pub allow_root: bool,
}

/// An OS user a task can run as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunAs {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// [`TaskUsers`] checked against this host.
#[derive(Clone, Debug)]
pub struct Users {
    default: RunAs,
    allowed: BTreeSet<String>,
    allow_root: bool,
    /// Whether the agent can switch users (it runs as root).
    can_switch: bool,
}

impl RunAs {
    /// The agent's own user.
    pub fn current() -> RunAs {
        let (uid, gid) = (Uid::effective(), Gid::effective());
        let name = match User::from_uid(uid) {
            Ok(Some(user)) => user.name,
            _ => uid.to_string(),
        };
        RunAs { name, uid: uid.as_raw(), gid: gid.as_raw() }
    }
}

fn lookup(name: &str) -> Result<RunAs, AgentError> {
    match User::from_name(name) {
        Ok(Some(user)) => Ok(RunAs { name: user.name, uid: user.uid.as_raw(), gid: user.gid.as_raw() }),
        Ok(None) => Err(AgentError::Config(format!("there is no user `{name}` on this host"))),
        Err(e) => Err(AgentError::Config(format!("cannot look up user `{name}`: {e}"))),
    }
}

impl TaskUsers {
    /// Checks the configuration against this host's users and the agent's own.
    pub fn resolve(&self) -> Result<Users, AgentError> {
        let me = Uid::effective();
        let can_switch = me.is_root();
        let default = match &self.default {
            Some(name) => lookup(name)?,
            None if can_switch => lookup(DEFAULT_TASK_USER)?,
            None => RunAs::current(),
        };
        if default.uid == 0 && !self.allow_root {
            return Err(AgentError::Config(
                "tasks would run as root: name an unprivileged --task-user, or pass --allow-root-tasks".to_string(),
            ));
        }
        if !can_switch && (default.uid != me.as_raw() || !self.allowed.is_empty()) {
            return Err(AgentError::Config(format!(
                "the agent runs as uid {me}, not root, so it can run tasks only as itself: drop --task-user and --task-users"
            )));
        }
        for name in &self.allowed {
            if lookup(name)?.uid == 0 && !self.allow_root {
                return Err(AgentError::Config(format!(
                    "--task-users names `{name}`, which is root: pass --allow-root-tasks to allow it"
                )));
            }
        }
        Ok(Users { default, allowed: self.allowed.clone(), allow_root: self.allow_root, can_switch })
    }
}

impl Users {
    /// The user tasks that name none run as.
    pub fn default_user(&self) -> &RunAs {
        &self.default
    }

    /// Whether tasks may run as root (`--allow-root-tasks`).
    pub fn allows_root(&self) -> bool {
        self.allow_root
    }

    /// The user a task runs as: the default, or the one it names if the allow-list has it.
    pub fn for_task(&self, requested: Option<&str>) -> Result<RunAs, AgentError> {
        let Some(name) = requested.filter(|name| *name != self.default.name) else {
            return Ok(self.default.clone());
        };
        if !self.allowed.contains(name) {
            return Err(AgentError::InvalidTask(format!(
                "this agent does not run tasks as `{name}` (allowed: {})",
                self.allowed_names().join(", ")
            )));
        }
        // Looked up again at each launch: users change on a host that runs for months.
        let user = lookup(name).map_err(|e| AgentError::InvalidTask(e.to_string()))?;
        if user.uid == 0 && !self.allow_root {
            return Err(AgentError::InvalidTask(format!("`{name}` is root, and this agent runs no task as root")));
        }
        Ok(user)
    }

    fn allowed_names(&self) -> Vec<&str> {
        std::iter::once(self.default.name.as_str()).chain(self.allowed.iter().map(String::as_str)).collect()
    }

    /// Whether processes are started as `user` explicitly (false when the agent runs as
    /// itself, which needs no switch).
    pub fn must_switch(&self, user: &RunAs) -> bool {
        self.can_switch && user.uid != Uid::effective().as_raw()
    }

    /// Checks that the default task user can reach `dir` (search permission on every
    /// ancestor), so that tasks can enter their sandboxes. Returns the first directory that
    /// stops it.
    pub fn check_reachable(&self, dir: &Path) -> Result<(), AgentError> {
        if !self.must_switch(&self.default) {
            return Ok(());
        }
        let dir = dir.canonicalize().map_err(|e| AgentError::io(format!("cannot resolve {}", dir.display()), e))?;
        for ancestor in dir.ancestors() {
            let meta = std::fs::metadata(ancestor)
                .map_err(|e| AgentError::io(format!("cannot read {}", ancestor.display()), e))?;
            let mode = meta.mode();
            let bit = if meta.uid() == self.default.uid {
                0o100
            } else if meta.gid() == self.default.gid {
                0o010
            } else {
                0o001
            };
            if mode & bit == 0 {
                return Err(AgentError::Config(format!(
                    "tasks run as `{}`, who cannot enter {} (mode {:o}): choose a work directory they can reach, \
                     or another --task-user",
                    self.default.name,
                    ancestor.display(),
                    mode & 0o7777
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn as_root() -> bool {
        Uid::effective().is_root()
    }

    #[test]
    fn root_needs_the_explicit_flag() {
        let root = TaskUsers { default: Some("root".into()), ..TaskUsers::default() };
        if as_root() {
            assert!(matches!(root.resolve(), Err(AgentError::Config(m)) if m.contains("--allow-root-tasks")));
            let allowed = TaskUsers { allow_root: true, ..root };
            assert_eq!(allowed.resolve().expect("allowed").default_user().uid, 0);
            let listed = TaskUsers { allowed: ["root".to_string()].into(), ..TaskUsers::default() };
            assert!(listed.resolve().is_err(), "root in the allow-list needs the flag too");
        } else {
            assert!(root.resolve().is_err(), "a non-root agent cannot run tasks as root");
        }
    }

    #[test]
    fn tasks_name_only_allowed_users() {
        let users = TaskUsers::default().resolve().expect("the default resolves");
        if as_root() {
            assert_eq!(users.default_user().name, DEFAULT_TASK_USER);
        } else {
            assert_eq!(users.default_user().uid, Uid::effective().as_raw());
        }
        assert_eq!(users.for_task(None).expect("default"), users.default_user().clone());
        let named = users.default_user().name.clone();
        assert_eq!(users.for_task(Some(&named)).expect("the default by name"), users.default_user().clone());
        let refused = users.for_task(Some("root"));
        assert!(matches!(refused, Err(AgentError::InvalidTask(m)) if m.contains("does not run tasks as `root`")));
    }

    #[test]
    fn an_unreachable_work_dir_is_named() {
        if !as_root() {
            return; // Only root switches users, so only root has anything to check.
        }
        let users = TaskUsers::default().resolve().expect("nobody");
        let dir = tempfile::tempdir().expect("tempdir");
        let inner = dir.path().join("work");
        std::fs::create_dir(&inner).expect("inner");
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700)).expect("chmod");
        let err = users.check_reachable(&inner).expect_err("0700 root-owned parent");
        assert!(err.to_string().contains(&dir.path().display().to_string()), "{err}");
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o711)).expect("chmod");
        users.check_reachable(&inner).expect("searchable now");
    }
}
