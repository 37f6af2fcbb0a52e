//! Roles through the HTTP API: operators set weights and quota with `PUT /v1/roles/{role}`,
//! anyone who reads sees them with `GET /v1/roles`, and a quota limit caps the offers a role's
//! frameworks get while the rest of the cluster goes to others.

mod common;

use common::cluster::{Client, Cluster};

use agora_server::Kind;
use serde_json::{json, Value};
use std::time::Duration;

fn role<'a>(roles: &'a Value, name: &str) -> &'a Value {
    roles["roles"]
        .as_array()
        .expect("roles")
        .iter()
        .find(|r| r["role"] == name)
        .unwrap_or_else(|| panic!("{name} in {roles}"))
}

#[tokio::test]
async fn operators_set_weights_and_quota_and_readers_see_them() {
    let server = common::start().await;
    let operator = Client::new(&server, Kind::Operator);
    let (status, view) = operator.put("/v1/roles/eng", json!({"weight": 2.5})).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!((view["role"].as_str(), view["weight"].as_f64()), (Some("eng"), Some(2.5)));
    // A hierarchical role is written as is in the path, or with its slash escaped.
    let quota = json!({"weight": 1, "quota": {"guarantee": {"cpus": 1}, "limit": {"cpus": 2, "mem": 1024}}});
    let (status, view) = operator.put("/v1/roles/eng/backend", quota).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["quota"]["limit"]["cpus"], 2.0);
    let (status, _) = operator.put("/v1/roles/ops%2Fdb", json!({"weight": 3})).await;
    assert_eq!(status, 200);
    // Setting again replaces: eng's weight goes back to the default.
    let (status, _) = operator.put("/v1/roles/eng", json!({})).await;
    assert_eq!(status, 200);

    let roles = Client::new(&server, Kind::Viewer).get("/v1/roles").await;
    assert_eq!(role(&roles, "eng")["weight"], 1.0);
    assert_eq!(role(&roles, "eng/backend")["quota"]["guarantee"]["cpus"], 1.0);
    assert_eq!(role(&roles, "ops/db")["weight"], 3.0);
    assert_eq!(role(&roles, "ops")["weight"], 1.0, "the roles above a configured one are listed");
    let _ = server.stop.send(());
}

#[tokio::test]
async fn bad_role_settings_get_a_400_and_change_nothing() {
    let server = common::start().await;
    let operator = Client::new(&server, Kind::Operator);
    let cases = [
        ("/v1/roles/eng", json!({"weight": 0}), "invalid_weight"),
        ("/v1/roles/eng", json!({"weight": -1}), "invalid_weight"),
        ("/v1/roles/eng", json!({"weight": 1e300}), "invalid_weight"),
        ("/v1/roles/eng", json!({"quota": {"limit": {"cpus": -1}}}), "invalid_quota"),
        ("/v1/roles/eng", json!({"quota": {"guarantee": {"ports": 2}}}), "invalid_quota"),
        ("/v1/roles/eng", json!({"quota": {"limit": {"cpus": "many"}}}), "invalid_body"),
        ("/v1/roles/eng", json!({"quota": {"guarantee": {"cpus": 2}, "limit": {"cpus": 1}}}), "invalid_quota"),
        ("/v1/roles/eng", json!({"weight": 1, "colour": "red"}), "invalid_body"),
        ("/v1/roles/eng%2F..%2Fx", json!({}), "invalid_role"),
        ("/v1/roles/-eng", json!({}), "invalid_role"),
        ("/v1/roles/%FF", json!({}), "invalid_role"),
    ];
    for (path, body, code) in cases {
        let (status, answer) = operator.put(path, body.clone()).await;
        assert_eq!((status, answer["code"].as_str()), (400, Some(code)), "PUT {path} {body}: {answer}");
    }
    let roles = operator.get("/v1/roles").await;
    assert_eq!(roles["roles"], json!([]), "nothing was set: {roles}");
    let _ = server.stop.send(());
}

