//! `actions::CardAction::parse` on arbitrary (forged, stale, garbled) card
//! data: never a panic; an unknown verb is `UnknownVerb` and missing data is
//! `Missing`; nothing is read that the data does not hold; every action our
//! cards write reads back as itself; and the people a card names are seen.

use joinchat::{
    actions::{BadAction, CardAction, NamedPeople, Target},
    domain::{ChatId, EntityType, RecordId, RecordRef},
};
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::strategies::{guid, json};

/// Every string anywhere in `value`, keys included.
fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(text) => vec![text.clone()],
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        Value::Object(map) => map
            .iter()
            .flat_map(|(key, value)| std::iter::once(key.clone()).chain(strings(value)))
            .collect(),
        _ => Vec::new(),
    }
}

fn chat_id() -> impl Strategy<Value = ChatId> {
    let suffix = prop::sample::select(vec!["@thread.v2", "@thread.skype", "@unq.gbl.spaces"]);
    ("[a-zA-Z0-9_-]{1,30}", suffix)
        .prop_map(|(body, suffix)| ChatId::parse(&format!("19:{body}{suffix}")).unwrap())
}

fn entity() -> impl Strategy<Value = EntityType> {
    prop::sample::select(EntityType::ALL.to_vec())
}

fn record() -> impl Strategy<Value = RecordRef> {
    (entity(), guid()).prop_map(|(entity, (canonical, _))| RecordRef {
        entity,
        id: RecordId::parse(&canonical).unwrap(),
    })
}

/// Any action our cards can write.
fn action() -> impl Strategy<Value = CardAction> {
    let target = prop_oneof![
        record().prop_map(Target::Record),
        (entity(), "[A-Za-z0-9][A-Za-z0-9 '&-]{0,40}[A-Za-z0-9]")
            .prop_map(|(entity, text)| Target::Query { entity, text }),
    ];
    prop_oneof![
        target
            .clone()
            .prop_map(|target| CardAction::Refresh { target }),
        target.prop_map(|target| CardAction::Show { target }),
        (chat_id(), record()).prop_map(|(chat, record)| CardAction::Join { chat, record }),
        (chat_id(), record()).prop_map(|(chat, record)| CardAction::AskMember { chat, record }),
        entity().prop_map(|entity| CardAction::AskAdmin { entity }),
        "[a-zA-Z0-9-]{1,64}".prop_map(|request| CardAction::Add { request }),
        (entity(), any::<bool>())
            .prop_map(|(entity, enabled)| CardAction::SetJoinChat { entity, enabled }),
    ]
}

fn verb() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(CardAction::VERBS).prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

proptest! {
    #![proptest_config(crate::cases(512))]

    #[test]
    fn any_data_gets_an_action_or_the_documented_refusal(verb in verb(), data in json()) {
        let held = strings(&data).join("\n").to_lowercase();
        match CardAction::parse(&verb, &data) {
            Err(BadAction::UnknownVerb) => prop_assert!(!CardAction::VERBS.contains(&verb.as_str())),
            Err(BadAction::Missing(why)) => {
                prop_assert!(CardAction::VERBS.contains(&verb.as_str()));
                prop_assert!(!why.is_empty());
            }
            Ok(action) => {
                prop_assert_eq!(action.verb(), verb.as_str());
                match &action {
                    CardAction::Join { chat, record } | CardAction::AskMember { chat, record } => {
                        prop_assert!(held.contains(&chat.as_str().to_lowercase()), "{:?} from {}", chat, data);
                        prop_assert!(held.contains(record.id.as_str()), "{:?} from {}", record, data);
                    }
                    CardAction::Refresh { target } | CardAction::Show { target } => match target {
                        Target::Record(record) => prop_assert!(held.contains(record.id.as_str())),
                        Target::Query { text, .. } => {
                            prop_assert_eq!(Some(text.as_str()), data["query"].as_str().map(str::trim));
                            prop_assert!(!text.is_empty() && text.chars().count() <= 200);
                        }
                    },
                    CardAction::Add { request } => {
                        prop_assert_eq!(Some(request.as_str()), data["request"].as_str());
                        prop_assert!(!request.is_empty() && request.len() <= 128);
                    }
                    CardAction::SetJoinChat { enabled, .. } => {
                        let spelled = &data["enabled"];
                        let documented = spelled == &Value::Bool(*enabled)
                            || if *enabled { ["true", "on", "1"] } else { ["false", "off", "0"] }
                                .iter()
                                .any(|s| spelled == *s);
                        prop_assert!(documented, "{} read as {}", spelled, enabled);
                    }
                    CardAction::AskAdmin { .. } => {}
                }
            }
        }
    }

    #[test]
    fn every_action_our_cards_write_reads_back_as_itself(
        action in action(),
        noise in proptest::collection::btree_map("x[a-z]{0,6}", json(), 0..4),
    ) {
        let mut data = action.data();
        for (key, value) in noise {
            data[key] = value;
        }
        prop_assert_eq!(CardAction::parse(action.verb(), &data), Ok(action));
    }

    #[test]
    fn the_tolerated_shapes_of_a_join_read_back(
        chat in chat_id(),
        entity in entity(),
        (canonical, typed) in guid(),
        shape in 0u8..3,
    ) {
        let data = match shape {
            0 => json!({"chat": {"id": chat.as_str()}, "record": {"entity": entity.logical_name(), "id": typed}}),
            1 => json!({"chatId": chat.as_str(), "record": format!("{}:{typed}", entity.logical_name())}),
            _ => json!({"target": format!("{}:{typed}|{}", entity.logical_name(), chat.as_str()), "entityType": entity.logical_name(), "recordId": typed}),
        };
        let record = RecordRef { entity, id: RecordId::parse(&canonical).unwrap() };
        prop_assert_eq!(CardAction::parse("join", &data), Ok(CardAction::Join { chat, record }));
    }

    #[test]
    fn a_person_field_naming_someone_else_is_seen(
        field in prop::sample::select(vec!["user", "user_id", "aadObjectId", "requester", "caller", "from", "forUser"]),
        me in "[a-f0-9-]{8,36}",
        other in "[a-f0-9-]{8,36}",
        nested in any::<bool>(),
    ) {
        prop_assume!(!me.eq_ignore_ascii_case(&other));
        let wrap = |inner: Value| if nested { json!({"verb": "join", "data": inner}) } else { inner };
        let mine = wrap(json!({ field: me.clone() }));
        let theirs = wrap(json!({ field: other }));
        let mine_shouted = wrap(json!({ field: me.to_uppercase() }));
        prop_assert!(!NamedPeople::in_data(&mine).other_than(&[&me]));
        prop_assert!(NamedPeople::in_data(&theirs).other_than(&[&me]));
        prop_assert!(!NamedPeople::in_data(&mine_shouted).other_than(&[&me]));
    }

    #[test]
    fn the_people_in_any_data_parse_without_a_panic(data in json(), allowed in proptest::collection::vec("[a-z0-9-]{1,12}", 0..3)) {
        let allowed: Vec<&str> = allowed.iter().map(String::as_str).collect();
        let named = NamedPeople::in_data(&data);
        let _ = named.other_than(&allowed);
        prop_assert!(!named.other_than(&[]) || !strings(&data).is_empty());
    }
}
