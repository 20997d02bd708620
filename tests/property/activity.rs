//! `teams::Activity` from arbitrary and mutated JSON: never a panic; unknown
//! fields change nothing; a typed field of another type is refused (the
//! front door's 400), one of its type is taken as sent.

use joinchat::teams::{Activity, ActivityType};
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::strategies::{json, key};

/// A message as Teams sends it in a personal chat.
fn base() -> Value {
    json!({
        "type": "message",
        "id": "1712345678901",
        "channelId": "msteams",
        "serviceUrl": "https://smba.trafficmanager.net/emea/",
        "from": {"id": "29:1a2b", "name": "Alex Wu", "aadObjectId": "1b4e28ba-2fa1-11d2-883f-0016d3cca427"},
        "recipient": {"id": "28:bot", "name": "joinchat"},
        "conversation": {"id": "a:1xyz", "conversationType": "personal", "tenantId": "tenant"},
        "text": "help",
        "entities": [{"type": "clientInfo", "locale": "en-GB"}],
        "channelData": {"tenant": {"id": "tenant"}},
    })
}

const TOP_LEVEL: &[&str] = &[
    "type",
    "id",
    "name",
    "channelId",
    "serviceUrl",
    "from",
    "recipient",
    "conversation",
    "text",
    "replyToId",
    "action",
    "membersAdded",
    "membersRemoved",
    "entities",
    "channelData",
    "value",
];

/// What a field accepts, from the struct's types.
#[derive(Clone, Copy, Debug)]
enum Accepts {
    /// `String`: a string only (absent is the default, null is not).
    Text,
    /// `Option<String>`: a string or null.
    OptionalText,
    /// `Option<bool>`: a bool or null.
    OptionalBool,
}

/// Typed fields (as JSON pointers) and what each accepts.
const TYPED: &[(&str, Accepts)] = &[
    ("/type", Accepts::Text),
    ("/channelId", Accepts::Text),
    ("/serviceUrl", Accepts::Text),
    ("/id", Accepts::OptionalText),
    ("/name", Accepts::OptionalText),
    ("/text", Accepts::OptionalText),
    ("/replyToId", Accepts::OptionalText),
    ("/action", Accepts::OptionalText),
    ("/from/id", Accepts::Text),
    ("/from/aadObjectId", Accepts::OptionalText),
    ("/conversation/id", Accepts::Text),
    ("/conversation/conversationType", Accepts::OptionalText),
    ("/conversation/isGroup", Accepts::OptionalBool),
    ("/channelData/tenant/id", Accepts::Text),
];

fn accepted(accepts: Accepts, value: &Value) -> bool {
    match accepts {
        Accepts::Text => value.is_string(),
        Accepts::OptionalText => value.is_string() || value.is_null(),
        Accepts::OptionalBool => value.is_boolean() || value.is_null(),
    }
}

fn set(document: &mut Value, pointer: &str, value: Value) {
    let (parent, field) = pointer.rsplit_once('/').unwrap();
    let parent = if parent.is_empty() {
        document
    } else {
        document.pointer_mut(parent).unwrap()
    };
    parent[field] = value;
}

proptest! {
    #![proptest_config(crate::cases(512))]

    #[test]
    fn any_bytes_parse_or_are_refused_without_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = serde_json::from_slice::<Activity>(&bytes);
    }

    #[test]
    fn any_json_parses_or_is_refused_without_a_panic(value in json()) {
        let _ = serde_json::from_value::<Activity>(value.clone());
        let _ = serde_json::from_str::<Activity>(&value.to_string());
    }

    #[test]
    fn unknown_fields_change_nothing(extra in proptest::collection::btree_map(key(), json(), 0..6)) {
        let mut document = base();
        for (name, value) in extra {
            if !TOP_LEVEL.contains(&name.as_str()) {
                document[name] = value;
            }
        }
        let activity: Activity = serde_json::from_value(document).expect("still an activity");
        prop_assert_eq!(&activity.kind, &ActivityType::Message);
        prop_assert_eq!(activity.text.as_deref(), Some("help"));
        prop_assert_eq!(activity.conversation.id.as_str(), "a:1xyz");
        prop_assert_eq!(activity.tenant_id(), Some("tenant"));
    }

    #[test]
    fn a_typed_field_takes_its_type_and_refuses_any_other(
        field in prop::sample::select(TYPED),
        value in json(),
    ) {
        let (pointer, accepts) = field;
        let mut document = base();
        set(&mut document, pointer, value.clone());
        let parsed = serde_json::from_str::<Activity>(&document.to_string());
        prop_assert_eq!(parsed.is_ok(), accepted(accepts, &value), "{} = {}", pointer, value);
        if let (Ok(activity), Value::String(text)) = (parsed, &value) {
            let seen = match pointer {
                "/type" => Some(activity.kind.as_str().to_owned()),
                "/text" => activity.text,
                "/serviceUrl" => Some(activity.service_url),
                "/conversation/id" => Some(activity.conversation.id),
                "/from/aadObjectId" => activity.from.aad_object_id,
                _ => Some(text.clone()),
            };
            prop_assert_eq!(seen.as_ref(), Some(text));
        }
    }

    #[test]
    fn the_value_of_an_invoke_holds_any_json_as_sent(value in json()) {
        let mut document = base();
        document["type"] = json!("invoke");
        document["name"] = json!("adaptiveCard/action");
        document["value"] = value.clone();
        let activity: Activity = serde_json::from_value(document).expect("an invoke");
        // null is no value at all; anything else is kept as sent.
        match activity.value {
            None => prop_assert!(value.is_null()),
            Some(raw) => prop_assert_eq!(raw.get(), value.to_string()),
        }
    }

    #[test]
    fn a_cut_activity_is_refused(text in crate::strategies::text(), at in any::<prop::sample::Index>()) {
        let mut document = base();
        document["text"] = json!(text);
        let encoded = document.to_string();
        let mut cut = at.index(encoded.len());
        while !encoded.is_char_boundary(cut) {
            cut -= 1;
        }
        prop_assert!(serde_json::from_str::<Activity>(&encoded[..cut]).is_err());
    }
}
