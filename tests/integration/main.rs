//! Integration tests: the real `bulkops` binary on real files, one module per topic.

mod apply;
mod bad_input;
mod concurrency;
mod devices;
mod directory;
mod downloads;
#[path = "../common/emulator_process.rs"]
mod emulator_process;
mod emulator_server;
mod emulator_support;
mod examples;
mod fidelity;
mod files;
mod fixtures;
mod graph_auth;
mod graph_directory;
mod graph_query;
mod guards;
mod hostile;
mod jobs;
mod kill_points;
mod parity;
mod plan_output;
mod previews;
mod resume;
mod robustness;
mod runner;
mod saved_plans;
mod schema_file;
mod signals;
mod support;
mod sync;
mod watch;
mod watch_recovery;
mod watch_support;
mod wire;
