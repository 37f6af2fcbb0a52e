//! What a launch means on this host: the sandbox's path, the process spec (command and
//! environment), and the status updates a task's life produces. Pure.

use crate::process::{Ended, Exit, ProcessSpec};
use crate::updates::TaskKey;
use crate::users::RunAs;
use crate::AgentError;
use agora_api::agent::LaunchCommand;
use agora_api::types::{now_secs, reason};
use agora_api::{AgentId, Command, FrameworkId, TaskId, TaskState, TaskStatus, UpdateId};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The kill grace of a task that names none (the API's documented default).
pub const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(5);
/// Longest grace honoured, so that a careless value cannot keep a task (or a stopping agent)
/// alive for days.
pub const MAX_KILL_GRACE: Duration = Duration::from_secs(3600);

/// `{work_dir}/sandboxes/{framework_id}/{task_id}`. Ids are checked here too, because they
/// become path components.
pub fn sandbox_dir(work_dir: &Path, framework_id: &FrameworkId, task_id: &TaskId) -> Result<PathBuf, AgentError> {
    if !framework_id.is_valid() {
        return Err(AgentError::InvalidTask(format!("invalid framework id `{framework_id}`")));
    }
    if !task_id.is_valid() {
        return Err(AgentError::InvalidTask(format!("invalid task id `{task_id}`")));
    }
    Ok(work_dir.join("sandboxes").join(framework_id.as_str()).join(task_id.as_str()))
}

/// What a task's process gets when the agent's environment does not say.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The variables of the agent's own environment that tasks inherit: `PATH`, `LANG`,
/// `LANGUAGE`, `LC_*` and `TZ`. Nothing else: the agent's environment may hold its token, cloud
/// credentials or a store password, which are not the task's. `PATH` is always set.
pub fn inherited_env(agent: impl Iterator<Item = (OsString, OsString)>) -> BTreeMap<OsString, OsString> {
    let allowed = |name: &str| matches!(name, "PATH" | "LANG" | "LANGUAGE" | "TZ") || name.starts_with("LC_");
    let mut env: BTreeMap<OsString, OsString> = agent.filter(|(k, _)| k.to_str().is_some_and(allowed)).collect();
    env.entry("PATH".into()).or_insert_with(|| DEFAULT_PATH.into());
    env
}

/// The process a launch runs in `sandbox`.
///
/// The environment is what [`inherited_env`] keeps of the agent's own, then the task's `env`,
/// then the variables the agent defines, which a task
/// cannot override: `AGORA_TASK_ID`, `AGORA_FRAMEWORK_ID`, `AGORA_AGENT_ID`, `AGORA_SANDBOX`
/// and `PORT0`, `PORT1`, ... for the task's ports in order.
pub fn process_spec(
    launch: &LaunchCommand,
    agent_id: &AgentId,
    sandbox: &Path,
    switch_to: Option<&RunAs>,
) -> Result<ProcessSpec, AgentError> {
    let task = &launch.task;
    let (program, args) = match &task.command {
        Command::Shell(line) => ("/bin/sh".to_string(), vec!["-c".to_string(), line.clone()]),
        Command::Argv(argv) => match argv.split_first() {
            Some((program, args)) if !program.is_empty() => (program.clone(), args.to_vec()),
            _ => return Err(AgentError::InvalidTask("the command's argv is empty".to_string())),
        },
    };
    // A map, so that each later source replaces a variable instead of repeating it.
    let mut env = inherited_env(std::env::vars_os());
    env.extend(task.env.iter().map(|(k, v)| (OsString::from(k), OsString::from(v))));
    if let Some(user) = switch_to {
        // Who the task is, as a login would say; its home is its sandbox (`nobody` has none).
        env.insert("USER".into(), OsString::from(&user.name));
        env.insert("LOGNAME".into(), OsString::from(&user.name));
        env.insert("HOME".into(), sandbox.as_os_str().to_owned());
    }
    let own = [
        ("AGORA_TASK_ID", OsString::from(task.task_id.as_str())),
        ("AGORA_FRAMEWORK_ID", OsString::from(launch.framework_id.as_str())),
        ("AGORA_AGENT_ID", OsString::from(agent_id.as_str())),
        ("AGORA_SANDBOX", sandbox.as_os_str().to_owned()),
    ];
    env.extend(own.into_iter().map(|(k, v)| (OsString::from(k), v)));
    let ports = task.resources.ports.iter().flat_map(|&[low, high]| low..=high);
    env.extend(
        ports.enumerate().map(|(i, port)| (OsString::from(format!("PORT{i}")), OsString::from(port.to_string()))),
    );
    Ok(ProcessSpec {
        program,
        args,
        env: env.into_iter().collect(),
        dir: sandbox.to_path_buf(),
        switch_to: switch_to.map(|user| (user.uid, user.gid)),
        exit_file: Some(sandbox.join(crate::sandbox::EXIT_FILE)),
    })
}

/// The grace period a kill of this task uses when the killer names none.
pub fn kill_grace(launch: &LaunchCommand) -> Duration {
    launch.task.kill_grace_period_secs.map_or(DEFAULT_KILL_GRACE, grace_from_secs)
}

/// A grace period from the wire: negative or NaN means none, and it is capped at an hour.
pub fn grace_from_secs(secs: f64) -> Duration {
    Duration::try_from_secs_f64(secs).unwrap_or(Duration::ZERO).min(MAX_KILL_GRACE)
}

/// A new update for the task, with a fresh update id and the current time.
pub fn status(launch: &LaunchCommand, agent_id: &AgentId, state: TaskState) -> TaskStatus {
    TaskStatus {
        task_id: launch.task.task_id.clone(),
        framework_id: launch.framework_id.clone(),
        agent_id: agent_id.clone(),
        state,
        reason: None,
        message: None,
        exit_code: None,
        healthy: None,
        update_id: Some(UpdateId::random()),
        timestamp: now_secs(),
        latest_state: None,
    }
}

pub fn launch_failed_status(launch: &LaunchCommand, agent_id: &AgentId, error: &AgentError) -> TaskStatus {
    TaskStatus {
        reason: Some(reason::LAUNCH_FAILED.to_string()),
        message: Some(error.to_string()),
        ..status(launch, agent_id, TaskState::Failed)
    }
}

/// The terminal update for a process that ended. Once the agent has signalled a task it is
/// `killed` however it ended, as in Mesos: the framework asked for its end and got it.
pub fn exit_status(launch: &LaunchCommand, agent_id: &AgentId, exit: &Exit) -> TaskStatus {
    if exit.oom && !exit.killed {
        let message =
            format!("the kernel killed it for going over its memory limit of {} MiB", launch.task.resources.mem);
        let exit_code = match exit.ended {
            Ended::Code(code) => Some(code),
            _ => None,
        };
        return TaskStatus {
            reason: Some(reason::CONTAINER_LIMITATION_MEMORY.to_string()),
            message: Some(message),
            exit_code,
            ..status(launch, agent_id, TaskState::Failed)
        };
    }
    let (state, why, message, exit_code) = match (&exit.ended, exit.killed) {
        (Ended::Code(code), true) => {
            (TaskState::Killed, reason::KILLED_BY_FRAMEWORK, format!("killed; exited with code {code}"), Some(*code))
        }
        (Ended::Signal(signal), true) => (
            TaskState::Killed,
            reason::KILLED_BY_FRAMEWORK,
            format!("killed by {}", crate::process::signal_name(*signal)),
            None,
        ),
        (Ended::Code(0), false) => {
            (TaskState::Finished, reason::COMMAND_EXITED, "exited with code 0".to_string(), Some(0))
        }
        (Ended::Code(code), false) => {
            (TaskState::Failed, reason::COMMAND_EXITED, format!("exited with code {code}"), Some(*code))
        }
        (Ended::Signal(signal), false) => (
            TaskState::Failed,
            reason::COMMAND_SIGNALED,
            format!("terminated by {}", crate::process::signal_name(*signal)),
            None,
        ),
        (Ended::WaitFailed(e), _) => {
            (TaskState::Failed, reason::COMMAND_EXITED, format!("cannot wait for the process: {e}"), None)
        }
    };
    TaskStatus { reason: Some(why.to_string()), message: Some(message), exit_code, ..status(launch, agent_id, state) }
}

/// Tasks that ended and were forgotten, so that a `launch` replayed by the master (a stream
/// reopened without `Last-Event-ID` may repeat old commands) does not run one again. Holds the
/// most recent `capacity` keys; the oldest is forgotten first.
#[derive(Debug)]
pub struct RecentlyEnded {
    order: VecDeque<TaskKey>,
    keys: HashSet<TaskKey>,
    capacity: usize,
}

impl RecentlyEnded {
    pub fn new(capacity: usize) -> RecentlyEnded {
        RecentlyEnded { order: VecDeque::new(), keys: HashSet::new(), capacity: capacity.max(1) }
    }

    pub fn insert(&mut self, key: TaskKey) {
        if !self.keys.insert(key.clone()) {
            return;
        }
        self.order.push_back(key);
        if self.order.len() > self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.keys.remove(&oldest);
            }
        }
    }

    pub fn contains(&self, key: &TaskKey) -> bool {
        self.keys.contains(key)
    }

    pub fn clear(&mut self) {
        self.order.clear();
        self.keys.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_api::{Resources, TaskInfo};

    fn launch(task: &str, command: Command) -> LaunchCommand {
        LaunchCommand {
            framework_id: FrameworkId::from("fw"),
            task: TaskInfo::new(task, AgentId::from("a"), Resources::default(), command)
                .env("AGORA_TASK_ID", "spoofed")
                .kill_grace(-1.0),
            volumes: Vec::new(),
        }
    }

    #[test]
    fn exits_map_to_states() {
        let l = launch("t", Command::Shell("true".to_string()));
        let a = AgentId::from("a");
        let of = |ended, killed| exit_status(&l, &a, &Exit { ended, killed, oom: false });

        let s = of(Ended::Code(0), false);
        assert_eq!((s.state, s.exit_code, s.reason.as_deref()), (TaskState::Finished, Some(0), Some("command_exited")));
        let s = of(Ended::Code(3), false);
        assert_eq!((s.state, s.exit_code), (TaskState::Failed, Some(3)));
        let s = of(Ended::Signal(11), false);
        assert_eq!((s.state, s.reason.as_deref()), (TaskState::Failed, Some("command_signaled")));
        assert_eq!(s.message.as_deref(), Some("terminated by SIGSEGV"));
        let s = of(Ended::Signal(15), true);
        assert_eq!((s.state, s.reason.as_deref()), (TaskState::Killed, Some("killed_by_framework")));
        assert!(s.update_id.is_some() && s.timestamp > 0.0);
        assert_eq!(s.agent_id, a);
    }

    #[test]
    fn recently_ended_tasks_are_bounded() {
        let key = |t: &str| TaskKey::new(&FrameworkId::from("fw"), &TaskId::from(t));
        let mut ended = RecentlyEnded::new(2);
        ended.insert(key("a"));
        ended.insert(key("b"));
        ended.insert(key("b"));
        assert!(ended.contains(&key("a")) && ended.contains(&key("b")));
        ended.insert(key("c"));
        assert!(!ended.contains(&key("a")));
        assert!(ended.contains(&key("b")) && ended.contains(&key("c")));
        ended.clear();
        assert!(!ended.contains(&key("c")));
    }

    #[test]
    fn bad_ids_and_empty_argv_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let create = |fw: &str, task: &str| {
            crate::sandbox::Sandbox::create(dir.path(), &FrameworkId::from(fw), &TaskId::from(task), None, &[])
        };
        assert!(create("fw", "../x").is_err());
        assert!(create("..", "x").is_err());
        assert!(!dir.path().join("sandboxes").exists());
        let l = launch("t", Command::Argv(vec![]));
        assert!(process_spec(&l, &AgentId::from("a"), dir.path(), None).is_err());
    }

    #[test]
    fn tasks_inherit_only_the_allowed_variables_of_the_agent() {
        let agent = [("PATH", "/bin"), ("LC_ALL", "C.UTF-8"), ("AWS_SECRET_ACCESS_KEY", "x"), ("AGORA_TOKEN", "t")];
        let env = inherited_env(agent.iter().map(|(k, v)| (OsString::from(k), OsString::from(v))));
        let names: Vec<_> = env.keys().filter_map(|k| k.to_str()).collect();
        assert_eq!(names, ["LC_ALL", "PATH"]);
        assert_eq!(inherited_env(std::iter::empty()).get(&OsString::from("PATH")), Some(&OsString::from(DEFAULT_PATH)));
    }

    #[test]
    fn agent_variables_win_over_the_task_env() {
        let l = launch("t", Command::Shell("true".to_string()));
        let spec = process_spec(&l, &AgentId::from("a"), Path::new("/sandbox"), None).expect("spec");
        let task_ids: Vec<_> = spec.env.iter().filter(|(k, _)| k == "AGORA_TASK_ID").map(|(_, v)| v.clone()).collect();
        assert_eq!(task_ids, vec![OsString::from("t")]);
        assert_eq!(spec.program, "/bin/sh");
        assert_eq!(kill_grace(&l), Duration::ZERO);
        assert_eq!(grace_from_secs(f64::NAN), Duration::ZERO);
        assert_eq!(grace_from_secs(1e12), MAX_KILL_GRACE);
    }
}
