//! Who may call what, generated from the policy (`agora_server::master::policy::rule`) and the
//! OpenAPI document together, against a real `agora dev`, a real agent and a real task.
//!
//! Every operation of the document is called by an anonymous client, an operator, a viewer, the
//! framework principal that owns the framework and task named, another framework principal, the
//! agent principal that owns the agent named, and another agent principal. What each must get
//! follows from the operation's rule alone:
//! - a public operation serves everyone;
//! - without a token: 401; a kind the rule denies: 403;
//! - a kind the rule allows on everything, or the owner where it allows only its own: served;
//! - another principal where the rule allows only its own: refused (403, or the 404 of an
//!   unknown framework or task, or the 409 of a taken framework id), or a list without the
//!   owner's things.
//!
//! An operation without a rule, or without a request here to call it with, fails the test.

mod common;

use agora_api::framework::FrameworkEvent;
use agora_api::{AgentId, FrameworkId, OfferId, TaskId, TaskState};
use agora_server::master::policy::{self, Access, Rule};
use agora_server::Kind;
use common::{offer_where, registration, shell_task, Cluster, Framework};
use serde_json::{json, Value};

/// Who calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Anonymous,
    Operator,
    Viewer,
    /// The framework principal that owns the framework and the tasks named.
    OwnFramework,
    OtherFramework,
    /// The agent principal that owns the agent named.
    OwnAgent,
    OtherAgent,
}

const EVERYONE: [Who; 7] = [
    Who::Anonymous,
    Who::OtherAgent,
    Who::OwnAgent,
    Who::Viewer,
    Who::OtherFramework,
    Who::OwnFramework,
    Who::Operator,
];

impl Who {
    fn kind(self) -> Option<Kind> {
        match self {
            Who::Anonymous => None,
            Who::Operator => Some(Kind::Operator),
            Who::Viewer => Some(Kind::Viewer),
            Who::OwnFramework | Who::OtherFramework => Some(Kind::Framework),
            Who::OwnAgent | Who::OtherAgent => Some(Kind::Agent),
        }
    }

    fn owns(self) -> bool {
        matches!(self, Who::OwnFramework | Who::OwnAgent)
    }
}

/// What a call must get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Served,
    Unauthorized,
    Forbidden,
    /// Refused as another principal's, or a list without the owner's things.
    Stranger,
}

fn expect(rule: Rule, who: Who) -> Expect {
    let Some(kind) = who.kind() else {
        return if rule == Rule::Public { Expect::Served } else { Expect::Unauthorized };
    };
    match rule.access(kind) {
        None | Some(Access::All) => Expect::Served,
        Some(Access::Denied) => Expect::Forbidden,
        Some(Access::Own) if who.owns() => Expect::Served,
        Some(Access::Own) => Expect::Stranger,
    }
}

/// The real things the calls name.
struct World {
    /// The owner's framework, with a running task `task` on `agent`, and tasks `kill_own` and
    /// `kill_operator` for the two kills that are allowed.
    framework: FrameworkId,
    task: TaskId,
    kill_own: TaskId,
    kill_operator: TaskId,
    /// The offer the tasks were launched on: used, so accepting or declining it again is refused
    /// by the offer's rules, past authorization.
    used_offer: OfferId,
    /// A real `agora agent` of the agent principal `node-a`.
    agent: AgentId,
    /// An agent the principal `node-a` registered through the API (no process): the agent
    /// protocol's calls name it, so that they do not disturb `agent`.
    api_agent: AgentId,
    /// `agora dev`'s own agent: maintenance calls drain it.
    dev_agent: AgentId,
}

const ROLE: &str = "ops";

