//! Adaptive Cards (schema 1.5, Universal Actions) and the plain-text answers the bot sends:
//! one function per view, each returning JSON or text ready to post.
//!
//! This module owns the wording and the card layout, and `validate`, the check every card the
//! bot sends must pass. It must not decide anything: callers pass the decisions
//! (`policy::Decision`) and the records they may show; it does no I/O and reads no clock.

mod admin;
mod record;
mod setup;
pub mod text;
#[cfg(any(test, feature = "test-support"))]
mod validate;

pub use admin::{ask_admin_request, ask_answered, ask_to_join, request_sent, settings};
pub use record::{choose_record, no_chats, offer, record_chats, shared_look, text_card, try_again};
pub use setup::{not_set_up, NOT_SET_UP};
pub use text::{admin_only, joined_notice_text, missing_target, not_found, unknown_entity};
/// The Teams-specific rules every card must keep; only tests check them.
#[cfg(any(test, feature = "test-support"))]
pub use validate::validate;

use serde_json::{json, Value};

use crate::actions::CardAction;
use crate::domain::{ChatId, RecordRef};
use crate::facts::ChatProblem;
use crate::policy::Decision;

/// Teams accepts larger bot messages, but 28 KB (its webhook limit) leaves room for the
/// activity around the card and for UTF-16 counting.
pub const MAX_CARD_BYTES: usize = 28 * 1024;

/// Teams refreshes a card automatically for at most this many users.
pub const MAX_REFRESH_USER_IDS: usize = 60;

/// A record the user may read, with its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSummary {
    pub record: RecordRef,
    pub name: String,
}

/// One connected chat as one user sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatEntry {
    pub chat_id: ChatId,
    pub topic: String,
    pub member_count: usize,
    pub decision: Decision,
    /// The user joined it in this very action: say so instead of "You're a member".
    pub just_joined: bool,
    /// The Teams deep link that opens the chat.
    pub open_url: String,
    /// Graph could not describe the chat: shown as unavailable, with why.
    pub unavailable: Option<ChatProblem>,
}

/// The chats connected to one record, for one viewer.
#[derive(Debug, Clone, Copy)]
pub struct RecordCard<'a> {
    pub record: &'a RecordSummary,
    /// `Decision::Hidden` entries are skipped; callers should not pass them.
    pub chats: &'a [ChatEntry],
    /// Teams user ids (`29:…`) whose clients refresh the card to their own view; `None` for a
    /// card only its requester sees. At most `MAX_REFRESH_USER_IDS` are kept.
    pub refresh_user_ids: Option<&'a [String]>,
    /// A remark about what just happened, shown small under the title.
    pub notice: Option<&'a str>,
    /// The Entra object id of the person this view is for. It rides along in the
    /// data of every action, so a click by someone else is recognised (and refused).
    pub viewer: Option<&'a str>,
}

// ---- building blocks shared by the views ------------------------------------------------

const SCHEMA: &str = "http://adaptivecards.io/schemas/adaptive-card.json";
const VERSION: &str = "1.5";

/// Record names and chat topics longer than this are cut for display.
const MAX_NAME_CHARS: usize = 120;

fn card(body: Vec<Value>) -> Value {
    json!({
        "type": "AdaptiveCard",
        "$schema": SCHEMA,
        "version": VERSION,
        "body": body,
    })
}

fn text(text: &str) -> Value {
    json!({ "type": "TextBlock", "text": text, "wrap": true })
}

fn heading(text: &str) -> Value {
    json!({ "type": "TextBlock", "text": text, "wrap": true, "weight": "Bolder", "size": "Medium" })
}

fn subtle(text: &str) -> Value {
    json!({ "type": "TextBlock", "text": text, "wrap": true, "isSubtle": true, "size": "Small" })
}

fn execute(title: &str, action: &CardAction) -> Value {
    execute_with(title, action, action.data())
}

/// An action whose data also names the person the card was drawn for, so a
/// card forwarded to someone else is noticed when clicked.
fn execute_for(title: &str, action: &CardAction, viewer: Option<&str>) -> Value {
    let mut data = action.data();
    if let Some(viewer) = viewer {
        data["user"] = json!(viewer);
    }
    execute_with(title, action, data)
}

fn execute_with(title: &str, action: &CardAction, data: Value) -> Value {
    json!({ "type": "Action.Execute", "title": title, "verb": action.verb(), "data": data })
}

fn open_url(title: &str, url: &str) -> Value {
    json!({ "type": "Action.OpenUrl", "title": title, "url": url })
}

fn action_set(actions: Vec<Value>) -> Value {
    json!({ "type": "ActionSet", "actions": actions })
}

/// A name or topic typed by someone else, made safe to show: cut to a readable length, and
/// unable to form a Markdown link (TextBlocks render Markdown).
fn shown(name: &str) -> String {
    let name = name.trim();
    let mut shown: String = name.chars().take(MAX_NAME_CHARS).collect();
    if shown.len() < name.len() {
        shown.push('…');
    }
    shown.replace("](", "] (")
}

#[cfg(test)]
mod test_support {
    use super::*;
    use crate::domain::{EntityType, RecordId};

    pub const GUID: &str = "8f14e45f-ceea-467f-a0c5-1b2d3e4f5a6b";
    pub const CHAT: &str = "19:contoso-room@thread.v2";

    /// The "Contoso deal room" chat, as one viewer sees it.
    pub fn chat_entry(decision: Decision, just_joined: bool) -> ChatEntry {
        ChatEntry {
            chat_id: ChatId::parse(CHAT).unwrap(),
            topic: "Contoso deal room".to_owned(),
            member_count: 3,
            decision,
            just_joined,
            open_url: "https://teams.microsoft.com/l/chat/19%3Acontoso-room%40thread.v2/0"
                .to_owned(),
            unavailable: None,
        }
    }

