//! The show use case: find the record a person named, and draw the card of
//! its connected chats as *that* person may see them (the policy decides
//! each chat). Also the answers that must not reveal anything: a record that
//! does not exist and one the person cannot read get the same words.
//!
//! A warm card refresh is one store round trip (`Facts::cached`); its drawing
//! is memoised by the exact cached values it was drawn from, so nothing stale
//! can be served. A cold one (and a Show that must search) spends the
//! person's and the tenant's budget of cold looks first (`budget`).

use std::time::{Duration, Instant};

use bytes::Bytes;

mod budget;
mod render;
mod resolve;

pub use self::budget::ColdBudget;
pub use self::render::{chat_entries, deep_link, render};
pub use self::resolve::{resolve, Resolution};

use crate::{
    actions::{CardAction, Target},
    audit::{self, AuditEvent},
    cards::{
        self,
        text::{BUSY, LOOKS_OVER_BUDGET},
        ChatEntry, RecordCard, RecordSummary,
    },
    clients::connector::ConnectorClient,
    commands::RecordQuery,
    context::{Answer, Place, Viewer},
    domain::{ChatId, EntityType, RecordRef},
    facts::{Facts, FactsError, View},
    policy::Decision,
    store::{keys, Store},
    teams::InvokeResponse,
};

/// How the record card should be drawn.
#[derive(Default)]
pub struct CardOptions<'a> {
    pub refresh_user_ids: Option<&'a [String]>,
    pub marks: Marks<'a>,
}

/// What just happened, to be shown on the card.
#[derive(Default, Clone, Copy)]
pub struct Marks<'a> {
    pub just_joined: Option<&'a ChatId>,
    pub notice: Option<&'a str>,
}

/// The show use case, with what it reads from.
#[derive(Clone)]
pub struct Shows {
    facts: Facts,
    connector: ConnectorClient,
    store: Store,
    /// Refresh answers and their outcome (`refresh`, or `hidden` when the
    /// viewer may not see the record), memoised by the cached facts they
    /// were drawn from.
    drawn: moka::sync::Cache<String, (Bytes, &'static str)>,
    /// What a person's search for a typed name found, for as long as their
    /// access rights are cached, so that a shared card's refresh stays warm.
    found: moka::sync::Cache<String, Resolution>,
    budget: ColdBudget,
}

impl Shows {
    pub fn new(
        facts: Facts,
        connector: ConnectorClient,
        store: Store,
        budget: ColdBudget,
    ) -> Shows {
        Shows {
            budget,
            facts,
            connector,
            store,
            // Bounded by bytes, not entries: a drawn card is a few kilobytes.
            drawn: moka::sync::Cache::builder()
                .weigher(|key: &String, (body, _): &(Bytes, &'static str)| {
                    u32::try_from(key.len() + body.len()).unwrap_or(u32::MAX)
                })
                .max_capacity(8 * 1024 * 1024)
                .time_to_live(Duration::from_secs(30))
                .build(),
            found: moka::sync::Cache::builder()
                .max_capacity(50_000)
                .time_to_live(keys::ACCESS_TTL)
                .build(),
        }
    }

    /// `chats for <type> <name or id>`: the record's chats for the asker, a
    /// choice of records, or "not found" (the same for a record they cannot read).
    pub async fn command(
        &self,
        viewer: &Viewer,
        place: Place<'_>,
        entity: EntityType,
        target: &RecordQuery,
        deadline: Instant,
    ) -> (Answer, &'static str) {
        let query = match target {
            RecordQuery::Id(id) => id.as_str().to_owned(),
            RecordQuery::Name(name) => name.clone(),
        };
        if let Some(conversation) = place.group_chat() {
            // Seen by every member: nothing is looked up for the asker here;
            // each viewer's refresh or click draws their own view.
            let look = match target {
                RecordQuery::Id(id) => Target::Record(RecordRef {
                    entity,
                    id: id.clone(),
                }),
                RecordQuery::Name(name) => Target::Query {
                    entity,
                    text: name.clone(),
                },
            };
            let roster = self.roster(place, conversation, deadline).await;
            let card = cards::shared_look(entity, &query, &look, roster.as_deref());
            return (Answer::Card(card), "shared");
        }
        // The search runs while the switch and the asker's systemuser are
        // read ahead for the view that follows.
        let (resolution, ()) = tokio::join!(
            resolve(&self.facts, viewer, entity, target, deadline),
            self.facts.prefetch_viewer(&viewer.aad, deadline)
        );
        let record = match resolution {
            Ok(Resolution::Record(record)) => record,
            Ok(Resolution::NotFound) => {
                return (Answer::Text(cards::not_found(entity, &query)), "not_found")
            }
            Ok(Resolution::Choose(matches)) => {
                return (
                    Answer::Card(cards::choose_record(entity, &query, &matches)),
                    "choose",
                )
            }
            Err(error) => return busy(error),
        };
        match self
            .record_card(viewer, place, &record, &query, Marks::default(), deadline)
            .await
        {
            Ok(answer) => {
                self.audit_show(viewer, &record, &answer).await;
                (answer, "show")
            }
            Err(error) => busy(error),
        }
    }

