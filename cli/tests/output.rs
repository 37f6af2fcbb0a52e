//! The verbs that work on a data directory (keys, tokens, certificates) print JSON with
//! `--json` or `--output json`, as the client verbs do, for scripts.

mod common;

use common::AGORA;
use serde_json::Value;

/// Runs `agora ARGS` and parses what it prints as JSON.
fn json(args: &[&str]) -> Value {
    let out = std::process::Command::new(AGORA).args(args).output().expect("agora runs");
    assert!(out.status.success(), "agora {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("agora {args:?} printed no JSON ({e})"))
}

#[test]
fn keys_tokens_and_certificates_print_json_when_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8 path");
    let keys = agora_server::Keys::load_or_create(dir.path()).expect("a cluster key");

    let listed = json(&["keys", "list", "--data-dir", data, "--json"]);
    let listed = listed.as_array().expect("a list of keys");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["active"], true);
    let first = listed[0]["kid"].as_str().expect("a kid").to_string();

    let rotated = json(&["keys", "rotate", "--data-dir", data, "--output", "json"]);
    let second = rotated["kid"].as_str().expect("the new kid").to_string();
    assert_ne!(first, second);
    let listed = json(&["keys", "list", "--data-dir", data, "-o", "json"]);
    assert_eq!(listed[0]["kid"], second.as_str(), "the active key comes first: {listed}");
    assert_eq!(listed[1]["active"], false, "{listed}");
    assert_eq!(json(&["keys", "remove", &first, "--data-dir", data, "--json"])["removed"], true);

    let issued = json(&[
        "token",
        "issue",
        "--kind",
        "framework",
        "--name",
        "etl",
        "--roles",
        "batch",
        "--data-dir",
        data,
        "--json",
    ]);
    assert_eq!((issued["kind"].as_str(), issued["name"].as_str()), (Some("framework"), Some("etl")));
    assert_eq!(issued["roles"], serde_json::json!(["batch"]));
    let token = issued["token"].as_str().expect("the token");
    // The token is a real one, signed by the active key.
    keys.reload();
    let claims = keys.verify_header(Some(&format!("Bearer {token}"))).expect("the token verifies");
    assert_eq!((claims.sub.as_str(), claims.kind), ("etl", agora_server::Kind::Framework));

    let certs_dir = dir.path().join("certs");
    let certs = certs_dir.to_str().expect("utf-8 path");
    let created = json(&["certs", "create", "--dir", certs, "--server", "localhost", "--agents", "node-1", "--json"]);
    assert_eq!(created["new_ca"], true);
    let files = created["files"].as_array().expect("the files written");
    assert!(!files.is_empty());
    for file in files {
        assert!(std::path::Path::new(file.as_str().expect("a path")).is_file(), "{file} was not written");
    }
}
