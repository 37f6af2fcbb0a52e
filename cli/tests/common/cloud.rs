//! A cloud for the autoscaler's end-to-end tests: moto's EC2 server, an HTTP proxy in front of
//! it that injects faults into `RunInstances` and records each one, and a player that starts a
//! real `agora agent` for each instance moto runs (as the launch template's user data would on
//! EC2) and stops it when the instance is terminated. The autoscaler talks to the proxy; the
//! harness talks to moto directly.
//!
//! Where moto differs from EC2 in what the autoscaler relies on, the proxy plays EC2: it
//! launches `MaxCount` instances (moto launches `MinCount`; EC2 launches up to `MaxCount` when
//! it has the capacity) and answers a repeated `ClientToken` with the first launch's answer
//! (moto launches again; EC2 is idempotent on the token).
//!
//! The harness speaks EC2's query API itself (a form POST, an XML answer), with reqwest: the
//! AWS SDK would add minutes to the build of every test binary of this crate.

use super::*;
use agora_api::operator::AutoscalerEvent;
use bytes::Bytes;
use http_body_util::BodyExt as _;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The cluster name the tests' autoscalers serve: the value of their `agora:autoscaler` tag.
pub const CLUSTER: &str = "test";
pub const REGION: &str = "us-east-1";
pub const POOL: &str = "general";
pub const INSTANCE_TYPE: &str = "m5.large";
/// The pool's `mem_reserve_mb`: what an agent keeps for the system, as `agora agent` does.
const MEM_RESERVE_MB: f64 = 1024.0;
const DISK_MB: f64 = 15360.0;

/// What the proxy does to a `RunInstances` request instead of passing it on.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// HTTP 500 `InsufficientInstanceCapacity`, not forwarded: nothing launched.
    Capacity,
    /// HTTP 503 `RequestLimitExceeded`, not forwarded: nothing launched.
    Throttle,
    /// Held this long, then forwarded: a slow request, which EC2 acts on late.
    Stall(Duration),
    /// Forwarded (the instances are launched), then HTTP 500 `InternalError` to the client.
    LoseAnswer,
    /// Forwarded (the instances are launched), and moto's answer held this long before it is
    /// given: a launch in flight, for a test to act in the middle of.
    Hold(Duration),
    /// The faults of one launch's tries, in order: the first to the request it matches, the
    /// next ones to the retries of that launch (its client token), whatever other launches
    /// come in between. A retry past the last one passes.
    Tries(Vec<Fault>),
}

/// A fault waiting for the next `RunInstances` that matches it.
#[derive(Clone, Debug)]
pub struct FaultRule {
    pub fault: Fault,
    /// Only a request for this subnet (`SubnetId`), if given.
    pub subnet: Option<String>,
    /// Only a request for this instance type, if given.
    pub instance_type: Option<String>,
    /// Only a request with this client token, if given.
    pub client_token: Option<String>,
    /// Only a request for this market (`spot`; empty for on-demand), if given.
    pub market: Option<String>,
}

impl FaultRule {
    pub fn any(fault: Fault) -> FaultRule {
        FaultRule { fault, subnet: None, instance_type: None, client_token: None, market: None }
    }

    pub fn in_subnet(fault: Fault, subnet: &str) -> FaultRule {
        FaultRule { subnet: Some(subnet.to_string()), ..FaultRule::any(fault) }
    }

    fn matches(&self, request: &RunRequest) -> bool {
        self.subnet.as_ref().is_none_or(|s| s == &request.subnet)
            && self.instance_type.as_ref().is_none_or(|t| t == &request.instance_type)
            && self.client_token.as_ref().is_none_or(|t| t == &request.client_token)
            && self.market.as_ref().is_none_or(|m| m == &request.market)
    }
}

/// A `RunInstances` request the proxy saw, and what it did with it.
#[derive(Clone, Debug)]
pub struct RunRequest {
    pub client_token: String,
    pub subnet: String,
    pub instance_type: String,
    /// `spot`, or empty for on-demand (no market option).
    pub market: String,
    pub max_count: u32,
    /// The fault applied to it, if any.
    pub fault: Option<Fault>,
    /// Whether moto saw it (and so launched).
    pub forwarded: bool,
    /// Whether its token was seen before, and the first launch's answer given again (as EC2
    /// does) without asking moto.
    pub replayed: bool,
    /// What moto launched for it (empty when not forwarded).
    pub instance_ids: Vec<String>,
    /// When it came, and when moto answered it (launched) if it was forwarded.
    pub at: Instant,
    pub forwarded_at: Option<Instant>,
}

#[derive(Default)]
struct ProxyState {
    faults: Mutex<VecDeque<FaultRule>>,
    runs: Mutex<Vec<RunRequest>>,
    /// Every request's `Action`, in order.
    actions: Mutex<Vec<String>>,
    /// The first successful answer to each client token.
    answers: Mutex<HashMap<String, Bytes>>,
}

