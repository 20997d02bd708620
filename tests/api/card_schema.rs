//! Every card the bot draws, checked against the official Adaptive Card 1.5 JSON schema
//! (draft-06) beside the Teams rules of `joinchat::cards::validate`.
//!
//! The schema is not in the repository: `scripts/card-schema` installs it from a registry
//! package and prints its path, which `scripts/test` passes in `JOINCHAT_CARD_SCHEMA`. Without
//! that variable the schema tests fail, saying how to get the file; they never pass unchecked.
//!
//! One walk through the demo world reaches every view. Every card met on the way is checked:
//! those in the answers to messages, in invoke answers, and every card the bot posted into a
//! 1:1 or group chat (as last updated), and each view must have been met at least once.
//!
//! The schema is used as published, with no allowance: the Teams extensions the cards use
//! (`Action.Execute`, `refresh.userIds`) are part of 1.5. Others are not, and the schema
//! refuses them: a card-level `msteams` object (full width, mentions) or 1.6's
//! `refresh.expires`. A card that needs one must allow it here, narrowly and with a reason.

use std::sync::OnceLock;

use jsonschema::{error::ValidationErrorKind, ValidationError, Validator};
use serde_json::{json, Value};

use crate::{
    cards::{cards, executes, join_data, words},
    helpers::{spawn_app, spawn_app_with, StoreKind, TestApp},
    sandbox_helpers::{tenant_world, ACME_LEAD, ACME_ROOM},
};

/// Names the file holding the official `schemas/1.5.0/adaptive-card.json`.
const SCHEMA_VAR: &str = "JOINCHAT_CARD_SCHEMA";

const ADAPTIVE_CARD: &str = "application/vnd.microsoft.card.adaptive";
const EXPANSION: &str = "chats for lead Contoso Coffee expansion";
const EXPANSION_ID: &str = "8f14e45f-ceea-467f-a0c5-1b2d3e4f5a6b";
const ACCOUNT: &str = "chats for account Contoso Ltd";
const FIT_OUT: &str = "chats for opportunity Contoso Coffee fit-out";
const DEAL_ROOM: &str = "19:contoso-coffee-expansion@thread.v2";
const SITE_VISITS: &str = "19:fit-out-site-visits@thread.v2";

/// The official schema, compiled once for the whole suite, as draft-06 with formats checked.
fn schema() -> &'static Validator {
    static SCHEMA: OnceLock<Validator> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let path = std::env::var_os(SCHEMA_VAR).unwrap_or_else(|| {
            panic!(
                "{SCHEMA_VAR} is not set, so the cards cannot be checked against the official \
                 Adaptive Card 1.5 schema. Run scripts/test, or install the schema and name it: \
                 export {SCHEMA_VAR}=\"$(scripts/card-schema)\""
            )
        });
        let text = std::fs::read_to_string(&path).unwrap_or_else(|error| {
            panic!(
                "{SCHEMA_VAR}={}: {error}; scripts/card-schema installs the schema",
                path.to_string_lossy()
            )
        });
        let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
        assert_eq!(
            schema["$schema"], "http://json-schema.org/draft-06/schema#",
            "not the Adaptive Card schema"
        );
        assert_eq!(
            schema["id"], "http://adaptivecards.io/schemas/adaptive-card.json",
            "not the Adaptive Card schema"
        );
        // Table arrived in 1.5: an older schema would reject what 1.5 allows.
        assert_eq!(schema["definitions"]["Table"]["version"], "1.5", "not 1.5");
        jsonschema::draft6::options()
            .should_validate_formats(true)
            .build(&schema)
            .expect("the official schema compiles as draft-06")
    })
}

/// Everything the official schema says is wrong with a card, each with where it is.
fn schema_errors(card: &Value) -> Vec<String> {
    let mut found = Vec::new();
    for error in schema().iter_errors(card) {
        explain(&error, &mut found);
    }
    found
}

