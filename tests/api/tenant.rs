//! The bot in a tenant that grants too little, or holds what a demo doesn't:
//! setup problems said as such (never "busy"), one unreadable chat that hides
//! none of the others, chats connected to no record, disabled users, and
//! names holding SQL wildcards. Each on both stores.

use serde_json::{json, Value};

use crate::{
    cards::{cards, join_data, texts, words},
    helpers::{spawn_app_with, StoreKind, TestApp},
    sandbox_helpers::{tenant_world, ACME_BOT_ROOM, ACME_LEAD, ACME_ROOM, LUNCH},
};

const ACME: &str = "chats for lead Acme_2024";
const NOT_SET_UP: &str = "isn't fully set up";

async fn spawn(app_section: &str, store: StoreKind) -> TestApp {
    spawn_app_with(tenant_world(app_section), store, |_| {}).await
}

/// The one card the bot answered `text` with.
async fn the_card(app: &TestApp, user: &str, text: &str) -> Value {
    let answer = app.say(user, text).await;
    assert_eq!(answer["status"], 200, "{answer}");
    let found = cards(&answer["activities"]);
    assert_eq!(found.len(), 1, "one card: {answer}");
    joinchat::cards::validate(&found[0]).expect("a valid card");
    found[0].clone()
}

/// Join data for a chat of the Acme_2024 lead, as a tampered client sends it.
fn join_acme(chat: &str) -> Value {
    json!({ "entity": "lead", "record_id": ACME_LEAD, "chat_id": chat })
}

/// Graph calls made while `action` ran.
async fn graph_calls_during<F: std::future::Future<Output = Value>>(
    app: &TestApp,
    action: F,
) -> (Value, Vec<Value>) {
    let before = app.calls_to("graph").await.len();
    let answer = action.await;
    let calls = app.calls_to("graph").await;
    (answer, calls[before..].to_vec())
}

/// Whether `/metrics` counted a setup refusal of this service and call.
fn counted(metrics: &str, service: &str, call: &str) -> bool {
    metrics.lines().any(|line| {
        line.starts_with("joinchat_setup_refusals_total{")
            && line.contains(&format!("service=\"{service}\""))
            && line.contains(&format!("call=\"{call}\""))
            && !line.ends_with(" 0")
    })
}

fn status_of(calls: &[Value], method: &str, path: &str) -> Vec<u64> {
    calls
        .iter()
        .filter(|c| c["method"] == method && c["path"] == path)
        .map(|c| c["status"].as_u64().unwrap())
        .collect()
}

async fn no_graph_permission_is_a_setup_problem(store: StoreKind) {
    let app = spawn("[app]\ngraph_permissions = []", store).await;
    let card = the_card(&app, "alex", ACME).await;
    let shown = words(&card);
    // The chat without the bot is unavailable, with the reason …
    assert!(shown.contains("A connected chat"), "{shown}");
    assert!(shown.contains(NOT_SET_UP), "{shown}");
    assert!(shown.contains("tell your admin"), "{shown}");
    assert!(!shown.contains("busy"), "{shown}");
    assert!(
        !shown.lines().any(|line| line == "Acme room"),
        "its topic is unknown: {shown}"
    );
    // … and hides nothing else: where the bot is installed, its RSC reads the chat.
    assert!(shown.contains("Acme room with the bot"), "{shown}");
    assert!(join_data(&card, ACME_BOT_ROOM).is_some(), "{shown}");
    assert!(
        join_data(&card, ACME_ROOM).is_none(),
        "no Join on an unreadable chat"
    );
    let graph = app.calls_to("graph").await;
    let chat = format!("/v1.0/chats/{ACME_ROOM}");
    assert!(status_of(&graph, "GET", &chat).contains(&403), "{graph:?}");

    // A Join aimed at it anyway: told it's a setup problem, nobody added.
    let answer = app.invoke("alex", "join", &join_acme(ACME_ROOM)).await;
    let said = words(&answer["body"]["value"]);
    assert!(said.contains(NOT_SET_UP), "{said}");
    assert!(said.contains("tell your admin"), "{said}");
    assert!(
        !said.contains("busy") && !said.contains("Try again"),
        "{said}"
    );
    let members = format!("/v1.0/chats/{ACME_ROOM}/members");
    let graph = app.calls_to("graph").await;
    assert!(
        status_of(&graph, "GET", &members).contains(&403),
        "{graph:?}"
    );
    assert!(app.graph_adds().await.is_empty(), "no Graph add");
    assert!(!app.chat(ACME_ROOM).await["members"]
        .to_string()
        .contains("alex"));
    let audit = app.audit().await;
    assert!(
        audit
            .iter()
            .any(|e| e["action"] == "join" && e["reason"] == "not_set_up"),
        "{audit:?}"
    );

    let metrics = app.metrics().await;
    for call in ["GET /chats/{id}", "GET /chats/{id}/members"] {
        assert!(counted(&metrics, "graph", call), "{call} in:\n{metrics}");
    }

    // Where RSC serves, the join works: Chat.Manage.Chat adds the member.
    let answer = app.invoke("alex", "join", &join_acme(ACME_BOT_ROOM)).await;
    assert!(
        words(&answer["body"]["value"]).contains("You joined"),
        "{answer}"
    );
}

