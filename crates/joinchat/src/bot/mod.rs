//! The router: an authenticated activity in, the right use case called, a
//! reply out. This file is the pipeline every activity goes through — its
//! span, dedupe by activity id, the per-person limit, the outcome metric —
//! and `message` / `invoke` route the two kinds that do work. The use cases
//! (`show`, `join`, `admin`) own their flow; the router only picks one.
//!
//! Dedupe happens before any side effect, so a redelivered activity is
//! answered once (a redelivered invoke gets the current card and changes
//! nothing).

mod invoke;
mod message;

use std::time::{Duration, Instant};

use bytes::Bytes;
use tracing::Instrument;

use crate::{
    actions::CardAction,
    admin::{AdminDesk, Conversations, Notifier},
    clients::connector::ConnectorClient,
    config::Config,
    context::{Place, Viewer},
    domain::AadObjectId,
    facts::Facts,
    join::Joiner,
    metrics::Metrics,
    offer::Offers,
    show::Shows,
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
    budget: Duration,
    actions_per_minute: u64,
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
        };
        let shows = Shows::new(facts.clone(), connector.clone(), store.clone());
        let joiner = Joiner {
            facts: facts.clone(),
            store: store.clone(),
            notifier: notifier.clone(),
            shows: shows.clone(),
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
            budget: config.tunables.outbound_budget,
            actions_per_minute: config.tunables.actions_per_minute,
        }
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
        self.dispatch(&activity, invoke).instrument(span).await
    }

    async fn dispatch(&self, activity: &Activity, invoke: Option<invoke::Parsed>) -> Reply {
        let (reply, outcome) = match &activity.kind {
            ActivityType::Message => {
                if self.mark_seen(activity).await {
                    self.on_message(activity).await
                } else {
                    (Reply::Accepted, "duplicate")
                }
            }
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
        if matches!(reply, Reply::Unavailable) {
            // Let Teams' retry do the work we could not finish.
            self.forget_seen(activity).await;
        }
        self.metrics
            .outcomes
            .with_label_values(&[activity.kind.as_str(), outcome])
            .inc();
        // Card refreshes are the hot path and change nothing: not worth a line each.
        if outcome == "refresh" {
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

    /// True when this is the first delivery of the activity (or it has no id).
    async fn mark_seen(&self, activity: &Activity) -> bool {
        let Some(id) = activity.id.as_deref().filter(|id| !id.is_empty()) else {
            return true;
        };
        match self
            .store
            .set_if_absent(&keys::seen(id), "1", keys::SEEN_TTL)
            .await
        {
            Ok(first) => first,
            Err(error) => {
                // Without the store we can't dedupe; answering twice beats
                // answering never, and joins stay safe (Graph is checked first).
                tracing::warn!(%error, "dedupe skipped: store unavailable");
                true
            }
        }
    }

    async fn forget_seen(&self, activity: &Activity) {
        if let Some(id) = activity.id.as_deref() {
            if let Err(error) = self.store.delete(&keys::seen(id)).await {
                tracing::warn!(%error, "could not clear the dedupe mark");
            }
        }
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

/// Card actions that change something count against the person's limit.
fn limited(action: &CardAction) -> bool {
    !action.is_a_look()
}
