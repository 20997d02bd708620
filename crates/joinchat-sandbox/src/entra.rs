//! Simulated Entra ID and Bot Framework token issuers.
//!
//! Two issuers live here, as in the real cloud. The Bot Framework *channel*
//! issuer signs the tokens the simulated Teams sends to the bot; it publishes
//! OpenID metadata and a JWKS whose keys carry `endorsements`. `ChannelIssuer`
//! is its test face: it mints good tokens and forges bad ones. Entra's
//! client-credentials endpoint signs the tokens the bot sends to the Bot
//! Connector, Graph and Dataverse with a separate key; `check_bearer` is how
//! those services verify them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::http::header::AUTHORIZATION;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{json, Value};
use uuid::Uuid;

use super::keys::{self, KeyPair};
use super::state::rfc3339;
use super::Shared;

pub(crate) const CHANNEL_ISSUER: &str = "https://api.botframework.com";
pub(crate) const CONNECTOR_RESOURCE: &str = "https://api.botframework.com";
pub(crate) const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";
const TOKEN_LIFETIME: i64 = 3600;

/// The Bot Framework channel issuer, as tests drive it. Cheap to clone.
#[derive(Clone)]
pub struct ChannelIssuer {
    inner: Arc<IssuerInner>,
}

struct IssuerInner {
    app_id: String,
    keys: Mutex<ChannelKeys>,
    jwks_fetches: AtomicUsize,
    metadata_fetches: AtomicUsize,
}

struct ChannelKeys {
    entries: Vec<ChannelKey>,
    current: String,
    next_pool_index: usize,
}

struct ChannelKey {
    /// The `kid` it is published under: its key pair's own, until a test
    /// re-publishes other material under it.
    kid: String,
    key: Arc<KeyPair>,
    endorsements: Vec<String>,
    published: bool,
}

// Pool slots: 0 signs Entra tokens, 1 is the channel's current key, 2.. are
// the keys tests add.
pub(crate) const ENTRA_KEY: usize = 0;
const CHANNEL_KEY: usize = 1;

impl ChannelIssuer {
    pub(crate) fn new(app_id: String) -> ChannelIssuer {
        let key = keys::pooled(CHANNEL_KEY);
        let current = key.kid.clone();
        let entries = vec![ChannelKey {
            kid: current.clone(),
            key,
            endorsements: vec!["msteams".to_owned(), "emulator".to_owned()],
            published: true,
        }];
        ChannelIssuer {
            inner: Arc::new(IssuerInner {
                app_id,
                keys: Mutex::new(ChannelKeys {
                    entries,
                    current,
                    next_pool_index: CHANNEL_KEY + 1,
                }),
                jwks_fetches: AtomicUsize::new(0),
                metadata_fetches: AtomicUsize::new(0),
            }),
        }
    }

    /// A valid channel token for the app, exactly as `say` mints it.
    pub fn mint(&self, service_url: &str) -> String {
        self.sign(&self.current_kid(), &self.claims(service_url))
    }

    /// The standard claims of a channel token, for tests to tweak.
    pub fn claims(&self, service_url: &str) -> Value {
        let now = keys::now();
        json!({
            "serviceurl": service_url,
            "nbf": now - 5,
            "exp": now + TOKEN_LIFETIME,
            "iat": now - 5,
            "iss": CHANNEL_ISSUER,
            "aud": self.inner.app_id,
        })
    }

    /// Signs `claims` RS256 with the key `kid` (header: alg, kid, typ JWT).
    pub fn sign(&self, kid: &str, claims: &Value) -> String {
        let header = json!({"alg": "RS256", "kid": kid, "typ": "JWT"});
        self.sign_with_header(header, claims, kid)
    }

    /// Signs RS256 with the key `key_kid` under any header a test writes.
    pub fn sign_with_header(&self, header: Value, claims: &Value, key_kid: &str) -> String {
        self.key(key_kid).sign(&header, claims)
    }

