//! Microsoft Graph v1.0 as a directory: profiles and sign-in, the HTTP
//! client with its retries, pacing and `$batch`, the `Directory` over Graph,
//! and the pure pieces they use (queries, error meanings, quotas, tokens).

pub mod assertion;
pub mod batch;
pub mod client;
pub mod directory;
pub mod errors;
pub mod pace;
pub mod profile;
pub mod query;
pub mod shared;
pub mod token;
pub mod url;