/// An instance as moto describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct Ec2Instance {
    pub id: String,
    pub state: String,
    pub instance_type: String,
    pub subnet: String,
    pub zone: String,
    pub tags: BTreeMap<String, String>,
}

impl Ec2Instance {
    pub fn live(&self) -> bool {
        self.state == "pending" || self.state == "running"
    }
}

/// What the player did: an agent started for an instance, or stopped once it was gone.
#[derive(Clone, Debug)]
pub struct AgentRecord {
    pub instance_id: String,
    pub hostname: String,
    pub started: bool,
    pub at: Instant,
}

/// The hostname the player gives the agent of an instance.
pub fn hostname_of(instance_id: &str) -> String {
    format!("ip-{instance_id}")
}

/// The instance under an agent the player started, from its hostname.
pub fn instance_of(hostname: &str) -> Option<&str> {
    hostname.strip_prefix("ip-").filter(|id| id.starts_with("i-"))
}

pub struct Cloud {
    /// moto itself, for the harness.
    pub moto_url: String,
    /// The fault-injecting proxy, for the autoscaler.
    pub proxy_url: String,
    /// A client of moto (not through the proxy).
    pub ec2: Ec2Api,
    /// Two default subnets in different zones: the pool's, in order.
    pub subnets: Vec<(String, String)>,
    pub launch_template: String,
    /// In a mutex so that a test may look whether it still runs from a shared reference.
    moto: Mutex<Child>,
    state: Arc<ProxyState>,
    proxy: tokio::task::JoinHandle<()>,
    player: Option<Player>,
    /// moto's log.
    pub dir: tempfile::TempDir,
}

impl Drop for Cloud {
    fn drop(&mut self) {
        // The agents first: they stop their tasks; then the proxy and moto.
        if let Some(player) = self.player.take() {
            player.stop();
        }
        self.proxy.abort();
        stop(self.moto.get_mut().unwrap_or_else(|e| e.into_inner()));
    }
}

/// The `moto_server` to run: `AGORA_TEST_MOTO`, else the one `.ci/moto` installs.
fn moto_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("AGORA_TEST_MOTO") {
        let path = PathBuf::from(path);
        return path.is_file().then_some(path);
    }
    let home = std::env::var_os("HOME")?;
    let path = Path::new(&home).join(".cache/agora-moto/bin/moto_server");
    path.is_file().then_some(path)
}

/// A client of EC2's query API at `endpoint` (moto), as the tests need it.
#[derive(Clone)]
pub struct Ec2Api {
    http: reqwest::Client,
    endpoint: String,
}

impl Ec2Api {
    pub fn new(endpoint: &str) -> Ec2Api {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("reqwest client");
        Ec2Api { http, endpoint: endpoint.to_string() }
    }

    /// Calls `action` with `params`; its answer's document, or why not.
    pub async fn call(&self, action: &str, params: &[(&str, &str)]) -> Result<Xml, String> {
        let mut pairs = vec![("Action".to_string(), action.to_string()), ("Version".to_string(), "2016-11-15".into())];
        pairs.extend(params.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let response = self
            .http
            .post(&self.endpoint)
            .header("content-type", "application/x-www-form-urlencoded; charset=utf-8")
            .header("x-amz-date", "20250101T000000Z")
            // moto checks no signature, but finds the service in the credential's scope.
            .header(
                "authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential=testing/20250101/{REGION}/ec2/aws4_request, \
                     SignedHeaders=host;x-amz-date, Signature=0"
                ),
            )
            .body(encode_form(&pairs))
            .send()
            .await
            .map_err(|e| format!("{action}: {e}"))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| format!("{action}: {e}"))?;
        if !status.is_success() {
            return Err(format!("{action}: {status}: {text}"));
        }
        Xml::parse(&text).map_err(|e| format!("{action}: {e}: {text}"))
    }

    /// The test cluster's instances (tagged `agora:autoscaler=test`), in every state, or only
    /// those pending or running.
    pub async fn instances(&self, live_only: bool) -> Result<Vec<Ec2Instance>, String> {
        let mut params = vec![("Filter.1.Name", "tag:agora:autoscaler"), ("Filter.1.Value.1", CLUSTER)];
        if live_only {
            params.extend([
                ("Filter.2.Name", "instance-state-name"),
                ("Filter.2.Value.1", "pending"),
                ("Filter.2.Value.2", "running"),
            ]);
        }
        let answer = self.call("DescribeInstances", &params).await?;
        let mut instances = Vec::new();
        for reservation in answer.items("reservationSet") {
            for i in reservation.items("instancesSet") {
                instances.push(Ec2Instance {
                    id: i.text(&["instanceId"]),
                    state: i.text(&["instanceState", "name"]),
                    instance_type: i.text(&["instanceType"]),
                    subnet: i.text(&["subnetId"]),
                    zone: i.text(&["placement", "availabilityZone"]),
                    tags: i.items("tagSet").iter().map(|t| (t.text(&["key"]), t.text(&["value"]))).collect(),
                });
            }
        }
        instances.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(instances)
    }

    /// The vCPUs and MiB of an instance type.
    pub async fn size_of(&self, instance_type: &str) -> Result<(f64, f64), String> {
        let answer = self.call("DescribeInstanceTypes", &[("InstanceType.1", instance_type)]).await?;
        let info = answer.items("instanceTypeSet").into_iter().next().ok_or("moto does not know the type")?;
        let vcpus: f64 = info.text(&["vCpuInfo", "defaultVCpus"]).parse().map_err(|e| format!("vCPUs: {e}"))?;
        let mem: f64 = info.text(&["memoryInfo", "sizeInMiB"]).parse().map_err(|e| format!("memory: {e}"))?;
        Ok((vcpus, mem))
    }
}

