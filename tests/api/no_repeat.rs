//! No repeated side effects, end to end: Graph and the Connector answer a
//! failure after doing the work (faults that commit), and Teams redelivers
//! activities. We count what Graph and the Connector received.

use std::time::Duration;

use serde_json::{json, Value};

use crate::{
    cards::{cards, executes, join_data, words},
    helpers::{spawn_app, spawn_app_with, StoreKind, TestApp},
};

const EXPANSION: &str = "join chat for lead Contoso Coffee expansion";
const DEAL_ROOM: &str = "19:contoso-coffee-expansion@thread.v2";
const NOTICE: &str = "Alex Wu joined the chat";

async fn join_card_data(app: &TestApp) -> Value {
    let answer = app.say("alex", EXPANSION).await;
    let card = cards(&answer["activities"]).pop().expect("a card");
    join_data(&card, DEAL_ROOM).expect("a Join button for the deal room")
}

/// The next Graph call (the join's membership check) passes untouched; the
/// one after it (the add) meets `fault`.
async fn fault_the_graph_add(app: &TestApp, fault: Value) {
    app.fault(json!({"service": "graph", "latency_ms": 1, "count": 1}))
        .await;
    app.fault(fault).await;
}

/// Posts one activity as Teams would (a fresh channel token), and returns
/// the invoke response body.
async fn deliver(app: &TestApp, activity: &Value) -> Value {
    let response = app.post_activity(activity, Some(&app.token())).await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("an invoke response")
}

