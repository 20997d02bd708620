//! The joined notice, "*Name* joined the chat", posted into the chat after
//! the join has been answered: the click waits for the Graph add only, and
//! the notice follows within a few seconds (DESIGN). The post is bounded by
//! its own time budget, its outcome logged and audited (`notice`), and a
//! stopping bot waits for the notices still on their way ([`Followups`]).

use std::{
    future::Future,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use crate::{
    admin::Notifier,
    domain::{AadObjectId, ChatId, RecordRef},
};

/// Work that goes on after an answer was sent; a stopping bot waits for it.
#[derive(Clone, Default)]
pub struct Followups {
    inner: Arc<Pending>,
}

#[derive(Default)]
struct Pending {
    running: AtomicUsize,
    idle: tokio::sync::Notify,
}

impl Followups {
    /// Runs `work` in the background, counted until it ends.
    pub fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) {
        let inner = self.inner.clone();
        inner.running.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            work.await;
            if inner.running.fetch_sub(1, Ordering::SeqCst) == 1 {
                inner.idle.notify_waiters();
            }
        });
    }

    /// Waits (at most `wait`) until no follow-up is running; true if none is.
    pub async fn drained(&self, wait: Duration) -> bool {
        let until = tokio::time::Instant::now() + wait;
        loop {
            let idle = self.inner.idle.notified();
            if self.inner.running.load(Ordering::SeqCst) == 0 {
                return true;
            }
            if tokio::time::timeout_at(until, idle).await.is_err() {
                return self.inner.running.load(Ordering::SeqCst) == 0;
            }
        }
    }
}

/// One notice to post.
pub(super) struct Notice {
    pub chat: ChatId,
    pub record: RecordRef,
    pub user: AadObjectId,
    pub user_name: String,
    pub service_url: String,
}

/// Posts the notice (installing the bot in the chat first when it is
/// missing and may), within `budget`; logs and audits what happened.
pub(super) async fn post(notifier: Notifier, notice: Notice, budget: Duration) {
    let deadline = Instant::now() + budget;
    let posted = notifier
        .joined_notice(
            &notice.user,
            &notice.user_name,
            &notice.record,
            &notice.chat,
            &notice.service_url,
            deadline,
        )
        .await;
    if posted.reached() {
        tracing::info!(chat.id = notice.chat.as_str(), "joined notice posted");
    } else {
        // Teams' own "added" event still tells the members.
        tracing::warn!(chat.id = notice.chat.as_str(), "joined notice not posted");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stopping_bot_waits_for_followups_and_no_longer_than_asked() {
        let followups = Followups::default();
        assert!(followups.drained(Duration::from_millis(1)).await);
        let (release, gate) = tokio::sync::oneshot::channel::<()>();
        followups.spawn(async move {
            let _ = gate.await;
        });
        assert!(!followups.drained(Duration::from_millis(20)).await);
        release.send(()).unwrap();
        assert!(followups.drained(Duration::from_secs(5)).await);
    }
}