/// A request for `operation` as `who`: the path with its parameters, and the body.
async fn request(cluster: &Cluster, world: &World, operation: &str, who: Who) -> Option<(String, Option<Value>)> {
    let (f, t, a, api_agent) = (&world.framework, &world.task, &world.agent, &world.api_agent);
    let reserve = json!({"role": ROLE, "resources": {"cpus": 0.05, "mem": 0, "disk": 0, "gpus": 0, "ports": []}});
    let registration = |id: Option<&FrameworkId>| {
        let mut r = registration("authz");
        r.id = id.cloned();
        r.failover_timeout_secs = 3600.0;
        serde_json::to_value(r).expect("json")
    };
    let agent_registration = json!({
        "agent_id": api_agent, "hostname": "api-agent",
        "resources": {"cpus": 0.1, "mem": 16, "disk": 0, "gpus": 0, "ports": []}, "tasks": []
    });
    Some(match operation {
        "healthz" => ("/healthz".into(), None),
        "readyz" => ("/readyz".into(), None),
        "metrics" => ("/metrics".into(), None),
        "openapi_json" => ("/openapi.json".into(), None),
        "cluster" => ("/v1/cluster".into(), None),
        "list_agents" => ("/v1/agents".into(), None),
        "get_agent" => (format!("/v1/agents/{a}"), None),
        "list_frameworks" => ("/v1/frameworks".into(), None),
        "get_framework" => (format!("/v1/frameworks/{f}"), None),
        "framework_diagnostics" => (format!("/v1/frameworks/{f}/diagnostics"), None),
        "list_tasks" => ("/v1/tasks".into(), None),
        "list_offers" => ("/v1/offers".into(), None),
        "task_logs" => (format!("/v1/tasks/{t}/logs"), None),
        "operator_events" => ("/v1/events".into(), None),
        "list_roles" => ("/v1/roles".into(), None),
        // A framework's owner may register it again (a failover); another principal may not
        // take its id.
        "register_framework" => ("/v1/frameworks".into(), Some(registration(Some(f)))),
        // Each allowed teardown tears down a framework of its own, registered for it.
        "teardown_framework" => {
            let fresh = fresh_framework(cluster).await;
            (format!("/v1/frameworks/{}", if who.owns() || who == Who::Operator { &fresh } else { f }), None)
        }
        "framework_events" => (format!("/v1/frameworks/{f}/events"), None),
        "accept" => {
            (format!("/v1/frameworks/{f}/accept"), Some(json!({"offer_ids": [world.used_offer], "operations": []})))
        }
        "decline" => (format!("/v1/frameworks/{f}/decline"), Some(json!({"offer_ids": [world.used_offer]}))),
        "revive" => (format!("/v1/frameworks/{f}/revive"), Some(json!({}))),
        "suppress" => (format!("/v1/frameworks/{f}/suppress"), Some(json!({"roles": ["*"]}))),
        "acknowledge" => (
            format!("/v1/frameworks/{f}/acknowledge"),
            Some(json!({"task_id": t, "agent_id": a, "update_id": "an-update-it-never-sent"})),
        ),
        "reconcile" => (format!("/v1/frameworks/{f}/reconcile"), Some(json!({"tasks": [{"task_id": t}]}))),
        "kill_task" => {
            let task = match who {
                Who::OwnFramework => &world.kill_own,
                Who::Operator => &world.kill_operator,
                _ => t,
            };
            (format!("/v1/frameworks/{f}/tasks/{task}/kill"), Some(json!({})))
        }
        "register_agent" => ("/v1/agents".into(), Some(agent_registration)),
        "agent_commands" => (format!("/v1/agents/{api_agent}/commands"), None),
        "agent_updates" => (format!("/v1/agents/{api_agent}/updates"), Some(json!({"updates": []}))),
        "agent_heartbeat" => (format!("/v1/agents/{api_agent}/heartbeat"), None),
        // A log chunk answers a read the master asked the agent for; none is pending, so an
        // admitted caller gets `unknown_request`.
        "agent_log_chunk" => (
            format!("/v1/agents/{api_agent}/logs/no-pending-read?offset=0&found=true&task_ended=false&refused=false"),
            Some(json!({})),
        ),
        "set_role" => (format!("/v1/roles/{ROLE}"), Some(json!({"weight": 2}))),
        "drain_agent" => (format!("/v1/agents/{}/drain", world.dev_agent), Some(json!({"grace_period_secs": 0}))),
        "deactivate_agent" => (format!("/v1/agents/{}/deactivate", world.dev_agent), None),
        "reactivate_agent" => (format!("/v1/agents/{}/reactivate", world.dev_agent), None),
        "reserve_resources" => (format!("/v1/agents/{a}/reserve"), Some(reserve)),
        "unreserve_resources" => (format!("/v1/agents/{a}/unreserve"), Some(reserve)),
        "create_volume" => (
            format!("/v1/agents/{a}/volumes"),
            Some(json!({"role": ROLE, "id": "v2", "disk": 8, "container_path": "v2"})),
        ),
        "destroy_volume" => (format!("/v1/agents/{a}/volumes/v1"), None),
        "list_services" => ("/v1/services".into(), None),
        "get_service" => (format!("/v1/services/{SERVICE}"), None),
        "service_endpoints" => (format!("/v1/services/{SERVICE}/endpoints"), None),
        "list_deployments" => ("/v1/deployments".into(), None),
        "put_service" => (format!("/v1/services/{SERVICE}-put"), Some(unplaceable_service("put"))),
        "scale_service" => (format!("/v1/services/{SERVICE}/scale"), Some(json!({"instances": 2}))),
        "restart_service" => (format!("/v1/services/{SERVICE}/restart"), None),
        "rollback_service" => (format!("/v1/services/{SERVICE}/rollback"), Some(json!({"version": 1}))),
        // Each allowed deletion or cancellation acts on a service of its own, made for it.
        "delete_service" => {
            let (id, _) = fresh_service(cluster).await;
            (format!("/v1/services/{id}"), None)
        }
        "cancel_deployment" => {
            let (_, deployment) = fresh_service(cluster).await;
            (format!("/v1/deployments/{deployment}"), None)
        }
        // The lease the operator took in `world`: its holder renews it, and a release names
        // another holder, so that it stays for `get_lease`.
        "acquire_lease" => (format!("/v1/leases/{LEASE}"), Some(json!({"holder": LEASE, "ttl_secs": 3600}))),
        "get_lease" => (format!("/v1/leases/{LEASE}"), None),
        "release_lease" => (format!("/v1/leases/{LEASE}?holder=someone-else"), None),
        "autoscaler_event" => (
            "/v1/autoscaler/events".into(),
            Some(json!({"action": "launch", "reason": "authz", "holder": LEASE, "count": 1})),
        ),
        "set_demand" => (
            format!("/v1/frameworks/{f}/demand"),
            Some(json!({"tasks": [{"count": 2, "resources": {"cpus": 8, "mem": 64}}]})),
        ),
        _ => return None,
    })
}

