//! `commands::parse`: every text yields a command (never a panic); the
//! grammar's commands come back whatever the case, mentions, markup and
//! courtesy around them; a typed name is trimmed, unquoted and bounded.

use joinchat::{
    commands::{parse, strip_mentions, Command, RecordQuery, MAX_NAME_CHARS},
    domain::{EntityType, RecordId},
};
use proptest::prelude::*;

use crate::strategies::{guid, text};

/// A record type and a word people type for it.
fn entity() -> impl Strategy<Value = (EntityType, &'static str)> {
    prop::sample::select(vec![
        (EntityType::Lead, "lead"),
        (EntityType::Lead, "leads"),
        (EntityType::Opportunity, "opportunity"),
        (EntityType::Opportunity, "opp"),
        (EntityType::Account, "account"),
        (EntityType::Contact, "contact"),
        (EntityType::Incident, "incident"),
    ])
}

/// A record name no grammar word can be mistaken for: capitalised words of
/// letters and digits, each starting with `Q` (no English word the parser
/// knows does), a few spaces inside.
fn name() -> impl Strategy<Value = String> {
    proptest::collection::vec("Q[a-zA-Z0-9]{0,10}", 1..5).prop_map(|words| words.join(" "))
}

/// Writes a word in one of the cases people type.
fn cased(word: &str, case: u8) -> String {
    match case % 3 {
        0 => word.to_owned(),
        1 => word.to_uppercase(),
        _ => {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_uppercase().chain(chars).collect()
            })
        }
    }
}

/// Wrapping that must not change the command: a mention of the bot,
/// Teams' paragraph markup, courtesy words, closing punctuation.
fn wrapped(command: &str, wrap: u8) -> String {
    match wrap % 6 {
        0 => command.to_owned(),
        1 => format!("<at>Join Chat</at> {command}"),
        2 => format!("<p>{command}</p>"),
        3 => format!("please {command} thanks"),
        4 => format!("  {command}?"),
        _ => format!("<at>joinchat</at>&nbsp;{command}"),
    }
}

proptest! {
    #![proptest_config(crate::cases(512))]

    #[test]
    fn every_text_yields_a_command(input in text()) {
        let command = parse(&input);
        if let Command::Chats { target: RecordQuery::Name(name), .. } = &command {
            prop_assert!(!name.is_empty());
            prop_assert_eq!(name.trim(), name.as_str());
            prop_assert!(name.chars().count() <= MAX_NAME_CHARS);
        }
        let _ = strip_mentions(&input);
    }

    #[test]
    fn a_chats_command_names_its_record_type_and_name(
        (entity, word) in entity(),
        target in name(),
        join in any::<bool>(),
        case in any::<u8>(),
        wrap in any::<u8>(),
    ) {
        let verb = if join { "join chat for" } else { "chats for" };
        let typed = wrapped(&format!("{} {} {target}", cased(verb, case), cased(word, case)), wrap);
        prop_assert_eq!(
            parse(&typed),
            Command::Chats { join, entity, target: RecordQuery::Name(target.clone()) },
            "{:?}", typed
        );
    }

    #[test]
    fn a_guid_in_any_spelling_is_the_record_id((entity, word) in entity(), (canonical, typed) in guid()) {
        let command = parse(&format!("chats for {word} {typed}"));
        prop_assert_eq!(
            command,
            Command::Chats {
                join: false,
                entity,
                target: RecordQuery::Id(RecordId::parse(&canonical).unwrap()),
            }
        );
    }

    #[test]
    fn quotes_around_a_name_are_not_part_of_it(target in name(), quote in prop::sample::select(vec!["\"", "'", "“", "«"])) {
        let closing = match quote { "“" => "”", "«" => "»", other => other };
        let command = parse(&format!("chats for lead {quote}{target}{closing}"));
        prop_assert_eq!(
            command,
            Command::Chats { join: false, entity: EntityType::Lead, target: RecordQuery::Name(target) }
        );
    }

    #[test]
    fn a_long_name_is_cut_to_the_bound(target in "Q[a-z]{250,400}") {
        let Command::Chats { target: RecordQuery::Name(name), .. } = parse(&format!("chats for lead {target}")) else {
            panic!("not a chats command");
        };
        prop_assert_eq!(name.chars().count(), MAX_NAME_CHARS);
        prop_assert!(target.starts_with(&name));
    }

    #[test]
    fn the_admin_switch_is_read_whatever_the_case(
        (entity, word) in entity(),
        enable in any::<bool>(),
        case in any::<u8>(),
        wrap in any::<u8>(),
    ) {
        let verb = if enable { "enable join chat for" } else { "disable join chat for" };
        let typed = wrapped(&cased(&format!("{verb} {word}"), case), wrap);
        prop_assert_eq!(parse(&typed), Command::SetJoinChat { entity, enabled: enable }, "{:?}", typed);
    }

    #[test]
    fn a_mention_never_adds_words(name in "[A-Za-z ]{0,20}", rest in text()) {
        let stripped = strip_mentions(&format!("<at>{name}</at>{rest}"));
        prop_assert!(!stripped.contains("</at>") || rest.contains("</at>"));
        prop_assert!(stripped.len() <= 1 + rest.len());
    }
}
