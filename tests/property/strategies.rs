//! Strategies shared by the property tests: arbitrary JSON, and text that
//! mixes the words and markup the parsers care about with noise.

use proptest::prelude::*;
use serde_json::{Map, Value};

/// Any JSON value, a few levels deep.
pub fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(key(), inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// An object key: sometimes one the parsers read, mostly anything.
pub fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => any::<String>(),
        1 => prop::sample::select(vec![
            "id", "chat", "chat_id", "chatId", "record", "record_id", "recordId", "entity",
            "entity_type", "user", "aad", "requester", "from", "type", "value",
        ])
        .prop_map(str::to_owned),
    ]
}

/// Text: noise, with pieces the parsers treat specially mixed in.
pub fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => any::<String>(),
        1 => prop::sample::select(vec![
            "<at>", "</at>", "<at>Join Chat</at>", "<p>", "</p>", "<br/>", "&amp;", "&#39;",
            "&#x", "&", ";", "'", "\"", "“", "’", ":", "19:", "@thread.v2", " ", "  ", "\n",
            "\u{0}", "é", "İ", "ß", "\u{200b}", "{", "}",
        ])
        .prop_map(str::to_owned),
    ];
    proptest::collection::vec(piece, 0..8).prop_map(|pieces| pieces.concat())
}

/// A GUID in the spellings people paste: any case, maybe in braces.
pub fn guid() -> impl Strategy<Value = (String, String)> {
    (any::<u128>(), any::<bool>(), any::<bool>()).prop_map(|(bits, upper, braces)| {
        let canonical = uuid::Uuid::from_u128(bits).hyphenated().to_string();
        let mut typed = if upper {
            canonical.to_uppercase()
        } else {
            canonical.clone()
        };
        if braces {
            typed = format!("{{{typed}}}");
        }
        (canonical, typed)
    })
}
