//! The front door: every Bot Framework token rule, the HTTP answers of the
//! DESIGN contract, dedupe on both stores. A refused request must cause
//! nothing: the connector receives nothing.

use base64::Engine;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, StoreKind, TestApp};

fn b64(value: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// Sends `activity` with `token`, expects `status`, and checks that the bot
/// made no call to the connector (or any other service but Entra).
async fn refused(app: &TestApp, activity: &Value, authorization: Option<String>, status: u16) {
    let response = app
        .post_raw(
            serde_json::to_vec(activity).unwrap(),
            authorization.as_deref(),
        )
        .await;
    assert_eq!(
        response.status().as_u16(),
        status,
        "{}",
        response.text().await.unwrap_or_default()
    );
    assert!(
        app.calls_to("connector").await.is_empty(),
        "the connector must receive nothing"
    );
    assert!(app.calls_to("graph").await.is_empty());
    assert!(app.calls_to("dataverse").await.is_empty());
}

fn bearer(token: &str) -> Option<String> {
    Some(format!("Bearer {token}"))
}

#[tokio::test]
async fn a_signed_help_message_gets_a_help_reply_through_the_connector() {
    let app = spawn_app(StoreKind::Memory).await;
    let activity = app.message("help");
    let response = app.post_activity(&activity, Some(&app.token())).await;
    assert_eq!(response.status().as_u16(), 200);

    let posts = app.calls_to("connector").await;
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0]["method"], "POST");
    assert_eq!(
        posts[0]["status"], 201,
        "the connector accepted the bot's own token"
    );
    let conversation = activity["conversation"]["id"].as_str().unwrap();
    assert!(posts[0]["path"].as_str().unwrap().contains(conversation));
    let tokens = app.calls_to("entra").await;
    assert!(
        tokens
            .iter()
            .any(|c| c["path"].as_str().unwrap().ends_with("/oauth2/v2.0/token")),
        "the bot fetched its own token: {tokens:?}"
    );
}

#[tokio::test]
async fn a_missing_or_non_bearer_authorization_is_refused() {
    let app = spawn_app(StoreKind::Memory).await;
    let activity = app.message("help");
    let token = app.token();
    for authorization in [
        None,
        Some(String::new()),
        Some(format!("Basic {token}")),
        Some(format!("bearer {token}")),
        Some(format!("Bearer  {token}")),
        Some(format!("Bearer {token} extra")),
        Some("Bearer not-a-jwt".to_owned()),
    ] {
        refused(&app, &activity, authorization, 401).await;
    }
}

