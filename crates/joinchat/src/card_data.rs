//! What the `data` of a card action names, read as untrusted input.
//!
//! Card data comes back from the client and may be stale, replayed or forged:
//! these functions only extract candidates (a chat id, a record, a record
//! type, a flag) in the shapes our cards write and a few tolerated variants.
//! They decide nothing — the use cases re-derive every fact on the server.

use serde_json::Value;

use crate::domain::{ChatId, EntityType, RecordId, RecordRef};

const ENTITY_KEYS: [&str; 4] = ["entity", "entity_type", "entityType", "record_type"];

/// The chat an action names: a known field (a string, or an object with an
/// `id`), else any string in the data that is a chat id.
pub fn chat_in(data: &Value) -> Option<ChatId> {
    for key in ["chat_id", "chatId", "chat"] {
        match data.get(key) {
            Some(Value::String(raw)) => return ChatId::parse(raw).ok(),
            Some(Value::Object(inner)) => {
                if let Some(id) = inner.get("id").and_then(Value::as_str) {
                    return ChatId::parse(id).ok();
                }
            }
            _ => {}
        }
    }
    strings(data).find_map(|s| ChatId::parse(s).ok().or_else(|| chat_inside(s)))
}

/// A chat id written inside a longer string (`"lead:…|19:…@thread.v2"`).
fn chat_inside(text: &str) -> Option<ChatId> {
    let start = text.find("19:")?;
    let rest = &text[start..];
    let end = ["@thread.v2", "@thread.skype", "@unq.gbl.spaces"]
        .iter()
        .filter_map(|suffix| rest.find(suffix).map(|at| at + suffix.len()))
        .min()?;
    ChatId::parse(&rest[..end]).ok()
}

/// The record an action names: `entity` + `record_id`, `record: {entity, id}`
/// or `record: "lead:<id>"`.
pub fn record_in(data: &Value) -> Option<RecordRef> {
    if let Some((entity, id)) = data
        .get("record")
        .and_then(Value::as_str)
        .and_then(|text| text.split_once(':'))
    {
        return Some(RecordRef {
            entity: EntityType::parse(entity.trim())?,
            id: RecordId::parse(id.trim()).ok()?,
        });
    }
    let nested = data.get("record").and_then(Value::as_object);
    let field = |keys: &[&str], nested_key: &str| {
        keys.iter()
            .find_map(|k| data.get(*k).and_then(Value::as_str))
            .or_else(|| {
                nested
                    .and_then(|r| r.get(nested_key))
                    .and_then(Value::as_str)
            })
    };
    let entity = field(&ENTITY_KEYS, "entity")?;
    let id = field(&["record_id", "recordId"], "id").or_else(|| {
        nested
            .and_then(|r| r.get("record_id"))
            .and_then(Value::as_str)
    })?;
    Some(RecordRef {
        entity: EntityType::parse(entity)?,
        id: RecordId::parse(id).ok()?,
    })
}

/// The record type an action names.
pub fn entity_in(data: &Value) -> Option<EntityType> {
    ENTITY_KEYS
        .iter()
        .find_map(|key| data.get(*key).and_then(Value::as_str))
        .and_then(EntityType::parse)
}

