//! Offers through the HTTP API, as frameworks shape them: several roles per framework,
//! suppress and revive per role, offer constraints on agent attributes and hostname, a
//! minimum offer size, and refuse filters that hold for at least the next round.

mod common;

use common::cluster::Cluster;
use serde_json::{json, Value};
use std::time::Duration;

/// Polls until `check` holds of the framework's outstanding offers; returns them.
async fn wait_for_offers(cluster: &Cluster, framework: &str, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let offers = cluster.offers_of(framework).await;
        if check(&offers) {
            return offers;
        }
        assert!(tokio::time::Instant::now() < deadline, "offers of {framework}: {offers:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn ids(offers: &[Value]) -> Vec<String> {
    offers.iter().map(|o| o["id"].as_str().expect("id").to_string()).collect()
}

fn roles_of(offers: &[Value]) -> Vec<String> {
    let mut roles: Vec<String> = offers.iter().map(|o| o["role"].as_str().expect("role").to_string()).collect();
    roles.sort();
    roles.dedup();
    roles
}

#[tokio::test]
async fn offer_constraints_send_a_roles_offers_only_to_matching_agents() {
    let mut cluster = Cluster::empty().await;
    cluster.add_agent("web-1", json!({"rack": "r1", "zone": "a"}), 2.0).await;
    let r2 = cluster.add_agent("web-2", json!({"rack": "r2", "zone": "a"}), 2.0).await;
    cluster.add_agent("db-1", json!({"rack": "r2"}), 2.0).await;
    // Rack r2, and a hostname of the web pool: web-2 only.
    let constraints = json!({"web": [[
        {"selector": {"attribute": "rack"}, "predicate": {"equals": "r2"}},
        {"selector": "hostname", "predicate": {"matches": "web-[0-9]+"}}
    ]]});
    let picky =
        cluster.subscribe_with(json!({"name": "picky", "roles": ["web"], "offer_constraints": constraints})).await;
    let offers = wait_for_offers(&cluster, &picky, |o| !o.is_empty()).await;
    // One round offers every agent: the others went to no one.
    let all = cluster.operator.get("/v1/offers").await;
    assert_eq!(all["offers"].as_array().map(Vec::len), Some(1), "{all}");
    assert_eq!(offers[0]["agent_id"], r2.as_str());

    // A role whose constraints no agent matches is told so.
    let nowhere = json!({"gpu": [[{"selector": {"attribute": "gpu"}, "predicate": "exists"}]]});
    let lonely =
        cluster.subscribe_with(json!({"name": "lonely", "roles": ["gpu"], "offer_constraints": nowhere})).await;
    let diagnostics = cluster.diagnostics(&lonely).await;
    assert_eq!(diagnostics["roles"][0]["reasons"][0]["code"], "no_matching_agents", "{diagnostics}");
    // Unconstrained, a framework gets the rest.
    let any = cluster.subscribe("any").await;
    let offers = wait_for_offers(&cluster, &any, |o| o.len() == 2).await;
    assert!(offers.iter().all(|o| o["agent_id"] != r2.as_str()));
    assert!(cluster.offers_of(&lonely).await.is_empty());
    cluster.stop();
}

#[tokio::test]
async fn a_framework_with_two_roles_is_offered_for_each_and_suppresses_one() {
    let mut cluster = Cluster::empty().await;
    for host in ["a1", "a2", "a3", "a4"] {
        cluster.add_agent(host, json!({}), 1.0).await;
    }
    let framework = cluster.subscribe_with(json!({"name": "both", "roles": ["analytics", "etl"]})).await;
    // DRF takes turns between its two roles: two agents each.
    let offers = wait_for_offers(&cluster, &framework, |o| o.len() == 4).await;
    assert_eq!(roles_of(&offers), vec!["analytics", "etl"], "{offers:?}");
    let analytics = offers.iter().filter(|o| o["role"] == "analytics").count();
    assert_eq!(analytics, 2, "{offers:?}");
    let roles = cluster.operator.get("/v1/roles").await;
    let role = |name: &str| roles["roles"].as_array().expect("roles").iter().find(|r| r["role"] == name).cloned();
    assert_eq!(role("etl").expect("etl")["allocated"]["cpus"], 2.0, "{roles}");

    // Suppressed for etl, then every offer declined: only analytics is offered again.
    let (status, body) =
        cluster.framework.post(&format!("/v1/frameworks/{framework}/suppress"), json!({"roles": ["etl"]})).await;
    assert_eq!(status, 202, "{body}");
    cluster.decline(&framework, &ids(&offers), 0.0).await;
    let offers = wait_for_offers(&cluster, &framework, |o| o.len() == 4).await;
    assert_eq!(roles_of(&offers), vec!["analytics"], "{offers:?}");
    let view = cluster.operator.get("/v1/frameworks").await;
    assert_eq!(view["frameworks"][0]["suppressed_roles"], json!(["etl"]), "{view}");
    let diagnostics = cluster.diagnostics(&framework).await;
    let etl = diagnostics["roles"].as_array().expect("roles").iter().find(|r| r["role"] == "etl").cloned();
    assert_eq!(etl.expect("etl")["reasons"][0]["code"], "suppressed", "{diagnostics}");

    // Revived: etl is offered again once analytics lets go.
    let (status, body) =
        cluster.framework.post(&format!("/v1/frameworks/{framework}/revive"), json!({"roles": ["etl"]})).await;
    assert_eq!(status, 202, "{body}");
    cluster.decline(&framework, &ids(&offers), 0.0).await;
    let offers = wait_for_offers(&cluster, &framework, |o| roles_of(o).contains(&"etl".to_string())).await;
    assert!(!offers.is_empty());

    // A role it does not have cannot be suppressed.
    let (status, body) =
        cluster.framework.post(&format!("/v1/frameworks/{framework}/suppress"), json!({"roles": ["ops"]})).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_role")), "{body}");
    cluster.stop();
}

#[tokio::test]
async fn a_role_is_offered_only_agents_with_its_minimum_free() {
    let mut cluster = Cluster::empty().await;
    let small = cluster.add_agent("small", json!({}), 1.0).await;
    let big = cluster.add_agent("big", json!({}), 4.0).await;
    let filters = json!({"ml": {"min_allocatable_resources": [{"cpus": 2, "mem": 1024}, {"gpus": 1}]}});
    let ml = cluster.subscribe_with(json!({"name": "ml", "roles": ["ml"], "offer_filters": filters})).await;
    let offers = wait_for_offers(&cluster, &ml, |o| !o.is_empty()).await;
    assert_eq!(offers.len(), 1, "{offers:?}");
    assert_eq!(offers[0]["agent_id"], big.as_str());
    // The small agent goes to a framework without such a filter.
    let any = cluster.subscribe("any").await;
    let offers = wait_for_offers(&cluster, &any, |o| !o.is_empty()).await;
    assert_eq!(offers[0]["agent_id"], small.as_str());
    // With the big agent held by its own offer, ml is told why it gets no more.
    let diagnostics = cluster.diagnostics(&ml).await;
    let codes: Vec<&str> = diagnostics["roles"][0]["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .filter_map(|r| r["code"].as_str())
        .collect();
    assert_eq!(codes, vec!["no_free_resources"], "{diagnostics}");
    cluster.decline(&any, &ids(&cluster.offers_of(&any).await), 60.0).await;
    let diagnostics = cluster.diagnostics(&ml).await;
    assert_eq!(diagnostics["roles"][0]["reasons"][0]["code"], "below_min_allocatable", "{diagnostics}");
    cluster.stop();
}

/// A decline with `refuse_secs` 0 does not bring the same agent straight back: the filter
/// holds for the next round, which offers the agent to the other framework.
#[tokio::test]
async fn a_refusal_holds_for_the_next_round_however_short() {
    let mut cluster = Cluster::start(2.0).await;
    let first = cluster.subscribe("a").await;
    let offers = wait_for_offers(&cluster, &first, |o| !o.is_empty()).await;
    let second = cluster.subscribe("b").await;
    cluster.decline(&first, &ids(&offers), 0.0).await;
    let offers = wait_for_offers(&cluster, &second, |o| !o.is_empty()).await;
    assert!(cluster.offers_of(&first).await.is_empty());
    // And back: the second declines, and the first is offered the agent again.
    cluster.decline(&second, &ids(&offers), 0.0).await;
    wait_for_offers(&cluster, &first, |o| !o.is_empty()).await;
    assert!(cluster.offers_of(&second).await.is_empty());
    cluster.stop();
}

#[tokio::test]
async fn bad_offer_settings_get_a_400() {
    let cluster = Cluster::start(1.0).await;
    let constraint = |c: Value| json!({"name": "x", "roles": ["web"], "offer_constraints": {"web": [[c]]}});
    let cases = [
        (json!({"name": "x", "roles": ["web"], "offer_constraints": {"db": []}}), "invalid_role"),
        (constraint(json!({"selector": "hostname", "predicate": {"matches": "("}})), "invalid_constraint"),
        (constraint(json!({"selector": "rack", "predicate": "exists"})), "invalid_body"),
        (json!({"name": "x", "roles": ["web"], "offer_constraints": {"web": [[]]}}), "invalid_constraint"),
        (
            json!({"name": "x", "roles": ["web"], "offer_filters": {"web": {"min_allocatable_resources": [{"ports": 1}]}}}),
            "invalid_filter",
        ),
        (
            json!({"name": "x", "roles": ["web"], "offer_filters": {"web": {"min_allocatable_resources": [{"cpus": -1}]}}}),
            "invalid_filter",
        ),
    ];
    for (registration, code) in cases {
        let (status, body) = cluster.framework.post("/v1/frameworks", registration.clone()).await;
        assert_eq!((status, body["code"].as_str()), (400, Some(code)), "{registration}: {body}");
    }
    let frameworks = cluster.operator.get("/v1/frameworks").await;
    assert_eq!(frameworks["frameworks"], json!([]), "nothing was registered: {frameworks}");
    cluster.stop();
}

/// With `--offer-timeout`, an offer left unanswered is rescinded as if declined with the
/// default filter, so its resources go to a framework waiting for them, not straight back to
/// the one that let it lapse; the allocator's metrics count it and the queueing delay before
/// rounds.
#[tokio::test]
async fn an_unanswered_offer_is_rescinded_and_goes_to_the_framework_waiting_for_it() {
    let config = agora_server::MasterConfig {
        offer_timeout: Some(Duration::from_millis(300)),
        allocation_interval: Duration::from_millis(100),
        ..Default::default()
    };
    let mut cluster = Cluster::empty_with(config).await;
    let agent = cluster.add_agent("h", json!({}), 2.0).await;
    // The patient framework runs a task, so its share is above the hoarder's: left to Dominant
    // Resource Fairness alone, every offer would go to the hoarder first.
    let patient = cluster.subscribe("patient").await;
    let offers = wait_for_offers(&cluster, &patient, |o| !o.is_empty()).await;
    let task = json!({"task_id": "t", "agent_id": agent, "resources": {"cpus": 0.5, "mem": 64},
                      "command": {"shell": "sleep 600"}});
    let accept = json!({"offer_ids": ids(&offers), "operations": [{"type": "launch", "tasks": [task]}]});
    let (status, body) = cluster.framework.post(&format!("/v1/frameworks/{patient}/accept"), accept).await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = cluster.framework.post(&format!("/v1/frameworks/{patient}/suppress"), json!({})).await;
    assert_eq!(status, 202, "{body}");
    let hoarder = cluster.subscribe("hoard").await;
    let held = wait_for_offers(&cluster, &hoarder, |o| !o.is_empty()).await;
    assert_eq!(held[0]["resources"]["cpus"], 1.5);
    let (status, body) = cluster.framework.post(&format!("/v1/frameworks/{patient}/revive"), json!({})).await;
    assert_eq!(status, 202, "{body}");
    // Never answered: rescinded, and offered to the patient framework.
    let again = wait_for_offers(&cluster, &patient, |o| !o.is_empty()).await;
    assert_eq!(again[0]["resources"]["cpus"], 1.5);
    assert!(cluster.offers_of(&hoarder).await.is_empty());
    assert!(cluster.metric("agora_offers_timed_out_total").await >= Some(1.0));
    // The round after the framework subscribed waited on a trigger.
    assert!(cluster.metric("agora_allocation_queue_delay_seconds_count").await >= Some(1.0));
    cluster.stop();
}

/// An agent's static reservation (`--resources cpus(analytics):2`) is offered only to the
/// frameworks in that role or below it, marked as reserved; tasks launched on it use it.
#[tokio::test]
async fn a_static_reservation_is_offered_only_to_its_role() {
    let mut cluster = Cluster::empty().await;
    let reserved = json!({"analytics": {"cpus": 2, "mem": 1024}});
    let registration = json!({"hostname": "h", "resources": {"cpus": 4, "mem": 4096}, "reserved": reserved});
    let agent = common::cluster::Client::new(&cluster.server, agora_server::Kind::Agent);
    let (status, body) = agent.post("/v1/agents", registration).await;
    assert_eq!(status, 200, "{body}");
    let view = cluster.operator.get("/v1/agents").await;
    assert_eq!(view["agents"][0]["reserved"]["analytics"]["cpus"], 2.0, "{view}");

    let web = cluster.subscribe("web").await;
    let offers = wait_for_offers(&cluster, &web, |o| !o.is_empty()).await;
    assert_eq!(offers.len(), 1, "{offers:?}");
    assert_eq!((offers[0]["resources"]["cpus"].as_f64(), offers[0].get("reservation")), (Some(2.0), None));
    let etl = cluster.subscribe("analytics/etl").await;
    let offers = wait_for_offers(&cluster, &etl, |o| !o.is_empty()).await;
    assert_eq!(offers[0]["reservation"], "analytics", "{offers:?}");
    assert_eq!(offers[0]["resources"]["cpus"], 2.0);

    // A task on the reservation uses it: what is left of it is offered to the role again.
    let task = json!({"task_id": "q1", "agent_id": offers[0]["agent_id"], "resources": {"cpus": 1.5, "mem": 512},
                      "command": {"shell": "sleep 600"}});
    let accept = json!({"offer_ids": [offers[0]["id"]], "operations": [{"type": "launch", "tasks": [task]}]});
    let (status, body) = cluster.framework.post(&format!("/v1/frameworks/{etl}/accept"), accept).await;
    assert_eq!(status, 202, "{body}");
    let again = wait_for_offers(&cluster, &etl, |o| !o.is_empty()).await;
    assert_eq!(again[0]["reservation"], "analytics");
    assert_eq!(again[0]["resources"]["cpus"], 0.5, "{again:?}");
    assert!(cluster.offers_of(&web).await.iter().all(|o| o["resources"]["cpus"] == 2.0));

    // More reserved than the agent has is refused.
    let greedy = json!({"hostname": "g", "resources": {"cpus": 1, "mem": 512}, "reserved": {"a": {"cpus": 2}}});
    let (status, body) = agent.post("/v1/agents", greedy).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_resources")), "{body}");
    cluster.stop();
}

/// An operator reserves part of an agent for a role, with labels: it is offered only to that
/// role from then on, until it is unreserved.
#[tokio::test]
async fn an_operator_reserves_and_unreserves_part_of_an_agent() {
    let mut cluster = Cluster::empty().await;
    let agent = cluster.add_agent("h", json!({}), 4.0).await;
    let reserve = json!({"role": "analytics", "resources": {"cpus": 3, "mem": 1024}, "labels": {"team": "data"}});
    let (status, view) = cluster.operator.post(&format!("/v1/agents/{agent}/reserve"), reserve).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["reserved"]["analytics"]["cpus"], 3.0, "{view}");
    assert_eq!(view["reservations"][0]["labels"]["team"], "data", "{view}");

    let web = cluster.subscribe("web").await;
    let offers = wait_for_offers(&cluster, &web, |o| !o.is_empty()).await;
    assert_eq!(offers[0]["resources"]["cpus"], 1.0, "web gets the unreserved CPU only: {offers:?}");
    let analytics = cluster.subscribe("analytics").await;
    let offers = wait_for_offers(&cluster, &analytics, |o| !o.is_empty()).await;
    assert_eq!(
        (offers[0]["reservation"].as_str(), offers[0]["resources"]["cpus"].as_f64()),
        (Some("analytics"), Some(3.0))
    );

    // More than is unreserved, or than is reserved, is refused and changes nothing.
    let too_much = json!({"role": "ops", "resources": {"cpus": 2}});
    let (status, body) = cluster.operator.post(&format!("/v1/agents/{agent}/reserve"), too_much).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("insufficient_resources")), "{body}");
    let too_much = json!({"role": "analytics", "resources": {"cpus": 4}});
    let (status, body) = cluster.operator.post(&format!("/v1/agents/{agent}/unreserve"), too_much).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("insufficient_resources")), "{body}");
    let (status, body) = cluster
        .framework
        .post(&format!("/v1/agents/{agent}/reserve"), json!({"role": "x", "resources": {"cpus": 1}}))
        .await;
    assert_eq!(status, 403, "{body}");

    // Unreserved: the CPUs go back to everyone.
    let back = json!({"role": "analytics", "resources": {"cpus": 3, "mem": 1024}});
    let (status, view) = cluster.operator.post(&format!("/v1/agents/{agent}/unreserve"), back).await;
    assert_eq!(status, 200, "{view}");
    assert!(view.get("reservations").is_none(), "{view}");
    // The whole agent, unreserved, goes to one of the two.
    let whole = |o: &[Value]| o.iter().any(|o| o["resources"]["cpus"] == 4.0 && o.get("reservation").is_none());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !(whole(&cluster.offers_of(&web).await) || whole(&cluster.offers_of(&analytics).await)) {
        assert!(tokio::time::Instant::now() < deadline, "{}", cluster.operator.get("/v1/offers").await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cluster.stop();
}

/// A framework reserves part of an offer for its role with a `reserve` operation: it is
/// offered again as reserved, to that role only; `unreserve` gives it back.
#[tokio::test]
async fn a_framework_reserves_and_unreserves_with_offer_operations() {
    let mut cluster = Cluster::empty().await;
    let agent = cluster.add_agent("h", json!({}), 4.0).await;
    let db = cluster.subscribe("db").await;
    let offers = wait_for_offers(&cluster, &db, |o| !o.is_empty()).await;
    let reserve = json!({"offer_ids": [offers[0]["id"]], "operations": [
        {"type": "reserve", "resources": {"cpus": 2, "mem": 1024}, "labels": {"volume": "pg"}}]});
    let (status, body) = cluster.framework.post(&format!("/v1/frameworks/{db}/accept"), reserve).await;
    assert_eq!(status, 202, "{body}");
    let view = cluster.operator.get(&format!("/v1/agents/{agent}")).await;
    assert_eq!(view["reservations"][0]["labels"]["volume"], "pg", "{view}");
    assert_eq!(view["reservations"][0]["role"], "db", "{view}");
    let offers = wait_for_offers(&cluster, &db, |o| o.iter().any(|o| o["reservation"] == "db")).await;
    let reserved: Vec<&Value> = offers.iter().filter(|o| o["reservation"] == "db").collect();
    assert_eq!(reserved[0]["resources"]["cpus"], 2.0, "{offers:?}");

    // Unreserve takes reserved offers; reserve unreserved ones; neither goes with a launch.
    let wrong =
        json!({"offer_ids": [reserved[0]["id"]], "operations": [{"type": "reserve", "resources": {"cpus": 1}}]});
    let (status, body) = cluster.framework.post(&format!("/v1/frameworks/{db}/accept"), wrong).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_operation")), "{body}");
    let mixed = json!({"offer_ids": [reserved[0]["id"]], "operations": [
        {"type": "unreserve", "resources": {"cpus": 1}}, {"type": "launch", "tasks": []}]});
    let (status, body) = cluster.framework.post(&format!("/v1/frameworks/{db}/accept"), mixed).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("mixed_operations")), "{body}");

    let unreserve = json!({"offer_ids": [reserved[0]["id"]], "operations": [
        {"type": "unreserve", "resources": {"cpus": 2, "mem": 1024}}]});
    let (status, body) = cluster.framework.post(&format!("/v1/frameworks/{db}/accept"), unreserve).await;
    assert_eq!(status, 202, "{body}");
    let view = cluster.operator.get(&format!("/v1/agents/{agent}")).await;
    assert!(view.get("reservations").is_none(), "{view}");
    cluster.stop();
}