#[tokio::test]
async fn a_token_breaking_exactly_one_rule_is_refused() {
    let app = spawn_app(StoreKind::Memory).await;
    let issuer = app.cloud.channel_issuer();
    let activity = app.message("help");
    let kid = issuer.current_kid();
    let service_url = app.service_url();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut claims = issuer.claims(&service_url);
        edit(&mut claims);
        claims
    };
    let unendorsed = issuer.add_key(&["skype"], true);
    let unpublished = issuer.add_key(&["msteams"], false);
    let cases: Vec<(&str, String)> = vec![
        (
            "wrong issuer",
            issuer.sign(
                &kid,
                &with(&|c| {
                    c["iss"] =
                        json!("https://sts.windows.net/d6d49420-f39b-4df7-a1dc-d59a935871db/")
                }),
            ),
        ),
        (
            "no issuer",
            issuer.sign(
                &kid,
                &with(&|c| {
                    c.as_object_mut().unwrap().remove("iss");
                }),
            ),
        ),
        (
            "wrong audience",
            issuer.sign(&kid, &with(&|c| c["aud"] = json!("someone-else"))),
        ),
        (
            "no audience",
            issuer.sign(
                &kid,
                &with(&|c| {
                    c.as_object_mut().unwrap().remove("aud");
                }),
            ),
        ),
        (
            "expired beyond the skew",
            issuer.sign(&kid, &with(&|c| c["exp"] = json!(now - 6 * 60))),
        ),
        (
            "not valid before, beyond the skew",
            issuer.sign(&kid, &with(&|c| c["nbf"] = json!(now + 6 * 60))),
        ),
        (
            "no expiry",
            issuer.sign(
                &kid,
                &with(&|c| {
                    c.as_object_mut().unwrap().remove("exp");
                }),
            ),
        ),
        (
            "serviceurl of another service",
            issuer.sign(
                &kid,
                &with(&|c| c["serviceurl"] = json!("https://evil.example/")),
            ),
        ),
        (
            "no serviceurl claim",
            issuer.sign(
                &kid,
                &with(&|c| {
                    c.as_object_mut().unwrap().remove("serviceurl");
                }),
            ),
        ),
        (
            "key not endorsed for msteams",
            issuer.sign(&unendorsed, &issuer.claims(&service_url)),
        ),
        (
            "key not in the JWKS",
            issuer.sign(&unpublished, &issuer.claims(&service_url)),
        ),
        (
            "published kid, other key's signature",
            issuer.sign_with_header(
                json!({"alg": "RS256", "kid": kid}),
                &issuer.claims(&service_url),
                &unpublished,
            ),
        ),
        (
            "RS384 header",
            issuer.sign_with_header(
                json!({"alg": "RS384", "kid": kid}),
                &issuer.claims(&service_url),
                &kid,
            ),
        ),
        (
            "no kid",
            issuer.sign_with_header(json!({"alg": "RS256"}), &issuer.claims(&service_url), &kid),
        ),
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "kid": kid})),
                b64(&issuer.claims(&service_url))
            ),
        ),
        ("HS256 signed with the app password", {
            let key = jsonwebtoken::EncodingKey::from_secret(app.cloud.app_password().as_bytes());
            let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
            header.kid = Some(kid.clone());
            jsonwebtoken::encode(&header, &issuer.claims(&service_url), &key).unwrap()
        }),
        ("tampered payload", {
            let good = issuer.mint(&service_url);
            let parts: Vec<&str> = good.split('.').collect();
            format!(
                "{}.{}.{}",
                parts[0],
                b64(&with(&|c| c["aud"] = json!("someone-else"))),
                parts[2]
            )
        }),
    ];
    for (rule, token) in cases {
        let response = app
            .post_raw(
                serde_json::to_vec(&activity).unwrap(),
                bearer(&token).as_deref(),
            )
            .await;
        assert_eq!(response.status().as_u16(), 401, "{rule}");
    }
    assert!(
        app.calls_to("connector").await.is_empty(),
        "the connector must receive nothing"
    );
    let metrics = app.metrics().await;
    for reason in [
        "issuer",
        "audience",
        "expired",
        "not_yet_valid",
        "serviceurl",
        "endorsement",
        "unknown_kid",
        "signature",
        "algorithm",
    ] {
        assert!(
            metrics.contains(&format!(
                "joinchat_auth_failures_total{{reason=\"{reason}\"}}"
            )),
            "{reason} counted:\n{metrics}"
        );
    }
}

#[tokio::test]
async fn the_serviceurl_claim_must_equal_the_activitys_service_url() {
    let app = spawn_app(StoreKind::Memory).await;
    let mut activity = app.message("help");
    activity["serviceUrl"] = json!("https://attacker.example/");
    refused(&app, &activity, bearer(&app.token()), 401).await;
}

#[tokio::test]
async fn a_key_endorsed_for_other_channels_only_is_refused_for_msteams() {
    let app = spawn_app(StoreKind::Memory).await;
    let mut activity = app.message("help");
    // The token is fine for msteams, the activity claims another channel.
    activity["channelId"] = json!("webchat");
    refused(&app, &activity, bearer(&app.token()), 401).await;
}

