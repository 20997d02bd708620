//! The join use case: re-check everything on the server, take a per-(chat,
//! user) lock, add the seller to the chat through Graph with the entire
//! history, audit, answer the click with the card that shows what happened,
//! and then tell the chat (`notice`).
//!
//! Card data is never trusted: the chat must be connected to the record *now*,
//! the record type enabled *now* and the caller able to write the record *now*
//! (fresh Dataverse reads, side by side). Refusals make no Graph call at all.
//! "Already a member" is success.
//!
//! Round trips, cold: the re-check (the systemuser, then its rights, while
//! the switch, the record and its chat associations are read alongside), the
//! membership (with the record's chats described for the card, if they are
//! not cached), the add. The card is then drawn from the cache, and the
//! notice goes out after the answer.

mod notice;

use std::time::{Duration, Instant};

pub use self::notice::Followups;
use crate::{
    actions::{CardAction, NamedPeople},
    admin::Notifier,
    audit::{self, AuditEvent},
    cards::{self, text},
    clients::graph::{AddOutcome, GraphError},
    context::{Place, Viewer},
    domain::{AadObjectId, ChatId, RecordRef},
    facts::{Facts, FactsError, RecordRows},
    policy::{self, Decision},
    show::{Marks, Shows},
    store::{keys, Store},
    teams::InvokeResponse,
};

/// Who wants to join what, as re-derived from the invoke.
struct JoinRequest<'a> {
    pub user: &'a AadObjectId,
    pub chat: &'a ChatId,
    pub record: &'a RecordRef,
    /// A user id the card data carried that is not the caller's.
    pub tampered_user: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinOutcome {
    /// Added now; the notice follows.
    Joined,
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
            JoinOutcome::Joined => "joined",
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
            JoinOutcome::Joined => ("joined", ""),
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
    /// Notices on their way.
    pub followups: Followups,
    /// The time a notice may take, from the join's answer.
    pub notice_budget: Duration,
}

/// What the re-check found, for what follows a positive verdict.
struct Checked {
    /// The caller's name as Dataverse knows it.
    name: Option<String>,
    /// The record's row and chats (to draw the card).
    rows: RecordRows,
}

impl Joiner {
    /// A click on **Join**: the join, then the card that answers the click;
    /// the notice into the chat follows the answer.
    pub async fn click(
        &self,
        viewer: &Viewer,
        place: Place<'_>,
        chat: &ChatId,
        record: &RecordRef,
        named: &NamedPeople,
        deadline: Instant,
    ) -> (InvokeResponse, &'static str) {
        let request = JoinRequest {
            user: &viewer.aad,
            chat,
            record,
            tampered_user: named.other_than(&[viewer.aad.as_str(), &viewer.mri]),
        };
        let (outcome, name) = self.join(&request, deadline).await;
        let label = outcome.label();
        let joined = outcome == JoinOutcome::Joined;
        let answer = self
            .answer(viewer, place, chat, record, outcome, deadline)
            .await;
        if joined {
            let notice = notice::Notice {
                chat: chat.clone(),
                record: record.clone(),
                user: viewer.aad.clone(),
                user_name: name
                    .filter(|name| !name.is_empty())
                    .unwrap_or_else(|| viewer.name.clone()),
                service_url: place.service_url.to_owned(),
            };
            let notifier = self.notifier.clone();
            self.followups
                .spawn(notice::post(notifier, notice, self.notice_budget));
        }
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
        let just_joined = match &outcome {
            JoinOutcome::Joined => Some(chat),
            JoinOutcome::AlreadyMember => None,
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
            notice: None,
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

    /// The join and its audit event; the caller's name when it was read.
    async fn join(
        &self,
        request: &JoinRequest<'_>,
        deadline: Instant,
    ) -> (JoinOutcome, Option<String>) {
        let (outcome, name) = self.decide_and_join(request, deadline).await;
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
        (outcome, name)
    }

    async fn decide_and_join(
        &self,
        request: &JoinRequest<'_>,
        deadline: Instant,
    ) -> (JoinOutcome, Option<String>) {
        // Fresh facts from Dataverse only: no Graph call before the verdict.
        let checked = match self.check(request, deadline).await {
            // A card naming someone else is refused even where the caller
            // could join: it was not drawn for them (or was forged).
            Ok(Ok(_)) if request.tampered_user => return (JoinOutcome::NotYours, None),
            Ok(Ok(checked)) => checked,
            Ok(Err(refusal)) => return (refusal, None),
            Err(error) if error.is_setup_problem() => return (JoinOutcome::NotSetUp, None),
            Err(error) => {
                tracing::warn!(%error, "join re-check failed");
                return (JoinOutcome::TryAgain, None);
            }
        };
        let Checked { name, rows } = checked;

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
                let outcome = match self.is_member(request, deadline).await {
                    Ok(true) => JoinOutcome::AlreadyMember,
                    Ok(false) | Err(_) => JoinOutcome::TryAgain,
                };
                return (outcome, name);
            }
            Err(error) => {
                // No lock without the store; the membership check below still
                // keeps a second add from happening in all but a photo finish,
                // and Graph answers a duplicate add as "already exists".
                tracing::warn!(%error, "join lock unavailable; relying on the membership check");
                false
            }
        };
        let outcome = self.add(request, rows, deadline).await;
        if locked {
            if let Err(error) = self.store.delete_if_equals(&lock_key, &lock_token).await {
                tracing::warn!(%error, "join lock not released; it expires by itself");
            }
        }
        (outcome, name)
    }

    /// The server-side re-check. `Ok(Err(_))` is a refusal.
    async fn check(
        &self,
        request: &JoinRequest<'_>,
        deadline: Instant,
    ) -> Result<Result<Checked, JoinOutcome>, FactsError> {
        // Fresh, every one of them, and read side by side: the switch, the
        // caller's rights on the record (a user disabled a minute ago is
        // refused), the record and the chats connected to it.
        let fresh = self
            .facts
            .fresh(request.user, request.record, deadline)
            .await?;
        let join_enabled = fresh
            .settings
            .iter()
            .any(|s| s.entity == request.record.entity && s.enabled);
        let name = fresh.user.as_ref().map(|user| user.name.clone());
        let (Some(access), Some(rows)) = (fresh.access.filter(|access| access.read), fresh.rows)
        else {
            return Ok(Err(JoinOutcome::Hidden));
        };
        if !rows.chats.contains(request.chat) {
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
            Decision::Joinable => Ok(Ok(Checked { name, rows })),
            other => Ok(Err(JoinOutcome::Refused(other))),
        }
    }

    async fn add(
        &self,
        request: &JoinRequest<'_>,
        rows: RecordRows,
        deadline: Instant,
    ) -> JoinOutcome {
        let graph = self.facts.graph();
        // The membership, and meanwhile the record's chats for the card.
        let (member, ()) = tokio::join!(
            self.is_member(request, deadline),
            self.facts.warm_record(request.record, rows, deadline)
        );
        match member {
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
        JoinOutcome::Joined
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
}
