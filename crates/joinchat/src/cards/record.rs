//! The views of one record's connected chats: the list with each chat's state for the viewer,
//! "no connected chats", the choice between several matching records, and "try again".
//!
//! Wording follows the behaviour table of docs/behaviour.md. These builders must not decide anything: the
//! caller passes each chat's decision and has already left out what the viewer may not see
//! (a `Hidden` chat that slips through is still skipped).

use serde_json::{json, Value};

use super::{
    action_set, card, execute, execute_for, heading, open_url, shown, subtle, text, ChatEntry,
    RecordCard, RecordSummary, MAX_CARD_BYTES, MAX_REFRESH_USER_IDS,
};
use crate::actions::{CardAction, Target};
use crate::domain::EntityType;
use crate::policy::Decision;

/// More chats than this are summarised in one line, so the card stays far below Teams'
/// message size limit.
const MAX_CHATS_SHOWN: usize = 25;

/// Bytes kept free for the "…and N more chats" line when chats are left out for size.
const ROOM_FOR_SUMMARY: usize = 512;

/// At most this many records are offered in a choice card.
const MAX_CHOICES: usize = 10;

/// Teams' automatic refresh of a card for `user_ids` (at most the first
/// [`MAX_REFRESH_USER_IDS`]): each gets the view drawn for them. Without a
/// list, Teams refreshes it for everyone in a chat of up to 60 members.
fn refresh(target: Target, user_ids: Option<&[String]>) -> Value {
    let action = CardAction::Refresh { target };
    let mut refresh = json!({
        "action": {
            "type": "Action.Execute",
            "verb": action.verb(),
            "title": "Refresh",
            "data": action.data(),
        },
    });
    if let Some(user_ids) = user_ids {
        refresh["userIds"] = json!(&user_ids[..user_ids.len().min(MAX_REFRESH_USER_IDS)]);
    }
    refresh
}

/// The answer to `chats for <type> <name or id>` posted in a group chat.
/// Every member sees it (and clients that never refresh it), so it names
/// nothing beyond what the asker typed: no record name, no chat, no count,
/// nobody's access. Each viewer gets their own view through the refresh
/// (`user_ids`, the first 60 members) and through the button, which answers
/// the clicker alone.
pub fn shared_look(
    entity: EntityType,
    typed: &str,
    look: &Target,
    user_ids: Option<&[String]>,
) -> Value {
    let mut card = card(vec![
        heading(&format!(
            "Chats for {} “{}”",
            entity.display_name(),
            shown(typed)
        )),
        text(
            "What each of you can see and join depends on your own access in Dynamics 365. \
             Select Show my view to see yours.",
        ),
        action_set(vec![execute(
            "Show my view",
            &CardAction::Show {
                target: look.clone(),
            },
        )]),
    ]);
    card["refresh"] = refresh(look.clone(), user_ids);
    card
}

/// The chats connected to a record, each with what this viewer can do.
pub fn record_chats(view: &RecordCard) -> Value {
    chats_card(view, &title(view.record))
}

/// The same view sent to someone a record just became theirs (its new
/// owner, or someone it was shared with for writing), under `heading`
/// (`text::offer_heading`).
pub fn offer(view: &RecordCard, heading: &str) -> Value {
    chats_card(view, heading)
}

fn chats_card(view: &RecordCard, title: &str) -> Value {
    let summary = view.record;
    let mut body = vec![heading(title)];
    if let Some(notice) = view.notice {
        body.push(subtle(notice));
    }
    let visible: Vec<&ChatEntry> = view
        .chats
        .iter()
        .filter(|chat| chat.decision != Decision::Hidden)
        .collect();
    if visible.is_empty() {
        body.push(text(&no_chats_sentence(summary)));
    }
    let mut card = card(Vec::new());
    if let Some(user_ids) = view.refresh_user_ids {
        card["refresh"] = refresh(Target::Record(summary.record.clone()), Some(user_ids));
    }
    // Chats are added while they fit: whatever their topics, ids and links, the card stays
    // valid, and the rest are counted in one line.
    let mut size = byte_len(&card)
        + body
            .iter()
            .map(|element| byte_len(element) + 1)
            .sum::<usize>();
    let mut shown = 0;
    for chat in visible.iter().take(MAX_CHATS_SHOWN) {
        let container = chat_container(summary, chat, view.viewer);
        let container_size = byte_len(&container) + 1;
        if size + container_size > MAX_CARD_BYTES - ROOM_FOR_SUMMARY {
            break;
        }
        size += container_size;
        body.push(container);
        shown += 1;
    }
    if visible.len() > shown {
        body.push(subtle(&format!(
            "…and {} more chats. Open the {} in Dynamics 365 to see them all.",
            visible.len() - shown,
            summary.record.entity.display_name()
        )));
    }
    card["body"] = Value::Array(body);
    card
}

