//! The Redis store: one multiplexed connection (a `ConnectionManager` that
//! reconnects by itself), every command bounded by a response timeout, every
//! key under the configured prefix.

use std::{
    future::Future,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use redis::{aio::ConnectionManager, RedisResult, Script};

use super::{keys::AUDIT_MAX_LEN, StoreError, StoreResult};

#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    prefix: String,
    breaker: Arc<Breaker>,
}

/// While Redis is unreachable, commands fail at once instead of each waiting
/// for a reconnect: every request falls through to Dataverse without delay,
/// and one command per `PAUSE` probes whether Redis is back.
struct Breaker {
    started: Instant,
    open_until_ms: AtomicU64,
}

const PAUSE: Duration = Duration::from_secs(1);

impl Breaker {
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn is_open(&self) -> bool {
        self.now_ms() < self.open_until_ms.load(Ordering::Relaxed)
    }

    fn trip(&self) {
        let until = self.now_ms() + PAUSE.as_millis() as u64;
        self.open_until_ms.store(until, Ordering::Relaxed);
    }
}

impl From<redis::RedisError> for StoreError {
    fn from(error: redis::RedisError) -> StoreError {
        // The error kind is enough; Redis errors may echo the URL.
        StoreError(format!("redis {:?}", error.kind()))
    }
}

const RELEASE_IF_OWNER: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0";

const INCREMENT_IN_WINDOW: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n";

impl RedisStore {
    pub async fn connect(url: &str, prefix: &str) -> anyhow::Result<RedisStore> {
        let client = redis::Client::open(url)
            .map_err(|e| anyhow::anyhow!("JOINCHAT_REDIS_URL is invalid: {:?}", e.kind()))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(1)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        // Lazy: the bot starts (and `/readyz` says 503) while Redis is down,
        // and every read falls through to Dataverse until it is back.
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| anyhow::anyhow!("JOINCHAT_REDIS_URL: cannot use it: {:?}", e.kind()))?;
        let store = RedisStore {
            connection,
            prefix: prefix.to_owned(),
            breaker: Arc::new(Breaker {
                started: Instant::now(),
                open_until_ms: AtomicU64::new(0),
            }),
        };
        if let Err(error) = store.ping().await {
            tracing::warn!(%error, "Redis is not answering yet; serving from Dataverse until it does");
        }
        Ok(store)
    }

    fn key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }

    /// Runs one command through the breaker.
    async fn run<T, F>(&self, command: impl FnOnce(ConnectionManager) -> F) -> StoreResult<T>
    where
        F: Future<Output = RedisResult<T>>,
    {
        if self.breaker.is_open() {
            return Err(StoreError("redis unreachable (paused)".into()));
        }
        match command(self.connection.clone()).await {
            Ok(value) => Ok(value),
            Err(error) => {
                if error.is_io_error()
                    || error.is_timeout()
                    || error.is_connection_dropped()
                    || error.is_connection_refusal()
                {
                    self.breaker.trip();
                }
                Err(error.into())
            }
        }
    }

    pub async fn ping(&self) -> StoreResult<()> {
        let _: String = self
            .run(|mut c| async move { redis::cmd("PING").query_async(&mut c).await })
            .await?;
        Ok(())
    }

    pub async fn set_if_absent(&self, key: &str, value: &str, ttl: Duration) -> StoreResult<bool> {
        let mut command = redis::cmd("SET");
        command
            .arg(self.key(key))
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(millis(ttl));
        let set: Option<String> = self
            .run(|mut c| async move { command.query_async(&mut c).await })
            .await?;
        Ok(set.is_some())
    }

    pub async fn set(&self, key: &str, value: &str, ttl: Duration) -> StoreResult<()> {
        let mut command = redis::cmd("SET");
        command
            .arg(self.key(key))
            .arg(value)
            .arg("PX")
            .arg(millis(ttl));
        self.run(|mut c| async move { command.query_async(&mut c).await })
            .await
    }

    pub async fn get_many(&self, keys: &[String]) -> StoreResult<Vec<Option<String>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut command = redis::cmd("MGET");
        for key in keys {
            command.arg(self.key(key));
        }
        self.run(|mut c| async move { command.query_async(&mut c).await })
            .await
    }

    pub async fn delete(&self, key: &str) -> StoreResult<()> {
        let mut command = redis::cmd("DEL");
        command.arg(self.key(key));
        let _: u64 = self
            .run(|mut c| async move { command.query_async(&mut c).await })
            .await?;
        Ok(())
    }

    pub async fn delete_if_equals(&self, key: &str, value: &str) -> StoreResult<()> {
        let key = self.key(key);
        let _: u64 = self
            .run(|mut c| async move {
                Script::new(RELEASE_IF_OWNER)
                    .key(key)
                    .arg(value)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Ok(())
    }

    pub async fn increment(&self, key: &str, window: Duration) -> StoreResult<u64> {
        let key = self.key(key);
        self.run(|mut c| async move {
            Script::new(INCREMENT_IN_WINDOW)
                .key(key)
                .arg(millis(window))
                .invoke_async(&mut c)
                .await
        })
        .await
    }

    pub async fn append_event(&self, stream: &str, fields: &[(&str, String)]) -> StoreResult<()> {
        let mut command = redis::cmd("XADD");
        command
            .arg(self.key(stream))
            .arg("MAXLEN")
            .arg("~")
            .arg(AUDIT_MAX_LEN)
            .arg("*");
        for (field, value) in fields {
            command.arg(*field).arg(value);
        }
        let _: String = self
            .run(|mut c| async move { command.query_async(&mut c).await })
            .await?;
        Ok(())
    }

    pub async fn recent_events(
        &self,
        stream: &str,
        count: usize,
    ) -> StoreResult<Vec<Vec<(String, String)>>> {
        let mut command = redis::cmd("XREVRANGE");
        command
            .arg(self.key(stream))
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(count);
        let entries: Vec<(String, Vec<(String, String)>)> = self
            .run(|mut c| async move { command.query_async(&mut c).await })
            .await?;
        Ok(entries
            .into_iter()
            .rev()
            .map(|(_, fields)| fields)
            .collect())
    }
}

fn millis(duration: Duration) -> u64 {
    duration.as_millis().max(1) as u64
}
