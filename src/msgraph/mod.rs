//! Microsoft Graph v1.0: the query building that turns manifest filters into
//! `$filter` expressions. The HTTP client, authentication, batching and
//! throttling are built on top of it.

pub mod assertion;
pub mod batch;
pub mod client;
pub mod directory;
pub mod errors;
pub mod pace;
pub mod profile;
pub mod query;
pub mod token;
pub mod url;
