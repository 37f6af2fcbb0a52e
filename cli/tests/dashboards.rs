//! The Grafana dashboards (`docker/grafana/dashboards/`) and the Prometheus alerts
//! (`docker/prometheus/alerts.yml`) against a real Prometheus scraping a real cluster: `agora
//! dev` (its `/metrics` behind `--metrics-token-file`) and an `agora agent` with
//! `--metrics-listen`, with frameworks launching tasks, a role at its quota, declines and a
//! service. Every panel's and every alert's expression must parse, name only metrics the
//! cluster exports, and (panels) return data; `promtool` checks the rules and the compose
//! config. Skips when Debian's `prometheus` package (`prometheus`, `promtool`) is missing.

mod common;

use agora_api::framework::{Decline, Filters};
use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const PROMETHEUS: &str = "/usr/bin/prometheus";
const PROMTOOL: &str = "/usr/bin/promtool";
/// The job names `alerts.yml` and `prometheus.yml` use.
const SERVER_JOB: &str = "agora-server";
const AGENT_JOB: &str = "agora-agent";
/// The memory limit of role `team`, which its framework's tasks fill.
const TEAM_MEM_LIMIT: f64 = 512.0;
/// Scrapes (one a second) to wait for after the last of the traffic.
const SCRAPES_WANTED: u32 = 5;
/// Starting Prometheus and scraping the traffic take longer than one request.
const PROMETHEUS_DEADLINE: Duration = Duration::from_secs(90);

/// Grafana's built-in variables. Rates are over a minute: the test's whole traffic, since
/// Prometheus starts just before it (a shorter window could hold no allocation round that a
/// change woke, and its quantile would be NaN).
const BUILTINS: &[(&str, &str)] = &[("__rate_interval", "1m"), ("__interval", "2s"), ("__range", "5m")];

/// Panels excused from returning data in this test's traffic, as (dashboard file, panel
/// title), each with why. Every other panel must return at least one series.
const NO_DATA_EXPECTED: &[(&str, &str)] = &[];

/// Alerts that must be quiet in this healthy cluster: their expression returns nothing.
const QUIET: &[&str] = &[
    "AgoraTargetDown",
    "AgoraServersDown",
    "AgoraLeaderLost",
    "AgoraLeadershipFlapping",
    "AgoraAgentsUnreachable",
    "AgoraNoActiveAgents",
    "AgoraAgentRecoveryErrors",
    "AgoraStoreErrors",
];

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml(path: &Path) -> Value {
    serde_norway::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The metric names an expression mentions: `agora_` and what follows, as a word. A
/// histogram's `_bucket`, `_sum` and `_count` are the series Prometheus has.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut names = BTreeSet::new();
    let mut from = 0;
    while let Some(found) = expr[from..].find("agora_") {
        let start = from + found;
        let len = expr[start..].find(|c: char| !word(c)).unwrap_or(expr.len() - start);
        if !expr[..start].ends_with(word) {
            names.insert(expr[start..start + len].to_string());
        }
        from = start + len;
    }
    names
}

/// `expr` with Grafana's variables replaced: the built-ins by [`BUILTINS`], the dashboard's
/// own (`$job`, `${instance}`, `${role:regex}`) by `.*`, every value, as "All" selects.
fn substitute(expr: &str, variables: &[String]) -> String {
    let mut all: Vec<(String, String)> = BUILTINS.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    all.extend(variables.iter().map(|n| (n.clone(), ".*".to_string())));
    // Longer names first: `$instance` is not to eat the start of `$instances`.
    all.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    let mut out = expr.to_string();
    for (name, value) in &all {
        for format in ["", ":regex", ":pipe", ":raw"] {
            out = out.replace(&format!("${{{name}{format}}}"), value);
        }
        out = out.replace(&format!("${name}"), value);
    }
    out
}

