//! Starting a simulated cloud for a test, and talking to it as a bot would.

use joinchat_sandbox::{Cloud, CloudOptions, World};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

pub const CONNECTOR_SCOPE: &str = "https://api.botframework.com/.default";
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

/// A running demo cloud and an HTTP client.
pub struct TestCloud {
    pub cloud: Cloud,
    pub http: reqwest::Client,
}

pub async fn start_demo() -> TestCloud {
    start(World::demo(), None).await
}

pub async fn start(world: World, bot_endpoint: Option<String>) -> TestCloud {
    let options = CloudOptions {
        listen: "127.0.0.1:0".parse().expect("a socket address"),
        app_id: None,
        app_password: None,
        bot_endpoint,
    };
    let cloud = Cloud::start(world, options)
        .await
        .expect("the cloud starts");
    TestCloud {
        cloud,
        http: reqwest::Client::new(),
    }
}

impl TestCloud {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.cloud.base_url())
    }

    pub fn dataverse_scope(&self) -> String {
        format!("{}/.default", self.cloud.urls().dataverse)
    }

    /// Asks the token endpoint with the app's own credentials.
    pub async fn request_token(&self, form: &[(&str, &str)]) -> Response {
        let url = format!(
            "{}/{}/oauth2/v2.0/token",
            self.cloud.urls().login,
            self.cloud.tenant_id()
        );
        self.http
            .post(url)
            .form(form)
            .send()
            .await
            .expect("the token endpoint answers")
    }

    /// An access token for `scope`, as the bot gets one.
    pub async fn token(&self, scope: &str) -> String {
        let (app_id, password) = (self.cloud.app_id(), self.cloud.app_password());
        let response = self
            .request_token(&[
                ("grant_type", "client_credentials"),
                ("client_id", &app_id),
                ("client_secret", &password),
                ("scope", scope),
            ])
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.expect("JSON");
        body["access_token"]
            .as_str()
            .expect("an access token")
            .to_owned()
    }

    pub async fn get(&self, url: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut request = self.http.get(url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        json_of(request.send().await.expect("the cloud answers")).await
    }

    pub async fn post(&self, url: &str, token: Option<&str>, body: &Value) -> (StatusCode, Value) {
        let mut request = self.http.post(url).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        json_of(request.send().await.expect("the cloud answers")).await
    }

    /// `GET /_sandbox/{path}`.
    pub async fn control(&self, path: &str) -> Value {
        let (status, body) = self
            .get(&self.url(&format!("/_sandbox/{path}")), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }

    pub async fn calls_to(&self, service: &str) -> Vec<Value> {
        let calls = self.control("calls").await;
        calls
            .as_array()
            .expect("an array")
            .iter()
            .filter(|call| call["service"] == service)
            .cloned()
            .collect()
    }

    pub async fn set_fault(&self, fault: Value) {
        let (status, body) = self.post(&self.url("/_sandbox/faults"), None, &fault).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    pub async fn chat(&self, chat_id: &str) -> Value {
        self.control(&format!("chats/{}", encode(chat_id))).await
    }

    /// A world user as `/_sandbox/world` shows them.
    pub async fn user(&self, key: &str) -> Value {
        let world = self.control("world").await;
        let users = world["users"].as_array().expect("users").clone();
        users
            .into_iter()
            .find(|user| user["key"] == key)
            .unwrap_or_else(|| panic!("no user {key}"))
    }
}

pub async fn json_of(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("a body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| json!(text))
    };
    (status, body)
}

/// Percent-encodes a path segment, as clients send chat ids.
pub fn encode(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, percent_encoding::NON_ALPHANUMERIC).to_string()
}

pub const EXPANSION_CHAT: &str = "19:contoso-coffee-expansion@thread.v2";
pub const EXPANSION_LEAD: &str = "8f14e45f-ceea-467f-a0c5-1b2d3e4f5a6b";

/// A small tenant for the permission and matching tests: leads whose names
/// hold SQL wildcards, a chat with the bot and one without, an ordinary chat
/// connected to no record (twice: `connected_to` absent and `[]`), and a
/// disabled user who may write the leads. `app` is appended as written (an
/// `[app]` section, or nothing for joinchat's default permissions).
pub fn tenant_world(app: &str) -> World {
    let text = format!("{TENANT_WORLD}\n{app}\n");
    World::parse(&text, "tenant.toml").expect("the tenant world parses")
}

pub const ACME_LEAD: &str = "8f14e45f-ceea-467f-a0c5-1b2d3e4f5a6b";
/// Connected to the Acme_2024 lead; the bot is not installed here.
pub const ACME_ROOM: &str = "19:acme-room@thread.v2";
/// Connected to the Acme_2024 lead; the bot is installed here (with its RSC).
pub const ACME_BOT_ROOM: &str = "19:acme-bot-room@thread.v2";
/// Connected to no record.
pub const LUNCH: &str = "19:lunch@thread.v2";

pub const TENANT_WORLD: &str = r#"
tenant_id = "contoso.test"
join_chat = ["lead"]

[[users]]
key = "sam"
name = "Sam Rivera"

[[users]]
key = "alex"
name = "Alex Wu"

[[users]]
key = "dana"
name = "Dana Left"
disabled = true

[[records]]
entity = "lead"
id = "8f14e45f-ceea-467f-a0c5-1b2d3e4f5a6b"
name = "Acme_2024"
owner = "sam"
write = ["alex", "dana"]

[[records]]
entity = "lead"
name = "Acme-2024"
owner = "sam"
write = ["alex", "dana"]

[[records]]
entity = "lead"
name = "100% Acme"
owner = "sam"
write = ["alex"]

[[records]]
entity = "lead"
name = "100 Acme"
owner = "sam"
write = ["alex"]

[[chats]]
id = "19:acme-room@thread.v2"
topic = "Acme room"
members = ["sam"]
connected_to = ["lead:Acme_2024"]
bot_installed = false

[[chats]]
id = "19:acme-bot-room@thread.v2"
topic = "Acme room with the bot"
members = ["sam"]
connected_to = ["lead:Acme_2024"]

[[chats]]
id = "19:lunch@thread.v2"
topic = "Lunch plans"
members = ["sam"]
messages = [{ from = "sam", text = "Tacos?" }]
bot_installed = false

[[chats]]
id = "19:coffee@thread.v2"
topic = "Coffee"
members = ["sam"]
connected_to = []
"#;
