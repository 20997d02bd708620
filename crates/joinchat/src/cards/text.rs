//! The bot's plain-text answers: not found, which record, unsupported record type, the joined
//! notice, and the refusal of an admin-only command.
//!
//! `not_found` must read the same whether the record does not exist or the user cannot read
//! it; nothing here may depend on facts the caller did not already allow the user to see.

use super::{shown, RecordSummary};
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

/// Posted in the chat after someone joined it from a record.
pub fn joined_notice_text(user_name: &str, record: &RecordSummary) -> String {
    format!(
        "{} joined the chat from {} ({}).",
        shown(user_name),
        shown(&record.name),
        record.record.entity.display_name()
    )
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
    use super::super::test_support::summary;
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
    fn joined_notice_names_the_person_and_the_record() {
        let record = summary(E::Incident, "Broken espresso machine");
        assert_eq!(
            joined_notice_text("Alex Wu", &record),
            "Alex Wu joined the chat from Broken espresso machine (case)."
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
