//! The control API: playing Teams against a tiny bot, and looking inside.

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::{json, Value};

use joinchat_sandbox::{CloudUrls, World};

use crate::sandbox_helpers::{
    encode, start, start_demo, TestCloud, CONNECTOR_SCOPE, EXPANSION_CHAT,
};

/// A bot that checks the channel token, fetches its own connector token and
/// echoes what it got through the connector, as a real bot would.
struct EchoBot {
    urls: CloudUrls,
    app_id: String,
    app_password: String,
    http: reqwest::Client,
}

async fn start_echo_bot(app: &TestCloud) -> String {
    let bot = web::Data::new(EchoBot {
        urls: app.cloud.urls(),
        app_id: app.cloud.app_id(),
        app_password: app.cloud.app_password(),
        http: reqwest::Client::new(),
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(bot.clone())
            .route("/api/messages", web::post().to(echo))
    })
    .workers(1)
    .disable_signals()
    .bind("127.0.0.1:0")
    .expect("the bot binds");
    let address = server.addrs()[0];
    tokio::spawn(server.run());
    format!("http://{address}/api/messages")
}

async fn channel_token_is_valid(bot: &EchoBot, req: &HttpRequest) -> bool {
    let Some(token) = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let Ok(header) = jsonwebtoken::decode_header(token) else {
        return false;
    };
    let metadata: Value = bot
        .http
        .get(&bot.urls.openid_metadata)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwks: Value = bot
        .http
        .get(metadata["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let Some(jwk) = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| Some(k["kid"].as_str().unwrap()) == header.kid.as_deref())
    else {
        return false;
    };
    let key =
        DecodingKey::from_rsa_components(jwk["n"].as_str().unwrap(), jwk["e"].as_str().unwrap())
            .unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[&bot.app_id]);
    validation.set_issuer(&["https://api.botframework.com"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation).is_ok()
}

async fn echo(
    bot: web::Data<EchoBot>,
    req: HttpRequest,
    activity: web::Json<Value>,
) -> HttpResponse {
    if !channel_token_is_valid(&bot, &req).await {
        return HttpResponse::Unauthorized().finish();
    }
    let tenant = activity["channelData"]["tenant"]["id"].as_str().unwrap();
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", bot.app_id.as_str()),
        ("client_secret", bot.app_password.as_str()),
        ("scope", CONNECTOR_SCOPE),
    ];
    let token: Value = bot
        .http
        .post(format!("{}/{tenant}/oauth2/v2.0/token", bot.urls.login))
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let conversation = activity["conversation"]["id"].as_str().unwrap();
    let said = activity["text"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("verb {}", activity["value"]["action"]["verb"]));
    let reply =
        json!({"type": "message", "text": format!("echo: {said}"), "replyToId": activity["id"]});
    let url = format!(
        "{}v3/conversations/{}/activities",
        activity["serviceUrl"].as_str().unwrap(),
        encode(conversation)
    );
    let posted = bot
        .http
        .post(url)
        .bearer_auth(token["access_token"].as_str().unwrap())
        .json(&reply)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::CREATED);
    if activity["type"] == "invoke" {
        return HttpResponse::Ok().json(json!({"statusCode": 200, "type": "application/vnd.microsoft.activity.message", "value": "done"}));
    }
    HttpResponse::Ok().finish()
}

async fn with_echo_bot() -> TestCloud {
    let app = start(World::demo(), None).await;
    let endpoint = start_echo_bot(&app).await;
    app.cloud.set_bot_endpoint(endpoint);
    app
}

#[tokio::test]
async fn say_plays_teams_and_returns_what_the_bot_posted_while_handling_it() {
    let app = with_echo_bot().await;
    let (status, answer) = app
        .post(
            &app.url("/_sandbox/users/alex/say"),
            None,
            &json!({"text": "help"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], 200);
    let activities = answer["activities"].as_array().unwrap();
    assert_eq!(activities.len(), 1, "{answer}");
    assert_eq!(activities[0]["text"], "echo: help");
    let alex = app.user("alex").await;
    assert_eq!(activities[0]["conversation"]["id"], alex["conversation_id"]);

    let services: Vec<(String, String)> = app
        .control("calls")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["service"].as_str().unwrap().to_owned(),
                c["method"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        services.contains(&("entra".into(), "POST".into())),
        "{services:?}"
    );
    assert!(
        services.contains(&("connector".into(), "POST".into())),
        "{services:?}"
    );
}

#[tokio::test]
async fn say_in_a_chat_mentions_the_bot_and_shows_in_the_chat() {
    let app = with_echo_bot().await;
    let request = json!({"text": "chats for lead Contoso", "chat": EXPANSION_CHAT});
    let (status, answer) = app
        .post(&app.url("/_sandbox/users/sam/say"), None, &request)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer["activities"][0]["text"],
        "echo: <at>joinchat</at> chats for lead Contoso"
    );
    assert_eq!(
        answer["activities"][0]["conversation"]["id"],
        EXPANSION_CHAT
    );
    let chat = app.chat(EXPANSION_CHAT).await;
    let kinds: Vec<&str> = chat["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .take(2)
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["bot", "message"]);
}

