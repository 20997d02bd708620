//! Read-through facts for the policy: the store first, Dataverse and Graph on
//! a miss, written back with short TTLs. Keys are shaped so that one MGET
//! answers a warm card refresh: the Join chat settings, the viewer's access
//! (by Entra object id, no user lookup needed) and the record with its chats.
//!
//! A store failure is a cache miss, never an error: reads fall through to
//! Dataverse. `fresh` reads (the join's re-check, an ask's) skip the cache and
//! share no flight: they read everything anew, and write it back.
//!
//! One chat Graph will not describe never hides the record's other chats: it
//! is kept, marked unavailable with the reason, and the record is cached only
//! briefly so the chat shows up again as soon as Graph answers.
//!
//! A miss costs as few round trips as the facts' dependencies allow: the
//! switch, the viewer's access (systemuser, then RetrievePrincipalAccess)
//! and the record's row with its chat associations are read side by side;
//! Graph describes the chats (all at once) only once the viewer may read the
//! record. Concurrent misses for the same facts share one read (`load`).

mod load;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

use crate::{
    clients::dataverse::{Access, DataverseClient, DataverseError, JoinChatSetting, SystemUser},
    clients::graph::{GraphClient, GraphError},
    context::Viewer,
    domain::{AadObjectId, ChatId, EntityType, RecordRef},
    store::{keys, Store},
};

pub use self::load::{Fresh, RecordRows};

/// Compare-and-set rounds `note_member` tries before dropping the value.
const NOTE_MEMBER_ATTEMPTS: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum FactsError {
    #[error("Dataverse: {0}")]
    Dataverse(#[from] DataverseError),
    #[error("Graph: {0}")]
    Graph(#[from] GraphError),
    /// A read shared with concurrent callers (single flight) failed.
    #[error("{0}")]
    Shared(Arc<FactsError>),
}

impl FactsError {
    /// Graph or Dataverse refused the bot itself (403): the tenant has not
    /// granted it something, which an admin must fix. Not worth a retry.
    pub fn is_setup_problem(&self) -> bool {
        match self {
            FactsError::Shared(inner) => inner.is_setup_problem(),
            other => matches!(
                other,
                FactsError::Graph(GraphError::Forbidden { .. })
                    | FactsError::Dataverse(DataverseError::Forbidden(_))
            ),
        }
    }
}

/// Why a connected chat could not be read from Graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatProblem {
    /// Graph refused (403): the bot lacks a permission.
    NotSetUp,
    /// Graph was throttling, down or unreachable.
    Busy,
}

/// A connected chat as the cards need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatFacts {
    pub id: String,
    pub topic: String,
    #[serde(default)]
    pub web_url: Option<String>,
    /// Entra object ids of the members, lower-case.
    pub members: Vec<String>,
    /// Set when Graph could not describe the chat; topic and members are then empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<ChatProblem>,
}

impl ChatFacts {
    pub fn has_member(&self, aad: &AadObjectId) -> bool {
        self.members
            .iter()
            .any(|m| m.eq_ignore_ascii_case(aad.as_str()))
    }
}

/// A record and its connected chats (cached together).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordFacts {
    pub name: String,
    pub chats: Vec<ChatFacts>,
}

/// Everything needed to decide what one viewer sees of one record.
#[derive(Debug, Clone)]
pub struct View {
    pub access: Access,
    pub join_enabled: bool,
    /// `None` when the record does not exist or the viewer cannot read it.
    pub record: Option<RecordFacts>,
    /// The cached roster of the conversation asked about, if any (see `roster_key`).
    pub roster: Option<Vec<String>>,
}

/// The raw cached values of one view: settings, access, record (and roster).
pub struct Cached {
    values: Vec<Option<String>>,
}

impl Cached {
    /// True when the view needs no Dataverse or Graph read: every fact is
    /// cached (a missing roster is the connector's, not Dataverse's), or the
    /// cached access already says the record is hidden.
    pub fn is_warm(&self) -> bool {
        let hidden = matches!(
            self.values[1].as_deref().and_then(decode_access),
            Some(None) | Some(Some(Access { read: false, .. }))
        );
        let settings = self.values[0].is_some();
        settings && (hidden || (self.values[1].is_some() && self.values[2].is_some()))
    }

    /// When every fact is cached: the raw values, which determine the view
    /// exactly (the key for memoising what is drawn from it).
    pub fn warm(&self) -> Option<String> {
        let mut joined = String::new();
        for value in &self.values {
            joined.push_str(value.as_deref()?);
            joined.push('\u{1e}');
        }
        Some(joined)
    }
}

#[derive(Clone)]
pub struct Facts {
    store: Store,
    dataverse: DataverseClient,
    graph: GraphClient,
    flights: Arc<load::InFlight>,
}

#[derive(Serialize, Deserialize)]
struct CachedSetting {
    entity: EntityType,
    row: String,
    on: bool,
}

impl Facts {
    pub fn new(store: Store, dataverse: DataverseClient, graph: GraphClient) -> Facts {
        Facts {
            store,
            dataverse,
            graph,
            flights: Arc::default(),
        }
    }

