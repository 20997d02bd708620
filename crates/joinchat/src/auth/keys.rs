//! Signing keys from an OpenID metadata document: metadata → `jwks_uri` →
//! JWKS, cached in memory.
//!
//! Refreshed fully every `refresh_interval` (in the background, the old keys
//! keep serving), and on an unknown `kid` at most once per `cooldown`. Both
//! refreshes are single-flight: concurrent callers wait for the one fetch in
//! progress, so a flood of forged `kid`s costs the metadata host one request
//! pair per cooldown, not one per token.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, RwLock,
    },
    time::{Duration, Instant},
};

use jsonwebtoken::DecodingKey;
use serde::Deserialize;
use url::Url;

/// One verification key and the channels it may sign for.
pub struct SigningKey {
    pub key: DecodingKey,
    pub endorsements: Vec<String>,
}

#[derive(Default)]
struct KeySet {
    keys: HashMap<String, Arc<SigningKey>>,
    fetched_at: Option<Instant>,
    last_unknown_kid_refresh: Option<Instant>,
    last_failure: Option<Instant>,
}

const FAILURE_BACKOFF: Duration = Duration::from_millis(250);

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("signing keys unavailable: {0}")]
    Unavailable(String),
}

#[derive(Clone)]
pub struct KeySource {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    metadata_url: Url,
    refresh_interval: Duration,
    cooldown: Duration,
    set: RwLock<KeySet>,
    refreshing: tokio::sync::Mutex<()>,
    /// Bumped on every change of the key set; verified-token caches key on it.
    generation: AtomicU64,
}

#[derive(Deserialize)]
struct Metadata {
    jwks_uri: String,
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    #[serde(default)]
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    endorsements: Vec<String>,
}

impl KeySource {
    pub fn new(
        http: reqwest::Client,
        metadata_url: Url,
        refresh_interval: Duration,
        cooldown: Duration,
    ) -> KeySource {
        KeySource {
            inner: Arc::new(Inner {
                http,
                metadata_url,
                refresh_interval,
                cooldown,
                set: RwLock::new(KeySet::default()),
                refreshing: tokio::sync::Mutex::new(()),
                generation: AtomicU64::new(0),
            }),
        }
    }

    /// Refreshes the keys every `refresh_interval` in the background, for as
    /// long as this key source is alive (the task holds only a weak reference).
    /// The first fetch starts at once, so the first request finds the keys.
    pub fn spawn_refresher(&self) {
        let weak = Arc::downgrade(&self.inner);
        let interval = self.inner.refresh_interval;
        let first = self.clone();
        tokio::spawn(async move {
            if let Err(error) = first.refresh_once(None).await {
                tracing::warn!(%error, "signing keys not fetched at start; retrying on demand");
            }
            drop(first);
            loop {
                tokio::time::sleep(interval).await;
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                let source = KeySource { inner };
                let seen = source.read().fetched_at;
                if seen.is_some_and(|at| at.elapsed() >= interval) {
                    if let Err(error) = source.refresh_once(seen).await {
                        tracing::warn!(%error, "periodic signing-key refresh failed; keeping the old keys");
                    }
                }
            }
        });
    }

    /// Fetches the metadata and its keys now; how many usable keys it holds
    /// and how many are endorsed for Teams (`msteams`). For `joinchat doctor`.
    pub async fn load(&self) -> Result<(usize, usize), KeyError> {
        self.fetch_and_store().await?;
        let set = self.read();
        let teams = set
            .keys
            .values()
            .filter(|key| key.endorsements.iter().any(|e| e == "msteams"))
            .count();
        Ok((set.keys.len(), teams))
    }

