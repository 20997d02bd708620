//! Bot → Microsoft: client-credentials tokens from Entra
//! (`{login}/{tenant}/oauth2/v2.0/token`), one per scope, cached until five
//! minutes before expiry. Concurrent callers needing the same scope share one
//! fetch. The client secret is sent in the form body and nowhere else.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde::Deserialize;
use url::Url;

use crate::config::Secret;

/// Scope of the Bot Connector (the real resource, whatever URL serves it).
pub const CONNECTOR_SCOPE: &str = "https://api.botframework.com/.default";
/// Scope of Microsoft Graph.
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
const EXPIRY_MARGIN: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, thiserror::Error)]
pub enum TokenError {
    #[error("token endpoint unreachable")]
    Unreachable,
    #[error("token endpoint is throttling (retry after {0:?})")]
    Throttled(Option<Duration>),
    #[error("token endpoint refused the bot's credentials ({0})")]
    Refused(String),
    #[error("token endpoint failed with status {0}")]
    Failed(u16),
}

#[derive(Clone)]
struct Cached {
    token: Arc<str>,
    refresh_at: Instant,
}

#[derive(Clone)]
pub struct TokenSource {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    endpoint: Url,
    client_id: String,
    secret: Secret,
    cache: Mutex<HashMap<String, Cached>>,
    flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

#[derive(Deserialize)]
struct EntraError {
    #[serde(default)]
    error: String,
}

impl TokenSource {
    /// The bot's own app registration, as configured.
    pub fn for_app(http: reqwest::Client, config: &crate::config::Config) -> TokenSource {
        TokenSource::new(
            http,
            &config.login_url,
            &config.tenant_id,
            config.app_id.clone(),
            config.app_password.clone(),
        )
    }

    pub fn new(
        http: reqwest::Client,
        login_url: &Url,
        tenant: &str,
        client_id: String,
        secret: Secret,
    ) -> TokenSource {
        let base = login_url.as_str().trim_end_matches('/');
        let endpoint = Url::parse(&format!("{base}/{tenant}/oauth2/v2.0/token"))
            .expect("a valid base URL plus a plain path is a valid URL");
        TokenSource {
            inner: Arc::new(Inner {
                http,
                endpoint,
                client_id,
                secret,
                cache: Mutex::new(HashMap::new()),
                flights: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// A bearer token for `scope`, from the cache when it is still fresh.
    pub async fn token(&self, scope: &str) -> Result<Arc<str>, TokenError> {
        if let Some(token) = self.cached(scope) {
            return Ok(token);
        }
        let flight = {
            let mut flights = self.inner.flights.lock().unwrap_or_else(|p| p.into_inner());
            flights.entry(scope.to_owned()).or_default().clone()
        };
        let _guard = flight.lock().await;
        if let Some(token) = self.cached(scope) {
            return Ok(token);
        }
        let fetched = self.fetch(scope).await?;
        let token = fetched.token.clone();
        self.inner
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(scope.to_owned(), fetched);
        Ok(token)
    }

    /// Drops a token the service rejected, so the next call fetches anew.
    pub fn forget(&self, scope: &str) {
        self.inner
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(scope);
    }

    fn cached(&self, scope: &str) -> Option<Arc<str>> {
        let cache = self.inner.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(scope)
            .filter(|c| Instant::now() < c.refresh_at)
            .map(|c| c.token.clone())
    }

    async fn fetch(&self, scope: &str) -> Result<Cached, TokenError> {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.inner.client_id.as_str()),
            ("client_secret", self.inner.secret.expose()),
            ("scope", scope),
        ];
        let response = self
            .inner
            .http
            .post(self.inner.endpoint.clone())
            .form(&form)
            .send()
            .await
            .map_err(|_| TokenError::Unreachable)?;
        let status = response.status();
        if status.as_u16() == 429 {
            return Err(TokenError::Throttled(retry_after(response.headers())));
        }
        if !status.is_success() {
            let code = response
                .json::<EntraError>()
                .await
                .map(|e| e.error)
                .unwrap_or_default();
            return Err(match status.as_u16() {
                400 | 401 if !code.is_empty() => TokenError::Refused(code),
                other => TokenError::Failed(other),
            });
        }
        let body: TokenResponse = response.json().await.map_err(|_| TokenError::Failed(200))?;
        let lifetime = Duration::from_secs(body.expires_in);
        tracing::debug!(scope, expires_in = body.expires_in, "access token fetched");
        Ok(Cached {
            token: body.access_token.into(),
            refresh_at: Instant::now() + lifetime.saturating_sub(EXPIRY_MARGIN),
        })
    }
}

/// `Retry-After` in seconds, as Microsoft services send it.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}