#[tokio::test]
async fn a_quota_limit_caps_a_roles_offers_and_the_rest_goes_to_others() {
    let mut cluster = Cluster::start(4.0).await;
    cluster.set_role("capped", json!({"quota": {"limit": {"cpus": 1}}})).await;
    let capped = cluster.subscribe("capped").await;
    let other = cluster.subscribe("other").await;
    let held = cluster.offered(&[&capped, &other]).await;
    // Memory is cut in the same proportion as the limited CPUs.
    assert_eq!(held, vec![(1.0, 1024.0), (3.0, 3072.0)], "the capped role gets its limit, the other the rest");
    let roles = cluster.operator.get("/v1/roles").await;
    assert_eq!(role(&roles, "capped")["allocated"]["cpus"], 1.0);
    assert_eq!(role(&roles, "capped")["dominant_share"], 0.25);
    assert_eq!(role(&roles, "other")["frameworks"], 1);
    // The same, for Prometheus.
    let metrics =
        cluster.operator.http.get(format!("{}/metrics", cluster.operator.base)).send().await.expect("metrics");
    let text = metrics.text().await.expect("text");
    let sample = |name: &str| -> Option<f64> { text.lines().find_map(|l| l.strip_prefix(name)?.trim().parse().ok()) };
    assert_eq!(sample("agora_role_quota_limit{role=\"capped\",resource=\"cpus\"}"), Some(1.0), "{text}");
    assert_eq!(sample("agora_role_dominant_share{role=\"capped\"}"), Some(0.25), "{text}");
    assert_eq!(sample("agora_role_allocated{role=\"other\",resource=\"cpus\"}"), Some(3.0), "{text}");
    assert_eq!(sample("agora_role_weight{role=\"other\"}"), Some(1.0), "{text}");
    assert_eq!(sample("agora_role_offer_filters{role=\"other\"}"), Some(0.0), "{text}");
    cluster.stop();
}

#[tokio::test]
async fn a_guarantee_keeps_resources_back_for_its_role_until_it_uses_them() {
    let mut cluster = Cluster::start(4.0).await;
    cluster.set_role("prod", json!({"quota": {"guarantee": {"cpus": 3}}})).await;
    // No prod framework yet: batch is offered only what prod's guarantee leaves.
    let batch = cluster.subscribe("batch").await;
    assert_eq!(cluster.offered(&[&batch]).await[0].0, 1.0, "3 of the 4 CPUs are kept for prod");
    // prod's framework arrives and is offered what was kept.
    let prod = cluster.subscribe("prod").await;
    assert_eq!(cluster.offered(&[&prod]).await[0].0, 3.0, "prod gets its guarantee");
    cluster.stop();
}

#[tokio::test]
async fn diagnostics_say_why_a_framework_is_not_offered_more() {
    let mut cluster = Cluster::start(4.0).await;
    cluster.set_role("capped", json!({"quota": {"limit": {"cpus": 1}}})).await;
    // Registered, not subscribed.
    let (status, body) = cluster.framework.post("/v1/frameworks", json!({"name": "idle", "roles": ["x"]})).await;
    assert_eq!(status, 200, "{body}");
    let idle = body["framework_id"].as_str().expect("id").to_string();
    assert_eq!(cluster.reasons(&idle).await, vec!["not_connected"]);

    // At its limit, holding an offer.
    let capped = cluster.subscribe("capped").await;
    cluster.offered(&[&capped]).await;
    assert_eq!(cluster.reasons(&capped).await, vec!["quota_limit", "offers_outstanding"]);
    let diagnostics = cluster.diagnostics(&capped).await;
    assert_eq!(diagnostics["roles"][0]["role"], "capped");
    assert_eq!(diagnostics["offered"]["cpus"], 1.0);
    assert!(
        diagnostics["roles"][0]["reasons"][0]["message"].as_str().is_some_and(|m| m.contains("cpus 1")),
        "{diagnostics}"
    );

    // Another framework took the rest: nothing is free, and the largest free slot is empty.
    let other = cluster.subscribe("other").await;
    cluster.offered(&[&other]).await;
    let late = cluster.subscribe("late").await;
    let diagnostics = cluster.diagnostics(&late).await;
    assert_eq!(diagnostics["roles"][0]["reasons"][0]["code"], "no_free_resources", "{diagnostics}");
    assert_eq!(diagnostics["roles"][0]["reasons"][0]["largest_free"]["cpus"], 0.0, "{diagnostics}");

    // `other` declines for a minute: what it declined goes to `late`, and `other` sees why
    // it gets nothing.
    let declined = cluster.offer_ids(&other).await;
    let decline = json!({"offer_ids": declined, "filters": {"refuse_secs": 60}});
    let (status, body) = cluster.framework.post(&format!("/v1/frameworks/{other}/decline"), decline).await;
    assert!(status < 300, "{body}");
    cluster.offered(&[&late]).await;
    let late_offers = cluster.offer_ids(&late).await;
    let decline = json!({"offer_ids": late_offers, "filters": {"refuse_secs": 60}});
    let (status, body) = cluster.framework.post(&format!("/v1/frameworks/{late}/decline"), decline).await;
    assert!(status < 300, "{body}");
    let diagnostics = cluster.diagnostics(&other).await;
    assert_eq!(diagnostics["roles"][0]["reasons"][0]["code"], "filtered", "{diagnostics}");
    assert!(diagnostics["roles"][0]["reasons"][0]["until"].as_f64().is_some(), "{diagnostics}");

    let (status, body) = cluster.operator.send(reqwest::Method::GET, "/v1/frameworks/nothing/diagnostics", None).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("unknown_framework")));
    cluster.stop();
}

