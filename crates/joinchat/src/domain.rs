//! The words joinchat's core speaks: record types, chat ids, record ids and Entra object ids,
//! each checked once where it enters (`parse`) and trusted afterwards.
//!
//! This module owns validation and normalisation of those identifiers only. It must not do
//! I/O, know any wire format beyond the plain strings Microsoft uses, or hold business rules.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a piece of outside input was refused. Messages are short and never echo the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadInput {
    #[error("not a Teams chat id")]
    ChatId,
    #[error("not a record id")]
    RecordId,
    #[error("not an Entra object id")]
    AadObjectId,
    #[error("not a supported record type")]
    Entity,
}

/// A Dynamics 365 record type that can have connected chats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntityType {
    Lead,
    Opportunity,
    Account,
    Contact,
    Incident,
}

impl EntityType {
    pub const ALL: [EntityType; 5] = [
        EntityType::Lead,
        EntityType::Opportunity,
        EntityType::Account,
        EntityType::Contact,
        EntityType::Incident,
    ];

    /// The Dataverse logical name, as stored and as sent in card data.
    pub fn logical_name(self) -> &'static str {
        match self {
            EntityType::Lead => "lead",
            EntityType::Opportunity => "opportunity",
            EntityType::Account => "account",
            EntityType::Contact => "contact",
            EntityType::Incident => "incident",
        }
    }

    /// The word a seller uses: Dynamics 365 shows an `incident` as a "case".
    pub fn display_name(self) -> &'static str {
        match self {
            EntityType::Incident => "case",
            other => other.logical_name(),
        }
    }

    pub fn display_plural(self) -> &'static str {
        match self {
            EntityType::Lead => "leads",
            EntityType::Opportunity => "opportunities",
            EntityType::Account => "accounts",
            EntityType::Contact => "contacts",
            EntityType::Incident => "cases",
        }
    }

    /// A record type from a typed word: any case, singular or plural, the display name
    /// ("case") or the logical name ("incident"), and "opp"/"opps".
    pub fn parse(word: &str) -> Option<EntityType> {
        let entity = match word.trim().to_lowercase().as_str() {
            "lead" | "leads" => EntityType::Lead,
            "opportunity" | "opportunities" | "opp" | "opps" | "oppty" | "oppties" => {
                EntityType::Opportunity
            }
            "account" | "accounts" => EntityType::Account,
            "contact" | "contacts" => EntityType::Contact,
            "case" | "cases" | "incident" | "incidents" => EntityType::Incident,
            _ => return None,
        };
        Some(entity)
    }

    /// Only the logical name, exactly: for ids that come back from cards and stores.
    pub fn from_logical_name(name: &str) -> Result<EntityType, BadInput> {
        EntityType::ALL
            .into_iter()
            .find(|entity| entity.logical_name() == name)
            .ok_or(BadInput::Entity)
    }
}

impl fmt::Display for EntityType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.logical_name())
    }
}

/// A Teams chat thread id (`19:…@thread.v2`), checked once, where it entered.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ChatId(String);

