//! `card_data` on arbitrary (forged, stale, garbled) action data: never a
//! panic, never a value the data does not hold, and the shapes our cards
//! write always read back.

use joinchat::{
    card_data::{chat_in, entity_in, flag_in, names_someone_else, record_in},
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

/// A Teams chat id of the usual shapes.
fn chat_id() -> impl Strategy<Value = String> {
    (
        "[a-zA-Z0-9_-]{1,30}",
        prop::sample::select(vec!["@thread.v2", "@thread.skype", "@unq.gbl.spaces"]),
    )
        .prop_map(|(body, suffix)| format!("19:{body}{suffix}"))
}

fn entity() -> impl Strategy<Value = EntityType> {
    prop::sample::select(EntityType::ALL.to_vec())
}

proptest! {
    #![proptest_config(crate::cases(512))]

    #[test]
    fn nothing_is_read_that_the_data_does_not_hold(data in json(), allowed in proptest::collection::vec("[a-z0-9-]{1,12}", 0..3)) {
        let held = strings(&data).join("\n").to_lowercase();
        if let Some(chat) = chat_in(&data) {
            prop_assert!(ChatId::parse(chat.as_str()).is_ok());
            prop_assert!(held.contains(&chat.as_str().to_lowercase()), "{} from {}", chat.as_str(), data);
        }
        if let Some(record) = record_in(&data) {
            prop_assert!(held.contains(record.id.as_str()), "{} from {}", record.id.as_str(), data);
        }
        let _ = entity_in(&data);
        for key in ["add", "enabled", "on"] {
            if let Some(flag) = flag_in(&data, key) {
                let spelled = &data[key];
                let documented = matches!(spelled, Value::Bool(_))
                    || ["true", "on", "1", "false", "off", "0"].iter().any(|s| spelled == *s);
                prop_assert!(documented, "{} read as {}", spelled, flag);
            }
        }
        let allowed: Vec<&str> = allowed.iter().map(String::as_str).collect();
        let _ = names_someone_else(&data, &allowed);
    }

    #[test]
    fn the_shapes_our_cards_write_read_back(
        chat in chat_id(),
        entity in entity(),
        (canonical, typed) in guid(),
        shape in 0u8..4,
        noise in proptest::collection::btree_map("x[a-z]{0,6}", json(), 0..4),
    ) {
        let mut data = match shape {
            0 => json!({"chat_id": chat, "entity": entity.logical_name(), "record_id": typed}),
            1 => json!({"chat": {"id": chat}, "record": {"entity": entity.logical_name(), "id": typed}}),
            2 => json!({"chatId": chat, "record": format!("{}:{typed}", entity.logical_name())}),
            _ => json!({"target": format!("{}:{typed}|{chat}", entity.logical_name()), "entityType": entity.logical_name(), "recordId": typed}),
        };
        for (key, value) in noise {
            data[key] = value;
        }
        prop_assert_eq!(chat_in(&data).map(|c| c.as_str().to_owned()), Some(chat));
        let expected = RecordRef { entity, id: RecordId::parse(&canonical).unwrap() };
        prop_assert_eq!(record_in(&data), Some(expected));
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
        prop_assert!(!names_someone_else(&mine, &[&me]));
        prop_assert!(names_someone_else(&theirs, &[&me]));
        prop_assert!(!names_someone_else(&mine_shouted, &[&me]));
    }
}
