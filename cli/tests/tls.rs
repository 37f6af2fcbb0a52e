//! TLS: `agora certs create` makes a cluster CA, `agora server --tls-cert/--tls-key` serves
//! HTTPS, and agents, frameworks and the CLI check it against `--ca`. With `--client-ca`, every
//! client must also present a certificate. Plain HTTP is refused off loopback.

mod common;

use agora_client::{Client, TlsOptions};
use common::replicas::start_server;
use common::{issue_token, registration, shell_task, spawn_agent_with, stop, Framework, AGORA, DEADLINE};
use std::path::{Path, PathBuf};
use std::process::Child;

/// A server on HTTPS in its own directory, with certificates for `localhost`/127.0.0.1 and an
/// agent called `node-1`.
struct TlsCluster {
    dir: tempfile::TempDir,
    url: String,
    server: Child,
    agents: Vec<Child>,
}

impl Drop for TlsCluster {
    fn drop(&mut self) {
        for agent in &mut self.agents {
            stop(agent);
        }
        stop(&mut self.server);
    }
}

fn certs_create(dir: &Path) {
    let out = std::process::Command::new(AGORA)
        .args(["certs", "create", "--server", "localhost,127.0.0.1", "--agents", "node-1", "--dir"])
        .arg(dir)
        .output()
        .expect("agora certs create");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("made a new CA"));
}

impl TlsCluster {
    /// With `client_ca`, the server requires client certificates signed by the cluster CA.
    async fn start(client_ca: bool) -> TlsCluster {
        let dir = common::task_dir();
        certs_create(&dir.path().join("certs"));
        let certs = dir.path().join("certs");
        let mut args: Vec<String> = ["--listen", "127.0.0.1:0", "--data-dir"].map(String::from).to_vec();
        args.push(dir.path().join("data").display().to_string());
        args.extend(["--tls-cert".into(), certs.join("server.pem").display().to_string()]);
        args.extend(["--tls-key".into(), certs.join("server.key").display().to_string()]);
        if client_ca {
            args.extend(["--client-ca".into(), certs.join("ca.pem").display().to_string()]);
        }
        let (server, url) = start_server(dir.path(), 0, &args).await;
        assert!(url.starts_with("https://127.0.0.1:"), "{url}");
        TlsCluster { dir, url, server, agents: Vec::new() }
    }

    fn cert(&self, name: &str) -> PathBuf {
        self.dir.path().join("certs").join(name)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn tls(&self) -> TlsOptions {
        TlsOptions { ca: Some(self.cert("ca.pem")), identity: None }
    }

    fn spawn_agent(&mut self, extra: &[&str]) {
        let token = issue_token(&self.data_dir(), "agent", "node-1");
        let ca = self.cert("ca.pem").display().to_string();
        let mut args = vec!["--ca", ca.as_str()];
        args.extend(extra);
        let agent = spawn_agent_with(self.dir.path(), &self.url, &token, "node-1", "cpus:2,mem:512", &args);
        self.agents.push(agent);
    }

    /// The CLI with this cluster's address and an operator token.
    fn cli(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(AGORA);
        cmd.args(args)
            .env("AGORA_ADDR", &self.url)
            .env("AGORA_TOKEN", issue_token(&self.data_dir(), "operator", "ops"))
            .env_remove("AGORA_DATA_DIR")
            .env_remove("AGORA_CA");
        cmd
    }
}

/// Waits until `client` lists one active agent.
async fn wait_for_agent(client: &Client) -> agora_api::AgentId {
    common::eventually(DEADLINE, "the agent to register over HTTPS", || {
        let client = client.clone();
        async move {
            let list: agora_api::operator::AgentList = client.get("/v1/agents").await.ok()?;
            list.agents.into_iter().next().map(|a| a.id)
        }
    })
    .await
}

#[tokio::test]
async fn agents_frameworks_and_the_cli_work_over_https_checked_against_the_cluster_ca() {
    let mut cluster = TlsCluster::start(false).await;
    cluster.spawn_agent(&[]);
    let operator = issue_token(&cluster.data_dir(), "operator", "ops");
    let client = Client::with_tls(&cluster.url, &operator, &cluster.tls()).expect("client");
    let agent_id = wait_for_agent(&client).await;

    // A framework over HTTPS: offers and updates arrive on its event stream.
    let mut framework = Framework::register(client.clone(), registration("tls")).await;
    let offer = framework.offers().await.into_iter().next().expect("an offer");
    framework.launch(&offer, vec![shell_task(&agent_id, "t1", "exit 3", 0.1, 32.0)]).await.expect("launch");
    let status = loop {
        let status = framework.update("t1", true).await;
        if status.state.is_terminal() {
            break status;
        }
    };
    assert_eq!(status.state, agora_api::TaskState::Failed, "{status:?}");
    // Torn down: the offers it holds go back, for the CLI's framework.
    client.delete(&format!("/v1/frameworks/{}", framework.id)).await.expect("teardown");

    // The CLI with --ca, by IP address and by name: both are in the server's certificate.
    let ca = cluster.cert("ca.pem").display().to_string();
    let out = cluster
        .cli(&["run", "--ca", &ca, "--cpus", "0.1", "--mem", "16", "--", "echo", "hello over tls"])
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hello over tls");
    let by_name = cluster.url.replace("127.0.0.1", "localhost");
    let out = cluster.cli(&["agents", "--addr", &by_name]).env("AGORA_CA", &ca).output().expect("agents");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("node-1"));

