//! The reads behind a cache miss, each written back to the store, each in a
//! single flight: concurrent misses for the same facts in this process share
//! one read (keyed by the cache key it fills), and the costliest one, a
//! record's chats described by Graph, is led by one replica at a time while
//! the others wait briefly for its cache write.
//!
//! `fresh` is the join's re-check: every fact read anew from Dataverse, side
//! by side, no flight shared (a join never rides on a read that began before
//! it), written back so that the card answering the join is drawn warm.

use std::{sync::Arc, time::Instant};

use super::{
    decode_access, decode_settings, CachedSetting, ChatFacts, ChatProblem, Facts, FactsError,
    RecordFacts,
};
use crate::{
    clients::dataverse::{Access, JoinChatSetting, RecordRow, SystemUser},
    domain::{AadObjectId, ChatId, RecordRef},
    store::{keys, Flights},
};

type Flown<T> = Result<T, Arc<FactsError>>;

/// The reads in flight in this process, one map per kind of fact.
#[derive(Default)]
pub(super) struct InFlight {
    settings: Flights<Flown<Vec<JoinChatSetting>>>,
    users: Flights<Flown<Option<SystemUser>>>,
    access: Flights<Flown<Option<Access>>>,
    rows: Flights<Flown<Rows>>,
    records: Flights<Flown<Option<RecordFacts>>>,
}

/// A record's row and the chats connected to it: what Dataverse says,
/// before Graph describes the chats.
#[derive(Debug, Clone)]
pub struct RecordRows {
    pub row: RecordRow,
    pub chats: Vec<ChatId>,
}

/// What a record's first read found.
#[derive(Debug, Clone)]
pub(super) enum Rows {
    /// The chats described (now, or by a flight that just ended).
    Described(RecordFacts),
    /// Read from Dataverse; Graph has yet to describe the chats (the viewer
    /// who read them may not read the record).
    Read(RecordRows),
    /// The record does not exist.
    Missing,
}

/// The join's re-check, read fresh.
pub struct Fresh {
    pub settings: Vec<JoinChatSetting>,
    /// `None`: no such systemuser.
    pub user: Option<SystemUser>,
    /// `None`: the record does not exist (or the user is unknown or disabled:
    /// then nothing is readable either).
    pub access: Option<Access>,
    /// `None`: the record does not exist.
    pub rows: Option<RecordRows>,
}

fn shared<T>(flown: Flown<T>) -> Result<T, FactsError> {
    flown.map_err(FactsError::Shared)
}

impl Facts {
    pub(super) async fn load_settings(
        &self,
        deadline: Instant,
    ) -> Result<Vec<JoinChatSetting>, FactsError> {
        let this = self.clone();
        shared(
            self.flights
                .settings
                .run(keys::SETTINGS, || async move {
                    // A flight that ended just before this one began has
                    // cached what this caller missed.
                    if let Ok(Some(raw)) = this.store.get(keys::SETTINGS).await {
                        if let Some(settings) = decode_settings(&raw) {
                            return Ok(settings);
                        }
                    }
                    this.read_settings(deadline).await.map_err(Arc::new)
                })
                .await,
        )
    }

    pub(super) async fn load_user(
        &self,
        aad: &AadObjectId,
        deadline: Instant,
    ) -> Result<Option<SystemUser>, FactsError> {
        let (this, owned) = (self.clone(), aad.clone());
        shared(
            self.flights
                .users
                .run(&keys::user(aad), || async move {
                    if let Ok(Some(raw)) = this.store.get(&keys::user(&owned)).await {
                        if let Ok(user) = serde_json::from_str::<SystemUser>(&raw) {
                            return Ok(Some(user));
                        }
                    }
                    this.read_user(&owned, deadline).await.map_err(Arc::new)
                })
                .await,
        )
    }

    /// `None`: the record does not exist (cached like "no access").
    pub(super) async fn load_access(
        &self,
        viewer: &AadObjectId,
        record: &RecordRef,
        deadline: Instant,
    ) -> Result<Option<Access>, FactsError> {
        let (this, viewer, record) = (self.clone(), viewer.clone(), record.clone());
        let key = keys::access(&viewer, &record);
        shared(
            self.flights
                .access
                .run(&key, || async move {
                    let key = keys::access(&viewer, &record);
                    if let Ok(Some(raw)) = this.store.get(&key).await {
                        if let Some(access) = decode_access(&raw) {
                            return Ok(access);
                        }
                    }
                    let read = async {
                        Ok::<_, FactsError>(match this.user(&viewer, deadline).await? {
                            Some(user) if !user.disabled => {
                                this.dataverse.access(&user.id, &record, deadline).await?
                            }
                            // Unknown or disabled users see nothing.
                            _ => Some(Access::default()),
                        })
                    };
                    let access = read.await.map_err(Arc::new)?;
                    this.write_access(&viewer, &record, access).await;
                    Ok(access)
                })
                .await,
        )
    }