#[tokio::test]
async fn jku_and_x5u_headers_are_never_followed() {
    let app = spawn_app(StoreKind::Memory).await;
    let issuer = app.cloud.channel_issuer();
    // An attacker signs with a key of their own and points at where to find it.
    let attacker = issuer.add_key(&["msteams"], false);
    let header = json!({
        "alg": "RS256",
        "kid": attacker,
        "jku": format!("{}/botframework/v1/.well-known/keys?all=1", app.cloud.base_url()),
        "x5u": "https://attacker.example/cert.pem",
    });
    let token = issuer.sign_with_header(header, &issuer.claims(&app.service_url()), &attacker);
    refused(&app, &app.message("help"), bearer(&token), 401).await;
}

#[tokio::test]
async fn a_token_expired_two_minutes_ago_is_inside_the_skew_and_accepted() {
    let app = spawn_app(StoreKind::Memory).await;
    let issuer = app.cloud.channel_issuer();
    let mut claims = issuer.claims(&app.service_url());
    let now = claims["nbf"].as_i64().unwrap() + 5;
    claims["exp"] = json!(now - 120);
    claims["nbf"] = json!(now - 3600);
    let token = issuer.sign(&issuer.current_kid(), &claims);
    let response = app.post_activity(&app.message("help"), Some(&token)).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(app.calls_to("connector").await.len(), 1);
}

#[tokio::test]
async fn an_unknown_kid_refreshes_the_keys_once_and_a_rotated_key_then_works() {
    let app = spawn_app(StoreKind::Memory).await;
    let issuer = app.cloud.channel_issuer();
    let first = app
        .post_activity(&app.message("help"), Some(&app.token()))
        .await;
    assert_eq!(first.status().as_u16(), 200);
    let fetches_before = issuer.jwks_fetches();

    let rotated = issuer.add_key(&["msteams"], false);
    issuer.publish(&rotated);
    let token = issuer.sign(&rotated, &issuer.claims(&app.service_url()));
    let response = app.post_activity(&app.message("help"), Some(&token)).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        issuer.jwks_fetches(),
        fetches_before + 1,
        "exactly one refresh"
    );
}

#[tokio::test]
async fn a_thousand_unknown_kids_cause_only_a_handful_of_key_fetches() {
    let app = spawn_app(StoreKind::Memory).await;
    let issuer = app.cloud.channel_issuer();
    let kid = issuer.current_kid();
    let claims = issuer.claims(&app.service_url());
    let body = serde_json::to_vec(&app.message("help")).unwrap();
    let requests = (0..1000).map(|_| {
        let header = json!({"alg": "RS256", "kid": uuid::Uuid::new_v4().to_string()});
        let token = issuer.sign_with_header(header, &claims, &kid);
        let body = body.clone();
        let app = &app;
        async move {
            app.post_raw(body, Some(&format!("Bearer {token}")))
                .await
                .status()
                .as_u16()
        }
    });
    let statuses = futures::future::join_all(requests).await;
    assert!(statuses.iter().all(|s| *s == 401));
    assert!(
        issuer.jwks_fetches() <= 3,
        "{} JWKS fetches",
        issuer.jwks_fetches()
    );
    assert!(
        issuer.metadata_fetches() <= 3,
        "{} metadata fetches",
        issuer.metadata_fetches()
    );
    assert!(app.calls_to("connector").await.is_empty());
}

#[tokio::test]
async fn a_body_over_one_mebibyte_gets_413() {
    let app = spawn_app(StoreKind::Memory).await;
    let mut activity = app.message("help");
    activity["text"] = json!("x".repeat(1024 * 1024 + 1));
    refused(&app, &activity, bearer(&app.token()), 413).await;
}

#[tokio::test]
async fn a_malformed_activity_with_a_valid_token_gets_400() {
    let app = spawn_app(StoreKind::Memory).await;
    for body in [
        b"{not json".to_vec(),
        b"[]".to_vec(),
        br#"{"text":"no type"}"#.to_vec(),
        br#"{"type":"message","channelId":"msteams"}"#.to_vec(),
    ] {
        let response = app.post_raw(body, bearer(&app.token()).as_deref()).await;
        assert_eq!(response.status().as_u16(), 400);
        let error: Value = response.json().await.unwrap();
        assert_eq!(
            error,
            json!({"error": "bad_request"}),
            "short JSON, no internals"
        );
    }
    assert!(app.calls_to("connector").await.is_empty());
}