    /// A card's refresh or its Show button, as an invoke response body: for
    /// a record, its card for this viewer; for a typed name, what this
    /// viewer's own search finds (their view, their choice, or not found).
    pub async fn look(
        &self,
        viewer: &Viewer,
        place: Place<'_>,
        target: &Target,
        deadline: Instant,
    ) -> (Bytes, &'static str) {
        let (entity, text) = match target {
            Target::Record(record) => {
                return self.refresh(viewer, place, record, false, deadline).await
            }
            Target::Query { entity, text } => (*entity, text),
        };
        let memo_key = format!(
            "{}\u{1f}{}\u{1f}{text}",
            viewer.aad.as_str(),
            entity.logical_name()
        );
        let mut spent = false;
        let resolution = match self.found.get(&memo_key) {
            Some(found) => found,
            None => {
                spent = true;
                if !self.budget.spend(&self.store, &viewer.aad).await {
                    return over_budget(CardAction::Show {
                        target: target.clone(),
                    });
                }
                let query = RecordQuery::Name(text.clone());
                match resolve(&self.facts, viewer, entity, &query, deadline).await {
                    Ok(found) => {
                        self.found.insert(memo_key, found.clone());
                        found
                    }
                    Err(error) => {
                        let (answer, outcome) = busy(error);
                        return (answer.into_invoke().to_bytes(), outcome);
                    }
                }
            }
        };
        let (answer, outcome) = match resolution {
            Resolution::Record(record) => {
                return self.refresh(viewer, place, &record, spent, deadline).await
            }
            Resolution::NotFound => (Answer::Text(cards::not_found(entity, text)), "hidden"),
            Resolution::Choose(matches) => (
                Answer::Card(cards::choose_record(entity, text, &matches)),
                "refresh",
            ),
        };
        (answer.into_invoke().to_bytes(), outcome)
    }

    /// A record's card for this viewer, as an invoke response body. Warm,
    /// one MGET and a lookup; cold, a cold look of the budget (unless this
    /// look has `spent` one already).
    async fn refresh(
        &self,
        viewer: &Viewer,
        place: Place<'_>,
        record: &RecordRef,
        spent: bool,
        deadline: Instant,
    ) -> (Bytes, &'static str) {
        let cached = self
            .facts
            .cached(&viewer.aad, record, place.group_chat())
            .await;
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
        if let Some(drawn) = memo_key.as_ref().and_then(|key| self.drawn.get(key)) {
            return drawn;
        }
        if !spent && !cached.is_warm() && !self.budget.spend(&self.store, &viewer.aad).await {
            return over_budget(CardAction::Refresh {
                target: Target::Record(record.clone()),
            });
        }
        let view = match self
            .facts
            .complete(cached, &viewer.aad, record, deadline)
            .await
        {
            Ok(view) => view,
            Err(error) if error.is_setup_problem() => {
                return (
                    InvokeResponse::card(cards::not_set_up()).to_bytes(),
                    "not_set_up",
                );
            }
            Err(error) => {
                tracing::warn!(%error, "refresh failed");
                let retry = CardAction::Refresh {
                    target: Target::Record(record.clone()),
                };
                let card = cards::try_again(BUSY, Some(&retry));
                return (InvokeResponse::card(card).to_bytes(), "busy");
            }
        };
        let answer = self
            .render(
                viewer,
                place,
                record,
                record.id.as_str(),
                &view,
                Marks::default(),
                deadline,
            )
            .await;
        // What the look revealed, for the audit: the record, or nothing.
        let outcome = match answer {
            Answer::Card(_) => "refresh",
            Answer::Text(_) => "hidden",
        };
        let body = answer.into_invoke().to_bytes();
        if let Some(key) = memo_key {
            self.drawn.insert(key, (body.clone(), outcome));
        }
        (body, outcome)
    }

