//! The router: an authenticated activity in, the right use case called, a
//! reply out. This file is the pipeline every activity goes through — its
//! span, dedupe by activity id, the per-person limit, the outcome metric —
//! and `message` / `invoke` route the two kinds that do work. The use cases
//! (`show`, `join`, `admin`) own their flow; the router only picks one.
//!
//! Dedupe happens before any side effect. An activity is claimed under its id
//! (`seen:{id}`, "running" with a token, for about the budget) before it is
//! handled, and the claim is settled by how the handling ended: "done" when
//! it completed — a redelivery then changes nothing (a join gets the current
//! card, another action "Already done.") — or released when it did not (a
//! dependency was down, the reply could not be sent), so that a redelivery
//! runs again. Two deliveries never run at once: while one holds the claim,
//! another is answered as in progress.

mod invoke;
mod message;

use std::time::{Duration, Instant};

use bytes::Bytes;
use tracing::Instrument;

use crate::{
    actions::CardAction,
    admin::{AdminDesk, Conversations, Notifier},
    audit::{self, Looks},
    clients::connector::ConnectorClient,
    config::Config,
    context::{Place, Viewer},
    domain::AadObjectId,
    facts::Facts,
    join::{Followups, Joiner},
    metrics::Metrics,
    offer::Offers,
    show::{ColdBudget, Shows},
    store::{keys, Store},
    teams::{Activity, ActivityType},
};

/// What the HTTP layer answers once the bot is done.
#[derive(Debug)]
pub enum Reply {
    /// 200 with no body (messages, updates, unknown types).
    Accepted,
    /// 200 with an invoke response body (serialised JSON).
    Invoke(Bytes),
    /// The bot could not do its work now; Teams should retry.
    Unavailable,
}

pub struct Bot {
    store: Store,
    connector: ConnectorClient,
    shows: Shows,
    joiner: Joiner,
    admin: AdminDesk,
    offers: Offers,
    metrics: Metrics,
    looks: Looks,
    budget: Duration,
    actions_per_minute: u64,
}

/// Whether an activity may be handled now (see the module comment).
pub(crate) enum Claim {
    /// This delivery is the one: settle it with this token when done.
    First(String),
    /// No claim possible (no id, or the store is down): handled, unsettled.
    Unclaimed,
    /// An earlier delivery is being handled right now.
    Running,
    /// An earlier delivery was handled to completion.
    Done,
}

impl Bot {
    pub fn new(
        config: &Config,
        store: Store,
        connector: ConnectorClient,
        facts: Facts,
        metrics: Metrics,
    ) -> Bot {
        let notifier = Notifier {
            connector: connector.clone(),
            graph: facts.graph().clone(),
            teams_app_id: config.teams_app_id.clone(),
            store: store.clone(),
        };
        let looks = Looks::new(store.clone());
        looks.spawn_flusher(audit::LOOK_WINDOW);
        let shows = Shows::new(
            facts.clone(),
            connector.clone(),
            store.clone(),
            ColdBudget::new(&config.tunables),
        );
        let joiner = Joiner {
            facts: facts.clone(),
            store: store.clone(),
            notifier: notifier.clone(),
            shows: shows.clone(),
            followups: Followups::default(),
            notice_budget: config.tunables.outbound_budget,
        };
        let conversations = Conversations::new(
            store.clone(),
            connector.clone(),
            facts.graph().clone(),
            config.teams_app_id.clone(),
            config.service_url.clone(),
        );
        let offers = Offers::new(
            facts.clone(),
            store.clone(),
            conversations.clone(),
            config.tunables.webhook_budget,
        );
        let admin = AdminDesk {
            facts,
            store: store.clone(),
            conversations,
            notifier,
            role: config.admin_role.clone(),
            admin_chat: config.admin_chat.clone(),
        };
        Bot {
            store,
            connector,
            shows,
            joiner,
            admin,
            offers,
            metrics,
            looks,
            budget: config.tunables.outbound_budget,
            actions_per_minute: config.tunables.actions_per_minute,
        }
    }

    /// Work still going on after its answer was sent (joined notices).
    pub fn followups(&self) -> &Followups {
        &self.joiner.followups
    }

    /// The offer use case, for Dataverse's webhook calls (not activities).
    pub fn offers(&self) -> &Offers {
        &self.offers
    }

