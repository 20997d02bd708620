//! Token buckets in the store, shared by every replica: a budget of work
//! that costs someone else's quota (cold card refreshes and shows, which
//! read Dataverse and Graph). One call takes one token from each of several
//! buckets, all or none, atomically (a Lua script on Redis; one lock in the
//! in-process store), so a person's budget and the tenant's are spent together.
//!
//! A bucket is stored as `"{tokens}:{updated at, ms since the epoch}"` and
//! lives until it would be full again.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{Store, StoreResult};

/// A bucket's shape: how many tokens it holds at most (the burst) and how
/// many flow back in a minute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub capacity: u32,
    pub per_minute: u32,
}

/// What taking from the buckets did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spent {
    /// One token was taken from each bucket.
    Taken,
    /// A bucket was empty: nothing was taken; a token is back after `retry_in`.
    Empty { retry_in: Duration },
}

impl Bucket {
    /// Thousandths of a token that flow back in `elapsed_ms`, at most a full bucket.
    fn refill_milli(self, elapsed_ms: u64) -> u64 {
        let full = u64::from(self.capacity) * 1000;
        let elapsed_ms = elapsed_ms.min(self.full_in().as_millis() as u64);
        (elapsed_ms * u64::from(self.per_minute.max(1)) / 60).min(full)
    }

    /// How long a bucket short of `missing_milli` waits for them.
    fn wait_for(self, missing_milli: u64) -> Duration {
        let per_minute = u64::from(self.per_minute.max(1));
        Duration::from_millis((missing_milli * 60).div_ceil(per_minute))
    }

    /// How long an emptied bucket takes to fill (its entry's lifetime).
    fn full_in(self) -> Duration {
        let per_minute = u64::from(self.per_minute.max(1));
        Duration::from_millis((u64::from(self.capacity) * 60_000).div_ceil(per_minute) + 1000)
    }
}

/// Takes one token from each of `buckets` (all or none). `now_ms` is
/// milliseconds since the epoch; `stored` the buckets' stored values
/// (thousandths of a token, then when). The new values to store, or how long
/// until every bucket has a token again.
pub(super) fn take(
    buckets: &[Bucket],
    stored: &[Option<String>],
    now_ms: u64,
) -> Result<Vec<String>, Duration> {
    let mut levels = Vec::with_capacity(buckets.len());
    let mut wait = Duration::ZERO;
    for (bucket, raw) in buckets.iter().zip(stored) {
        let full = u64::from(bucket.capacity) * 1000;
        let (tokens, at) = raw.as_deref().and_then(parse).unwrap_or((full, now_ms));
        let level = (tokens.min(full) + bucket.refill_milli(now_ms.saturating_sub(at))).min(full);
        if level < 1000 {
            wait = wait.max(bucket.wait_for(1000 - level));
        }
        levels.push(level);
    }
    if !wait.is_zero() {
        return Err(wait);
    }
    Ok(levels
        .into_iter()
        .map(|level| format!("{}:{now_ms}", level - 1000))
        .collect())
}

fn parse(raw: &str) -> Option<(u64, u64)> {
    let (tokens, at) = raw.split_once(':')?;
    Some((tokens.parse().ok()?, at.parse().ok()?))
}

/// The Redis form of [`take`], in the same integer arithmetic: KEYS the
/// buckets; ARGV now (ms), then per bucket its capacity, its refill per
/// minute and its entry's lifetime (ms). Answers 0 when taken, else the
/// wait in ms.
pub(super) const TAKE_SCRIPT: &str = r"
local now = tonumber(ARGV[1])
local levels = {}
local wait = 0
for i, key in ipairs(KEYS) do
  local full = tonumber(ARGV[3 * i - 1]) * 1000
  local per_minute = tonumber(ARGV[3 * i])
  local lifetime = tonumber(ARGV[3 * i + 1])
  local tokens, at = full, now
  local raw = redis.call('GET', key)
  if raw then
    local sep = string.find(raw, ':', 1, true)
    if sep then
      tokens = tonumber(string.sub(raw, 1, sep - 1)) or full
      at = tonumber(string.sub(raw, sep + 1)) or now
    end
  end
  local elapsed = math.min(math.max(0, now - at), lifetime)
  local refill = math.min(math.floor(elapsed * per_minute / 60), full)
  local level = math.min(full, math.min(tokens, full) + refill)
  if level < 1000 then wait = math.max(wait, math.ceil((1000 - level) * 60 / per_minute)) end
  levels[i] = level
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
  redis.call('SET', key, string.format('%.0f:%.0f', levels[i] - 1000, now), 'PX', ARGV[3 * i + 1])
