//! The answers for a bot that is not fully set up in the tenant (Graph or
//! Dataverse refused it with 403), and for a connected chat that could not be
//! read: said plainly, with who can fix it. Never "busy": retrying won't help.

use serde_json::{json, Value};

use super::{card, heading, subtle, text};
use crate::facts::ChatProblem;

/// What the person reads when a setup problem stopped the bot.
pub const NOT_SET_UP: &str = "I'm not fully set up in your organisation yet: Microsoft Teams or Dynamics 365 refused something I need permission for, so nothing was changed.";

/// What they can do about it.
pub const TELL_YOUR_ADMIN: &str =
    "Please tell your admin; `joinchat doctor` shows them what's missing.";

/// The card for an action a setup problem stopped.
pub fn not_set_up() -> Value {
    card(vec![
        heading("The bot isn't fully set up"),
        text(NOT_SET_UP),
        text(TELL_YOUR_ADMIN),
    ])
}

/// The title and lines of a connected chat Graph would not describe (its
/// topic and members are unknown, so none is shown).
pub(super) fn unavailable_chat(problem: ChatProblem) -> Vec<Value> {
    let title = json!({ "type": "TextBlock", "text": "A connected chat", "wrap": true, "weight": "Bolder" });
    let (state, why) = match problem {
        ChatProblem::NotSetUp => (
            "Unavailable: the bot isn't fully set up to read this chat in Teams.",
            TELL_YOUR_ADMIN,
        ),
        ChatProblem::Busy => (
            "Unavailable right now: Teams didn't answer for this chat.",
            "Try again in a moment.",
        ),
    };
    vec![
        title,
        json!({ "type": "TextBlock", "text": state, "wrap": true, "color": "Warning" }),
        subtle(why),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{says, words};
    use super::super::validate;
    use super::*;

    #[test]
    fn a_setup_problem_says_so_and_names_the_admin_never_busy() {
        let card = not_set_up();
        assert_eq!(validate(&card), Ok(()));
        assert!(says(&card, "isn't fully set up"), "{:?}", words(&card));
        assert!(says(&card, "tell your admin"));
        assert!(!says(&card, "busy"));
        assert!(!says(&card, "Try again"));
    }

    #[test]
    fn an_unavailable_chat_hides_none_of_the_others_and_offers_no_button() {
        use super::super::test_support::{button_verbs, chat_entry, summary};
        use super::super::{record_chats, RecordCard};
        use crate::domain::EntityType;
        use crate::policy::Decision;

        let record = summary(EntityType::Lead, "Contoso Coffee expansion");
        let mut unreadable = chat_entry(Decision::Joinable, false);
        unreadable.unavailable = Some(ChatProblem::NotSetUp);
        unreadable.topic = String::new();
        let chats = [unreadable, chat_entry(Decision::Joinable, false)];
        let card = record_chats(&RecordCard {
            record: &record,
            chats: &chats,
            refresh_user_ids: None,
            notice: None,
            viewer: None,
        });
        assert_eq!(validate(&card), Ok(()));
        assert!(says(&card, "A connected chat"));
        assert!(says(&card, "isn't fully set up"));
        assert!(
            says(&card, "Contoso deal room"),
            "the readable chat is shown"
        );
        assert_eq!(
            button_verbs(&card),
            ["join"],
            "a Join for the readable one only"
        );
    }

    #[test]
    fn an_unavailable_chat_gives_its_reason() {
        let lines = Value::Array(unavailable_chat(ChatProblem::NotSetUp));
        assert!(says(&lines, "isn't fully set up"));
        assert!(says(&lines, "tell your admin"));
        let lines = Value::Array(unavailable_chat(ChatProblem::Busy));
        assert!(says(&lines, "Teams didn't answer"));
        assert!(!says(&lines, "admin"));
    }
}
