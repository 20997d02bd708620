//! The audit trail: one event per decision — shown, joined, refused, switched —
//! with who, what and why, appended to the store's `audit` stream (a Redis
//! Stream under Redis). Ids only: no names, no message text, no tokens. When
//! the store is down the event goes to the log instead, so none is lost
//! silently.

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
}

pub async fn record(store: &Store, event: AuditEvent<'_>) {
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
    ] {
        if let Some(value) = value {
            fields.push((name, value.to_owned()));
        }
    }
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
            "audit event kept in the log only: store unavailable"
        );
    }
}