    pub fn locked(type_disabled: bool, read_only: bool) -> Decision {
        Decision::Locked {
            type_disabled,
            read_only,
        }
    }

    pub fn summary(entity: EntityType, name: &str) -> RecordSummary {
        RecordSummary {
            record: RecordRef {
                entity,
                id: RecordId::parse(GUID).unwrap(),
            },
            name: name.to_owned(),
        }
    }

    /// Every TextBlock text and action title in the card, for wording checks.
    pub fn words(card: &Value) -> Vec<String> {
        let mut found = Vec::new();
        visit(card, &mut |object| {
            let kind = object.get("type").and_then(Value::as_str).unwrap_or("");
            let field = if kind == "TextBlock" { "text" } else { "title" };
            if kind == "TextBlock" || kind.starts_with("Action.") {
                if let Some(text) = object.get(field).and_then(Value::as_str) {
                    found.push(text.to_owned());
                }
            }
        });
        found
    }

    pub fn says(card: &Value, wording: &str) -> bool {
        words(card).iter().any(|text| text.contains(wording))
    }

    /// Every action in the card, the card-level refresh included.
    pub fn actions(card: &Value) -> Vec<Value> {
        let mut found = Vec::new();
        visit(card, &mut |object| {
            let kind = object.get("type").and_then(Value::as_str).unwrap_or("");
            if kind.starts_with("Action.") {
                found.push(Value::Object(object.clone()));
            }
        });
        found
    }

    /// The verbs of the card's `Action.Execute` buttons, refresh excluded, in order.
    pub fn button_verbs(card: &Value) -> Vec<String> {
        let mut card = card.clone();
        if let Some(object) = card.as_object_mut() {
            object.remove("refresh");
        }
        actions(&card)
            .iter()
            .filter_map(|action| action["verb"].as_str().map(str::to_owned))
            .collect()
    }

    /// Calls `seen` on every JSON object of the card, not looking inside action data.
    fn visit(value: &Value, seen: &mut dyn FnMut(&serde_json::Map<String, Value>)) {
        match value {
            Value::Object(object) => {
                seen(object);
                object
                    .iter()
                    .filter(|(key, _)| *key != "data")
                    .for_each(|(_, value)| visit(value, seen));
            }
            Value::Array(items) => items.iter().for_each(|item| visit(item, seen)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{actions, chat_entry, locked, summary};
    use super::*;
    use crate::domain::EntityType;

    /// One of every view, in every state the record view knows.
    fn every_view() -> Vec<(&'static str, Value)> {
        let record = summary(EntityType::Lead, "Contoso Coffee expansion");
        let chats = [
            chat_entry(Decision::Joinable, false),
            chat_entry(Decision::Member, false),
            chat_entry(Decision::Member, true),
            chat_entry(locked(true, true), false),
            chat_entry(locked(false, true), false),
            chat_entry(Decision::Hidden, false),
        ];
        let user_ids = vec!["29:a".to_owned(); 3];
        let retry = CardAction::Refresh {
            target: crate::actions::Target::Record(record.record.clone()),
        };
        vec![
            (
                "record_chats",
                record_chats(&RecordCard {
                    record: &record,
                    chats: &chats,
                    refresh_user_ids: Some(&user_ids),
                    notice: Some("A notice."),
                    viewer: Some("5a8e2f3c-1b7d-4e9a-8c6f-0d2b4a6e8f10"),
                }),
            ),
            ("no_chats", no_chats(&record)),
            (
                "choose_record",
                choose_record(
                    EntityType::Lead,
                    "Contoso",
                    &[record.clone(), record.clone()],
                ),
            ),
            (
                "try_again",
                try_again("Dynamics 365 is busy.", Some(&retry)),
            ),
            (
                "settings",
                settings(
                    &[(EntityType::Lead, true), (EntityType::Account, false)],
                    true,
                ),
            ),
            ("ask_to_join", ask_to_join("Alex Wu", "req-1")),
            ("request_sent", request_sent("I asked the chat's members.")),
            (
                "ask_admin_request",
                ask_admin_request("Alex Wu", EntityType::Lead),
            ),
        ]
    }

    #[test]
    fn every_view_is_a_valid_1_5_card() {
        for (name, card) in every_view() {
            assert_eq!(validate(&card), Ok(()), "{name}");
            assert_eq!(card["version"], "1.5", "{name}");
            for action in actions(&card) {
                let kind = action["type"].as_str().unwrap();
                assert!(
                    ["Action.Execute", "Action.OpenUrl"].contains(&kind),
                    "{name}: {kind}"
                );
                if kind == "Action.Execute" {
                    let verb = action["verb"].as_str().unwrap();
                    assert!(
                        CardAction::parse(verb, &action["data"]).is_ok(),
                        "{name}: {verb}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_verb_is_used_by_some_view() {
        let used: Vec<String> = every_view()
            .iter()
            .flat_map(|(_, card)| actions(card))
            .filter_map(|action| action["verb"].as_str().map(str::to_owned))
            .collect();
        for verb in CardAction::VERBS {
            assert!(used.iter().any(|found| found == verb), "{verb}");
        }
    }

    #[test]
    fn shown_names_are_cut_and_cannot_link() {
        let long = "x".repeat(300);
        let table = [
            ("Contoso", "Contoso".to_owned()),
            ("  Contoso  ", "Contoso".to_owned()),
            (
                "[click](https://evil.test)",
                "[click] (https://evil.test)".to_owned(),
            ),
            (long.as_str(), format!("{}…", "x".repeat(MAX_NAME_CHARS))),
        ];
        for (name, expected) in table {
            assert_eq!(shown(name), expected, "{name}");
        }
    }
}
