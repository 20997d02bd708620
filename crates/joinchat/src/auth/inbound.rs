//! Channel → bot authentication: the Bot Framework JWT rules, complete.
//!
//! `Bearer` header → RS256 only → key by `kid` (JWKS cache) → signature, `iss`
//! (`https://api.botframework.com`; Emulator issuers only when allowed), `aud` =
//! our app id, `exp`/`nbf` with five minutes of skew. Then, per activity and
//! every time (cached tokens included): the key's `endorsements` must contain
//! the activity's `channelId`, and the `serviceurl` claim must equal its
//! `serviceUrl`. `jku`, `x5u` and `x5c` headers are never followed.
//!
//! Verified tokens are cached by SHA-256 of the whole token until they expire.
//! Each entry remembers the key sets' generation it was verified under and is
//! used only while that generation holds: a key added, withdrawn or
//! re-published under the same `kid` with new content empties the cache.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use base64::Engine;
use jsonwebtoken::{errors::ErrorKind, Algorithm, Validation};
use serde::Deserialize;

use super::keys::{KeySource, SigningKey};

pub const CHANNEL_ISSUER: &str = "https://api.botframework.com";
const CLOCK_SKEW_SECS: u64 = 300;

/// Issuers of Bot Framework Emulator tokens (Entra v1 and v2 forms).
const EMULATOR_ISSUERS: &[&str] = &[
    "https://sts.windows.net/d6d49420-f39b-4df7-a1dc-d59a935871db/",
    "https://login.microsoftonline.com/d6d49420-f39b-4df7-a1dc-d59a935871db/v2.0",
    "https://sts.windows.net/f8cdef31-a31e-4b4a-93e4-5f571e91255a/",
    "https://login.microsoftonline.com/f8cdef31-a31e-4b4a-93e4-5f571e91255a/v2.0",
];

/// Why a request was refused. `reason` is the metrics label; the message is
/// for logs and never contains the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("no Authorization header")]
    MissingHeader,
    #[error("Authorization header is not `Bearer <token>`")]
    MalformedHeader,
    #[error("token is not a well-formed JWT")]
    MalformedToken,
    #[error("token algorithm is not RS256")]
    Algorithm,
    #[error("token names no signing key")]
    MissingKeyId,
    #[error("token signed by an unknown key")]
    UnknownKey,
    #[error("signature does not verify")]
    Signature,
    #[error("token expired")]
    Expired,
    #[error("token not yet valid")]
    NotYetValid,
    #[error("issuer not accepted")]
    Issuer,
    #[error("audience is not this bot")]
    Audience,
    #[error("signing key is not endorsed for this channel")]
    Endorsement,
    #[error("serviceurl claim does not match the activity")]
    ServiceUrl,
    #[error("signing keys are unavailable")]
    KeysUnavailable,
    #[error("an activity without a token names a serviceUrl that is not on this machine")]
    NotLoopbackServiceUrl,
}

impl AuthFailure {
    pub fn reason(self) -> &'static str {
        match self {
            AuthFailure::MissingHeader => "missing_header",
            AuthFailure::MalformedHeader => "malformed_header",
            AuthFailure::MalformedToken => "malformed_token",
            AuthFailure::Algorithm => "algorithm",
            AuthFailure::MissingKeyId => "missing_kid",
            AuthFailure::UnknownKey => "unknown_kid",
            AuthFailure::Signature => "signature",
            AuthFailure::Expired => "expired",
            AuthFailure::NotYetValid => "not_yet_valid",
            AuthFailure::Issuer => "issuer",
            AuthFailure::Audience => "audience",
            AuthFailure::Endorsement => "endorsement",
            AuthFailure::ServiceUrl => "serviceurl",
            AuthFailure::KeysUnavailable => "keys_unavailable",
            AuthFailure::NotLoopbackServiceUrl => "local_serviceurl",
        }
    }
}

