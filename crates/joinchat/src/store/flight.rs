//! Single flight: callers asking for the same thing at the same time share
//! one computation. In process, [`Flights`] keeps a map of the computations
//! in flight, keyed by what they read; across replicas, [`Store::lead`] is a
//! short lock (SET NX PX) whose loser waits briefly for the winner's cache
//! write instead of reading the same facts again.
//!
//! A flight runs as its own task, so a caller that gives up (its request
//! ended) cuts off nobody else; the entry is removed as the task ends, so the
//! map holds only what is in flight, and no result — an error least of all —
//! outlives its flight here (caching is the caller's business).

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::future::{BoxFuture, FutureExt, Shared};

use super::{keys, Store};

type Flight<T> = Shared<BoxFuture<'static, Result<T, Arc<str>>>>;

/// The computations in flight in this process, by key.
pub struct Flights<T> {
    running: Arc<Mutex<HashMap<String, Flight<T>>>>,
}

impl<T> Default for Flights<T> {
    fn default() -> Self {
        Flights {
            running: Arc::default(),
        }
    }
}

impl<T: Clone + Send + Sync + 'static> Flights<T> {
    /// The result of the flight for `key`: joins the one in flight, or
    /// starts `start()` as a new one. A panic in the flight is a panic of
    /// every caller.
    pub async fn run<F>(&self, key: &str, start: impl FnOnce() -> F) -> T
    where
        F: Future<Output = T> + Send + 'static,
    {
        let flight = {
            let mut running = lock(&self.running);
            match running.get(key) {
                Some(flight) => flight.clone(),
                None => {
                    let flight = self.launch(key.to_owned(), start());
                    running.insert(key.to_owned(), flight.clone());
                    flight
                }
            }
        };
        match flight.await {
            Ok(value) => value,
            Err(panic) => panic!("the single flight {key:?} panicked: {panic}"),
        }
    }

    /// How many flights are running (for tests).
    pub fn in_flight(&self) -> usize {
        lock(&self.running).len()
    }

    fn launch<F>(&self, key: String, work: F) -> Flight<T>
    where
        F: Future<Output = T> + Send + 'static,
    {
        let running = self.running.clone();
        // Inserted under the lock the caller holds, removed by the task: the
        // removal cannot come first.
        let task = tokio::spawn(async move {
            let value = work.await;
            lock(&running).remove(&key);
            value
        });
        async move {
            task.await.map_err(|error| {
                let reason: Arc<str> = if error.is_panic() {
                    "a panic".into()
                } else {
                    "cancelled".into()
                };
                reason
            })
        }
        .boxed()
        .shared()
    }
}

impl Store {
    /// Takes the cross-replica lead on reading `what` (SET NX PX of
    /// `flight:{what}`): `Some(token)` to hand back to [`Store::end_lead`]
    /// when done, `None` when another replica is reading it now. Without
    /// the store every replica leads.
    pub async fn lead(&self, what: &str) -> Option<String> {
        let token = uuid::Uuid::new_v4().to_string();
        match self
            .set_if_absent(&keys::flight(what), &token, keys::FLIGHT_TTL)
            .await
        {
            Ok(false) => None,
            Ok(true) | Err(_) => Some(token),
        }
    }

    /// Gives the lead up (only while still ours; it expires by itself anyway).
    pub async fn end_lead(&self, what: &str, token: &str) {
        if let Err(error) = self.delete_if_equals(&keys::flight(what), token).await {
            tracing::debug!(%error, "flight lock not released; it expires by itself");
        }
    }

    /// Waits for the cache write of `key` by the replica leading its read:
    /// the value once it is there; `None` when the lead ended without it or
    /// after `wait` (then the caller reads for itself).
    pub async fn wait_for(&self, key: &str, wait: Duration) -> Option<String> {
        let until = tokio::time::Instant::now() + wait;
        let names = [key.to_owned(), keys::flight(key)];
        loop {
            match self.get_many(&names).await.as_deref() {
                Ok([Some(value), _]) => return Some(value.clone()),
                Ok([None, None]) | Err(_) => return None,
                _ => {}
            }
            if tokio::time::Instant::now() + keys::FLIGHT_POLL > until {
                return None;
            }
            tokio::time::sleep(keys::FLIGHT_POLL).await;
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn concurrent_callers_of_one_key_share_one_run_and_the_entry_goes() {
        let flights = Flights::<usize>::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let (release, gate) = tokio::sync::watch::channel(false);
        let callers = (0..20).map(|_| {
            let runs = runs.clone();
            let mut gate = gate.clone();
            flights.run("record", move || async move {
                let _ = gate.wait_for(|open| *open).await;
                runs.fetch_add(1, Ordering::SeqCst) + 1
            })
        });
        let all = futures::future::join_all(callers);
        tokio::pin!(all);
        // Every caller has joined before the one run is let go.
        assert!(futures::poll!(&mut all).is_pending());
        assert_eq!(flights.in_flight(), 1);
        release.send(true).unwrap();
        let results = all.await;
        assert_eq!(results, vec![1; 20]);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        tokio::task::yield_now().await;
        assert_eq!(flights.in_flight(), 0, "no entry outlives its flight");
    }

    #[tokio::test]
    async fn other_keys_fly_apart_and_a_finished_flight_is_not_reused() {
        let flights = Flights::<Result<u32, String>>::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let load = |value: Result<u32, String>| {
            let runs = runs.clone();
            move || async move {
                runs.fetch_add(1, Ordering::SeqCst);
                value
            }
        };
        let (a, b) = tokio::join!(
            flights.run("a", load(Err("busy".into()))),
            flights.run("b", load(Ok(2)))
        );
        assert_eq!((a, b), (Err("busy".into()), Ok(2)));
        // The error was not kept: the next caller runs again.
        assert_eq!(flights.run("a", load(Ok(1))).await, Ok(1));
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_caller_that_gives_up_cuts_off_nobody() {
        let flights = Arc::new(Flights::<u32>::default());
        let (release, gate) = tokio::sync::watch::channel(false);
        let start = |gate: tokio::sync::watch::Receiver<bool>| {
            move || async move {
                let mut gate = gate;
                let _ = gate.wait_for(|open| *open).await;
                7
            }
        };
        let first = {
            let flights = flights.clone();
            let gate = gate.clone();
            tokio::spawn(async move { flights.run("k", start(gate)).await })
        };
        tokio::task::yield_now().await;
        first.abort();
        let second = flights.run("k", start(gate.clone()));
        tokio::pin!(second);
        assert!(futures::poll!(&mut second).is_pending());
        release.send(true).unwrap();
        assert_eq!(second.await, 7);
    }
}
