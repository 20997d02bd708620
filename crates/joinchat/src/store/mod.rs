//! The store: the bot's cache and coordination point (dedupe marks, locks,
//! rate-limit counters, the audit stream).
//!
//! Two implementations with the same semantics: Redis, shared by every replica,
//! and an in-process one for a single replica. The store never holds the only
//! copy of anything that matters: losing it costs cache misses, not data.
//! Keys are given without the prefix; each implementation adds its own.

mod budget;
mod flight;
pub mod keys;
mod memory;
mod redis;

use std::time::Duration;

pub use self::budget::{Bucket, Spent};
pub use self::flight::Flights;
pub use self::memory::MemoryStore;
pub use self::redis::RedisStore;
use crate::config::StoreConfig;

/// The store is unreachable or answered something unexpected.
#[derive(Debug, thiserror::Error)]
#[error("store unavailable: {0}")]
pub struct StoreError(pub String);

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Clone)]
pub enum Store {
    Memory(MemoryStore),
    Redis(RedisStore),
}

impl Store {
    pub async fn connect(config: &StoreConfig) -> anyhow::Result<Store> {
        Ok(match config {
            StoreConfig::Memory => Store::Memory(MemoryStore::default()),
            StoreConfig::Redis { url, prefix } => {
                Store::Redis(RedisStore::connect(url.expose(), prefix).await?)
            }
            StoreConfig::RedisCluster { nodes, prefix } => {
                let prefix = keys::cluster_prefix(prefix).ok_or_else(|| {
                    anyhow::anyhow!("JOINCHAT_REDIS_PREFIX cannot be a Redis Cluster hash tag")
                })?;
                let nodes: Vec<String> = nodes.iter().map(|n| n.expose().to_owned()).collect();
                Store::Redis(RedisStore::connect_cluster(&nodes, &prefix).await?)
            }
        })
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Store::Memory(_) => "memory",
            Store::Redis(s) if s.is_cluster() => "redis-cluster",
            Store::Redis(_) => "redis",
        }
    }

    pub async fn ping(&self) -> StoreResult<()> {
        match self {
            Store::Memory(_) => Ok(()),
            Store::Redis(s) => s.ping().await,
        }
    }

    /// Sets `key` only when absent (SET NX PX); true when this call set it.
    pub async fn set_if_absent(&self, key: &str, value: &str, ttl: Duration) -> StoreResult<bool> {
        match self {
            Store::Memory(s) => Ok(s.set_if_absent(key, value, ttl)),
            Store::Redis(s) => s.set_if_absent(key, value, ttl).await,
        }
    }

    pub async fn set(&self, key: &str, value: &str, ttl: Duration) -> StoreResult<()> {
        match self {
            Store::Memory(s) => {
                s.set(key, value, ttl);
                Ok(())
            }
            Store::Redis(s) => s.set(key, value, ttl).await,
        }
    }

    /// Several keys in one round trip (MGET), in order.
    pub async fn get_many(&self, keys: &[String]) -> StoreResult<Vec<Option<String>>> {
        match self {
            Store::Memory(s) => Ok(keys.iter().map(|k| s.get(k)).collect()),
            Store::Redis(s) => s.get_many(keys).await,
        }
    }

    pub async fn get(&self, key: &str) -> StoreResult<Option<String>> {
        Ok(self.get_many(&[key.to_owned()]).await?.pop().flatten())
    }

    pub async fn delete(&self, key: &str) -> StoreResult<()> {
        match self {
            Store::Memory(s) => {
                s.delete(key);
                Ok(())
            }
            Store::Redis(s) => s.delete(key).await,
        }
    }

    /// Deletes `key` only while it still holds `value` (releasing a lock we own).
    pub async fn delete_if_equals(&self, key: &str, value: &str) -> StoreResult<()> {
        match self {
            Store::Memory(s) => {
                s.delete_if_equals(key, value);
                Ok(())
            }
            Store::Redis(s) => s.delete_if_equals(key, value).await,
        }
    }

    /// Sets `key` to `value` for `ttl` only while it still holds `expected`
    /// (an optimistic update: false when someone changed it meanwhile).
    pub async fn replace_if_equals(
        &self,
        key: &str,
        expected: &str,
        value: &str,
        ttl: Duration,
    ) -> StoreResult<bool> {
        match self {
            Store::Memory(s) => Ok(s.replace_if_equals(key, expected, value, ttl)),
            Store::Redis(s) => s.replace_if_equals(key, expected, value, ttl).await,
        }
    }

    /// Increments a counter that lives for `window` from its first increment.
    pub async fn increment(&self, key: &str, window: Duration) -> StoreResult<u64> {
        match self {
            Store::Memory(s) => Ok(s.increment(key, window)),
            Store::Redis(s) => s.increment(key, window).await,
        }
    }

    /// Appends an event to a bounded stream (XADD MAXLEN ~).
    pub async fn append_event(&self, stream: &str, fields: &[(&str, String)]) -> StoreResult<()> {
        match self {
            Store::Memory(s) => {
                s.append_event(stream, fields);
                Ok(())
            }
            Store::Redis(s) => s.append_event(stream, fields).await,
        }
    }

    /// The newest `count` events of a stream, oldest first.
    pub async fn recent_events(
        &self,
        stream: &str,
        count: usize,
    ) -> StoreResult<Vec<Vec<(String, String)>>> {
        match self {
            Store::Memory(s) => Ok(s.recent_events(stream, count)),
            Store::Redis(s) => s.recent_events(stream, count).await,
        }
    }
}