/// The schema lists every element and action as one branch of an `anyOf`, and an `anyOf`
/// alone only says "no branch fits". Follow the one branch for the object's own `type` to
/// the property that is wrong; where several branches remain, name the `anyOf` itself.
fn explain(error: &ValidationError, found: &mut Vec<String>) {
    if let ValidationErrorKind::AnyOf { context } = error.kind() {
        let of_its_type: Vec<&Vec<ValidationError>> = context
            .iter()
            .filter(|branch| !branch.iter().any(is_another_type))
            .collect();
        if let [branch] = of_its_type.as_slice() {
            branch.iter().for_each(|inner| explain(inner, found));
            return;
        }
    }
    let at = error.instance_path().as_str();
    found.push(match error.instance().as_ref() {
        Value::Object(_) | Value::Array(_) => format!("at {at:?}: {}", error.masked()),
        _ => format!("at {at:?}: {error}"),
    });
}

/// The `type` of the instance is not the one this branch describes.
fn is_another_type(error: &ValidationError) -> bool {
    error.instance_path().as_str().ends_with("/type")
        && matches!(error.kind(), ValidationErrorKind::Enum { .. })
}

/// Both checks: the official schema and the Teams rules.
fn problems(card: &Value) -> Vec<String> {
    let mut found = schema_errors(card);
    if let Err(rule) = joinchat::cards::validate(card) {
        found.push(format!("cards::validate: {rule}"));
    }
    found
}

/// Tells a view by the words a card shows (and, where words are not enough, by the card).
type Is = fn(&str, &Value) -> bool;

/// The views of the bot, each told by what only it shows.
#[rustfmt::skip]
const VIEWS: &[(&str, Is)] = &[
    ("record chats, joinable", |w, _| w.contains("Hover over to join this chat")),
    ("record chats, member", |w, _| w.contains("You're a member")),
    ("record chats, locked as read-only", |w, _| w.contains("read-only access")),
    ("record chats, locked as the type is off", |w, _| w.contains("hasn't enabled Join chat")),
    ("record chats, locked for both", |w, _| w.contains("read-only access") && w.contains("hasn't enabled")),
    ("the shared look in a group chat, refreshed for its members", |w, card| {
        w.contains("Show my view") && card["refresh"]["userIds"].as_array().is_some_and(|ids| ids.len() > 1)
    }),
    ("a chat unavailable, the bot not set up", |w, _| w.contains("Unavailable: the bot isn't fully set up")),
    ("a chat unavailable, Teams not answering", |w, _| w.contains("Unavailable right now")),
    ("not set up", |w, _| w.contains("The bot isn't fully set up")),
    ("several chats", |w, _| w.contains("Fit-out planning") && w.contains("Fit-out — site visits")),
    ("the join answer", |w, _| w.contains("You joined")),
    ("no chats", |w, _| w.contains("No chats are connected to this")),
    ("choose a record", |w, _| w.contains("Several leads match")),
    ("try again", |w, _| w.contains("Please try again in a moment.")),
    ("try again, with a retry", |w, card| {
        w.contains("Please try again in a moment.") && !executes(card).is_empty()
    }),
    ("settings for an admin", |w, card| {
        w.contains("Join chat settings") && executes(card).iter().any(|a| a["verb"] == "set_join_chat")
    }),
    ("settings for anyone else", |w, _| w.contains("Only an admin can change these settings.")),
    ("ask to join (in the chat)", |w, _| w.contains("asks to join this chat")),
    ("ask to join, answered", |w, _| w.contains("was added to this chat by")),
    ("request sent", |w, _| w.contains("Request sent")),
    ("ask your admin (to the admin)", |w, _| w.contains("asks you to turn on Join chat for")),
    ("a plain answer as a card", |w, _| w.contains("Only members")),
];

/// A running bot and every card it drew so far, each with where it was met.
struct Walk {
    app: TestApp,
    seen: Vec<(String, Value)>,
}

impl Walk {
    fn keep(&mut self, place: String, found: Vec<Value>) -> Vec<Value> {
        self.seen
            .extend(found.iter().map(|card| (place.clone(), card.clone())));
        found
    }

