//! The audit trail: one event per decision — shown, joined, refused, switched —
//! with who, what and why, appended to the store's `audit` stream (a Redis
//! Stream under Redis). Ids only: no names, no message text, no tokens. When
//! the store is down the event goes to the log instead, so none is lost
//! silently. Refreshes and Show clicks are counted and written once per
//! window ([`Looks`]), off the hot path.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::store::{keys, Store};

/// One decision, as the audit trail records it.
#[derive(Debug, Clone, Default)]
pub struct AuditEvent<'a> {
    /// What was attempted: `show`, `refresh`, `join`, `set_join_chat`, `ask_member`, `ask_admin`, `add`.
    pub action: &'a str,
    /// The Entra object id of the person acting.
    pub actor: &'a str,
    pub entity: Option<&'a str>,
    pub record: Option<&'a str>,
    pub chat: Option<&'a str>,
    /// `joined`, `member`, `joinable`, `locked`, `hidden`, `refused`, `failed`, `changed` …
    pub outcome: &'a str,
    /// Why, in a few words (`read_only`, `type_disabled`, `not_connected`, `tampered_user` …).
    pub reason: &'a str,
    /// When a Graph or Dataverse failure decided the outcome, its kind
    /// (`throttled`, `unavailable`, `uncertain_status` … — a fixed word, never
    /// the service's message or a token).
    pub failure: Option<&'a str>,
}

pub async fn record(store: &Store, event: AuditEvent<'_>) {
    record_counted(store, event, &[]).await;
}

/// The same with extra fields (a count and its window).
async fn record_counted(store: &Store, event: AuditEvent<'_>, extra: &[(&'static str, String)]) {
    let at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let mut fields = vec![
        ("at", at),
        ("action", event.action.to_owned()),
        ("actor", event.actor.to_owned()),
        ("outcome", event.outcome.to_owned()),
    ];
    for (name, value) in [
        ("entity", event.entity),
        ("record", event.record),
        ("chat", event.chat),
        ("reason", Some(event.reason).filter(|r| !r.is_empty())),
        ("failure", event.failure),
    ] {
        if let Some(value) = value {
            fields.push((name, value.to_owned()));
        }
    }
    fields.extend(extra.iter().cloned());
    if let Err(error) = store.append_event(keys::AUDIT_STREAM, &fields).await {
        tracing::warn!(
            %error,
            audit.action = event.action,
            audit.actor = event.actor,
            audit.entity = event.entity,
            audit.record = event.record,
            audit.chat = event.chat,
            audit.outcome = event.outcome,
            audit.reason = event.reason,
            audit.failure = event.failure,
            "audit event kept in the log only: store unavailable"
        );
    }
}

/// How long refreshes and shows are counted before their events are written.
pub const LOOK_WINDOW: Duration = Duration::from_secs(60);
/// How many distinct (viewer, record, outcome) counts one window holds before
/// it is written early.
const LOOK_KEYS_PER_WINDOW: usize = 20_000;

/// Card refreshes and Show clicks, audited in aggregate.
///
/// A warm refresh is one store round trip and no other I/O, and a card in a
/// busy group chat is refreshed by every viewer every time they look at it: an
/// event per refresh would double the hot path's store traffic and flood the
/// stream. So each look is counted in memory under (action, viewer, record,
/// outcome), and once per [`LOOK_WINDOW`] — or sooner when a window holds
/// [`LOOK_KEYS_PER_WINDOW`] distinct keys — every count becomes one event
/// with `count` and `since` (when the window opened). A replica that stops
/// loses at most one window of counts; Redis is never the only copy of the
/// decision (the policy re-derives it on every look).
#[derive(Clone)]
pub struct Looks {
    shared: Arc<LooksShared>,
}

struct LooksShared {
    store: Store,
    window: Mutex<LookWindow>,
    full: tokio::sync::Notify,
}

struct LookWindow {
    since: time::OffsetDateTime,
    counts: HashMap<LookKey, u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct LookKey {
    action: &'static str,
    actor: String,
    entity: String,
    record: String,
    outcome: &'static str,
}

impl Looks {
    pub fn new(store: Store) -> Looks {
        Looks {
            shared: Arc::new(LooksShared {
                store,
                window: Mutex::new(LookWindow {
                    since: time::OffsetDateTime::now_utc(),
                    counts: HashMap::new(),
                }),
                full: tokio::sync::Notify::new(),
            }),
        }
    }

