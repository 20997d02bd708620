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
            // Graph has just added the viewer to this chat, whatever the
            // cached roster says: concurrent joins rewrite that one cached
            // list, and another join may have written a copy read before
            // this add.
            let joined_now = just_joined == Some(&chat_id);
            let decision = policy::decide(policy::Situation {
                can_read: view.access.read,
                can_write: view.access.write,
                join_enabled: view.join_enabled,
                is_member: joined_now || chat.has_member(&viewer.aad),
            });
            if decision == Decision::Hidden {
                return None;
            }
            let open_url = chat.web_url.clone().unwrap_or_else(|| deep_link(&chat_id));
            Some(ChatEntry {
                just_joined: joined_now && decision == Decision::Member,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::dataverse::Access;
    use crate::domain::AadObjectId;
    use crate::facts::ChatFacts;

    const CHAT: &str = "19:deal-room@thread.v2";

    fn view(members: Vec<String>) -> View {
        View {
            access: Access {
                read: true,
                write: true,
            },
            join_enabled: true,
            record: Some(RecordFacts {
                name: "Contoso".into(),
                chats: vec![ChatFacts {
                    id: CHAT.into(),
                    topic: "Deal room".into(),
                    web_url: None,
                    members,
                    unavailable: None,
                }],
            }),
            roster: None,
        }
    }

    #[test]
    #[rustfmt::skip]
    fn a_chat_just_joined_is_drawn_as_joined_even_when_the_cached_roster_lags() {
        let viewer = Viewer {
            aad: AadObjectId::parse("6bd2cb91-a798-4c85-acc9-28cd4100d278").unwrap(),
            mri: "29:alex".into(),
            name: "Alex".into(),
        };
        let chat = ChatId::parse(CHAT).unwrap();
        let other = ChatId::parse("19:other@thread.v2").unwrap();
        let listed = vec![viewer.aad.as_str().to_owned()];
        let table = [
            // cached roster    just joined    decision            "You joined"
            (listed.clone(),    Some(&chat),   Decision::Member,   true),
            (vec![],            Some(&chat),   Decision::Member,   true),
            (listed,            None,          Decision::Member,   false),
            (vec![],            None,          Decision::Joinable, false),
            (vec![],            Some(&other),  Decision::Joinable, false),
        ];
        for (members, just_joined, decision, joined) in table {
            let view = view(members.clone());
            let record = view.record.clone().unwrap();
            let entries = entries(&viewer, &view, &record, just_joined);
            let case = format!("{members:?} {just_joined:?}");
            assert_eq!(entries[0].decision, decision, "{case}");
            assert_eq!(entries[0].just_joined, joined, "{case}");
        }
    }
}
