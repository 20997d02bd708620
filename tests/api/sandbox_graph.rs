//! The simulated Microsoft Graph.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::sandbox_helpers::{
    encode, start_demo, TestCloud, CONNECTOR_SCOPE, EXPANSION_CHAT, GRAPH_SCOPE,
};

fn chat_url(app: &TestCloud, chat_id: &str, tail: &str) -> String {
    format!(
        "{}/v1.0/chats/{}{tail}",
        app.cloud.urls().graph,
        encode(chat_id)
    )
}

fn add_body(aad_object_id: &str, history: Option<&str>) -> Value {
    let mut body = json!({
        "@odata.type": "#microsoft.graph.aadUserConversationMember",
        "user@odata.bind": format!("https://graph.microsoft.com/v1.0/users('{aad_object_id}')"),
        "roles": ["owner"],
    });
    if let Some(history) = history {
        body["visibleHistoryStartDateTime"] = json!(history);
    }
    body
}

#[tokio::test]
async fn a_chat_is_described_as_graph_describes_it() {
    let app = start_demo().await;
    let token = app.token(GRAPH_SCOPE).await;
    let (status, chat) = app
        .get(&chat_url(&app, EXPANSION_CHAT, ""), Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(chat["id"], EXPANSION_CHAT);
    assert_eq!(chat["chatType"], "group");
    assert_eq!(chat["topic"], "Contoso Coffee expansion — deal room");
    let web_url = format!(
        "https://teams.microsoft.com/l/chat/{EXPANSION_CHAT}/0?tenantId={}",
        app.cloud.tenant_id()
    );
    assert_eq!(chat["webUrl"], web_url.as_str());
    for field in [
        "@odata.context",
        "createdDateTime",
        "lastUpdatedDateTime",
        "tenantId",
    ] {
        assert!(chat[field].is_string(), "{field}");
    }
    // The unencoded form addresses the same chat.
    let raw = format!("{}/v1.0/chats/{EXPANSION_CHAT}", app.cloud.urls().graph);
    assert_eq!(app.get(&raw, Some(&token)).await.0, StatusCode::OK);

    let (status, error) = app
        .get(&chat_url(&app, "19:nope@thread.v2", ""), Some(&token))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error["error"]["code"], "NotFound");
    assert!(error["error"]["innerError"]["request-id"].is_string());
}

#[tokio::test]
async fn graph_refuses_a_missing_token_and_a_token_for_another_audience() {
    let app = start_demo().await;
    let connector_token = app.token(CONNECTOR_SCOPE).await;
    for token in [None, Some(connector_token.as_str())] {
        let (status, body) = app
            .get(&chat_url(&app, EXPANSION_CHAT, "/members"), token)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    }
}

#[tokio::test]
async fn members_are_listed_with_their_history_and_ids() {
    let app = start_demo().await;
    let token = app.token(GRAPH_SCOPE).await;
    let (status, body) = app
        .get(&chat_url(&app, EXPANSION_CHAT, "/members"), Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["@odata.count"], 2);
    let sam = app.user("sam").await;
    let member = &body["value"][0];
    assert_eq!(
        member["@odata.type"],
        "#microsoft.graph.aadUserConversationMember"
    );
    assert_eq!(member["userId"], sam["aad_object_id"]);
    assert_eq!(member["displayName"], "Sam Rivera");
    assert_eq!(
        member["visibleHistoryStartDateTime"],
        "0001-01-01T00:00:00Z"
    );
    assert!(member["id"].is_string() && member["email"].is_string());
}

