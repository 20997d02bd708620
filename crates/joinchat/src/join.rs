//! The join use case: re-check everything on the server, take a per-(chat,
//! user) lock, add the seller to the chat through Graph with the entire
//! history, tell the chat, audit, and answer the click with the card that
//! shows what happened.
//!
//! Card data is never trusted: the chat must be connected to the record *now*,
//! the record type enabled *now* and the caller able to write the record *now*
//! (fresh Dataverse reads). Refusals make no Graph call at all. "Already a
//! member" is success.

use std::time::{Duration, Instant};

use crate::{
    actions::{CardAction, NamedPeople},
    admin::Notifier,
    audit::{self, AuditEvent},
    cards::{self, text},
    clients::graph::{AddOutcome, GraphError},
    context::{Place, Viewer},
    domain::{AadObjectId, ChatId, RecordRef},
    facts::{Facts, FactsError},
    policy::{self, Decision},
    show::{Marks, Shows},
    store::{keys, Store},
    teams::InvokeResponse,
};

/// Who wants to join what, as re-derived from the invoke.
struct JoinRequest<'a> {
    pub user: &'a AadObjectId,
    /// Shown in the joined notice; from Dataverse when known.
    pub user_name: &'a str,
    pub chat: &'a ChatId,
    pub record: &'a RecordRef,
    /// The Connector to post the notice through (the verified activity's).
    pub service_url: &'a str,
    /// A user id the card data carried that is not the caller's.
    pub tampered_user: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinOutcome {
    /// Added now. `notice_posted` is false when the bot could not post in the chat.
    Joined { notice_posted: bool },
    /// Was (or became, through a concurrent click) a member already.
    AlreadyMember,
    /// The policy says no: the decision carries the cause.
    Refused(Decision),
    /// The record does not exist or the caller cannot read it.
    Hidden,
    /// The chat is not connected to that record (tampered or stale card).
    NotConnected,
    /// The card data names someone other than the caller (forged, or a card
    /// drawn for someone else).
    NotYours,
    /// A dependency is throttled or down; nothing was changed.
    TryAgain,
    /// Graph refused to add the member (a blocked roster, a chat it won't change).
    GraphRefused,
    /// Graph failed during the add (throttled, down, or an answer lost and
    /// the members unreadable), by kind: nothing is known to have changed.
    GraphFailed(&'static str),
    /// Graph or Dataverse refused the bot itself (403): it lacks a
    /// permission; nothing was changed and an admin must fix it.
    NotSetUp,
}

impl JoinOutcome {
    /// The outcome label of the activity (metrics, logs).
    fn label(&self) -> &'static str {
        match self {
            JoinOutcome::Joined { .. } => "joined",
            JoinOutcome::AlreadyMember => "member",
            JoinOutcome::Refused(_) | JoinOutcome::NotConnected | JoinOutcome::NotYours => {
                "refused"
            }
            JoinOutcome::Hidden => "hidden",
            JoinOutcome::TryAgain | JoinOutcome::GraphRefused | JoinOutcome::GraphFailed(_) => {
                "failed"
            }
            JoinOutcome::NotSetUp => "not_set_up",
        }
    }

    fn audit(&self) -> (&'static str, &'static str) {
        match self {
            JoinOutcome::Joined {
                notice_posted: true,
            } => ("joined", ""),
            JoinOutcome::Joined {
                notice_posted: false,
            } => ("joined", "notice_not_posted"),
            JoinOutcome::AlreadyMember => ("member", ""),
            JoinOutcome::Refused(Decision::Locked {
                type_disabled: true,
                read_only: true,
            }) => ("locked", "type_disabled,read_only"),
            JoinOutcome::Refused(Decision::Locked {
                type_disabled: true,
                ..
            }) => ("locked", "type_disabled"),
            JoinOutcome::Refused(Decision::Locked { .. }) => ("locked", "read_only"),
            JoinOutcome::Refused(_) => ("refused", ""),
            JoinOutcome::Hidden => ("hidden", "no_read_access_or_missing"),
            JoinOutcome::NotConnected => ("refused", "not_connected"),
            JoinOutcome::NotYours => ("refused", "tampered_user"),
            JoinOutcome::TryAgain => ("failed", "dependency_unavailable"),
            JoinOutcome::GraphRefused => ("failed", "graph_refused"),
            JoinOutcome::GraphFailed(_) => ("failed", "graph_failed"),
            JoinOutcome::NotSetUp => ("failed", "not_set_up"),
        }
    }
}

#[derive(Clone)]
pub struct Joiner {
    pub facts: Facts,
    pub store: Store,
    pub notifier: Notifier,
    pub shows: Shows,
}