    // Without the CA, the server's certificate is not trusted, and the CLI says why.
    let out = cluster.cli(&["agents"]).output().expect("agents");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("certificate") && stderr.contains("--ca"), "{stderr}");

    // A CA that did not sign the server's certificate is refused too.
    let other = cluster.dir.path().join("other");
    certs_create(&other);
    let wrong = TlsOptions { ca: Some(other.join("ca.pem")), identity: None };
    let err = Client::with_tls(&cluster.url, &operator, &wrong)
        .expect("client")
        .get::<serde_json::Value>("/v1/cluster")
        .await;
    assert!(err.expect_err("an unknown issuer").is_connect());

    // Plain HTTP to the TLS port gets no HTTP answer, and so no data.
    let plain = cluster.url.replace("https://", "http://");
    let err = Client::new(&plain, &operator).expect("client").get::<serde_json::Value>("/v1/cluster").await;
    assert!(err.is_err(), "plain HTTP must not be answered: {err:?}");
}

#[tokio::test]
async fn with_a_client_ca_every_client_must_present_a_certificate() {
    let mut cluster = TlsCluster::start(true).await;
    let ca = cluster.cert("ca.pem").display().to_string();
    let agent_cert = cluster.cert("agent-node-1.pem").display().to_string();
    let agent_key = cluster.cert("agent-node-1.key").display().to_string();
    cluster.spawn_agent(&["--cert", &agent_cert, "--key", &agent_key]);
    let operator = issue_token(&cluster.data_dir(), "operator", "ops");
    let with_cert = TlsOptions {
        ca: Some(cluster.cert("ca.pem")),
        identity: Some((cluster.cert("agent-node-1.pem"), cluster.cert("agent-node-1.key"))),
    };
    let client = Client::with_tls(&cluster.url, &operator, &with_cert).expect("client");
    wait_for_agent(&client).await;

    // A valid token is not enough without a certificate.
    let err = Client::with_tls(&cluster.url, &operator, &cluster.tls())
        .expect("client")
        .get::<serde_json::Value>("/v1/cluster")
        .await
        .expect_err("no client certificate");
    assert!(err.status().is_none(), "the handshake fails before any HTTP answer: {err:?}");
    let out = cluster.cli(&["agents", "--ca", &ca]).output().expect("agents");
    assert!(!out.status.success());
    let out =
        cluster.cli(&["agents", "--ca", &ca, "--cert", &agent_cert, "--key", &agent_key]).output().expect("agents");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // An agent token goes only with its own agent's certificate: node-2's token is refused
    // over node-1's certificate, whatever it asks.
    let node2 = issue_token(&cluster.data_dir(), "agent", "node-2");
    let stolen = Client::with_tls(&cluster.url, &node2, &with_cert).expect("client");
    let registration = serde_json::json!({"hostname": "node-2", "resources": {"cpus": 1, "mem": 64}});
    let err = stolen.post::<_, serde_json::Value>("/v1/agents", &registration).await.expect_err("refused");
    match &err {
        agora_client::ClientError::Api { status: 403, message, .. } => {
            assert!(message.contains("names node-1, not the token's agent principal node-2"), "{message}");
        }
        other => panic!("node-2's token over node-1's certificate must get 403, got {other:?}"),
    }
    let agents: agora_api::operator::AgentList = client.get("/v1/agents").await.expect("agents");
    assert!(agents.agents.iter().all(|a| a.hostname != "node-2"), "{:?}", agents.agents);

    // A certificate and a token are both needed: a certificate with a bad token is still 401.
    let err = Client::with_tls(&cluster.url, "not-a-token", &with_cert)
        .expect("client")
        .get::<serde_json::Value>("/v1/cluster")
        .await
        .expect_err("bad token");
    assert_eq!(err.status(), Some(401));
}

#[test]
fn plain_http_is_refused_off_loopback_unless_asked_for() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 192.0.2.1 is a documentation address: the check comes before any bind.
    let out = std::process::Command::new(AGORA)
        .args(["server", "--listen", "192.0.2.1:5050", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("agora server");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("refusing to serve plain HTTP") && stderr.contains("--insecure-http"), "{stderr}");

    let out = std::process::Command::new(AGORA)
        .args(["dev", "--listen", "192.0.2.1:5050", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("agora dev");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback only"));

    // --insecure-http lets it listen on every address.
    let mut server = std::process::Command::new(AGORA)
        .args(["server", "--insecure-http", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("agora server");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(server.stdout.take().expect("stdout")), &mut line)
        .expect("a line");
    assert!(line.starts_with("Agora server listening at http://0.0.0.0:"), "{line}");
    stop(&mut server);
}