    pub fn dataverse(&self) -> &DataverseClient {
        &self.dataverse
    }

    pub fn graph(&self) -> &GraphClient {
        &self.graph
    }

    /// What `viewer` may see of `record`. `fresh` skips the cache and every
    /// flight in progress (but still refreshes the cache).
    ///
    /// `roster_of` names a group conversation whose cached roster (Teams user
    /// ids for `refresh.userIds`) is read in the same round trip.
    pub async fn view(
        &self,
        viewer: &AadObjectId,
        record: &RecordRef,
        roster_of: Option<&str>,
        fresh: bool,
        deadline: Instant,
    ) -> Result<View, FactsError> {
        if fresh {
            return self.fresh_view(viewer, record, deadline).await;
        }
        let cached = self.cached(viewer, record, roster_of).await;
        self.complete(cached, viewer, record, deadline).await
    }

    /// A view read anew: [`Facts::fresh`], then Graph for the chats if the
    /// viewer may read the record.
    async fn fresh_view(
        &self,
        viewer: &AadObjectId,
        record: &RecordRef,
        deadline: Instant,
    ) -> Result<View, FactsError> {
        let fresh = self.fresh(viewer, record, deadline).await?;
        let join_enabled = fresh
            .settings
            .iter()
            .any(|s| s.entity == record.entity && s.enabled);
        let access = fresh.access.unwrap_or_default();
        let record = match fresh.rows {
            Some(rows) if access.read => Some(self.describe_fresh(record, rows, deadline).await),
            _ => None,
        };
        Ok(View {
            access,
            join_enabled,
            record,
            roster: None,
        })
    }

    /// The cached facts of a view, in one round trip (MGET). A store failure
    /// reads as a miss.
    pub async fn cached(
        &self,
        viewer: &AadObjectId,
        record: &RecordRef,
        roster_of: Option<&str>,
    ) -> Cached {
        let mut names = vec![
            keys::SETTINGS.to_owned(),
            keys::access(viewer, record),
            keys::record_chats(record),
        ];
        names.extend(roster_of.map(keys::roster));
        let values = self.store.get_many(&names).await.unwrap_or_else(|error| {
            tracing::warn!(%error, "cache read failed; asking Dataverse");
            vec![None; names.len()]
        });
        Cached { values }
    }

    /// A view from what the cache held, asking Dataverse and Graph for the
    /// rest: the switch, the access and the record's rows side by side, then
    /// Graph for the chats only if the viewer may read the record.
    pub async fn complete(
        &self,
        cached: Cached,
        viewer: &AadObjectId,
        record: &RecordRef,
        deadline: Instant,
    ) -> Result<View, FactsError> {
        let values = cached.values;
        let roster = values
            .get(3)
            .and_then(Option::as_deref)
            .and_then(|raw| serde_json::from_str::<Vec<String>>(raw).ok());
        let cached_settings = values[0].as_deref().and_then(decode_settings);
        let cached_access = values[1].as_deref().and_then(decode_access);
        let cached_record = values[2]
            .as_deref()
            .and_then(|raw| serde_json::from_str::<RecordFacts>(raw).ok());
        // Hidden by the cache already: the record is not read at all.
        let hidden = matches!(
            cached_access,
            Some(None) | Some(Some(Access { read: false, .. }))
        );
        let settings = async {
            match cached_settings {
                Some(settings) => Ok(settings),
                None => self.load_settings(deadline).await,
            }
        };
        let access = async {
            match cached_access {
                Some(access) => Ok(access),
                None => self.load_access(viewer, record, deadline).await,
            }
        };
        let rows = async {
            match (cached_record, hidden) {
                (Some(facts), _) => Ok(load::Rows::Described(facts)),
                (None, true) => Ok(load::Rows::Missing),
                (None, false) => self.record_rows(viewer, record, deadline).await,
            }
        };
        let (settings, access, rows) = tokio::join!(settings, access, rows);
        let settings = settings?;
        let join_enabled = settings
            .iter()
            .any(|s| s.entity == record.entity && s.enabled);
        let access = access?;
        let Some(access) = access.filter(|a| a.read) else {
            return Ok(View {
                access: access.unwrap_or_default(),
                join_enabled,
                record: None,
                roster,
            });
        };
        let record_facts = match rows? {
            load::Rows::Described(facts) => Some(facts),
            load::Rows::Read(rows) => self.describe(record, rows, deadline).await?,
            load::Rows::Missing => None,
        };
        Ok(View {
            access,
            join_enabled,
            record: record_facts,
            roster,
        })
    }

    /// Reads what a view of `record` will need for `viewer` ahead of time
    /// (the switch and their systemuser), while something else — the name
    /// search — is under way. Failures are left for the view to meet.
    pub async fn prefetch_viewer(&self, viewer: &AadObjectId, deadline: Instant) {
        let settings = async {
            if !matches!(self.store.get(keys::SETTINGS).await, Ok(Some(_))) {
                let _ = self.load_settings(deadline).await;
            }
        };
        let _ = tokio::join!(settings, self.user(viewer, deadline));
    }

