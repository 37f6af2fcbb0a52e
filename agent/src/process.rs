//! Task processes: spawning one in its own process group, waiting for it, and signalling the
//! group. The only module with OS process effects; what to run comes from [`crate::tasks`].

use crate::cgroups::TaskCgroup;
use crate::sandbox::{Output, Sandbox};
use crate::AgentError;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// Everything needed to start one task process.
#[derive(Clone, Debug, PartialEq)]
pub struct ProcessSpec {
    pub program: String,
    pub args: Vec<String>,
    /// The complete environment: the process inherits nothing else.
    pub env: Vec<(OsString, OsString)>,
    /// The working directory; it must exist.
    pub dir: PathBuf,
    /// The uid and gid to run as, when not the agent's own (supplementary groups are dropped).
    pub switch_to: Option<(u32, u32)>,
    /// Where the supervising shell writes how the program ended; `None` for a process no
    /// restarted agent will look for (a health check).
    pub exit_file: Option<PathBuf>,
}

/// How a task process ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended {
    Code(i32),
    /// Terminated by this signal number.
    Signal(i32),
    /// The process could not be waited for; it may still run.
    WaitFailed(String),
}

/// The end of a task process, whether the agent had signalled it before, and whether the
/// kernel killed part of it for going over its memory limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exit {
    pub ended: Ended,
    pub killed: bool,
    pub oom: bool,
}

/// A running task process, the leader of its own process group (and of its cgroup, if any).
#[derive(Debug)]
pub struct TaskProcess {
    child: tokio::process::Child,
    pid: i32,
    cgroup: Option<TaskCgroup>,
}

/// Every task runs under this shell, its process group's leader. It waits until the agent
/// has moved it into the task's cgroup (so that nothing the task starts runs outside it), runs
/// the task's program, writes how it ended to the exit file `$1` and ends the same way. It is
/// what outlives an agent that dies: a restarted agent finds the task by the shell's pid and
/// its end in the exit file. It ignores nothing a task could inherit: its traps end with it.
const SUPERVISOR: &str = r#"f=$1; shift
trap : INT TERM
read -r _ || exit 125
"$@" </dev/null
s=$?
echo "$s" > "$f"
# Ends as the program did: killed by the same signal, unless that signal would stop the shell
# or be ignored; without a core of its own.
if [ "$s" -gt 128 ]; then
  case $((s - 128)) in
    17|18|19|20|21|22|23|28) ;;
    *) ulimit -c 0; trap - INT TERM; kill -$((s - 128)) $$ ;;
  esac
fi
exit "$s""#;

/// Starts `spec` with stdin from /dev/null and its output to `output` (or /dev/null), in a
/// new process group whose id is the child's pid, under the supervising shell, and inside
/// `cgroup` (already made, with its limits) if given.
pub fn spawn(
    spec: &ProcessSpec,
    output: Option<Output>,
    cgroup: Option<TaskCgroup>,
) -> Result<TaskProcess, AgentError> {
    let (child, pid) = start(spec, output, cgroup.as_ref())?;
    Ok(TaskProcess { child, pid, cgroup })
}

/// Starts `spec` as [`spawn`] does, with no output, inside a task's cgroup that it does not
/// own: the group stays when the process ends (a health check in the task's group).
pub fn spawn_joining(spec: &ProcessSpec, group: &TaskCgroup) -> Result<TaskProcess, AgentError> {
    let (child, pid) = start(spec, None, Some(group))?;
    Ok(TaskProcess { child, pid, cgroup: None })
}

