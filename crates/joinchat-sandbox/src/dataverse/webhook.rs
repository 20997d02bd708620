//! The Dataverse webhook the simulated organization holds, and its calls.
//!
//! One registration, as the Plug-in Registration tool or the Web API makes
//! it: a `serviceendpoint` row (contract 8 = Webhook, authtype 5 =
//! WebhookKey, `url` = the bot's base URL + `/api/dataverse`) and, per record
//! type of the world, `sdkmessageprocessingstep` rows for `Update` filtered on
//! `ownerid`, `GrantAccess` and `ModifyAccess` (post-operation, asynchronous).
//! The Web API serves those rows (and `sdkmessages`) to the app user and lets
//! it delete them, so `joinchat doctor` can be shown a registration that is
//! missing a step.
//!
//! A call is `POST {url}?code={key}` of the RemoteExecutionContext, in the
//! DataContract JSON Dataverse writes
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/use-webhooks>,
//! <https://learn.microsoft.com/dotnet/api/microsoft.xrm.sdk.remoteexecutioncontext>;
//! Dynamics 365 Contact Center's presence-sync page prints a whole one), with
//! the `x-request-id` and `x-ms-dynamics-*` headers. `PrincipalAccess.AccessMask` is the
//! `AccessRights` flags enum (ReadAccess = 1, WriteAccess = 2, AppendAccess =
//! 4, AppendToAccess = 16, …), and DataContractJsonSerializer writes every
//! enum, flags included, as its number: "Enumeration member values are
//! treated as numbers in JSON" (<https://learn.microsoft.com/dotnet/framework/wcf/feature-details/stand-alone-json-serialization>).
//! So write access is `23`, not `"ReadAccess, WriteAccess, …"` (that spelling
//! is the Web API's, in `RetrievePrincipalAccess` answers). Example bodies:
//! `tests/fixtures/dataverse-webhook/`.

use serde_json::{json, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use super::tables::{DataverseIds, Row, Table};
use crate::world::{Entity, User};
use crate::Shared;

pub(crate) const CONTRACT_WEBHOOK: i64 = 8;
pub(crate) const AUTH_WEBHOOK_KEY: i64 = 5;
/// `sdkmessageprocessingstep.stage`: post-operation.
const STAGE_POST_OPERATION: i64 = 40;
/// `sdkmessageprocessingstep.mode`: asynchronous.
const MODE_ASYNCHRONOUS: i64 = 1;

/// `AccessRights` values (Microsoft.Crm.Sdk.Messages).
pub(crate) const READ_ACCESS: i64 = 1;
pub(crate) const WRITE_ACCESS_SET: i64 = 1 | 2 | 4 | 16;

/// The messages the registration has steps for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Message {
    Update,
    GrantAccess,
    ModifyAccess,
}

impl Message {
    pub const ALL: [Message; 3] = [Message::Update, Message::GrantAccess, Message::ModifyAccess];

    pub fn name(self) -> &'static str {
        match self {
            Message::Update => "Update",
            Message::GrantAccess => "GrantAccess",
            Message::ModifyAccess => "ModifyAccess",
        }
    }
}

/// One `sdkmessageprocessingstep` of the registration.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub id: String,
    pub message: Message,
    pub entity: Entity,
    /// The `sdkmessagefilter` row: this message on this record type.
    pub filter_id: String,
}

impl Step {
    pub fn name(&self) -> String {
        format!(
            "joinchat: {} of {}",
            self.message.name(),
            self.entity.logical_name()
        )
    }
}

/// The `serviceendpoint` row and its steps.
#[derive(Debug, Clone)]
pub(crate) struct Registration {
    pub endpoint_id: String,
    pub steps: Vec<Step>,
}

impl Registration {
    /// Every message on every record type of the world.
    pub fn for_world(entities: &[Entity]) -> Registration {
        let guid = || Uuid::new_v4().to_string();
        let steps = entities
            .iter()
            .flat_map(|entity| {
                Message::ALL.into_iter().map(move |message| Step {
                    id: guid(),
                    message,
                    entity: *entity,
                    filter_id: guid(),
                })
            })
            .collect();
        Registration {
            endpoint_id: guid(),
            steps,
        }
    }

    pub fn step(&self, message: Message, entity: Entity) -> Option<&Step> {
        self.steps
            .iter()
            .find(|step| step.message == message && step.entity == entity)
    }
}

/// Where the webhook posts: the bot's base URL (its messaging endpoint
/// without `/api/messages`) + `/api/dataverse`.
pub(crate) fn webhook_url(bot_endpoint: &str) -> String {
    let base = bot_endpoint
        .trim_end_matches('/')
        .trim_end_matches("/api/messages");
    format!("{base}/api/dataverse")
}

