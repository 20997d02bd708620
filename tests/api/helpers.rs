//! One way in for every black-box test: the simulated cloud and the real bot,
//! both on port 0, with a Redis key prefix of their own when Redis is used.

use std::net::SocketAddr;

use joinchat::{
    config::{Config, DataverseWebhook, Secret, StoreConfig, Tunables},
    App, AppState,
};
use joinchat_sandbox::{ActivityRequest, Cloud, CloudOptions, World};
use serde_json::{json, Value};
use std::sync::Arc;

/// Which store the bot under test uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    Memory,
    /// One Redis server (`JOINCHAT_TEST_REDIS_URL`, default 127.0.0.1:6379).
    Redis,
    /// A Redis Cluster (`JOINCHAT_TEST_REDIS_CLUSTER_URL`, which `scripts/test`
    /// sets after starting one; `scripts/redis-cluster start` does it by hand).
    Cluster,
}

/// Every store: the tests that must hold on each loop over these.
pub const EVERY_STORE: [StoreKind; 3] = [StoreKind::Memory, StoreKind::Redis, StoreKind::Cluster];

impl StoreKind {
    /// The store a test gets: as asked, except that `JOINCHAT_TEST_STORE=redis`
    /// (or `cluster`) runs the tests that ask for the in-process store on
    /// Redis (or the cluster) too, so that CI runs every test on both stores.
    /// A test that asks for Redis or the cluster gets what it asked for.
    pub fn effective(self) -> StoreKind {
        match (self, std::env::var("JOINCHAT_TEST_STORE").as_deref()) {
            (StoreKind::Memory, Ok("redis")) => StoreKind::Redis,
            (StoreKind::Memory, Ok("cluster")) => StoreKind::Cluster,
            _ => self,
        }
    }
}

pub struct TestApp {
    pub bot_url: String,
    pub cloud: Cloud,
    pub http: reqwest::Client,
    pub state: Arc<AppState>,
    pub store: StoreKind,
    /// The prefix this test's keys are configured with (Redis and Cluster).
    pub redis_prefix: Option<String>,
    /// `GET /_sandbox/world`, read once at start.
    pub world: Value,
    handle: actix_web::dev::ServerHandle,
}

/// `TEST_LOG=1 cargo test` shows the bot's and the cloud's logs.
fn init_test_logging() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(
                    "debug,h2=info,hyper=info,rustls=info,reqwest=info",
                ))
                .with_test_writer()
                .try_init();
        }
    });
}

pub fn local() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

pub use crate::redis_watch::RedisWatch;

