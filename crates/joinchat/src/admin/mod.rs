//! The Join chat switch and the two ways forward from a locked chat.
//!
//! - The switch (`enable/disable join chat for <type>`, the settings card):
//!   only holders of the configured Dataverse security role, checked on the
//!   server for every change; written to Dataverse, the cached setting dropped
//!   for every replica, audited.
//! - Ask a member: a card in the chat with an **Add** button; any current member
//!   may click it, the server re-checks their membership, adds the requester
//!   with the entire history and tells the requester.
//! - Ask your admin: a 1:1 card to each admin with a one-click switch.
//!
//! Asks are rate-limited per person and chat (or record type) for an hour.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    audit::{self, AuditEvent},
    card_data,
    cards::{self, RecordSummary},
    clients::connector::{ConnectorClient, ConnectorError},
    clients::dataverse::Admin,
    clients::graph::{AddOutcome, GraphError},
    domain::{AadObjectId, ChatId, EntityType, RecordRef},
    facts::{Facts, FactsError},
    show::{Answer, Viewer},
    store::{keys, Store},
    teams::OutboundActivity,
};

/// Where to reach a person 1:1.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConversationRef {
    pub conversation_id: String,
    pub service_url: String,
    pub user_id: String,
}

/// An open ask-a-member request, kept until someone adds the requester.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct JoinRequestRecord {
    requester: String,
    requester_mri: String,
    requester_name: String,
    chat: String,
    entity: EntityType,
    record_id: String,
    record_name: String,
    /// The ask card in the chat, updated once someone adds the requester.
    #[serde(default)]
    card_activity_id: Option<String>,
}

#[derive(Clone)]
pub struct Admins {
    pub facts: Facts,
    pub connector: ConnectorClient,
    pub store: Store,
    pub role: String,
    pub teams_app_id: Option<String>,
    /// Where "ask your admin" goes when set; otherwise each admin 1:1.
    pub admin_chat: Option<ChatId>,
}

impl Admins {
    // ---- the switch -----------------------------------------------------------------

    /// Whether this person holds the admin role (cached briefly).
    pub async fn is_admin(&self, viewer: &Viewer, deadline: Instant) -> Result<bool, FactsError> {
        let key = keys::role(&viewer.aad);
        if let Ok(Some(cached)) = self.store.get(&key).await {
            return Ok(cached == "1");
        }
        let Some(user) = self
            .facts
            .user(&viewer.aad, deadline)
            .await?
            .filter(|u| !u.disabled)
        else {
            return Ok(false);
        };
        let admin = self
            .facts
            .dataverse()
            .has_role(&user.id, &self.role, deadline)
            .await?;
        if let Err(error) = self
            .store
            .set(&key, if admin { "1" } else { "0" }, keys::ROLE_TTL)
            .await
        {
            tracing::warn!(%error, "role not cached");
        }
        Ok(admin)
    }

    /// The settings card: every record type, its state, a toggle for admins.
    pub async fn settings(&self, viewer: &Viewer, deadline: Instant) -> Result<Answer, FactsError> {
        let admin = self.is_admin(viewer, deadline).await?;
        let settings = self.facts.settings(deadline).await?;
        let states: Vec<(EntityType, bool)> = EntityType::ALL
            .iter()
            .map(|entity| {
                let on = settings.iter().any(|s| s.entity == *entity && s.enabled);
                (*entity, on)
            })
            .collect();
        Ok(Answer::Card(cards::settings(&states, admin)))
    }