    /// Says `text` as `user` in their 1:1 chat; the cards of the answer.
    async fn say(&mut self, user: &str, text: &str) -> Vec<Value> {
        let answer = self.app.say(user, text).await;
        assert_eq!(answer["status"], 200, "{user}: {text}: {answer}");
        let found = cards(&answer["activities"]);
        assert!(!found.is_empty(), "{user}: {text}: no card: {answer}");
        self.keep(format!("{user} says {text:?}"), found)
    }

    /// The card `user` gets for `text`.
    async fn card(&mut self, user: &str, text: &str) -> Value {
        self.say(user, text).await.remove(0)
    }

    /// Clicks an `Action.Execute` as `user`, in `chat` or their 1:1 chat; the card of the
    /// answer. Cards posted meanwhile are kept too.
    async fn click(&mut self, user: &str, chat: Option<&str>, verb: &str, data: &Value) -> Value {
        let mut request = json!({ "verb": verb, "data": data });
        if let Some(chat) = chat {
            request["chat"] = json!(chat);
        }
        let answer = self
            .app
            .control_post(&format!("users/{user}/invoke"), request)
            .await;
        let place = format!("{user} clicks {verb} {data}");
        self.keep(format!("{place}, posted"), cards(&answer["activities"]));
        assert_eq!(answer["body"]["type"], ADAPTIVE_CARD, "{place}: {answer}");
        let card = answer["body"]["value"].clone();
        self.keep(format!("{place}, answer"), vec![card.clone()]);
        card
    }

