//! The simulated Microsoft Graph: a chat, its members, adding a member with a
//! chosen history visibility, installing the bot into a chat (`apps`) and for
//! a person, with their 1:1 chat (`users`).
//!
//! Every call is checked against the permissions Microsoft documents for it
//! (`permissions`): the token's `roles`, and in a chat where the app is
//! installed, the RSC permissions consented there. Adding a member writes
//! Teams' own "added" system message into the chat, as the real service does,
//! and records the visible history start it was given.

mod apps;
mod users;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::URL_SAFE;
use base64::Engine;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use uuid::Uuid;

use super::entra::{check_bearer, roles, GRAPH_RESOURCE};
use super::permissions::{self, Grants};
use super::state::{rfc3339, ChatMessage, ChatState, Member, MessageKind, State};
use super::world::User;
use super::Shared;

const MEMBER_TYPE: &str = "#microsoft.graph.aadUserConversationMember";
const FULL_HISTORY: &str = "0001-01-01T00:00:00Z";

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/graph/v1.0/chats/{chat}")
            .route("", web::get().to(get_chat))
            .route("/members", web::get().to(list_members))
            .route("/members", web::post().to(add_member))
            .route("/installedApps", web::post().to(apps::install_app)),
    )
    .configure(users::configure);
}

/// Graph's error body.
pub(crate) fn error_body(code: &str, message: &str) -> Value {
    let request_id = Uuid::new_v4().to_string();
    json!({
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": rfc3339(OffsetDateTime::now_utc()),
                "request-id": request_id,
                "client-request-id": request_id,
            }
        }
    })
}

fn error(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(error_body(code, message))
}

/// The token's application permissions, once the token is good.
fn authorize(shared: &Shared, req: &HttpRequest) -> Result<Vec<String>, HttpResponse> {
    let claims = check_bearer(shared, req, GRAPH_RESOURCE).map_err(|problem| {
        error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            problem.describe(),
        )
    })?;
    Ok(roles(&claims))
}

/// Refuses unless the app holds one of `accepted` for this chat: a role, or
/// (where the app is installed) an RSC grant. An unknown chat grants nothing
/// beyond the roles, so a missing permission is refused before a missing chat.
fn permit(
    state: &State,
    chat_id: &str,
    roles: &[String],
    accepted: &[&str],
) -> Result<(), HttpResponse> {
    let chat = state.chat(chat_id);
    Grants {
        roles,
        rsc: chat.map_or(&[][..], |chat| chat.rsc_grants.as_slice()),
        installed: chat.is_some_and(|chat| chat.bot_installed),
    }
    .allow(accepted)
}

/// A call on one chat, as Graph admits it: a valid token, then one of the
/// `accepted` permissions among its roles or the chat's grants. The roles,
/// for checks of its own a call makes after.
fn admit(
    shared: &Shared,
    req: &HttpRequest,
    chat_id: &str,
    accepted: &[&str],
) -> Result<Vec<String>, HttpResponse> {
    let roles = authorize(shared, req)?;
    permit(&shared.lock(), chat_id, &roles, accepted)?;
    Ok(roles)
}

fn chat_not_found(chat_id: &str) -> HttpResponse {
    error(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("No chat found with id '{chat_id}'."),
    )
}

async fn get_chat(
    shared: web::Data<Shared>,
    req: HttpRequest,
    chat_id: web::Path<String>,
) -> HttpResponse {
    if let Err(refusal) = admit(&shared, &req, &chat_id, permissions::GET_CHAT) {
        return refusal;
    }
    let state = shared.lock();
    let Some(chat) = state.chat(&chat_id) else {
        return chat_not_found(&chat_id);
    };
    let tenant_id = shared.world.tenant_id();
    HttpResponse::Ok().json(json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#chats/$entity",
        "id": chat.id,
        "topic": chat.topic,
        "createdDateTime": rfc3339(chat.created),
        "lastUpdatedDateTime": rfc3339(chat.updated),
        "chatType": "group",
        "webUrl": format!("https://teams.microsoft.com/l/chat/{}/0?tenantId={tenant_id}", chat.id),
        "tenantId": tenant_id,
        "isHiddenForAllMembers": false,
    }))
}

async fn list_members(
    shared: web::Data<Shared>,
    req: HttpRequest,
    chat_id: web::Path<String>,
) -> HttpResponse {
    if let Err(refusal) = admit(&shared, &req, &chat_id, permissions::LIST_MEMBERS) {
        return refusal;
    }
    let state = shared.lock();
    let Some(chat) = state.chat(&chat_id) else {
        return chat_not_found(&chat_id);
    };
    let members: Vec<Value> = chat
        .members
        .iter()
        .filter_map(|member| {
            Some(member_json(
                &shared,
                chat,
                member,
                shared.world.user(&member.user)?,
            ))
        })
        .collect();
    HttpResponse::Ok().json(json!({
        "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#chats('{}')/members", chat.id),
        "@odata.count": members.len(),
        "value": members,
    }))
}