impl Joiner {
    /// A click on **Join**: the join, then the card that answers the click.
    pub async fn click(
        &self,
        viewer: &Viewer,
        place: Place<'_>,
        chat: &ChatId,
        record: &RecordRef,
        named: &NamedPeople,
        deadline: Instant,
    ) -> (InvokeResponse, &'static str) {
        let name = self.facts.display_name(viewer, deadline).await;
        let request = JoinRequest {
            user: &viewer.aad,
            user_name: &name,
            chat,
            record,
            service_url: place.service_url,
            tampered_user: named.other_than(&[viewer.aad.as_str(), &viewer.mri]),
        };
        let outcome = self.join(&request, deadline).await;
        let label = outcome.label();
        let answer = self
            .answer(viewer, place, chat, record, outcome, deadline)
            .await;
        (answer, label)
    }

    /// The card after a join: the record's chats with this one marked, or
    /// the refusal with its cause.
    async fn answer(
        &self,
        viewer: &Viewer,
        place: Place<'_>,
        chat: &ChatId,
        record: &RecordRef,
        outcome: JoinOutcome,
        deadline: Instant,
    ) -> InvokeResponse {
        let retry = || {
            let again = CardAction::Join {
                chat: chat.clone(),
                record: record.clone(),
            };
            cards::try_again(text::BUSY, Some(&again))
        };
        let (notice, just_joined) = match &outcome {
            JoinOutcome::Joined {
                notice_posted: true,
            } => (None, Some(chat)),
            JoinOutcome::Joined {
                notice_posted: false,
            } => (Some(text::NOTICE_SKIPPED), Some(chat)),
            JoinOutcome::AlreadyMember => (None, None),
            JoinOutcome::Hidden => {
                return InvokeResponse::card(cards::text_card(&cards::not_found(
                    record.entity,
                    record.id.as_str(),
                )))
            }
            JoinOutcome::TryAgain | JoinOutcome::GraphFailed(_) => {
                return InvokeResponse::card(retry())
            }
            JoinOutcome::GraphRefused => {
                return InvokeResponse::card(cards::try_again(text::GRAPH_REFUSED, None));
            }
            JoinOutcome::NotSetUp => return InvokeResponse::card(cards::not_set_up()),
            JoinOutcome::NotConnected | JoinOutcome::NotYours => {
                // Locked, but for no cause of the behaviour table: say which.
                let decision = Decision::Locked {
                    type_disabled: false,
                    read_only: false,
                };
                let notice = if outcome == JoinOutcome::NotYours {
                    text::LOCKED_NOT_YOURS
                } else {
                    text::LOCKED_NOT_CONNECTED
                };
                return self
                    .shows
                    .locked_chat(viewer, chat, record, decision, Some(notice))
                    .await;
            }
            JoinOutcome::Refused(decision) => {
                return self
                    .shows
                    .locked_chat(viewer, chat, record, *decision, None)
                    .await;
            }
        };
        let marks = Marks {
            just_joined,
            notice,
        };
        match self
            .shows
            .record_card(viewer, place, record, record.id.as_str(), marks, deadline)
            .await
        {
            Ok(answer) => answer.into_invoke(),
            Err(error) => {
                tracing::warn!(%error, "joined, but the card could not be redrawn");
                InvokeResponse::card(cards::text_card(text::JOINED_REDRAW_FAILED))
            }
        }
    }

    async fn join(&self, request: &JoinRequest<'_>, deadline: Instant) -> JoinOutcome {
        let outcome = self.decide_and_join(request, deadline).await;
        let (result, reason) = outcome.audit();
        audit::record(
            &self.store,
            AuditEvent {
                action: "join",
                actor: request.user.as_str(),
                entity: Some(request.record.entity.logical_name()),
                record: Some(request.record.id.as_str()),
                chat: Some(request.chat.as_str()),
                outcome: result,
                reason,
                failure: match &outcome {
                    JoinOutcome::GraphFailed(kind) => Some(kind),
                    _ => None,
                },
            },
        )
        .await;
        outcome
    }

    async fn decide_and_join(&self, request: &JoinRequest<'_>, deadline: Instant) -> JoinOutcome {
        // Fresh facts from Dataverse only: no Graph call before the verdict.
        match self.check(request, deadline).await {
            // A card naming someone else is refused even where the caller
            // could join: it was not drawn for them (or was forged).
            Ok(Ok(())) if request.tampered_user => return JoinOutcome::NotYours,
            Ok(Ok(())) => {}
            Ok(Err(refusal)) => return refusal,
            Err(error) if error.is_setup_problem() => return JoinOutcome::NotSetUp,
            Err(error) => {
                tracing::warn!(%error, "join re-check failed");
                return JoinOutcome::TryAgain;
            }
        }

        let lock_key = keys::join_lock(request.chat, request.user);
        let lock_token = uuid::Uuid::new_v4().to_string();
        let locked = match self
            .store
            .set_if_absent(&lock_key, &lock_token, keys::JOIN_LOCK_TTL)
            .await
        {
            Ok(true) => true,
            Ok(false) => {
                // Someone (a double click, another replica) is joining this
                // user to this chat right now: wait for them, then report.
                self.wait_for_release(&lock_key, deadline).await;
                return match self.is_member(request, deadline).await {
                    Ok(true) => JoinOutcome::AlreadyMember,
                    Ok(false) | Err(_) => JoinOutcome::TryAgain,
                };
            }
            Err(error) => {
                // No lock without the store; the membership check below still
                // keeps a second add from happening in all but a photo finish,
                // and Graph answers a duplicate add as "already exists".
                tracing::warn!(%error, "join lock unavailable; relying on the membership check");
                false
            }
        };
        let outcome = self.add(request, deadline).await;
        if locked {
            if let Err(error) = self.store.delete_if_equals(&lock_key, &lock_token).await {
                tracing::warn!(%error, "join lock not released; it expires by itself");
            }
        }
        outcome
    }

