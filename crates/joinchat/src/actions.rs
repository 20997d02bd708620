//! Card actions: the one vocabulary of `Action.Execute` verbs the cards emit
//! and the bot accepts. A [`CardAction`] is written into a card by `cards`
//! and parsed once from an `adaptiveCard/action` invoke by `bot::invoke`, so
//! a verb without a handler does not compile.
//!
//! Card data comes back from the client and may be stale, replayed or forged:
//! parsing only extracts candidates (a chat id, a record, a record type, a
//! flag) in the shapes our cards write and a few tolerated variants. It
//! decides nothing — the use cases re-derive every fact on the server.

use serde_json::{json, Value};

use crate::domain::{ChatId, EntityType, RecordId, RecordRef};

/// What a look names: one record, or what someone typed (a group chat's
/// shared card names no record, so each viewer's own search finds theirs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Record(RecordRef),
    Query { entity: EntityType, text: String },
}

/// The longest typed name a card carries back.
const MAX_QUERY_CHARS: usize = 200;

/// A card action: its verb and the data it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardAction {
    /// Draw a record's chats for whoever asks (a card's automatic refresh).
    Refresh { target: Target },
    /// The same, from a visible button (a choice card, a group chat's card).
    Show { target: Target },
    /// Join this chat, connected to this record.
    Join { chat: ChatId, record: RecordRef },
    /// Ask the members of this chat to add the clicker.
    AskMember { chat: ChatId, record: RecordRef },
    /// Ask the admins to turn Join chat on for this record type.
    AskAdmin { entity: EntityType },
    /// A member adds the person of this pending request.
    Add { request: String },
    /// An admin turns Join chat on or off for this record type.
    SetJoinChat { entity: EntityType, enabled: bool },
}

/// Why an invoke's action was refused before anything ran (answered 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadAction {
    UnknownVerb,
    /// The data lacks what the verb needs; the text says what.
    Missing(&'static str),
}

impl CardAction {
    /// Every verb, in the order of the enum.
    pub const VERBS: &'static [&'static str] = &[
        "refresh",
        "show",
        "join",
        "ask_member",
        "ask_admin",
        "add",
        "set_join_chat",
    ];

    pub fn verb(&self) -> &'static str {
        match self {
            CardAction::Refresh { .. } => "refresh",
            CardAction::Show { .. } => "show",
            CardAction::Join { .. } => "join",
            CardAction::AskMember { .. } => "ask_member",
            CardAction::AskAdmin { .. } => "ask_admin",
            CardAction::Add { .. } => "add",
            CardAction::SetJoinChat { .. } => "set_join_chat",
        }
    }

    /// The action's `data` as our cards write it (strings only).
    pub fn data(&self) -> Value {
        let record_data = |record: &RecordRef| json!({ "entity": record.entity.logical_name(), "record_id": record.id.as_str() });
        match self {
            CardAction::Refresh { target } | CardAction::Show { target } => match target {
                Target::Record(record) => record_data(record),
                Target::Query { entity, text } => {
                    json!({ "entity": entity.logical_name(), "query": text })
                }
            },
            CardAction::Join { chat, record } | CardAction::AskMember { chat, record } => {
                let mut data = record_data(record);
                data["chat_id"] = json!(chat.as_str());
                data
            }
            CardAction::AskAdmin { entity } => json!({ "entity": entity.logical_name() }),
            CardAction::Add { request } => json!({ "request": request }),
            CardAction::SetJoinChat { entity, enabled } => json!({
                "entity": entity.logical_name(),
                "enabled": if *enabled { "true" } else { "false" },
            }),
        }
    }

    /// Reads an invoke's verb and data.
    pub fn parse(verb: &str, data: &Value) -> Result<CardAction, BadAction> {
        let target = || match (record_in(data), query_in(data)) {
            (Some(record), _) => Ok(Target::Record(record)),
            (None, Some((entity, text))) => Ok(Target::Query { entity, text }),
            (None, None) => Err(BadAction::Missing("The card names no record.")),
        };
        let chat_and_record = || match (chat_in(data), record_in(data)) {
            (Some(chat), Some(record)) => Ok((chat, record)),
            _ => Err(BadAction::Missing("The card names no chat or record.")),
        };
        Ok(match verb {
            "refresh" => CardAction::Refresh { target: target()? },
            "show" => CardAction::Show { target: target()? },
            "join" => {
                let (chat, record) = chat_and_record()?;
                CardAction::Join { chat, record }
            }
            "ask_member" => {
                let (chat, record) = chat_and_record()?;
                CardAction::AskMember { chat, record }
            }
            "ask_admin" => CardAction::AskAdmin {
                entity: entity_in(data)
                    .ok_or(BadAction::Missing("The card names no record type."))?,
            },
            "add" => CardAction::Add {
                request: data
                    .get("request")
                    .and_then(Value::as_str)
                    .filter(|id| !id.is_empty() && id.len() <= 128)
                    .ok_or(BadAction::Missing("The card names no request."))?
                    .to_owned(),
            },
            "set_join_chat" => match (entity_in(data), flag_in(data, "enabled")) {
                (Some(entity), Some(enabled)) => CardAction::SetJoinChat { entity, enabled },
                _ => {
                    return Err(BadAction::Missing(
                        "The card names no record type or state.",
                    ))
                }
            },
            _ => return Err(BadAction::UnknownVerb),
        })
    }

    /// Whether answering it changes nothing (and so needs no dedupe).
    pub fn is_a_look(&self) -> bool {
        matches!(self, CardAction::Refresh { .. } | CardAction::Show { .. })
    }
}