    /// Turns Join chat on or off for a record type, if the viewer may.
    pub async fn set_join_chat(
        &self,
        viewer: &Viewer,
        entity: EntityType,
        enabled: bool,
        deadline: Instant,
    ) -> Result<Answer, FactsError> {
        let audit = type_event("set_join_chat", viewer, entity);
        if !self.is_admin(viewer, deadline).await? {
            audit::record(&self.store, audit("refused", "not_admin")).await;
            let admins = self.admins(deadline).await.unwrap_or_default();
            let names: Vec<String> = admins.into_iter().map(|a| a.name).collect();
            return Ok(Answer::Text(cards::admin_only(&names)));
        }
        // The row id comes from Dataverse itself, never from the card.
        let settings = self.facts.dataverse().join_chat_settings(deadline).await?;
        let Some(setting) = settings.iter().find(|s| s.entity == entity) else {
            audit::record(&self.store, audit("refused", "type_not_set_up")).await;
            return Ok(Answer::Text(format!(
                "{} aren't set up for connected chats in Dynamics 365 yet. Add the record type under \
                 App Settings → Chat and collaborate first.",
                capitalised(entity.display_plural())
            )));
        };
        if setting.enabled != enabled {
            self.facts
                .dataverse()
                .set_join_chat(&setting.row_id, enabled, Some(&viewer.aad), deadline)
                .await?;
        }
        // Every replica reads the switch anew on its next card.
        self.facts.settings_changed().await;
        audit::record(
            &self.store,
            audit("changed", if enabled { "on" } else { "off" }),
        )
        .await;
        tracing::info!(
            entity = entity.logical_name(),
            enabled,
            "Join chat switched"
        );
        self.settings(viewer, deadline).await
    }

    async fn admins(&self, deadline: Instant) -> Result<Vec<Admin>, FactsError> {
        Ok(self
            .facts
            .dataverse()
            .role_holders(&self.role, deadline)
            .await?)
    }

    // ---- conversation references ------------------------------------------------------

    /// Remembers how to reach someone 1:1 (from their personal conversation).
    pub async fn remember(&self, aad: &AadObjectId, reference: &ConversationRef) {
        let key = keys::conversation_ref(aad.as_str());
        let value = serde_json::to_string(reference).unwrap_or_default();
        if let Err(error) = self.store.set(&key, &value, keys::REFERENCE_TTL).await {
            tracing::warn!(%error, "conversation reference not kept");
        }
    }

    pub async fn forget(&self, aad: &AadObjectId) {
        if let Err(error) = self
            .store
            .delete(&keys::conversation_ref(aad.as_str()))
            .await
        {
            tracing::warn!(%error, "conversation reference not dropped");
        }
    }

    async fn reference(&self, aad: &str) -> Option<ConversationRef> {
        let raw = self.store.get(&keys::conversation_ref(aad)).await.ok()??;
        serde_json::from_str(&raw).ok()
    }

    /// Posts a card to someone 1:1; false when they cannot be reached.
    async fn tell(&self, aad: &str, activity: &OutboundActivity, deadline: Instant) -> bool {
        let Some(reference) = self.reference(aad).await else {
            return false;
        };
        match self
            .connector
            .send(
                &reference.service_url,
                &reference.conversation_id,
                None,
                activity,
                deadline,
            )
            .await
        {
            Ok(_) => true,
            Err(error) => {
                tracing::warn!(%error, "1:1 message not delivered");
                false
            }
        }
    }

    // ---- ask a member -----------------------------------------------------------------

