//! The offer, end to end: a record changes hands through the control API
//! (`assign`, `share`), the simulated Dataverse calls the bot's
//! `POST /api/dataverse` as Dataverse does, and the new owner (or the person
//! given write access) gets one 1:1 card with their own view of each
//! connected chat — installed for first through Graph when they never talked
//! to the bot. And the webhook's front door: its key (query or header),
//! size limit and malformed bodies, where nothing at all happens.

use serde_json::{json, Value};

use crate::{
    cards::{cards, words},
    helpers::{spawn_app, spawn_app_with, StoreKind, TestApp},
};

const EXPANSION_LEAD: &str = "8f14e45f-ceea-467f-a0c5-1b2d3e4f5a6b";
const NO_CHATS_OPPORTUNITY: &str = "d3d94468-02a4-4c1e-9b7f-6e2a8c5d3f90";
const ACCOUNT: &str = "6512bd43-d9ca-4a6e-8f3b-1c7d2e9a5b60";

fn aad(app: &TestApp, key: &str) -> String {
    app.user(key)["aad_object_id"].as_str().unwrap().to_owned()
}

/// The 1:1 chat Graph gives for a person once the app is installed for them.
fn graph_personal_chat(app: &TestApp, key: &str) -> String {
    format!(
        "19:{}_{}@unq.gbl.spaces",
        aad(app, key),
        app.world["app_id"].as_str().unwrap()
    )
}

async fn assign(app: &TestApp, entity: &str, id: &str, body: Value) -> Value {
    app.control_post(&format!("records/{entity}/{id}/assign"), body)
        .await
}

async fn share(app: &TestApp, user: &str, access: &str) -> Value {
    app.control_post(
        &format!("records/lead/{EXPANSION_LEAD}/share"),
        json!({"user": user, "access": access}),
    )
    .await
}

/// The Graph calls that install the app for a person and find its chat.
async fn installs_for(app: &TestApp, key: &str) -> Vec<Value> {
    let prefix = format!("/v1.0/users/{}/teamwork/installedApps", aad(app, key));
    app.calls_to("graph")
        .await
        .into_iter()
        .filter(|c| c["path"].as_str().unwrap_or("").starts_with(&prefix))
        .collect()
}

async fn offer_events(app: &TestApp) -> Vec<std::collections::HashMap<String, String>> {
    app.audit()
        .await
        .into_iter()
        .filter(|event| event.get("action").map(String::as_str) == Some("offer"))
        .collect()
}

