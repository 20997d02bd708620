//! Teams redelivers activities: a delivery that completed is not repeated, one
//! that did not runs again, and two deliveries of one activity never run at
//! once. Messages and invokes alike; we count what the Connector and Graph
//! received.

use serde_json::{json, Value};

use crate::{
    cards::{cards, join_data, words},
    helpers::{spawn_app, StoreKind, TestApp},
};

const DEAL_ROOM: &str = "19:contoso-coffee-expansion@thread.v2";

/// Replies the Connector received in alex's 1:1 conversation.
async fn replies(app: &TestApp) -> Vec<Value> {
    let conversation = app.user("alex")["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.calls_to("connector")
        .await
        .into_iter()
        .filter(|c| {
            c["method"] == "POST"
                && c["path"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with(&format!("/v3/conversations/{conversation}/activities"))
        })
        .collect()
}

async fn clear_faults(app: &TestApp) {
    app.http
        .delete(format!("{}/_sandbox/faults", app.cloud.base_url()))
        .send()
        .await
        .unwrap();
}

async fn a_reply_that_may_have_arrived_is_not_sent_again_on_redelivery(store: StoreKind) {
    let app = spawn_app(store).await;
    let message = app.message("help");
    app.fault(json!({"service": "connector", "status": 503, "count": 1}))
        .await;
    let first = app.post_activity(&message, Some(&app.token())).await;
    assert_eq!(
        first.status(),
        200,
        "handled: the reply's fate is unknown, not failed"
    );
    let again = app.post_activity(&message, Some(&app.token())).await;
    assert_eq!(again.status(), 200);
    let sent = replies(&app).await;
    assert_eq!(sent.len(), 1, "one reply, never repeated: {sent:?}");
    assert!(app.metrics().await.contains("outcome=\"reply_uncertain\""));
}

#[tokio::test]
async fn a_reply_that_may_have_arrived_is_not_sent_again_on_redelivery_in_process() {
    a_reply_that_may_have_arrived_is_not_sent_again_on_redelivery(StoreKind::Memory).await;
}

#[tokio::test]
async fn a_reply_that_may_have_arrived_is_not_sent_again_on_redelivery_with_redis() {
    a_reply_that_may_have_arrived_is_not_sent_again_on_redelivery(StoreKind::Redis).await;
}

async fn a_reply_that_surely_failed_asks_teams_to_retry_and_the_redelivery_answers(
    store: StoreKind,
) {
    let app = spawn_app(store).await;
    let message = app.message("help");
    // Throttled for longer than the budget: surely not delivered.
    app.fault(json!({"service": "connector", "status": 429, "retry_after": 30}))
        .await;
    let first = app.post_activity(&message, Some(&app.token())).await;
    assert_eq!(first.status(), 503, "Teams should retry");
    clear_faults(&app).await;
    let again = app.post_activity(&message, Some(&app.token())).await;
    assert_eq!(again.status(), 200);
    let delivered: Vec<Value> = replies(&app)
        .await
        .into_iter()
        .filter(|c| c["status"] == 201 || c["status"] == 200)
        .collect();
    assert_eq!(
        delivered.len(),
        1,
        "answered by the redelivery: {delivered:?}"
    );
    // And that one is done.
    app.post_activity(&message, Some(&app.token())).await;
    assert_eq!(
        replies(&app)
            .await
            .iter()
            .filter(|c| c["status"] != 429)
            .count(),
        1
    );
}

#[tokio::test]
async fn a_reply_that_surely_failed_asks_teams_to_retry_and_the_redelivery_answers_in_process() {
    a_reply_that_surely_failed_asks_teams_to_retry_and_the_redelivery_answers(StoreKind::Memory)
        .await;
}

#[tokio::test]
async fn a_reply_that_surely_failed_asks_teams_to_retry_and_the_redelivery_answers_with_redis() {
    a_reply_that_surely_failed_asks_teams_to_retry_and_the_redelivery_answers(StoreKind::Redis)
        .await;
}

async fn one_join_delivered_twice_at_once_runs_once(store: StoreKind) {
    let app = spawn_app(store).await;
    let answer = app
        .say("alex", "join chat for lead Contoso Coffee expansion")
        .await;
    let card = cards(&answer["activities"]).pop().expect("a card");
    let data = join_data(&card, DEAL_ROOM).unwrap();
    let activity = app.invoke_activity("alex", "join", &data);
    // Slow Graph down so that the second delivery arrives while the first runs.
    app.fault(json!({"service": "graph", "latency_ms": 300, "count": 2}))
        .await;
    let deliver = || async {
        let response = app.post_activity(&activity, Some(&app.token())).await;
        assert_eq!(response.status(), 200);
        response.json::<Value>().await.unwrap()
    };
    let (first, second) = tokio::join!(deliver(), deliver());
    let joined = [&first, &second]
        .iter()
        .filter(|a| words(&a["value"]).contains("You joined"))
        .count();
    assert_eq!(joined, 1, "{first}\n{second}");
    let adds = app.graph_adds().await;
    assert_eq!(adds.len(), 1, "{adds:?}");
}

#[tokio::test]
async fn one_join_delivered_twice_at_once_runs_once_in_process() {
    one_join_delivered_twice_at_once_runs_once(StoreKind::Memory).await;
}

#[tokio::test]
async fn one_join_delivered_twice_at_once_runs_once_with_redis() {
    one_join_delivered_twice_at_once_runs_once(StoreKind::Redis).await;
}