    /// Posts "<Name> asks to join this chat" with an Add button into the chat.
    pub async fn ask_member(
        &self,
        viewer: &Viewer,
        chat: &ChatId,
        record: &RecordRef,
        service_url: &str,
        deadline: Instant,
    ) -> Result<Answer, FactsError> {
        let audit = |outcome: &'static str, reason: &'static str| AuditEvent {
            action: "ask_member",
            actor: viewer.aad.as_str(),
            entity: Some(record.entity.logical_name()),
            record: Some(record.id.as_str()),
            chat: Some(chat.as_str()),
            outcome,
            reason,
        };
        // The same re-checks as a join, minus write access: one must be able to
        // read the record, and the chat must be connected to it.
        let view = self
            .facts
            .view(&viewer.aad, record, None, true, deadline)
            .await?;
        let Some(record_facts) = view.record else {
            audit::record(&self.store, audit("refused", "hidden")).await;
            return Ok(Answer::Text(cards::not_found(
                record.entity,
                record.id.as_str(),
            )));
        };
        let Some(target) = record_facts.chats.iter().find(|c| c.id == chat.as_str()) else {
            audit::record(&self.store, audit("refused", "not_connected")).await;
            return Ok(Answer::Text(NOT_CONNECTED.into()));
        };
        if target.has_member(&viewer.aad) {
            return Ok(Answer::Text("You're a member of that chat already.".into()));
        }
        let once_key = keys::ask_member_once(chat, &viewer.aad);
        if !self.first_ask(&once_key).await {
            audit::record(&self.store, audit("refused", "rate_limited")).await;
            return Ok(Answer::Card(cards::request_sent(
                "You already asked the members of this chat in the last hour. They'll see your \
                 request in the chat; you can ask again later.",
            )));
        }
        let name = self.display_name(viewer, deadline).await;
        let request_id = uuid::Uuid::new_v4().to_string();
        let request = JoinRequestRecord {
            requester: viewer.aad.as_str().to_owned(),
            requester_mri: viewer.mri.clone(),
            requester_name: name.clone(),
            chat: chat.as_str().to_owned(),
            entity: record.entity,
            record_id: record.id.as_str().to_owned(),
            record_name: record_facts.name.clone(),
            card_activity_id: None,
        };
        let summary = RecordSummary {
            record: record.clone(),
            name: record_facts.name.clone(),
        };
        let card = cards::ask_to_join(&name, &summary, &request_id);
        let Some(posted) = self
            .post_in_chat(chat, service_url, &OutboundActivity::card(card), deadline)
            .await
        else {
            let _ = self.store.delete(&once_key).await;
            audit::record(&self.store, audit("failed", "bot_not_in_chat")).await;
            return Ok(Answer::Text(
                "I can't post in that chat because the bot isn't installed there. Ask one of its \
                 members directly, or ask your admin to add the bot to the chat."
                    .into(),
            ));
        };
        let request = JoinRequestRecord {
            card_activity_id: Some(posted).filter(|id| !id.is_empty()),
            ..request
        };
        let stored = self
            .store
            .set(
                &keys::request(&request_id),
                &serde_json::to_string(&request).unwrap_or_default(),
                keys::REQUEST_TTL,
            )
            .await;
        if let Err(error) = stored {
            // The card is in the chat but its Add button will say the request
            // is gone; the requester is told to try again.
            tracing::warn!(%error, "ask-a-member request not stored");
            let _ = self.store.delete(&once_key).await;
            return Ok(Answer::Card(cards::try_again(BUSY, None)));
        }
        audit::record(&self.store, audit("asked", "")).await;
        Ok(Answer::Card(cards::request_sent(&format!(
            "I asked the members of “{}” to add you. You'll hear from me here when someone does.",
            target.topic
        ))))
    }