    /// Counts one look (no I/O). `record` is the record's id, or empty for a
    /// card that carries a typed name (never kept).
    pub fn note(
        &self,
        action: &'static str,
        actor: &str,
        entity: &str,
        record: &str,
        outcome: &'static str,
    ) {
        let key = LookKey {
            action,
            actor: actor.to_owned(),
            entity: entity.to_owned(),
            record: record.to_owned(),
            outcome,
        };
        let full = {
            let mut window = self.lock();
            *window.counts.entry(key).or_insert(0) += 1;
            window.counts.len() >= LOOK_KEYS_PER_WINDOW
        };
        if full {
            self.shared.full.notify_one();
        }
    }

    /// Writes one event per counted key and opens a new window.
    pub async fn flush(&self) {
        let (since, counts) = {
            let mut window = self.lock();
            let since = std::mem::replace(&mut window.since, time::OffsetDateTime::now_utc());
            (since, std::mem::take(&mut window.counts))
        };
        let since = since
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        for (key, count) in counts {
            let count = count.to_string();
            record_counted(
                &self.shared.store,
                AuditEvent {
                    action: key.action,
                    actor: &key.actor,
                    entity: Some(&key.entity),
                    record: Some(key.record.as_str()).filter(|id| !id.is_empty()),
                    outcome: key.outcome,
                    ..AuditEvent::default()
                },
                &[("count", count), ("since", since.clone())],
            )
            .await;
        }
    }

    /// Flushes every `window` (and whenever a window fills up) until the
    /// last clone of this `Looks` is dropped.
    pub fn spawn_flusher(&self, window: Duration) {
        let weak = Arc::downgrade(&self.shared);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(window);
            ticks.tick().await;
            loop {
                let Some(shared) = weak.upgrade() else { return };
                tokio::select! {
                    _ = ticks.tick() => {}
                    _ = shared.full.notified() => {}
                }
                Looks { shared }.flush().await;
            }
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LookWindow> {
        self.shared
            .window
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn events_of(store: &Store) -> Vec<HashMap<String, String>> {
        store
            .recent_events(keys::AUDIT_STREAM, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|fields| fields.into_iter().collect())
            .collect()
    }

    #[tokio::test]
    async fn looks_are_counted_per_viewer_record_and_outcome_and_written_once_per_window() {
        let store = Store::Memory(crate::store::MemoryStore::default());
        let looks = Looks::new(store.clone());
        for _ in 0..3 {
            looks.note("refresh", "alex", "lead", "r1", "refresh");
        }
        looks.note("refresh", "alex", "lead", "r1", "busy");
        looks.note("refresh", "jo", "lead", "r1", "refresh");
        looks.note("show", "alex", "lead", "r2", "refresh");
        assert!(
            events_of(&store).await.is_empty(),
            "nothing is written per look"
        );

        looks.flush().await;
        let events = events_of(&store).await;
        assert_eq!(events.len(), 4, "{events:?}");
        let count = |action: &str, actor: &str, record: &str, outcome: &str| {
            events
                .iter()
                .find(|e| {
                    e["action"] == action
                        && e["actor"] == actor
                        && e["record"] == record
                        && e["outcome"] == outcome
                })
                .map(|e| e["count"].clone())
        };
        assert_eq!(
            count("refresh", "alex", "r1", "refresh").as_deref(),
            Some("3")
        );
        assert_eq!(count("refresh", "alex", "r1", "busy").as_deref(), Some("1"));
        assert_eq!(
            count("refresh", "jo", "r1", "refresh").as_deref(),
            Some("1")
        );
        assert_eq!(count("show", "alex", "r2", "refresh").as_deref(), Some("1"));
        assert!(events
            .iter()
            .all(|e| e["entity"] == "lead" && e.contains_key("since")));

        looks.flush().await;
        assert_eq!(
            events_of(&store).await.len(),
            4,
            "an empty window writes nothing"
        );
    }

    #[tokio::test]
    async fn a_failure_kind_is_written_and_an_empty_one_is_left_out() {
        let store = Store::Memory(crate::store::MemoryStore::default());
        record(
            &store,
            AuditEvent {
                action: "join",
                actor: "alex",
                outcome: "failed",
                reason: "graph_failed",
                failure: Some("uncertain_status"),
                ..AuditEvent::default()
            },
        )
        .await;
        record(
            &store,
            AuditEvent {
                action: "join",
                actor: "alex",
                outcome: "joined",
                ..AuditEvent::default()
            },
        )
        .await;
        let events = events_of(&store).await;
        assert_eq!(events[0]["failure"], "uncertain_status");
        assert!(!events[1].contains_key("failure") && !events[1].contains_key("reason"));
    }
}
