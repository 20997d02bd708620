//! The simulated Bot Connector (`{connector}v3/conversations/...`).
//!
//! Keeps what the bot posts per conversation: a user's 1:1 conversation with
//! the bot (`a:…`, or the `19:…@unq.gbl.spaces` chat id Graph gives for it)
//! or a world chat (`19:…@thread.v2`), where a post also becomes a `bot`
//! message of the chat. Refuses, as the real service does, a post into a chat
//! the bot is not installed in, or to a person who does not have the app.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use uuid::Uuid;

use super::entra::{check_bearer, CONNECTOR_RESOURCE};
use super::state::Posted;
use super::world::User;
use super::Shared;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/connector/v3/conversations")
            .route("", web::post().to(create_conversation))
            .route("/{conversation}/activities", web::post().to(send))
            .route(
                "/{conversation}/activities/{activity}",
                web::post().to(reply),
            )
            .route(
                "/{conversation}/activities/{activity}",
                web::put().to(update),
            )
            .route("/{conversation}/pagedmembers", web::get().to(paged_members))
            .route("/{conversation}/members", web::get().to(paged_members)),
    );
}

/// The Bot Framework `ErrorResponse` body.
pub(crate) fn error_body(code: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message}})
}

fn error(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(error_body(code, message))
}

fn authorize(shared: &Shared, req: &HttpRequest) -> Result<(), HttpResponse> {
    check_bearer(shared, req, CONNECTOR_RESOURCE)
        .map(|_| ())
        .map_err(|_| {
            error(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "Authorization has been denied for this request.",
            )
        })
}

/// Who is in a conversation the bot may use.
enum Conversation<'w> {
    Personal(&'w User),
    Chat(Vec<&'w User>),
}

impl Conversation<'_> {
    /// The id the conversation is kept under: a 1:1 conversation has two
    /// (`a:…` from activities, `19:…@unq.gbl.spaces` from Graph) and is kept
    /// under the first, where the chat views read it.
    fn key<'i>(&'i self, id: &'i str) -> &'i str {
        match self {
            Conversation::Personal(user) => &user.conversation_id,
            Conversation::Chat(_) => id,
        }
    }
}

/// The person whose 1:1 conversation with the bot `id` names, by either id.
pub(crate) fn personal<'w>(shared: &'w Shared, id: &str) -> Option<&'w User> {
    shared
        .world
        .users()
        .iter()
        .find(|user| user.conversation_id == id || shared.personal_chat_id(user) == id)
}

fn not_in_roster() -> HttpResponse {
    error(
        StatusCode::FORBIDDEN,
        "BotNotInConversationRoster",
        "The bot is not part of the conversation roster.",
    )
}

fn conversation<'w>(shared: &'w Shared, id: &str) -> Result<Conversation<'w>, HttpResponse> {
    let world = &shared.world;
    if let Some(user) = personal(shared, id) {
        // Only a person who has the app (who talked to the bot, or for whom
        // it was installed) has a 1:1 conversation with it.
        if !shared.lock().personal_installs.contains_key(&user.key) {
            return Err(not_in_roster());
        }
        return Ok(Conversation::Personal(user));
    }
    let state = shared.lock();
    let Some(chat) = state.chat(id) else {
        return Err(error(
            StatusCode::NOT_FOUND,
            "ConversationNotFound",
            "Conversation not found.",
        ));
    };
    if !chat.bot_installed {
        return Err(not_in_roster());
    }
    let members = chat
        .members
        .iter()
        .filter_map(|member| world.user(&member.user))
        .collect();
    Ok(Conversation::Chat(members))
}

async fn send(
    shared: web::Data<Shared>,
    req: HttpRequest,
    conversation_id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    post_activity(&shared, &req, &conversation_id, None, &body)
}

async fn reply(
    shared: web::Data<Shared>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (conversation_id, reply_to) = path.into_inner();
    post_activity(&shared, &req, &conversation_id, Some(&reply_to), &body)
}

fn post_activity(
    shared: &Shared,
    req: &HttpRequest,
    conversation_id: &str,
    reply_to: Option<&str>,
    body: &[u8],
) -> HttpResponse {
    if let Err(refusal) = authorize(shared, req) {
        return refusal;
    }
    let kept_under = match conversation(shared, conversation_id) {
        Ok(conversation) => conversation.key(conversation_id).to_owned(),
        Err(refusal) => return refusal,
    };
    let id = Uuid::new_v4().to_string();
    let activity = match activity_from(body, conversation_id, &id) {
        Ok(activity) => activity,
        Err(refusal) => return refusal,
    };
    shared.lock().post(
        &kept_under,
        reply_to,
        Posted {
            id: id.clone(),
            activity,
        },
    );
    HttpResponse::Created().json(json!({ "id": id }))
}

