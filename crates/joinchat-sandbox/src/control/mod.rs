//! The control API (`/_sandbox/...`): plays Teams for any world user, and lets
//! tests and the console look inside the cloud.
//!
//! `say` and `invoke` mint a real channel token, post the activity to the
//! bot's endpoint and answer with the bot's status (and invoke body) plus the
//! activities the bot posted to the connector while it handled the request.
//! Attribution of those posts: a post replying to the activity belongs to it;
//! otherwise a post into the conversation the activity was sent in belongs to
//! the requests waiting there; a post into any other conversation (a joined
//! notice in a group chat, say) belongs to every request in flight. So two
//! users talking to the bot at once never see each other's replies.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

mod activities;
mod records;

pub(crate) use self::activities::activity_for;
pub use self::activities::ActivityRequest;
use self::activities::{
    activity, installation_activities, invoke_activity, message_activity, place, user,
    InvokeRequest, Place,
};
use super::connector::personal;
use super::faults::FaultRequest;
use super::state::{chat_view, ChatMessage, MessageKind};
use super::world::{Record, User};
use super::Shared;

/// The bot's display name, as Teams shows it and as mentions spell it.
pub(crate) const BOT_NAME: &str = "joinchat";
const CHANNEL_TOKEN_LIFETIME: u64 = 3600;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/_sandbox")
            .route("/users/{key}/say", web::post().to(say))
            .route("/users/{key}/invoke", web::post().to(invoke))
            .route("/users/{key}/activity", web::post().to(activity))
            .route("/chats/{chat}", web::get().to(chat))
            .route(
                "/conversations/{conversation}/activities",
                web::get().to(conversation_activities),
            )
            .route("/calls", web::get().to(calls))
            .route("/world", web::get().to(world))
            .route("/events", web::get().to(events))
            .route("/audit", web::get().to(audit))
            .route("/faults", web::post().to(set_fault))
            .route("/faults", web::delete().to(clear_faults))
            .route("/tokens/channel", web::post().to(channel_token))
            .configure(records::configure),
    );
}

/// `{"error": "…"}`, the control API's error shape.
fn error(status: StatusCode, message: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status).json(json!({"error": message.into()}))
}

fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, HttpResponse> {
    serde_json::from_slice(body)
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}

#[derive(Deserialize)]
struct SayRequest {
    text: String,
    chat: Option<String>,
}

async fn say(shared: web::Data<Shared>, key: web::Path<String>, body: web::Bytes) -> HttpResponse {
    let outcome = async {
        let request: SayRequest = parse_json(&body)?;
        let user = user(&shared, &key)?;
        let place = place(&shared, user, request.chat)?;
        let activity = message_activity(&shared, user, &place, &request.text);
        if let Place::Chat(chat_id) = &place {
            record_user_message(&shared, user, chat_id, &request.text);
        }
        let delivered = deliver(&shared, activity, place.conversation_id()).await?;
        Ok::<_, HttpResponse>(
            json!({"status": delivered.status, "activities": delivered.activities}),
        )
    };
    match outcome.await {
        Ok(answer) => HttpResponse::Ok().json(answer),
        Err(refusal) => refusal,
    }
}

async fn invoke(
    shared: web::Data<Shared>,
    key: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let outcome = async {
        let request: InvokeRequest = parse_json(&body)?;
        let user = user(&shared, &key)?;
        let place = place(&shared, user, request.chat.clone())?;
        let activity = invoke_activity(&shared, user, &place, &request);
        let delivered = deliver(&shared, activity, place.conversation_id()).await?;
        Ok::<_, HttpResponse>(json!({
            "status": delivered.status,
            "body": delivered.body,
            "activities": delivered.activities,
        }))
    };
    match outcome.await {
        Ok(answer) => HttpResponse::Ok().json(answer),
        Err(refusal) => refusal,
    }
}

// A member's message shows in the chat as it would in Teams; a non-member
// (a tampered client) reaches the bot but writes nothing into the chat.
fn record_user_message(shared: &Shared, user: &User, chat_id: &str, text: &str) {
    let mut state = shared.lock();
    let Some(chat) = state.chat_mut(chat_id) else {
        return;
    };
    if !chat.members.iter().any(|member| member.user == user.key) {
        return;
    }
    chat.messages.push(ChatMessage {
        from: user.key.clone(),
        text: text.to_owned(),
        kind: MessageKind::Message,
        activity_id: None,
    });
    chat.updated = OffsetDateTime::now_utc();
    state.changed();
}

