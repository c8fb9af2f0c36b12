//! The Microsoft Graph HTTP client: client-credentials sign-in with the token
//! cached and refreshed before expiry, requests retried where that is safe
//! (429, 503, 504, timeouts, dropped connections) with Graph's `Retry-After`
//! or exponential backoff with jitter, an overall deadline per request, and
//! `$batch` with throttled items retried on their own. Writes are paced by the
//! write quota, and concurrency halves when Graph throttles. A client given a
//! [`SharedBudget`] also asks it before every request, so the processes of a
//! fleet pace as one client, and tells it of every `Retry-After`.
//!
//! Every write bulkops sends is idempotent in effect (adding a member twice
//! answers "already exists", removing twice "does not exist"), so a request
//! whose answer was lost is safe to send again.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use tokio::sync::Notify;

use super::assertion::{AssertionError, Signer};
use super::errors::{GraphError, parse_retry_after};
use super::pace::{BindWriteCost, Budget, Concurrency, Quota};
use super::profile::{Credential, Profile, ProfileError};
use super::shared::{Buckets, SharedBudget, Spend};
use super::token::{TokenCache, TokenError, read_answer};
use crate::manifest::spec::BackoffKind;
use crate::plan::RetryPolicy;
use crate::runner::retry::Backoff;

/// Why a Graph request failed for good.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ClientError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Assertion(#[from] AssertionError),
    #[error("signing in to tenant `{tenant}` failed: {source}")]
    #[diagnostic(
        code(bulkops::graph::sign_in),
        help(
            "check the profile's tenant, client id and secret or certificate, and that the app has admin consent"
        )
    )]
    SignIn {
        tenant: String,
        #[source]
        source: TokenError,
    },
    #[error("Microsoft Graph did not answer within {seconds} s: {last}")]
    #[diagnostic(
        code(bulkops::graph::deadline),
        help(
            "Graph kept throttling or failing; the run can be resumed later with `bulkops apply --resume`"
        )
    )]
    Deadline { seconds: u64, last: String },
    #[error("Microsoft Graph answered {status} {code}: {message}")]
    #[diagnostic(code(bulkops::graph::answer))]
    Answer {
        status: u16,
        code: String,
        message: String,
    },
    #[error("Microsoft Graph answered something unexpected: {0}")]
    #[diagnostic(code(bulkops::graph::unexpected))]
    Unexpected(String),
    #[error("refused to follow `{link}`: it is not on the configured Graph origin `{origin}`")]
    #[diagnostic(
        code(bulkops::graph::foreign_link),
        help(
            "bulkops sends its access token only to the profile's `graphUrl`; check what answers at that address"
        )
    )]
    ForeignLink { link: String, origin: String },
}

impl ClientError {
    /// Whether waiting and trying again later may help.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Deadline { .. })
    }
}

/// A request to Graph.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: reqwest::Method,
    /// A path under `/v1.0` (`/groups?$top=999`) or a full `@odata.nextLink`.
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<Json>,
}

impl Request {
    /// A GET.
    pub fn get(url: impl Into<String>) -> Self {
        Self {
            method: reqwest::Method::GET,
            url: url.into(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// With `ConsistencyLevel: eventual`.
    #[must_use]
    pub fn eventual(mut self) -> Self {
        self.headers
            .push(("ConsistencyLevel", "eventual".to_owned()));
        self
    }
}

/// An answer from Graph.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Json,
    /// Whether the request was sent again after an attempt whose answer was
    /// lost (a dropped connection, a timeout): that attempt may have reached
    /// Graph, so "already a member" may be this request's own doing.
    pub resent: bool,
}

/// Counters of what the client sent and met.
#[derive(Debug, Default)]
pub struct ClientStats {
    pub http_requests: AtomicU64,
    pub throttled: AtomicU64,
    pub retries: AtomicU64,
}

/// Requests in flight, within a limit that halves on throttling.
struct Gate {
    state: Mutex<(u32, Concurrency)>,
    changed: Notify,
}

struct Permit<'a>(&'a Gate);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.0
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0 -= 1;
        self.0.changed.notify_waiters();
    }
}

impl Gate {
    async fn enter(&self) -> Permit<'_> {
        loop {
            let changed = self.changed.notified();
            {
                let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                if state.0 < state.1.current() {
                    state.0 += 1;
                    return Permit(self);
                }
            }
            changed.await;
        }
    }

    fn record(&self, throttled: bool) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if throttled {
            state.1.throttled();
        } else {
            state.1.succeeded();
        }
    }
}

