//! A run against Microsoft Graph on a shared job store (PostgreSQL) paces its
//! client by the budget the store keeps for its service, tenant and app, so
//! the workers of a fleet that change one tenant stay within its quotas
//! together.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::lock_store;
use crate::directory::any::AnyDirectory;
use crate::msgraph::shared::{self, Buckets, Spend};
use crate::store::{Charge, JobStore, SharedBudget, Taken};

/// The store's budget as the Graph client asks it.
struct StoreBudget {
    budget: SharedBudget,
    buckets: Buckets,
}

impl shared::SharedBudget for StoreBudget {
    fn take(&self, spend: Spend) -> BoxFuture<'_, Result<Duration, String>> {
        let charges = self
            .buckets
            .charges(spend)
            .map(|(cost_us, burst_us)| Charge { cost_us, burst_us });
        Box::pin(async move {
            match self.budget.take(charges).await {
                Ok(Taken::Granted { .. }) => Ok(Duration::ZERO),
                Ok(Taken::Wait(wait)) => Ok(wait),
                Err(error) => Err(error.to_string()),
            }
        })
    }

    fn cool_down(&self, delay: Duration) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            self.budget
                .cool_down(delay)
                .await
                .map_err(|error| error.to_string())
        })
    }
}

/// Gives a Graph directory's client the budget its store shares, if the
/// store is shared. A store that cannot keep the budget is warned of, and
/// the client paces itself alone.
pub(super) fn share(directory: &AnyDirectory, store: &Mutex<JobStore>) {
    let AnyDirectory::Graph(graph) = directory else {
        return;
    };
    let client = graph.client();
    match lock_store(store).shared_budget(&client.budget_name(), client.longest_cool_down()) {
        Ok(Some(budget)) => client.share_budget(Arc::new(StoreBudget {
            budget,
            buckets: client.buckets(),
        })),
        Ok(None) => {}
        Err(error) => {
            tracing::warn!(error = %crate::text::chain(&error), "the shared Graph budget cannot be kept in the job store; pacing this process alone");
        }
    }
}
