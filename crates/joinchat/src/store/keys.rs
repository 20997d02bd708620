//! Every key joinchat keeps in the store, with its lifetime and its writer,
//! in one place. The store adds the configured prefix (`jc:` by default; in a
//! Redis Cluster the prefix made a hash tag, see [`cluster_prefix`]).
//!
//! Nothing here is the only copy of anything that matters: Dataverse and
//! Graph hold the facts; losing the store costs cache misses, pending asks
//! and 1:1 conversation references (rebuilt as people talk to the bot).

use std::time::Duration;

use crate::domain::{AadObjectId, ChatId, EntityType, RecordRef};

/// The prefix as a Redis Cluster hash tag: `jc:` becomes `{jc}:`, so that
/// every key of one deployment hashes to one slot. That is what keeps each
/// multi-key command (the warm refresh's one MGET of [`SETTINGS`],
/// [`access`], [`record_chats`] and [`roster`]) a single command to a single
/// node, and it holds for every key added later without anyone having to
/// think about slots.
///
/// The price: one deployment's keys live on one primary (and its replicas);
/// the cluster spreads deployments (prefixes), not one deployment's keys. A
/// warm refresh costs that node one MGET (about 3 µs of Redis CPU, see
/// DESIGN), so one primary carries far more refreshes than the bot's replicas
/// can send. Spreading by record would need the switch ([`SETTINGS`], one
/// global value that every replica must see change at once) out of the MGET.
///
/// `None` when the prefix cannot be made a tag: empty (apart from trailing
/// colons; `{}` is no tag) or holding a brace of its own.
pub fn cluster_prefix(prefix: &str) -> Option<String> {
    let name = prefix.trim_end_matches(':');
    if name.is_empty() || name.contains(['{', '}']) {
        return None;
    }
    Some(format!("{{{name}}}:"))
}

/// `user:{aad}` → the person's systemuser. Written by `facts`.
pub fn user(aad: &AadObjectId) -> String {
    format!("user:{}", aad.as_str())
}
pub const USER_TTL: Duration = Duration::from_secs(3600);

/// The record types whose Join chat switch is on. Written by `facts`;
/// dropped by `admin::switch` on every change, for every replica.
pub const SETTINGS: &str = "cfg:joinchat";
pub const SETTINGS_TTL: Duration = Duration::from_secs(300);

/// `acc:{aad}:{entity}:{id}` → one person's access rights to one record,
/// keyed by the Entra id so that a warm refresh needs no lookup first.
/// Written by `facts`.
pub fn access(viewer: &AadObjectId, record: &RecordRef) -> String {
    format!(
        "acc:{}:{}:{}",
        viewer.as_str(),
        record.entity.logical_name(),
        record.id.as_str()
    )
}
pub const ACCESS_TTL: Duration = Duration::from_secs(60);

/// `chats:{entity}:{id}` → the record's name and its connected chats with
/// their members. Written by `facts` (and after a join, by `facts::note_member`).
pub fn record_chats(record: &RecordRef) -> String {
    format!(
        "chats:{}:{}",
        record.entity.logical_name(),
        record.id.as_str()
    )
}
pub const RECORD_TTL: Duration = Duration::from_secs(60);
/// A record with a chat Graph would not describe (shown as unavailable): kept
/// this briefly, so the chat shows up again as soon as Graph answers.
pub const DEGRADED_RECORD_TTL: Duration = Duration::from_secs(10);

/// `roster:{conversation}` → the members of a group chat the bot answers in
/// (the card's `refresh.userIds`). Written by `facts`.
pub fn roster(conversation: &str) -> String {
    format!("roster:{conversation}")
}
pub const ROSTER_TTL: Duration = Duration::from_secs(600);

/// `role:{aad}` → whether the person holds the admin role. Written by `admin`.
pub fn role(aad: &AadObjectId) -> String {
    format!("role:{}", aad.as_str())
}
pub const ROLE_TTL: Duration = Duration::from_secs(60);