/// A framework reserves disk and makes a persistent volume of it in one accept. The volume is
/// offered to its role whenever no task uses it, in offers of its reservation, until the
/// framework destroys it and the disk goes back to the reservation.
#[tokio::test]
async fn a_persistent_volume_is_offered_again_to_its_role_until_destroyed() {
    let mut cluster = Cluster::empty().await;
    let agent = cluster.add_agent_with("h", json!({}), json!({"cpus": 4, "mem": 4096, "disk": 2048})).await;
    let db = cluster.subscribe("db").await;
    let accept = |offers: &[&Value], operations: Value| json!({"offer_ids": offers.iter().map(|o| o["id"].clone()).collect::<Vec<_>>(), "operations": operations});
    let reserved_offer = |o: &[Value]| o.iter().find(|o| o["reservation"] == "db").cloned();

    // Creating a volume takes reserved disk: not from an unreserved offer alone.
    let offers = wait_for_offers(&cluster, &db, |o| !o.is_empty()).await;
    let create = json!({"type": "create_volume", "id": "pg", "disk": 512, "container_path": "data"});
    let (status, body) = accept_as(&cluster, &db, accept(&[&offers[0]], json!([create]))).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_operation")), "{body}");
    let reserve = json!({"type": "reserve", "resources": {"cpus": 1, "mem": 512, "disk": 1024}});
    let (status, body) = accept_as(&cluster, &db, accept(&[&offers[0]], json!([reserve, create]))).await;
    assert_eq!(status, 202, "{body}");
    let view = cluster.operator.get(&format!("/v1/agents/{agent}")).await;
    assert_eq!(view["volumes"][0]["id"], "pg", "{view}");
    assert_eq!((view["volumes"][0]["role"].as_str(), view["volumes"][0]["disk"].as_f64()), (Some("db"), Some(512.0)));

    // Offered with its reservation; its disk is no longer part of the reserved resources.
    let offers = wait_for_offers(&cluster, &db, |o| reserved_offer(o).is_some()).await;
    let offer = reserved_offer(&offers).expect("reserved offer");
    assert_eq!(offer["volumes"][0]["id"], "pg", "{offer}");
    assert_eq!(offer["volumes"][0]["container_path"], "data");
    assert_eq!(offer["resources"]["disk"], 512.0, "{offer}");
    assert!(offers.iter().filter(|o| o.get("reservation").is_none()).all(|o| o.get("volumes").is_none()));

    // Bad volumes and ids are refused and change nothing.
    for (op, code) in [
        (json!({"type": "create_volume", "id": "pg", "disk": 10, "container_path": "x"}), "volume_exists"),
        (json!({"type": "create_volume", "id": "v2", "disk": 10, "container_path": "../x"}), "invalid_volume"),
        (json!({"type": "create_volume", "id": "v2", "disk": 600, "container_path": "x"}), "insufficient_resources"),
        (json!({"type": "destroy_volume", "id": "nope"}), "unknown_volume"),
    ] {
        let (status, body) = accept_as(&cluster, &db, accept(&[&offer], json!([op]))).await;
        assert_eq!((status, body["code"].as_str()), (400, Some(code)), "{body}");
    }
    let task = |id: &str, volume: &str| {
        json!({"task_id": id, "agent_id": agent, "resources": {"cpus": 0.5, "mem": 128},
               "command": {"shell": "sleep 600"}, "volumes": [volume]})
    };
    let launch = |tasks: Value| json!([{"type": "launch", "tasks": tasks}]);
    let (status, body) = accept_as(&cluster, &db, accept(&[&offer], launch(json!([task("t0", "other")])))).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("unknown_volume")), "{body}");
    let (status, body) =
        accept_as(&cluster, &db, accept(&[&offer], launch(json!([task("t0", "pg"), task("t1", "pg")])))).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("volume_in_use")), "{body}");

    // In use by a task: not offered, and an operator cannot destroy it.
    let (status, body) = accept_as(&cluster, &db, accept(&[&offer], launch(json!([task("t1", "pg")])))).await;
    assert_eq!(status, 202, "{body}");
    let again = wait_for_offers(&cluster, &db, |o| reserved_offer(o).is_some()).await;
    assert!(reserved_offer(&again).expect("rest of the reservation").get("volumes").is_none(), "{again:?}");
    let (status, body) =
        cluster.operator.send(reqwest::Method::DELETE, &format!("/v1/agents/{agent}/volumes/pg"), None).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("volume_in_use")), "{body}");

    // The task ends: the volume is offered again, to the same role only.
    let web = cluster.subscribe("web").await;
    cluster.task_ended(&agent, &db, "t1", "finished").await;
    let with_volume = |o: &[Value]| o.iter().find(|o| o.get("volumes").is_some()).cloned();
    let offers = wait_for_offers(&cluster, &db, |o| with_volume(o).is_some()).await;
    let offer = with_volume(&offers).expect("offer with the volume");
    assert_eq!((offer["volumes"][0]["id"].as_str(), offer["reservation"].as_str()), (Some("pg"), Some("db")));
    assert!(cluster.offers_of(&web).await.iter().all(|o| o.get("volumes").is_none()));

    // Destroyed: the disk goes back to the reservation, and no offer carries the volume.
    let destroy = json!({"type": "destroy_volume", "id": "pg"});
    let (status, body) = accept_as(&cluster, &db, accept(&[&offer], json!([destroy]))).await;
    assert_eq!(status, 202, "{body}");
    let view = cluster.operator.get(&format!("/v1/agents/{agent}")).await;
    assert!(view.get("volumes").is_none(), "{view}");
    let reserved_disk = |o: &[Value]| -> f64 {
        o.iter().filter(|o| o["reservation"] == "db").map(|o| o["resources"]["disk"].as_f64().unwrap_or(0.0)).sum()
    };
    let offers = wait_for_offers(&cluster, &db, |o| reserved_disk(o) == 1024.0).await;
    assert!(offers.iter().all(|o| o.get("volumes").is_none()), "{offers:?}");
    cluster.stop();
}

