//! The simulated Dataverse Web API (`{dataverse}/api/data/v9.2/...`).
//!
//! Answers the tables the bot reads, as Dynamics 365 Sales stores them: system
//! users, the records of the world, the access rights the world grants
//! (`RetrievePrincipalAccess`), the chats connected to records
//! (`msdyn_teamschatassociations`), the Join chat switch per record type
//! (`msdyn_entitylinkchatconfigurations`) and the admin role. A
//! `CallerObjectId` header limits record reads to what that user may read, as
//! Dataverse's record-level security does. Anything else is refused loudly.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use uuid::Uuid;

use super::entra::check_bearer;
use super::odata::Query;
use super::world::{Access, Entity, User};
use super::Shared;

mod tables;
pub(crate) mod webhook;

pub(crate) use tables::DataverseIds;
use tables::{table, user_roles, Row};
pub(crate) use webhook::Registration;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/dataverse/api/data/v9.2/{path:.*}")
            .route(web::get().to(get))
            .route(web::patch().to(patch))
            .route(web::delete().to(delete))
            .default_service(web::to(unsupported_method)),
    );
}

/// Dataverse's error body.
pub(crate) fn error_body(code: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message}})
}

/// A refusal, before it becomes a response.
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            code,
            message: message.into(),
        }
    }

    fn unsupported(message: impl Into<String>) -> Refusal {
        Refusal::new(StatusCode::BAD_REQUEST, "0x80060888", message)
    }

    fn no_segment(segment: &str) -> Refusal {
        Refusal::new(
            StatusCode::NOT_FOUND,
            "0x8006088a",
            format!("Resource not found for the segment '{segment}'."),
        )
    }

    fn does_not_exist(type_name: &str, id: &str) -> Refusal {
        Refusal::new(
            StatusCode::NOT_FOUND,
            "0x80040217",
            format!("{type_name} With Id = {id} Does Not Exist"),
        )
    }

    fn response(&self, shared: &Shared) -> HttpResponse {
        let mut builder = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            builder.insert_header((
                "WWW-Authenticate",
                format!(
                    "Bearer authorization_uri={}/{}/oauth2/authorize, resource_id={}",
                    shared.urls.login,
                    shared.world.tenant_id(),
                    shared.urls.dataverse
                ),
            ));
        }
        builder.json(error_body(self.code, &self.message))
    }
}

async fn get(shared: web::Data<Shared>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    match answer_get(&shared, &req, &path) {
        Ok(body) => HttpResponse::Ok().json(body),
        Err(refusal) => refusal.response(&shared),
    }
}

async fn patch(
    shared: web::Data<Shared>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    match answer_patch(&shared, &req, &path, &body) {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(refusal) => refusal.response(&shared),
    }
}

async fn delete(
    shared: web::Data<Shared>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    match answer_delete(&shared, &req, &path) {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(refusal) => refusal.response(&shared),
    }
}

// Deleting the webhook's rows, as an administrator unregisters it: the
// endpoint (and with it its steps, as Dataverse cascades) or one step.
fn answer_delete(shared: &Shared, req: &HttpRequest, path: &str) -> Result<(), Refusal> {
    authorize(shared, req)?;
    if caller(shared, req)?.is_some_and(|caller| !caller.admin) {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "0x80040220",
            "The caller is missing the privilege to delete plug-in registrations.",
        ));
    }
    let (set, key) = split_key(path)?;
    let key = key.ok_or_else(|| Refusal::unsupported("DELETE needs a record id."))?;
    let mut state = shared.lock();
    let registration = state.webhook.as_mut();
    match set {
        "serviceendpoints" => match registration {
            Some(registration) if registration.endpoint_id == key => {
                state.webhook = None;
                Ok(())
            }
            _ => Err(Refusal::does_not_exist("serviceendpoint", &key)),
        },
        "sdkmessageprocessingsteps" => {
            let steps = registration.map(|registration| &mut registration.steps);
            match steps.and_then(|steps| steps.iter().position(|s| s.id == key).map(|i| (steps, i)))
            {
                Some((steps, index)) => {
                    steps.remove(index);
                    Ok(())
                }
                None => Err(Refusal::does_not_exist("sdkmessageprocessingstep", &key)),
            }
        }
        _ => Err(Refusal::unsupported(format!(
            "DELETE {path} is not supported by the simulated Dataverse."
        ))),
    }
}

