//! What a run measures, started by the run itself in a temporary directory: a private
//! `redis-server` (AOF fsynced every second, as in production) and `agora server` replicas on
//! it, or one `agora server` on the embedded store. Also what is read off those processes:
//! CPU time and peak memory from `/proc`, Redis's command counts, the servers' metrics and logs.
//! Dropping a [`Cluster`] kills every process it started.

use agora_api::operator::ClusterView;
use agora_client::Client;
use agora_server::store::redis_server::RedisServer;
use anyhow::{anyhow, bail, Context as _};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};

/// How long a server may take to print where it listens, and the replicas to agree on a leader.
const START_DEADLINE: Duration = Duration::from_secs(30);
/// How long a server may take to exit after SIGTERM before it is killed.
const STOP_DEADLINE: Duration = Duration::from_secs(5);
const LISTENING: &str = "Agora server listening at ";
/// Log lines kept as samples in the report.
const LOG_SAMPLES: usize = 5;

/// Where a run keeps its state: `embedded`; `redis`, a private `redis-server` the run starts;
/// or `redis://HOST:PORT[/DB]`, a Redis already running, in which the run writes under a prefix
/// of its own (`bench-MILLIS`) and leaves its keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreKind {
    Embedded,
    Redis,
    RedisAt(RedisAddress),
}

/// A running Redis: `redis://HOST:PORT[/DB]`, without a password (the bench reads its
/// statistics over a plain connection).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisAddress {
    pub host: String,
    pub port: u16,
    pub db: u32,
}

impl std::str::FromStr for StoreKind {
    type Err = String;

    fn from_str(text: &str) -> Result<StoreKind, String> {
        let bad = || format!("`{text}`: expected embedded, redis, or redis://HOST:PORT[/DB] (no password)");
        match text {
            "embedded" => return Ok(StoreKind::Embedded),
            "redis" => return Ok(StoreKind::Redis),
            _ => {}
        }
        let rest = text.strip_prefix("redis://").ok_or_else(bad)?;
        if rest.contains('@') || rest.contains('?') {
            return Err(bad());
        }
        let (authority, db) = rest.split_once('/').unwrap_or((rest, "0"));
        let (host, port) = authority.rsplit_once(':').ok_or_else(bad)?;
        let db = if db.is_empty() { 0 } else { db.parse().map_err(|_| bad())? };
        if host.is_empty() {
            return Err(bad());
        }
        Ok(StoreKind::RedisAt(RedisAddress { host: host.to_string(), port: port.parse().map_err(|_| bad())?, db }))
    }
}

impl StoreKind {
    pub fn name(&self) -> String {
        match self {
            StoreKind::Embedded => "embedded".into(),
            StoreKind::Redis => "redis".into(),
            StoreKind::RedisAt(a) => format!("redis://{}:{}/{}", a.host, a.port, a.db),
        }
    }
}

/// The Redis a run uses: one it started, or one that was running.
enum RedisTarget {
    Private(RedisServer),
    External(RedisAddress),
}

impl RedisTarget {
    fn url(&self) -> String {
        match self {
            RedisTarget::Private(server) => server.url(),
            RedisTarget::External(a) => format!("redis://{}:{}/{}", a.host, a.port, a.db),
        }
    }

    fn host_port(&self) -> (String, u16) {
        match self {
            RedisTarget::Private(server) => ("127.0.0.1".into(), server.port()),
            RedisTarget::External(a) => (a.host.clone(), a.port),
        }
    }

    /// Its process id, where this machine can see its CPU time: one the run started, or one
    /// on loopback (Redis tells its `process_id`).
    async fn pid(&self) -> Option<u32> {
        match self {
            RedisTarget::Private(server) => server.pid(),
            RedisTarget::External(a) if a.host == "127.0.0.1" || a.host == "localhost" => {
                let info = redis_info(&a.host, a.port, "server").await.ok()?;
                info.lines().find_map(|l| l.trim().strip_prefix("process_id:")?.parse().ok())
            }
            RedisTarget::External(_) => None,
        }
    }
}