/// A yes/no field: card data carries strings, but a JSON bool is accepted too.
pub fn flag_in(data: &Value, key: &str) -> Option<bool> {
    match data.get(key)? {
        Value::Bool(flag) => Some(*flag),
        Value::String(text) => match text.as_str() {
            "true" | "on" | "1" => Some(true),
            "false" | "off" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Whether the data names a person (a field about a user, an Entra id, a
/// requester or a caller) who is none of `allowed` — a card made for someone
/// else, or a forged one.
pub fn names_someone_else(data: &Value, allowed: &[&str]) -> bool {
    let Some(object) = data.as_object() else {
        return false;
    };
    object.iter().any(|(key, value)| {
        let key = key.to_ascii_lowercase();
        let about_a_person = ["user", "aad", "requester", "caller"]
            .iter()
            .any(|k| key.contains(k))
            || key == "from";
        match value {
            Value::String(id) if about_a_person => {
                !allowed.iter().any(|a| a.eq_ignore_ascii_case(id))
            }
            Value::Object(_) => names_someone_else(value, allowed),
            _ => false,
        }
    })
}

fn strings(value: &Value) -> Box<dyn Iterator<Item = &str> + '_> {
    match value {
        Value::String(s) => Box::new(std::iter::once(s.as_str())),
        Value::Array(items) => Box::new(items.iter().flat_map(strings)),
        Value::Object(map) => Box::new(map.values().flat_map(strings)),
        _ => Box::new(std::iter::empty()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const CHAT: &str = "19:room@thread.v2";
    const ID: &str = "8f14e45f-ceea-467f-a0c5-1b2d3e4f5a6b";

    #[test]
    #[rustfmt::skip]
    fn the_chat_is_found_in_every_tolerated_shape() {
        let table = [
            (json!({"chat_id": CHAT}), Some(CHAT)),
            (json!({"chatId": CHAT}), Some(CHAT)),
            (json!({"chat": {"id": CHAT}}), Some(CHAT)),
            (json!({"target": {"thread": CHAT}}), Some(CHAT)),
            (json!({"chat_id": "not-a-chat"}), None),
            (json!({"chat_id": "19:../../evil/path"}), None),
            (json!({}), None),
            (json!("19:room@thread.v2"), Some(CHAT)),
            (json!({"target": "lead:8f14e45f|19:room@thread.v2"}), Some(CHAT)),
            (json!({"target": "see 19:room@thread.v2 now"}), Some(CHAT)),
            (json!({"target": "19:room no suffix"}), None),
        ];
        for (data, expected) in table {
            assert_eq!(chat_in(&data).as_ref().map(ChatId::as_str), expected, "{data}");
        }
    }

    #[test]
    #[rustfmt::skip]
    fn the_record_is_found_flat_or_nested_and_checked() {
        let table = [
            (json!({"entity": "lead", "record_id": ID}), true),
            (json!({"entityType": "Leads", "recordId": format!("{{{}}}", ID.to_uppercase())}), true),
            (json!({"record": {"entity": "lead", "id": ID}}), true),
            (json!({"record": {"entity": "lead", "record_id": ID}}), true),
            (json!({"record": format!("lead:{ID}")}), true),
            (json!({"record": format!("ticket:{ID}")}), false),
            (json!({"entity": "ticket", "record_id": ID}), false),
            (json!({"entity": "lead", "record_id": "x"}), false),
            (json!({"entity": "lead"}), false),
        ];
        for (data, found) in table {
            let record = record_in(&data);
            assert_eq!(record.is_some(), found, "{data}");
            if let Some(record) = record {
                assert_eq!((record.entity, record.id.as_str()), (EntityType::Lead, ID));
            }
        }
    }

    #[test]
    #[rustfmt::skip]
    fn flags_accept_strings_and_bools() {
        let table = [
            (json!({"enabled": "true"}), Some(true)),
            (json!({"enabled": "false"}), Some(false)),
            (json!({"enabled": true}), Some(true)),
            (json!({"enabled": "maybe"}), None),
            (json!({}), None),
        ];
        for (data, expected) in table {
            assert_eq!(flag_in(&data, "enabled"), expected, "{data}");
        }
    }

    #[test]
    #[rustfmt::skip]
    fn a_person_other_than_the_allowed_ones_is_noticed() {
        let me = "aad-me";
        let table = [
            (json!({"user": "aad-me"}), false),
            (json!({"user": "AAD-ME"}), false),
            (json!({"user": "29:me"}), false),
            (json!({"user": "aad-you"}), true),
            (json!({"user_id": "aad-you"}), true),
            (json!({"aadObjectId": "aad-you"}), true),
            (json!({"requester": "aad-you"}), true),
            (json!({"from": "aad-you"}), true),
            (json!({"inner": {"userId": "aad-you"}}), true),
            (json!({"chat_id": CHAT, "entity": "lead"}), false),
        ];
        for (data, expected) in table {
            assert_eq!(names_someone_else(&data, &[me, "29:me"]), expected, "{data}");
        }
    }
}
