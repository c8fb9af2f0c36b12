//! `bulkops emulate`: a local directory database served as Microsoft Graph
//! v1.0 over HTTP on loopback, so the Graph client is tested on the real wire
//! protocol and administrators can rehearse a manifest against a copy of a
//! directory. Besides the Graph endpoints bulkops uses it has a token
//! endpoint, throttling by Graph's published quotas, injected faults, and
//! request counters at `GET /_emulator/stats`.
//!
//! As a server it defends itself: the bearer token is checked before a body
//! is read, bodies above [`MAX_BODY`] are refused with 413, a client that is
//! slow to send its headers or body is cut off, at most [`MAX_CONNECTIONS`]
//! connections are served at once (both settable), accept errors (no file descriptors left)
//! back off instead of spinning, and links it hands out are built from its
//! own address, never from the request's `Host`.

pub mod answer;
mod batch;
pub mod call;
pub mod faults;
pub mod identity;
pub mod objects;
pub mod odata;
mod paging;
pub mod quota;
pub mod routes;
pub mod search;
mod stats;
pub mod tls;
pub mod token;
mod users;
mod writes;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::directory::local::{LocalDirectory, LocalError};
use answer::Answer;
use call::{Call, CallBody};
use faults::{Dice, Faults};
use quota::{BindWriteCost, Cost, Throttle};
use stats::Stats;
use token::{Credentials, TokenRequest, Tokens};

/// How the emulator behaves.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Throttle by Graph's published quotas.
    pub throttle: bool,
    /// Quota windows are divided by this; Retry-After of injected 429s too.
    pub time_scale: u32,
    pub bind_write_cost: BindWriteCost,
    pub faults: Faults,
    pub credentials: Credentials,
    /// Seeds the dice of injected faults.
    pub seed: u64,
    /// How the server protects itself.
    pub limits: ServerLimits,
    /// HTTPS with this configuration (`--tls`); plain HTTP when `None`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// What the server gives a client before it cuts it off.
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    /// How long a client may take to send a request's headers (also how long
    /// an idle kept-alive connection stays open).
    pub header_timeout: Duration,
    /// Connections served at once; more wait in the listen queue.
    pub max_connections: usize,
    /// How long a request waits for another writer on the database before it
    /// is answered 503 with Retry-After.
    pub busy_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_timeout: HEADER_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
            busy_timeout: BUSY_TIMEOUT,
        }
    }
}

/// Why the emulator cannot serve.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum EmulatorError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Directory(#[from] LocalError),
    #[error("cannot listen on {address}")]
    #[diagnostic(
        code(bulkops::emulate::listen),
        help("choose another port with --listen 127.0.0.1:PORT, or stop what uses this one")
    )]
    Listen {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the client certificate `{}`", path.display())]
    #[diagnostic(
        code(bulkops::emulate::certificate),
        help("give the PEM certificate (-----BEGIN CERTIFICATE-----) of the app registration")
    )]
    Certificate { path: PathBuf, message: String },
    #[error("the emulator's TLS certificate in `{}` cannot be used: {message}", path.display())]
    #[diagnostic(
        code(bulkops::emulate::tls),
        help("delete the folder's ca.pem, server.pem and server-key.pem to have new ones made")
    )]
    Tls { path: PathBuf, message: String },
}

/// The state every request shares.
pub struct State {
    directory: Mutex<LocalDirectory>,
    throttle: Option<Mutex<Throttle>>,
    options: Options,
    dice: Mutex<Dice>,
    stats: Mutex<Stats>,
    tokens: Mutex<Tokens>,
    charged: Mutex<(u64, u64)>,
    started: Instant,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    /// State over an open directory.
    pub fn new(directory: LocalDirectory, options: Options) -> Result<Self, EmulatorError> {
        let users = directory.stats()?.users;
        let tenant_id = identity::guid_of(&format!("tenant {}", directory.id()?));
        directory.set_cache_mib(256)?;
        directory.set_busy_timeout(options.limits.busy_timeout)?;
        let scale = options.time_scale.max(1);
        Ok(Self {
            directory: Mutex::new(directory),
            throttle: options
                .throttle
                .then(|| Mutex::new(Throttle::new(users, scale))),
            dice: Mutex::new(Dice::new(options.seed)),
            options,
            stats: Mutex::new(Stats::default()),
            tokens: Mutex::new(Tokens::new(tenant_id)),
            charged: Mutex::new((0, 0)),
            started: Instant::now(),
        })
    }

