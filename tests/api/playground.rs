//! The anonymous Playground mode, played on the wire as Microsoft 365 Agents
//! Playground 0.2.28 plays it: a `HEAD /api/messages` probe, activities with no
//! `Authorization` header from loopback, ids that are not GUIDs, and its own
//! Connector at `http://localhost:{port}/_connector` (no trailing slash),
//! which takes no token. And every refusal that keeps the mode from being a
//! hole: outside the mode, with a remote `serviceUrl`, with a bad header, off
//! loopback.

use std::sync::{Arc, Mutex};

use actix_web::{web, App as Server, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};

use joinchat::{config::Config, App};
use joinchat_sandbox::World;

use crate::cards::{cards, join_data, words};
use crate::helpers::{spawn_app, spawn_app_with, StoreKind, TestApp};

const DEAL_ROOM: &str = "19:contoso-coffee-expansion@thread.v2";

/// One request the fake Playground Connector received.
#[derive(Clone, Debug)]
struct Received {
    method: String,
    path: String,
    authorization: Option<String>,
    body: Value,
}

/// A stand-in for the Playground's mock Connector, on loopback.
struct PlaygroundConnector {
    service_url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl PlaygroundConnector {
    async fn start() -> PlaygroundConnector {
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let sink = web::Data::new(received.clone());
        let server = HttpServer::new(move || {
            Server::new()
                .app_data(sink.clone())
                .default_service(web::to(record))
        })
        .workers(1)
        .disable_signals()
        .bind("127.0.0.1:0")
        .expect("the fake connector binds");
        let port = server.addrs()[0].port();
        tokio::spawn(server.run());
        PlaygroundConnector {
            // As the Playground writes it: `localhost`, no trailing slash.
            service_url: format!("http://localhost:{port}/_connector"),
            received,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

async fn record(
    sink: web::Data<Arc<Mutex<Vec<Received>>>>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    sink.lock().unwrap().push(Received {
        method: request.method().to_string(),
        path: percent_encoding::percent_decode_str(request.path())
            .decode_utf8_lossy()
            .into_owned(),
        authorization: request
            .headers()
            .get("authorization")
            .map(|v| v.to_str().unwrap_or("?").to_owned()),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    if request.path().ends_with("/pagedmembers") {
        return HttpResponse::Ok().json(json!({ "members": [] }));
    }
    HttpResponse::Created().json(json!({ "id": "1796219047072" }))
}

async fn spawn_playground_app() -> TestApp {
    spawn_app_with(World::demo(), StoreKind::Memory, |config| {
        config.playground = true;
    })
    .await
}

/// A message as the Playground sends it, from world user `key` (mapped by
/// the mock-tenant file): the Playground's own kind of user id, a 1:1
/// conversation id that is no GUID, and its Connector as `serviceUrl`.
fn playground_message(app: &TestApp, service_url: &str, key: &str, text: &str) -> Value {
    let user = app.user(key);
    json!({
        "type": "message",
        "id": uuid::Uuid::new_v4().to_string(),
        "timestamp": "2026-12-02T13:43:41.000Z",
        "serviceUrl": service_url,
        "channelId": "msteams",
        "from": { "id": "user-id-0", "name": user["name"], "aadObjectId": user["aad_object_id"] },
        "conversation": { "conversationType": "personal", "tenantId": app.cloud.tenant_id(), "id": "a:playground-personal-chat" },
        "recipient": { "id": format!("28:{}", app.cloud.app_id()), "name": "joinchat" },
        "text": text,
        "textFormat": "plain",
        "locale": "en-US",
        "entities": [{ "type": "clientInfo", "locale": "en-US" }],
        "channelData": { "tenant": { "id": app.cloud.tenant_id() } },
    })
}

fn as_invoke(mut activity: Value, verb: &str, data: &Value) -> Value {
    activity["type"] = json!("invoke");
    activity["name"] = json!("adaptiveCard/action");
    activity.as_object_mut().unwrap().remove("text");
    activity["value"] = json!({ "action": { "type": "Action.Execute", "title": "Join", "verb": verb, "data": data } });
    activity
}

#[tokio::test]
async fn the_playgrounds_start_up_probe_gets_an_empty_200_in_every_mode() {
    for app in [
        spawn_app(StoreKind::Memory).await,
        spawn_playground_app().await,
    ] {
        let response = app
            .http
            .head(format!("{}/api/messages", app.bot_url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert!(response.bytes().await.unwrap().is_empty());
        app.stop().await;
    }
}

#[tokio::test]
async fn outside_the_playground_mode_an_activity_without_a_token_is_401_and_does_nothing() {
    let app = spawn_app(StoreKind::Memory).await;
    let connector = PlaygroundConnector::start().await;
    let activity = playground_message(&app, &connector.service_url, "alex", "help");
    let response = app.post_activity(&activity, None).await;
    assert_eq!(response.status().as_u16(), 401);
    assert!(connector.received().is_empty());
    assert_nothing_called(&app).await;
}

/// No call reached Graph, Dataverse or the cloud's Connector (Entra serves
/// the bot's signing keys from the start).
async fn assert_nothing_called(app: &TestApp) {
    for service in ["connector", "graph", "dataverse"] {
        assert!(
            app.calls_to(service).await.is_empty(),
            "{service} was called"
        );
    }
}

#[tokio::test]
async fn in_the_playground_mode_help_is_answered_through_its_connector_without_a_token() {
    let app = spawn_playground_app().await;
    let connector = PlaygroundConnector::start().await;
    let activity = playground_message(&app, &connector.service_url, "alex", "help");
    let response = app.post_activity(&activity, None).await;
    assert_eq!(response.status().as_u16(), 200);

    let received = connector.received();
    assert_eq!(received.len(), 1, "{received:?}");
    let reply = &received[0];
    assert_eq!(reply.method, "POST");
    assert_eq!(
        reply.path,
        format!(
            "/_connector/v3/conversations/a:playground-personal-chat/activities/{}",
            activity["id"].as_str().unwrap()
        ),
        "joined to the Connector URL with exactly one slash"
    );
    assert_eq!(
        reply.authorization, None,
        "the Playground is never sent a token"
    );
    assert!(reply.body["text"]
        .as_str()
        .unwrap()
        .contains("join chat for"));
    assert_eq!(reply.body["recipient"]["id"], "user-id-0");
    assert!(
        app.calls_to("connector").await.is_empty(),
        "nothing went to the cloud's Connector"
    );
}

#[tokio::test]
async fn a_playground_join_adds_the_member_in_graph_and_posts_the_notice_to_the_playground() {
    let app = spawn_playground_app().await;
    let connector = PlaygroundConnector::start().await;
    let ask = playground_message(
        &app,
        &connector.service_url,
        "alex",
        "join chat for lead Contoso Coffee expansion",
    );
    assert_eq!(app.post_activity(&ask, None).await.status().as_u16(), 200);
    let posted: Vec<Value> = connector.received().into_iter().map(|r| r.body).collect();
    let card = cards(&json!(posted)).pop().expect("a card with the chats");
    let data = join_data(&card, DEAL_ROOM).expect("a Join for the deal room");

    let click = as_invoke(
        playground_message(&app, &connector.service_url, "alex", ""),
        "join",
        &data,
    );
    let response = app.post_activity(&click, None).await;
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(words(&body["value"]).contains("You joined"), "{body}");

    let chat = app.chat(DEAL_ROOM).await;
    let alex = chat["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user"] == "alex");
    assert_eq!(
        alex.map(|m| m["visible_history_start"].clone()),
        Some(json!("0001-01-01T00:00:00Z")),
        "{chat}"
    );
    // The notice follows the join's answer.
    let mut notice = None;
    for _ in 0..50 {
        notice = connector
            .received()
            .into_iter()
            .find(|r| r.path.contains("19:contoso-coffee-expansion@thread.v2"));
        if notice.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let notice = notice.expect("the joined notice went to the Playground, which hosts the chat");
    assert_eq!(notice.authorization, None);
    assert!(notice.body["text"]
        .as_str()
        .unwrap()
        .contains("Alex Wu joined the chat"));
}

#[tokio::test]
async fn the_playground_mode_refuses_an_anonymous_activity_naming_a_connector_elsewhere() {
    let app = spawn_playground_app().await;
    for service_url in [
        "https://smba.trafficmanager.net/amer/",
        "http://localhost.attacker.example/_connector",
        "http://localhost@attacker.example/_connector",
        "http://10.1.2.3:56150/_connector",
    ] {
        let activity = playground_message(&app, service_url, "alex", "help");
        let response = app.post_activity(&activity, None).await;
        assert_eq!(response.status().as_u16(), 401, "{service_url}");
    }
    assert_nothing_called(&app).await;
    assert!(app
        .metrics()
        .await
        .contains(r#"joinchat_auth_failures_total{reason="local_serviceurl"} 4"#));
}

#[tokio::test]
async fn with_a_header_the_playground_mode_checks_the_token_as_always() {
    let app = spawn_playground_app().await;
    let connector = PlaygroundConnector::start().await;
    let activity = playground_message(&app, &connector.service_url, "alex", "help");
    let response = app
        .post_raw(
            serde_json::to_vec(&activity).unwrap(),
            Some("Bearer not-a-token"),
        )
        .await;
    assert_eq!(response.status().as_u16(), 401);
    assert!(connector.received().is_empty());

    // A real channel token is still honoured, and its Connector (the cloud's,
    // also on loopback) gets the bot's token as ever: the console keeps working.
    let signed = app.message("help");
    let response = app.post_activity(&signed, Some(&app.token())).await;
    assert_eq!(response.status().as_u16(), 200);
    let posts = app.calls_to("connector").await;
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(
        posts[0]["status"], 201,
        "the cloud's Connector took the bot's token"
    );
}

#[tokio::test]
async fn the_playgrounds_default_people_are_strangers_to_the_bot() {
    let app = spawn_playground_app().await;
    let connector = PlaygroundConnector::start().await;
    // Without the generated mock-tenant file the Playground sends its own
    // tenant and ids that are not GUIDs.
    let mut activity = playground_message(
        &app,
        &connector.service_url,
        "alex",
        "join chat for lead Contoso Coffee expansion",
    );
    activity["from"]["aadObjectId"] = json!("00000000-0000-0000-0000-0000000000020");
    let response = app.post_activity(&activity, None).await;
    assert_eq!(response.status().as_u16(), 200);
    let text = connector.received()[0].body["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(text.contains("can't tell who you are"), "{text}");

    activity["channelData"]["tenant"]["id"] = json!("00000000-0000-0000-0000-0000000000001");
    activity["conversation"]["tenantId"] = json!("00000000-0000-0000-0000-0000000000001");
    activity["id"] = json!(uuid::Uuid::new_v4().to_string());
    let response = app.post_activity(&activity, None).await;
    assert_eq!(response.status().as_u16(), 403, "another tenant");
    assert!(app.calls_to("graph").await.is_empty());
}

#[tokio::test]
async fn the_playground_mode_never_listens_beyond_loopback() {
    let app = spawn_app(StoreKind::Memory).await;
    let mut config: Config = crate::helpers::test_config(&app.cloud, StoreKind::Memory, None);
    config.playground = true;
    config.listen = "0.0.0.0:0".parse().unwrap();
    let refused = App::build(config).await.err().expect("refused");
    assert!(refused.to_string().contains("loopback"), "{refused}");
}