#[tokio::test]
async fn invoke_returns_the_bots_invoke_response() {
    let app = with_echo_bot().await;
    let request = json!({"verb": "join", "data": {"chatId": EXPANSION_CHAT}});
    let (status, answer) = app
        .post(&app.url("/_sandbox/users/alex/invoke"), None, &request)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], 200);
    assert_eq!(answer["body"]["value"], "done");
    assert_eq!(answer["activities"][0]["text"], "echo: verb \"join\"");
}

#[tokio::test]
async fn concurrent_says_do_not_see_each_others_replies() {
    let app = with_echo_bot().await;
    let say = |key: &'static str| {
        let url = app.url(&format!("/_sandbox/users/{key}/say"));
        let http = app.http.clone();
        async move {
            http.post(url)
                .json(&json!({"text": key}))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let (alex, jo) = tokio::join!(say("alex"), say("jo"));
    assert_eq!(alex["activities"].as_array().unwrap().len(), 1);
    assert_eq!(alex["activities"][0]["text"], "echo: alex");
    assert_eq!(jo["activities"].as_array().unwrap().len(), 1);
    assert_eq!(jo["activities"][0]["text"], "echo: jo");
}

#[tokio::test]
async fn say_refuses_unknown_people_chats_and_bad_json_and_reports_an_absent_bot() {
    let app = start_demo().await;
    app.cloud
        .set_bot_endpoint("http://127.0.0.1:9/api/messages".to_owned());
    let cases = [
        (
            "/_sandbox/users/nobody/say",
            json!({"text": "help"}),
            StatusCode::NOT_FOUND,
        ),
        (
            "/_sandbox/users/alex/say",
            json!({"text": "help", "chat": "19:nope@thread.v2"}),
            StatusCode::NOT_FOUND,
        ),
        (
            "/_sandbox/users/alex/say",
            json!({"words": "help"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/_sandbox/users/alex/say",
            json!({"text": "help"}),
            StatusCode::BAD_GATEWAY,
        ),
        (
            "/_sandbox/users/alex/invoke",
            json!({"verb": "join", "data": {}}),
            StatusCode::BAD_GATEWAY,
        ),
    ];
    for (path, body, status) in cases {
        let (got, answer) = app.post(&app.url(path), None, &body).await;
        assert_eq!(got, status, "{path} {body}: {answer}");
        assert!(answer["error"].is_string(), "{answer}");
    }
    let response = app
        .http
        .post(app.url("/_sandbox/users/alex/say"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_world_shows_generated_values_and_never_the_password() {
    let app = start_demo().await;
    let response = app
        .http
        .get(app.url("/_sandbox/world"))
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    assert!(!text.contains(&app.cloud.app_password()));
    let world: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(world["tenant_id"], app.cloud.tenant_id().as_str());
    assert_eq!(world["app_id"], app.cloud.app_id().as_str());
    let urls = app.cloud.urls();
    assert_eq!(
        world["urls"],
        json!({
            "openid_metadata": urls.openid_metadata, "login": urls.login, "graph": urls.graph,
            "dataverse": urls.dataverse, "connector": urls.connector,
        })
    );
    assert!(urls.connector.ends_with('/'));
    let alex = app.user("alex").await;
    uuid::Uuid::parse_str(alex["aad_object_id"].as_str().unwrap()).unwrap();
    assert_eq!(alex["admin"], false);
    assert_eq!(
        world["records"][0],
        json!({
            "entity": "lead", "id": "8f14e45f-ceea-467f-a0c5-1b2d3e4f5a6b", "name": "Contoso Coffee expansion",
            "owner": "sam", "write": ["alex"], "read": ["jo"],
            "access": {"sam": "owner", "alex": "write", "jo": "read"},
        })
    );
    assert_eq!(world["chats"][0]["id"], EXPANSION_CHAT);
}

#[tokio::test]
async fn the_audit_view_is_empty_alone_and_shows_the_wired_source_as_objects() {
    let app = start_demo().await;
    assert_eq!(app.control("audit").await, json!([]));

    app.cloud.set_audit_source(std::sync::Arc::new(|| {
        Box::pin(async {
            vec![vec![
                ("action".to_owned(), "join".to_owned()),
                ("outcome".to_owned(), "joined".to_owned()),
            ]]
        })
    }));
    assert_eq!(
        app.control("audit").await,
        json!([{"action": "join", "outcome": "joined"}])
    );
}

#[tokio::test]
async fn a_chat_view_lists_members_and_history() {
    let app = start_demo().await;
    let chat = app.chat(EXPANSION_CHAT).await;
    assert_eq!(chat["topic"], "Contoso Coffee expansion — deal room");
    assert_eq!(
        chat["members"],
        json!([
            {"user": "sam", "visible_history_start": null},
            {"user": "kim", "visible_history_start": null},
        ])
    );
    assert_eq!(
        chat["messages"][0],
        json!({"from": "sam", "kind": "message", "text": "Kick-off: Contoso wants three new stores by spring."})
    );
    let (status, body) = app
        .get(&app.url("/_sandbox/chats/19%3Anope%40thread.v2"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].is_string());
}

#[tokio::test]
async fn the_calls_log_holds_service_calls_with_decoded_paths_and_nothing_else() {
    let app = start_demo().await;
    let token = app.token(crate::sandbox_helpers::GRAPH_SCOPE).await;
    let url = format!(
        "{}/v1.0/chats/{}/members?$top=5",
        app.cloud.urls().graph,
        encode(EXPANSION_CHAT)
    );
    app.get(&url, Some(&token)).await;
    app.control("world").await;
    app.http.get(app.url("/console")).send().await.unwrap();
    let calls = app.control("calls").await;
    let tenant = app.cloud.tenant_id();
    assert_eq!(
        calls,
        json!([
            {"service": "entra", "method": "POST", "path": format!("/{tenant}/oauth2/v2.0/token"), "status": 200},
            {"service": "graph", "method": "GET", "path": format!("/v1.0/chats/{EXPANSION_CHAT}/members"), "status": 200},
        ])
    );
    assert_eq!(app.cloud.calls().len(), 2);
}

#[tokio::test]
async fn the_console_page_loads_its_script_and_the_change_counter_moves() {
    let app = start_demo().await;
    let get = |path: &'static str| {
        let request = app.http.get(app.url(path));
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    let page = get("/console").await;
    assert!(page.contains("joinchat sandbox console"));
    assert!(page.contains("/console/console.js"));
    // The page learns the world from the control API, like any other client.
    assert!(get("/console/console.js").await.contains("/_sandbox/world"));

    let before = app.control("events").await["version"].as_u64().unwrap();
    let token = app.token(CONNECTOR_SCOPE).await;
    let url = format!(
        "{}v3/conversations/{}/activities",
        app.cloud.urls().connector,
        encode(EXPANSION_CHAT)
    );
    app.post(
        &url,
        Some(&token),
        &json!({"type": "message", "text": "hi"}),
    )
    .await;
    assert!(app.control("events").await["version"].as_u64().unwrap() > before);
}

#[tokio::test]
async fn a_path_no_service_serves_is_refused_in_that_services_shape_and_logged() {
    let app = start_demo().await;
    let (status, body) = app
        .get(&format!("{}/v1.0/me", app.cloud.urls().graph), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "BadRequest");
    let (status, body) = app.get(&app.url("/_sandbox/nothing"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].is_string());
    assert_eq!(app.calls_to("graph").await[0]["path"], "/v1.0/me");
}

#[tokio::test]
async fn a_stopped_cloud_no_longer_answers() {
    let app = start_demo().await;
    let url = app.url("/_sandbox/events");
    assert!(app.http.get(&url).send().await.is_ok());
    app.cloud.clone().stop().await;
    assert!(reqwest::Client::new().get(&url).send().await.is_err());
}