const ENTITY_KEYS: [&str; 4] = ["entity", "entity_type", "entityType", "record_type"];

/// The chat an action names: a known field (a string, or an object with an
/// `id`), else any string in the data that is a chat id.
fn chat_in(data: &Value) -> Option<ChatId> {
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
fn record_in(data: &Value) -> Option<RecordRef> {
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

/// A typed name and its record type, as a group chat's shared card carries them.
fn query_in(data: &Value) -> Option<(EntityType, String)> {
    let text = data.get("query").and_then(Value::as_str)?.trim();
    if text.is_empty() || text.chars().count() > MAX_QUERY_CHARS {
        return None;
    }
    Some((entity_in(data)?, text.to_owned()))
}

/// The record type an action names.
fn entity_in(data: &Value) -> Option<EntityType> {
    ENTITY_KEYS
        .iter()
        .find_map(|key| data.get(*key).and_then(Value::as_str))
        .and_then(EntityType::parse)
}

/// A yes/no field: card data carries strings, but a JSON bool is accepted too.
fn flag_in(data: &Value, key: &str) -> Option<bool> {
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

/// The people a card's data names — any field about a user, an Entra id,
/// a requester or a caller — as the client sent them, unchecked.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct NamedPeople(Vec<String>);

impl NamedPeople {
    pub fn in_data(data: &Value) -> NamedPeople {
        let mut people = Vec::new();
        collect_people(data, &mut people);
        NamedPeople(people)
    }

    /// Whether someone other than `allowed` is named: a card made for
    /// someone else, or a forged one.
    pub fn other_than(&self, allowed: &[&str]) -> bool {
        self.0
            .iter()
            .any(|id| !allowed.iter().any(|a| a.eq_ignore_ascii_case(id)))
    }
}

fn collect_people(data: &Value, people: &mut Vec<String>) {
    let Some(object) = data.as_object() else {
        return;
    };
    for (key, value) in object {
        let key = key.to_ascii_lowercase();
        let about_a_person = ["user", "aad", "requester", "caller"]
            .iter()
            .any(|k| key.contains(k))
            || key == "from";
        match value {
            Value::String(id) if about_a_person => people.push(id.clone()),
            Value::Object(_) => collect_people(value, people),
            _ => {}
        }
    }
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
    fn every_action_reads_back_as_itself() {
        let chat = ChatId::parse(CHAT).unwrap();
        let record = RecordRef {
            entity: EntityType::Lead,
            id: RecordId::parse(ID).unwrap(),
        };
        let query = Target::Query {
            entity: EntityType::Account,
            text: "A & B".into(),
        };
        let actions = [
            CardAction::Refresh {
                target: Target::Record(record.clone()),
            },
            CardAction::Show {
                target: query.clone(),
            },
            CardAction::Join {
                chat: chat.clone(),
                record: record.clone(),
            },
            CardAction::AskMember { chat, record },
            CardAction::AskAdmin {
                entity: EntityType::Opportunity,
            },
            CardAction::Add {
                request: "r-1".into(),
            },
            CardAction::SetJoinChat {
                entity: EntityType::Lead,
                enabled: false,
            },
        ];
        assert_eq!(actions.len(), CardAction::VERBS.len());
        assert_eq!(
            CardAction::parse("refresh", &CardAction::Show { target: query }.data()),
            Ok(CardAction::Refresh {
                target: Target::Query {
                    entity: EntityType::Account,
                    text: "A & B".into()
                }
            })
        );
        for (action, verb) in actions.iter().zip(CardAction::VERBS) {
            assert_eq!(action.verb(), *verb);
            assert_eq!(
                CardAction::parse(verb, &action.data()).as_ref(),
                Ok(action),
                "{verb}"
            );
        }
    }

    #[test]
    #[rustfmt::skip]
    fn data_missing_what_the_verb_needs_is_refused() {
        let table = [
            ("refresh", json!({})),
            ("refresh", json!({"entity": "lead", "query": " "})),
            ("show", json!({"entity": "ticket", "query": "Contoso"})),
            ("show", json!({"entity": "lead", "query": "x".repeat(201)})),
            ("show", json!({"entity": "lead"})),
            ("join", json!({"entity": "lead", "record_id": ID})),
            ("ask_member", json!({"chat_id": CHAT})),
            ("ask_admin", json!({"entity": "ticket"})),
            ("add", json!({"request": ""})),
            ("set_join_chat", json!({"entity": "lead", "enabled": "maybe"})),
        ];
        for (verb, data) in table {
            assert!(matches!(CardAction::parse(verb, &data), Err(BadAction::Missing(_))), "{verb} {data}");
        }
        assert_eq!(CardAction::parse("joinChat", &json!({})), Err(BadAction::UnknownVerb));
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
            assert_eq!(NamedPeople::in_data(&data).other_than(&[me, "29:me"]), expected, "{data}");
        }
    }
}
