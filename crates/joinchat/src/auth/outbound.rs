//! Bot → Microsoft: client-credentials tokens from Entra
//! (`{login}/{tenant}/oauth2/v2.0/token`), one per scope. Concurrent callers
//! needing the same scope share one fetch. The client secret is sent in the
//! form body and nowhere else.
//!
//! Once [`TokenSource::prefetch`] has started for a scope, no request waits on
//! Entra: its token is fetched at startup and fetched anew in the background
//! five minutes before it expires (with back-off on failure), and a token in
//! hand is served until it really expires, so an Entra outage costs nothing
//! for as long as the tokens last.

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
/// A token is fetched anew this long before it expires…
const REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// …and served until this long before (clocks and flight time).
const EXPIRY_MARGIN: Duration = Duration::from_secs(30);
/// Back-off of the background refresh after a failure: doubling, capped.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(60);

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
    fetched: Instant,
    /// When a new token should be fetched.
    refresh_at: Instant,
    /// When this one may no longer be sent.
    expires_at: Instant,
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
    /// Scopes kept fresh in the background: their callers never fetch.
    prefetched: Mutex<Vec<String>>,
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
                prefetched: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Keeps a token for each of `scopes` in hand from now on: fetched at
    /// once, then anew before it expires, in the background (one task per
    /// scope, ending when the last `TokenSource` clone is dropped).
    pub fn prefetch(&self, scopes: &[&str]) {
        for scope in scopes {
            let scope = (*scope).to_owned();
            {
                let mut prefetched = lock(&self.inner.prefetched);
                if prefetched.contains(&scope) {
                    continue;
                }
                prefetched.push(scope.clone());
            }
            let weak = Arc::downgrade(&self.inner);
            tokio::spawn(async move {
                let mut backoff = RETRY_FIRST;
                loop {
                    let Some(inner) = weak.upgrade() else { return };
                    let source = TokenSource { inner };
                    let due = match source.refresh(&scope).await {
                        Ok(due) => {
                            backoff = RETRY_FIRST;
                            due
                        }
                        Err(error) => {
                            tracing::warn!(%error, scope, "token refresh failed; serving the token in hand");
                            let due = Instant::now() + backoff;
                            backoff = (backoff * 2).min(RETRY_MAX);
                            due
                        }
                    };
                    drop(source);
                    tokio::time::sleep_until(due.into()).await;
                }
            });
        }
    }

    /// A bearer token for `scope`, from the cache when it is still fresh.
    /// For a prefetched scope, a token not yet expired is fresh enough: the
    /// background task is already fetching the next one.
    pub async fn token(&self, scope: &str) -> Result<Arc<str>, TokenError> {
        let prefetched = lock(&self.inner.prefetched).iter().any(|s| s == scope);
        let now = Instant::now();
        let in_hand = self.cached(scope);
        if let Some(cached) = &in_hand {
            if now < cached.refresh_at || (prefetched && now < cached.expires_at) {
                return Ok(cached.token.clone());
            }
        }
        match self.refresh(scope).await {
            Ok(_) => self
                .cached(scope)
                .map(|cached| cached.token)
                .ok_or(TokenError::Failed(200)),
            // Entra failing: the token in hand still works until it expires.
            Err(error) => match in_hand.filter(|cached| Instant::now() < cached.expires_at) {
                Some(cached) => Ok(cached.token),
                None => Err(error),
            },
        }
    }

    /// Fetches a token for `scope` in the one flight of that scope (a caller
    /// that waited finds the token its predecessor fetched); when the next
    /// fetch is due.
    async fn refresh(&self, scope: &str) -> Result<Instant, TokenError> {
        let started = Instant::now();
        let flight = lock(&self.inner.flights)
            .entry(scope.to_owned())
            .or_default()
            .clone();
        let _guard = flight.lock().await;
        if let Some(cached) = self.cached(scope) {
            // Fetched by the flight we waited for.
            if cached.fetched_after(started) {
                return Ok(cached.refresh_at);
            }
        }
        let fetched = self.fetch(scope).await?;
        let due = fetched.refresh_at;
        lock(&self.inner.cache).insert(scope.to_owned(), fetched);
        Ok(due)
    }

    /// Drops a token the service rejected, so the next call fetches anew.
    pub fn forget(&self, scope: &str) {
        lock(&self.inner.cache).remove(scope);
    }

    fn cached(&self, scope: &str) -> Option<Cached> {
        lock(&self.inner.cache).get(scope).cloned()
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
        Ok(Cached::new(
            body.access_token.into(),
            Instant::now(),
            lifetime,
        ))
    }
}

impl Cached {
    fn new(token: Arc<str>, now: Instant, lifetime: Duration) -> Cached {
        // A short-lived token is renewed at half its life.
        let refresh_in = lifetime.checked_sub(REFRESH_MARGIN).unwrap_or(lifetime / 2);
        Cached {
            token,
            fetched: now,
            refresh_at: now + refresh_in,
            expires_at: now + lifetime.saturating_sub(EXPIRY_MARGIN),
        }
    }

    fn fetched_after(&self, instant: Instant) -> bool {
        self.fetched >= instant
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_renewed_before_it_expires_and_served_until_just_before() {
        let now = Instant::now();
        let table = [
            // lifetime s, refresh after s, served until s
            (3600, 3300, 3570),
            (600, 300, 570),
            (120, 60, 90),
            (20, 10, 0),
        ];
        for (lifetime, refresh, expires) in table {
            let cached = Cached::new("t".into(), now, Duration::from_secs(lifetime));
            assert_eq!(
                cached.refresh_at - now,
                Duration::from_secs(refresh),
                "{lifetime}"
            );
            assert_eq!(
                cached.expires_at - now,
                Duration::from_secs(expires),
                "{lifetime}"
            );
        }
    }
}
