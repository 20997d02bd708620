//! The channel JWT rules through `ChannelAuth`'s public surface, on tokens
//! signed with the simulated Bot Framework's real key and then bent one
//! header field or one claim at a time: each case is accepted or refused
//! with exactly the documented `AuthFailure`, and garbage never panics.

use std::{
    sync::OnceLock,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use joinchat::auth::{AuthFailure, ChannelAuth, KeySource};
use joinchat_sandbox::{Cloud, CloudOptions, World};
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::strategies::{json, key};

const ISSUER: &str = "https://api.botframework.com";

/// One simulated cloud and one `ChannelAuth` reading its keys, for every case.
struct Fixture {
    runtime: tokio::runtime::Runtime,
    cloud: Cloud,
    auth: ChannelAuth,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (cloud, auth) = runtime.block_on(async {
            let options = CloudOptions {
                listen: "127.0.0.1:0".parse().unwrap(),
                app_id: None,
                app_password: None,
                bot_endpoint: None,
                dataverse_webhook_key: None,
            };
            let cloud = Cloud::start(World::demo(), options).await.unwrap();
            let keys = KeySource::new(
                reqwest::Client::new(),
                cloud.urls().openid_metadata.parse().unwrap(),
                Duration::from_secs(24 * 3600),
                Duration::from_secs(30),
            );
            keys.spawn_refresher();
            let auth = ChannelAuth::new(cloud.app_id(), keys, None);
            (cloud, auth)
        });
        Fixture {
            runtime,
            cloud,
            auth,
        }
    })
}

fn authenticate(header: Option<&str>) -> Result<(), AuthFailure> {
    let fixture = fixture();
    fixture
        .runtime
        .block_on(fixture.auth.authenticate(header))
        .map(|_| ())
}