async fn unsupported_method(shared: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    Refusal::unsupported(format!(
        "{} {} is not supported by the simulated Dataverse.",
        req.method(),
        req.path()
    ))
    .response(&shared)
}

fn authorize(shared: &Shared, req: &HttpRequest) -> Result<(), Refusal> {
    check_bearer(shared, req, &shared.urls.dataverse)
        .map(|_| ())
        .map_err(|problem| Refusal::new(StatusCode::UNAUTHORIZED, "0x80072560", problem.describe()))
}

/// The user named by `CallerObjectId` (or the older `MSCRMCallerID`), if any.
fn caller<'w>(shared: &'w Shared, req: &HttpRequest) -> Result<Option<&'w User>, Refusal> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let (id, by_aad) = match (header("CallerObjectId"), header("MSCRMCallerID")) {
        (Some(id), _) => (id, true),
        (None, Some(id)) => (id, false),
        (None, None) => return Ok(None),
    };
    let user = shared.world.users().iter().find(|user| {
        let own = if by_aad {
            &user.aad_object_id
        } else {
            &user.systemuser_id
        };
        own.eq_ignore_ascii_case(id.trim())
    });
    // Dataverse refuses to act as a disabled user, in the same words.
    user.filter(|user| !user.disabled).map(Some).ok_or_else(|| {
        Refusal::new(
            StatusCode::FORBIDDEN,
            "0x80040220",
            format!("The caller with id '{id}' was not found or is disabled in this organization."),
        )
    })
}

fn answer_get(shared: &Shared, req: &HttpRequest, path: &str) -> Result<Value, Refusal> {
    authorize(shared, req)?;
    let caller = caller(shared, req)?;
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    let segments: Vec<&str> = path.split('/').collect();
    match segments.as_slice() {
        ["WhoAmI" | "WhoAmI()"] => Ok(who_am_i(shared)),
        [segment] => {
            let query = Query::parse(&pairs, &[]).map_err(Refusal::unsupported)?;
            match split_key(segment)? {
                (set, None) => collection(shared, set, &query, caller),
                (set, Some(key)) => single(shared, set, key, &query, caller),
            }
        }
        [user, function]
            if function.starts_with("Microsoft.Dynamics.CRM.RetrievePrincipalAccess(") =>
        {
            principal_access(shared, user, function, &pairs)
        }
        [user, "systemuserroles_association"] => {
            let query = Query::parse(&pairs, &[]).map_err(Refusal::unsupported)?;
            let user = system_user(shared, user)?;
            let table = user_roles(shared, user);
            let rows = table.query(&query).map_err(Refusal::unsupported)?;
            Ok(json!({
                "@odata.context": context(shared, "roles", &query, false),
                "value": rows,
            }))
        }
        _ => Err(Refusal::unsupported(format!(
            "The request path '{path}' is not supported by the simulated Dataverse."
        ))),
    }
}

fn who_am_i(shared: &Shared) -> Value {
    let ids = &shared.dataverse_ids;
    json!({
        "@odata.context": format!("{}/api/data/v9.2/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse", shared.urls.dataverse),
        "BusinessUnitId": ids.business_unit_id,
        "UserId": ids.app_user_id,
        "OrganizationId": ids.organization_id,
    })
}

/// `leads(8f14…)` → (`leads`, Some(`8f14…`)); `leads` → (`leads`, None).
fn split_key(segment: &str) -> Result<(&str, Option<String>), Refusal> {
    let Some((set, rest)) = segment.split_once('(') else {
        return Ok((segment, None));
    };
    let key = rest.strip_suffix(')').ok_or_else(|| {
        Refusal::unsupported(format!("Bad Request - Error in query syntax: '{segment}'."))
    })?;
    let guid = Uuid::parse_str(key.trim()).map_err(|_| {
        Refusal::unsupported(format!(
            "Unrecognized 'Edm.Guid' literal '{key}' in '{segment}'."
        ))
    })?;
    Ok((set, Some(guid.hyphenated().to_string())))
}

fn context(shared: &Shared, set: &str, query: &Query, single: bool) -> String {
    let select = query
        .select
        .as_ref()
        .map(|columns| format!("({})", columns.join(",")))
        .unwrap_or_default();
    let entity = if single { "/$entity" } else { "" };
    format!(
        "{}/api/data/v9.2/$metadata#{set}{select}{entity}",
        shared.urls.dataverse
    )
}

