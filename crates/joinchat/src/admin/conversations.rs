//! How to reach a person 1:1: the conversation reference kept from their
//! personal chat with the bot, and posting there. Someone who never talked
//! to the bot has no reference: the bot installs its Teams app for them
//! through Graph (when it knows its app id), which gives it a 1:1 chat with
//! them, and posts there — under the Connector learnt from activities, or
//! the configured one.

use std::{
    sync::{Arc, Mutex},
    time::Instant,
};

use serde::{Deserialize, Serialize};

use crate::{
    clients::connector::{ConnectorClient, ConnectorError},
    clients::graph::{GraphClient, GraphError},
    domain::AadObjectId,
    store::{keys, Store},
    teams::OutboundActivity,
};

/// Teams' global Bot Connector, for a 1:1 chat found through Graph before
/// any activity taught the bot its region's.
pub const DEFAULT_SERVICE_URL: &str = "https://smba.trafficmanager.net/teams/";

/// Where to reach a person 1:1.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConversationRef {
    pub conversation_id: String,
    pub service_url: String,
    /// Their Teams user id (`29:…`); empty for a chat found through Graph.
    pub user_id: String,
}

/// How a 1:1 message reached the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reached {
    /// Through the conversation they have with the bot.
    Known,
    /// The app was installed for them first (or its chat looked up).
    Installed,
}

#[derive(Debug, thiserror::Error)]
pub enum ReachError {
    /// No conversation known, and none to be had (no app id, or Graph knows
    /// no such person or installation).
    #[error("no 1:1 conversation with the person")]
    NoConversation,
    #[error("installing the app for the person failed: {0}")]
    Graph(#[from] GraphError),
    #[error("posting 1:1 failed: {0}")]
    Connector(#[from] ConnectorError),
}

impl ReachError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            ReachError::NoConversation => false,
            ReachError::Graph(GraphError::Call(_)) => true,
            ReachError::Graph(GraphError::Status(status, _)) => *status >= 500 || *status == 429,
            ReachError::Graph(GraphError::Forbidden { .. }) => false,
            ReachError::Connector(error) => error.is_transient(),
        }
    }
}

#[derive(Clone)]
pub struct Conversations {
    store: Store,
    connector: ConnectorClient,
    graph: GraphClient,
    /// The Teams app catalog id, to install the app for a person.
    teams_app_id: Option<String>,
    /// `JOINCHAT_SERVICE_URL`: the Connector for chats found through Graph.
    service_url: Option<String>,
    /// The `serviceUrl` this replica last wrote to the store, so that it is
    /// written once, not on every message.
    learnt: Arc<Mutex<Option<String>>>,
}

impl Conversations {
    pub fn new(
        store: Store,
        connector: ConnectorClient,
        graph: GraphClient,
        teams_app_id: Option<String>,
        service_url: Option<String>,
    ) -> Conversations {
        Conversations {
            store,
            connector,
            graph,
            teams_app_id,
            service_url,
            learnt: Arc::new(Mutex::new(None)),
        }
    }

