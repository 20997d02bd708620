//! Signing keys from an OpenID metadata document: metadata → `jwks_uri` →
//! JWKS, cached in memory.
//!
//! Three things make the keys be fetched, and all three share one flight and
//! one back-off:
//! - **none yet**: a request waits (at most [`FIRST_KEYS_PATIENCE`]) for the
//!   first fetch;
//! - **age**: the background refresher fetches every `refresh_interval` (the
//!   old keys keep serving meanwhile; requests never start a refresh because
//!   the keys are old, however old they are);
//! - **an unknown `kid`**: at most one fetch per `cooldown`, so a newly
//!   published key is found by the first token signed with it, and a flood of
//!   forged `kid`s costs the metadata host one request pair per cooldown.
//!
//! Single flight: one fetch at a time; whoever waited for it re-checks before
//! fetching again. Back-off: after a failed fetch nothing fetches again before
//! [`FAILURE_BACKOFF_MIN`], doubling per consecutive failure up to
//! [`FAILURE_BACKOFF_MAX`].
//!
//! The key set's *generation* changes whenever its content does (a key added,
//! withdrawn, or re-published under the same `kid` with other material or
//! other endorsements); the verified-token cache is only valid for one
//! generation.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, RwLock,
    },
    time::Duration,
};

use jsonwebtoken::DecodingKey;
use serde::Deserialize;
use tokio::time::Instant;
use url::Url;

/// One verification key and the channels it may sign for.
pub struct SigningKey {
    pub key: DecodingKey,
    pub endorsements: Vec<String>,
}

/// First pause after a failed fetch.
pub const FAILURE_BACKOFF_MIN: Duration = Duration::from_millis(250);
/// Longest pause between two fetches while the metadata host keeps failing.
pub const FAILURE_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How long a request with no keys at all waits for them.
pub const FIRST_KEYS_PATIENCE: Duration = Duration::from_secs(1);
/// The background refresher never loops faster than this, whatever the tunable.
const MIN_REFRESH_INTERVAL: Duration = Duration::from_millis(10);

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("signing keys unavailable: {0}")]
    Unavailable(String),
    #[error("signing keys unavailable: the last fetch failed; not retried yet")]
    BackingOff(Instant),
}

#[derive(Default)]
struct KeySet {
    keys: HashMap<String, Arc<SigningKey>>,
    /// SHA-256 over the published content (kid, n, e, endorsements).
    digest: Option<[u8; 32]>,
    /// The last successful fetch.
    fetched_at: Option<Instant>,
    /// Fetches attempted so far (successful or not).
    attempts: u64,
    /// Consecutive failed fetches.
    failures: u32,
    /// No fetch before this instant (back-off after a failure).
    retry_at: Option<Instant>,
    last_unknown_kid_refresh: Option<Instant>,
}

/// Why a refresh is wanted; each says when it is no longer needed.
#[derive(Clone, Copy)]
enum Cause<'a> {
    Missing,
    Periodic,
    UnknownKid(&'a str),
}

#[derive(Clone)]
pub struct KeySource {
    inner: Arc<Inner>,
}

struct Inner {
    origin: Origin,
    refresh_interval: Duration,
    cooldown: Duration,
    set: RwLock<KeySet>,
    flight: tokio::sync::Mutex<()>,
    /// Bumped on every change of the key set's content.
    generation: AtomicU64,
}

/// Where the keys come from: the network, or a test's script.
enum Origin {
    Http {
        http: reqwest::Client,
        metadata_url: Url,
    },
    #[cfg(test)]
    Scripted(tests::Script),
}

#[derive(Deserialize)]
struct Metadata {
    jwks_uri: String,
}

