//! What Dataverse posts to a webhook: the `RemoteExecutionContext` of the
//! step that fired, serialised as JSON (`MessageName`, `InputParameters` as
//! `{"key", "value"}` pairs, entities with their `Attributes`, entity
//! references with `Id` and `LogicalName`). Parsed here, once, into the one
//! thing joinchat acts on: a record that changed hands — a new owner
//! (`Update` of `ownerid`, or the older `Assign` message) or a share that
//! grants write access (`GrantAccess`, `ModifyAccess`).
//!
//! Only ids are taken from the body: whoever acts on an [`Event`] reads the
//! record, the person and their access from Dataverse again.

use serde::Deserialize;
use serde_json::Value;

use crate::domain::{EntityType, RecordId, RecordRef};

/// `AccessRights.WriteAccess` in a `PrincipalAccess.AccessMask`.
const WRITE_ACCESS: u64 = 2;

/// The names of `AccessRights`, as a mask serialised by name lists them.
const ACCESS_RIGHTS: &[(&str, u64)] = &[
    ("None", 0),
    ("ReadAccess", 1),
    ("WriteAccess", WRITE_ACCESS),
    ("AppendAccess", 4),
    ("AppendToAccess", 16),
    ("CreateAccess", 32),
    ("DeleteAccess", 65_536),
    ("ShareAccess", 262_144),
    ("AssignAccess", 524_288),
];

/// One webhook call, as far as joinchat cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionContext {
    /// `MessageName`: `Update`, `GrantAccess`, …
    pub message: String,
    /// `OperationId` and `RequestId`, when set (not the all-zero GUID): they
    /// stay the same when Dataverse delivers the same call again.
    pub operation_id: Option<String>,
    pub request_id: Option<String>,
    pub event: Event,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The record has a new owner, a `systemuser`.
    Assigned { record: RecordRef, owner: RecordId },
    /// The record was shared with a `systemuser`, write access included.
    SharedForWrite { record: RecordRef, user: RecordId },
    /// Nothing to act on, and why (for the audit trail).
    Ignored(&'static str),
}