    /// A member clicked Add on an ask card.
    pub async fn add(
        &self,
        clicker: &Viewer,
        data: &Value,
        service_url: &str,
        deadline: Instant,
    ) -> Result<Answer, FactsError> {
        let request_id = data
            .get("request")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let request = match self.store.get(&keys::request(request_id)).await {
            Ok(Some(raw)) => serde_json::from_str::<JoinRequestRecord>(&raw).ok(),
            Ok(None) => None,
            Err(error) => {
                tracing::warn!(%error, "request lookup failed");
                return Ok(Answer::Card(cards::try_again(BUSY, None)));
            }
        };
        let Some(request) = request else {
            return Ok(Answer::Text(
                "This request is no longer open. If they still need to join, they can ask again."
                    .into(),
            ));
        };
        let audit = |outcome: &'static str, reason: &'static str| AuditEvent {
            action: "add",
            actor: clicker.aad.as_str(),
            entity: Some(request.entity.logical_name()),
            record: Some(&request.record_id),
            chat: Some(&request.chat),
            outcome,
            reason,
        };
        // A card field naming someone else than the requester is a forgery.
        if card_data::names_someone_else(data, &[&request.requester, &request.requester_mri]) {
            audit::record(&self.store, audit("refused", "tampered_requester")).await;
            return Ok(Answer::Text(
                "This request can't be used to add that person.".into(),
            ));
        }
        let (Ok(chat), Ok(requester)) = (
            ChatId::parse(&request.chat),
            AadObjectId::parse(&request.requester),
        ) else {
            return Ok(Answer::Text("This request is no longer valid.".into()));
        };
        let graph = self.facts.graph();
        let members = match graph.members(&chat, deadline).await {
            Ok(members) => members,
            Err(error) => return Ok(graph_trouble(error)),
        };
        let is_member = |aad: &str| members.iter().any(|m| m.aad.eq_ignore_ascii_case(aad));
        if !is_member(clicker.aad.as_str()) {
            audit::record(&self.store, audit("refused", "clicker_not_member")).await;
            return Ok(Answer::Text(
                "Only members of this chat can add people to it.".into(),
            ));
        }
        let outcome = if is_member(requester.as_str()) {
            AddOutcome::AlreadyMember
        } else {
            match graph.add_member(&chat, &requester, deadline).await {
                Ok(outcome) => outcome,
                Err(error) => return Ok(graph_trouble(error)),
            }
        };
        let _ = self.store.delete(&keys::request(request_id)).await;
        let record = RecordRef {
            entity: request.entity,
            id: match crate::domain::RecordId::parse(&request.record_id) {
                Ok(id) => id,
                Err(_) => return Ok(Answer::Text("This request is no longer valid.".into())),
            },
        };
        self.facts.note_member(&record, &chat, &requester).await;
        audit::record(
            &self.store,
            audit(
                "added",
                if outcome == AddOutcome::Added {
                    ""
                } else {
                    "already_member"
                },
            ),
        )
        .await;

        let summary = RecordSummary {
            record,
            name: request.record_name.clone(),
        };
        if outcome == AddOutcome::Added {
            let notice = OutboundActivity::text(cards::joined_notice_text(
                &request.requester_name,
                &summary,
            ));
            self.post_in_chat(&chat, service_url, &notice, deadline)
                .await;
        }
        let adder = self.display_name(clicker, deadline).await;
        let told = self
            .tell(
                &request.requester,
                &OutboundActivity::text(format!(
                    "{adder} added you to the chat connected to {} ({}). You can see its entire history.",
                    request.record_name,
                    request.entity.display_name()
                )),
                deadline,
            )
            .await;
        // Everyone in the chat sees the ask answered; the clicker also gets
        // whether the requester could be told.
        let answered = cards::ask_answered(&request.requester_name, &adder, None);
        if let Some(activity_id) = &request.card_activity_id {
            let update = OutboundActivity::card(answered);
            if let Err(error) = self
                .connector
                .update(service_url, chat.as_str(), activity_id, &update, deadline)
                .await
            {
                tracing::warn!(%error, "the ask card was not updated");
            }
        }
        let note =
            (!told).then_some("I couldn't tell them myself: the bot isn't installed for them.");
        Ok(Answer::Card(cards::ask_answered(
            &request.requester_name,
            &adder,
            note,
        )))
    }

    // ---- ask your admin -----------------------------------------------------------------

