//! Floods at the server's edge, before any token is checked, against a real `agora dev`: slow
//! clients, unauthenticated uploads, and a client flooding an agent with log reads.

mod common;

use agora_agent::client::ClientError;
use agora_api::TaskState;
use common::{eventually, offer_where, registration, shell_task, Cluster, Framework, DEADLINE};
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A field of `/proc/PID/status`, in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the process's status");
    let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("{field} in {status}"));
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("a number of KiB")
}

/// Slowloris: clients that send a request's headers one byte every second never finish them.
/// With `--header-timeout 2` the server cuts each off, while a good client is served meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_and_good_clients_are_served_meanwhile() {
    let cluster = Cluster::start(&["--header-timeout", "2"]).await;
    let address = cluster.url.trim_start_matches("http://").to_string();
    let request = b"GET /v1/cluster HTTP/1.1\r\nHost: agora\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    let slow = (0..50).map(|_| {
        let address = address.clone();
        tokio::spawn(async move {
            let mut socket = tokio::net::TcpStream::connect(address).await.expect("connects");
            // At most one byte a second for 20 s: the loop ends by itself if never cut off.
            for byte in request.iter() {
                if socket.write_all(&[*byte]).await.is_err() {
                    return true;
                }
                let mut buf = [0u8; 256];
                match tokio::time::timeout(Duration::from_secs(1), socket.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => return true,
                    // The server answered something (a 408, say) before closing.
                    Ok(Ok(_)) => return true,
                    Err(_) => {}
                }
            }
            false
        })
    });
    let slow: Vec<_> = slow.collect();
    // While they trickle, a client with a token is served at once, more than once.
    for _ in 0..5 {
        let cluster_view: serde_json::Value = cluster.client().get("/v1/cluster").await.expect("served");
        assert!(cluster_view.get("agents").is_some(), "{cluster_view}");
    }
    for handle in slow {
        assert!(handle.await.expect("a slow client"), "a slow client was never cut off");
    }
}

/// 200 clients without a token each start uploading 4 MiB at once. The server refuses each at
/// its headers and never reads the bodies: its peak memory grows by far less than they send.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_uploads_are_refused_before_their_bodies_are_read() {
    let cluster = Cluster::start(&[]).await;
    let pid = cluster.dev_pid();
    let before = status_kib(pid, "VmHWM:");
    let body = bytes::Bytes::from(vec![b'x'; 4 << 20]);
    let http = reqwest::Client::new();
    let uploads = (0..200).map(|_| {
        let request = http.post(format!("{}/v1/frameworks", cluster.url)).body(body.clone());
        async move { request.send().await.map(|r| r.status().as_u16()) }
    });
    let answers = futures::future::join_all(uploads).await;
    // Each is refused with 401 (429 once the address has failed too often), or cut off
    // mid-upload once the refusal is sent; none gets through.
    let through: Vec<_> = answers.iter().filter_map(|a| a.as_ref().ok()).filter(|s| !matches!(s, 401 | 429)).collect();
    assert!(through.is_empty(), "answers other than 401 and 429: {through:?}");
    let grown_mib = status_kib(pid, "VmHWM:").saturating_sub(before) / 1024;
    assert!(grown_mib < 100, "the server's peak memory grew by {grown_mib} MiB for 800 MiB of refused uploads");
    // And it still serves, once this address's failed authentications are forgiven (429
    // until then).
    let client = cluster.client();
    eventually(DEADLINE, "a good client to be served again", || {
        let client = client.clone();
        async move { client.get::<serde_json::Value>("/v1/cluster").await.ok() }
    })
    .await;
}

/// A framework floods an agent with log reads of its task, 2,000 at once. Each read is a
/// command on the agent's stream: past its bound of reads at once the token gets 429, the agent
/// keeps its stream (it never registers again), and its task runs on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_log_reads_neither_fills_an_agents_stream_nor_makes_it_register_again() {
    let cluster = Cluster::start(&[]).await;
    let token = cluster.issue_token("framework", "flooder");
    let mut framework = Framework::register(cluster.client_with(&token), registration("flooder")).await;
    let offer = offer_where(&framework, "an offer", |_| true).await;
    let task = shell_task(&offer.agent_id, "chatty", "echo hello; exec sleep 1000", 0.1, 32.0);
    framework.launch(&offer, vec![task]).await.expect("launch");
    while framework.update("chatty", true).await.state != TaskState::Running {}
    let registrations = || cluster.dev_stderr().matches("registered with the master").count();
    let registered = registrations();
    assert_eq!(registered, 1, "{}", cluster.dev_stderr());

    let path = format!("/v1/tasks/chatty/logs?framework_id={}&wait_secs=5", framework.id);
    let reads = (0..2000).map(|_| {
        let (client, path) = (framework.client.clone(), path.clone());
        async move { client.get_bytes(&path).await.map(|(body, _)| body) }
    });
    let answers = futures::future::join_all(reads).await;
    let refused = answers.iter().filter(|a| matches!(a, Err(ClientError::Api { status: 429, .. }))).count();
    assert!(refused > 0, "no read was held back");
    assert!(answers.iter().any(|a| matches!(a, Ok(body) if &body[..] == b"hello\n")), "no read was served");

    // The agent kept its stream: it registered once, and it still takes commands.
    assert_eq!(registrations(), registered, "{}", cluster.dev_stderr());
    let (body, _) = framework.client.get_bytes(&path.replace("wait_secs=5", "wait_secs=0")).await.expect("a read");
    assert_eq!(&body[..], b"hello\n");
    let kill = agora_api::framework::Kill { grace_period_secs: Some(0.0) };
    framework.client.post_no_content(&framework.path("tasks/chatty/kill"), &kill).await.expect("kill");
    while framework.update("chatty", true).await.state != TaskState::Killed {}
}
