//! The activity envelope and its parts.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// An inbound activity. Only the fields the bot reads are typed; everything
/// else is ignored on purpose.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    #[serde(rename = "type")]
    pub kind: ActivityType,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub channel_id: String,
    #[serde(default)]
    pub service_url: String,
    #[serde(default)]
    pub from: ChannelAccount,
    #[serde(default)]
    pub recipient: ChannelAccount,
    #[serde(default)]
    pub conversation: ConversationAccount,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub reply_to_id: Option<String>,
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub members_added: Vec<ChannelAccount>,
    #[serde(default)]
    pub members_removed: Vec<ChannelAccount>,
    #[serde(default)]
    pub entities: Vec<Entity>,
    #[serde(default)]
    pub channel_data: Option<ChannelData>,
    /// Parsed only where the activity type says what it holds.
    #[serde(default)]
    pub value: Option<Box<RawValue>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActivityType {
    Message,
    Invoke,
    ConversationUpdate,
    InstallationUpdate,
    Other(String),
}

impl<'de> Deserialize<'de> for ActivityType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(match raw.as_ref() {
            "message" => ActivityType::Message,
            "invoke" => ActivityType::Invoke,
            "conversationUpdate" => ActivityType::ConversationUpdate,
            "installationUpdate" => ActivityType::InstallationUpdate,
            other => ActivityType::Other(other.to_owned()),
        })
    }
}

impl ActivityType {
    pub fn as_str(&self) -> &str {
        match self {
            ActivityType::Message => "message",
            ActivityType::Invoke => "invoke",
            ActivityType::ConversationUpdate => "conversationUpdate",
            ActivityType::InstallationUpdate => "installationUpdate",
            ActivityType::Other(other) => other,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ChannelAccount {
    #[serde(default)]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aad_object_id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ConversationAccount {
    #[serde(default)]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_group: Option<bool>,
}

impl ConversationAccount {
    /// A 1:1 conversation between one person and the bot.
    pub fn is_personal(&self) -> bool {
        match self.conversation_type.as_deref() {
            Some(kind) => kind == "personal",
            None => self.is_group != Some(true),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Entity {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mentioned: Option<ChannelAccount>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ChannelData {
    #[serde(default)]
    pub tenant: Option<TenantInfo>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct TenantInfo {
    #[serde(default)]
    pub id: String,
}

impl Activity {
    /// The tenant the activity comes from, as Teams states it.
    pub fn tenant_id(&self) -> Option<&str> {
        self.channel_data
            .as_ref()
            .and_then(|data| data.tenant.as_ref())
            .map(|tenant| tenant.id.as_str())
            .or(self.conversation.tenant_id.as_deref())
            .filter(|id| !id.is_empty())
    }

    /// Whether the bot itself is among `membersAdded`.
    pub fn adds_the_bot(&self) -> bool {
        self.members_added.iter().any(|m| m.id == self.recipient.id)
    }
}

/// An activity the bot posts to the Bot Connector.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboundActivity {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_format: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entities: Vec<Entity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<ChannelAccount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient: Option<ChannelAccount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation: Option<ConversationAccount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    pub content_type: &'static str,
    pub content: serde_json::Value,
}

pub const ADAPTIVE_CARD: &str = "application/vnd.microsoft.card.adaptive";

impl OutboundActivity {
    /// A plain text (markdown) message.
    pub fn text(text: impl Into<String>) -> OutboundActivity {
        OutboundActivity {
            kind: "message",
            text: Some(text.into()),
            text_format: Some("markdown"),
            ..OutboundActivity::default()
        }
    }

    /// A message carrying one Adaptive Card.
    pub fn card(card: serde_json::Value) -> OutboundActivity {
        OutboundActivity {
            kind: "message",
            attachments: vec![Attachment {
                content_type: ADAPTIVE_CARD,
                content: card,
            }],
            ..OutboundActivity::default()
        }
    }

    /// Addresses this message as a reply to `inbound`, from the bot.
    pub fn in_reply_to(mut self, inbound: &Activity) -> OutboundActivity {
        self.from = Some(inbound.recipient.clone());
        self.recipient = Some(inbound.from.clone());
        self.conversation = Some(inbound.conversation.clone());
        self.reply_to_id = inbound.id.clone();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_types_and_fields_are_tolerated() {
        let activity: Activity = serde_json::from_str(
            r#"{"type":"messageReaction","id":"1","channelId":"msteams","serviceUrl":"https://s/",
                "brandNewField":{"x":1},"from":{"id":"29:1","someThing":true}}"#,
        )
        .unwrap();
        assert_eq!(activity.kind, ActivityType::Other("messageReaction".into()));
        assert_eq!(activity.from.id, "29:1");
    }

    #[test]
    fn the_tenant_comes_from_channel_data_or_the_conversation() {
        let a: Activity = serde_json::from_str(
            r#"{"type":"message","channelData":{"tenant":{"id":"t1"}},"conversation":{"id":"c","tenantId":"t2"}}"#,
        )
        .unwrap();
        assert_eq!(a.tenant_id(), Some("t1"));
        let b: Activity =
            serde_json::from_str(r#"{"type":"message","conversation":{"id":"c","tenantId":"t2"}}"#)
                .unwrap();
        assert_eq!(b.tenant_id(), Some("t2"));
        let c: Activity = serde_json::from_str(r#"{"type":"message"}"#).unwrap();
        assert_eq!(c.tenant_id(), None);
    }
}