struct Server {
    child: Option<Child>,
    url: String,
    stderr: PathBuf,
}

/// Tokens minted for the run, one per kind: every simulated agent shares one, as does every
/// simulated framework.
pub struct Tokens {
    pub operator: String,
    pub agent: String,
    pub framework: String,
}

pub struct Cluster {
    dir: tempfile::TempDir,
    agora: PathBuf,
    redis: Option<RedisTarget>,
    /// The process id of Redis, where its CPU time can be read.
    redis_pid: Option<u32>,
    /// The key prefix the servers use in Redis.
    prefix: String,
    servers: Vec<Server>,
    pub tokens: Tokens,
}

/// A process's CPU time and peak resident memory.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcSample {
    pub cpu_secs: f64,
    pub peak_rss_bytes: u64,
    /// Resident memory now.
    pub rss_bytes: u64,
}

/// The script `redis-benchmark` runs for the baseline: an update and an append, the shape of
/// a small commit. The stream is capped so that the run does not grow Redis.
pub const BASELINE_SCRIPT: &str =
    "redis.call('HINCRBY', KEYS[1], 'n', 1) redis.call('XADD', KEYS[2], 'MAXLEN', '~', '1000', '*', 'f', 'v') return 1";

/// What `redis-benchmark` measured for [`BASELINE_SCRIPT`].
#[derive(Clone, Debug, serde::Serialize)]
pub struct RedisBaseline {
    pub script: &'static str,
    pub clients: u32,
    pub requests: u64,
    pub scripts_per_sec: f64,
}

/// Redis's `INFO commandstats`: calls by command name.
#[derive(Clone, Debug, Default)]
pub struct CommandStats(pub BTreeMap<String, u64>);

impl Cluster {
    /// Starts the store and `replicas` servers one after another (the first creates the key
    /// material the others read), mints tokens, and waits until every replica sees a leader.
    pub async fn start(agora: &Path, store: &StoreKind, replicas: usize) -> anyhow::Result<Cluster> {
        if replicas == 0 {
            bail!("--replicas must be at least 1");
        }
        if *store == StoreKind::Embedded && replicas > 1 {
            bail!("--replicas > 1 needs --store redis: the embedded store serves one server");
        }
        if !agora.is_file() {
            bail!(
                "no agora binary at {} (build it with `cargo build --release -p agora`, or pass --agora)",
                agora.display()
            );
        }
        let dir =
            tempfile::Builder::new().prefix("agora-bench-").tempdir().context("creating a temporary directory")?;
        let (redis, prefix) = match store {
            StoreKind::Redis => (Some(RedisTarget::Private(start_redis(dir.path())?)), "bench".to_string()),
            StoreKind::RedisAt(address) => {
                let millis = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis();
                (Some(RedisTarget::External(address.clone())), format!("bench-{millis}"))
            }
            StoreKind::Embedded => (None, String::new()),
        };
        let redis_pid = match &redis {
            Some(target) => target.pid().await,
            None => None,
        };
        let empty = Tokens { operator: String::new(), agent: String::new(), framework: String::new() };
        let mut cluster =
            Cluster { dir, agora: agora.to_path_buf(), redis, redis_pid, prefix, servers: Vec::new(), tokens: empty };
        let store_url = cluster.store_url();
        for index in 0..replicas {
            let server = cluster.start_server(index, &store_url).await?;
            cluster.servers.push(server);
        }
        cluster.tokens = Tokens {
            operator: cluster.issue_token("operator", "bench-operator")?,
            agent: cluster.issue_token("agent", "bench-agent")?,
            framework: cluster.issue_token("framework", "bench-framework")?,
        };
        cluster.wait_for_leader().await?;
        Ok(cluster)
    }

    fn store_url(&self) -> String {
        match &self.redis {
            Some(redis) => format!("{}?prefix={}", redis.url(), self.prefix),
            None => format!("file:{}", self.dir.path().join("state").display()),
        }
    }

