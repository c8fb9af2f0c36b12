//! The client's `$batch` traffic: requests grouped 20 to a batch, several
//! batches in flight, writes paced by the quota, throttled items sent again
//! after their `Retry-After`, and an item whose answer may have been lost
//! once marked as such however often it is sent again.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Instant;

use futures_util::StreamExt as _;

use super::{
    ClientError, GraphClient, LEARN_BELOW, MAX_ATTEMPTS, Request, WriteKind, answer_error, lock,
};
use crate::msgraph::batch::{self, Batch, BatchRequest, BatchResponse};
use crate::msgraph::errors::parse_retry_after;
use crate::msgraph::pace::BindWriteCost;
use crate::msgraph::shared::Spend;

impl GraphClient {
    /// How many `$batch` requests to have in flight.
    fn in_flight(&self) -> usize {
        usize::try_from(self.profile.pacing.concurrency)
            .unwrap_or(1)
            .max(1)
    }

    /// The write units a request costs as the client assumes it.
    fn write_cost(&self, kind: WriteKind) -> (u32, u32) {
        match kind {
            WriteKind::Bind(members) if self.per3.load(Ordering::Relaxed) => {
                (BindWriteCost::Per3.writes(members), 0)
            }
            WriteKind::Bind(_) | WriteKind::Other => (1, 0),
            WriteKind::Device => (0, 1),
        }
    }

    /// Waits until writes of these kinds fit the write quotas, then spends
    /// them; then takes them from the shared budget, if the client has one.
    async fn pace(&self, kinds: &[Option<WriteKind>]) -> Result<(), ClientError> {
        let (writes, device_writes) = kinds
            .iter()
            .flatten()
            .map(|kind| self.write_cost(*kind))
            .fold((0, 0), |(a, b), (c, d)| (a + c, b + d));
        self.pace_locally(writes, device_writes).await;
        self.take_shared(Spend {
            writes,
            device_writes,
            resource_units: u32::try_from(kinds.len()).unwrap_or(u32::MAX),
        })
        .await
    }

