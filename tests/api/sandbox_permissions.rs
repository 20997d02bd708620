//! The simulated cloud refuses what Microsoft refuses: Graph checks the
//! token's `roles` per endpoint and answers Graph's own 403; installing the
//! app into a chat needs the consent its definition requires, and that
//! consent (RSC) then serves that chat only.

use base64::Engine;
use joinchat_sandbox::{DEFAULT_GRAPH_PERMISSIONS, TEAMS_APP_RSC_PERMISSIONS};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::sandbox_helpers::{
    encode, start, tenant_world, TestCloud, ACME_BOT_ROOM, ACME_ROOM, GRAPH_SCOPE,
};

fn chat_url(app: &TestCloud, chat_id: &str, tail: &str) -> String {
    format!(
        "{}/v1.0/chats/{}{tail}",
        app.cloud.urls().graph,
        encode(chat_id)
    )
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// RSC permissions as an install lists them: (permissionValue, permissionType).
type Consent<'a> = &'a [(&'a str, &'a str)];

fn install_body(app: &TestCloud, consent: Option<Consent>) -> Value {
    let mut body = json!({
        "teamsApp@odata.bind": format!("https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{}", app.cloud.teams_app_id()),
    });
    if let Some(consent) = consent {
        let listed: Vec<Value> = consent
            .iter()
            .map(|(value, kind)| json!({"permissionValue": value, "permissionType": kind}))
            .collect();
        body["consentedPermissionSet"] = json!({ "resourceSpecificPermissions": listed });
    }
    body
}

fn the_apps_consent() -> Vec<(&'static str, &'static str)> {
    TEAMS_APP_RSC_PERMISSIONS
        .iter()
        .map(|p| (*p, "Application"))
        .collect()
}

/// Graph's 403 for a missing role, checked word for word.
fn assert_missing_roles(status: StatusCode, body: &Value, requires: &str, roles: &str) {
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "Forbidden", "{body}");
    let expected = format!(
        "Missing role permissions on the request. API requires one of '{requires}'. Roles on the request '{roles}'."
    );
    assert_eq!(body["error"]["message"], expected.as_str());
    for field in ["date", "request-id", "client-request-id"] {
        assert!(
            body["error"]["innerError"][field].is_string(),
            "{field}: {body}"
        );
    }
}

const GET_CHAT_REQUIRES: &str = "Chat.ReadBasic.WhereInstalled, Chat.Manage.Chat, Chat.Read.All, Chat.ReadBasic.All, Chat.ReadWrite.All, ChatSettings.Read.Chat, ChatSettings.ReadWrite.Chat";
const LIST_MEMBERS_REQUIRES: &str = "ChatMember.Read.All, Chat.Manage.Chat, Chat.Read.All, Chat.ReadBasic.All, Chat.ReadWrite.All, ChatMember.Read.Chat, ChatMember.ReadWrite.All";
const ADD_MEMBER_REQUIRES: &str = "Chat.Manage.Chat, Chat.ReadWrite.All, ChatMember.ReadWrite.All";

#[tokio::test]
async fn graph_tokens_carry_the_worlds_application_permissions_in_roles() {
    let app = start(tenant_world(""), None).await;
    let graph = claims(&app.token(GRAPH_SCOPE).await);
    assert_eq!(
        graph["roles"],
        json!(DEFAULT_GRAPH_PERMISSIONS),
        "the default"
    );
    let dataverse = claims(&app.token(&app.dataverse_scope()).await);
    assert!(dataverse.get("roles").is_none(), "Graph's roles only");
    let world = app.control("world").await;
    assert_eq!(world["graph_permissions"], json!(DEFAULT_GRAPH_PERMISSIONS));

    let granted = "[app]\ngraph_permissions = [\"Chat.Read.All\"]";
    let app = start(tenant_world(granted), None).await;
    let graph = claims(&app.token(GRAPH_SCOPE).await);
    assert_eq!(graph["roles"], json!(["Chat.Read.All"]));

    let app = start(tenant_world("[app]\ngraph_permissions = []"), None).await;
    let graph = claims(&app.token(GRAPH_SCOPE).await);
    assert!(graph.get("roles").is_none(), "no roles, no claim: {graph}");
}