    /// The server-side re-check. `Ok(Err(_))` is a refusal.
    async fn check(
        &self,
        request: &JoinRequest<'_>,
        deadline: Instant,
    ) -> Result<Result<(), JoinOutcome>, FactsError> {
        let dataverse = self.facts.dataverse();
        // Fresh, every one of them, and read side by side: the switch, the
        // caller's rights on the record (a user disabled a minute ago is
        // refused), and the chats connected to it.
        let rights = async {
            match dataverse.user_by_aad(request.user, deadline).await? {
                Some(user) if !user.disabled => {
                    dataverse.access(&user.id, request.record, deadline).await
                }
                _ => Ok(None),
            }
        };
        let (settings, access, connected) = futures::try_join!(
            dataverse.join_chat_settings(deadline),
            rights,
            dataverse.connected_chats(request.record, deadline),
        )?;
        let join_enabled = settings
            .iter()
            .any(|s| s.entity == request.record.entity && s.enabled);
        let Some(access) = access.filter(|access| access.read) else {
            return Ok(Err(JoinOutcome::Hidden));
        };
        if !connected.contains(request.chat) {
            return Ok(Err(JoinOutcome::NotConnected));
        }
        let facts = policy::Situation {
            can_read: access.read,
            can_write: access.write,
            join_enabled,
            // Membership is checked (in Graph) only once everything else allows the join.
            is_member: false,
        };
        match policy::decide(facts) {
            Decision::Joinable => Ok(Ok(())),
            other => Ok(Err(JoinOutcome::Refused(other))),
        }
    }

    async fn add(&self, request: &JoinRequest<'_>, deadline: Instant) -> JoinOutcome {
        let graph = self.facts.graph();
        match self.is_member(request, deadline).await {
            Ok(true) => {
                self.facts
                    .note_member(request.record, request.chat, request.user)
                    .await;
                return JoinOutcome::AlreadyMember;
            }
            Ok(false) => {}
            Err(outcome) => return outcome,
        }
        match graph.add_member(request.chat, request.user, deadline).await {
            Ok(AddOutcome::AlreadyMember) => {
                self.facts
                    .note_member(request.record, request.chat, request.user)
                    .await;
                return JoinOutcome::AlreadyMember;
            }
            Ok(AddOutcome::Added) => {}
            Err(GraphError::Call(error)) => {
                tracing::warn!(%error, "Graph add failed");
                return JoinOutcome::GraphFailed(error.kind());
            }
            // Logged and counted by the Graph client.
            Err(GraphError::Forbidden { .. }) => return JoinOutcome::NotSetUp,
            Err(error) => {
                tracing::warn!(%error, "Graph refused the add");
                return JoinOutcome::GraphRefused;
            }
        }
        self.facts
            .note_member(request.record, request.chat, request.user)
            .await;
        let notice_posted = self.post_notice(request, deadline).await;
        JoinOutcome::Joined { notice_posted }
    }

    async fn is_member(
        &self,
        request: &JoinRequest<'_>,
        deadline: Instant,
    ) -> Result<bool, JoinOutcome> {
        match self.facts.graph().members(request.chat, deadline).await {
            Ok(members) => Ok(members
                .iter()
                .any(|m| m.aad.eq_ignore_ascii_case(request.user.as_str()))),
            Err(GraphError::Call(error)) => {
                tracing::warn!(%error, "Graph members unavailable");
                Err(JoinOutcome::GraphFailed(error.kind()))
            }
            Err(GraphError::Forbidden { .. }) => Err(JoinOutcome::NotSetUp),
            Err(error) => {
                tracing::warn!(%error, "Graph refused to list members");
                Err(JoinOutcome::GraphRefused)
            }
        }
    }

    async fn wait_for_release(&self, lock_key: &str, deadline: Instant) {
        while Instant::now() + Duration::from_millis(100) < deadline {
            match self.store.get(lock_key).await {
                Ok(Some(_)) => tokio::time::sleep(Duration::from_millis(50)).await,
                _ => return,
            }
        }
    }

    /// "Name joined the chat", posted into the chat (the bot installs itself
    /// there first when it is missing and may).
    /// A notice that may have arrived counts as posted: it is never sent twice.
    async fn post_notice(&self, request: &JoinRequest<'_>, deadline: Instant) -> bool {
        let posted = self
            .notifier
            .joined_notice(
                request.user,
                request.user_name,
                request.chat,
                request.service_url,
                deadline,
            )
            .await;
        if !posted.reached() {
            tracing::info!(chat.id = request.chat.as_str(), "joined notice not posted");
        }
        posted.reached()
    }
}