#[derive(Deserialize)]
pub(crate) struct Jwks {
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
        Self::with_origin(
            Origin::Http { http, metadata_url },
            refresh_interval,
            cooldown,
        )
    }

    fn with_origin(origin: Origin, refresh_interval: Duration, cooldown: Duration) -> KeySource {
        KeySource {
            inner: Arc::new(Inner {
                origin,
                refresh_interval: refresh_interval.max(MIN_REFRESH_INTERVAL),
                cooldown,
                set: RwLock::new(KeySet::default()),
                flight: tokio::sync::Mutex::new(()),
                generation: AtomicU64::new(0),
            }),
        }
    }

    /// Fetches the keys now and then every `refresh_interval` (sooner after a
    /// failure, as the back-off allows), for as long as this key source is
    /// alive: the task holds only a weak reference between fetches.
    pub fn spawn_refresher(&self) {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                let due = match weak.upgrade() {
                    Some(inner) => KeySource { inner }.next_refresh(),
                    None => return,
                };
                tokio::time::sleep_until(due).await;
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                let source = KeySource { inner };
                if let Err(KeyError::Unavailable(error)) = source.refresh(Cause::Periodic).await {
                    tracing::warn!(%error, "signing-key refresh failed; keeping the keys in hand");
                }
            }
        });
    }

    /// True once a key set has been fetched (a later failed refresh keeps it).
    pub fn is_loaded(&self) -> bool {
        self.read().fetched_at.is_some()
    }

    /// Fetches the keys when none were ever fetched: one attempt in the one
    /// flight, unless the failure back-off says not yet (the background
    /// refresher then tries when it ends), waited for at most `wait` (a slow
    /// fetch goes on in the background). True when loaded.
    pub async fn ensure_loaded(&self, wait: Duration) -> bool {
        if self.is_loaded() {
            return true;
        }
        let this = self.clone();
        let attempt = tokio::spawn(async move {
            if let Err(error) = this.refresh(Cause::Missing).await {
                tracing::debug!(%error, "signing keys still not loaded");
            }
        });
        let _ = tokio::time::timeout(wait, attempt).await;
        self.is_loaded()
    }

    /// When the background refresher should look next.
    fn next_refresh(&self) -> Instant {
        let set = self.read();
        let now = Instant::now();
        match (set.retry_at, set.fetched_at) {
            (Some(retry), _) if retry > now => retry,
            (_, Some(at)) => (at + self.inner.refresh_interval).max(now),
            (_, None) => now,
        }
    }

    /// Fetches the metadata and its keys now (in the one flight, whatever the
    /// back-off); how many usable keys it holds and how many are endorsed for
    /// Teams (`msteams`). For `joinchat doctor`.
    pub async fn load(&self) -> Result<(usize, usize), KeyError> {
        let _flight = self.inner.flight.lock().await;
        self.write().attempts += 1;
        self.fetch_and_record().await?;
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
        let (found, has_keys, may_refresh) = {
            let set = self.read();
            (
                set.keys.get(kid).cloned(),
                set.fetched_at.is_some(),
                self.unknown_kid_may_refresh(&set, Instant::now()),
            )
        };
        if found.is_some() {
            return Ok(found);
        }
        if !has_keys {
            self.wait_for_first_keys().await?;
            return Ok(self.lookup(kid));
        }
        if !may_refresh {
            // Within the cooldown no new fetch starts; one in flight (maybe
            // started by a token signed with this very key) is waited for.
            if self.inner.flight.try_lock().is_ok() {
                return Ok(None);
            }
            drop(self.inner.flight.lock().await);
            return Ok(self.lookup(kid));
        }
        match self.refresh(Cause::UnknownKid(kid)).await {
            Ok(()) | Err(KeyError::BackingOff(_)) => Ok(self.lookup(kid)),
            Err(error) => Err(error),
        }
    }

    fn lookup(&self, kid: &str) -> Option<Arc<SigningKey>> {
        self.read().keys.get(kid).cloned()
    }

    fn unknown_kid_may_refresh(&self, set: &KeySet, now: Instant) -> bool {
        set.last_unknown_kid_refresh
            .is_none_or(|at| now >= at + self.inner.cooldown)
    }

    /// With no keys at all, a request waits a little for them: a metadata
    /// host that hiccups once should not fail the request.
    async fn wait_for_first_keys(&self) -> Result<(), KeyError> {
        let deadline = Instant::now() + FIRST_KEYS_PATIENCE;
        let mut last_error = None;
        loop {
            if self.read().fetched_at.is_some() {
                return Ok(());
            }
            match self.refresh(Cause::Missing).await {
                Ok(()) => {}
                Err(KeyError::BackingOff(until)) if until <= deadline => {
                    tokio::time::sleep_until(until).await;
                }
                Err(KeyError::BackingOff(until)) => {
                    return Err(last_error.unwrap_or(KeyError::BackingOff(until)));
                }
                Err(error) => last_error = Some(error),
            }
        }
    }

    /// The one way to fetch: single flight, and only while still needed and
    /// outside the back-off once the flight is ours.
    async fn refresh(&self, cause: Cause<'_>) -> Result<(), KeyError> {
        let attempts_seen = self.read().attempts;
        let _flight = self.inner.flight.lock().await;
        {
            let mut set = self.write();
            let now = Instant::now();
            let fetched_meanwhile = set.attempts != attempts_seen;
            let needed = match cause {
                Cause::Missing => set.fetched_at.is_none() && !fetched_meanwhile,
                Cause::Periodic => set
                    .fetched_at
                    .is_none_or(|at| now >= at + self.inner.refresh_interval),
                Cause::UnknownKid(kid) => {
                    !set.keys.contains_key(kid)
                        && !fetched_meanwhile
                        && self.unknown_kid_may_refresh(&set, now)
                }
            };
            if !needed {
                return Ok(());
            }
            if let Some(until) = set.retry_at.filter(|until| now < *until) {
                return Err(KeyError::BackingOff(until));
            }
            if let Cause::UnknownKid(_) = cause {
                set.last_unknown_kid_refresh = Some(now);
            }
            set.attempts += 1;
        }
        self.fetch_and_record().await
    }

    /// Fetches and records the outcome: the keys, or one more failure and
    /// its back-off. The caller holds the flight.
    async fn fetch_and_record(&self) -> Result<(), KeyError> {
        let fetched = self.fetch().await;
        let mut set = self.write();
        let now = Instant::now();
        match fetched {
            Ok(jwks) => {
                let (keys, digest) = usable_keys(jwks);
                tracing::info!(keys = keys.len(), "signing keys fetched");
                if set.digest != Some(digest) {
                    self.inner.generation.fetch_add(1, Ordering::AcqRel);
                }
                set.keys = keys;
                set.digest = Some(digest);
                set.fetched_at = Some(now);
                set.failures = 0;
                set.retry_at = None;
                Ok(())
            }
            Err(error) => {
                set.failures = set.failures.saturating_add(1);
                set.retry_at = Some(now + backoff(set.failures));
                Err(error)
            }
        }
    }

    async fn fetch(&self) -> Result<Jwks, KeyError> {
        match &self.inner.origin {
            Origin::Http { http, metadata_url } => {
                let metadata: Metadata = get_json(http, metadata_url.as_str()).await?;
                get_json(http, &metadata.jwks_uri).await
            }
            #[cfg(test)]
            Origin::Scripted(script) => script().await,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, KeySet> {
        self.inner.set.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, KeySet> {
        self.inner.set.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// The pause after `failures` consecutive failed fetches.
fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    (FAILURE_BACKOFF_MIN * (1u32 << doublings)).min(FAILURE_BACKOFF_MAX)
}

/// The keys that can verify something we accept, and a digest of everything
/// published that matters to a verification (so a key re-published under the
/// same `kid` with new material or endorsements changes the digest).
fn usable_keys(jwks: Jwks) -> (HashMap<String, Arc<SigningKey>>, [u8; 32]) {
    let mut published = BTreeMap::new();
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
        published.insert(kid.clone(), (n, e, jwk.endorsements.clone()));
        let endorsements = jwk.endorsements;
        keys.insert(kid, Arc::new(SigningKey { key, endorsements }));
    }
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    // Every string length-prefixed and the endorsements counted first, so no
    // two different key sets feed the hash the same bytes.
    let mut feed = |part: &str| {
        context.update(&(part.len() as u64).to_be_bytes());
        context.update(part.as_bytes());
    };
    for (kid, (n, e, endorsements)) in &published {
        feed(kid);
        feed(n);
        feed(e);
        feed(&endorsements.len().to_string());
        endorsements
            .iter()
            .for_each(|endorsement| feed(endorsement));
    }
    let mut digest = [0u8; 32];
    digest.copy_from_slice(context.finish().as_ref());
    (keys, digest)
}

async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, KeyError> {
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|e| KeyError::Unavailable(format!("request failed: {}", e.without_url())))?;
    let status = response.status();
    if !status.is_success() {
        return Err(KeyError::Unavailable(format!("answered {status}")));
    }
    response
        .json()
        .await
        .map_err(|_| KeyError::Unavailable("answered a document that is not JSON".into()))
}

#[cfg(test)]
#[path = "keys_tests.rs"]
mod tests;
