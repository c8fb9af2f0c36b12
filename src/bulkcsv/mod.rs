//! CSV files in the formats Entra administrators use: member lists in, and
//! downloads and per-row result files out, with cells made safe for
//! spreadsheets.

pub mod cells;
pub mod members;
pub mod output;
