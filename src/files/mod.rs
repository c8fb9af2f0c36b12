//! File-system primitives that bulkops' safety promises rest on: locks that a
//! killed process releases by itself (`lock`), inputs opened only when they are
//! regular files and fingerprinted as they are read (`input`), and folders
//! walked below an output root without following links out of it (`confined`).
//!
//! These work on Unix (Linux, macOS), where bulkops runs.

pub mod confined;
pub mod database;
pub mod input;
pub mod lock;
