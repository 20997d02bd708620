//! The simulated Microsoft cloud: Entra, the Bot Connector, Graph and
//! Dataverse on one local HTTP server, seeded from a world file, plus the
//! control API that plays Teams and lets tests look inside.
//!
//! The bot must not know it talks to a simulation: the sandbox shares no Rust
//! types with the bot and meets it only on the wire, answering the requests
//! docs/behaviour.md lists (the control API and the simulated services) with
//! Microsoft's own JSON. Only the `joinchat` binary and tests name this
//! crate; nothing here imports the bot.

// Handlers stop early by returning the refusal they will answer with; an
// `HttpResponse` is large, but it is built at most once per request.
#![allow(clippy::result_large_err)]

mod connector;
mod console;
mod control;
mod dataverse;
mod entra;
mod faults;
mod graph;
mod keys;
mod odata;
mod permissions;
mod state;
mod world;

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use anyhow::Context;
use futures::future::BoxFuture;
use rand::distributions::{Alphanumeric, DistString};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

pub use control::ActivityRequest;
pub use entra::ChannelIssuer;
pub use permissions::{DEFAULT_GRAPH_PERMISSIONS, TEAMS_APP_RSC_PERMISSIONS};
pub use state::{Call, Service};
pub use world::{
    Access, AppRegistration, Chat, Connection, Entity, Record, User, World, WorldError,
    WorldMessage,
};

use dataverse::DataverseIds;
use keys::KeyPair;
use state::State;

/// Where the bot's messaging endpoint is unless told otherwise.
pub const DEFAULT_BOT_ENDPOINT: &str = "http://127.0.0.1:3978/api/messages";

pub struct CloudOptions {
    pub listen: SocketAddr,
    /// The bot's app registration; generated when absent.
    pub app_id: Option<String>,
    pub app_password: Option<String>,
    /// Where `say`/`invoke` post activities; `DEFAULT_BOT_ENDPOINT` when absent.
    pub bot_endpoint: Option<String>,
    /// The key of the Dataverse webhook registration (WebhookKey, sent as
    /// `?code=`), `JOINCHAT_DATAVERSE_WEBHOOK_KEY`; generated when absent.
    pub dataverse_webhook_key: Option<String>,
}

/// The URLs a bot is configured with to use this cloud.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CloudUrls {
    pub openid_metadata: String,
    pub login: String,
    pub graph: String,
    pub dataverse: String,
    /// Ends with `/`, as a real `serviceUrl` does.
    pub connector: String,
}

/// Where `GET /_sandbox/audit` reads the bot's recent audit events from:
/// each event a list of `(field, value)` pairs, oldest first. The cloud cannot
/// see the bot's store: whoever runs both (the `sandbox` command) hands it
/// this reader.
pub type AuditSource =
    Arc<dyn Fn() -> BoxFuture<'static, Vec<Vec<(String, String)>>> + Send + Sync>;

/// A running simulated cloud. Cheap to clone.
#[derive(Clone)]
pub struct Cloud {
    shared: Arc<Shared>,
    server: ServerHandle,
}

/// Everything the handlers share.
pub(crate) struct Shared {
    pub world: World,
    pub state: Mutex<State>,
    pub app_id: String,
    pub app_password: String,
    /// The webhook registration's key: never in the world view or a log.
    pub dataverse_webhook_key: String,
    /// The app's service principal, `oid` of its Entra tokens.
    pub app_object_id: String,
    /// The bot's entry in the tenant's Teams app catalog (what
    /// `POST /chats/{id}/installedApps` binds to).
    pub teams_app_id: String,
    pub base_url: String,
    pub urls: CloudUrls,
    pub channel: ChannelIssuer,
    pub entra_key: Arc<KeyPair>,
    pub dataverse_ids: DataverseIds,
    pub http: reqwest::Client,
    /// `None` for a cloud running alone: its audit view is empty.
    pub audit_source: RwLock<Option<AuditSource>>,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The Teams chat id of a person's 1:1 chat with the bot, as Graph names
    /// it (`19:{user}_{bot}@unq.gbl.spaces`); the Bot Connector takes it as
    /// well as the `a:…` id Teams puts in activities.
    pub fn personal_chat_id(&self, user: &User) -> String {
        format!("19:{}_{}@unq.gbl.spaces", user.aad_object_id, self.app_id)
    }
}