/// An XML element, enough of one to read EC2's answers: its name, text and child elements.
#[derive(Clone, Debug, Default)]
pub struct Xml {
    pub name: String,
    pub text: String,
    pub children: Vec<Xml>,
}

impl Xml {
    /// Parses a document (elements, text and the five entities; declarations, comments and
    /// attributes skipped); the root element.
    pub fn parse(text: &str) -> Result<Xml, String> {
        let mut stack = vec![Xml::default()];
        let mut rest = text;
        while !rest.is_empty() {
            let Some(open) = rest.find('<') else {
                stack.last_mut().expect("an open element").text += &unescape(rest);
                break;
            };
            stack.last_mut().expect("an open element").text += &unescape(&rest[..open]);
            rest = &rest[open..];
            if let Some(after) = rest.strip_prefix("<!--") {
                rest = after.find("-->").map(|i| &after[i + 3..]).ok_or("an unclosed comment")?;
                continue;
            }
            // The tag runs to the first '>' outside quotes.
            let mut quote = None;
            let end = rest
                .char_indices()
                .find(|&(_, c)| match quote {
                    Some(q) if c == q => {
                        quote = None;
                        false
                    }
                    Some(_) => false,
                    None if c == '"' || c == '\'' => {
                        quote = Some(c);
                        false
                    }
                    None => c == '>',
                })
                .map(|(i, _)| i)
                .ok_or("an unclosed tag")?;
            let tag = &rest[1..end];
            rest = &rest[end + 1..];
            if tag.starts_with('?') || tag.starts_with('!') {
                continue;
            }
            if let Some(name) = tag.strip_prefix('/') {
                let done = stack.pop().ok_or("a closing tag without an opening one")?;
                if done.name != name.trim() || stack.is_empty() {
                    return Err(format!("</{}> closes <{}>", name.trim(), done.name));
                }
                stack.last_mut().expect("its parent").children.push(done);
                continue;
            }
            let closed = tag.ends_with('/');
            let name = tag.trim_end_matches('/').split_whitespace().next().unwrap_or_default().to_string();
            let element = Xml { name, ..Xml::default() };
            if closed {
                stack.last_mut().expect("an open element").children.push(element);
            } else {
                stack.push(element);
            }
        }
        if stack.len() != 1 {
            return Err(format!("{} element(s) left open", stack.len() - 1));
        }
        stack.pop().and_then(|document| document.children.into_iter().next()).ok_or_else(|| "no element".into())
    }

    /// The first child element named `name`.
    pub fn child(&self, name: &str) -> Option<&Xml> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The text at a path of child elements ("" where there is none).
    pub fn text(&self, path: &[&str]) -> String {
        let mut at = self;
        for name in path {
            match at.child(name) {
                Some(c) => at = c,
                None => return String::new(),
            }
        }
        at.text.clone()
    }

    /// The `item`s of the child list `set` (EC2's lists).
    pub fn items(&self, set: &str) -> Vec<&Xml> {
        self.child(set).map(|s| s.children.iter().filter(|c| c.name == "item").collect()).unwrap_or_default()
    }
}

