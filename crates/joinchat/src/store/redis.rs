//! The Redis store, on one server or on a Redis Cluster: one multiplexed
//! connection (a `ConnectionManager`, or the cluster client's connection, both
//! reconnecting by themselves), every command bounded by a response timeout,
//! every key under the configured prefix.
//!
//! In a cluster the prefix is a hash tag (`jc:` becomes `{jc}:`, see
//! `keys::cluster_prefix`): every key of one deployment lives in one slot, so
//! the warm refresh's MGET stays one command to one node, and the Lua scripts
//! and the audit stream work unchanged (each names only its own key).

use std::{
    future::Future,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use redis::{
    aio::ConnectionManager, cluster::ClusterClient, cluster::ClusterConfig,
    cluster_async::ClusterConnection, Cmd, Pipeline, RedisFuture, RedisResult, Script, Value,
};

use super::{keys::AUDIT_MAX_LEN, StoreError, StoreResult};

#[derive(Clone)]
pub struct RedisStore {
    connection: Connection,
    prefix: String,
    breaker: Arc<Breaker>,
}

/// One server or a cluster; either way one multiplexed connection.
#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl redis::aio::ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Single(c) => c.req_packed_command(cmd),
            Connection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(c) => c.get_db(),
            Connection::Cluster(c) => c.get_db(),
        }
    }
}

/// While Redis is unreachable, commands fail at once instead of each waiting
/// for a reconnect: every request falls through to Dataverse without delay,
/// and one command per `PAUSE` probes whether Redis is back.
struct Breaker {
    started: Instant,
    open_until_ms: AtomicU64,
}

const PAUSE: Duration = Duration::from_secs(1);
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(2);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);

impl Breaker {
    fn new() -> Arc<Breaker> {
        Arc::new(Breaker {
            started: Instant::now(),
            open_until_ms: AtomicU64::new(0),
        })
    }

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

const REPLACE_IF_EQUAL: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
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
            .set_connection_timeout(Some(CONNECTION_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        // Lazy: the bot starts (and stays ready; `/readyz` reports the store)
        // while Redis is down, and every read falls through to Dataverse
        // until it is back.
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| anyhow::anyhow!("JOINCHAT_REDIS_URL: cannot use it: {:?}", e.kind()))?;
        Ok(Self::started(Connection::Single(connection), prefix).await)
    }

    /// A Redis Cluster reached through any of its `nodes` (seed URLs); `prefix`
    /// is already the cluster form, a hash tag.
    pub async fn connect_cluster(nodes: &[String], prefix: &str) -> anyhow::Result<RedisStore> {
        let client = ClusterClient::builder(nodes.iter().map(String::as_str))
            .retries(2)
            .min_retry_wait(50)
            .max_retry_wait(500)
            .overall_response_timeout(Some(2 * RESPONSE_TIMEOUT))
            .build()
            .map_err(|e| anyhow::anyhow!("JOINCHAT_REDIS_URL: cannot use it: {:?}", e.kind()))?;
        let config = ClusterConfig::new()
            .set_connection_timeout(CONNECTION_TIMEOUT)
            .set_response_timeout(RESPONSE_TIMEOUT);
        // Lazy too: the slots are learned in the background.
        let connection = client.get_pending_async_connection_with_config(config);
        Ok(Self::started(Connection::Cluster(connection), prefix).await)
    }

    async fn started(connection: Connection, prefix: &str) -> RedisStore {
        let store = RedisStore {
            connection,
            prefix: prefix.to_owned(),
            breaker: Breaker::new(),
        };
        if let Err(error) = store.ping().await {
            tracing::warn!(%error, "Redis is not answering yet; serving from Dataverse until it does");
        }
        store
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self.connection, Connection::Cluster(_))
    }

    fn key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }

    /// Runs one command through the breaker.
    async fn run<T, F>(&self, command: impl FnOnce(Connection) -> F) -> StoreResult<T>
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

    pub async fn replace_if_equals(
        &self,
        key: &str,
        expected: &str,
        value: &str,
        ttl: Duration,
    ) -> StoreResult<bool> {
        let key = self.key(key);
        let replaced: u64 = self
            .run(|mut c| async move {
                Script::new(REPLACE_IF_EQUAL)
                    .key(key)
                    .arg(expected)
                    .arg(value)
                    .arg(millis(ttl))
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Ok(replaced == 1)
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

    /// One token from each bucket, all or none (`budget::TAKE_SCRIPT`).
    pub async fn take(
        &self,
        buckets: &[(String, super::Bucket)],
        now_ms: u64,
    ) -> StoreResult<Result<(), Duration>> {
        let script = Script::new(super::budget::TAKE_SCRIPT);
        let mut invocation = script.prepare_invoke();
        invocation.arg(now_ms);
        for (key, bucket) in buckets {
            invocation.key(self.key(key));
            for arg in super::budget::script_args(*bucket) {
                invocation.arg(arg);
            }
        }
        let wait_ms: u64 = self
            .run(|mut c| async move { invocation.invoke_async(&mut c).await })
            .await?;
        Ok(match wait_ms {
            0 => Ok(()),
            ms => Err(Duration::from_millis(ms)),
        })
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