impl Cloud {
    /// Binds `options.listen`, starts the server on the current Tokio runtime
    /// and returns once it accepts connections.
    pub async fn start(world: World, options: CloudOptions) -> anyhow::Result<Cloud> {
        let listener = TcpListener::bind(options.listen)
            .with_context(|| format!("cannot listen on {}", options.listen))?;
        let address = listener.local_addr()?;
        let host = if address.ip().is_unspecified() {
            "127.0.0.1".to_owned()
        } else {
            address.ip().to_string()
        };
        let base_url = format!("http://{host}:{}", address.port());
        let app_id = options.app_id.unwrap_or_else(|| Uuid::new_v4().to_string());
        let app_password = options
            .app_password
            .unwrap_or_else(|| Alphanumeric.sample_string(&mut rand::thread_rng(), 40));
        let dataverse_webhook_key = options
            .dataverse_webhook_key
            .unwrap_or_else(|| Alphanumeric.sample_string(&mut rand::thread_rng(), 40));
        // Key generation is CPU work; keep it off the async threads.
        let (entra_key, channel) = {
            let app_id = app_id.clone();
            tokio::task::spawn_blocking(move || {
                (keys::pooled(entra::ENTRA_KEY), ChannelIssuer::new(app_id))
            })
            .await
            .context("key generation failed")?
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .context("cannot build the HTTP client")?;
        let bot_endpoint = options
            .bot_endpoint
            .unwrap_or_else(|| DEFAULT_BOT_ENDPOINT.to_owned());
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(&world, bot_endpoint)),
            urls: urls_for(&base_url),
            world,
            app_id,
            app_password,
            dataverse_webhook_key,
            app_object_id: Uuid::new_v4().to_string(),
            teams_app_id: Uuid::new_v4().to_string(),
            base_url,
            channel,
            entra_key,
            dataverse_ids: DataverseIds::generate(),
            http,
            audit_source: RwLock::new(None),
        });
        let data = web::Data::from(Arc::clone(&shared));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .wrap(from_fn(log_and_fault))
                .configure(control::configure)
                .configure(console::configure)
                .configure(entra::configure)
                .configure(connector::configure)
                .configure(graph::configure)
                .configure(dataverse::configure)
                .default_service(web::to(not_served))
        })
        .workers(2)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)
        .context("cannot start the cloud's HTTP server")?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Cloud {
            shared,
            server: handle,
        })
    }

    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    pub fn app_id(&self) -> String {
        self.shared.app_id.clone()
    }

    /// The bot's Teams app catalog id, for `JOINCHAT_TEAMS_APP_ID`.
    pub fn teams_app_id(&self) -> String {
        self.shared.teams_app_id.clone()
    }

    pub fn app_password(&self) -> String {
        self.shared.app_password.clone()
    }

    /// The Dataverse webhook's key (`JOINCHAT_DATAVERSE_WEBHOOK_KEY`), for
    /// the bot that receives its calls.
    pub fn dataverse_webhook_key(&self) -> String {
        self.shared.dataverse_webhook_key.clone()
    }

    pub fn tenant_id(&self) -> String {
        self.shared.world.tenant_id().to_owned()
    }

    pub fn urls(&self) -> CloudUrls {
        self.shared.urls.clone()
    }

    pub fn world(&self) -> &World {
        &self.shared.world
    }

    /// Where `say`/`invoke` send activities (the bot's `/api/messages`).
    pub fn set_bot_endpoint(&self, url: String) {
        self.shared.lock().bot_endpoint = url;
    }

    /// Gives `GET /_sandbox/audit` (and so the console) the bot's audit trail.
    pub fn set_audit_source(&self, source: AuditSource) {
        *self
            .shared
            .audit_source
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(source);
    }

    /// Whether Graph lets the bot be installed into chats (default: yes).
    pub fn set_allow_app_install(&self, allowed: bool) {
        self.shared.lock().allow_app_install = allowed;
    }

    /// The Bot Framework channel issuer, for tests that forge tokens.
    pub fn channel_issuer(&self) -> ChannelIssuer {
        self.shared.channel.clone()
    }

    /// The activity the simulated Teams would send for `request` as the world
    /// user `key` (the same envelope `say` and `invoke` send), not sent.
    pub fn activity(&self, key: &str, request: ActivityRequest) -> Result<Value, String> {
        control::activity_for(&self.shared, key, request)
            .map_err(|_| format!("no user {key:?} or no such chat in this world"))
    }

    /// Every call the simulated services received, oldest first.
    pub fn calls(&self) -> Vec<Call> {
        self.shared.lock().calls.clone()
    }

    pub async fn stop(self) {
        self.server.stop(true).await;
    }
}

