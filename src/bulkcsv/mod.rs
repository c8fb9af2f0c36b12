//! CSV files in the formats Entra administrators use: member lists in, and
//! downloads and per-row result files out.

pub mod members;
pub mod output;
