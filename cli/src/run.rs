//! `agora run`: a real framework in one command. It registers, waits for an offer that fits,
//! launches the command, streams its output, acknowledges every update, and tears itself down;
//! the exit code is the task's. Ctrl-C, SIGTERM or SIGHUP kill the task (a second one leaves at
//! once), and so does closing its output (`agora run ... | head`).

use crate::logs::{copy_log, Copied};
use crate::target;
use crate::Target;
use agora_api::agent::LogStream;
use agora_api::framework::{
    Accept, Acknowledge, Capability, Decline, Filters, FrameworkEvent, Kill, Operation, RegisterFramework, Roles,
};
use agora_api::operator::LogQuery;
use agora_api::{Command, FrameworkId, Offer, Resources, TaskId, TaskInfo, TaskState, TaskStatus};
use agora_client::{Client, ClientError, SubscribeOptions, Subscription};
use anyhow::bail;
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

/// How long `agora run` waits before saying that no offer fits yet.
const WAITING_NOTE_AFTER: Duration = Duration::from_secs(5);
/// Attempts to resume a broken event stream, a second apart at most: long enough to ride out a
/// server restart.
const MAX_RECONNECTS: u32 = 60;

#[derive(clap::Args)]
pub struct RunArgs {
    /// CPUs for the task.
    #[arg(long, default_value_t = 0.1)]
    cpus: f64,
    /// Memory for the task, in MiB.
    #[arg(long, default_value_t = 32.0)]
    mem: f64,
    /// Disk for the task, in MiB.
    #[arg(long, default_value_t = 0.0)]
    disk: f64,
    /// The task's name.
    #[arg(long)]
    name: Option<String>,
    /// Environment variables, NAME=VALUE; may be repeated.
    #[arg(long = "env", value_parser = parse_env)]
    env: Vec<(String, String)>,
    /// The role to register with.
    #[arg(long, default_value = "*")]
    role: String,
    /// Seconds between SIGTERM and SIGKILL when the task is killed.
    #[arg(long)]
    kill_grace: Option<f64>,
    /// The OS user to run as (default: the agent's default task user). The token and the
    /// agent must both allow it.
    #[arg(long)]
    user: Option<String>,
    /// Run the command in this OCI image (`REGISTRY/NAME:TAG` or `...@sha256:DIGEST`), on an
    /// agent with the `oci` containerizer. Without a command, the image's own runs.
    #[arg(long)]
    image: Option<String>,
    /// With --image: the containerizer that runs it, `oci` (runc, the agent's own image cache)
    /// or `docker` (the agent host's Docker daemon).
    #[arg(long, value_enum, default_value = "oci", requires = "image")]
    containerizer: ContainerizerArg,
    /// With --image: pull the image at every launch (`always`) or only when the agent does not
    /// have it (`if-missing`).
    #[arg(long, value_enum, default_value = "if-missing", requires = "image")]
    pull: PullArg,
    /// With --image: let the task write to its root filesystem (read-only by default).
    #[arg(long, requires = "image")]
    writable_root: bool,
    /// With --image: `host` (the agent's network) or `bridge` (a network of its own, reached
    /// through the ports it publishes with -p).
    #[arg(long, value_enum, default_value = "host", requires = "image")]
    network: NetworkArg,
    /// With --network bridge: publish this container port (`8080` or `53/udp`) on one of the
    /// offered ports; may be repeated. The task's env names it: PORT_8080 is the agent's port.
    #[arg(long = "publish", short = 'p', requires = "image")]
    publish: Vec<String>,
    /// Print status updates to stderr.
    #[arg(long, short)]
    verbose: bool,
    #[command(flatten)]
    target: Target,
    /// The command and its arguments. Options after the command belong to it; `--` before the
    /// command is allowed.
    #[arg(
        required_unless_present = "image",
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    command: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, clap::ValueEnum)]
enum ContainerizerArg {
    Oci,
    Docker,
}

#[derive(Clone, Copy, PartialEq, clap::ValueEnum)]
enum NetworkArg {
    Host,
    Bridge,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum PullArg {
    IfMissing,
    Always,
}

impl RunArgs {
    /// The task's container, when it runs in an image.
    fn container(&self) -> Option<agora_api::ContainerInfo> {
        use agora_api::containers::{NetworkMode, PortMapping, Protocol};
        let image = self.image.as_deref()?;
        let network = if self.network == NetworkArg::Bridge { NetworkMode::Bridge } else { NetworkMode::Host };
        let port_mappings = self
            .publish
            .iter()
            .filter_map(|p| {
                let (port, protocol) = match p.split_once('/') {
                    Some((port, "udp")) => (port, Protocol::Udp),
                    Some((port, _)) => (port, Protocol::Tcp),
                    None => (p.as_str(), Protocol::Tcp),
                };
                Some(PortMapping { container_port: port.parse().ok()?, host_port: None, protocol })
            })
            .collect();
        let pull = match self.pull {
            PullArg::IfMissing => agora_api::containers::PullPolicy::IfMissing,
            PullArg::Always => agora_api::containers::PullPolicy::Always,
        };
        Some(agora_api::ContainerInfo {
            pull,
            network,
            port_mappings,
            writable_root: self.writable_root,
            ..agora_api::ContainerInfo::new(
                match self.containerizer {
                    ContainerizerArg::Oci => agora_api::Containerizer::Oci,
                    ContainerizerArg::Docker => agora_api::Containerizer::Docker,
                },
                image,
            )
        })
    }