fn urls_for(base_url: &str) -> CloudUrls {
    CloudUrls {
        openid_metadata: format!("{base_url}/botframework/v1/.well-known/openidconfiguration"),
        login: format!("{base_url}/login"),
        graph: format!("{base_url}/graph"),
        dataverse: format!("{base_url}/dataverse"),
        connector: format!("{base_url}/connector/"),
    }
}

// Every request to a simulated service meets its fault (if one is set) and
// lands in the calls log with the status it got. The control API and the
// console pass straight through.
async fn log_and_fault(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let Some((service, relative)) = Service::of_path(req.path()) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let path = percent_encoding::percent_decode_str(relative)
        .decode_utf8_lossy()
        .into_owned();
    let method = req.method().to_string();
    let Some(shared) = req.app_data::<web::Data<Shared>>().cloned() else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    // Logged on arrival, so the log is in arrival order (an answer still on
    // its way shows status 0); the status is filled in when it is known.
    let (effect, index) = {
        let mut state = shared.lock();
        state.calls.push(Call {
            service,
            method,
            path,
            status: 0,
        });
        (state.take_fault(service), state.calls.len() - 1)
    };
    if let Some(effect) = effect {
        if !effect.latency.is_zero() {
            tokio::time::sleep(effect.latency).await;
        }
    }
    let response = match effect.and_then(|effect| effect.status.map(|s| (s, effect))) {
        // The service does the work, and its answer is lost on the way back.
        Some((status, effect)) if effect.commit => {
            let served = next.call(req).await?;
            let (request, _lost) = served.into_parts();
            ServiceResponse::new(
                request,
                faults::response(service, status, effect.retry_after),
            )
        }
        Some((status, effect)) => {
            req.into_response(faults::response(service, status, effect.retry_after))
        }
        None => next.call(req).await?.map_into_boxed_body(),
    };
    if let Some(call) = shared.lock().calls.get_mut(index) {
        call.status = response.status().as_u16();
    }
    Ok(response)
}

// A path no simulated service serves, answered in the shape of the service
// whose URL it is under, so a bot that drifts from the wire protocol sees a
// real-looking refusal (and the calls log shows it).
async fn not_served(req: HttpRequest) -> HttpResponse {
    let message = format!(
        "{} {} is not served by the simulated cloud.",
        req.method(),
        req.path()
    );
    let not_found = StatusCode::NOT_FOUND;
    match Service::of_path(req.path()).map(|(service, _)| service) {
        Some(Service::Graph) => {
            HttpResponse::BadRequest().json(graph::error_body("BadRequest", &message))
        }
        Some(Service::Dataverse) => {
            HttpResponse::build(not_found).json(dataverse::error_body("0x8006088a", &message))
        }
        Some(Service::Connector) => {
            HttpResponse::build(not_found).json(connector::error_body("NotFound", &message))
        }
        Some(Service::Entra) => HttpResponse::build(not_found).json(entra::error_body(
            "invalid_request",
            900561,
            &message,
        )),
        None => HttpResponse::build(not_found).json(serde_json::json!({"error": message})),
    }
}
