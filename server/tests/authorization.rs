//! Who may call what: every operation of the OpenAPI document, called with a token of every
//! kind, against the rule table below. An operation without a rule fails the test, so a new
//! endpoint cannot ship without one.

use agora_server::{Keys, Kind, Master, MasterConfig};
use std::sync::Arc;

/// Public paths: no token needed at all.
const ANYONE: &[Kind] = &[Kind::Operator, Kind::Viewer, Kind::Framework, Kind::Agent];
const READERS: &[Kind] = &[Kind::Operator, Kind::Viewer, Kind::Framework];
const FRAMEWORKS: &[Kind] = &[Kind::Operator, Kind::Framework];
const AGENTS: &[Kind] = &[Kind::Operator, Kind::Agent];

/// The kinds allowed to call each (method, path); every other kind gets 403.
fn rule(method: &str, path: &str) -> Option<&'static [Kind]> {
    Some(match (method, path) {
        ("get", "/healthz" | "/readyz" | "/metrics" | "/openapi.json") => ANYONE,
        ("get", "/v1/cluster" | "/v1/agents" | "/v1/agents/{id}" | "/v1/frameworks" | "/v1/frameworks/{id}") => READERS,
        ("get", "/v1/tasks" | "/v1/offers" | "/v1/tasks/{task_id}/logs") => READERS,
        ("get", "/v1/events") => &[Kind::Operator, Kind::Viewer],
        ("post", "/v1/frameworks") | ("delete", "/v1/frameworks/{id}") => FRAMEWORKS,
        ("get", "/v1/frameworks/{id}/events") => FRAMEWORKS,
        ("post", p) if p.starts_with("/v1/frameworks/{id}/") => FRAMEWORKS,
        ("post", "/v1/agents") | ("get", "/v1/agents/{id}/commands") => AGENTS,
        ("post", p) if p.starts_with("/v1/agents/{id}/") => AGENTS,
        _ => return None,
    })
}

#[tokio::test]
async fn every_operation_allows_exactly_the_token_kinds_its_rule_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = Arc::new(Keys::load_or_create(dir.path()).expect("keys"));
    let kinds = [Kind::Operator, Kind::Viewer, Kind::Framework, Kind::Agent];
    let tokens: Vec<(Kind, String)> =
        kinds.iter().map(|k| (*k, keys.issue(*k, &format!("{k:?}").to_lowercase(), 60).expect("token"))).collect();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let master = Master::in_memory(MasterConfig::default());
    let server = tokio::spawn(agora_server::serve(listener, master, keys, async move {
        let _ = stopped.await;
    }));

    let doc: serde_json::Value = serde_json::from_str(&agora_api::openapi_json()).expect("json");
    let http = reqwest::Client::new();
    let mut checked = 0;
    let mut missing = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let concrete = path.replace("{id}", "no-such-thing").replace("{task_id}", "no-such-task");
        let concrete = concrete.replace("{request_id}", "no-such-request");
        for method in item.as_object().expect("operations").keys() {
            let Some(allowed) = rule(method, path) else {
                missing.push(format!("{method} {path}"));
                continue;
            };
            for (kind, token) in &tokens {
                let url = format!("{base}{concrete}");
                let request = match method.as_str() {
                    "get" => http.get(&url),
                    "post" => http.post(&url).body("{}"),
                    "put" => http.put(&url).body("{}"),
                    "delete" => http.delete(&url),
                    other => panic!("unexpected method {other}"),
                };
                let response = request.bearer_auth(token).send().await.expect("request");
                let status = response.status().as_u16();
                drop(response); // event streams never end; the status is all we need
                if allowed.contains(kind) {
                    assert!(status != 401 && status != 403, "{kind:?} may call {method} {path}, got {status}");
                } else {
                    assert_eq!(status, 403, "{kind:?} may not call {method} {path}");
                }
                checked += 1;
            }
        }
    }
    assert!(missing.is_empty(), "operations without an authorization rule: {missing:?}");
    assert!(checked >= 100, "only {checked} calls were checked");
    let _ = stop.send(());
    server.await.expect("server stops");
}
