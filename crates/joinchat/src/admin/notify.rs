//! Posting into a group chat on the bot's behalf: the joined notice and the
//! ask cards. When the bot is not in the chat it installs itself there
//! through Graph (when it has the Teams app id) and posts again.
//!
//! Nothing here is said twice: a post that may have arrived (a 5xx or a
//! timeout after sending) is not sent again ([`Posted::Maybe`]), and an
//! install whose answer was lost is checked by posting — "not in the
//! conversation" means it did not happen, and only then is it tried again.

use std::time::Instant;

use crate::{
    audit::{self, AuditEvent},
    cards,
    clients::connector::{ConnectorClient, ConnectorError},
    clients::graph::GraphClient,
    domain::{AadObjectId, ChatId, RecordRef},
    store::Store,
    teams::OutboundActivity,
};

/// Whether a post reached the chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Posted {
    /// Posted; the activity id the Connector gave it (may be empty).
    Yes(String),
    /// Sent, and the answer was lost (5xx, timeout): it may be in the chat.
    /// Not sent again.
    Maybe,
    /// Surely not in the chat (the bot is not there and cannot get in, or
    /// the Connector refused).
    No,
}

impl Posted {
    /// The posted activity's id, when known.
    pub fn id(&self) -> Option<&str> {
        match self {
            Posted::Yes(id) => Some(id).filter(|id| !id.is_empty()).map(String::as_str),
            Posted::Maybe | Posted::No => None,
        }
    }

    /// Posted, or possibly posted: in either case the post is not repeated.
    pub fn reached(&self) -> bool {
        !matches!(self, Posted::No)
    }

    /// The audit outcome of a notice.
    fn outcome(&self) -> &'static str {
        match self {
            Posted::Yes(_) => "posted",
            Posted::Maybe => "uncertain",
            Posted::No => "not_posted",
        }
    }
}

#[derive(Clone)]
pub struct Notifier {
    pub connector: ConnectorClient,
    pub graph: GraphClient,
    /// The Teams app catalog id, to install the bot into a chat.
    pub teams_app_id: Option<String>,
    /// Where notices are audited.
    pub store: Store,
}

impl Notifier {
    /// Posts into a group chat, installing the bot there first when it is
    /// missing and an app id is configured.
    pub async fn post_in_chat(
        &self,
        chat: &ChatId,
        service_url: &str,
        activity: &OutboundActivity,
        deadline: Instant,
    ) -> Posted {
        let send = || async {
            match self
                .connector
                .send(service_url, chat.as_str(), None, activity, deadline)
                .await
            {
                Ok(posted) => Ok(Posted::Yes(posted.id)),
                Err(ConnectorError::NotInConversation) => Err(()),
                Err(error) if error.maybe_delivered() => {
                    tracing::warn!(%error, chat.id = chat.as_str(), "post into the chat may have arrived; not sent again");
                    Ok(Posted::Maybe)
                }
                Err(error) => {
                    tracing::warn!(%error, chat.id = chat.as_str(), "post into the chat failed");
                    Ok(Posted::No)
                }
            }
        };
        if let Ok(posted) = send().await {
            return posted;
        }
        let Some(app_id) = self.teams_app_id.as_ref() else {
            return Posted::No;
        };
        // An install whose answer was lost is looked up by posting: "not in
        // the conversation" again means it did not happen, so one more
        // install is safe.
        for _ in 0..2 {
            match self.graph.install_app(chat, app_id, deadline).await {
                Ok(()) => {}
                Err(error) if error.is_uncertain() => {
                    tracing::info!(%error, "the install's answer was lost; posting tells whether it happened");
                }
                Err(error) => {
                    tracing::info!(%error, "could not install the bot in the chat");
                    return Posted::No;
                }
            }
            if let Ok(posted) = send().await {
                return posted;
            }
        }
        Posted::No
    }

    /// "*Name* joined the chat", posted into the chat on behalf of `who`, and
    /// audited (`notice`: posted, uncertain or not_posted).
    pub async fn joined_notice(
        &self,
        who: &AadObjectId,
        name: &str,
        record: &RecordRef,
        chat: &ChatId,
        service_url: &str,
        deadline: Instant,
    ) -> Posted {
        let notice = OutboundActivity::text(cards::joined_notice_text(name));
        let posted = self
            .post_in_chat(chat, service_url, &notice, deadline)
            .await;
        audit::record(
            &self.store,
            AuditEvent {
                action: "notice",
                actor: who.as_str(),
                entity: Some(record.entity.logical_name()),
                record: Some(record.id.as_str()),
                chat: Some(chat.as_str()),
                outcome: posted.outcome(),
                ..AuditEvent::default()
            },
        )
        .await;
        posted
    }
}