impl ChatId {
    pub fn parse(raw: &str) -> Result<ChatId, BadInput> {
        // The id goes into Graph and Bot Connector paths: anything that could change the
        // path or the query is refused here rather than escaped later.
        let plausible = raw.starts_with("19:")
            && raw.len() > 3
            && raw.len() <= 256
            && !raw.contains(['/', '?', '#', '\\'])
            && !raw.chars().any(|c| c.is_whitespace() || c.is_control());
        if !plausible {
            return Err(BadInput::ChatId);
        }
        Ok(ChatId(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The id of a Dataverse record: a GUID, lower-case, without braces.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RecordId(String);

impl RecordId {
    /// Accepts `8f14e45f-ceea-467f-a0c5-1b2d3e4f5a6b`, upper case, and `{…}` braces.
    pub fn parse(raw: &str) -> Result<RecordId, BadInput> {
        normalise_guid(raw).map(RecordId).ok_or(BadInput::RecordId)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A user's Entra (Azure AD) object id, the key for Dataverse and Graph look-ups.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AadObjectId(String);

impl AadObjectId {
    pub fn parse(raw: &str) -> Result<AadObjectId, BadInput> {
        normalise_guid(raw)
            .map(AadObjectId)
            .ok_or(BadInput::AadObjectId)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One record: its type and id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RecordRef {
    pub entity: EntityType,
    pub id: RecordId,
}

impl RecordRef {
    /// From the two strings card data carries: the logical name and the id.
    pub fn parse(entity: &str, id: &str) -> Result<RecordRef, BadInput> {
        Ok(RecordRef {
            entity: EntityType::from_logical_name(entity)?,
            id: RecordId::parse(id)?,
        })
    }
}

/// `lead:8f14e45f-…`: the form the world file and store keys use.
impl fmt::Display for RecordRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.entity, self.id)
    }
}

macro_rules! string_newtype {
    ($($name:ident),*) => {$(
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = BadInput;
            fn try_from(raw: String) -> Result<Self, BadInput> {
                $name::parse(&raw)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
    )*};
}

string_newtype!(ChatId, RecordId, AadObjectId);

/// `Some` lower-case hyphenated GUID when `raw` is one (optionally in braces, any case).
fn normalise_guid(raw: &str) -> Option<String> {
    let inner = match raw.strip_prefix('{') {
        Some(rest) => rest.strip_suffix('}')?,
        None => raw,
    };
    let bytes = inner.as_bytes();
    if bytes.len() != 36 {
        return None;
    }
    let well_formed = bytes.iter().enumerate().all(|(index, byte)| match index {
        8 | 13 | 18 | 23 => *byte == b'-',
        _ => byte.is_ascii_hexdigit(),
    });
    well_formed.then(|| inner.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUID: &str = "8f14e45f-ceea-467f-a0c5-1b2d3e4f5a6b";

    #[test]
    fn record_type_words() {
        use EntityType as E;
        let table = [
            ("lead", Some(E::Lead)),
            ("Leads", Some(E::Lead)),
            ("LEAD", Some(E::Lead)),
            ("opportunity", Some(E::Opportunity)),
            ("Opportunities", Some(E::Opportunity)),
            ("opp", Some(E::Opportunity)),
            ("opps", Some(E::Opportunity)),
            ("account", Some(E::Account)),
            ("accounts", Some(E::Account)),
            ("contact", Some(E::Contact)),
            ("Contacts", Some(E::Contact)),
            ("case", Some(E::Incident)),
            ("cases", Some(E::Incident)),
            ("incident", Some(E::Incident)),
            ("Incidents", Some(E::Incident)),
            (" lead ", Some(E::Lead)),
            ("ticket", None),
            ("", None),
            ("leadz", None),
            ("chat", None),
        ];
        for (word, expected) in table {
            assert_eq!(EntityType::parse(word), expected, "{word:?}");
        }
    }

    #[test]
    fn record_type_names_round_trip() {
        for entity in EntityType::ALL {
            assert_eq!(EntityType::parse(entity.logical_name()), Some(entity));
            assert_eq!(EntityType::parse(entity.display_name()), Some(entity));
            assert_eq!(EntityType::parse(entity.display_plural()), Some(entity));
            assert_eq!(
                EntityType::from_logical_name(entity.logical_name()),
                Ok(entity)
            );
            let json = serde_json::to_string(&entity).unwrap();
            assert_eq!(json, format!("\"{}\"", entity.logical_name()));
            assert_eq!(serde_json::from_str::<EntityType>(&json).unwrap(), entity);
        }
        assert_eq!(EntityType::Incident.display_name(), "case");
        assert_eq!(
            EntityType::from_logical_name("case"),
            Err(BadInput::Entity),
            "card data carries logical names only"
        );
    }

    #[test]
    fn chat_ids() {
        let long = format!("19:{}@thread.v2", "a".repeat(240));
        let too_long = format!("19:{}@thread.v2", "a".repeat(250));
        let table = [
            ("19:contoso-room@thread.v2", true),
            ("19:abc@thread.skype", true),
            ("19:abc@unq.gbl.spaces", true),
            (long.as_str(), true),
            (too_long.as_str(), false),
            ("", false),
            ("19:", false),
            ("a:17I0kl9E", false),
            ("29:user", false),
            ("19:abc/members", false),
            ("19:abc?x=1", false),
            ("19:abc#frag", false),
            ("19:abc\\x", false),
            ("19:abc def", false),
            ("19:abc\n", false),
            ("19:abc\u{0}", false),
            (" 19:abc@thread.v2", false),
        ];
        for (raw, ok) in table {
            let parsed = ChatId::parse(raw);
            assert_eq!(parsed.is_ok(), ok, "{raw:?}");
            if let Ok(chat_id) = parsed {
                assert_eq!(chat_id.as_str(), raw);
            }
        }
    }

    #[test]
    fn guids_are_normalised() {
        let upper = GUID.to_uppercase();
        let braced = format!("{{{GUID}}}");
        let braced_upper = format!("{{{upper}}}");
        let table = [
            (GUID, Some(GUID)),
            (upper.as_str(), Some(GUID)),
            (braced.as_str(), Some(GUID)),
            (braced_upper.as_str(), Some(GUID)),
            ("{8f14e45f-ceea-467f-a0c5-1b2d3e4f5a6b", None),
            ("8f14e45f-ceea-467f-a0c5-1b2d3e4f5a6b}", None),
            ("8f14e45fceea467fa0c51b2d3e4f5a6b", None),
            ("8f14e45f-ceea-467f-a0c5-1b2d3e4f5a6", None),
            ("8f14e45f-ceea-467f-a0c5-1b2d3e4f5a6bb", None),
            ("8f14e45g-ceea-467f-a0c5-1b2d3e4f5a6b", None),
            ("8f14e45f+ceea-467f-a0c5-1b2d3e4f5a6b", None),
            (" 8f14e45f-ceea-467f-a0c5-1b2d3e4f5a6b", None),
            ("", None),
            ("Contoso", None),
        ];
        for (raw, expected) in table {
            let record_id = RecordId::parse(raw).ok();
            assert_eq!(
                record_id.as_ref().map(RecordId::as_str),
                expected,
                "{raw:?}"
            );
            let aad = AadObjectId::parse(raw).ok();
            assert_eq!(aad.as_ref().map(AadObjectId::as_str), expected, "{raw:?}");
        }
        assert_eq!(RecordId::parse("x"), Err(BadInput::RecordId));
        assert_eq!(AadObjectId::parse("x"), Err(BadInput::AadObjectId));
    }

    #[test]
    fn serde_checks_what_it_reads() {
        let chat_id: ChatId = serde_json::from_str("\"19:abc@thread.v2\"").unwrap();
        assert_eq!(chat_id.to_string(), "19:abc@thread.v2");
        assert!(serde_json::from_str::<ChatId>("\"19:abc/../x\"").is_err());

        let record_id: RecordId =
            serde_json::from_str(&format!("\"{{{}}}\"", GUID.to_uppercase())).unwrap();
        assert_eq!(
            serde_json::to_string(&record_id).unwrap(),
            format!("\"{GUID}\"")
        );
        assert!(serde_json::from_str::<AadObjectId>("\"nope\"").is_err());

        let record: RecordRef =
            serde_json::from_str(&format!(r#"{{"entity":"incident","id":"{GUID}"}}"#)).unwrap();
        assert_eq!(record.to_string(), format!("incident:{GUID}"));
        assert!(serde_json::from_str::<RecordRef>(&format!(
            r#"{{"entity":"ticket","id":"{GUID}"}}"#
        ))
        .is_err());
    }

    #[test]
    fn record_refs_from_card_data() {
        let table = [
            ("lead", GUID, true),
            ("opportunity", GUID, true),
            ("incident", GUID, true),
            ("case", GUID, false),
            ("Lead", GUID, false),
            ("lead", "Contoso", false),
            ("", "", false),
        ];
        for (entity, id, ok) in table {
            assert_eq!(RecordRef::parse(entity, id).is_ok(), ok, "{entity} {id}");
        }
    }

    #[test]
    fn bad_input_messages_are_short_and_do_not_echo() {
        for bad in [
            BadInput::ChatId,
            BadInput::RecordId,
            BadInput::AadObjectId,
            BadInput::Entity,
        ] {
            let message = bad.to_string();
            assert!(
                message.len() < 40 && message.starts_with("not "),
                "{message}"
            );
        }
    }
}
