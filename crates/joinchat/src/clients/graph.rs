//! The Microsoft Graph client: chats, their members, adding a member with
//! the whole history, and installing the bot into a chat. Application token
//! for `https://graph.microsoft.com/.default` whatever URL serves Graph. The
//! only module that knows Graph's paths and JSON.

use std::time::Instant;

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use url::Url;

use crate::{
    auth::{outbound::GRAPH_SCOPE, TokenSource},
    clients::retry::{self, CallError},
    domain::{AadObjectId, ChatId},
};

/// Graph's way of saying "share the entire chat history".
pub const FULL_HISTORY: &str = "0001-01-01T00:00:00Z";

#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error(transparent)]
    Call(#[from] CallError),
    #[error("Graph refused: {0}")]
    Forbidden(String),
    #[error("Graph answered {0} ({1})")]
    Status(u16, String),
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
        }
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
        let response = self.call(Method::GET, &url, None, deadline).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let row: Row = ok_json(response).await?;
        Ok(Some(Chat {
            id: row.id,
            topic: row.topic.unwrap_or_default(),
            web_url: row.web_url,
        }))
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
            let response = self.call(Method::GET, &url, None, deadline).await?;
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

    /// Adds a user to a chat with the entire history visible.
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
        let response = self.call(Method::POST, &url, Some(body), deadline).await?;
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
        Err(match status {
            StatusCode::FORBIDDEN => GraphError::Forbidden(detail.code),
            other => GraphError::Status(other.as_u16(), detail.code),
        })
    }

    /// Installs the bot's Teams app into a chat, so it can post there.
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
            "teamsApp@odata.bind": format!("https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{teams_app_id}"),
        });
        let response = self.call(Method::POST, &url, Some(body), deadline).await?;
        let status = response.status();
        if status.is_success() || status == StatusCode::CONFLICT {
            return Ok(());
        }
        let detail = error_detail(response).await;
        Err(match status {
            StatusCode::FORBIDDEN => GraphError::Forbidden(detail.code),
            other => GraphError::Status(other.as_u16(), detail.code),
        })
    }

    async fn call(
        &self,
        method: Method,
        url: &str,
        body: Option<Value>,
        deadline: Instant,
    ) -> GraphResult<reqwest::Response> {
        Ok(retry::send(&self.tokens, GRAPH_SCOPE, deadline, || {
            let request = self.http.request(method.clone(), url);
            match &body {
                Some(body) => request.json(body),
                None => request,
            }
        })
        .await?)
    }
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