/// Operations whose admitted call is refused past authorization, by what it names rather than
/// by who calls, with the code it gets: the offer was used by the launch, and no log read is
/// pending. Everything else admitted must succeed.
fn refused_past_authorization(operation: &str) -> Option<&'static [&'static str]> {
    match operation {
        "accept" | "decline" => Some(&["unknown_offer"]),
        "agent_log_chunk" => Some(&["unknown_request"]),
        _ => None,
    }
}

/// The lease the lease operations name, and its holder.
const LEASE: &str = "authz";

/// The service the service operations name: its instances wait for ever (no agent has the
/// rack its constraint names), so its deployment stays.
const SERVICE: &str = "authz";

fn unplaceable_service(release: &str) -> Value {
    json!({
        "instances": 1,
        "task": {"resources": {"cpus": 0.1, "mem": 16}, "command": {"shell": "exec sleep 600"}, "env": {"RELEASE": release}},
        "constraints": [["rack", "CLUSTER", "nowhere"]],
    })
}

/// A new unplaceable service: its id and its deployment's.
async fn fresh_service(cluster: &Cluster) -> (String, String) {
    let id = format!("{SERVICE}-{}", &agora_api::UpdateId::random().0[..8]);
    let spec: agora_api::services::ServiceSpec = serde_json::from_value(unplaceable_service("fresh")).expect("spec");
    let started = cluster.client().put_service(&id, &spec).await.expect("a fresh service");
    (id, started.deployment_id.expect("a deployment"))
}

async fn fresh_framework(cluster: &Cluster) -> FrameworkId {
    let alice = cluster.client_with(&cluster.issue_token("framework", "alice"));
    let registered: agora_api::framework::FrameworkRegistered =
        alice.post("/v1/frameworks", &registration("to-tear-down")).await.expect("register");
    registered.framework_id
}

