//! The check every card the bot sends must pass: schema 1.5, only elements and actions that
//! exist in 1.5, only `Action.Execute` (with a handled verb and string-only data) and
//! `Action.OpenUrl`, at most 60 refresh user ids, and a size far below Teams' limit.
//!
//! This module must not repair a card; it reports the first problem it finds.

use serde_json::{Map, Value};

use super::{MAX_CARD_BYTES, MAX_REFRESH_USER_IDS, SCHEMA, VERSION};
use crate::actions::CardAction;

/// Element types of Adaptive Cards 1.5.
const ELEMENTS: &[&str] = &[
    "TextBlock",
    "RichTextBlock",
    "TextRun",
    "Image",
    "ImageSet",
    "Media",
    "Container",
    "ColumnSet",
    "Column",
    "FactSet",
    "ActionSet",
    "Table",
    "TableRow",
    "TableCell",
    "Input.Text",
    "Input.Number",
    "Input.Date",
    "Input.Time",
    "Input.Toggle",
    "Input.ChoiceSet",
];

pub fn validate(card: &Value) -> Result<(), String> {
    let root = card.as_object().ok_or("a card is a JSON object")?;
    expect_str(root, "type", "AdaptiveCard")?;
    expect_str(root, "version", VERSION)?;
    expect_str(root, "$schema", SCHEMA)?;
    if !root.get("body").is_some_and(Value::is_array) {
        return Err("the card has no body".into());
    }
    if let Some(refresh) = root.get("refresh") {
        check_refresh(refresh)?;
    }
    for (key, value) in root {
        if key != "refresh" {
            check_tree(value)?;
        }
    }
    let size = serde_json::to_vec(card)
        .map_err(|error| error.to_string())?
        .len();
    if size >= MAX_CARD_BYTES {
        return Err(format!("the card is {size} bytes, over {MAX_CARD_BYTES}"));
    }
    Ok(())
}

fn expect_str(object: &Map<String, Value>, key: &str, expected: &str) -> Result<(), String> {
    match object.get(key).and_then(Value::as_str) {
        Some(found) if found == expected => Ok(()),
        found => Err(format!("{key} is {found:?}, not {expected:?}")),
    }
}

fn check_refresh(refresh: &Value) -> Result<(), String> {
    let action = refresh.get("action").ok_or("refresh without an action")?;
    check_action(action)?;
    if action["type"] != "Action.Execute" {
        return Err("refresh.action must be Action.Execute".into());
    }
    if let Some(user_ids) = refresh.get("userIds") {
        let user_ids = user_ids.as_array().ok_or("refresh.userIds is not a list")?;
        if user_ids.len() > MAX_REFRESH_USER_IDS {
            return Err(format!(
                "refresh.userIds has {} ids, over {MAX_REFRESH_USER_IDS}",
                user_ids.len()
            ));
        }
        if !user_ids.iter().all(Value::is_string) {
            return Err("refresh.userIds holds a non-string".into());
        }
    }
    Ok(())
}

/// Every object with a `type` below the card is an element or an action of 1.5.
fn check_tree(value: &Value) -> Result<(), String> {
    match value {
        Value::Object(object) => {
            if let Some(kind) = object.get("type") {
                let kind = kind.as_str().ok_or("a type that is not a string")?;
                if kind.starts_with("Action.") {
                    check_action(value)?;
                } else if !ELEMENTS.contains(&kind) {
                    return Err(format!("{kind} is not an Adaptive Card 1.5 element"));
                } else if kind == "TextBlock" && !object.get("text").is_some_and(Value::is_string) {
                    return Err("a TextBlock without text".into());
                }
            }
            object
                .iter()
                .filter(|(key, _)| *key != "data")
                .try_for_each(|(_, value)| check_tree(value))
        }
        Value::Array(items) => items.iter().try_for_each(check_tree),
        _ => Ok(()),
    }
}