    /// The card of a record's chats for `viewer`, with `refresh.userIds` set
    /// to who sees it here: in a group chat its members (each gets their own
    /// view), in a 1:1 chat the viewer.
    pub async fn record_card(
        &self,
        viewer: &Viewer,
        place: Place<'_>,
        record: &RecordRef,
        query: &str,
        marks: Marks<'_>,
        deadline: Instant,
    ) -> Result<Answer, FactsError> {
        let view = self
            .facts
            .view(&viewer.aad, record, place.group_chat(), false, deadline)
            .await?;
        Ok(self
            .render(viewer, place, record, query, &view, marks, deadline)
            .await)
    }

    /// The locked answer to a refused join: that one chat, its cause(s) and
    /// the next steps, drawn from the cache only — a refusal calls no Graph.
    pub async fn locked_chat(
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
            open_url: deep_link(chat),
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

    /// Draws a view; fetches the group chat's roster when it isn't cached.
    #[allow(clippy::too_many_arguments)]
    async fn render(
        &self,
        viewer: &Viewer,
        place: Place<'_>,
        record: &RecordRef,
        query: &str,
        view: &View,
        marks: Marks<'_>,
        deadline: Instant,
    ) -> Answer {
        let roster = match (place.group_chat(), &view.roster) {
            (None, _) => Some(vec![viewer.mri.clone()]).filter(|_| !viewer.mri.is_empty()),
            (Some(_), Some(cached)) => Some(cached.clone()),
            (Some(conversation), None) => self.fetch_roster(place, conversation, deadline).await,
        };
        let options = CardOptions {
            refresh_user_ids: roster.as_deref(),
            marks,
        };
        render(viewer, record, query, view, &options)
    }

    /// The members of a group chat: cached, else from the connector.
    async fn roster(
        &self,
        place: Place<'_>,
        conversation: &str,
        deadline: Instant,
    ) -> Option<Vec<String>> {
        match self.facts.cached_roster(conversation).await {
            Some(roster) => Some(roster),
            None => self.fetch_roster(place, conversation, deadline).await,
        }
    }

    async fn fetch_roster(
        &self,
        place: Place<'_>,
        conversation: &str,
        deadline: Instant,
    ) -> Option<Vec<String>> {
        match self
            .connector
            .members(place.service_url, conversation, deadline)
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

    async fn audit_show(&self, viewer: &Viewer, record: &RecordRef, answer: &Answer) {
        let outcome = match answer {
            Answer::Card(_) => "shown",
            Answer::Text(_) => "hidden",
        };
        audit::record(
            &self.store,
            AuditEvent {
                action: "show",
                actor: viewer.aad.as_str(),
                entity: Some(record.entity.logical_name()),
                record: Some(record.id.as_str()),
                chat: None,
                outcome,
                ..AuditEvent::default()
            },
        )
        .await;
    }
}

/// A cold look over budget: nothing was read; the person may try again.
fn over_budget(retry: CardAction) -> (Bytes, &'static str) {
    let card = cards::try_again(LOOKS_OVER_BUDGET, Some(&retry));
    (InvokeResponse::card(card).to_bytes(), "rate_limited")
}

/// A read failed: nothing was changed. A refusal (403) is a setup problem
/// for an admin, said as such (the Graph or Dataverse client logged it);
/// anything else, the person may try again.
pub fn busy(error: FactsError) -> (Answer, &'static str) {
    if error.is_setup_problem() {
        return (Answer::Card(cards::not_set_up()), "not_set_up");
    }
    tracing::warn!(%error, "could not read the facts");
    (Answer::Card(cards::try_again(BUSY, None)), "busy")
}
