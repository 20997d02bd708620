//! The activities the simulated Teams sends, made in one place: the
//! envelope every activity carries (ids, timestamps, the channel, the
//! tenant, the person and the conversation), messages with their @mention in
//! group chats, and `Action.Execute` invokes. `say` and `invoke` send them;
//! tests and benchmarks that post to the bot themselves take them from
//! `Cloud::activity` or `POST /_sandbox/users/{key}/activity`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{error, parse_json, BOT_NAME};
use crate::state::rfc3339;
use crate::world::User;
use crate::Shared;

#[derive(Deserialize)]
pub(super) struct InvokeRequest {
    pub verb: String,
    #[serde(default)]
    pub data: Value,
    pub chat: Option<String>,
    /// The id of the bot message whose card was clicked, when known.
    pub reply_to_id: Option<String>,
}

/// Where an activity is sent: the user's 1:1 conversation or a group chat.
pub(super) enum Place {
    Personal(String),
    Chat(String),
}

impl Place {
    pub(super) fn conversation_id(&self) -> &str {
        match self {
            Place::Personal(id) | Place::Chat(id) => id,
        }
    }
}

pub(super) fn user<'w>(shared: &'w Shared, key: &str) -> Result<&'w User, HttpResponse> {
    shared
        .world
        .user(key)
        .ok_or_else(|| error(StatusCode::NOT_FOUND, format!("no user {key:?}")))
}

pub(super) fn place(
    shared: &Shared,
    user: &User,
    chat: Option<String>,
) -> Result<Place, HttpResponse> {
    match chat {
        // Talking to the bot 1:1 means the person has added the app.
        None => {
            shared.lock().install_for(&user.key);
            Ok(Place::Personal(user.conversation_id.clone()))
        }
        Some(chat) if shared.lock().chat(&chat).is_some() => Ok(Place::Chat(chat)),
        Some(chat) => Err(error(StatusCode::NOT_FOUND, format!("no chat {chat:?}"))),
    }
}

/// What the simulated Teams would send, without sending it.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ActivityRequest {
    Message {
        text: String,
        chat: Option<String>,
    },
    Invoke {
        verb: String,
        #[serde(default)]
        data: Value,
        chat: Option<String>,
    },
}

/// The one place the activities the simulated Teams sends are made: `say`
/// and `invoke` send them; tests and benchmarks that post to the bot
/// themselves take them from here (`Cloud::activity`, `POST
/// /_sandbox/users/{key}/activity`), so every client sends the same envelope.
pub(crate) fn activity_for(
    shared: &Shared,
    key: &str,
    request: ActivityRequest,
) -> Result<Value, HttpResponse> {
    let user = user(shared, key)?;
    Ok(match request {
        ActivityRequest::Message { text, chat } => {
            let place = place(shared, user, chat)?;
            message_activity(shared, user, &place, &text)
        }
        ActivityRequest::Invoke { verb, data, chat } => {
            let place = place(shared, user, chat.clone())?;
            let request = InvokeRequest {
                verb,
                data,
                chat,
                reply_to_id: None,
            };
            invoke_activity(shared, user, &place, &request)
        }
    })
}

pub(super) async fn activity(
    shared: web::Data<Shared>,
    key: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let made = parse_json(&body).and_then(|request| activity_for(&shared, &key, request));
    match made {
        Ok(activity) => HttpResponse::Ok().json(activity),
        Err(refusal) => refusal,
    }
}

/// The fields every activity from the simulated Teams carries.
fn envelope(shared: &Shared, user: &User, place: &Place, kind: &str) -> Map<String, Value> {
    let tenant_id = shared.world.tenant_id();
    let now = rfc3339(OffsetDateTime::now_utc());
    let conversation = match place {
        Place::Personal(id) => {
            json!({"id": id, "conversationType": "personal", "tenantId": tenant_id})
        }
        Place::Chat(id) => {
            json!({"id": id, "conversationType": "groupChat", "tenantId": tenant_id, "isGroup": true})
        }
    };
    let envelope = json!({
        "type": kind,
        "id": Uuid::new_v4().to_string(),
        "timestamp": now,
        "localTimestamp": now,
        "channelId": "msteams",
        "serviceUrl": shared.urls.connector,
        "from": {"id": user.mri, "name": user.name, "aadObjectId": user.aad_object_id},
        "conversation": conversation,
        "recipient": {"id": format!("28:{}", shared.app_id), "name": BOT_NAME},
        "locale": "en-US",
        "entities": [{"type": "clientInfo", "locale": "en-US", "platform": "Web"}],
        "channelData": {"tenant": {"id": tenant_id}},
    });
    match envelope {
        Value::Object(fields) => fields,
        _ => Map::new(),
    }
}

pub(super) fn message_activity(shared: &Shared, user: &User, place: &Place, text: &str) -> Value {
    let mut activity = envelope(shared, user, place, "message");
    let mention = format!("<at>{BOT_NAME}</at>");
    let text = match place {
        Place::Personal(_) => text.to_owned(),
        Place::Chat(_) => {
            if let Some(Value::Array(entities)) = activity.get_mut("entities") {
                entities.push(json!({
                    "type": "mention",
                    "text": mention,
                    "mentioned": {"id": format!("28:{}", shared.app_id), "name": BOT_NAME},
                }));
            }
            format!("{mention} {text}")
        }
    };
    activity.insert("text".to_owned(), json!(text));
    activity.insert("textFormat".to_owned(), json!("plain"));
    Value::Object(activity)
}

pub(super) fn invoke_activity(
    shared: &Shared,
    user: &User,
    place: &Place,
    request: &InvokeRequest,
) -> Value {
    let mut activity = envelope(shared, user, place, "invoke");
    activity.insert("name".to_owned(), json!("adaptiveCard/action"));
    activity.insert(
        "value".to_owned(),
        json!({
            "action": {
                "type": "Action.Execute",
                "id": Uuid::new_v4().to_string(),
                "verb": request.verb,
                "data": request.data,
            },
            "trigger": "manual",
        }),
    );
    if let Some(reply_to_id) = &request.reply_to_id {
        activity.insert("replyToId".to_owned(), json!(reply_to_id));
    }
    Value::Object(activity)
}

/// What Teams sends the bot when its app is installed for a person: the bot
/// added to their 1:1 conversation (`conversationUpdate`), then the install
/// itself (`installationUpdate`, `add`).
pub(crate) fn installation_activities(shared: &Shared, user: &User) -> [Value; 2] {
    let place = Place::Personal(user.conversation_id.clone());
    let bot = json!({"id": format!("28:{}", shared.app_id), "name": BOT_NAME});
    let mut added = envelope(shared, user, &place, "conversationUpdate");
    added.insert("membersAdded".to_owned(), json!([bot]));
    let mut installed = envelope(shared, user, &place, "installationUpdate");
    installed.insert("action".to_owned(), json!("add"));
    [Value::Object(added), Value::Object(installed)]
}
