//! The audit trail: every decision that reveals or changes something, with
//! ids only. Refreshes and Show clicks are counted per (viewer, record,
//! outcome) and written once per window; we flush the window through the
//! `test-support` hook instead of waiting for it.

use std::collections::HashMap;

use serde_json::json;

use crate::{
    cards::{cards, join_data},
    helpers::{redis_url, spawn_app, StoreKind, TestApp},
};

const EXPANSION: &str = "join chat for lead Contoso Coffee expansion";
const EXPANSION_LEAD: &str = "8f14e45f-ceea-467f-a0c5-1b2d3e4f5a6b";
const DEAL_ROOM: &str = "19:contoso-coffee-expansion@thread.v2";

type Event = HashMap<String, String>;

fn aad(app: &TestApp, key: &str) -> String {
    app.user(key)["aad_object_id"].as_str().unwrap().to_owned()
}

/// Shows, refreshes and a join, as alex and jo.
async fn look_and_join(app: &TestApp) {
    let answer = app.say("alex", EXPANSION).await;
    let card = cards(&answer["activities"]).pop().expect("a card");
    let record = json!({"entity": "lead", "record_id": EXPANSION_LEAD});
    for _ in 0..3 {
        let refreshed = app.invoke("alex", "refresh", &record).await;
        assert_eq!(refreshed["status"], 200);
    }
    app.invoke("jo", "refresh", &record).await;
    // lee may not read the record: the look reveals nothing, and says so.
    app.invoke("lee", "refresh", &record).await;
    app.invoke("alex", "show", &record).await;
    app.invoke("alex", "join", &join_data(&card, DEAL_ROOM).unwrap())
        .await;
}

fn find<'a>(events: &'a [Event], wanted: &[(&str, &str)]) -> Vec<&'a Event> {
    events
        .iter()
        .filter(|e| {
            wanted
                .iter()
                .all(|(field, value)| e.get(*field).map(String::as_str) == Some(*value))
        })
        .collect()
}

fn check_the_trail(app: &TestApp, events: &[Event]) {
    let alex = aad(app, "alex");
    let jo = aad(app, "jo");
    let refreshes = find(
        events,
        &[
            ("action", "refresh"),
            ("actor", &alex),
            ("record", EXPANSION_LEAD),
        ],
    );
    assert_eq!(refreshes.len(), 1, "one event for the window: {events:?}");
    assert_eq!(refreshes[0]["count"], "3");
    assert_eq!(refreshes[0]["entity"], "lead");
    assert_eq!(refreshes[0]["outcome"], "refresh");
    assert!(refreshes[0].contains_key("since") && refreshes[0].contains_key("at"));
    let by_jo = find(events, &[("action", "refresh"), ("actor", &jo)]);
    assert_eq!(by_jo.len(), 1);
    assert_eq!(by_jo[0]["count"], "1");
    let by_lee = find(
        events,
        &[("action", "refresh"), ("actor", &aad(app, "lee"))],
    );
    assert_eq!(by_lee.len(), 1, "{events:?}");
    assert_eq!(by_lee[0]["outcome"], "hidden");
    let shows = find(events, &[("action", "show"), ("actor", &alex)]);
    assert!(
        shows
            .iter()
            .any(|e| e.get("count").map(String::as_str) == Some("1")),
        "the Show click: {events:?}"
    );
    assert!(
        shows.iter().any(|e| e["outcome"] == "shown"),
        "the typed command: {events:?}"
    );
    let joins = find(events, &[("action", "join"), ("actor", &alex)]);
    assert_eq!(joins.len(), 1);
    assert_eq!(joins[0]["outcome"], "joined");
    assert_eq!(joins[0]["chat"], DEAL_ROOM);
    assert_eq!(joins[0]["record"], EXPANSION_LEAD);
    // Ids only: no names, no tokens.
    for event in events {
        for value in event.values() {
            assert!(
                !value.contains("Alex Wu") && !value.contains("eyJ"),
                "{event:?}"
            );
        }
    }
}

#[tokio::test]
async fn refreshes_and_shows_are_audited_per_viewer_record_and_outcome_with_a_count() {
    let app = spawn_app(StoreKind::Memory).await;
    look_and_join(&app).await;
    let before = app.audit().await;
    assert!(
        find(&before, &[("action", "refresh")]).is_empty(),
        "counted in memory, not written per refresh: {before:?}"
    );
    app.state.bot.flush_audit().await;
    check_the_trail(&app, &app.audit().await);
    // The next window starts empty.
    app.state.bot.flush_audit().await;
    assert_eq!(
        find(&app.audit().await, &[("action", "refresh")]).len(),
        3,
        "alex's, jo's and lee's, once"
    );
}

#[tokio::test]
async fn on_redis_the_audit_is_a_capped_stream_holding_the_same_events() {
    let app = spawn_app(StoreKind::Redis).await;
    let watch = crate::helpers::RedisWatch::of(&app).await;
    look_and_join(&app).await;
    app.state.bot.flush_audit().await;
    let commands = watch.stop().await;
    let adds: Vec<&String> = commands.iter().filter(|c| c.contains("\"XADD\"")).collect();
    assert!(!adds.is_empty());
    assert!(
        adds.iter().all(|c| c.contains("\"MAXLEN\" \"~\"")),
        "every append caps the stream: {adds:?}"
    );

    // Read the stream itself, not through the bot.
    let key = format!("{}audit", app.redis_prefix.as_deref().unwrap());
    let client = redis::Client::open(redis_url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(&key)
        .arg("-")
        .arg("+")
        .query_async(&mut connection)
        .await
        .unwrap();
    let events: Vec<Event> = entries
        .into_iter()
        .map(|(_, fields)| fields.into_iter().collect())
        .collect();
    check_the_trail(&app, &events);
}

#[tokio::test]
async fn counted_looks_are_written_when_the_bot_stops() {
    let app = spawn_app(StoreKind::Memory).await;
    app.say("alex", EXPANSION).await;
    let record = json!({"entity": "lead", "record_id": EXPANSION_LEAD});
    app.invoke("alex", "refresh", &record).await;
    app.invoke("alex", "refresh", &record).await;
    let state = app.state.clone();
    let alex = aad(&app, "alex");
    app.stop().await;
    for _ in 0..50 {
        let events: Vec<Event> = state
            .store
            .recent_events("audit", 100)
            .await
            .unwrap()
            .into_iter()
            .map(|fields| fields.into_iter().collect())
            .collect();
        if let Some(refresh) = find(&events, &[("action", "refresh"), ("actor", &alex)]).first() {
            assert_eq!(refresh["count"], "2");
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the window was not written on stop");
}