/// One expression to run: a panel's target, a template variable's query, or an alert.
struct Query {
    file: String,
    /// The panel's title, the variable's name, or the alert's name.
    name: String,
    expr: String,
}

/// What the dashboards ask Prometheus: (panel targets, variable queries).
fn dashboard_queries() -> (Vec<Query>, Vec<Query>) {
    let dir = repo().join("docker/grafana/dashboards");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("docker/grafana/dashboards")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let names: Vec<&str> = files.iter().filter_map(|p| p.file_name()?.to_str()).collect();
    for wanted in ["agora-cluster.json", "agora-allocator.json", "agora-agents.json", "agora-state.json"] {
        assert!(names.contains(&wanted), "{wanted} in {names:?}");
    }
    let (mut panels, mut variables) = (Vec::new(), Vec::new());
    let mut uids = BTreeSet::new();
    for path in &files {
        let file = path.file_name().expect("a name").to_string_lossy().to_string();
        let dashboard: Value = serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let uid = dashboard["uid"].as_str().unwrap_or_else(|| panic!("{file} has a uid"));
        assert!(uids.insert(uid.to_string()), "{file}: uid {uid} is used twice");
        assert!(dashboard["title"].as_str().is_some_and(|t| !t.is_empty()), "{file} has a title");
        let templating = dashboard["templating"]["list"].as_array().cloned().unwrap_or_default();
        let names: Vec<String> =
            templating.iter().map(|v| v["name"].as_str().expect("a variable's name").to_string()).collect();
        // The data source is the provisioned one (uid `prometheus`), directly or through a
        // data source variable that defaults to it.
        let mut sources = vec![Value::from("prometheus")];
        for variable in &templating {
            if variable["type"] == "datasource" {
                assert_eq!(variable["query"], "prometheus", "{file}: variable {}", variable["name"]);
                assert_eq!(variable["current"]["value"], "prometheus", "{file}: variable {}", variable["name"]);
                sources.push(Value::from(format!("${{{}}}", variable["name"].as_str().expect("a name"))));
            }
            if variable["type"] != "query" {
                continue;
            }
            check_source(&file, &format!("variable {}", variable["name"]), &variable["datasource"], &sources);
            let query = match &variable["query"] {
                Value::Object(q) => q.get("query").and_then(Value::as_str).unwrap_or_default().to_string(),
                q => q.as_str().unwrap_or_default().to_string(),
            };
            let name = variable["name"].as_str().expect("a name").to_string();
            variables.push(Query { file: file.clone(), name, expr: label_values(&file, &substitute(&query, &names)) });
        }
        let mut ids = BTreeSet::new();
        let mut stack: Vec<Value> = dashboard["panels"].as_array().cloned().unwrap_or_default();
        while let Some(panel) = stack.pop() {
            let title = panel["title"].as_str().unwrap_or_default().to_string();
            let id = panel["id"].as_u64().unwrap_or_else(|| panel_error(&file, &title, "has no id"));
            assert!(ids.insert(id), "{file}: panel id {id} is used twice");
            assert!(panel["gridPos"]["w"].as_u64().is_some(), "{file}: panel {title} has no gridPos");
            if panel["type"] == "row" {
                stack.extend(panel["panels"].as_array().cloned().unwrap_or_default());
                continue;
            }
            assert!(!title.is_empty(), "{file}: panel {id} has no title");
            check_source(&file, &title, &panel["datasource"], &sources);
            let targets = panel["targets"].as_array().cloned().unwrap_or_default();
            assert!(!targets.is_empty(), "{file}: panel {title} has no targets");
            for target in targets {
                check_source(&file, &title, &target["datasource"], &sources);
                let expr = target["expr"].as_str().unwrap_or_else(|| panel_error(&file, &title, "has no expr"));
                panels.push(Query { file: file.clone(), name: title.clone(), expr: substitute(expr, &names) });
            }
        }
    }
    (panels, variables)
}