/// Operators make and destroy persistent volumes on a role's reserved disk.
#[tokio::test]
async fn an_operator_creates_and_destroys_a_persistent_volume() {
    let cluster = Cluster::empty().await;
    let agent = cluster.add_agent_with("h", json!({}), json!({"cpus": 4, "mem": 4096, "disk": 2048})).await;
    let reserve = json!({"role": "db", "resources": {"cpus": 1, "disk": 1000}});
    let (status, body) = cluster.operator.post(&format!("/v1/agents/{agent}/reserve"), reserve).await;
    assert_eq!(status, 200, "{body}");
    let volumes = format!("/v1/agents/{agent}/volumes");
    let volume = |id: &str, disk: f64| json!({"role": "db", "id": id, "disk": disk, "container_path": "var/lib"});
    let (status, view) = cluster.operator.post(&volumes, volume("a", 600.0)).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["volumes"][0]["principal"], "operator", "{view}");
    // What is left of the reservation is 400 MiB of disk.
    let (status, body) = cluster.operator.post(&volumes, volume("b", 500.0)).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("insufficient_resources")), "{body}");
    let (status, body) =
        cluster.operator.post(&volumes, json!({"role": "web", "id": "c", "disk": 1, "container_path": "x"})).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("insufficient_resources")), "{body}");
    // Disk under a volume cannot be unreserved.
    let unreserve = json!({"role": "db", "resources": {"disk": 1000}});
    let (status, body) = cluster.operator.post(&format!("/v1/agents/{agent}/unreserve"), unreserve).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("insufficient_resources")), "{body}");
    let (status, body) = cluster.framework.post(&volumes, volume("d", 1.0)).await;
    assert_eq!(status, 403, "{body}");

    let (status, body) = cluster.operator.send(reqwest::Method::DELETE, &format!("{volumes}/nope"), None).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("unknown_volume")), "{body}");
    let (status, view) = cluster.operator.send(reqwest::Method::DELETE, &format!("{volumes}/a"), None).await;
    assert_eq!(status, 200, "{view}");
    assert!(view.get("volumes").is_none(), "{view}");
    let unreserve = json!({"role": "db", "resources": {"disk": 1000}});
    let (status, body) = cluster.operator.post(&format!("/v1/agents/{agent}/unreserve"), unreserve).await;
    assert_eq!(status, 200, "{body}");
    cluster.stop();
}

