//! A server with one agent, and clients of each kind, for tests through the HTTP API.

use super::TestServer;
use agora_server::Kind;
use serde_json::{json, Value};
use std::time::Duration;

pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Client {
    /// A client of principal `kind` (in lower case).
    pub fn new(server: &TestServer, kind: Kind) -> Client {
        Client::with_principal(server, kind, &format!("{kind:?}").to_lowercase())
    }

    /// A client with a token of `kind` for `principal`; a framework token may use every role.
    pub fn with_principal(server: &TestServer, kind: Kind, principal: &str) -> Client {
        let roles = (kind == Kind::Framework).then(|| vec![agora_server::auth::ANY_ROLE.to_string()]);
        Client::scoped(server, kind, principal, roles)
    }

    /// A client of principal `name`, whose frameworks may use `roles` (framework tokens).
    pub fn scoped(server: &TestServer, kind: Kind, name: &str, roles: Option<Vec<String>>) -> Client {
        let scope = agora_server::auth::Scope { roles, users: None };
        let token = server.keys.issue_scoped(kind, name, 600, scope).expect("token");
        Client { http: reqwest::Client::new(), base: server.base.clone(), token }
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn get(&self, path: &str) -> Value {
        let (status, body) = self.send(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }
}

/// A cluster of one agent with `cpus` CPUs and 4 GiB, and clients of each kind.
pub struct Cluster {
    pub server: TestServer,
    pub operator: Client,
    pub framework: Client,
    /// The frameworks' open event streams: offers go only to subscribed frameworks.
    pub streams: Vec<reqwest::Response>,
}

impl Cluster {
    pub async fn start(cpus: f64) -> Cluster {
        let cluster = Cluster::empty().await;
        cluster.add_agent("h", json!({}), cpus).await;
        cluster
    }

    /// A cluster with no agent yet.
    pub async fn empty() -> Cluster {
        Cluster::empty_with(agora_server::MasterConfig::default()).await
    }

    pub async fn empty_with(config: agora_server::MasterConfig) -> Cluster {
        let server = super::start_with(config).await;
        let (operator, framework) = (Client::new(&server, Kind::Operator), Client::new(&server, Kind::Framework));
        Cluster { server, operator, framework, streams: Vec::new() }
    }

    /// Registers an agent with `cpus` CPUs and 4 GiB; returns its id.
    pub async fn add_agent(&self, hostname: &str, attributes: Value, cpus: f64) -> String {
        self.add_agent_with(hostname, attributes, json!({"cpus": cpus, "mem": 4096})).await
    }

    /// Registers an agent with `resources`; returns its id.
    pub async fn add_agent_with(&self, hostname: &str, attributes: Value, resources: Value) -> String {
        let agent = Client::new(&self.server, Kind::Agent);
        let registration = json!({"hostname": hostname, "attributes": attributes, "resources": resources});
        let (status, body) = agent.post("/v1/agents", registration).await;
        assert_eq!(status, 200, "{body}");
        body["agent_id"].as_str().expect("agent id").to_string()
    }

    pub async fn set_role(&self, role: &str, config: Value) {
        let (status, body) = self.operator.put(&format!("/v1/roles/{role}"), config).await;
        assert_eq!(status, 200, "{body}");
    }

    /// Registers a framework in `role` and opens its event stream; returns its id.
    pub async fn subscribe(&mut self, role: &str) -> String {
        self.subscribe_with(json!({"name": role, "roles": [role]})).await
    }

    /// Registers a framework as `registration` says and opens its event stream; returns its id.
    pub async fn subscribe_with(&mut self, registration: Value) -> String {
        let (status, body) = self.framework.post("/v1/frameworks", registration).await;
        assert_eq!(status, 200, "{body}");
        let id = body["framework_id"].as_str().expect("id").to_string();
        let url = format!("{}/v1/frameworks/{id}/events", self.framework.base);
        self.streams
            .push(self.framework.http.get(url).bearer_auth(&self.framework.token).send().await.expect("stream"));
        id
    }

    /// Waits until each of `frameworks` holds an offer; returns the CPUs and memory each is
    /// offered.
    pub async fn offered(&self, frameworks: &[&str]) -> Vec<(f64, f64)> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let offers = self.operator.get("/v1/offers").await;
            let sum = |id: &str, what: &str| -> f64 {
                let offers = offers["offers"].as_array().expect("offers").iter().filter(|o| o["framework_id"] == id);
                offers.map(|o| o["resources"][what].as_f64().unwrap_or(0.0)).sum()
            };
            let held: Vec<(f64, f64)> = frameworks.iter().map(|id| (sum(id, "cpus"), sum(id, "mem"))).collect();
            if held.iter().all(|(cpus, _)| *cpus > 0.0) {
                return held;
            }
            assert!(tokio::time::Instant::now() < deadline, "offers for {frameworks:?}: {offers}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The value of one Prometheus sample, by its name and labels as exposed.
    pub async fn metric(&self, sample: &str) -> Option<f64> {
        let response = self.operator.http.get(format!("{}/metrics", self.operator.base)).send().await.expect("metrics");
        let text = response.text().await.expect("text");
        text.lines().find_map(|l| l.strip_prefix(sample)?.strip_prefix(' ')?.trim().parse().ok())
    }

    pub fn stop(self) {
        drop(self.streams);
        let _ = self.server.stop.send(());
    }
}

impl Cluster {
    pub async fn diagnostics(&self, framework: &str) -> Value {
        self.operator.get(&format!("/v1/frameworks/{framework}/diagnostics")).await
    }

    /// The codes of a framework's diagnostics: its roles' (the first role's first), then its own.
    pub async fn reasons(&self, framework: &str) -> Vec<String> {
        let diagnostics = self.diagnostics(framework).await;
        let roles = diagnostics["roles"].as_array().expect("roles").iter();
        let role_reasons = roles.flat_map(|r| r["reasons"].as_array().expect("reasons").clone());
        let reasons = role_reasons.chain(diagnostics["reasons"].as_array().expect("reasons").clone());
        reasons.map(|r| r["code"].as_str().expect("code").to_string()).collect()
    }

    /// A framework's outstanding offers.
    pub async fn offers_of(&self, framework: &str) -> Vec<Value> {
        let offers = self.operator.get("/v1/offers").await;
        offers["offers"]
            .as_array()
            .expect("offers")
            .iter()
            .filter(|o| o["framework_id"] == framework)
            .cloned()
            .collect()
    }

    /// Declines offers, filtering their agents for `refuse_secs`.
    pub async fn decline(&self, framework: &str, offer_ids: &[String], refuse_secs: f64) {
        let decline = json!({"offer_ids": offer_ids, "filters": {"refuse_secs": refuse_secs}});
        let (status, body) = self.framework.post(&format!("/v1/frameworks/{framework}/decline"), decline).await;
        assert!(status < 300, "{body}");
    }

    /// Reports, as the agent, that a task ended in `state`.
    pub async fn task_ended(&self, agent: &str, framework: &str, task: &str, state: &str) {
        let client = Client::new(&self.server, Kind::Agent);
        let status = json!({"task_id": task, "framework_id": framework, "agent_id": agent, "state": state,
                            "timestamp": 1.0, "update_id": agora_api::UpdateId::random()});
        let (status, body) = client.post(&format!("/v1/agents/{agent}/updates"), json!({"updates": [status]})).await;
        assert!(status < 300, "{body}");
    }

    /// The ids of a framework's outstanding offers.
    pub async fn offer_ids(&self, framework: &str) -> Vec<String> {
        let offers = self.operator.get("/v1/offers").await;
        let mine = offers["offers"].as_array().expect("offers").iter().filter(|o| o["framework_id"] == framework);
        mine.map(|o| o["id"].as_str().expect("id").to_string()).collect()
    }
}