pub fn redis_url() -> String {
    std::env::var("JOINCHAT_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// The test cluster's URL (`redis+cluster://host:port,…`). Never skipped:
/// without a cluster the cluster tests fail, saying how to get one.
pub fn cluster_url() -> String {
    match std::env::var("JOINCHAT_TEST_REDIS_CLUSTER_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "JOINCHAT_TEST_REDIS_CLUSTER_URL is not set: run scripts/test, or \
             `eval \"$(scripts/redis-cluster start)\"` first"
        ),
    }
}

/// The cluster's nodes as `host:port`, from [`cluster_url`].
pub fn cluster_nodes() -> Vec<String> {
    let url = cluster_url();
    let (_, hosts) = url.split_once("://").expect("a cluster URL");
    let hosts = hosts.rsplit_once('@').map_or(hosts, |(_, hosts)| hosts);
    hosts
        .trim_end_matches('/')
        .split(',')
        .map(|h| h.trim().to_owned())
        .collect()
}

/// The store configuration of `kind` under `prefix`.
pub fn store_config(kind: StoreKind, prefix: Option<String>) -> StoreConfig {
    match (kind, prefix) {
        (StoreKind::Memory, _) | (_, None) => StoreConfig::Memory,
        (StoreKind::Redis, Some(prefix)) => StoreConfig::Redis {
            url: Secret::new(redis_url()),
            prefix,
        },
        (StoreKind::Cluster, Some(prefix)) => StoreConfig::parse(Some(cluster_url()), Some(prefix))
            .expect("JOINCHAT_TEST_REDIS_CLUSTER_URL is a valid cluster URL"),
    }
}

/// The prefix the keys of a store under `prefix` really carry (in a
/// cluster, the hash tag the bot makes of it).
pub fn key_prefix(kind: StoreKind, prefix: &str) -> String {
    match kind {
        StoreKind::Cluster => joinchat::store::keys::cluster_prefix(prefix).unwrap(),
        _ => prefix.to_owned(),
    }
}

/// A fresh cloud (demo world) and bot.
pub async fn spawn_app(store: StoreKind) -> TestApp {
    spawn_app_with(World::demo(), store, |_| {}).await
}

pub async fn spawn_app_with(
    world: World,
    store: StoreKind,
    tweak: impl FnOnce(&mut Config),
) -> TestApp {
    let cloud = Cloud::start(
        world,
        CloudOptions {
            listen: local(),
            app_id: None,
            app_password: None,
            bot_endpoint: None,
            dataverse_webhook_key: None,
        },
    )
    .await
    .expect("the cloud starts");
    spawn_bot(cloud, store, tweak).await
}

/// Starts a bot against an existing cloud (several bots may share one cloud).
pub async fn spawn_bot(cloud: Cloud, store: StoreKind, tweak: impl FnOnce(&mut Config)) -> TestApp {
    init_test_logging();
    let redis_prefix =
        (store.effective() != StoreKind::Memory).then(|| format!("test:{}:", uuid::Uuid::new_v4()));
    let store = store.effective();
    let mut config = test_config(&cloud, store, redis_prefix.clone());
    tweak(&mut config);
    let app = App::build(config).await.expect("the bot starts");
    let bot_url = format!("http://{}", app.local_addr());
    cloud.set_bot_endpoint(format!("{bot_url}/api/messages"));
    let state = app.state();
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    let http = reqwest::Client::new();
    let world: Value = http
        .get(format!("{}/_sandbox/world", cloud.base_url()))
        .send()
        .await
        .expect("the control API answers")
        .json()
        .await
        .expect("the world is JSON");
    TestApp {
        world,
        bot_url,
        cloud,
        http,
        state,
        store,
        redis_prefix,
        handle,
    }
}

/// A second bot on the same cloud and the same Redis keys (one server or a
/// cluster) as `first`: two replicas of one deployment.
pub async fn spawn_replica(first: &TestApp) -> TestApp {
    let prefix = first.redis_prefix.clone().expect("replicas share Redis");
    let mut replica = spawn_bot(first.cloud.clone(), first.store, |config| {
        config.store = store_config(first.store, Some(prefix.clone()));
    })
    .await;
    replica.redis_prefix = Some(prefix);
    replica
}

/// A bot whose Redis is unreachable (a closed port).
pub async fn spawn_app_with_redis_down() -> TestApp {
    spawn_app_with(World::demo(), StoreKind::Redis, |config| {
        config.store = StoreConfig::Redis {
            url: Secret::new("redis://127.0.0.1:1"),
            prefix: "down:".into(),
        };
    })
    .await
}

pub fn test_config(cloud: &Cloud, store: StoreKind, redis_prefix: Option<String>) -> Config {
    let urls = cloud.urls();
    Config {
        listen: local(),
        app_id: cloud.app_id(),
        app_password: Secret::new(cloud.app_password()),
        tenant_id: cloud.tenant_id(),
        openid_metadata_url: urls.openid_metadata.parse().unwrap(),
        emulator_openid_metadata_url: urls.openid_metadata.parse().unwrap(),
        login_url: urls.login.parse().unwrap(),
        graph_url: urls.graph.parse().unwrap(),
        dataverse_url: urls.dataverse.parse().unwrap(),
        store: store_config(store, redis_prefix),
        allow_emulator: false,
        admin_role: joinchat::config::DEFAULT_ADMIN_ROLE.into(),
        teams_app_id: Some(cloud.teams_app_id()),
        admin_chat: None,
        // Dataverse's webhook registration in the cloud sends this key.
        dataverse_webhook: Some(DataverseWebhook {
            key: Secret::new(cloud.dataverse_webhook_key()),
            header: joinchat::config::DEFAULT_WEBHOOK_HEADER.into(),
        }),
        service_url: Some(urls.connector.clone()),
        playground: false,
        tunables: Tunables::default(),
    }
}

impl TestApp {
    pub fn service_url(&self) -> String {
        self.cloud.urls().connector
    }

    /// A valid channel token, as Teams would send.
    pub fn token(&self) -> String {
        self.cloud.channel_issuer().mint(&self.service_url())
    }

    /// A personal-chat message from a world user (the demo's `alex` by default).
    pub fn message(&self, text: &str) -> Value {
        self.message_from("alex", text)
    }

    /// A personal-chat message from a world user, as the simulated Teams
    /// sends it (the sandbox makes the envelope).
    pub fn message_from(&self, key: &str, text: &str) -> Value {
        self.cloud
            .activity(
                key,
                ActivityRequest::Message {
                    text: text.to_owned(),
                    chat: None,
                },
            )
            .unwrap()
    }

    /// An `adaptiveCard/action` invoke from a world user in their 1:1 chat,
    /// to post directly (the sandbox's `invoke` mints a new id each time).
    pub fn invoke_activity(&self, key: &str, verb: &str, data: &Value) -> Value {
        self.cloud
            .activity(
                key,
                ActivityRequest::Invoke {
                    verb: verb.to_owned(),
                    data: data.clone(),
                    chat: None,
                },
            )
            .unwrap()
    }

    /// The world's user with this key.
    pub fn user(&self, key: &str) -> Value {
        self.world["users"]
            .as_array()
            .and_then(|users| users.iter().find(|u| u["key"] == key))
            .cloned()
            .unwrap_or_else(|| panic!("no user {key} in the world"))
    }

    pub async fn post_activity(&self, activity: &Value, token: Option<&str>) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}/api/messages", self.bot_url))
            .json(activity);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("the bot answers")
    }

    pub async fn post_raw(&self, body: Vec<u8>, authorization: Option<&str>) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}/api/messages", self.bot_url))
            .header("content-type", "application/json")
            .body(body);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        request.send().await.expect("the bot answers")
    }

    /// Every request the cloud received, oldest first (`GET /_sandbox/calls`).
    pub async fn calls(&self) -> Vec<Value> {
        self.http
            .get(format!("{}/_sandbox/calls", self.cloud.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Requests the cloud received for one service (`graph`, `connector`, …).
    pub async fn calls_to(&self, service: &str) -> Vec<Value> {
        let calls = self.calls().await;
        calls
            .into_iter()
            .filter(|c| c["service"] == service)
            .collect()
    }

    /// Graph "add member" requests (`POST /v1.0/chats/{id}/members`).
    pub async fn graph_adds(&self) -> Vec<Value> {
        self.calls_to("graph")
            .await
            .into_iter()
            .filter(|c| {
                c["method"] == "POST" && c["path"].as_str().unwrap_or("").ends_with("/members")
            })
            .collect()
    }

    /// `POST /_sandbox/users/{key}/say` → `{status, activities}`.
    pub async fn say(&self, user: &str, text: &str) -> Value {
        self.control_post(&format!("users/{user}/say"), json!({ "text": text }))
            .await
    }

    pub async fn say_in(&self, user: &str, chat: &str, text: &str) -> Value {
        self.control_post(
            &format!("users/{user}/say"),
            json!({ "text": text, "chat": chat }),
        )
        .await
    }

    /// `POST /_sandbox/users/{key}/invoke` → `{status, body, activities}`.
    pub async fn invoke(&self, user: &str, verb: &str, data: &Value) -> Value {
        self.control_post(
            &format!("users/{user}/invoke"),
            json!({ "verb": verb, "data": data }),
        )
        .await
    }

    pub async fn control_post(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}/_sandbox/{path}", self.cloud.base_url()))
            .json(&body)
            .send()
            .await
            .expect("the control API answers");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.expect("JSON")
    }

    /// `GET /_sandbox/chats/{id}`.
    pub async fn chat(&self, id: &str) -> Value {
        let encoded = percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC);
        self.http
            .get(format!(
                "{}/_sandbox/chats/{encoded}",
                self.cloud.base_url()
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn fault(&self, fault: Value) {
        self.control_post("faults", fault).await;
    }

    /// The audit trail as the bot's store holds it.
    pub async fn audit(&self) -> Vec<std::collections::HashMap<String, String>> {
        self.state
            .store
            .recent_events("audit", 1000)
            .await
            .expect("the store answers")
            .into_iter()
            .map(|fields| fields.into_iter().collect())
            .collect()
    }

    /// `GET {bot}{path}`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.bot_url))
            .send()
            .await
            .expect("the bot answers")
    }

    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.bot_url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}
