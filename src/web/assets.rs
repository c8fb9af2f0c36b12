//! The page's own stylesheet and script, embedded in the binary: no CDN, no
//! build step, the same bytes offline.

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::PageError;

const STYLE: &str = include_str!("static/bulkops.css");
const SCRIPT: &str = include_str!("static/bulkops.js");

/// `/assets/NAME`.
pub(super) async fn serve(Path(name): Path<String>) -> Result<Response, PageError> {
    let (body, kind) = match name.as_str() {
        "bulkops.css" => (STYLE, "text/css; charset=utf-8"),
        "bulkops.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        _ => return Err(PageError::NotFound(format!("no asset is called `{name}`"))),
    };
    Ok(([(header::CONTENT_TYPE, kind)], body).into_response())
}