    pub fn current_kid(&self) -> String {
        self.lock().current.clone()
    }

    /// A new signing key with these endorsements; `published` puts it in the
    /// JWKS now, otherwise `publish` does later (key rotation).
    pub fn add_key(&self, endorsements: &[&str], published: bool) -> String {
        let mut keys = self.lock();
        let key = keys::pooled(keys.next_pool_index);
        keys.next_pool_index += 1;
        let kid = key.kid.clone();
        keys.entries.push(ChannelKey {
            kid: kid.clone(),
            key,
            endorsements: endorsements.iter().map(|e| (*e).to_owned()).collect(),
            published,
        });
        kid
    }

    pub fn publish(&self, kid: &str) {
        self.change(kid, |entry| entry.published = true);
    }

    /// Re-publishes `kid` with new key material (a fresh key pair) and signs
    /// with it from now on: tokens signed under `kid` before no longer verify.
    pub fn republish_with_new_material(&self, kid: &str) {
        let fresh = {
            let mut keys = self.lock();
            let index = keys.next_pool_index;
            keys.next_pool_index += 1;
            index
        };
        let key = keys::pooled(fresh);
        self.change(kid, move |entry| entry.key = key);
    }

    /// Re-publishes `kid` with these endorsements.
    pub fn set_endorsements(&self, kid: &str, endorsements: &[&str]) {
        let endorsements: Vec<String> = endorsements.iter().map(|e| (*e).to_owned()).collect();
        self.change(kid, move |entry| entry.endorsements = endorsements);
    }

    fn change(&self, kid: &str, change: impl FnOnce(&mut ChannelKey)) {
        let mut keys = self.lock();
        match keys.entries.iter_mut().find(|entry| entry.kid == kid) {
            Some(entry) => change(entry),
            None => panic!("the channel issuer has no key {kid:?}; use add_key first"),
        }
    }

    pub fn jwks_fetches(&self) -> usize {
        self.inner.jwks_fetches.load(Ordering::SeqCst)
    }

    pub fn metadata_fetches(&self) -> usize {
        self.inner.metadata_fetches.load(Ordering::SeqCst)
    }

    fn key(&self, kid: &str) -> Arc<KeyPair> {
        let keys = self.lock();
        match keys.entries.iter().find(|entry| entry.kid == kid) {
            Some(entry) => Arc::clone(&entry.key),
            None => panic!("the channel issuer has no key {kid:?}; use add_key first"),
        }
    }

    fn jwks(&self) -> Value {
        self.inner.jwks_fetches.fetch_add(1, Ordering::SeqCst);
        let keys = self.lock();
        let published: Vec<Value> = keys
            .entries
            .iter()
            .filter(|entry| entry.published)
            .map(|entry| entry.key.jwk_as(&entry.kid, Some(&entry.endorsements)))
            .collect();
        json!({ "keys": published })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ChannelKeys> {
        self.inner
            .keys
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/botframework/v1/.well-known/openidconfiguration",
        web::get().to(openid_metadata),
    )
    .route(
        "/botframework/v1/.well-known/keys",
        web::get().to(channel_jwks),
    )
    .route("/login/{tenant}/oauth2/v2.0/token", web::post().to(token))
    .route(
        "/login/{tenant}/discovery/v2.0/keys",
        web::get().to(entra_jwks),
    );
}

async fn openid_metadata(shared: web::Data<Shared>) -> HttpResponse {
    shared
        .channel
        .inner
        .metadata_fetches
        .fetch_add(1, Ordering::SeqCst);
    HttpResponse::Ok().json(json!({
        "issuer": CHANNEL_ISSUER,
        "authorization_endpoint": "https://invalid.botframework.com",
        "jwks_uri": format!("{}/botframework/v1/.well-known/keys", shared.base_url),
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
    }))
}

async fn channel_jwks(shared: web::Data<Shared>) -> HttpResponse {
    HttpResponse::Ok().json(shared.channel.jwks())
}

async fn entra_jwks(shared: web::Data<Shared>, tenant: web::Path<String>) -> HttpResponse {
    if let Err(refusal) = known_tenant(&shared, &tenant) {
        return refusal.response();
    }
    HttpResponse::Ok().json(json!({ "keys": [shared.entra_key.jwk(None)] }))
}

async fn token(
    shared: web::Data<Shared>,
    tenant: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    match issue(&shared, &tenant, &form) {
        Ok(answer) => HttpResponse::Ok().json(answer),
        Err(refusal) => refusal.response(),
    }
}

/// A token endpoint refusal, as Entra words it.
struct Refusal {
    status: StatusCode,
    error: &'static str,
    code: u32,
    description: String,
}

impl Refusal {
    fn bad(error: &'static str, code: u32, description: String) -> Refusal {
        Refusal {
            status: StatusCode::BAD_REQUEST,
            error,
            code,
            description,
        }
    }