    /// What the task and its framework are called.
    fn display_name(&self) -> String {
        match (&self.name, &self.image) {
            (Some(name), _) => name.clone(),
            (None, Some(image)) if self.command.is_empty() => short_name(std::slice::from_ref(image)),
            _ => short_name(&self.command),
        }
    }
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    s.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).ok_or_else(|| format!("`{s}` is not NAME=VALUE"))
}

pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    if !args.publish.is_empty() && args.network != NetworkArg::Bridge {
        bail!("-p publishes a port of a container on the bridge network: add --network bridge");
    }
    for p in &args.publish {
        let (port, protocol) = p.split_once('/').unwrap_or((p, "tcp"));
        if port.parse::<u16>().map_or(true, |p| p == 0) || !matches!(protocol, "tcp" | "udp") {
            bail!("-p {p}: give a container port, as 8080 or 53/udp");
        }
    }
    let client = target::client(&args.target)?;
    let registration = RegisterFramework {
        id: None,
        name: format!("agora-run:{}", args.display_name()),
        roles: vec![args.role.clone()],
        // Long enough to ride out a dropped connection; agora run tears down explicitly when it
        // ends, so this only matters if it is killed outright: then the task goes 30 s later.
        failover_timeout_secs: 30.0,
        capabilities: vec![Capability::PartitionAware],
        offer_constraints: Default::default(),
        offer_filters: Default::default(),
    };
    // Updates are acknowledged as they are handled, the last one included.
    let options = SubscribeOptions { acknowledge: false, max_reconnects: MAX_RECONNECTS };
    let events = client.subscribe(registration, options).await?;
    let framework_id = events.framework_id().clone();
    let outcome = Runner::new(client.clone(), framework_id.clone(), args).drive(events).await;
    // Tear down whatever happened: the framework is ours alone.
    if let Err(e) = client.teardown_framework(&framework_id).await {
        if !e.is_not_found() {
            eprintln!("warning: tearing down framework {framework_id}: {e}");
        }
    }
    outcome
}

struct Runner {
    client: Client,
    framework_id: FrameworkId,
    task_id: TaskId,
    args: RunArgs,
    wanted: Resources,
    launched: bool,
    /// Set once we have asked for the task to be killed, with the reason.
    stopped: Option<Stop>,
    output: Vec<tokio::task::JoinHandle<()>>,
    /// Told by an output follower when our own stdout or stderr is closed.
    output_closed: (tokio::sync::mpsc::Sender<()>, tokio::sync::mpsc::Receiver<()>),
}

/// Why `agora run` stops its task early.
#[derive(Clone, Copy)]
enum Stop {
    Signal,
    OutputClosed,
}

impl Runner {
    fn new(client: Client, framework_id: FrameworkId, args: RunArgs) -> Runner {
        let wanted = Resources { cpus: args.cpus, mem: args.mem, disk: args.disk, ..Default::default() };
        Runner {
            client,
            framework_id,
            task_id: TaskId::from(format!("run-{}", &agora_api::TaskId::random().as_str()[..8]).as_str()),
            args,
            wanted,
            launched: false,
            stopped: None,
            output: Vec::new(),
            output_closed: tokio::sync::mpsc::channel(2),
        }
    }

    /// Asks for the task to be killed, once; a second request leaves at once.
    async fn stop(&mut self, why: Stop) -> anyhow::Result<Option<ExitCode>> {
        if self.stopped.is_some() || !self.launched {
            if matches!(why, Stop::Signal) {
                eprintln!("interrupted");
            }
            return Ok(Some(ExitCode::from(exit_code_for_stop(why))));
        }
        self.stopped = Some(why);
        if matches!(why, Stop::Signal) {
            eprintln!("killing task {} (interrupt again to leave without waiting)", self.task_id);
        }
        self.kill_task().await?;
        Ok(None)
    }

    async fn kill_task(&self) -> Result<(), ClientError> {
        let kill = Kill { grace_period_secs: self.args.kill_grace };
        self.client.kill_task(&self.framework_id, &self.task_id, &kill).await
    }