fn collection(
    shared: &Shared,
    set: &str,
    query: &Query,
    caller: Option<&User>,
) -> Result<Value, Refusal> {
    let mut table = table(shared, set).ok_or_else(|| Refusal::no_segment(set))?;
    if let (Some(entity), Some(caller)) = (Entity::from_entity_set(set), caller) {
        table
            .rows
            .retain(|row| readable(shared, entity, row, caller));
    }
    let rows = table.query(query).map_err(Refusal::unsupported)?;
    Ok(json!({
        "@odata.context": context(shared, set, query, false),
        "value": rows,
    }))
}

fn single(
    shared: &Shared,
    set: &str,
    key: String,
    query: &Query,
    caller: Option<&User>,
) -> Result<Value, Refusal> {
    let table = table(shared, set).ok_or_else(|| Refusal::no_segment(set))?;
    let row = table
        .rows
        .iter()
        .find(|row| row.fields.get(table.primary_id).and_then(Value::as_str) == Some(key.as_str()))
        .ok_or_else(|| Refusal::does_not_exist(table.type_name, &key))?;
    if let (Some(entity), Some(caller)) = (Entity::from_entity_set(set), caller) {
        if !readable(shared, entity, row, caller) {
            return Err(missing_read_privilege(shared, entity, caller));
        }
    }
    let mut shaped = table.shape(row, query).map_err(Refusal::unsupported)?;
    shaped.insert(
        "@odata.context".to_owned(),
        json!(context(shared, set, query, true)),
    );
    Ok(Value::Object(shaped))
}

fn readable(shared: &Shared, entity: Entity, row: &Row, caller: &User) -> bool {
    let id = row
        .fields
        .get(entity.id_column())
        .and_then(Value::as_str)
        .unwrap_or_default();
    shared
        .lock()
        .record(entity, id)
        .is_some_and(|record| record.access(&caller.key) != Access::None)
}

fn missing_read_privilege(shared: &Shared, entity: Entity, caller: &User) -> Refusal {
    let (privilege, type_code) = match entity {
        Entity::Lead => ("prvReadLead", 4),
        Entity::Opportunity => ("prvReadOpportunity", 3),
        Entity::Account => ("prvReadAccount", 1),
        Entity::Contact => ("prvReadContact", 2),
        Entity::Incident => ("prvReadIncident", 112),
    };
    Refusal::new(
        StatusCode::FORBIDDEN,
        "0x80040220",
        format!(
            "Principal user (Id={}, type=8, roleCount=1, lobCode=null, businessUnitId={}, accessMode=0), is missing {privilege} privilege on OTC={type_code} for entity '{}'. context.Caller={}",
            caller.systemuser_id,
            shared.dataverse_ids.business_unit_id,
            entity.logical_name(),
            caller.systemuser_id
        ),
    )
}

fn system_user<'w>(shared: &'w Shared, segment: &str) -> Result<&'w User, Refusal> {
    match split_key(segment)? {
        ("systemusers", Some(id)) => shared
            .world
            .users()
            .iter()
            .find(|user| user.systemuser_id == id)
            .ok_or_else(|| Refusal::does_not_exist("systemuser", &id)),
        ("systemusers", None) => Err(Refusal::unsupported("A systemuser key is required here.")),
        (set, _) => Err(Refusal::no_segment(set)),
    }
}