    pub async fn handle(&self, activity: Activity) -> Reply {
        let invoke = (activity.kind == ActivityType::Invoke).then(|| invoke::parse(&activity));
        let verb = match &invoke {
            Some(Ok(invoked)) => invoked.action.verb(),
            _ => "",
        };
        // Card refreshes are the hot path and change nothing: they get no
        // span and no line of their own unless debug logging is on.
        let look = matches!(&invoke, Some(Ok(invoked)) if invoked.action.is_a_look());
        let span = if look {
            tracing::debug_span!(
                "activity",
                activity.id = activity.id.as_deref().unwrap_or(""),
                verb,
                conversation.id = %activity.conversation.id,
            )
        } else {
            tracing::info_span!(
                "activity",
                activity.id = activity.id.as_deref().unwrap_or(""),
                activity.kind = activity.kind.as_str(),
                verb,
                conversation.id = %activity.conversation.id,
            )
        };
        self.dispatch(&activity, invoke, look)
            .instrument(span)
            .await
    }

    async fn dispatch(
        &self,
        activity: &Activity,
        invoke: Option<invoke::Parsed>,
        look: bool,
    ) -> Reply {
        let (reply, outcome) = match &activity.kind {
            ActivityType::Message => match self.claim(activity).await {
                Claim::Done | Claim::Running => (Reply::Accepted, "duplicate"),
                Claim::Unclaimed => self.on_message(activity).await,
                Claim::First(token) => {
                    let handled = self.on_message(activity).await;
                    self.settle(activity, &token, completed(&handled.0, handled.1))
                        .await;
                    handled
                }
            },
            ActivityType::Invoke => match invoke {
                Some(Ok(invoked)) => self.on_invoke(activity, invoked).await,
                Some(Err(refusal)) => (Reply::Invoke(refusal.to_bytes()), "bad_invoke"),
                None => (Reply::Accepted, "ignored"),
            },
            ActivityType::InstallationUpdate if activity.action.as_deref() == Some("remove") => {
                self.forget_conversation(activity).await;
                (Reply::Accepted, "uninstalled")
            }
            ActivityType::ConversationUpdate | ActivityType::InstallationUpdate => {
                self.remember_conversation(activity).await;
                (Reply::Accepted, "noted")
            }
            ActivityType::Other(_) => (Reply::Accepted, "ignored"),
        };
        self.metrics
            .outcomes
            .with_label_values(&[kind_label(&activity.kind), outcome])
            .inc();
        // Card refreshes are the hot path and change nothing: not worth a line each.
        if look && matches!(outcome, "refresh" | "hidden") {
            tracing::debug!(outcome, "activity handled");
        } else {
            tracing::info!(outcome, "activity handled");
        }
        reply
    }

    /// Counts one command or card action of this person in the current
    /// minute; false past the limit. Without the store there is no limit.
    async fn within_rate(&self, viewer: &Viewer) -> bool {
        let minute = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_secs() / 60);
        let key = keys::rate(&viewer.aad, minute);
        match self.store.increment(&key, keys::RATE_WINDOW).await {
            Ok(count) => count <= self.actions_per_minute,
            Err(_) => true,
        }
    }

    /// Claims the activity for this delivery (SET NX of a "running" mark
    /// that expires a little after the budget, should this replica die).
    pub(crate) async fn claim(&self, activity: &Activity) -> Claim {
        let Some(id) = activity.id.as_deref().filter(|id| !id.is_empty()) else {
            return Claim::Unclaimed;
        };
        let key = keys::seen(id);
        let token = format!("{RUNNING}{}", uuid::Uuid::new_v4());
        let running_for = self.budget + keys::SEEN_RUNNING_MARGIN;
        // Twice: a mark released between our SET NX and our GET is free again.
        for _ in 0..2 {
            match self.store.set_if_absent(&key, &token, running_for).await {
                Ok(true) => return Claim::First(token),
                Ok(false) => {}
                Err(error) => {
                    // Without the store we can't dedupe; answering twice beats
                    // answering never, and joins stay safe (Graph is checked first).
                    tracing::warn!(%error, "dedupe skipped: store unavailable");
                    return Claim::Unclaimed;
                }
            }
            match self.store.get(&key).await {
                Ok(Some(mark)) if mark.starts_with(RUNNING) => return Claim::Running,
                Ok(Some(_)) => return Claim::Done,
                Ok(None) => continue,
                Err(_) => return Claim::Done,
            }
        }
        Claim::Done
    }

    /// Settles this delivery's claim: "done" for the dedupe window when the
    /// handling completed, released (only while still ours) when it did not.
    pub(crate) async fn settle(&self, activity: &Activity, token: &str, completed: bool) {
        let Some(id) = activity.id.as_deref() else {
            return;
        };
        let key = keys::seen(id);
        let settled = if completed {
            self.store.set(&key, DONE, keys::SEEN_TTL).await
        } else {
            self.store.delete_if_equals(&key, token).await
        };
        if let Err(error) = settled {
            tracing::warn!(%error, completed, "could not settle the dedupe mark; it expires by itself");
        }
    }

    /// Counts a refresh or Show for the audit (in memory; written per window).
    pub(crate) fn note_look(
        &self,
        action: &'static str,
        viewer: &Viewer,
        entity: &str,
        record: &str,
        outcome: &'static str,
    ) {
        self.looks
            .note(action, viewer.aad.as_str(), entity, record, outcome);
    }

    /// Writes the counted looks now instead of at the end of their window
    /// (on shutdown, and in tests).
    pub async fn flush_audit(&self) {
        self.looks.flush().await;
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.budget
    }
}