/// The one card the bot posted, and where it went.
fn the_one_card(answer: &Value) -> (Value, String) {
    let activities = answer["activities"].as_array().expect("activities");
    assert_eq!(activities.len(), 1, "exactly one message: {answer}");
    let card = cards(&answer["activities"]).pop().expect("a card");
    let conversation = activities[0]["conversation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (card, conversation)
}

#[tokio::test]
async fn an_assign_offers_the_new_owner_the_chats_once_even_when_delivered_twice() {
    let app = spawn_app(StoreKind::Memory).await;
    app.say("alex", "help").await;
    let answer = assign(
        &app,
        "lead",
        EXPANSION_LEAD,
        json!({"owner": "alex", "deliver": 2}),
    )
    .await;
    assert_eq!(answer["status"], 200, "{answer}");
    let (card, conversation) = the_one_card(&answer);
    assert_eq!(
        conversation,
        app.user("alex")["conversation_id"],
        "alex's 1:1"
    );
    let shown = words(&card);
    assert!(
        shown.contains("Lead Contoso Coffee expansion is now yours: it has 2 connected chats"),
        "{shown}"
    );
    // Alex's own view: a writer, lead enabled, in neither chat.
    assert_eq!(
        shown.matches("Hover over to join this chat").count(),
        2,
        "{shown}"
    );
    assert!(shown.contains("Contoso Coffee — pricing"), "{shown}");
    // He talked to the bot: no installation needed.
    assert!(installs_for(&app, "alex").await.is_empty());
    let posted: Vec<Value> = app
        .calls_to("connector")
        .await
        .into_iter()
        .filter(|c| c["method"] == "POST" && c["path"].as_str().unwrap().contains(&conversation))
        .collect();
    assert_eq!(posted.len(), 2, "the help answer and one offer: {posted:?}");
    let offered: Vec<_> = offer_events(&app)
        .await
        .into_iter()
        .filter(|e| e["outcome"] == "offered")
        .collect();
    assert_eq!(offered.len(), 1, "{offered:?}");
    assert_eq!(offered[0]["actor"], aad(&app, "alex"));
    assert_eq!(offered[0]["reason"], "new_owner");
}

#[tokio::test]
async fn a_person_who_never_talked_to_the_bot_gets_the_app_installed_and_the_offer() {
    let app = spawn_app(StoreKind::Memory).await;
    let answer = assign(&app, "lead", EXPANSION_LEAD, json!({"owner": "lee"})).await;
    assert_eq!(answer["status"], 200, "{answer}");
    let (card, conversation) = the_one_card(&answer);
    assert_eq!(conversation, graph_personal_chat(&app, "lee"));
    assert!(
        words(&card).contains("Lead Contoso Coffee expansion is now yours"),
        "{card}"
    );
    let installs = installs_for(&app, "lee").await;
    let steps: Vec<(String, u64)> = installs
        .iter()
        .map(|c| {
            let path = c["path"].as_str().unwrap();
            let step = if path.ends_with("/chat") {
                "chat"
            } else {
                "installedApps"
            };
            (
                format!("{} {step}", c["method"].as_str().unwrap()),
                c["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("POST installedApps".to_owned(), 201),
            ("GET installedApps".to_owned(), 200),
            ("GET chat".to_owned(), 200),
        ]
    );

    // Known now: a second offer to lee goes straight to that chat.
    let again = assign(
        &app,
        "incident",
        "c20ad4d7-6fe9-4759-aa27-0c0c7f3e8b21",
        json!({"owner": "lee"}),
    )
    .await;
    let (card, conversation) = the_one_card(&again);
    // The installation also told the bot (as Teams does): either id of that
    // one 1:1 conversation is right, whichever the bot kept last.
    assert!(
        conversation == graph_personal_chat(&app, "lee")
            || conversation == app.user("lee")["conversation_id"],
        "{conversation}"
    );
    assert!(
        words(&card).contains("Case Espresso machine outage is now yours: it has 1 connected chat"),
        "{card}"
    );
    assert_eq!(
        installs_for(&app, "lee").await.len(),
        3,
        "no second install"
    );
}

#[tokio::test]
async fn a_share_with_write_offers_the_chats_and_a_read_share_sends_nothing() {
    let app = spawn_app(StoreKind::Memory).await;
    let read = share(&app, "lee", "read").await;
    assert_eq!(read["status"], 200, "{read}");
    assert_eq!(read["activities"], json!([]), "{read}");
    assert!(app.calls_to("connector").await.is_empty());
    assert!(installs_for(&app, "lee").await.is_empty());

    let write = share(&app, "lee", "write").await;
    assert_eq!(write["status"], 200, "{write}");
    let (card, _) = the_one_card(&write);
    let shown = words(&card);
    assert!(
        shown.contains(
            "Lead Contoso Coffee expansion was shared with you: it has 2 connected chats"
        ),
        "{shown}"
    );
    assert!(shown.contains("Hover over to join this chat"), "{shown}");
    let reasons: Vec<String> = offer_events(&app)
        .await
        .iter()
        .map(|e| e.get("reason").cloned().unwrap_or_default())
        .collect();
    assert!(
        reasons.contains(&"read_only_share".to_owned()),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&"shared_for_write".to_owned()),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn a_record_without_connected_chats_or_whose_chats_all_have_the_person_sends_nothing() {
    let app = spawn_app(StoreKind::Memory).await;
    let answer = assign(
        &app,
        "opportunity",
        NO_CHATS_OPPORTUNITY,
        json!({"owner": "sam"}),
    )
    .await;
    assert_eq!(answer["status"], 200, "{answer}");
    assert_eq!(answer["activities"], json!([]));
    // Kim is in the account's only chat already.
    let answer = assign(&app, "account", ACCOUNT, json!({"owner": "kim"})).await;
    assert_eq!(answer["status"], 200, "{answer}");
    assert_eq!(answer["activities"], json!([]));
    assert!(app.calls_to("connector").await.is_empty());
    let reasons: Vec<String> = offer_events(&app)
        .await
        .iter()
        .map(|e| e["reason"].clone())
        .collect();
    assert_eq!(reasons, ["no_chats", "member_of_every_chat"]);
}

#[tokio::test]
async fn ask_your_admin_reaches_an_admin_who_never_talked_to_the_bot() {
    let app = spawn_app(StoreKind::Memory).await;
    let asked = app
        .invoke("alex", "ask_admin", &json!({"entity": "account"}))
        .await;
    let shown = words(&asked["body"]["value"]);
    assert!(shown.contains("I asked Priya Shah"), "{shown}");
    let to_priya: Vec<&Value> = asked["activities"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["conversation"]["id"] == graph_personal_chat(&app, "priya"))
        .collect();
    assert_eq!(to_priya.len(), 1, "{asked}");
    assert!(
        words(&to_priya[0]["attachments"][0]["content"])
            .contains("asks you to turn on Join chat for accounts"),
        "{asked}"
    );
    let installed = installs_for(&app, "priya").await;
    assert!(
        installed
            .iter()
            .any(|c| c["method"] == "POST" && c["status"] == 201),
        "{installed:?}"
    );
}

// ---- the front door --------------------------------------------------------

/// A webhook body about the expansion lead, made for this world: a GrantAccess
/// with write for `key` (its systemuserid read from Dataverse, as the bot would).
async fn grant_write_body(app: &TestApp, key: &str) -> Value {
    let fixture = std::fs::read_to_string(format!(
        "{}/../../tests/fixtures/dataverse-webhook/grant-access.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut body: Value = serde_json::from_str(&fixture).unwrap();
    let systemuser = systemuser_id(app, key).await;
    body["InputParameters"][1]["value"]["Principal"]["Id"] = json!(systemuser);
    body["InputParameters"][0]["value"]["Id"] = json!(EXPANSION_LEAD);
    // Each event its own ids; only a redelivery repeats them.
    body["OperationId"] = json!(uuid::Uuid::new_v4().to_string());
    body["RequestId"] = json!(uuid::Uuid::new_v4().to_string());
    body
}

async fn systemuser_id(app: &TestApp, key: &str) -> String {
    let urls = &app.world["urls"];
    let dataverse = urls["dataverse"].as_str().unwrap().trim_end_matches('/');
    let token: Value = app
        .http
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            urls["login"].as_str().unwrap().trim_end_matches('/'),
            app.world["tenant_id"].as_str().unwrap()
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &app.cloud.app_id()),
            ("client_secret", &app.cloud.app_password()),
            ("scope", &format!("{dataverse}/.default")),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rows: Value = app
        .http
        .get(format!(
            "{dataverse}/api/data/v9.2/systemusers?$select=systemuserid&$filter=azureactivedirectoryobjectid eq {}",
            aad(app, key)
        ))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    rows["value"][0]["systemuserid"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `POST /api/dataverse` with a query string and headers of our choosing.
async fn post_webhook(
    app: &TestApp,
    query: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, Value) {
    let mut request = app
        .http
        .post(format!("{}/api/dataverse{query}", app.bot_url))
        .header("content-type", "application/json")
        .header("x-request-id", uuid::Uuid::new_v4().to_string())
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("the bot answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// What the bot called in the cloud besides signing in: Connector, Graph, Dataverse.
async fn outbound_calls(app: &TestApp) -> Vec<Value> {
    app.calls()
        .await
        .into_iter()
        .filter(|c| c["service"] != "entra")
        .collect()
}

#[tokio::test]
async fn a_wrong_or_missing_key_is_401_and_nothing_happens() {
    let app = spawn_app(StoreKind::Memory).await;
    let body = serde_json::to_vec(&json!({"MessageName": "GrantAccess"})).unwrap();
    let key = app.cloud.dataverse_webhook_key();
    let wrong = format!("{key}x");
    let cases: [(String, Vec<(&str, &str)>); 5] = [
        (String::new(), vec![]),
        (format!("?code={wrong}"), vec![]),
        ("?code=".to_owned(), vec![]),
        (
            String::new(),
            vec![("x-joinchat-webhook-key", wrong.as_str())],
        ),
        // The key in a header Dataverse was not told to use.
        (String::new(), vec![("x-api-key", key.as_str())]),
    ];
    for (query, headers) in cases {
        let (status, answer) = post_webhook(&app, &query, &headers, body.clone()).await;
        assert_eq!(status, 401, "{query} {headers:?}");
        assert_eq!(
            answer,
            json!({"error": "unauthorized"}),
            "{query} {headers:?}"
        );
    }
    assert!(outbound_calls(&app).await.is_empty());
    assert!(
        offer_events(&app).await.is_empty(),
        "nothing was even audited"
    );
}

#[tokio::test]
async fn the_key_in_the_configured_header_is_accepted_as_dataverses_httpheader_sends_it() {
    let app = spawn_app(StoreKind::Memory).await;
    let key = app.cloud.dataverse_webhook_key();
    let header = [("x-joinchat-webhook-key", key.as_str())];
    // A share Dataverse never made (lee cannot even read the lead): the body
    // names ids only, and Dataverse says otherwise.
    let forged = serde_json::to_vec(&grant_write_body(&app, "lee").await).unwrap();
    let (status, answer) = post_webhook(&app, "", &header, forged).await;
    assert_eq!((status, &answer), (200, &json!({"outcome": "nothing"})));
    assert!(app.calls_to("connector").await.is_empty());
    // Alex may write to it: his view of its chats goes out.
    let body = serde_json::to_vec(&grant_write_body(&app, "alex").await).unwrap();
    let (status, answer) = post_webhook(&app, "", &header, body.clone()).await;
    assert_eq!((status, &answer), (200, &json!({"outcome": "offered"})));
    let posted: Vec<Value> = app
        .calls_to("connector")
        .await
        .into_iter()
        .filter(|c| c["method"] == "POST")
        .collect();
    assert_eq!(posted.len(), 1, "{posted:?}");
    // The same call again (Dataverse's retry): taken once.
    let (status, answer) = post_webhook(&app, &format!("?code={key}"), &[], body).await;
    assert_eq!((status, &answer), (200, &json!({"outcome": "duplicate"})));
    assert_eq!(
        app.calls_to("connector")
            .await
            .iter()
            .filter(|c| c["method"] == "POST")
            .count(),
        1
    );
}

#[tokio::test]
async fn an_oversized_or_malformed_body_is_refused_and_nothing_happens() {
    let app = spawn_app(StoreKind::Memory).await;
    let code = format!("?code={}", app.cloud.dataverse_webhook_key());
    let oversized = vec![b' '; 256 * 1024 + 1];
    let (status, answer) = post_webhook(&app, &code, &[], oversized).await;
    assert_eq!(
        (status, answer),
        (413, json!({"error": "payload_too_large"}))
    );
    for garbage in [&b"<xml/>"[..], b"{}", b"{\"MessageName\": \"Update\"}"] {
        let (status, answer) = post_webhook(&app, &code, &[], garbage.to_vec()).await;
        assert_eq!((status, answer), (400, json!({"error": "bad_request"})));
    }
    assert!(outbound_calls(&app).await.is_empty());
}

#[tokio::test]
async fn without_a_key_configured_the_endpoint_is_off() {
    let app = spawn_app_with(
        joinchat_sandbox::World::demo(),
        StoreKind::Memory,
        |config| {
            config.dataverse_webhook = None;
        },
    )
    .await;
    let answer = assign(&app, "lead", EXPANSION_LEAD, json!({"owner": "alex"})).await;
    assert_eq!(answer["status"], 404, "{answer}");
    assert_eq!(answer["activities"], json!([]));
    assert!(outbound_calls(&app).await.is_empty());
}

#[tokio::test]
async fn an_offer_whose_post_may_have_arrived_is_not_sent_again() {
    let app = spawn_app(StoreKind::Memory).await;
    app.say("alex", "help").await;
    // The Connector posts the card, then the answer is lost (a 503).
    app.fault(json!({"service": "connector", "status": 503, "count": 1, "commit": true}))
        .await;
    let answer = assign(
        &app,
        "lead",
        EXPANSION_LEAD,
        json!({"owner": "alex", "deliver": 2}),
    )
    .await;
    assert_eq!(
        answer["status"], 200,
        "Dataverse has no reason to retry: {answer}"
    );
    let (card, _) = the_one_card(&answer);
    assert!(words(&card).contains("is now yours"));
    let conversation = app.user("alex")["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let posts = app
        .calls_to("connector")
        .await
        .into_iter()
        .filter(|c| c["method"] == "POST" && c["path"].as_str().unwrap().contains(&conversation))
        .count();
    assert_eq!(posts, 2, "the help answer and one offer, never a second");
    let outcomes: Vec<String> = offer_events(&app)
        .await
        .into_iter()
        .map(|e| e["outcome"].clone())
        .collect();
    assert_eq!(outcomes, ["uncertain"], "audited as maybe posted");
}