    fn response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(error_body(self.error, self.code, &self.description))
    }
}

/// Entra's OAuth error body.
pub(crate) fn error_body(error: &str, code: u32, description: &str) -> Value {
    let trace_id = Uuid::new_v4().to_string();
    let correlation_id = Uuid::new_v4().to_string();
    let timestamp = rfc3339(time::OffsetDateTime::now_utc());
    json!({
        "error": error,
        "error_description": format!(
            "AADSTS{code}: {description} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {timestamp}"
        ),
        "error_codes": [code],
        "timestamp": timestamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
    })
}

fn known_tenant(shared: &Shared, tenant: &str) -> Result<(), Refusal> {
    if tenant.eq_ignore_ascii_case(shared.world.tenant_id()) {
        return Ok(());
    }
    Err(Refusal::bad(
        "invalid_request",
        90002,
        format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
    ))
}

fn issue(shared: &Shared, tenant: &str, form: &HashMap<String, String>) -> Result<Value, Refusal> {
    known_tenant(shared, tenant)?;
    let field = |name: &'static str| {
        form.get(name)
            .filter(|value| !value.is_empty())
            .ok_or_else(|| {
                Refusal::bad(
                    "invalid_request",
                    900144,
                    format!("The request body must contain the following parameter: '{name}'."),
                )
            })
    };
    let grant_type = field("grant_type")?;
    if grant_type != "client_credentials" {
        return Err(Refusal::bad(
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{grant_type}'."),
        ));
    }
    let client_id = field("client_id")?;
    if client_id != &shared.app_id {
        return Err(Refusal::bad(
            "unauthorized_client",
            700016,
            format!("Application with identifier '{client_id}' was not found in the directory '{tenant}'."),
        ));
    }
    let secret = form.get("client_secret").map(String::as_str).unwrap_or("");
    if secret.is_empty() {
        return Err(Refusal::bad(
            "invalid_client",
            7000216,
            "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.".to_owned(),
        ));
    }
    if secret != shared.app_password {
        return Err(Refusal {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            code: 7000215,
            description: format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
            ),
        });
    }
    let scope = field("scope")?;
    let resource = resource_of(shared, scope).ok_or_else(|| {
        Refusal::bad(
            "invalid_scope",
            70011,
            format!("The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."),
        )
    })?;
    Ok(json!({
        "token_type": "Bearer",
        "expires_in": TOKEN_LIFETIME - 1,
        "ext_expires_in": TOKEN_LIFETIME - 1,
        "access_token": access_token(shared, resource),
    }))
}

/// The resource a `…/.default` scope names, when the cloud serves it.
fn resource_of<'s>(shared: &Shared, scope: &'s str) -> Option<&'s str> {
    let resource = scope.strip_suffix("/.default")?;
    let known = [
        CONNECTOR_RESOURCE,
        GRAPH_RESOURCE,
        shared.urls.dataverse.as_str(),
    ];
    known.contains(&resource).then_some(resource)
}

