//! `bulkops serve`: the bulk operation results page in a browser. Pages are
//! rendered on the server from the job store (maud templates, checked at
//! compile time, every value HTML-escaped); one small script of bulkops' own,
//! embedded in the binary, refreshes the live parts of a run's page.
//!
//! One module per page (`jobs_page`, `job_page`, `run_page`), `downloads`
//! for streamed files, `actions` for delete, cancel and retry, `guard` for
//! who may ask (loopback, token, CSRF), `layout` for what every page shares.
//! Reads go through the store on a blocking thread; actions through the
//! lifecycle, as `apply` and `jobs delete` do.

mod actions;
mod assets;
mod downloads;
mod graph_svg;
mod guard;
mod job_page;
mod jobs_page;
mod layout;
mod result_file;
mod retry;
mod run_page;
mod server;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::lifecycle::Paths;
use crate::runner::stop::Stop;
use crate::store::{Create, JobStore, StoreError};

/// The address `serve` listens on unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8338";

/// How `serve` runs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    /// Whether a non-loopback address may be used (with token sign-in).
    pub allow_remote: bool,
    /// Whether delete, cancel and retry are turned off.
    pub read_only: bool,
    /// The job store, output root and directory of retried runs.
    pub paths: Paths,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum WebError {
    #[error("`{addr}` is not a loopback address")]
    #[diagnostic(
        code(bulkops::serve::remote),
        help(
            "the page shows and changes job history: it listens on 127.0.0.1 unless `--allow-remote` is given, which then asks for the sign-in link printed at start"
        )
    )]
    RemoteNotAllowed { addr: SocketAddr },
    #[error("cannot listen on `{addr}`")]
    #[diagnostic(
        code(bulkops::serve::bind),
        help("another program may use the port; pick another with `--listen 127.0.0.1:PORT`")
    )]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the web server failed")]
    #[diagnostic(code(bulkops::serve::io))]
    Io(#[source] std::io::Error),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Lifecycle(#[from] crate::lifecycle::LifecycleError),
}

/// What every request handler shares.
#[derive(Clone)]
struct App {
    store: Arc<Mutex<JobStore>>,
    settings: Arc<Settings>,
    guard: Arc<guard::Guard>,
    /// Asked when the server stops: retries it started drain.
    stop: Stop,
    /// The threads of retries started here, joined when the server stops.
    retries: Arc<Mutex<Vec<std::thread::JoinHandle<()>>>>,
    /// The jobs whose retry started here goes on.
    retrying: Arc<Mutex<std::collections::HashSet<String>>>,
    /// Downloads going on, at most [`downloads::AT_ONCE`].
    downloads: Arc<tokio::sync::Semaphore>,
}

impl App {
    /// Runs `read` on the store on a blocking thread.
    async fn read<T, F>(&self, read: F) -> Result<T, PageError>
    where
        T: Send + 'static,
        F: FnOnce(&JobStore) -> Result<T, PageError> + Send + 'static,
    {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || {
            let store = store
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            read(&store)
        })
        .await
        .map_err(|error| PageError::Internal(error.to_string()))?
    }
}

/// Why a page could not be shown; each is a page of its own.
#[derive(Debug)]
pub(crate) enum PageError {
    NotFound(String),
    BadRequest(String),
    /// The action is refused as things are (a running job cannot be deleted).
    Conflict(String),
    Forbidden(String),
    Unauthorized,
    /// Too much goes on at once; the client may try again.
    Busy(String),
    Internal(String),
}

impl PageError {
    /// What the error says, for a page that shows it in place.
    fn into_message(self) -> String {
        match self {
            Self::NotFound(message)
            | Self::BadRequest(message)
            | Self::Conflict(message)
            | Self::Forbidden(message)
            | Self::Busy(message)
            | Self::Internal(message) => message,
            Self::Unauthorized => "sign in first".to_owned(),
        }
    }
}