/// The body is not a `RemoteExecutionContext` joinchat can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a Dataverse execution context: {0}")]
pub struct Malformed(pub &'static str);

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Wire {
    message_name: String,
    #[serde(default)]
    request_id: Option<String>,
    #[serde(default)]
    operation_id: Option<String>,
    #[serde(default)]
    input_parameters: Value,
}

/// `EntityReference` (also the `Id`/`LogicalName` of an `Entity`).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Reference {
    id: String,
    logical_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PrincipalAccess {
    access_mask: Value,
    principal: Reference,
}

/// Reads a webhook body.
pub fn parse(body: &[u8]) -> Result<ExecutionContext, Malformed> {
    let wire: Wire =
        serde_json::from_slice(body).map_err(|_| Malformed("not the expected JSON"))?;
    let event = match wire.message_name.as_str() {
        "Update" => update(&wire.input_parameters)?,
        "Assign" => assign(&wire.input_parameters)?,
        "GrantAccess" | "ModifyAccess" => share(&wire.input_parameters)?,
        _ => Event::Ignored("not_a_handover"),
    };
    Ok(ExecutionContext {
        message: wire.message_name,
        operation_id: meaningful_id(wire.operation_id),
        request_id: meaningful_id(wire.request_id),
        event,
    })
}

/// `Update`: only a change of `ownerid` in the Target's attributes counts.
fn update(parameters: &Value) -> Result<Event, Malformed> {
    let target = parameter(parameters, "Target").ok_or(Malformed("Update without a Target"))?;
    let entity = reference(target, "Target is not an entity")?;
    let attributes = target
        .get("Attributes")
        .ok_or(Malformed("Target has no Attributes"))?;
    let Some(owner) = parameter(attributes, "ownerid") else {
        return Ok(Event::Ignored("owner_unchanged"));
    };
    if owner.is_null() {
        return Ok(Event::Ignored("owner_unchanged"));
    }
    let owner = reference(owner, "ownerid is not an entity reference")?;
    assigned(&entity, &owner)
}

/// `Assign` (the message older callers still use): Target and Assignee.
fn assign(parameters: &Value) -> Result<Event, Malformed> {
    let target = parameter(parameters, "Target").ok_or(Malformed("Assign without a Target"))?;
    let assignee =
        parameter(parameters, "Assignee").ok_or(Malformed("Assign without an Assignee"))?;
    let target = reference(target, "Target is not an entity reference")?;
    let assignee = reference(assignee, "Assignee is not an entity reference")?;
    assigned(&target, &assignee)
}

/// `target` now owned by `owner`, whichever message said so.
fn assigned(target: &Reference, owner: &Reference) -> Result<Event, Malformed> {
    let Some(record) = record(target)? else {
        return Ok(Event::Ignored("record_type_not_supported"));
    };
    Ok(match systemuser(owner)? {
        Some(owner) => Event::Assigned { record, owner },
        None => Event::Ignored("owner_is_a_team"),
    })
}

/// `GrantAccess` / `ModifyAccess`: Target and `PrincipalAccess`; only a
/// share that includes write access counts.
fn share(parameters: &Value) -> Result<Event, Malformed> {
    let target = parameter(parameters, "Target").ok_or(Malformed("share without a Target"))?;
    let access = parameter(parameters, "PrincipalAccess")
        .ok_or(Malformed("share without PrincipalAccess"))?;
    let target = reference(target, "Target is not an entity reference")?;
    let access: PrincipalAccess = serde_json::from_value(access.clone())
        .map_err(|_| Malformed("PrincipalAccess has no AccessMask and Principal"))?;
    let mask = access_mask(&access.access_mask).ok_or(Malformed("AccessMask is unreadable"))?;
    let Some(record) = record(&target)? else {
        return Ok(Event::Ignored("record_type_not_supported"));
    };
    let Some(user) = systemuser(&access.principal)? else {
        return Ok(Event::Ignored("shared_with_a_team"));
    };
    if mask & WRITE_ACCESS == 0 {
        return Ok(Event::Ignored("read_only_share"));
    }
    Ok(Event::SharedForWrite { record, user })
}

/// An `AccessRights` mask: a number (`3`), or the flag names
/// (`"ReadAccess, WriteAccess"`), as serialisers write it.
fn access_mask(mask: &Value) -> Option<u64> {
    match mask {
        Value::Number(number) => number.as_u64(),
        Value::String(text) => {
            if let Ok(number) = text.trim().parse::<u64>() {
                return Some(number);
            }
            let mut bits = 0;
            let mut any = false;
            for name in text.split([',', '|']).map(str::trim) {
                let (_, bit) = ACCESS_RIGHTS
                    .iter()
                    .find(|(known, _)| known.eq_ignore_ascii_case(name))?;
                bits |= bit;
                any = true;
            }
            any.then_some(bits)
        }
        _ => None,
    }
}

/// A parameter (or attribute) by name, from a `ParameterCollection` as
/// serialised: a list of `{"key", "value"}` pairs, or a plain object.
fn parameter<'a>(collection: &'a Value, name: &str) -> Option<&'a Value> {
    match collection {
        Value::Array(pairs) => pairs
            .iter()
            .find(|pair| {
                pair.get("key")
                    .and_then(Value::as_str)
                    .is_some_and(|key| key.eq_ignore_ascii_case(name))
            })
            .and_then(|pair| pair.get("value")),
        Value::Object(map) => map
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value),
        _ => None,
    }
}

fn reference(value: &Value, problem: &'static str) -> Result<Reference, Malformed> {
    serde_json::from_value(value.clone()).map_err(|_| Malformed(problem))
}

/// The record a reference names; `None` for a record type joinchat does not serve.
fn record(target: &Reference) -> Result<Option<RecordRef>, Malformed> {
    let Ok(entity) = EntityType::from_logical_name(&target.logical_name) else {
        return Ok(None);
    };
    let id = RecordId::parse(&target.id).map_err(|_| Malformed("the record id is not a GUID"))?;
    Ok(Some(RecordRef { entity, id }))
}

/// The `systemuserid` a reference names; `None` for a team (or any other principal).
fn systemuser(principal: &Reference) -> Result<Option<RecordId>, Malformed> {
    if !principal.logical_name.eq_ignore_ascii_case("systemuser") {
        return Ok(None);
    }
    RecordId::parse(&principal.id)
        .map(Some)
        .map_err(|_| Malformed("the user id is not a GUID"))
}