fn access_token(shared: &Shared, audience: &str) -> String {
    let now = keys::now();
    let tenant = shared.world.tenant_id();
    let issuer = entra_issuer(tenant);
    let mut claims = json!({
        "aud": audience,
        "iss": issuer,
        "idp": issuer,
        "iat": now,
        "nbf": now,
        "exp": now + TOKEN_LIFETIME,
        "appid": shared.app_id,
        "appidacr": "1",
        "idtyp": "app",
        "oid": shared.app_object_id,
        "sub": shared.app_object_id,
        "tid": tenant,
        "ver": "1.0",
    });
    // App-only Graph tokens carry the admin-consented application permissions
    // in `roles`; Entra leaves the claim out when none is granted.
    let roles = &shared.world.app().graph_permissions;
    if audience == GRAPH_RESOURCE && !roles.is_empty() {
        claims["roles"] = json!(roles);
    }
    shared.entra_key.sign(&shared.entra_key.header(), &claims)
}

fn entra_issuer(tenant: &str) -> String {
    format!("https://sts.windows.net/{tenant}/")
}

/// Why a service refused a bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenProblem {
    Missing,
    Malformed,
    UnknownKey,
    BadSignature,
    Expired,
    NotYetValid,
    WrongAudience,
    WrongIssuer,
    WrongApp,
}

impl TokenProblem {
    pub fn describe(self) -> &'static str {
        match self {
            TokenProblem::Missing => "Access token is empty.",
            TokenProblem::Malformed => "Access token validation failure: the token is malformed.",
            TokenProblem::UnknownKey => "Access token validation failure: unknown signing key.",
            TokenProblem::BadSignature => "Access token validation failure: invalid signature.",
            TokenProblem::Expired => "Lifetime validation failed, the token is expired.",
            TokenProblem::NotYetValid => "Lifetime validation failed, the token is not yet valid.",
            TokenProblem::WrongAudience => "Access token validation failure. Invalid audience.",
            TokenProblem::WrongIssuer => "Access token validation failure. Invalid issuer.",
            TokenProblem::WrongApp => {
                "Access token validation failure: the token was issued to another application."
            }
        }
    }
}

/// Checks `Authorization: Bearer` as a Microsoft resource server does: an Entra
/// token of this tenant, for `audience`, unexpired, issued to the bot's app.
/// Its claims, once checked.
pub(crate) fn check_bearer(
    shared: &Shared,
    req: &HttpRequest,
    audience: &str,
) -> Result<Value, TokenProblem> {
    let token = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .ok_or(TokenProblem::Missing)?;
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenProblem::Malformed)?;
    if header.kid.as_deref() != Some(shared.entra_key.kid.as_str()) {
        return Err(TokenProblem::UnknownKey);
    }
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[entra_issuer(shared.world.tenant_id())]);
    validation.set_required_spec_claims(&["exp", "nbf", "aud", "iss"]);
    validation.validate_nbf = true;
    validation.leeway = 0;
    let data = jsonwebtoken::decode::<Value>(token, &shared.entra_key.decoding, &validation)
        .map_err(|error| match error.kind() {
            ErrorKind::ExpiredSignature => TokenProblem::Expired,
            ErrorKind::ImmatureSignature => TokenProblem::NotYetValid,
            ErrorKind::InvalidAudience => TokenProblem::WrongAudience,
            ErrorKind::InvalidIssuer => TokenProblem::WrongIssuer,
            ErrorKind::InvalidSignature => TokenProblem::BadSignature,
            _ => TokenProblem::Malformed,
        })?;
    if data.claims.get("appid").and_then(Value::as_str) != Some(shared.app_id.as_str()) {
        return Err(TokenProblem::WrongApp);
    }
    Ok(data.claims)
}

/// The application permissions in a checked token's `roles` claim.
pub(crate) fn roles(claims: &Value) -> Vec<String> {
    claims
        .get("roles")
        .and_then(Value::as_array)
        .map(|roles| {
            roles
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}
