//! The HTTP edge: the route table, thin handlers, and the one place where
//! refusals become statuses. Only this module knows actix-web.

mod dataverse;
mod messages;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use actix_web::{
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::header,
    http::StatusCode,
    middleware::Next,
    web, HttpRequest, HttpResponse, ResponseError,
};
use futures::StreamExt;
use serde_json::json;

use crate::{auth::AuthFailure, bot::Reply, offer::OfferOutcome, AppState};

pub use actix_web::dev::{Server, ServerHandle};

/// Where Dataverse's webhook registration must point (`joinchat doctor` checks it).
pub const DATAVERSE_WEBHOOK_PATH: &str = "/api/dataverse";

/// The bot's HTTP server on `listener`, not yet running.
pub fn server(state: Arc<AppState>, listener: std::net::TcpListener) -> std::io::Result<Server> {
    let data = web::Data::new(state);
    Ok(actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(data.clone())
            .wrap(actix_web::middleware::from_fn(track))
            .configure(routes)
    })
    .listen(listener)?
    .disable_signals()
    .shutdown_timeout(5)
    .run())
}

/// The route table.
fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/messages")
            .route(web::post().to(messages::post))
            // Clients probe the endpoint before they talk (the Agents
            // Playground does at start): it is there, and says nothing more.
            .route(web::head().to(HttpResponse::Ok)),
    )
    .route(DATAVERSE_WEBHOOK_PATH, web::post().to(dataverse::post))
    .route("/healthz", web::get().to(healthz))
    .route("/readyz", web::get().to(readyz))
    .route("/metrics", web::get().to(metrics_text));
}

/// Why the front door refused a request. Bodies name the kind, never the cause.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("unauthorized: {0}")]
    Token(AuthFailure),
    #[error("signing keys unavailable")]
    KeysUnavailable,
    #[error("malformed activity: {0}")]
    Malformed(String),
    #[error("body too large")]
    TooLarge,
    #[error("activity from another tenant")]
    OtherTenant,
    #[error("temporarily unavailable")]
    Unavailable,
    /// The Dataverse webhook endpoint is not configured.
    #[error("not configured")]
    Off,
    /// A Dataverse webhook call without the right key.
    #[error("wrong or missing webhook key")]
    WebhookKey,
}

impl ResponseError for Refusal {
    fn status_code(&self) -> StatusCode {
        match self {
            Refusal::Token(_) | Refusal::WebhookKey => StatusCode::UNAUTHORIZED,
            Refusal::Off => StatusCode::NOT_FOUND,
            Refusal::KeysUnavailable | Refusal::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::Malformed(_) => StatusCode::BAD_REQUEST,
            Refusal::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::OtherTenant => StatusCode::FORBIDDEN,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let kind = match self {
            Refusal::Token(_) | Refusal::WebhookKey => "unauthorized",
            Refusal::Off => "not_found",
            Refusal::KeysUnavailable | Refusal::Unavailable => "unavailable",
            Refusal::Malformed(_) => "bad_request",
            Refusal::TooLarge => "payload_too_large",
            Refusal::OtherTenant => "forbidden",
        };
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, Refusal::Token(_)) {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        response.json(json!({ "error": kind }))
    }
}

/// The answer to an activity the bot handled.
fn answered(reply: Reply) -> Result<HttpResponse, Refusal> {
    match reply {
        Reply::Accepted => Ok(HttpResponse::Ok().finish()),
        Reply::Invoke(body) => Ok(HttpResponse::Ok()
            .content_type("application/json")
            .body(body)),
        Reply::Unavailable => Err(Refusal::Unavailable),
    }
}

/// The answer to a Dataverse webhook call: 200 with what came of it, or 503
/// when it failed in a way a retry may fix (nothing was sent; Dataverse
/// retries an asynchronous step's failed call).
fn offer_answered(outcome: OfferOutcome) -> Result<HttpResponse, Refusal> {
    match outcome {
        OfferOutcome::Failed => Err(Refusal::Unavailable),
        other => Ok(HttpResponse::Ok().json(json!({ "outcome": other.as_str() }))),
    }
}

/// Time allowed to receive a body once its sender was accepted: a sender
/// trickling its body must not hold a worker's attention forever.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads a request body of at most `max` bytes (413 past it, whether
/// declared or sent), within `BODY_TIMEOUT`; `typical` sizes the buffer when
/// no length is declared.
async fn read_body(
    request: &HttpRequest,
    payload: &mut web::Payload,
    max: usize,
    typical: usize,
) -> Result<web::BytesMut, Refusal> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > max) {
        return Err(Refusal::TooLarge);
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(typical).min(max));
    let read = async {
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| Refusal::Malformed("unreadable body".into()))?;
            if body.len() + chunk.len() > max {
                return Err(Refusal::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(())
    };
    tokio::time::timeout(BODY_TIMEOUT, read)
        .await
        .map_err(|_| Refusal::Malformed("body not received in time".into()))??;
    Ok(body)
}

impl From<AuthFailure> for Refusal {
    fn from(failure: AuthFailure) -> Refusal {
        match failure {
            AuthFailure::KeysUnavailable => Refusal::KeysUnavailable,
            other => Refusal::Token(other),
        }
    }
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Ready once the bot can verify Teams' tokens (signing keys loaded). The
/// store is reported but never decides: losing Redis degrades to Dataverse
/// reads, and a probe tied to a shared dependency would take every replica
/// out of the Service at once.
async fn readyz(state: web::Data<Arc<AppState>>) -> HttpResponse {
    let keys = state.auth.keys_ready(KEYS_PROBE_WAIT);
    let store = tokio::time::timeout(STORE_PROBE_TIMEOUT, state.store.ping());
    let (keys_ready, store_ok) = futures::join!(keys, store);
    let store_ok = matches!(store_ok, Ok(Ok(())));
    let kind = state.store.kind();
    if keys_ready {
        HttpResponse::Ok().json(json!({ "status": "ready", "store": kind, "store_ok": store_ok }))
    } else {
        tracing::warn!("not ready: channel signing keys not loaded");
        HttpResponse::ServiceUnavailable().json(json!({
            "status": "unavailable",
            "reason": "signing keys not loaded",
            "store": kind,
            "store_ok": store_ok,
        }))
    }
}

/// How long `/readyz` waits for the store's PING, and for a first fetch of
/// the signing keys: inside a probe's default one-second timeout.
const STORE_PROBE_TIMEOUT: Duration = Duration::from_millis(300);
const KEYS_PROBE_WAIT: Duration = Duration::from_millis(700);

async fn metrics_text(state: web::Data<Arc<AppState>>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}

/// Counts and times every request by its route pattern (never the raw path,
/// which would let callers mint unbounded label values).
async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let metrics = req
        .app_data::<web::Data<Arc<AppState>>>()
        .map(|s| s.metrics.clone());
    let response = next.call(req).await?;
    if let Some(metrics) = metrics {
        let status = response.status().as_u16().to_string();
        metrics.requests.with_label_values(&[&route, &status]).inc();
        metrics
            .latency
            .with_label_values(&[&route])
            .observe(started.elapsed().as_secs_f64());
    }
    Ok(response)
}
