//! The Graph-compatible emulator served by `bulkops emulate`: its query
//! language so far; the HTTP server comes with it.

pub mod odata;
