//! The bare baseline of `scripts/bench`: an actix-web server doing the
//! per-request work of a warm card refresh with none of the product.
//!
//! Per request: the bearer token is looked up in an in-memory cache of
//! verified tokens (SHA-256 of the whole token → claims; RS256 is verified
//! once, on first sight, against the JWKS named by the OpenID metadata), the
//! body is parsed into typed serde structs, the per-activity checks run
//! (endorsement, `serviceurl`, tenant), one Redis MGET of three keys goes over
//! one multiplexed connection, and a small invoke response is answered.
//! No metrics, no logging per request, no policy, no card: it is the floor
//! the bot is measured against, not a bot.
//!
//! ```sh
//! cargo run --release --example bare_refresh -- --listen 127.0.0.1:4000 \
//!   --openid-metadata-url http://127.0.0.1:3979/botframework/v1/.well-known/openidconfiguration \
//!   --app-id APP --tenant-id TENANT --redis-url redis://127.0.0.1:6379 --key-prefix peer:
//! ```

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, RwLock},
    time::{SystemTime, UNIX_EPOCH},
};

use actix_web::{http::header, web, App, HttpRequest, HttpResponse, HttpServer};
use clap::Parser;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use redis::aio::ConnectionManager;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

const CHANNEL_ISSUER: &str = "https://api.botframework.com";
const CLOCK_SKEW_SECS: u64 = 300;
/// Past this many cached tokens the cache starts over: a bound, not an LRU.
const MAX_CACHED_TOKENS: usize = 50_000;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:4000")]
    listen: SocketAddr,
    #[arg(long)]
    openid_metadata_url: String,
    #[arg(long)]
    app_id: String,
    #[arg(long)]
    tenant_id: String,
    #[arg(long)]
    redis_url: String,
    /// Prefix of the three keys read per request.
    #[arg(long, default_value = "jc:")]
    key_prefix: String,
}

struct SigningKey {
    key: DecodingKey,
    endorsements: Vec<String>,
}

#[derive(Clone, Deserialize)]
struct Claims {
    exp: u64,
    #[serde(default)]
    serviceurl: Option<String>,
    /// Filled in from the key after verification.
    #[serde(skip)]
    endorsements: Arc<Vec<String>>,
}

struct State {
    app_id: String,
    tenant_id: String,
    prefix: String,
    keys: HashMap<String, SigningKey>,
    verified: RwLock<HashMap<[u8; 32], Claims>>,
    redis: ConnectionManager,
}

