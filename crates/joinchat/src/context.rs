//! Who is asking, where, and what a use case answers: derived once from the
//! verified activity by `bot`, passed down to every use case.

use serde_json::Value;

use crate::{cards, domain::AadObjectId, teams::InvokeResponse};

/// Who is looking, from the verified activity (never from card data).
#[derive(Debug, Clone)]
pub struct Viewer {
    pub aad: AadObjectId,
    /// The Teams user id (`29:…`), used in `refresh.userIds`.
    pub mri: String,
    pub name: String,
}

/// The conversation an activity came from, and how to answer into it.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    /// The Bot Connector of the verified activity.
    pub service_url: &'a str,
    pub conversation_id: &'a str,
    /// A 1:1 chat with the bot (else a group chat, seen by all its members).
    pub personal: bool,
}

impl Place<'_> {
    /// The group chat, when this is one.
    pub fn group_chat(&self) -> Option<&str> {
        (!self.personal).then_some(self.conversation_id)
    }
}

/// A card to send, or a plain-text answer.
#[derive(Debug)]
pub enum Answer {
    Card(Value),
    Text(String),
}

impl Answer {
    /// The answer to an invoke: a card (a text answer in a one-line card).
    pub fn into_invoke(self) -> InvokeResponse {
        match self {
            Answer::Card(card) => InvokeResponse::card(card),
            Answer::Text(text) => InvokeResponse::card(cards::text_card(&text)),
        }
    }
}
