//! Injected faults: status codes, Retry-After, latency and counts, and
//! faults that commit (the request takes effect, the answer is still the fault).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::sandbox_helpers::{
    encode, start_demo, TestCloud, CONNECTOR_SCOPE, EXPANSION_CHAT, GRAPH_SCOPE,
};

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
        // A fault that commits replaces the answer: it needs a status.
        json!({"service": "graph", "commit": true}),
        json!({"service": "connector", "latency_ms": 50, "commit": true}),
        json!({"service": "graph", "status": 503, "commit": "yes"}),
    ] {
        let (status, body) = app.post(&app.url("/_sandbox/faults"), None, &bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(body["error"].is_string());
    }
}

#[tokio::test]
async fn a_committing_fault_on_graph_adds_the_member_and_still_answers_the_fault() {
    let app = start_demo().await;
    let token = app.token(GRAPH_SCOPE).await;
    let alex = app.user("alex").await;
    let body = json!({
        "@odata.type": "#microsoft.graph.aadUserConversationMember",
        "user@odata.bind": format!("https://graph.microsoft.com/v1.0/users('{}')", alex["aad_object_id"].as_str().unwrap()),
        "visibleHistoryStartDateTime": "0001-01-01T00:00:00Z",
        "roles": ["owner"],
    });
    app.set_fault(json!({"service": "graph", "status": 503, "count": 1, "commit": true}))
        .await;
    let (status, answer) = app.post(&members_url(&app), Some(&token), &body).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        answer["error"]["code"], "serviceNotAvailable",
        "Graph's own error shape"
    );
    let chat = app.chat(EXPANSION_CHAT).await;
    assert!(
        chat["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["user"] == "alex"),
        "the add took effect: {chat}"
    );
    // The calls log shows what the bot got, not what the service did.
    let adds: Vec<_> = app
        .calls_to("graph")
        .await
        .into_iter()
        .filter(|c| c["method"] == "POST")
        .collect();
    assert_eq!(adds.len(), 1);
    assert_eq!(adds[0]["status"], 503);
    // Spent: the same add now meets the real service, which knows alex.
    let (status, again) = app.post(&members_url(&app), Some(&token), &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(again["error"]["message"]
        .as_str()
        .unwrap()
        .contains("already exist"));
}

#[tokio::test]
async fn a_fault_that_does_not_commit_leaves_the_chat_unchanged() {
    let app = start_demo().await;
    let token = app.token(GRAPH_SCOPE).await;
    let alex = app.user("alex").await;
    let body = json!({
        "@odata.type": "#microsoft.graph.aadUserConversationMember",
        "user@odata.bind": format!("https://graph.microsoft.com/v1.0/users('{}')", alex["aad_object_id"].as_str().unwrap()),
        "roles": ["owner"],
    });
    app.set_fault(json!({"service": "graph", "status": 503, "count": 1}))
        .await;
    let (status, _) = app.post(&members_url(&app), Some(&token), &body).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let chat = app.chat(EXPANSION_CHAT).await;
    assert!(!chat["members"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["user"] == "alex"));
}

#[tokio::test]
async fn a_committing_fault_on_the_connector_posts_the_message_and_still_answers_the_fault() {
    let app = start_demo().await;
    let token = app.token(CONNECTOR_SCOPE).await;
    let url = format!(
        "{}v3/conversations/{}/activities",
        app.cloud.urls().connector,
        encode(EXPANSION_CHAT)
    );
    app.set_fault(json!({"service": "connector", "status": 502, "count": 1, "commit": true}))
        .await;
    let (status, answer) = app
        .post(
            &url,
            Some(&token),
            &json!({"type": "message", "text": "Alex Wu joined the chat"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(
        answer["error"]["code"].is_string(),
        "the Connector's error shape: {answer}"
    );
    let chat = app.chat(EXPANSION_CHAT).await;
    let last = chat["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "bot");
    assert_eq!(last["text"], "Alex Wu joined the chat");
}

#[tokio::test]
async fn a_committing_fault_on_dataverse_writes_the_row_and_still_answers_the_fault() {
    let app = start_demo().await;
    let token = app.token(&app.dataverse_scope()).await;
    let api = format!("{}/api/data/v9.2/", app.cloud.urls().dataverse);
    let list = format!("{api}msdyn_entitylinkchatconfigurations?$select=msdyn_entitylinkchatconfigurationid,msdyn_usercanjoinchat&$expand=msdyn_entitytype($select=logicalname)");
    let (status, rows) = app.get(&list, Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    let account = rows["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["msdyn_entitytype"]["logicalname"] == "account")
        .cloned()
        .expect("the account switch");
    assert_eq!(account["msdyn_usercanjoinchat"], false);
    let id = account["msdyn_entitylinkchatconfigurationid"]
        .as_str()
        .unwrap();
    app.set_fault(json!({"service": "dataverse", "status": 504, "count": 1, "commit": true}))
        .await;
    let response = app
        .http
        .patch(format!("{api}msdyn_entitylinkchatconfigurations({id})"))
        .bearer_auth(&token)
        .json(&json!({"msdyn_usercanjoinchat": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    let world = app.control("world").await;
    assert!(
        world["join_chat"]
            .as_array()
            .unwrap()
            .contains(&json!("account")),
        "the write took effect: {world}"
    );
}