async fn accept_as(cluster: &Cluster, framework: &str, body: Value) -> (u16, Value) {
    cluster.framework.post(&format!("/v1/frameworks/{framework}/accept"), body).await
}

/// Health checks that cannot work are refused at accept, and the offer stays outstanding.
#[tokio::test]
async fn bad_health_checks_get_a_400() {
    let mut cluster = Cluster::empty().await;
    let agent = cluster.add_agent("h", json!({}), 2.0).await;
    let web = cluster.subscribe("web").await;
    let offers = wait_for_offers(&cluster, &web, |o| !o.is_empty()).await;
    for check in [
        json!({"check": {"command": "true"}, "interval_secs": 0}),
        json!({"check": {"command": " "}}),
        json!({"check": {"http": {"port": 8080, "path": "health"}}}),
        json!({"check": {"tcp": {"port": 0}}}),
        json!({"check": {"tcp": {"port": 80}}, "consecutive_failures": 0}),
        json!({"check": {"tcp": {"port": 80}}, "timeout_secs": -1}),
    ] {
        let task = json!({"task_id": "t", "agent_id": agent, "resources": {"cpus": 0.1, "mem": 32},
                          "command": {"shell": "sleep 1"}, "health_check": check});
        let accept = json!({"offer_ids": [offers[0]["id"]], "operations": [{"type": "launch", "tasks": [task]}]});
        let (status, body) = accept_as(&cluster, &web, accept).await;
        assert_eq!((status, body["code"].as_str()), (400, Some("invalid_health_check")), "{check}: {body}");
    }
    assert_eq!(cluster.offer_ids(&web).await.len(), 1);
    cluster.stop();
}