    /// The record's row and chat associations (Dataverse, side by side),
    /// and, when the viewer who started the flight may read the record, its
    /// chats described by Graph in the same flight: a caller that comes
    /// just after finds them cached, and no Graph call is made for nobody.
    pub(super) async fn record_rows(
        &self,
        viewer: &AadObjectId,
        record: &RecordRef,
        deadline: Instant,
    ) -> Result<Rows, FactsError> {
        let (this, viewer, owned) = (self.clone(), viewer.clone(), record.clone());
        shared(
            self.flights
                .rows
                .run(&keys::record_chats(record), || async move {
                    if let Some(facts) = this.cached_record(&owned).await {
                        return Ok(Rows::Described(facts));
                    }
                    // The access read is the viewer's own flight, joined here.
                    let (rows, access) = tokio::join!(
                        this.read_rows(&owned, deadline),
                        this.load_access(&viewer, &owned, deadline)
                    );
                    let Some(rows) = rows.map_err(Arc::new)? else {
                        return Ok(Rows::Missing);
                    };
                    if !matches!(access, Ok(Some(Access { read: true, .. }))) {
                        return Ok(Rows::Read(rows));
                    }
                    Ok(
                        match this
                            .describe(&owned, rows, deadline)
                            .await
                            .map_err(Arc::new)?
                        {
                            Some(facts) => Rows::Described(facts),
                            None => Rows::Missing,
                        },
                    )
                })
                .await,
        )
    }

    /// The record's chats described by Graph (all at once), cached. One
    /// replica reads while the others wait for its cache write, then read
    /// it; a replica that waited in vain reads for itself.
    pub(super) async fn describe(
        &self,
        record: &RecordRef,
        rows: RecordRows,
        deadline: Instant,
    ) -> Result<Option<RecordFacts>, FactsError> {
        let (this, owned) = (self.clone(), record.clone());
        let key = keys::record_chats(record);
        let flown = self
            .flights
            .records
            .run(&key, || async move {
                let key = keys::record_chats(&owned);
                let Some(lead) = this.store.lead(&key).await else {
                    let waited = this.store.wait_for(&key, keys::FLIGHT_WAIT).await;
                    if let Some(facts) = waited.and_then(|raw| serde_json::from_str(&raw).ok()) {
                        return Ok(Some(facts));
                    }
                    return Ok(Some(this.describe_now(&owned, rows, deadline).await));
                };
                // Another replica may have led, and written, just before.
                let facts = match this.cached_record(&owned).await {
                    Some(facts) => facts,
                    None => this.describe_now(&owned, rows, deadline).await,
                };
                this.store.end_lead(&key, &lead).await;
                Ok(Some(facts))
            })
            .await;
        shared(flown)
    }

    /// Every fact of a join's re-check, read anew and side by side: the
    /// switch, the caller's systemuser then their rights on the record, the
    /// record's row and the chats connected to it. Written back to the cache.
    pub async fn fresh(
        &self,
        viewer: &AadObjectId,
        record: &RecordRef,
        deadline: Instant,
    ) -> Result<Fresh, FactsError> {
        let rights = async {
            let user = self.read_user(viewer, deadline).await?;
            let access = match &user {
                Some(user) if !user.disabled => {
                    self.dataverse.access(&user.id, record, deadline).await?
                }
                _ => None,
            };
            Ok::<_, FactsError>((user, access))
        };
        let ((user, access), settings, rows) = futures::try_join!(
            rights,
            self.read_settings(deadline),
            self.read_rows(record, deadline)
        )?;
        let cached_access = match (&user, access) {
            (Some(user), access) if !user.disabled => access,
            _ => Some(Access::default()),
        };
        self.write_access(viewer, record, cached_access).await;
        Ok(Fresh {
            settings,
            user,
            access,
            rows,
        })
    }

    /// Makes sure the record's chats are cached, described from `rows` when
    /// they are not (the card answering a join is then drawn warm).
    pub async fn warm_record(&self, record: &RecordRef, rows: RecordRows, deadline: Instant) {
        if self.cached_record(record).await.is_none() {
            if let Err(error) = self.describe(record, rows, deadline).await {
                tracing::debug!(%error, "record chats not cached");
            }
        }
    }

