//! Posting into a group chat on the bot's behalf: the joined notice and the
//! ask cards. When the bot is not in the chat it installs itself there
//! through Graph (when it has the Teams app id) and posts again.

use std::time::Instant;

use crate::{
    clients::connector::{ConnectorClient, ConnectorError},
    clients::graph::GraphClient,
    domain::ChatId,
    teams::OutboundActivity,
};

#[derive(Clone)]
pub struct Notifier {
    pub connector: ConnectorClient,
    pub graph: GraphClient,
    /// The Teams app catalog id, to install the bot into a chat.
    pub teams_app_id: Option<String>,
}

impl Notifier {
    /// Posts into a group chat, installing the bot there first when it is
    /// missing and an app id is configured. The posted activity's id, or
    /// `None` when the bot cannot post there.
    pub async fn post_in_chat(
        &self,
        chat: &ChatId,
        service_url: &str,
        activity: &OutboundActivity,
        deadline: Instant,
    ) -> Option<String> {
        let send = || {
            self.connector
                .send(service_url, chat.as_str(), None, activity, deadline)
        };
        match send().await {
            Ok(posted) => return Some(posted.id),
            Err(ConnectorError::NotInConversation) => {}
            Err(error) => {
                tracing::warn!(%error, "post into the chat failed");
                return None;
            }
        }
        let app_id = self.teams_app_id.as_ref()?;
        if let Err(error) = self.graph.install_app(chat, app_id, deadline).await {
            tracing::info!(%error, "could not install the bot in the chat");
            return None;
        }
        send().await.ok().map(|posted| posted.id)
    }
}
