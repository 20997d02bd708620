//! The simulated Graph's per-person app installation and the 1:1 chat it
//! opens: Graph's answers (201, 409, 403), the installation list and its
//! chat, and the Bot Connector taking posts into that chat only once the app
//! is installed.

use joinchat_sandbox::World;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::sandbox_helpers::{encode, start, start_demo, TestCloud, CONNECTOR_SCOPE, GRAPH_SCOPE};

fn installed_apps_url(app: &TestCloud, aad: &str) -> String {
    format!(
        "{}/v1.0/users/{aad}/teamwork/installedApps",
        app.cloud.urls().graph
    )
}

async fn aad_of(app: &TestCloud, key: &str) -> String {
    app.user(key).await["aad_object_id"]
        .as_str()
        .expect("an object id")
        .to_owned()
}

/// The installation id of the bot's app for `key`, found as a bot finds it.
async fn installation_of(app: &TestCloud, key: &str) -> Option<String> {
    let token = app.token(GRAPH_SCOPE).await;
    let filter = encode(&format!("teamsApp/id eq '{}'", app.cloud.teams_app_id()));
    let url = format!(
        "{}?$expand=teamsApp&$filter={filter}",
        installed_apps_url(app, &aad_of(app, key).await)
    );
    let (status, body) = app.get(&url, Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let value = body["value"].as_array().expect("a value array");
    assert!(value.len() <= 1, "{body}");
    value.first().map(|installation| {
        assert_eq!(
            installation["teamsApp"]["id"],
            app.cloud.teams_app_id().as_str()
        );
        installation["id"].as_str().expect("an id").to_owned()
    })
}

#[tokio::test]
async fn installing_for_a_person_answers_201_and_opens_their_one_to_one_chat() {
    let app = start_demo().await;
    assert_eq!(installation_of(&app, "lee").await, None);

    let (status, body) = app.install_for("lee").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body, Value::Null, "Graph answers an install with no body");

    let installation = installation_of(&app, "lee").await.expect("installed");
    let aad = aad_of(&app, "lee").await;
    let token = app.token(GRAPH_SCOPE).await;
    let url = format!(
        "{}/{}/chat",
        installed_apps_url(&app, &aad),
        encode(&installation)
    );
    let (status, chat) = app.get(&url, Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{chat}");
    let expected = format!("19:{aad}_{}@unq.gbl.spaces", app.cloud.app_id());
    assert_eq!(chat["id"], expected.as_str());
    assert_eq!(chat["chatType"], "oneOnOne");
    assert_eq!(chat["tenantId"], app.cloud.tenant_id().as_str());
    let lee = app.user("lee").await;
    assert_eq!(lee["personal_chat_id"], expected.as_str());
    assert_eq!(lee["app_installed"], true);

    // Another person's installation id names no chat of theirs.
    let other = format!(
        "{}/{}/chat",
        installed_apps_url(&app, &aad_of(&app, "kim").await),
        encode(&installation)
    );
    assert_eq!(app.get(&other, Some(&token)).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_second_install_is_graphs_conflict_and_so_is_one_for_someone_who_talked_to_the_bot() {
    let app = start_demo().await;
    assert_eq!(app.install_for("lee").await.0, StatusCode::CREATED);
    let (status, body) = app.install_for("lee").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "Conflict");
    assert!(
        body["error"]["innerError"]["request-id"].is_string(),
        "{body}"
    );

    // Talking to the bot 1:1 is having its app.
    let (status, _) = app
        .post(
            &app.url("/_sandbox/users/kim/activity"),
            None,
            &json!({"type": "message", "text": "help"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.install_for("kim").await.0, StatusCode::CONFLICT);
    assert!(installation_of(&app, "kim").await.is_some());
}

#[tokio::test]
async fn an_app_without_the_permission_gets_graphs_403_and_nothing_is_installed() {
    let world = World::parse(
        r#"
        [[users]]
        key = "ana"
        name = "Ana"
        [app]
        graph_permissions = ["Chat.ReadBasic.All", "ChatMember.ReadWrite.All"]
        "#,
        "narrow.toml",
    )
    .expect("a valid world");
    let app = start(world, None).await;
    let (status, body) = app.install_for("ana").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "Forbidden");
    let message = body["error"]["message"].as_str().expect("a message");
    assert!(
        message.starts_with("Missing role permissions on the request. API requires one of 'TeamsAppInstallation.ReadWriteSelfForUser.All, "),
        "{message}"
    );
    assert!(
        message.ends_with("Roles on the request 'Chat.ReadBasic.All, ChatMember.ReadWrite.All'."),
        "{message}"
    );
    let token = app.token(GRAPH_SCOPE).await;
    let list = installed_apps_url(&app, &aad_of(&app, "ana").await);
    assert_eq!(app.get(&list, Some(&token)).await.0, StatusCode::FORBIDDEN);
    assert_eq!(app.user("ana").await["app_installed"], false);
}

#[tokio::test]
async fn an_install_names_a_catalog_app_and_a_known_person() {
    let app = start_demo().await;
    let token = app.token(GRAPH_SCOPE).await;
    let url = installed_apps_url(&app, &aad_of(&app, "lee").await);
    let (status, body) = app
        .post(&url, Some(&token), &json!({"teamsApp@odata.bind": "https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/not-this-app"}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("NotFound"))
    );
    let (status, _) = app.post(&url, Some(&token), &json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let nobody = installed_apps_url(&app, "00000000-0000-0000-0000-000000000001");
    let bind = json!({"teamsApp@odata.bind": format!("https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{}", app.cloud.teams_app_id())});
    let (status, body) = app.post(&nobody, Some(&token), &bind).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _) = app.post(&url, None, &bind).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.user("lee").await["app_installed"], false);
}

#[tokio::test]
async fn after_the_install_the_connector_takes_posts_into_that_chat_and_the_views_show_them() {
    let app = start_demo().await;
    let token = app.token(CONNECTOR_SCOPE).await;
    let lee = app.user("lee").await;
    let chat_id = lee["personal_chat_id"]
        .as_str()
        .expect("a chat id")
        .to_owned();
    let url = format!(
        "{}v3/conversations/{}/activities",
        app.cloud.urls().connector,
        encode(&chat_id)
    );
    let card = json!({"type": "message", "text": "Lead Contoso is now yours"});
    let (status, body) = app.post(&url, Some(&token), &card).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "not before: {body}");
    assert_eq!(body["error"]["code"], "BotNotInConversationRoster");

    assert_eq!(app.install_for("lee").await.0, StatusCode::CREATED);
    let (status, body) = app.post(&url, Some(&token), &card).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    for conversation in [chat_id.as_str(), lee["conversation_id"].as_str().unwrap()] {
        let posted = app
            .control(&format!(
                "conversations/{}/activities",
                encode(conversation)
            ))
            .await;
        let posted = posted.as_array().expect("an array");
        assert_eq!(posted.len(), 1, "{conversation}: {posted:?}");
        assert_eq!(posted[0]["text"], "Lead Contoso is now yours");
        assert_eq!(
            posted[0]["conversation"]["id"],
            chat_id.as_str(),
            "as posted"
        );
    }
}

#[tokio::test]
async fn an_install_tells_the_bot_as_teams_does() {
    let receiver = crate::sandbox_helpers::Receiver::start().await;
    let app = start(World::demo(), Some(receiver.url("/api/messages"))).await;
    assert_eq!(app.install_for("lee").await.0, StatusCode::CREATED);
    let received = receiver.wait_for(2).await;
    let lee = app.user("lee").await;
    let kinds: Vec<&str> = received
        .iter()
        .map(|request| request.body["type"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(kinds, ["conversationUpdate", "installationUpdate"]);
    let added = &received[0].body;
    assert_eq!(
        added["membersAdded"][0]["id"],
        format!("28:{}", app.cloud.app_id())
    );
    assert_eq!(received[1].body["action"], "add");
    for request in &received {
        assert_eq!(request.body["conversation"]["id"], lee["conversation_id"]);
        assert_eq!(request.body["conversation"]["conversationType"], "personal");
        assert_eq!(request.body["from"]["aadObjectId"], lee["aad_object_id"]);
        let authorization = request.header("authorization").unwrap_or_default();
        assert!(authorization.starts_with("Bearer "), "a channel token");
    }
}
