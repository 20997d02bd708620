//! The bot's plain-text answers: not found, which record, unsupported record type, the joined
//! notice, and the refusal of an admin-only command.
//!
//! `not_found` must read the same whether the record does not exist or the user cannot read
//! it; nothing here may depend on facts the caller did not already allow the user to see.

use super::shown;
use crate::domain::EntityType;

/// The answer both for "no such record" and for "a record you cannot read": the wording
/// differs only by the echoed query, so the answer reveals nothing.
pub fn not_found(entity: EntityType, query: &str) -> String {
    format!(
        "I couldn't find {} {} matching “{}”. Check the spelling, or type part of its name or its id.",
        article(entity),
        entity.display_name(),
        shown(query)
    )
}

/// Posted in the chat after someone joined it. It names the person, never
/// the record: members of a connected chat may have no access to it.
pub fn joined_notice_text(user_name: &str) -> String {
    format!("{} joined the chat", shown(user_name))
}

pub const SLOW_DOWN: &str =
    "You're sending requests faster than I can check them with Dynamics 365. Please wait a minute and try again.";
/// A cold card refresh or Show over the person's or the tenant's budget.
pub const LOOKS_OVER_BUDGET: &str =
    "Lots of records were looked up in Dynamics 365 just now, so I'm pausing the lookups for a moment.";
pub const NO_IDENTITY: &str =
    "I can't tell who you are in this conversation, so I can't show records here.";
pub const BUSY: &str =
    "Dynamics 365 or Teams is busy right now, so nothing was changed. Try again in a moment.";
pub const GRAPH_REFUSED: &str =
    "Teams didn't let me add you to this chat. Ask a member to add you, or ask your admin to check the bot's permissions.";
pub const LOCKED_NOT_CONNECTED: &str =
    "This chat isn't connected to that record, so it can't be joined from here.";
pub const LOCKED_NOT_YOURS: &str =
    "This card was made for someone else. Ask the bot for your own view of the record.";
pub const JOINED_REDRAW_FAILED: &str = "You joined the chat.";
pub const ASK_NOT_CONNECTED: &str = "That chat isn't connected to this record.";
pub const ALREADY_MEMBER: &str = "You're a member of that chat already.";
/// A redelivered card action whose first delivery was handled to the end.
pub const ALREADY_DONE: &str = "Already done.";
/// A redelivered card action whose first delivery is still being handled.
pub const IN_PROGRESS: &str = "I'm still working on that. Give me a moment.";
pub const ASKED_MEMBERS_RECENTLY: &str =
    "You already asked the members of this chat in the last hour. They'll see your \
     request in the chat; you can ask again later.";
pub const ASK_BOT_MISSING: &str =
    "I can't post in that chat because the bot isn't installed there. Ask one of its \
     members directly, or ask your admin to add the bot to the chat.";
pub const REQUEST_CLOSED: &str =
    "This request is no longer open. If they still need to join, they can ask again.";
pub const REQUEST_FORGED: &str = "This request can't be used to add that person.";
pub const REQUEST_INVALID: &str = "This request is no longer valid.";
pub const ONLY_MEMBERS_ADD: &str = "Only members of this chat can add people to it.";
pub const REQUESTER_UNREACHABLE: &str =
    "I couldn't tell them myself: the bot isn't installed for them.";
pub const ASKED_ADMINS_RECENTLY: &str =
    "You already asked your admins about this in the last hour; they have your request.";

/// Why a record's chats are offered to someone who never asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferReason {
    /// The record was assigned to them.
    NewOwner,
    /// The record was shared with them, write access included.
    SharedForWrite,
}

/// The heading of the offer: "Lead Contoso is now yours: it has 2 connected
/// chats". Only the person the record now belongs to (or who may now edit
/// it) gets it, so the record's name may be shown.
pub fn offer_heading(
    reason: OfferReason,
    entity: EntityType,
    record_name: &str,
    chats: usize,
) -> String {
    let record = format!("{} {}", entity.display_name(), shown(record_name));
    let opening = match reason {
        OfferReason::NewOwner => format!("{} is now yours", capitalised(&record)),
        OfferReason::SharedForWrite => format!("{} was shared with you", capitalised(&record)),
    };
    let count = match chats {
        1 => "1 connected chat".to_owned(),
        n => format!("{n} connected chats"),
    };
    format!("{opening}: it has {count}")
}