#[tokio::test]
async fn without_a_documented_permission_graph_answers_its_own_403() {
    let app = start(tenant_world("[app]\ngraph_permissions = []"), None).await;
    let token = app.token(GRAPH_SCOPE).await;
    let (status, body) = app.get(&chat_url(&app, ACME_ROOM, ""), Some(&token)).await;
    assert_missing_roles(status, &body, GET_CHAT_REQUIRES, "");
    let (status, body) = app
        .get(&chat_url(&app, ACME_ROOM, "/members"), Some(&token))
        .await;
    assert_missing_roles(status, &body, LIST_MEMBERS_REQUIRES, "");
    let alex = app.user("alex").await;
    let add = json!({
        "@odata.type": "#microsoft.graph.aadUserConversationMember",
        "user@odata.bind": format!("https://graph.microsoft.com/v1.0/users('{}')", alex["aad_object_id"].as_str().unwrap()),
        "visibleHistoryStartDateTime": "0001-01-01T00:00:00Z",
        "roles": ["owner"],
    });
    let (status, body) = app
        .post(&chat_url(&app, ACME_ROOM, "/members"), Some(&token), &add)
        .await;
    assert_missing_roles(status, &body, ADD_MEMBER_REQUIRES, "");
    let room = app.chat(ACME_ROOM).await;
    assert!(
        !room["members"].to_string().contains("alex"),
        "nobody was added: {room}"
    );
    // A missing permission is refused before a missing chat is looked for.
    let (status, _) = app
        .get(&chat_url(&app, "19:nope@thread.v2", ""), Some(&token))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn members_without_chat_reads_is_refused_exactly_the_chat_read() {
    let granted = "[app]\ngraph_permissions = [\"ChatMember.ReadWrite.All\"]";
    let app = start(tenant_world(granted), None).await;
    let token = app.token(GRAPH_SCOPE).await;
    let (status, body) = app.get(&chat_url(&app, ACME_ROOM, ""), Some(&token)).await;
    assert_missing_roles(status, &body, GET_CHAT_REQUIRES, "ChatMember.ReadWrite.All");
    let (status, members) = app
        .get(&chat_url(&app, ACME_ROOM, "/members"), Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK, "{members}");
    assert_eq!(members["value"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_install_must_consent_to_exactly_the_apps_rsc_permissions() {
    let app = start(tenant_world(""), None).await;
    let token = app.token(GRAPH_SCOPE).await;
    let url = chat_url(&app, ACME_ROOM, "/installedApps");
    let consent = the_apps_consent();
    let wrong: &[(&str, &str)] = &[
        ("ChatMember.Read.Chat", "Application"),
        ("ChatMessage.Read.Chat", "Application"),
    ];
    let delegated: Vec<(&str, &str)> = consent.iter().map(|(p, _)| (*p, "Delegated")).collect();
    let refused: [(&str, Option<Consent>); 4] = [
        ("no consent", None),
        ("another set", Some(wrong)),
        ("part of the set", Some(&consent[..1])),
        (
            "delegated instead of application",
            Some(delegated.as_slice()),
        ),
    ];
    for (case, given) in refused {
        let (status, body) = app
            .post(&url, Some(&token), &install_body(&app, given))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{case}: {body}");
        assert_eq!(body["error"]["code"], "BadRequest", "{case}");
        assert!(
            body["error"]["innerError"]["request-id"].is_string(),
            "{case}"
        );
        let world = app.control("world").await;
        let room = world["chats"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == ACME_ROOM)
            .unwrap()
            .clone();
        assert_eq!(room["bot_installed"], false, "{case}: not installed");
    }
    let (status, body) = app
        .post(&url, Some(&token), &install_body(&app, Some(&consent)))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let world = app.control("world").await;
    let room = world["chats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == ACME_ROOM)
        .unwrap()
        .clone();
    assert_eq!(room["bot_installed"], true);
    assert_eq!(room["rsc_grants"], json!(TEAMS_APP_RSC_PERMISSIONS));
}

#[tokio::test]
async fn installing_an_rsc_app_needs_a_permission_that_may_consent() {
    let granted = "[app]\ngraph_permissions = [\"TeamsAppInstallation.ReadWriteSelfForChat.All\"]";
    let app = start(tenant_world(granted), None).await;
    let token = app.token(GRAPH_SCOPE).await;
    let url = chat_url(&app, ACME_ROOM, "/installedApps");
    let body = install_body(&app, Some(&the_apps_consent()));
    let (status, answer) = app.post(&url, Some(&token), &body).await;
    assert_missing_roles(
        status,
        &answer,
        "TeamsAppInstallation.ReadWriteAndConsentSelfForChat.All, TeamsAppInstallation.ReadWriteAndConsentForChat.All",
        "TeamsAppInstallation.ReadWriteSelfForChat.All",
    );

    let app = start(tenant_world("[app]\ngraph_permissions = []"), None).await;
    let token = app.token(GRAPH_SCOPE).await;
    let url = chat_url(&app, ACME_ROOM, "/installedApps");
    let (status, answer) = app
        .post(
            &url,
            Some(&token),
            &install_body(&app, Some(&the_apps_consent())),
        )
        .await;
    assert_missing_roles(
        status,
        &answer,
        "TeamsAppInstallation.ReadWriteSelfForChat.All, TeamsAppInstallation.ReadWriteForChat.All, TeamsAppInstallation.ReadWriteAndConsentSelfForChat.All, TeamsAppInstallation.ReadWriteAndConsentForChat.All",
        "",
    );
}

#[tokio::test]
async fn consent_given_in_one_chat_serves_that_chat_only() {
    let granted =
        "[app]\ngraph_permissions = [\"TeamsAppInstallation.ReadWriteAndConsentSelfForChat.All\"]";
    let app = start(tenant_world(granted), None).await;
    let token = app.token(GRAPH_SCOPE).await;
    // Installed from the world (by a person, with consent): RSC serves it.
    let (status, chat) = app
        .get(&chat_url(&app, ACME_BOT_ROOM, ""), Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK, "{chat}");
    let (status, _) = app.get(&chat_url(&app, ACME_ROOM, ""), Some(&token)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "not installed, no RSC");

    let body = install_body(&app, Some(&the_apps_consent()));
    let (status, answer) = app
        .post(
            &chat_url(&app, ACME_ROOM, "/installedApps"),
            Some(&token),
            &body,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let (status, chat) = app.get(&chat_url(&app, ACME_ROOM, ""), Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{chat}");
    assert_eq!(chat["topic"], "Acme room");
    let (status, _) = app
        .get(&chat_url(&app, ACME_ROOM, "/members"), Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .get(&chat_url(&app, "19:lunch@thread.v2", ""), Some(&token))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "other chats stay closed");
}

#[tokio::test]
async fn a_403_fault_answers_in_each_services_own_words() {
    let app = start(tenant_world(""), None).await;
    app.set_fault(json!({"service": "graph", "status": 403, "count": 1}))
        .await;
    let token = app.token(GRAPH_SCOPE).await;
    let (status, body) = app.get(&chat_url(&app, ACME_ROOM, ""), Some(&token)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "Forbidden");
    app.set_fault(json!({"service": "dataverse", "status": 403, "count": 1}))
        .await;
    let token = app.token(&app.dataverse_scope()).await;
    let url = format!("{}/api/data/v9.2/WhoAmI", app.cloud.urls().dataverse);
    let (status, body) = app.get(&url, Some(&token)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body["error"]["code"], "0x80040220",
        "Dataverse's privilege error"
    );
}