#[tokio::test]
async fn an_activity_from_another_tenant_gets_403() {
    let app = spawn_app(StoreKind::Memory).await;
    let mut activity = app.message("help");
    activity["channelData"]["tenant"]["id"] = json!("00000000-0000-0000-0000-00000000beef");
    activity["conversation"]["tenantId"] = json!("00000000-0000-0000-0000-00000000beef");
    refused(&app, &activity, bearer(&app.token()), 403).await;
}

#[tokio::test]
async fn unknown_activity_types_are_answered_200_and_ignored() {
    let app = spawn_app(StoreKind::Memory).await;
    let mut activity = app.message("");
    activity["type"] = json!("messageReaction");
    activity["reactionsAdded"] = json!([{"type": "like"}]);
    let response = app.post_activity(&activity, Some(&app.token())).await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(app.calls_to("connector").await.is_empty());
}

async fn a_duplicate_activity_is_answered_once(store: StoreKind) {
    let app = spawn_app(store).await;
    let activity = app.message("help");
    for _ in 0..3 {
        let response = app.post_activity(&activity, Some(&app.token())).await;
        assert_eq!(response.status().as_u16(), 200);
    }
    assert_eq!(
        app.calls_to("connector").await.len(),
        1,
        "one reply for three deliveries"
    );
    // A different activity is answered as usual.
    app.post_activity(&app.message("help"), Some(&app.token()))
        .await;
    assert_eq!(app.calls_to("connector").await.len(), 2);
}

#[tokio::test]
async fn a_duplicate_activity_is_answered_once_with_the_in_process_store() {
    a_duplicate_activity_is_answered_once(StoreKind::Memory).await;
}

#[tokio::test]
async fn a_duplicate_activity_is_answered_once_with_redis() {
    a_duplicate_activity_is_answered_once(StoreKind::Redis).await;
}

#[tokio::test]
async fn a_duplicate_activity_is_answered_once_with_a_redis_cluster() {
    a_duplicate_activity_is_answered_once(StoreKind::Cluster).await;
}

#[tokio::test]
async fn a_rejected_request_writes_nothing_to_redis() {
    let app = spawn_app(StoreKind::Redis).await;
    let client = redis::Client::open(crate::helpers::redis_url()).unwrap();
    let connection = client.get_multiplexed_async_connection().await.unwrap();
    let pattern = format!("{}*", app.redis_prefix.as_deref().unwrap());
    let keys = || {
        let mut command = redis::cmd("KEYS");
        command.arg(&pattern);
        let mut connection = connection.clone();
        async move {
            command
                .query_async::<Vec<String>>(&mut connection)
                .await
                .unwrap()
        }
    };
    let mut activity = app.message("help");
    activity["serviceUrl"] = json!("https://attacker.example/");
    refused(&app, &activity, bearer(&app.token()), 401).await;
    let after_refusal = keys().await;
    assert!(after_refusal.is_empty(), "{after_refusal:?}");
    // The positive control: the same message with its own serviceUrl is
    // accepted and leaves its dedupe mark under this prefix.
    let accepted = app
        .post_activity(&app.message("help"), Some(&app.token()))
        .await;
    assert_eq!(accepted.status(), 200);
    let after_accepting = keys().await;
    assert!(
        after_accepting.iter().any(|key| key.contains("seen:")),
        "{after_accepting:?}"
    );
}