    pub(crate) fn directory(&self) -> MutexGuard<'_, LocalDirectory> {
        lock(&self.directory)
    }

    fn request_id(&self) -> String {
        lock(&self.dice).request_id()
    }

    fn roll(&self, rate: f64) -> bool {
        lock(&self.dice).roll(rate)
    }

    /// A random failure, when faults are injected.
    fn injected_failure(&self, rid: &str) -> Option<Answer> {
        let status = self.options.faults.failure(&mut lock(&self.dice))?;
        Some(match status {
            429 => {
                // SYNTHETIC: 10 s, shortened by the time scale.
                let seconds = 10.0 / f64::from(self.options.time_scale.max(1));
                throttled_answer(429, "TooManyRequests", "Please retry again later.", rid)
                    .with_header("Retry-After", format!("{seconds:.3}"))
            }
            503 => throttled_answer(
                503,
                "serviceNotAvailable",
                "The service is temporarily unavailable. Please retry later.",
                rid,
            ),
            504 => Answer::error(504, "UnknownError", "The gateway timed out.", rid),
            status => Answer::error(status, "UnknownError", "An injected failure.", rid),
        })
    }

    /// Charges a request to the quotas, or answers 429.
    fn admit(&self, cost: Cost, rid: &str) -> Result<(), Answer> {
        let Some(throttle) = &self.throttle else {
            self.charge(cost);
            return Ok(());
        };
        let refused = lock(throttle).admit(self.started.elapsed(), cost);
        match refused {
            Ok(()) => {
                self.charge(cost);
                Ok(())
            }
            Err(throttled) => {
                Err(
                    throttled_answer(429, "TooManyRequests", "Please retry again later.", rid)
                        .with_header(
                            "Retry-After",
                            format!("{:.3}", throttled.retry_after.as_secs_f64().max(0.001)),
                        )
                        .with_header(
                            "x-ms-throttle-scope",
                            format!(
                                "Tenant_Application/{}/emulated-app/emulated-tenant",
                                throttled.limit
                            ),
                        )
                        .with_header("x-ms-throttle-information", throttled.information),
                )
            }
        }
    }

    fn charge(&self, cost: Cost) {
        let mut charged = lock(&self.charged);
        charged.0 += u64::from(cost.writes + cost.device_writes);
        charged.1 += u64::from(cost.resource_units);
    }

    fn stats_document(&self) -> serde_json::Value {
        let (writes, units) = *lock(&self.charged);
        let mut document = lock(&self.stats).document(writes, units);
        if let Some(throttle) = &self.throttle {
            let peaks = lock(throttle).write_peaks();
            document["writeQuota"] = serde_json::json!({
                "limit": peaks.limit,
                "peakAskedPerWindow": peaks.peak_asked,
                "throttled": peaks.throttles,
                "firstWriteMs": peaks.between.map(|(first, _)| first.as_millis()),
                "lastWriteMs": peaks.between.map(|(_, last)| last.as_millis()),
            });
        }
        document
    }
}

fn throttled_answer(status: u16, code: &str, message: &str, rid: &str) -> Answer {
    let mut answer = Answer::error(status, code, message, rid);
    if let answer::Body::Json(body) = &mut answer.body {
        let inner = &mut body["error"]["innerError"];
        inner["code"] = serde_json::json!(status.to_string());
        inner["status"] = serde_json::json!(status.to_string());
        inner["message"] = serde_json::json!("Please retry after");
    }
    answer
}

/// What to do with a connection's request.
enum Fate {
    Serve,
    DropBefore,
    DropAfter,
}

/// The largest request body read, in bytes (SYNTHETIC: Graph documents no
/// exact limit; a full `$batch` of binds is about 50 KB).
pub const MAX_BODY: usize = 4 * 1024 * 1024;
/// Connections served at once by default; more wait in the listen queue.
pub const MAX_CONNECTIONS: usize = 256;
/// How long a client may take to send a request's headers by default (also
/// how long an idle kept-alive connection stays open).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request waits for another writer on the database by default.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a client may take to send a request's body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves until the process ends. Each connection is served on its own task.
pub async fn serve(listener: TcpListener, state: Arc<State>) -> Result<(), EmulatorError> {
    let address = listener
        .local_addr()
        .map_err(|source| EmulatorError::Listen {
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            source,
        })?;
    let base: Arc<str> = Arc::from(match &state.options.tls {
        // The certificate names `localhost`: links are built with it.
        Some(_) => format!("https://localhost:{}", address.port()),
        None => format!("http://{address}"),
    });
    let acceptor = state
        .options
        .tls
        .clone()
        .map(tokio_rustls::TlsAcceptor::from);
    let limits = state.options.limits;
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let mut pause = Duration::from_millis(10);
    loop {
        let permit = Arc::clone(&permits)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let stream = match listener.accept().await {
            Ok((stream, _)) => {
                pause = Duration::from_millis(10);
                stream
            }
            Err(error) => {
                // Out of file descriptors, say: wait for connections to end.
                tracing::warn!(error = %error, ?pause, "cannot accept a connection");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let (state, base, acceptor) = (Arc::clone(&state), Arc::clone(&base), acceptor.clone());
        tokio::spawn(async move {
            match acceptor {
                None => serve_connection(stream, state, base, limits).await,
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)).await;
                    if let Ok(Ok(stream)) = handshake {
                        serve_connection(stream, state, base, limits).await;
                    }
                }
            }
            drop(permit);
        });
    }
}

