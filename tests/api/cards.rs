//! Reading what the bot posted: the cards, their words and their actions.

use serde_json::Value;

/// Every card in the activities the bot posted.
pub fn cards(activities: &Value) -> Vec<Value> {
    activities
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|a| a["attachments"].as_array().cloned().unwrap_or_default())
        .filter(|a| a["contentType"] == "application/vnd.microsoft.card.adaptive")
        .map(|a| a["content"].clone())
        .collect()
}

/// All the words a card shows: TextBlock texts, FactSet facts and action titles.
pub fn words(card: &Value) -> String {
    let mut out = Vec::new();
    collect(card, &mut out);
    out.join("\n")
}

fn collect(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for key in ["text", "title", "value"] {
                if let Some(Value::String(s)) = map.get(key) {
                    out.push(s.clone());
                }
            }
            for (key, child) in map {
                if key != "data" {
                    collect(child, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect(i, out)),
        _ => {}
    }
}

/// Every `Action.Execute` in a card, wherever it sits.
pub fn executes(card: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    find(card, &mut out);
    out
}

fn find(value: &Value, out: &mut Vec<Value>) {
    match value {
        Value::Object(map) => {
            if map.get("type") == Some(&Value::String("Action.Execute".into())) {
                out.push(value.clone());
            }
            map.values().for_each(|v| find(v, out));
        }
        Value::Array(items) => items.iter().for_each(|i| find(i, out)),
        _ => {}
    }
}

/// The data of the `join` action for one chat.
pub fn join_data(card: &Value, chat: &str) -> Option<Value> {
    executes(card)
        .into_iter()
        .find(|a| a["verb"] == "join" && a["data"].to_string().contains(chat))
        .map(|a| a["data"].clone())
}

/// The text of every message activity (plain text answers).
pub fn texts(activities: &Value) -> Vec<String> {
    activities
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["text"].as_str().map(str::to_owned))
        .collect()
}