    pub fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    /// The key with this `kid`, fetching keys when needed and allowed.
    /// `Ok(None)` means the key is unknown even after any allowed refresh.
    pub async fn find(&self, kid: &str) -> Result<Option<Arc<SigningKey>>, KeyError> {
        let (found, fetched_at, last_unknown) = {
            let set = self.read();
            (
                set.keys.get(kid).cloned(),
                set.fetched_at,
                set.last_unknown_kid_refresh,
            )
        };
        let Some(fetched_at) = fetched_at else {
            self.first_fetch().await?;
            return Ok(self.read().keys.get(kid).cloned());
        };
        if fetched_at.elapsed() >= self.inner.refresh_interval {
            let this = self.clone();
            tokio::spawn(async move {
                if let Err(error) = this.refresh_once(Some(fetched_at)).await {
                    tracing::warn!(%error, "periodic signing-key refresh failed; keeping the old keys");
                }
            });
        }
        if found.is_some() {
            return Ok(found);
        }
        let may_refresh = last_unknown.is_none_or(|at| at.elapsed() >= self.inner.cooldown);
        if !may_refresh {
            return Ok(None);
        }
        let _flight = self.inner.refreshing.lock().await;
        // Someone may have refreshed while we waited for the flight.
        let (found, last_unknown) = {
            let set = self.read();
            (set.keys.get(kid).cloned(), set.last_unknown_kid_refresh)
        };
        if found.is_some() || last_unknown.is_some_and(|at| at.elapsed() < self.inner.cooldown) {
            return Ok(found);
        }
        self.write().last_unknown_kid_refresh = Some(Instant::now());
        self.fetch_and_store().await?;
        Ok(self.read().keys.get(kid).cloned())
    }

    /// With no keys at all, a request waits for them a little: a metadata
    /// host that hiccups once should not fail the request.
    async fn first_fetch(&self) -> Result<(), KeyError> {
        let mut last_error = None;
        for pause in [0, 300, 700] {
            tokio::time::sleep(Duration::from_millis(pause)).await;
            match self.refresh_once(None).await {
                Ok(()) => return Ok(()),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| KeyError::Unavailable("no attempt made".into())))
    }

    /// Fetches unless someone else fetched after `seen` while we waited.
    async fn refresh_once(&self, seen: Option<Instant>) -> Result<(), KeyError> {
        let _flight = self.inner.refreshing.lock().await;
        let (fetched_at, last_failure) = {
            let set = self.read();
            (set.fetched_at, set.last_failure)
        };
        if fetched_at != seen {
            return Ok(());
        }
        // With no keys at all, a failing metadata host is asked again at most
        // four times a second, however many requests are waiting.
        if seen.is_none() && last_failure.is_some_and(|at| at.elapsed() < FAILURE_BACKOFF) {
            return Err(KeyError::Unavailable(
                "recently failed; not retried yet".into(),
            ));
        }
        self.fetch_and_store().await
    }

    async fn fetch_and_store(&self) -> Result<(), KeyError> {
        let keys = match self.fetch().await {
            Ok(keys) => keys,
            Err(error) => {
                self.write().last_failure = Some(Instant::now());
                return Err(error);
            }
        };
        let mut set = self.write();
        let changed =
            set.keys.len() != keys.len() || keys.keys().any(|kid| !set.keys.contains_key(kid));
        set.keys = keys;
        set.fetched_at = Some(Instant::now());
        if changed {
            self.inner.generation.fetch_add(1, Ordering::AcqRel);
        }
        Ok(())
    }

    async fn fetch(&self) -> Result<HashMap<String, Arc<SigningKey>>, KeyError> {
        let metadata: Metadata = self.get_json(self.inner.metadata_url.as_str()).await?;
        let jwks: Jwks = self.get_json(&metadata.jwks_uri).await?;
        let mut keys = HashMap::new();
        for jwk in jwks.keys {
            // Keys without a kid or RSA components can't verify anything we accept.
            let (Some(kid), Some(n), Some(e)) = (jwk.kid, jwk.n, jwk.e) else {
                continue;
            };
            if jwk.kty != "RSA" {
                continue;
            }
            let Ok(key) = DecodingKey::from_rsa_components(&n, &e) else {
                continue;
            };
            let endorsements = jwk.endorsements;
            keys.insert(kid, Arc::new(SigningKey { key, endorsements }));
        }
        tracing::info!(keys = keys.len(), "signing keys fetched");
        Ok(keys)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, KeyError> {
        let response =
            self.inner.http.get(url).send().await.map_err(|e| {
                KeyError::Unavailable(format!("request failed: {}", e.without_url()))
            })?;
        let status = response.status();
        if !status.is_success() {
            return Err(KeyError::Unavailable(format!("answered {status}")));
        }
        response
            .json()
            .await
            .map_err(|_| KeyError::Unavailable("answered a document that is not JSON".into()))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, KeySet> {
        self.inner.set.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, KeySet> {
        self.inner.set.write().unwrap_or_else(|p| p.into_inner())
    }
}
