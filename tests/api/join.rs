//! The behaviour table of DESIGN, end to end: the sandbox plays Teams, the
//! real bot answers, and we look at what Graph, the connector and Dataverse
//! received.

use serde_json::{json, Value};

use crate::{
    cards::{cards, executes, join_data, texts, words},
    helpers::{spawn_app, StoreKind, TestApp},
};

const EXPANSION: &str = "join chat for lead Contoso Coffee expansion";
const DEAL_ROOM: &str = "19:contoso-coffee-expansion@thread.v2";
const FULL_HISTORY: &str = "0001-01-01T00:00:00Z";

async fn the_card(app: &TestApp, user: &str, text: &str) -> Value {
    let answer = app.say(user, text).await;
    assert_eq!(answer["status"], 200, "{answer}");
    let found = cards(&answer["activities"]);
    assert_eq!(found.len(), 1, "one card: {answer}");
    joinchat::cards::validate(&found[0]).expect("a valid card");
    found[0].clone()
}

async fn wait_for_message(app: &TestApp, chat: &str, needle: &str) -> Value {
    for _ in 0..50 {
        let view = app.chat(chat).await;
        if view["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["text"].as_str().unwrap_or("").contains(needle))
        {
            return view;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!(
        "no message containing {needle:?} in {chat}: {}",
        app.chat(chat).await
    );
}

/// The audit event of the joined notice (posted after the join's answer).
async fn wait_for_notice_outcome(app: &TestApp, chat: &str) -> String {
    for _ in 0..50 {
        let events = app.audit().await;
        let notice = events.iter().find(|e| {
            e.get("action").map(String::as_str) == Some("notice")
                && e.get("chat").map(String::as_str) == Some(chat)
        });
        if let Some(event) = notice {
            return event["outcome"].clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no notice audited for {chat}: {:?}", app.audit().await);
}

async fn a_writer_joins_with_the_entire_history(store: StoreKind) {
    let app = spawn_app(store).await;
    let card = the_card(&app, "alex", EXPANSION).await;
    let shown = words(&card);
    assert!(shown.contains("Hover over to join this chat"), "{shown}");
    assert!(shown.contains("Contoso Coffee expansion — deal room"));
    assert!(app.graph_adds().await.is_empty(), "showing joins nobody");

    let data = join_data(&card, DEAL_ROOM).expect("a Join button for the deal room");
    let answer = app.invoke("alex", "join", &data).await;
    assert_eq!(answer["status"], 200);
    assert_eq!(answer["body"]["statusCode"], 200);
    assert_eq!(
        answer["body"]["type"],
        "application/vnd.microsoft.card.adaptive"
    );
    let joined = words(&answer["body"]["value"]);
    assert!(joined.contains("You joined"), "{joined}");
    assert!(joined.contains("Open chat"));
    joinchat::cards::validate(&answer["body"]["value"]).unwrap();

    let adds = app.graph_adds().await;
    assert_eq!(adds.len(), 1, "{adds:?}");
    assert_eq!(adds[0]["path"], format!("/v1.0/chats/{DEAL_ROOM}/members"));
    assert_eq!(adds[0]["status"], 201);

    let chat = wait_for_message(&app, DEAL_ROOM, "Alex Wu joined the chat").await;
    let alex = chat["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user"] == "alex")
        .cloned();
    assert_eq!(
        alex.expect("alex is a member")["visible_history_start"],
        FULL_HISTORY
    );
    let messages = chat["messages"].as_array().unwrap();
    // Members of a connected chat may not read the record: the notice names
    // the person only.
    let notices: Vec<&str> = messages
        .iter()
        .filter(|m| m["kind"] == "bot")
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert_eq!(notices, ["Alex Wu joined the chat"], "{messages:?}");
    assert!(
        messages.iter().any(|m| m["kind"] == "system"),
        "Teams' own added event"
    );

    let events = app.audit().await;
    assert!(events
        .iter()
        .any(|e| e["action"] == "join" && e["outcome"] == "joined" && e["chat"] == DEAL_ROOM));

    // Asked again, the same chat says "You're a member".
    let again = the_card(&app, "alex", EXPANSION).await;
    assert!(words(&again).contains("You're a member"));
}

#[tokio::test]
async fn a_writer_joins_with_the_entire_history_in_process() {
    a_writer_joins_with_the_entire_history(StoreKind::Memory).await;
}

#[tokio::test]
async fn a_writer_joins_with_the_entire_history_with_redis() {
    a_writer_joins_with_the_entire_history(StoreKind::Redis).await;
}

#[tokio::test]
async fn a_writer_joins_with_the_entire_history_with_a_redis_cluster() {
    a_writer_joins_with_the_entire_history(StoreKind::Cluster).await;
}

#[tokio::test]
async fn a_reader_sees_the_chat_locked_as_read_only() {
    let app = spawn_app(StoreKind::Memory).await;
    let card = the_card(&app, "jo", EXPANSION).await;
    let shown = words(&card);
    assert!(shown.contains("The chat is locked"), "{shown}");
    assert!(shown.contains("read-only"));
    assert!(shown.contains("Ask a member to add you"));
    assert!(!shown.contains("Ask your admin"), "the type is enabled");
    assert!(!shown.contains("Hover over to join this chat"));
    assert!(
        join_data(&card, DEAL_ROOM).is_none(),
        "no Join for a reader"
    );
    assert!(app.graph_adds().await.is_empty());
}

#[tokio::test]
async fn a_record_type_not_enabled_locks_the_chat_and_names_the_admin_and_the_type() {
    let app = spawn_app(StoreKind::Memory).await;
    let card = the_card(&app, "alex", "chats for account Contoso Ltd").await;
    let shown = words(&card);
    assert!(shown.contains("The chat is locked"), "{shown}");
    assert!(shown.to_lowercase().contains("admin"));
    assert!(shown.to_lowercase().contains("account"));
    assert!(!shown.contains("read-only"));
    assert!(shown.contains("Ask a member to add you"));
    assert!(shown.contains("Ask your admin"));
}

#[tokio::test]
async fn read_only_and_a_type_not_enabled_show_both_causes() {
    let app = spawn_app(StoreKind::Memory).await;
    let shown = words(&the_card(&app, "jo", "chats for account Contoso Ltd").await);
    assert!(shown.contains("The chat is locked"));
    assert!(shown.contains("read-only"), "{shown}");
    assert!(shown.to_lowercase().contains("account"));
    assert!(shown.contains("Ask your admin"));
}

#[tokio::test]
async fn no_read_access_reveals_exactly_what_not_found_reveals() {
    let app = spawn_app(StoreKind::Memory).await;
    let hidden = app
        .say("lee", "chats for lead Contoso Coffee expansion")
        .await;
    let missing = app.say("lee", "chats for lead Nonexistent Company").await;
    let hidden_text = texts(&hidden["activities"]).join("");
    let missing_text = texts(&missing["activities"]).join("");
    assert!(cards(&hidden["activities"]).is_empty());
    // Both answered, in words, and those words say "not found".
    assert!(hidden_text.contains("couldn't find"), "{hidden:?}");
    assert!(missing_text.contains("couldn't find"), "{missing:?}");
    assert_eq!(
        hidden_text.replace("Contoso Coffee expansion", "NAME"),
        missing_text.replace("Nonexistent Company", "NAME"),
    );
    assert!(!hidden_text.contains("deal room"));

    // By id too: an id lee cannot read and an id that does not exist read alike.
    let by_id = app
        .say("lee", "chats for lead 8f14e45f-ceea-467f-a0c5-1b2d3e4f5a6b")
        .await;
    let no_id = app
        .say("lee", "chats for lead 00000000-0000-4000-8000-000000000001")
        .await;
    assert!(texts(&by_id["activities"])
        .join("")
        .contains("couldn't find"));
    assert_eq!(
        texts(&by_id["activities"])
            .join("")
            .replace("8f14e45f-ceea-467f-a0c5-1b2d3e4f5a6b", "ID"),
        texts(&no_id["activities"])
            .join("")
            .replace("00000000-0000-4000-8000-000000000001", "ID"),
    );
}

#[tokio::test]
async fn a_member_sees_youre_a_member_and_open_chat() {
    let app = spawn_app(StoreKind::Memory).await;
    let card = the_card(&app, "sam", EXPANSION).await;
    let shown = words(&card);
    assert!(shown.contains("You're a member"), "{shown}");
    assert!(shown.contains("Open chat"));
    assert!(join_data(&card, DEAL_ROOM).is_none());
}

#[tokio::test]
async fn a_record_without_chats_says_so() {
    let app = spawn_app(StoreKind::Memory).await;
    let card = the_card(&app, "alex", "chats for opportunity Fabrikam office refit").await;
    let shown = words(&card);
    assert!(
        shown.contains("No chats are connected to this opportunity yet."),
        "{shown}"
    );
    assert!(
        card["actions"].is_null() && !shown.contains("Join"),
        "{card}"
    );
}

#[tokio::test]
async fn a_record_with_several_chats_shows_each_with_its_own_view() {
    let app = spawn_app(StoreKind::Memory).await;
    let card = the_card(&app, "alex", "chats for opportunity Contoso Coffee fit-out").await;
    let shown = words(&card);
    for topic in [
        "Fit-out planning",
        "Fit-out — supplier quotes",
        "Fit-out — site visits",
        "Contoso Coffee — pricing",
    ] {
        assert!(shown.contains(topic), "{topic}: {shown}");
    }
    assert!(
        shown.contains("You're a member"),
        "alex is in the suppliers chat"
    );
    assert!(join_data(&card, "19:fit-out-planning@thread.v2").is_some());
}

#[tokio::test]
async fn similar_names_answer_with_a_choice_of_readable_records_only() {
    let app = spawn_app(StoreKind::Memory).await;
    let card = the_card(&app, "alex", "join chat for lead contoso coffee").await;
    let shown = words(&card);
    assert!(
        shown.contains("Contoso Coffee expansion") && shown.contains("Contoso Coffee renewal"),
        "{shown}"
    );
    assert!(executes(&card).iter().all(|a| a["verb"] == "show"));
    // jo reads only the expansion: no choice, and the renewal is never named.
    let for_jo = the_card(&app, "jo", "join chat for lead contoso coffee").await;
    let jo_words = words(&for_jo);
    assert!(!jo_words.contains("renewal"), "{jo_words}");
    assert!(jo_words.contains("The chat is locked"));
}

#[tokio::test]
async fn a_tampered_chat_id_is_refused_without_any_graph_call() {
    let app = spawn_app(StoreKind::Memory).await;
    let card = the_card(&app, "alex", EXPANSION).await;
    let data = join_data(&card, DEAL_ROOM).unwrap();
    let tampered: Value = serde_json::from_str(
        &data
            .to_string()
            .replace(DEAL_ROOM, "19:contoso-ltd-account-team@thread.v2"),
    )
    .unwrap();
    let graph_before = app.calls_to("graph").await.len();
    let answer = app.invoke("alex", "join", &tampered).await;
    assert!(
        words(&answer["body"]["value"]).contains("The chat is locked"),
        "{answer}"
    );
    assert_eq!(
        app.calls_to("graph").await.len(),
        graph_before,
        "no Graph call at all"
    );
    let events = app.audit().await;
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "join" && e["reason"] == "not_connected"),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_reader_replaying_a_writers_join_is_refused() {
    let app = spawn_app(StoreKind::Memory).await;
    let card = the_card(&app, "alex", EXPANSION).await;
    let data = join_data(&card, DEAL_ROOM).unwrap();
    let graph_before = app.calls_to("graph").await.len();
    let answer = app.invoke("jo", "join", &data).await;
    let shown = words(&answer["body"]["value"]);
    assert!(shown.contains("The chat is locked"), "{shown}");
    assert_eq!(app.calls_to("graph").await.len(), graph_before);
    let chat = app.chat(DEAL_ROOM).await;
    assert!(!chat["members"].to_string().contains("\"jo\""));
    assert!(app
        .audit()
        .await
        .iter()
        .any(|e| e["action"] == "join" && e["outcome"] == "locked"));
}

#[tokio::test]
async fn a_user_id_in_the_data_other_than_the_caller_is_refused() {
    let app = spawn_app(StoreKind::Memory).await;
    let card = the_card(&app, "alex", EXPANSION).await;
    let mut data = join_data(&card, DEAL_ROOM).unwrap();
    let jo = app.user("jo");
    data["user_id"] = jo["aad_object_id"].clone();
    let graph_before = app.calls_to("graph").await.len();
    let answer = app.invoke("alex", "join", &data).await;
    assert!(
        words(&answer["body"]["value"]).contains("The chat is locked"),
        "{answer}"
    );
    assert_eq!(app.calls_to("graph").await.len(), graph_before);
    assert!(app
        .audit()
        .await
        .iter()
        .any(|e| e["action"] == "join" && e["reason"] == "tampered_user"));
}

#[tokio::test]
async fn a_double_click_adds_once() {
    let app = spawn_app(StoreKind::Redis).await;
    let card = the_card(&app, "alex", EXPANSION).await;
    let data = join_data(&card, DEAL_ROOM).unwrap();
    let (first, second) = tokio::join!(
        app.invoke("alex", "join", &data),
        app.invoke("alex", "join", &data)
    );
    for answer in [&first, &second] {
        let shown = words(&answer["body"]["value"]);
        assert!(
            shown.contains("You joined") || shown.contains("You're a member"),
            "{shown}"
        );
    }
    assert_eq!(app.graph_adds().await.len(), 1);
}

#[tokio::test]
async fn graph_throttling_is_retried_after_retry_after() {
    let app = spawn_app(StoreKind::Memory).await;
    let card = the_card(&app, "alex", EXPANSION).await;
    let data = join_data(&card, DEAL_ROOM).unwrap();
    app.fault(json!({"service": "graph", "status": 429, "retry_after": 1, "count": 1}))
        .await;
    let answer = app.invoke("alex", "join", &data).await;
    assert!(
        words(&answer["body"]["value"]).contains("You joined"),
        "{answer}"
    );
    let graph = app.calls_to("graph").await;
    assert!(graph.iter().any(|c| c["status"] == 429));
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
async fn dataverse_unavailable_means_a_try_again_card_and_no_join() {
    let app = spawn_app(StoreKind::Memory).await;
    let card = the_card(&app, "alex", EXPANSION).await;
    let data = join_data(&card, DEAL_ROOM).unwrap();
    app.fault(json!({"service": "dataverse", "status": 503}))
        .await;
    let answer = app.invoke("alex", "join", &data).await;
    let shown = words(&answer["body"]["value"]);
    assert!(shown.to_lowercase().contains("try again"), "{shown}");
    assert!(app.graph_adds().await.is_empty());
}

const SITE_VISITS: &str = "19:fit-out-site-visits@thread.v2";
const FIT_OUT: &str = "chats for opportunity Contoso Coffee fit-out";

#[tokio::test]
async fn without_the_bot_in_the_chat_the_join_stands_and_the_card_says_no_notice_was_posted() {
    // No Teams app id configured: the bot may not install itself.
    let app = crate::helpers::spawn_app_with(
        joinchat_sandbox::World::demo(),
        StoreKind::Memory,
        |config| {
            config.teams_app_id = None;
        },
    )
    .await;
    let card = the_card(&app, "alex", FIT_OUT).await;
    let data = join_data(&card, SITE_VISITS).expect("Join for the site visits chat");
    let answer = app.invoke("alex", "join", &data).await;
    let shown = words(&answer["body"]["value"]);
    assert!(shown.contains("You joined"), "{shown}");
    // The notice follows the answer; it could not be posted, which is audited.
    assert_eq!(
        wait_for_notice_outcome(&app, SITE_VISITS).await,
        "not_posted"
    );
    let chat = app.chat(SITE_VISITS).await;
    assert!(chat["members"].to_string().contains("\"alex\""));
    assert!(chat["messages"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["kind"] != "bot"));
    assert!(
        chat["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["kind"] == "system"),
        "Teams still told the members"
    );
}

#[tokio::test]
async fn with_a_teams_app_id_the_bot_installs_itself_to_post_the_notice() {
    let app = spawn_app(StoreKind::Memory).await;
    let card = the_card(&app, "alex", FIT_OUT).await;
    let answer = app
        .invoke("alex", "join", &join_data(&card, SITE_VISITS).unwrap())
        .await;
    assert!(words(&answer["body"]["value"]).contains("You joined"));
    wait_for_message(&app, SITE_VISITS, "Alex Wu joined the chat").await;
    let installs: Vec<Value> = app
        .calls_to("graph")
        .await
        .into_iter()
        .filter(|c| c["path"] == format!("/v1.0/chats/{SITE_VISITS}/installedApps"))
        .collect();
    assert_eq!(installs.len(), 1, "{installs:?}");
    assert_eq!(wait_for_notice_outcome(&app, SITE_VISITS).await, "posted");
}

#[tokio::test]
async fn when_installing_is_not_permitted_the_join_stands_without_a_notice() {
    let app = spawn_app(StoreKind::Memory).await;
    app.cloud.set_allow_app_install(false);
    let card = the_card(&app, "alex", FIT_OUT).await;
    let answer = app
        .invoke("alex", "join", &join_data(&card, SITE_VISITS).unwrap())
        .await;
    let shown = words(&answer["body"]["value"]);
    assert!(shown.contains("You joined"), "{shown}");
    assert_eq!(
        wait_for_notice_outcome(&app, SITE_VISITS).await,
        "not_posted"
    );
    assert_eq!(app.graph_adds().await.len(), 1);
}

#[tokio::test]
async fn dataverse_throttling_is_waited_out_within_the_budget() {
    let app = spawn_app(StoreKind::Memory).await;
    app.fault(json!({"service": "dataverse", "status": 429, "retry_after": 1, "count": 2}))
        .await;
    let card = the_card(&app, "alex", EXPANSION).await;
    assert!(words(&card).contains("Hover over to join this chat"));
    let dataverse = app.calls_to("dataverse").await;
    assert_eq!(dataverse.iter().filter(|c| c["status"] == 429).count(), 2);
}

#[tokio::test]
async fn a_world_whose_tenant_is_a_domain_works_end_to_end() {
    let demo = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../joinchat-sandbox/src/demo.toml"
    ))
    .unwrap();
    let text = demo.replacen(
        "tenant_id = \"3c6f2a8e-5b1d-4e7a-9c2f-8d4b6a1e0f57\"",
        "tenant_id = \"contoso.test\"",
        1,
    );
    assert_ne!(text, demo, "the demo's tenant line was found");
    let world = joinchat_sandbox::World::parse(&text, "demo.toml").unwrap();
    let app = crate::helpers::spawn_app_with(world, StoreKind::Memory, |_| {}).await;
    let card = the_card(&app, "alex", EXPANSION).await;
    let answer = app
        .invoke("alex", "join", &join_data(&card, DEAL_ROOM).unwrap())
        .await;
    assert!(
        words(&answer["body"]["value"]).contains("You joined"),
        "{answer}"
    );
}