#[tokio::test]
async fn emulator_tokens_are_refused_unless_allowed() {
    let app = spawn_app_with(joinchat_sandbox::World::demo(), StoreKind::Memory, |c| {
        c.allow_emulator = false
    })
    .await;
    let issuer = app.cloud.channel_issuer();
    let mut claims = issuer.claims(&app.service_url());
    claims["iss"] =
        json!("https://login.microsoftonline.com/d6d49420-f39b-4df7-a1dc-d59a935871db/v2.0");
    let token = issuer.sign(&issuer.current_kid(), &claims);
    refused(&app, &app.message("help"), bearer(&token), 401).await;
}

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    for store in crate::helpers::EVERY_STORE {
        let app = spawn_app(store).await;
        let health = app.get("/healthz").await;
        assert_eq!(health.status().as_u16(), 200);
        let ready = app.get("/readyz").await;
        assert_eq!(ready.status().as_u16(), 200, "{store:?}");
        app.post_activity(&app.message("help"), Some(&app.token()))
            .await;
        let metrics = app.metrics().await;
        assert!(
            metrics
                .contains(r#"joinchat_http_requests_total{route="/api/messages",status="200"} 1"#),
            "{metrics}"
        );
        assert!(metrics.contains("joinchat_http_request_duration_seconds_bucket"));
    }
}

/// Readiness never depends on Redis (DESIGN): the replica still serves from
/// Dataverse, and the body says the store is down.
#[tokio::test]
async fn readiness_holds_while_redis_is_unreachable_and_reports_it() {
    let app = crate::helpers::spawn_app_with_redis_down().await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status().as_u16(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "status": "ready", "store": "redis", "store_ok": false })
    );
    let health = app.get("/healthz").await;
    assert_eq!(health.status().as_u16(), 200);
}

#[tokio::test]
async fn many_concurrent_replies_share_one_connector_token() {
    let app = spawn_app(StoreKind::Memory).await;
    let sends = (0..20).map(|_| {
        let app = &app;
        async move {
            let activity = app.message("help");
            app.post_activity(&activity, Some(&app.token()))
                .await
                .status()
                .as_u16()
        }
    });
    let statuses = futures::future::join_all(sends).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let token_requests = app
        .calls_to("entra")
        .await
        .into_iter()
        .filter(|c| {
            c["path"]
                .as_str()
                .unwrap_or_default()
                .ends_with("/oauth2/v2.0/token")
        })
        .count();
    // One per scope the bot uses (Connector, Graph, Dataverse), fetched
    // ahead of need, however many replies go out.
    assert!((1..=3).contains(&token_requests), "{token_requests}");
    assert_eq!(app.calls_to("connector").await.len(), 20);
}

#[tokio::test]
async fn emulator_tokens_are_accepted_when_allowed() {
    let app = spawn_app_with(joinchat_sandbox::World::demo(), StoreKind::Memory, |c| {
        c.allow_emulator = true
    })
    .await;
    let issuer = app.cloud.channel_issuer();
    let mut claims = issuer.claims(&app.service_url());
    claims["iss"] =
        json!("https://login.microsoftonline.com/d6d49420-f39b-4df7-a1dc-d59a935871db/v2.0");
    claims["ver"] = json!("2.0");
    claims["azp"] = json!(app.cloud.app_id());
    claims.as_object_mut().unwrap().remove("serviceurl");
    let token = issuer.sign(&issuer.current_kid(), &claims);
    let response = app.post_activity(&app.message("help"), Some(&token)).await;
    assert_eq!(response.status().as_u16(), 200);
    // Still our app: an Emulator token for another app is refused.
    claims["azp"] = json!("another-app");
    let other = issuer.sign(&issuer.current_kid(), &claims);
    refused_after_one_reply(&app, &other).await;
}

async fn refused_after_one_reply(app: &TestApp, token: &str) {
    let response = app.post_activity(&app.message("help"), Some(token)).await;
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(
        app.calls_to("connector").await.len(),
        1,
        "only the accepted request was answered"
    );
}

