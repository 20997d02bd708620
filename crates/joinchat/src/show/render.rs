//! Drawing a record's chats for one viewer: pure, from the facts to the
//! card, each chat's view decided by the policy.

use crate::{
    cards::{self, ChatEntry, RecordCard, RecordSummary},
    context::{Answer, Viewer},
    domain::{ChatId, RecordRef},
    facts::{RecordFacts, View},
    policy::{self, Decision},
};

use super::CardOptions;

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

/// Each chat connected to the record as this viewer may see it, the policy
/// deciding each (those hidden from them left out).
pub fn chat_entries(viewer: &Viewer, view: &View, record: &RecordFacts) -> Vec<ChatEntry> {
    entries(viewer, view, record, None)
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
            let decision = policy::decide(policy::Situation {
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