/// The write quotas as the client keeps them.
struct Pacer {
    writes: Budget,
    device_writes: Budget,
    started: Instant,
}

/// The kind of quota a write is charged to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    /// A bind PATCH of this many members.
    Bind(usize),
    /// Any other directory write (DELETE `$ref`).
    Other,
    /// A device PATCH or DELETE.
    Device,
}

/// A Microsoft Graph client for one profile.
pub struct GraphClient {
    http: reqwest::Client,
    profile: Profile,
    signer: Option<Signer>,
    tokens: tokio::sync::Mutex<TokenCache>,
    started: Instant,
    gate: Gate,
    pacer: Mutex<Pacer>,
    /// Set once Graph throttles writes the assumed cost said would fit.
    per3: AtomicBool,
    /// Seeds of the jitter of backoff delays.
    seeds: AtomicU64,
    /// No request is sent before this (a Retry-After everyone honours).
    quiet_until: Mutex<Option<Instant>>,
    /// The budget this client shares with other processes, if any.
    shared: OnceLock<Arc<dyn SharedBudget>>,
    /// Set once a shared budget failed, so the warning is logged once.
    shared_failed: AtomicBool,
    pub stats: ClientStats,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Attempts of one request before giving up, within the deadline.
const MAX_ATTEMPTS: u32 = 30;
/// The first backoff delay without Retry-After, before the time scale.
const BACKOFF_BASE: Duration = Duration::from_secs(1);
const BACKOFF_CAP: Duration = Duration::from_secs(60);
/// Slack kept under the write quota for clock differences with the service.
const QUOTA_SLACK: f64 = 0.98;
/// The client's windows are this much longer than the service's: a request
/// reaches the service a moment after the client counted it.
const WINDOW_SLACK: f64 = 1.02;
/// Below this share of its assumed write quota, a write throttle means the
/// service charges bind `PATCH`es by member.
const LEARN_BELOW: f64 = 0.5;
/// The longest a client sleeps before asking a shared budget again.
const SHARED_WAIT_CAP: Duration = Duration::from_secs(30);
/// How long a shared budget may take to answer.
const SHARED_ANSWER: Duration = Duration::from_secs(10);
/// A wait for the shared budget longer than this is logged.
const SHARED_WAIT_TOLD: Duration = Duration::from_secs(10);
/// The longest cool-down shared with other processes, before the time scale.
const LONGEST_SHARED_COOL_DOWN: Duration = Duration::from_secs(150);
/// Attempts of a token request.
const TOKEN_ATTEMPTS: u32 = 6;

mod batches;

impl GraphClient {
    /// A client for `profile`; reads the certificate now, the secret when signing in.
    pub fn new(profile: Profile) -> Result<Self, ClientError> {
        let signer = match &profile.credential {
            Credential::Certificate { key, certificate } => {
                Some(Signer::from_files(key, certificate)?)
            }
            Credential::SecretFromEnv(_) => {
                profile.secret()?;
                None
            }
        };
        let pacing = profile.pacing;
        let scale = pacing.time_scale.max(1);
        let slack = |quota: Quota| Quota {
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "quotas are small positive numbers"
            )]
            limit: (f64::from(quota.limit) * QUOTA_SLACK) as u32,
            window: quota.window.mul_f64(WINDOW_SLACK),
        };
        let http = reqwest::Client::builder()
            .user_agent(concat!("bulkops/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_secs(100))
            .connect_timeout(Duration::from_secs(20))
            .build()
            .map_err(|error| ClientError::Unexpected(error.to_string()))?;
        Ok(Self {
            http,
            signer,
            tokens: tokio::sync::Mutex::new(TokenCache::default()),
            started: Instant::now(),
            gate: Gate {
                state: Mutex::new((0, Concurrency::new(1, pacing.concurrency))),
                changed: Notify::new(),
            },
            pacer: Mutex::new(Pacer {
                writes: Budget::new(slack(Quota::WRITES.scaled(scale))),
                device_writes: Budget::new(slack(Quota::WRITES.scaled(scale))),
                started: Instant::now(),
            }),
            per3: AtomicBool::new(pacing.bind_write_cost == BindWriteCost::Per3),
            quiet_until: Mutex::new(None),
            shared: OnceLock::new(),
            shared_failed: AtomicBool::new(false),
            seeds: AtomicU64::new(seed()),
            stats: ClientStats::default(),
            profile,
        })
    }

    /// Paces this client by `budget` too, shared with other processes.
    pub fn share_budget(&self, budget: Arc<dyn SharedBudget>) {
        let _ = self.shared.set(budget);
    }

    /// The name of the budget the client spends: Graph counts per app and
    /// tenant (and each cloud or emulator is a service of its own). Tenant
    /// names and app ids are compared without case, as Entra does.
    pub fn budget_name(&self) -> String {
        format!(
            "{} {} {}",
            self.profile.graph_url.trim_end_matches('/'),
            self.profile.tenant.to_lowercase(),
            self.profile.client_id.to_lowercase()
        )
    }

    /// The longest cool-down a shared budget keeps for this client: a write
    /// window (a `Retry-After` beyond it holds this process alone).
    pub fn longest_cool_down(&self) -> Duration {
        self.scaled(LONGEST_SHARED_COOL_DOWN)
    }

    /// The buckets a shared budget keeps for this client's quotas.
    pub fn buckets(&self) -> Buckets {
        Buckets::for_graph(self.profile.pacing.time_scale)
    }

    /// Waits until the shared budget grants `spend`, within the pacing
    /// deadline. A budget that fails or does not answer in time (its store
    /// unreachable or locked) is warned of and the local pacing stands.
    async fn take_shared(&self, spend: Spend) -> Result<(), ClientError> {
        let Some(shared) = self.shared.get() else {
            return Ok(());
        };
        let first = Instant::now();
        let mut told = false;
        loop {
            let asked = tokio::time::timeout(SHARED_ANSWER, shared.take(spend)).await;
            let wait = match asked {
                Ok(Ok(wait)) if wait.is_zero() => return Ok(()),
                Ok(Ok(wait)) => wait.min(SHARED_WAIT_CAP),
                Ok(Err(error)) => {
                    self.shared_failed(&error);
                    return Ok(());
                }
                Err(_) => {
                    self.shared_failed("the job store did not answer in time");
                    return Ok(());
                }
            };
            let waited = first.elapsed();
            if waited + wait > self.profile.pacing.deadline {
                return Err(ClientError::Deadline {
                    seconds: waited.as_secs(),
                    last: "the tenant's shared Graph budget (or a Retry-After every process honours) kept this request waiting".to_owned(),
                });
            }
            if !told && waited + wait > SHARED_WAIT_TOLD {
                told = true;
                tracing::warn!(waited = ?waited, wait = ?wait, "waiting for the tenant's shared Graph budget (other processes spend it, or a Retry-After holds them all)");
            }
            tokio::time::sleep(wait).await;
        }
    }

    fn shared_failed(&self, error: &str) {
        if !self.shared_failed.swap(true, Ordering::Relaxed) {
            tracing::warn!(%error, "the shared Graph budget could not be read; pacing this process alone");
        }
    }

    /// The profile the client signs in with.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The profile's Graph root: `https://graph.microsoft.com/v1.0`.
    pub fn root(&self) -> String {
        format!("{}/v1.0", self.profile.graph_url)
    }

    fn scaled(&self, delay: Duration) -> Duration {
        delay / self.profile.pacing.time_scale.max(1)
    }

    async fn bearer(&self, refresh: bool) -> Result<String, ClientError> {
        let mut cache = self.tokens.lock().await;
        let now = self.started.elapsed();
        if refresh {
            cache.clear();
        }
        if let Some(token) = cache.current(now) {
            return Ok(token.bearer().to_owned());
        }
        let token_url = self.profile.token_url();
        let scope = self.profile.scope();
        let mut form: Vec<(&str, String)> = vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", self.profile.client_id.clone()),
            ("scope", scope),
        ];
        match &self.signer {
            Some(signer) => {
                form.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
                ));
                form.push((
                    "client_assertion",
                    signer.assertion(
                        &self.profile.client_id,
                        &token_url,
                        jiff::Timestamp::now().as_second(),
                    ),
                ));
            }
            None => form.push(("client_secret", self.profile.secret()?.unwrap_or_default())),
        }
        let body = form
            .iter()
            .map(|(key, value)| format!("{key}={}", super::url::encode(value)))
            .collect::<Vec<_>>()
            .join("&");
        let sign_in_failed = |source: TokenError| ClientError::SignIn {
            tenant: self.profile.tenant.clone(),
            source,
        };
        let bytes = self
            .token_answer(&token_url, body)
            .await
            .map_err(|message| sign_in_failed(TokenError::Unreachable(message)))?;
        let token = read_answer(&bytes, now).map_err(sign_in_failed)?;
        let bearer = token.bearer().to_owned();
        cache.store(token);
        Ok(bearer)
    }

    /// Posts the token request, again after a dropped connection or a
    /// passing failure of the sign-in service.
    async fn token_answer(&self, token_url: &str, body: String) -> Result<bytes::Bytes, String> {
        let mut last = String::new();
        for attempt in 0..TOKEN_ATTEMPTS {
            let sent = self
                .http
                .post(token_url)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(answer)
                    if answer.status().as_u16() == 429 || answer.status().is_server_error() =>
                {
                    last = format!("the sign-in service answered {}", answer.status());
                }
                Ok(answer) => match answer.bytes().await {
                    Ok(bytes) => return Ok(bytes),
                    Err(error) => last = describe(&error),
                },
                Err(error) => last = describe(&error),
            }
            tokio::time::sleep(self.backoff(attempt)).await;
        }
        Err(last)
    }

    async fn wait_quiet(&self) {
        let until = *lock(&self.quiet_until);
        if let Some(until) = until {
            tokio::time::sleep_until(until.into()).await;
        }
    }

    fn hush(&self, delay: Duration) {
        let until = Instant::now() + delay;
        {
            let mut quiet = lock(&self.quiet_until);
            if quiet.is_none_or(|current| current < until) {
                *quiet = Some(until);
            }
        }
        if let Some(shared) = self.shared.get() {
            let shared = Arc::clone(shared);
            tokio::spawn(async move {
                if let Err(error) = shared.cool_down(delay).await {
                    tracing::warn!(%error, "the shared Graph cool-down could not be recorded");
                }
            });
        }
    }

    /// How long to wait before writing again to a group Graph has not replicated yet.
    pub fn replication_delay(&self, round: u32) -> Duration {
        self.scaled(BACKOFF_BASE * round)
    }

    /// The delay before retry number `attempt` (from 0) when Graph gave no
    /// `Retry-After`: exponential with equal jitter, as step retries are.
    fn backoff(&self, attempt: u32) -> Duration {
        let policy = RetryPolicy {
            attempts: u32::MAX,
            backoff: BackoffKind::Exponential,
            delay: self.scaled(BACKOFF_BASE),
            max_delay: self.scaled(BACKOFF_CAP),
            jitter: true,
        };
        // A new seed per delay, so concurrent requests do not retry in step.
        let seed = self
            .seeds
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        Backoff::new(policy, seed)
            .nth(usize::try_from(attempt).unwrap_or(usize::MAX))
            .unwrap_or(policy.max_delay)
    }

    /// Sends one request, retrying what may pass, until the deadline.
    pub async fn send(&self, request: &Request) -> Result<Reply, ClientError> {
        self.check_origin(&request.url)?;
        let first = Instant::now();
        let deadline = self.profile.pacing.deadline;
        let mut refreshed = false;
        let mut last = String::new();
        let mut answer_lost = false;
        for attempt in 0..MAX_ATTEMPTS {
            if first.elapsed() > deadline {
                break;
            }
            self.wait_quiet().await;
            if request.url != "/$batch" && self.shared.get().is_some() {
                // A $batch's requests were granted by `pace`.
                self.take_shared(Spend {
                    resource_units: super::shared::estimated_units(
                        request.method.as_str(),
                        &request.url,
                    ),
                    ..Spend::default()
                })
                .await?;
            }
            let bearer = self.bearer(false).await?;
            let outcome = {
                let _permit = self.gate.enter().await;
                self.attempt(request, &bearer).await
            };
            match outcome {
                Ok((reply, retry_after)) => match reply.status {
                    401 if !refreshed => {
                        refreshed = true;
                        self.bearer(true).await?;
                    }
                    429 | 503 | 504 => {
                        self.gate.record(true);
                        self.stats
                            .throttled
                            .fetch_add(u64::from(reply.status == 429), Ordering::Relaxed);
                        let delay = retry_after.unwrap_or_else(|| self.backoff(attempt));
                        self.hush(delay);
                        last = format!(
                            "{} {}",
                            reply.status,
                            GraphError::from_body(reply.status, &reply.body).message
                        );
                    }
                    _ => {
                        self.gate.record(false);
                        return Ok(Reply {
                            resent: answer_lost,
                            ..reply
                        });
                    }
                },
                Err(error) => {
                    answer_lost = true;
                    last = error;
                    tokio::time::sleep(self.backoff(attempt)).await;
                }
            }
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
        }
        Err(ClientError::Deadline {
            seconds: first.elapsed().as_secs(),
            last,
        })
    }

    async fn attempt(
        &self,
        request: &Request,
        bearer: &str,
    ) -> Result<(Reply, Option<Duration>), String> {
        let url = if request.url.contains("://") {
            request.url.clone()
        } else {
            format!("{}{}", self.root(), request.url)
        };
        let mut builder = self
            .http
            .request(request.method.clone(), &url)
            .bearer_auth(bearer);
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        if let Some(body) = &request.body {
            builder = builder.json(body);
        }
        self.stats.http_requests.fetch_add(1, Ordering::Relaxed);
        let sent = Instant::now();
        let answer = builder.send().await.map_err(|error| describe(&error))?;
        let status = answer.status().as_u16();
        tracing::debug!(
            method = %request.method,
            path = %url.split('?').next().unwrap_or_default(),
            status,
            millis = sent.elapsed().as_millis(),
            "graph request"
        );
        let retry_after = answer
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| parse_retry_after(value, jiff::Timestamp::now()));
        let bytes = answer.bytes().await.map_err(|error| describe(&error))?;
        let body = if bytes.is_empty() {
            Json::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Json::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Ok((
            Reply {
                status,
                body,
                resent: false,
            },
            retry_after,
        ))
    }

    /// Sends a GET and fails on any answer but 200.
    pub async fn get_json(&self, request: &Request) -> Result<Json, ClientError> {
        let reply = self.send(request).await?;
        if reply.status == 200 {
            Ok(reply.body)
        } else {
            Err(answer_error(&reply))
        }
    }

    /// Every item of a collection, following `@odata.nextLink` exactly as
    /// given and sending the request's headers again with every page.
    pub async fn collect(
        &self,
        request: Request,
        mut visit: impl FnMut(Json) -> Result<(), ClientError>,
    ) -> Result<(), ClientError> {
        let mut next = Some(request.url.clone());
        while let Some(url) = next.take() {
            let (items, link) = self
                .page(&Request {
                    url,
                    ..request.clone()
                })
                .await?;
            next = link;
            for item in items {
                visit(item)?;
            }
        }
        Ok(())
    }

    /// One page of a collection: its items and its `@odata.nextLink`. The
    /// request's URL may be a next link given before, which must be on the
    /// Graph origin.
    pub async fn page(
        &self,
        request: &Request,
    ) -> Result<(Vec<Json>, Option<String>), ClientError> {
        self.check_origin(&request.url)?;
        let mut page = self.get_json(request).await?;
        let next = page
            .get("@odata.nextLink")
            .and_then(Json::as_str)
            .map(str::to_owned);
        match page.get_mut("value").map(Json::take) {
            Some(Json::Array(items)) => Ok((items, next)),
            _ => Err(ClientError::Unexpected(
                "a collection without `value`".to_owned(),
            )),
        }
    }

    /// Refuses an absolute URL that is not on the configured Graph origin:
    /// the access token goes to Graph only, whatever a next link says.
    fn check_origin(&self, url: &str) -> Result<(), ClientError> {
        if !url.contains("://") {
            return Ok(());
        }
        let origin = |text: &str| {
            reqwest::Url::parse(text).ok().map(|parsed| {
                (
                    parsed.scheme().to_owned(),
                    parsed.host_str().map(str::to_ascii_lowercase),
                    parsed.port_or_known_default(),
                )
            })
        };
        match (origin(url), origin(&self.profile.graph_url)) {
            (Some(link), Some(graph)) if link == graph => Ok(()),
            _ => Err(ClientError::ForeignLink {
                link: url.split('?').next().unwrap_or_default().to_owned(),
                origin: self.profile.graph_url.clone(),
            }),
        }
    }
}

/// A seed for jitter that differs between processes and runs.
fn seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.subsec_nanos());
    (u64::from(nanos) << 20 ^ u64::from(std::process::id())) | 1
}

/// An error answer as a client error.
pub fn answer_error(reply: &Reply) -> ClientError {
    let error = GraphError::from_body(reply.status, &reply.body);
    ClientError::Answer {
        status: reply.status,
        code: error.code,
        message: error.message,
    }
}

/// A transport error in words, without the URL's query (which may be long).
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_body() || error.is_decode() {
        "the answer was cut off"
    } else {
        "the connection failed"
    };
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        text = format!("{text}: {inner}");
        source = inner.source();
    }
    text
}