/// A token whose signature and claims were verified.
#[derive(Clone)]
pub struct VerifiedCaller {
    key: Arc<SigningKey>,
    service_url: Option<String>,
    expires_at: u64,
    pub from_emulator: bool,
}

impl VerifiedCaller {
    /// The per-activity rules, run for every activity, cached token or not.
    pub fn check_activity(&self, channel_id: &str, service_url: &str) -> Result<(), AuthFailure> {
        if !self.key.endorsements.is_empty()
            && !self.key.endorsements.iter().any(|e| e == channel_id)
        {
            return Err(AuthFailure::Endorsement);
        }
        // Emulator tokens carry no serviceurl claim; channel tokens must.
        match (&self.service_url, self.from_emulator) {
            (Some(claim), _) if claim == service_url => Ok(()),
            (None, true) => Ok(()),
            _ => Err(AuthFailure::ServiceUrl),
        }
    }
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    serviceurl: Option<String>,
    exp: u64,
    /// Checked by `jsonwebtoken` when it is a number; read here as well so
    /// that one of another type is refused (as a malformed token) rather
    /// than skipped.
    #[serde(default)]
    #[allow(dead_code)]
    nbf: Option<f64>,
    #[serde(default)]
    ver: Option<String>,
    #[serde(default)]
    appid: Option<String>,
    #[serde(default)]
    azp: Option<String>,
}

#[derive(Deserialize)]
struct UnverifiedIssuer {
    #[serde(default)]
    iss: String,
}

pub struct ChannelAuth {
    app_id: String,
    channel_keys: KeySource,
    emulator: Option<(KeySource, Vec<String>)>,
    /// Verified tokens with the key generation they were verified under.
    verified: moka::sync::Cache<[u8; 32], (u64, VerifiedCaller)>,
    cached_generation: AtomicU64,
}

impl ChannelAuth {
    /// `emulator`: the Entra key source and tenant, when Emulator tokens are allowed.
    pub fn new(
        app_id: String,
        channel_keys: KeySource,
        emulator: Option<(KeySource, &str)>,
    ) -> Self {
        let emulator = emulator.map(|(keys, tenant)| {
            let mut issuers: Vec<String> =
                EMULATOR_ISSUERS.iter().map(|s| (*s).to_owned()).collect();
            issuers.push(format!("https://sts.windows.net/{tenant}/"));
            issuers.push(format!("https://login.microsoftonline.com/{tenant}/v2.0"));
            (keys, issuers)
        });
        ChannelAuth {
            app_id,
            channel_keys,
            emulator,
            verified: moka::sync::Cache::builder()
                .max_capacity(20_000)
                .time_to_live(Duration::from_secs(2 * 3600))
                .build(),
            cached_generation: AtomicU64::new(0),
        }
    }

    /// True when the channel's signing keys are loaded (trying to fetch them,
    /// for at most `wait`, when they never were): the bot can verify Teams' tokens.
    pub async fn keys_ready(&self, wait: Duration) -> bool {
        self.channel_keys.ensure_loaded(wait).await
    }

    /// Verifies the `Authorization` header value.
    pub async fn authenticate(&self, header: Option<&str>) -> Result<VerifiedCaller, AuthFailure> {
        let header = header.ok_or(AuthFailure::MissingHeader)?;
        let token = match header.split_once(' ') {
            Some(("Bearer", token)) if !token.is_empty() && !token.contains(' ') => token,
            _ => return Err(AuthFailure::MalformedHeader),
        };
        let digest = token_digest(token);
        let generation = self.forget_if_keys_changed();
        if let Some((verified_under, hit)) = self.verified.get(&digest) {
            if verified_under == generation {
                if now() <= hit.expires_at + CLOCK_SKEW_SECS {
                    return Ok(hit);
                }
                self.verified.invalidate(&digest);
                return Err(AuthFailure::Expired);
            }
        }
        let caller = self.verify(token).await?;
        // Verified with the keys of `generation` (or newer): an entry is only
        // ever used under the generation it names, so a change of keys while
        // this token was being verified cannot leave it behind.
        self.verified.insert(digest, (generation, caller.clone()));
        Ok(caller)
    }