    pub async fn ask_admin(
        &self,
        viewer: &Viewer,
        entity: EntityType,
        service_url: &str,
        deadline: Instant,
    ) -> Result<Answer, FactsError> {
        let audit = type_event("ask_admin", viewer, entity);
        let once_key = keys::ask_admin_once(entity, &viewer.aad);
        if !self.first_ask(&once_key).await {
            audit::record(&self.store, audit("refused", "rate_limited")).await;
            return Ok(Answer::Card(cards::request_sent(
                "You already asked your admins about this in the last hour; they have your request.",
            )));
        }
        let name = self.display_name(viewer, deadline).await;
        let card = OutboundActivity::card(cards::ask_admin_request(&name, entity));
        if let Some(chat) = &self.admin_chat {
            if self
                .post_in_chat(chat, service_url, &card, deadline)
                .await
                .is_some()
            {
                audit::record(&self.store, audit("asked", "admin_chat")).await;
                return Ok(Answer::Card(cards::request_sent(&format!(
                    "I asked your admins, in their chat, to turn on Join chat for {}.",
                    entity.display_plural()
                ))));
            }
            tracing::warn!(
                chat.id = chat.as_str(),
                "the admin chat is unreachable; asking admins 1:1"
            );
        }
        let admins = self.admins(deadline).await?;
        let mut reached = Vec::new();
        let mut unreachable = Vec::new();
        for admin in &admins {
            let delivered = match &admin.aad {
                Some(aad) => self.tell(aad, &card, deadline).await,
                None => false,
            };
            if delivered {
                reached.push(admin.name.clone());
            } else {
                unreachable.push(admin.name.clone());
            }
        }
        if reached.is_empty() {
            let _ = self.store.delete(&once_key).await;
            audit::record(&self.store, audit("failed", "no_admin_reachable")).await;
            let mut text = "I couldn't reach any admin".to_owned();
            if !unreachable.is_empty() {
                text.push_str(&format!(
                    " ({} — the bot isn't installed for them)",
                    unreachable.join(", ")
                ));
            }
            text.push_str(&format!(
                ". Ask your Dynamics 365 admin to turn on Join chat for {}.",
                entity.display_plural()
            ));
            return Ok(Answer::Text(text));
        }
        audit::record(&self.store, audit("asked", "")).await;
        let mut text = format!(
            "I asked {} to turn on Join chat for {}.",
            reached.join(", "),
            entity.display_plural()
        );
        if !unreachable.is_empty() {
            text.push_str(&format!(
                " I couldn't reach {} because the bot isn't installed for them.",
                unreachable.join(", ")
            ));
        }
        Ok(Answer::Card(cards::request_sent(&text)))
    }

    // ---- helpers ----------------------------------------------------------------------

    /// True for the first ask under `key` this hour. Without the store the
    /// ask goes through: a repeated ask is a nuisance, a lost one is worse.
    async fn first_ask(&self, key: &str) -> bool {
        self.store
            .set_if_absent(key, "1", keys::ASK_WINDOW)
            .await
            .unwrap_or(true)
    }

    async fn display_name(&self, viewer: &Viewer, deadline: Instant) -> String {
        match self.facts.user(&viewer.aad, deadline).await {
            Ok(Some(user)) if !user.name.is_empty() => user.name,
            _ => viewer.name.clone(),
        }
    }

    /// Posts into a group chat, installing the bot there first when it is
    /// missing and an app id is configured.
    /// Posts into a group chat, installing the bot there first when it is
    /// missing and an app id is configured. The posted activity's id, or
    /// `None` when the bot cannot post there.
    async fn post_in_chat(
        &self,
        chat: &ChatId,
        service_url: &str,
        activity: &OutboundActivity,
        deadline: Instant,
    ) -> Option<String> {
        let send = || {
            self.connector
                .send(service_url, chat.as_str(), None, activity, deadline)
        };
        match send().await {
            Ok(posted) => return Some(posted.id),
            Err(ConnectorError::NotInConversation) => {}
            Err(error) => {
                tracing::warn!(%error, "post into the chat failed");
                return None;
            }
        }
        let app_id = self.teams_app_id.as_ref()?;
        if let Err(error) = self.facts.graph().install_app(chat, app_id, deadline).await {
            tracing::info!(%error, "could not install the bot in the chat");
            return None;
        }
        send().await.ok().map(|posted| posted.id)
    }
}

const BUSY: &str =
    "Dynamics 365 or Teams is busy right now, so nothing was changed. Try again in a moment.";
const NOT_CONNECTED: &str = "That chat isn't connected to this record.";

/// The audit event of an action on a record type, by outcome and reason.
fn type_event<'a>(
    action: &'a str,
    viewer: &'a Viewer,
    entity: EntityType,
) -> impl Fn(&'a str, &'a str) -> AuditEvent<'a> {
    move |outcome, reason| AuditEvent {
        action,
        actor: viewer.aad.as_str(),
        entity: Some(entity.logical_name()),
        outcome,
        reason,
        ..AuditEvent::default()
    }
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn graph_trouble(error: GraphError) -> Answer {
    tracing::warn!(%error, "Graph failed during an add");
    Answer::Card(cards::try_again(BUSY, None))
}