/// The record exists and the viewer may read it, but no chat is connected to it.
pub fn no_chats(record: &RecordSummary) -> Value {
    card(vec![
        heading(&title(record)),
        text(&no_chats_sentence(record)),
    ])
}

/// Several records of `entity` match the typed `query`: one button per record.
pub fn choose_record(entity: EntityType, query: &str, matches: &[RecordSummary]) -> Value {
    let mut body = vec![text(&format!(
        "Several {} match “{}”:",
        entity.display_plural(),
        shown(query)
    ))];
    // One ActionSet per record stacks the buttons; Teams shows only a few side by side.
    body.extend(matches.iter().take(MAX_CHOICES).map(|summary| {
        action_set(vec![execute(
            &shown(&summary.name),
            &CardAction::Show {
                target: Target::Record(summary.record.clone()),
            },
        )])
    }));
    if matches.len() > MAX_CHOICES {
        body.push(subtle(&format!(
            "and {} more — be more specific.",
            matches.len() - MAX_CHOICES
        )));
    }
    card(body)
}

/// Something failed that may work later (throttling, an outage). `retry` repeats an action.
pub fn try_again(message: &str, retry: Option<&CardAction>) -> Value {
    let mut body = vec![
        heading("Something went wrong"),
        text(message),
        text("Please try again in a moment."),
    ];
    if let Some(action) = retry {
        body.push(action_set(vec![execute("Try again", action)]));
    }
    card(body)
}

/// A plain answer shown where a card is expected (an invoke must answer a card).
pub fn text_card(message: &str) -> Value {
    card(vec![text(message)])
}

fn byte_len(value: &Value) -> usize {
    serde_json::to_vec(value).map_or(0, |bytes| bytes.len())
}

fn title(record: &RecordSummary) -> String {
    format!(
        "Chats connected to {} ({})",
        shown(&record.name),
        record.record.entity.display_name()
    )
}

fn no_chats_sentence(record: &RecordSummary) -> String {
    format!(
        "No chats are connected to this {} yet.",
        record.record.entity.display_name()
    )
}

fn chat_container(record: &RecordSummary, chat: &ChatEntry, viewer: Option<&str>) -> Value {
    // A chat Graph would not describe is drawn as unavailable, unless the
    // viewer was just added to it: then Graph did answer the add, and the
    // card says so (its topic and members still unknown).
    let described = chat.unavailable.is_none();
    if let Some(problem) = chat.unavailable.filter(|_| !chat.just_joined) {
        let items = super::setup::unavailable_chat(problem);
        return json!({ "type": "Container", "separator": true, "spacing": "Medium", "items": items });
    }
    let topic = match (chat.topic.trim().is_empty(), described) {
        (false, _) => shown(&chat.topic),
        (true, true) => "Untitled chat".to_owned(),
        (true, false) => "A connected chat".to_owned(),
    };
    let mut items =
        vec![json!({ "type": "TextBlock", "text": topic, "wrap": true, "weight": "Bolder" })];
    if described {
        items.push(subtle(&match chat.member_count {
            1 => "1 member".to_owned(),
            count => format!("{count} members"),
        }));
    }
    let (lines, actions) = chat_state(record, chat, viewer);
    items.extend(lines);
    if !actions.is_empty() {
        items.push(action_set(actions));
    }
    json!({ "type": "Container", "separator": true, "spacing": "Medium", "items": items })
}

