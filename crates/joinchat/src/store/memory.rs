//! The in-process store: one replica's cache, locks and audit log, with the
//! same expiry semantics as Redis. Bounded: expired entries are swept as new
//! ones arrive, and streams keep their newest events only.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use super::keys::AUDIT_MAX_LEN;

#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    values: HashMap<String, (String, Instant)>,
    streams: HashMap<String, VecDeque<Vec<(String, String)>>>,
    writes_since_sweep: usize,
}

impl Inner {
    fn live(&mut self, key: &str, now: Instant) -> Option<&mut (String, Instant)> {
        let expired = matches!(self.values.get(key), Some((_, until)) if *until <= now);
        if expired {
            self.values.remove(key);
        }
        self.values.get_mut(key)
    }

    fn insert(&mut self, key: &str, value: String, until: Instant) {
        self.writes_since_sweep += 1;
        if self.writes_since_sweep >= 1024 {
            let now = Instant::now();
            self.values.retain(|_, (_, until)| *until > now);
            self.writes_since_sweep = 0;
        }
        self.values.insert(key.to_owned(), (value, until));
    }
}

impl MemoryStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn set_if_absent(&self, key: &str, value: &str, ttl: Duration) -> bool {
        let now = Instant::now();
        let mut inner = self.lock();
        if inner.live(key, now).is_some() {
            return false;
        }
        inner.insert(key, value.to_owned(), now + ttl);
        true
    }

    pub fn set(&self, key: &str, value: &str, ttl: Duration) {
        self.lock()
            .insert(key, value.to_owned(), Instant::now() + ttl);
    }

    pub fn get(&self, key: &str) -> Option<String> {
        self.lock()
            .live(key, Instant::now())
            .map(|(v, _)| v.clone())
    }

    pub fn delete(&self, key: &str) {
        self.lock().values.remove(key);
    }

    /// Reads `keys` and, when `update` says so, writes them back (each to
    /// live `ttl`), all under one lock: the in-process form of a Lua script.
    pub fn update_many<E>(
        &self,
        keys: &[String],
        ttl: Duration,
        update: impl FnOnce(&[Option<String>]) -> Result<Vec<String>, E>,
    ) -> Result<(), E> {
        let now = Instant::now();
        let mut inner = self.lock();
        let stored: Vec<Option<String>> = keys
            .iter()
            .map(|key| inner.live(key, now).map(|(value, _)| value.clone()))
            .collect();
        for (key, value) in keys.iter().zip(update(&stored)?) {
            inner.insert(key, value, now + ttl);
        }
        Ok(())
    }

    pub fn delete_if_equals(&self, key: &str, value: &str) {
        let mut inner = self.lock();
        if matches!(inner.live(key, Instant::now()), Some((v, _)) if v == value) {
            inner.values.remove(key);
        }
    }

    pub fn replace_if_equals(&self, key: &str, expected: &str, value: &str, ttl: Duration) -> bool {
        let now = Instant::now();
        let mut inner = self.lock();
        if !matches!(inner.live(key, now), Some((v, _)) if v == expected) {
            return false;
        }
        inner.insert(key, value.to_owned(), now + ttl);
        true
    }

    pub fn increment(&self, key: &str, window: Duration) -> u64 {
        let now = Instant::now();
        let mut inner = self.lock();
        if let Some((value, _)) = inner.live(key, now) {
            let next = value.parse::<u64>().unwrap_or(0) + 1;
            *value = next.to_string();
            return next;
        }
        inner.insert(key, "1".into(), now + window);
        1
    }

    pub fn append_event(&self, stream: &str, fields: &[(&str, String)]) {
        let mut inner = self.lock();
        let events = inner.streams.entry(stream.to_owned()).or_default();
        events.push_back(
            fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        );
        while events.len() > AUDIT_MAX_LEN {
            events.pop_front();
        }
    }

    pub fn recent_events(&self, stream: &str, count: usize) -> Vec<Vec<(String, String)>> {
        let inner = self.lock();
        let Some(events) = inner.streams.get(stream) else {
            return Vec::new();
        };
        events
            .iter()
            .skip(events.len().saturating_sub(count))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_if_absent_refuses_a_live_key_and_accepts_an_expired_one() {
        let store = MemoryStore::default();
        assert!(store.set_if_absent("k", "a", Duration::from_millis(30)));
        assert!(!store.set_if_absent("k", "b", Duration::from_secs(5)));
        std::thread::sleep(Duration::from_millis(40));
        assert!(store.set_if_absent("k", "c", Duration::from_secs(5)));
        assert_eq!(store.get("k").as_deref(), Some("c"));
    }

    #[test]
    fn a_lock_is_released_only_by_its_owner() {
        let store = MemoryStore::default();
        store.set("lock", "owner-1", Duration::from_secs(5));
        store.delete_if_equals("lock", "owner-2");
        assert!(store.get("lock").is_some());
        store.delete_if_equals("lock", "owner-1");
        assert!(store.get("lock").is_none());
    }

    #[test]
    fn a_value_is_replaced_only_while_it_holds_what_was_read() {
        let store = MemoryStore::default();
        let ttl = Duration::from_secs(5);
        assert!(!store.replace_if_equals("k", "a", "b", ttl), "absent");
        store.set("k", "a", ttl);
        assert!(!store.replace_if_equals("k", "x", "b", ttl));
        assert_eq!(store.get("k").as_deref(), Some("a"));
        assert!(store.replace_if_equals("k", "a", "b", ttl));
        assert_eq!(store.get("k").as_deref(), Some("b"));
    }

    #[test]
    fn counters_count_within_their_window() {
        let store = MemoryStore::default();
        assert_eq!(store.increment("c", Duration::from_secs(5)), 1);
        assert_eq!(store.increment("c", Duration::from_secs(5)), 2);
    }

    #[test]
    fn streams_return_the_newest_events_oldest_first() {
        let store = MemoryStore::default();
        for i in 0..5 {
            store.append_event("audit", &[("n", i.to_string())]);
        }
        let last = store.recent_events("audit", 2);
        assert_eq!(
            last,
            vec![
                vec![("n".into(), "3".into())],
                vec![("n".into(), "4".into())]
            ]
        );
    }
}
