//! The Join chat switch and the two ways forward from a locked chat, one
//! file per subject:
//!
//! - [`switch`]: `enable/disable join chat for <type>` and the settings card;
//!   only holders of the configured Dataverse security role, checked on the
//!   server for every change; written to Dataverse, the cached setting dropped
//!   for every replica, audited.
//! - [`ask_member`]: a card in the chat with an **Add** button; any current
//!   member may click it, the server re-checks their membership, adds the
//!   requester with the entire history and tells the requester.
//! - [`ask_admin`]: a 1:1 card to each admin (or one in the admins' chat)
//!   with a one-click switch.
//! - [`conversations`]: how to reach a person 1:1, kept from their personal chat.
//! - [`notify`]: posting into a group chat, installing the bot there first
//!   when it is missing (used by asks and by the join's notice).
//!
//! Asks are rate-limited per person and chat (or record type) for an hour.

pub mod ask_admin;
pub mod ask_member;
pub mod conversations;
pub mod notify;
pub mod switch;

use std::time::Instant;

use crate::{
    audit::AuditEvent,
    context::Viewer,
    domain::{ChatId, EntityType},
    facts::Facts,
    store::{keys, Store},
};

pub use self::{conversations::Conversations, notify::Notifier};

/// The admin use cases, with what they need.
#[derive(Clone)]
pub struct AdminDesk {
    pub facts: Facts,
    pub store: Store,
    pub conversations: Conversations,
    pub notifier: Notifier,
    /// The Dataverse security role whose holders may flip the switch.
    pub role: String,
    /// Where "ask your admin" goes when set; otherwise each admin 1:1.
    pub admin_chat: Option<ChatId>,
}

impl AdminDesk {
    /// True for the first ask under `key` this hour. Without the store the
    /// ask goes through: a repeated ask is a nuisance, a lost one is worse.
    async fn first_ask(&self, key: &str) -> bool {
        self.store
            .set_if_absent(key, "1", keys::ASK_WINDOW)
            .await
            .unwrap_or(true)
    }

    /// The person's name as Dataverse knows it, else as Teams sent it.
    async fn display_name(&self, viewer: &Viewer, deadline: Instant) -> String {
        self.facts.display_name(viewer, deadline).await
    }
}

/// The audit event of an action on a record type, by outcome and reason.
fn type_event<'a>(
    action: &'a str,
    viewer: &'a Viewer,
    entity: EntityType,
) -> impl Fn(&'a str, &'a str) -> AuditEvent<'a> {
    move |outcome, reason| AuditEvent {
        action,
        actor: viewer.aad.as_str(),
        entity: Some(entity.logical_name()),
        outcome,
        reason,
        ..AuditEvent::default()
    }
}
