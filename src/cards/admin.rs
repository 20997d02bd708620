//! The Join chat switch and the two ways forward from a locked chat: the settings card, the
//! ask-to-join card posted in a chat, the admin's request card, and "Request sent".
//!
//! Buttons here only name what to do; the server checks, on every click, that the clicker is
//! an admin or a member of the chat. These builders must not assume that check happened.

use serde_json::{json, Value};

use super::{action_set, card, execute, heading, shown, subtle, text, RecordSummary};
use crate::domain::EntityType;

/// Join chat on or off per record type, with a toggle per type for an admin.
pub fn settings(states: &[(EntityType, bool)], can_change: bool) -> Value {
    let mut body = vec![
        heading("Join chat settings"),
        subtle(
            "When Join chat is on for a record type, people with write access to a record \
             can join the chats connected to it.",
        ),
    ];
    for &(entity, enabled) in states {
        let state = format!(
            "**{}**: {}",
            capitalised(entity.display_plural()),
            if enabled { "on" } else { "off" }
        );
        let mut columns = vec![json!({
            "type": "Column",
            "width": "stretch",
            "verticalContentAlignment": "Center",
            "items": [text(&state)],
        })];
        if can_change {
            columns.push(json!({
                "type": "Column",
                "width": "auto",
                "items": [action_set(vec![switch_action(entity, !enabled)])],
            }));
        }
        body.push(json!({ "type": "ColumnSet", "separator": true, "columns": columns }));
    }
    if !can_change {
        body.push(subtle("Only an admin can change these settings."));
    }
    card(body)
}

/// Posted in a locked chat: any member may add the requester.
pub fn ask_to_join(requester_name: &str, record: &RecordSummary, request_id: &str) -> Value {
    card(vec![
        text(&format!(
            "{} ({}) asks to join this chat",
            shown(requester_name),
            shown(&record.name)
        )),
        subtle(&format!(
            "They work on this {} in Dynamics 365. Any member can add them; they will see the \
             entire chat history.",
            record.record.entity.display_name()
        )),
        action_set(vec![execute(
            "Add",
            "add",
            json!({ "request": request_id }),
        )]),
    ])
}

/// Shown to the requester once an ask has gone out; `what` says where it went.
pub fn request_sent(what: &str) -> Value {
    card(vec![heading("Request sent"), text(what)])
}

/// Sent to an admin: turn Join chat on for a record type, in one click.
pub fn ask_admin_request(
    requester_name: &str,
    entity: EntityType,
    record: &RecordSummary,
) -> Value {
    card(vec![
        text(&format!(
            "{} asks you to turn on Join chat for {}",
            shown(requester_name),
            entity.display_plural()
        )),
        subtle(&format!(
            "They would like to join a chat connected to {} ({}). With Join chat on, anyone \
             with write access to a {} can join its connected chats.",
            shown(&record.name),
            record.record.entity.display_name(),
            entity.display_name()
        )),
        action_set(vec![switch_action(entity, true)]),
    ])
}

fn switch_action(entity: EntityType, enabled: bool) -> Value {
    let title = format!(
        "{} Join chat for {}",
        if enabled { "Enable" } else { "Disable" },
        entity.display_plural()
    );
    let data = json!({
        "entity": entity.logical_name(),
        "enabled": if enabled { "true" } else { "false" },
    });
    execute(&title, "set_join_chat", data)
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