fn unescape(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

impl Cloud {
    /// Starts moto and the proxy, and makes what the pool needs: a launch template, and the
    /// default VPC's subnets. `None` (and why, printed) when moto is not installed.
    pub async fn start() -> Option<Cloud> {
        let Some(binary) = moto_binary() else {
            eprintln!("skipping: moto_server is not installed (.ci/moto installs it)");
            return None;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("moto.log")).expect("moto log");
        let moto = std::process::Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("moto_server starts");
        let moto_url = format!("http://127.0.0.1:{port}");
        let state = Arc::new(ProxyState::default());
        let (proxy_url, proxy) = serve_proxy(moto_url.clone(), state.clone()).await;
        let ec2 = Ec2Api::new(&moto_url);
        let mut cloud = Cloud {
            moto_url,
            proxy_url,
            ec2,
            subnets: Vec::new(),
            launch_template: String::new(),
            moto: Mutex::new(moto),
            state,
            proxy,
            player: None,
            dir,
        };
        // moto takes a few seconds to start on a busy machine.
        let until = Instant::now() + Duration::from_secs(60);
        let default_subnets = [("Filter.1.Name", "default-for-az"), ("Filter.1.Value.1", "true")];
        let subnets = loop {
            match cloud.ec2.call("DescribeSubnets", &default_subnets).await {
                Ok(answer) => break answer,
                Err(e) => {
                    cloud.assert_moto_running();
                    assert!(Instant::now() < until, "moto did not answer within a minute: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        };
        let mut subnets: Vec<(String, String)> =
            subnets.items("subnetSet").iter().map(|s| (s.text(&["subnetId"]), s.text(&["availabilityZone"]))).collect();
        subnets.sort_by(|a, b| a.1.cmp(&b.1));
        assert!(subnets.len() >= 2, "moto's default VPC has a subnet per zone: {subnets:?}");
        cloud.subnets = subnets.into_iter().take(2).collect();
        let images = cloud.ec2.call("DescribeImages", &[]).await.expect("DescribeImages");
        let image = images.items("imagesSet").first().map(|i| i.text(&["imageId"])).expect("moto has images");
        let template = cloud
            .ec2
            .call(
                "CreateLaunchTemplate",
                &[("LaunchTemplateName", "agora-agents"), ("LaunchTemplateData.ImageId", &image)],
            )
            .await
            .expect("CreateLaunchTemplate");
        cloud.launch_template = template.text(&["launchTemplate", "launchTemplateId"]);
        assert!(cloud.launch_template.starts_with("lt-"), "a launch template: {template:?}");
        Some(cloud)
    }

    pub fn moto_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("moto.log")).unwrap_or_default()
    }

    /// The pool's first subnet (the autoscaler tries it first), and its second.
    pub fn subnet_a(&self) -> &str {
        &self.subnets[0].0
    }

    pub fn subnet_b(&self) -> &str {
        &self.subnets[1].0
    }

    /// Queues a fault for the next `RunInstances` it matches.
    pub fn fault(&self, rule: FaultRule) {
        self.state.faults.lock().expect("faults").push_back(rule);
    }

    /// Faults queued and not used yet.
    pub fn faults_left(&self) -> Vec<FaultRule> {
        self.state.faults.lock().expect("faults").iter().cloned().collect()
    }

    /// Every `RunInstances` the proxy saw, in order.
    pub fn runs(&self) -> Vec<RunRequest> {
        self.state.runs.lock().expect("runs").clone()
    }

    /// Every request's `Action` the proxy saw, in order.
    pub fn actions(&self) -> Vec<String> {
        self.state.actions.lock().expect("actions").clone()
    }

    /// The instances tagged as the test cluster's autoscaler's, in every state.
    pub async fn instances(&self) -> Vec<Ec2Instance> {
        self.ec2.instances(false).await.expect("DescribeInstances")
    }

    /// Those pending or running.
    pub async fn live(&self) -> Vec<Ec2Instance> {
        self.instances().await.into_iter().filter(Ec2Instance::live).collect()
    }

    /// Starts playing the cloud for `cluster`: an agent for each instance, stopped when the
    /// instance is.
    pub fn play(&mut self, cluster: &Cluster) {
        assert!(self.player.is_none(), "one player per cloud");
        self.player = Some(Player::start(self.moto_url.clone(), cluster));
    }

    /// Fails (with its log) if moto exited.
    pub fn assert_moto_running(&self) {
        let status = self.moto.lock().expect("moto").try_wait();
        if let Ok(Some(status)) = status {
            panic!("moto_server exited ({status}):\n{}", self.moto_log());
        }
    }

    /// Fails if moto exited or the player stopped playing (its thread panicked: its message is
    /// on stderr).
    pub fn assert_playing(&self) {
        self.assert_moto_running();
        assert!(self.player.as_ref().is_none_or(Player::alive), "the cloud player died; see its panic above");
    }

    /// What the player did so far.
    pub fn agent_log(&self) -> Vec<AgentRecord> {
        self.player.as_ref().map(|p| p.log.lock().expect("log").clone()).unwrap_or_default()
    }

    /// Instances whose agents the player runs now.
    pub fn agents_running(&self) -> Vec<String> {
        let mut running: BTreeMap<String, bool> = BTreeMap::new();
        for record in self.agent_log() {
            running.insert(record.instance_id, record.started);
        }
        running.into_iter().filter(|(_, up)| *up).map(|(id, _)| id).collect()
    }

    /// The autoscaler's configuration for this cloud: one pool of m5.large in the two subnets.
    pub fn config(&self) -> String {
        self.config_with("")
    }

    /// The configuration with `extra` lines added to the pool (each `  key: value\n`).
    pub fn config_with(&self, extra: &str) -> String {
        let base = format!(
            "cluster: {CLUSTER}\n\
             region: {REGION}\n\
             join_timeout_secs: 60\n\
             scale_in: {{idle_secs: 2, drain_grace_secs: 5}}\n\
             pools:\n\
             - name: {POOL}\n  \
               instance_types: [{{type: {INSTANCE_TYPE}, weight: 1}}]\n  \
               subnets: [{}, {}]\n  \
               launch_template: {{id: {}}}\n  \
               attributes: {{pool: {POOL}}}\n  \
               max: 5\n  \
               disk_mb: {DISK_MB}\n  \
               mem_reserve_mb: {MEM_RESERVE_MB}\n",
            self.subnet_a(),
            self.subnet_b(),
            self.launch_template
        );
        base + extra
    }

    /// Starts `agora-autoscaler` as `holder` against `cluster` (with its admin token) and this
    /// cloud's proxy: rounds every 0.5 s, a 3 s lease, agents idle for 2 s drained.
    pub fn autoscaler(&self, cluster: &Cluster, holder: &str) -> AutoscalerProcess {
        self.autoscaler_with(cluster, holder, &[], "")
    }

    /// [`Cloud::autoscaler`] with more flags and lines for the pool (as [`Cloud::config_with`]);
    /// its stdout goes to `autoscaler-HOLDER.stdout`.
    pub fn autoscaler_with(&self, cluster: &Cluster, holder: &str, extra: &[&str], pool: &str) -> AutoscalerProcess {
        let binary = autoscaler_binary();
        let dir = cluster.scratch();
        let config = dir.join("autoscaler.yaml");
        std::fs::write(&config, self.config_with(pool)).expect("autoscaler config");
        let token = dir.join("autoscaler.token");
        std::fs::write(&token, &cluster.token).expect("autoscaler token");
        let stderr_path = dir.join(format!("autoscaler-{holder}.stderr"));
        let stderr =
            std::fs::OpenOptions::new().create(true).append(true).open(&stderr_path).expect("autoscaler stderr");
        let stdout_path = dir.join(format!("autoscaler-{holder}.stdout"));
        let stdout = std::fs::File::create(&stdout_path).expect("autoscaler stdout");
        let metrics = format!("127.0.0.1:{}", free_port());
        let child = std::process::Command::new(&binary)
            .arg("--config")
            .arg(&config)
            .args(["--master", &cluster.url])
            .arg("--token-file")
            .arg(&token)
            .args(["--interval-secs", "0.5", "--lease-ttl-secs", "3", "--scale-in-idle-secs", "2"])
            .args(["--holder", holder, "--metrics-listen", &metrics, "--ec2-endpoint", &self.proxy_url])
            .args(extra)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", REGION)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AGORA_LOG", "info")
            .env("NO_COLOR", "1")
            .env_remove("AGORA_TOKEN")
            .env_remove("AWS_PROFILE")
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("agora-autoscaler starts");
        AutoscalerProcess {
            child: Mutex::new(child),
            holder: holder.to_string(),
            metrics_url: format!("http://{metrics}/metrics"),
            stderr: stderr_path,
            stdout: stdout_path,
        }
    }
}

/// `agora-autoscaler`, beside `agora`: `cargo test --workspace` builds it, a test of this crate
/// alone does not. Fails if it is missing, or older than its sources.
fn autoscaler_binary() -> PathBuf {
    let binary = Path::new(AGORA).with_file_name("agora-autoscaler");
    let built = std::fs::metadata(&binary)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| panic!("{} is missing: build it: cargo build -p agora-autoscaler", binary.display()));
    let manifest = repo().join("autoscaler/Cargo.toml");
    let mut newest = std::fs::metadata(manifest).and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH);
    let mut dirs = vec![repo().join("autoscaler/src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                if let Ok(modified) = entry.metadata().and_then(|m| m.modified()) {
                    newest = newest.max(modified);
                }
            }
        }
    }
    assert!(
        built >= newest,
        "{} is older than autoscaler/src: build it: cargo build -p agora-autoscaler",
        binary.display()
    );
    binary
}

