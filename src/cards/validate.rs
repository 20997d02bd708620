//! The check every card the bot sends must pass: schema 1.5, only elements and actions that
//! exist in 1.5, only `Action.Execute` (with a handled verb and string-only data) and
//! `Action.OpenUrl`, at most 60 refresh user ids, and a size far below Teams' limit.
//!
//! This module must not repair a card; it reports the first problem it finds.

use serde_json::{Map, Value};

use super::{MAX_REFRESH_USER_IDS, SCHEMA, VERBS, VERSION};

/// Teams accepts larger bot messages, but 28 KB (its webhook limit) leaves room for the
/// activity around the card and for UTF-16 counting.
pub const MAX_CARD_BYTES: usize = 28 * 1024;

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
            if !VERBS.contains(&verb) {
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
