//! The fetcher end to end: a real `agora dev` whose tasks list artifacts served by a small HTTP
//! server of the test's own on loopback, and by `file://` from a directory the agent is told
//! it may read (`--fetch-roots`).

mod common;

use agora_api::{FetchUri, TaskState};
use common::*;
use std::collections::HashMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Serves `files` by path over HTTP/1.1 on loopback until dropped; counts the requests.
struct Files {
    url: String,
    requests: Arc<AtomicUsize>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Files {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn serve(files: HashMap<&'static str, Vec<u8>>) -> Files {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    let files = Arc::new(files);
    let server = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let files = files.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && socket.read(&mut byte).await.unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                let line = String::from_utf8_lossy(&head).lines().next().unwrap_or_default().to_string();
                let path = line.split_whitespace().nth(1).unwrap_or("/");
                let (status, body) = match files.get(path) {
                    Some(body) => ("200 OK", body.clone()),
                    None => ("404 Not Found", b"no such file".to_vec()),
                };
                let head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    Files { url, requests, server }
}

fn sha256(data: &[u8]) -> String {
    agora_agent::testing::sha256_hex(data)
}

/// A `.tar.gz` holding `inner/file`.
fn tarball() -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(6);
    header.set_mode(0o644);
    tar.append_data(&mut header, "inner/file", &b"inner\n"[..]).expect("tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar.into_inner().expect("tar")).expect("gzip");
    gz.finish().expect("gzip")
}

/// A `.zip` holding `zipped/file`, deflated.
fn zipfile() -> Vec<u8> {
    zip_of("zipped/file")
}

/// A `.zip` holding `path`, deflated.
fn zip_of(path: &str) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    zip.start_file(path, options).expect("zip entry");
    zip.write_all(b"zipped\n").expect("zip");
    zip.finish().expect("zip").into_inner()
}

fn fetch(uri: String, sha256: Option<String>) -> FetchUri {
    FetchUri { uri, sha256, extract: true, executable: false, cache: false }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifacts_are_fetched_checked_unpacked_and_cached_before_the_task_starts() {
    let tool = b"#!/bin/sh\necho tool ran\n".to_vec();
    let tarball = tarball();
    let files = serve(HashMap::from([
        ("/tool.sh", tool.clone()),
        ("/bundle.tar.gz", tarball.clone()),
        ("/more.zip", zipfile()),
    ]))
    .await;
    let roots = tempfile::tempdir().expect("fetch root");
    std::fs::write(roots.path().join("data.txt"), "local data\n").expect("local file");
    let root = roots.path().to_str().expect("utf-8").to_string();
    let cluster = Cluster::start(&["--fetch-roots", &root]).await;
    let mut framework = Framework::register(cluster.client(), registration("fetcher")).await;
    let offers = framework.offers().await;
    let agent = offers[0].agent_id.clone();

    let mut task = shell_task(&agent, "fetched", "./tool.sh && cat inner/file zipped/file data.txt", 0.1, 32.0);
    task.fetch = vec![
        FetchUri { executable: true, ..fetch(format!("{}/tool.sh", files.url), Some(sha256(&tool))) },
        FetchUri { cache: true, ..fetch(format!("{}/bundle.tar.gz", files.url), Some(sha256(&tarball))) },
        fetch(format!("{}/more.zip", files.url), None),
        fetch(format!("file://{root}/data.txt"), None),
    ];
    framework.launch(&offers[0], vec![task]).await.expect("launch");
    let status = framework.terminal("fetched").await;
    assert_eq!(status.state, TaskState::Finished, "{status:?}");
    let sandboxes = cluster.scratch().join(DEV_AGENT_SUBDIR).join("sandboxes").join(framework.id.as_str());
    let out = std::fs::read_to_string(sandboxes.join("fetched/stdout")).expect("stdout");
    assert_eq!(out, "tool ran\ninner\nzipped\nlocal data\n");
    assert!(!sandboxes.join("fetched/bundle.tar.gz").exists(), "an extracted archive is not kept");

    // The cached artifact comes from the cache: the server is not asked again.
    let asked = files.requests.load(Ordering::SeqCst);
    let offer = offer_where(&framework, "another offer", |o| o.agent_id == agent).await;
    let mut again = shell_task(&agent, "cached", "cat inner/file", 0.1, 32.0);
    again.fetch =
        vec![FetchUri { cache: true, ..fetch(format!("{}/bundle.tar.gz", files.url), Some(sha256(&tarball))) }];
    framework.launch(&offer, vec![again]).await.expect("launch");
    let status = framework.terminal("cached").await;
    assert_eq!(status.state, TaskState::Finished, "{status:?}");
    assert_eq!(files.requests.load(Ordering::SeqCst), asked, "the cached artifact was downloaded again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_that_fails_fails_the_task_with_fetch_failed_saying_why() {
    use agora_agent::testing::{tar_of, Entry};
    // Archives that try to replace the task's output files, or to write through a link.
    let over_stdout = tar_of(&[Entry::File("stdout", b"forged\n".to_vec(), 0o644)]);
    let through_link = tar_of(&[Entry::Link("escape", "/tmp"), Entry::File("escape/planted", b"x".to_vec(), 0o644)]);
    let files = serve(HashMap::from([
        ("/tool.sh", b"#!/bin/sh\n".to_vec()),
        ("/over-stdout.tar", over_stdout),
        ("/through-link.tar", through_link),
    ]))
    .await;
    let cluster = Cluster::start(&[]).await;
    let mut framework = Framework::register(cluster.client(), registration("bad-fetches")).await;
    let offers = framework.offers().await;
    let agent = offers[0].agent_id.clone();
    let wrong = "0".repeat(64);
    let cases = [
        ("bad-digest", fetch(format!("{}/tool.sh", files.url), Some(wrong.clone())), "not 0000"),
        ("not-found", fetch(format!("{}/missing.sh", files.url), None), "404"),
        ("outside-roots", fetch("file:///etc/passwd".to_string(), None), "--fetch-roots"),
        ("over-stdout", fetch(format!("{}/over-stdout.tar", files.url), None), "would replace"),
        ("through-link", fetch(format!("{}/through-link.tar", files.url), None), "cannot unpack"),
    ];
    let mut tasks = Vec::new();
    for (id, uri, _) in &cases {
        let mut task = shell_task(&agent, id, "true", 0.1, 32.0);
        task.fetch = vec![uri.clone()];
        tasks.push(task);
    }
    framework.launch(&offers[0], tasks).await.expect("launch");
    let ended = framework.terminals(cases.len()).await;
    for (id, uri, says) in &cases {
        let status = &ended[*id];
        assert_eq!(status.state, TaskState::Failed, "{status:?}");
        assert_eq!(status.reason.as_deref(), Some("fetch_failed"), "{status:?}");
        let message = status.message.as_deref().unwrap_or("");
        assert!(message.contains(&uri.uri) && message.contains(says), "{id}: {message}");
    }
    assert!(!std::path::Path::new("/tmp/planted").exists(), "an archive wrote through a link");
}

/// Artifacts of one task share its staging directory: an archive that plants links there must
/// not lead a later artifact out of it, neither a download nor an entry of a later archive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_one_artifact_plants_lead_no_later_one_out_of_the_sandbox() {
    use agora_agent::testing::{tar_of, Entry};
    let outside = tempfile::tempdir().expect("a directory outside");
    let victim = outside.path().join("victim");
    std::fs::write(&victim, "untouched\n").expect("victim");
    let victim_at: &'static str = Box::leak(victim.display().to_string().into_boxed_str());
    let outside_at: &'static str = Box::leak(outside.path().display().to_string().into_boxed_str());
    // Links where the agent once put its downloads, and a directory link for a zip to follow.
    let planter = tar_of(&[
        Entry::Link(".fetching-tool.sh", victim_at),
        Entry::Link("0", victim_at),
        Entry::Link("link", outside_at),
    ]);
    let files = serve(HashMap::from([
        ("/planter.tar", planter),
        ("/tool.sh", b"#!/bin/sh\necho ran\n".to_vec()),
        ("/through.zip", zip_of("link/planted")),
    ]))
    .await;
    let cluster = Cluster::start(&[]).await;
    let mut framework = Framework::register(cluster.client(), registration("planter")).await;
    let offers = framework.offers().await;
    let agent = offers[0].agent_id.clone();
    let mut download = shell_task(&agent, "download", "./tool.sh", 0.1, 32.0);
    download.fetch = vec![
        fetch(format!("{}/planter.tar", files.url), None),
        FetchUri { executable: true, ..fetch(format!("{}/tool.sh", files.url), None) },
    ];
    let mut unzip = shell_task(&agent, "unzip", "true", 0.1, 32.0);
    unzip.fetch =
        vec![fetch(format!("{}/planter.tar", files.url), None), fetch(format!("{}/through.zip", files.url), None)];
    framework.launch(&offers[0], vec![download, unzip]).await.expect("launch");
    let ended = framework.terminals(2).await;
    assert_eq!(std::fs::read_to_string(&victim).expect("victim"), "untouched\n", "a download went through a link");
    assert_eq!(ended["download"].state, TaskState::Finished, "{:?}", ended["download"]);
    let unzip = &ended["unzip"];
    assert_eq!(unzip.reason.as_deref(), Some("fetch_failed"), "{unzip:?}");
    assert!(!outside.path().join("planted").exists(), "a zip entry went through a link");
}
