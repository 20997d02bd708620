//! RSA signing keys for the simulated issuers, and JWT signing with them.
//!
//! Generating a 2048-bit key takes a noticeable fraction of a second, and a
//! test binary may start a hundred clouds, so keys come from a process-wide
//! pool: the cloud asks for key number N and gets the same key as every other
//! cloud asking for N. Different clouds never compare keys, so sharing is safe.

use std::sync::{Arc, Mutex, OnceLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// One RSA key pair with its key id.
pub(crate) struct KeyPair {
    pub kid: String,
    encoding: EncodingKey,
    pub decoding: DecodingKey,
    modulus: String,
    exponent: String,
}

impl KeyPair {
    fn generate() -> KeyPair {
        let private = match RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048) {
            Ok(key) => key,
            Err(error) => panic!("RSA key generation failed: {error}"),
        };
        let der = match private.to_pkcs1_der() {
            Ok(der) => der,
            Err(error) => panic!("RSA key encoding failed: {error}"),
        };
        let modulus = URL_SAFE_NO_PAD.encode(private.n().to_bytes_be());
        let exponent = URL_SAFE_NO_PAD.encode(private.e().to_bytes_be());
        // Like Entra's `kid`s: a thumbprint of the public key.
        let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(modulus.as_bytes())[..20]);
        let decoding = DecodingKey::from_rsa_raw_components(
            &private.n().to_bytes_be(),
            &private.e().to_bytes_be(),
        );
        KeyPair {
            kid,
            encoding: EncodingKey::from_rsa_der(der.as_bytes()),
            decoding,
            modulus,
            exponent,
        }
    }

    /// A compact JWS: `header.claims.signature`, signed RS256 whatever the
    /// header says (tests forge headers on purpose).
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        match jsonwebtoken::crypto::sign(signing_input.as_bytes(), &self.encoding, Algorithm::RS256)
        {
            Ok(signature) => format!("{signing_input}.{signature}"),
            Err(error) => panic!("RS256 signing failed: {error}"),
        }
    }

    /// The standard header for this key.
    pub fn header(&self) -> Value {
        json!({"alg": "RS256", "kid": self.kid, "typ": "JWT"})
    }

    /// The public key as a JWK; `endorsements` only for Bot Framework keys.
    pub fn jwk(&self, endorsements: Option<&[String]>) -> Value {
        self.jwk_as(&self.kid, endorsements)
    }

    /// The public key as a JWK published under another `kid`.
    pub fn jwk_as(&self, kid: &str, endorsements: Option<&[String]>) -> Value {
        let mut jwk = json!({
            "kty": "RSA",
            "use": "sig",
            "kid": kid,
            "n": self.modulus,
            "e": self.exponent,
        });
        if let Some(endorsements) = endorsements {
            jwk["endorsements"] = json!(endorsements);
        }
        jwk
    }
}

/// Key number `index` of the process-wide pool, generated on first use.
pub(crate) fn pooled(index: usize) -> Arc<KeyPair> {
    static POOL: OnceLock<Mutex<Vec<Arc<KeyPair>>>> = OnceLock::new();
    let pool = POOL.get_or_init(|| Mutex::new(Vec::new()));
    let mut keys = pool.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    while keys.len() <= index {
        keys.push(Arc::new(KeyPair::generate()));
    }
    Arc::clone(&keys[index])
}

/// Seconds since the Unix epoch.
pub(crate) fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