fn start(
    spec: &ProcessSpec,
    output: Option<Output>,
    cgroup: Option<&TaskCgroup>,
) -> Result<(tokio::process::Child, i32), AgentError> {
    check_runnable(spec)?;
    let (stdout, stderr) = match output {
        Some(output) => (Stdio::from(output.stdout), Stdio::from(output.stderr)),
        None => (Stdio::null(), Stdio::null()),
    };
    // The shell writes it as the task's user, in the task's new sandbox.
    let exit_to = spec.exit_file.clone().unwrap_or_else(|| PathBuf::from("/dev/null"));
    let mut command = tokio::process::Command::new("/bin/sh");
    command.args(["-c", SUPERVISOR, "agora-task"]).arg(exit_to).arg(&spec.program);
    command
        .args(&spec.args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&spec.dir)
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(stderr)
        // Its own group, so that a kill reaches every process the task starts.
        .process_group(0)
        // Tasks must outlive a dropped handle (the agent may be stopping without killing).
        .kill_on_drop(false);
    if let Some((uid, gid)) = spec.switch_to {
        command.uid(uid).gid(gid);
    }
    let mut child = command.spawn().map_err(|e| AgentError::io(format!("cannot run `{}`", spec.program), e))?;
    let pid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .ok_or_else(|| AgentError::InvalidTask("the spawned process has no pid".to_string()))?;
    let release = child.stdin.take();
    if let Some(group) = cgroup {
        if let Err(e) = group.cgroups.add(&group.name, pid) {
            signal_group(pid, Signal::SIGKILL);
            return Err(e);
        }
    }
    // The line it waits for: dropping the pipe without one would make it exit instead.
    let released = release.map(|stdin| stdin.into_owned_fd().map(std::fs::File::from));
    match released {
        Some(Ok(mut pipe)) => {
            use std::io::Write as _;
            if let Err(e) = pipe.write_all(b"go\n") {
                signal_group(pid, Signal::SIGKILL);
                return Err(AgentError::io("cannot start the task", e));
            }
        }
        _ => {
            signal_group(pid, Signal::SIGKILL);
            return Err(AgentError::InvalidTask("the task's start pipe is gone".to_string()));
        }
    }
    Ok((child, pid))
}

/// Fails as spawning the program directly would, for a program that cannot be found or run:
/// under the supervising shell it would only show as exit code 127 or 126.
fn check_runnable(spec: &ProcessSpec) -> Result<(), AgentError> {
    use std::os::unix::fs::PermissionsExt as _;
    let runnable =
        |path: &Path| std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    let found = if spec.program.contains('/') {
        runnable(&spec.dir.join(&spec.program))
    } else {
        let path = spec.env.iter().find(|(k, _)| k == "PATH").map(|(_, v)| v.clone()).unwrap_or_default();
        std::env::split_paths(&path).any(|dir| runnable(&dir.join(&spec.program)))
    };
    if found {
        Ok(())
    } else {
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        Err(AgentError::io(format!("cannot run `{}`", spec.program), missing))
    }
}

/// The start time of process `pid` (clock ticks since boot, `/proc/PID/stat` field 22): with
/// the pid, it names one process even after the pid is reused.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields count from the last `)`.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// A task's process, as the agent watches it.
#[derive(Debug)]
pub enum Running {
    /// Started by this run of the agent.
    Child(TaskProcess),
    /// Started by an earlier run.
    Adopted(AdoptedProcess),
    /// A container of the docker daemon's.
    Docker(Box<crate::docker::DockerTask>),
}

impl Running {
    /// The pid of the task's supervising shell, when it has one (not a docker container).
    pub fn pid(&self) -> Option<i32> {
        match self {
            Running::Child(child) => Some(child.pid()),
            Running::Adopted(adopted) => Some(adopted.pid),
            Running::Docker(_) => None,
        }
    }

    pub async fn supervise(self, kills: watch::Receiver<Option<Duration>>) -> Exit {
        match self {
            Running::Child(child) => child.supervise(kills).await,
            Running::Adopted(adopted) => adopted.supervise(kills).await,
            Running::Docker(container) => container.supervise(kills).await,
        }
    }
}

/// A task process started by an earlier run of the agent, found again after a restart.
#[derive(Debug)]
pub struct AdoptedProcess {
    pub pid: i32,
    pub start_time: u64,
    pub sandbox: PathBuf,
    /// Where its exit file is when not in the sandbox (a container's, in its bundle).
    pub exit_file: Option<PathBuf>,
    pub cgroup: Option<TaskCgroup>,
}

impl AdoptedProcess {
    /// As [`TaskProcess::supervise`], for a process that is not the agent's child: it is
    /// watched until it is gone, and its end is read from its exit file.
    pub async fn supervise(self, kills: watch::Receiver<Option<Duration>>) -> Exit {
        let gone = async {
            let mut poll = tokio::time::interval(Duration::from_millis(100));
            while start_time(self.pid) == Some(self.start_time) {
                poll.tick().await;
            }
            read_exit(&self.sandbox, self.exit_file.as_deref())
                .unwrap_or_else(|| Ended::WaitFailed("it ended while the agent was away, and how is unknown".into()))
        };
        let (ended, killed) = serve_kills(gone, |signal| self.signal(signal), kills).await;
        Exit { ended, killed, oom: end_cgroup(self.cgroup.as_ref()).await }
    }

