//! Floods at the server's edge, before any token is checked, against a real `agora dev`: slow
//! clients, unauthenticated uploads, and a client flooding an agent with log reads or with
//! acknowledgements and kills; and clients behind a load balancer that speaks the PROXY protocol.

mod common;

use agora_api::TaskState;
use agora_client::ClientError;
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
    // From an address of its own, as a framework elsewhere would: 2,000 connections from the
    // agent's address would take the server's 1,024 per address, and the agent's heartbeats
    // would be refused with them (which this test is not about).
    let flooder = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .expect("an HTTP client");
    let reads = (0..2000).map(|_| {
        let request = flooder.get(format!("{}{path}", cluster.url)).bearer_auth(&token);
        async move {
            let answer = request.send().await?;
            let status = answer.status().as_u16();
            answer.bytes().await.map(|body| (status, body))
        }
    });
    let answers = futures::future::join_all(reads).await;
    let refused = answers.iter().filter(|a| matches!(a, Ok((429, _)))).count();
    assert!(refused > 0, "no read was held back");
    assert!(answers.iter().any(|a| matches!(a, Ok((200, body)) if &body[..] == b"hello\n")), "no read was served");

    // The agent kept its stream: it registered once, and it still takes commands (once the
    // flood's reads it still holds, each waiting up to 5 s for output, have let go of its
    // slots: until then a read may time out).
    assert_eq!(registrations(), registered, "{}", cluster.dev_stderr());
    let now = path.replace("wait_secs=5", "wait_secs=0");
    let body = eventually(DEADLINE, "a read to be served after the flood", || {
        let (client, now) = (framework.client.clone(), now.clone());
        async move { client.get_bytes(&now).await.ok().map(|(body, _)| body) }
    })
    .await;
    assert_eq!(&body[..], b"hello\n");
    assert_eq!(registrations(), registered, "{}", cluster.dev_stderr());
    let kill = agora_api::framework::Kill { grace_period_secs: Some(0.0) };
    framework.client.post_no_content(&framework.path("tasks/chatty/kill"), &kill).await.expect("kill");
    while framework.update("chatty", true).await.state != TaskState::Killed {}
}

/// A framework floods an agent's command stream with acknowledgements and kills of its own
/// task, 20,000 of them, 256 at a time. Each would be a command on the agent's stream, which
/// keeps 2,000: past its budget the token gets 429, the agent keeps its stream (it never
/// registers again), and the commands that matter still reach it. The budget is set to 10 a
/// second, so that the flood outruns it however slowly this machine serves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_acknowledgements_and_kills_does_not_make_an_agent_register_again() {
    use futures::StreamExt as _;
    let cluster = Cluster::start(&["--agent-commands-per-sec", "10"]).await;
    let token = cluster.issue_token("framework", "flooder");
    let mut framework = Framework::register(cluster.client_with(&token), registration("flooder")).await;
    let offer = offer_where(&framework, "an offer", |_| true).await;
    let task = shell_task(&offer.agent_id, "stubborn", "trap '' TERM; exec sleep 1000", 0.1, 32.0);
    framework.launch(&offer, vec![task]).await.expect("launch");
    while framework.update("stubborn", true).await.state != TaskState::Running {}
    let registrations = || cluster.dev_stderr().matches("registered with the master").count();
    assert_eq!(registrations(), 1, "{}", cluster.dev_stderr());

    let ack_path = framework.path("acknowledge");
    let kill_path = framework.path("tasks/stubborn/kill");
    let agent_id = offer.agent_id.clone();
    let flood = futures::stream::iter(0..20_000).map(|i| {
        let client = framework.client.clone();
        let (ack_path, kill_path, agent_id) = (ack_path.clone(), kill_path.clone(), agent_id.clone());
        async move {
            if i % 2 == 0 {
                let ack = agora_api::framework::Acknowledge {
                    task_id: "stubborn".parse().expect("id"),
                    agent_id,
                    update_id: agora_api::UpdateId::random(),
                };
                client.post_no_content(&ack_path, &ack).await
            } else {
                // A long grace: the task ignores TERM, so it stays running through the flood.
                let kill = agora_api::framework::Kill { grace_period_secs: Some(3600.0) };
                client.post_no_content(&kill_path, &kill).await
            }
        }
    });
    let answers: Vec<_> = flood.buffer_unordered(256).collect().await;
    let refused = answers.iter().filter(|a| matches!(a, Err(ClientError::Api { status: 429, .. }))).count();
    let other =
        answers.iter().filter(|a| matches!(a, Err(e) if !matches!(e, ClientError::Api { status: 429, .. }))).count();
    assert!(refused > 0, "no command was held back");
    // Seen once in CI (9,988 of the 20,000 failing otherwise than 429, not reproduced in three
    // runs here): the first such error and the end of the server's log say what it was.
    let first_other =
        answers.iter().find(|a| matches!(a, Err(e) if !matches!(e, ClientError::Api { status: 429, .. })));
    let log = cluster.dev_stderr();
    let tail: Vec<&str> = log.lines().rev().take(40).collect();
    assert_eq!(
        other,
        0,
        "{first_other:?}\nthe end of agora dev's log:\n{}",
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    );

    // The agent kept its stream: it registered once, and a kill still reaches it.
    assert_eq!(registrations(), 1, "{}", cluster.dev_stderr());
    let kill = agora_api::framework::Kill { grace_period_secs: Some(0.0) };
    eventually(DEADLINE, "the kill to be taken", || async {
        framework.client.post_no_content(&kill_path, &kill).await.ok()
    })
    .await;
    // Not acknowledged: what is left of the budget went to the kill.
    while framework.update("stubborn", false).await.state != TaskState::Killed {}
}

