//! Roles through the HTTP API: operators set weights and quota with `PUT /v1/roles/{role}`,
//! anyone who reads sees them with `GET /v1/roles`, and a quota limit caps the offers a role's
//! frameworks get while the rest of the cluster goes to others.

mod common;

use agora_server::Kind;
use serde_json::{json, Value};
use std::time::Duration;

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    fn new(server: &common::TestServer, kind: Kind) -> Client {
        let token = server.keys.issue(kind, &format!("{kind:?}").to_lowercase(), 600).expect("token");
        Client { http: reqwest::Client::new(), base: server.base.clone(), token }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.send(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }
}

fn role<'a>(roles: &'a Value, name: &str) -> &'a Value {
    roles["roles"]
        .as_array()
        .expect("roles")
        .iter()
        .find(|r| r["role"] == name)
        .unwrap_or_else(|| panic!("{name} in {roles}"))
}

#[tokio::test]
async fn operators_set_weights_and_quota_and_readers_see_them() {
    let server = common::start().await;
    let operator = Client::new(&server, Kind::Operator);
    let (status, view) = operator.put("/v1/roles/eng", json!({"weight": 2.5})).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!((view["role"].as_str(), view["weight"].as_f64()), (Some("eng"), Some(2.5)));
    // A hierarchical role is written as is in the path, or with its slash escaped.
    let quota = json!({"weight": 1, "quota": {"guarantee": {"cpus": 1}, "limit": {"cpus": 2, "mem": 1024}}});
    let (status, view) = operator.put("/v1/roles/eng/backend", quota).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["quota"]["limit"]["cpus"], 2.0);
    let (status, _) = operator.put("/v1/roles/ops%2Fdb", json!({"weight": 3})).await;
    assert_eq!(status, 200);
    // Setting again replaces: eng's weight goes back to the default.
    let (status, _) = operator.put("/v1/roles/eng", json!({})).await;
    assert_eq!(status, 200);

    let roles = Client::new(&server, Kind::Viewer).get("/v1/roles").await;
    assert_eq!(role(&roles, "eng")["weight"], 1.0);
    assert_eq!(role(&roles, "eng/backend")["quota"]["guarantee"]["cpus"], 1.0);
    assert_eq!(role(&roles, "ops/db")["weight"], 3.0);
    assert_eq!(role(&roles, "ops")["weight"], 1.0, "the roles above a configured one are listed");
    let _ = server.stop.send(());
}

#[tokio::test]
async fn bad_role_settings_get_a_400_and_change_nothing() {
    let server = common::start().await;
    let operator = Client::new(&server, Kind::Operator);
    let cases = [
        ("/v1/roles/eng", json!({"weight": 0}), "invalid_weight"),
        ("/v1/roles/eng", json!({"weight": -1}), "invalid_weight"),
        ("/v1/roles/eng", json!({"weight": 1e300}), "invalid_weight"),
        ("/v1/roles/eng", json!({"quota": {"limit": {"cpus": -1}}}), "invalid_quota"),
        ("/v1/roles/eng", json!({"quota": {"guarantee": {"ports": 2}}}), "invalid_quota"),
        ("/v1/roles/eng", json!({"quota": {"limit": {"cpus": "many"}}}), "invalid_body"),
        ("/v1/roles/eng", json!({"quota": {"guarantee": {"cpus": 2}, "limit": {"cpus": 1}}}), "invalid_quota"),
        ("/v1/roles/eng", json!({"weight": 1, "colour": "red"}), "invalid_body"),
        ("/v1/roles/eng%2F..%2Fx", json!({}), "invalid_role"),
        ("/v1/roles/-eng", json!({}), "invalid_role"),
        ("/v1/roles/%FF", json!({}), "invalid_role"),
    ];
    for (path, body, code) in cases {
        let (status, answer) = operator.put(path, body.clone()).await;
        assert_eq!((status, answer["code"].as_str()), (400, Some(code)), "PUT {path} {body}: {answer}");
    }
    let roles = operator.get("/v1/roles").await;
    assert_eq!(roles["roles"], json!([]), "nothing was set: {roles}");
    let _ = server.stop.send(());
}

#[tokio::test]
async fn a_quota_limit_caps_a_roles_offers_and_the_rest_goes_to_others() {
    let server = common::start().await;
    let operator = Client::new(&server, Kind::Operator);
    let (status, _) = operator.put("/v1/roles/capped", json!({"quota": {"limit": {"cpus": 1}}})).await;
    assert_eq!(status, 200);
    let agent = Client::new(&server, Kind::Agent);
    let (status, body) =
        agent.post("/v1/agents", json!({"hostname": "h", "resources": {"cpus": 4, "mem": 4096}})).await;
    assert_eq!(status, 200, "{body}");

    let framework = Client::new(&server, Kind::Framework);
    let mut streams = Vec::new();
    let mut ids = Vec::new();
    for role in ["capped", "other"] {
        let (status, body) = framework.post("/v1/frameworks", json!({"name": role, "roles": [role]})).await;
        assert_eq!(status, 200, "{body}");
        let id = body["framework_id"].as_str().expect("id").to_string();
        // Offers go to frameworks whose event stream is open.
        let url = format!("{}/v1/frameworks/{id}/events", framework.base);
        streams.push(framework.http.get(url).bearer_auth(&framework.token).send().await.expect("stream"));
        ids.push(id);
    }

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let held = loop {
        let offers = operator.get("/v1/offers").await;
        let cpus = |id: &str| -> f64 {
            let offers = offers["offers"].as_array().expect("offers").iter().filter(|o| o["framework_id"] == id);
            offers.map(|o| o["resources"]["cpus"].as_f64().unwrap_or(0.0)).sum()
        };
        let held = (cpus(&ids[0]), cpus(&ids[1]));
        if held.0 > 0.0 && held.1 > 0.0 {
            break held;
        }
        assert!(tokio::time::Instant::now() < deadline, "both frameworks get offers: {offers}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(held, (1.0, 3.0), "the capped role is offered its limit, the other role the rest");
    let offers = operator.get("/v1/offers").await;
    let mem: f64 = offers["offers"]
        .as_array()
        .expect("offers")
        .iter()
        .filter(|o| o["framework_id"] == ids[0].as_str())
        .map(|o| o["resources"]["mem"].as_f64().unwrap_or(0.0))
        .sum();
    assert_eq!(mem, 1024.0, "and memory in the same proportion: {offers}");
    let roles = operator.get("/v1/roles").await;
    assert_eq!(role(&roles, "capped")["allocated"]["cpus"], 1.0);
    assert_eq!(role(&roles, "capped")["dominant_share"], 0.25);
    assert_eq!(role(&roles, "other")["frameworks"], 1);
    drop(streams);
    let _ = server.stop.send(());
}