    fn signal(&self, signal: Signal) {
        // Not ours to reap: make sure the pid is still this process before signalling its group.
        if start_time(self.pid) == Some(self.start_time) {
            signal_group(self.pid, signal);
        }
        if let Some(group) = &self.cgroup {
            group.signal_all(signal);
        }
    }
}

/// How a task ended, from its exit file: `exit_file` (the agent's own) if given, else the
/// sandbox's, read through the sandbox's directory handle.
pub fn read_exit(sandbox: &Path, exit_file: Option<&Path>) -> Option<Ended> {
    match exit_file {
        Some(file) => crate::sandbox::parse_exit(&std::fs::read_to_string(file).ok()?),
        None => Sandbox::open(sandbox).ok().flatten().and_then(|sandbox| sandbox.read_exit()),
    }
}

impl TaskProcess {
    /// The leader's pid, which is also the process group id.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Waits for the leader to exit. Each value sent on `kills` is a kill request with its grace
    /// period: the group gets SIGTERM at once and SIGKILL when the earliest grace so far ends,
    /// if the leader is still there. A dropped sender just means no more kill requests.
    pub async fn supervise(mut self, kills: watch::Receiver<Option<Duration>>) -> Exit {
        let (pid, cgroup) = (self.pid, self.cgroup.take());
        // The leader is not reaped while its wait is pending, so its group id cannot have been
        // reused by another process when a kill signals it.
        let signal = |signal| {
            signal_group(pid, signal);
            if let Some(group) = &cgroup {
                group.signal_all(signal);
            }
        };
        let (ended, killed) = serve_kills(wait(&mut self.child), signal, kills).await;
        // The task is its process group, as a container would be: what the leader left running
        // in it ends with it. The kernel does not hand out a pid still used as a group id, so
        // the group cannot be someone else's yet.
        signal_group(pid, Signal::SIGKILL);
        Exit { ended, killed, oom: end_cgroup(cgroup.as_ref()).await }
    }
}

/// How the agent's child ended.
async fn wait(child: &mut tokio::process::Child) -> Ended {
    match child.wait().await {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => Ended::Code(code),
            (None, Some(signal)) => Ended::Signal(signal),
            (None, None) => Ended::WaitFailed(format!("unexpected wait status {status}")),
        },
        Err(e) => Ended::WaitFailed(e.to_string()),
    }
}

/// Waits for `ended` while serving kill requests: each value sent on `kills` is a grace
/// period; the task gets SIGTERM at once and SIGKILL when the earliest grace so far ends, if
/// it is still there. A dropped sender just means no more kill requests. Returns how the task
/// ended and whether it was signalled.
pub(crate) async fn serve_kills(
    ended: impl std::future::Future<Output = Ended>,
    signal: impl Fn(Signal),
    mut kills: watch::Receiver<Option<Duration>>,
) -> (Ended, bool) {
    tokio::pin!(ended);
    let mut killed = false;
    let mut kills_open = true;
    let mut sigkill_at: Option<Instant> = None;
    loop {
        let deadline = sigkill_at;
        tokio::select! {
            ended = &mut ended => return (ended, killed),
            changed = kills.changed(), if kills_open => {
                if changed.is_err() {
                    kills_open = false;
                    continue;
                }
                if let Some(grace) = *kills.borrow_and_update() {
                    signal(Signal::SIGTERM);
                    killed = true;
                    let at = Instant::now() + grace;
                    sigkill_at = Some(sigkill_at.map_or(at, |earlier| earlier.min(at)));
                }
            }
            _ = sleep_until(deadline), if deadline.is_some() => {
                signal(Signal::SIGKILL);
                sigkill_at = None;
            }
        }
    }
}