/// `RetrievePrincipalAccess(Target=@tid)?@tid={'@odata.id':'leads(…)'}`.
fn principal_access(
    shared: &Shared,
    user_segment: &str,
    function: &str,
    pairs: &[(String, String)],
) -> Result<Value, Refusal> {
    let user = system_user(shared, user_segment)?;
    let alias = function
        .strip_prefix("Microsoft.Dynamics.CRM.RetrievePrincipalAccess(Target=")
        .and_then(|rest| rest.strip_suffix(')'))
        .filter(|alias| alias.starts_with('@'))
        .ok_or_else(|| Refusal::unsupported("RetrievePrincipalAccess needs Target=@alias."))?;
    let target = pairs
        .iter()
        .find(|(name, _)| name == alias)
        .map(|(_, value)| value.as_str())
        .ok_or_else(|| {
            Refusal::unsupported(format!("The parameter alias '{alias}' has no value."))
        })?;
    let reference = odata_id(target).ok_or_else(|| {
        Refusal::unsupported(format!("Cannot read an @odata.id from '{target}'."))
    })?;
    let segment = reference.rsplit('/').next().unwrap_or_default();
    let (set, key) = split_key(segment)?;
    let entity = Entity::from_entity_set(set).ok_or_else(|| Refusal::no_segment(set))?;
    let key = key.ok_or_else(|| Refusal::unsupported("The target needs a record id."))?;
    let access = shared
        .lock()
        .record(entity, &key)
        .map(|record| record.access(&user.key))
        .ok_or_else(|| Refusal::does_not_exist(entity.logical_name(), &key))?;
    let rights = match access {
        Access::Write => "ReadAccess, WriteAccess, AppendAccess, AppendToAccess, CreateAccess, DeleteAccess, ShareAccess, AssignAccess",
        Access::Read => "ReadAccess, AppendToAccess",
        Access::None => "None",
    };
    Ok(json!({
        "@odata.context": format!("{}/api/data/v9.2/$metadata#Microsoft.Dynamics.CRM.RetrievePrincipalAccessResponse", shared.urls.dataverse),
        "AccessRights": rights,
    }))
}

/// The value of `@odata.id` in `{'@odata.id':'leads(…)'}` (either quote style).
fn odata_id(target: &str) -> Option<&str> {
    let after_key = &target[target.find("@odata.id")? + "@odata.id".len()..];
    let after_colon = after_key
        .trim_start_matches(['\'', '"', ' '])
        .strip_prefix(':')?;
    let value = after_colon.trim_start();
    let quote = value.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let value = &value[1..];
    value.find(quote).map(|end| &value[..end])
}

fn answer_patch(
    shared: &Shared,
    req: &HttpRequest,
    path: &str,
    body: &[u8],
) -> Result<(), Refusal> {
    authorize(shared, req)?;
    let caller = caller(shared, req)?;
    let (set, key) = split_key(path)?;
    if set != "msdyn_entitylinkchatconfigurations" || path.contains('/') {
        return Err(Refusal::unsupported(format!(
            "PATCH {path} is not supported by the simulated Dataverse."
        )));
    }
    let key = key.ok_or_else(|| Refusal::unsupported("PATCH needs a record id."))?;
    let (entity, _, _) = shared
        .dataverse_ids
        .configurations
        .iter()
        .find(|(_, id, _)| *id == key)
        .ok_or_else(|| Refusal::does_not_exist("msdyn_entitylinkchatconfiguration", &key))?;
    if let Some(caller) = caller.filter(|caller| !caller.admin) {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "0x80040220",
            format!(
                "Principal user (Id={}, type=8, roleCount=1, accessMode=0), is missing prvWritemsdyn_entitylinkchatconfiguration privilege.",
                caller.systemuser_id
            ),
        ));
    }
    let enabled = join_chat_switch(body)?;
    let mut state = shared.lock();
    if enabled {
        state.join_chat.insert(*entity);
    } else {
        state.join_chat.remove(entity);
    }
    state.changed();
    Ok(())
}

/// `{"msdyn_usercanjoinchat": bool}`, the only column the simulation writes.
fn join_chat_switch(body: &[u8]) -> Result<bool, Refusal> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| Refusal::unsupported("The request body is not valid JSON."))?;
    let fields = value
        .as_object()
        .ok_or_else(|| Refusal::unsupported("The request body must be a JSON object."))?;
    if let Some(other) = fields.keys().find(|key| *key != "msdyn_usercanjoinchat") {
        return Err(Refusal::unsupported(format!(
            "Invalid property '{other}' was found in entity 'Microsoft.Dynamics.CRM.msdyn_entitylinkchatconfiguration'."
        )));
    }
    fields
        .get("msdyn_usercanjoinchat")
        .and_then(Value::as_bool)
        .ok_or_else(|| Refusal::unsupported("msdyn_usercanjoinchat must be true or false."))
}

#[cfg(test)]
mod tests {
    use super::odata_id;

    #[test]
    fn an_odata_id_is_read_in_either_quote_style() {
        assert_eq!(odata_id("{'@odata.id':'leads(1)'}"), Some("leads(1)"));
        assert_eq!(
            odata_id("{\"@odata.id\": \"https://x/api/data/v9.2/leads(1)\"}"),
            Some("https://x/api/data/v9.2/leads(1)")
        );
        assert_eq!(odata_id("{'@odata.id':leads(1)}"), None);
    }
}