/// Under the offer's heading: what joining gives, and why it was sent.
pub fn offer_notice(reason: OfferReason) -> &'static str {
    match reason {
        OfferReason::NewOwner => {
            "Join a chat to read its entire history and pick up where the previous owner left off."
        }
        OfferReason::SharedForWrite => {
            "You can now edit it. Join a chat to read its entire history."
        }
    }
}

/// The member asking to join was added: told to them 1:1 (they asked from
/// the record, so they may read its name).
pub fn you_were_added(adder: &str, record_name: &str, entity: EntityType) -> String {
    format!(
        "{} added you to the chat connected to {} ({}). You can see its entire history.",
        shown(adder),
        shown(record_name),
        entity.display_name()
    )
}

/// The ask-a-member request went out.
pub fn asked_members(topic: &str) -> String {
    format!(
        "I asked the members of “{}” to add you. You'll hear from me here when someone does.",
        shown(topic)
    )
}

/// The record type has no connected-chat configuration in Dynamics 365.
pub fn type_not_set_up(entity: EntityType) -> String {
    format!(
        "{} aren't set up for connected chats in Dynamics 365 yet. Add the record type under \
         App Settings → Chat and collaborate first.",
        capitalised(entity.display_plural())
    )
}

/// Ask your admin went to the admins' chat.
pub fn asked_admin_chat(entity: EntityType) -> String {
    format!(
        "I asked your admins, in their chat, to turn on Join chat for {}.",
        entity.display_plural()
    )
}

/// Ask your admin reached no admin.
pub fn no_admin_reached(entity: EntityType, unreachable: &[String]) -> String {
    let mut text = "I couldn't reach any admin".to_owned();
    if !unreachable.is_empty() {
        text.push_str(&format!(
            " ({} — the bot isn't installed for them)",
            unreachable.join(", ")
        ));
    }
    text.push_str(&format!(
        ". Ask your Dynamics 365 admin to turn on Join chat for {}.",
        entity.display_plural()
    ));
    text
}

/// Ask your admin reached some admins.
pub fn asked_admins(entity: EntityType, reached: &[String], unreachable: &[String]) -> String {
    let mut text = format!(
        "I asked {} to turn on Join chat for {}.",
        reached.join(", "),
        entity.display_plural()
    );
    if !unreachable.is_empty() {
        text.push_str(&format!(
            " I couldn't reach {} because the bot isn't installed for them.",
            unreachable.join(", ")
        ));
    }
    text
}

/// `word` with its first letter in capitals.
pub fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The typed record type is not one the bot supports (or none was typed).
pub fn unknown_entity(word: &str) -> String {
    let opening = if word.trim().is_empty() {
        "Which record type?".to_owned()
    } else {
        format!("I can't show chats for “{}”.", shown(word))
    };
    format!(
        "{opening} I can show chats for {}. For example: join chat for lead Contoso",
        supported_types()
    )
}

/// A chats command without the record.
pub fn missing_target(entity: Option<EntityType>) -> String {
    match entity {
        Some(entity) => format!(
            "Which {}? Type its name or id, for example: join chat for {} Contoso",
            entity.display_name(),
            entity.display_name()
        ),
        None => format!(
            "Which record? Type its type and its name or id, for example: join chat for lead Contoso. Record types: {}.",
            supported_types()
        ),
    }
}

/// A non-admin tried to change Join chat: say who can.
pub fn admin_only(admin_names: &[String]) -> String {
    const MAX_NAMED: usize = 5;
    let opening = "Only an admin can turn Join chat on or off.";
    let mut names: Vec<String> = admin_names
        .iter()
        .filter(|name| !name.trim().is_empty())
        .take(MAX_NAMED)
        .map(|name| shown(name))
        .collect();
    if names.is_empty() {
        return format!("{opening} Please ask your Dynamics 365 administrator.");
    }
    if admin_names.len() > MAX_NAMED {
        names.push("another admin".to_owned());
    }
    format!("{opening} Please ask {}.", or_list(&names))
}

pub(super) fn article(entity: EntityType) -> &'static str {
    match entity {
        EntityType::Opportunity | EntityType::Account => "an",
        _ => "a",
    }
}

fn supported_types() -> String {
    let plurals: Vec<String> = EntityType::ALL
        .iter()
        .map(|entity| entity.display_plural().to_owned())
        .collect();
    and_list(&plurals, "and")
}

