//! Directories: where groups, users and devices live. The model, filter
//! evaluation, and the local SQLite directory; Microsoft Graph comes beside it.

pub mod filter;
pub mod local;
pub mod model;
pub mod outcome;