/// The bot's answer to one activity.
struct Delivered {
    status: u16,
    body: Value,
    activities: Vec<Value>,
}

async fn deliver(
    shared: &Shared,
    activity: Value,
    conversation_id: &str,
) -> Result<Delivered, HttpResponse> {
    let activity_id = activity
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let endpoint = shared.lock().bot_endpoint.clone();
    let token = shared.channel.mint(&shared.urls.connector);
    let capture = Capture::begin(shared, activity_id, conversation_id);
    let response = shared
        .http
        .post(&endpoint)
        .bearer_auth(token)
        .json(&activity)
        .send()
        .await
        .map_err(|e| {
            error(
                StatusCode::BAD_GATEWAY,
                format!("the bot at {endpoint} did not answer: {e}"),
            )
        })?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap_or_default();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| json!(String::from_utf8_lossy(&bytes)))
    };
    Ok(Delivered {
        status,
        body,
        activities: capture.finish(),
    })
}

/// Tells the bot, as Teams does, that its app was installed for `user`:
/// sent after the install's answer, in order, each answer ignored (Teams
/// does not retry these).
pub(crate) fn installed_for_user(shared: &web::Data<Shared>, user: &User) {
    let activities = installation_activities(shared, user);
    let shared = shared.clone();
    tokio::spawn(async move {
        let endpoint = shared.lock().bot_endpoint.clone();
        for activity in activities {
            let token = shared.channel.mint(&shared.urls.connector);
            let sent = shared
                .http
                .post(&endpoint)
                .bearer_auth(token)
                .json(&activity)
                .send()
                .await;
            if sent.is_err() {
                return;
            }
        }
    });
}

/// A capture list registered for the time the bot handles one activity; it
/// unregisters itself even when the request fails.
struct Capture<'s> {
    shared: &'s Shared,
    id: u64,
}

impl<'s> Capture<'s> {
    fn begin(shared: &'s Shared, activity_id: &str, conversation_id: &str) -> Capture<'s> {
        let id = shared.lock().begin_capture(activity_id, conversation_id);
        Capture { shared, id }
    }

    fn finish(self) -> Vec<Value> {
        self.shared.lock().end_capture(self.id)
    }
}

impl Drop for Capture<'_> {
    fn drop(&mut self) {
        self.shared.lock().end_capture(self.id);
    }
}

async fn chat(shared: web::Data<Shared>, chat_id: web::Path<String>) -> HttpResponse {
    match shared.lock().chat(&chat_id) {
        Some(chat) => HttpResponse::Ok().json(chat_view(chat)),
        None => error(
            StatusCode::NOT_FOUND,
            format!("no chat {:?}", chat_id.as_str()),
        ),
    }
}

async fn conversation_activities(
    shared: web::Data<Shared>,
    conversation_id: web::Path<String>,
) -> HttpResponse {
    let kept_under = match personal(&shared, &conversation_id) {
        Some(user) => user.conversation_id.clone(),
        None if shared.lock().chat(&conversation_id).is_some() => conversation_id.into_inner(),
        None => {
            return error(
                StatusCode::NOT_FOUND,
                format!("no conversation {:?}", conversation_id.as_str()),
            )
        }
    };
    HttpResponse::Ok().json(shared.lock().activities(&kept_under))
}

async fn calls(shared: web::Data<Shared>) -> HttpResponse {
    HttpResponse::Ok().json(&shared.lock().calls)
}

async fn events(shared: web::Data<Shared>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"version": shared.lock().version}))
}

// The bot's recent audit events, oldest first; empty when the cloud runs
// alone. The lock is released before the source is awaited.
async fn audit(shared: web::Data<Shared>) -> HttpResponse {
    let source = shared
        .audit_source
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    let events = match source {
        Some(source) => source().await,
        None => Vec::new(),
    };
    let events: Vec<Map<String, Value>> = events
        .into_iter()
        .map(|fields| {
            fields
                .into_iter()
                .map(|(k, v)| (k, Value::from(v)))
                .collect()
        })
        .collect();
    HttpResponse::Ok().json(events)
}