impl From<StoreError> for PageError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::UnknownJob { .. } | StoreError::UnknownRun { .. } => {
                Self::NotFound(error.to_string())
            }
            error => Self::Internal(crate::text::chain(&error)),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            Self::NotFound(message) => (StatusCode::NOT_FOUND, "Not found", message),
            Self::BadRequest(message) => (StatusCode::BAD_REQUEST, "Bad request", message),
            Self::Conflict(message) => (StatusCode::CONFLICT, "Refused", message),
            Self::Forbidden(message) => (StatusCode::FORBIDDEN, "Forbidden", message),
            Self::Busy(message) => (StatusCode::SERVICE_UNAVAILABLE, "Busy", message),
            Self::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "Sign in",
                "open the sign-in link `bulkops serve` printed when it started".to_owned(),
            ),
            Self::Internal(message) => {
                tracing::error!(error = %message, "a page failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "Failed", message)
            }
        };
        (status, layout::error_page(title, &message)).into_response()
    }
}

fn routes(app: App) -> Router {
    Router::new()
        .route("/", get(jobs_page::show))
        .route("/jobs/{id}", get(job_page::show))
        .route("/jobs/{id}/results.csv", get(downloads::results))
        .route("/jobs/{id}/failed-rows.csv", get(downloads::failed_rows))
        .route("/jobs/{id}/files/{index}", get(downloads::file))
        .route("/jobs/{id}/input", get(downloads::input))
        .route(
            "/jobs/{id}/delete",
            get(actions::confirm_delete).post(actions::delete),
        )
        .route("/jobs/{id}/retry", post(actions::retry))
        .route("/runs/{id}", get(run_page::show))
        .route("/runs/{id}/live", get(run_page::live))
        .route("/runs/{id}/cancel", post(actions::cancel))
        .route("/login", get(guard::login))
        .route("/assets/{name}", get(assets::serve))
        .fallback(|| async { PageError::NotFound("there is no such page".to_owned()) })
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            guard::check,
        ))
        .with_state(app)
}

/// Serves the pages until Ctrl-C or SIGTERM.
pub fn serve(settings: Settings) -> Result<(), WebError> {
    if !settings.listen.ip().is_loopback() && !settings.allow_remote {
        return Err(WebError::RemoteNotAllowed {
            addr: settings.listen,
        });
    }
    // Never created here (nor its folder or lock): a mistyped `--state` is
    // an error, not an empty history.
    if let Some(file) = settings.paths.state.file()
        && !file.exists()
    {
        return Err(StoreError::Missing {
            location: file.display().to_string(),
        }
        .into());
    }
    let store = JobStore::open_at(&settings.paths.state, Create::Never)?;
    let runtime = crate::lifecycle::runtime()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .map_err(|source| WebError::Bind {
                addr: settings.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(WebError::Io)?;
        let guard = guard::Guard::new(addr, settings.allow_remote);
        announce(addr, &guard, &settings);
        let app = App {
            store: Arc::new(Mutex::new(store)),
            settings: Arc::new(settings),
            guard: Arc::new(guard),
            stop: Stop::new(),
            retries: Arc::default(),
            retrying: Arc::default(),
            downloads: Arc::new(tokio::sync::Semaphore::new(downloads::AT_ONCE)),
        };
        server::run(listener, routes(app.clone())).await;
        finish_retries(&app).await;
        Ok(())
    })
}

/// Prints where the page is: the address, or with remote access the sign-in
/// link (printed once, on stdout, never logged).
fn announce(addr: SocketAddr, guard: &guard::Guard, settings: &Settings) {
    use std::io::Write;
    let url = match guard.sign_in_token() {
        Some(token) => format!("http://{addr}/login?token={token}"),
        None => format!("http://{addr}/"),
    };
    let mode = if settings.read_only {
        " (read-only)"
    } else {
        ""
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "bulkops serve: open {url}{mode}");
    if addr.ip().is_unspecified() {
        let _ = writeln!(
            out,
            "(it listens on every address: open it with this machine's name or address in place of {})",
            addr.ip()
        );
    }
    let _ = out.flush();
    tracing::info!(%addr, read_only = settings.read_only, remote = settings.allow_remote, "serving the jobs page");
}

/// Lets the retries this server started drain, as on the first Ctrl-C.
async fn finish_retries(app: &App) {
    app.stop.request();
    let handles: Vec<_> = std::mem::take(
        &mut *app
            .retries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    if handles.is_empty() {
        return;
    }
    tracing::info!(
        runs = handles.len(),
        "waiting for the retries started here to drain"
    );
    let _ = tokio::task::spawn_blocking(move || {
        for handle in handles {
            let _ = handle.join();
        }
    })
    .await;
}
