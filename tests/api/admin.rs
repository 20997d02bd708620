//! The Join chat switch and the ways forward from a locked chat, end to end.

use serde_json::{json, Value};

use crate::{
    cards::{cards, executes, join_data, texts, words},
    helpers::{spawn_app, StoreKind, TestApp},
};

const EXPANSION: &str = "join chat for lead Contoso Coffee expansion";
const DEAL_ROOM: &str = "19:contoso-coffee-expansion@thread.v2";
const ACCOUNT_CHAT: &str = "19:contoso-ltd-account-team@thread.v2";

fn action(card: &Value, verb: &str) -> Value {
    executes(card)
        .into_iter()
        .find(|a| a["verb"] == verb)
        .unwrap_or_else(|| panic!("no {verb} action in {card}"))["data"]
        .clone()
}

async fn card_for(app: &TestApp, user: &str, text: &str) -> Value {
    let answer = app.say(user, text).await;
    cards(&answer["activities"])
        .pop()
        .unwrap_or_else(|| panic!("no card: {answer}"))
}

async fn dataverse_writes(app: &TestApp) -> usize {
    app.calls_to("dataverse")
        .await
        .iter()
        .filter(|c| c["method"] == "PATCH")
        .count()
}

async fn conversation_of(app: &TestApp, user: &str) -> Vec<Value> {
    let conversation = app.user(user)["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let encoded =
        percent_encoding::utf8_percent_encode(&conversation, percent_encoding::NON_ALPHANUMERIC);
    app.http
        .get(format!(
            "{}/_sandbox/conversations/{encoded}/activities",
            app.cloud.base_url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_admin_switch_unlocks_and_relocks_a_record_type_on_every_replica() {
    an_admin_switch_reaches_every_replica(StoreKind::Redis).await;
}

#[tokio::test]
async fn an_admin_switch_reaches_every_replica_on_a_redis_cluster() {
    an_admin_switch_reaches_every_replica(StoreKind::Cluster).await;
}

async fn an_admin_switch_reaches_every_replica(store: StoreKind) {
    let first = spawn_app(store).await;
    let second = crate::helpers::spawn_replica(&first).await;
    let locked = card_for(&first, "alex", "chats for account Contoso Ltd").await;
    assert!(words(&locked).contains("The chat is locked"));

    let answer = first.say("priya", "enable join chat for accounts").await;
    assert_eq!(answer["status"], 200);
    assert_eq!(dataverse_writes(&first).await, 1);
    let settings = cards(&answer["activities"])
        .pop()
        .expect("the settings card");
    assert!(words(&settings).contains("on"), "{settings}");

    // The second replica (same Redis) sees the change at once.
    let refresh = json!({"entity": "account", "record_id": "6512bd43-d9ca-4a6e-8f3b-1c7d2e9a5b60"});
    let via_second = second.invoke("alex", "refresh", &refresh).await;
    let card = via_second["body"]["value"].clone();
    assert!(
        words(&card).contains("Hover over to join this chat"),
        "{card}"
    );
    let data = join_data(&card, ACCOUNT_CHAT).expect("Join is offered");
    let joined = second.invoke("alex", "join", &data).await;
    assert!(words(&joined["body"]["value"]).contains("You joined"));

    second.say("priya", "disable join chat for account").await;
    let jo = first.invoke("jo", "refresh", &refresh).await;
    let shown = words(&jo["body"]["value"]);
    assert!(
        shown.contains("The chat is locked") && shown.contains("Ask your admin"),
        "{shown}"
    );
    let events = first.audit().await;
    assert_eq!(
        events
            .iter()
            .filter(|e| e["action"] == "set_join_chat" && e["outcome"] == "changed")
            .count(),
        2
    );
}

#[tokio::test]
async fn a_non_admin_cannot_flip_the_switch_and_dataverse_is_not_written() {
    let app = spawn_app(StoreKind::Memory).await;
    let answer = app.say("alex", "enable join chat for accounts").await;
    let text = texts(&answer["activities"]).join("");
    assert!(text.contains("Only an admin"), "{text}");
    assert!(text.contains("Priya Shah"), "names who can: {text}");
    // A forged settings toggle fares no better.
    let forged = app
        .invoke(
            "alex",
            "set_join_chat",
            &json!({"entity": "account", "enabled": "true"}),
        )
        .await;
    assert!(words(&forged["body"]["value"]).contains("Only an admin"));
    assert_eq!(dataverse_writes(&app).await, 0);
    assert!(app
        .audit()
        .await
        .iter()
        .any(|e| e["action"] == "set_join_chat" && e["reason"] == "not_admin"));
}

#[tokio::test]
async fn settings_list_every_record_type_with_a_toggle_for_admins() {
    let app = spawn_app(StoreKind::Memory).await;
    let card = card_for(&app, "priya", "join chat settings").await;
    let shown = words(&card);
    for plural in ["Leads", "Opportunities", "Accounts", "Contacts", "Cases"] {
        assert!(shown.contains(plural), "{plural}: {shown}");
    }
    assert!(executes(&card).iter().any(|a| a["verb"] == "set_join_chat"));
    let for_alex = card_for(&app, "alex", "join chat settings").await;
    assert!(
        executes(&for_alex)
            .iter()
            .all(|a| a["verb"] != "set_join_chat"),
        "no toggles for non-admins"
    );
}

#[tokio::test]
async fn a_type_turned_off_between_card_and_click_refuses_the_join() {
    let app = spawn_app(StoreKind::Memory).await;
    let card = card_for(&app, "alex", EXPANSION).await;
    let data = join_data(&card, DEAL_ROOM).unwrap();
    app.say("priya", "disable join chat for leads").await;
    let graph_before = app.calls_to("graph").await.len();
    let answer = app.invoke("alex", "join", &data).await;
    let shown = words(&answer["body"]["value"]);
    assert!(
        shown.contains("The chat is locked") && shown.to_lowercase().contains("admin"),
        "{shown}"
    );
    assert_eq!(
        app.calls_to("graph").await.len(),
        graph_before,
        "no Graph call"
    );
}

#[tokio::test]
async fn ask_a_member_from_locked_to_joined() {
    let app = spawn_app(StoreKind::Memory).await;
    let card = card_for(&app, "jo", EXPANSION).await;
    let ask = executes(&card)
        .into_iter()
        .find(|a| a["verb"] == "ask_member" && a["data"].to_string().contains(DEAL_ROOM))
        .expect("Ask a member to add you")["data"]
        .clone();
    let asked = app.invoke("jo", "ask_member", &ask).await;
    assert!(
        words(&asked["body"]["value"]).contains("Request sent"),
        "{asked}"
    );

    // The ask card landed in the chat, with an Add button.
    let posted = cards(&asked["activities"])
        .into_iter()
        .find(|c| words(c).contains("asks to join this chat"))
        .expect("the ask card");
    assert!(words(&posted).contains("Jo Park"));
    let add = action(&posted, "add");
    let chat = app.chat(DEAL_ROOM).await;
    assert!(chat["messages"]
        .to_string()
        .contains("asks to join this chat"));

    // Someone outside the chat can't use it; a forged requester neither.
    let outsider = app
        .control_post(
            "users/alex/invoke",
            json!({"verb": "add", "data": add, "chat": DEAL_ROOM}),
        )
        .await;
    assert!(
        words(&outsider["body"]["value"]).contains("Only members"),
        "{outsider}"
    );
    let mut forged = add.clone();
    forged["requester"] = app.user("lee")["aad_object_id"].clone();
    let forged = app
        .control_post(
            "users/sam/invoke",
            json!({"verb": "add", "data": forged, "chat": DEAL_ROOM}),
        )
        .await;
    assert!(
        !words(&forged["body"]["value"]).contains("was added"),
        "{forged}"
    );
    assert_eq!(app.graph_adds().await.len(), 0);

    // A member adds her.
    let added = app
        .control_post(
            "users/sam/invoke",
            json!({"verb": "add", "data": add, "chat": DEAL_ROOM}),
        )
        .await;
    assert!(
        words(&added["body"]["value"]).contains("Jo Park was added"),
        "{added}"
    );
    assert_eq!(app.graph_adds().await.len(), 1);
    let chat = app.chat(DEAL_ROOM).await;
    let jo = chat["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user"] == "jo")
        .cloned()
        .expect("jo is in");
    assert_eq!(jo["visible_history_start"], "0001-01-01T00:00:00Z");
    let messages = app.chat(DEAL_ROOM).await["messages"].to_string();
    assert!(
        messages.contains("Jo Park was added to this chat by Sam Rivera"),
        "the ask card was updated: {messages}"
    );
    assert!(!messages.contains("asks to join this chat"), "{messages}");
    let told = conversation_of(&app, "jo").await;
    assert!(
        told.iter()
            .any(|a| a["text"].as_str().unwrap_or("").contains("added you")),
        "{told:?}"
    );

    // Asking again within the hour is refused kindly.
    let again = app.invoke("jo", "ask_member", &ask).await;
    assert!(!words(&again["body"]["value"]).contains("asks to join"));
}

#[tokio::test]
async fn asking_the_members_twice_within_an_hour_is_refused_kindly() {
    let app = spawn_app(StoreKind::Redis).await;
    let card = card_for(&app, "jo", EXPANSION).await;
    let ask = executes(&card)
        .into_iter()
        .find(|a| a["verb"] == "ask_member")
        .unwrap()["data"]
        .clone();
    let first = app.invoke("jo", "ask_member", &ask).await;
    assert_eq!(
        cards(&first["activities"]).len(),
        1,
        "one ask card in the chat"
    );
    let second = app.invoke("jo", "ask_member", &ask).await;
    assert!(
        words(&second["body"]["value"]).contains("already asked"),
        "{second}"
    );
    assert!(
        cards(&second["activities"]).is_empty(),
        "no second card in the chat"
    );
}

#[tokio::test]
async fn ask_your_admin_from_locked_to_enabled() {
    let app = spawn_app(StoreKind::Memory).await;
    // Priya has talked to the bot, so it can reach her 1:1.
    app.say("priya", "help").await;
    let card = card_for(&app, "alex", "chats for account Contoso Ltd").await;
    let ask = action(&card, "ask_admin");
    let asked = app.invoke("alex", "ask_admin", &ask).await;
    let shown = words(&asked["body"]["value"]);
    assert!(
        shown.contains("Request sent") && shown.contains("Priya Shah"),
        "{shown}"
    );

    let to_priya = conversation_of(&app, "priya").await;
    let request = to_priya
        .iter()
        .flat_map(|a| a["attachments"].as_array().cloned().unwrap_or_default())
        .map(|a| a["content"].clone())
        .find(|c| words(c).contains("asks you to turn on Join chat for accounts"))
        .expect("the admin got the request");
    assert!(
        !words(&request).contains("Contoso Ltd"),
        "the admin is not shown the record"
    );
    let enable = action(&request, "set_join_chat");
    let enabled = app.invoke("priya", "set_join_chat", &enable).await;
    assert_eq!(enabled["status"], 200);
    assert_eq!(dataverse_writes(&app).await, 1);

    let refresh = app
        .invoke(
            "alex",
            "refresh",
            &json!({"entity": "account", "record_id": "6512bd43-d9ca-4a6e-8f3b-1c7d2e9a5b60"}),
        )
        .await;
    assert!(words(&refresh["body"]["value"]).contains("Hover over to join this chat"));
}

/// A bot that cannot install its app for people (no Teams app id): only
/// those who talked to it can be reached 1:1.
async fn spawn_app_that_cannot_install() -> TestApp {
    crate::helpers::spawn_app_with(
        joinchat_sandbox::World::demo(),
        StoreKind::Memory,
        |config| {
            config.teams_app_id = None;
        },
    )
    .await
}

#[tokio::test]
async fn an_unreachable_admin_is_named_plainly() {
    let app = spawn_app_that_cannot_install().await;
    let card = card_for(&app, "alex", "chats for account Contoso Ltd").await;
    let asked = app
        .invoke("alex", "ask_admin", &action(&card, "ask_admin"))
        .await;
    let shown = words(&asked["body"]["value"]);
    assert!(
        shown.contains("Priya Shah") && shown.contains("isn't installed"),
        "{shown}"
    );
}

#[tokio::test]
async fn installing_the_bot_makes_an_admin_reachable_and_removing_it_does_not() {
    let app = spawn_app_that_cannot_install().await;
    let mut installed = app.message_from("priya", "");
    installed["type"] = json!("installationUpdate");
    installed["action"] = json!("add");
    installed.as_object_mut().unwrap().remove("text");
    assert_eq!(
        app.post_activity(&installed, Some(&app.token()))
            .await
            .status(),
        200
    );

    let card = card_for(&app, "alex", "chats for account Contoso Ltd").await;
    let asked = app
        .invoke("alex", "ask_admin", &action(&card, "ask_admin"))
        .await;
    assert!(
        words(&asked["body"]["value"]).contains("I asked Priya Shah"),
        "{asked}"
    );

    let mut removed = installed.clone();
    removed["id"] = json!(uuid::Uuid::new_v4().to_string());
    removed["action"] = json!("remove");
    assert_eq!(
        app.post_activity(&removed, Some(&app.token()))
            .await
            .status(),
        200
    );
    let card = card_for(&app, "jo", "chats for account Contoso Ltd").await;
    let asked = app
        .invoke("jo", "ask_admin", &action(&card, "ask_admin"))
        .await;
    assert!(
        words(&asked["body"]["value"]).contains("isn't installed"),
        "{asked}"
    );
}

#[tokio::test]
async fn with_an_admin_chat_configured_ask_your_admin_posts_there() {
    const ADMIN_CHAT: &str = "19:contoso-ltd-account-team@thread.v2";
    let app = crate::helpers::spawn_app_with(
        joinchat_sandbox::World::demo(),
        StoreKind::Memory,
        |config| {
            config.admin_chat = Some(joinchat::domain::ChatId::parse(ADMIN_CHAT).unwrap());
        },
    )
    .await;
    let card = card_for(&app, "alex", "chats for account Contoso Ltd").await;
    let asked = app
        .invoke("alex", "ask_admin", &action(&card, "ask_admin"))
        .await;
    assert!(
        words(&asked["body"]["value"]).contains("in their chat"),
        "{asked}"
    );
    let chat = app.chat(ADMIN_CHAT).await;
    assert!(
        chat["messages"]
            .to_string()
            .contains("asks you to turn on Join chat for accounts"),
        "{chat}"
    );
}