    /// The key sets' current generation; the cache is emptied (to free it;
    /// entries of older generations are never used anyway) when it moved.
    fn forget_if_keys_changed(&self) -> u64 {
        let mut generation = self.channel_keys.generation();
        if let Some((keys, _)) = &self.emulator {
            generation = generation
                .wrapping_mul(1_000_003)
                .wrapping_add(keys.generation());
        }
        if self.cached_generation.swap(generation, Ordering::AcqRel) != generation {
            self.verified.invalidate_all();
        }
        generation
    }

    async fn verify(&self, token: &str) -> Result<VerifiedCaller, AuthFailure> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| match e.kind() {
            ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => AuthFailure::Algorithm,
            _ => AuthFailure::MalformedToken,
        })?;
        if header.alg != Algorithm::RS256 {
            return Err(AuthFailure::Algorithm);
        }
        let kid = header.kid.ok_or(AuthFailure::MissingKeyId)?;

        let (keys, issuers, from_emulator) = match &self.emulator {
            Some((keys, issuers)) if issuers.contains(&unverified_issuer(token)?) => {
                (keys, issuers.clone(), true)
            }
            _ => (&self.channel_keys, vec![CHANNEL_ISSUER.to_owned()], false),
        };
        let key = keys
            .find(&kid)
            .await
            .map_err(|error| {
                tracing::warn!(%error, "cannot verify tokens without signing keys");
                AuthFailure::KeysUnavailable
            })?
            .ok_or(AuthFailure::UnknownKey)?;

        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = CLOCK_SKEW_SECS;
        validation.validate_nbf = true;
        validation.set_audience(&[&self.app_id]);
        validation.set_issuer(&issuers);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let claims = jsonwebtoken::decode::<Claims>(token, &key.key, &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => AuthFailure::Signature,
                ErrorKind::ExpiredSignature => AuthFailure::Expired,
                ErrorKind::ImmatureSignature => AuthFailure::NotYetValid,
                ErrorKind::InvalidIssuer => AuthFailure::Issuer,
                ErrorKind::InvalidAudience => AuthFailure::Audience,
                ErrorKind::MissingRequiredClaim(claim) if claim == "aud" => AuthFailure::Audience,
                ErrorKind::MissingRequiredClaim(claim) if claim == "iss" => AuthFailure::Issuer,
                ErrorKind::MissingRequiredClaim(_) => AuthFailure::MalformedToken,
                ErrorKind::InvalidAlgorithm => AuthFailure::Algorithm,
                _ => AuthFailure::MalformedToken,
            })?
            .claims;
        if from_emulator {
            // Entra v1 tokens name the app in `appid`, v2 tokens in `azp`.
            let app = match claims.ver.as_deref() {
                None | Some("1.0") => claims.appid.as_deref(),
                Some("2.0") => claims.azp.as_deref(),
                Some(_) => None,
            };
            if app != Some(self.app_id.as_str()) {
                return Err(AuthFailure::Audience);
            }
        }
        Ok(VerifiedCaller {
            key,
            service_url: claims.serviceurl,
            expires_at: claims.exp,
            from_emulator,
        })
    }
}

/// SHA-256 of the whole token: the verified-token cache's key. A
/// cryptographic hash, so no forged token can be aimed at a cached entry.
fn token_digest(token: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut key = [0u8; 32];
    key.copy_from_slice(digest.as_ref());
    key
}

/// The `iss` claim read without verification, only to pick a key source.
fn unverified_issuer(token: &str) -> Result<String, AuthFailure> {
    let payload = token.split('.').nth(1).ok_or(AuthFailure::MalformedToken)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| AuthFailure::MalformedToken)?;
    let claims: UnverifiedIssuer =
        serde_json::from_slice(&bytes).map_err(|_| AuthFailure::MalformedToken)?;
    Ok(claims.iss)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
