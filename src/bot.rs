//! The router: an authenticated activity in, the right use case called, a
//! reply out. Messages go through the command parser; `adaptiveCard/action`
//! invokes go by verb. Dedupe by activity id happens here, before any side
//! effect, so a redelivered activity is answered once.

use std::time::{Duration, Instant};

use crate::{
    config::Config,
    connector::ConnectorClient,
    http::Metrics,
    store::Store,
    teams::{Activity, ActivityType, InvokeResponse, OutboundActivity},
};

/// Teams redelivers for a while; remember ids a little longer than that.
const SEEN_TTL: Duration = Duration::from_secs(600);

/// What the HTTP layer answers once the bot is done.
#[derive(Debug)]
pub enum Reply {
    /// 200 with no body (messages, updates, unknown types).
    Accepted,
    /// 200 with an invoke response body.
    Invoke(InvokeResponse),
    /// The bot could not do its work now; Teams should retry.
    Unavailable,
}

pub struct Bot {
    store: Store,
    connector: ConnectorClient,
    metrics: Metrics,
    budget: Duration,
}

impl Bot {
    pub fn new(config: &Config, store: Store, connector: ConnectorClient, metrics: Metrics) -> Bot {
        Bot {
            store,
            connector,
            metrics,
            budget: config.tunables.outbound_budget,
        }
    }

    pub async fn handle(&self, activity: Activity) -> Reply {
        let kind = activity.kind.as_str().to_owned();
        let first_delivery = self.mark_seen(&activity).await;
        let (reply, outcome) = match (&activity.kind, first_delivery) {
            (ActivityType::Message, false) => (Reply::Accepted, "duplicate"),
            (ActivityType::Message, true) => self.on_message(&activity).await,
            (ActivityType::Invoke, first) => self.on_invoke(&activity, first).await,
            (ActivityType::ConversationUpdate | ActivityType::InstallationUpdate, _) => {
                (Reply::Accepted, "noted")
            }
            (ActivityType::Other(_), _) => (Reply::Accepted, "ignored"),
        };
        if matches!(reply, Reply::Unavailable) && first_delivery {
            // Let Teams' retry do the work we could not finish.
            self.forget_seen(&activity).await;
        }
        self.metrics
            .outcomes
            .with_label_values(&[&kind, outcome])
            .inc();
        tracing::info!(outcome, "activity handled");
        reply
    }

    /// True when this is the first delivery of the activity (or it has no id).
    async fn mark_seen(&self, activity: &Activity) -> bool {
        let Some(id) = activity.id.as_deref().filter(|id| !id.is_empty()) else {
            return true;
        };
        match self.store.set_if_absent(&seen_key(id), "1", SEEN_TTL).await {
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
            if let Err(error) = self.store.delete(&seen_key(id)).await {
                tracing::warn!(%error, "could not clear the dedupe mark");
            }
        }
    }

    async fn on_message(&self, activity: &Activity) -> (Reply, &'static str) {
        let reply = OutboundActivity::text(help_text()).in_reply_to(activity);
        match self.send_reply(activity, &reply).await {
            Ok(()) => (Reply::Accepted, "help"),
            Err(()) => (Reply::Unavailable, "reply_failed"),
        }
    }

    async fn on_invoke(&self, _activity: &Activity, _first: bool) -> (Reply, &'static str) {
        (
            Reply::Invoke(InvokeResponse::error(
                501,
                "NotImplemented",
                "This action is not supported.",
            )),
            "unsupported",
        )
    }

    async fn send_reply(&self, inbound: &Activity, reply: &OutboundActivity) -> Result<(), ()> {
        let deadline = Instant::now() + self.budget;
        self.connector
            .send(
                &inbound.service_url,
                &inbound.conversation.id,
                inbound.id.as_deref(),
                reply,
                deadline,
            )
            .await
            .map(|_| ())
            .map_err(|error| tracing::warn!(%error, "reply not delivered"))
    }
}

fn seen_key(activity_id: &str) -> String {
    format!("seen:{activity_id}")
}

fn help_text() -> String {
    "I help you join the Teams chats connected to your Dynamics 365 records.\n\n\
     - `join chat for lead Contoso` — show the chats connected to a record, and join them\n\
     - `chats for opportunity 8f14e45f-ceea-467f-a0c5-1b2d3e4f5a6b` — the same, by id\n\
     - `help` — this message"
        .to_owned()
}