/// An id worth deduplicating on: set, and not the all-zero GUID.
fn meaningful_id(id: Option<String>) -> Option<String> {
    let id = id?.trim().to_ascii_lowercase();
    let meaningful = !id.is_empty() && id.chars().any(|c| c.is_ascii_alphanumeric() && c != '0');
    meaningful.then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const LEAD: &str = "8f14e45f-ceea-467f-a0c5-1b2d3e4f5a6b";
    const USER: &str = "4026be43-6b69-e111-8f65-78e7d1620f5e";
    const OPERATION: &str = "9a6b3c1e-0d2f-4e8a-b7c5-1f2e3d4c5b6a";

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

    /// A context as Dataverse serialises it, around these input parameters.
    fn context(message: &str, parameters: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "BusinessUnitId": "e2a3f8b1-0000-4000-8000-000000000001",
            "CorrelationId": "b1a2c3d4-0000-4000-8000-000000000002",
            "Depth": 1,
            "InitiatingUserId": USER,
            "InputParameters": parameters,
            "IsExecutingOffline": false,
            "IsInTransaction": false,
            "IsolationMode": 1,
            "MessageName": message,
            "Mode": 1,
            "OperationCreatedOn": "/Date(1764700000000)/",
            "OperationId": OPERATION,
            "OrganizationId": "0c1d2e3f-0000-4000-8000-000000000003",
            "OrganizationName": "contoso",
            "OutputParameters": [],
            "PostEntityImages": [],
            "PreEntityImages": [],
            "PrimaryEntityId": LEAD,
            "PrimaryEntityName": "lead",
            "RequestId": null,
            "SecondaryEntityName": "none",
            "SharedVariables": [],
            "Stage": 40,
            "UserId": USER,
        }))
        .unwrap()
    }

    fn update_of(attributes: Value) -> Vec<u8> {
        context(
            "Update",
            json!([{
                "key": "Target",
                "value": {
                    "__type": "Entity:http://schemas.microsoft.com/xrm/2011/Contracts",
                    "Attributes": attributes,
                    "EntityState": null,
                    "FormattedValues": [],
                    "Id": LEAD,
                    "KeyAttributes": [],
                    "LogicalName": "lead",
                    "RelatedEntities": [],
                    "RowVersion": null,
                },
            }]),
        )
    }

    fn share_of(message: &str, mask: Value, principal: Value) -> Vec<u8> {
        context(
            message,
            json!([
                {"key": "Target", "value": entity_reference("lead", LEAD)},
                {"key": "PrincipalAccess", "value": {
                    "__type": "PrincipalAccess:http://schemas.microsoft.com/crm/2011/Contracts",
                    "AccessMask": mask,
                    "Principal": principal,
                }},
            ]),
        )
    }

    fn lead() -> RecordRef {
        RecordRef::parse("lead", LEAD).unwrap()
    }

    fn user() -> RecordId {
        RecordId::parse(USER).unwrap()
    }

    #[test]
    #[rustfmt::skip]
    fn every_shape_of_handover_and_non_handover() {
        let assigned = || Ok(Event::Assigned { record: lead(), owner: user() });
        let shared = || Ok(Event::SharedForWrite { record: lead(), user: user() });
        let ignored = |why| Ok(Event::Ignored(why));
        let malformed = |why| Err(Malformed(why));
        let systemuser = || entity_reference("systemuser", USER);
        let table: Vec<(&str, Vec<u8>, Result<Event, Malformed>)> = vec![
            ("Update with a new owner", update_of(json!([
                {"key": "subject", "value": "Coffee"},
                {"key": "ownerid", "value": systemuser()},
            ])), assigned()),
            ("Update with a new owner, attributes as an object",
                update_of(json!({"ownerid": systemuser()})), assigned()),
            ("Update of other columns", update_of(json!([{"key": "subject", "value": "Tea"}])),
                ignored("owner_unchanged")),
            ("Update clearing the owner", update_of(json!([{"key": "ownerid", "value": null}])),
                ignored("owner_unchanged")),
            ("Update giving the record to a team",
                update_of(json!([{"key": "ownerid", "value": entity_reference("team", USER)}])),
                ignored("owner_is_a_team")),
            ("Update of a record type joinchat does not serve", context("Update", json!([{
                "key": "Target",
                "value": {"Attributes": [{"key": "ownerid", "value": systemuser()}],
                          "Id": LEAD, "LogicalName": "invoice"},
            }])), ignored("record_type_not_supported")),
            ("Assign", context("Assign", json!([
                {"key": "Target", "value": entity_reference("lead", LEAD)},
                {"key": "Assignee", "value": systemuser()},
            ])), assigned()),
            ("GrantAccess with write, names", share_of("GrantAccess",
                json!("ReadAccess, WriteAccess, AppendAccess"), systemuser()), shared()),
            ("GrantAccess with write, a number", share_of("GrantAccess", json!(3), systemuser()),
                shared()),
            ("ModifyAccess with write, a number in a string",
                share_of("ModifyAccess", json!("2"), systemuser()), shared()),
            ("ModifyAccess with write, names", share_of("ModifyAccess",
                json!("WriteAccess"), systemuser()), shared()),
            ("GrantAccess read only, names", share_of("GrantAccess", json!("ReadAccess"),
                systemuser()), ignored("read_only_share")),
            ("GrantAccess read only, a number", share_of("GrantAccess", json!(1), systemuser()),
                ignored("read_only_share")),
            ("ModifyAccess taking write away", share_of("ModifyAccess",
                json!("ReadAccess, AppendToAccess"), systemuser()), ignored("read_only_share")),
            ("GrantAccess to a team", share_of("GrantAccess", json!(3),
                entity_reference("team", USER)), ignored("shared_with_a_team")),
            ("another message", context("Create", json!([])), ignored("not_a_handover")),
            ("RevokeAccess", context("RevokeAccess", json!([])), ignored("not_a_handover")),
            ("not JSON", b"<xml/>".to_vec(), malformed("not the expected JSON")),
            ("JSON without MessageName", b"{\"InputParameters\": []}".to_vec(),
                malformed("not the expected JSON")),
            ("an array", b"[1, 2]".to_vec(), malformed("not the expected JSON")),
            ("Update without a Target", context("Update", json!([])),
                malformed("Update without a Target")),
            ("Update whose Target is a string", context("Update",
                json!([{"key": "Target", "value": "lead"}])), malformed("Target is not an entity")),
            ("Update whose owner is no reference",
                update_of(json!([{"key": "ownerid", "value": "sam"}])),
                malformed("ownerid is not an entity reference")),
            ("Update whose owner id is no GUID",
                update_of(json!([{"key": "ownerid", "value": entity_reference("systemuser", "sam")}])),
                malformed("the user id is not a GUID")),
            ("GrantAccess with a mask of unknown names", share_of("GrantAccess",
                json!("ReadAccess, EverythingAccess"), systemuser()),
                malformed("AccessMask is unreadable")),
            ("GrantAccess with an empty mask", share_of("GrantAccess", json!(""), systemuser()),
                malformed("AccessMask is unreadable")),
            ("GrantAccess with a negative mask", share_of("GrantAccess", json!(-1), systemuser()),
                malformed("AccessMask is unreadable")),
            ("GrantAccess without PrincipalAccess", context("GrantAccess",
                json!([{"key": "Target", "value": entity_reference("lead", LEAD)}])),
                malformed("share without PrincipalAccess")),
            ("GrantAccess on a record id that is no GUID", context("GrantAccess", json!([
                {"key": "Target", "value": entity_reference("lead", "not-a-guid")},
                {"key": "PrincipalAccess", "value": {"AccessMask": 3, "Principal": systemuser()}},
            ])), malformed("the record id is not a GUID")),
        ];
        for (case, body, expected) in table {
            let parsed = parse(&body).map(|context| context.event);
            assert_eq!(parsed, expected, "{case}");
        }
    }

    /// The example bodies under tests/fixtures/dataverse-webhook, in the
    /// DataContract JSON Dataverse writes.
    #[test]
    fn the_example_bodies_read_as_hand_overs() {
        let fixture = |name: &str| {
            let path = format!(
                "{}/../../tests/fixtures/dataverse-webhook/{name}",
                env!("CARGO_MANIFEST_DIR")
            );
            std::fs::read(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
        };
        for name in [
            "update-ownerid.json",
            "grant-access.json",
            "modify-access.json",
        ] {
            let parsed = parse(&fixture(name)).unwrap_or_else(|error| panic!("{name}: {error}"));
            let record = match &parsed.event {
                Event::Assigned { record, .. } => record,
                Event::SharedForWrite { record, .. } => record,
                Event::Ignored(why) => panic!("{name} ignored: {why}"),
            };
            assert_eq!(record.entity, EntityType::Lead, "{name}");
            assert!(parsed.operation_id.is_some(), "{name}");
        }
    }

    #[test]
    fn the_ids_that_survive_a_redelivery_are_kept_and_zero_ids_dropped() {
        let parsed = parse(&update_of(json!([]))).unwrap();
        assert_eq!(parsed.message, "Update");
        assert_eq!(parsed.operation_id.as_deref(), Some(OPERATION));
        assert_eq!(parsed.request_id, None);
        let mut body: Value = serde_json::from_slice(&update_of(json!([]))).unwrap();
        body["OperationId"] = json!("00000000-0000-0000-0000-000000000000");
        body["RequestId"] = json!("5E6F7A8B-0000-4000-8000-000000000004");
        let parsed = parse(&serde_json::to_vec(&body).unwrap()).unwrap();
        assert_eq!(parsed.operation_id, None);
        assert_eq!(
            parsed.request_id.as_deref(),
            Some("5e6f7a8b-0000-4000-8000-000000000004")
        );
    }
}