    /// Remembers a group conversation's roster for later refreshes.
    pub async fn remember_roster(&self, conversation: &str, user_ids: &[String]) {
        let value = serde_json::to_string(user_ids).unwrap_or_default();
        self.write(&keys::roster(conversation), value, keys::ROSTER_TTL)
            .await;
    }

    /// The Join chat switch of every record type (cached).
    pub async fn settings(&self, deadline: Instant) -> Result<Vec<JoinChatSetting>, FactsError> {
        if let Ok(Some(raw)) = self.store.get(keys::SETTINGS).await {
            if let Some(settings) = decode_settings(&raw) {
                return Ok(settings);
            }
        }
        self.load_settings(deadline).await
    }

    /// After a change of the switch: every replica reads it anew. A replica
    /// that read the old value from Dataverse just before the change may
    /// write it back after our delete, so the key is dropped once more a
    /// moment later.
    pub async fn settings_changed(&self) {
        self.forget_settings().await;
        let this = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            this.forget_settings().await;
        });
    }

    async fn forget_settings(&self) {
        if let Err(error) = self.store.delete(keys::SETTINGS).await {
            tracing::warn!(%error, "could not drop the cached Join chat settings");
        }
    }

    /// The seller's `systemuser` (cached for an hour).
    pub async fn user(
        &self,
        aad: &AadObjectId,
        deadline: Instant,
    ) -> Result<Option<SystemUser>, FactsError> {
        if let Ok(Some(raw)) = self.store.get(&keys::user(aad)).await {
            if let Ok(user) = serde_json::from_str::<SystemUser>(&raw) {
                return Ok(Some(user));
            }
        }
        self.load_user(aad, deadline).await
    }

    /// The person's name as Dataverse knows it, else as Teams sent it.
    pub async fn display_name(&self, viewer: &Viewer, deadline: Instant) -> String {
        match self.user(&viewer.aad, deadline).await {
            Ok(Some(user)) if !user.name.is_empty() => user.name,
            _ => viewer.name.clone(),
        }
    }

    /// A group chat's members as cached (no connector call).
    pub async fn cached_roster(&self, conversation: &str) -> Option<Vec<String>> {
        let raw = self.store.get(&keys::roster(conversation)).await.ok()??;
        serde_json::from_str(&raw).ok()
    }

    /// The record's name and chats as cached (no Dataverse call).
    pub async fn cached_record(&self, record: &RecordRef) -> Option<RecordFacts> {
        let raw = self.store.get(&keys::record_chats(record)).await.ok()??;
        serde_json::from_str(&raw).ok()
    }

    /// Records that `viewer` joined `chat`, in the cached record it came from.
    /// Concurrent joins of one record all rewrite that one cached value, so
    /// the rewrite only lands on the value it was made from (compare and set),
    /// tried again on the newer value a few times: a plain read-modify-write
    /// here lost members, and their refreshes offered Join to people already in.
    pub async fn note_member(&self, record: &RecordRef, chat: &ChatId, viewer: &AadObjectId) {
        let key = keys::record_chats(record);
        for _ in 0..NOTE_MEMBER_ATTEMPTS {
            let Ok(Some(raw)) = self.store.get(&key).await else {
                return;
            };
            let Ok(mut facts) = serde_json::from_str::<RecordFacts>(&raw) else {
                return;
            };
            let mut changed = false;
            for cached in facts.chats.iter_mut().filter(|c| c.id == chat.as_str()) {
                if !cached.has_member(viewer) {
                    cached.members.push(viewer.as_str().to_owned());
                    changed = true;
                }
            }
            if !changed {
                return;
            }
            let updated = serde_json::to_string(&facts).unwrap_or_default();
            match self
                .store
                .replace_if_equals(&key, &raw, &updated, keys::RECORD_TTL)
                .await
            {
                Ok(true) => return,
                Ok(false) => continue,
                Err(error) => {
                    tracing::warn!(%error, "cache write skipped");
                    return;
                }
            }
        }
        // Still contended: drop the value rather than keep one without this
        // member; the next look reads Graph.
        if let Err(error) = self.store.delete(&key).await {
            tracing::warn!(%error, "cache write skipped");
        }
    }
}

fn decode_settings(raw: &str) -> Option<Vec<JoinChatSetting>> {
    let cached: Vec<CachedSetting> = serde_json::from_str(raw).ok()?;
    Some(
        cached
            .into_iter()
            .map(|c| JoinChatSetting {
                entity: c.entity,
                row_id: c.row,
                enabled: c.on,
            })
            .collect(),
    )
}

/// `Some(None)`: cached "record does not exist".
fn decode_access(raw: &str) -> Option<Option<Access>> {
    Some(match raw {
        "x" => None,
        "rw" => Some(Access {
            read: true,
            write: true,
        }),
        "r" => Some(Access {
            read: true,
            write: false,
        }),
        "-" => Some(Access::default()),
        _ => return None,
    })
}
