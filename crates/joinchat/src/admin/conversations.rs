//! How to reach a person 1:1: the conversation reference kept from their
//! personal chat with the bot, and posting there.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::{
    clients::connector::ConnectorClient,
    domain::AadObjectId,
    store::{keys, Store},
    teams::OutboundActivity,
};

/// Where to reach a person 1:1.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConversationRef {
    pub conversation_id: String,
    pub service_url: String,
    pub user_id: String,
}

#[derive(Clone)]
pub struct Conversations {
    pub store: Store,
    pub connector: ConnectorClient,
}

impl Conversations {
    /// Remembers how to reach someone 1:1 (from their personal conversation).
    pub async fn remember(&self, aad: &AadObjectId, reference: &ConversationRef) {
        let key = keys::conversation_ref(aad.as_str());
        let value = serde_json::to_string(reference).unwrap_or_default();
        if let Err(error) = self.store.set(&key, &value, keys::REFERENCE_TTL).await {
            tracing::warn!(%error, "conversation reference not kept");
        }
    }

    pub async fn forget(&self, aad: &AadObjectId) {
        if let Err(error) = self
            .store
            .delete(&keys::conversation_ref(aad.as_str()))
            .await
        {
            tracing::warn!(%error, "conversation reference not dropped");
        }
    }

    pub async fn reference(&self, aad: &str) -> Option<ConversationRef> {
        let raw = self.store.get(&keys::conversation_ref(aad)).await.ok()??;
        serde_json::from_str(&raw).ok()
    }

    /// Posts a card to someone 1:1; false when they surely were not reached.
    pub async fn tell(&self, aad: &str, activity: &OutboundActivity, deadline: Instant) -> bool {
        let Some(reference) = self.reference(aad).await else {
            return false;
        };
        match self
            .connector
            .send(
                &reference.service_url,
                &reference.conversation_id,
                None,
                activity,
                deadline,
            )
            .await
        {
            Ok(_) => true,
            // Sent, and the answer lost: it may be there, and is not sent twice.
            Err(error) if error.maybe_delivered() => {
                tracing::warn!(%error, "1:1 message may have been delivered; not sent again");
                true
            }
            Err(error) => {
                tracing::warn!(%error, "1:1 message not delivered");
                false
            }
        }
    }
}
