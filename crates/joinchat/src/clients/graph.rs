//! The Microsoft Graph client: chats, their members, adding a member with
//! the whole history, installing the bot into a chat (consenting to the
//! Teams app's resource-specific permissions) and for a person (their 1:1
//! chat with the bot). Application token for
//! `https://graph.microsoft.com/.default` whatever URL serves Graph. The only
//! module that knows Graph's paths and JSON.
//!
//! A 403 is a setup problem, not a passing failure: the app registration
//! lacks a permission. Every one is logged with what Graph says is missing
//! and counted (`joinchat_setup_refusals_total`), whichever call met it.
//!
//! Adding a member and installing the app are never repeated blindly
//! ([`Idempotency::CheckFirst`]): after an answer that leaves the outcome
//! unknown, the add looks at the chat's members before adding again, and the
//! install is looked up by its caller (a post into the chat tells).

use std::time::{Duration, Instant};

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use url::Url;

mod users;

use crate::{
    auth::{outbound::GRAPH_SCOPE, TokenSource},
    clients::retry::{self, CallError, Idempotency},
    domain::{AadObjectId, ChatId},
    permissions::RSC_PERMISSIONS,
};

/// How many times one add is sent at most, each after looking at the members.
const MAX_ADD_ATTEMPTS: u32 = 3;

/// The most of a join's remaining budget an add keeps back for looking at
/// the members should its answer be lost (a quarter of what remains, up to
/// this): an add is sent only with time left to find out whether it
/// happened, so the person is never told to try again after an add that
/// did happen.
const ADD_CONFIRM_RESERVE: Duration = Duration::from_secs(2);

/// Graph's way of saying "share the entire chat history".
pub const FULL_HISTORY: &str = "0001-01-01T00:00:00Z";

#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error(transparent)]
    Call(#[from] CallError),
    /// 403: the app lacks a permission (Graph's message says which).
    #[error("Graph refused ({code}): {message}")]
    Forbidden { code: String, message: String },
    #[error("Graph answered {0} ({1})")]
    Status(u16, String),
}

impl GraphError {
    /// What Graph said the call requires, from its "Missing role permissions
    /// on the request. API requires one of '…'." message.
    pub fn missing_permissions(&self) -> Option<&str> {
        let GraphError::Forbidden { message, .. } = self else {
            return None;
        };
        let (_, rest) = message.split_once("requires one of '")?;
        rest.split_once('\'').map(|(listed, _)| listed)
    }
}

impl GraphError {
    /// A short, fixed name for the kind of failure (audit events): never
    /// Graph's message, never a token.
    pub fn kind(&self) -> &'static str {
        match self {
            GraphError::Call(error) => error.kind(),
            GraphError::Forbidden { .. } => "forbidden",
            GraphError::Status(..) => "refused",
        }
    }

    /// Whether the call may have taken effect although it failed.
    pub fn is_uncertain(&self) -> bool {
        matches!(self, GraphError::Call(error) if error.is_uncertain())
    }
}

pub type GraphResult<T> = Result<T, GraphError>;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct Chat {
    pub id: String,
    pub topic: String,
    pub web_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub aad: String,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddOutcome {
    Added,
    AlreadyMember,
}

#[derive(Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    tokens: TokenSource,
    base: String,
    /// `joinchat_setup_refusals_total`, when the app counts them.
    refusals: Option<prometheus::IntCounterVec>,
}

#[derive(Deserialize)]
struct GraphErrorBody {
    error: GraphErrorDetail,
}

#[derive(Deserialize)]
struct GraphErrorDetail {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

impl GraphClient {
    pub fn new(http: reqwest::Client, tokens: TokenSource, graph_url: &Url) -> GraphClient {
        GraphClient {
            http,
            tokens,
            base: format!("{}/v1.0", graph_url.as_str().trim_end_matches('/')),
            refusals: None,
        }
    }

    /// Counts every 403 in `counter` (labels: service, call).
    pub fn counting_refusals(mut self, counter: prometheus::IntCounterVec) -> GraphClient {
        self.refusals = Some(counter);
        self
    }

    /// A chat's topic and link; `None` when Graph doesn't know it.
    pub async fn chat(&self, chat: &ChatId, deadline: Instant) -> GraphResult<Option<Chat>> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Row {
            id: String,
            #[serde(default)]
            topic: Option<String>,
            #[serde(default)]
            web_url: Option<String>,
        }
        let url = format!("{}/chats/{}", self.base, encode(chat.as_str()));
        let row: Option<Row> = self.get_if_found("GET /chats/{id}", &url, deadline).await?;
        Ok(row.map(|row| Chat {
            id: row.id,
            topic: row.topic.unwrap_or_default(),
            web_url: row.web_url,
        }))
    }