/// Serves the requests of one connection, plain or TLS.
async fn serve_connection<S>(stream: S, state: Arc<State>, base: Arc<str>, limits: ServerLimits)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request| {
        let (state, base) = (Arc::clone(&state), Arc::clone(&base));
        async move { handle(&state, &base, request).await }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// A dropped connection: hyper closes it without an answer.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for Dropped {}

async fn handle(
    state: &State,
    base: &str,
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Dropped> {
    let faults = &state.options.faults;
    // The emulator's own endpoints are never slowed or dropped.
    let control = request.uri().path().starts_with("/_emulator/");
    if !faults.latency.is_zero() && !control {
        tokio::time::sleep(faults.latency).await;
    }
    let fate = if !control && state.roll(faults.drop_rate) {
        if state.roll(0.5) {
            Fate::DropBefore
        } else {
            Fate::DropAfter
        }
    } else {
        Fate::Serve
    };
    if matches!(fate, Fate::DropBefore) {
        lock(&state.stats).dropped();
        return Err(Dropped);
    }
    let (parts, body) = request.into_parts();
    if let Err(answer) = admit_request(state, &parts) {
        return Ok(to_response(&answer));
    }
    let body = match read_body(state, body).await {
        Ok(body) => body,
        Err(Some(answer)) => return Ok(to_response(&answer)),
        Err(None) => return Err(Dropped),
    };
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter_map(|(name, value)| {
            value
                .to_str()
                .ok()
                .map(|value| (name.as_str().to_owned(), value.to_owned()))
        })
        .collect();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or("/", hyper::http::uri::PathAndQuery::as_str)
        .to_owned();
    let method = parts.method.as_str().to_owned();
    let answer = tokio::task::block_in_place(|| {
        route(state, &method, &path_and_query, headers, &body, base)
    });
    if matches!(fate, Fate::DropAfter) {
        lock(&state.stats).dropped();
        return Err(Dropped);
    }
    Ok(to_response(&answer))
}

/// Checks a request before its body is read: a Graph call needs a live token,
/// and no body may be announced larger than [`MAX_BODY`].
fn admit_request(state: &State, parts: &hyper::http::request::Parts) -> Result<(), Answer> {
    if graph_path(parts.uri.path()) {
        let authorization = parts
            .headers
            .get(hyper::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok());
        let rid = state.request_id();
        if let Err(answer) = lock(&state.tokens).check(authorization, &rid) {
            lock(&state.stats).record(
                false,
                parts.method.as_str(),
                "(unauthorized)",
                answer.status,
            );
            return Err(answer);
        }
    }
    let announced = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if announced.is_some_and(|length| length > MAX_BODY as u64) {
        return Err(too_large(state));
    }
    Ok(())
}

/// Whether a path is a Graph call, as [`route`] sees it.
fn graph_path(path: &str) -> bool {
    path.split('/').find(|segment| !segment.is_empty()) == Some("v1.0")
}

fn too_large(state: &State) -> Answer {
    // SYNTHETIC: the code and text of the emulator's own limit.
    Answer::error(
        413,
        "Request_EntityTooLarge",
        &format!("The request body is larger than {MAX_BODY} bytes."),
        &state.request_id(),
    )
}

/// Reads a body of at most [`MAX_BODY`] bytes within [`BODY_TIMEOUT`]; the
/// answer to give otherwise (`None`: the connection broke).
async fn read_body(state: &State, body: Incoming) -> Result<Bytes, Option<Answer>> {
    let limited = http_body_util::Limited::new(body, MAX_BODY);
    match tokio::time::timeout(BODY_TIMEOUT, limited.collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => {
            Err(Some(too_large(state)))
        }
        Ok(Err(_)) => Err(None),
        // SYNTHETIC: the code and text of the emulator's own timeout.
        Err(_) => Err(Some(Answer::error(
            408,
            "Request_Timeout",
            "The request body did not arrive in time.",
            &state.request_id(),
        ))),
    }
}

fn to_response(answer: &Answer) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::builder().status(answer.status);
    for (name, value) in &answer.headers {
        response = response.header(name, value);
    }
    response
        .body(Full::new(Bytes::from(answer.body_bytes())))
        .expect("status and headers are valid")
}

/// Routes a request from the wire.
fn route(
    state: &State,
    method: &str,
    path_and_query: &str,
    headers: Vec<(String, String)>,
    body: &[u8],
    base: &str,
) -> Answer {
    let path = path_and_query.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = path
        .split('/')
        .filter(|segment| !segment.is_empty())
        .collect();
    match (method, segments.as_slice()) {
        ("POST", [tenant, "oauth2", "v2.0", "token"]) => {
            let token_url = format!("{base}/{tenant}/oauth2/v2.0/token");
            let authorization = headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
                .map(|(_, value)| value.as_str());
            let request = TokenRequest {
                tenant,
                token_url: &token_url,
                base,
                authorization,
                body,
            };
            let answer = lock(&state.tokens).grant(&state.options.credentials, &request);
            lock(&state.stats).record(false, method, "/{tenant}/oauth2/v2.0/token", answer.status);
            answer
        }
        ("GET", [tenant, "v2.0", ".well-known", "openid-configuration"]) => {
            Answer::identity_json(200, identity::openid_configuration(base, tenant))
        }
        ("GET", [tenant, "discovery", "v2.0", "keys"] | [tenant, "discovery", "keys"]) => {
            let issuer = format!("{base}/{tenant}/v2.0");
            Answer::identity_json(200, lock(&state.tokens).key_set(&issuer))
        }
        ("GET", ["common", "discovery", "instance"]) => {
            let query = path_and_query
                .split_once('?')
                .map_or("", |(_, query)| query);
            let endpoint = crate::msgraph::url::query_pairs(query)
                .into_iter()
                .find(|(key, _)| key == "authorization_endpoint")
                .map(|(_, value)| value);
            Answer::identity_json(200, identity::instance_discovery(base, endpoint.as_deref()))
        }
        ("GET", ["_emulator", "stats"]) => Answer::json(200, state.stats_document()),
        (_, ["v1.0", ..]) => graph(
            state,
            &Call::new(
                method,
                path_and_query,
                headers,
                CallBody::from_bytes(body),
                base,
            ),
        ),
        _ => {
            let rid = state.request_id();
            Answer::error(
                404,
                "NotFound",
                "The emulator serves /v1.0/…, /{tenant}/oauth2/v2.0/token, /{tenant}/v2.0/.well-known/openid-configuration, /{tenant}/discovery/v2.0/keys, /common/discovery/instance and /_emulator/stats.",
                &rid,
            )
        }
    }
}

/// Answers a Graph call whose token was checked.
fn graph(state: &State, call: &Call) -> Answer {
    let rid = state.request_id();
    if call.segments.first().is_some_and(|first| first == "$batch") && call.segments.len() == 1 {
        if call.method != "POST" {
            return Answer::error(
                405,
                "Request_BadRequest",
                "Specified HTTP method is not allowed for the request target.",
                &rid,
            );
        }
        let answer = batch::answer(state, call, |method, route, status| {
            lock(&state.stats).record(true, method, route, status);
        });
        tracing::debug!(
            method = "POST",
            route = "/$batch",
            status = answer.status,
            "answered"
        );
        lock(&state.stats).record(false, "POST", "/$batch", answer.status);
        return answer;
    }
    // A write is one transaction with the write lock taken first, so what it
    // checks (already a member?) still holds when it writes, whatever another
    // process does to the same database.
    let mut directory = state.directory();
    let write = call.method != "GET";
    if write && let Err(error) = directory.begin() {
        return routes::internal(&rid, &error);
    }
    let routed = routes::operate(state, call, &mut directory);
    if write {
        if routed.answer.status >= 400 {
            directory.rollback();
        } else if let Err(error) = directory.commit() {
            directory.rollback();
            return routes::internal(&rid, &error);
        }
    }
    drop(directory);
    tracing::debug!(method = %call.method, route = routed.route, status = routed.answer.status, "answered");
    lock(&state.stats).record(false, &call.method, routed.route, routed.answer.status);
    routed.answer
}