async fn update(
    shared: web::Data<Shared>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    if let Err(refusal) = authorize(&shared, &req) {
        return refusal;
    }
    let (conversation_id, activity_id) = path.into_inner();
    let kept_under = match conversation(&shared, &conversation_id) {
        Ok(conversation) => conversation.key(&conversation_id).to_owned(),
        Err(refusal) => return refusal,
    };
    let activity = match activity_from(&body, &conversation_id, &activity_id) {
        Ok(activity) => activity,
        Err(refusal) => return refusal,
    };
    let posted = Posted {
        id: activity_id.clone(),
        activity,
    };
    if !shared.lock().update(&kept_under, posted) {
        return error(
            StatusCode::NOT_FOUND,
            "ActivityNotFound",
            "The activity to update was not found in this conversation.",
        );
    }
    HttpResponse::Ok().json(json!({ "id": activity_id }))
}

/// The posted body as an activity, with its conversation id (from the URL when
/// the bot left it out) and id filled in.
fn activity_from(body: &[u8], conversation_id: &str, id: &str) -> Result<Value, HttpResponse> {
    let bad = |message: &str| error(StatusCode::BAD_REQUEST, "BadArgument", message);
    let mut activity: Value =
        serde_json::from_slice(body).map_err(|_| bad("The request body is not valid JSON."))?;
    let Some(fields) = activity.as_object_mut() else {
        return Err(bad("The request body must be an Activity object."));
    };
    if !fields.get("type").is_some_and(Value::is_string) {
        return Err(bad("Activity type is required."));
    }
    let conversation = fields.entry("conversation").or_insert_with(|| json!({}));
    match conversation.as_object_mut() {
        Some(conversation) => {
            conversation
                .entry("id")
                .or_insert_with(|| json!(conversation_id));
        }
        None => return Err(bad("Activity conversation must be an object.")),
    }
    fields.entry("id").or_insert_with(|| json!(id));
    Ok(activity)
}

// Proactive 1:1: Teams answers with the existing conversation between the user
// and the bot, whoever asks first.
async fn create_conversation(
    shared: web::Data<Shared>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    if let Err(refusal) = authorize(&shared, &req) {
        return refusal;
    }
    let bad = |message: &str| error(StatusCode::BAD_REQUEST, "BadArgument", message);
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return bad("The request body is not valid JSON.");
    };
    if request.get("isGroup").and_then(Value::as_bool) == Some(true) {
        return bad("Bots cannot create group conversations in Teams.");
    }
    let members = request.get("members").and_then(Value::as_array);
    let member_ids: Vec<&str> = members
        .into_iter()
        .flatten()
        .filter_map(|member| member.get("id").and_then(Value::as_str))
        .collect();
    let [member_id] = member_ids.as_slice() else {
        return bad("A 1:1 conversation needs exactly one member.");
    };
    let user =
        shared.world.users().iter().find(|user| {
            user.mri == *member_id || user.aad_object_id.eq_ignore_ascii_case(member_id)
        });
    match user {
        Some(user) if shared.lock().personal_installs.contains_key(&user.key) => {
            HttpResponse::Created().json(json!({ "id": user.conversation_id }))
        }
        // Teams creates no 1:1 conversation with a bot the person does not
        // have: the app has to be installed for them first (Graph).
        Some(_) => error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "The bot is not installed in the user's personal scope.",
        ),
        None => error(
            StatusCode::NOT_FOUND,
            "MemberNotFound",
            "The member was not found in this tenant.",
        ),
    }
}

async fn paged_members(
    shared: web::Data<Shared>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    if let Err(refusal) = authorize(&shared, &req) {
        return refusal;
    }
    let users = match conversation(&shared, &path) {
        Ok(Conversation::Personal(user)) => vec![user],
        Ok(Conversation::Chat(users)) => users,
        Err(refusal) => return refusal,
    };
    let tenant_id = shared.world.tenant_id();
    let members: Vec<Value> = users
        .iter()
        .map(|user| {
            json!({
                "id": user.mri,
                "name": user.name,
                "aadObjectId": user.aad_object_id,
                "userPrincipalName": user.email,
                "email": user.email,
                "tenantId": tenant_id,
                "userRole": "user",
            })
        })
        .collect();
    if req.path().ends_with("/members") {
        return HttpResponse::Ok().json(members);
    }
    HttpResponse::Ok().json(json!({ "members": members, "continuationToken": null }))
}
