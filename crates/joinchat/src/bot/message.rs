//! Messages: the text is parsed into a command and routed to its use case;
//! the answer goes back into the conversation it came from. Also the
//! conversation updates that tell the bot how to reach a person 1:1.

use std::time::Instant;

use super::{place, viewer, Bot, Reply};
use crate::{
    admin::conversations::ConversationRef,
    cards::{self, text},
    clients::connector::ConnectorError,
    commands::{self, Command},
    context::Answer,
    show,
    teams::{Activity, OutboundActivity},
};

impl Bot {
    pub(super) async fn on_message(&self, activity: &Activity) -> (Reply, &'static str) {
        let deadline = self.deadline();
        self.remember_conversation(activity).await;
        let command = commands::parse(activity.text.as_deref().unwrap_or_default());
        let (answer, outcome) = self.answer(activity, command, deadline).await;
        match self.send_reply(activity, answer, deadline).await {
            Ok(()) => (Reply::Accepted, outcome),
            // Sent and maybe delivered: a retry could say it twice.
            Err(error) if error.maybe_delivered() => (Reply::Accepted, "reply_uncertain"),
            // Teams' retry may get through where the connector was busy or down…
            Err(error) if error.is_transient() => (Reply::Unavailable, "reply_failed"),
            // …but not where it refused for good (unknown conversation, bot removed).
            Err(_) => (Reply::Accepted, "reply_refused"),
        }
    }

    async fn answer(
        &self,
        activity: &Activity,
        command: Command,
        deadline: Instant,
    ) -> (Answer, &'static str) {
        let text_answer = |text: String, outcome| (Answer::Text(text), outcome);
        match command {
            Command::Help | Command::Unknown => text_answer(commands::help_text(), "help"),
            Command::MissingTarget { entity } => {
                text_answer(cards::missing_target(entity), "missing_target")
            }
            Command::UnknownEntity { word } => {
                text_answer(cards::unknown_entity(&word), "unknown_entity")
            }
            // The rest reach Dataverse, so they need a person and count
            // against that person's limit.
            command => {
                let Some(viewer) = viewer(activity) else {
                    return text_answer(text::NO_IDENTITY.into(), "no_identity");
                };
                if !self.within_rate(&viewer).await {
                    return text_answer(text::SLOW_DOWN.into(), "rate_limited");
                }
                let admin_answer = |result, outcome| match result {
                    Ok(answer) => (answer, outcome),
                    Err(error) => show::busy(error),
                };
                match command {
                    Command::Chats { entity, target, .. } => {
                        self.shows
                            .command(&viewer, place(activity), entity, &target, deadline)
                            .await
                    }
                    Command::SetJoinChat { entity, enabled } => admin_answer(
                        self.admin
                            .set_join_chat(&viewer, entity, enabled, deadline)
                            .await,
                        "switch",
                    ),
                    Command::JoinChatSettings => {
                        admin_answer(self.admin.settings(&viewer, deadline).await, "settings")
                    }
                    Command::Help
                    | Command::Unknown
                    | Command::MissingTarget { .. }
                    | Command::UnknownEntity { .. } => {
                        unreachable!("answered above without a person")
                    }
                }
            }
        }
    }

    async fn send_reply(
        &self,
        inbound: &Activity,
        answer: Answer,
        deadline: Instant,
    ) -> Result<(), ConnectorError> {
        let reply = match answer {
            Answer::Text(text) => OutboundActivity::text(text),
            Answer::Card(card) => OutboundActivity::card(card),
        }
        .in_reply_to(inbound);
        self.connector
            .send(
                &inbound.service_url,
                &inbound.conversation.id,
                inbound.id.as_deref(),
                &reply,
                deadline,
            )
            .await
            .map(|_| ())
            .inspect_err(|error| tracing::warn!(%error, "reply not delivered"))
    }

    /// Keeps how to reach this person 1:1, for asks and answers sent later.
    pub(super) async fn remember_conversation(&self, activity: &Activity) {
        let personal = activity.conversation.is_personal() && !activity.conversation.id.is_empty();
        let Some(viewer) = viewer(activity).filter(|_| personal) else {
            return;
        };
        let reference = ConversationRef {
            conversation_id: activity.conversation.id.clone(),
            service_url: activity.service_url.clone(),
            user_id: activity.from.id.clone(),
        };
        self.admin
            .conversations
            .remember(&viewer.aad, &reference)
            .await;
    }

    /// The bot was removed: it can no longer reach this person 1:1.
    pub(super) async fn forget_conversation(&self, activity: &Activity) {
        if let Some(viewer) = viewer(activity).filter(|_| activity.conversation.is_personal()) {
            self.admin.conversations.forget(&viewer.aad).await;
        }
    }
}