end
return 0";

/// Per-bucket arguments of [`TAKE_SCRIPT`].
pub(super) fn script_args(bucket: Bucket) -> [u64; 3] {
    [
        u64::from(bucket.capacity),
        u64::from(bucket.per_minute.max(1)),
        bucket.full_in().as_millis() as u64,
    ]
}

impl Store {
    /// Takes one token from each named bucket, all or none.
    pub async fn take(&self, buckets: &[(String, Bucket)]) -> StoreResult<Spent> {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as u64);
        let waited = match self {
            Store::Memory(s) => {
                let shapes: Vec<Bucket> = buckets.iter().map(|(_, b)| *b).collect();
                let ttl = shapes.iter().map(|b| b.full_in()).max().unwrap_or_default();
                let keys: Vec<String> = buckets.iter().map(|(k, _)| k.clone()).collect();
                s.update_many(&keys, ttl, |stored| take(&shapes, stored, now_ms))
            }
            Store::Redis(s) => s.take(buckets, now_ms).await?,
        };
        Ok(match waited {
            Ok(()) => Spent::Taken,
            Err(retry_in) => Spent::Empty { retry_in },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PERSON: Bucket = Bucket {
        capacity: 3,
        per_minute: 60,
    };
    const TENANT: Bucket = Bucket {
        capacity: 5,
        per_minute: 6,
    };

    fn run(stored: &mut [Option<String>], buckets: &[Bucket], now_ms: u64) -> Result<(), Duration> {
        let values = take(buckets, stored, now_ms)?;
        for (slot, value) in stored.iter_mut().zip(values) {
            *slot = Some(value);
        }
        Ok(())
    }

    #[test]
    fn a_full_bucket_gives_its_burst_then_one_token_per_refill_interval() {
        let mut stored = vec![None];
        let t0 = 1_000_000;
        for _ in 0..3 {
            assert_eq!(run(&mut stored, &[PERSON], t0), Ok(()));
        }
        assert_eq!(
            run(&mut stored, &[PERSON], t0),
            Err(Duration::from_millis(1000))
        );
        assert_eq!(
            run(&mut stored, &[PERSON], t0 + 400),
            Err(Duration::from_millis(600))
        );
        assert_eq!(run(&mut stored, &[PERSON], t0 + 1000), Ok(()));
        assert!(run(&mut stored, &[PERSON], t0 + 1000).is_err());
        // A long pause fills it up to the capacity, not beyond.
        for _ in 0..3 {
            assert_eq!(run(&mut stored, &[PERSON], t0 + 3_600_000), Ok(()));
        }
        assert!(run(&mut stored, &[PERSON], t0 + 3_600_000).is_err());
    }

    #[test]
    fn every_bucket_pays_or_none_does() {
        let mut stored = vec![None, None];
        let t0 = 5_000;
        for _ in 0..3 {
            run(&mut stored, &[PERSON, TENANT], t0).unwrap();
        }
        // The person's bucket is empty: the tenant's keeps its two tokens.
        let before = stored.clone();
        assert!(run(&mut stored, &[PERSON, TENANT], t0).is_err());
        assert_eq!(stored, before);
        // Another person (a fresh bucket) spends the tenant's last two.
        let mut other = vec![None, stored[1].clone()];
        run(&mut other, &[PERSON, TENANT], t0).unwrap();
        run(&mut other, &[PERSON, TENANT], t0).unwrap();
        // The tenant's bucket refills at 6 a minute: 10 s for a token.
        assert_eq!(
            run(&mut other, &[PERSON, TENANT], t0),
            Err(Duration::from_millis(10_000))
        );
    }

    #[test]
    fn a_clock_behind_the_stored_time_or_a_garbled_value_does_no_harm() {
        let mut stored = vec![Some("500:9000".to_owned())];
        assert_eq!(
            run(&mut stored, &[PERSON], 8000),
            Err(Duration::from_millis(500))
        );
        let mut garbled = vec![Some("lots".to_owned())];
        assert_eq!(run(&mut garbled, &[PERSON], 8000), Ok(()));
    }
}
