//! Who may use the page. On loopback (the default) anyone on this machine,
//! through a `Host` of this machine only, so a web site cannot reach the page
//! by rebinding its name to 127.0.0.1. With `--allow-remote`, a sign-in link
//! with a random token is printed once; opening it sets a session cookie
//! (`HttpOnly`, `SameSite=Strict`) that every other request must carry. Every
//! action is a POST that carries this server's CSRF token and, when the
//! browser sends one, an `Origin` of this page. Every answer forbids framing,
//! sniffing, referrers to other sites and scripts from anywhere but the page
//! itself. (`same-origin`, not `no-referrer`: with `no-referrer` browsers send
//! `Origin: null` with the page's own forms, which the check refuses.)

use std::net::SocketAddr;

use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use ring::rand::SecureRandom;

use super::{App, PageError};

const COOKIE: &str = "bulkops_session";

const SECURITY_HEADERS: [(&str, &str); 5] = [
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),
    ("cache-control", "no-store"),
];

/// The secrets of one server's life: they change at every start.
pub(super) struct Guard {
    addr: SocketAddr,
    /// The sign-in token and the session cookie's value, with remote access.
    remote: Option<(String, String)>,
    csrf: String,
}

fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random number generator works");
    bytes
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            use std::fmt::Write;
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

/// Compares secrets in a time that does not tell how much matched.
fn same_secret(given: &str, expected: &str) -> bool {
    given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

impl Guard {
    pub(super) fn new(addr: SocketAddr, allow_remote: bool) -> Self {
        Self {
            addr,
            remote: allow_remote.then(|| (random_hex(), random_hex())),
            csrf: random_hex(),
        }
    }

    /// The token of the sign-in link, with remote access.
    pub(super) fn sign_in_token(&self) -> Option<&str> {
        self.remote.as_ref().map(|(token, _)| token.as_str())
    }

    /// The token every action's form carries.
    pub(super) fn csrf(&self) -> &str {
        &self.csrf
    }

    /// Whether a form's token is this server's.
    pub(super) fn csrf_matches(&self, given: &str) -> bool {
        same_secret(given, &self.csrf)
    }

    /// A row's byte offset in a job's result file, signed, for a page link.
    pub(super) fn sign_offset(&self, job: &str, offset: u64) -> String {
        format!("{offset}-{}", self.mac(&format!("offset:{job}:{offset}")))
    }

    /// The offset of a page link this server signed for this job.
    pub(super) fn verify_offset(&self, job: &str, text: &str) -> Option<u64> {
        let (offset, mac) = text.split_once('-')?;
        same_secret(mac, &self.mac(&format!("offset:{job}:{offset}")))
            .then(|| offset.parse().ok())?
    }

    /// A note for the next page (what an action did), signed, so a link
    /// cannot make the page say something that did not happen.
    pub(super) fn sign_note(&self, note: &str) -> String {
        self.mac(&format!("note:{note}"))
    }

    /// Whether a note came from this server.
    pub(super) fn note_is_genuine(&self, note: &str, mac: &str) -> bool {
        same_secret(mac, &self.mac(&format!("note:{note}")))
    }

    fn mac(&self, text: &str) -> String {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, self.csrf.as_bytes());
        let tag = ring::hmac::sign(&key, text.as_bytes());
        tag.as_ref()[..16]
            .iter()
            .fold(String::new(), |mut hex, byte| {
                use std::fmt::Write;
                let _ = write!(hex, "{byte:02x}");
                hex
            })
    }

    /// The `Host` values this machine's browsers send for a loopback server.
    fn host_allowed(&self, host: &str) -> bool {
        if self.remote.is_some() {
            return true;
        }
        let port = self.addr.port();
        [
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
            self.addr.to_string(),
        ]
        .iter()
        .any(|allowed| allowed.eq_ignore_ascii_case(host))
    }

    fn signed_in(&self, headers: &HeaderMap) -> bool {
        let Some((_, session)) = &self.remote else {
            return true;
        };
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .any(|(name, value)| name == COOKIE && same_secret(value, session))
    }
}

/// A request that names another site as its origin, for actions.
/// (The scheme is not compared: behind a TLS proxy the page is `https`.)
fn foreign_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    origin_host != Some(host)
}

/// Checks every request, and adds the security headers to every answer.
pub(super) async fn check(State(app): State<App>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let path = request.uri().path();
    let refused = if !app.guard.host_allowed(host) {
        Some(PageError::Forbidden(
            "this page answers to 127.0.0.1, localhost and [::1] only".to_owned(),
        ))
    } else if path != "/login" && !path.starts_with("/assets/") && !app.guard.signed_in(headers) {
        Some(PageError::Unauthorized)
    } else if request.method() == Method::POST && foreign_origin(headers) {
        Some(PageError::Forbidden(
            "the request came from another site".to_owned(),
        ))
    } else {
        None
    };
    let mut response = match refused {
        Some(error) => error.into_response(),
        None if request.method() == Method::POST => match whole_form(request).await {
            Ok(request) => next.run(request).await,
            Err(error) => error.into_response(),
        },
        None => next.run(request).await,
    };
    let answer = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        answer.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// How long a form's body may take to arrive, and how large it may be.
const FORM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
const FORM_LIMIT: usize = 64 * 1024;

/// The request with its form read whole, within the time and size a form
/// needs: a body trickled in holds no connection.
async fn whole_form(request: Request) -> Result<Request, PageError> {
    let (parts, body) = request.into_parts();
    match tokio::time::timeout(FORM_TIMEOUT, axum::body::to_bytes(body, FORM_LIMIT)).await {
        Ok(Ok(bytes)) => Ok(Request::from_parts(parts, axum::body::Body::from(bytes))),
        Ok(Err(_)) => Err(PageError::BadRequest(
            "the form is larger than a form of this page".to_owned(),
        )),
        Err(_) => Err(PageError::BadRequest(
            "the form did not arrive within 10 s".to_owned(),
        )),
    }
}

#[derive(serde::Deserialize)]
pub(super) struct SignIn {
    #[serde(default)]
    token: String,
}

/// Opens a session from the printed sign-in link.
pub(super) async fn login(
    State(app): State<App>,
    Query(sign_in): Query<SignIn>,
) -> Result<Response, PageError> {
    let Some((token, session)) = &app.guard.remote else {
        return Ok(Redirect::to("/").into_response());
    };
    if !same_secret(&sign_in.token, token) {
        return Err(PageError::Unauthorized);
    }
    let cookie = format!("{COOKIE}={session}; HttpOnly; SameSite=Strict; Path=/");
    let mut response = Redirect::to("/").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|error| PageError::Internal(error.to_string()))?,
    );
    Ok(response)
}