fn member_json(shared: &Shared, chat: &ChatState, member: &Member, user: &User) -> Value {
    let visible_from = member
        .visible_history_start
        .map(rfc3339)
        .unwrap_or_else(|| FULL_HISTORY.to_owned());
    json!({
        "@odata.type": MEMBER_TYPE,
        "id": member_id(&chat.id, &user.aad_object_id),
        "roles": member.roles,
        "displayName": user.name,
        "visibleHistoryStartDateTime": visible_from,
        "userId": user.aad_object_id,
        "email": user.email,
        "tenantId": shared.world.tenant_id(),
    })
}

/// Graph's opaque conversation member id (base64 of the chat and the user).
fn member_id(chat_id: &str, aad_object_id: &str) -> String {
    URL_SAFE.encode(format!("1#{chat_id}#{aad_object_id}"))
}

async fn add_member(
    shared: web::Data<Shared>,
    req: HttpRequest,
    chat_id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    if let Err(refusal) = admit(&shared, &req, &chat_id, permissions::ADD_MEMBER) {
        return refusal;
    }
    let request = match MemberRequest::parse(&body) {
        Ok(request) => request,
        Err(message) => return error(StatusCode::BAD_REQUEST, "BadRequest", &message),
    };
    let Some(user) = find_user(&shared, &request.user) else {
        return error(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("User '{}' was not found.", request.user),
        );
    };
    let mut state = shared.lock();
    let Some(chat) = state.chat_mut(&chat_id) else {
        return chat_not_found(&chat_id);
    };
    if chat.members.iter().any(|member| member.user == user.key) {
        return error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "One or more added object references already exist for the following modified properties: 'members'.",
        );
    }
    let now = OffsetDateTime::now_utc();
    let member = Member {
        user: user.key.clone(),
        visible_history_start: Some(request.visible_history_start.unwrap_or(now)),
        roles: request.roles,
    };
    chat.messages.push(ChatMessage {
        from: "system".to_owned(),
        text: format!("{} was added to the chat", user.name),
        kind: MessageKind::System,
        activity_id: None,
    });
    chat.updated = now;
    let body = member_json(&shared, chat, &member, user);
    let location = format!(
        "/chats/{}/members/{}",
        chat.id,
        member_id(&chat.id, &user.aad_object_id)
    );
    chat.members.push(member);
    state.changed();
    HttpResponse::Created()
        .insert_header(("Location", location))
        .json(body)
}

/// The body of an add-member request, checked.
struct MemberRequest {
    /// The object id or UPN from `user@odata.bind`.
    user: String,
    visible_history_start: Option<OffsetDateTime>,
    roles: Vec<String>,
}

impl MemberRequest {
    fn parse(body: &[u8]) -> Result<MemberRequest, String> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|_| "Invalid request body: not JSON.".to_owned())?;
        if value.get("@odata.type").and_then(Value::as_str) != Some(MEMBER_TYPE) {
            return Err(format!(
                "Invalid request body: '@odata.type' must be '{MEMBER_TYPE}'."
            ));
        }
        let bind = value
            .get("user@odata.bind")
            .and_then(Value::as_str)
            .ok_or("Invalid request body: 'user@odata.bind' is required.")?;
        let user = user_from_bind(bind)
            .ok_or_else(|| format!("Invalid 'user@odata.bind' value '{bind}'."))?;
        let visible_history_start = match value.get("visibleHistoryStartDateTime") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => {
                Some(OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
                    format!("Invalid 'visibleHistoryStartDateTime' value '{text}'.")
                })?)
            }
            Some(_) => {
                return Err("Invalid 'visibleHistoryStartDateTime': expected a string.".to_owned())
            }
        };
        let roles = match value.get("roles") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|role| {
                    role.as_str()
                        .map(str::to_owned)
                        .ok_or("Invalid 'roles': expected strings.")
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err("Invalid 'roles': expected an array.".to_owned()),
        };
        Ok(MemberRequest {
            user,
            visible_history_start,
            roles,
        })
    }
}

/// `…/users/{id}` or `…/users('{id}')` → the id.
fn user_from_bind(bind: &str) -> Option<String> {
    let (_, tail) = bind.rsplit_once("/users")?;
    let id = if let Some(quoted) = tail.strip_prefix("('") {
        quoted.strip_suffix("')")?
    } else {
        tail.strip_prefix('/')?
    };
    (!id.is_empty() && !id.contains('/')).then(|| id.to_owned())
}

fn find_user<'w>(shared: &'w Shared, id_or_upn: &str) -> Option<&'w User> {
    shared.world.users().iter().find(|user| {
        user.aad_object_id.eq_ignore_ascii_case(id_or_upn)
            || user.email.eq_ignore_ascii_case(id_or_upn)
    })
}
