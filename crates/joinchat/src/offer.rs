//! The offer: when a record becomes someone's — assigned to them, or shared
//! with them for writing — Dataverse calls the webhook and that person gets
//! one 1:1 card with the record's connected chats, each as *they* see it
//! (Join, member, or locked with its cause and next steps).
//!
//! The webhook body is trusted for ids only: the person, the record, their
//! access and the chats are read from Dataverse and Graph again, and the view
//! is drawn by the same code as `chats for …` (`facts`, `policy`, `show`,
//! `cards`). Nothing is sent when the record has no connected chats, when the
//! person is in every one already, or when they cannot write to it.
//!
//! Dataverse may deliver a call twice: the call is marked taken in the store
//! (`keys::webhook_seen`), and the mark dropped again when the work failed so
//! that its retry runs. The work has a short budget: Dataverse waits for the
//! answer, and the card is posted before it.

use std::time::{Duration, Instant};

use crate::{
    admin::{conversations::ReachError, Conversations},
    audit::{self, AuditEvent},
    cards::{
        self,
        text::{offer_heading, offer_notice, OfferReason},
        RecordCard, RecordSummary,
    },
    clients::dataverse::webhook::{Event, ExecutionContext},
    context::Viewer,
    domain::{RecordId, RecordRef},
    facts::Facts,
    policy::Decision,
    show,
    store::{keys, Store},
    teams::OutboundActivity,
};

/// One Dataverse webhook call, as the HTTP edge read it.
#[derive(Debug, Clone)]
pub struct WebhookCall {
    pub context: ExecutionContext,
    /// The `x-request-id` header, when Dataverse sent one.
    pub request_id_header: Option<String>,
}

/// What came of a webhook call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferOutcome {
    /// The card went out.
    Offered,
    /// The same call was taken before: nothing done.
    Duplicate,
    /// Nothing to send, and why.
    Nothing(&'static str),
    /// The person could not be reached 1:1 (nothing sent; a retry won't help).
    Unreachable,
    /// Something failed that a retry may fix; nothing was sent.
    Failed,
}

impl OfferOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            OfferOutcome::Offered => "offered",
            OfferOutcome::Duplicate => "duplicate",
            OfferOutcome::Nothing(_) => "nothing",
            OfferOutcome::Unreachable => "unreachable",
            OfferOutcome::Failed => "failed",
        }
    }
}

/// The offer use case, with what it reads from and posts through.
#[derive(Clone)]
pub struct Offers {
    facts: Facts,
    store: Store,
    conversations: Conversations,
    budget: Duration,
}

impl Offers {
    pub fn new(
        facts: Facts,
        store: Store,
        conversations: Conversations,
        budget: Duration,
    ) -> Offers {
        Offers {
            facts,
            store,
            conversations,
            budget,
        }
    }

    /// Handles one webhook call within the budget; the card, when there is
    /// one, has been posted when this returns.
    pub async fn handle(&self, call: &WebhookCall) -> OfferOutcome {
        let (record, person, reason) = match &call.context.event {
            Event::Assigned { record, owner } => (record, owner, OfferReason::NewOwner),
            Event::SharedForWrite { record, user } => (record, user, OfferReason::SharedForWrite),
            Event::Ignored(why) => {
                tracing::info!(message = %call.context.message, reason = why, "webhook call: nothing to offer");
                let event = AuditEvent {
                    action: "offer",
                    outcome: "nothing",
                    reason: why,
                    ..AuditEvent::default()
                };
                audit::record(&self.store, event).await;
                return OfferOutcome::Nothing(why);
            }
        };
        let seen = self.first_delivery(call, record).await;
        let Some(seen) = seen else {
            tracing::info!(message = %call.context.message, "webhook call delivered again; nothing done");
            return OfferOutcome::Duplicate;
        };
        let deadline = Instant::now() + self.budget;
        let outcome =
            tokio::time::timeout(self.budget, self.offer(record, person, reason, deadline))
                .await
                .unwrap_or_else(|_| {
                    tracing::warn!("the offer ran out of time");
                    OfferOutcome::Failed
                });
        if outcome == OfferOutcome::Failed {
            // Dataverse's retry of this call must not be taken for a duplicate.
            if let Some(key) = seen {
                if let Err(error) = self.store.delete(&key).await {
                    tracing::warn!(%error, "could not clear the webhook's dedupe mark");
                }
            }
        }
        outcome
    }

    /// `None` when the call was taken before; else the mark to drop if the
    /// work fails (`Some(None)`: no id to dedupe on, or no store to do it).
    async fn first_delivery(
        &self,
        call: &WebhookCall,
        record: &RecordRef,
    ) -> Option<Option<String>> {
        let context = &call.context;
        let Some(event_id) = context
            .operation_id
            .as_deref()
            .or(context.request_id.as_deref())
            .or(call.request_id_header.as_deref())
        else {
            tracing::warn!("webhook call without an id to dedupe on");
            return Some(None);
        };
        let key = keys::webhook_seen(&context.message, record, event_id);
        match self
            .store
            .set_if_absent(&key, "1", keys::WEBHOOK_SEEN_TTL)
            .await
        {
            Ok(true) => Some(Some(key)),
            Ok(false) => None,
            Err(error) => {
                // Sending twice beats never: the offer mark below still
                // catches most repeats.
                tracing::warn!(%error, "webhook dedupe skipped: store unavailable");
                Some(None)
            }
        }
    }