fn panel_error(file: &str, title: &str, what: &str) -> ! {
    panic!("{file}: panel {title:?} {what}")
}

fn check_source(file: &str, what: &str, source: &Value, allowed: &[Value]) {
    assert_eq!(source["type"], "prometheus", "{file}: {what}: data source {source}");
    assert!(allowed.contains(&source["uid"]), "{file}: {what}: data source {source}, not one of {allowed:?}");
}

/// Grafana's `label_values(SELECTOR, LABEL)` as the PromQL query that finds those values.
fn label_values(file: &str, query: &str) -> String {
    let inner = query
        .trim()
        .strip_prefix("label_values(")
        .and_then(|q| q.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{file}: variable query {query:?} is not label_values(selector, label)"));
    let (selector, label) = inner.rsplit_once(',').unwrap_or_else(|| panic!("{file}: {query:?} has no selector"));
    format!("count by ({}) ({})", label.trim(), selector.trim())
}

/// The alert rules of `alerts.yml`, each checked for the parts an operator needs.
fn alert_queries() -> Vec<Query> {
    let rules = yaml(&repo().join("docker/prometheus/alerts.yml"));
    let mut queries = Vec::new();
    for group in rules["groups"].as_array().expect("groups") {
        for rule in group["rules"].as_array().expect("rules") {
            let name = rule["alert"].as_str().expect("only alerting rules").to_string();
            assert!(rule["for"].as_str().is_some(), "{name} has a `for`");
            assert!(rule["labels"]["severity"].as_str().is_some(), "{name} has a severity");
            for annotation in ["summary", "description"] {
                assert!(rule["annotations"][annotation].as_str().is_some(), "{name} has a {annotation}");
            }
            let expr = rule["expr"].as_str().expect("an expr").to_string();
            queries.push(Query { file: "alerts.yml".into(), name, expr });
        }
    }
    for wanted in ["AgoraLeaderLost", "AgoraAgentsUnreachable", "AgoraOfferLatencyHigh", "AgoraQuotaExhausted"] {
        assert!(queries.iter().any(|q| q.name == wanted), "alerts.yml has {wanted}");
    }
    queries
}

/// `promtool check rules` on the repository's alerts, and `promtool check config` on a copy of
/// the compose cluster's `prometheus.yml` (with the alerts beside it, as it names them).
fn promtool_checks() {
    let dir = repo().join("docker/prometheus");
    let rules = std::process::Command::new(PROMTOOL)
        .args(["check", "rules"])
        .arg(dir.join("alerts.yml"))
        .output()
        .expect("promtool check rules");
    let said = |out: &std::process::Output| {
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    };
    assert!(rules.status.success(), "promtool check rules: {}", said(&rules));
    eprintln!("promtool check rules: {}", said(&rules).trim());
    let copy = tempfile::tempdir().expect("tempdir");
    for file in ["prometheus.yml", "alerts.yml"] {
        std::fs::copy(dir.join(file), copy.path().join(file)).expect("copy");
    }
    let config = std::process::Command::new(PROMTOOL)
        .args(["check", "config"])
        .arg(copy.path().join("prometheus.yml"))
        .output()
        .expect("promtool check config");
    assert!(config.status.success(), "promtool check config: {}", said(&config));
    eprintln!("promtool check config: {}", said(&config).trim());
    // The compose config names its jobs as the alerts expect them.
    let parsed = yaml(&dir.join("prometheus.yml"));
    let jobs: Vec<&str> = parsed["scrape_configs"]
        .as_array()
        .expect("scrape_configs")
        .iter()
        .filter_map(|s| s["job_name"].as_str())
        .collect();
    for job in [SERVER_JOB, AGENT_JOB] {
        assert!(jobs.contains(&job), "prometheus.yml scrapes job {job}: {jobs:?}");
    }
    let rule_files = parsed["rule_files"].as_array().expect("rule_files");
    assert!(rule_files.iter().any(|f| f == "alerts.yml"), "prometheus.yml loads alerts.yml: {rule_files:?}");
}

/// Grafana's provisioning: the data source the dashboards name, and where they are loaded from.
fn provisioning_checks() {
    let dir = repo().join("docker/grafana/provisioning");
    let sources = yaml(&dir.join("datasources/prometheus.yaml"));
    let prometheus = sources["datasources"]
        .as_array()
        .expect("datasources")
        .iter()
        .find(|s| s["uid"] == "prometheus")
        .expect("a data source of uid prometheus");
    assert_eq!(prometheus["type"], "prometheus");
    assert_eq!(prometheus["url"], "http://prometheus:9090");
    let providers = yaml(&dir.join("dashboards/agora.yaml"));
    let provider = &providers["providers"][0];
    assert_eq!(provider["type"], "file");
    assert_eq!(provider["options"]["path"], "/var/lib/grafana/dashboards");
}

/// A Prometheus process of the test's, on a free port, with its data and log in a temporary
/// directory.
struct Prometheus {
    child: Child,
    base: String,
    http: reqwest::Client,
    dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

impl Prometheus {
    fn start(config: &str) -> Prometheus {
        let dir = tempfile::tempdir().expect("tempdir");
        let config_file = dir.path().join("prometheus.yml");
        std::fs::write(&config_file, config).expect("write the config");
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let child = std::process::Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address={listen}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("prometheus.log")).expect("log file"))
            .spawn()
            .expect("prometheus starts");
        Prometheus { child, base: format!("http://{listen}"), http: reqwest::Client::new(), dir }
    }

    fn log(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    async fn get(&self, path: &str, params: &[(&str, &str)]) -> Option<Value> {
        let response = self.http.get(format!("{}{path}", self.base)).query(params).send().await.ok()?;
        response.json().await.ok()
    }

    /// An instant query's result: its series (a scalar counts as one), or the API's error.
    async fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        let answer = self.get("/api/v1/query", &[("query", expr)]).await.ok_or("no answer from Prometheus")?;
        if answer["status"] != "success" {
            return Err(format!("{}: {}", answer["errorType"], answer["error"]));
        }
        match answer["data"]["resultType"].as_str() {
            Some("vector" | "matrix") => Ok(answer["data"]["result"].as_array().cloned().unwrap_or_default()),
            Some("scalar" | "string") => Ok(vec![answer["data"]["result"].clone()]),
            other => Err(format!("unexpected result type {other:?}")),
        }
    }

    /// Whether `expr` returns at least one series now.
    async fn has_data(&self, expr: &str) -> bool {
        self.query(expr).await.is_ok_and(|r| !r.is_empty())
    }

    /// Waits until `expr` returns data, within [`PROMETHEUS_DEADLINE`].
    async fn wait_for(&self, expr: &str) {
        let until = Instant::now() + PROMETHEUS_DEADLINE;
        while !self.has_data(expr).await {
            assert!(Instant::now() < until, "timed out waiting for `{expr}`; prometheus said:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until Prometheus answers and every target is up, within [`PROMETHEUS_DEADLINE`].
    async fn wait_for_targets(&self, count: usize) {
        let until = Instant::now() + PROMETHEUS_DEADLINE;
        let mut last = Value::Null;
        loop {
            if let Some(answer) = self.get("/api/v1/targets", &[("state", "active")]).await {
                let targets = answer["data"]["activeTargets"].as_array().cloned().unwrap_or_default();
                if targets.len() == count && targets.iter().all(|t| t["health"] == "up") {
                    return;
                }
                last = answer;
            }
            assert!(Instant::now() < until, "targets not all up: {last}\nprometheus said:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The config of the test's Prometheus: the repository's alerts, the dev server (with its
/// metrics token) and the agent, every second.
fn prometheus_config(server: &str, token_file: &Path, agent: &str) -> String {
    let alerts = repo().join("docker/prometheus/alerts.yml");
    format!(
        r#"global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - "{alerts}"
scrape_configs:
  - job_name: {SERVER_JOB}
    metrics_path: /metrics
    authorization:
      type: Bearer
      credentials_file: "{token}"
    static_configs:
      - targets: ["{server}"]
  - job_name: {AGENT_JOB}
    metrics_path: /metrics
    static_configs:
      - targets: ["{agent}"]
"#,
        alerts = alerts.display(),
        token = token_file.display(),
    )
}

/// Traffic for the panels: a role with a quota and a framework at its limit, a framework whose
/// tasks finish, fail and fail to launch, with one left running, a decline with a filter, and
/// a service. Returns the frameworks, connected.
async fn drive_traffic(cluster: &Cluster) -> Vec<Framework> {
    let set = cluster
        .cli(&[
            "role",
            "set",
            "team",
            "--guarantee",
            "cpus:0.5,mem:64",
            "--limit",
            &format!("cpus:1,mem:{TEAM_MEM_LIMIT}"),
        ])
        .output()
        .expect("agora role set");
    assert!(set.status.success(), "{}", String::from_utf8_lossy(&set.stderr));

    // The role's framework fills its memory limit with tasks: it is offered its quota in
    // pieces (its guarantee first), and launches a task on each piece until it holds it all.
    let mut in_team = registration("team-framework");
    in_team.roles = vec!["team".into()];
    let team = Framework::register(cluster.client(), in_team).await;
    let mut held = 0.0;
    for n in 0.. {
        assert!(n < 20, "role team's offers never added up to its limit: {held} MiB");
        let offer = offer_where(&team, "an offer to role team", |o| o.role == "team").await;
        let (cpus, mem) = (offer.resources.cpus, offer.resources.mem);
        let hog = shell_task(&offer.agent_id, &format!("hog-{n}"), "exec sleep 600", cpus, mem);
        team.launch(&offer, vec![hog]).await.expect("launch");
        held += mem;
        // Within half a MiB: the pieces are sums of floats.
        if held >= TEAM_MEM_LIMIT - 0.5 {
            break;
        }
    }

    // On the metered agent: one task finishes, one fails, one cannot launch, one runs on.
    let mut worker = Framework::register(cluster.client(), registration("worker")).await;
    let offer = offer_where(&worker, "an offer of the metered agent", |o| {
        o.hostname == "metered" && o.resources.cpus >= 0.8 && o.resources.mem >= 160.0
    })
    .await;
    let mut broken = shell_task(&offer.agent_id, "broken", "unused", 0.1, 32.0);
    broken.command = agora_api::Command::Argv(vec!["/nonexistent/program".into()]);
    let tasks = vec![
        shell_task(&offer.agent_id, "finishes", "true", 0.1, 32.0),
        shell_task(&offer.agent_id, "fails", "exit 3", 0.1, 32.0),
        shell_task(&offer.agent_id, "steady", "exec sleep 600", 0.5, 64.0),
        broken,
    ];
    worker.launch(&offer, tasks).await.expect("launch");
    let ended = worker.terminals(3).await;
    assert_eq!(ended["finishes"].state, agora_api::TaskState::Finished);
    assert_eq!(ended["fails"].state, agora_api::TaskState::Failed);
    assert!(!ended.contains_key("steady"), "{ended:?}");

    // The worker declines what else it is offered, for an hour: an offer filter of role `*`.
    let spare = offer_where(&worker, "an offer to decline", |_| true).await;
    let decline = Decline { offer_ids: vec![spare.id], filters: Filters { refuse_secs: Some(3600.0) } };
    worker.client.post_no_content(&worker.path("decline"), &decline).await.expect("decline");

    let spec: agora_api::services::ServiceSpec = serde_json::from_value(serde_json::json!({
        "instances": 1,
        "task": {"resources": {"cpus": 0.1, "mem": 16}, "command": {"shell": "exec sleep 600"}},
    }))
    .expect("a service spec");
    cluster.client().put_service("web", &spec).await.expect("put the service");
    vec![team, worker]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboards_and_alerts_query_what_a_real_cluster_exports() {
    for tool in [PROMETHEUS, PROMTOOL] {
        if !Path::new(tool).exists() {
            eprintln!(
                "skipped dashboards_and_alerts_query_what_a_real_cluster_exports: no {tool} (apt-get install prometheus)"
            );
            return;
        }
    }
    promtool_checks();
    provisioning_checks();
    let (panels, variables) = dashboard_queries();
    let alerts = alert_queries();
    for excused in NO_DATA_EXPECTED {
        assert!(panels.iter().any(|p| (p.file.as_str(), p.name.as_str()) == *excused), "no panel {excused:?}");
    }

    // The cluster: /metrics needs a token, and an agent serves its own metrics.
    let secrets = tempfile::tempdir().expect("tempdir");
    let token_file = secrets.path().join("metrics.token");
    std::fs::write(&token_file, "dashboards-test-metrics-token\n").expect("token file");
    let token_arg = token_file.to_str().expect("utf-8 path");
    let mut cluster = Cluster::start(&["--metrics-token-file", token_arg]).await;
    cluster.spawn_agent_with("metered", "cpus:2,mem:1024,disk:512", &["--metrics-listen", "127.0.0.1:0"]);
    cluster.wait_for_agents(2).await;
    let unauthorized = reqwest::get(format!("{}/metrics", cluster.url)).await.expect("GET /metrics");
    assert_eq!(unauthorized.status(), 401, "/metrics without the token");
    let address_file = cluster.agent_work_dir("metered").join("metrics.address");
    let agent_metrics = eventually(DEADLINE, "the agent's metrics address", || async {
        std::fs::read_to_string(&address_file).ok().map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
    })
    .await;
    let server = cluster.url.trim_start_matches("http://").to_string();

    // Prometheus scrapes before the traffic, so that counters are seen to rise.
    let prometheus = Prometheus::start(&prometheus_config(&server, &token_file, &agent_metrics));
    prometheus.wait_for_targets(2).await;
    // Held until the end: a framework that goes away takes its tasks with it.
    let _frameworks = drive_traffic(&cluster).await;
    let team_full = format!(r#"agora_role_quota_consumed{{role="team", resource="mem"}} >= {}"#, TEAM_MEM_LIMIT - 0.5);
    for seen in [
        "sum(agora_tasks_launched_total) >= 5",
        "agora_agent_container_launch_errors_total >= 1",
        &team_full,
        r#"agora_role_offer_filters{role="*"} > 0"#,
        r#"agora_agent_tasks{state="running"} >= 1"#,
    ] {
        prometheus.wait_for(seen).await;
    }
    // The service came last: a few scrapes since it did, and every rule evaluated.
    let scrapes = format!(
        r#"count_over_time(agora_service_instances{{service="web", state="desired"}}[1m]) >= {SCRAPES_WANTED}"#
    );
    prometheus.wait_for(&scrapes).await;
    let rules = eventually(PROMETHEUS_DEADLINE, "every rule to be evaluated", || async {
        let answer = prometheus.get("/api/v1/rules", &[]).await?;
        let rules: Vec<Value> = answer["data"]["groups"]
            .as_array()?
            .iter()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect();
        rules.iter().all(|r| r["health"] != "unknown").then_some(rules)
    })
    .await;
    assert_eq!(rules.len(), alerts.len(), "Prometheus loaded every rule of alerts.yml");
    for rule in &rules {
        assert_eq!(rule["health"], "ok", "rule {} evaluates: {}", rule["name"], rule["lastError"]);
    }

    let answer = prometheus.get("/api/v1/label/__name__/values", &[]).await.expect("metric names");
    let exported: BTreeSet<String> =
        answer["data"].as_array().expect("names").iter().filter_map(|n| n.as_str().map(String::from)).collect();
    let mut failures = Vec::new();
    let mut results: BTreeMap<String, usize> = BTreeMap::new();
    for (kind, queries) in [("panel", &panels), ("variable", &variables), ("alert", &alerts)] {
        for q in queries {
            let at = format!("{} {kind} {:?}: `{}`", q.file, q.name, q.expr);
            if q.expr.contains('$') {
                failures.push(format!("{at}: a variable is left"));
                continue;
            }
            let names = metric_names(&q.expr);
            if kind != "alert" && names.is_empty() && !q.expr.contains("up{") && !q.expr.contains("scrape_") {
                failures.push(format!("{at}: names no metric of Agora's"));
            }
            for name in names.iter().filter(|n| !exported.contains(*n)) {
                failures.push(format!("{at}: no series of {name}"));
            }
            match prometheus.query(&q.expr).await {
                Err(e) => failures.push(format!("{at}: {e}")),
                Ok(series) => {
                    let excused = NO_DATA_EXPECTED.contains(&(q.file.as_str(), q.name.as_str()));
                    // A series whose value is NaN (a quantile of a histogram that observed nothing in
                    // the window) shows as no data too.
                    let number = |s: &Value| s["value"][1].as_str().or(s[1].as_str()).is_some_and(|v| v != "NaN");
                    let empty = !series.iter().any(number);
                    match (kind, empty, excused) {
                        ("alert", _, _) => {}
                        (_, true, false) => failures.push(format!("{at}: no data")),
                        (_, false, true) => failures.push(format!("{at}: has data, so is not to be excused")),
                        _ => {}
                    }
                    results.insert(at, series.len());
                }
            }
        }
    }
    for (at, count) in &results {
        eprintln!("{count:>3} series  {at}");
    }
    assert!(failures.is_empty(), "{} problems:\n{}", failures.len(), failures.join("\n"));

    // In this healthy cluster the alerts of outages are quiet; the role at its limit and the
    // launch that failed are caught.
    let by_name: BTreeMap<&str, &str> = alerts.iter().map(|q| (q.name.as_str(), q.expr.as_str())).collect();
    for quiet in QUIET {
        let series = prometheus.query(by_name[quiet]).await.expect("the alert's expression");
        assert!(series.is_empty(), "{quiet} fires in a healthy cluster: {series:?}");
    }
    let exhausted = prometheus.query(by_name["AgoraQuotaExhausted"]).await.expect("AgoraQuotaExhausted");
    assert!(
        exhausted.iter().any(|s| s["metric"]["role"] == "team" && s["metric"]["resource"] == "mem"),
        "AgoraQuotaExhausted misses role team at its memory limit: {exhausted:?}"
    );
    let launches = prometheus.query(by_name["AgoraAgentLaunchErrors"]).await.expect("AgoraAgentLaunchErrors");
    assert!(
        launches.iter().any(|s| s["metric"]["instance"] == agent_metrics.as_str()),
        "AgoraAgentLaunchErrors misses the failed launch on {agent_metrics}: {launches:?}"
    );
}

#[test]
fn metric_names_are_found_as_words() {
    let names = metric_names(
        r#"sum(rate(agora_tasks_launched_total{job=~"agora-server"}[5m])) / my_agora_x + agora_agent_tasks"#,
    );
    let expected: BTreeSet<String> = ["agora_tasks_launched_total", "agora_agent_tasks"].map(String::from).into();
    assert_eq!(names, expected);
    let vars = vec!["instance".to_string(), "job".to_string()];
    assert_eq!(
        substitute(r#"rate(x{job=~"$job",instance=~"${instance}"}[$__rate_interval])"#, &vars),
        r#"rate(x{job=~".*",instance=~".*"}[1m])"#
    );
}
