//! `adaptiveCard/action` invokes (Universal Actions) and their responses.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub const ADAPTIVE_CARD_ACTION: &str = "adaptiveCard/action";

/// `value` of an `adaptiveCard/action` invoke.
#[derive(Debug, Clone, Deserialize)]
pub struct AdaptiveCardInvoke {
    pub action: ExecuteAction,
    #[serde(default)]
    pub trigger: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ExecuteAction {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub verb: String,
    #[serde(default)]
    pub data: Value,
}

impl ExecuteAction {
    /// A string field of `data`, the only shape the bot's cards use.
    pub fn data_str(&self, field: &str) -> Option<&str> {
        self.data.get(field).and_then(Value::as_str)
    }

    pub fn data_object(&self) -> Option<&Map<String, Value>> {
        self.data.as_object()
    }
}

/// The body of the HTTP 200 answer to an invoke.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InvokeResponse {
    pub status_code: u16,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub value: Value,
}

impl InvokeResponse {
    /// Replace the card the user acted on with `card`.
    pub fn card(card: Value) -> InvokeResponse {
        InvokeResponse {
            status_code: 200,
            kind: "application/vnd.microsoft.card.adaptive",
            value: card,
        }
    }

    /// Show a short message instead of a card.
    pub fn message(text: impl Into<String>) -> InvokeResponse {
        InvokeResponse {
            status_code: 200,
            kind: "application/vnd.microsoft.activity.message",
            value: Value::String(text.into()),
        }
    }

    /// A request the bot cannot act on (`code` names the kind, never internals).
    pub fn error(status_code: u16, code: &str, message: &str) -> InvokeResponse {
        InvokeResponse {
            status_code,
            kind: "application/vnd.microsoft.error",
            value: serde_json::json!({ "code": code, "message": message }),
        }
    }

    /// The body to send: an invoke response is plain data, so serialising it
    /// cannot fail.
    pub fn to_bytes(&self) -> bytes::Bytes {
        bytes::Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }
}