/// The `sdkmessage` row ids, fixed for the organization.
pub(crate) fn message_id(shared: &Shared, message: Message) -> &str {
    let index = Message::ALL
        .iter()
        .position(|m| *m == message)
        .unwrap_or_default();
    &shared.dataverse_ids.sdk_messages[index]
}

/// `serviceendpoints`, `sdkmessageprocessingsteps`, `sdkmessages`.
pub(super) fn table(shared: &Shared, set: &str) -> Option<Table> {
    let (registration, bot_endpoint) = {
        let state = shared.lock();
        (state.webhook.clone(), state.bot_endpoint.clone())
    };
    match set {
        "serviceendpoints" => Some(service_endpoints(registration.as_ref(), &bot_endpoint)),
        "sdkmessageprocessingsteps" => Some(steps(shared, registration.as_ref())),
        "sdkmessages" => Some(messages(shared)),
        _ => None,
    }
}

fn service_endpoints(registration: Option<&Registration>, bot_endpoint: &str) -> Table {
    let rows = registration
        .map(|registration| {
            Row::new(json!({
                "serviceendpointid": registration.endpoint_id,
                "name": "joinchat",
                "contract": CONTRACT_WEBHOOK,
                "authtype": AUTH_WEBHOOK_KEY,
                "url": webhook_url(bot_endpoint),
                "messageformat": 2,
                "userclaim": 1,
                "statecode": 0,
            }))
        })
        .into_iter()
        .collect();
    Table {
        type_name: "serviceendpoint",
        primary_id: "serviceendpointid",
        // `authvalue` is write-only: Dataverse never returns the key.
        columns: vec![
            "serviceendpointid",
            "name",
            "contract",
            "authtype",
            "url",
            "messageformat",
            "userclaim",
            "statecode",
        ],
        also_returned: &[],
        navigation: None,
        rows,
    }
}

fn steps(shared: &Shared, registration: Option<&Registration>) -> Table {
    let rows = registration
        .into_iter()
        .flat_map(|registration| {
            registration.steps.iter().map(|step| {
                let filtering = (step.message == Message::Update).then_some("ownerid");
                let message_id = message_id(shared, step.message);
                Row::with_navigation(
                    json!({
                        "sdkmessageprocessingstepid": step.id,
                        "name": step.name(),
                        "stage": STAGE_POST_OPERATION,
                        "mode": MODE_ASYNCHRONOUS,
                        "rank": 1,
                        "supporteddeployment": 0,
                        "filteringattributes": filtering,
                        "statecode": 0,
                        "_eventhandler_value": registration.endpoint_id,
                        "_sdkmessageid_value": message_id,
                        "_sdkmessagefilterid_value": step.filter_id,
                        "primaryobjecttypecode": step.entity.logical_name(),
                    }),
                    json!({"sdkmessageid": message_id, "name": step.message.name()}),
                )
            })
        })
        .collect();
    Table {
        type_name: "sdkmessageprocessingstep",
        primary_id: "sdkmessageprocessingstepid",
        columns: vec![
            "sdkmessageprocessingstepid",
            "name",
            "stage",
            "mode",
            "rank",
            "supporteddeployment",
            "filteringattributes",
            "statecode",
            "_eventhandler_value",
            "_sdkmessageid_value",
            "_sdkmessagefilterid_value",
        ],
        also_returned: &[],
        navigation: Some("sdkmessageid"),
        rows,
    }
}

fn messages(shared: &Shared) -> Table {
    let rows = Message::ALL
        .into_iter()
        .map(|message| {
            Row::new(json!({
                "sdkmessageid": message_id(shared, message),
                "name": message.name(),
            }))
        })
        .collect();
    Table {
        type_name: "sdkmessage",
        primary_id: "sdkmessageid",
        columns: vec!["sdkmessageid", "name"],
        also_returned: &[],
        navigation: None,
        rows,
    }
}

/// A change of hands, as the webhook reports it.
pub(crate) enum Change<'w> {
    /// `Update` of `ownerid`: the record's new owner.
    Assign { owner: &'w User },
    /// `GrantAccess` or `ModifyAccess`: a principal and the access mask.
    Share {
        message: Message,
        user: &'w User,
        mask: i64,
    },
}

impl Change<'_> {
    pub fn message(&self) -> Message {
        match self {
            Change::Assign { .. } => Message::Update,
            Change::Share { message, .. } => *message,
        }
    }
}

/// One event: what changed, on which record, by whom; its ids are the same
/// on every delivery (a retry is the same request).
pub(crate) struct Event<'w> {
    pub change: Change<'w>,
    pub entity: Entity,
    pub record_id: String,
    pub by: &'w User,
    pub request_id: String,
    pub operation_id: String,
    pub correlation_id: String,
    pub at: OffsetDateTime,
}

