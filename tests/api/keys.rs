//! Signing keys as the channel issuer changes them: re-published content
//! under a known `kid` empties the verified-token cache, and a failing
//! metadata host is never hammered by the requests that old keys still serve.

use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, StoreKind, TestApp};

/// Makes the bot fetch the JWKS now, deterministically: a token naming a
/// `kid` it has never seen triggers one refresh inside that very request.
async fn make_the_bot_refetch_the_keys(app: &TestApp) {
    let issuer = app.cloud.channel_issuer();
    let before = issuer.jwks_fetches();
    let header = json!({"alg": "RS256", "kid": uuid::Uuid::new_v4().to_string()});
    let forged = issuer.sign_with_header(
        header,
        &issuer.claims(&app.service_url()),
        &issuer.current_kid(),
    );
    let response = app.post_activity(&app.message("help"), Some(&forged)).await;
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(issuer.jwks_fetches(), before + 1, "one refresh");
}

async fn status(app: &TestApp, token: &str) -> u16 {
    app.post_activity(&app.message("help"), Some(token))
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn new_material_under_a_known_kid_empties_the_verified_token_cache() {
    let app = spawn_app(StoreKind::Memory).await;
    let issuer = app.cloud.channel_issuer();
    let kid = issuer.current_kid();
    let old = app.token();
    assert_eq!(status(&app, &old).await, 200);
    assert_eq!(status(&app, &old).await, 200, "now cached");

    issuer.republish_with_new_material(&kid);
    make_the_bot_refetch_the_keys(&app).await;

    assert_eq!(
        status(&app, &old).await,
        401,
        "the cached token was signed by material no longer published"
    );
    let fresh = app.token();
    assert_eq!(
        status(&app, &fresh).await,
        200,
        "the same kid, new material"
    );
    let replies = app.calls_to("connector").await.len();
    assert_eq!(replies, 3, "one reply per accepted message");
}

#[tokio::test]
async fn other_endorsements_under_a_known_kid_apply_to_cached_tokens_too() {
    let app = spawn_app(StoreKind::Memory).await;
    let issuer = app.cloud.channel_issuer();
    let token = app.token();
    assert_eq!(status(&app, &token).await, 200);
    assert_eq!(status(&app, &token).await, 200, "now cached");

    issuer.set_endorsements(&issuer.current_kid(), &["webchat"]);
    make_the_bot_refetch_the_keys(&app).await;
    assert_eq!(
        status(&app, &token).await,
        401,
        "the key no longer signs for msteams"
    );
}

/// Entra calls for the OpenID metadata or the JWKS (not the token endpoint).
async fn key_fetches(app: &TestApp) -> Vec<Value> {
    app.calls_to("entra")
        .await
        .into_iter()
        .filter(|c| c["path"].as_str().unwrap_or("").contains("well-known"))
        .collect()
}

#[tokio::test]
async fn old_keys_keep_serving_while_entra_fails_and_uncached_tokens_fetch_nothing() {
    let app = spawn_app_with(joinchat_sandbox::World::demo(), StoreKind::Memory, |c| {
        c.tunables.keys_refresh_interval = std::time::Duration::from_millis(100);
    })
    .await;
    assert_eq!(status(&app, &app.token()).await, 200);
    app.fault(json!({"service": "entra", "status": 503})).await;
    // Wait until a periodic refresh has failed: the keys are now past their age.
    for _ in 0..500 {
        if key_fetches(&app).await.iter().any(|c| c["status"] == 503) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let before = key_fetches(&app).await;
    assert!(before.iter().any(|c| c["status"] == 503), "{before:?}");

    // Two hundred tokens the bot has never seen, each verified with the old keys.
    let issuer = app.cloud.channel_issuer();
    let mut reaction = app.message("");
    reaction["type"] = json!("messageReaction");
    reaction["reactionsAdded"] = json!([{"type": "like"}]);
    let sends = (0..200).map(|_| {
        let mut claims = issuer.claims(&app.service_url());
        claims["jti"] = json!(uuid::Uuid::new_v4().to_string());
        let token = issuer.sign(&issuer.current_kid(), &claims);
        let activity = reaction.clone();
        let app = &app;
        async move {
            app.post_activity(&activity, Some(&token))
                .await
                .status()
                .as_u16()
        }
    });
    let statuses = futures::future::join_all(sends).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");

    // Only the background refresher's back-off (250 ms, doubling) asks again;
    // a refresh per uncached token would have asked 200 times.
    let during = key_fetches(&app).await.len() - before.len();
    assert!(during <= 10, "{during} key fetches during the burst");

    // Entra back: the refresher picks the keys up again by itself.
    app.http
        .delete(format!("{}/_sandbox/faults", app.cloud.base_url()))
        .send()
        .await
        .unwrap();
    // (Within the longest back-off pause, 30 s.)
    for _ in 0..4000 {
        if key_fetches(&app)
            .await
            .last()
            .is_some_and(|c| c["status"] == 200)
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!(
        "the keys were never fetched again: {:?}",
        key_fetches(&app).await
    );
}
