//! What every page shares: the frame with its title and links, the status
//! words and colours, times and numbers as the admin center shows them.

use maud::{DOCTYPE, Markup, html};

use crate::store::Status;

/// A whole page.
pub(super) fn page(title: &str, body: &Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · bulkops" }
                link rel="stylesheet" href="/assets/bulkops.css";
                script src="/assets/bulkops.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/" { "bulkops" }
                    span.subtitle { "Bulk operation results" }
                }
                main { (body) }
            }
        }
    }
}

/// The page of a refused or failed request.
pub(super) fn error_page(title: &str, message: &str) -> Markup {
    page(
        title,
        &html! {
            h1 { (title) }
            p.error { (message) }
            p { a href="/" { "Back to the jobs" } }
        },
    )
}

/// A status word in its colour.
pub(super) fn status_badge(status: Status) -> Markup {
    html! { span class={ "status " (status.key()) } { (status.key()) } }
}

/// A time as lists show it, in UTC.
pub(super) fn time(at: jiff::Timestamp) -> String {
    crate::text::shown_time(at)
}

/// A file path's last part.
pub(super) fn file_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}