    async fn start_server(&self, index: usize, store: &str) -> anyhow::Result<Server> {
        let stdout = self.dir.path().join(format!("server{index}.stdout"));
        let stderr = self.dir.path().join(format!("server{index}.stderr"));
        let child = Command::new(&self.agora)
            .args(["server", "--listen", "127.0.0.1:0", "--heartbeat-interval", "5", "--agent-timeout", "30"])
            // Every simulated agent connects from 127.0.0.1.
            .args(["--max-connections-per-address", "0"])
            .arg("--data-dir")
            .arg(self.dir.path())
            .args(["--store", store])
            .env("AGORA_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout)?)
            .stderr(std::fs::File::create(&stderr)?)
            .spawn()
            .with_context(|| format!("starting {} server", self.agora.display()))?;
        let mut server = Server { child: Some(child), url: String::new(), stderr };
        server.url = wait_for_url(&mut server, &stdout).await?;
        Ok(server)
    }

    fn issue_token(&self, kind: &str, name: &str) -> anyhow::Result<String> {
        let out = Command::new(&self.agora)
            .args(["token", "issue", "--kind", kind, "--name", name, "--data-dir"])
            .arg(self.dir.path())
            .output()
            .context("running agora token issue")?;
        if !out.status.success() {
            bail!("agora token issue failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(String::from_utf8(out.stdout).context("a token is text")?.trim().to_string())
    }

    /// Waits until every replica answers `/v1/cluster` naming the same leader: offers flow
    /// only once one holds the allocator lease.
    async fn wait_for_leader(&self) -> anyhow::Result<()> {
        let until = Instant::now() + START_DEADLINE;
        loop {
            let mut leaders = Vec::new();
            for url in self.urls() {
                let view: Option<ClusterView> = Client::new(&url, &self.tokens.operator)?.cluster().await.ok();
                leaders.push(view.map(|v| v.leader).unwrap_or_default());
            }
            if leaders.iter().all(|l| !l.is_empty() && *l == leaders[0]) {
                return Ok(());
            }
            if Instant::now() > until {
                bail!("the servers did not agree on a leader within {START_DEADLINE:?}: {leaders:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn urls(&self) -> Vec<String> {
        self.servers.iter().map(|s| s.url.clone()).collect()
    }

    /// Every replica's URL, comma-separated, starting at replica `index % replicas`: clients
    /// numbered in turn spread over the replicas, and each fails over to the others.
    pub fn urls_from(&self, index: usize) -> String {
        rotated(&self.urls(), index)
    }

    /// One client per replica with the agent token, each trying its replica first: agents
    /// spread over them share their connection pools.
    pub fn agent_clients(&self) -> anyhow::Result<Vec<agora_client::Client>> {
        (0..self.servers.len())
            .map(|i| Ok(agora_client::Client::new(&self.urls_from(i), &self.tokens.agent)?))
            .collect()
    }

    /// Each server's CPU time and peak memory now; zero for one that has exited.
    pub fn server_samples(&self) -> Vec<ProcSample> {
        self.servers
            .iter()
            .map(|s| s.child.as_ref().and_then(|c| proc_sample(c.id()).ok()).unwrap_or_default())
            .collect()
    }

    pub fn redis_sample(&self) -> Option<ProcSample> {
        let pid = self.redis_pid?;
        proc_sample(pid).ok()
    }

    /// Redis's command counts now; `None` on the embedded store.
    pub async fn redis_commands(&self) -> anyhow::Result<Option<CommandStats>> {
        match &self.redis {
            Some(redis) => {
                let (host, port) = redis.host_port();
                Ok(Some(parse_command_stats(&redis_info(&host, port, "commandstats").await?)))
            }
            None => Ok(None),
        }
    }

    /// Runs `redis-benchmark` against this run's Redis: `requests` calls of a small two-key Lua
    /// script ([`BASELINE_SCRIPT`]) from 50 connections. The physical ceiling a launch's store
    /// work is compared with. Call it once the launches have stopped, so that they do not share
    /// the cores.
    pub async fn redis_baseline(&self, requests: u64) -> anyhow::Result<RedisBaseline> {
        let redis = self.redis.as_ref().ok_or_else(|| anyhow!("the Redis baseline needs --store redis"))?;
        let (host, port) = redis.host_port();
        let (hash, stream) = (format!("{}:baseline:h", self.prefix), format!("{}:baseline:s", self.prefix));
        let output = tokio::process::Command::new("redis-benchmark")
            .args(["-h", &host, "-p", &port.to_string(), "-c", "50", "-n", &requests.to_string()])
            .args(["--csv", "EVAL", BASELINE_SCRIPT, "2", &hash, &stream])
            .stdin(Stdio::null())
            .output()
            .await
            .context("running redis-benchmark (Debian: apt-get install redis-tools)")?;
        if !output.status.success() {
            bail!("redis-benchmark failed: {}", String::from_utf8_lossy(&output.stderr).trim());
        }
        let scripts_per_sec = parse_benchmark_csv(&String::from_utf8_lossy(&output.stdout))?;
        Ok(RedisBaseline { script: BASELINE_SCRIPT, clients: 50, requests, scripts_per_sec })
    }

    /// The `store_conflicts` counter summed over the replicas that answer.
    pub async fn store_conflicts(&self) -> u64 {
        let mut total = 0;
        for url in self.urls() {
            let Ok(client) = Client::new(&url, &self.tokens.operator) else { continue };
            if let Ok(text) = client.metrics().await {
                total += counter(&text, "agora_store_conflicts");
            }
        }
        total
    }

    /// How many warning and error lines the servers logged, with a few of them.
    pub fn log_warnings(&self) -> (usize, Vec<String>) {
        let mut count = 0;
        let mut samples = Vec::new();
        for server in &self.servers {
            let text = std::fs::read_to_string(&server.stderr).unwrap_or_default();
            for line in text.lines().filter(|l| l.contains("WARN") || l.contains("ERROR")) {
                count += 1;
                if samples.len() < LOG_SAMPLES {
                    samples.push(line.chars().take(400).collect());
                }
            }
        }
        (count, samples)
    }

    /// Stops the servers (SIGTERM, then SIGKILL after a while) and Redis.
    pub fn stop(&mut self) {
        for server in &mut self.servers {
            if let Some(mut child) = server.child.take() {
                stop_child(&mut child);
            }
        }
        // A Redis that was running before the run is left running.
        if let Some(RedisTarget::Private(mut redis)) = self.redis.take() {
            let _ = redis.kill();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // On error paths too: no server outlives the run.
        for server in &mut self.servers {
            if let Some(mut child) = server.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// `urls` joined with commas, starting at `urls[index % len]`.
fn rotated(urls: &[String], index: usize) -> String {
    let n = urls.len().max(1);
    (0..urls.len()).map(|i| urls[(index + i) % n].as_str()).collect::<Vec<_>>().join(",")
}

fn start_redis(dir: &Path) -> anyhow::Result<RedisServer> {
    let redis_dir = dir.join("redis");
    std::fs::create_dir_all(&redis_dir)?;
    RedisServer::start(&redis_dir, true).context("starting redis-server")
}

/// Waits for the server's `Agora server listening at URL` line; fails if it exits first.
async fn wait_for_url(server: &mut Server, stdout: &Path) -> anyhow::Result<String> {
    let until = Instant::now() + START_DEADLINE;
    loop {
        let text = std::fs::read_to_string(stdout).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.starts_with(LISTENING)) {
            return Ok(line.trim_start_matches(LISTENING).trim().to_string());
        }
        if let Some(status) = server.child.as_mut().map(Child::try_wait).transpose()?.flatten() {
            let log = std::fs::read_to_string(&server.stderr).unwrap_or_default();
            bail!("agora server exited at start ({status}): {}", log.trim());
        }
        if Instant::now() > until {
            bail!("agora server did not say where it listens within {START_DEADLINE:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn stop_child(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
    }
    let until = Instant::now() + STOP_DEADLINE;
    while Instant::now() < until {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Clock ticks per second, the unit of the CPU times in `/proc/PID/stat`.
#[allow(unsafe_code)]
fn clock_ticks() -> f64 {
    // SAFETY: sysconf only reads a configuration value; it has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// The CPU time (user and system) and peak resident memory of process `pid`.
pub fn proc_sample(pid: u32) -> anyhow::Result<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    Ok(ProcSample {
        cpu_secs: cpu_ticks(&stat)? as f64 / clock_ticks(),
        peak_rss_bytes: status_kib(&status, "VmHWM:")? * 1024,
        rss_bytes: status_kib(&status, "VmRSS:")? * 1024,
    })
}

/// utime + stime from the text of `/proc/PID/stat`. The command name may hold spaces and
/// parentheses, so fields are counted from the last `)`: utime and stime are fields 14 and 15.
fn cpu_ticks(stat: &str) -> anyhow::Result<u64> {
    let rest = stat.rsplit_once(')').map(|(_, r)| r).ok_or_else(|| anyhow!("malformed /proc stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| -> anyhow::Result<u64> {
        fields.get(i).ok_or_else(|| anyhow!("short /proc stat"))?.parse::<u64>().context("a /proc stat field")
    };
    // `rest` starts at field 3 (the state).
    Ok(field(11)? + field(12)?)
}

/// A `NAME: N kB` field of `/proc/PID/status`, in KiB.
fn status_kib(status: &str, name: &str) -> anyhow::Result<u64> {
    let line = status.lines().find(|l| l.starts_with(name)).ok_or_else(|| anyhow!("no {name}"))?;
    Ok(line.split_whitespace().nth(1).ok_or_else(|| anyhow!("malformed {name}"))?.parse::<u64>()?)
}

/// Sends `INFO SECTION` over a plain RESP connection and reads the bulk string answer.
async fn redis_info(host: &str, port: u16, section: &str) -> anyhow::Result<String> {
    let mut stream = tokio::net::TcpStream::connect((host, port)).await.context("connecting to redis")?;
    let request = format!("*2\r\n$4\r\nINFO\r\n${}\r\n{section}\r\n", section.len());
    stream.write_all(request.as_bytes()).await?;
    let mut reader = BufReader::new(stream);
    let mut header = String::new();
    reader.read_line(&mut header).await?;
    let len: usize = header
        .trim()
        .strip_prefix('$')
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| anyhow!("unexpected answer to INFO: {}", header.trim()))?;
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).await?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// Reads lines such as `cmdstat_evalsha:calls=12,usec=...` into calls by command name.
fn parse_command_stats(text: &str) -> CommandStats {
    let mut calls = BTreeMap::new();
    for line in text.lines() {
        let Some((name, fields)) = line.trim().strip_prefix("cmdstat_").and_then(|l| l.split_once(':')) else {
            continue;
        };
        let count = fields.split(',').find_map(|f| f.strip_prefix("calls=")).and_then(|n| n.parse::<u64>().ok());
        if let Some(count) = count {
            calls.insert(name.to_string(), count);
        }
    }
    CommandStats(calls)
}

impl CommandStats {
    /// Calls made between `before` and `self`, by command, leaving out INFO (the bench's own).
    pub fn since(&self, before: &CommandStats) -> BTreeMap<String, u64> {
        self.0
            .iter()
            .filter(|(name, _)| name.as_str() != "info")
            .map(|(name, n)| (name.clone(), n.saturating_sub(before.0.get(name).copied().unwrap_or(0))))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

/// The requests per second in `redis-benchmark --csv` output: a header line, then one row
/// per test whose second column is the rate.
fn parse_benchmark_csv(text: &str) -> anyhow::Result<f64> {
    let row = text.lines().nth(1).ok_or_else(|| anyhow!("redis-benchmark printed no result: {text:?}"))?;
    // The first column is the command, quoted, and may hold commas: read from the right.
    let columns: Vec<&str> = row.rsplitn(8, ',').collect();
    let rps = columns.get(6).ok_or_else(|| anyhow!("unexpected redis-benchmark row: {row}"))?;
    rps.trim_matches('"').parse::<f64>().with_context(|| format!("unexpected redis-benchmark rate in {row}"))
}

/// The value of a Prometheus counter (its `_total` sample) in a text exposition; 0 if absent.
fn counter(text: &str, name: &str) -> u64 {
    let total = format!("{name}_total");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(' '))
        .filter(|(metric, _)| *metric == total || *metric == name)
        .filter_map(|(_, value)| value.trim().parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_counted_after_the_command_name() {
        let stat = "42 (agora (x) y) S 1 42 42 0 -1 4194560 100 0 0 0 250 70 0 0 20 0 9 0 1 1000 50";
        assert_eq!(cpu_ticks(stat).expect("parses"), 320);
        assert!(cpu_ticks("garbage").is_err());
    }

    #[test]
    fn peak_rss_is_read_in_bytes() {
        let status = "Name:\tagora\nVmHWM:\t  2048 kB\nVmRSS:\t1 kB\n";
        assert_eq!(status_kib(status, "VmHWM:").expect("parses"), 2048);
        assert_eq!(status_kib(status, "VmRSS:").expect("parses"), 1);
    }

    #[test]
    fn command_stats_are_parsed_and_subtracted() {
        let before =
            parse_command_stats("# Commandstats\r\ncmdstat_evalsha:calls=10,usec=5\r\ncmdstat_info:calls=1\r\n");
        let after = parse_command_stats(
            "# Commandstats\r\ncmdstat_evalsha:calls=25,usec=9,usec_per_call=1.0\r\ncmdstat_get:calls=3\r\ncmdstat_info:calls=2\r\n",
        );
        let delta = after.since(&before);
        assert_eq!(delta.get("evalsha"), Some(&15));
        assert_eq!(delta.get("get"), Some(&3));
        assert_eq!(delta.get("info"), None);
    }

    #[test]
    fn stores_are_named_or_addressed() {
        assert_eq!("embedded".parse::<StoreKind>(), Ok(StoreKind::Embedded));
        assert_eq!("redis".parse::<StoreKind>(), Ok(StoreKind::Redis));
        let at = |host: &str, port, db| StoreKind::RedisAt(RedisAddress { host: host.into(), port, db });
        assert_eq!("redis://127.0.0.1:6379".parse::<StoreKind>(), Ok(at("127.0.0.1", 6379, 0)));
        assert_eq!("redis://localhost:7000/2".parse::<StoreKind>(), Ok(at("localhost", 7000, 2)));
        for bad in
            ["", "file:x", "redis://", "redis://host", "redis://:1", "redis://h:x", "redis://u:p@h:1", "redis://h:1/z"]
        {
            assert!(bad.parse::<StoreKind>().is_err(), "{bad} is refused");
        }
    }

    #[test]
    fn benchmark_rates_are_read_from_the_csv() {
        let csv = "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"\n\
                   \"EVAL redis.call('X', 'a', 1) 2 k s\",\"95057.03\",\"0.328\",\"0.088\",\"0.279\",\"0.607\",\"0.855\",\"2.111\"\n";
        assert_eq!(parse_benchmark_csv(csv).expect("the rate"), 95057.03);
        assert!(parse_benchmark_csv("\"test\",\"rps\"\n").is_err());
        assert!(parse_benchmark_csv("").is_err());
    }

    #[test]
    fn counters_are_read_from_the_exposition() {
        let text =
            "# HELP agora_store_conflicts x\n# TYPE agora_store_conflicts counter\nagora_store_conflicts_total 7\n";
        assert_eq!(counter(text, "agora_store_conflicts"), 7);
        assert_eq!(counter(text, "agora_other"), 0);
    }

    #[test]
    fn clients_start_at_different_replicas() {
        let urls: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        assert_eq!(rotated(&urls, 1), "b,c,a");
        assert_eq!(rotated(&urls, 3), "a,b,c");
        assert_eq!(rotated(&[], 2), "");
    }
}