/// A framework in a role below a reservation's may launch on it, but not give it back nor
/// destroy its volumes; a task's volumes may not sit one inside another.
#[tokio::test]
async fn a_reservation_of_a_role_above_is_used_but_not_given_back() {
    let mut cluster = Cluster::empty().await;
    let agent = cluster.add_agent_with("h", json!({}), json!({"cpus": 4, "mem": 4096, "disk": 1024})).await;
    let reserve = json!({"role": "eng", "resources": {"cpus": 2, "mem": 1024, "disk": 512}});
    let (status, body) = cluster.operator.post(&format!("/v1/agents/{agent}/reserve"), reserve).await;
    assert_eq!(status, 200, "{body}");
    for (id, path) in [("a", "data"), ("b", "data/inner")] {
        let volume = json!({"role": "eng", "id": id, "disk": 100, "container_path": path});
        let (status, body) = cluster.operator.post(&format!("/v1/agents/{agent}/volumes"), volume).await;
        assert_eq!(status, 200, "{body}");
    }
    let backend = cluster.subscribe("eng/backend").await;
    let offers = wait_for_offers(&cluster, &backend, |o| o.iter().any(|o| o["reservation"] == "eng")).await;
    let offer = offers.iter().find(|o| o["reservation"] == "eng").expect("the reservation of eng");
    for op in [json!({"type": "unreserve", "resources": {"cpus": 1}}), json!({"type": "destroy_volume", "id": "a"})] {
        let (status, body) =
            accept_as(&cluster, &backend, json!({"offer_ids": [offer["id"]], "operations": [op]})).await;
        assert_eq!((status, body["code"].as_str()), (400, Some("invalid_operation")), "{body}");
    }
    let task = json!({"task_id": "t", "agent_id": agent, "resources": {"cpus": 0.1, "mem": 32},
                      "command": {"shell": "sleep 600"}, "volumes": ["a", "b"]});
    let launch = json!({"offer_ids": [offer["id"]], "operations": [{"type": "launch", "tasks": [task]}]});
    let (status, body) = accept_as(&cluster, &backend, launch).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_volume")), "{body}");
    // One of them is fine: the reservation is there to be used.
    let task = json!({"task_id": "t", "agent_id": agent, "resources": {"cpus": 0.1, "mem": 32},
                      "command": {"shell": "sleep 600"}, "volumes": ["a"]});
    let launch = json!({"offer_ids": [offer["id"]], "operations": [{"type": "launch", "tasks": [task]}]});
    let (status, body) = accept_as(&cluster, &backend, launch).await;
    assert_eq!(status, 202, "{body}");
    cluster.stop();
}

