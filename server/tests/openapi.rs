//! The checked-in OpenAPI document matches the code, and every (method, path) it lists
//! reaches a route. Regenerate the file with `AGORA_UPDATE_OPENAPI=1 cargo test -p agora-server --test openapi`.

mod common;

use agora_server::Kind;
use std::path::PathBuf;

fn checked_in_path() -> PathBuf {
    // The manifest directory of this run, not of the build: a test binary cached from another
    // clone of the repository would otherwise compare against that clone's file.
    let dir =
        std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    dir.join("../openapi/agora.json")
}

#[test]
fn checked_in_document_matches_the_code() {
    let generated = agora_api::openapi_json();
    let path = checked_in_path();
    if std::env::var_os("AGORA_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).expect("write openapi/agora.json");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "openapi/agora.json is out of date with the code; regenerate it with \
         `AGORA_UPDATE_OPENAPI=1 cargo test -p agora-server --test openapi` and commit it"
    );
}

#[tokio::test]
async fn every_documented_operation_reaches_a_route() {
    let server = common::start().await;
    let token = server.keys.issue(Kind::Operator, "test", 60).expect("token");
    let http = reqwest::Client::new();
    let mut checked = 0;
    // Path parameters get a well-formed id that names nothing.
    for (method, path, concrete) in common::operations() {
        let url = format!("{}{concrete}", server.base);
        let response = common::request(&http, &method, &url).bearer_auth(&token).send().await.expect("request");
        let status = response.status().as_u16();
        let is_stream = response.headers().get("content-type").is_some_and(|t| t == "text/event-stream");
        // A stream that opened is a route that matched; its body never ends.
        let body = if is_stream { String::new() } else { response.text().await.unwrap_or_default() };
        assert_ne!(status, 405, "{method} {path}: no route takes this method");
        if status == 404 {
            let error: serde_json::Value = serde_json::from_str(&body).expect("404 bodies are JSON");
            assert_ne!(error["code"], "not_found", "{method} {path}: no route matches this path");
        }
        checked += 1;
    }
    assert!(checked >= 25, "only {checked} operations were checked");
    let _ = server.stop.send(());
    server.handle.await.expect("server stops");
}

/// The routes and the document list the same operations, both ways: a route that is not
/// documented fails, and so does a documented operation that no route serves. Each pair also
/// agrees on the operation's id, which names its rule in the policy.
#[test]
fn the_routes_and_the_document_list_the_same_operations() {
    use std::collections::BTreeSet;
    let doc: serde_json::Value = serde_json::from_str(&agora_api::openapi_json()).expect("json");
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("operations") {
            let id = operation["operationId"].as_str().expect("an operationId").to_string();
            documented.insert((method.to_uppercase(), path.clone(), id));
        }
    }
    let routed: BTreeSet<(String, String, String)> = agora_server::http::routes()
        .iter()
        .map(|r| (r.method.to_string(), r.documented_path(), r.operation.to_string()))
        .collect();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(undocumented.is_empty(), "routes the document does not list: {undocumented:?}");
    assert!(unrouted.is_empty(), "documented operations no route serves: {unrouted:?}");
    assert_eq!(routed.len(), agora_server::http::routes().len(), "a route is listed twice");
}