/// `agora dev` with a second agent of principal `node-a`; `alice` runs a task on that agent,
/// and the operator reserves resources and makes a volume there.
async fn world(cluster: &mut Cluster, tokens: &Tokens) -> World {
    cluster.spawn_agent("node-a", "cpus:2,mem:1024,disk:1024");
    cluster.wait_for_agents(2).await;
    let agent = cluster.agent_id_by_hostname("node-a").await;
    let dev_agent = cluster.wait_for_agents(2).await.agents.into_iter().find(|a| a.id != agent).expect("dev agent").id;
    let alice = cluster.client_with(&tokens.own_framework);
    let mut reg = registration("alice's");
    reg.failover_timeout_secs = 3600.0;
    let mut framework = Framework::register(alice, reg).await;
    let offer = offer_where(&framework, "an offer of node-a", |o| o.agent_id == agent).await;
    let tasks = ["logged", "kill-own", "kill-operator"]
        .map(|name| shell_task(&agent, name, "echo written; exec sleep 600", 0.1, 16.0));
    framework.launch(&offer, tasks.to_vec()).await.expect("launch");
    for _ in 0..3 {
        loop {
            if let FrameworkEvent::Update(u) = framework.next_event().await {
                framework.ack(&u.status).await;
                assert_ne!(u.status.state, TaskState::Failed, "{u:?}");
                if u.status.state == TaskState::Running {
                    break;
                }
            }
        }
    }
    let operator = cluster.client();
    let reserve = json!({"role": ROLE, "resources": {"cpus": 0.2, "mem": 0, "disk": 64, "gpus": 0, "ports": []}});
    let _: Value = operator.post(&format!("/v1/agents/{agent}/reserve"), &reserve).await.expect("reserve");
    let volume = json!({"role": ROLE, "id": "v1", "disk": 8, "container_path": "v1"});
    let _: Value = operator.post(&format!("/v1/agents/{agent}/volumes"), &volume).await.expect("volume");
    // A service at version 2, so that it can be rolled back.
    for release in ["one", "two"] {
        let spec: agora_api::services::ServiceSpec =
            serde_json::from_value(unplaceable_service(release)).expect("spec");
        operator.put_service(SERVICE, &spec).await.expect("the service");
    }
    let lease = agora_api::operator::AcquireLease { holder: LEASE.into(), ttl_secs: 3600.0 };
    operator.acquire_lease(LEASE, &lease).await.expect("the lease");
    let node_a = cluster.client_with(&tokens.own_agent);
    let registration =
        json!({"hostname": "api-agent", "resources": {"cpus": 0.1, "mem": 16, "disk": 0, "gpus": 0, "ports": []}});
    let registered: Value = node_a.post("/v1/agents", &registration).await.expect("register an agent");
    let api_agent = AgentId::from(registered["agent_id"].as_str().expect("agent id"));
    // The task's output is there to read before the calls start.
    let logs = format!("/v1/tasks/logged/logs?framework_id={}", framework.id);
    common::eventually(common::DEADLINE, "the task's output", || {
        let http = reqwest::Client::new();
        let url = format!("{}{logs}", cluster.url);
        let token = cluster.token.clone();
        async move {
            let response = http.get(url).bearer_auth(token).send().await.ok()?;
            let text = response.text().await.ok()?;
            text.contains("written").then_some(())
        }
    })
    .await;
    World {
        framework: framework.id.clone(),
        task: TaskId::from("logged"),
        kill_own: TaskId::from("kill-own"),
        kill_operator: TaskId::from("kill-operator"),
        used_offer: offer.id,
        agent,
        api_agent,
        dev_agent,
    }
}

struct Tokens {
    viewer: String,
    own_framework: String,
    other_framework: String,
    own_agent: String,
    other_agent: String,
}

impl Tokens {
    fn get<'a>(&'a self, cluster: &'a Cluster, who: Who) -> Option<&'a str> {
        Some(match who {
            Who::Anonymous => return None,
            Who::Operator => &cluster.token,
            Who::Viewer => &self.viewer,
            Who::OwnFramework => &self.own_framework,
            Who::OtherFramework => &self.other_framework,
            Who::OwnAgent => &self.own_agent,
            Who::OtherAgent => &self.other_agent,
        })
    }
}