#[tokio::test]
async fn signing_keys_are_refreshed_periodically() {
    let app = spawn_app_with(joinchat_sandbox::World::demo(), StoreKind::Memory, |c| {
        c.tunables.keys_refresh_interval = std::time::Duration::from_millis(200);
    })
    .await;
    let issuer = app.cloud.channel_issuer();
    app.post_activity(&app.message("help"), Some(&app.token()))
        .await;
    let before = issuer.jwks_fetches();
    // No request needed: the keys are refreshed in the background.
    for _ in 0..100 {
        if issuer.jwks_fetches() > before {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("no periodic refresh: {} fetches", issuer.jwks_fetches());
}

/// Verbs are one enum, so every verb the cards emit has a handler (the
/// compiler checks it); what is left to check is a verb no card emits.
#[tokio::test]
async fn an_unknown_card_verb_is_refused() {
    let app = spawn_app(StoreKind::Memory).await;
    let unknown = app.invoke("alex", "no_such_verb", &json!({})).await;
    assert_eq!(unknown["status"], 200);
    assert_eq!(unknown["body"]["statusCode"], 400);
    assert_eq!(unknown["body"]["value"]["code"], "UnknownVerb");
}

#[tokio::test]
async fn a_passing_entra_failure_is_retried_for_keys_and_tokens_alike() {
    // Entra fails the first call of a starting bot, whichever it is (the
    // signing keys or one of the tokens fetched ahead of need): it is tried
    // again, and the first command is served with every token it needs.
    let cloud = joinchat_sandbox::Cloud::start(
        joinchat_sandbox::World::demo(),
        joinchat_sandbox::CloudOptions {
            listen: crate::helpers::local(),
            app_id: None,
            app_password: None,
            bot_endpoint: None,
            dataverse_webhook_key: None,
        },
    )
    .await
    .unwrap();
    reqwest::Client::new()
        .post(format!("{}/_sandbox/faults", cloud.base_url()))
        .json(&json!({"service": "entra", "status": 503, "count": 1}))
        .send()
        .await
        .unwrap();
    let app = crate::helpers::spawn_bot(cloud, StoreKind::Memory, |_| {}).await;
    let response = app
        .post_activity(
            &app.message("chats for lead Contoso Coffee expansion"),
            Some(&app.token()),
        )
        .await;
    assert_eq!(response.status().as_u16(), 200);
    let entra = app.calls_to("entra").await;
    assert!(entra.iter().any(|c| c["status"] == 503), "{entra:?}");
    let posts = app.calls_to("connector").await;
    assert_eq!(posts.last().unwrap()["status"], 201);
}

#[tokio::test]
async fn a_cold_start_key_fetch_that_fails_once_still_serves_the_first_request() {
    let cloud = joinchat_sandbox::Cloud::start(
        joinchat_sandbox::World::demo(),
        joinchat_sandbox::CloudOptions {
            listen: crate::helpers::local(),
            app_id: None,
            app_password: None,
            bot_endpoint: None,
            dataverse_webhook_key: None,
        },
    )
    .await
    .unwrap();
    let http = reqwest::Client::new();
    http.post(format!("{}/_sandbox/faults", cloud.base_url()))
        .json(&json!({"service": "entra", "status": 503, "count": 1}))
        .send()
        .await
        .unwrap();
    let app = crate::helpers::spawn_bot(cloud, StoreKind::Memory, |_| {}).await;
    let response = app
        .post_activity(&app.message("help"), Some(&app.token()))
        .await;
    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test]
async fn a_bot_with_a_wrong_password_answers_200_and_posts_nothing() {
    let app = spawn_app_with(
        joinchat_sandbox::World::demo(),
        StoreKind::Memory,
        |config| {
            config.app_password = joinchat::config::Secret::new("not-the-password");
        },
    )
    .await;
    let response = app
        .post_activity(&app.message("help"), Some(&app.token()))
        .await;
    assert_eq!(
        response.status().as_u16(),
        200,
        "a permanent refusal is not worth Teams' retries"
    );
    assert!(app.calls_to("connector").await.is_empty());
    let entra = app.calls_to("entra").await;
    assert!(entra.iter().any(|c| c["status"] == 401), "{entra:?}");
}