#[tokio::test]
async fn no_graph_permission_is_a_setup_problem_in_process() {
    no_graph_permission_is_a_setup_problem(StoreKind::Memory).await;
}

#[tokio::test]
async fn no_graph_permission_is_a_setup_problem_with_redis() {
    no_graph_permission_is_a_setup_problem(StoreKind::Redis).await;
}

async fn members_without_chat_reads_leave_the_chat_unavailable(store: StoreKind) {
    let granted = "[app]\ngraph_permissions = [\"ChatMember.ReadWrite.All\", \"TeamsAppInstallation.ReadWriteAndConsentSelfForChat.All\"]";
    let app = spawn(granted, store).await;
    let card = the_card(&app, "alex", ACME).await;
    let shown = words(&card);
    assert!(shown.contains(NOT_SET_UP), "{shown}");
    assert!(shown.contains("Acme room with the bot"), "{shown}");
    assert!(join_data(&card, ACME_ROOM).is_none());
    let graph = app.calls_to("graph").await;
    let chat = format!("/v1.0/chats/{ACME_ROOM}");
    assert_eq!(status_of(&graph, "GET", &chat), [403], "{graph:?}");
    let members = format!("/v1.0/chats/{ACME_ROOM}/members");
    assert_eq!(status_of(&graph, "GET", &members), [200], "{graph:?}");
    assert!(app.graph_adds().await.is_empty(), "no Graph add");
    // A refresh draws the same: the unavailable chat with its reason.
    let refreshed = app
        .invoke(
            "alex",
            "refresh",
            &json!({"entity": "lead", "record_id": ACME_LEAD}),
        )
        .await;
    assert!(
        words(&refreshed["body"]["value"]).contains(NOT_SET_UP),
        "{refreshed}"
    );
}

#[tokio::test]
async fn members_without_chat_reads_leave_the_chat_unavailable_in_process() {
    members_without_chat_reads_leave_the_chat_unavailable(StoreKind::Memory).await;
}

#[tokio::test]
async fn members_without_chat_reads_leave_the_chat_unavailable_with_redis() {
    members_without_chat_reads_leave_the_chat_unavailable(StoreKind::Redis).await;
}