/// Sends `header` and then `request` over a connection from 127.0.0.2 (the trusted proxy in the
/// PROXY protocol test); returns the connection and what the server answered (one answer, or
/// all it sent before closing).
async fn through_proxy(server: &str, header: &[u8], request: &str) -> (tokio::net::TcpStream, String) {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.bind("127.0.0.2:0".parse().expect("address")).expect("binds to 127.0.0.2");
    let mut stream = socket.connect(server.parse().expect("server address")).await.expect("connects");
    stream.write_all(&[header, request.as_bytes()].concat()).await.expect("writes");
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    // Until the answer's head and body are in (`Connection: close` ends it) or the server closes.
    let read = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
            let text = String::from_utf8_lossy(&answer);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
                    .and_then(|v| v.parse::<usize>().ok());
                if length.is_some_and(|n| body.len() >= n) {
                    break;
                }
            }
        }
    };
    tokio::time::timeout(DEADLINE, read).await.expect("the server answers or closes");
    (stream, String::from_utf8_lossy(&answer).into_owned())
}

/// Behind a TCP load balancer that speaks the PROXY protocol (TLS passes through it, so it
/// cannot add `X-Forwarded-For`), the limits on addresses count the client its header names:
/// a client that keeps failing authentication is held back while another behind the same
/// balancer is served, and one client's connections are capped while another's are not. A
/// connection from the balancer without a header is closed, and clients that connect directly
/// are served as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_proxy_protocol_balancer_limits_count_the_client_it_names() {
    let cluster =
        Cluster::start(&["--trusted-proxies", "127.0.0.2", "--proxy-protocol", "--max-connections-per-address", "32"])
            .await;
    let server = cluster.url.trim_start_matches("http://").to_string();
    let proxy_header = |client: &str| format!("PROXY TCP4 {client} 127.0.0.1 40000 443\r\n").into_bytes();
    let request = |token: &str, close: bool| {
        let connection = if close { "Connection: close\r\n" } else { "" };
        format!("GET /v1/cluster HTTP/1.1\r\nHost: agora\r\nAuthorization: Bearer {token}\r\n{connection}\r\n")
    };

    // 192.0.2.7 fails authentication until it is held back ...
    let mut held_back = false;
    for _ in 0..50 {
        let (_, answer) = through_proxy(&server, &proxy_header("192.0.2.7"), &request("bad", true)).await;
        if answer.starts_with("HTTP/1.1 429") {
            held_back = true;
            break;
        }
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    }
    assert!(held_back, "a client that kept failing was never held back");
    // ... while 192.0.2.8, behind the same balancer, is judged on its own.
    let (_, answer) = through_proxy(&server, &proxy_header("192.0.2.8"), &request("bad", true)).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    let (_, answer) = through_proxy(&server, &proxy_header("192.0.2.8"), &request(&cluster.token, true)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // 192.0.2.9 holds 32 connections, its cap; its 33rd is closed, and 192.0.2.10 is served.
    let mut held = Vec::new();
    for _ in 0..32 {
        let (stream, answer) =
            through_proxy(&server, &proxy_header("192.0.2.9"), &request(&cluster.token, false)).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        held.push(stream);
    }
    let (_, answer) = through_proxy(&server, &proxy_header("192.0.2.9"), &request(&cluster.token, true)).await;
    assert_eq!(answer, "", "a connection past the client's cap was served");
    let (_, answer) = through_proxy(&server, &proxy_header("192.0.2.10"), &request(&cluster.token, true)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Version 2 of the header is read too: naming 192.0.2.9, the connection is closed; naming
    // 192.0.2.11, it is served.
    let v2 = |client: [u8; 4]| -> Vec<u8> {
        let signature = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
        // PROXY over TCP/IPv4, 12 bytes of addresses and ports.
        [&signature[..], &[0x21, 0x11, 0x00, 0x0c], &client, &[127, 0, 0, 1], &[0x9c, 0x40, 0x01, 0xbb]].concat()
    };
    let (_, answer) = through_proxy(&server, &v2([192, 0, 2, 9]), &request(&cluster.token, true)).await;
    assert_eq!(answer, "", "192.0.2.9, named by a v2 header, is past its cap");
    let (_, answer) = through_proxy(&server, &v2([192, 0, 2, 11]), &request(&cluster.token, true)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // The balancer must send a header; clients that connect directly need none.
    let (_, answer) = through_proxy(&server, b"", &request(&cluster.token, true)).await;
    assert_eq!(answer, "", "a connection from the balancer without a header was served");
    let view: serde_json::Value = cluster.client().get("/v1/cluster").await.expect("a direct client is served");
    assert!(view.get("agents").is_some(), "{view}");
}

/// CORS: with `--cors-origins`, a browser's preflight from an allowed origin is answered with
/// what the page may send, and answers name the origin so that the page may read them; another
/// origin's preflight is refused, and its answers name no origin. Without the flag, `OPTIONS`
/// is a 405 as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_of_allowed_origins_may_call_the_api_and_others_may_not() {
    let page = "http://127.0.0.1:8080";
    let cluster = Cluster::start(&["--cors-origins", &format!("{page},https://ui.example.com")]).await;
    let http = reqwest::Client::new();
    let preflight = |origin: &'static str, path: &str| {
        http.request(reqwest::Method::OPTIONS, format!("{}{path}", cluster.url))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization, content-type")
            .send()
    };
    let allowed = preflight("http://127.0.0.1:8080", "/v1/frameworks").await.expect("preflight");
    assert_eq!(allowed.status(), 204);
    let header =
        |r: &reqwest::Response, name: &str| r.headers().get(name).map(|v| v.to_str().unwrap_or("").to_string());
    assert_eq!(header(&allowed, "access-control-allow-origin").as_deref(), Some(page));
    assert_eq!(header(&allowed, "access-control-allow-methods").as_deref(), Some("POST, GET"));
    let headers = header(&allowed, "access-control-allow-headers").unwrap_or_default();
    assert!(headers.contains("authorization") && headers.contains("last-event-id"), "{headers}");

    let refused = preflight("https://evil.example", "/v1/frameworks").await.expect("preflight");
    assert_eq!(refused.status(), 403);
    assert_eq!(header(&refused, "access-control-allow-origin"), None);
    let nowhere = preflight("http://127.0.0.1:8080", "/v1/nowhere").await.expect("preflight");
    assert_eq!(nowhere.status(), 404);

    // The answers themselves, errors included, name an allowed origin only.
    let read = |origin: &'static str| {
        http.get(format!("{}/v1/cluster", cluster.url)).bearer_auth(&cluster.token).header("origin", origin).send()
    };
    let ok = read("https://ui.example.com").await.expect("cluster");
    assert_eq!(ok.status(), 200);
    assert_eq!(header(&ok, "access-control-allow-origin").as_deref(), Some("https://ui.example.com"));
    assert_eq!(header(&read("https://evil.example").await.expect("cluster"), "access-control-allow-origin"), None);
    let unauthorized =
        http.get(format!("{}/v1/cluster", cluster.url)).header("origin", page).send().await.expect("cluster");
    assert_eq!(unauthorized.status(), 401);
    assert_eq!(header(&unauthorized, "access-control-allow-origin").as_deref(), Some(page));

    let plain = Cluster::start(&[]).await;
    let options = http
        .request(reqwest::Method::OPTIONS, format!("{}/v1/frameworks", plain.url))
        .header("origin", page)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("options");
    assert_eq!(options.status(), 405);
    assert_eq!(header(&options, "access-control-allow-origin"), None);
}
