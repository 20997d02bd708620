//! The cold path: concurrent first looks at one record share one set of
//! Dataverse and Graph reads (in one process and across replicas), cold
//! looks spend a budget that a replay of random records runs out of while
//! warm ones stay free, and the tokens the bot needs are fetched ahead of
//! need, so an Entra outage costs nothing while they last.

use joinchat::store::Bucket;
use serde_json::{json, Value};

use crate::{
    cards::words,
    helpers::{spawn_app_with, spawn_replica, StoreKind, TestApp},
};

const EXPANSION_ID: &str = "8f14e45f-ceea-467f-a0c5-1b2d3e4f5a6b";
const JOINABLE: &str = "Hover over to join this chat";
const OVER_BUDGET: &str = "pausing the lookups";

fn refresh_of(record_id: &str) -> Value {
    json!({"entity": "lead", "record_id": record_id})
}

/// Calls to Dataverse and to Graph so far.
async fn reads(app: &TestApp) -> (usize, usize) {
    let calls = app.calls().await;
    let count = |service: &str| calls.iter().filter(|c| c["service"] == service).count();
    (count("dataverse"), count("graph"))
}

async fn app_with_budget(store: StoreKind, person: u32, tenant: u32) -> TestApp {
    spawn_app_with(joinchat_sandbox::World::demo(), store, |config| {
        config.tunables.cold_looks_per_person = Bucket {
            capacity: person,
            per_minute: person,
        };
        config.tunables.cold_looks_per_tenant = Bucket {
            capacity: tenant,
            per_minute: tenant,
        };
    })
    .await
}

/// The reads one first refresh of the record makes, on a bot of its own.
async fn one_first_refresh(store: StoreKind) -> (usize, usize) {
    let app = app_with_budget(store, 100, 1000).await;
    let answer = app
        .invoke("alex", "refresh", &refresh_of(EXPANSION_ID))
        .await;
    assert!(
        words(&answer["body"]["value"]).contains(JOINABLE),
        "{answer}"
    );
    let one = reads(&app).await;
    assert!(
        one.0 > 0 && one.1 > 0,
        "a first refresh reads both: {one:?}"
    );
    app.stop().await;
    one
}

async fn concurrent_first_refreshes_share_one_set_of_reads(store: StoreKind) {
    let one = one_first_refresh(store).await;
    let app = app_with_budget(store, 100, 1000).await;
    let data = refresh_of(EXPANSION_ID);
    let token = app.token();
    let activities: Vec<Value> = (0..30)
        .map(|_| app.invoke_activity("alex", "refresh", &data))
        .collect();
    let answers = futures::future::join_all(activities.iter().map(|activity| {
        let (app, token) = (&app, &token);
        async move {
            let response = app.post_activity(activity, Some(token)).await;
            assert_eq!(response.status().as_u16(), 200);
            response.json::<Value>().await.unwrap()
        }
    }))
    .await;
    for answer in &answers {
        assert!(words(&answer["value"]).contains(JOINABLE), "{answer}");
    }
    assert_eq!(
        reads(&app).await,
        one,
        "thirty concurrent first refreshes read what one does (Dataverse, Graph)"
    );
}

#[tokio::test]
async fn concurrent_first_refreshes_of_one_record_share_one_set_of_reads() {
    concurrent_first_refreshes_share_one_set_of_reads(StoreKind::Memory).await;
}

#[tokio::test]
async fn concurrent_first_refreshes_on_redis_share_one_set_of_reads() {
    concurrent_first_refreshes_share_one_set_of_reads(StoreKind::Redis).await;
}

#[tokio::test]
async fn two_replicas_describe_a_records_chats_in_graph_once() {
    let one = one_first_refresh(StoreKind::Redis).await;
    let first = app_with_budget(StoreKind::Redis, 100, 1000).await;
    let second = spawn_replica(&first).await;
    let data = refresh_of(EXPANSION_ID);
    let token = first.token();
    let sends = (0..20).map(|n| {
        let (replica, token, data) = (if n % 2 == 0 { &first } else { &second }, &token, &data);
        async move {
            let activity = replica.invoke_activity("alex", "refresh", data);
            let response = replica.post_activity(&activity, Some(token)).await;
            response.json::<Value>().await.unwrap()
        }
    });
    for answer in futures::future::join_all(sends).await {
        assert!(words(&answer["value"]).contains(JOINABLE), "{answer}");
    }
    let (dataverse, graph) = reads(&first).await;
    assert_eq!(
        graph, one.1,
        "one replica asked Graph, the other read its cache write"
    );
    assert!(
        dataverse <= 2 * one.0,
        "at most one set of Dataverse reads per replica: {dataverse} vs {one:?}"
    );
}

