//! The simulated Bot Connector.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::sandbox_helpers::{
    encode, start_demo, TestCloud, CONNECTOR_SCOPE, EXPANSION_CHAT, GRAPH_SCOPE,
};

fn activities_url(app: &TestCloud, conversation_id: &str) -> String {
    format!(
        "{}v3/conversations/{}/activities",
        app.cloud.urls().connector,
        encode(conversation_id)
    )
}

fn card(texts: &[&str]) -> Value {
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": {
                "type": "AdaptiveCard", "version": "1.5",
                "body": [
                    {"type": "TextBlock", "text": texts[0]},
                    {"type": "Container", "items": [
                        {"type": "ColumnSet", "columns": [{"type": "Column", "items": [{"type": "TextBlock", "text": texts[1]}]}]}
                    ]}
                ],
                "actions": [{"type": "Action.Execute", "title": "Join", "verb": "join"}]
            }
        }]
    })
}

#[tokio::test]
async fn a_reply_in_a_users_conversation_is_kept_for_that_conversation() {
    let app = start_demo().await;
    let token = app.token(CONNECTOR_SCOPE).await;
    assert_eq!(app.install_for("alex").await.0, StatusCode::CREATED);
    let alex = app.user("alex").await;
    let conversation = alex["conversation_id"].as_str().unwrap();
    let (status, body) = app
        .post(
            &activities_url(&app, conversation),
            Some(&token),
            &json!({"type": "message", "text": "Hello Alex"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = body["id"].as_str().expect("an activity id");

    let posted = app
        .control(&format!(
            "conversations/{}/activities",
            encode(conversation)
        ))
        .await;
    assert_eq!(posted[0]["text"], "Hello Alex");
    assert_eq!(posted[0]["conversation"]["id"], conversation);
    assert_eq!(posted[0]["id"], id);
    let calls = app.calls_to("connector").await;
    let path = format!("/v3/conversations/{conversation}/activities");
    assert_eq!(
        calls,
        vec![json!({"service": "connector", "method": "POST", "path": path, "status": 201})]
    );
}

#[tokio::test]
async fn a_card_posted_into_a_chat_becomes_a_bot_message_made_of_its_text_blocks() {
    let app = start_demo().await;
    let token = app.token(CONNECTOR_SCOPE).await;
    let (status, body) = app
        .post(
            &activities_url(&app, EXPANSION_CHAT),
            Some(&token),
            &card(&[
                "Alex Wu joined the chat",
                "from lead Contoso Coffee expansion",
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let chat = app.chat(EXPANSION_CHAT).await;
    let last = chat["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        last,
        json!({"from": "bot", "kind": "bot", "text": "Alex Wu joined the chat\nfrom lead Contoso Coffee expansion"})
    );

    // Updating the card rewrites the message.
    let id = body["id"].as_str().unwrap();
    let url = format!("{}/{id}", activities_url(&app, EXPANSION_CHAT));
    let response = app
        .http
        .put(url)
        .bearer_auth(&token)
        .json(&card(&["Updated", "card"]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let chat = app.chat(EXPANSION_CHAT).await;
    assert_eq!(
        chat["messages"].as_array().unwrap().last().unwrap()["text"],
        "Updated\ncard"
    );
}

#[tokio::test]
async fn posting_where_the_bot_cannot_post_is_refused_with_the_real_codes() {
    let app = start_demo().await;
    let token = app.token(CONNECTOR_SCOPE).await;
    let message = json!({"type": "message", "text": "hi"});
    let cases = [
        (
            "19:fit-out-site-visits@thread.v2",
            message.clone(),
            StatusCode::FORBIDDEN,
            "BotNotInConversationRoster",
        ),
        (
            "19:nowhere@thread.v2",
            message.clone(),
            StatusCode::NOT_FOUND,
            "ConversationNotFound",
        ),
        (
            EXPANSION_CHAT,
            json!({"text": "no type"}),
            StatusCode::BAD_REQUEST,
            "BadArgument",
        ),
        (
            EXPANSION_CHAT,
            json!(["not", "an", "activity"]),
            StatusCode::BAD_REQUEST,
            "BadArgument",
        ),
    ];
    for (conversation, body, status, code) in cases {
        let (got, answer) = app
            .post(&activities_url(&app, conversation), Some(&token), &body)
            .await;
        assert_eq!(
            (got, answer["error"]["code"].as_str()),
            (status, Some(code)),
            "{conversation}: {answer}"
        );
    }
}

#[tokio::test]
async fn the_connector_wants_a_connector_token() {
    let app = start_demo().await;
    let graph_token = app.token(GRAPH_SCOPE).await;
    let message = json!({"type": "message", "text": "hi"});
    for token in [None, Some(graph_token.as_str()), Some("not-a-jwt")] {
        let (status, body) = app
            .post(&activities_url(&app, EXPANSION_CHAT), token, &message)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"]["code"], "Unauthorized");
    }
    let chat = app.chat(EXPANSION_CHAT).await;
    assert!(chat["messages"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["kind"] != "bot"));
}

#[tokio::test]
async fn a_proactive_conversation_is_the_users_existing_one_with_the_bot() {
    let app = start_demo().await;
    let token = app.token(CONNECTOR_SCOPE).await;
    let priya = app.user("priya").await;
    let request = json!({
        "bot": {"id": format!("28:{}", app.cloud.app_id())},
        "members": [{"id": priya["mri"]}],
        "isGroup": false,
        "tenantId": app.cloud.tenant_id(),
        "channelData": {"tenant": {"id": app.cloud.tenant_id()}},
    });
    let url = format!("{}v3/conversations", app.cloud.urls().connector);
    let (status, body) = app.post(&url, Some(&token), &request).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no app, no 1:1: {body}");

    assert_eq!(app.install_for("priya").await.0, StatusCode::CREATED);
    let (status, body) = app.post(&url, Some(&token), &request).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["id"], priya["conversation_id"]);
}

#[tokio::test]
async fn paged_members_list_the_chat_members_with_their_ids() {
    let app = start_demo().await;
    let token = app.token(CONNECTOR_SCOPE).await;
    let url = format!(
        "{}v3/conversations/{}/pagedmembers",
        app.cloud.urls().connector,
        encode(EXPANSION_CHAT)
    );
    let (status, body) = app.get(&url, Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    let sam = app.user("sam").await;
    let members = body["members"].as_array().unwrap();
    assert_eq!(members.len(), 2);
    assert_eq!(members[0]["id"], sam["mri"]);
    assert_eq!(members[0]["aadObjectId"], sam["aad_object_id"]);
    assert_eq!(members[0]["userPrincipalName"], "sam@contoso.test");
    assert_eq!(body["continuationToken"], Value::Null);
}