fn or_list(items: &[String]) -> String {
    and_list(items, "or")
}

/// "a", "a and b", "a, b and c".
fn and_list(items: &[String], conjunction: &str) -> String {
    match items {
        [] => String::new(),
        [only] => only.clone(),
        [init @ .., last] => format!("{} {conjunction} {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use EntityType as E;

    #[test]
    fn not_found_reveals_nothing_but_the_query() {
        let table = [
            (
                E::Lead,
                "Contoso",
                "I couldn't find a lead matching “Contoso”.",
            ),
            (
                E::Opportunity,
                "Big",
                "I couldn't find an opportunity matching “Big”.",
            ),
            (E::Account, "x", "I couldn't find an account matching “x”."),
            (
                E::Incident,
                "Broken",
                "I couldn't find a case matching “Broken”.",
            ),
        ];
        for (entity, query, opening) in table {
            let answer = not_found(entity, query);
            assert!(answer.starts_with(opening), "{answer}");
            // Same answer for any other query once the query is taken out.
            assert_eq!(
                answer.replace(query, "…"),
                not_found(entity, "other").replace("other", "…")
            );
        }
    }

    #[test]
    fn the_offer_heading_names_the_record_the_reason_and_the_count() {
        let table = [
            (
                OfferReason::NewOwner,
                E::Lead,
                "Contoso Coffee expansion",
                2,
                "Lead Contoso Coffee expansion is now yours: it has 2 connected chats",
            ),
            (
                OfferReason::NewOwner,
                E::Incident,
                "Broken grinder",
                1,
                "Case Broken grinder is now yours: it has 1 connected chat",
            ),
            (
                OfferReason::SharedForWrite,
                E::Opportunity,
                "Fit-out",
                3,
                "Opportunity Fit-out was shared with you: it has 3 connected chats",
            ),
            (
                OfferReason::NewOwner,
                E::Account,
                "Eve [x](https://evil)",
                1,
                "Account Eve [x] (https://evil) is now yours: it has 1 connected chat",
            ),
        ];
        for (reason, entity, name, chats, expected) in table {
            assert_eq!(offer_heading(reason, entity, name, chats), expected);
        }
    }

    #[test]
    fn joined_notice_names_the_person_and_never_the_record() {
        assert_eq!(joined_notice_text("Alex Wu"), "Alex Wu joined the chat");
        assert_eq!(
            joined_notice_text("Eve [x](https://evil)"),
            "Eve [x] (https://evil) joined the chat"
        );
    }

    #[test]
    fn unknown_record_types_list_the_supported_ones() {
        for word in ["ticket", "", "  "] {
            let answer = unknown_entity(word);
            for entity in E::ALL {
                assert!(answer.contains(entity.display_plural()), "{answer}");
            }
            assert!(answer.contains("join chat for lead Contoso"), "{answer}");
        }
        assert!(unknown_entity("ticket").contains("“ticket”"));
        assert!(unknown_entity("").starts_with("Which record type?"));
    }

    #[test]
    fn missing_target_asks_for_the_record() {
        let table = [
            (Some(E::Lead), "Which lead?"),
            (Some(E::Incident), "Which case?"),
            (None, "Which record?"),
        ];
        for (entity, opening) in table {
            let answer = missing_target(entity);
            assert!(answer.starts_with(opening), "{answer}");
            assert!(answer.contains("name or id"), "{answer}");
        }
    }

    #[test]
    fn admin_only_names_who_can() {
        let names = |list: &[&str]| list.iter().map(|name| name.to_string()).collect::<Vec<_>>();
        let table = [
            (names(&[]), "Please ask your Dynamics 365 administrator."),
            (names(&["Sam Lee"]), "Please ask Sam Lee."),
            (
                names(&["Sam Lee", "Jo Park"]),
                "Please ask Sam Lee or Jo Park.",
            ),
            (names(&["A", "B", "C"]), "Please ask A, B or C."),
            (
                names(&["A", "B", "C", "D", "E", "F"]),
                "Please ask A, B, C, D, E or another admin.",
            ),
        ];
        for (admins, ending) in table {
            let answer = admin_only(&admins);
            assert!(answer.starts_with("Only an admin"), "{answer}");
            assert!(answer.ends_with(ending), "{answer}");
        }
    }
}