    async fn offer(
        &self,
        record: &RecordRef,
        person: &RecordId,
        reason: OfferReason,
        deadline: Instant,
    ) -> OfferOutcome {
        let user = match self.facts.dataverse().user_by_id(person, deadline).await {
            Ok(Some(user)) => user,
            Ok(None) => return self.nothing(record, "", "unknown_user").await,
            Err(error) => {
                tracing::warn!(%error, "the person could not be read from Dataverse");
                return self.failed(record, "", "dataverse").await;
            }
        };
        let Some(aad) = user.aad.clone() else {
            return self.nothing(record, "", "not_in_entra").await;
        };
        let actor = aad.as_str();
        if user.disabled {
            return self.nothing(record, actor, "disabled").await;
        }
        // Everything anew from Dataverse and Graph: the webhook named ids only.
        let view = match self.facts.view(&aad, record, None, true, deadline).await {
            Ok(view) => view,
            Err(error) => {
                tracing::warn!(%error, "the record's facts could not be read");
                return self.failed(record, actor, "facts").await;
            }
        };
        let Some(record_facts) = view.record.as_ref().filter(|_| view.access.write) else {
            return self.nothing(record, actor, "no_write_access").await;
        };
        // Read once: its Teams user id for the card's refresh, and where to post.
        let reference = self.conversations.reference(actor).await;
        let viewer = Viewer {
            aad: aad.clone(),
            mri: reference
                .as_ref()
                .map(|r| r.user_id.clone())
                .unwrap_or_default(),
            name: user.name.clone(),
        };
        let chats = show::chat_entries(&viewer, &view, record_facts);
        if chats.is_empty() {
            return self.nothing(record, actor, "no_chats").await;
        }
        if chats.iter().all(|chat| chat.decision == Decision::Member) {
            return self.nothing(record, actor, "member_of_every_chat").await;
        }
        let offered = keys::offered(&aad, record);
        if !self.first_offer(&offered).await {
            return self.nothing(record, actor, "offered_recently").await;
        }
        let summary = RecordSummary {
            record: record.clone(),
            name: record_facts.name.clone(),
        };
        let refresh = [viewer.mri.clone()];
        let card = cards::offer(
            &RecordCard {
                record: &summary,
                chats: &chats,
                // Opened later, the card refreshes to their view of that moment.
                refresh_user_ids: (!viewer.mri.is_empty()).then_some(&refresh[..]),
                notice: Some(offer_notice(reason)),
                viewer: Some(actor),
            },
            &offer_heading(reason, record.entity, &record_facts.name, chats.len()),
        );
        let sent = self
            .conversations
            .send_via(&aad, reference, &OutboundActivity::card(card), deadline)
            .await;
        match sent {
            Ok(reached) => {
                tracing::info!(
                    user.aad = actor,
                    record = %record,
                    chats = chats.len(),
                    reached = ?reached,
                    "offered a record's chats"
                );
                let why = match reason {
                    OfferReason::NewOwner => "new_owner",
                    OfferReason::SharedForWrite => "shared_for_write",
                };
                self.note(record, actor, "offered", why).await;
                OfferOutcome::Offered
            }
            // Sent, and the answer lost: the card may be there. It is not
            // sent again (the Connector cannot say), nor by Dataverse's retry.
            Err(ReachError::Connector(error)) if error.maybe_delivered() => {
                tracing::warn!(%error, user.aad = actor, "the offer may have been posted; not sent again");
                self.note(record, actor, "uncertain", "maybe_posted").await;
                OfferOutcome::Offered
            }
            Err(error) => {
                if let Err(error) = self.store.delete(&offered).await {
                    tracing::warn!(%error, "could not clear the offer mark");
                }
                if error.is_transient() {
                    tracing::warn!(%error, "the offer could not be posted; Dataverse may retry");
                    return self.failed(record, actor, "not_posted").await;
                }
                tracing::info!(%error, user.aad = actor, "the offer's recipient cannot be reached 1:1");
                self.note(record, actor, "failed", "unreachable").await;
                OfferOutcome::Unreachable
            }
        }
    }

    /// True for the first offer of this record to this person in a while.
    /// Without the store the offer goes out.
    async fn first_offer(&self, key: &str) -> bool {
        self.store
            .set_if_absent(key, "1", keys::OFFERED_TTL)
            .await
            .unwrap_or(true)
    }

    async fn nothing(&self, record: &RecordRef, actor: &str, why: &'static str) -> OfferOutcome {
        self.note(record, actor, "nothing", why).await;
        OfferOutcome::Nothing(why)
    }

    async fn failed(&self, record: &RecordRef, actor: &str, why: &'static str) -> OfferOutcome {
        self.note(record, actor, "failed", why).await;
        OfferOutcome::Failed
    }

    /// The decision in the audit trail (`actor`: the person offered to, when known).
    async fn note(&self, record: &RecordRef, actor: &str, outcome: &str, why: &str) {
        let event = AuditEvent {
            action: "offer",
            actor,
            entity: Some(record.entity.logical_name()),
            record: Some(record.id.as_str()),
            chat: None,
            outcome,
            reason: why,
            failure: None,
        };
        audit::record(&self.store, event).await;
    }
}
