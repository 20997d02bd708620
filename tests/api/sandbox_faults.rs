//! Injected faults: status codes, Retry-After, latency and counts.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::sandbox_helpers::{encode, start_demo, TestCloud, EXPANSION_CHAT, GRAPH_SCOPE};

fn members_url(app: &TestCloud) -> String {
    format!(
        "{}/v1.0/chats/{}/members",
        app.cloud.urls().graph,
        encode(EXPANSION_CHAT)
    )
}

#[tokio::test]
async fn a_counted_429_carries_retry_after_and_then_the_service_recovers() {
    let app = start_demo().await;
    let token = app.token(GRAPH_SCOPE).await;
    app.set_fault(json!({"service": "graph", "status": 429, "retry_after": 2, "count": 2}))
        .await;
    for _ in 0..2 {
        let response = app
            .http
            .get(members_url(&app))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()["retry-after"], "2");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "TooManyRequests");
        assert!(body["error"]["innerError"]["date"].is_string());
    }
    assert_eq!(
        app.get(&members_url(&app), Some(&token)).await.0,
        StatusCode::OK
    );
    let statuses: Vec<_> = app
        .calls_to("graph")
        .await
        .iter()
        .map(|c| c["status"].clone())
        .collect();
    assert_eq!(statuses, [json!(429), json!(429), json!(200)]);
}

#[tokio::test]
async fn a_fault_without_a_count_lasts_until_it_is_deleted() {
    let app = start_demo().await;
    let session_token = app.token(&app.dataverse_scope()).await;
    let who_am_i = format!("{}/api/data/v9.2/WhoAmI", app.cloud.urls().dataverse);
    app.set_fault(json!({"service": "dataverse", "status": 503}))
        .await;
    for _ in 0..3 {
        let (status, body) = app.get(&who_am_i, Some(&session_token)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body["error"]["code"].as_str().unwrap().starts_with("0x"));
    }
    let response = app
        .http
        .delete(app.url("/_sandbox/faults"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&who_am_i, Some(&session_token)).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn latency_alone_delays_the_answer_without_changing_it() {
    let app = start_demo().await;
    let token = app.token(GRAPH_SCOPE).await;
    app.set_fault(json!({"service": "graph", "latency_ms": 300, "count": 1}))
        .await;
    let started = Instant::now();
    assert_eq!(
        app.get(&members_url(&app), Some(&token)).await.0,
        StatusCode::OK
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    let started = Instant::now();
    assert_eq!(
        app.get(&members_url(&app), Some(&token)).await.0,
        StatusCode::OK
    );
    assert!(started.elapsed() < Duration::from_millis(300));
}

#[tokio::test]
async fn an_entra_fault_hits_the_token_endpoint_but_never_the_control_api() {
    let app = start_demo().await;
    app.set_fault(json!({"service": "entra", "status": 429, "retry_after": 1}))
        .await;
    let (id, secret) = (app.cloud.app_id(), app.cloud.app_password());
    let response = app
        .request_token(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("scope", GRAPH_SCOPE),
        ])
        .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    let (status, token) = app
        .post(&app.url("/_sandbox/tokens/channel"), None, &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(token["token"].is_string());
    assert_eq!(
        app.control("world").await["tenant_id"],
        app.cloud.tenant_id().as_str()
    );
}

#[tokio::test]
async fn a_malformed_fault_is_refused() {
    let app = start_demo().await;
    for bad in [
        json!({"service": "mail", "status": 500}),
        json!({"service": "graph", "status": 200}),
        json!({"service": "graph"}),
    ] {
        let (status, body) = app.post(&app.url("/_sandbox/faults"), None, &bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(body["error"].is_string());
    }
}