    /// Waits until the writes fit this process's own record of the quotas.
    async fn pace_locally(&self, writes: u32, device_writes: u32) {
        if writes == 0 && device_writes == 0 {
            return;
        }
        loop {
            let wait = {
                let mut pacer = lock(&self.pacer);
                let now = pacer.started.elapsed();
                let wait = pacer
                    .writes
                    .wait_for(now, writes)
                    .max(pacer.device_writes.wait_for(now, device_writes));
                if wait.is_zero() {
                    pacer.writes.spend(now, writes);
                    pacer.device_writes.spend(now, device_writes);
                }
                wait
            };
            if wait.is_zero() {
                return;
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Sends requests in `$batch`es of 20, paced by the write quota; items
    /// Graph throttles or fails transiently are sent again in a later batch
    /// after the longest `Retry-After`. Answers come back in request order.
    pub async fn batch(
        &self,
        requests: Vec<(BatchRequest, Option<WriteKind>)>,
    ) -> Result<Vec<BatchResponse>, ClientError> {
        let mut results: HashMap<String, BatchResponse> = HashMap::with_capacity(requests.len());
        let order: Vec<String> = requests
            .iter()
            .map(|(request, _)| request.id.clone())
            .collect();
        let kinds: HashMap<String, Option<WriteKind>> = requests
            .iter()
            .map(|(request, kind)| (request.id.clone(), *kind))
            .collect();
        let first = Instant::now();
        let mut resent: std::collections::HashSet<String> = std::collections::HashSet::new();
        let mut pending: Vec<BatchRequest> =
            requests.into_iter().map(|(request, _)| request).collect();
        let mut attempt = 0;
        while !pending.is_empty() {
            if first.elapsed() > self.profile.pacing.deadline || attempt >= MAX_ATTEMPTS {
                return Err(ClientError::Deadline {
                    seconds: first.elapsed().as_secs(),
                    last: format!("{} batched requests still throttled", pending.len()),
                });
            }
            let mut again = Vec::new();
            let kinds = &kinds;
            let sent: Vec<Result<Vec<(BatchRequest, BatchResponse)>, ClientError>> =
                futures_util::stream::iter(
                    batch::batches(std::mem::take(&mut pending))
                        .into_iter()
                        .map(|group| async move {
                            let group_kinds: Vec<Option<WriteKind>> = group
                                .requests
                                .iter()
                                .map(|request| kinds[&request.id])
                                .collect();
                            self.pace(&group_kinds).await?;
                            let answers = self.send_batch(&group).await?;
                            // Learn from throttling at once, so the next batches wait.
                            for (answer, kind) in answers.iter().zip(&group_kinds) {
                                if matches!(answer.status, 429 | 503 | 504) {
                                    self.note_item_throttle(answer, *kind, attempt);
                                }
                            }
                            Ok(group.requests.into_iter().zip(answers).collect())
                        }),
                )
                .buffer_unordered(self.in_flight())
                .collect()
                .await;
            for answered in sent {
                for (request, mut answer) in answered? {
                    // An attempt whose answer was lost may have been carried
                    // out, even if the next one is throttled: remember it.
                    if answer.resent {
                        resent.insert(request.id.clone());
                    }
                    if matches!(answer.status, 429 | 503 | 504) {
                        again.push(request);
                    } else {
                        answer.resent = resent.contains(&request.id);
                        results.insert(request.id.clone(), answer);
                    }
                }
            }
            pending = again;
            attempt += 1;
        }
        Ok(order
            .into_iter()
            .map(|id| results.remove(&id).expect("every request is answered"))
            .collect())
    }

    /// Honours an item's Retry-After for everyone, and learns the bind cost
    /// from a write throttle.
    fn note_item_throttle(&self, answer: &BatchResponse, kind: Option<WriteKind>, attempt: u32) {
        self.stats
            .throttled
            .fetch_add(u64::from(answer.status == 429), Ordering::Relaxed);
        self.gate.record(true);
        let write_limit = answer
            .header("x-ms-throttle-information")
            .is_some_and(|information| information.contains("WriteLimitExceeded"));
        if write_limit
            && matches!(kind, Some(WriteKind::Bind(_)))
            && !self.per3.load(Ordering::Relaxed)
        {
            let used = {
                let mut pacer = lock(&self.pacer);
                let now = pacer.started.elapsed();
                pacer.writes.used(now)
            };
            if used < LEARN_BELOW {
                self.per3.store(true, Ordering::Relaxed);
                tracing::info!(
                    "Microsoft Graph charges bind PATCH requests by members; pacing at ceil(n/3) writes each"
                );
            }
        }
        let delay = answer
            .header("retry-after")
            .and_then(|value| parse_retry_after(value, jiff::Timestamp::now()))
            .unwrap_or_else(|| self.backoff(attempt));
        self.hush(delay);
    }

    async fn send_batch(&self, group: &Batch) -> Result<Vec<BatchResponse>, ClientError> {
        let body = serde_json::to_value(group).expect("a batch serializes");
        let request = Request {
            method: reqwest::Method::POST,
            url: "/$batch".to_owned(),
            headers: vec![("Accept", "application/json".to_owned())],
            body: Some(body),
        };
        let reply = self.send(&request).await?;
        // A batch with throttled items may answer 424 as a whole; its items still tell.
        if !matches!(reply.status, 200 | 424) {
            return Err(answer_error(&reply));
        }
        let bytes = serde_json::to_vec(&reply.body).expect("JSON serializes");
        let mut answers = batch::answers(group, &bytes)
            .map_err(|error| ClientError::Unexpected(error.to_string()))?;
        for answer in &mut answers {
            answer.resent = reply.resent;
        }
        Ok(answers)
    }
}