    /// A document Graph may not have: `None` on 404.
    async fn get_if_found<T: serde::de::DeserializeOwned>(
        &self,
        what: &'static str,
        url: &str,
        deadline: Instant,
    ) -> GraphResult<Option<T>> {
        let response = self
            .call(what, Idempotency::Safe, Method::GET, url, None, deadline)
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        ok_json(response).await.map(Some)
    }

    /// The chat's members (Entra users only).
    pub async fn members(&self, chat: &ChatId, deadline: Instant) -> GraphResult<Vec<Member>> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Row {
            #[serde(default)]
            user_id: Option<String>,
            #[serde(default)]
            display_name: Option<String>,
        }
        #[derive(Deserialize)]
        struct Page {
            value: Vec<Row>,
            #[serde(rename = "@odata.nextLink", default)]
            next: Option<String>,
        }
        let mut url = format!("{}/chats/{}/members", self.base, encode(chat.as_str()));
        let mut members = Vec::new();
        for _ in 0..20 {
            let response = self
                .call(
                    "GET /chats/{id}/members",
                    Idempotency::Safe,
                    Method::GET,
                    &url,
                    None,
                    deadline,
                )
                .await?;
            let page: Page = ok_json(response).await?;
            members.extend(page.value.into_iter().filter_map(|row| {
                Some(Member {
                    aad: row.user_id?.to_ascii_lowercase(),
                    name: row.display_name.unwrap_or_default(),
                })
            }));
            match page.next {
                Some(next) => url = next,
                None => break,
            }
        }
        Ok(members)
    }

    /// Adds a user to a chat with the entire history visible. The caller has
    /// just seen that the user is not a member (under the join lock, or in
    /// the roster an ask's Add read), so when an answer leaves the outcome
    /// unknown and the user is now a member, it was this add: `Added`.
    /// Otherwise the add is repeated only after looking, while the budget allows.
    pub async fn add_member(
        &self,
        chat: &ChatId,
        user: &AadObjectId,
        deadline: Instant,
    ) -> GraphResult<AddOutcome> {
        let url = format!("{}/chats/{}/members", self.base, encode(chat.as_str()));
        let body = json!({
            "@odata.type": "#microsoft.graph.aadUserConversationMember",
            "user@odata.bind": format!("https://graph.microsoft.com/v1.0/users('{}')", user.as_str()),
            "visibleHistoryStartDateTime": FULL_HISTORY,
            "roles": ["owner"],
        });
        let remaining = deadline.saturating_duration_since(Instant::now());
        let add_deadline = deadline - (remaining / 4).min(ADD_CONFIRM_RESERVE);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let sent = self
                .call(
                    "POST /chats/{id}/members",
                    Idempotency::CheckFirst,
                    Method::POST,
                    &url,
                    Some(body.clone()),
                    add_deadline,
                )
                .await;
            let response = match sent {
                Ok(response) => response,
                Err(error) if error.is_uncertain() => {
                    tracing::info!(%error, "Graph add answered ambiguously; looking at the members");
                    let members = match self.members(chat, deadline).await {
                        Ok(members) => members,
                        // Still unknown: say the add's own failure.
                        Err(_) => return Err(error),
                    };
                    if members
                        .iter()
                        .any(|m| m.aad.eq_ignore_ascii_case(user.as_str()))
                    {
                        return Ok(AddOutcome::Added);
                    }
                    if attempt >= MAX_ADD_ATTEMPTS
                        || !retry::pause_before_repeat(attempt, add_deadline).await
                    {
                        return Err(error);
                    }
                    continue;
                }
                Err(error) => return Err(error),
            };
            let status = response.status();
            if status.is_success() {
                return Ok(AddOutcome::Added);
            }
            let detail = error_detail(response).await;
            // Graph documents no answer for adding a member twice; the groups API
            // says "already exist", which is success for us.
            if status == StatusCode::BAD_REQUEST && detail.message.contains("already exist") {
                return Ok(AddOutcome::AlreadyMember);
            }
            return Err(GraphError::Status(status.as_u16(), detail.code));
        }
    }

    /// Installs the bot's Teams app into a chat, so it can post there,
    /// consenting to the resource-specific permissions its manifest declares
    /// (Graph refuses an install whose consent differs from the app's definition).
    /// Not repeated after an uncertain answer: the caller finds out by posting
    /// (`admin::Notifier`).
    pub async fn install_app(
        &self,
        chat: &ChatId,
        teams_app_id: &str,
        deadline: Instant,
    ) -> GraphResult<()> {
        let url = format!(
            "{}/chats/{}/installedApps",
            self.base,
            encode(chat.as_str())
        );
        let body = json!({
            "teamsApp@odata.bind": catalog_bind(teams_app_id),
            "consentedPermissionSet": consented_permission_set(),
        });
        self.install(
            "POST /chats/{id}/installedApps",
            Idempotency::CheckFirst,
            &url,
            body,
            deadline,
        )
        .await
    }

    /// Posts an installation; success, and 409 (already installed), are done.
    async fn install(
        &self,
        endpoint: &'static str,
        idempotency: Idempotency,
        url: &str,
        body: Value,
        deadline: Instant,
    ) -> GraphResult<()> {
        let response = self
            .call(
                endpoint,
                idempotency,
                Method::POST,
                url,
                Some(body),
                deadline,
            )
            .await?;
        let status = response.status();
        if status.is_success() || status == StatusCode::CONFLICT {
            return Ok(());
        }
        let detail = error_detail(response).await;
        Err(GraphError::Status(status.as_u16(), detail.code))
    }

    /// Sends one call (`what` names it in logs and metrics); a 403 comes back
    /// as `GraphError::Forbidden`, logged and counted.
    async fn call(
        &self,
        what: &'static str,
        idempotency: Idempotency,
        method: Method,
        url: &str,
        body: Option<Value>,
        deadline: Instant,
    ) -> GraphResult<reqwest::Response> {
        let response = retry::send(&self.tokens, GRAPH_SCOPE, idempotency, deadline, || {
            let request = self.http.request(method.clone(), url);
            match &body {
                Some(body) => request.json(body),
                None => request,
            }
        })
        .await?;
        if response.status() != StatusCode::FORBIDDEN {
            return Ok(response);
        }
        let detail = error_detail(response).await;
        let refusal = GraphError::Forbidden {
            code: detail.code,
            message: detail.message,
        };
        if let Some(counter) = &self.refusals {
            counter.with_label_values(&["graph", what]).inc();
        }
        tracing::warn!(
            call = what,
            missing = refusal.missing_permissions().unwrap_or("(not said)"),
            error = %refusal,
            "Graph refused the bot: its app registration lacks a permission; `joinchat doctor` names what to grant"
        );
        Err(refusal)
    }
}