    /// The record's chats described by Graph now, in no flight, cached.
    pub(super) async fn describe_fresh(
        &self,
        record: &RecordRef,
        rows: RecordRows,
        deadline: Instant,
    ) -> RecordFacts {
        self.describe_now(record, rows, deadline).await
    }

    async fn read_settings(&self, deadline: Instant) -> Result<Vec<JoinChatSetting>, FactsError> {
        let settings = self.dataverse.join_chat_settings(deadline).await?;
        let cached: Vec<CachedSetting> = settings
            .iter()
            .map(|s| CachedSetting {
                entity: s.entity,
                row: s.row_id.clone(),
                on: s.enabled,
            })
            .collect();
        let encoded = serde_json::to_string(&cached).unwrap_or_default();
        debug_assert!(decode_settings(&encoded).is_some());
        self.write(keys::SETTINGS, encoded, keys::SETTINGS_TTL)
            .await;
        Ok(settings)
    }

    async fn read_user(
        &self,
        aad: &AadObjectId,
        deadline: Instant,
    ) -> Result<Option<SystemUser>, FactsError> {
        let user = self.dataverse.user_by_aad(aad, deadline).await?;
        if let Some(user) = &user {
            self.write(
                &keys::user(aad),
                serde_json::to_string(user).unwrap_or_default(),
                keys::USER_TTL,
            )
            .await;
        }
        Ok(user)
    }

    async fn read_rows(
        &self,
        record: &RecordRef,
        deadline: Instant,
    ) -> Result<Option<RecordRows>, FactsError> {
        let (row, chats) = futures::try_join!(
            self.dataverse.record(record, deadline),
            self.dataverse.connected_chats(record, deadline)
        )?;
        Ok(row.map(|row| RecordRows { row, chats }))
    }

    async fn describe_now(
        &self,
        record: &RecordRef,
        rows: RecordRows,
        deadline: Instant,
    ) -> RecordFacts {
        let lookups = rows.chats.iter().map(|chat| async move {
            self.read_chat(chat, deadline)
                .await
                .unwrap_or_else(|error| Some(unavailable_chat(chat, &error)))
        });
        let chats: Vec<ChatFacts> = futures::future::join_all(lookups)
            .await
            .into_iter()
            .flatten()
            .collect();
        let degraded = chats.iter().any(|chat| chat.unavailable.is_some());
        let facts = RecordFacts {
            name: rows.row.name,
            chats,
        };
        self.write(
            &keys::record_chats(record),
            serde_json::to_string(&facts).unwrap_or_default(),
            if degraded {
                keys::DEGRADED_RECORD_TTL
            } else {
                keys::RECORD_TTL
            },
        )
        .await;
        facts
    }

    async fn read_chat(
        &self,
        chat: &ChatId,
        deadline: Instant,
    ) -> Result<Option<ChatFacts>, FactsError> {
        // Both answers are awaited, so neither call is cut off mid-flight.
        let (details, members) = futures::join!(
            self.graph.chat(chat, deadline),
            self.graph.members(chat, deadline)
        );
        let (details, members) = (details?, members?);
        // A connected chat Graph no longer knows (deleted) is not shown.
        Ok(details.map(|details| ChatFacts {
            id: chat.as_str().to_owned(),
            topic: details.topic,
            web_url: details.web_url,
            members: members.into_iter().map(|m| m.aad).collect(),
            unavailable: None,
        }))
    }

    pub(super) async fn write(&self, key: &str, value: String, ttl: std::time::Duration) {
        if let Err(error) = self.store.set(key, &value, ttl).await {
            tracing::warn!(%error, "cache write skipped");
        }
    }

    async fn write_access(&self, viewer: &AadObjectId, record: &RecordRef, access: Option<Access>) {
        let encoded = match access {
            None => "x",
            Some(Access { write: true, .. }) => "rw",
            Some(Access { read: true, .. }) => "r",
            Some(_) => "-",
        };
        self.write(
            &keys::access(viewer, record),
            encoded.to_owned(),
            keys::ACCESS_TTL,
        )
        .await;
    }
}

/// A chat Graph would not describe, kept so the record's other chats still show.
fn unavailable_chat(chat: &ChatId, error: &FactsError) -> ChatFacts {
    let problem = if error.is_setup_problem() {
        ChatProblem::NotSetUp
    } else {
        tracing::warn!(%error, chat.id = chat.as_str(), "a connected chat could not be read");
        ChatProblem::Busy
    };
    ChatFacts {
        id: chat.as_str().to_owned(),
        topic: String::new(),
        web_url: None,
        members: Vec::new(),
        unavailable: Some(problem),
    }
}