/// The document's operations: (method, path template, operationId).
fn documented_operations() -> Vec<(String, String, String)> {
    let doc: Value = serde_json::from_str(&agora_api::openapi_json()).expect("the document");
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("operations") {
            let id = operation["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            operations.push((method.clone(), path.clone(), id.to_string()));
        }
    }
    operations
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_answers_each_caller_as_its_rule_says() {
    let mut cluster = Cluster::start(&[]).await;
    let tokens = Tokens {
        viewer: cluster.issue_token("viewer", "watcher"),
        own_framework: cluster.issue_token("framework", "alice"),
        other_framework: cluster.issue_token("framework", "bob"),
        own_agent: cluster.issue_token("agent", "node-a"),
        other_agent: cluster.issue_token("agent", "node-b"),
    };
    let world = world(&mut cluster, &tokens).await;
    let owners_things = [world.framework.to_string(), world.task.to_string()];
    let http = reqwest::Client::new();
    // Each anonymous call comes from an address of its own: a 401 counts against its address,
    // and a few in a row would be turned away as a guessing attack.
    let mut anonymous_address = 10u8;
    let (mut missing, mut wrong, mut checked) = (Vec::new(), Vec::new(), 0);
    for (method, path, operation) in documented_operations() {
        let Some(rule) = policy::rule(&operation) else {
            missing.push(format!("{operation} ({method} {path}): no rule in the policy"));
            continue;
        };
        for who in EVERYONE {
            let Some((url, body)) = request(&cluster, &world, &operation, who).await else {
                missing.push(format!("{operation}: no request in this test"));
                break;
            };
            let http = if who == Who::Anonymous {
                anonymous_address += 1;
                let address = std::net::Ipv4Addr::new(127, 0, 0, anonymous_address);
                reqwest::Client::builder().local_address(std::net::IpAddr::V4(address)).build().expect("a client")
            } else {
                http.clone()
            };
            let mut call = match method.as_str() {
                "get" => http.get(format!("{}{url}", cluster.url)),
                "post" => http.post(format!("{}{url}", cluster.url)),
                "put" => http.put(format!("{}{url}", cluster.url)),
                "delete" => http.delete(format!("{}{url}", cluster.url)),
                other => panic!("unexpected method {other}"),
            };
            if let Some(token) = tokens.get(&cluster, who) {
                call = call.bearer_auth(token);
            }
            if let Some(body) = &body {
                call = call.json(body);
            }
            let response = call.send().await.expect("an answer");
            let status = response.status().as_u16();
            let is_stream = response.headers().get("content-type").is_some_and(|t| t == "text/event-stream");
            // An event stream that opened never ends: its status is the answer.
            let text = if is_stream { String::new() } else { response.text().await.unwrap_or_default() };
            let code = serde_json::from_str::<Value>(&text).ok().and_then(|v| v["code"].as_str().map(str::to_string));
            let code = code.unwrap_or_default();
            let expected = expect(rule, who);
            let ok = match expected {
                Expect::Unauthorized => status == 401,
                Expect::Forbidden => status == 403,
                Expect::Served => match refused_past_authorization(&operation) {
                    Some(codes) if !(200..300).contains(&status) => codes.contains(&code.as_str()),
                    _ => (200..300).contains(&status),
                },
                Expect::Stranger => match status {
                    403 => true,
                    404 => code == "unknown_framework" || code == "unknown_task",
                    409 => code == "framework_id_taken",
                    // A list, without the owner's things.
                    200 => method == "get" && !path.contains('{') && !owners_things.iter().any(|t| text.contains(t)),
                    _ => false,
                },
            };
            if !ok {
                wrong.push(format!("{operation} as {who:?}: expected {expected:?}, got {status} {text}"));
            }
            checked += 1;
        }
    }
    assert!(missing.is_empty(), "operations the test cannot check: {missing:#?}");
    assert!(wrong.is_empty(), "answers that do not follow the rules: {wrong:#?}");
    assert!(checked >= 7 * 53, "only {checked} calls were checked");
}