/// The install body's consent: every RSC permission of the Teams manifest, as
/// Application permissions.
fn consented_permission_set() -> Value {
    let listed: Vec<Value> = RSC_PERMISSIONS
        .iter()
        .map(|permission| json!({"permissionValue": permission, "permissionType": "Application"}))
        .collect();
    json!({ "resourceSpecificPermissions": listed })
}

/// How an installation names the app: its entry in the tenant's catalog.
fn catalog_bind(teams_app_id: &str) -> String {
    format!("https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{teams_app_id}")
}

async fn ok_json<T: serde::de::DeserializeOwned>(response: reqwest::Response) -> GraphResult<T> {
    let status = response.status();
    if !status.is_success() {
        let detail = error_detail(response).await;
        return Err(GraphError::Status(status.as_u16(), detail.code));
    }
    response
        .json()
        .await
        .map_err(|_| GraphError::Status(status.as_u16(), "unexpected document".into()))
}

async fn error_detail(response: reqwest::Response) -> GraphErrorDetail {
    response
        .json::<GraphErrorBody>()
        .await
        .map(|body| body.error)
        .unwrap_or(GraphErrorDetail {
            code: String::new(),
            message: String::new(),
        })
}

fn encode(segment: &str) -> String {
    utf8_percent_encode(segment, NON_ALPHANUMERIC).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_what_graph_says_is_missing() {
        let refusal = GraphError::Forbidden {
            code: "Forbidden".into(),
            message: "Missing role permissions on the request. API requires one of 'Chat.ReadBasic.All, Chat.Read.All'. Roles on the request ''.".into(),
        };
        assert_eq!(
            refusal.missing_permissions(),
            Some("Chat.ReadBasic.All, Chat.Read.All")
        );
        let other = GraphError::Forbidden {
            code: "Forbidden".into(),
            message: "Installing apps in this chat is not allowed.".into(),
        };
        assert_eq!(other.missing_permissions(), None);
        assert_eq!(
            GraphError::Status(404, "NotFound".into()).missing_permissions(),
            None
        );
    }

    #[test]
    fn the_install_consents_to_exactly_the_manifests_rsc_permissions() {
        let set = consented_permission_set();
        let listed = set["resourceSpecificPermissions"].as_array().unwrap();
        assert_eq!(listed.len(), RSC_PERMISSIONS.len());
        for (entry, permission) in listed.iter().zip(RSC_PERMISSIONS) {
            assert_eq!(entry["permissionValue"], *permission);
            assert_eq!(entry["permissionType"], "Application");
        }
    }
}