async fn a_replay_of_random_records_stops_at_the_budget(store: StoreKind) {
    let app = app_with_budget(store, 5, 1000).await;
    // One cold refresh of a real record, then random ones: five cold looks.
    let real = app
        .invoke("alex", "refresh", &refresh_of(EXPANSION_ID))
        .await;
    assert!(words(&real["body"]["value"]).contains(JOINABLE), "{real}");
    for _ in 0..4 {
        let random = refresh_of(&uuid::Uuid::new_v4().to_string());
        let answer = app.invoke("alex", "refresh", &random).await;
        assert!(
            !words(&answer["body"]["value"]).contains(OVER_BUDGET),
            "{answer}"
        );
    }
    let spent = reads(&app).await;
    for _ in 0..10 {
        let random = refresh_of(&uuid::Uuid::new_v4().to_string());
        let answer = app.invoke("alex", "refresh", &random).await;
        assert_eq!(answer["status"], 200);
        let shown = words(&answer["body"]["value"]);
        assert!(shown.contains(OVER_BUDGET), "{shown}");
        assert!(shown.contains("Please try again in a moment."), "{shown}");
    }
    assert_eq!(
        reads(&app).await,
        spent,
        "past the budget, no Dataverse or Graph call"
    );
    // A warm refresh by the same person is free, and still answered.
    let warm = app
        .invoke("alex", "refresh", &refresh_of(EXPANSION_ID))
        .await;
    assert!(words(&warm["body"]["value"]).contains(JOINABLE), "{warm}");
    assert_eq!(reads(&app).await, spent);
    // Someone else has a budget of their own.
    let kim = app
        .invoke("kim", "refresh", &refresh_of(EXPANSION_ID))
        .await;
    assert!(!words(&kim["body"]["value"]).contains(OVER_BUDGET), "{kim}");
}

#[tokio::test]
async fn a_replay_of_random_records_stops_at_the_persons_budget() {
    a_replay_of_random_records_stops_at_the_budget(StoreKind::Memory).await;
}

#[tokio::test]
async fn a_replay_of_random_records_on_redis_stops_at_the_persons_budget() {
    a_replay_of_random_records_stops_at_the_budget(StoreKind::Redis).await;
}

#[tokio::test]
async fn a_replay_of_random_records_on_a_redis_cluster_stops_at_the_persons_budget() {
    // Both buckets are taken by one script: their keys share the deployment's slot.
    a_replay_of_random_records_stops_at_the_budget(StoreKind::Cluster).await;
}

#[tokio::test]
async fn the_tenants_budget_is_shared_by_everyone() {
    let app = app_with_budget(StoreKind::Memory, 10, 3).await;
    for user in ["alex", "alex", "kim"] {
        let random = refresh_of(&uuid::Uuid::new_v4().to_string());
        let answer = app.invoke(user, "refresh", &random).await;
        assert!(
            !words(&answer["body"]["value"]).contains(OVER_BUDGET),
            "{answer}"
        );
    }
    let spent = reads(&app).await;
    let jo = app.invoke("jo", "refresh", &refresh_of(EXPANSION_ID)).await;
    assert!(words(&jo["body"]["value"]).contains(OVER_BUDGET), "{jo}");
    assert_eq!(reads(&app).await, spent);
}

/// Token requests the cloud's Entra answered, by status.
async fn token_fetches(app: &TestApp) -> Vec<u64> {
    app.calls_to("entra")
        .await
        .iter()
        .filter(|c| {
            c["path"]
                .as_str()
                .unwrap_or("")
                .ends_with("/oauth2/v2.0/token")
        })
        .map(|c| c["status"].as_u64().unwrap_or(0))
        .collect()
}

#[tokio::test]
async fn tokens_are_fetched_ahead_of_need_and_an_entra_outage_costs_nothing() {
    let app = app_with_budget(StoreKind::Memory, 100, 1000).await;
    // At start, one token per scope (Connector, Graph, Dataverse), unasked;
    // and the channel's signing keys.
    let mut fetched = Vec::new();
    for _ in 0..100 {
        fetched = token_fetches(&app).await;
        let ready = app.get("/readyz").await.status().as_u16() == 200;
        // A call still in progress is logged with status 0: wait for its answer.
        if ready && fetched.len() >= 3 && !fetched.contains(&0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        fetched,
        [200, 200, 200],
        "{:?}",
        app.calls_to("entra").await
    );

    // Entra goes down: a first command, a refresh and a join still work.
    app.fault(json!({"service": "entra", "status": 503})).await;
    let answer = app
        .say("alex", "chats for lead Contoso Coffee expansion")
        .await;
    let entra = app.calls_to("entra").await;
    let card = crate::cards::cards(&answer["activities"])
        .pop()
        .unwrap_or_else(|| panic!("a card: {answer} {entra:?}"));
    assert!(words(&card).contains(JOINABLE));
    let data = crate::cards::join_data(&card, "19:contoso-coffee-expansion@thread.v2").unwrap();
    let joined = app.invoke("alex", "join", &data).await;
    assert!(
        words(&joined["body"]["value"]).contains("You joined"),
        "{joined}"
    );
    assert_eq!(
        token_fetches(&app).await,
        [200, 200, 200],
        "nobody waited on Entra"
    );
}
