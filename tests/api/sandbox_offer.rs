//! Records changing hands through the control API (`assign`, `share`): the
//! world changes as Dataverse changes it (seen through the simulated
//! Dataverse's own `RetrievePrincipalAccess`), and the webhook registration
//! the organization holds is called as Dataverse calls it — the key as
//! `?code=`, Dataverse's headers, the RemoteExecutionContext — once, or
//! twice identically with `deliver: 2`. A tiny receiver stands in for the bot.

use joinchat_sandbox::World;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::sandbox_helpers::{encode, start, Receiver, TestCloud, EXPANSION_LEAD};

/// The demo world's lead with no chats of its own in this file: sam owns
/// it, alex writes, jo reads, lee has nothing.
async fn start_with_receiver() -> (TestCloud, Receiver) {
    let receiver = Receiver::start().await;
    let app = start(World::demo(), Some(receiver.url("/api/messages"))).await;
    (app, receiver)
}

async fn control_post(app: &TestCloud, path: &str, body: Value) -> (StatusCode, Value) {
    app.post(&app.url(&format!("/_sandbox/{path}")), None, &body)
        .await
}

async fn systemuser(app: &TestCloud, key: &str) -> String {
    let token = app.token(&app.dataverse_scope()).await;
    let aad = app.user(key).await["aad_object_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = format!(
        "{}/api/data/v9.2/systemusers?$select=systemuserid&$filter=azureactivedirectoryobjectid eq {aad}",
        app.cloud.urls().dataverse
    );
    let (status, body) = app.get(&url, Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["value"][0]["systemuserid"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `RetrievePrincipalAccess` of `key` on the expansion lead, as the bot asks it.
async fn rights(app: &TestCloud, key: &str) -> String {
    let token = app.token(&app.dataverse_scope()).await;
    let user = systemuser(app, key).await;
    let target = encode(&format!("{{'@odata.id':'leads({EXPANSION_LEAD})'}}"));
    let url = format!(
        "{}/api/data/v9.2/systemusers({user})/Microsoft.Dynamics.CRM.RetrievePrincipalAccess(Target=@tid)?@tid={target}",
        app.cloud.urls().dataverse
    );
    let (status, body) = app.get(&url, Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["AccessRights"].as_str().unwrap().to_owned()
}

const WRITER: &str = "ReadAccess, WriteAccess, AppendAccess, AppendToAccess, CreateAccess, DeleteAccess, ShareAccess, AssignAccess";
const READER: &str = "ReadAccess, AppendToAccess";

fn parameter<'v>(context: &'v Value, key: &str) -> &'v Value {
    context["InputParameters"]
        .as_array()
        .and_then(|parameters| parameters.iter().find(|p| p["key"] == key))
        .map(|p| &p["value"])
        .unwrap_or_else(|| panic!("no input parameter {key}: {context}"))
}

#[tokio::test]
async fn an_assign_makes_the_new_owner_a_writer_and_calls_the_webhook_as_dataverse_does() {
    let (app, receiver) = start_with_receiver().await;
    assert_eq!(rights(&app, "lee").await, "None");
    let (status, answer) = control_post(
        &app,
        &format!("records/lead/{EXPANSION_LEAD}/assign"),
        json!({"owner": "lee"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], 200, "the receiver's status");
    assert_eq!(answer["activities"], json!([]));

    assert_eq!(rights(&app, "lee").await, WRITER);
    // sam no longer owns it and the world grants sam nothing else on it.
    assert_eq!(rights(&app, "sam").await, "None");
    assert_eq!(rights(&app, "alex").await, WRITER);

    let received = receiver.received();
    assert_eq!(received.len(), 1);
    let call = &received[0];
    assert_eq!(call.path, "/api/dataverse");
    assert_eq!(
        call.query_param("code"),
        Some(app.cloud.dataverse_webhook_key())
    );
    assert_eq!(call.header("content-type"), Some("application/json"));
    assert_eq!(call.header("x-ms-dynamics-entity-name"), Some("lead"));
    assert_eq!(call.header("x-ms-dynamics-request-name"), Some("Update"));
    let dataverse = url::Url::parse(&app.cloud.urls().dataverse).unwrap();
    let organization = format!(
        "{}:{}",
        dataverse.host_str().unwrap(),
        dataverse.port().unwrap()
    );
    assert_eq!(
        call.header("x-ms-dynamics-organization"),
        Some(organization.as_str())
    );

    let context = &call.body;
    assert_eq!(call.header("x-request-id"), context["RequestId"].as_str());
    assert_eq!(context["MessageName"], "Update");
    assert_eq!(context["PrimaryEntityName"], "lead");
    assert_eq!(context["PrimaryEntityId"], EXPANSION_LEAD);
    assert_eq!(context["Stage"], 40);
    assert_eq!(context["UserId"], systemuser(&app, "sam").await.as_str());
    let target = parameter(context, "Target");
    assert_eq!(
        target["__type"],
        "Entity:http://schemas.microsoft.com/xrm/2011/Contracts"
    );
    assert_eq!(target["LogicalName"], "lead");
    assert_eq!(target["Id"], EXPANSION_LEAD);
    let owner = target["Attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == "ownerid")
        .map(|a| &a["value"])
        .expect("ownerid among the attributes");
    assert_eq!(
        owner["__type"],
        "EntityReference:http://schemas.microsoft.com/xrm/2011/Contracts"
    );
    assert_eq!(owner["LogicalName"], "systemuser");
    assert_eq!(owner["Id"], systemuser(&app, "lee").await.as_str());
    for field in [
        "BusinessUnitId",
        "CorrelationId",
        "OperationId",
        "OrganizationId",
        "InitiatingUserId",
    ] {
        assert!(context[field].is_string(), "{field}: {context}");
    }
    let created = context["OperationCreatedOn"].as_str().unwrap();
    assert!(
        created.starts_with("/Date(") && created.ends_with("+0000)/"),
        "{created}"
    );
}

#[tokio::test]
async fn a_share_grants_then_modifies_access_with_the_mask_as_a_number() {
    let (app, receiver) = start_with_receiver().await;
    let share = format!("records/lead/{EXPANSION_LEAD}/share");
    let (status, answer) =
        control_post(&app, &share, json!({"user": "lee", "access": "write"})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(rights(&app, "lee").await, WRITER);

    let (status, _) = control_post(&app, &share, json!({"user": "lee", "access": "read"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rights(&app, "lee").await, READER);

    let received = receiver.received();
    let messages: Vec<&str> = received
        .iter()
        .map(|call| call.body["MessageName"].as_str().unwrap())
        .collect();
    assert_eq!(messages, ["GrantAccess", "ModifyAccess"]);
    assert_eq!(
        received[1].header("x-ms-dynamics-request-name"),
        Some("ModifyAccess")
    );
    let lee = systemuser(&app, "lee").await;
    for (call, mask) in received.iter().zip([23, 1]) {
        let target = parameter(&call.body, "Target");
        assert_eq!(
            target["__type"],
            "EntityReference:http://schemas.microsoft.com/xrm/2011/Contracts"
        );
        assert_eq!(target["Id"], EXPANSION_LEAD);
        let access = parameter(&call.body, "PrincipalAccess");
        assert_eq!(
            access["__type"],
            "PrincipalAccess:http://schemas.microsoft.com/crm/2011/Contracts"
        );
        assert_eq!(access["AccessMask"], mask);
        assert_eq!(access["Principal"]["Id"], lee.as_str());
        assert_eq!(access["Principal"]["LogicalName"], "systemuser");
    }
    // jo already read it: a write share modifies that share.
    control_post(&app, &share, json!({"user": "jo", "access": "write"})).await;
    assert_eq!(receiver.received()[2].body["MessageName"], "ModifyAccess");
    assert_eq!(rights(&app, "jo").await, WRITER);
}

#[tokio::test]
async fn deliver_two_sends_the_same_call_twice_and_answers_the_bots_status() {
    let (app, receiver) = start_with_receiver().await;
    receiver.answer_with(202);
    let (status, answer) = control_post(
        &app,
        &format!("records/lead/{EXPANSION_LEAD}/assign"),
        json!({"owner": "lee", "deliver": 2}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], 202);
    assert_eq!(answer["deliveries"], json!([202, 202]));
    let received = receiver.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].body, received[1].body);
    assert_eq!(received[0].query, received[1].query);
    for header in [
        "x-request-id",
        "x-ms-correlation-request-id",
        "x-ms-dynamics-request-name",
    ] {
        assert_eq!(
            received[0].header(header),
            received[1].header(header),
            "{header}"
        );
    }
}

#[tokio::test]
async fn bad_requests_are_refused_and_change_nothing() {
    let (app, receiver) = start_with_receiver().await;
    let lead = format!("records/lead/{EXPANSION_LEAD}");
    let cases = [
        (
            "records/lead/00000000-0000-4000-8000-000000000000/assign".to_owned(),
            json!({"owner": "lee"}),
            StatusCode::NOT_FOUND,
        ),
        (
            "records/planet/x/assign".to_owned(),
            json!({"owner": "lee"}),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("{lead}/assign"),
            json!({"owner": "nobody"}),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("{lead}/share"),
            json!({"user": "nobody", "access": "write"}),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("{lead}/share"),
            json!({"user": "lee", "access": "admin"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("{lead}/share"),
            json!({"user": "lee"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("{lead}/assign"),
            json!({"owner": "lee", "deliver": 0}),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (path, body, expected) in cases {
        let (status, answer) = control_post(&app, &path, body.clone()).await;
        assert_eq!(status, expected, "{path} {body}: {answer}");
        assert!(answer["error"].is_string(), "{answer}");
    }
    assert!(receiver.received().is_empty());
    assert_eq!(rights(&app, "lee").await, "None");
    assert_eq!(rights(&app, "sam").await, WRITER);
}

#[tokio::test]
async fn the_registration_is_read_through_the_web_api_and_its_key_is_never_shown() {
    let (app, receiver) = start_with_receiver().await;
    let token = app.token(&app.dataverse_scope()).await;
    let api = format!("{}/api/data/v9.2", app.cloud.urls().dataverse);
    let (status, endpoints) = app
        .get(&format!("{api}/serviceendpoints?$select=serviceendpointid,name,url,contract,authtype&$filter=contract eq 8"), Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK, "{endpoints}");
    let endpoint = &endpoints["value"][0];
    assert_eq!(endpoint["url"], receiver.url("/api/dataverse").as_str());
    assert_eq!(endpoint["authtype"], 5);
    assert!(endpoint.get("authvalue").is_none());
    let id = endpoint["serviceendpointid"].as_str().unwrap();
    let (status, steps) = app
        .get(&format!("{api}/sdkmessageprocessingsteps?$select=name,filteringattributes,stage,mode&$filter=_eventhandler_value eq {id}&$expand=sdkmessageid($select=name)"), Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK, "{steps}");
    let mut found: Vec<(String, Value)> = steps["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| {
            (
                step["sdkmessageid"]["name"].as_str().unwrap().to_owned(),
                step["filteringattributes"].clone(),
            )
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found.dedup();
    assert_eq!(
        found,
        [
            ("GrantAccess".to_owned(), Value::Null),
            ("ModifyAccess".to_owned(), Value::Null),
            ("Update".to_owned(), json!("ownerid")),
        ]
    );

    let key = app.cloud.dataverse_webhook_key();
    let world = app.control("world").await.to_string();
    assert!(!world.contains(&key), "the key is not in the world view");
    let calls = app.control("calls").await.to_string();
    assert!(!calls.contains(&key));
}

#[tokio::test]
async fn without_its_step_a_change_calls_nothing_and_deleting_the_endpoint_removes_all() {
    let (app, receiver) = start_with_receiver().await;
    let token = app.token(&app.dataverse_scope()).await;
    let api = format!("{}/api/data/v9.2", app.cloud.urls().dataverse);
    let (_, steps) = app
        .get(
            &format!(
                "{api}/sdkmessageprocessingsteps?$select=name&$expand=sdkmessageid($select=name)"
            ),
            Some(&token),
        )
        .await;
    let grant_on_leads = steps["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|step| step["name"] == "joinchat: GrantAccess of lead")
        .expect("the step")["sdkmessageprocessingstepid"]
        .as_str()
        .unwrap()
        .to_owned();
    let deleted = app
        .http
        .delete(format!("{api}/sdkmessageprocessingsteps({grant_on_leads})"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let (status, answer) = control_post(
        &app,
        &format!("records/lead/{EXPANSION_LEAD}/share"),
        json!({"user": "lee", "access": "write"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["status"], Value::Null, "{answer}");
    assert_eq!(
        rights(&app, "lee").await,
        WRITER,
        "the share still happened"
    );
    assert!(receiver.received().is_empty());

    let (_, endpoints) = app
        .get(&format!("{api}/serviceendpoints"), Some(&token))
        .await;
    let id = endpoints["value"][0]["serviceendpointid"]
        .as_str()
        .unwrap()
        .to_owned();
    let deleted = app
        .http
        .delete(format!("{api}/serviceendpoints({id})"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let (_, steps) = app
        .get(&format!("{api}/sdkmessageprocessingsteps"), Some(&token))
        .await;
    assert_eq!(steps["value"], json!([]));
    control_post(
        &app,
        &format!("records/lead/{EXPANSION_LEAD}/assign"),
        json!({"owner": "lee"}),
    )
    .await;
    assert!(receiver.received().is_empty());
}