/// Empties and removes a task's cgroup once its leader is gone (processes that left the
/// process group are still in it); returns whether the kernel killed any for their memory.
async fn end_cgroup(cgroup: Option<&TaskCgroup>) -> bool {
    let Some(group) = cgroup else { return false };
    let oom = group.cgroups.oom_killed(&group.name);
    group.destroy().await;
    oom
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn signal_group(pgid: i32, signal: Signal) {
    match killpg(Pid::from_raw(pgid), signal) {
        Ok(()) => tracing::debug!(pgid, %signal, "signalled task process group"),
        // The whole group is already gone; the leader's exit is on its way.
        Err(nix::errno::Errno::ESRCH) => {}
        Err(e) => tracing::warn!(pgid, %signal, error = %e, "cannot signal task process group"),
    }
}

/// A signal's name such as `SIGSEGV`, or its number if this platform does not know it.
pub fn signal_name(signal: i32) -> String {
    Signal::try_from(signal).map(|s| s.as_str().to_string()).unwrap_or_else(|_| format!("signal {signal}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks;
    use agora_api::agent::LaunchCommand;
    use agora_api::types::reason;
    use agora_api::{AgentId, Command, FrameworkId, Resources, TaskInfo, TaskState};

    use std::time::Duration;

    const DEADLINE: Duration = Duration::from_secs(20);

    fn launch(task: &str, command: Command) -> LaunchCommand {
        LaunchCommand {
            framework_id: FrameworkId::from("fw-1"),
            task: {
                let resources = Resources { ports: vec![[31005, 31006], [31010, 31010]], ..Resources::new(0.1, 32.0) };
                TaskInfo::new(task, AgentId::from("agent-1"), resources, command).name(task).env("GREETING", "hi")
            },
            volumes: Vec::new(),
        }
    }

    /// Prepares the sandbox and starts the task, as the agent does for a `launch` command.
    fn start(work_dir: &Path, launch: &LaunchCommand) -> (TaskProcess, PathBuf) {
        let (sandbox, output) =
            Sandbox::create(work_dir, &launch.framework_id, &launch.task.task_id, None, &[]).expect("sandbox");
        let spec = tasks::process_spec(launch, &AgentId::from("agent-1"), sandbox.path(), None).expect("spec");
        (spawn(&spec, Some(output), None).expect("spawns"), sandbox.path().to_path_buf())
    }

    async fn run_to_end(work_dir: &Path, launch: &LaunchCommand) -> (Exit, PathBuf) {
        let (process, sandbox) = start(work_dir, launch);
        let (_kill, kills) = watch::channel(None);
        let exit = tokio::time::timeout(DEADLINE, process.supervise(kills)).await.expect("exits in time");
        (exit, sandbox)
    }

    /// Polls `check` every 10 ms until it holds or the deadline passes.
    async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
        let end = Instant::now() + DEADLINE;
        while !check() {
            assert!(Instant::now() < end, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_default()
    }

    /// Whether `pid` has exited: no /proc entry, or a zombie nobody has reaped yet.
    fn is_gone(pid: i32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        }
    }

    #[tokio::test]
    async fn non_zero_exit_is_reported_as_failed_with_its_code() {
        let dir = tempfile::tempdir().expect("tempdir");
        let launch = launch("exit-3", Command::Shell("exit 3".to_string()));
        let (exit, _) = run_to_end(dir.path(), &launch).await;
        assert_eq!(exit, Exit { ended: Ended::Code(3), killed: false, oom: false });
        let status = tasks::exit_status(&launch, &AgentId::from("agent-1"), &exit);
        assert_eq!(status.state, TaskState::Failed);
        assert_eq!(status.exit_code, Some(3));
        assert_eq!(status.reason.as_deref(), Some(reason::COMMAND_EXITED));
        assert_eq!(status.message.as_deref(), Some("exited with code 3"));
    }

    #[tokio::test]
    async fn output_lands_in_the_sandbox() {
        let dir = tempfile::tempdir().expect("tempdir");
        let launch = launch("echo", Command::Shell("echo hello; echo oops >&2; pwd".to_string()));
        let (exit, sandbox) = run_to_end(dir.path(), &launch).await;
        assert_eq!(exit.ended, Ended::Code(0));
        assert_eq!(sandbox, dir.path().join("sandboxes/fw-1/echo").canonicalize().expect("exists"));
        assert_eq!(read(&sandbox.join("stdout")), format!("hello\n{}\n", sandbox.display()));
        assert_eq!(read(&sandbox.join("stderr")), "oops\n");
    }

    #[tokio::test]
    async fn argv_commands_run_without_a_shell() {
        let dir = tempfile::tempdir().expect("tempdir");
        let argv = Command::Argv(vec!["echo".to_string(), "a b".to_string(), "$HOME".to_string()]);
        let (exit, sandbox) = run_to_end(dir.path(), &launch("argv", argv)).await;
        assert_eq!(exit.ended, Ended::Code(0));
        assert_eq!(read(&sandbox.join("stdout")), "a b $HOME\n");
    }

    #[tokio::test]
    async fn task_environment_is_set() {
        let dir = tempfile::tempdir().expect("tempdir");
        let script = r#"printf '%s\n' "$AGORA_TASK_ID" "$AGORA_FRAMEWORK_ID" "$AGORA_AGENT_ID" "$AGORA_SANDBOX" "$PORT0" "$PORT1" "$PORT2" "${PORT3-unset}" "$GREETING""#;
        let (exit, sandbox) = run_to_end(dir.path(), &launch("env", Command::Shell(script.to_string()))).await;
        assert_eq!(exit.ended, Ended::Code(0));
        let expected = format!("env\nfw-1\nagent-1\n{}\n31005\n31006\n31010\nunset\nhi\n", sandbox.display());
        assert_eq!(read(&sandbox.join("stdout")), expected);
    }

    #[tokio::test]
    async fn kill_ends_the_whole_process_group() {
        let dir = tempfile::tempdir().expect("tempdir");
        let launch = launch("group", Command::Shell("sleep 1000 & echo $! > child.pid; wait".to_string()));
        let (process, sandbox) = start(dir.path(), &launch);
        let leader = process.pid();
        let (kill, kills) = watch::channel(None);
        let supervisor = tokio::spawn(process.supervise(kills));

        let pid_file = sandbox.join("child.pid");
        eventually("the child's pid", || read(&pid_file).ends_with('\n')).await;
        let child: i32 = read(&pid_file).trim().parse().expect("a pid");
        assert!(!is_gone(child));

        kill.send_replace(Some(Duration::from_secs(30)));
        let exit = tokio::time::timeout(DEADLINE, supervisor).await.expect("exits in time").expect("joins");
        assert_eq!(exit, Exit { ended: Ended::Signal(Signal::SIGTERM as i32), killed: true, oom: false });
        eventually("the child to end", || is_gone(child)).await;
        assert!(is_gone(leader));
        let status = tasks::exit_status(&launch, &AgentId::from("agent-1"), &exit);
        assert_eq!(status.state, TaskState::Killed);
        assert_eq!(status.reason.as_deref(), Some(reason::KILLED_BY_FRAMEWORK));
    }

    #[tokio::test]
    async fn what_a_task_leaves_running_ends_with_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let launch = launch("leaver", Command::Shell("sleep 1000 & echo $! > child.pid".to_string()));
        let (exit, sandbox) = run_to_end(dir.path(), &launch).await;
        assert_eq!(exit, Exit { ended: Ended::Code(0), killed: false, oom: false });
        let child: i32 = read(&sandbox.join("child.pid")).trim().parse().expect("a pid");
        eventually("the background child to end", || is_gone(child)).await;
    }

    #[tokio::test]
    async fn a_task_ignoring_sigterm_is_killed_after_the_grace_period() {
        let dir = tempfile::tempdir().expect("tempdir");
        let script = "trap '' TERM; echo ready > ready; sleep 1000";
        let (process, sandbox) = start(dir.path(), &launch("stubborn", Command::Shell(script.to_string())));
        let (kill, kills) = watch::channel(None);
        let supervisor = tokio::spawn(process.supervise(kills));
        // Only once the trap is set does SIGTERM meet a process that ignores it.
        let ready = sandbox.join("ready");
        eventually("the trap to be set", || read(&ready) == "ready\n").await;

        let grace = Duration::from_millis(500);
        let sent = Instant::now();
        kill.send_replace(Some(grace));
        let exit = tokio::time::timeout(DEADLINE, supervisor).await.expect("exits in time").expect("joins");
        assert_eq!(exit, Exit { ended: Ended::Signal(Signal::SIGKILL as i32), killed: true, oom: false });
        assert!(sent.elapsed() >= grace, "SIGKILL came before the grace period ended");
    }

    #[tokio::test]
    async fn spawn_failures_are_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let launch = launch("missing", Command::Argv(vec!["/nonexistent/program".to_string()]));
        let (sandbox, output) =
            Sandbox::create(dir.path(), &launch.framework_id, &launch.task.task_id, None, &[]).expect("sandbox");
        let spec = tasks::process_spec(&launch, &AgentId::from("agent-1"), sandbox.path(), None).expect("spec");
        let err = spawn(&spec, Some(output), None).expect_err("cannot spawn");
        assert!(err.to_string().contains("/nonexistent/program"), "{err}");
    }

    #[test]
    fn signals_have_names() {
        assert_eq!(signal_name(9), "SIGKILL");
        assert_eq!(signal_name(12345), "signal 12345");
    }
}