/// Each person's role on a record, strongest first: `owner`, `write`, `read`.
/// People with no access are left out.
fn access(record: &Record) -> Map<String, Value> {
    let mut access = Map::new();
    let roles = [
        ("owner", std::slice::from_ref(&record.owner)),
        ("write", record.write.as_slice()),
        ("read", record.read.as_slice()),
    ];
    for (role, keys) in roles {
        for key in keys {
            access
                .entry(key.clone())
                .or_insert_with(|| Value::from(role));
        }
    }
    access
}

// The world as the cloud runs it, generated values included; never the
// app password.
async fn world(shared: web::Data<Shared>) -> HttpResponse {
    let world = &shared.world;
    let state = shared.lock();
    let users: Vec<Value> = world
        .users()
        .iter()
        .map(|user| {
            json!({
                "key": user.key,
                "name": user.name,
                "email": user.email,
                "aad_object_id": user.aad_object_id,
                "mri": user.mri,
                "conversation_id": user.conversation_id,
                "personal_chat_id": shared.personal_chat_id(user),
                "app_installed": state.personal_installs.contains_key(&user.key),
                "admin": user.admin,
                "disabled": user.disabled,
            })
        })
        .collect();
    let records: Vec<Value> = state
        .records
        .iter()
        .map(|record| {
            json!({
                "entity": record.entity.logical_name(),
                "id": record.id,
                "name": record.name,
                "owner": record.owner,
                "write": record.write,
                "read": record.read,
                "access": access(record),
            })
        })
        .collect();
    let chats: Vec<Value> = state
        .chats
        .iter()
        .map(|chat| {
            json!({
                "id": chat.id,
                "topic": chat.topic,
                "bot_installed": chat.bot_installed,
                "rsc_grants": chat.rsc_grants,
            })
        })
        .collect();
    let join_chat: Vec<&str> = state.join_chat.iter().map(|e| e.logical_name()).collect();
    HttpResponse::Ok().json(json!({
        "tenant_id": world.tenant_id(),
        "app_id": shared.app_id,
        "teams_app_id": shared.teams_app_id,
        "urls": shared.urls,
        "join_chat": join_chat,
        "graph_permissions": world.app().graph_permissions,
        "users": users,
        "records": records,
        "chats": chats,
    }))
}

async fn set_fault(shared: web::Data<Shared>, body: web::Bytes) -> HttpResponse {
    let request: FaultRequest = match parse_json(&body) {
        Ok(request) => request,
        Err(refusal) => return refusal,
    };
    match request.clone().into_fault() {
        Ok(fault) => {
            shared.lock().set_fault(fault);
            HttpResponse::Ok().json(json!({
                "service": request.service,
                "status": request.status,
                "retry_after": request.retry_after,
                "count": request.count,
                "latency_ms": request.latency_ms,
            }))
        }
        Err(message) => error(StatusCode::BAD_REQUEST, message),
    }
}

async fn clear_faults(shared: web::Data<Shared>) -> HttpResponse {
    shared.lock().faults.clear();
    HttpResponse::NoContent().finish()
}

#[derive(Deserialize, Default)]
struct ChannelTokenRequest {
    service_url: Option<String>,
    channel_id: Option<String>,
}

async fn channel_token(shared: web::Data<Shared>, body: web::Bytes) -> HttpResponse {
    let request: ChannelTokenRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ChannelTokenRequest::default()
    } else {
        match parse_json(&body) {
            Ok(request) => request,
            Err(refusal) => return refusal,
        }
    };
    // The one channel key is endorsed for msteams and emulator.
    if let Some(channel) = request
        .channel_id
        .filter(|c| c != "msteams" && c != "emulator")
    {
        return error(
            StatusCode::BAD_REQUEST,
            format!("no key is endorsed for channel {channel:?}"),
        );
    }
    let service_url = request
        .service_url
        .unwrap_or_else(|| shared.urls.connector.clone());
    HttpResponse::Ok().json(json!({
        "token": shared.channel.mint(&service_url),
        "expires_in": CHANNEL_TOKEN_LIFETIME,
    }))
}
