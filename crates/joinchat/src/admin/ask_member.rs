//! Ask a member: "<Name> asks to join this chat" with an **Add** button,
//! posted into the chat; a member's click re-checks their membership, adds
//! the requester with the entire history, updates the card and tells the
//! requester.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::AdminDesk;
use crate::{
    actions::NamedPeople,
    audit::{self, AuditEvent},
    cards::{self, text::BUSY},
    clients::graph::{AddOutcome, GraphError},
    context::{Answer, Viewer},
    domain::{AadObjectId, ChatId, EntityType, RecordId, RecordRef},
    facts::FactsError,
    store::keys,
    teams::OutboundActivity,
};

/// An open ask-a-member request, kept until someone adds the requester.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AskRecord {
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

impl AdminDesk {
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
            failure: None,
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
            return Ok(Answer::Text(cards::text::ASK_NOT_CONNECTED.into()));
        };
        if target.has_member(&viewer.aad) {
            return Ok(Answer::Text(cards::text::ALREADY_MEMBER.into()));
        }
        let once_key = keys::ask_member_once(chat, &viewer.aad);
        if !self.first_ask(&once_key).await {
            audit::record(&self.store, audit("refused", "rate_limited")).await;
            return Ok(Answer::Card(cards::request_sent(
                cards::text::ASKED_MEMBERS_RECENTLY,
            )));
        }
        let name = self.display_name(viewer, deadline).await;
        let request_id = uuid::Uuid::new_v4().to_string();
        let request = AskRecord {
            requester: viewer.aad.as_str().to_owned(),
            requester_mri: viewer.mri.clone(),
            requester_name: name.clone(),
            chat: chat.as_str().to_owned(),
            entity: record.entity,
            record_id: record.id.as_str().to_owned(),
            record_name: record_facts.name.clone(),
            card_activity_id: None,
        };
        let card = cards::ask_to_join(&name, &request_id);
        let posted = self
            .notifier
            .post_in_chat(chat, service_url, &OutboundActivity::card(card), deadline)
            .await;
        // A card that may be in the chat is kept answerable (its Add works),
        // just not updated later: it is never posted twice.
        if !posted.reached() {
            let _ = self.store.delete(&once_key).await;
            audit::record(&self.store, audit("failed", "bot_not_in_chat")).await;
            return Ok(Answer::Text(cards::text::ASK_BOT_MISSING.into()));
        }
        let request = AskRecord {
            card_activity_id: posted.id().map(str::to_owned),
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
        Ok(Answer::Card(cards::request_sent(
            &cards::text::asked_members(&target.topic),
        )))
    }

    /// A member clicked Add on an ask card.
    pub async fn add(
        &self,
        clicker: &Viewer,
        request_id: &str,
        named: &NamedPeople,
        service_url: &str,
        deadline: Instant,
    ) -> Result<Answer, FactsError> {
        let request = match self.store.get(&keys::request(request_id)).await {
            Ok(Some(raw)) => serde_json::from_str::<AskRecord>(&raw).ok(),
            Ok(None) => None,
            Err(error) => {
                tracing::warn!(%error, "request lookup failed");
                return Ok(Answer::Card(cards::try_again(BUSY, None)));
            }
        };
        let Some(request) = request else {
            return Ok(Answer::Text(cards::text::REQUEST_CLOSED.into()));
        };
        let audit = |outcome: &'static str, reason: &'static str| AuditEvent {
            action: "add",
            actor: clicker.aad.as_str(),
            entity: Some(request.entity.logical_name()),
            record: Some(&request.record_id),
            chat: Some(&request.chat),
            outcome,
            reason,
            failure: None,
        };
        // A card field naming someone else than the requester is a forgery.
        if named.other_than(&[&request.requester, &request.requester_mri]) {
            audit::record(&self.store, audit("refused", "tampered_requester")).await;
            return Ok(Answer::Text(cards::text::REQUEST_FORGED.into()));
        }
        let (Ok(chat), Ok(requester)) = (
            ChatId::parse(&request.chat),
            AadObjectId::parse(&request.requester),
        ) else {
            return Ok(Answer::Text(cards::text::REQUEST_INVALID.into()));
        };
        let graph = self.facts.graph();
        // A Graph failure is audited with its kind and answered "try again"
        // (the caller's), and a redelivery of this click runs again.
        let graph_failed = |error: GraphError| async move {
            tracing::warn!(%error, "Graph failed during an add");
            audit::record(
                &self.store,
                AuditEvent {
                    failure: Some(error.kind()),
                    ..audit("failed", "graph_failed")
                },
            )
            .await;
            Err(FactsError::Graph(error))
        };
        let members = match graph.members(&chat, deadline).await {
            Ok(members) => members,
            Err(error) => return graph_failed(error).await,
        };
        let is_member = |aad: &str| members.iter().any(|m| m.aad.eq_ignore_ascii_case(aad));
        if !is_member(clicker.aad.as_str()) {
            audit::record(&self.store, audit("refused", "clicker_not_member")).await;
            return Ok(Answer::Text(cards::text::ONLY_MEMBERS_ADD.into()));
        }
        let outcome = if is_member(requester.as_str()) {
            AddOutcome::AlreadyMember
        } else {
            match graph.add_member(&chat, &requester, deadline).await {
                Ok(outcome) => outcome,
                Err(error) => return graph_failed(error).await,
            }
        };
        let _ = self.store.delete(&keys::request(request_id)).await;
        let record = RecordRef {
            entity: request.entity,
            id: match RecordId::parse(&request.record_id) {
                Ok(id) => id,
                Err(_) => return Ok(Answer::Text(cards::text::REQUEST_INVALID.into())),
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

        if outcome == AddOutcome::Added {
            self.notifier
                .joined_notice(
                    &requester,
                    &request.requester_name,
                    &record,
                    &chat,
                    service_url,
                    deadline,
                )
                .await;
        }
        let adder = self.display_name(clicker, deadline).await;
        let told = self
            .conversations
            .tell(
                &request.requester,
                &OutboundActivity::text(cards::text::you_were_added(
                    &adder,
                    &request.record_name,
                    request.entity,
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
                .notifier
                .connector
                .update(service_url, chat.as_str(), activity_id, &update, deadline)
                .await
            {
                tracing::warn!(%error, "the ask card was not updated");
            }
        }
        let note = (!told).then_some(cards::text::REQUESTER_UNREACHABLE);
        Ok(Answer::Card(cards::ask_answered(
            &request.requester_name,
            &adder,
            note,
        )))
    }
}
