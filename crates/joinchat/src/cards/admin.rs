//! The Join chat switch and the two ways forward from a locked chat: the settings card, the
//! ask-to-join card posted in a chat, the admin's request card, and "Request sent".
//!
//! Buttons here only name what to do; the server checks, on every click, that the clicker is
//! an admin or a member of the chat. These builders must not assume that check happened.

use serde_json::{json, Value};

use super::{
    action_set, card, execute, heading, shown, subtle, text,
    text::{article, capitalised},
};
use crate::actions::CardAction;
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

/// Posted in a locked chat: any member may add the requester. Every member
/// sees it, so it names the person asking and never the record.
pub fn ask_to_join(requester_name: &str, request_id: &str) -> Value {
    card(vec![
        text(&format!("{} asks to join this chat", shown(requester_name))),
        subtle(
            "They work on a Dynamics 365 record connected to this chat. Any member can add \
             them; they will see the entire chat history.",
        ),
        action_set(vec![execute(
            "Add",
            &CardAction::Add {
                request: request_id.to_owned(),
            },
        )]),
    ])
}

/// Shown to the requester once an ask has gone out; `what` says where it went.
pub fn request_sent(what: &str) -> Value {
    card(vec![heading("Request sent"), text(what)])
}

/// The ask card once someone added the requester: no button any more.
pub fn ask_answered(requester_name: &str, adder_name: &str, note: Option<&str>) -> Value {
    let mut body = vec![
        heading("Added"),
        text(&format!(
            "{} was added to this chat by {}, with its entire history.",
            shown(requester_name),
            shown(adder_name)
        )),
    ];
    body.extend(note.map(subtle));
    card(body)
}

/// Sent to an admin: turn Join chat on for a record type, in one click. The
/// record is not named: holding the admin role grants no access to records.
pub fn ask_admin_request(requester_name: &str, entity: EntityType) -> Value {
    card(vec![
        text(&format!(
            "{} asks you to turn on Join chat for {}",
            shown(requester_name),
            entity.display_plural()
        )),
        subtle(&format!(
            "They would like to join a chat connected to {} {} they work on. With Join chat on, \
             anyone with write access to {} {} can join its connected chats.",
            article(entity),
            entity.display_name(),
            article(entity),
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
    execute(&title, &CardAction::SetJoinChat { entity, enabled })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{actions, button_verbs, says, words};
    use super::super::validate;
    use super::*;
    use EntityType as E;

    #[test]
    fn settings_offer_the_opposite_of_each_state_to_an_admin() {
        let states: Vec<(E, bool)> = E::ALL
            .iter()
            .map(|&entity| (entity, matches!(entity, E::Lead | E::Opportunity)))
            .collect();
        let card = settings(&states, true);
        validate(&card).unwrap();
        assert!(says(&card, "Join chat settings"));
        let table = [
            (
                "**Leads**: on",
                "Disable Join chat for leads",
                "lead",
                "false",
            ),
            (
                "**Opportunities**: on",
                "Disable Join chat for opportunities",
                "opportunity",
                "false",
            ),
            (
                "**Accounts**: off",
                "Enable Join chat for accounts",
                "account",
                "true",
            ),
            (
                "**Contacts**: off",
                "Enable Join chat for contacts",
                "contact",
                "true",
            ),
            (
                "**Cases**: off",
                "Enable Join chat for cases",
                "incident",
                "true",
            ),
        ];
        let buttons = actions(&card);
        assert_eq!(buttons.len(), table.len());
        for ((state, title, entity, enabled), button) in table.into_iter().zip(buttons) {
            assert!(says(&card, state), "{state}");
            assert_eq!(button["title"], title);
            assert_eq!(button["verb"], "set_join_chat");
            assert_eq!(
                button["data"],
                json!({ "entity": entity, "enabled": enabled })
            );
        }
    }

    #[test]
    fn settings_without_the_right_to_change_have_no_buttons() {
        let card = settings(&[(E::Lead, true), (E::Incident, false)], false);
        validate(&card).unwrap();
        assert!(actions(&card).is_empty());
        assert!(says(&card, "**Leads**: on"));
        assert!(says(&card, "**Cases**: off"));
        assert!(says(&card, "Only an admin can change these settings."));
    }

    #[test]
    fn ask_to_join_names_the_requester_and_never_the_record() {
        let card = ask_to_join("Alex Wu", "req-42");
        validate(&card).unwrap();
        assert!(says(&card, "Alex Wu asks to join this chat"));
        for word in words(&card) {
            assert!(!word.contains("Contoso"), "{word}");
            assert!(!word.contains("lead"), "{word}");
        }
        assert_eq!(button_verbs(&card), ["add"]);
        let add = &actions(&card)[0];
        assert_eq!(add["title"], "Add");
        assert_eq!(add["data"], json!({ "request": "req-42" }));
    }

    #[test]
    fn request_sent_says_where_it_went() {
        let card = request_sent("I asked the members of Contoso deal room to add you.");
        validate(&card).unwrap();
        assert!(says(&card, "Request sent"));
        assert!(says(
            &card,
            "I asked the members of Contoso deal room to add you."
        ));
        assert!(actions(&card).is_empty());
    }

    #[test]
    fn ask_admin_request_enables_the_type_in_one_click_and_names_no_record() {
        let card = ask_admin_request("Alex Wu", E::Incident);
        validate(&card).unwrap();
        assert!(says(
            &card,
            "Alex Wu asks you to turn on Join chat for cases"
        ));
        let buttons = actions(&card);
        assert_eq!(buttons.len(), 1);
        assert_eq!(buttons[0]["title"], "Enable Join chat for cases");
        assert_eq!(buttons[0]["verb"], "set_join_chat");
        assert_eq!(
            buttons[0]["data"],
            json!({ "entity": "incident", "enabled": "true" })
        );
    }
}