/// A running `agora-autoscaler`, stopped (SIGTERM, so that it gives its lease up) on drop.
pub struct AutoscalerProcess {
    /// In a mutex so that a test may look whether it still runs from a shared reference.
    child: Mutex<Child>,
    pub holder: String,
    pub metrics_url: String,
    pub stderr: PathBuf,
    pub stdout: PathBuf,
}

impl Drop for AutoscalerProcess {
    fn drop(&mut self) {
        stop(self.child.get_mut().unwrap_or_else(|e| e.into_inner()));
    }
}

impl AutoscalerProcess {
    /// SIGKILL: no chance to give the lease up or finish what it was doing.
    pub fn kill(&self) {
        let mut child = self.child.lock().expect("child");
        let _ = child.kill();
        let _ = child.wait();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Panics (with its log) if it exited.
    pub fn assert_running(&self) {
        let status = self.child.lock().expect("child").try_wait();
        if let Ok(Some(status)) = status {
            panic!("agora-autoscaler {} exited ({status}):\n{}", self.holder, self.log());
        }
    }

    /// Its `GET /metrics`, once it answers.
    pub async fn metrics(&self) -> Option<String> {
        let response = reqwest::get(&self.metrics_url).await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.text().await.ok()
    }

    /// The sum of the samples of metric `name` (over its labels) whose labels include each of
    /// `labels` (`key="value"`), or `None` until the metrics answer.
    pub async fn metric(&self, name: &str, labels: &[&str]) -> Option<f64> {
        Some(metric_sum(&self.metrics().await?, name, labels))
    }

    /// Rounds decided so far: the count of its decision-time histogram.
    pub async fn rounds(&self) -> Option<f64> {
        self.metric("agora_autoscaler_decision_seconds_count", &[]).await
    }

    /// Waits until it has decided `more` rounds beyond those it had decided now.
    pub async fn wait_rounds(&self, more: f64) {
        self.assert_running();
        let start = eventually(Duration::from_secs(60), "the autoscaler's metrics", || self.rounds()).await;
        let what = format!("{more} more rounds of autoscaler {}", self.holder);
        eventually(Duration::from_secs(120), &what, || async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            self.rounds().await.filter(|n| *n >= start + more)
        })
        .await;
    }
}

