//! Invokes: an `adaptiveCard/action` is parsed once into a [`CardAction`]
//! (its verb and typed data) and routed to the use case that owns it.
//! Looks (refresh, show) change nothing and skip dedupe and the per-person
//! limit (a cold one spends the cold-look budget instead, in `show`; looks are
//! audited in aggregate); every other action is claimed by activity id,
//! limited, and its claim settled by how it ended.

use super::{completed, limited, place, viewer, Bot, Claim, Reply};
use crate::{
    actions::{BadAction, CardAction, NamedPeople, Target},
    cards::{self, text},
    context::Viewer,
    teams::{Activity, AdaptiveCardInvoke, InvokeResponse, ADAPTIVE_CARD_ACTION},
};

/// An invoke read once: the action, and whoever its data names (untrusted).
pub(super) struct Invoked {
    pub action: CardAction,
    pub named: NamedPeople,
}

pub(super) type Parsed = Result<Invoked, InvokeResponse>;

/// An invoke's action, or the answer refusing it.
pub(super) fn parse(activity: &Activity) -> Parsed {
    if activity.name.as_deref() != Some(ADAPTIVE_CARD_ACTION) {
        return Err(InvokeResponse::error(
            501,
            "NotImplemented",
            "This invoke is not supported.",
        ));
    }
    let invoke = activity
        .value
        .as_deref()
        .and_then(|raw| serde_json::from_str::<AdaptiveCardInvoke>(raw.get()).ok())
        .ok_or_else(|| InvokeResponse::error(400, "BadRequest", "Missing or malformed value."))?;
    if invoke.action.kind != "Action.Execute" {
        return Err(InvokeResponse::error(
            400,
            "NotSupported",
            "Only Action.Execute is supported.",
        ));
    }
    let data = &invoke.action.data;
    match CardAction::parse(&invoke.action.verb, data) {
        Ok(action) => Ok(Invoked {
            action,
            named: NamedPeople::in_data(data),
        }),
        Err(BadAction::UnknownVerb) => Err(InvokeResponse::error(
            400,
            "UnknownVerb",
            "This card action is not supported.",
        )),
        Err(BadAction::Missing(what)) => Err(InvokeResponse::error(400, "BadRequest", what)),
    }
}

impl Bot {
    pub(super) async fn on_invoke(
        &self,
        activity: &Activity,
        invoked: Invoked,
    ) -> (Reply, &'static str) {
        let Some(viewer) = viewer(activity) else {
            let refusal = InvokeResponse::message(text::NO_IDENTITY);
            return (Reply::Invoke(refusal.to_bytes()), "no_identity");
        };
        let Invoked { action, named } = invoked;
        if limited(&action) && !self.within_rate(&viewer).await {
            let slow_down = InvokeResponse::card(cards::text_card(text::SLOW_DOWN));
            return (Reply::Invoke(slow_down.to_bytes()), "rate_limited");
        }
        let action = match action {
            // Warm, a look costs one store round trip.
            CardAction::Refresh { target } => {
                return self.look(activity, &viewer, "refresh", &target).await;
            }
            CardAction::Show { target } => {
                return self.look(activity, &viewer, "show", &target).await;
            }
            action => action,
        };
        let token = match self.claim(activity).await {
            Claim::First(token) => Some(token),
            Claim::Unclaimed => None,
            // A redelivered join changes nothing: it gets the current card.
            Claim::Done | Claim::Running if matches!(action, CardAction::Join { .. }) => {
                let CardAction::Join { record, .. } = action else {
                    unreachable!("matched above")
                };
                return self
                    .look(activity, &viewer, "refresh", &Target::Record(record))
                    .await;
            }
            Claim::Done => {
                let done = InvokeResponse::message(text::ALREADY_DONE);
                return (Reply::Invoke(done.to_bytes()), "duplicate");
            }
            Claim::Running => {
                let running = InvokeResponse::message(text::IN_PROGRESS);
                return (Reply::Invoke(running.to_bytes()), "duplicate");
            }
        };
        let (response, outcome) = match action {
            CardAction::Join { chat, record } => {
                let deadline = self.deadline();
                self.joiner
                    .click(&viewer, place(activity), &chat, &record, &named, deadline)
                    .await
            }
            action => self.admin_action(activity, &viewer, action, &named).await,
        };
        let reply = Reply::Invoke(response.to_bytes());
        if let Some(token) = token {
            self.settle(activity, &token, completed(&reply, outcome))
                .await;
        }
        (reply, outcome)
    }

    /// A refresh or Show: the viewer's own card, counted for the audit.
    async fn look(
        &self,
        activity: &Activity,
        viewer: &Viewer,
        verb: &'static str,
        target: &Target,
    ) -> (Reply, &'static str) {
        let (body, outcome) = self
            .shows
            .look(viewer, place(activity), target, self.deadline())
            .await;
        let (entity, record) = match target {
            Target::Record(record) => (record.entity, record.id.as_str()),
            // A typed name is the person's words, which the audit never keeps.
            Target::Query { entity, .. } => (*entity, ""),
        };
        self.note_look(verb, viewer, entity.logical_name(), record, outcome);
        (Reply::Invoke(body), outcome)
    }

    async fn admin_action(
        &self,
        activity: &Activity,
        viewer: &Viewer,
        action: CardAction,
        named: &NamedPeople,
    ) -> (InvokeResponse, &'static str) {
        let deadline = self.deadline();
        let service_url = activity.service_url.as_str();
        // Only Add names someone else (the requester) by design.
        let for_someone_else = named.other_than(&[viewer.aad.as_str(), &viewer.mri]);
        if for_someone_else && !matches!(action, CardAction::Add { .. }) {
            let refusal = InvokeResponse::card(cards::text_card(text::LOCKED_NOT_YOURS));
            return (refusal, "refused");
        }
        let verb = action.verb();
        let result = match action {
            CardAction::AskMember { chat, record } => {
                self.admin
                    .ask_member(viewer, &chat, &record, service_url, deadline)
                    .await
            }
            CardAction::AskAdmin { entity } => {
                self.admin
                    .ask_admin(viewer, entity, service_url, deadline)
                    .await
            }
            CardAction::Add { request } => {
                self.admin
                    .add(viewer, &request, named, service_url, deadline)
                    .await
            }
            CardAction::SetJoinChat { entity, enabled } => {
                self.admin
                    .set_join_chat(viewer, entity, enabled, deadline)
                    .await
            }
            CardAction::Refresh { .. } | CardAction::Show { .. } | CardAction::Join { .. } => {
                unreachable!("routed in on_invoke")
            }
        };
        match result {
            Ok(answer) => (answer.into_invoke(), "admin"),
            Err(error) if error.is_setup_problem() => {
                (InvokeResponse::card(cards::not_set_up()), "not_set_up")
            }
            Err(error) => {
                tracing::warn!(%error, verb, "admin action failed");
                let busy = InvokeResponse::card(cards::try_again(text::BUSY, None));
                (busy, "busy")
            }
        }
    }
}
