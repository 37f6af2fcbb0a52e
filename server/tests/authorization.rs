//! Who may call what: every operation of the OpenAPI document, called with a token of every
//! kind, against the rule table below. An operation without a rule fails the test, so a new
//! endpoint cannot ship without one.

mod common;

use agora_server::Kind;

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
        ("get", "/v1/roles" | "/v1/frameworks/{id}/diagnostics") => READERS,
        ("put", "/v1/roles/{role}") => &[Kind::Operator],
        ("post", "/v1/agents/{id}/reserve" | "/v1/agents/{id}/unreserve" | "/v1/agents/{id}/volumes") => {
            &[Kind::Operator]
        }
        ("delete", "/v1/agents/{id}/volumes/{volume_id}") => &[Kind::Operator],
        ("post", "/v1/agents/{id}/drain" | "/v1/agents/{id}/deactivate" | "/v1/agents/{id}/reactivate") => {
            &[Kind::Operator]
        }
        ("post", p) if p.starts_with("/v1/agents/{id}/") => AGENTS,
        _ => return None,
    })
}

#[tokio::test]
async fn every_operation_allows_exactly_the_token_kinds_its_rule_names() {
    let server = common::start().await;
    let kinds = [Kind::Operator, Kind::Viewer, Kind::Framework, Kind::Agent];
    let tokens: Vec<(Kind, String)> = kinds
        .iter()
        .map(|k| (*k, server.keys.issue(*k, &format!("{k:?}").to_lowercase(), 60).expect("token")))
        .collect();
    let http = reqwest::Client::new();
    let mut checked = 0;
    let mut missing = Vec::new();
    for (method, path, concrete) in common::operations() {
        let Some(allowed) = rule(&method, &path) else {
            missing.push(format!("{method} {path}"));
            continue;
        };
        for (kind, token) in &tokens {
            let url = format!("{}{concrete}", server.base);
            let response = common::request(&http, &method, &url).bearer_auth(token).send().await.expect("request");
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
    assert!(missing.is_empty(), "operations without an authorization rule: {missing:?}");
    assert!(checked >= 100, "only {checked} calls were checked");
    let _ = server.stop.send(());
    server.handle.await.expect("server stops");
}
