//! The key source's refresh rules under tokio's paused clock: a scripted
//! metadata host that counts its fetches and fails or changes on cue.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Mutex,
};

use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::*;

pub(super) type Script = Arc<dyn Fn() -> BoxFuture<'static, Result<Jwks, KeyError>> + Send + Sync>;

/// What the scripted host publishes next; `None` means it fails.
struct Host {
    published: Mutex<Option<Value>>,
    fetches: AtomicUsize,
    latency: Duration,
}

impl Host {
    fn new(keys: &[Value]) -> Arc<Host> {
        Host::slow(keys, Duration::ZERO)
    }

    /// A host that takes `latency` to answer.
    fn slow(keys: &[Value], latency: Duration) -> Arc<Host> {
        Arc::new(Host {
            published: Mutex::new(Some(json!({ "keys": keys }))),
            fetches: AtomicUsize::new(0),
            latency,
        })
    }

    fn publish(&self, keys: &[Value]) {
        *self.published.lock().unwrap() = Some(json!({ "keys": keys }));
    }

    fn fail(&self) {
        *self.published.lock().unwrap() = None;
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    fn source(self: &Arc<Host>, refresh_interval: Duration, cooldown: Duration) -> KeySource {
        let host = self.clone();
        let script: Script = Arc::new(move || {
            let host = host.clone();
            Box::pin(async move {
                host.fetches.fetch_add(1, Ordering::SeqCst);
                if !host.latency.is_zero() {
                    tokio::time::sleep(host.latency).await;
                }
                let published = host.published.lock().unwrap().clone();
                match published {
                    Some(document) => Ok(serde_json::from_value(document).unwrap()),
                    None => Err(KeyError::Unavailable("answered 503".into())),
                }
            })
        });
        KeySource::with_origin(Origin::Scripted(script), refresh_interval, cooldown)
    }
}

/// A JWK; `n` and `e` are only base64url here, never used to verify.
fn jwk(kid: &str, n: &str, endorsements: &[&str]) -> Value {
    json!({"kty": "RSA", "kid": kid, "n": n, "e": "AQAB", "endorsements": endorsements})
}

const HOUR: Duration = Duration::from_secs(3600);
const COOLDOWN: Duration = Duration::from_secs(30);

#[tokio::test(start_paused = true)]
async fn requests_without_keys_share_one_fetch() {
    let host = Host::slow(
        &[jwk("a", "AAAA", &["msteams"])],
        Duration::from_millis(100),
    );
    let source = host.source(HOUR, COOLDOWN);
    let finds = (0..50).map(|_| source.find("a"));
    let found = futures::future::join_all(finds).await;
    assert!(found.iter().all(|k| matches!(k, Ok(Some(_)))));
    assert_eq!(host.fetches(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_first_fetch_that_fails_once_is_retried_within_the_patience() {
    let host = Host::new(&[]);
    host.fail();
    let source = host.source(HOUR, COOLDOWN);
    let retry = {
        let host = host.clone();
        async move {
            while host.fetches() == 0 {
                tokio::task::yield_now().await;
            }
            host.publish(&[jwk("a", "AAAA", &[])]);
        }
    };
    let (found, ()) = tokio::join!(source.find("a"), retry);
    assert!(matches!(found, Ok(Some(_))));
    assert_eq!(host.fetches(), 2);
}

#[tokio::test(start_paused = true)]
async fn without_keys_a_failing_host_is_asked_once_per_backoff_however_many_wait() {
    let host = Host::new(&[]);
    host.fail();
    let source = host.source(HOUR, COOLDOWN);
    let finds = (0..100).map(|_| source.find("a"));
    let found = futures::future::join_all(finds).await;
    assert!(found.iter().all(Result::is_err));
    // At 0, after 250 ms and after 500 ms more; the next pause (1 s) ends
    // beyond the requests' patience.
    assert_eq!(host.fetches(), 3);
}

#[tokio::test(start_paused = true)]
async fn old_keys_keep_serving_and_requests_never_start_a_refresh() {
    let host = Host::new(&[jwk("a", "AAAA", &["msteams"])]);
    let source = host.source(HOUR, COOLDOWN);
    source.spawn_refresher();
    assert!(source.find("a").await.unwrap().is_some());
    host.fail();
    // A day and more: the periodic refresh has been failing for a long time.
    tokio::time::sleep(25 * HOUR).await;
    let fetched = host.fetches();
    assert!(fetched > 1, "the refresher keeps trying");

    for _ in 0..10_000 {
        assert!(source.find("a").await.unwrap().is_some());
    }
    assert_eq!(host.fetches(), fetched, "uncached tokens fetch nothing");

    // Ten minutes of traffic: only the refresher's back-off paces the host.
    for _ in 0..600 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(source.find("a").await.unwrap().is_some());
    }
    let during = host.fetches() - fetched;
    let bound = (600 / FAILURE_BACKOFF_MAX.as_secs()) as usize + 1;
    assert!((1..=bound).contains(&during), "{during} fetches in 10 min");

    // Back, and picked up within one back-off pause.
    let generation = source.generation();
    host.publish(&[jwk("a", "AAAA", &["msteams"]), jwk("b", "BBBB", &[])]);
    tokio::time::sleep(FAILURE_BACKOFF_MAX + Duration::from_secs(1)).await;
    assert!(source.find("b").await.unwrap().is_some());
    assert_eq!(source.generation(), generation + 1);
}

#[tokio::test(start_paused = true)]
async fn unknown_kids_refresh_at_most_once_per_cooldown() {
    let host = Host::new(&[jwk("a", "AAAA", &[])]);
    let source = host.source(HOUR, COOLDOWN);
    assert!(source.find("a").await.unwrap().is_some());
    for round in 1..=3 {
        for i in 0..1000 {
            assert!(source.find(&format!("forged-{i}")).await.unwrap().is_none());
        }
        assert_eq!(host.fetches(), 1 + round);
        tokio::time::sleep(COOLDOWN).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_newly_published_key_is_found_by_its_first_tokens() {
    let host = Host::slow(&[jwk("a", "AAAA", &[])], Duration::from_millis(50));
    let source = host.source(HOUR, COOLDOWN);
    assert!(source.find("a").await.unwrap().is_some());
    // Rotation: the new key is published, then tokens signed with it arrive.
    host.publish(&[jwk("a", "AAAA", &[]), jwk("b", "BBBB", &[])]);
    let finds = (0..20).map(|_| source.find("b"));
    let found = futures::future::join_all(finds).await;
    let shown: Vec<String> = found
        .iter()
        .map(|k| match k {
            Ok(Some(_)) => "some".into(),
            Ok(None) => "none".into(),
            Err(e) => e.to_string(),
        })
        .collect();
    assert!(found.iter().all(|k| matches!(k, Ok(Some(_)))), "{shown:?}");
    assert_eq!(host.fetches(), 2, "one refresh for all of them");
}

#[tokio::test(start_paused = true)]
async fn with_no_cooldown_the_backoff_alone_bounds_unknown_kid_fetches() {
    let host = Host::new(&[jwk("a", "AAAA", &[])]);
    let source = host.source(HOUR, Duration::ZERO);
    assert!(source.find("a").await.unwrap().is_some());
    host.fail();
    let mut refused = 0;
    for i in 0..1000 {
        match source.find(&format!("forged-{i}")).await {
            Ok(None) | Err(_) => refused += 1,
            Ok(Some(_)) => panic!("a forged kid found a key"),
        }
    }
    assert_eq!(refused, 1000);
    assert_eq!(host.fetches(), 2, "the first failure starts the back-off");
    tokio::time::sleep(FAILURE_BACKOFF_MIN).await;
    assert!(source.find("forged").await.is_err());
    assert_eq!(host.fetches(), 3);
    assert!(source.find("a").await.unwrap().is_some(), "old keys serve");
}

/// Publishes `keys` (when given), waits for the refresher's next fetch and
/// tells whether the generation changed.
async fn generation_changes(source: &KeySource, host: &Host, keys: Option<&[Value]>) -> bool {
    if let Some(keys) = keys {
        host.publish(keys);
    }
    let (before, generation) = (host.fetches(), source.generation());
    while host.fetches() == before {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    source.generation() != generation
}

#[tokio::test(start_paused = true)]
async fn the_generation_follows_the_published_content_not_the_fetches() {
    let host = Host::new(&[jwk("a", "AAAA", &["msteams"])]);
    let source = host.source(Duration::from_secs(60), COOLDOWN);
    source.spawn_refresher();
    assert!(source.find("a").await.unwrap().is_some());
    let steps: [(&str, Option<Vec<Value>>, bool); 6] = [
        ("refetched as it was", None, false),
        (
            "same kid, new material",
            Some(vec![jwk("a", "BBBB", &["msteams"])]),
            true,
        ),
        (
            "same kid, other endorsements",
            Some(vec![jwk("a", "BBBB", &["webchat"])]),
            true,
        ),
        (
            "a key added",
            Some(vec![jwk("a", "BBBB", &["webchat"]), jwk("b", "CCCC", &[])]),
            true,
        ),
        ("a key withdrawn", Some(vec![jwk("b", "CCCC", &[])]), true),
        ("the same again", Some(vec![jwk("b", "CCCC", &[])]), false),
    ];
    for (step, keys, changes) in steps {
        assert_eq!(
            generation_changes(&source, &host, keys.as_deref()).await,
            changes,
            "{step}"
        );
    }
}

#[test]
fn backoff_doubles_from_the_minimum_up_to_the_maximum() {
    assert_eq!(backoff(1), FAILURE_BACKOFF_MIN);
    assert_eq!(backoff(2), FAILURE_BACKOFF_MIN * 2);
    assert_eq!(backoff(3), FAILURE_BACKOFF_MIN * 4);
    assert_eq!(backoff(100), FAILURE_BACKOFF_MAX);
    assert!((1..200).all(|n| backoff(n) <= backoff(n + 1)));
}

#[test]
fn keys_that_cannot_verify_are_left_out() {
    let jwks: Jwks = serde_json::from_value(json!({"keys": [
        {"kty": "RSA", "kid": "ok", "n": "AAAA", "e": "AQAB"},
        {"kty": "EC", "kid": "ec", "n": "AAAA", "e": "AQAB"},
        {"kty": "RSA", "n": "AAAA", "e": "AQAB"},
        {"kty": "RSA", "kid": "no-n", "e": "AQAB"},
        {"kty": "RSA", "kid": "bad-n", "n": "!!!", "e": "AQAB"},
    ]}))
    .unwrap();
    let (keys, _) = usable_keys(jwks);
    assert_eq!(keys.keys().collect::<Vec<_>>(), vec!["ok"]);
}
