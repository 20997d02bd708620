//! The show use case: find the record a person named, and build the card of
//! its connected chats as *that* person may see them (the policy decides
//! each chat). Also the answers that must not reveal anything: a record that
//! does not exist and one the person cannot read get the same words.

use std::time::Instant;

use serde_json::Value;

use crate::{
    cards::{self, ChatEntry, RecordCard, RecordSummary},
    clients::dataverse::{RecordRow, SEARCH_PAGE},
    commands::RecordQuery,
    domain::{AadObjectId, ChatId, EntityType, RecordRef},
    facts::{Facts, FactsError, RecordFacts, View},
    policy::{self, Decision},
};

/// Who is looking, from the verified activity.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub aad: AadObjectId,
    /// The Teams user id (`29:…`), used in `refresh.userIds`.
    pub mri: String,
    pub name: String,
}

/// What a typed record name or id resolved to.
pub enum Resolution {
    Record(RecordRef),
    /// Several readable records match: the person picks one.
    Choose(Vec<RecordSummary>),
    NotFound,
}

/// A card to send, or a plain-text answer.
pub enum Answer {
    Card(Value),
    Text(String),
}

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

pub async fn resolve(
    facts: &Facts,
    viewer: &Viewer,
    entity: EntityType,
    query: &RecordQuery,
    deadline: Instant,
) -> Result<Resolution, FactsError> {
    let text = match query {
        RecordQuery::Id(id) => {
            return Ok(Resolution::Record(RecordRef {
                entity,
                id: id.clone(),
            }))
        }
        RecordQuery::Name(text) => text,
    };
    // The search runs as the seller: records they cannot read never come back.
    let dataverse = facts.dataverse();
    let rows = dataverse
        .find_records(entity, text, &viewer.aad, deadline)
        .await?;
    // A full page may have left the exact match out: then ask for it by name.
    let named: Vec<RecordRow>;
    let exact_from: &[RecordRow] = if rows.len() >= SEARCH_PAGE {
        named = dataverse
            .records_named(entity, text.trim(), &viewer.aad, deadline)
            .await?;
        &named
    } else {
        &rows
    };
    let exact: Vec<&RecordRow> = exact_from
        .iter()
        .filter(|row| row.name.trim().eq_ignore_ascii_case(text.trim()))
        .collect();
    let chosen = match (exact.as_slice(), rows.as_slice()) {
        ([only], _) => Some(*only),
        ([], [only]) => Some(only),
        _ => None,
    };
    if let Some(row) = chosen {
        return Ok(Resolution::Record(RecordRef {
            entity,
            id: row.id.clone(),
        }));
    }
    if rows.is_empty() {
        return Ok(Resolution::NotFound);
    }
    let candidates = if exact.len() > 1 {
        exact
    } else {
        rows.iter().collect()
    };
    Ok(Resolution::Choose(
        candidates
            .into_iter()
            .map(|row| RecordSummary {
                record: RecordRef {
                    entity,
                    id: row.id.clone(),
                },
                name: row.name.clone(),
            })
            .collect(),
    ))
}

/// Draws a view; pure, so warm refreshes cost nothing but the cache read.
pub fn render(
    viewer: &Viewer,
    record: &RecordRef,
    query: &str,
    view: &View,
    options: &CardOptions<'_>,
) -> Answer {
    let Some(record_facts) = &view.record else {
        return Answer::Text(cards::not_found(record.entity, query));
    };
    let summary = RecordSummary {
        record: record.clone(),
        name: record_facts.name.clone(),
    };
    let chats = entries(viewer, view, record_facts, options.marks.just_joined);
    if chats.is_empty() {
        return Answer::Card(cards::no_chats(&summary));
    }
    Answer::Card(cards::record_chats(&RecordCard {
        record: &summary,
        chats: &chats,
        refresh_user_ids: options.refresh_user_ids,
        notice: options.marks.notice,
        viewer: Some(viewer.aad.as_str()),
    }))
}

fn entries(
    viewer: &Viewer,
    view: &View,
    record: &RecordFacts,
    just_joined: Option<&ChatId>,
) -> Vec<ChatEntry> {
    record
        .chats
        .iter()
        .filter_map(|chat| {
            let chat_id = ChatId::parse(&chat.id).ok()?;
            let decision = policy::decide(policy::Facts {
                can_read: view.access.read,
                can_write: view.access.write,
                join_enabled: view.join_enabled,
                is_member: chat.has_member(&viewer.aad),
            });
            if decision == Decision::Hidden {
                return None;
            }
            let open_url = chat.web_url.clone().unwrap_or_else(|| deep_link(&chat_id));
            Some(ChatEntry {
                just_joined: just_joined == Some(&chat_id) && decision == Decision::Member,
                chat_id,
                topic: chat.topic.clone(),
                member_count: chat.members.len(),
                decision,
                open_url,
                unavailable: chat.unavailable,
            })
        })
        .collect()
}

/// The Teams link that opens a chat by its thread id.
pub fn deep_link(chat: &ChatId) -> String {
    let encoded =
        percent_encoding::utf8_percent_encode(chat.as_str(), percent_encoding::NON_ALPHANUMERIC);
    format!("https://teams.microsoft.com/l/chat/{encoded}/0")
}
