//! The mutable side of the simulated cloud, behind one `Mutex`.
//!
//! Chats (members, history, whether the bot is installed), what the bot posted
//! per conversation, the Join chat switch, the calls log, the active faults and
//! the capture lists of in-flight `say`/`invoke` calls. Every method is short
//! and synchronous: the lock is never held across an `.await`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::dataverse::Registration;
use super::faults::Fault;
use super::permissions::TEAMS_APP_RSC_PERMISSIONS;
use super::world::{Entity, Record, World};

/// The simulated services, as named in the calls log and fault requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    Graph,
    Dataverse,
    Connector,
    Entra,
}

impl Service {
    /// Which service a request path belongs to, and the path relative to that
    /// service's URL. OpenID metadata and its JWKS sit outside the login URL and
    /// keep their full path.
    pub(crate) fn of_path(path: &str) -> Option<(Service, &str)> {
        let prefixes = [
            ("/graph/", Service::Graph, "/graph".len()),
            ("/dataverse/", Service::Dataverse, "/dataverse".len()),
            ("/connector/", Service::Connector, "/connector".len()),
            ("/login/", Service::Entra, "/login".len()),
            ("/botframework/", Service::Entra, 0),
        ];
        prefixes
            .into_iter()
            .find(|(prefix, _, _)| path.starts_with(prefix))
            .map(|(_, service, strip)| (service, &path[strip..]))
    }
}

/// One request a simulated service received.
#[derive(Debug, Clone, Serialize)]
pub struct Call {
    pub service: Service,
    pub method: String,
    pub path: String,
    pub status: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum MessageKind {
    Message,
    System,
    Bot,
}

#[derive(Debug, Clone)]
pub(crate) struct ChatMessage {
    pub from: String,
    pub text: String,
    pub kind: MessageKind,
    /// For bot messages: the activity id, so a card update rewrites the text.
    pub activity_id: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub user: String,
    /// `None` for members from the world file: they have always been there.
    pub visible_history_start: Option<OffsetDateTime>,
    pub roles: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct ChatState {
    pub id: String,
    pub topic: String,
    pub created: OffsetDateTime,
    pub updated: OffsetDateTime,
    pub members: Vec<Member>,
    pub messages: Vec<ChatMessage>,
    pub bot_installed: bool,
    /// The RSC permissions consented to the bot's app in this chat.
    pub rsc_grants: Vec<String>,
}

/// An activity the bot posted (or last updated) in a conversation.
#[derive(Debug, Clone)]
pub(crate) struct Posted {
    pub id: String,
    pub activity: Value,
}

/// The activities posted while one `say`/`invoke` was waiting for the bot.
#[derive(Debug)]
pub(crate) struct Capture {
    pub id: u64,
    pub activity_id: String,
    pub conversation_id: String,
    pub activities: Vec<Value>,
}

pub(crate) struct State {
    pub chats: Vec<ChatState>,
    pub join_chat: BTreeSet<Entity>,
    pub conversations: HashMap<String, Vec<Posted>>,
    pub calls: Vec<Call>,
    pub faults: Vec<Fault>,
    pub captures: Vec<Capture>,
    pub next_capture: u64,
    pub version: u64,
    pub bot_endpoint: String,
    pub allow_app_install: bool,
    /// The people the bot's app is installed for in the personal scope: they
    /// added it by talking to the bot, or Graph installed it for them. Only
    /// they have a 1:1 conversation with the bot.
    pub personal_installs: BTreeMap<String, OffsetDateTime>,
    /// The records as Dataverse holds them now: the world's, then every
    /// assign and share the control API made.
    pub records: Vec<Record>,
    /// The webhook registration (`serviceendpoint` and its steps), until
    /// someone deletes it through the Web API.
    pub webhook: Option<Registration>,
}

impl State {
    pub fn new(world: &World, bot_endpoint: String) -> State {
        let now = OffsetDateTime::now_utc();
        let chats = world
            .chats()
            .iter()
            .map(|chat| ChatState {
                id: chat.id.clone(),
                topic: chat.topic.clone(),
                created: now,
                updated: now,
                members: chat
                    .members
                    .iter()
                    .map(|user| Member {
                        user: user.clone(),
                        visible_history_start: None,
                        roles: vec!["owner".to_owned()],
                    })
                    .collect(),
                messages: chat
                    .messages
                    .iter()
                    .map(|message| ChatMessage {
                        from: message.from.clone(),
                        text: message.text.clone(),
                        kind: MessageKind::Message,
                        activity_id: None,
                    })
                    .collect(),
                bot_installed: chat.bot_installed,
                // Installed by a person in Teams, who was shown the app's RSC
                // permissions and granted them with the install (msteams-docs,
                // "Resource-specific consent").
                rsc_grants: if chat.bot_installed {
                    TEAMS_APP_RSC_PERMISSIONS
                        .iter()
                        .map(|p| (*p).to_owned())
                        .collect()
                } else {
                    Vec::new()
                },
            })
            .collect();
        State {
            chats,
            join_chat: world.join_chat().clone(),
            conversations: HashMap::new(),
            calls: Vec::new(),
            faults: Vec::new(),
            captures: Vec::new(),
            next_capture: 0,
            version: 0,
            bot_endpoint,
            allow_app_install: true,
            personal_installs: BTreeMap::new(),
            records: world.records().to_vec(),
            webhook: Some(Registration::for_world(&world_entities(world))),
        }
    }