/// `seen:{activity id}`: `running:{token}` (SET NX, for the budget plus
/// [`SEEN_RUNNING_MARGIN`]) while one delivery is handled, then `done` for
/// [`SEEN_TTL`] when the handling completed, or deleted (only by the holder of
/// the token) when it did not, so that a redelivery runs again. Written by `bot`.
pub fn seen(activity_id: &str) -> String {
    format!("seen:{activity_id}")
}
/// Teams redelivers for a while; ids are remembered a little longer than that.
pub const SEEN_TTL: Duration = Duration::from_secs(600);
/// How much longer than the budget a "running" mark outlives a replica that
/// died while handling the activity.
pub const SEEN_RUNNING_MARGIN: Duration = Duration::from_secs(10);

/// `rate:{aad}:{minute}` (INCR): one person's commands and card actions in
/// the current minute. Written by `bot`.
pub fn rate(aad: &AadObjectId, minute: u64) -> String {
    format!("rate:{}:{minute}", aad.as_str())
}
pub const RATE_WINDOW: Duration = Duration::from_secs(60);

/// `budget:user:{aad}` and `budget:tenant` → a token bucket of cold work
/// (refreshes and shows that must ask Dataverse or Graph), as
/// `"{tokens}:{updated at, ms since the epoch}"`. Written by `store::budget`
/// for `show`.
pub fn person_budget(aad: &AadObjectId) -> String {
    format!("budget:user:{}", aad.as_str())
}
pub const TENANT_BUDGET: &str = "budget:tenant";

/// `flight:{what}` (SET NX PX): one replica reads `what` from Dataverse and
/// Graph while the others wait for its cache write. Written by `store::flight`
/// for `facts`.
pub fn flight(what: &str) -> String {
    format!("flight:{what}")
}
/// Longer than a read takes; a replica that dies holding it holds nobody up long.
pub const FLIGHT_TTL: Duration = Duration::from_secs(5);
/// How long a replica waits for another's cache write before reading itself…
pub const FLIGHT_WAIT: Duration = Duration::from_secs(2);
/// …looking this often.
pub const FLIGHT_POLL: Duration = Duration::from_millis(20);

/// `lock:join:{chat}:{aad}` (SET NX PX): one join of one person to one chat
/// at a time, across replicas. Written by `join`.
pub fn join_lock(chat: &ChatId, aad: &AadObjectId) -> String {
    format!("lock:join:{}:{}", chat.as_str(), aad.as_str())
}
/// How long a join may hold its lock; longer than any join takes.
pub const JOIN_LOCK_TTL: Duration = Duration::from_secs(20);

/// `ask:member:{chat}:{aad}`: this person asked this chat's members within
/// the hour. Written by `admin::ask_member`.
pub fn ask_member_once(chat: &ChatId, aad: &AadObjectId) -> String {
    format!("ask:member:{}:{}", chat.as_str(), aad.as_str())
}

/// `ask:admin:{entity}:{aad}`: this person asked the admins about this record
/// type within the hour. Written by `admin::ask_admin`.
pub fn ask_admin_once(entity: EntityType, aad: &AadObjectId) -> String {
    format!("ask:admin:{}:{}", entity.logical_name(), aad.as_str())
}
/// One ask of each kind an hour.
pub const ASK_WINDOW: Duration = Duration::from_secs(3600);

/// `request:{id}` → a pending ask-a-member request, until someone adds the
/// requester. Written by `admin::ask_member`.
pub fn request(id: &str) -> String {
    format!("request:{id}")
}
pub const REQUEST_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// `ref:{aad}` → how to reach the person 1:1. Written by `admin::conversations`.
pub fn conversation_ref(aad: &str) -> String {
    format!("ref:{}", aad.to_ascii_lowercase())
}
pub const REFERENCE_TTL: Duration = Duration::from_secs(90 * 24 * 3600);

/// `svc:url` → the Bot Connector `serviceUrl` of the last personal
/// conversation a replica remembered, for 1:1 chats found through Graph
/// (which carry none). Written by `admin::conversations`.
pub const SERVICE_URL: &str = "svc:url";