/// The person acting, from the verified activity (never from card data).
fn viewer(activity: &Activity) -> Option<Viewer> {
    let aad = AadObjectId::parse(activity.from.aad_object_id.as_deref()?).ok()?;
    Some(Viewer {
        aad,
        mri: activity.from.id.clone(),
        name: activity.from.name.clone().unwrap_or_default(),
    })
}

/// Where the activity came from, to answer there.
fn place(activity: &Activity) -> Place<'_> {
    Place {
        service_url: &activity.service_url,
        conversation_id: &activity.conversation.id,
        personal: activity.conversation.is_personal(),
    }
}

/// The values of a dedupe mark: a claim in progress (followed by its token),
/// and a completed one.
const RUNNING: &str = "running:";
const DONE: &str = "done";

/// Whether handling got to an end that a redelivery must not repeat. It did
/// not when the bot asked Teams to retry, or when a dependency failed before
/// anything changed (the person was told to try again) — then a redelivery
/// runs again. Everything else, refusals included, is an answer.
fn completed(reply: &Reply, outcome: &str) -> bool {
    !matches!(reply, Reply::Unavailable)
        && !matches!(
            outcome,
            "failed" | "busy" | "not_set_up" | "reply_failed" | "rate_limited"
        )
}

/// The `kind` label of the outcomes counter: a closed set, whatever type an
/// authenticated caller puts in an activity.
fn kind_label(kind: &ActivityType) -> &'static str {
    match kind {
        ActivityType::Message => "message",
        ActivityType::Invoke => "invoke",
        ActivityType::ConversationUpdate => "conversationUpdate",
        ActivityType::InstallationUpdate => "installationUpdate",
        ActivityType::Other(_) => "other",
    }
}

/// Card actions that change something count against the person's limit.
fn limited(action: &CardAction) -> bool {
    !action.is_a_look()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[rustfmt::skip]
    fn a_delivery_counts_as_done_unless_it_failed_before_anything_changed() {
        let table = [
            // reply                      outcome           completed
            (Reply::Accepted,             "show",           true),
            (Reply::Accepted,             "help",           true),
            (Reply::Accepted,             "reply_refused",  true),
            // The reply may have arrived: not said twice.
            (Reply::Accepted,             "reply_uncertain", true),
            (Reply::Invoke(Bytes::new()), "joined",         true),
            (Reply::Invoke(Bytes::new()), "member",         true),
            (Reply::Invoke(Bytes::new()), "refused",        true),
            (Reply::Invoke(Bytes::new()), "hidden",         true),
            (Reply::Invoke(Bytes::new()), "admin",          true),
            (Reply::Accepted,             "rate_limited",   false),
            (Reply::Invoke(Bytes::new()), "failed",         false),
            (Reply::Invoke(Bytes::new()), "busy",           false),
            (Reply::Invoke(Bytes::new()), "not_set_up",     false),
            (Reply::Accepted,             "busy",           false),
            (Reply::Unavailable,          "reply_failed",   false),
            (Reply::Unavailable,          "show",           false),
        ];
        for (reply, outcome, expected) in table {
            assert_eq!(completed(&reply, outcome), expected, "{reply:?} {outcome}");
        }
    }

    #[test]
    fn the_kind_label_is_one_of_a_closed_set() {
        let kinds = [
            (ActivityType::Message, "message"),
            (ActivityType::Invoke, "invoke"),
            (ActivityType::ConversationUpdate, "conversationUpdate"),
            (ActivityType::InstallationUpdate, "installationUpdate"),
            (ActivityType::Other("typing".into()), "other"),
            (ActivityType::Other("x".repeat(10_000)), "other"),
        ];
        for (kind, label) in kinds {
            assert_eq!(kind_label(&kind), label);
        }
    }
}
