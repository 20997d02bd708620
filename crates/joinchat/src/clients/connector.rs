//! The Bot Connector client: posts, replies, card updates, proactive 1:1
//! conversations and chat rosters, under the `serviceUrl` of a verified
//! activity, with a Connector-scoped token — except to a local Connector of
//! the anonymous mode (`auth::local`), which gets no token at all. The only
//! module that knows the Connector's paths.
//!
//! A post takes no idempotency key, and nothing says afterwards whether it
//! arrived, so it is sent again only when it surely was not delivered (a 429,
//! a connection refused, a token refreshed after a 401) — never after a 5xx
//! or a timeout ([`Idempotency::Never`]); such a failure comes back as
//! [`ConnectorError::maybe_delivered`]. Updates (PUT of the same card) and
//! reads are repeated freely.

use std::time::Instant;

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use reqwest::Method;
use serde::Deserialize;

use crate::{
    auth::{outbound::CONNECTOR_SCOPE, LocalConnectors, TokenError, TokenSource},
    clients::retry::{self, CallError, Idempotency},
    teams::OutboundActivity,
};

#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error(transparent)]
    Call(#[from] CallError),
    #[error("the bot is not in that conversation")]
    NotInConversation,
    #[error("conversation not found")]
    NotFound,
    #[error("connector answered {0}")]
    Status(u16),
}

impl ConnectorError {
    /// Whether trying again later may succeed (throttling, outages), as
    /// opposed to a refusal that will not change.
    pub fn is_transient(&self) -> bool {
        match self {
            // Wrong credentials stay wrong until someone fixes the configuration.
            ConnectorError::Call(CallError::Token(TokenError::Refused(_))) => false,
            // Maybe delivered: trying again could say it twice.
            ConnectorError::Call(CallError::Uncertain(_)) => false,
            ConnectorError::Call(_) => true,
            ConnectorError::Status(status) => *status >= 500 || *status == 429,
            ConnectorError::NotInConversation | ConnectorError::NotFound => false,
        }
    }

    /// Whether the post may have arrived although it failed (a 5xx, a
    /// timeout, a connection lost after sending): never sent again.
    pub fn maybe_delivered(&self) -> bool {
        matches!(self, ConnectorError::Call(error) if error.is_uncertain())
    }
}

#[derive(Clone)]
pub struct ConnectorClient {
    http: reqwest::Client,
    tokens: TokenSource,
    /// Connectors reached without a token (empty unless in the anonymous mode).
    local: LocalConnectors,
}

#[derive(Debug, Deserialize)]
pub struct ResourceResponse {
    #[serde(default)]
    pub id: String,
}

/// One person in a conversation, as the Connector lists them.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationMember {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub aad_object_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PagedMembers {
    #[serde(default)]
    members: Vec<ConversationMember>,
    #[serde(default)]
    continuation_token: Option<String>,
}

impl ConnectorClient {
    pub fn new(
        http: reqwest::Client,
        tokens: TokenSource,
        local: LocalConnectors,
    ) -> ConnectorClient {
        ConnectorClient {
            http,
            tokens,
            local,
        }
    }

    /// Posts `activity` into a conversation, as a reply when `reply_to` is set.
    pub async fn send(
        &self,
        service_url: &str,
        conversation_id: &str,
        reply_to: Option<&str>,
        activity: &OutboundActivity,
        deadline: Instant,
    ) -> Result<ResourceResponse, ConnectorError> {
        let mut url = format!(
            "{}/activities",
            conversation_url(service_url, conversation_id)
        );
        if let Some(reply_to) = reply_to {
            url.push('/');
            url.push_str(&encode(reply_to));
        }
        self.call_json(
            service_url,
            Idempotency::Never,
            Method::POST,
            &url,
            Some(serde_json::to_value(activity).unwrap_or_default()),
            deadline,
        )
        .await
    }

    /// Replaces a message the bot posted earlier (card updates).
    pub async fn update(
        &self,
        service_url: &str,
        conversation_id: &str,
        activity_id: &str,
        activity: &OutboundActivity,
        deadline: Instant,
    ) -> Result<ResourceResponse, ConnectorError> {
        let url = format!(
            "{}/activities/{}",
            conversation_url(service_url, conversation_id),
            encode(activity_id)
        );
        // The same card put twice is the same card.
        self.call_json(
            service_url,
            Idempotency::Safe,
            Method::PUT,
            &url,
            Some(serde_json::to_value(activity).unwrap_or_default()),
            deadline,
        )
        .await
    }

    /// Everyone in a conversation the bot is part of.
    pub async fn members(
        &self,
        service_url: &str,
        conversation_id: &str,
        deadline: Instant,
    ) -> Result<Vec<ConversationMember>, ConnectorError> {
        let base = format!(
            "{}/pagedmembers",
            conversation_url(service_url, conversation_id)
        );
        let mut members = Vec::new();
        let mut continuation: Option<String> = None;
        // Teams pages rosters; a chat has at most a few hundred people.
        for _ in 0..20 {
            let url = match &continuation {
                Some(token) => format!("{base}?continuationToken={}", encode(token)),
                None => base.clone(),
            };
            let page: PagedMembers = self
                .call_json(
                    service_url,
                    Idempotency::Safe,
                    Method::GET,
                    &url,
                    None,
                    deadline,
                )
                .await?;
            members.extend(page.members);
            continuation = page.continuation_token.filter(|t| !t.is_empty());
            if continuation.is_none() {
                break;
            }
        }
        Ok(members)
    }

    async fn call_json<T: serde::de::DeserializeOwned>(
        &self,
        service_url: &str,
        idempotency: Idempotency,
        method: Method,
        url: &str,
        body: Option<serde_json::Value>,
        deadline: Instant,
    ) -> Result<T, ConnectorError> {
        let build = || {
            let request = self.http.request(method.clone(), url);
            match &body {
                Some(body) => request.json(body),
                None => request,
            }
        };
        let response = if self.local.is_local(service_url) {
            retry::send_without_token(idempotency, deadline, build).await?
        } else {
            retry::send(&self.tokens, CONNECTOR_SCOPE, idempotency, deadline, build).await?
        };
        let status = response.status().as_u16();
        match status {
            200..=299 => Ok(response
                .json()
                .await
                .map_err(|_| ConnectorError::Status(status))?),
            403 => Err(ConnectorError::NotInConversation),
            404 => Err(ConnectorError::NotFound),
            other => Err(ConnectorError::Status(other)),
        }
    }
}

fn with_slash(service_url: &str) -> String {
    if service_url.ends_with('/') {
        service_url.to_owned()
    } else {
        format!("{service_url}/")
    }
}

fn conversation_url(service_url: &str, conversation_id: &str) -> String {
    format!(
        "{}v3/conversations/{}",
        with_slash(service_url),
        encode(conversation_id)
    )
}

fn encode(segment: &str) -> String {
    utf8_percent_encode(segment, NON_ALPHANUMERIC).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connector_paths_join_with_and_without_the_trailing_slash() {
        for service_url in [
            "http://localhost:56150/_connector",
            "http://localhost:56150/_connector/",
        ] {
            assert_eq!(
                conversation_url(service_url, "19:abc@thread.v2"),
                "http://localhost:56150/_connector/v3/conversations/19%3Aabc%40thread%2Ev2"
            );
        }
        assert_eq!(
            conversation_url("https://smba.trafficmanager.net/amer/", "a:1"),
            "https://smba.trafficmanager.net/amer/v3/conversations/a%3A1"
        );
    }
}
