//! Idempotency, concurrency and the cache: what Redis and the cloud see.

use serde_json::json;

use crate::{
    cards::{cards, join_data, words},
    helpers::{spawn_app, spawn_app_with, RedisWatch, StoreKind, TestApp},
};

const EXPANSION: &str = "join chat for lead Contoso Coffee expansion";
const DEAL_ROOM: &str = "19:contoso-coffee-expansion@thread.v2";

async fn join_data_for(app: &TestApp, user: &str) -> serde_json::Value {
    let answer = app.say(user, EXPANSION).await;
    let card = cards(&answer["activities"]).pop().expect("a card");
    join_data(&card, DEAL_ROOM).expect("a Join button")
}

#[tokio::test]
async fn a_warm_card_refresh_costs_one_redis_round_trip_and_nothing_else() {
    a_warm_card_refresh_costs_one_round_trip(StoreKind::Redis).await;
}

#[tokio::test]
async fn a_warm_card_refresh_on_a_redis_cluster_is_one_mget_on_one_node() {
    a_warm_card_refresh_costs_one_round_trip(StoreKind::Cluster).await;
}

async fn a_warm_card_refresh_costs_one_round_trip(store: StoreKind) {
    let app = spawn_app(store).await;
    app.say("alex", EXPANSION).await;
    let data = json!({"entity": "lead", "record_id": "8f14e45f-ceea-467f-a0c5-1b2d3e4f5a6b"});
    let warm = app.invoke("alex", "refresh", &data).await;
    assert!(words(&warm["body"]["value"]).contains("Hover over to join this chat"));

    let calls_before = app.calls().await.len();
    let watch = RedisWatch::of(&app).await;
    let answer = app.invoke("alex", "refresh", &data).await;
    let commands = watch.stop().await;

    assert_eq!(answer["status"], 200);
    assert!(words(&answer["body"]["value"]).contains("Hover over to join this chat"));
    assert_eq!(commands.len(), 1, "{commands:#?}");
    assert!(commands[0].contains("\"MGET\""), "{commands:?}");
    assert_eq!(
        app.calls().await.len(),
        calls_before,
        "no call to Entra, Graph, Dataverse or the connector"
    );
}

#[tokio::test]
async fn a_refresh_in_a_group_chat_also_reads_the_roster_in_the_same_round_trip() {
    a_group_chat_refresh_reads_the_roster_in_the_same_round_trip(StoreKind::Redis).await;
}

#[tokio::test]
async fn a_group_chat_refresh_on_a_redis_cluster_reads_the_roster_in_the_same_mget() {
    a_group_chat_refresh_reads_the_roster_in_the_same_round_trip(StoreKind::Cluster).await;
}

async fn a_group_chat_refresh_reads_the_roster_in_the_same_round_trip(store: StoreKind) {
    let app = spawn_app(store).await;
    let shown = app
        .say_in("sam", DEAL_ROOM, "chats for lead Contoso Coffee expansion")
        .await;
    let card = cards(&shown["activities"]).pop().expect("a card");
    let user_ids = card["refresh"]["userIds"]
        .as_array()
        .expect("refresh.userIds")
        .clone();
    assert!(user_ids.len() >= 2, "the chat's members: {user_ids:?}");
    assert_eq!(card["refresh"]["action"]["verb"], "refresh");

    let data = card["refresh"]["action"]["data"].clone();
    let refresh = json!({"verb": "refresh", "data": data, "chat": DEAL_ROOM});
    // Jo's first refresh fills her access rights; the second is warm.
    app.control_post("users/jo/invoke", refresh.clone()).await;
    let watch = RedisWatch::of(&app).await;
    let answer = app.control_post("users/jo/invoke", refresh).await;
    let commands = watch.stop().await;
    assert_eq!(commands.len(), 1, "{commands:#?}");
    assert!(commands[0].contains("\"MGET\""), "{commands:?}");
    assert_eq!(
        answer["body"]["value"]["refresh"]["userIds"]
            .as_array()
            .unwrap()
            .len(),
        user_ids.len()
    );
}

#[tokio::test]
async fn refresh_gives_each_viewer_of_a_shared_card_their_own_view() {
    let app = spawn_app(StoreKind::Memory).await;
    let data = json!({"entity": "lead", "record_id": "8f14e45f-ceea-467f-a0c5-1b2d3e4f5a6b"});
    let view = |user: &'static str| {
        let app = &app;
        let data = data.clone();
        async move {
            let answer = app
                .control_post(
                    &format!("users/{user}/invoke"),
                    json!({"verb": "refresh", "data": data, "chat": DEAL_ROOM}),
                )
                .await;
            words(&answer["body"]["value"])
        }
    };
    assert!(view("alex").await.contains("Hover over to join this chat"));
    assert!(view("jo").await.contains("The chat is locked"));
    assert!(view("sam").await.contains("You're a member"));
    assert!(
        !view("lee").await.contains("deal room"),
        "lee may not read the record"
    );
}

#[tokio::test]
async fn the_same_join_delivered_twice_adds_once() {
    let app = spawn_app(StoreKind::Redis).await;
    let data = join_data_for(&app, "alex").await;
    let activity = app.invoke_activity("alex", "join", &data);
    let first = app.post_activity(&activity, Some(&app.token())).await;
    let second = app.post_activity(&activity, Some(&app.token())).await;
    assert_eq!(first.status(), 200);
    assert_eq!(second.status(), 200);
    let second: serde_json::Value = second.json().await.unwrap();
    assert!(
        words(&second["value"]).contains("You're a member"),
        "the redelivery shows the current card"
    );
    assert_eq!(app.graph_adds().await.len(), 1);
}