/// The audit events, once one matches `wanted` (the notice may follow the
/// join's answer by a moment).
async fn audit_once(
    app: &TestApp,
    wanted: impl Fn(&std::collections::HashMap<String, String>) -> bool,
) -> Vec<std::collections::HashMap<String, String>> {
    for _ in 0..50 {
        let events = app.audit().await;
        if events.iter().any(&wanted) {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no such audit event in {:?}", app.audit().await);
}

/// Posts into the deal room the Connector received.
async fn posts_into_the_deal_room(app: &TestApp) -> Vec<Value> {
    app.calls_to("connector")
        .await
        .into_iter()
        .filter(|c| {
            c["method"] == "POST"
                && c["path"] == format!("/v3/conversations/{DEAL_ROOM}/activities")
        })
        .collect()
}

fn bot_messages(chat: &Value) -> Vec<String> {
    chat["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "bot")
        .map(|m| m["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn an_add_graph_did_but_answered_503_is_you_joined_with_one_add_and_one_notice(
    store: StoreKind,
) {
    let app = spawn_app(store).await;
    let data = join_card_data(&app).await;
    fault_the_graph_add(
        &app,
        json!({"service": "graph", "status": 503, "count": 1, "commit": true}),
    )
    .await;
    let answer = app.invoke("alex", "join", &data).await;
    let shown = words(&answer["body"]["value"]);
    assert!(
        shown.contains("You joined"),
        "this click added alex: {shown}"
    );

    let adds = app.graph_adds().await;
    assert_eq!(adds.len(), 1, "looked, and did not add again: {adds:?}");
    assert_eq!(adds[0]["status"], 503);
    let chat = app.chat(DEAL_ROOM).await;
    assert!(chat["members"].to_string().contains("\"alex\""));

    audit_once(&app, |e| e["action"] == "notice").await;
    assert_eq!(bot_messages(&app.chat(DEAL_ROOM).await), [NOTICE]);
    assert_eq!(posts_into_the_deal_room(&app).await.len(), 1);
    let events = app.audit().await;
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "join" && e["outcome"] == "joined"),
        "{events:?}"
    );
}

#[tokio::test]
async fn an_add_graph_did_but_answered_503_is_you_joined_with_one_add_and_one_notice_in_process() {
    an_add_graph_did_but_answered_503_is_you_joined_with_one_add_and_one_notice(StoreKind::Memory)
        .await;
}

#[tokio::test]
async fn an_add_graph_did_but_answered_503_is_you_joined_with_one_add_and_one_notice_with_redis() {
    an_add_graph_did_but_answered_503_is_you_joined_with_one_add_and_one_notice(StoreKind::Redis)
        .await;
}

#[tokio::test]
async fn an_add_graph_did_not_do_is_sent_again_once_the_members_show_it_missing() {
    let app = spawn_app(StoreKind::Memory).await;
    let data = join_card_data(&app).await;
    fault_the_graph_add(&app, json!({"service": "graph", "status": 503, "count": 1})).await;
    let answer = app.invoke("alex", "join", &data).await;
    assert!(
        words(&answer["body"]["value"]).contains("You joined"),
        "{answer}"
    );
    let adds = app.graph_adds().await;
    let statuses: Vec<&Value> = adds.iter().map(|c| &c["status"]).collect();
    assert_eq!(statuses, [&json!(503), &json!(201)], "{adds:?}");
    // Between the two adds, a look at the members.
    let graph = app.calls_to("graph").await;
    let first_add = graph.iter().position(|c| c["method"] == "POST").unwrap();
    assert_eq!(graph[first_add + 1]["method"], "GET");
    assert!(graph[first_add + 1]["path"]
        .as_str()
        .unwrap()
        .ends_with("/members"));
    audit_once(&app, |e| e["action"] == "notice").await;
    assert_eq!(bot_messages(&app.chat(DEAL_ROOM).await), [NOTICE]);
}

async fn a_notice_the_connector_posted_but_answered_503_is_not_posted_again(store: StoreKind) {
    let app = spawn_app(store).await;
    let data = join_card_data(&app).await;
    app.fault(json!({"service": "connector", "status": 503, "count": 1, "commit": true}))
        .await;
    let answer = app.invoke("alex", "join", &data).await;
    let shown = words(&answer["body"]["value"]);
    assert!(shown.contains("You joined"), "{shown}");
    assert!(
        !shown.contains("isn't installed"),
        "it may well be: {shown}"
    );
    let events = audit_once(&app, |e| e["action"] == "notice").await;
    let notice = events.iter().find(|e| e["action"] == "notice").unwrap();
    assert_eq!(notice["outcome"], "uncertain");
    assert_eq!(notice["chat"], DEAL_ROOM);
    let posts = posts_into_the_deal_room(&app).await;
    assert_eq!(posts.len(), 1, "not sent twice: {posts:?}");
    assert_eq!(posts[0]["status"], 503);
    assert_eq!(bot_messages(&app.chat(DEAL_ROOM).await), [NOTICE]);
    assert_eq!(app.graph_adds().await.len(), 1);
}

#[tokio::test]
async fn a_notice_the_connector_posted_but_answered_503_is_not_posted_again_in_process() {
    a_notice_the_connector_posted_but_answered_503_is_not_posted_again(StoreKind::Memory).await;
}

#[tokio::test]
async fn a_notice_the_connector_posted_but_answered_503_is_not_posted_again_with_redis() {
    a_notice_the_connector_posted_but_answered_503_is_not_posted_again(StoreKind::Redis).await;
}

/// The Connector cannot say whether a post that met a 503 arrived, and takes
/// no idempotency key: the notice is not sent again (a missing notice beats a
/// doubled one; Teams' own "added" event still tells the members), and the
/// audit says its fate is unknown.
#[tokio::test]
async fn a_notice_that_met_a_503_is_audited_as_uncertain_and_not_retried() {
    let app = spawn_app(StoreKind::Memory).await;
    let data = join_card_data(&app).await;
    app.fault(json!({"service": "connector", "status": 503, "count": 1}))
        .await;
    let answer = app.invoke("alex", "join", &data).await;
    assert!(words(&answer["body"]["value"]).contains("You joined"));
    let events = audit_once(&app, |e| e["action"] == "notice").await;
    let notice = events.iter().find(|e| e["action"] == "notice").unwrap();
    assert_eq!(notice["outcome"], "uncertain", "{notice:?}");
    assert_eq!(posts_into_the_deal_room(&app).await.len(), 1);
    let chat = app.chat(DEAL_ROOM).await;
    assert!(bot_messages(&chat).is_empty(), "{chat}");
    assert!(
        chat["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["kind"] == "system"),
        "Teams told the members"
    );
}

async fn a_join_whose_first_delivery_met_an_outage_runs_again_when_redelivered(
    store: StoreKind,
    outage: &str,
) {
    let app = spawn_app_with(joinchat_sandbox::World::demo(), store, |config| {
        config.tunables.outbound_budget = Duration::from_secs(2);
    })
    .await;
    let data = join_card_data(&app).await;
    let activity = app.invoke_activity("alex", "join", &data);
    app.fault(json!({"service": outage, "status": 503})).await;
    let first = deliver(&app, &activity).await;
    assert!(
        words(&first["value"]).to_lowercase().contains("try again"),
        "{first}"
    );
    assert!(app.graph_adds().await.iter().all(|c| c["status"] != 201));
    app.http
        .delete(format!("{}/_sandbox/faults", app.cloud.base_url()))
        .send()
        .await
        .unwrap();

    let again = deliver(&app, &activity).await;
    assert!(words(&again["value"]).contains("You joined"), "{again}");
    let added: Vec<Value> = app
        .graph_adds()
        .await
        .into_iter()
        .filter(|c| c["status"] == 201)
        .collect();
    assert_eq!(added.len(), 1);

    // Delivered a third time, it changes nothing.
    let third = deliver(&app, &activity).await;
    assert!(
        words(&third["value"]).contains("You're a member"),
        "{third}"
    );
    assert_eq!(
        app.graph_adds()
            .await
            .iter()
            .filter(|c| c["status"] == 201)
            .count(),
        1
    );
    audit_once(&app, |e| e["action"] == "notice").await;
    assert_eq!(posts_into_the_deal_room(&app).await.len(), 1);
}

#[tokio::test]
async fn a_join_that_met_a_dataverse_outage_runs_again_when_redelivered() {
    a_join_whose_first_delivery_met_an_outage_runs_again_when_redelivered(
        StoreKind::Memory,
        "dataverse",
    )
    .await;
}

#[tokio::test]
async fn a_join_that_met_a_dataverse_outage_runs_again_when_redelivered_with_redis() {
    a_join_whose_first_delivery_met_an_outage_runs_again_when_redelivered(
        StoreKind::Redis,
        "dataverse",
    )
    .await;
}

#[tokio::test]
async fn a_join_that_met_a_graph_outage_runs_again_when_redelivered() {
    a_join_whose_first_delivery_met_an_outage_runs_again_when_redelivered(
        StoreKind::Memory,
        "graph",
    )
    .await;
}

#[tokio::test]
async fn a_join_that_met_a_graph_outage_runs_again_when_redelivered_with_redis() {
    a_join_whose_first_delivery_met_an_outage_runs_again_when_redelivered(
        StoreKind::Redis,
        "graph",
    )
    .await;
}

#[tokio::test]
async fn a_switch_whose_first_delivery_met_an_outage_runs_again_and_then_is_done() {
    let app = spawn_app_with(
        joinchat_sandbox::World::demo(),
        StoreKind::Memory,
        |config| {
            config.tunables.outbound_budget = Duration::from_secs(2);
        },
    )
    .await;
    let switch = json!({"entity": "account", "enabled": "true"});
    let activity = app.invoke_activity("priya", "set_join_chat", &switch);
    app.fault(json!({"service": "dataverse", "status": 503}))
        .await;
    let first = deliver(&app, &activity).await;
    assert!(
        words(&first["value"]).to_lowercase().contains("try again"),
        "{first}"
    );
    app.http
        .delete(format!("{}/_sandbox/faults", app.cloud.base_url()))
        .send()
        .await
        .unwrap();
    let again = deliver(&app, &activity).await;
    assert!(
        !again.to_string().contains("Already done"),
        "ran again: {again}"
    );
    let world: Value = app
        .http
        .get(format!("{}/_sandbox/world", app.cloud.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        world["join_chat"].to_string().contains("account"),
        "{world}"
    );
    let third = deliver(&app, &activity).await;
    assert!(third.to_string().contains("Already done"), "{third}");
    let writes = app
        .calls_to("dataverse")
        .await
        .iter()
        .filter(|c| c["method"] == "PATCH" && c["status"] == 204)
        .count();
    assert_eq!(writes, 1);
}

#[tokio::test]
async fn an_add_whose_first_delivery_met_a_graph_outage_runs_again_and_is_audited() {
    let app = spawn_app_with(
        joinchat_sandbox::World::demo(),
        StoreKind::Memory,
        |config| {
            config.tunables.outbound_budget = Duration::from_secs(2);
        },
    )
    .await;
    let locked = cards(&app.say("jo", EXPANSION).await["activities"])
        .pop()
        .unwrap();
    let ask = executes(&locked)
        .into_iter()
        .find(|a| a["verb"] == "ask_member" && a["data"].to_string().contains(DEAL_ROOM))
        .expect("Ask a member to add you")["data"]
        .clone();
    let asked = app.invoke("jo", "ask_member", &ask).await;
    let posted = cards(&asked["activities"])
        .into_iter()
        .find(|c| words(c).contains("asks to join this chat"))
        .expect("the ask card");
    let add = executes(&posted)
        .into_iter()
        .find(|a| a["verb"] == "add")
        .expect("an Add button")["data"]
        .clone();
    let activity = app
        .cloud
        .activity(
            "sam",
            joinchat_sandbox::ActivityRequest::Invoke {
                verb: "add".into(),
                data: add,
                chat: Some(DEAL_ROOM.into()),
            },
        )
        .unwrap();
    app.fault(json!({"service": "graph", "status": 503})).await;
    let first = deliver(&app, &activity).await;
    assert!(
        words(&first["value"]).to_lowercase().contains("try again"),
        "{first}"
    );
    let events = app.audit().await;
    let failed = events
        .iter()
        .find(|e| e["action"] == "add" && e["outcome"] == "failed")
        .unwrap_or_else(|| panic!("the Graph failure is audited: {events:?}"));
    assert_eq!(failed["reason"], "graph_failed");
    assert_eq!(failed["failure"], "unavailable");
    assert_eq!(failed["chat"], DEAL_ROOM);
    assert!(
        !failed.values().any(|v| v.contains("eyJ")),
        "no token: {failed:?}"
    );

    app.http
        .delete(format!("{}/_sandbox/faults", app.cloud.base_url()))
        .send()
        .await
        .unwrap();
    let again = deliver(&app, &activity).await;
    assert!(
        words(&again["value"]).contains("Jo Park was added"),
        "{again}"
    );
    assert_eq!(
        app.graph_adds()
            .await
            .iter()
            .filter(|c| c["status"] == 201)
            .count(),
        1
    );
}

#[tokio::test]
async fn a_join_whose_graph_add_fails_is_audited_with_the_failure_kind() {
    let app = spawn_app_with(
        joinchat_sandbox::World::demo(),
        StoreKind::Memory,
        |config| {
            config.tunables.outbound_budget = Duration::from_secs(2);
        },
    )
    .await;
    let data = join_card_data(&app).await;
    // The membership check passes, the add throttles for longer than the budget.
    fault_the_graph_add(
        &app,
        json!({"service": "graph", "status": 429, "retry_after": 30}),
    )
    .await;
    let answer = app.invoke("alex", "join", &data).await;
    assert!(words(&answer["body"]["value"])
        .to_lowercase()
        .contains("try again"));
    let events = app.audit().await;
    let join = events
        .iter()
        .find(|e| e["action"] == "join")
        .expect("the join is audited");
    assert_eq!(join["outcome"], "failed");
    assert_eq!(join["reason"], "graph_failed");
    assert_eq!(join["failure"], "throttled");
    assert_eq!(join["chat"], DEAL_ROOM);
}

const SITE_VISITS: &str = "19:fit-out-site-visits@thread.v2";

/// A join into the site visits chat, where the bot is not installed: Graph
/// sees the membership check, the add, then the install (which meets `fault`).
async fn join_where_the_install_meets(app: &TestApp, fault: Value) -> Value {
    let answer = app
        .say("alex", "chats for opportunity Contoso Coffee fit-out")
        .await;
    let card = cards(&answer["activities"]).pop().expect("a card");
    let data = join_data(&card, SITE_VISITS).expect("Join for the site visits chat");
    for _ in 0..2 {
        app.fault(json!({"service": "graph", "latency_ms": 1, "count": 1}))
            .await;
    }
    app.fault(fault).await;
    app.invoke("alex", "join", &data).await
}

async fn installs(app: &TestApp) -> Vec<Value> {
    app.calls_to("graph")
        .await
        .into_iter()
        .filter(|c| c["path"] == format!("/v1.0/chats/{SITE_VISITS}/installedApps"))
        .collect()
}

#[tokio::test]
async fn an_install_graph_did_but_answered_503_is_found_by_posting_and_not_repeated() {
    let app = spawn_app(StoreKind::Memory).await;
    let answer = join_where_the_install_meets(
        &app,
        json!({"service": "graph", "status": 503, "count": 1, "commit": true}),
    )
    .await;
    assert!(
        words(&answer["body"]["value"]).contains("You joined"),
        "{answer}"
    );
    let events = audit_once(&app, |e| e["action"] == "notice").await;
    let notice = events.iter().find(|e| e["action"] == "notice").unwrap();
    assert_eq!(notice["outcome"], "posted");
    let installs = installs(&app).await;
    assert_eq!(installs.len(), 1, "{installs:?}");
    assert_eq!(installs[0]["status"], 503);
    assert_eq!(bot_messages(&app.chat(SITE_VISITS).await), [NOTICE]);
}

#[tokio::test]
async fn an_install_that_did_not_happen_is_tried_again_once_a_post_shows_it_missing() {
    let app = spawn_app(StoreKind::Memory).await;
    let answer =
        join_where_the_install_meets(&app, json!({"service": "graph", "status": 503, "count": 1}))
            .await;
    assert!(
        words(&answer["body"]["value"]).contains("You joined"),
        "{answer}"
    );
    audit_once(&app, |e| {
        e["action"] == "notice" && e["outcome"] == "posted"
    })
    .await;
    let statuses: Vec<Value> = installs(&app)
        .await
        .iter()
        .map(|c| c["status"].clone())
        .collect();
    assert_eq!(statuses, [json!(503), json!(201)]);
    assert_eq!(bot_messages(&app.chat(SITE_VISITS).await), [NOTICE]);
}