/// What the viewer reads about the chat, and the buttons they get.
fn chat_state(
    record: &RecordSummary,
    chat: &ChatEntry,
    viewer: Option<&str>,
) -> (Vec<Value>, Vec<Value>) {
    let entity = record.record.entity;
    let join = || CardAction::Join {
        chat: chat.chat_id.clone(),
        record: record.record.clone(),
    };
    let open = || open_url("Open chat", &chat.open_url);
    if chat.just_joined {
        let joined =
            json!({ "type": "TextBlock", "text": "You joined", "wrap": true, "color": "Good" });
        return (
            vec![joined, subtle("You can see the entire chat history.")],
            vec![open()],
        );
    }
    match chat.decision {
        Decision::Member => (vec![text("You're a member")], vec![open()]),
        Decision::Joinable => {
            let mut join = execute_for("Join", &join(), viewer);
            join["style"] = json!("positive");
            (vec![text("🔒 Hover over to join this chat")], vec![join])
        }
        Decision::Locked {
            type_disabled,
            read_only,
        } => {
            let mut lines = vec![json!({
                "type": "TextBlock", "text": "The chat is locked", "wrap": true, "color": "Warning",
            })];
            if type_disabled {
                lines.push(text(&format!(
                    "Your admin hasn't enabled Join chat for {}.",
                    entity.display_plural()
                )));
            }
            if read_only {
                lines.push(text(&format!(
                    "You have read-only access to this {}.",
                    entity.display_name()
                )));
            }
            let mut actions = vec![execute(
                "Ask a member to add you",
                &CardAction::AskMember {
                    chat: chat.chat_id.clone(),
                    record: record.record.clone(),
                },
            )];
            if type_disabled {
                actions.push(execute_for(
                    "Ask your admin",
                    &CardAction::AskAdmin { entity },
                    viewer,
                ));
            }
            (lines, actions)
        }
        Decision::Hidden => (Vec::new(), Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{
        actions, button_verbs, chat_entry as chat, locked, says, summary, words, CHAT, GUID,
    };
    use super::super::validate;
    use super::*;
    use crate::domain::ChatId;
    use crate::facts::ChatProblem;
    use EntityType as E;

    fn view<'a>(record: &'a RecordSummary, chats: &'a [ChatEntry]) -> RecordCard<'a> {
        RecordCard {
            record,
            chats,
            refresh_user_ids: None,
            notice: None,
            viewer: None,
        }
    }

    type Phrases<'a> = &'a [&'a str];

    #[test]
    #[rustfmt::skip]
    fn each_decision_has_its_wording_and_buttons() {
        let admin_cause = "Your admin hasn't enabled Join chat for leads.";
        let read_cause = "You have read-only access to this lead.";
        let table: [(Decision, bool, Phrases, Phrases, Phrases); 8] = [
            // decision, just joined, wording shown, wording absent, button verbs
            (Decision::Joinable, false,
                &["Hover over to join this chat", "Join"],
                &["The chat is locked", "You're a member", "Open chat"], &["join"]),
            (Decision::Member, false,
                &["You're a member", "Open chat"],
                &["Hover over", "The chat is locked", "You joined"], &[]),
            (Decision::Member, true,
                &["You joined", "Open chat"],
                &["You're a member", "Hover over", "The chat is locked"], &[]),
            (Decision::Joinable, true,
                &["You joined", "Open chat"], &["Hover over"], &[]),
            (locked(true, false), false,
                &["The chat is locked", admin_cause, "Ask a member to add you", "Ask your admin"],
                &["read-only", "Hover over", "Open chat"], &["ask_member", "ask_admin"]),
            (locked(false, true), false,
                &["The chat is locked", read_cause, "Ask a member to add you"],
                &[admin_cause, "Ask your admin", "Hover over", "Open chat"], &["ask_member"]),
            (locked(true, true), false,
                &["The chat is locked", admin_cause, read_cause, "Ask a member to add you", "Ask your admin"],
                &["Hover over", "Open chat"], &["ask_member", "ask_admin"]),
            (Decision::Hidden, false,
                &["No chats are connected to this lead yet."],
                &["Contoso deal room", "The chat is locked", "Hover over", "You're a member"], &[]),
        ];
        let record = summary(E::Lead, "Contoso Coffee expansion");
        for (decision, just_joined, shown, absent, verbs) in table {
            let chats = [chat(decision, just_joined)];
            let card = record_chats(&view(&record, &chats));
            let case = format!("{decision:?} just_joined={just_joined}: {:?}", words(&card));
            validate(&card).unwrap_or_else(|problem| panic!("{case}: {problem}"));
            assert!(says(&card, "Chats connected to Contoso Coffee expansion (lead)"), "{case}");
            for wording in shown {
                assert!(says(&card, wording), "{case} lacks {wording:?}");
            }
            for wording in absent {
                assert!(!says(&card, wording), "{case} has {wording:?}");
            }
            assert_eq!(button_verbs(&card), *verbs, "{case}");
        }
    }

    #[test]
    fn causes_name_the_record_type_in_its_own_words() {
        let record = summary(E::Incident, "Broken espresso machine");
        let both = locked(true, true);
        let chats = [chat(both, false)];
        let card = record_chats(&view(&record, &chats));
        assert!(says(
            &card,
            "Your admin hasn't enabled Join chat for cases."
        ));
        assert!(says(&card, "You have read-only access to this case."));
        assert!(says(
            &card,
            "Chats connected to Broken espresso machine (case)"
        ));
    }

    #[test]
    fn buttons_carry_only_the_names_the_server_needs() {
        let record = summary(E::Lead, "Contoso");
        let chats = [
            chat(Decision::Joinable, false),
            chat(locked(true, false), false),
        ];
        let card = record_chats(&view(&record, &chats));
        let data_of = |verb: &str| {
            actions(&card)
                .into_iter()
                .find(|action| action["verb"] == verb)
                .map(|action| action["data"].clone())
                .unwrap_or_else(|| panic!("no {verb} button"))
        };
        let table = [
            (
                "join",
                json!({ "chat_id": CHAT, "entity": "lead", "record_id": GUID }),
            ),
            (
                "ask_member",
                json!({ "chat_id": CHAT, "entity": "lead", "record_id": GUID }),
            ),
            ("ask_admin", json!({ "entity": "lead" })),
        ];
        for (verb, expected) in table {
            assert_eq!(data_of(verb), expected, "{verb}");
        }
    }

    #[test]
    fn each_chat_has_its_own_buttons() {
        let record = summary(E::Lead, "Contoso");
        let chats = [
            chat(Decision::Joinable, false),
            chat(Decision::Member, false),
            chat(locked(false, true), false),
        ];
        let card = record_chats(&view(&record, &chats));
        let containers: Vec<&Value> = card["body"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|element| element["type"] == "Container")
            .collect();
        assert_eq!(containers.len(), 3);
        let expected_titles = [["Join"], ["Open chat"], ["Ask a member to add you"]];
        for (container, titles) in containers.iter().zip(expected_titles) {
            let action_set = container["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|item| item["type"] == "ActionSet")
                .expect("an ActionSet in the chat's container");
            let found: Vec<&str> = action_set["actions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|action| action["title"].as_str().unwrap())
                .collect();
            assert_eq!(found, titles);
        }
        assert!(card.get("actions").is_none(), "no card-level buttons");
    }

    #[test]
    fn refresh_lists_at_most_sixty_viewers() {
        let record = summary(E::Opportunity, "Big deal");
        let chats = [chat(Decision::Joinable, false)];
        let ids = |count: usize| {
            (0..count)
                .map(|n| format!("29:user-{n}"))
                .collect::<Vec<_>>()
        };
        let table = [
            (None, None),
            (Some(ids(0)), Some(0)),
            (Some(ids(3)), Some(3)),
            (Some(ids(60)), Some(60)),
            (Some(ids(75)), Some(60)),
        ];
        for (user_ids, expected) in table {
            let card = record_chats(&RecordCard {
                refresh_user_ids: user_ids.as_deref(),
                ..view(&record, &chats)
            });
            validate(&card).unwrap();
            let Some(expected) = expected else {
                assert!(card.get("refresh").is_none());
                continue;
            };
            let refresh = &card["refresh"];
            assert_eq!(refresh["userIds"].as_array().unwrap().len(), expected);
            if expected > 0 {
                assert_eq!(
                    refresh["userIds"][0], "29:user-0",
                    "the first viewers are kept"
                );
            }
            assert_eq!(refresh["action"]["type"], "Action.Execute");
            assert_eq!(refresh["action"]["verb"], "refresh");
            assert_eq!(
                refresh["action"]["data"],
                json!({ "entity": "opportunity", "record_id": GUID })
            );
        }
    }

    #[test]
    fn a_notice_is_shown_small_under_the_title() {
        let record = summary(E::Lead, "Contoso");
        let chats = [chat(Decision::Member, true)];
        let notice = "I couldn't post the joined message in that chat because the bot isn't installed there; Teams still told its members.";
        let card = record_chats(&RecordCard {
            notice: Some(notice),
            ..view(&record, &chats)
        });
        let block = &card["body"][1];
        assert_eq!(block["text"], notice);
        assert_eq!(block["isSubtle"], true);
        validate(&card).unwrap();
    }

    #[test]
    fn twenty_chats_with_long_names_stay_far_below_the_size_limit() {
        let record = summary(E::Opportunity, &"Very long opportunity name ".repeat(20));
        let decisions = [
            Decision::Joinable,
            Decision::Member,
            locked(true, true),
            locked(true, false),
        ];
        let chats: Vec<ChatEntry> = (0..20)
            .map(|n| ChatEntry {
                chat_id: ChatId::parse(&format!("19:{}{n:02}@thread.v2", "a1b2c3d4".repeat(8)))
                    .unwrap(),
                topic: format!("{n} {}", "A very long chat topic about the deal ".repeat(10)),
                member_count: 250,
                decision: decisions[n % decisions.len()],
                just_joined: n == 1,
                open_url: format!(
                    "https://teams.microsoft.com/l/chat/19%3A{}{n:02}%40thread.v2/0?tenantId={GUID}",
                    "a1b2c3d4".repeat(8)
                ),
                unavailable: None,
            })
            .collect();
        let user_ids: Vec<String> = (0..60)
            .map(|n| format!("29:1bSnHZ7js2STWrgk6ScEErLk1Lp2zQuD5H2qQ960rtvstKp8tKLl-{n:03}"))
            .collect();
        let card = record_chats(&RecordCard {
            record: &record,
            chats: &chats,
            refresh_user_ids: Some(&user_ids),
            notice: Some("A notice."),
            viewer: None,
        });
        validate(&card).unwrap();
        assert!(!says(&card, "more chats"), "all 20 chats are shown");
    }

    #[test]
    fn a_chat_just_joined_says_so_even_when_graph_would_not_describe_it() {
        let record = summary(E::Lead, "Contoso");
        let entry = |just_joined| ChatEntry {
            chat_id: ChatId::parse("19:deal-room@thread.v2").unwrap(),
            topic: String::new(),
            member_count: 0,
            decision: Decision::Member,
            just_joined,
            open_url: "https://teams.microsoft.com/l/chat/19%3Adeal-room%40thread.v2/0".into(),
            unavailable: Some(ChatProblem::Busy),
        };
        for (just_joined, joined, unavailable) in [(true, true, false), (false, false, true)] {
            let card = record_chats(&RecordCard {
                record: &record,
                chats: &[entry(just_joined)],
                refresh_user_ids: None,
                notice: None,
                viewer: None,
            });
            validate(&card).unwrap();
            assert_eq!(says(&card, "You joined"), joined, "{card}");
            assert_eq!(says(&card, "Unavailable right now"), unavailable, "{card}");
            assert!(says(&card, "A connected chat"), "{card}");
            assert!(!says(&card, "0 members"), "{card}");
        }
    }

    #[test]
    fn oversized_chats_are_counted_instead_of_shown() {
        let record = summary(E::Lead, &"n".repeat(1000));
        let chat_id = format!("19:{}", "c".repeat(253));
        let chats: Vec<ChatEntry> = (0..MAX_CHATS_SHOWN)
            .map(|_| ChatEntry {
                chat_id: ChatId::parse(&chat_id).unwrap(),
                topic: "t".repeat(1000),
                member_count: 2,
                decision: locked(true, true),
                just_joined: false,
                open_url: format!("https://teams.microsoft.com/l/chat/{}", "u".repeat(2000)),
                unavailable: None,
            })
            .collect();
        let user_ids: Vec<String> = (0..60)
            .map(|n| format!("29:{}{n}", "m".repeat(120)))
            .collect();
        let card = record_chats(&RecordCard {
            record: &record,
            chats: &chats,
            refresh_user_ids: Some(&user_ids),
            notice: Some(&"a notice ".repeat(50)),
            viewer: None,
        });
        validate(&card).unwrap();
        assert!(says(
            &card,
            "more chats. Open the lead in Dynamics 365 to see them all."
        ));
    }

    #[test]
    fn many_chats_are_summarised() {
        let record = summary(E::Lead, "Contoso");
        let chats = vec![chat(Decision::Member, false); MAX_CHATS_SHOWN + 4];
        let card = record_chats(&view(&record, &chats));
        assert!(says(&card, "…and 4 more chats."));
        let shown = card["body"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|element| element["type"] == "Container")
            .count();
        assert_eq!(shown, MAX_CHATS_SHOWN);
        validate(&card).unwrap();
    }

    #[test]
    fn no_chats_says_so_plainly() {
        let record = summary(E::Account, "Fabrikam");
        let card = no_chats(&record);
        validate(&card).unwrap();
        assert!(says(&card, "Chats connected to Fabrikam (account)"));
        assert!(says(&card, "No chats are connected to this account yet."));
        assert!(actions(&card).is_empty());
        assert_eq!(
            words(&record_chats(&view(&record, &[]))),
            words(&card),
            "an empty list reads like no_chats"
        );
    }

    #[test]
    fn several_matches_offer_one_button_each() {
        let names: Vec<String> = (1..=12).map(|n| format!("Contoso {n}")).collect();
        let matches: Vec<RecordSummary> = names.iter().map(|name| summary(E::Lead, name)).collect();
        let table = [
            (2, 2, None),
            (10, 10, None),
            (12, 10, Some("and 2 more — be more specific.")),
        ];
        for (given, buttons, more) in table {
            let card = choose_record(E::Lead, "Contoso", &matches[..given]);
            validate(&card).unwrap();
            assert!(says(&card, "Several leads match “Contoso”:"));
            let titles: Vec<String> = actions(&card)
                .iter()
                .map(|action| action["title"].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(titles, names[..buttons]);
            assert_eq!(button_verbs(&card), vec!["show"; buttons]);
            assert_eq!(
                actions(&card)[0]["data"],
                json!({ "entity": "lead", "record_id": GUID })
            );
            match more {
                Some(more) => assert!(says(&card, more)),
                None => assert!(!says(&card, "more")),
            }
        }
    }

    #[test]
    fn try_again_offers_a_retry_only_when_given_one() {
        let record = crate::domain::RecordRef {
            entity: EntityType::Lead,
            id: crate::domain::RecordId::parse(GUID).unwrap(),
        };
        let refresh = CardAction::Refresh {
            target: Target::Record(record),
        };
        let table = [
            (None, Vec::<String>::new()),
            (Some(&refresh), vec!["refresh".to_owned()]),
        ];
        for (retry, verbs) in table {
            let card = try_again("Dynamics 365 is busy right now.", retry);
            validate(&card).unwrap();
            assert!(says(&card, "Something went wrong"));
            assert!(says(&card, "Dynamics 365 is busy right now."));
            assert!(says(&card, "try again in a moment"));
            assert_eq!(button_verbs(&card), verbs);
        }
    }
}