#[tokio::test]
async fn two_replicas_sharing_redis_add_once_whatever_reaches_them() {
    two_replicas_add_once_whatever_reaches_them(StoreKind::Redis).await;
}

#[tokio::test]
async fn two_replicas_sharing_a_redis_cluster_add_once_whatever_reaches_them() {
    two_replicas_add_once_whatever_reaches_them(StoreKind::Cluster).await;
}

async fn two_replicas_add_once_whatever_reaches_them(store: StoreKind) {
    let first = spawn_app(store).await;
    let second = crate::helpers::spawn_replica(&first).await;
    let data = join_data_for(&first, "alex").await;

    // The same activity delivered to both replicas at once.
    let activity = first.invoke_activity("alex", "join", &data);
    let token = first.token();
    let (a, b) = tokio::join!(
        first.post_activity(&activity, Some(&token)),
        second.post_activity(&activity, Some(&token))
    );
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    assert_eq!(first.graph_adds().await.len(), 1);

    // Two clicks (two activities) for another chat, one on each replica.
    let card = cards(
        &first
            .say("alex", "chats for incident Espresso machine outage")
            .await["activities"],
    )
    .pop()
    .unwrap();
    let outage = join_data(&card, "19:espresso-outage@thread.v2").expect("a Join button");
    let one = first.invoke_activity("alex", "join", &outage);
    let two = first.invoke_activity("alex", "join", &outage);
    let (a, b) = tokio::join!(
        first.post_activity(&one, Some(&token)),
        second.post_activity(&two, Some(&token))
    );
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    assert_eq!(first.graph_adds().await.len(), 2, "one add per chat");
}

#[tokio::test]
async fn with_redis_down_reads_fall_through_to_dataverse_and_joins_stay_safe() {
    let app = crate::helpers::spawn_app_with_redis_down().await;
    let data = join_data_for(&app, "alex").await;
    let (one, two) = tokio::join!(
        app.invoke("alex", "join", &data),
        app.invoke("alex", "join", &data)
    );
    for answer in [&one, &two] {
        let shown = words(&answer["body"]["value"]);
        assert!(
            shown.contains("You joined") || shown.contains("You're a member"),
            "{shown}"
        );
    }
    assert!(app.graph_adds().await.len() <= 2);
    let chat = app.chat(DEAL_ROOM).await;
    let alex_entries = chat["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["user"] == "alex")
        .count();
    assert_eq!(alex_entries, 1, "added once, whatever happened");
}

#[tokio::test]
async fn a_memoised_refresh_follows_the_facts_it_was_drawn_from() {
    let app = spawn_app(StoreKind::Redis).await;
    let data = join_data_for(&app, "alex").await;
    let refresh = json!({"entity": "lead", "record_id": "8f14e45f-ceea-467f-a0c5-1b2d3e4f5a6b"});
    for _ in 0..3 {
        let answer = app.invoke("alex", "refresh", &refresh).await;
        assert!(words(&answer["body"]["value"]).contains("Hover over to join this chat"));
    }
    app.invoke("alex", "join", &data).await;
    let after = app.invoke("alex", "refresh", &refresh).await;
    let shown = words(&after["body"]["value"]);
    assert!(shown.contains("You're a member"), "{shown}");
    // Another viewer of the same record never gets alex's drawing.
    let jo = app.invoke("jo", "refresh", &refresh).await;
    assert!(words(&jo["body"]["value"]).contains("The chat is locked"));
}

#[tokio::test]
async fn one_person_cannot_flood_dataverse_with_commands() {
    one_person_cannot_flood_dataverse(StoreKind::Redis).await;
}

#[tokio::test]
async fn one_person_cannot_flood_dataverse_through_a_redis_cluster() {
    one_person_cannot_flood_dataverse(StoreKind::Cluster).await;
}

async fn one_person_cannot_flood_dataverse(store: StoreKind) {
    let app = spawn_app_with(joinchat_sandbox::World::demo(), store, |config| {
        config.tunables.actions_per_minute = 3;
    })
    .await;
    for _ in 0..3 {
        let answer = app.say("alex", EXPANSION).await;
        assert_eq!(cards(&answer["activities"]).len(), 1);
    }
    let dataverse_before = app.calls_to("dataverse").await.len();
    let fourth = app.say("alex", EXPANSION).await;
    let text = crate::cards::texts(&fourth["activities"]).join("");
    assert!(text.contains("wait a minute"), "{fourth}");
    assert_eq!(
        app.calls_to("dataverse").await.len(),
        dataverse_before,
        "the flood stops at the bot"
    );
    // Help is always answered; refreshes change nothing and are not counted.
    assert!(
        crate::cards::texts(&app.say("alex", "help").await["activities"])
            .join("")
            .contains("join chat for")
    );
    let refresh = json!({"entity": "lead", "record_id": "8f14e45f-ceea-467f-a0c5-1b2d3e4f5a6b"});
    assert!(
        words(&app.invoke("alex", "refresh", &refresh).await["body"]["value"])
            .contains("Hover over to join this chat")
    );
    // Someone else is not slowed down by alex.
    assert_eq!(
        cards(&app.say("jo", EXPANSION).await["activities"]).len(),
        1
    );
}