    pub fn chat(&self, id: &str) -> Option<&ChatState> {
        self.chats.iter().find(|chat| chat.id == id)
    }

    pub fn chat_mut(&mut self, id: &str) -> Option<&mut ChatState> {
        self.chats.iter_mut().find(|chat| chat.id == id)
    }

    /// The app is now installed for `user_key` in the personal scope (they
    /// talked to the bot, or Graph installed it); false when it already was.
    pub fn install_for(&mut self, user_key: &str) -> bool {
        if self.personal_installs.contains_key(user_key) {
            return false;
        }
        self.personal_installs
            .insert(user_key.to_owned(), OffsetDateTime::now_utc());
        self.changed();
        true
    }

    pub fn record(&self, entity: Entity, id: &str) -> Option<&Record> {
        self.records
            .iter()
            .find(|record| record.entity == entity && record.id.eq_ignore_ascii_case(id))
    }

    pub fn record_mut(&mut self, entity: Entity, id: &str) -> Option<&mut Record> {
        self.records
            .iter_mut()
            .find(|record| record.entity == entity && record.id.eq_ignore_ascii_case(id))
    }

    /// Something a viewer of the world could see changed.
    pub fn changed(&mut self) {
        self.version += 1;
    }

    /// Records an activity the bot posted, appends it to the chat's history
    /// when the conversation is a chat, and hands it to the waiting captures.
    pub fn post(&mut self, conversation_id: &str, reply_to: Option<&str>, posted: Posted) {
        if let Some(chat) = self.chat_mut(conversation_id) {
            chat.messages.push(ChatMessage {
                from: "bot".to_owned(),
                text: activity_text(&posted.activity),
                kind: MessageKind::Bot,
                activity_id: Some(posted.id.clone()),
            });
            chat.updated = OffsetDateTime::now_utc();
        }
        self.capture(conversation_id, reply_to, &posted.activity);
        self.conversations
            .entry(conversation_id.to_owned())
            .or_default()
            .push(posted);
        self.changed();
    }

    /// Replaces a posted activity (a card update). `false` when there is none
    /// with that id in that conversation.
    pub fn update(&mut self, conversation_id: &str, posted: Posted) -> bool {
        let Some(existing) = self
            .conversations
            .get_mut(conversation_id)
            .and_then(|list| list.iter_mut().find(|p| p.id == posted.id))
        else {
            return false;
        };
        existing.activity = posted.activity.clone();
        let text = activity_text(&posted.activity);
        if let Some(chat) = self.chat_mut(conversation_id) {
            let message = chat
                .messages
                .iter_mut()
                .find(|m| m.activity_id.as_deref() == Some(posted.id.as_str()));
            if let Some(message) = message {
                message.text = text;
            }
        }
        self.capture(conversation_id, None, &posted.activity);
        self.changed();
        true
    }