    /// Says why nothing fits, if no agent is big enough, once the wait has lasted a while.
    async fn explain_wait(&self) {
        let agents = self.client.list_agents().await;
        let none_big_enough = agents.is_ok_and(|list| !list.agents.iter().any(|a| self.wanted.fits_in(&a.total)));
        let (cpus, mem) = (self.wanted.cpus, self.wanted.mem);
        if none_big_enough {
            eprintln!("no agent has cpus:{cpus} mem:{mem} in all; waiting in case one joins (Ctrl-C to stop)");
        } else {
            eprintln!("waiting for an offer with cpus:{cpus} mem:{mem} ...");
        }
    }

    async fn drive(mut self, mut events: Subscription) -> anyhow::Result<ExitCode> {
        use tokio::signal::unix::{signal, SignalKind};
        // Listening from the start, not per turn of the loop: a signal that arrives while an
        // event is being handled is kept for the next turn instead of lost.
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let mut hangup = signal(SignalKind::hangup())?;
        let waiting_note = tokio::time::sleep(WAITING_NOTE_AFTER);
        tokio::pin!(waiting_note);
        let mut noted = false;
        loop {
            let stop = tokio::select! {
                // The subscription resumes a broken stream, on another replica if need be, and
                // registers us again under our id if the server lost us (it restarted).
                event = events.next() => match event {
                    Ok(event) => {
                        if let Some(code) = self.handle(event).await? {
                            return Ok(code);
                        }
                        continue;
                    }
                    Err(e) => {
                        // Best effort: do not leave the task running behind us.
                        let _ = self.kill_task().await;
                        bail!("lost the event stream and could not resume it: {e}");
                    }
                },
                _ = &mut waiting_note, if !self.launched && !noted => {
                    noted = true;
                    self.explain_wait().await;
                    continue;
                }
                _ = interrupt.recv() => Stop::Signal,
                _ = terminate.recv() => Stop::Signal,
                _ = hangup.recv() => Stop::Signal,
                _ = self.output_closed.1.recv() => Stop::OutputClosed,
            };
            if let Some(code) = self.stop(stop).await? {
                return Ok(code);
            }
        }
    }

    /// Handles one event; returns the exit code once the task has ended.
    async fn handle(&mut self, event: FrameworkEvent) -> anyhow::Result<Option<ExitCode>> {
        match event {
            FrameworkEvent::Offers(offers) => self.use_offers(offers.offers).await?,
            FrameworkEvent::Update(update) => return self.on_update(update.status).await,
            _ => {}
        }
        Ok(None)
    }

    async fn use_offers(&mut self, offers: Vec<Offer>) -> anyhow::Result<()> {
        let ports = self.args.publish.len();
        let fits = |o: &Offer| self.wanted.fits_in(&o.resources) && o.resources.port_count() >= ports as u64;
        let fitting = if self.launched { None } else { offers.iter().position(fits) };
        let mut rest: Vec<_> = offers.iter().map(|o| o.id.clone()).collect();
        if let Some(index) = fitting {
            let offer = &offers[index];
            rest.remove(index);
            let command = Command::Argv(self.args.command.clone());
            let resources = Resources { ports: first_ports(&offer.resources, ports), ..self.wanted.clone() };
            let task = TaskInfo {
                name: self.args.display_name(),
                container: self.args.container(),
                env: self.args.env.iter().cloned().collect::<BTreeMap<_, _>>(),
                kill_grace_period_secs: self.args.kill_grace,
                user: self.args.user.clone(),
                ..TaskInfo::new(self.task_id.as_str(), offer.agent_id.clone(), resources, command)
            };
            let accept = Accept {
                offer_ids: vec![offer.id.clone()],
                operations: vec![Operation::Launch { tasks: vec![task] }],
                filters: Filters::default(),
            };
            self.client.accept(&self.framework_id, &accept).await?;
            self.launched = true;
            // One task is all this framework wants: no more offers.
            self.client.suppress(&self.framework_id, &Roles::default()).await?;
        }
        if !rest.is_empty() {
            let decline = Decline { offer_ids: rest, filters: Filters { refuse_secs: Some(1.0) } };
            if let Err(e) = self.client.decline(&self.framework_id, &decline).await {
                // An offer rescinded meanwhile is not our problem.
                if e.status() != Some(400) {
                    return Err(e.into());
                }
            }
        }
        Ok(())
    }