    /// Every card the bot posted into the users' 1:1 chats and the group chats.
    async fn posted(&mut self) {
        let app = &self.app;
        let conversations: Vec<String> = app.world["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|user| &user["conversation_id"])
            .chain(
                app.world["chats"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| &c["id"]),
            )
            .map(|id| id.as_str().unwrap().to_owned())
            .collect();
        for conversation in conversations {
            let encoded = percent_encoding::utf8_percent_encode(
                &conversation,
                percent_encoding::NON_ALPHANUMERIC,
            );
            let activities: Value = self
                .app
                .http
                .get(format!(
                    "{}/_sandbox/conversations/{encoded}/activities",
                    self.app.cloud.base_url()
                ))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            self.keep(format!("posted in {conversation}"), cards(&activities));
        }
    }
}

/// The data of the first `verb` button in a card.
fn button(card: &Value, verb: &str) -> Value {
    executes(card)
        .into_iter()
        .find(|action| action["verb"] == verb)
        .unwrap_or_else(|| panic!("no {verb} button in {card}"))["data"]
        .clone()
}

/// Drives the demo world through every view of the bot.
async fn walk(store: StoreKind) -> Vec<(String, Value)> {
    let app = spawn_app(store).await;
    let mut walk = Walk {
        app,
        seen: Vec::new(),
    };
    // Priya has talked to the bot, so "Ask your admin" can reach her.
    walk.app.say("priya", "help").await;

    // The record view: joinable, member, locked for each cause and for both.
    let joinable = walk.card("alex", EXPANSION).await;
    walk.card("sam", EXPANSION).await;
    let read_only = walk.card("jo", EXPANSION).await;
    let type_off = walk.card("alex", ACCOUNT).await;
    walk.card("jo", ACCOUNT).await;
    walk.card("alex", FIT_OUT).await;
    // In a group chat: the shared look, then each member's own view by refresh and by button.
    let in_chat = walk.app.say_in("sam", DEAL_ROOM, EXPANSION).await;
    let shared = walk.keep(
        format!("sam says {EXPANSION:?} in {DEAL_ROOM}"),
        cards(&in_chat["activities"]),
    );
    let shared = shared.first().expect("the shared look");
    let refresh = &shared["refresh"]["action"];
    walk.click("sam", Some(DEAL_ROOM), "refresh", &refresh["data"])
        .await;
    walk.click("kim", Some(DEAL_ROOM), "show", &button(shared, "show"))
        .await;
    walk.card("alex", "chats for opportunity Fabrikam office refit")
        .await;
    let choice = walk.card("alex", "join chat for lead contoso coffee").await;
    walk.click("alex", None, "show", &button(&choice, "show"))
        .await;
    walk.click(
        "alex",
        None,
        "refresh",
        &json!({ "entity": "lead", "record_id": EXPANSION_ID }),
    )
    .await;

    // Settings, for an admin and for anyone else; a forged toggle is answered in words.
    walk.card("priya", "join chat settings").await;
    walk.card("alex", "join chat settings").await;
    walk.click(
        "alex",
        None,
        "set_join_chat",
        &json!({ "entity": "account", "enabled": "true" }),
    )
    .await;

    // Ask a member: request sent, the ask in the chat, an outsider refused, a member adds.
    walk.click("jo", None, "ask_member", &button(&read_only, "ask_member"))
        .await;
    walk.posted().await;
    let ask = walk
        .seen
        .iter()
        .map(|(_, card)| card)
        .find(|card| words(card).contains("asks to join this chat"))
        .expect("the ask card in the chat")
        .clone();
    let add = button(&ask, "add");
    walk.click("alex", Some(DEAL_ROOM), "add", &add).await;
    walk.click("sam", Some(DEAL_ROOM), "add", &add).await;

    // Ask your admin, and the admin's one-click answer.
    walk.click("alex", None, "ask_admin", &button(&type_off, "ask_admin"))
        .await;
    walk.posted().await;
    let request = walk
        .seen
        .iter()
        .map(|(_, card)| card)
        .find(|card| words(card).contains("asks you to turn on Join chat for"))
        .expect("the admin's request card")
        .clone();
    walk.click(
        "priya",
        None,
        "set_join_chat",
        &button(&request, "set_join_chat"),
    )
    .await;

    // Joining: the answer (the notice follows it, posted or not).
    let join = join_data(&joinable, DEAL_ROOM).expect("Join for the deal room");
    walk.click("alex", None, "join", &join).await;
    walk.app.cloud.set_allow_app_install(false);
    let fit_out = walk.card("alex", FIT_OUT).await;
    let site_visits = join_data(&fit_out, SITE_VISITS).expect("Join for the site visits");
    walk.click("alex", None, "join", &site_visits).await;

    // Dataverse down: try again, after a message and after a click.
    walk.app
        .fault(json!({ "service": "dataverse", "status": 503 }))
        .await;
    walk.say("kim", EXPANSION).await;
    let planning = join_data(&fit_out, "19:fit-out-planning@thread.v2").expect("Join for planning");
    walk.click("alex", None, "join", &planning).await;
    clear_faults(&walk.app).await;

    // Teams down for a chat the bot has not read yet: that chat is unavailable, not the card.
    walk.app
        .fault(json!({ "service": "graph", "status": 503 }))
        .await;
    walk.card("alex", "chats for case Espresso machine outage")
        .await;
    clear_faults(&walk.app).await;
    walk.posted().await;

    // A tenant that granted the bot no Graph permission: setup problems, said as such.
    let tenant = spawn_app_with(tenant_world("[app]\ngraph_permissions = []"), store, |_| {}).await;
    std::mem::replace(&mut walk.app, tenant).stop().await;
    walk.card("alex", "chats for lead Acme_2024").await;
    let acme = json!({ "entity": "lead", "record_id": ACME_LEAD, "chat_id": ACME_ROOM });
    walk.click("alex", None, "join", &acme).await;
    walk.posted().await;
    walk.app.stop().await;
    walk.seen
}

async fn clear_faults(app: &TestApp) {
    let cleared = app
        .http
        .delete(format!("{}/_sandbox/faults", app.cloud.base_url()))
        .send()
        .await
        .unwrap();
    assert!(cleared.status().is_success());
}

async fn every_card_the_bot_draws_is_a_valid_adaptive_card_1_5(store: StoreKind) {
    schema();
    let seen = walk(store).await;

    let missing: Vec<&str> = VIEWS
        .iter()
        .filter(|(_, is)| !seen.iter().any(|(_, card)| is(&words(card), card)))
        .map(|(view, _)| *view)
        .collect();
    assert!(missing.is_empty(), "views never drawn: {missing:?}");

    let mut checked = std::collections::HashSet::new();
    let mut failures = Vec::new();
    for (place, card) in &seen {
        if !checked.insert(card.to_string()) {
            continue;
        }
        let found = problems(card);
        if !found.is_empty() {
            failures.push(format!("{place}:\n  {}\n  {card}", found.join("\n  ")));
        }
    }
    assert!(checked.len() >= VIEWS.len(), "only {} cards", checked.len());

    // The negative control on the bot's own cards: each, with one misspelt property, is refused.
    for text in &checked {
        let mut card: Value = serde_json::from_str(text).unwrap();
        card["body"][0]["colour"] = json!("Good");
        assert!(
            !schema_errors(&card).is_empty(),
            "the schema accepted {card}"
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} cards break the rules:\n{}",
        failures.len(),
        checked.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn every_card_the_bot_draws_is_a_valid_adaptive_card_1_5_in_process() {
    every_card_the_bot_draws_is_a_valid_adaptive_card_1_5(StoreKind::Memory).await;
}

/// A card of the bot's own shapes: a heading, a chat, a Join and an Open chat, a refresh.
fn good_card() -> Value {
    json!({
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.5",
        "body": [
            { "type": "TextBlock", "text": "Chats", "wrap": true, "weight": "Bolder", "size": "Medium" },
            { "type": "Container", "separator": true, "spacing": "Medium", "items": [
                { "type": "TextBlock", "text": "Deal room", "wrap": true, "color": "Good" },
                { "type": "ActionSet", "actions": [
                    { "type": "Action.Execute", "title": "Join", "verb": "join", "style": "positive",
                      "data": { "chat_id": "19:a@thread.v2", "entity": "lead", "record_id": EXPANSION_ID } },
                    { "type": "Action.OpenUrl", "title": "Open chat",
                      "url": "https://teams.microsoft.com/l/chat/19%3Aa%40thread.v2/0" },
                ]},
            ]},
            { "type": "ColumnSet", "columns": [
                { "type": "Column", "width": "stretch", "verticalContentAlignment": "Center",
                  "items": [{ "type": "TextBlock", "text": "**Leads**: on", "wrap": true }] },
            ]},
        ],
        "refresh": {
            "action": { "type": "Action.Execute", "title": "Refresh", "verb": "refresh",
                        "data": { "entity": "lead", "record_id": EXPANSION_ID } },
            "userIds": ["29:a", "29:b"],
        },
    })
}

#[test]
fn the_schema_accepts_a_good_card_and_rejects_broken_ones() {
    let good = good_card();
    assert_eq!(problems(&good), Vec::<String>::new());
    let broken = |mutate: fn(&mut Value)| {
        let mut card = good.clone();
        mutate(&mut card);
        card
    };
    // Each of these passes `cards::validate`: only the schema can catch them.
    #[rustfmt::skip]
    let table: Vec<(&str, Value)> = vec![
        ("a misspelt property", broken(|c| c["body"][0]["colour"] = json!("Good"))),
        ("an unknown weight", broken(|c| c["body"][0]["weight"] = json!("Heavy"))),
        ("wrap as a string", broken(|c| c["body"][0]["wrap"] = json!("yes"))),
        ("a tooltip that is not text", broken(|c| c["refresh"]["action"]["tooltip"] = json!(7))),
        ("an unknown action style", broken(|c| c["body"][1]["items"][1]["actions"][0]["style"] = json!("green"))),
        ("a card-level property 1.5 lacks", broken(|c| c["theme"] = json!("dark"))),
        ("a refresh with an unknown field", broken(|c| c["refresh"]["users"] = json!(["29:a"]))),
        ("a column that is not a Column", broken(|c| c["body"][2]["columns"][0]["type"] = json!("Container"))),
        ("a URL that is not one", broken(|c| c["body"][1]["items"][1]["actions"][1]["url"] = json!("https://exa mple.test/a b"))),
    ];
    for (case, card) in table {
        assert_eq!(
            joinchat::cards::validate(&card),
            Ok(()),
            "{case}: the Teams rules alone accept it"
        );
        assert!(
            !schema_errors(&card).is_empty(),
            "{case}: the schema accepted {card}"
        );
    }
}