fn check_action(action: &Value) -> Result<(), String> {
    let kind = action["type"].as_str().unwrap_or_default();
    let title = action["title"].as_str().unwrap_or_default();
    if title.trim().is_empty() {
        return Err(format!("{kind} without a title"));
    }
    match kind {
        "Action.Execute" => {
            let verb = action["verb"].as_str().unwrap_or_default();
            if CardAction::parse(verb, &action["data"])
                == Err(crate::actions::BadAction::UnknownVerb)
            {
                return Err(format!("“{title}” has verb {verb:?}, which has no handler"));
            }
            match action.get("data") {
                None => Ok(()),
                Some(Value::Object(data)) if data.values().all(Value::is_string) => Ok(()),
                Some(_) => Err(format!("“{title}” data must be an object of strings")),
            }
        }
        "Action.OpenUrl" => {
            let url = action["url"].as_str().unwrap_or_default();
            // Deep links are https:// (http:// in a local sandbox); never `javascript:` & co.
            let web = ["https://", "http://", "msteams:"]
                .iter()
                .any(|scheme| url.len() > scheme.len() && url.starts_with(scheme));
            if web {
                Ok(())
            } else {
                Err(format!("“{title}” must open a web or Teams link"))
            }
        }
        other => Err(format!(
            "{other} is not allowed: use Action.Execute or Action.OpenUrl"
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn with(mutate: impl FnOnce(&mut Value)) -> Value {
        let mut card = json!({
            "type": "AdaptiveCard",
            "$schema": SCHEMA,
            "version": "1.5",
            "body": [
                { "type": "TextBlock", "text": "Hello", "wrap": true },
                { "type": "ActionSet", "actions": [
                    { "type": "Action.Execute", "title": "Join", "verb": "join",
                      "data": { "chat_id": "19:a@thread.v2", "entity": "lead", "record_id": "x" } },
                    { "type": "Action.OpenUrl", "title": "Open chat",
                      "url": "https://teams.microsoft.com/l/chat/x" },
                ]},
            ],
            "refresh": {
                "action": { "type": "Action.Execute", "title": "Refresh", "verb": "refresh",
                            "data": { "entity": "lead", "record_id": "x" } },
                "userIds": ["29:a"],
            },
        });
        mutate(&mut card);
        card
    }

    #[test]
    fn accepts_a_well_formed_card() {
        assert_eq!(validate(&with(|_| {})), Ok(()));
        // Data is the client's business, not an element: a "type" inside it is fine.
        let card = with(|card| card["body"][1]["actions"][0]["data"]["type"] = json!("lead"));
        assert_eq!(validate(&card), Ok(()));
        let no_refresh = with(|card| {
            card.as_object_mut().unwrap().remove("refresh");
        });
        assert_eq!(validate(&no_refresh), Ok(()));
    }

    #[test]
    #[rustfmt::skip]
    fn refuses_what_teams_would_not_show_or_the_bot_could_not_handle() {
        fn execute(card: &mut Value) -> &mut Value {
            &mut card["body"][1]["actions"][0]
        }
        let huge = "x".repeat(MAX_CARD_BYTES);
        let table: Vec<(&str, Value)> = vec![
            ("not an object", json!([])),
            (
                "a message card",
                with(|card| card["type"] = json!("MessageCard")),
            ),
            ("version 1.6", with(|card| card["version"] = json!("1.6"))),
            ("version 1.4", with(|card| card["version"] = json!("1.4"))),
            ("no schema", with(|card| card["$schema"] = Value::Null)),
            ("no body", with(|card| card["body"] = json!({}))),
            (
                "Action.Submit",
                with(|card| execute(card)["type"] = json!("Action.Submit")),
            ),
            (
                "Action.ShowCard",
                with(|card| execute(card)["type"] = json!("Action.ShowCard")),
            ),
            (
                "an unknown verb",
                with(|card| execute(card)["verb"] = json!("joinChat")),
            ),
            ("no verb", with(|card| execute(card)["verb"] = Value::Null)),
            ("no title", with(|card| execute(card)["title"] = json!(" "))),
            (
                "a number in data",
                with(|card| execute(card)["data"]["n"] = json!(1)),
            ),
            (
                "data not an object",
                with(|card| execute(card)["data"] = json!("join")),
            ),
            (
                "a javascript link",
                with(|card| card["body"][1]["actions"][1]["url"] = json!("javascript:alert(1)")),
            ),
            (
                "an empty link",
                with(|card| card["body"][1]["actions"][1]["url"] = json!("https://")),
            ),
            (
                "an unknown element",
                with(|card| card["body"][0]["type"] = json!("Carousel")),
            ),
            (
                "a TextBlock without text",
                with(|card| card["body"][0]["text"] = Value::Null),
            ),
            (
                "a nested unknown element",
                with(|card| {
                    card["body"][1]["actions"][0]["fallback"] =
                        json!({ "type": "Action.Submit", "title": "x" })
                }),
            ),
            (
                "a select action",
                with(|card| {
                    card["body"][0]["selectAction"] =
                        json!({ "type": "Action.Submit", "title": "x" })
                }),
            ),
            (
                "a refresh without action",
                with(|card| card["refresh"] = json!({ "userIds": [] })),
            ),
            (
                "a refresh with a bad verb",
                with(|card| card["refresh"]["action"]["verb"] = json!("reload")),
            ),
            (
                "a refresh that opens a link",
                with(|card| {
                    card["refresh"]["action"] =
                        json!({ "type": "Action.OpenUrl", "title": "x", "url": "https://x.test" })
                }),
            ),
            (
                "61 refresh ids",
                with(|card| card["refresh"]["userIds"] = json!(vec!["29:a"; 61])),
            ),
            (
                "a non-string refresh id",
                with(|card| card["refresh"]["userIds"] = json!([1])),
            ),
            (
                "an oversized card",
                with(|card| card["body"][0]["text"] = json!(huge)),
            ),
        ];
        for (case, card) in table {
            assert!(validate(&card).is_err(), "{case} was accepted");
        }
    }
}
