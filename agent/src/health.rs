//! Health checks the agent runs against its tasks, as Mesos-native checks do: a command in the
//! task's sandbox, an HTTP GET or a TCP connect. [`Tracker`] holds the rules (grace period,
//! consecutive failures) and is pure; [`run`] performs the checks and reports each result.

use crate::cgroups::TaskCgroup;
use crate::process::{self, Ended, ProcessSpec};
use crate::updates::TaskKey;
use agora_api::{Check, HealthCheck, HttpProbe, TcpProbe};
use std::time::Duration;
use std::time::Instant;
use tokio::sync::{mpsc, watch};

/// What one check result means for the task.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// The task's health changed to this: tell the framework.
    pub report: Option<bool>,
    /// Too many failures in a row: kill the task.
    pub kill: bool,
}

/// A task's health as its checks come in.
#[derive(Debug)]
pub struct Tracker {
    grace_until: Instant,
    failures_allowed: u32,
    failures: u32,
    passed_once: bool,
    healthy: Option<bool>,
}

impl Tracker {
    pub fn new(check: &HealthCheck, launched: Instant) -> Tracker {
        Tracker {
            grace_until: launched + secs(check.grace_period_secs),
            failures_allowed: check.consecutive_failures.max(1),
            failures: 0,
            passed_once: false,
            healthy: None,
        }
    }

    pub fn record(&mut self, passed: bool, now: Instant) -> Verdict {
        if passed {
            self.failures = 0;
            self.passed_once = true;
            return self.set(true);
        }
        // A task still starting may fail its checks: until one passes, the grace period
        // forgives them.
        if !self.passed_once && now < self.grace_until {
            return Verdict::default();
        }
        self.failures += 1;
        let verdict = self.set(false);
        Verdict { kill: self.failures >= self.failures_allowed, ..verdict }
    }

    fn set(&mut self, healthy: bool) -> Verdict {
        let changed = self.healthy != Some(healthy);
        self.healthy = Some(healthy);
        Verdict { report: changed.then_some(healthy), kill: false }
    }
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or(Duration::ZERO)
}

/// Runs `check` against a task until `running` says it ended (its sender is dropped),
/// sending each result to `results`.
pub async fn run(
    key: TaskKey,
    check: HealthCheck,
    command: Option<ProcessSpec>,
    docker: Option<(crate::docker::DockerRuntime, String)>,
    group: Option<TaskCgroup>,
    running: watch::Receiver<Option<Duration>>,
    results: mpsc::Sender<(TaskKey, bool)>,
) {
    // The task's own port, answered as is: a redirect elsewhere is not followed (a task must
    // not make the agent fetch other hosts), and counts as healthy as Mesos counts it.
    let http = reqwest::Client::builder()
        .timeout(secs(check.timeout_secs))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .ok();
    tokio::time::sleep(secs(check.delay_secs)).await;
    loop {
        if running.has_changed().is_err() {
            return;
        }
        let passed = match &check.check {
            // A docker container's checks run in it through the daemon.
            Check::Command(line) => match (&docker, &command) {
                (Some((runtime, name)), _) => runtime.exec_passes(name, line, secs(check.timeout_secs)).await,
                (None, Some(spec)) => command_passes(spec, group.as_ref(), secs(check.timeout_secs)).await,
                (None, None) => false,
            },
            Check::Http(HttpProbe { port, path }) => match &http {
                Some(client) => client
                    .get(format!("http://127.0.0.1:{port}{path}"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success() || r.status().is_redirection()),
                None => false,
            },
            Check::Tcp(TcpProbe { port }) => {
                let connect = tokio::net::TcpStream::connect(("127.0.0.1", *port));
                matches!(tokio::time::timeout(secs(check.timeout_secs), connect).await, Ok(Ok(_)))
            }
        };
        if running.has_changed().is_err() || results.send((key.clone(), passed)).await.is_err() {
            return;
        }
        tokio::time::sleep(secs(check.interval_secs)).await;
    }
}

/// Runs a check command in the task's cgroup (its limits cover the check, as in Mesos),
/// killing it (and what it started) at the timeout.
async fn command_passes(spec: &ProcessSpec, group: Option<&TaskCgroup>, timeout: Duration) -> bool {
    let started = match group {
        Some(group) => process::spawn_joining(spec, group),
        None => process::spawn(spec, None, None),
    };
    let Ok(process) = started else { return false };
    let (kill, kills) = watch::channel(None);
    let supervised = process.supervise(kills);
    tokio::pin!(supervised);
    let exit = tokio::select! {
        exit = &mut supervised => exit,
        () = tokio::time::sleep(timeout) => {
            kill.send_replace(Some(Duration::ZERO));
            let _ = (&mut supervised).await;
            return false;
        }
    };
    exit.ended == Ended::Code(0) && !exit.killed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(grace: f64, failures: u32) -> HealthCheck {
        HealthCheck {
            check: Check::Tcp(TcpProbe { port: 1 }),
            delay_secs: 0.0,
            interval_secs: 1.0,
            timeout_secs: 1.0,
            grace_period_secs: grace,
            consecutive_failures: failures,
        }
    }

    #[test]
    fn failures_in_the_grace_period_are_forgiven_until_a_check_passes() {
        let start = Instant::now();
        let mut t = Tracker::new(&check(10.0, 2), start);
        let at = |s: u64| start + Duration::from_secs(s);
        assert_eq!(t.record(false, at(1)), Verdict::default());
        assert_eq!(t.record(false, at(2)), Verdict::default());
        assert_eq!(t.record(true, at(3)), Verdict { report: Some(true), kill: false });
        assert_eq!(t.record(true, at(4)), Verdict::default(), "no change, no report");
        // Passed once: the grace period no longer forgives.
        assert_eq!(t.record(false, at(5)), Verdict { report: Some(false), kill: false });
        assert_eq!(t.record(false, at(6)), Verdict { report: None, kill: true });
    }

    #[test]
    fn after_the_grace_period_failures_count_and_a_pass_resets_them() {
        let start = Instant::now();
        let mut t = Tracker::new(&check(0.0, 3), start);
        let now = start + Duration::from_secs(1);
        assert_eq!(t.record(false, now), Verdict { report: Some(false), kill: false });
        assert_eq!(t.record(false, now), Verdict::default());
        assert_eq!(t.record(true, now), Verdict { report: Some(true), kill: false });
        assert!(!t.record(false, now).kill);
        assert!(!t.record(false, now).kill);
        assert!(t.record(false, now).kill);
    }
}