// The activity, typed: only what the refresh reads.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Activity {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    name: Option<String>,
    channel_id: String,
    service_url: String,
    from: Sender,
    conversation: Conversation,
    value: Option<InvokeValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Sender {
    #[serde(default)]
    aad_object_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Conversation {
    #[serde(default)]
    tenant_id: Option<String>,
}

#[derive(Deserialize)]
struct InvokeValue {
    action: Action,
}

#[derive(Deserialize)]
struct Action {
    #[serde(rename = "type")]
    kind: String,
    verb: String,
    data: RefreshData,
}

#[derive(Deserialize)]
struct RefreshData {
    entity: String,
    record_id: String,
}

#[derive(Deserialize)]
struct OpenIdMetadata {
    jwks_uri: String,
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kid: String,
    n: String,
    e: String,
    #[serde(default)]
    endorsements: Vec<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    actix_web::rt::System::new().block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let metadata: OpenIdMetadata = http
        .get(&args.openid_metadata_url)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let jwks: Jwks = http
        .get(&metadata.jwks_uri)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let mut keys = HashMap::new();
    for jwk in jwks.keys {
        let key = DecodingKey::from_rsa_components(&jwk.n, &jwk.e)?;
        keys.insert(
            jwk.kid,
            SigningKey {
                key,
                endorsements: jwk.endorsements,
            },
        );
    }
    let redis = ConnectionManager::new(redis::Client::open(args.redis_url.as_str())?).await?;
    let state = web::Data::new(State {
        app_id: args.app_id,
        tenant_id: args.tenant_id,
        prefix: args.key_prefix,
        keys,
        verified: RwLock::new(HashMap::new()),
        redis,
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(web::PayloadConfig::new(1024 * 1024))
            .route("/api/messages", web::post().to(messages))
    })
    .bind(args.listen)?
    .run();
    println!("bare_refresh listening on http://{}", args.listen);
    server.await?;
    Ok(())
}

async fn messages(state: web::Data<State>, request: HttpRequest, body: web::Bytes) -> HttpResponse {
    let Some(claims) = authenticate(&state, &request) else {
        return HttpResponse::Unauthorized().json(json!({"error": "unauthorized"}));
    };
    let Ok(activity) = serde_json::from_slice::<Activity>(&body) else {
        return HttpResponse::BadRequest().json(json!({"error": "bad_request"}));
    };
    let endorsed =
        claims.endorsements.is_empty() || claims.endorsements.contains(&activity.channel_id);
    if !endorsed || claims.serviceurl.as_deref() != Some(activity.service_url.as_str()) {
        return HttpResponse::Unauthorized().json(json!({"error": "unauthorized"}));
    }
    if activity.conversation.tenant_id.as_deref() != Some(state.tenant_id.as_str()) {
        return HttpResponse::Forbidden().json(json!({"error": "forbidden"}));
    }
    let refresh = activity
        .value
        .as_ref()
        .filter(|_| activity.kind == "invoke")
        .filter(|_| activity.name.as_deref() == Some("adaptiveCard/action"))
        .map(|value| &value.action)
        .filter(|action| action.kind == "Action.Execute" && action.verb == "refresh");
    let (Some(action), Some(aad)) = (refresh, activity.from.aad_object_id.as_deref()) else {
        return HttpResponse::BadRequest().json(json!({"error": "bad_request"}));
    };
    let data = &action.data;
    let prefix = &state.prefix;
    let mut command = redis::cmd("MGET");
    command
        .arg(format!("{prefix}cfg:joinchat"))
        .arg(format!(
            "{prefix}acc:{aad}:{}:{}",
            data.entity, data.record_id
        ))
        .arg(format!("{prefix}chats:{}:{}", data.entity, data.record_id));
    let mut connection = state.redis.clone();
    let values: Vec<Option<String>> = match command.query_async(&mut connection).await {
        Ok(values) => values,
        Err(_) => return HttpResponse::ServiceUnavailable().json(json!({"error": "unavailable"})),
    };
    let cached = values.iter().filter(|v| v.is_some()).count();
    HttpResponse::Ok().json(json!({
        "statusCode": 200,
        "type": "application/vnd.microsoft.card.adaptive",
        "value": {
            "type": "AdaptiveCard",
            "version": "1.5",
            "body": [{"type": "TextBlock", "text": format!("{cached} of 3 facts cached")}],
        },
    }))
}

fn authenticate(state: &State, request: &HttpRequest) -> Option<Claims> {
    let header = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let token = header.strip_prefix("Bearer ")?;
    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let cached = state
        .verified
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .get(&digest)
        .cloned();
    let claims = match cached {
        Some(claims) => claims,
        None => {
            let claims = verify(state, token)?;
            let mut verified = state
                .verified
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if verified.len() >= MAX_CACHED_TOKENS {
                verified.clear();
            }
            verified.insert(digest, claims.clone());
            claims
        }
    };
    (now() <= claims.exp + CLOCK_SKEW_SECS).then_some(claims)
}

fn verify(state: &State, token: &str) -> Option<Claims> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    if header.alg != Algorithm::RS256 {
        return None;
    }
    let key = state.keys.get(header.kid.as_deref()?)?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.leeway = CLOCK_SKEW_SECS;
    validation.validate_nbf = true;
    validation.set_audience(&[&state.app_id]);
    validation.set_issuer(&[CHANNEL_ISSUER]);
    let mut claims = jsonwebtoken::decode::<Claims>(token, &key.key, &validation)
        .ok()?
        .claims;
    claims.endorsements = Arc::new(key.endorsements.clone());
    Some(claims)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
