//! The checked-in OpenAPI document matches the code, and every (method, path) it lists
//! reaches a route. Regenerate the file with `AGORA_UPDATE_OPENAPI=1 cargo test -p agora-server --test openapi`.

use agora_server::{Keys, Kind, Master, MasterConfig};
use std::path::PathBuf;
use std::sync::Arc;

fn checked_in_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../openapi/agora.json")
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
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = Arc::new(Keys::load_or_create(dir.path()).expect("keys"));
    let token = keys.issue(Kind::Operator, "test", 60).expect("token");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server =
        tokio::spawn(agora_server::serve(listener, Master::in_memory(MasterConfig::default()), keys, async move {
            let _ = stopped.await;
        }));

    let doc: serde_json::Value = serde_json::from_str(&agora_api::openapi_json()).expect("json");
    let paths = doc["paths"].as_object().expect("paths");
    let http = reqwest::Client::new();
    let mut checked = 0;
    for (path, item) in paths {
        // Path parameters get a well-formed id that names nothing.
        let concrete: String = path
            .split('/')
            .map(|seg| if seg.starts_with('{') { "no-such-thing" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().expect("operations").keys() {
            let url = format!("{base}{concrete}");
            let request = match method.as_str() {
                "get" => http.get(&url),
                "post" => http.post(&url).body("{}"),
                "put" => http.put(&url).body("{}"),
                "delete" => http.delete(&url),
                other => panic!("unexpected method {other}"),
            };
            let response = request.bearer_auth(&token).send().await.expect("request");
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
    }
    assert!(checked >= 25, "only {checked} operations were checked");
    let _ = stop.send(());
    server.await.expect("server stops");
}
