//! The simulated Dataverse Web API.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::sandbox_helpers::{start_demo, TestCloud, EXPANSION_CHAT, EXPANSION_LEAD, GRAPH_SCOPE};

/// A Dataverse session: the app's token, optionally impersonating a user.
struct Session<'a> {
    app: &'a TestCloud,
    token: String,
}

impl<'a> Session<'a> {
    async fn new(app: &'a TestCloud) -> Session<'a> {
        let token = app.token(&app.dataverse_scope()).await;
        Session { app, token }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/data/v9.2/{path}", self.app.cloud.urls().dataverse)
    }

    async fn get(&self, path: &str, caller: Option<&str>) -> (StatusCode, Value) {
        let mut request = self
            .app
            .http
            .get(self.url(path))
            .bearer_auth(&self.token)
            .header("Accept", "application/json")
            .header("OData-Version", "4.0")
            .header("OData-MaxVersion", "4.0");
        if let Some(caller) = caller {
            request = request.header("CallerObjectId", caller);
        }
        crate::sandbox_helpers::json_of(request.send().await.unwrap()).await
    }

    async fn patch(&self, path: &str, caller: Option<&str>, body: &Value) -> StatusCode {
        let mut request = self
            .app
            .http
            .patch(self.url(path))
            .bearer_auth(&self.token)
            .json(body);
        if let Some(caller) = caller {
            request = request.header("CallerObjectId", caller);
        }
        request.send().await.unwrap().status()
    }
}

async fn aad(app: &TestCloud, key: &str) -> String {
    app.user(key).await["aad_object_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn systemuser_id(session: &Session<'_>, key: &str) -> String {
    let aad = aad(session.app, key).await;
    let path = format!("systemusers?$select=systemuserid,fullname,azureactivedirectoryobjectid,isdisabled&$filter=azureactivedirectoryobjectid eq {aad}");
    let (status, body) = session.get(&path, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["value"][0]["systemuserid"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn names(body: &Value, column: &str) -> Vec<String> {
    body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row[column].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn who_am_i_and_a_systemuser_by_entra_object_id() {
    let app = start_demo().await;
    let session = Session::new(&app).await;
    let (status, me) = session.get("WhoAmI", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(me["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse"));
    for field in ["BusinessUnitId", "UserId", "OrganizationId"] {
        uuid::Uuid::parse_str(me[field].as_str().unwrap()).unwrap();
    }
    let alex = aad(&app, "alex").await;
    let path = format!("systemusers?$select=systemuserid,fullname,azureactivedirectoryobjectid,isdisabled&$filter=azureactivedirectoryobjectid eq {}", alex.to_uppercase());
    let (_, body) = session.get(&path, None).await;
    let row = &body["value"][0];
    assert_eq!(row["fullname"], "Alex Wu");
    assert_eq!(row["azureactivedirectoryobjectid"], alex.as_str());
    assert_eq!(row["isdisabled"], false);
    assert!(row["@odata.etag"].as_str().unwrap().starts_with("W/\""));
    assert!(
        row.get("internalemailaddress").is_none(),
        "only selected columns"
    );
    let (_, none) = session.get("systemusers?$filter=azureactivedirectoryobjectid eq 00000000-0000-4000-8000-000000000000", None).await;
    assert_eq!(none["value"], json!([]));
}

#[tokio::test]
async fn a_record_is_read_by_id_within_what_the_caller_may_read() {
    let app = start_demo().await;
    let session = Session::new(&app).await;
    let path = format!("leads({EXPANSION_LEAD})?$select=leadid,fullname");
    let (status, lead) = session.get(&path, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(lead["fullname"], "Contoso Coffee expansion");
    assert_eq!(lead["leadid"], EXPANSION_LEAD);
    assert!(lead["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("$metadata#leads(leadid,fullname)/$entity"));

    let (status, _) = session.get(&path, Some(&aad(&app, "jo").await)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, error) = session.get(&path, Some(&aad(&app, "lee").await)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(error["error"]["code"], "0x80040220");
    assert!(error["error"]["message"]
        .as_str()
        .unwrap()
        .contains("prvReadLead"));

    let missing = "leads(00000000-0000-4000-8000-000000000000)?$select=leadid,fullname";
    let (status, error) = session.get(missing, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error["error"]["code"], "0x80040217");
    assert_eq!(
        error["error"]["message"],
        "lead With Id = 00000000-0000-4000-8000-000000000000 Does Not Exist"
    );
}

#[tokio::test]
async fn a_name_search_ignores_case_and_shows_only_readable_rows() {
    let app = start_demo().await;
    let session = Session::new(&app).await;
    let path = "leads?$select=leadid,fullname&$filter=contains(fullname,'contoso COFFEE')&$top=50";
    let (status, body) = session.get(path, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        names(&body, "fullname"),
        ["Contoso Coffee expansion", "Contoso Coffee renewal"]
    );
    let (_, as_jo) = session.get(path, Some(&aad(&app, "jo").await)).await;
    assert_eq!(names(&as_jo, "fullname"), ["Contoso Coffee expansion"]);
    let (_, as_lee) = session.get(path, Some(&aad(&app, "lee").await)).await;
    assert_eq!(as_lee["value"], json!([]));
    let (_, quoted) = session
        .get(
            "accounts?$select=accountid,name&$filter=contains(name,'O''Brien')",
            None,
        )
        .await;
    assert_eq!(quoted["value"], json!([]));
    let (_, top) = session.get("leads?$select=leadid&$top=1", None).await;
    assert_eq!(top["value"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn principal_access_answers_the_rights_the_world_grants() {
    let app = start_demo().await;
    let session = Session::new(&app).await;
    for (key, rights) in [
        ("sam", "ReadAccess, WriteAccess, AppendAccess, AppendToAccess, CreateAccess, DeleteAccess, ShareAccess, AssignAccess"),
        ("alex", "ReadAccess, WriteAccess, AppendAccess, AppendToAccess, CreateAccess, DeleteAccess, ShareAccess, AssignAccess"),
        ("jo", "ReadAccess, AppendToAccess"),
        ("lee", "None"),
    ] {
        let user = systemuser_id(&session, key).await;
        let target = crate::sandbox_helpers::encode(&format!("{{'@odata.id':'leads({EXPANSION_LEAD})'}}"));
        let path = format!("systemusers({user})/Microsoft.Dynamics.CRM.RetrievePrincipalAccess(Target=@tid)?@tid={target}");
        let (status, body) = session.get(&path, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["AccessRights"], rights, "{key}");
    }
    let user = systemuser_id(&session, "alex").await;
    let target = crate::sandbox_helpers::encode(
        "{\"@odata.id\":\"leads(00000000-0000-4000-8000-000000000000)\"}",
    );
    let path = format!("systemusers({user})/Microsoft.Dynamics.CRM.RetrievePrincipalAccess(Target=@tid)?@tid={target}");
    assert_eq!(session.get(&path, None).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn connected_chats_are_association_rows_one_per_record() {
    let app = start_demo().await;
    let session = Session::new(&app).await;
    let path = format!("msdyn_teamschatassociations?$select=msdyn_teamschatid,msdyn_regardingobjectid,msdyn_regardingobjectname&$filter=msdyn_regardingobjectid eq '{}' and msdyn_regardingobjectname eq 'lead' and statecode eq 0 and msdyn_entityrecordstate eq 0", EXPANSION_LEAD.to_uppercase());
    let (status, body) = session.get(&path, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        names(&body, "msdyn_teamschatid"),
        [EXPANSION_CHAT, "19:contoso-coffee-pricing@thread.v2"]
    );
    assert_eq!(body["value"][0]["msdyn_regardingobjectname"], "lead");
    assert_eq!(
        (
            body["value"][0]["msdyn_entityrecordstate"].as_i64(),
            body["value"][0]["statecode"].as_i64()
        ),
        (Some(0), Some(0))
    );
    assert!(body["value"][0]["msdyn_teamschatassociationid"].is_string());

    let none = "msdyn_teamschatassociations?$filter=msdyn_regardingobjectid eq 'd3d94468-02a4-4c1e-9b7f-6e2a8c5d3f90' and msdyn_regardingobjectname eq 'opportunity'";
    assert_eq!(session.get(none, None).await.1["value"], json!([]));
}

#[tokio::test]
async fn the_join_chat_switch_reads_and_changes_per_record_type() {
    let app = start_demo().await;
    let session = Session::new(&app).await;
    let path = "msdyn_entitylinkchatconfigurations?$select=msdyn_entitylinkchatconfigurationid,msdyn_usercanjoinchat,msdyn_uniquename&$expand=msdyn_entitytype($select=logicalname)&$filter=statecode eq 0";
    let switches = |body: &Value| -> Vec<(String, bool)> {
        body["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                (
                    row["msdyn_entitytype"]["logicalname"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                    row["msdyn_usercanjoinchat"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    let (status, body) = session.get(path, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let expected = [
        ("lead", true),
        ("opportunity", true),
        ("account", false),
        ("contact", false),
        ("incident", true),
    ];
    let expected: Vec<(String, bool)> = expected
        .iter()
        .map(|(t, on)| (t.to_string(), *on))
        .collect();
    assert_eq!(switches(&body), expected);
    let account = body["value"][2].clone();
    assert_eq!(account["msdyn_uniquename"], "msdyn_account_chatconfig");
    let id = account["msdyn_entitylinkchatconfigurationid"]
        .as_str()
        .unwrap();
    let switch = format!("msdyn_entitylinkchatconfigurations({id})");

    let as_alex = aad(&app, "alex").await;
    assert_eq!(
        session
            .patch(
                &switch,
                Some(&as_alex),
                &json!({"msdyn_usercanjoinchat": true})
            )
            .await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        session
            .patch(&switch, None, &json!({"msdyn_usercanjoinchat": true}))
            .await,
        StatusCode::NO_CONTENT
    );
    let (_, after) = session.get(path, None).await;
    assert!(switches(&after)[2].1);
    let world = app.control("world").await;
    assert!(world["join_chat"]
        .as_array()
        .unwrap()
        .contains(&json!("account")));
    assert_eq!(
        session
            .patch(&switch, None, &json!({"msdyn_name": "x"}))
            .await,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn admins_are_found_by_role() {
    let app = start_demo().await;
    let session = Session::new(&app).await;
    for (key, admin) in [("priya", true), ("alex", false)] {
        let user = systemuser_id(&session, key).await;
        let path = format!("systemusers({user})/systemuserroles_association?$select=name,roleid&$filter=name eq 'System Administrator'");
        let (status, body) = session.get(&path, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body["value"].as_array().unwrap().len(),
            usize::from(admin),
            "{key}"
        );
    }
    let path = "roles?$select=roleid,name&$filter=name eq 'System Administrator'&$expand=systemuserroles_association($select=systemuserid,fullname,azureactivedirectoryobjectid)";
    let (status, body) = session.get(path, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let holders = body["value"][0]["systemuserroles_association"]
        .as_array()
        .unwrap();
    assert_eq!(holders.len(), 1);
    assert_eq!(holders[0]["fullname"], "Priya Shah");
    assert_eq!(
        holders[0]["azureactivedirectoryobjectid"],
        aad(&app, "priya").await.as_str()
    );
}

#[tokio::test]
async fn what_the_simulation_does_not_serve_is_refused_loudly() {
    let app = start_demo().await;
    let session = Session::new(&app).await;
    let cases = [
        ("Leads", StatusCode::NOT_FOUND, "0x8006088a"),
        (
            "widgets(00000000-0000-4000-8000-000000000000)",
            StatusCode::NOT_FOUND,
            "0x8006088a",
        ),
        (
            "leads?$orderby=fullname",
            StatusCode::BAD_REQUEST,
            "0x80060888",
        ),
        (
            "leads?$filter=fullname ne 'x'",
            StatusCode::BAD_REQUEST,
            "0x80060888",
        ),
        (
            "leads?$select=colour",
            StatusCode::BAD_REQUEST,
            "0x80060888",
        ),
        (
            "leads?$filter=colour eq 'x'",
            StatusCode::BAD_REQUEST,
            "0x80060888",
        ),
        (
            "EntityDefinitions(LogicalName='lead')",
            StatusCode::BAD_REQUEST,
            "0x80060888",
        ),
    ];
    for (path, status, code) in cases {
        let (got, body) = session.get(path, None).await;
        assert_eq!(
            (got, body["error"]["code"].as_str()),
            (status, Some(code)),
            "{path}: {body}"
        );
    }
    let (status, body) = app
        .get(&session.url("WhoAmI"), Some(&app.token(GRAPH_SCOPE).await))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let response = app.http.get(session.url("WhoAmI")).send().await.unwrap();
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with("Bearer authorization_uri="),
        "{challenge}"
    );
}

#[tokio::test]
async fn contains_treats_sql_wildcards_as_dataverse_does() {
    let app = crate::sandbox_helpers::start(crate::sandbox_helpers::tenant_world(""), None).await;
    let session = Session::new(&app).await;
    #[rustfmt::skip]
    let table: [(&str, &[&str]); 6] = [
        ("Acme_20", &["Acme_2024", "Acme-2024"]),    // `_`: any one character
        ("Acme[_]20", &["Acme_2024"]),               // `[_]`: an underscore
        ("100%", &["100% Acme", "100 Acme"]),        // `%`: any run
        ("100[%]", &["100% Acme"]),                  // `[%]`: a percent sign
        ("[0-9] Acme", &["100 Acme"]),               // a set
        ("[[]", &[]),                                // `[[]`: a bracket
    ];
    for (text, expected) in table {
        let filter = crate::sandbox_helpers::encode(&format!("contains(fullname,'{text}')"));
        let (status, body) = session
            .get(&format!("leads?$select=fullname&$filter={filter}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{text}: {body}");
        let mut found = names(&body, "fullname");
        found.sort();
        let mut expected: Vec<String> = expected.iter().map(|n| (*n).to_owned()).collect();
        expected.sort();
        assert_eq!(found, expected, "contains(fullname,'{text}')");
    }
}

#[tokio::test]
async fn a_disabled_user_is_disabled_and_cannot_be_acted_as() {
    let app = crate::sandbox_helpers::start(crate::sandbox_helpers::tenant_world(""), None).await;
    let session = Session::new(&app).await;
    let dana = aad(&app, "dana").await;
    let path = format!("systemusers?$select=systemuserid,isdisabled&$filter=azureactivedirectoryobjectid eq {dana}");
    let (_, body) = session.get(&path, None).await;
    assert_eq!(body["value"][0]["isdisabled"], true, "{body}");
    let (status, body) = session.get("leads?$select=fullname", Some(&dana)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("is disabled"));
}
