//! The router: an authenticated activity in, the right use case called, a
//! reply out. Messages go through the command parser; `adaptiveCard/action`
//! invokes go by verb. Dedupe by activity id happens here, before any side
//! effect, so a redelivered activity is answered once (a redelivered invoke
//! gets the current card and changes nothing).

use std::time::{Duration, Instant};

use tracing::Instrument;

use bytes::Bytes;
use serde_json::{json, Value};

use crate::{
    admin::{Admins, ConversationRef},
    audit::{self, AuditEvent},
    card_data,
    cards::{self, ChatEntry, RecordCard, RecordSummary},
    clients::connector::{ConnectorClient, ConnectorError},
    commands::{self, Command, RecordQuery},
    config::Config,
    domain::{AadObjectId, ChatId, EntityType, RecordRef},
    facts::{Facts, FactsError, View},
    join::{JoinOutcome, JoinRequest, Joiner},
    metrics::Metrics,
    policy::Decision,
    show::{self, Answer, CardOptions, Marks, Resolution, Viewer},
    store::Store,
    teams::{
        Activity, ActivityType, AdaptiveCardInvoke, InvokeResponse, OutboundActivity,
        ADAPTIVE_CARD_ACTION,
    },
};

/// Teams redelivers for a while; remember ids a little longer than that.
const SEEN_TTL: Duration = Duration::from_secs(600);

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
    facts: Facts,
    joiner: Joiner,
    admins: Admins,
    /// Refresh answers, memoised by the cached facts they were drawn from.
    drawn: moka::sync::Cache<String, Bytes>,
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
        let joiner = Joiner {
            facts: facts.clone(),
            connector: connector.clone(),
            store: store.clone(),
            teams_app_id: config.teams_app_id.clone(),
        };
        let admins = Admins {
            facts: facts.clone(),
            connector: connector.clone(),
            store: store.clone(),
            role: config.admin_role.clone(),
            teams_app_id: config.teams_app_id.clone(),
            admin_chat: config.admin_chat.clone(),
        };
        Bot {
            store,
            connector,
            facts,
            joiner,
            admins,
            // Bounded by bytes, not entries: a drawn card is a few kilobytes.
            drawn: moka::sync::Cache::builder()
                .weigher(|key: &String, body: &Bytes| {
                    u32::try_from(key.len() + body.len()).unwrap_or(u32::MAX)
                })
                .max_capacity(8 * 1024 * 1024)
                .time_to_live(Duration::from_secs(30))
                .build(),
            metrics,
            budget: config.tunables.outbound_budget,
            actions_per_minute: config.tunables.actions_per_minute,
        }
    }

    pub async fn handle(&self, activity: Activity) -> Reply {
        let invoke = (activity.kind == ActivityType::Invoke).then(|| parse_invoke(&activity));
        let verb = match &invoke {
            Some(Ok(invoke)) => invoke.action.verb.as_str(),
            _ => "",
        };
        // Card refreshes are the hot path and change nothing: they get no
        // span and no line of their own unless debug logging is on.
        let span = if matches!(verb, "refresh" | "show") {
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

    async fn dispatch(
        &self,
        activity: &Activity,
        invoke: Option<Result<AdaptiveCardInvoke, InvokeResponse>>,
    ) -> Reply {
        let (reply, outcome) = match &activity.kind {
            ActivityType::Message => {
                if self.mark_seen(activity).await {
                    self.on_message(activity).await
                } else {
                    (Reply::Accepted, "duplicate")
                }
            }
            ActivityType::Invoke => match invoke {
                Some(Ok(invoke)) => self.on_invoke(activity, invoke).await,
                Some(Err(refusal)) => (invoke_reply(refusal), "bad_invoke"),
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
    async fn within_rate(&self, activity: &Activity) -> bool {
        let Some(viewer) = viewer(activity) else {
            return true;
        };
        let minute = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_secs() / 60);
        let key = format!("rate:{}:{minute}", viewer.aad.as_str());
        match self.store.increment(&key, Duration::from_secs(60)).await {
            Ok(count) => count <= self.actions_per_minute,
            Err(_) => true,
        }
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

    // ---- messages -------------------------------------------------------------------

    /// Keeps how to reach this person 1:1, for asks and answers sent later.
    async fn remember_conversation(&self, activity: &Activity) {
        let personal = activity.conversation.is_personal() && !activity.conversation.id.is_empty();
        let Some(viewer) = viewer(activity).filter(|_| personal) else {
            return;
        };
        let reference = ConversationRef {
            conversation_id: activity.conversation.id.clone(),
            service_url: activity.service_url.clone(),
            user_id: activity.from.id.clone(),
        };
        self.admins.remember(&viewer.aad, &reference).await;
    }

    /// The bot was removed: it can no longer reach this person 1:1.
    async fn forget_conversation(&self, activity: &Activity) {
        if let Some(viewer) = viewer(activity).filter(|_| activity.conversation.is_personal()) {
            self.admins.forget(&viewer.aad).await;
        }
    }

    async fn on_message(&self, activity: &Activity) -> (Reply, &'static str) {
        let deadline = Instant::now() + self.budget;
        self.remember_conversation(activity).await;
        let command = commands::parse(activity.text.as_deref().unwrap_or_default());
        let reaches_dataverse = matches!(
            command,
            Command::Chats { .. } | Command::SetJoinChat { .. } | Command::JoinChatSettings
        );
        let (answer, outcome) = match command {
            _ if reaches_dataverse && !self.within_rate(activity).await => {
                (Answer::Text(SLOW_DOWN.into()), "rate_limited")
            }
            Command::Help | Command::Unknown => (Answer::Text(commands::help_text()), "help"),
            Command::MissingTarget { entity } => (
                Answer::Text(cards::missing_target(entity)),
                "missing_target",
            ),
            Command::UnknownEntity { word } => {
                (Answer::Text(cards::unknown_entity(&word)), "unknown_entity")
            }
            Command::Chats { entity, target, .. } => match viewer(activity) {
                Some(viewer) => {
                    self.show_chats(activity, &viewer, entity, &target, deadline)
                        .await
                }
                None => (Answer::Text(NO_IDENTITY.into()), "no_identity"),
            },
            Command::SetJoinChat { entity, enabled } => match viewer(activity) {
                Some(viewer) => admin_answer(
                    self.admins
                        .set_join_chat(&viewer, entity, enabled, deadline)
                        .await,
                    "switch",
                ),
                None => (Answer::Text(NO_IDENTITY.into()), "no_identity"),
            },
            Command::JoinChatSettings => match viewer(activity) {
                Some(viewer) => {
                    admin_answer(self.admins.settings(&viewer, deadline).await, "settings")
                }
                None => (Answer::Text(NO_IDENTITY.into()), "no_identity"),
            },
        };
        match self.send_reply(activity, answer, deadline).await {
            Ok(()) => (Reply::Accepted, outcome),
            // Teams' retry may get through where the connector was busy or down…
            Err(error) if error.is_transient() => (Reply::Unavailable, "reply_failed"),
            // …but not where it refused for good (unknown conversation, bot removed).
            Err(_) => (Reply::Accepted, "reply_refused"),
        }
    }

    async fn show_chats(
        &self,
        activity: &Activity,
        viewer: &Viewer,
        entity: EntityType,
        target: &RecordQuery,
        deadline: Instant,
    ) -> (Answer, &'static str) {
        let query = match target {
            RecordQuery::Id(id) => id.as_str().to_owned(),
            RecordQuery::Name(name) => name.clone(),
        };
        let resolved = match show::resolve(&self.facts, viewer, entity, target, deadline).await {
            Ok(resolved) => resolved,
            Err(error) => return busy(error),
        };
        let record = match resolved {
            Resolution::NotFound => {
                return (Answer::Text(cards::not_found(entity, &query)), "not_found")
            }
            Resolution::Choose(matches) => {
                return (
                    Answer::Card(cards::choose_record(entity, &query, &matches)),
                    "choose",
                )
            }
            Resolution::Record(record) => record,
        };
        match self
            .record_card(
                activity,
                viewer,
                &record,
                &query,
                Marks::default(),
                deadline,
            )
            .await
        {
            Ok(answer) => {
                self.audit_show("show", viewer, &record, &answer).await;
                (answer, "show")
            }
            Err(error) => busy(error),
        }
    }

    /// The card of a record's chats for `viewer`, with `refresh.userIds` set
    /// to who sees it here: in a group chat its members (each gets their own
    /// view), in a 1:1 chat the viewer. Warm, this is one store round trip.
    async fn record_card(
        &self,
        activity: &Activity,
        viewer: &Viewer,
        record: &RecordRef,
        query: &str,
        marks: Marks<'_>,
        deadline: Instant,
    ) -> Result<Answer, FactsError> {
        let group =
            (!activity.conversation.is_personal()).then_some(activity.conversation.id.as_str());
        let view = self
            .facts
            .view(&viewer.aad, record, group, false, deadline)
            .await?;
        Ok(self
            .render(activity, viewer, record, query, &view, marks, deadline)
            .await)
    }

    /// Draws a view; fetches the group chat's roster when it isn't cached.
    #[allow(clippy::too_many_arguments)]
    async fn render(
        &self,
        activity: &Activity,
        viewer: &Viewer,
        record: &RecordRef,
        query: &str,
        view: &View,
        marks: Marks<'_>,
        deadline: Instant,
    ) -> Answer {
        let group =
            (!activity.conversation.is_personal()).then_some(activity.conversation.id.as_str());
        let roster = match (group, &view.roster) {
            (None, _) => Some(vec![viewer.mri.clone()]).filter(|_| !viewer.mri.is_empty()),
            (Some(_), Some(cached)) => Some(cached.clone()),
            (Some(conversation), None) => self.fetch_roster(activity, conversation, deadline).await,
        };
        let options = CardOptions {
            refresh_user_ids: roster.as_deref(),
            marks,
        };
        show::render(viewer, record, query, view, &options)
    }

    async fn fetch_roster(
        &self,
        activity: &Activity,
        conversation: &str,
        deadline: Instant,
    ) -> Option<Vec<String>> {
        match self
            .connector
            .members(&activity.service_url, conversation, deadline)
            .await
        {
            Ok(members) => {
                let ids: Vec<String> = members
                    .into_iter()
                    .map(|m| m.id)
                    .take(cards::MAX_REFRESH_USER_IDS)
                    .collect();
                self.facts.remember_roster(conversation, &ids).await;
                Some(ids)
            }
            Err(error) => {
                // Without `userIds` Teams refreshes the card for everyone in a
                // small chat, which is still right.
                tracing::warn!(%error, "roster unavailable");
                None
            }
        }
    }

    // ---- invokes --------------------------------------------------------------------

    async fn on_invoke(
        &self,
        activity: &Activity,
        invoke: AdaptiveCardInvoke,
    ) -> (Reply, &'static str) {
        let Some(viewer) = viewer(activity) else {
            return (
                invoke_reply(InvokeResponse::message(NO_IDENTITY)),
                "no_identity",
            );
        };
        let deadline = Instant::now() + self.budget;
        let data = &invoke.action.data;
        let (response, outcome) = match invoke.action.verb.as_str() {
            // Refreshes change nothing, so they skip dedupe: warm, a refresh
            // costs one store round trip. A redelivered join changes nothing
            // either: it is answered with the current card.
            "refresh" | "show" => return self.refresh(activity, &viewer, data, deadline).await,
            "join" | "ask_member" | "ask_admin" | "add" | "set_join_chat"
                if !self.within_rate(activity).await =>
            {
                (
                    InvokeResponse::card(cards::text_card(SLOW_DOWN)),
                    "rate_limited",
                )
            }
            "join" if self.mark_seen(activity).await => {
                self.join(activity, &viewer, data, deadline).await
            }
            "join" => return self.refresh(activity, &viewer, data, deadline).await,
            verb @ ("ask_member" | "ask_admin" | "add" | "set_join_chat") => {
                if !self.mark_seen(activity).await {
                    (InvokeResponse::message("Already done."), "duplicate")
                } else {
                    self.admin_verb(activity, &viewer, verb, data, deadline)
                        .await
                }
            }
            _ => (
                InvokeResponse::error(400, "UnknownVerb", "This card action is not supported."),
                "unknown_verb",
            ),
        };
        (invoke_reply(response), outcome)
    }

    /// A card's refresh: the record card for this viewer. Drawn cards are
    /// memoised by the exact cached facts they were drawn from, so a warm
    /// refresh is one MGET and a lookup.
    async fn refresh(
        &self,
        activity: &Activity,
        viewer: &Viewer,
        data: &Value,
        deadline: Instant,
    ) -> (Reply, &'static str) {
        let Some(record) = card_data::record_in(data) else {
            let bad = InvokeResponse::error(400, "BadRequest", "The card names no record.");
            return (invoke_reply(bad), "bad_data");
        };
        let group =
            (!activity.conversation.is_personal()).then_some(activity.conversation.id.as_str());
        let cached = self.facts.cached(&viewer.aad, &record, group).await;
        // The drawing is a pure function of the viewer and these cached facts.
        let memo_key = cached.warm().map(|warm| {
            format!(
                "{}\u{1f}{}\u{1f}{}\u{1f}{}",
                viewer.aad.as_str(),
                viewer.mri,
                record,
                warm
            )
        });
        if let Some(body) = memo_key.as_ref().and_then(|key| self.drawn.get(key)) {
            return (Reply::Invoke(body), "refresh");
        }
        let view = match self
            .facts
            .complete(cached, &viewer.aad, &record, deadline)
            .await
        {
            Ok(view) => view,
            Err(error) if error.is_setup_problem() => {
                let card = cards::not_set_up();
                return (invoke_reply(InvokeResponse::card(card)), "not_set_up");
            }
            Err(error) => {
                tracing::warn!(%error, "refresh failed");
                let retry = json!({"entity": record.entity.logical_name(), "record_id": record.id.as_str()});
                let card = cards::try_again(BUSY, Some(("refresh", &retry)));
                return (invoke_reply(InvokeResponse::card(card)), "busy");
            }
        };
        let answer = self
            .render(
                activity,
                viewer,
                &record,
                record.id.as_str(),
                &view,
                Marks::default(),
                deadline,
            )
            .await;
        let Reply::Invoke(body) = invoke_reply(invoke_answer(answer)) else {
            unreachable!("invoke_reply always answers an invoke");
        };
        if let Some(key) = memo_key {
            self.drawn.insert(key, body.clone());
        }
        (Reply::Invoke(body), "refresh")
    }

    async fn join(
        &self,
        activity: &Activity,
        viewer: &Viewer,
        data: &Value,
        deadline: Instant,
    ) -> (InvokeResponse, &'static str) {
        let (Some(chat), Some(record)) = (card_data::chat_in(data), card_data::record_in(data))
        else {
            return (
                InvokeResponse::error(400, "BadRequest", "The card names no chat or record."),
                "bad_data",
            );
        };
        let name = match self.facts.user(&viewer.aad, deadline).await {
            Ok(Some(user)) if !user.name.is_empty() => user.name,
            _ => viewer.name.clone(),
        };
        let request = JoinRequest {
            user: &viewer.aad,
            user_name: &name,
            chat: &chat,
            record: &record,
            service_url: &activity.service_url,
            tampered_user: card_data::names_someone_else(data, &[viewer.aad.as_str(), &viewer.mri]),
        };
        let outcome = self.joiner.join(&request, deadline).await;
        let label = match &outcome {
            JoinOutcome::Joined { .. } => "joined",
            JoinOutcome::AlreadyMember => "member",
            JoinOutcome::Refused(_) | JoinOutcome::NotConnected | JoinOutcome::NotYours => {
                "refused"
            }
            JoinOutcome::Hidden => "hidden",
            JoinOutcome::TryAgain | JoinOutcome::GraphRefused => "failed",
            JoinOutcome::NotSetUp => "not_set_up",
        };
        (
            self.join_answer(activity, viewer, &chat, &record, outcome, data, deadline)
                .await,
            label,
        )
    }

    #[allow(clippy::too_many_arguments)]
    async fn join_answer(
        &self,
        activity: &Activity,
        viewer: &Viewer,
        chat: &ChatId,
        record: &RecordRef,
        outcome: JoinOutcome,
        data: &Value,
        deadline: Instant,
    ) -> InvokeResponse {
        let retry = || cards::try_again(BUSY, Some(("join", data)));
        let (notice, just_joined) = match &outcome {
            JoinOutcome::Joined {
                notice_posted: true,
            } => (None, Some(chat)),
            JoinOutcome::Joined {
                notice_posted: false,
            } => (Some(NOTICE_SKIPPED), Some(chat)),
            JoinOutcome::AlreadyMember => (None, None),
            JoinOutcome::Hidden => {
                return InvokeResponse::card(cards::text_card(&cards::not_found(
                    record.entity,
                    record.id.as_str(),
                )))
            }
            JoinOutcome::TryAgain => return InvokeResponse::card(retry()),
            JoinOutcome::GraphRefused => {
                return InvokeResponse::card(cards::try_again(GRAPH_REFUSED, None));
            }
            JoinOutcome::NotSetUp => return InvokeResponse::card(cards::not_set_up()),
            JoinOutcome::NotConnected | JoinOutcome::NotYours => {
                // Locked, but for no cause of the behaviour table: say which.
                let decision = Decision::Locked {
                    type_disabled: false,
                    read_only: false,
                };
                let notice = if outcome == JoinOutcome::NotYours {
                    LOCKED_NOT_YOURS
                } else {
                    LOCKED_NOT_CONNECTED
                };
                return self
                    .refused_card(viewer, chat, record, decision, Some(notice))
                    .await;
            }
            JoinOutcome::Refused(decision) => {
                return self
                    .refused_card(viewer, chat, record, *decision, None)
                    .await;
            }
        };
        match self
            .record_card(
                activity,
                viewer,
                record,
                record.id.as_str(),
                Marks {
                    just_joined,
                    notice,
                },
                deadline,
            )
            .await
        {
            Ok(answer) => invoke_answer(answer),
            Err(error) => {
                tracing::warn!(%error, "joined, but the card could not be redrawn");
                InvokeResponse::card(cards::text_card("You joined the chat."))
            }
        }
    }

    async fn admin_verb(
        &self,
        activity: &Activity,
        viewer: &Viewer,
        verb: &str,
        data: &Value,
        deadline: Instant,
    ) -> (InvokeResponse, &'static str) {
        let bad = |what: &str| InvokeResponse::error(400, "BadRequest", what);
        if verb != "add" && card_data::names_someone_else(data, &[viewer.aad.as_str(), &viewer.mri])
        {
            return (
                InvokeResponse::card(cards::text_card(LOCKED_NOT_YOURS)),
                "refused",
            );
        }
        let result = match verb {
            "ask_member" => {
                let (Some(chat), Some(record)) =
                    (card_data::chat_in(data), card_data::record_in(data))
                else {
                    return (bad("The card names no chat or record."), "bad_data");
                };
                self.admins
                    .ask_member(viewer, &chat, &record, &activity.service_url, deadline)
                    .await
            }
            "ask_admin" => {
                let Some(entity) = card_data::entity_in(data) else {
                    return (bad("The card names no record type."), "bad_data");
                };
                self.admins
                    .ask_admin(viewer, entity, &activity.service_url, deadline)
                    .await
            }
            "add" => {
                self.admins
                    .add(viewer, data, &activity.service_url, deadline)
                    .await
            }
            _ => {
                let (Some(entity), Some(enabled)) = (
                    card_data::entity_in(data),
                    card_data::flag_in(data, "enabled"),
                ) else {
                    return (bad("The card names no record type or state."), "bad_data");
                };
                self.admins
                    .set_join_chat(viewer, entity, enabled, deadline)
                    .await
            }
        };
        match result {
            Ok(answer) => (invoke_answer(answer), "admin"),
            Err(error) if error.is_setup_problem() => {
                (InvokeResponse::card(cards::not_set_up()), "not_set_up")
            }
            Err(error) => {
                tracing::warn!(%error, verb, "admin action failed");
                (InvokeResponse::card(cards::try_again(BUSY, None)), "busy")
            }
        }
    }

    /// The locked answer to a refused join: that one chat, its cause(s) and
    /// the next steps, drawn from the cache only — a refusal calls no Graph.
    async fn refused_card(
        &self,
        viewer: &Viewer,
        chat: &ChatId,
        record: &RecordRef,
        decision: Decision,
        notice: Option<&str>,
    ) -> InvokeResponse {
        let cached = self.facts.cached_record(record).await;
        let known = cached
            .as_ref()
            .and_then(|r| r.chats.iter().find(|c| c.id == chat.as_str()));
        let summary = RecordSummary {
            record: record.clone(),
            name: cached.as_ref().map(|r| r.name.clone()).unwrap_or_default(),
        };
        let entry = ChatEntry {
            chat_id: chat.clone(),
            topic: known
                .map(|c| c.topic.clone())
                .unwrap_or_else(|| "This chat".into()),
            member_count: known.map_or(0, |c| c.members.len()),
            decision,
            just_joined: false,
            open_url: show::deep_link(chat),
            unavailable: None,
        };
        InvokeResponse::card(cards::record_chats(&RecordCard {
            record: &summary,
            chats: std::slice::from_ref(&entry),
            refresh_user_ids: None,
            notice,
            viewer: Some(viewer.aad.as_str()),
        }))
    }

    async fn audit_show(&self, action: &str, viewer: &Viewer, record: &RecordRef, answer: &Answer) {
        let outcome = match answer {
            Answer::Card(_) => "shown",
            Answer::Text(_) => "hidden",
        };
        audit::record(
            &self.store,
            AuditEvent {
                action,
                actor: viewer.aad.as_str(),
                entity: Some(record.entity.logical_name()),
                record: Some(record.id.as_str()),
                chat: None,
                outcome,
                reason: "",
            },
        )
        .await;
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
}

const SLOW_DOWN: &str =
    "You're sending requests faster than I can check them with Dynamics 365. Please wait a minute and try again.";
const NO_IDENTITY: &str =
    "I can't tell who you are in this conversation, so I can't show records here.";
const BUSY: &str =
    "Dynamics 365 or Teams is busy right now, so nothing was changed. Try again in a moment.";
const GRAPH_REFUSED: &str =
    "Teams didn't let me add you to this chat. Ask a member to add you, or ask your admin to check the bot's permissions.";
const NOTICE_SKIPPED: &str = "I couldn't post in that chat because the bot isn't installed there; Teams still told its members you were added.";
const LOCKED_NOT_CONNECTED: &str =
    "This chat isn't connected to that record, so it can't be joined from here.";
const LOCKED_NOT_YOURS: &str =
    "This card was made for someone else. Ask the bot for your own view of the record.";

fn seen_key(activity_id: &str) -> String {
    format!("seen:{activity_id}")
}

fn busy(error: FactsError) -> (Answer, &'static str) {
    // A refusal is not busyness: the Graph or Dataverse client logged it.
    if error.is_setup_problem() {
        return (Answer::Card(cards::not_set_up()), "not_set_up");
    }
    tracing::warn!(%error, "could not read the facts");
    (Answer::Card(cards::try_again(BUSY, None)), "busy")
}

fn admin_answer(
    result: Result<Answer, FactsError>,
    outcome: &'static str,
) -> (Answer, &'static str) {
    result.map_or_else(busy, |answer| (answer, outcome))
}

/// An invoke's `value`, or the answer refusing it.
fn parse_invoke(activity: &Activity) -> Result<AdaptiveCardInvoke, InvokeResponse> {
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
    Ok(invoke)
}

fn invoke_reply(response: InvokeResponse) -> Reply {
    // An InvokeResponse is plain data: serialising it cannot fail.
    Reply::Invoke(Bytes::from(
        serde_json::to_vec(&response).unwrap_or_default(),
    ))
}

fn invoke_answer(answer: Answer) -> InvokeResponse {
    match answer {
        Answer::Card(card) => InvokeResponse::card(card),
        Answer::Text(text) => InvokeResponse::card(cards::text_card(&text)),
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