fn service_url() -> String {
    fixture().cloud.urls().connector
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Signs `claims` under `header` with the channel's current key.
fn signed(header: &Value, claims: &Value) -> String {
    let issuer = fixture().cloud.channel_issuer();
    issuer.sign_with_header(header.clone(), claims, &issuer.current_kid())
}

fn good_header() -> Value {
    json!({"alg": "RS256", "kid": fixture().cloud.channel_issuer().current_kid(), "typ": "JWT"})
}

fn good_claims() -> Value {
    let mut claims = fixture().cloud.channel_issuer().claims(&service_url());
    // Unique, so that no case is answered from the verified-token cache.
    claims["jti"] = json!(uuid::Uuid::new_v4().to_string());
    claims
}

/// A claim's new value; `None` removes it.
fn claim_value(right: &'static str) -> impl Strategy<Value = Option<Value>> {
    // Seconds from now, clear of the five minutes of skew on either side.
    let offset = prop_oneof![-1_000_000i64..-400, -200i64..200, 400i64..1_000_000];
    prop_oneof![
        2 => json().prop_map(Some),
        1 => Just(None),
        1 => Just(Some(json!(right))),
        1 => json().prop_map(move |other| Some(json!([right, other]))),
        1 => Just(Some(json!([right]))),
        2 => offset.prop_map(|seconds| Some(json!(now() + seconds))),
        1 => (1.0f64..4e9).prop_map(|f| Some(json!(f))),
        1 => (i64::MIN..0).prop_map(|n| Some(json!(n))),
    ]
}

/// What a `Value` is as a set of strings (an `iss`/`aud` claim): a string,
/// or an array of strings only.
fn as_string_set(value: &Value) -> Option<Vec<&str>> {
    match value {
        Value::String(text) => Some(vec![text.as_str()]),
        Value::Array(items) => items.iter().map(Value::as_str).collect(),
        _ => None,
    }
}

/// `jsonwebtoken`'s NumericDate: an integer ≥ 0, or a finite float ≥ 0.
fn numeric_date(value: &Value) -> Option<i64> {
    value
        .as_u64()
        .map(|n| n.min(i64::MAX as u64) as i64)
        .or_else(|| {
            value
                .as_f64()
                .filter(|f| *f >= 0.0)
                .map(|f| f.round() as i64)
        })
}

/// The documented answer to the good claims with `claim` set to `value`.
fn expected_for_claim(claim: &str, value: &Option<Value>) -> Result<(), AuthFailure> {
    let app_id = fixture().cloud.app_id();
    let set_containing = |wanted: &str, failure| match value.as_ref().and_then(as_string_set) {
        Some(set) if set.contains(&wanted) => Ok(()),
        _ => Err(failure),
    };
    match claim {
        "iss" => set_containing(ISSUER, AuthFailure::Issuer),
        "aud" => set_containing(&app_id, AuthFailure::Audience),
        "exp" => match value.as_ref().and_then(Value::as_u64) {
            None => Err(AuthFailure::MalformedToken),
            Some(exp) if i128::from(exp) < i128::from(now() - 300) => Err(AuthFailure::Expired),
            Some(_) => Ok(()),
        },
        "nbf" => match value {
            None | Some(Value::Null) => Ok(()),
            Some(number @ Value::Number(_)) => match numeric_date(number) {
                Some(nbf) if nbf > now() + 300 => Err(AuthFailure::NotYetValid),
                _ => Ok(()),
            },
            Some(_) => Err(AuthFailure::MalformedToken),
        },
        "serviceurl" | "ver" | "appid" | "azp" => match value {
            None | Some(Value::Null | Value::String(_)) => Ok(()),
            Some(_) => Err(AuthFailure::MalformedToken),
        },
        _ => Ok(()),
    }
}

/// The claims the bot reads or has `jsonwebtoken` check.
const READ_CLAIMS: &[&str] = &[
    "iss",
    "aud",
    "exp",
    "nbf",
    "serviceurl",
    "ver",
    "appid",
    "azp",
];

/// Header fields and what each accepts (`jsonwebtoken::Header`).
const HEADER_FIELDS: &[&str] = &[
    "typ", "alg", "cty", "jku", "jwk", "kid", "x5u", "x5c", "x5t", "x5t#S256",
];

const JOSE_ALGORITHMS: &[&str] = &[
    "HS256", "HS384", "HS512", "ES256", "ES384", "RS384", "RS512", "PS256", "PS384", "PS512",
    "EdDSA",
];

fn expected_for_header(field: &str, value: &Option<Value>) -> Result<(), AuthFailure> {
    let kid = fixture().cloud.channel_issuer().current_kid();
    match (field, value) {
        ("alg", Some(Value::String(alg))) if alg == "RS256" => Ok(()),
        ("alg", Some(Value::String(alg))) if JOSE_ALGORITHMS.contains(&alg.as_str()) => {
            Err(AuthFailure::Algorithm)
        }
        ("alg", _) => Err(AuthFailure::MalformedToken),
        ("kid", None | Some(Value::Null)) => Err(AuthFailure::MissingKeyId),
        ("kid", Some(Value::String(named))) if *named == kid => Ok(()),
        ("kid", Some(Value::String(_))) => Err(AuthFailure::UnknownKey),
        ("kid", Some(_)) => Err(AuthFailure::MalformedToken),
        (
            "typ" | "cty" | "jku" | "x5u" | "x5t" | "x5t#S256",
            None | Some(Value::Null | Value::String(_)),
        ) => Ok(()),
        ("typ" | "cty" | "jku" | "x5u" | "x5t" | "x5t#S256", Some(_)) => {
            Err(AuthFailure::MalformedToken)
        }
        _ => Ok(()),
    }
}

proptest! {
    #![proptest_config(crate::cases(256))]

    #[test]
    fn any_authorization_header_is_refused(header in crate::strategies::text()) {
        let answer = authenticate(Some(&header));
        prop_assert!(answer.is_err(), "{:?}", header);
        if !header.starts_with("Bearer ") {
            prop_assert_eq!(answer, Err(AuthFailure::MalformedHeader));
        }
    }

    #[test]
    fn three_segments_of_anything_are_refused_as_a_token_problem(
        segments in proptest::collection::vec(prop_oneof![json().prop_map(|v| v.to_string()), any::<String>()], 3),
        encode in proptest::collection::vec(any::<bool>(), 3),
    ) {
        use base64::Engine;
        let parts: Vec<String> = segments.iter().zip(encode).map(|(segment, encode)| {
            if encode { base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(segment) } else { segment.replace([' ', '.'], "") }
        }).collect();
        let answer = authenticate(Some(&format!("Bearer {}", parts.join("."))));
        prop_assert!(answer.is_err());
        prop_assert_ne!(answer, Err(AuthFailure::KeysUnavailable));
    }

    #[test]
    fn one_claim_changed_gets_exactly_its_documented_answer(
        claim in prop_oneof![3 => prop::sample::select(READ_CLAIMS).prop_map(str::to_owned), 1 => key()],
        value in claim_value("placeholder"),
    ) {
        let mut claims = good_claims();
        // The right value for iss/aud where the strategy said "right".
        let right = match claim.as_str() { "iss" => json!(ISSUER), "aud" => json!(fixture().cloud.app_id()), _ => json!("placeholder") };
        let value = value.map(|v| replace_placeholder(v, &right));
        let object = claims.as_object_mut().unwrap();
        match &value {
            Some(v) => { object.insert(claim.clone(), v.clone()); }
            None => { object.remove(&claim); }
        }
        let expected = if claim == "jti" { Ok(()) } else { expected_for_claim(&claim, &value) };
        let token = signed(&good_header(), &claims);
        prop_assert_eq!(authenticate(Some(&format!("Bearer {token}"))), expected, "{} = {:?}", claim, value);
    }

    #[test]
    fn one_header_field_changed_gets_exactly_its_documented_answer(
        field in prop_oneof![prop::sample::select(HEADER_FIELDS).prop_map(str::to_owned), key()],
        value in prop_oneof![
            3 => json().prop_map(Some),
            1 => Just(None),
            1 => prop::sample::select(JOSE_ALGORITHMS).prop_map(|a| Some(json!(a))),
            1 => Just(Some(json!("RS256"))),
            1 => Just(Some(json!("none"))),
        ],
    ) {
        prop_assume!(field != "jwk" && field != "x5c", "typed sub-documents; refused when malformed, never followed");
        let mut header = good_header();
        let object = header.as_object_mut().unwrap();
        match &value {
            Some(v) => { object.insert(field.clone(), v.clone()); }
            None => { object.remove(&field); }
        }
        let token = signed(&header, &good_claims());
        prop_assert_eq!(
            authenticate(Some(&format!("Bearer {token}"))),
            expected_for_header(&field, &value),
            "{} = {:?}", field, value
        );
    }

    #[test]
    fn a_changed_character_breaks_the_signature(part in 1usize..3, at in any::<prop::sample::Index>(), with in prop::sample::select(b"AQgw_-9z".to_vec())) {
        let token = signed(&good_header(), &good_claims());
        let segments: Vec<&str> = token.split('.').collect();
        let segment = segments[part];
        let position = at.index(segment.len());
        prop_assume!(segment.as_bytes()[position] != with);
        let mut bent = segment.as_bytes().to_vec();
        bent[position] = with;
        let mut parts: Vec<String> = segments.iter().map(|s| (*s).to_owned()).collect();
        parts[part] = String::from_utf8(bent).unwrap();
        let answer = authenticate(Some(&format!("Bearer {}", parts.join("."))));
        prop_assert!(
            matches!(answer, Err(AuthFailure::Signature | AuthFailure::MalformedToken)),
            "{:?}", answer
        );
    }

    #[test]
    fn the_per_activity_rules_hold_for_any_channel_and_service_url(channel in crate::strategies::text(), url in crate::strategies::text()) {
        let fixture = fixture();
        let token = signed(&good_header(), &good_claims());
        let caller = fixture.runtime.block_on(fixture.auth.authenticate(Some(&format!("Bearer {token}")))).unwrap();
        let endorsed = channel == "msteams" || channel == "emulator";
        prop_assert_eq!(caller.check_activity(&channel, &url).is_ok(), endorsed && url == service_url());
        prop_assert!(caller.check_activity("msteams", &service_url()).is_ok());
        prop_assert_eq!(caller.check_activity(&channel, &service_url()).is_ok(), endorsed);
    }
}

/// The claim strategy writes "placeholder" where the right value belongs.
fn replace_placeholder(value: Value, right: &Value) -> Value {
    match value {
        Value::String(text) if text == "placeholder" => right.clone(),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| replace_placeholder(item, right))
                .collect(),
        ),
        other => other,
    }
}

/// A date claim of the wrong type is a malformed token, not a skipped check.
#[test]
fn a_not_before_that_is_not_a_date_is_refused() {
    for nbf in [json!("tomorrow"), json!(true), json!({"at": 1}), json!([1])] {
        let mut claims = good_claims();
        claims["nbf"] = nbf.clone();
        let token = signed(&good_header(), &claims);
        assert_eq!(
            authenticate(Some(&format!("Bearer {token}"))),
            Err(AuthFailure::MalformedToken),
            "nbf = {nbf}"
        );
    }
}
