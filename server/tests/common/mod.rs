//! What the HTTP-level tests of the server share: a server on an in-memory store, and a request
//! for each documented operation.
#![allow(dead_code)]

pub mod cluster;

use agora_server::{Keys, Master, MasterConfig};
use std::sync::Arc;

/// A server on port 0 with fresh keys; stop it with `stop` and await `handle`.
pub struct TestServer {
    pub base: String,
    pub keys: Arc<Keys>,
    pub stop: tokio::sync::oneshot::Sender<()>,
    pub handle: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

pub async fn start() -> TestServer {
    start_with(MasterConfig::default()).await
}

pub async fn start_with(config: MasterConfig) -> TestServer {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = Arc::new(Keys::load_or_create(dir.path()).expect("keys"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let master = Master::in_memory(config);
    let handle =
        tokio::spawn(agora_server::serve(listener, None, master, keys.clone(), Default::default(), async move {
            let _ = stopped.await;
        }));
    TestServer { base, keys, stop, handle, _dir: dir }
}

/// The documented operations: (method, path template, path with ids that name nothing).
pub fn operations() -> Vec<(String, String, String)> {
    let doc: serde_json::Value = serde_json::from_str(&agora_api::openapi_json()).expect("json");
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let concrete: String = path
            .split('/')
            .map(|seg| if seg.starts_with('{') { "no-such-thing" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().expect("operations").keys() {
            operations.push((method.clone(), path.clone(), concrete.clone()));
        }
    }
    operations
}

/// A request for `method` on `url`, with an empty JSON object as the body where one is taken.
pub fn request(http: &reqwest::Client, method: &str, url: &str) -> reqwest::RequestBuilder {
    match method {
        "get" => http.get(url),
        "post" => http.post(url).body("{}"),
        "put" => http.put(url).body("{}"),
        "delete" => http.delete(url),
        other => panic!("unexpected method {other}"),
    }
}
