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
        dataverse_webhook_key: None,
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

impl TestCloud {
    /// `POST {graph}/v1.0/users/{aad}/teamwork/installedApps` for the bot's
    /// app, with the app's own Graph token: the status and body.
    pub async fn install_for(&self, key: &str) -> (StatusCode, Value) {
        let token = self.token(GRAPH_SCOPE).await;
        let user = self.user(key).await;
        let url = format!(
            "{}/v1.0/users/{}/teamwork/installedApps",
            self.cloud.urls().graph,
            user["aad_object_id"].as_str().expect("an object id")
        );
        let body = json!({
            "teamsApp@odata.bind": format!(
                "https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{}",
                self.cloud.teams_app_id()
            )
        });
        self.post(&url, Some(&token), &body).await
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

/// One request a [`Receiver`] got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The value of one query parameter, decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }
}

/// A tiny HTTP server that keeps every request it gets and answers each with
/// `status` (200 unless set): a stand-in for a bot where a test wants to see
/// exactly what the cloud sent.
#[derive(Clone)]
pub struct Receiver {
    address: std::net::SocketAddr,
    received: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
    arrivals: tokio::sync::watch::Sender<usize>,
    status: std::sync::Arc<std::sync::atomic::AtomicU16>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
        let (arrivals, _) = tokio::sync::watch::channel(0);
        let receiver = Receiver {
            address: "127.0.0.1:0".parse().expect("an address"),
            received: Default::default(),
            arrivals,
            status: std::sync::Arc::new(std::sync::atomic::AtomicU16::new(200)),
        };
        let state = web::Data::new(receiver.clone());
        let server = HttpServer::new(move || {
            App::new().app_data(state.clone()).default_service(web::to(
                |receiver: web::Data<Receiver>, req: HttpRequest, body: web::Bytes| async move {
                    let request = Received {
                        path: req.path().to_owned(),
                        query: req.query_string().to_owned(),
                        headers: req
                            .headers()
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                            .collect(),
                        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                    };
                    let count = {
                        let mut received = receiver.received.lock().unwrap();
                        received.push(request);
                        received.len()
                    };
                    receiver.arrivals.send_replace(count);
                    let status = receiver.status.load(std::sync::atomic::Ordering::SeqCst);
                    HttpResponse::build(
                        actix_web::http::StatusCode::from_u16(status).expect("a status"),
                    )
                    .finish()
                },
            ))
        })
        .workers(1)
        .disable_signals()
        .bind("127.0.0.1:0")
        .expect("the receiver binds");
        let address = server.addrs()[0];
        tokio::spawn(server.run());
        Receiver {
            address,
            ..receiver
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Answers every later request with `status`.
    pub fn answer_with(&self, status: u16) {
        self.status
            .store(status, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until `count` requests have arrived (a test's own timeout is the
    /// only bound), then returns them all.
    pub async fn wait_for(&self, count: usize) -> Vec<Received> {
        let mut arrivals = self.arrivals.subscribe();
        arrivals
            .wait_for(|arrived| *arrived >= count)
            .await
            .expect("the receiver is running");
        self.received()
    }
}