/// Sums the samples of `name` in Prometheus' text whose labels include each of `labels`.
pub fn metric_sum(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = match series.find('{') {
                Some(i) => (&series[..i], &series[i..]),
                None => (series, ""),
            };
            (metric == name && labels.iter().all(|l| rest.contains(l))).then(|| value.parse::<f64>().ok())?
        })
        .sum()
}

/// The autoscaler's decisions, as the operator event stream carries them, collected from the
/// start of the stream by a task of the test's own.
pub struct Decisions {
    seen: Arc<Mutex<Vec<AutoscalerEvent>>>,
    /// Events named `autoscaler` that did not parse: a failure of whoever reads them.
    unreadable: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Decisions {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Decisions {
    pub fn watch(client: agora_client::Client) -> Decisions {
        use futures::StreamExt as _;
        let (seen, unreadable) = (Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(Vec::new())));
        let (into, wrong) = (seen.clone(), unreadable.clone());
        let task = tokio::spawn(async move {
            // Resumed after the last event read where the stream ends or cannot be opened.
            let mut last: Option<String> = None;
            loop {
                if let Ok(mut events) = client.operator_events(last.as_deref()).await {
                    while let Some(Ok(event)) = events.next().await {
                        if !event.id.is_empty() {
                            last = Some(event.id.clone());
                        }
                        if event.event != "autoscaler" {
                            continue;
                        }
                        match serde_json::from_str::<AutoscalerEvent>(&event.data) {
                            Ok(decision) => into.lock().expect("decisions").push(decision),
                            Err(e) => wrong.lock().expect("unreadable").push(format!("{e}: {}", event.data)),
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        Decisions { seen, unreadable, task }
    }

    /// Every decision so far, in the stream's order (and a failure if one did not parse).
    pub fn all(&self) -> Vec<AutoscalerEvent> {
        let unreadable = self.unreadable.lock().expect("unreadable").clone();
        assert!(unreadable.is_empty(), "autoscaler events that do not parse: {unreadable:#?}");
        self.seen.lock().expect("decisions").clone()
    }

    pub fn of(&self, action: &str) -> Vec<AutoscalerEvent> {
        self.all().into_iter().filter(|e| e.action == action).collect()
    }

    /// One line per decision, for failure messages.
    pub fn summary(&self) -> String {
        let mut lines: Vec<String> =
            self.unreadable.lock().expect("unreadable").iter().map(|e| format!("UNREADABLE: {e}")).collect();
        lines.extend(self.seen.lock().expect("decisions").iter().map(|e| {
            format!("{} [{}] {} {:?} {:?}: {}", e.action, e.holder, e.count, e.instance_ids, e.agent_id, e.reason)
        }));
        lines.join("\n")
    }
}

// The proxy.

type ProxyBody = http_body_util::Full<Bytes>;

/// Serves the proxy on a free loopback port; returns its URL and its task.
async fn serve_proxy(moto: String, state: Arc<ProxyState>) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("reqwest client");
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let (moto, state, http) = (moto.clone(), state.clone(), http.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let (moto, state, http) = (moto.clone(), state.clone(), http.clone());
                    async move { Ok::<_, std::convert::Infallible>(proxy(request, &moto, &state, &http).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (url, task)
}

fn answer(status: u16, body: impl Into<Bytes>) -> hyper::Response<ProxyBody> {
    hyper::Response::builder()
        .status(status)
        .header("content-type", "text/xml;charset=UTF-8")
        .body(http_body_util::Full::new(body.into()))
        .expect("a response")
}

/// EC2's error answer.
fn ec2_error(status: u16, code: &str, message: &str) -> hyper::Response<ProxyBody> {
    answer(
        status,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error><Code>{code}</Code>\
             <Message>{message}</Message></Error></Errors><RequestID>{}</RequestID></Response>",
            uuid_ish()
        ),
    )
}

fn uuid_ish() -> String {
    use std::time::SystemTime;
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("agora-proxy-{nanos:x}")
}

/// The pairs of a form body.
fn form(body: &[u8]) -> Vec<(String, String)> {
    let mut url = reqwest::Url::parse("http://form/").expect("url");
    url.set_query(Some(&String::from_utf8_lossy(body)));
    url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

fn encode_form(pairs: &[(String, String)]) -> String {
    let mut url = reqwest::Url::parse("http://form/").expect("url");
    url.query_pairs_mut().extend_pairs(pairs);
    url.query().unwrap_or_default().to_string()
}

async fn proxy(
    request: hyper::Request<hyper::body::Incoming>,
    moto: &str,
    state: &ProxyState,
    http: &reqwest::Client,
) -> hyper::Response<ProxyBody> {
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return ec2_error(400, "InvalidRequest", &format!("unreadable body: {e}")),
    };
    let mut pairs = form(&body);
    let param = |pairs: &[(String, String)], name: &str| {
        pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default()
    };
    let action = param(&pairs, "Action");
    state.actions.lock().expect("actions").push(action.clone());
    if action != "RunInstances" {
        return match forward(http, moto, &parts, body).await {
            Ok((status, body)) => answer(status, body),
            Err(e) => ec2_error(502, "InternalError", &e),
        };
    }

    let mut run = RunRequest {
        client_token: param(&pairs, "ClientToken"),
        subnet: param(&pairs, "SubnetId"),
        instance_type: param(&pairs, "InstanceType"),
        market: param(&pairs, "InstanceMarketOptions.MarketType"),
        max_count: param(&pairs, "MaxCount").parse().unwrap_or(1),
        fault: None,
        forwarded: false,
        replayed: false,
        instance_ids: Vec::new(),
        at: Instant::now(),
        forwarded_at: None,
    };
    {
        let mut faults = state.faults.lock().expect("faults");
        if let Some(i) = faults.iter().position(|f| f.matches(&run)) {
            run.fault = faults.remove(i).map(|f| f.fault);
        }
        if let Some(Fault::Tries(tries)) = run.fault.clone() {
            let mut tries = tries.into_iter();
            run.fault = tries.next();
            // Before any other fault: they are this launch's.
            for (i, fault) in tries.enumerate() {
                let rule = FaultRule { client_token: Some(run.client_token.clone()), ..FaultRule::any(fault) };
                faults.insert(i, rule);
            }
        }
    }
    let record = |run: &RunRequest| state.runs.lock().expect("runs").push(run.clone());
    match run.fault {
        Some(Fault::Capacity) => {
            record(&run);
            let message = format!(
                "We currently do not have sufficient {} capacity in the Availability Zone you \
                 requested (the test's proxy).",
                run.instance_type
            );
            return ec2_error(500, "InsufficientInstanceCapacity", &message);
        }
        Some(Fault::Throttle) => {
            record(&run);
            return ec2_error(503, "RequestLimitExceeded", "Request limit exceeded (the test's proxy).");
        }
        Some(Fault::Stall(d)) => tokio::time::sleep(d).await,
        _ => {}
    }
    // EC2 answers a token it has seen with the first launch's answer, launching nothing more.
    let known = (!run.client_token.is_empty())
        .then(|| state.answers.lock().expect("answers").get(&run.client_token).cloned())
        .flatten();
    let (status, answer_body) = match known {
        Some(first) => {
            run.replayed = true;
            (200, first)
        }
        None => {
            // EC2 launches MaxCount where it has the capacity; moto launches MinCount.
            let max = param(&pairs, "MaxCount");
            if !max.is_empty() {
                pairs.retain(|(k, _)| k != "MinCount");
                pairs.push(("MinCount".to_string(), max));
            }
            match forward(http, moto, &parts, Bytes::from(encode_form(&pairs))).await {
                Ok((status, body)) => {
                    run.forwarded = true;
                    run.forwarded_at = Some(Instant::now());
                    if status == 200 && !run.client_token.is_empty() {
                        state.answers.lock().expect("answers").insert(run.client_token.clone(), body.clone());
                    }
                    (status, body)
                }
                Err(e) => {
                    record(&run);
                    return ec2_error(502, "InternalError", &e);
                }
            }
        }
    };
    if let Ok(xml) = Xml::parse(&String::from_utf8_lossy(&answer_body)) {
        run.instance_ids = xml.items("instancesSet").iter().map(|i| i.text(&["instanceId"])).collect();
    }
    record(&run);
    match run.fault {
        Some(Fault::LoseAnswer) => {
            ec2_error(500, "InternalError", "An internal error has occurred (the test's proxy lost the answer).")
        }
        Some(Fault::Hold(d)) => {
            tokio::time::sleep(d).await;
            answer(status, answer_body)
        }
        _ => answer(status, answer_body),
    }
}

/// Sends the request on to moto as it came (but for its body); returns moto's status and body.
async fn forward(
    http: &reqwest::Client,
    moto: &str,
    parts: &hyper::http::request::Parts,
    body: Bytes,
) -> Result<(u16, Bytes), String> {
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes()).map_err(|e| e.to_string())?;
    let mut request = http.request(method, format!("{moto}{path}")).body(body);
    for (name, value) in &parts.headers {
        if name == "host" || name == "content-length" {
            continue;
        }
        request = request.header(name.as_str(), value.as_bytes());
    }
    let response = request.send().await.map_err(|e| format!("forwarding to moto: {e}"))?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(|e| format!("reading moto's answer: {e}"))?;
    Ok((status, body))
}

// The player.

struct Player {
    stopping: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    log: Arc<Mutex<Vec<AgentRecord>>>,
}

/// The agents the player runs, by instance: stopped however the player's thread ends, a
/// panic included.
struct Agents(BTreeMap<String, Child>);

impl Drop for Agents {
    fn drop(&mut self) {
        for child in self.0.values_mut() {
            stop(child);
        }
    }
}

impl Player {
    /// A thread of its own: starting and stopping agents blocks.
    fn start(moto_url: String, cluster: &Cluster) -> Player {
        let stopping = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (dir, url, data_dir) = (cluster.scratch().to_path_buf(), cluster.url.clone(), cluster.data_dir());
        let (flag, into) = (stopping.clone(), log.clone());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            let ec2 = Ec2Api::new(&moto_url);
            let mut agents = Agents(BTreeMap::new());
            let mut sizes: HashMap<String, (f64, f64)> = HashMap::new();
            while !flag.load(Ordering::SeqCst) {
                let live = match runtime.block_on(ec2.instances(true)) {
                    Ok(live) => live,
                    Err(e) => {
                        eprintln!("the cloud player could not list moto's instances: {e}");
                        std::thread::sleep(Duration::from_millis(500));
                        continue;
                    }
                };
                for instance in &live {
                    if agents.0.contains_key(&instance.id) {
                        continue;
                    }
                    let size = match sizes.get(&instance.instance_type) {
                        Some(size) => *size,
                        None => match runtime.block_on(ec2.size_of(&instance.instance_type)) {
                            Ok(size) => {
                                sizes.insert(instance.instance_type.clone(), size);
                                size
                            }
                            Err(e) => {
                                eprintln!("the cloud player could not size {}: {e}", instance.instance_type);
                                continue;
                            }
                        },
                    };
                    let hostname = hostname_of(&instance.id);
                    let (vcpus, mem) = size;
                    let resources = format!("cpus:{vcpus},mem:{},disk:{DISK_MB}", mem - MEM_RESERVE_MB.min(mem / 2.0));
                    let pool = instance.tags.get("agora:pool").cloned().unwrap_or_default();
                    let attributes = format!(
                        "zone:{},instance_type:{},instance_id:{},cluster:{CLUSTER},pool:{pool}",
                        instance.zone, instance.instance_type, instance.id
                    );
                    let token = issue_token(&data_dir, "agent", &hostname);
                    let child =
                        spawn_agent_with(&dir, &url, &token, &hostname, &resources, &["--attributes", &attributes]);
                    agents.0.insert(instance.id.clone(), child);
                    into.lock().expect("log").push(AgentRecord {
                        instance_id: instance.id.clone(),
                        hostname,
                        started: true,
                        at: Instant::now(),
                    });
                }
                let gone: Vec<String> =
                    agents.0.keys().filter(|id| !live.iter().any(|i| &i.id == *id)).cloned().collect();
                for id in gone {
                    if let Some(mut child) = agents.0.remove(&id) {
                        stop(&mut child);
                        into.lock().expect("log").push(AgentRecord {
                            hostname: hostname_of(&id),
                            instance_id: id,
                            started: false,
                            at: Instant::now(),
                        });
                    }
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            drop(agents);
        });
        Player { stopping, thread: Some(thread), log }
    }

    /// Whether its thread still plays (it ends only when told to, or on a panic).
    fn alive(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    fn stop(mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