    async fn on_update(&mut self, status: TaskStatus) -> anyhow::Result<Option<ExitCode>> {
        if let Some(update_id) = status.update_id.clone() {
            let ack = Acknowledge { task_id: status.task_id.clone(), agent_id: status.agent_id.clone(), update_id };
            if let Err(e) = self.client.acknowledge(&self.framework_id, &ack).await {
                eprintln!("warning: acknowledging an update: {e}");
            }
        }
        if status.task_id != self.task_id {
            return Ok(None);
        }
        if self.args.verbose {
            let why = status.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
            eprintln!("[agora] task {} is {}{why}", status.task_id, status.state.as_str());
        }
        if status.state == TaskState::Running && self.output.is_empty() {
            self.follow_output();
        }
        if !status.state.is_terminal() && !matches!(status.state, TaskState::Lost | TaskState::Unreachable) {
            return Ok(None);
        }
        if status.state.is_terminal() {
            // The output followers end by themselves once the task is over and its logs are read.
            if self.output.is_empty() {
                self.follow_output();
            }
            // They have a while to copy what is left; if the server is gone, they stop there.
            let until = tokio::time::Instant::now() + Duration::from_secs(5);
            for follower in self.output.drain(..) {
                let abort = follower.abort_handle();
                if tokio::time::timeout_at(until, follower).await.is_err() {
                    abort.abort();
                }
            }
        }
        Ok(Some(exit_code(&status, self.stopped)))
    }

    /// Streams the task's stdout and stderr to ours.
    fn follow_output(&mut self) {
        for stream in [LogStream::Stdout, LogStream::Stderr] {
            let (client, task) = (self.client.clone(), self.task_id.clone());
            let query =
                LogQuery { framework_id: Some(self.framework_id.clone()), stream: Some(stream), ..LogQuery::default() };
            let closed = self.output_closed.0.clone();
            self.output.push(tokio::spawn(async move {
                match copy_log(&client, &task, query, stream == LogStream::Stdout).await {
                    Ok(Copied::All) => {}
                    Ok(Copied::OutputClosed) => {
                        let _ = closed.try_send(());
                    }
                    Err(e) => eprintln!("warning: reading the task's {}: {e}", stream.as_str()),
                }
            }));
        }
    }
}

/// The first `n` ports of `offered`, as ranges.
fn first_ports(offered: &Resources, n: usize) -> Vec<[u16; 2]> {
    offered.ports.iter().flat_map(|&[low, high]| low..=high).take(n).map(|p| [p, p]).collect()
}

/// The most characters of a command that name its framework and task.
const NAME_CHARS: usize = 64;

/// A name for a command line: its words on one line, cut to [`NAME_CHARS`] characters. Names
/// are for people reading lists, and the server refuses long ones or ones with control
/// characters, which a whole script given to `sh -c` often has.
fn short_name(command: &[String]) -> String {
    let line = command.join(" ");
    let mut words = line.split(|c: char| c.is_whitespace() || c.is_control()).filter(|w| !w.is_empty());
    let mut name = words.next().unwrap_or("command").to_string();
    for word in words {
        name.push(' ');
        name.push_str(word);
    }
    if name.chars().count() > NAME_CHARS {
        name = name.chars().take(NAME_CHARS - 1).collect::<String>().trim_end().to_string() + "…";
    }
    name
}

/// Exit codes as a shell gives them: 130 after an interrupt, 141 after a closed pipe.
fn exit_code_for_stop(why: Stop) -> u8 {
    match why {
        Stop::Signal => 130,
        Stop::OutputClosed => 141,
    }
}

fn exit_code(status: &TaskStatus, stopped: Option<Stop>) -> ExitCode {
    let launch_failed = status.reason.as_deref() == Some(agora_api::types::reason::LAUNCH_FAILED);
    let code: u8 = match (status.state, status.exit_code) {
        (TaskState::Finished, _) => 0,
        (_, Some(code)) => u8::try_from(code).unwrap_or(1),
        (TaskState::Killed, None) if stopped.is_some() => stopped.map_or(1, exit_code_for_stop),
        // As a shell: 127 for a command not found, 126 for one that cannot run.
        (TaskState::Failed, None) if launch_failed => {
            let why = status.message.clone().unwrap_or_default();
            eprintln!("agora run: {why}");
            if why.contains("No such file") || why.contains("not found") {
                127
            } else {
                126
            }
        }
        _ => {
            let why = status.message.clone().or(status.reason.clone()).unwrap_or_default();
            eprintln!("task {} ended {}: {why}", status.task_id, status.state.as_str());
            1
        }
    };
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_script_gets_a_short_name_on_one_line() {
        let script = format!("set -e\nfor i in $(seq 100); do\n\techo {}\ndone", "x".repeat(5000));
        let name = short_name(&["sh".to_string(), "-c".to_string(), script]);
        assert_eq!(name.chars().count(), NAME_CHARS);
        assert!(name.starts_with("sh -c set -e for i in $(seq 100); do echo xxx"), "{name}");
        assert!(name.ends_with('…') && !name.chars().any(char::is_control), "{name}");
        assert!(format!("agora-run:{name}").len() <= 255);
        assert_eq!(short_name(&["echo".to_string(), "hi".to_string()]), "echo hi");
    }
}