/// A reservation and a volume belong to the principal that made them: a framework of another
/// principal in the same role is offered them and may use them, but may not unreserve the
/// reservation nor destroy the volume. Their own principal may, and so may an operator.
#[tokio::test]
async fn only_the_principal_that_reserved_or_an_operator_gives_a_reservation_back() {
    use agora_server::Kind;
    use common::cluster::Client;
    let mut cluster = Cluster::empty().await;
    let agent = cluster.add_agent_with("h", json!({}), json!({"cpus": 4, "mem": 4096, "disk": 2048})).await;
    let owner = cluster.subscribe("db").await;
    let offers = wait_for_offers(&cluster, &owner, |o| !o.is_empty()).await;
    let reserve = json!({"offer_ids": [offers[0]["id"]], "operations": [
        {"type": "reserve", "resources": {"cpus": 1, "disk": 512}},
        {"type": "create_volume", "id": "pg", "disk": 256, "container_path": "data"}]});
    let (status, body) = accept_as(&cluster, &owner, reserve).await;
    assert_eq!(status, 202, "{body}");
    let view = cluster.operator.get(&format!("/v1/agents/{agent}")).await;
    assert_eq!(view["reservations"][0]["principal"], "framework", "{view}");

    // The owner steps aside: its reserved offers go to another principal's framework of `db`.
    let reserved = wait_for_offers(&cluster, &owner, |o| o.iter().any(|o| o["reservation"] == "db")).await;
    let ids: Vec<&Value> = reserved.iter().map(|o| &o["id"]).collect();
    let decline = json!({"offer_ids": ids, "filters": {"refuse_secs": 3600}});
    let (status, body) = cluster.framework.post(&format!("/v1/frameworks/{owner}/decline"), decline).await;
    assert_eq!(status, 202, "{body}");
    let mallory = Client::scoped(&cluster.server, Kind::Framework, "mallory", Some(vec!["db".into()]));
    let (status, body) = mallory.post("/v1/frameworks", json!({"name": "mallory", "roles": ["db"]})).await;
    assert_eq!(status, 200, "{body}");
    let other = body["framework_id"].as_str().expect("id").to_string();
    let url = format!("{}/v1/frameworks/{other}/events", mallory.base);
    cluster.streams.push(mallory.http.get(url).bearer_auth(&mallory.token).send().await.expect("stream"));
    let offers = wait_for_offers(&cluster, &other, |o| o.iter().any(|o| o["reservation"] == "db")).await;
    let offer = offers.iter().find(|o| o["reservation"] == "db").expect("a reserved offer");
    assert!(offer["volumes"].as_array().is_some_and(|v| v.iter().any(|v| v["id"] == "pg")), "{offer}");
    for (operation, code) in [
        (json!({"type": "unreserve", "resources": {"cpus": 1}}), "not_owner"),
        (json!({"type": "destroy_volume", "id": "pg"}), "not_owner"),
    ] {
        let accept = json!({"offer_ids": [offer["id"]], "operations": [operation]});
        let (status, body) = mallory.post(&format!("/v1/frameworks/{other}/accept"), accept).await;
        assert_eq!((status, body["code"].as_str()), (400, Some(code)), "{body}");
    }
    let view = cluster.operator.get(&format!("/v1/agents/{agent}")).await;
    assert_eq!(view["reservations"][0]["resources"]["cpus"], 1.0, "nothing was given back: {view}");
    assert_eq!(view["volumes"][0]["id"], "pg", "{view}");

    // An operator may give back anyone's reservation.
    let path = format!("/v1/agents/{agent}/volumes/pg");
    let (status, body) = cluster.operator.send(reqwest::Method::DELETE, &path, None).await;
    assert_eq!(status, 200, "{body}");
    let back = json!({"role": "db", "resources": {"cpus": 1, "disk": 512}});
    let (status, body) = cluster.operator.post(&format!("/v1/agents/{agent}/unreserve"), back).await;
    assert_eq!(status, 200, "{body}");
    cluster.stop();
}
