//! bulkops: declarative, resumable bulk operations for Microsoft Entra ID groups
//! and devices.
//!
//! A workflow manifest is loaded and checked ([`manifest`]), resolved into a
//! [`plan::Plan`] whose steps form a dag, and previewed or run. The command line
//! lives in [`cli`]; [`error::Error`] and [`exit_code`] define how it ends.

pub mod bulkcsv;
pub mod cli;
pub mod directory;
pub mod emulator;
pub mod error;
pub mod exit_code;
pub mod files;
pub mod lifecycle;
pub mod manifest;
pub mod msgraph;
pub mod plan;
pub mod problem;
pub mod runner;
pub mod steps;
pub mod store;
pub mod suggest;
pub mod template;
pub mod text;
pub mod watch;
pub mod web;
pub mod worker;