#[tokio::test]
async fn adding_a_member_with_full_history_records_it_and_writes_the_system_message() {
    let app = start_demo().await;
    let token = app.token(GRAPH_SCOPE).await;
    let alex = app.user("alex").await;
    let body = add_body(
        alex["aad_object_id"].as_str().unwrap(),
        Some("0001-01-01T00:00:00Z"),
    );
    let response = app
        .http
        .post(chat_url(&app, EXPANSION_CHAT, "/members"))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("/chats/{EXPANSION_CHAT}/members/")),
        "{location}"
    );
    let member: Value = response.json().await.unwrap();
    assert_eq!(member["userId"], alex["aad_object_id"]);

    let chat = app.chat(EXPANSION_CHAT).await;
    let members = chat["members"].as_array().unwrap();
    assert_eq!(
        members[0],
        json!({"user": "sam", "visible_history_start": null})
    );
    assert_eq!(
        members[2],
        json!({"user": "alex", "visible_history_start": "0001-01-01T00:00:00Z"})
    );
    let last = chat["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        last,
        json!({"from": "system", "kind": "system", "text": "Alex Wu was added to the chat"})
    );

    // Adding again is refused; the world does not change.
    let (status, error) = app
        .post(
            &chat_url(&app, EXPANSION_CHAT, "/members"),
            Some(&token),
            &body,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error["error"]["message"]
        .as_str()
        .unwrap()
        .contains("already exist"));
    assert_eq!(
        app.chat(EXPANSION_CHAT).await["members"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn a_member_added_without_a_history_start_sees_history_from_the_add() {
    let app = start_demo().await;
    let token = app.token(GRAPH_SCOPE).await;
    let jo = app.user("jo").await;
    let mut body = add_body(jo["aad_object_id"].as_str().unwrap(), None);
    body["user@odata.bind"] = json!(format!(
        "https://graph.microsoft.com/v1.0/users/{}",
        jo["aad_object_id"].as_str().unwrap()
    ));
    let (status, member) = app
        .post(
            &chat_url(&app, EXPANSION_CHAT, "/members"),
            Some(&token),
            &body,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let start = member["visibleHistoryStartDateTime"].as_str().unwrap();
    assert!(!start.starts_with("0001"), "{start}");
    let chat = app.chat(EXPANSION_CHAT).await;
    assert_eq!(chat["members"][2]["visible_history_start"], start);
}

#[tokio::test]
async fn bad_add_member_requests_are_refused() {
    let app = start_demo().await;
    let token = app.token(GRAPH_SCOPE).await;
    let url = chat_url(&app, EXPANSION_CHAT, "/members");
    let stranger = add_body(
        "00000000-0000-4000-8000-000000000000",
        Some("0001-01-01T00:00:00Z"),
    );
    let (status, body) = app.post(&url, Some(&token), &stranger).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("NotFound"))
    );
    for bad in [
        json!({"roles": ["owner"]}),
        json!({"@odata.type": "#microsoft.graph.conversationMember", "user@odata.bind": "x"}),
    ] {
        let (status, body) = app.post(&url, Some(&token), &bad).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("BadRequest"))
        );
    }
}

#[tokio::test]
async fn installing_the_bot_lets_it_post_into_the_chat() {
    let app = start_demo().await;
    let graph = app.token(GRAPH_SCOPE).await;
    let connector = app.token(CONNECTOR_SCOPE).await;
    let chat_id = "19:fit-out-site-visits@thread.v2";
    let consent: Vec<Value> = joinchat_sandbox::TEAMS_APP_RSC_PERMISSIONS
        .iter()
        .map(|p| json!({"permissionValue": p, "permissionType": "Application"}))
        .collect();
    let install = json!({
        "teamsApp@odata.bind": format!("https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{}", app.cloud.teams_app_id()),
        "consentedPermissionSet": {"resourceSpecificPermissions": consent},
    });
    let unknown = json!({"teamsApp@odata.bind": "https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/1c9f0b7e"});
    let (status, _) = app
        .post(
            &chat_url(&app, chat_id, "/installedApps"),
            Some(&graph),
            &unknown,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "an app not in the catalog");

    app.cloud.set_allow_app_install(false);
    let (status, _) = app
        .post(
            &chat_url(&app, chat_id, "/installedApps"),
            Some(&graph),
            &install,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    app.cloud.set_allow_app_install(true);
    let (status, _) = app
        .post(
            &chat_url(&app, chat_id, "/installedApps"),
            Some(&graph),
            &install,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let url = format!(
        "{}v3/conversations/{}/activities",
        app.cloud.urls().connector,
        encode(chat_id)
    );
    let (status, _) = app
        .post(
            &url,
            Some(&connector),
            &json!({"type": "message", "text": "hello"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
}