    // Which waiting `say`/`invoke` gets a posted activity: the one it replies
    // to; else the ones sent in that conversation; else, when none was, every
    // one in flight (a notice posted into another chat while handling a click).
    fn capture(&mut self, conversation_id: &str, reply_to: Option<&str>, activity: &Value) {
        let reply_to = reply_to.or_else(|| activity.get("replyToId").and_then(Value::as_str));
        if let Some(capture) =
            reply_to.and_then(|id| self.captures.iter_mut().find(|c| c.activity_id == id))
        {
            capture.activities.push(activity.clone());
            return;
        }
        let same_conversation = self
            .captures
            .iter()
            .any(|c| c.conversation_id == conversation_id);
        for capture in &mut self.captures {
            if !same_conversation || capture.conversation_id == conversation_id {
                capture.activities.push(activity.clone());
            }
        }
    }

    pub fn begin_capture(&mut self, activity_id: &str, conversation_id: &str) -> u64 {
        self.next_capture += 1;
        let id = self.next_capture;
        self.captures.push(Capture {
            id,
            activity_id: activity_id.to_owned(),
            conversation_id: conversation_id.to_owned(),
            activities: Vec::new(),
        });
        id
    }

    pub fn end_capture(&mut self, id: u64) -> Vec<Value> {
        match self.captures.iter().position(|c| c.id == id) {
            Some(index) => self.captures.remove(index).activities,
            None => Vec::new(),
        }
    }

    pub fn activities(&self, conversation_id: &str) -> Vec<Value> {
        self.conversations
            .get(conversation_id)
            .map(|list| list.iter().map(|p| p.activity.clone()).collect())
            .unwrap_or_default()
    }
}

/// The record types the world has records of, each once.
fn world_entities(world: &World) -> Vec<Entity> {
    let types: BTreeSet<Entity> = world.records().iter().map(|r| r.entity).collect();
    types.into_iter().collect()
}

/// What a chat shows for a bot message: its text, or when it has none, the
/// TextBlocks of its Adaptive Cards, one per line.
pub(crate) fn activity_text(activity: &Value) -> String {
    if let Some(text) = activity.get("text").and_then(Value::as_str) {
        if !text.trim().is_empty() {
            return text.to_owned();
        }
    }
    let mut lines = Vec::new();
    let attachments = activity.get("attachments").and_then(Value::as_array);
    for attachment in attachments.into_iter().flatten() {
        if let Some(card) = attachment.get("content") {
            collect_text_blocks(card, &mut lines);
        }
    }
    lines.join("\n")
}

fn collect_text_blocks(element: &Value, lines: &mut Vec<String>) {
    match element {
        Value::Object(map) => {
            if map.get("type").and_then(Value::as_str) == Some("TextBlock") {
                if let Some(text) = map.get("text").and_then(Value::as_str) {
                    lines.push(text.to_owned());
                }
            }
            // Containers, columns, column sets and the card body all nest here;
            // actions and refresh hold no visible text blocks.
            for key in ["body", "items", "columns"] {
                if let Some(children) = map.get(key) {
                    collect_text_blocks(children, lines);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                collect_text_blocks(item, lines);
            }
        }
        _ => {}
    }
}

/// RFC 3339, as Graph and the control API write instants.
pub(crate) fn rfc3339(instant: OffsetDateTime) -> String {
    instant
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "0001-01-01T00:00:00Z".to_owned())
}

/// The chat as the control API shows it.
pub(crate) fn chat_view(chat: &ChatState) -> Value {
    let members: Vec<Value> = chat
        .members
        .iter()
        .map(|member| {
            json!({
                "user": member.user,
                "visible_history_start": member.visible_history_start.map(rfc3339),
            })
        })
        .collect();
    let messages: Vec<Value> = chat
        .messages
        .iter()
        .map(|message| json!({"from": message.from, "text": message.text, "kind": message.kind}))
        .collect();
    json!({
        "id": chat.id,
        "topic": chat.topic,
        "bot_installed": chat.bot_installed,
        "members": members,
        "messages": messages,
    })
}