async fn a_dataverse_refusal_is_a_setup_problem(store: StoreKind) {
    let app = spawn("", store).await;
    app.fault(json!({"service": "dataverse", "status": 403}))
        .await;
    // By id: the first Dataverse read is the bot's own (the Join chat settings).
    let answer = app
        .say("alex", &format!("chats for lead {ACME_LEAD}"))
        .await;
    let said = words(&cards(&answer["activities"])[0]);
    assert!(said.contains(NOT_SET_UP), "{said}");
    assert!(!said.contains("busy"), "{said}");
    let refreshed = app
        .invoke(
            "alex",
            "refresh",
            &json!({"entity": "lead", "record_id": ACME_LEAD}),
        )
        .await;
    assert!(
        words(&refreshed["body"]["value"]).contains(NOT_SET_UP),
        "{refreshed}"
    );
    let metrics = app.metrics().await;
    assert!(
        counted(&metrics, "dataverse", "msdyn_entitylinkchatconfigurations"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_dataverse_refusal_is_a_setup_problem_in_process() {
    a_dataverse_refusal_is_a_setup_problem(StoreKind::Memory).await;
}

#[tokio::test]
async fn a_dataverse_refusal_is_a_setup_problem_with_redis() {
    a_dataverse_refusal_is_a_setup_problem(StoreKind::Redis).await;
}

async fn a_chat_connected_to_no_record_is_never_listed_nor_joined(store: StoreKind) {
    let app = spawn("", store).await;
    let shown = words(&the_card(&app, "alex", ACME).await);
    assert!(shown.contains("Acme room"), "{shown}");
    assert!(
        !shown.contains("Lunch plans") && !shown.contains("Coffee"),
        "{shown}"
    );
    let (answer, graph) =
        graph_calls_during(&app, app.invoke("alex", "join", &join_acme(LUNCH))).await;
    let said = words(&answer["body"]["value"]);
    assert!(said.contains("isn't connected"), "{said}");
    assert!(!said.contains("You joined"), "{said}");
    assert!(graph.is_empty(), "no Graph call at all: {graph:?}");
    assert!(!app.chat(LUNCH).await["members"]
        .to_string()
        .contains("alex"));
}

#[tokio::test]
async fn a_chat_connected_to_no_record_is_never_listed_nor_joined_in_process() {
    a_chat_connected_to_no_record_is_never_listed_nor_joined(StoreKind::Memory).await;
}

#[tokio::test]
async fn a_chat_connected_to_no_record_is_never_listed_nor_joined_with_redis() {
    a_chat_connected_to_no_record_is_never_listed_nor_joined(StoreKind::Redis).await;
}

async fn a_disabled_user_sees_nothing_and_joins_nothing(store: StoreKind) {
    let app = spawn("", store).await;
    let hidden = app.say("dana", ACME).await;
    let missing = app.say("dana", "chats for lead Nonexistent Company").await;
    assert!(cards(&hidden["activities"]).is_empty(), "{hidden}");
    assert_eq!(
        texts(&hidden["activities"])
            .join("")
            .replace("Acme_2024", "NAME"),
        texts(&missing["activities"])
            .join("")
            .replace("Nonexistent Company", "NAME"),
        "worded exactly like not found"
    );
    let (answer, graph) =
        graph_calls_during(&app, app.invoke("dana", "join", &join_acme(ACME_ROOM))).await;
    let said = words(&answer["body"]["value"]);
    assert!(said.contains("couldn't find"), "{said}");
    assert!(graph.is_empty(), "no Graph call: {graph:?}");
    assert!(app.graph_adds().await.is_empty());
    // The same join by a writer who is not disabled goes through.
    let answer = app.invoke("alex", "join", &join_acme(ACME_ROOM)).await;
    assert!(
        words(&answer["body"]["value"]).contains("You joined"),
        "{answer}"
    );
}

#[tokio::test]
async fn a_disabled_user_sees_nothing_and_joins_nothing_in_process() {
    a_disabled_user_sees_nothing_and_joins_nothing(StoreKind::Memory).await;
}

#[tokio::test]
async fn a_disabled_user_sees_nothing_and_joins_nothing_with_redis() {
    a_disabled_user_sees_nothing_and_joins_nothing(StoreKind::Redis).await;
}

async fn names_with_wildcards_are_matched_literally(store: StoreKind) {
    let app = spawn("", store).await;
    // Unescaped, `_` would match "Acme-2024" too, and `%` every lead: a choice.
    for (typed, title) in [
        (
            "chats for lead Acme_20",
            "Chats connected to Acme_2024 (lead)",
        ),
        ("chats for lead 100%", "Chats connected to 100% Acme (lead)"),
        ("chats for lead %", "Chats connected to 100% Acme (lead)"),
    ] {
        let shown = words(&the_card(&app, "alex", typed).await);
        assert!(shown.contains(title), "{typed}: {shown}");
        assert!(!shown.contains("Several"), "{typed}: {shown}");
    }
    let answer = app.say("alex", "chats for lead Acme_2024_x").await;
    assert!(
        texts(&answer["activities"])
            .join("")
            .contains("couldn't find"),
        "{answer}"
    );
}

#[tokio::test]
async fn names_with_wildcards_are_matched_literally_in_process() {
    names_with_wildcards_are_matched_literally(StoreKind::Memory).await;
}

#[tokio::test]
async fn names_with_wildcards_are_matched_literally_with_redis() {
    names_with_wildcards_are_matched_literally(StoreKind::Redis).await;
}

/// More leads contain "Globex" than one search page returns; the one named
/// exactly so is last of all.
fn crowded_world() -> joinchat_sandbox::World {
    let mut text = String::from(
        "join_chat = [\"lead\"]\n\n[[users]]\nkey = \"sam\"\nname = \"Sam Rivera\"\n\n[[users]]\nkey = \"alex\"\nname = \"Alex Wu\"\n",
    );
    let names = (1..=joinchat::clients::dataverse::SEARCH_PAGE + 5)
        .map(|n| format!("Globex {n:02}"))
        .chain(["Globex".to_owned()]);
    for name in names {
        text.push_str(&format!(
            "\n[[records]]\nentity = \"lead\"\nname = \"{name}\"\nowner = \"sam\"\nread = [\"alex\"]\n"
        ));
    }
    joinchat_sandbox::World::parse(&text, "crowded.toml").unwrap()
}

async fn an_exact_name_wins_beyond_one_page(store: StoreKind) {
    let app = spawn_app_with(crowded_world(), store, |_| {}).await;
    let shown = words(&the_card(&app, "alex", "chats for lead Globex").await);
    assert!(
        shown.contains("Chats connected to Globex (lead)"),
        "{shown}"
    );
    assert!(!shown.contains("Several"), "{shown}");
    // Typing part of the names still offers the choice.
    let shown = words(&the_card(&app, "alex", "chats for lead Globex 1").await);
    assert!(shown.contains("Several leads match"), "{shown}");
}

#[tokio::test]
async fn an_exact_name_wins_beyond_one_page_in_process() {
    an_exact_name_wins_beyond_one_page(StoreKind::Memory).await;
}

#[tokio::test]
async fn an_exact_name_wins_beyond_one_page_with_redis() {
    an_exact_name_wins_beyond_one_page(StoreKind::Redis).await;
}