#[tokio::test]
async fn diagnostics_name_resources_kept_for_another_roles_guarantee() {
    let mut cluster = Cluster::start(4.0).await;
    cluster.set_role("prod", json!({"quota": {"guarantee": {"cpus": 4}}})).await;
    let batch = cluster.subscribe("batch").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    // The allocator ran (the framework is subscribed) and kept everything for prod.
    while !cluster.reasons(&batch).await.contains(&"kept_for_guarantees".to_string()) {
        assert!(tokio::time::Instant::now() < deadline, "{}", cluster.diagnostics(&batch).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(cluster.offer_ids(&batch).await.is_empty());
    cluster.stop();
}

/// What is reserved to a role counts in its quota consumption, as in Mesos: its limit caps
/// reservations and unreserved holdings together. Diagnostics tell a framework when what is
/// free is reserved to other roles.
#[tokio::test]
async fn reservations_count_in_quota_consumption_and_diagnostics_name_them() {
    let mut cluster = Cluster::empty().await;
    let agent = cluster.add_agent("h", json!({}), 8.0).await;
    let reserve = json!({"role": "analytics", "resources": {"cpus": 3, "mem": 1024}});
    let (status, body) = cluster.operator.post(&format!("/v1/agents/{agent}/reserve"), reserve).await;
    assert_eq!(status, 200, "{body}");

    // `web` holds all that is unreserved; the reserved CPUs are not for it.
    let web = cluster.subscribe("web").await;
    assert_eq!(cluster.offered(&[&web]).await[0].0, 5.0);
    let reasons = cluster.reasons(&web).await;
    assert!(reasons.contains(&"reserved_for_other_roles".to_string()), "{reasons:?}");
    let diagnostics = cluster.diagnostics(&web).await;
    assert!(diagnostics.to_string().contains("reserved to other roles: analytics"), "{diagnostics}");

    // A limit of 4 CPUs: 3 reserved, so 1 unreserved at most once `web` lets go.
    cluster.set_role("analytics", json!({"quota": {"limit": {"cpus": 4}}})).await;
    let analytics = cluster.subscribe("analytics").await;
    assert_eq!(cluster.offered(&[&analytics]).await[0].0, 3.0);
    let web_offers = cluster.offer_ids(&web).await;
    cluster.decline(&web, &web_offers, 60.0).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while cluster.offered(&[&analytics]).await[0].0 < 4.0 {
        assert!(tokio::time::Instant::now() < deadline, "{}", cluster.operator.get("/v1/offers").await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let roles = cluster.operator.get("/v1/roles").await;
    let view = role(&roles, "analytics");
    assert_eq!((view["reserved"]["cpus"].as_f64(), view["consumed"]["cpus"].as_f64()), (Some(3.0), Some(4.0)));
    assert_eq!(view["allocated"]["cpus"], 4.0, "{view}");
    assert!(cluster.reasons(&analytics).await.contains(&"quota_limit".to_string()));
    let consumed = cluster.metric("agora_role_quota_consumed{role=\"analytics\",resource=\"cpus\"}").await;
    assert_eq!(consumed, Some(4.0));
    // A framework arriving makes a round: still no more than the limit for analytics.
    let batch = cluster.subscribe("batch").await;
    assert_eq!(cluster.offered(&[&batch]).await[0].0, 4.0);
    assert_eq!(cluster.offered(&[&analytics]).await[0].0, 4.0);
    cluster.stop();
}

/// A framework token names the roles its frameworks may use: none named means the default role
/// `*` only, and `*any*` every role. Operators may use any.
#[tokio::test]
async fn a_framework_token_uses_only_the_default_role_unless_its_roles_say_otherwise() {
    let cluster = Cluster::empty().await;
    let plain = Client::scoped(&cluster.server, Kind::Framework, "plain", None);
    let named = Client::scoped(&cluster.server, Kind::Framework, "named", Some(vec!["db".into()]));
    let any = Client::scoped(&cluster.server, Kind::Framework, "any", Some(vec!["*any*".into()]));
    for (client, role, status) in [
        (&plain, "*", 200),
        (&plain, "db", 403),
        (&named, "db", 200),
        (&named, "web", 403),
        (&named, "*", 403),
        (&any, "web", 200),
        (&cluster.operator, "web", 200),
    ] {
        let (got, body) = client.post("/v1/frameworks", json!({"name": "f", "roles": [role]})).await;
        assert_eq!(got, status, "role {role}: {body}");
        if status == 403 {
            assert!(body["message"].as_str().is_some_and(|m| m.contains(role)), "{body}");
        }
    }
    cluster.stop();
}