/// `hook:{message}:{entity}:{id}:{event id}` (SET NX): this Dataverse webhook
/// call was taken once; a redelivery (same `OperationId`, `RequestId` or
/// `x-request-id`) is answered without doing anything. Dropped again when the
/// handling failed, so that Dataverse's retry runs it. Written by `offer`.
pub fn webhook_seen(message: &str, record: &RecordRef, event_id: &str) -> String {
    format!(
        "hook:{message}:{}:{}:{event_id}",
        record.entity.logical_name(),
        record.id.as_str()
    )
}
/// Dataverse retries a failed asynchronous call for hours; ids are kept a day.
pub const WEBHOOK_SEEN_TTL: Duration = Duration::from_secs(24 * 3600);

/// `offer:{aad}:{entity}:{id}` (SET NX): this person was just offered this
/// record's chats, so a second event about the same hand-over (an assign and
/// a share together, a redelivery under a new id) sends nothing more.
/// Written by `offer`.
pub fn offered(aad: &AadObjectId, record: &RecordRef) -> String {
    format!(
        "offer:{}:{}:{}",
        aad.as_str(),
        record.entity.logical_name(),
        record.id.as_str()
    )
}
pub const OFFERED_TTL: Duration = Duration::from_secs(600);

/// The audit stream (XADD with MAXLEN ~ [`AUDIT_MAX_LEN`]: longest kept,
/// approximately, before old events are trimmed). Written by `audit`.
pub const AUDIT_STREAM: &str = "audit";
pub const AUDIT_MAX_LEN: usize = 100_000;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{RecordId, RecordRef};

    /// Redis Cluster's slot of a key (CRC16/XMODEM of the hash tag, mod 16384).
    fn slot(key: &str) -> redis::cluster_routing::Slot {
        redis::cluster_routing::Slot::for_key(key)
    }

    #[test]
    fn the_cluster_prefix_is_a_hash_tag_of_the_prefix() {
        assert_eq!(cluster_prefix("jc:").as_deref(), Some("{jc}:"));
        assert_eq!(cluster_prefix("test:42:").as_deref(), Some("{test:42}:"));
        assert_eq!(cluster_prefix("bot").as_deref(), Some("{bot}:"));
        for untaggable in ["", ":", "::", "a{b", "}"] {
            assert_eq!(cluster_prefix(untaggable), None, "{untaggable:?}");
        }
    }

    #[test]
    fn the_warm_refresh_keys_share_one_slot_in_a_cluster_and_prefixes_spread() {
        let viewer = AadObjectId::parse("1b4e28ba-2fa1-11d2-883f-0016d3cca427").unwrap();
        let record = RecordRef {
            entity: EntityType::Lead,
            id: RecordId::parse("8f14e45f-ceea-467f-a0c5-1b2d3e4f5a6b").unwrap(),
        };
        let chat = ChatId::parse("19:room@thread.v2").unwrap();
        let mut slots = std::collections::HashSet::new();
        for n in 0..64 {
            let prefix = cluster_prefix(&format!("deployment-{n}:")).unwrap();
            let refresh = [
                SETTINGS.to_owned(),
                access(&viewer, &record),
                record_chats(&record),
                roster("19:room@thread.v2"),
            ];
            let others = [
                user(&viewer),
                seen("activity-1"),
                join_lock(&chat, &viewer),
                webhook_seen("Update", &record, "operation-1"),
                offered(&viewer, &record),
                SERVICE_URL.to_owned(),
                AUDIT_STREAM.to_owned(),
                person_budget(&viewer),
                TENANT_BUDGET.to_owned(),
                flight(&record_chats(&record)),
            ];
            let first = slot(&format!("{prefix}{}", refresh[0]));
            for key in refresh.iter().chain(&others) {
                assert_eq!(slot(&format!("{prefix}{key}")), first, "{prefix}{key}");
            }
            slots.insert(first);
        }
        assert!(
            slots.len() > 32,
            "deployments spread over the slots: {}",
            slots.len()
        );
    }
}