/// DataContract JSON's `DateTime`: `/Date(milliseconds+0000)/`.
fn contract_date(at: OffsetDateTime, offset: bool) -> String {
    let millis = at.unix_timestamp_nanos() / 1_000_000;
    if offset {
        format!("/Date({millis}+0000)/")
    } else {
        format!("/Date({millis})/")
    }
}

fn entity_reference(logical_name: &str, id: &str) -> Value {
    json!({
        "__type": "EntityReference:http://schemas.microsoft.com/xrm/2011/Contracts",
        "Id": id,
        "KeyAttributes": [],
        "LogicalName": logical_name,
        "Name": null,
        "RowVersion": null,
    })
}

fn parameter(key: &str, value: Value) -> Value {
    json!({"key": key, "value": value})
}

/// The RemoteExecutionContext of `event`, as the step `step` sends it.
pub(crate) fn context(ids: &DataverseIds, event: &Event<'_>, step: &Step) -> Value {
    let by = event.by;
    let entity = event.entity.logical_name();
    let input = match &event.change {
        Change::Assign { owner } => {
            let attributes = vec![
                parameter(
                    "ownerid",
                    entity_reference("systemuser", &owner.systemuser_id),
                ),
                parameter(event.entity.id_column(), json!(event.record_id)),
                parameter("modifiedon", json!(contract_date(event.at, false))),
                parameter(
                    "modifiedby",
                    entity_reference("systemuser", &by.systemuser_id),
                ),
                parameter("modifiedonbehalfby", Value::Null),
            ];
            vec![parameter(
                "Target",
                json!({
                    "__type": "Entity:http://schemas.microsoft.com/xrm/2011/Contracts",
                    "Attributes": attributes,
                    "EntityState": null,
                    "FormattedValues": [],
                    "Id": event.record_id,
                    "KeyAttributes": [],
                    "LogicalName": entity,
                    "RelatedEntities": [],
                    "RowVersion": null,
                }),
            )]
        }
        Change::Share { user, mask, .. } => vec![
            parameter("Target", entity_reference(entity, &event.record_id)),
            parameter(
                "PrincipalAccess",
                json!({
                    "__type": "PrincipalAccess:http://schemas.microsoft.com/crm/2011/Contracts",
                    "AccessMask": mask,
                    "Principal": entity_reference("systemuser", &user.systemuser_id),
                }),
            ),
        ],
    };
    json!({
        "BusinessUnitId": ids.business_unit_id,
        "CorrelationId": event.correlation_id,
        "Depth": 1,
        "InitiatingUserAgent": "",
        "InitiatingUserAzureActiveDirectoryObjectId": by.aad_object_id,
        "InitiatingUserId": by.systemuser_id,
        "InputParameters": input,
        "IsExecutingOffline": false,
        "IsInTransaction": false,
        "IsOfflinePlayback": false,
        "IsolationMode": 1,
        "MessageName": event.change.message().name(),
        "Mode": MODE_ASYNCHRONOUS,
        "OperationCreatedOn": contract_date(event.at, true),
        "OperationId": event.operation_id,
        "OrganizationId": ids.organization_id,
        "OrganizationName": organization_name(ids),
        "OutputParameters": [],
        "OwningExtension": {
            "Id": step.id,
            "KeyAttributes": [],
            "LogicalName": "sdkmessageprocessingstep",
            "Name": step.name(),
            "RowVersion": null,
        },
        "ParentContext": null,
        "PostEntityImages": [],
        "PreEntityImages": [],
        "PrimaryEntityId": event.record_id,
        "PrimaryEntityName": entity,
        "RequestId": event.request_id,
        "SecondaryEntityName": "none",
        "SharedVariables": [],
        "Stage": STAGE_POST_OPERATION,
        "UserAzureActiveDirectoryObjectId": by.aad_object_id,
        "UserId": by.systemuser_id,
    })
}

/// The organization's unique name, as `OrganizationName` carries it.
fn organization_name(ids: &DataverseIds) -> String {
    let compact: String = ids
        .organization_id
        .chars()
        .filter(|c| *c != '-')
        .take(29)
        .collect();
    format!("unq{compact}")
}