    /// Remembers how to reach someone 1:1 (from their personal conversation),
    /// and the Connector it came through.
    pub async fn remember(&self, aad: &AadObjectId, reference: &ConversationRef) {
        self.keep(aad, reference).await;
        let fresh = {
            let mut learnt = self.learnt.lock().unwrap_or_else(|e| e.into_inner());
            let fresh = learnt.as_deref() != Some(reference.service_url.as_str());
            if fresh {
                *learnt = Some(reference.service_url.clone());
            }
            fresh
        };
        if fresh {
            if let Err(error) = self
                .store
                .set(
                    keys::SERVICE_URL,
                    &reference.service_url,
                    keys::REFERENCE_TTL,
                )
                .await
            {
                tracing::warn!(%error, "service URL not kept");
            }
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

    /// Posts to someone 1:1; false when they surely were not reached.
    pub async fn tell(&self, aad: &str, activity: &OutboundActivity, deadline: Instant) -> bool {
        let Ok(aad) = AadObjectId::parse(aad) else {
            return false;
        };
        match self.send(&aad, activity, deadline).await {
            Ok(_) => true,
            // Sent, and the answer lost: it may be there, and is not sent twice.
            Err(ReachError::Connector(error)) if error.maybe_delivered() => {
                tracing::warn!(%error, "1:1 message may have been delivered; not sent again");
                true
            }
            Err(error) => {
                tracing::warn!(%error, "1:1 message not delivered");
                false
            }
        }
    }

    /// Posts to someone 1:1: in the conversation they have with the bot, else
    /// (or when that one is gone) in the one installing the app gives.
    pub async fn send(
        &self,
        aad: &AadObjectId,
        activity: &OutboundActivity,
        deadline: Instant,
    ) -> Result<Reached, ReachError> {
        let known = self.reference(aad.as_str()).await;
        self.send_via(aad, known, activity, deadline).await
    }

    /// The same, for a caller that already read the person's reference
    /// (`known`, from [`Conversations::reference`]).
    pub async fn send_via(
        &self,
        aad: &AadObjectId,
        known: Option<ConversationRef>,
        activity: &OutboundActivity,
        deadline: Instant,
    ) -> Result<Reached, ReachError> {
        if let Some(reference) = known {
            match self.post(&reference, activity, deadline).await {
                Ok(()) => return Ok(Reached::Known),
                // The app was removed for them (or the chat is gone): the
                // reference is stale; installing again gives a new one.
                Err(ConnectorError::NotFound | ConnectorError::NotInConversation) => {
                    self.forget(aad).await;
                }
                Err(error) => return Err(error.into()),
            }
        }
        let reference = self.install_for(aad, deadline).await?;
        self.post(&reference, activity, deadline).await?;
        Ok(Reached::Installed)
    }

    /// Installs the app for the person (already installed is fine) and finds
    /// its 1:1 chat with them; keeps the reference for next time.
    async fn install_for(
        &self,
        aad: &AadObjectId,
        deadline: Instant,
    ) -> Result<ConversationRef, ReachError> {
        let app_id = self
            .teams_app_id
            .as_deref()
            .ok_or(ReachError::NoConversation)?;
        match self.graph.install_for_user(aad, app_id, deadline).await {
            Ok(()) => {}
            // Graph knows no such user (or no such app in the catalog).
            Err(GraphError::Status(404, _)) => return Err(ReachError::NoConversation),
            Err(error) => return Err(error.into()),
        }
        let installation = self
            .graph
            .user_installation(aad, app_id, deadline)
            .await?
            .ok_or(ReachError::NoConversation)?;
        let chat = self
            .graph
            .installation_chat(aad, &installation, deadline)
            .await?
            .ok_or(ReachError::NoConversation)?;
        let reference = ConversationRef {
            conversation_id: chat,
            service_url: self.service_url().await,
            user_id: String::new(),
        };
        tracing::info!(
            user.aad = aad.as_str(),
            "installed the app for a person to reach them 1:1"
        );
        self.keep(aad, &reference).await;
        Ok(reference)
    }

    /// The Connector for a chat found through Graph: configured, else learnt
    /// from activities, else Teams' global one.
    async fn service_url(&self) -> String {
        if let Some(configured) = &self.service_url {
            return configured.clone();
        }
        match self.store.get(keys::SERVICE_URL).await {
            Ok(Some(learnt)) if !learnt.is_empty() => learnt,
            _ => DEFAULT_SERVICE_URL.to_owned(),
        }
    }

    async fn keep(&self, aad: &AadObjectId, reference: &ConversationRef) {
        let key = keys::conversation_ref(aad.as_str());
        let value = serde_json::to_string(reference).unwrap_or_default();
        if let Err(error) = self.store.set(&key, &value, keys::REFERENCE_TTL).await {
            tracing::warn!(%error, "conversation reference not kept");
        }
    }

    async fn post(
        &self,
        reference: &ConversationRef,
        activity: &OutboundActivity,
        deadline: Instant,
    ) -> Result<(), ConnectorError> {
        self.connector
            .send(
                &reference.service_url,
                &reference.conversation_id,
                None,
                activity,
                deadline,
            )
            .await
            .map(|_| ())
    }
}
