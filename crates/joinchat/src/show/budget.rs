//! The budget of cold looks: a card refresh or Show that must read Dataverse
//! or Graph costs the app user's shared quota, so each takes a token from the
//! person's bucket and the tenant's (`store::Store::take`, shared by every
//! replica). Warm looks, answered from the cache, are free. Over budget, the
//! look is answered "try again in a moment" and nothing is read.

use crate::{
    config::Tunables,
    domain::AadObjectId,
    store::{keys, Bucket, Spent, Store},
};

#[derive(Clone, Copy, Debug)]
pub struct ColdBudget {
    person: Bucket,
    tenant: Bucket,
}

impl ColdBudget {
    pub fn new(tunables: &Tunables) -> ColdBudget {
        ColdBudget {
            person: tunables.cold_looks_per_person,
            tenant: tunables.cold_looks_per_tenant,
        }
    }

    /// Takes one cold look from `viewer`'s budget and the tenant's; false
    /// when either is spent. Without the store there is no budget (as there
    /// is no per-person limit): the look goes ahead.
    pub async fn spend(&self, store: &Store, viewer: &AadObjectId) -> bool {
        let buckets = [
            (keys::person_budget(viewer), self.person),
            (keys::TENANT_BUDGET.to_owned(), self.tenant),
        ];
        match store.take(&buckets).await {
            Ok(Spent::Taken) => true,
            Ok(Spent::Empty { retry_in }) => {
                tracing::info!(
                    user.aad = viewer.as_str(),
                    retry_in_ms = retry_in.as_millis() as u64,
                    "cold look over budget"
                );
                false
            }
            Err(error) => {
                tracing::warn!(%error, "cold-look budget unavailable; letting the look through");
                true
            }
        }
    }
}