/// The headers Dataverse sends with each call.
pub(crate) fn headers(shared: &Shared, event: &Event<'_>) -> Vec<(&'static str, String)> {
    let organization = url::Url::parse(&shared.urls.dataverse)
        .ok()
        .and_then(|url| {
            url.host_str().map(|host| match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_owned(),
            })
        })
        .unwrap_or_default();
    vec![
        ("x-request-id", event.request_id.clone()),
        ("x-ms-correlation-request-id", event.correlation_id.clone()),
        ("x-ms-dynamics-organization", organization),
        (
            "x-ms-dynamics-entity-name",
            event.entity.logical_name().to_owned(),
        ),
        (
            "x-ms-dynamics-request-name",
            event.change.message().name().to_owned(),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_webhook_url_is_the_bots_base_plus_api_dataverse() {
        let table = [
            (
                "http://127.0.0.1:3978/api/messages",
                "http://127.0.0.1:3978/api/dataverse",
            ),
            (
                "https://bot.contoso.test/api/messages/",
                "https://bot.contoso.test/api/dataverse",
            ),
            (
                "https://bot.contoso.test",
                "https://bot.contoso.test/api/dataverse",
            ),
        ];
        for (endpoint, expected) in table {
            assert_eq!(webhook_url(endpoint), expected, "{endpoint}");
        }
    }

    #[test]
    fn a_contract_date_is_milliseconds_since_the_epoch() {
        let at = OffsetDateTime::from_unix_timestamp(1_722_582_039).unwrap();
        assert_eq!(contract_date(at, true), "/Date(1722582039000+0000)/");
        assert_eq!(contract_date(at, false), "/Date(1722582039000)/");
    }

    fn person(key: &str, aad: &str, systemuser: &str) -> User {
        User {
            key: key.to_owned(),
            name: key.to_owned(),
            email: format!("{key}@contoso.test"),
            admin: false,
            disabled: false,
            aad_object_id: aad.to_owned(),
            mri: format!("29:1{key}"),
            systemuser_id: systemuser.to_owned(),
            conversation_id: format!("a:1{key}"),
        }
    }

    /// The three example bodies of `tests/fixtures/dataverse-webhook/`, made
    /// with fixed ids: what the bot's tests read is what the cloud sends.
    fn examples() -> Vec<(&'static str, Value)> {
        let mut ids = DataverseIds::generate();
        ids.organization_id = "6042beb1-a93a-ef11-8e4b-00224802c699".into();
        ids.business_unit_id = "a3c20b02-4e38-ef11-a315-000d3a5a54dc".into();
        let sam = person(
            "sam",
            "5b1a2c3d-0000-4000-8000-00000000a001",
            "d89254ff-9438-ef11-a315-000d3a5a0001",
        );
        let alex = person(
            "alex",
            "5b1a2c3d-0000-4000-8000-00000000a002",
            "d89254ff-9438-ef11-a315-000d3a5a0002",
        );
        let lead = "8f14e45f-ceea-467f-a0c5-1b2d3e4f5a6b";
        let at = OffsetDateTime::from_unix_timestamp(1_722_582_039).unwrap();
        let event = |change, n: u8| Event {
            change,
            entity: Entity::Lead,
            record_id: lead.to_owned(),
            by: &sam,
            request_id: format!("84d03007-6a8f-41da-aeae-7b6460bb7a0{n}"),
            operation_id: format!("1a14c3ec-9c50-ef11-bfe3-00224802dbb{n}"),
            correlation_id: format!("e1bcd028-ae87-4ca6-af27-a17ee680dbc{n}"),
            at,
        };
        let step = |message, n: u8| Step {
            id: format!("8ff4bda5-9d4e-ef11-bfe3-00224802dbb{n}"),
            message,
            entity: Entity::Lead,
            filter_id: format!("7ee4bda5-9d4e-ef11-bfe3-00224802dbb{n}"),
        };
        let share = |message| Change::Share {
            message,
            user: &alex,
            mask: WRITE_ACCESS_SET,
        };
        vec![
            (
                "update-ownerid.json",
                context(
                    &ids,
                    &event(Change::Assign { owner: &alex }, 1),
                    &step(Message::Update, 1),
                ),
            ),
            (
                "grant-access.json",
                context(
                    &ids,
                    &event(share(Message::GrantAccess), 2),
                    &step(Message::GrantAccess, 2),
                ),
            ),
            (
                "modify-access.json",
                context(
                    &ids,
                    &event(share(Message::ModifyAccess), 3),
                    &step(Message::ModifyAccess, 3),
                ),
            ),
        ]
    }

    #[test]
    fn the_example_bodies_are_what_the_cloud_sends() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/dataverse-webhook");
        for (file, made) in examples() {
            let path = dir.join(file);
            if std::env::var_os("JOINCHAT_WRITE_FIXTURES").is_some() {
                let text = serde_json::to_string_pretty(&made).unwrap() + "\n";
                std::fs::write(&path, text).unwrap();
            }
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let kept: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(kept, made, "{file}");
        }
    }

    #[test]
    fn every_record_type_gets_the_three_steps() {
        let registration = Registration::for_world(&[Entity::Lead, Entity::Account]);
        assert_eq!(registration.steps.len(), 6);
        for entity in [Entity::Lead, Entity::Account] {
            for message in Message::ALL {
                assert!(registration.step(message, entity).is_some());
            }
        }
        assert!(registration
            .step(Message::Update, Entity::Contact)
            .is_none());
    }
}
